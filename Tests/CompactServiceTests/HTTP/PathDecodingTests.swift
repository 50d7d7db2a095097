@testable import CompactServiceKit
import Testing

@Suite("Path decoding")
struct PathDecodingTests {
    @Test(arguments: [
        ("/v1/machines/a", "/v1/machines/a"),
        ("/v1/machines/%61", "/v1/machines/a"),
        ("/v1/machines/a%2Db", "/v1/machines/a-b"),
        ("/v1/machines/a%00junk", "/v1/machines/a%00junk"),
        ("/v1/machines/a%2Fstats", "/v1/machines/a%2Fstats"),
        ("/v1/machines/a%2fstats", "/v1/machines/a%2fstats"),
        ("%", "%"), ("%4", "%4"), ("%zz", "%zz"), ("a%41%42", "aAB"), ("%25%32%46", "%2F"),
    ])
    func decodesAllButNulAndSlash(_ raw: String, _ decoded: String) {
        #expect(PathDecoding.decode(raw) == decoded)
    }

    @Test func neverLengthens() {
        for s in ["", "%", "%%", "%%%41", "%2F%00%41", String(repeating: "%41", count: 100)] {
            #expect(PathDecoding.decode(s).utf8.count <= s.utf8.count)
        }
    }
}
