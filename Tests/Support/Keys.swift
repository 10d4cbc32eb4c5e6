import OneCardCore
import OneCardCrypto

/// The fixed, non-production master keys every test suite personalises its cards with.
public enum TestKeysets {
    /// Every master key, key version 1.
    public static let standard = Keyset(
        keyVersion: KeyVersion(rawValue: 1),
        masterKeys: [
            .purchase: try! TripleDESKey(hex: "0123456789ABCDEFFEDCBA9876543210"),
            .load: try! TripleDESKey(hex: "11111111111111112222222222222222"),
            .tac: try! TripleDESKey(hex: "33333333333333334444444444444444"),
            .maintenance: try! TripleDESKey(hex: "55555555555555556666666666666666"),
            .batch: try! TripleDESKey(hex: "77777777777777778888888888888888"),
        ])
}
