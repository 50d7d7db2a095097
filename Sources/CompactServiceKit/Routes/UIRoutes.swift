/// The dashboard: `GET /` (index.html) and its assets under /ui/, embedded in the binary
/// (Package.swift `.embedInCode`) and served as fixed answers, without the router. The page needs no
/// network access beyond this service: no remote scripts, styles or fonts, and no inline script or
/// style, so it runs under `Content-Security-Policy: default-src 'self'`.
enum UIRoutes {
    static let index = StaticBytes(PackageResources.index_html)
    static let script = StaticBytes(PackageResources.dashboard_js)
    static let style = StaticBytes(PackageResources.dashboard_css)
    static let icon = StaticBytes(PackageResources.favicon_svg)

    static func register(_ t: inout RouteTable) {
        t.fixed("/", contentType: "text/html; charset=utf-8", index)
        t.fixed("/ui/dashboard.js", contentType: "text/javascript; charset=utf-8", script)
        t.fixed("/ui/dashboard.css", contentType: "text/css; charset=utf-8", style)
        t.fixed("/ui/favicon.svg", contentType: "image/svg+xml", icon)
    }
}
