/// Errors MMCore reports to its callers. They carry no HTTP: the service maps them once, in one place.
///
/// Every error that concerns an input names the offending field (typed: `FieldPath`; the format layer
/// spells it as a JSON path and words the message) and value, so a caller can tell a user exactly what
/// to change. A throwing MMCore operation changes nothing in the machine before it throws.
public enum MMError: Error, Equatable, Sendable {
    /// A machine configuration or operation parameter is impossible.
    case invalidConfig(field: FieldPath, value: String, reason: String)
    /// An order outside `0..<nrOrders` (or above what the operation allows).
    case orderOutOfRange(field: FieldPath, order: Int, max: Int)
    /// A handle that does not name a live allocation (never issued, or already freed).
    case unknownHandle(UInt64)
    /// In a list of handles to free together (`freeAll`): the one at `index` is not live, or repeats an
    /// earlier one.
    case handleNotFreeable(index: Int, handle: UInt64, repeated: Bool)
    /// A tag that has no allocations.
    case unknownTag(String)
    /// A NUMA node id that the machine does not have.
    case unknownNode(field: FieldPath, node: Int)
    /// The machine's state gate refused `bytes` more bytes of state (`Machine.stateGrowthGate`): the
    /// operation stopped before the growth.
    case stateLimit(bytes: Int)

    /// The input the error is about.
    public var field: FieldPath {
        switch self {
        case .invalidConfig(let field, _, _): return field
        case .orderOutOfRange(let field, _, _): return field
        case .unknownHandle: return FieldPath("handle")
        case .handleNotFreeable(let i, _, _): return FieldPath("handles").index(i)
        case .unknownTag: return FieldPath("tag")
        case .unknownNode(let field, _): return field
        case .stateLimit: return FieldPath("state_bytes")
        }
    }
}
