import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// ReserveUsername and Register.
extension AuthService {
    static let usernameAlphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
    static let generatedUsernameLength = 12

    /// A fresh random username, reserved for `SVX_AUTH_RESERVATION_TTL_MS`. Two limits per caller address: a rate
    /// (``CallerRateLimiter``, this process) and a cap on the caller's live reservations (PostgreSQL, every
    /// replica). The cap's count and the insert run under a transaction-scoped advisory lock of the caller, so
    /// concurrent calls from one caller cannot both see room for one more; the caller's expired reservations are
    /// deleted in the same transaction.
    func reserveUsername(
        _: Svx_Auth_V1_ReserveUsernameRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_ReserveUsernameResponse {
        let caller = Throttle.callerKey(context.peerAddress)
        if let wait = reserveLimiter.take(caller) {
            throw RPCStatus(
                .resourceExhausted, "too many username reservations from this address, try again later",
                details: ["retry_after_ms": String(wait)])
        }
        housekeepingIfDue(context, worker)
        let limit = configuration.reservationsPerCaller
        let outcome = try worker.database.transaction { db -> ReservationOutcome in
            _ = try db.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "svx.auth.reserve." + caller)
            _ = try db.execute(
                "DELETE FROM auth.username_reservations WHERE caller = $1 AND reserved_until <= now()", caller)
            let live = try db.query(
                """
                SELECT (EXTRACT(EPOCH FROM (reserved_until - now())) * 1000)::float8
                FROM auth.username_reservations WHERE caller = $1 AND reserved_until > now() ORDER BY reserved_until
                """, caller).map { try $0.decode(Double.self, at: 0) }
            if let wait = ReservationCap.retryAfterMilliseconds(liveRemainingMilliseconds: live, limit: limit) {
                return .full(retryAfterMilliseconds: wait)
            }
            for _ in 0..<5 {
                var username = ""
                for _ in 0..<Self.generatedUsernameLength {
                    username.append(Self.usernameAlphabet[Int(try SecureRandom.integer(below: UInt32(Self.usernameAlphabet.count)))])
                }
                // Taken only if registered or reserved and not yet expired.
                let rows = try db.query(
                    """
                    INSERT INTO auth.username_reservations (username, reserved_until, caller)
                    SELECT $1, now() + $2::float8 * interval '1 millisecond', $3
                    WHERE NOT EXISTS (SELECT 1 FROM auth.users WHERE username = $1)
                    ON CONFLICT (username) DO UPDATE
                        SET reserved_until = EXCLUDED.reserved_until, caller = EXCLUDED.caller
                        WHERE auth.username_reservations.reserved_until < now()
                    RETURNING \(epochMilliseconds("reserved_until"))
                    """, username, Double(configuration.reservationTTL.wholeMilliseconds), caller)
                if let row = rows.first { return .reserved(username, untilMs: try row.decode(Int64.self, at: 0)) }
            }
            return .noFreshName
        }
        switch outcome {
        case .reserved(let username, let untilMs):
            var response = Svx_Auth_V1_ReserveUsernameResponse()
            response.username = username
            response.reservedUntilMs = UInt64(untilMs)
            return response
        case .full(let wait):
            throw RPCStatus(
                .resourceExhausted,
                "too many unregistered username reservations from this address (limit \(limit)): "
                    + "register one, or try again when the oldest expires",
                details: ["retry_after_ms": String(wait), "limit": String(limit)])
        case .noFreshName:
            context.logger.error("could not reserve a fresh username in 5 attempts")
            throw RPCStatus(.unavailable, "could not reserve a username, try again")
        }
    }

    private enum ReservationOutcome {
        case reserved(String, untilMs: Int64)
        case full(retryAfterMilliseconds: Int64)
        case noFreshName
    }

    func register(
        _ request: Svx_Auth_V1_RegisterRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_RegisterResponse {
        let username = try WireValidation.username(request.username)
        let salt = try WireValidation.hex(request.srpSaltHex, field: "srp_salt_hex", bytes: WireValidation.saltLength)
        let verifier = try WireValidation.groupElement(request.srpVerifierHex, field: "srp_verifier_hex")
        let userID = UUID()
        try worker.database.transaction { db in
            let reserved = try db.execute(
                "DELETE FROM auth.username_reservations WHERE username = $1 AND reserved_until > now()", username)
            if reserved == 0 {
                if try !db.query("SELECT 1 FROM auth.users WHERE username = $1", username).isEmpty {
                    throw RPCStatus(.alreadyExists, "username already registered", details: ["field": "username"])
                }
                throw RPCStatus(
                    .failedPrecondition, "username is not reserved (reserve one first; reservations expire)",
                    details: ["field": "username"])
            }
            _ = try db.execute(
                "INSERT INTO auth.users (user_id, username, srp_salt, srp_verifier) VALUES ($1, $2, $3, $4)",
                userID, username, salt, verifier)
            try audit.append(AuditEvent("account.registered", peerAddress: context.peerAddress), userID: userID, on: db)
        }
        context.logger.info("user registered", metadata: ["user_id": "\(userID.wire)"])
        var response = Svx_Auth_V1_RegisterResponse()
        response.userID = userID.wire
        return response
    }
}

/// The cap on one caller's live (unexpired, unregistered) username reservations. Pure: unit-tested.
enum ReservationCap {
    /// nil when one more reservation fits under `limit`; else the milliseconds until enough of the live ones
    /// (`liveRemainingMilliseconds`: the time each has left, soonest first) have expired for one more (at least 1).
    static func retryAfterMilliseconds(liveRemainingMilliseconds live: [Double], limit: Int) -> Int64? {
        guard live.count >= limit else { return nil }
        // Down to limit − 1 live ones: the (count − limit + 1)-th to expire decides.
        return max(1, Int64(live[live.count - limit].rounded(.up)))
    }
}
