/// Why a clearing-centre operation (settling a day, deciding an exception) was refused: one
/// line that says what to do. The CLI prints it; the server will answer with it.
public struct ServiceError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
