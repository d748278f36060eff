import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXService

/// What Sharing asks of the Keystore (``SharingService/keystore``): whether the keypair and public key a caller puts
/// into an invitation or a connection are its own (sharing.md §2.6: Sharing → Keystore, with the caller's session;
/// the Keystore never calls Sharing and reads nobody else's keys).
extension SharingService {
    /// Confirms with the caller's Keystore that `named.keypairID` is one of the caller's keypairs and that its public
    /// key is exactly `named.pem`, and returns fpr of that key (SHA-256 of its DER SubjectPublicKeyInfo, lowercase
    /// hex). Called before any write, outside any transaction (no lock is held while the Keystore answers).
    ///
    /// - A keypair the caller's Keystore does not have: FAILED_PRECONDITION `keypair_not_found` naming `keypair_id`.
    /// - A public key that is not that keypair's: FAILED_PRECONDITION `public_key_mismatch` naming `public_key_pem`.
    ///   (FAILED_PRECONDITION, not INVALID_ARGUMENT: the PEM is well formed; it is refused for what the Keystore
    ///   holds, which may change.)
    /// - The Keystore switched off, unreachable, or answering anything else: UNAVAILABLE, nothing written.
    func confirmOwnKey(_ named: SharingValidation.NamedKey, _ context: RequestContext) throws -> String {
        guard let keystore else {
            throw RPCStatus(.unavailable, "the keystore service is not configured for sharing: keys cannot be confirmed")
        }
        var request = Svx_Keystore_V1_GetKeypairRequest()
        request.keypairID = named.keypairID.wire
        let stored: Svx_Keystore_V1_Keypair
        do {
            stored = try keystore.call(KeystoreRPC.getKeypair, request, context: context).keypair
        } catch {
            switch error.code {
            case .notFound:
                throw RPCStatus(
                    .failedPrecondition, "keypair_id is not a keypair of yours in the Keystore",
                    details: ["field": "keypair_id", "reason": "keypair_not_found"])
            case .unauthenticated, .unavailable, .deadlineExceeded:
                throw error
            default:
                // About Sharing's own request to the Keystore, not the caller's: never passed on as it is.
                context.logger.error(
                    "keystore refused GetKeypair", metadata: ["code": "\(error.code.name)", "message": "\(error.message)"])
                throw RPCStatus(.unavailable, "the keystore service is unavailable, try again")
            }
        }
        // The Keystore stores the canonical PEM, the very text of `named.pem` for the same key; any other text is made
        // canonical here before it is compared, so that only the key decides (parsing a PEM costs OpenSSL 3 several
        // hundred microseconds, so the equal text is not parsed again).
        let sameKey = stored.publicKeyPem == named.pem || (try? FieldValidation.publicKeyPEM(stored.publicKeyPem)) == named.pem
        guard sameKey else {
            throw RPCStatus(
                .failedPrecondition, "public_key_pem is not the public key of keypair_id in your Keystore",
                details: ["field": "public_key_pem", "reason": "public_key_mismatch"])
        }
        do {
            return Hex.encode(try named.key.fingerprintSHA256)
        } catch {
            context.logger.error("public key fingerprint failed", metadata: ["error_type": "\(type(of: error))"])
            throw RPCStatus(.internal, "internal error")
        }
    }
}
