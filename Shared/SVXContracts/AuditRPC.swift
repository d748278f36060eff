import SVXProto
import SVXRPC

/// The typed methods of `svx.audit.v1.Audit` (proto/svx/audit/v1/audit.proto), answered by every service that keeps an
/// audit trail.
public enum AuditRPC {
    public static let listEvents = RPCMethod<Svx_Audit_V1_ListEventsRequest, Svx_Audit_V1_ListEventsResponse>("svx.audit.v1.Audit/ListEvents")
    public static let appendCheckpoint = RPCMethod<Svx_Audit_V1_AppendCheckpointRequest, Svx_Audit_V1_AppendCheckpointResponse>("svx.audit.v1.Audit/AppendCheckpoint")
}
