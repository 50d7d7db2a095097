/// The sizes of the files a workload reads and writes, for page-cache streams whose footprint depends on
/// the page size: a file takes `ceil(size / PAGE_SIZE)` pages of page cache (one `struct page` per index
/// of its mapping, `add_to_page_cache_lru`), so the same files take more memory on 64 KiB pages than on
/// 4 KiB ones, the more so the smaller they are.
public enum FileSizes: String, Sendable, Equatable, CaseIterable {
    /// The files of a Linux 2.6.35 source tree, as the stress test's kernel builds read them: the 33,305
    /// files of the 2.6.35.6 release tree (`git ls-tree -r -l` of its import), 368 MiB, by size in 4 KiB
    /// pages. They take 113,477 pages of 4 KiB (443 MiB) and 34,521 of 64 KiB (2,158 MiB, 4.9 times as
    /// much): half the files fit in one 4 KiB page, nearly all in one 64 KiB page.
    case linux2635 = "linux-2.6.35"

    /// (size in 4 KiB pages, rounded up; number of files of that size).
    var histogram: [(pages4k: Int, files: Int)] {
        switch self {
        case .linux2635: return FileSizes.linux2635Histogram
        }
    }

    /// Draws one file's size in bytes (a multiple of 4 KiB: only the page count a size rounds to matters
    /// for any page size of 4 KiB or a multiple), each file of the tree equally likely.
    func drawBytes(_ rng: inout SeededRandom) -> Int {
        let table: [(pages4k: Int, through: Int)]
        switch self {
        case .linux2635: table = FileSizes.linux2635Cumulative
        }
        let x = Int(rng.next() % UInt64(table[table.count - 1].through))
        var lo = 0, hi = table.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if x < table[mid].through { hi = mid } else { lo = mid + 1 }
        }
        return table[lo].pages4k << 12
    }

    /// The histogram with running totals of files (`drawBytes` searches it).
    private static func cumulative(_ h: [(pages4k: Int, files: Int)]) -> [(pages4k: Int, through: Int)] {
        var acc = 0
        return h.map { acc += $0.files; return ($0.pages4k, acc) }
    }

    private static let linux2635Cumulative = cumulative(linux2635Histogram)

    private static let linux2635Histogram: [(pages4k: Int, files: Int)] = [
        (1, 16045), (2, 5852), (3, 3155), (4, 1944), (5, 1270), (6, 982), (7, 741), (8, 587), (9, 433), (10, 342),
        (11, 277), (12, 225), (13, 182), (14, 148), (15, 135), (16, 116), (17, 104), (18, 80), (19, 81), (20, 64),
        (21, 47), (22, 57), (23, 37), (24, 37), (25, 29), (26, 32), (27, 23), (28, 28), (29, 17), (30, 23), (31, 19),
        (32, 19), (33, 10), (34, 11), (35, 4), (36, 12), (37, 8), (38, 9), (39, 4), (40, 3), (41, 3), (42, 4), (43, 9),
        (44, 4), (45, 3), (46, 5), (47, 8), (48, 6), (49, 3), (50, 1), (51, 3), (52, 3), (53, 3), (54, 2), (55, 4),
        (56, 1), (57, 1), (58, 4), (59, 3), (60, 2), (61, 1), (62, 1), (63, 1), (64, 2), (65, 1), (66, 3), (68, 1),
        (71, 1), (72, 1), (73, 1), (74, 2), (76, 1), (78, 2), (79, 1), (81, 1), (82, 1), (85, 2), (90, 1), (93, 1),
        (94, 1), (96, 1), (98, 1), (99, 1), (105, 1), (110, 1), (113, 1), (120, 2), (124, 1), (138, 1), (145, 1),
        (153, 1), (171, 1), (186, 1), (214, 1)
    ]
}
