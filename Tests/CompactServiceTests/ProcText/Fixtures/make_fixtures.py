#!/usr/bin/env python3
"""Writes the /proc fixtures of ProcTextTests: each a machine's buddyinfo, pagetypeinfo, zoneinfo (and
meminfo) in the layout one kernel release prints (mm/vmstat.c: frag_show_print,
pagetypeinfo_showfree_print, pagetypeinfo_showblockcount_print, pagetypeinfo_showmixedcount_print,
zoneinfo_show_print; fs/proc/meminfo.c), with counts modelled on published captures (the
2.6.3x x86_64 DMA/DMA32 example of the sharewiz "/proc/pagetypeinfo" page; Red Hat's buddyinfo
examples; 6.x zoneinfo as Documentation and mailing-list posts show it). The numbers are consistent
with each other (buddyinfo = the sum of the free lists; free <= managed <= pageblocks x pages), as a
capture of a quiet machine is. Run it from this directory to rewrite the fixtures."""
import os

def w(path, text):
    with open(path, "w") as f:
        f.write(text)

# --- layouts ------------------------------------------------------------------------------------
def buddyinfo(zones):
    out = ""
    for z in zones:
        tot = [sum(z["free"][t][o] for t in z["free"]) for o in range(len(next(iter(z["free"].values()))))]
        out += "Node %d, zone %8s " % (z["node"], z["name"]) + "".join("%6d " % c for c in tot) + "\n"
    return out

def pagetypeinfo(zones, types, pb, nr_orders, capped=False, mixed=False):
    out = ""
    for node in sorted(set(z["node"] for z in zones)):
        zs = [z for z in zones if z["node"] == node]
        out += "Page block order: %d\n" % pb
        out += "Pages per block:  %d\n" % (1 << pb)
        out += "\n"
        out += "%-43s " % "Free pages count per migrate type at order"
        out += "".join("%6d " % o for o in range(nr_orders)) + "\n"
        for z in zs:
            for t in types:
                row = z["free"].get(t, [0] * nr_orders)
                out += "Node %4d, zone %8s, type %12s " % (node, z["name"], t)
                for c in row:
                    if capped and c >= 100000:
                        out += ">%6d " % 100000
                    else:
                        out += "%6d " % c
                out += "\n"
        out += "\n%-23s" % "Number of blocks type "
        out += "".join("%12s " % t for t in types) + "\n"
        for z in zs:
            out += "Node %d, zone %8s " % (node, z["name"]) + "".join("%12d " % z["blocks"].get(t, 0) for t in types) + "\n"
        if mixed:
            out += "\n%-23s" % "Number of mixed blocks "
            out += "".join("%12s " % t for t in types) + "\n"
            for z in zs:
                out += "Node %d, zone %8s " % (node, z["name"]) + "".join("%12d " % z.get("mixed", {}).get(t, 0) for t in types) + "\n"
    return out

def free_pages(z):
    return sum(c << o for row in z["free"].values() for o, c in enumerate(row))

