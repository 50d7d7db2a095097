import MMFormat
import Testing

/// The one JSON value: parsing keeps number text and refuses malformed or too deep documents; the one
/// writer escapes and formats; a value is written through the writer (no second encoder).
@Suite("JSON")
struct JSONTests {
    @Test func parsesAndKeepsNumberText() throws {
        let v = try JSON.parse(bytes: Array(#" {"a": [1, 2.5, -0, 1e3], "b": "x\u00e9\n", "c": null, "d": true} "#.utf8))
        guard case .object(let m) = v else { Issue.record("not an object"); return }
        #expect(m.map(\.0) == ["a", "b", "c", "d"])
        #expect(m[0].1 == .array([.number("1"), .number("2.5"), .number("-0"), .number("1e3")]))
        #expect(m[1].1 == .string("xé\n"))
    }

    @Test(arguments: ["", "{", "{\"a\"}", "[1,]", "01", "{\"a\":1}x", "\"\\x\"", "nul", "1.", "-", "\"\u{01}\""])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(bytes: Array(text.utf8)) }
    }

    @Test func deepNestingIsRefused() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSON.ParseError.self) { try JSON.parse(bytes: Array(deep.utf8)) }
    }

    @Test func writerEscapesAndFormats() {
        var w = JSONWriter()
        w.beginObject()
        w.field("s", "a\"b\\c\u{1}")
        w.key("t")
        w.beginArray()
        w.thousandths(-1000)
        w.thousandths(473)
        w.thousandths(-250)
        w.thousandths(5)
        w.endArray()
        w.field("d", 2.0)
        w.field("n", -42)
        w.endObject()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"s":"a\"b\\c\u0001","t":[-1.000,0.473,-0.250,0.005],"d":2.0,"n":-42}"#)
    }

    @Test func valueEncodesThroughTheWriter() throws {
        let text = #"{"s":"a\"b\\c\u0001\n\té","n":[2.50,-0,1e3],"o":{},"a":[],"z":null,"t":true}"#
        let v = try JSON.parse(text)
        #expect(v.encoded == text)
        var w = JSONWriter()
        w.beginArray()
        w.json(v)
        w.int(1)
        w.endArray()
        #expect(String(decoding: w.bytes, as: UTF8.self) == "[" + text + ",1]")
    }
}
