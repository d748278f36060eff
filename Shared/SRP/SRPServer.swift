import Cryppo

/// The server side of SRP-6a as a value-type state machine with no I/O.
///
/// `init` (challenge: B from the stored verifier) → ``verify(clientPublicKey:clientProof:)`` (M2, verified).
/// Out-of-order calls throw ``SRPError/Code/outOfOrder``; after any failure the machine stays failed.
///
/// A server that keeps nothing in memory between the two messages (svx's Auth: any replica may finish a login
/// another began) stores what the challenge needs, not the machine, and rebuilds the challenged machine with
/// ``init(parameters:verifier:privateValue:publicKey:)`` when the client's proof arrives. Both halves run through
/// this one type, the one the RFC 5054 vector tests.
public struct SRPServer: Sendable {
    enum State: Sendable {
        case challenged
        case verified(K: [UInt8])
        /// Verified, and K wiped by ``wipeSessionKey()``.
        case finished
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

    /// Makes the challenge with a given b, computing B = k·v + g^b (one modexp). b must be secret and
    /// unpredictable: random, or the output of a PRF under a secret key (Auth derives it by HMAC from a key kept
    /// outside the database, docs/ADR-002-auth.md); fixed values are for test vectors and benchmarks only.
    public init(parameters: SRPParameters, verifier: [UInt8], privateValue b: [UInt8]) throws {
        let (v, secret) = try Self.checked(parameters: parameters, verifier: verifier, privateValue: b)
        let B = try wrap { try parameters.serverPublicKey(b: secret, verifier: v) }
        self.init(parameters: parameters, v: v, b: secret, B: B)
    }

    /// Rebuilds the challenged machine from what a server kept of a challenge it sent earlier: the verifier, b,
    /// and the B it sent (PAD()ded or not). B is taken as given, not recomputed: that would cost the modexp g^b a
    /// second time. A B that v and b do not give (the verifier changed since the challenge, or the stored state is
    /// not the one sent) can never be answered, even with the right password: the client's S is made with the B it
    /// received, so its proof is a ``SRPError/Code/proofMismatch``. Throws ``SRPError/Code/invalidInput`` for a
    /// verifier or B that does not fit the group, b = 0 or B ≡ 0 (mod N).
    public init(parameters: SRPParameters, verifier: [UInt8], privateValue b: [UInt8], publicKey sentB: [UInt8]) throws {
        let (v, secret) = try Self.checked(parameters: parameters, verifier: verifier, privateValue: b)
        guard sentB.count <= parameters.group.byteLength else {
            throw SRPError(.invalidInput, "B is longer than the group modulus")
        }
        let B = BigNumber(bytes: sentB)
        guard !(try wrap { try B.mod(parameters.group.N) }).isZero else {
            throw SRPError(.invalidInput, "a stored B must not be 0 (mod N)")
        }
        self.init(parameters: parameters, v: v, b: secret, B: B)
    }

    private init(parameters: SRPParameters, v: BigNumber, b: BigNumber, B: BigNumber) {
        self.parameters = parameters
        self.v = v
        self.b = b
        self.B = B
        state = .challenged
    }

    private static func checked(
        parameters: SRPParameters, verifier: [UInt8], privateValue b: [UInt8]
    ) throws -> (v: BigNumber, b: BigNumber) {
        guard !verifier.isEmpty, verifier.count <= parameters.group.byteLength else {
            throw SRPError(.invalidInput, "verifier length \(verifier.count) does not fit the group")
        }
        let secret = BigNumber(bytes: b)
        guard !secret.isZero else { throw SRPError(.invalidInput, "private value b must not be zero") }
        return (BigNumber(bytes: verifier), secret)
    }

    /// B, PAD()ded to the group width: send it to the client with the salt.
    public var publicKey: [UInt8] { try! parameters.pad(B) }  // B < N always fits

    /// Checks the client's A and proof M1 (constant time) and returns M2.
    /// Throws ``SRPError/Code/illegalParameter`` if A ≡ 0 (mod N) or u = 0, ``SRPError/Code/proofMismatch`` for a
    /// wrong proof.
    public mutating func verify(clientPublicKey: [UInt8], clientProof: [UInt8]) throws -> [UInt8] {
        try verify(clientPublicKey: clientPublicKey, clientProof: clientProof, alsoRequiring: { _ in true })
    }

    /// ``verify(clientPublicKey:clientProof:)`` with one more condition on the exchange's session key K, for a
    /// request bound to the exchange (svx's credential proofs: an HMAC keyed with K over the request,
    /// docs/ADR-002-auth.md). `condition` gets K (it must not keep it) whatever M1's comparison gave, and the
    /// outcome is the same ``SRPError/Code/proofMismatch`` when either fails, so neither check's result shows on its
    /// own. M2 is returned only when both hold.
    public mutating func verify(
        clientPublicKey: [UInt8], clientProof: [UInt8], alsoRequiring condition: (_ sessionKey: [UInt8]) -> Bool
    ) throws -> [UInt8] {
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
            var K = try parameters.sessionKey(S: S)
            let expected = try parameters.clientProof(A: A, B: B, K: K)
            let proofMatches = ConstantTime.equals(expected, clientProof)
            let conditionHolds = condition(K)
            guard proofMatches && conditionHolds else {
                secureZero(&K)
                throw SRPError(.proofMismatch, "SRP: the client proof does not match")
            }
            let M2 = try parameters.serverProof(A: A, M1: clientProof, K: K)
            state = .verified(K: K)
            return M2
        }
    }

    /// The shared session key K, once verified (nil again after ``wipeSessionKey()``).
    public var sessionKey: [UInt8]? {
        if case .verified(let K) = state { return K }
        return nil
    }

    /// `true` once the client's proof was verified (and still after ``wipeSessionKey()``).
    public var isVerified: Bool {
        switch state {
        case .verified, .finished: return true
        case .challenged, .failed: return false
        }
    }

    /// Overwrites the machine's copy of K with zeros, for a server that needs only M2 (svx's Auth makes its own
    /// session token). Copies of ``sessionKey`` taken before are the caller's to wipe.
    public mutating func wipeSessionKey() {
        guard case .verified(var K) = state else { return }
        state = .finished  // drops the state's reference: K's buffer is now held only here and is wiped in place
        secureZero(&K)
    }
}
