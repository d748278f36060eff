import Cryppo

/// The server side of SRP-6a as a value-type state machine with no I/O.
///
/// `init` (challenge: B from the stored verifier) → ``verify(clientPublicKey:clientProof:)`` (M2, verified).
/// Out-of-order calls throw ``SRPError/Code/outOfOrder``; after any failure the machine stays failed.
public struct SRPServer: Sendable {
    enum State: Sendable {
        case challenged
        case verified(K: [UInt8])
        case failed
    }

    public let parameters: SRPParameters
    private let v: BigNumber
    private let b: BigNumber
    private let B: BigNumber
    private var state: State

    /// Makes the challenge for a stored verifier with a random 32-byte b.
    public init(parameters: SRPParameters = .meeco, verifier: [UInt8]) throws {
        try self.init(parameters: parameters, verifier: verifier, privateValue: try SecureRandom.bytes(count: 32))
    }

    /// Makes the challenge with a given b. Only for test vectors and benchmarks: b must be secret and random.
    public init(parameters: SRPParameters, verifier: [UInt8], privateValue b: [UInt8]) throws {
        self.parameters = parameters
        guard !verifier.isEmpty, verifier.count <= parameters.group.byteLength else {
            throw SRPError(.invalidInput, "verifier length \(verifier.count) does not fit the group")
        }
        let v = BigNumber(bytes: verifier)
        let secret = BigNumber(bytes: b)
        guard !secret.isZero else { throw SRPError(.invalidInput, "private value b must not be zero") }
        self.v = v
        self.b = secret
        B = try wrap { try parameters.serverPublicKey(b: secret, verifier: v) }
        state = .challenged
    }

    /// B, PAD()ded to the group width: send it to the client with the salt.
    public var publicKey: [UInt8] { try! parameters.pad(B) }  // B < N always fits

    /// Checks the client's A and proof M1 (constant time) and returns M2.
    /// Throws ``SRPError/Code/illegalParameter`` if A ≡ 0 (mod N), ``SRPError/Code/proofMismatch`` for a wrong proof.
    public mutating func verify(clientPublicKey: [UInt8], clientProof: [UInt8]) throws -> [UInt8] {
        guard case .challenged = state else {
            throw SRPError(.outOfOrder, "SRP server: the client proof was already processed")
        }
        state = .failed
        return try wrap {
            guard clientPublicKey.count <= parameters.group.byteLength else {
                throw SRPError(.invalidInput, "A is longer than the group modulus")
            }
            let A = BigNumber(bytes: clientPublicKey)
            guard !(try A.mod(parameters.group.N)).isZero else {
                throw SRPError(.illegalParameter, "SRP: client sent A ≡ 0 (mod N)")
            }
            let u = try parameters.u(A: A, B: B)
            guard !u.isZero else { throw SRPError(.illegalParameter, "SRP: u = 0") }
            let S = try parameters.serverSecret(A: A, verifier: v, u: u, b: b)
            let K = try parameters.sessionKey(S: S)
            let expected = try parameters.clientProof(A: A, B: B, K: K)
            guard ConstantTime.equals(expected, clientProof) else {
                throw SRPError(.proofMismatch, "SRP: the client proof does not match")
            }
            state = .verified(K: K)
            return try parameters.serverProof(A: A, M1: clientProof, K: K)
        }
    }

    /// The shared session key K, once verified.
    public var sessionKey: [UInt8]? {
        if case .verified(let K) = state { return K }
        return nil
    }

    public var isVerified: Bool { sessionKey != nil }
}