def vmstat_lines(z, indent):
    fp = free_pages(z)
    used = z["managed"] - fp
    items = [("nr_free_pages", fp), ("nr_inactive_anon", used // 9), ("nr_active_anon", used // 3),
             ("nr_inactive_file", used // 5), ("nr_active_file", used // 6), ("nr_unevictable", 0),
             ("nr_mlock", 0), ("nr_anon_pages", used // 2), ("nr_mapped", used // 20), ("nr_file_pages", used // 3),
             ("nr_dirty", 3), ("nr_writeback", 0), ("nr_slab_reclaimable", used // 25),
             ("nr_slab_unreclaimable", used // 60), ("nr_page_table_pages", used // 200), ("nr_kernel_stack", 40),
             ("nr_unstable", 0), ("nr_bounce", 0), ("nr_vmscan_write", 0), ("nr_writeback_temp", 0),
             ("nr_isolated_anon", 0), ("nr_isolated_file", 0), ("nr_shmem", 12)]
    return "".join("\n%s%-12s %d" % (indent, k, v) for k, v in items)

def pagesets_old(cpus, batch):
    out = "\n  pagesets"
    for c in range(cpus):
        out += "\n    cpu: %d\n              count: %d\n              high:  %d\n              batch: %d" % (c, (c * 7) % batch, 6 * batch, batch)
        out += "\n  vm stats threshold: %d" % 24
    return out

def zoneinfo_2635(zones, cpus):
    out = ""
    for z in zones:
        out += "Node %d, zone %8s" % (z["node"], z["name"])
        out += "\n  pages free     %d" % free_pages(z)
        out += "\n        min      %d\n        low      %d\n        high     %d" % tuple(z["wmark"])
        out += "\n        scanned  0"
        out += "\n        spanned  %d\n        present  %d" % (z["spanned"], z["present"])
        out += vmstat_lines(z, "    ")
        out += "\n        protection: (%s)" % ", ".join(str(p) for p in z["protection"])
        out += pagesets_old(cpus, 31 if z["name"] != "DMA" else 1)
        out += "\n  all_unreclaimable: 0\n  prev_priority:     12"
        out += "\n  start_pfn:         %d\n  inactive_ratio:    %d" % (z["start"], z.get("ratio", 1))
        out += "\n"
    return out

def zoneinfo_3x(zones, cpus):
    out = ""
    for z in zones:
        out += "Node %d, zone %8s" % (z["node"], z["name"])
        out += "\n  pages free     %d" % free_pages(z)
        out += "\n        min      %d\n        low      %d\n        high     %d" % tuple(z["wmark"])
        out += "\n        scanned  0"
        out += "\n        spanned  %d\n        present  %d\n        managed  %d" % (z["spanned"], z["present"], z["managed"])
        out += vmstat_lines(z, "    ")
        out += "\n        protection: (%s)" % ", ".join(str(p) for p in z["protection"])
        out += pagesets_old(cpus, 31 if z["name"] != "DMA" else 1)
        out += "\n  all_unreclaimable: 0"
        out += "\n  start_pfn:         %d\n  inactive_ratio:    %d" % (z["start"], z.get("ratio", 1))
        out += "\n"
    return out

def zoneinfo_6x(zones, all_zone_names, cpus):
    out = ""
    for node in sorted(set(z["node"] for z in zones)):
        first = True
        nz = len(all_zone_names)
        for name in all_zone_names:
            z = next((z for z in zones if z["node"] == node and z["name"] == name), None)
            out += "Node %d, zone %8s" % (node, name)
            if z is not None and first:
                first = False
                out += "\n  per-node stats"
                used = sum(x["managed"] - free_pages(x) for x in zones if x["node"] == node)
                for k, v in [("nr_inactive_anon", used // 9), ("nr_active_anon", used // 3), ("nr_inactive_file", used // 5),
                             ("nr_active_file", used // 6), ("nr_unevictable", 0), ("nr_slab_reclaimable", used // 25),
                             ("nr_slab_unreclaimable", used // 60), ("nr_isolated_anon", 0), ("nr_isolated_file", 0),
                             ("workingset_nodes", 0), ("nr_anon_pages", used // 2), ("nr_mapped", used // 20),
                             ("nr_file_pages", used // 3), ("nr_dirty", 5), ("nr_writeback", 0), ("nr_shmem", 20),
                             ("nr_anon_transparent_hugepages", 4), ("nr_kernel_misc_reclaimable", 0)]:
                    out += "\n      %-12s %d" % (k, v)
            if z is None:
                out += "\n  pages free     0\n        boost    0\n        min      0\n        low      0\n        high     0"
                out += "\n        spanned  0\n        present  0\n        managed  0\n        cma      0"
                out += "\n        protection: (%s)" % ", ".join("0" for _ in range(nz))
                out += "\n"
                continue
            out += "\n  pages free     %d" % free_pages(z)
            out += "\n        boost    0"
            out += "\n        min      %d\n        low      %d\n        high     %d" % tuple(z["wmark"])
            out += "\n        spanned  %d\n        present  %d\n        managed  %d\n        cma      0" % (z["spanned"], z["present"], z["managed"])
            out += "\n        protection: (%s)" % ", ".join(str(p) for p in z["protection"])
            fp = free_pages(z)
            for k, v in [("nr_free_pages", fp), ("nr_zone_inactive_anon", 100), ("nr_zone_active_anon", 300),
                         ("nr_zone_inactive_file", 200), ("nr_zone_active_file", 150), ("nr_zone_unevictable", 0),
                         ("nr_zone_write_pending", 0), ("nr_mlock", 0), ("nr_bounce", 0), ("nr_zspages", 0),
                         ("nr_free_cma", 0), ("numa_hit", 123456), ("numa_miss", 0), ("numa_foreign", 0),
                         ("numa_interleave", 1), ("numa_local", 123456), ("numa_other", 0)]:
                out += "\n      %-12s %d" % (k, v)
            out += "\n  pagesets"
            for c in range(cpus):
                out += "\n    cpu: %d\n              count: %d\n              high:  %d\n              batch: %d" % (c, (c * 11) % 63, 378, 63)
                out += "\n              high_min: 378\n              high_max: 3024"
                out += "\n  vm stats threshold: %d" % 40
            out += "\n  node_unreclaimable:  0\n  start_pfn:           %d" % z["start"]
            out += "\n"
    return out

def meminfo(total_kb, free_kb, anon_kb, cached_kb):
    return ("MemTotal:       %8d kB\nMemFree:        %8d kB\nMemAvailable:   %8d kB\nBuffers:        %8d kB\n"
            "Cached:         %8d kB\nSwapCached:            0 kB\nActive:         %8d kB\nInactive:       %8d kB\n"
            "AnonPages:      %8d kB\nSlab:           %8d kB\nHugePages_Total:       0\nHugepagesize:       2048 kB\n") % (
        total_kb, free_kb, free_kb + cached_kb // 2, 1024, cached_kb, anon_kb // 2, anon_kb // 2, anon_kb, 40000)

def fix(o, pad=11):
    return o + [0] * (pad - len(o))

# --- 2.6.35-era x86_64, two nodes (Reserve, no managed) ----------------------------------------
def linux_2635():
    T = ["Unmovable", "Reclaimable", "Movable", "Reserve", "Isolate"]
    zones = [
        dict(node=0, name="DMA", start=16, spanned=4080, present=3996, managed=3996, wmark=[5, 6, 7],
             protection=[0, 1975, 3983, 3983],
             free={"Unmovable": fix([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0]), "Movable": fix([1, 1, 2, 1, 2, 1, 1, 0, 1, 0, 2]),
                   "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])},
             blocks={"Unmovable": 2, "Movable": 5, "Reserve": 1}),
        dict(node=0, name="DMA32", start=4096, spanned=520192, present=505862, managed=505862, wmark=[1033, 1291, 1549],
             protection=[0, 0, 2008, 2008],
             free={"Unmovable": fix([103, 54, 77, 1, 1, 1, 11, 8, 7, 1, 9]), "Reclaimable": fix([0, 0, 2, 1, 0, 0, 0, 0, 1, 0, 0]),
                   "Movable": fix([169, 152, 113, 91, 77, 54, 39, 13, 6, 1, 452]), "Reserve": fix([1, 2, 2, 2, 2, 0, 1, 1, 1, 1, 0])},
             blocks={"Unmovable": 41, "Reclaimable": 6, "Movable": 967, "Reserve": 2}),
        dict(node=0, name="Normal", start=1048576, spanned=524288, present=514080, managed=514080, wmark=[1049, 1311, 1573],
             protection=[0, 0, 0, 0], ratio=3,
             free={"Unmovable": fix([412, 120, 33, 5, 1, 0, 0, 0, 0, 0, 0]), "Reclaimable": fix([57, 40, 18, 9, 3, 1, 0, 0, 0, 0, 0]),
                   "Movable": fix([2210, 1419, 688, 301, 122, 40, 15, 7, 3, 2, 61]), "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])},
             blocks={"Unmovable": 64, "Reclaimable": 38, "Movable": 920, "Reserve": 2}),
        dict(node=1, name="Normal", start=1572864, spanned=1048576, present=1032192, managed=1032192, wmark=[2107, 2633, 3160],
             protection=[0, 0, 0, 0], ratio=4,
             free={"Unmovable": fix([96, 31, 12, 2, 0, 0, 0, 0, 0, 0, 0]), "Reclaimable": fix([804, 377, 92, 14, 2, 0, 0, 0, 0, 0, 0]),
                   "Movable": fix([5120, 2703, 1500, 802, 344, 110, 41, 12, 6, 3, 140]), "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])},
             blocks={"Unmovable": 22, "Reclaimable": 120, "Movable": 1900, "Reserve": 2}),
    ]
    d = "linux-2.6.35-x86_64-2node"
    w(d + ".buddyinfo", buddyinfo(zones))
    w(d + ".pagetypeinfo", pagetypeinfo(zones, T, 9, 11))
    w(d + ".zoneinfo", zoneinfo_2635(zones, 4))

# --- 4.1-era x86_64 (Reserve and CMA columns, managed lines) ------------------------------------
def linux_41():
    T = ["Unmovable", "Reclaimable", "Movable", "Reserve", "CMA", "Isolate"]
    zones = [
        dict(node=0, name="DMA", start=1, spanned=4095, present=3998, managed=3977, wmark=[15, 18, 22],
             protection=[0, 3236, 7720, 7720],
             free={"Unmovable": fix([1, 0, 1, 0, 2, 1, 1, 0, 1, 0, 0]), "Movable": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]),
                   "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0])},
             blocks={"Unmovable": 1, "Movable": 6, "Reserve": 1}),
        dict(node=0, name="DMA32", start=4096, spanned=1044480, present=831264, managed=813614, wmark=[3046, 3807, 4569],
             protection=[0, 0, 4484, 4484],
             free={"Unmovable": fix([352, 212, 91, 30, 9, 2, 1, 0, 0, 0, 0]), "Reclaimable": fix([41, 22, 9, 1, 0, 0, 0, 0, 0, 0, 0]),
                   "Movable": fix([4306, 2876, 1501, 711, 380, 201, 90, 41, 15, 9, 250]), "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])},
             blocks={"Unmovable": 80, "Reclaimable": 41, "Movable": 1501, "Reserve": 2}),
        dict(node=0, name="Normal", start=1048576, spanned=1179648, present=1179648, managed=1148034, wmark=[4299, 5373, 6448],
             protection=[0, 0, 0, 0], ratio=3,
             free={"Unmovable": fix([1021, 620, 230, 61, 12, 3, 0, 0, 0, 0, 0]), "Reclaimable": fix([2302, 1810, 633, 120, 14, 1, 0, 0, 0, 0, 0]),
                   "Movable": fix([9012, 5530, 2410, 1112, 512, 208, 77, 20, 6, 2, 31]), "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])},
             blocks={"Unmovable": 190, "Reclaimable": 260, "Movable": 1852, "Reserve": 2}),
    ]
    d = "linux-4.1-x86_64-cma"
    w(d + ".buddyinfo", buddyinfo(zones))
    w(d + ".pagetypeinfo", pagetypeinfo(zones, T, 9, 11))
    w(d + ".zoneinfo", zoneinfo_3x(zones, 8))
    w(d + ".meminfo", meminfo(sum(z["managed"] for z in zones) * 4, sum(free_pages(z) for z in zones) * 4, 2600000, 3100000))

# --- 6.6-era x86_64, two nodes (HighAtomic, CMA, Isolate; per-node stats; capped count; page_owner) -
def linux_66():
    T = ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"]
    zones = [
        dict(node=0, name="DMA", start=1, spanned=4095, present=3998, managed=3840, wmark=[11, 14, 17],
             protection=[0, 1873, 31911, 31911, 31911],
             free={"Unmovable": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "Movable": fix([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 3])},
             blocks={"Unmovable": 1, "Movable": 7}, mixed={"Movable": 0}),
        dict(node=0, name="DMA32", start=4096, spanned=1044480, present=484264, managed=479716, wmark=[1724, 2203, 2682],
             protection=[0, 0, 30037, 30037, 30037],
             free={"Unmovable": fix([12, 9, 4, 2, 1, 0, 0, 0, 0, 0, 0]), "Movable": fix([1806, 955, 410, 211, 99, 40, 22, 11, 7, 5, 120]),
                   "Reclaimable": fix([3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0])},
             blocks={"Unmovable": 14, "Movable": 930, "Reclaimable": 4}, mixed={"Movable": 3, "Unmovable": 2}),
        dict(node=0, name="Normal", start=1048576, spanned=1048576, present=1048576, managed=1030000, wmark=[3702, 4731, 5760],
             protection=[0, 0, 0, 0, 0],
             free={"Unmovable": fix([2011, 1630, 802, 255, 40, 6, 1, 0, 0, 0, 0]), "Movable": fix([120000, 30000, 10000, 4000, 1500, 500, 200, 60, 25, 20, 150]),
                   "Reclaimable": fix([3307, 2940, 1208, 330, 45, 3, 0, 0, 0, 0, 0]), "HighAtomic": fix([0, 0, 0, 5, 3, 1, 1, 0, 0, 0, 0])},
             blocks={"Unmovable": 110, "Movable": 1830, "Reclaimable": 100, "HighAtomic": 8}, mixed={"Movable": 41, "Unmovable": 20, "Reclaimable": 9}),
        dict(node=1, name="Normal", start=2097152, spanned=1048576, present=1048576, managed=1040000, wmark=[3738, 4777, 5816],
             protection=[0, 0, 0, 0, 0],
             free={"Unmovable": fix([503, 420, 199, 61, 12, 2, 0, 0, 0, 0, 0]), "Movable": fix([88000, 41200, 17330, 6002, 2210, 880, 301, 92, 30, 25, 300]),
                   "Reclaimable": fix([1009, 840, 310, 62, 8, 1, 0, 0, 0, 0, 0]), "Isolate": fix([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])},
             blocks={"Unmovable": 60, "Movable": 1944, "Reclaimable": 40, "Isolate": 4}, mixed={"Movable": 12, "Unmovable": 30, "Reclaimable": 9}),
    ]
    d = "linux-6.6-x86_64-2node"
    w(d + ".buddyinfo", buddyinfo(zones))
    w(d + ".pagetypeinfo", pagetypeinfo(zones, T, 9, 11, capped=True, mixed=True))
    w(d + ".zoneinfo", zoneinfo_6x(zones, ["DMA", "DMA32", "Normal", "Movable", "Device"], 4))
    w(d + ".meminfo", meminfo(sum(z["managed"] for z in zones) * 4, sum(free_pages(z) for z in zones) * 4, 21500000, 30600000))

# --- 2.6.3x ppc64, 64 KiB pages, two nodes (all memory in ZONE_DMA; orders 0..8, 16 MiB pageblocks) -
def linux_ppc64():
    T = ["Unmovable", "Reclaimable", "Movable", "Reserve", "Isolate"]
    z = lambda node, start, spanned, present, wm, free, blocks, ratio: dict(
        node=node, name="DMA", start=start, spanned=spanned, present=present, managed=present, wmark=wm,
        protection=[0, 0, 0], free=free, blocks=blocks, ratio=ratio)
    zones = [
        z(0, 0, 65536, 65536, [361, 451, 541],
          {"Unmovable": fix([140, 61, 20, 6, 1, 0, 0, 0, 0], 9), "Reclaimable": fix([33, 12, 4, 1, 0, 0, 0, 0, 0], 9),
           "Movable": fix([1201, 833, 410, 177, 63, 21, 7, 3, 140], 9), "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 2], 9)},
          {"Unmovable": 21, "Reclaimable": 9, "Movable": 224, "Reserve": 2}, 6),
        z(1, 65536, 65536, 65536, [362, 452, 543],
          {"Unmovable": fix([12, 4, 1, 0, 0, 0, 0, 0, 0], 9), "Reclaimable": fix([90, 41, 12, 3, 0, 0, 0, 0, 0], 9),
           "Movable": fix([2330, 1410, 702, 301, 121, 40, 11, 4, 96], 9), "Reserve": fix([0, 0, 0, 0, 0, 0, 0, 0, 2], 9)},
          {"Unmovable": 6, "Reclaimable": 14, "Movable": 234, "Reserve": 2}, 6),
    ]
    d = "linux-2.6.32-ppc64-64k"
    w(d + ".buddyinfo", buddyinfo(zones))
    w(d + ".pagetypeinfo", pagetypeinfo(zones, T, 8, 9))
    w(d + ".zoneinfo", zoneinfo_2635(zones, 16))
    w(d + ".meminfo", meminfo(sum(zz["managed"] for zz in zones) * 64, sum(free_pages(zz) for zz in zones) * 64, 3000000, 2200000))

if __name__ == "__main__":
    linux_2635()
    linux_41()
    linux_66()
    linux_ppc64()
