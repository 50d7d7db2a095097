import MMCore
import MMFormat
import Testing

/// MMCore names fields as typed steps; the format layer spells them as the JSON paths the service's
/// problems carry, and words the messages.
@Suite struct FieldPathTests {
    @Test func spelledAsJSONPaths() {
        #expect(FieldPath.root.jsonPath == "")
        #expect(FieldPath("memory_mib").jsonPath == "memory_mib")
        #expect(FieldPath("sysctl", "min_free_kbytes").jsonPath == "sysctl.min_free_kbytes")
        #expect(FieldPath("zones").index(0).index(1).key("mib").jsonPath == "zones[0][1].mib")
        #expect(FieldPath("steps").index(3).key("high_alloc").key("order").jsonPath == "steps[3].high_alloc.order")
        #expect(FieldPath("variants").index(2).appending(FieldPath("sysctl", "extfrag_threshold")).jsonPath
                == "variants[2].sysctl.extfrag_threshold")
        #expect(FieldPath("proc_image", "nodes").index(1).hasPrefix(FieldPath("proc_image")))
        #expect(!FieldPath("nodes").hasPrefix(FieldPath("proc_image")))
    }

    @Test func messagesNameTheJSONPath() {
        #expect(MMError.invalidConfig(field: FieldPath("zones").index(0).key("mib"), value: "3", reason: "too small").description
                == "zones[0].mib = 3: too small")
        #expect(MMError.orderOutOfRange(field: FieldPath("order"), order: 12, max: 10).description
                == "order = 12: order must be between 0 and 10")
        #expect(MMError.handleNotFreeable(index: 2, handle: 7, repeated: true).jsonField == "handles[2]")
        #expect(MMError.unknownNode(field: FieldPath("steps").index(0).key("compact").key("node"), node: 3).description
                == "steps[0].compact.node = 3: no such NUMA node")
    }
}
