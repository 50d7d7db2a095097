/// Errors MMCore reports to its callers. They carry no HTTP: the service maps them once, in one place.
///
/// Every error that concerns an input names the offending field and value, so a caller can tell a user
/// exactly what to change. A throwing MMCore operation changes nothing in the machine before it throws.
public enum MMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A machine configuration or operation parameter is impossible; `field` uses the JSON name.
    case invalidConfig(field: String, value: String, reason: String)
    /// An order outside `0..<nrOrders` (or above what the operation allows).
    case orderOutOfRange(field: String, order: Int, max: Int)
    /// A handle that does not name a live allocation (never issued, or already freed).
    case unknownHandle(UInt64)
    /// In a list of handles to free together (`freeAll`): the one at `index` is not live, or repeats an
    /// earlier one.
    case handleNotFreeable(index: Int, handle: UInt64, repeated: Bool)
    /// A tag that has no allocations.
    case unknownTag(String)
    /// A NUMA node id that the machine does not have.
    case unknownNode(field: String, node: Int)
    /// The machine's state gate refused `bytes` more bytes of state (`Machine.stateGrowthGate`): the
    /// operation stopped before the growth.
    case stateLimit(bytes: Int)

    public var field: String {
        switch self {
        case .invalidConfig(let field, _, _): return field
        case .orderOutOfRange(let field, _, _): return field
        case .unknownHandle: return "handle"
        case .handleNotFreeable(let i, _, _): return "handles[\(i)]"
        case .unknownTag: return "tag"
        case .unknownNode(let field, _): return field
        case .stateLimit: return "state_bytes"
        }
    }

    public var description: String {
        switch self {
        case .invalidConfig(let field, let value, let reason):
            return "\(field) = \(value): \(reason)"
        case .orderOutOfRange(let field, let order, let max):
            return "\(field) = \(order): order must be between 0 and \(max)"
        case .unknownHandle(let h):
            return "handle \(h) does not name a live allocation"
        case .handleNotFreeable(_, let h, let repeated):
            return repeated ? "handle \(h) is listed twice" : "handle \(h) does not name a live allocation"
        case .unknownTag(let t):
            return "tag '\(t)' has no live allocations"
        case .unknownNode(let field, let node):
            return "\(field) = \(node): no such NUMA node"
        case .stateLimit(let bytes):
            return "the machine's state may not grow by \(bytes) more bytes (its state gate refused)"
        }
    }
}
