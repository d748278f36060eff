import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService

/// ReserveUsername and Register.
extension AuthService {
    static let usernameAlphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
    static let generatedUsernameLength = 12

    func reserveUsername(
        _: Svx_Auth_V1_ReserveUsernameRequest, _ context: RequestContext, _ worker: ServiceWorker
    ) throws -> Svx_Auth_V1_ReserveUsernameResponse {
        housekeepingIfDue(context, worker)
        for _ in 0..<5 {
            var username = ""
            for _ in 0..<Self.generatedUsernameLength {
                username.append(Self.usernameAlphabet[Int(try SecureRandom.integer(below: UInt32(Self.usernameAlphabet.count)))])
            }
            // Taken only if registered or reserved and not yet expired.
            let rows = try worker.database.query(
                """
                INSERT INTO auth.username_reservations (username, reserved_until)
                SELECT $1, now() + $2::float8 * interval '1 millisecond'
                WHERE NOT EXISTS (SELECT 1 FROM auth.users WHERE username = $1)
                ON CONFLICT (username) DO UPDATE SET reserved_until = EXCLUDED.reserved_until
                    WHERE auth.username_reservations.reserved_until < now()
                RETURNING \(epochMilliseconds("reserved_until"))
                """, username, Double(configuration.reservationTTL.wholeMilliseconds))
            if let row = rows.first {
                var response = Svx_Auth_V1_ReserveUsernameResponse()
                response.username = username
                response.reservedUntilMs = UInt64(try row.decode(Int64.self, at: 0))
                return response
            }
        }
        context.logger.error("could not reserve a fresh username in 5 attempts")
        throw RPCStatus(.unavailable, "could not reserve a username, try again")
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
        }
        context.logger.info("user registered", metadata: ["user_id": "\(userID.wire)"])
        var response = Svx_Auth_V1_RegisterResponse()
        response.userID = userID.wire
        return response
    }
}
