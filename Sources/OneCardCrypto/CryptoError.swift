public import OneCardCore

/// Why a cryptographic operation was refused. Descriptions name lengths and fields, never
/// key material.
public enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A key of the wrong length (DES keys are 8 bytes, 3DES keys 16).
    case keyLength(expected: Int, actual: Int)
    /// An input field of the wrong length.
    case inputLength(field: String, expected: Int, actual: Int)
    /// The card or keyset names an algorithm whose purse rules are not implemented.
    case unsupportedAlgorithm(AlgorithmID)

    public var description: String {
        switch self {
        case .keyLength(let e, let a): "key must be \(e) bytes, got \(a)"
        case .inputLength(let f, let e, let a): "\(f) must be \(e) bytes, got \(a)"
        case .unsupportedAlgorithm(let id): "algorithm \(id) is not supported (only 3DES, 00)"
        }
    }
}
