import MMCore
import MMFormat
import Testing

/// The one rule for absent and `null` (`JSONObjectMembers`): absent is nil (the default applies), an
/// explicit `null` is a value a typed read refuses naming the field, unless the member is declared
/// nullable.
@Suite struct JSONObjectReaderTests {
    func object(_ text: String) throws -> JSON { try JSON.parse(text) }

    @Test func absentMemberIsNil() throws {
        let r = try JSONObjectReader(try object(#"{"a": 1}"#), path: "")
        #expect(try r.int("seed", in: 0...10) == nil)
        #expect(try r.string("name") == nil)
        #expect(try r.bool("on") == nil)
        #expect(try r.object("sysctl") == nil)
        #expect(try r.array("steps") == nil)
    }

    @Test(arguments: ["int", "double", "string", "bool", "object", "array"])
    func nullIsRefusedNamingTheField(_ type: String) throws {
        let r = try JSONObjectReader(try object(#"{"x": {"seed": null}}"#), path: "").object("x")!
        do {
            switch type {
            case "int": _ = try r.int("seed", in: 0...10)
            case "double": _ = try r.double("seed", in: 0...10)
            case "string": _ = try r.string("seed")
            case "bool": _ = try r.bool("seed")
            case "object": _ = try r.object("seed")
            default: _ = try r.array("seed")
            }
            Issue.record("null accepted for a \(type)")
        } catch {
            #expect(error.field == "x.seed")
        }
    }

    @Test func requiredNullIsNotMissing() throws {
        let r = try JSONObjectReader(try object(#"{"seed": null}"#), path: "")
        #expect(throws: MMError.invalidConfig(field: "seed", value: "null", reason: "must be an integer")) {
            try r.requiredInt("seed", in: 0...10)
        }
    }

    @Test func declaredNullableReadsNullAsAbsent() throws {
        var m = try #require(JSONObjectMembers(try object(#"{"node": null, "tag": null}"#), path: ""))
        #expect(m["node"] == .null)
        m.allowNull("node")
        #expect(m["node"] == nil)
        #expect(m["tag"] == .null)
        #expect(m["missing"] == nil)
    }

    @Test func duplicatesAndUnknownsNameTheField() throws {
        #expect(throws: MMError.invalidConfig(field: "a", value: "a", reason: "field 'a' appears twice")) {
            try JSONObjectReader(try object(#"{"a": 1, "a": 2}"#), path: "")
        }
        let r = try JSONObjectReader(try object(#"{"b": 1}"#), path: "p")
        #expect(throws: MMError.invalidConfig(field: "p.b", value: "b", reason: "unknown field (allowed: a)")) {
            try r.rejectUnknown(["a"])
        }
    }

    @Test func machineSeedNullIsRefused() throws {
        #expect(throws: MMError.invalidConfig(field: "seed", value: "null", reason: "must be an integer")) {
            try MachineConfig(json: try object(#"{"memory_mib": 64, "seed": null}"#))
        }
        #expect(try MachineConfig(json: try object(#"{"memory_mib": 64}"#)).seed == 1)
    }
}
