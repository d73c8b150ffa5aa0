//! Who is asking: a browser session (cookie `HttpOnly`, `SameSite=Strict`, `Secure` under TLS)
//! or an API token (`Authorization: Bearer`). Requests that change something and come with a
//! session cookie must also carry the session's CSRF token (header `X-CSRF-Token`, or a `csrf`
//! form field for the few plain forms), and a cross-site `Origin` is refused outright. Failed
//! logins are counted per account and per address; past the limit the answer is 429 until the
//! window has passed, and the refusal is logged.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::App;
use super::accounts::secret_hash;
use super::store::User;

pub const SESSION_COOKIE: &str = "ddcolor_session";
/// The login form's own token (double submit: this cookie, `SameSite=Strict`, and the same
/// value in the form). Another site's page can post a login form, but without this cookie: no
/// one can be logged in to an account of someone else's choosing.
pub const LOGIN_COOKIE: &str = "ddcolor_login";
/// A session ends after this long unused.
pub const SESSION_IDLE: i64 = 12 * 3600;
/// And after this long in any case.
pub const SESSION_MAX: i64 = 7 * 24 * 3600;
/// Failed logins allowed per account and per address within [`THROTTLE_WINDOW`].
pub const THROTTLE_FAILURES: usize = 5;
pub const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Accounts and addresses remembered before the ones outside the window are forgotten.
const MAX_THROTTLE_KEYS: usize = 10_000;

/// The caller of a route that needs a login.
#[derive(Clone, Debug)]
pub struct Auth {
    pub user: User,
    /// The session's CSRF token; `None` for an API token (no cookie, so no CSRF to fear).
    pub csrf: Option<String>,
    pub address: String,
}

impl Auth {
    /// May see and change this user's jobs.
    pub fn may_see(&self, owner: i64) -> bool {
        self.user.admin || self.user.id == owner
    }
}

/// The client's address: the peer, or the proxy's X-Forwarded-For with `--behind-proxy`.
pub fn client_address(app: &App, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    if app.behind_proxy
        && let Some(xff) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    {
        return xff.to_string();
    }
    peer.map_or_else(|| "unknown".into(), |p| p.ip().to_string())
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub fn session_cookie(app: &App, value: &str, max_age: i64) -> String {
    cookie_header(app, SESSION_COOKIE, value, max_age)
}

pub fn cookie_header(app: &App, name: &str, value: &str, max_age: i64) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if app.tls { "; Secure" } else { "" }
    )
}

/// The login form's token matches its cookie.
pub fn login_token_ok(headers: &HeaderMap, form_value: Option<&str>) -> bool {
    match (cookie(headers, LOGIN_COOKIE), form_value) {
        (Some(c), Some(f)) => !c.is_empty() && constant_time_eq(c.as_bytes(), f.as_bytes()),
        _ => false,
    }
}

/// Finds the caller from the token or the session cookie.
pub fn authenticate(app: &App, headers: &HeaderMap, address: String) -> Option<Auth> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let user = app.store.user_by_token(&secret_hash(token.trim())).ok()??;
        return Some(Auth {
            user,
            csrf: None,
            address,
        });
    }
    let key = cookie(headers, SESSION_COOKIE)?;
    let (user, csrf) = app
        .store
        .session(&secret_hash(key), SESSION_IDLE, SESSION_MAX)
        .ok()??;
    Some(Auth {
        user,
        csrf: Some(csrf),
        address,
    })
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

/// The answer to a request without a valid login: JSON 401 for the API, the login page for
/// the pages (coming back here afterwards).
fn login_required(path: &str, query: Option<&str>) -> Response {
    if is_api(path) {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"error": "log in first (a session cookie or Authorization: Bearer TOKEN)"})),
        )
            .into_response()
    } else {
        let back = match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        Redirect::to(&format!("/login?next={}", super::html::url_encode(&back))).into_response()
    }
}

fn forbidden(path: &str, why: &str) -> Response {
    if is_api(path) {
        (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({"error": why})),
        )
            .into_response()
    } else {
        (StatusCode::FORBIDDEN, why.to_string()).into_response()
    }
}

fn peer(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Middleware of every route that needs a login; `admin`: administrators only.
pub async fn require_login(
    State((app, admin)): State<(Arc<App>, bool)>,
    mut req: Request,
    next: Next,
) -> Response {
    let address = client_address(&app, req.headers(), peer(&req));
    let path = req.uri().path().to_string();
    let Some(auth) = authenticate(&app, req.headers(), address) else {
        return login_required(&path, req.uri().query());
    };
    if admin && !auth.user.admin {
        return forbidden(&path, "administrators only");
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes && let Some(expected) = auth.csrf.clone() {
        let (ok, rebuilt) = csrf_ok(req, &expected).await;
        req = rebuilt;
        if !ok {
            return forbidden(
                &path,
                "the page's security token is missing or old: reload the page and try again",
            );
        }
    }
    req.extensions_mut().insert(auth);
    next.run(req).await
}

/// The CSRF token from the header, else from a small urlencoded form body (put back as it was).
async fn csrf_ok(req: Request, expected: &str) -> (bool, Request) {
    let header = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(h) = header {
        return (constant_time_eq(h.as_bytes(), expected.as_bytes()), req);
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (false, req);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (false, Request::from_parts(parts, Body::empty()));
    };
    let ok = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| constant_time_eq(v.as_bytes(), expected.as_bytes()));
    (ok, Request::from_parts(parts, Body::from(bytes)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware of every route: a state-changing request from another site's page is refused
/// (browsers send `Origin` with those); same-site pages and scripts without `Origin` pass.
/// `Origin: null` passes here: under the pages' `Referrer-Policy: no-referrer` browsers send it
/// with the pages' own form posts, and those carry a token the route checks (the session's
/// CSRF token, or the login form's own, see [`LOGIN_COOKIE`]).
pub async fn same_origin(req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if changes
        && let Some(origin) = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
        && origin != "null"
    {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return forbidden(req.uri().path(), "requests from other sites are refused");
        }
    }
    next.run(req).await
}

/// Failed logins per key ("account NAME", "address IP") within the window.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// Seconds until the next try is allowed, if any key is over the limit.
    pub fn blocked(&self, keys: &[String]) -> Option<u64> {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        keys.iter()
            .filter_map(|k| {
                let q = f.get_mut(k)?;
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > THROTTLE_WINDOW)
                {
                    q.pop_front();
                }
                (q.len() >= THROTTLE_FAILURES).then(|| {
                    let oldest = q.front().copied().unwrap_or(now);
                    (THROTTLE_WINDOW.saturating_sub(now.duration_since(oldest))).as_secs() + 1
                })
            })
            .max()
    }

    pub fn failed(&self, keys: &[String]) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Guessing with ever new names must not grow this without end: forget what is past.
        if f.len() > MAX_THROTTLE_KEYS {
            let now = Instant::now();
            f.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < THROTTLE_WINDOW)
            });
        }
        for k in keys {
            f.entry(k.clone()).or_default().push_back(Instant::now());
        }
    }

    pub fn succeeded(&self, account_key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account_key);
    }
}
