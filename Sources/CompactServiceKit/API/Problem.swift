import MMCore
import MMFormat

/// An RFC 9457 problem: every error the service answers is one of these, rendered as
/// `application/problem+json` with `type`, `title`, `status`, `detail` and the offending `field`.
///
/// Errors from MMCore and the registry become problems in exactly one place, `Problem.from(_:)`;
/// the router's dispatch is the only code that renders them.
struct Problem: Error, Sendable {
    var status: Int
    var title: String
    var detail: String
    /// The offending input: a JSON path into the body (`zones[0][1].mib`), a path parameter (`name`,
    /// `handle`), a header (`Content-Type`) or `body`. Nil when no single input is to blame.
    var field: String?
    /// Extra response headers (`Allow` for 405, `WWW-Authenticate` for 401).
    var headers: [(String, String)] = []
    /// Extension members (RFC 9457 §3.2): a 507's `budget_bytes`, `used_bytes` and `needed_bytes`.
    var members: [(StaticString, Int)] = []

    init(_ status: Int, _ detail: String, field: String? = nil, title: String? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.title = title ?? HTTPStatus.reason(status)
        self.detail = detail
        self.field = field
        self.headers = headers
    }

    // Constructors for the service's own checks, so statuses stay consistent.
    static func malformed(_ detail: String, field: String = "body") -> Problem { Problem(400, detail, field: field) }
    static func invalid(_ field: String, _ detail: String) -> Problem { Problem(422, detail, field: field) }
    static func badPathParameter(_ field: String, _ detail: String) -> Problem { Problem(400, detail, field: field) }
    static func notFound(_ field: String?, _ detail: String) -> Problem { Problem(404, detail, field: field) }
    static func conflict(_ field: String?, _ detail: String) -> Problem { Problem(409, detail, field: field) }
    /// A job whose machine was deleted before or while it ran.
    static func deleted(machineOf job: Job) -> Problem {
        Problem(409, "machine '\(job.machine ?? "")' (instance \(job.machineInstance ?? 0)) was deleted; the job stopped", field: "machine")
    }

    /// The single mapping from domain errors to problems.
    static func from(_ error: any Error) -> Problem {
        switch error {
        case let p as Problem:
            return p
        case let e as MMError:
            switch e {
            case .invalidConfig, .orderOutOfRange:
                return Problem(422, e.description, field: e.jsonField)
            case .unknownHandle:
                return Problem(404, e.description, field: e.jsonField)
            case .handleNotFreeable(_, _, let repeated):
                return Problem(repeated ? 422 : 404, e.description, field: e.jsonField)
            case .unknownTag:
                return Problem(404, e.description, field: e.jsonField)
            case .unknownNode:
                return Problem(422, e.description, field: e.jsonField)
            case .stateLimit(let bytes):
                // Where the service knows the budget's figures it maps this itself (RegistryError.overBudget).
                return Problem(507, "the memory budget (--memory-budget) has not the \(bytes) more bytes this needed", field: nil)
            }
        case let e as RegistryError:
            switch e {
            case .unknownMachine(let name):
                return Problem(404, "no machine named '\(name)'", field: "name")
            case .duplicateName(let name):
                return Problem(409, "a machine named '\(name)' already exists", field: "name")
            case .tooManyMachines(let max):
                return Problem(409, "the service already holds its maximum of \(max) machines (--max-machines)", field: "name")
            case .overBudget(let what, let needed, let used, let budget, let field):
                var p = Problem(507, "\(what) needs \(needed) more bytes of memory, but \(used) bytes of the \(budget)-byte memory budget (--memory-budget) are in use (\(max(0, budget - used)) left)",
                                field: field)
                p.members = [("budget_bytes", budget), ("used_bytes", used), ("needed_bytes", needed)]
                return p
            case .shuttingDown:
                return Problem(503, "the service is shutting down", field: nil)
            case .deletedDuringOperation(let name):
                return Problem(409, "machine '\(name)' was deleted while this operation ran on it; nothing it did remains", field: "name")
            case .unavailable(let name, let reason):
                return Problem(503, "machine '\(name)' could not be recovered from the state directory at start-up: \(reason). Nothing else can be done with it until it is deleted (DELETE /v1/machines/\(name) removes its files).", field: "name")
            case .storage(let reason):
                return Problem(507, "the state directory (--state-dir) could not record the change, so nothing changed: \(reason)", field: nil)
            }
        default:
            return Problem(500, "internal error: \(error)")
        }
    }

    /// The problem+json body.
    func body(requestID: String?) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.field("type", "about:blank")
        w.field("title", title)
        w.field("status", status)
        w.field("detail", detail)
        if let field { w.field("field", field) }
        for (k, v) in members { w.field(k, v) }
        if let requestID { w.field("request_id", requestID) }
        w.endObject()
        return w.bytes
    }

    func response(requestID: String?) -> Response {
        var r = Response(status: status, contentType: "application/problem+json", body: body(requestID: requestID))
        r.headers = headers
        return r
    }
}

/// Status reason phrases (RFC 9110), used as problem titles.
enum HTTPStatus {
    static func reason(_ s: Int) -> String {
        switch s {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 421: return "Misdirected Request"
        case 429: return "Too Many Requests"
        case 422: return "Unprocessable Content"
        case 500: return "Internal Server Error"
        case 503: return "Service Unavailable"
        case 507: return "Insufficient Storage"
        default: return "Status \(s)"
        }
    }
}
