import Dispatch
import MMCore
import MMFormat
import Synchronization

/// The other instances of a fleet (`--peers`, README "Sharding"), asked for the fleet-wide views: each
/// instance can answer `GET /v1/fleet/machines` and `/v1/fleet/jobs`, so the front sends them (their
/// key is empty) to whichever instance it likes.
public struct FleetPeers: Sendable {
    let peers: [PeerURL]
    /// How this instance is named in the views (`--self-url`, or "self").
    let selfName: String
    /// Per peer, for connecting and for each read.
    let timeoutMs: Int
    /// The front (`--front`): where a spread experiment submits its parts.
    let front: PeerURL?

    /// `urls` may name this instance too (the same list on every instance, as a StatefulSet's pods
    /// get it): an entry equal to `selfURL` is left out. Throws the first entry that is not
    /// `http://host[:port]`.
    public init(urls: [String], selfURL: String?, front: String? = nil, timeoutMs: Int = 5000) throws(PeerError) {
        if let front {
            guard let f = PeerURL(front) else { throw PeerError(description: "--front '\(front.prefix(100))' is not http://host[:port]") }
            self.front = f
        } else {
            self.front = nil
        }
        var peers: [PeerURL] = []
        let me = selfURL.flatMap(PeerURL.init)
        if let selfURL, me == nil { throw PeerError(description: "--self-url '\(selfURL.prefix(100))' is not http://host[:port]") }
        for u in urls where !u.isEmpty {
            guard let p = PeerURL(u) else { throw PeerError(description: "--peers: '\(u.prefix(100))' is not http://host[:port]") }
            if p != me && !peers.contains(p) { peers.append(p) }
        }
        self.peers = peers
        selfName = me?.description ?? "self"
        self.timeoutMs = timeoutMs
    }

    static let none = try! FleetPeers(urls: [], selfURL: nil)

    /// What one instance answered for a fleet view.
    struct Answer: Sendable {
        var instance: String
        /// The list under the view's key, or why there is none.
        var items: Result<[JSON], PeerError>
    }

    /// `path` asked of every peer at once, each answer's `key` array taken; the peers in `--peers` order.
    func gather(_ path: String, key: String, authorization: String?) -> [Answer] {
        let results = Mutex<[Answer?]>(Array(repeating: nil, count: peers.count))
        DispatchQueue.concurrentPerform(iterations: peers.count) { i in
            let p = peers[i]
            let items: Result<[JSON], PeerError>
            switch PeerClient.get(p, path, authorization: authorization, timeoutMs: timeoutMs) {
            case .failure(let e):
                items = .failure(e)
            case .success(let (status, body)):
                if status != 200 {
                    items = .failure(PeerError(description: "\(p) answered \(status) for \(path)"))
                } else if let doc = try? JSON.parse(bytes: body), case .array(let a)? = doc[key] {
                    items = .success(a)
                } else {
                    items = .failure(PeerError(description: "\(p) answered \(path) without a `\(key)` list"))
                }
            }
            results.withLock { $0[i] = Answer(instance: p.description, items: items) }
        }
        return results.withLock { $0.map { $0! } }
    }
}
