import MMCore
import MMFormat
import Testing

/// The one rule for absent and `null` (`JSONObjectMembers`): absent is nil (the default applies); an
/// explicit `null` is refused when the object is read, naming the member, unless the member is declared
/// nullable, where it reads as absent.
@Suite struct JSONObjectReaderTests {
    func object(_ text: String) throws -> JSON { try JSON.parse(text) }

    static let nullRefused = "may not be null (leave the field out for its default)"

    @Test func absentMemberIsNil() throws {
        let r = try JSONObjectReader(try object(#"{"a": 1}"#), path: .root)
        #expect(try r.int("seed", in: 0...10) == nil)
        #expect(try r.double("f", in: 0...1) == nil)
        #expect(try r.string("name") == nil)
        #expect(try r.bool("on") == nil)
        #expect(try r.object("sysctl") == nil)
        #expect(try r.array("steps") == nil)
    }

    @Test(arguments: [#"{"x": {"seed": null}}"#, #"{"x": {"a": 1, "seed": null}}"#, #"{"x": {"seed": null, "unread": 2}}"#])
    func nullIsRefusedNamingTheFieldWhenTheObjectIsRead(_ text: String) throws {
        let r = try JSONObjectReader(try object(text), path: .root)
        #expect(throws: MMError.invalidConfig(field: FieldPath("x", "seed"), value: "null", reason: Self.nullRefused)) {
            try r.object("x")
        }
    }

    @Test func nullIsRefusedEvenWhenNothingReadsTheMember() throws {
        #expect(throws: MMError.invalidConfig(field: FieldPath("steps").index(0).key("free").key("fraction"), value: "null",
                                              reason: Self.nullRefused)) {
            try WorkloadDefinition(json: try object(#"{"steps": [{"free": {"tag": "t", "fraction": null}}]}"#))
        }
    }

    @Test func declaredNullableReadsNullAsAbsent() throws {
        let m = try #require(JSONObjectMembers(try object(#"{"node": null, "tag": null, "order": 1}"#), nullable: ["node"]))
        #expect(m["node"] == nil)
        #expect(m["tag"] == .null)
        #expect(m["order"] == .number("1"))
        #expect(m["missing"] == nil)
        #expect(m.firstRefusedNull == "tag")
        #expect(JSONObjectMembers(try object(#"{"node": null}"#), nullable: ["node"])?.firstRefusedNull == nil)
    }

    @Test func duplicatesAndUnknownsNameTheField() throws {
        #expect(throws: MMError.invalidConfig(field: FieldPath("a"), value: "a", reason: "field 'a' appears twice")) {
            try JSONObjectReader(try object(#"{"a": 1, "a": 2}"#), path: .root)
        }
        let r = try JSONObjectReader(try object(#"{"b": 1}"#), path: FieldPath("p"))
        #expect(throws: MMError.invalidConfig(field: FieldPath("p", "b"), value: "b", reason: "unknown field (allowed: a)")) {
            try r.rejectUnknown(["a"])
        }
    }

    @Test func machineSeedNullIsRefusedAndAbsentIsTheDefault() throws {
        let seedNull = MMError.invalidConfig(field: FieldPath("seed"), value: "null", reason: Self.nullRefused)
        #expect(throws: seedNull) { try MachineConfig(json: try object(#"{"memory_mib": 64, "seed": null}"#)) }
        #expect(throws: seedNull) { try MachineConfig(json: try object(#"{"seed": null}"#)) }
        #expect(seedNull.description == "seed = null: may not be null (leave the field out for its default)")
        #expect(try MachineConfig(json: try object(#"{"memory_mib": 64}"#)).seed == 1)
    }
}
