import Cryppo
import Foundation

/// The invitation code the inviter hands over out of band (sharing.md §2.2):
///
///     svxi.1.<inviter_user_id>.<invitation_id>.<base58(token)>.<base58(S)>
///
/// `token` (32 bytes, made by the Sharing service, stored there only as SHA-256) lets the invitee fetch and accept
/// the invitation; `S` (32 bytes, made by the inviter's SDK, never sent to a server in clear) lets the invitee check
/// the inviter's public key and prove its own. Base58 is the Secret Key's alphabet (no `0`, `O`, `I`, `l`), so the
/// code survives being read aloud or retyped. `inviter_user_id` lets a sharded cluster route the lookup to the
/// inviter's shard.
///
/// The code is a secret: whoever holds it can accept the invitation (unless it names an intended user). Its
/// ``description`` hides both secrets; ``text`` is the code itself, to be shown once.
public struct InvitationCode: Sendable, Equatable, CustomStringConvertible {
    public static let prefix = "svxi"
    public static let version = "1"
    /// Bytes of the token and of S.
    public static let secretByteCount = 32
    /// No valid code is longer (two UUIDs, two base58 texts of 32 bytes, the prefix and the dots): a longer text is
    /// refused before any decoding.
    static let maximumLength = 256

    /// The inviter's user id (a UUID, lowercase).
    public let inviterID: String
    /// The invitation's id (a UUID, lowercase).
    public let invitationID: String
    /// The bearer token of the invitation (32 bytes).
    public let token: [UInt8]
    /// The invitation secret S.
    public let secret: InvitationSecret

    /// A code from its parts; ids must be UUIDs and the token 32 bytes.
    public init(inviterID: String, invitationID: String, token: [UInt8], secret: InvitationSecret) throws {
        self.inviterID = try Self.uuid(inviterID, "inviter id")
        self.invitationID = try Self.uuid(invitationID, "invitation id")
        guard token.count == Self.secretByteCount else {
            throw SVXClientError(.invalidInput, "an invitation token is \(Self.secretByteCount) bytes, not \(token.count)")
        }
        self.token = token
        self.secret = secret
    }

    /// Parses a code as a person pasted it (white space around it is ignored). Anything else is refused with a
    /// message that says which part is wrong, and never repeats the secrets.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw Self.malformed("it is empty") }
        guard trimmed.utf8.count <= Self.maximumLength else {
            throw Self.malformed("it is longer than any invitation code (\(Self.maximumLength) characters)")
        }
        let parts = trimmed.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == Self.prefix else {
            throw Self.malformed("it does not start with \(Self.prefix).")
        }
        guard parts.count == 6 else {
            throw Self.malformed(
                "expected 6 parts separated by dots (svxi.1.<inviter>.<invitation>.<token>.<secret>), found \(parts.count)")
        }
        guard parts[1] == Self.version else {
            throw Self.malformed("version \(parts[1].prefix(8)) is not one this client reads (\(Self.version))")
        }
        do {
            try self.init(
                inviterID: parts[2], invitationID: parts[3], token: try Self.base58(parts[4], "token"),
                secret: InvitationSecret(bytes: try Self.base58(parts[5], "secret")))
        } catch let error as SVXClientError {
            throw error.message.hasPrefix("malformed invitation code") ? error : Self.malformed(error.message)
        }
    }

    /// `svxi.1.<inviter_user_id>.<invitation_id>.<base58(token)>.<base58(S)>`: the code to show the inviter once.
    public var text: String {
        [Self.prefix, Self.version, inviterID, invitationID, tokenText, secret.base58].joined(separator: ".")
    }

    /// The token as the Sharing service takes it (base58).
    public var tokenText: String { Base58.encode(token) }

    /// The code with both secrets left out: safe for logs and error messages.
    public var description: String { "\(Self.prefix).\(Self.version).\(inviterID).\(invitationID).…" }

    private static func malformed(_ reason: String) -> SVXClientError {
        SVXClientError(.invalidInput, "malformed invitation code: \(reason)")
    }

    private static func uuid(_ text: String, _ what: String) throws -> String {
        guard text.utf8.count == 36, let uuid = UUID(uuidString: text) else {
            throw malformed("the \(what) is not a UUID")
        }
        return uuid.uuidString.lowercased()
    }

    /// 32 bytes from base58 text.
    private static func base58(_ text: String, _ what: String) throws -> [UInt8] {
        guard !text.isEmpty else { throw malformed("the \(what) is empty") }
        let bytes: [UInt8]
        do {
            bytes = try Base58.decode(text)
        } catch {
            throw malformed("the \(what) is not base58 (letters and digits without 0, O, I and l)")
        }
        guard bytes.count == secretByteCount else {
            throw malformed("the \(what) is \(bytes.count) bytes, not \(secretByteCount): part of it is missing or extra")
        }
        return bytes
    }
}
