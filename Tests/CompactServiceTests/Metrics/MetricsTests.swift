@testable import CompactServiceKit
import Foundation
import MMCore
import MMFormat
import XCTest

/// GET /metrics: the Prometheus text format, node_exporter's names, the service's own metrics.
final class MetricsTests: XCTestCase {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// Parses the exposition format strictly enough to catch what Prometheus would reject: every sample
    /// belongs to the family declared last by `# TYPE`, families are contiguous and declared once, label
    /// values are quoted, values are numbers.
    static func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [Sample] {
        var samples: [Sample] = []
        var declared: Set<String> = []
        var current: (name: String, type: String)?
        XCTAssertTrue(text.hasSuffix("\n"), file: file, line: line)
        for l in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if l.hasPrefix("# HELP ") { continue }
            if l.hasPrefix("# TYPE ") {
                let parts = l.split(separator: " ")
                XCTAssertEqual(parts.count, 4, String(l), file: file, line: line)
                let name = String(parts[2])
                XCTAssertTrue(declared.insert(name).inserted, "family \(name) declared twice", file: file, line: line)
                XCTAssertTrue(["counter", "gauge", "histogram", "untyped", "summary"].contains(String(parts[3])), file: file, line: line)
                current = (name, String(parts[3]))
                continue
            }
            XCTAssertFalse(l.hasPrefix("#"), "unknown comment \(l)", file: file, line: line)
            let nameEnd = l.firstIndex(where: { $0 == "{" || $0 == " " })!
            let name = String(l[..<nameEnd])
            var labels: [String: String] = [:]
            var rest = l[nameEnd...]
            if rest.hasPrefix("{") {
                let close = rest.lastIndex(of: "}")!
                let body = rest[rest.index(after: rest.startIndex)..<close]
                for pair in body.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    XCTAssertEqual(kv.count, 2, String(l), file: file, line: line)
                    XCTAssertTrue(kv[1].hasPrefix("\"") && kv[1].hasSuffix("\""), String(l), file: file, line: line)
                    labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                }
                rest = rest[rest.index(after: close)...]
            }
            let valueText = rest.trimmingCharacters(in: .whitespaces)
            let value = valueText == "+Inf" ? Double.infinity : Double(valueText)
            XCTAssertNotNil(value, "value of \(l)", file: file, line: line)
            guard let fam = current else { XCTFail("sample before any TYPE: \(l)", file: file, line: line); continue }
            let ok = name == fam.name
                || (fam.type == "histogram" && [fam.name + "_bucket", fam.name + "_sum", fam.name + "_count"].contains(name))
            XCTAssertTrue(ok, "\(name) outside its family (current: \(fam.name))", file: file, line: line)
            samples.append(Sample(name: name, labels: labels, value: value ?? .nan))
        }
        return samples
    }

    func testNodeExporterSeriesAndServiceMetrics() throws {
        let ts = try TestServer()
        defer { ts.stop() }
        XCTAssertEqual(try ts.createMachine("m", memoryMiB: 256, extra: ",\"nodes\":2").status, 201)
        XCTAssertEqual(try ts.client.post("/v1/machines/m/allocations", json: "{\"order\":2,\"count\":50,\"kind\":\"kernel\"}").status, 200)
        for _ in 0..<3 { XCTAssertEqual(try ts.client.get("/healthz").status, 200) }
        XCTAssertEqual(try ts.client.get("/v1/machines/nope").status, 404)

        let r = try ts.client.get("/metrics")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        XCTAssertTrue(r.text.contains("# HELP node_buddyinfo_blocks Count of free blocks according to size.\n# TYPE node_buddyinfo_blocks gauge\n"))
        XCTAssertTrue(r.text.contains("# HELP node_vmstat_compact_stall /proc/vmstat information field compact_stall.\n# TYPE node_vmstat_compact_stall untyped\n"))
        let samples = MetricsTests.parse(r.text)

        // Buddyinfo: the same numbers as the stats document, per node and zone.
        let stats = try ts.client.get("/v1/machines/m/stats").json
        for node in stats["nodes"] as! [[String: Any]] {
            for zone in node["zones"] as! [[String: Any]] {
                let blocks = zone["free_blocks"] as! [Int]
                for (order, n) in blocks.enumerated() {
                    let s = samples.first {
                        $0.name == "node_buddyinfo_blocks" && $0.labels == ["machine": "m", "node": "\(node["id"] as! Int)",
                                                                           "zone": zone["name"] as! String, "size": "\(order)"]
                    }
                    XCTAssertEqual(s?.value, Double(n), "node \(node["id"]!) zone \(zone["name"]!) order \(order)")
                }
            }
        }
        // Every vmstat field, under node_exporter's name.
        let vmstat = stats["vmstat"] as! [String: Int]
        for (k, v) in vmstat {
            XCTAssertEqual(samples.first { $0.name == "node_vmstat_\(k)" && $0.labels == ["machine": "m"] }?.value, Double(v), k)
        }
        XCTAssertNotNil(samples.first { $0.name == "node_vmstat_compact_stall" })

        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        XCTAssertEqual(value("compact_service_machines"), 1)
        XCTAssertGreaterThan(value("compact_service_state_bytes", ["machine": "m"]) ?? 0, 0)
        XCTAssertEqual(value("compact_service_sse_streams"), 0)
        XCTAssertEqual(value("compact_service_http_requests_total", ["route": "/healthz", "method": "GET", "status": "200"]), 3)
        XCTAssertEqual(value("compact_service_http_requests_total", ["route": "/v1/machines/{name}", "method": "GET", "status": "404"]), 1)
        XCTAssertEqual(value("compact_service_http_requests_total", ["route": "/v1/machines", "method": "POST", "status": "201"]), 1)

        // The histogram: cumulative buckets, +Inf equal to the count.
        let h = "compact_service_http_request_duration_seconds"
        let buckets = samples.filter { $0.name == h + "_bucket" && $0.labels["route"] == "/healthz" }
        XCTAssertEqual(buckets.count, ServiceMetrics.buckets.count + 1)
        XCTAssertEqual(buckets.map(\.value), buckets.map(\.value).sorted())
        XCTAssertEqual(buckets.last?.labels["le"], "+Inf")
        XCTAssertEqual(buckets.last?.value, 3)
        XCTAssertEqual(value(h + "_count", ["route": "/healthz", "method": "GET"]), 3)
        XCTAssertGreaterThan(value(h + "_sum", ["route": "/healthz", "method": "GET"]) ?? 0, 0)
    }

    func testNoMachinesAndEscaping() throws {
        XCTAssertEqual(PrometheusText.escapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd")
        let ts = try TestServer()
        defer { ts.stop() }
        let r = try ts.client.get("/metrics")
        let samples = MetricsTests.parse(r.text)
        XCTAssertFalse(samples.contains { $0.name.hasPrefix("node_") })
        XCTAssertEqual(samples.first { $0.name == "compact_service_machines" }?.value, 0)
    }
}
