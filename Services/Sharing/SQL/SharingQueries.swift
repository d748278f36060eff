import SVXStore

/// Sharing's statements that something outside the service runs too: `svx-load sharing`'s raw libpq baseline
/// measures exactly what AcceptInvitation and GetConnection send to PostgreSQL, so the text lives here, once, for
/// both (the service's other SQL stays with its handlers). Only SQL text: no I/O, no service code.
public enum SharingQueries {
    /// Microseconds since the Unix epoch of a timestamptz, as SQL: the database clock at its own resolution, for the
    /// service's decisions.
    public static func epochMicroseconds(_ column: String) -> String {
        "(EXTRACT(EPOCH FROM \(column)) * 1000000)::bigint"
    }

    /// The advisory-lock keys of some users, each once, in the order they are taken (so two transactions locking the
    /// same users never deadlock). `$1` the user ids as a `uuid[]` literal.
    public static let userLockKeys =
        "SELECT DISTINCT hashtextextended(u::text, 8008) AS k FROM unnest($1::uuid[]) u ORDER BY k"

    /// Takes one key of ``userLockKeys`` until the transaction ends. `$1` the key.
    public static let userLock = "SELECT pg_advisory_xact_lock($1)"

    /// The columns of `sharing.invitations` the service decodes, in its order, with the database clock last.
    public static let invitationColumns = """
        invitation_id, inviter_id, inviter_username, inviter_keypair_id, inviter_public_key_pem, inviter_key_sha256,
        inviter_proof, encrypted_recipient_name, encrypted_key_secret, intended_username, state, token_sha256,
        \(epochMicroseconds("expires_at")), \(epochMilliseconds("created_at")),
        \(epochMilliseconds("decided_at")), accepted_by, accepted_by_username, connection_id,
        \(epochMicroseconds("now()"))
        """

    /// AcceptInvitation, under both users' locks: the invitation, locked. `$1` inviter id, `$2` invitation id.
    public static let invitationForUpdate = """
        SELECT \(invitationColumns) FROM sharing.invitations
        WHERE inviter_id = $1 AND invitation_id = $2 FOR UPDATE
        """

    /// AcceptInvitation: the active connections of the inviter (`$1`) and of the invitee (`$2`), and whether the two
    /// are already connected.
    public static let acceptanceCounts = """
        SELECT (SELECT count(*) FROM sharing.connections WHERE user_id = $1 AND state = 1),
               (SELECT count(*) FROM sharing.connections WHERE user_id = $2 AND state = 1),
               EXISTS (SELECT 1 FROM sharing.connections
                       WHERE user_id = $1 AND other_user_id = $2 AND state = 1)
        """

    /// AcceptInvitation: one side's active connection row (run once for each side).
    public static let insertConnection = """
        INSERT INTO sharing.connections (user_id, connection_id, other_user_id, other_username, other_connection_id,
            invitation_id, role, own_keypair_id, own_public_key_pem, own_proof, other_keypair_id, other_public_key_pem,
            other_key_sha256, other_proof, encrypted_recipient_name, encrypted_key_secret, state)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1)
        """

    /// AcceptInvitation: the invitation accepted (`$3` its new state), its token hash dropped.
    public static let markInvitationAccepted = """
        UPDATE sharing.invitations SET state = $3, token_sha256 = NULL, decided_at = now(), accepted_by = $4,
            accepted_by_username = $5, connection_id = $6
        WHERE inviter_id = $1 AND invitation_id = $2
        """

    /// The columns of `sharing.connections` the service decodes into a Connection, in its order.
    public static let connectionColumns = """
        connection_id, other_user_id, other_username, own_keypair_id, own_public_key_pem, other_public_key_pem,
        other_key_sha256, other_proof, own_proof, encrypted_recipient_name, encrypted_key_secret, role, state,
        invitation_id, \(epochMilliseconds("created_at")), \(epochMilliseconds("ended_at"))
        """

    /// GetConnection (and the end of AcceptInvitation): the caller's (`$1`) side `$2`.
    public static let connectionByID =
        "SELECT \(connectionColumns) FROM sharing.connections WHERE user_id = $1 AND connection_id = $2"
}
