import Cryppo

/// Errors of the SRP state machines.
public struct SRPError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A step was called in the wrong state (e.g. verifying a proof before the challenge).
        case outOfOrder
        /// The peer sent A ≡ 0 or B ≡ 0 (mod N), or u = 0: the exchange is aborted.
        case illegalParameter
        /// The peer's proof did not match: wrong password or an attacker.
        case proofMismatch
        /// Malformed input (lengths, hex).
        case invalidInput
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

func wrap<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as SRPError {
        throw error
    } catch let error as CryppoError {
        throw SRPError(.invalidInput, error.message)
    }
}
