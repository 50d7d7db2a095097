// Flags only: everything else lives in CompactServiceKit (and no C callback may live here: a closure
// in main.swift is inferred @MainActor and traps when libmicrohttpd calls it from a worker thread).
CompactServiceCommand.main()
