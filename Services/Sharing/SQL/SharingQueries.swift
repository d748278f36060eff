import SVXStore

/// Sharing's statements that something outside the service runs too: the raw libpq baselines of `svx-load sharing`
/// and `svx-load shares` measure exactly what AcceptInvitation, GetConnection, CreateShare and GetIncomingShare send
/// to PostgreSQL, so the text lives here, once, for both (the service's other SQL stays with its handlers). Only SQL
/// text and the shape of its parameters: no I/O, no service code.
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

    // MARK: Shares

    /// The columns of `sharing.shares` (as `s`) the service decodes into a ShareRow, in its order, with the statement's
    /// clock last.
    public static let shareColumns = """
        s.owner_id, s.share_id, s.item_id, s.slot_id, s.sender_id, s.sender_username, s.recipient_id,
        s.recipient_username, s.sender_connection_id, s.recipient_connection_id, s.parent_share_id, s.depth,
        s.item_label, s.template_name, s.item_version, s.sharing_mode, s.acceptance_required, s.state, s.end_reason,
        \(epochMicroseconds("s.expires_at")), s.max_content_fetches, s.content_fetches,
        \(epochMilliseconds("s.first_fetched_at")), \(epochMilliseconds("s.last_fetched_at")),
        \(epochMilliseconds("s.created_at")), \(epochMilliseconds("s.accepted_at")), \(epochMilliseconds("s.updated_at")),
        \(epochMilliseconds("s.ended_at")), s.recipient_keypair_id, s.recipient_key_sha256, s.encrypted_dek,
        s.encrypted_terms, s.encrypted_terms_key, s.recipient_public_key_pem, s.dek_generation,
        EXISTS (SELECT 1 FROM sharing.connections c WHERE c.user_id = s.recipient_id AND c.other_user_id = s.owner_id
                AND c.state = 1),
        EXISTS (SELECT 1 FROM sharing.connections c WHERE c.user_id = s.sender_id AND c.other_user_id = s.owner_id
                AND c.state = 1),
        \(epochMicroseconds("statement_timestamp()"))
        """

    /// How many columns ``shareColumns`` has.
    public static let shareColumnCount = 38

    /// The share `$2` if `condition` (on `s`, `$1` the caller) lets the caller reach it. GetIncomingShare reads with
    /// `s.recipient_id = $1`.
    ///
    /// With `lock`, the row is locked `FOR UPDATE` and one more column follows ``shareColumns``: the database clock
    /// (microseconds since the epoch) read once the lock is held. `statement_timestamp()` is read before any wait for
    /// the lock, so a decision made after a wait past a share's expiry needs this one.
    public static func shareByID(reachedBy condition: String, lock: Bool) -> String {
        let select = "SELECT \(shareColumns) FROM sharing.shares s WHERE s.share_id = $2 AND \(condition)"
        guard lock else { return select }
        return """
            WITH locked AS MATERIALIZED (\(select) FOR UPDATE OF s)
            SELECT locked.*, \(epochMicroseconds("clock_timestamp()")) FROM locked
            """
    }

    /// The share of owner `$1` and id `$2`, as it is now.
    public static let shareByOwner = "SELECT \(shareColumns) FROM sharing.shares s WHERE s.owner_id = $1 AND s.share_id = $2"

    /// GetIncomingShare with content, in one statement (one snapshot): the caller's (`$1`) incoming share `$2`
    /// (``shareColumns``) and its slots, one row each in the order they are shown (a share without slots: one row,
    /// slot columns NULL): `slot_id, name, label, slot_type, ordinal, encrypted_value,
    /// encrypted_value_verification_key, value_verification_hash, attachment_id, encrypted_attachment_dek` after the
    /// share's columns.
    public static let incomingShareWithSlots = """
        SELECT \(shareColumns), sl.slot_id, sl.name, sl.label, sl.slot_type, sl.ordinal, coalesce(sl.encrypted_value, ''),
               coalesce(sl.encrypted_value_verification_key, ''), coalesce(sl.value_verification_hash, ''),
               sl.attachment_id, coalesce(sl.encrypted_attachment_dek, '')
        FROM sharing.shares s LEFT JOIN sharing.share_slots sl ON sl.owner_id = s.owner_id AND sl.share_id = s.share_id
        WHERE s.recipient_id = $1 AND s.share_id = $2
        ORDER BY sl.ordinal, sl.name COLLATE "C"
        """

    /// GetSharedAttachmentBlock, in one statement: the caller's (`$1`) incoming share `$2` (``shareColumns``), then the
    /// file in its slot `$3` (NULL: none, or not a slot of the share), then the file of that slot still readable after
    /// the share was consumed (NULL: none, its time is past, or the connection it came over has ended).
    public static let sharedFile = """
        SELECT \(shareColumns),
            (SELECT sl.attachment_id FROM sharing.share_slots sl
             WHERE sl.owner_id = s.owner_id AND sl.share_id = s.share_id AND sl.slot_id = $3),
            (SELECT f.attachment_id FROM sharing.consumed_share_files f
             WHERE f.owner_id = s.owner_id AND f.share_id = s.share_id AND f.slot_id = $3 AND f.readable_until > now()
               AND EXISTS (SELECT 1 FROM sharing.connections c
                           WHERE c.user_id = s.recipient_id AND c.connection_id = s.recipient_connection_id AND c.state = 1))
        FROM sharing.shares s WHERE s.recipient_id = $1 AND s.share_id = $2
        """

    /// The content fetch that consumes owner `$1`'s share `$2` (its last permitted fetch: a view-once share's one),
    /// before its content is deleted: each file its slots carry stays readable for `$3` seconds, never past the
    /// share's expiry.
    public static let openConsumedFileWindow = """
        INSERT INTO sharing.consumed_share_files
            (owner_id, share_id, slot_id, recipient_id, item_id, attachment_id, readable_until)
        SELECT sl.owner_id, sl.share_id, sl.slot_id, s.recipient_id, s.item_id, sl.attachment_id,
               least(now() + $3::integer * interval '1 second', coalesce(s.expires_at, 'infinity'))
        FROM sharing.share_slots sl JOIN sharing.shares s ON s.owner_id = sl.owner_id AND s.share_id = sl.share_id
        WHERE sl.owner_id = $1 AND sl.share_id = $2 AND sl.attachment_id IS NOT NULL
        ON CONFLICT DO NOTHING
        """

    /// Content fetches counted in memory, written in one statement: `$1`..`$5` arrays of owner ids, share ids, fetch
    /// counts, and the first and last fetch of each (microseconds since the epoch). The rows are locked first in
    /// `(owner_id, share_id)` order, the order every other statement that locks several shares uses, so a batch never
    /// waits in a cycle with a revocation. The share's `updated_at` is left alone: a fetch is not a change of the
    /// share. Returns the `owner_id, share_id` of each row written (the fetches whose audit events the batch appends).
    public static let addContentFetches = """
        WITH f AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::integer[], $4::bigint[], $5::bigint[])
                AS f(owner_id, share_id, fetches, first_at, last_at)
        ), locked AS (
            SELECT s.owner_id, s.share_id FROM sharing.shares s JOIN f USING (owner_id, share_id)
            WHERE s.max_content_fetches = 0
            ORDER BY s.owner_id, s.share_id FOR UPDATE OF s
        )
        UPDATE sharing.shares s SET content_fetches = s.content_fetches + f.fetches,
            first_fetched_at = coalesce(s.first_fetched_at, 'epoch'::timestamptz + f.first_at * interval '1 microsecond'),
            last_fetched_at = greatest(s.last_fetched_at, 'epoch'::timestamptz + f.last_at * interval '1 microsecond')
        FROM f JOIN locked USING (owner_id, share_id)
        WHERE s.owner_id = f.owner_id AND s.share_id = f.share_id
        RETURNING s.owner_id, s.share_id
        """

    /// GetIncomingShare with content, once the share's row is locked and the fetch decided, in one statement: the
    /// fetch stored (`$3` the state, `$4` the end reason, `$5` the fetch count; leaving the live states drops the
    /// wrapped DEK and the terms), the share as it is then (``shareColumns``), and its slots as they were before this
    /// statement, one row each, in the order they are shown (a share without slots: one row, slot columns NULL):
    /// `slot_id, name, label, slot_type, ordinal, encrypted_value, encrypted_value_verification_key,
    /// value_verification_hash` after the share's columns. The row lock held makes the two reads one version of the
    /// share.
    public static let recordContentFetch = """
        WITH fetched AS (
            UPDATE sharing.shares s SET state = $3, end_reason = $4, content_fetches = $5,
                ended_at = CASE WHEN $3 IN (1, 2) THEN NULL ELSE coalesce(ended_at, now()) END,
                encrypted_dek = CASE WHEN $3 IN (1, 2) THEN encrypted_dek END,
                encrypted_terms = CASE WHEN $3 IN (1, 2) THEN encrypted_terms END,
                encrypted_terms_key = CASE WHEN $3 IN (1, 2) THEN encrypted_terms_key END,
                first_fetched_at = coalesce(first_fetched_at, now()), last_fetched_at = now(), updated_at = now()
            WHERE s.owner_id = $1 AND s.share_id = $2
            RETURNING \(shareColumns)
        )
        SELECT fetched.*, sl.slot_id, sl.name, sl.label, sl.slot_type, sl.ordinal, coalesce(sl.encrypted_value, ''),
               coalesce(sl.encrypted_value_verification_key, ''), coalesce(sl.value_verification_hash, ''),
               sl.attachment_id, coalesce(sl.encrypted_attachment_dek, '')
        FROM fetched LEFT JOIN sharing.share_slots sl ON sl.owner_id = $1 AND sl.share_id = $2
        ORDER BY sl.ordinal, sl.name COLLATE "C"
        """

    /// CreateShare, before its locks: the other users of the sender's (`$1`) connections `$2` (a `uuid[]` literal).
    public static let connectionsOtherUsers =
        "SELECT other_user_id FROM sharing.connections WHERE user_id = $1 AND connection_id = ANY($2::uuid[])"

    /// CreateShare of an on-share, before its locks: the owner of the item of the caller's (`$1`) incoming share `$2`.
    public static let incomingShareOwner = "SELECT owner_id FROM sharing.shares WHERE recipient_id = $1 AND share_id = $2"

    /// How long ForgetSharedEntities' tombstones keep an item or slot from being shared again, as SQL interval text.
    public static let tombstoneLifetime = "1 hour"

    /// CreateShare and UpdateShares: whether owner `$1` had one of the items or slots `$2` (a `uuid[]` literal)
    /// deleted within ``tombstoneLifetime`` (ForgetSharedEntities' tombstones).
    public static let recentlyForgotten = """
        SELECT 1 FROM sharing.forgotten_entities
        WHERE owner_id = $1 AND entity_id = ANY($2::uuid[]) AND forgotten_at > now() - interval '\(tombstoneLifetime)'
        LIMIT 1
        """

    /// UpdateShares: the owner's (`$1`) shares `$3` (a `uuid[]` literal) of item `$2`, locked in `(owner_id,
    /// share_id)` order.
    public static let itemSharesForUpdate = """
        SELECT \(shareColumns) FROM sharing.shares s
        WHERE s.owner_id = $1 AND s.item_id = $2 AND s.share_id = ANY($3::uuid[])
        ORDER BY s.owner_id, s.share_id FOR UPDATE OF s
        """

    /// UpdateShares: one share re-keyed for item version `$4` (`$3` the new wrapped DEK, `$5` label, `$6` template);
    /// its slots are then replaced (``deleteShareSlots``, ``insertShareSlots``).
    public static let rekeyShare = """
        UPDATE sharing.shares SET encrypted_dek = $3, dek_generation = dek_generation + 1, item_version = $4,
            item_label = $5, template_name = $6, updated_at = now()
        WHERE owner_id = $1 AND share_id = $2
        """

    /// Every slot row of owner `$1`'s share `$2`.
    public static let deleteShareSlots = "DELETE FROM sharing.share_slots WHERE owner_id = $1 AND share_id = $2"

    /// The database clock, in microseconds since the epoch, of a statement of its own (decisions on rows locked
    /// before it).
    public static let statementClock = "SELECT \(epochMicroseconds("statement_timestamp()"))"

    /// CreateShare: the sender's (`$1`) live outgoing shares.
    public static let liveOutgoingShares = """
        SELECT count(*) FROM sharing.shares
        WHERE sender_id = $1 AND state IN (1, 2) AND (expires_at IS NULL OR expires_at > statement_timestamp())
        """

    /// CreateShare: the live shares of owner `$1`'s item `$2`, on-shares included.
    public static let liveItemShares = """
        SELECT count(*) FROM sharing.shares
        WHERE owner_id = $1 AND item_id = $2 AND state IN (1, 2)
          AND (expires_at IS NULL OR expires_at > statement_timestamp())
        """

    /// CreateShare: the live incoming shares of each of the users `$1` (a `uuid[]` literal) that has any.
    public static let liveIncomingShares = """
        SELECT recipient_id, count(*) FROM sharing.shares
        WHERE recipient_id = ANY($1::uuid[]) AND state IN (1, 2)
          AND (expires_at IS NULL OR expires_at > statement_timestamp())
        GROUP BY recipient_id
        """

    /// CreateShare: the sender's (`$1`) side `$2` of the connection a recipient names, read `FOR SHARE`.
    public static let recipientConnection = """
        SELECT other_user_id, other_username, other_connection_id, other_keypair_id, other_public_key_pem,
               other_key_sha256, state
        FROM sharing.connections WHERE user_id = $1 AND connection_id = $2 FOR SHARE
        """

    /// CreateShare: one recipient's share row. `$25` the expiry in microseconds since the epoch (NULL: none).
    public static let insertShare = """
        INSERT INTO sharing.shares (owner_id, share_id, item_id, slot_id, sender_id, sender_username, recipient_id,
            recipient_username, sender_connection_id, recipient_connection_id, parent_share_id, depth,
            recipient_keypair_id, recipient_public_key_pem, recipient_key_sha256, encrypted_dek, item_version,
            item_label, template_name, sharing_mode, acceptance_required, state, encrypted_terms,
            encrypted_terms_key, expires_at, max_content_fetches)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
            $23, $24, 'epoch'::timestamptz + $25::bigint * interval '1 microsecond', $26)
        """

    /// One element of ``insertShareSlots``'s `$3`, a JSON array.
    public struct ShareSlotRecord: Encodable, Sendable {
        public let slot_id: String
        public let name: String
        public let label: String
        public let slot_type: String
        public let ordinal: Int32
        public let encrypted_value: String?
        public let verification_key: String?
        public let verification_hash: String?
        public let attachment_id: String?
        public let encrypted_attachment_dek: String?

        public init(
            slotID: String, name: String, label: String, slotType: String, ordinal: Int32, encryptedValue: String?,
            verificationKey: String?, verificationHash: String?, attachmentID: String? = nil, encryptedAttachmentDEK: String? = nil
        ) {
            slot_id = slotID
            self.name = name
            self.label = label
            slot_type = slotType
            self.ordinal = ordinal
            encrypted_value = encryptedValue
            verification_key = verificationKey
            verification_hash = verificationHash
            attachment_id = attachmentID
            encrypted_attachment_dek = encryptedAttachmentDEK
        }
    }

    /// CreateShare: every slot of owner `$1`'s new share `$2` in one statement, from `$3`, a JSON array of
    /// ``ShareSlotRecord``.
    public static let insertShareSlots = """
        INSERT INTO sharing.share_slots (owner_id, share_id, slot_id, name, label, slot_type, ordinal, encrypted_value,
            encrypted_value_verification_key, value_verification_hash, attachment_id, encrypted_attachment_dek)
        SELECT $1, $2, r.slot_id, r.name, r.label, r.slot_type, r.ordinal, r.encrypted_value, r.verification_key,
               r.verification_hash, r.attachment_id, r.encrypted_attachment_dek
        FROM jsonb_to_recordset($3::jsonb) AS r(slot_id uuid, name text, label text, slot_type text, ordinal integer,
            encrypted_value text, verification_key text, verification_hash text, attachment_id uuid,
            encrypted_attachment_dek text)
        """
}
