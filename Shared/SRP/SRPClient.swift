import Cryppo

/// The client side of SRP-6a as a value-type state machine with no I/O.
///
/// `init` (start: A) → ``respond(salt:serverPublicKey:)`` (challenge: M1) → ``verify(serverProof:)`` (verified:
/// K). Calling a step in the wrong state throws ``SRPError/Code/outOfOrder``; after any failure the machine
/// stays failed.
public struct SRPClient: Sendable {
    enum State: Sendable {
        case started(password: [UInt8])
        case awaitingServerProof(expectedM2: [UInt8], K: [UInt8])
        case verified(K: [UInt8])
        case failed
    }

    public let parameters: SRPParameters
    public let username: String
    private let a: BigNumber
    private let A: BigNumber
    private var state: State

    /// Starts with a random 32-byte private value a.
    public init(parameters: SRPParameters = .meeco, username: String, password: [UInt8]) throws {
        try self.init(parameters: parameters, username: username, password: password,
                      privateValue: try SecureRandom.bytes(count: 32))
    }

    /// Starts with a given private value a. Only for test vectors and benchmarks: a must be secret and random.
    public init(parameters: SRPParameters, username: String, password: [UInt8], privateValue a: [UInt8]) throws {
        self.parameters = parameters
        self.username = username
        let secret = BigNumber(bytes: a)
        guard !secret.isZero else { throw SRPError(.invalidInput, "private value a must not be zero") }
        self.a = secret
        A = try wrap { try parameters.clientPublicKey(a: secret) }
        state = .started(password: password)
    }

    /// A, PAD()ded to the group width: send it to the server.
    public var publicKey: [UInt8] { try! parameters.pad(A) }  // A < N always fits

    /// Processes the server challenge (salt, B) and returns the client proof M1.
    /// Throws ``SRPError/Code/illegalParameter`` if B ≡ 0 (mod N).
    public mutating func respond(salt: [UInt8], serverPublicKey: [UInt8]) throws -> [UInt8] {
        guard case .started(let password) = state else {
            throw SRPError(.outOfOrder, "SRP client: the server challenge was already processed")
        }
        state = .failed
        return try wrap {
            guard serverPublicKey.count <= parameters.group.byteLength else {
                throw SRPError(.invalidInput, "B is longer than the group modulus")
            }
            let B = BigNumber(bytes: serverPublicKey)
            guard !(try B.mod(parameters.group.N)).isZero else {
                throw SRPError(.illegalParameter, "SRP: server sent B ≡ 0 (mod N)")
            }
            let u = try parameters.u(A: A, B: B)
            guard !u.isZero else { throw SRPError(.illegalParameter, "SRP: u = 0") }
            let x = parameters.x(salt: salt, username: username, password: password)
            let S = try parameters.clientSecret(B: B, x: x, a: a, u: u)
            let K = try parameters.sessionKey(S: S)
            let M1 = try parameters.clientProof(A: A, B: B, K: K)
            let M2 = try parameters.serverProof(A: A, M1: M1, K: K)
            state = .awaitingServerProof(expectedM2: M2, K: K)
            return M1
        }
    }

    /// Checks the server proof M2 in constant time; on success the exchange is verified.
    @discardableResult
    public mutating func verify(serverProof: [UInt8]) throws -> [UInt8] {
        guard case .awaitingServerProof(let expected, let K) = state else {
            throw SRPError(.outOfOrder, "SRP client: no server proof is expected in this state")
        }
        guard ConstantTime.equals(expected, serverProof) else {
            state = .failed
            throw SRPError(.proofMismatch, "SRP: the server proof does not match")
        }
        state = .verified(K: K)
        return K
    }

    /// The shared session key K, once verified.
    public var sessionKey: [UInt8]? {
        if case .verified(let K) = state { return K }
        return nil
    }

    /// K after ``respond(salt:serverPublicKey:)``, before the server has proved itself: only to bind a request
    /// sent with M1 to this exchange (an HMAC keyed with K, as svx's credential proofs do,
    /// docs/ADR-002-auth.md). Never trust it as a session key until ``verify(serverProof:)`` succeeded.
    public var unverifiedSessionKey: [UInt8]? {
        switch state {
        case .awaitingServerProof(_, let K), .verified(let K): return K
        default: return nil
        }
    }

    /// `true` once the server proof was verified.
    public var isVerified: Bool { sessionKey != nil }
}
