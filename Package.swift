// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "compact-service",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MMCore", targets: ["MMCore"]),
        .library(name: "MMFormat", targets: ["MMFormat"]),
        .executable(name: "compact-service", targets: ["CompactService"]),
        .executable(name: "mm-bench", targets: ["MMBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The simulation: pure Swift, no HTTP, no I/O, deterministic for a seed.
        .target(name: "MMCore"),
        // The wire format between the simulation and its callers: the one JSON value, reader and writer;
        // machine, workload and experiment definitions; result encodings (JSON, CSV, Markdown); the
        // pageblock map document. MMCore's errors name fields; this layer reads and writes the text.
        .target(name: "MMFormat", dependencies: ["MMCore"]),
        // GNU libmicrohttpd from Debian's libmicrohttpd-dev, plus the thin wrappers variadic calls need.
        .systemLibrary(
            name: "CHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        // zlib from Debian's zlib1g-dev: checksums and compression of the durable state (--state-dir).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The service: HTTP through CHTTPD, routing, the machine registry. A library so tests can start
        // the real server in-process on an ephemeral port.
        .target(
            name: "CompactServiceKit",
            dependencies: ["MMCore", "MMFormat", "CHTTPD", "CZlib"],
            resources: [
                .embedInCode("Resources/openapi.yaml"),
                // The dashboard (GET / and /ui/…): static files compiled into the binary.
                .embedInCode("Resources/ui/index.html"),
                .embedInCode("Resources/ui/dashboard.js"),
                .embedInCode("Resources/ui/dashboard.css"),
                .embedInCode("Resources/ui/favicon.svg"),
            ]
        ),
        // The `compact-service` executable: flags only.
        .executableTarget(
            name: "CompactService",
            dependencies: [
                "CompactServiceKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `make bench`: prints `name value unit` lines.
        .executableTarget(name: "MMBench", dependencies: ["MMCore", "MMFormat"]),
        // MMCore's tests build some machines and workloads from their JSON definitions, hence MMFormat.
        .testTarget(name: "MMCoreTests", dependencies: ["MMCore", "MMFormat"]),
        .testTarget(name: "MMFormatTests", dependencies: ["MMFormat", "MMCore"]),
        .testTarget(name: "CompactServiceTests", dependencies: ["CompactServiceKit", "MMCore", "MMFormat"]),
    ]
)
