//! Security headers on every answer: a Content-Security-Policy that allows no inline script and
//! no framing (the pages' only script is /static/app.js), no MIME sniffing, no referrer to other
//! sites (job and photo names stay on this server), and no caching of private pages by shared
//! caches.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::App;

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub async fn security_headers(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with
    // the pages' own POSTs (the login form, uploads, cancel, delete, log out), which
    // `auth::same_origin` rightly refuses; other sites still get no referrer at all.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if app.tls {
        h.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if !h.contains_key("cache-control") {
        h.insert(
            "cache-control",
            HeaderValue::from_static(if is_static {
                "public, max-age=3600"
            } else {
                "private, no-store"
            }),
        );
    }
    res
}
