/// Writes the Prometheus text exposition format, version 0.0.4: per metric family one `# HELP` and one
/// `# TYPE` line, then all of its samples together; label values escaped as the format requires.
struct PrometheusText {
    enum Kind: String {
        case counter, gauge, histogram, untyped
    }

    private(set) var text = ""

    init(capacity: Int = 16 << 10) { text.reserveCapacity(capacity) }

    /// Starts a family. HELP text escapes `\` and newlines.
    mutating func family(_ name: String, _ kind: Kind, help: String) {
        text += "# HELP \(name) \(PrometheusText.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample<V: BinaryInteger>(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: V) {
        line(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        line(name, labels, PrometheusText.format(value))
    }

    private mutating func line(_ name: String, _ labels: KeyValuePairs<String, String>, _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{"
            var first = true
            for (k, v) in labels {
                if !first { text += "," }
                first = false
                text += "\(k)=\"\(PrometheusText.escapeLabel(v))\""
            }
            text += "}"
        }
        text += " \(value)\n"
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        return v.description
    }

    static func escapeLabel(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == 0x0A }) else { return s }
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
