import MMCore

/// Request bodies are MMCore's `JSON`: one strict parser (numbers keep their literal text, nesting is
/// limited) for the whole project. The service's readers call the type by this name.
typealias JSONValue = JSON

/// Why a body is not JSON, with the byte offset where parsing stopped.
struct JSONSyntaxError: Error, Sendable {
    var offset: Int
    var reason: String
}

/// Parses a request body with MMCore's parser.
enum JSONParser {
    static let maxDepth = JSON.maxDepth

    static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> JSONValue {
        do { return try JSON.parse(bytes: bytes) } catch { throw JSONSyntaxError(offset: error.offset, reason: error.message) }
    }
}
