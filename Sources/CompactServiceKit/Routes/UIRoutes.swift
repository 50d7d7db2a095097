/// The dashboard: `GET /` (index.html) and its assets under /ui/, embedded in the binary
/// (Package.swift `.embedInCode`) and served as fixed answers, without the router: static files that
/// hold no machine's data, so like /healthz they need no token whatever the policy (the page asks for
/// one when `/readyz` says the API needs it). The page loads nothing from elsewhere and has no inline
/// script or style, so it runs under the strict policy sent with it.
enum UIRoutes {
    static let index = StaticBytes(PackageResources.index_html)
    static let script = StaticBytes(PackageResources.dashboard_js)
    static let style = StaticBytes(PackageResources.dashboard_css)
    static let icon = StaticBytes(PackageResources.favicon_svg)

    /// Scripts, styles, images and connections from this service only; no inline script or style, no
    /// eval, no plugins, no framing, no base or form targets elsewhere.
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    /// A new binary's page and files are fetched again, not taken from a stale cache.
    static let headers = [("Content-Security-Policy", contentSecurityPolicy), ("Cache-Control", "no-cache"),
                          ("Referrer-Policy", "no-referrer")]

    static func register(_ t: inout RouteTable) {
        t.fixed("/", contentType: "text/html; charset=utf-8", index, headers: headers)
        t.fixed("/ui/dashboard.js", contentType: "text/javascript; charset=utf-8", script, headers: headers)
        t.fixed("/ui/dashboard.css", contentType: "text/css; charset=utf-8", style, headers: headers)
        t.fixed("/ui/favicon.svg", contentType: "image/svg+xml", icon, headers: headers)
    }
}
