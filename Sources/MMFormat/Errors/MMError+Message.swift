import MMCore

/// MMCore's errors in words: the message every caller shows (the service's problem+json `detail`), its
/// field spelled as a JSON path.
extension MMError: CustomStringConvertible {
    /// The offending field as a JSON path (`steps[3].fill.order`, `handles[2]`).
    public var jsonField: String { field.jsonPath }

    public var description: String {
        switch self {
        case .invalidConfig(let field, let value, let reason):
            return "\(field.jsonPath) = \(value): \(reason)"
        case .orderOutOfRange(let field, let order, let max):
            return "\(field.jsonPath) = \(order): order must be between 0 and \(max)"
        case .unknownHandle(let h):
            return "handle \(h) does not name a live allocation"
        case .handleNotFreeable(_, let h, let repeated):
            return repeated ? "handle \(h) is listed twice" : "handle \(h) does not name a live allocation"
        case .unknownTag(let t):
            return "tag '\(t)' has no live allocations"
        case .unknownNode(let field, let node):
            return "\(field.jsonPath) = \(node): no such NUMA node"
        case .stateLimit(let bytes):
            return "the machine's state may not grow by \(bytes) more bytes (its state gate refused)"
        }
    }
}
