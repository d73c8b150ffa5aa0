//! The pages: rendered here with what the database holds, so each shows its content at once;
//! `/static/app.js` then adds uploads with progress, live updates over the job's event stream,
//! the before/after slider and the keyboard shortcuts. Every value from a user or a file is
//! escaped ([`esc`]).

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{ConnectInfo, Extension, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::App;
use super::auth::{self, Auth};
use super::html::{esc, page, url_encode};
use super::store::{Job, LogFilter};

fn html(body: String) -> Response {
    Html(body).into_response()
}

fn state_badge(state: &str) -> String {
    format!(r#"<span class="badge {s}">{s}</span>"#, s = esc(state))
}

pub async fn not_found(State(app): State<Arc<App>>, uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "no such route"})),
        )
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        Html(page(
            &app,
            "Not found",
            None,
            r#"<section class="card"><h1>Not found</h1><p>There is no such page. <a href="/">Back to your jobs</a>.</p></section>"#,
        )),
    )
        .into_response()
}

// ---- login -----------------------------------------------------------------------------

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only paths on this site: `/jobs/3`, never `//evil.example` or `https://...`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from addresses: `/\t/evil.example` would become
        // `//evil.example`, so no control or space character passes.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

fn login_form(app: &App, next: &str, error: Option<&str>, token: &str) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e)))
        .unwrap_or_default();
    page(
        app,
        "Log in",
        None,
        &format!(
            r#"<section class="card narrow login">
<h1>ddcolor</h1>
<p class="lead">Bring black-and-white photos and films back to colour.</p>
{error}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<input type="hidden" name="login_token" value="{token}">
<label>User name <input name="name" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" class="primary">Log in</button>
</form>
<p class="hint">No account? Ask the person who runs this server: accounts are made with <code>ddcolor users add</code>.</p>
</section>"#,
            next = esc(next),
            token = esc(token),
        ),
    )
}

pub async fn login_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if auth::authenticate(
        &app,
        &headers,
        auth::client_address(&app, &headers, Some(peer)),
    )
    .is_some()
    {
        return Redirect::to(&next).into_response();
    }
    login_response(&app, StatusCode::OK, &next, None)
}

/// The login page with a fresh form token (and its cookie).
fn login_response(app: &App, status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let token = super::accounts::random_hex(16).unwrap_or_default();
    let mut res = (status, Html(login_form(app, next, error, &token))).into_response();
    if let Ok(v) =
        HeaderValue::from_str(&auth::cookie_header(app, auth::LOGIN_COOKIE, &token, 3600))
    {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
    login_token: Option<String>,
}

pub async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(f): Form<LoginForm>,
) -> Response {
    let address = auth::client_address(&app, &headers, Some(peer));
    let next = safe_next(f.next.as_deref());
    if !auth::login_token_ok(&headers, f.login_token.as_deref()) {
        app.record(
            None,
            &address,
            "login refused",
            "the form's token was missing or wrong".into(),
        );
        return login_response(
            &app,
            StatusCode::FORBIDDEN,
            &next,
            Some("The login form had expired. Please log in again."),
        );
    }
    let name: String = f.name.trim().chars().take(64).collect();
    let keys = [format!("account {name}"), format!("address {address}")];
    // Few password checks at once (argon2 takes about 19 MiB and tens of milliseconds each),
    // and the throttle is asked while holding a turn: a burst of parallel guesses cannot all
    // pass it before the first failures are counted.
    let Ok(_turn) = app.login_turns.acquire().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping").into_response();
    };
    if let Some(wait) = app.throttle.blocked(&keys) {
        app.record(
            Some(&name),
            &address,
            "login throttled",
            format!("too many failed logins; next try in {wait} s"),
        );
        let mut res = login_response(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            Some(&format!(
                "Too many failed logins. Wait {} minute(s) and try again.",
                wait.div_ceil(60)
            )),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let found = app.store.user_by_name(&name).ok().flatten();
    let password = f.password;
    let hash = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| super::accounts::dummy_hash().to_string());
    // argon2 takes tens of milliseconds of CPU: off the async threads.
    let ok =
        tokio::task::spawn_blocking(move || super::accounts::verify_password(&password, &hash))
            .await
            .unwrap_or(false);
    let user = match (ok, found) {
        (true, Some((user, _))) => user,
        _ => {
            app.throttle.failed(&keys);
            app.record(
                Some(&name),
                &address,
                "login failed",
                "wrong name or password".into(),
            );
            return login_response(
                &app,
                StatusCode::UNAUTHORIZED,
                &next,
                Some("Wrong user name or password."),
            );
        }
    };
    app.throttle.succeeded(&keys[0]);
    let (Ok(key), Ok(csrf)) = (
        super::accounts::random_hex(32),
        super::accounts::random_hex(16),
    ) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no randomness").into_response();
    };
    if app
        .store
        .add_session(&super::accounts::secret_hash(&key), user.id, &csrf)
        .is_err()
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot open a session").into_response();
    }
    app.record(Some(&user.name), &address, "login", String::new());
    let mut res = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(&app, &key, auth::SESSION_MAX)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

pub async fn logout(
    State(app): State<Arc<App>>,
    Extension(a): Extension<Auth>,
    headers: HeaderMap,
) -> Response {
    if let Some(key) = auth::cookie(&headers, auth::SESSION_COOKIE) {
        let _ = app.store.remove_session(&super::accounts::secret_hash(key));
    }
    app.record(Some(&a.user.name), &a.address, "logout", String::new());
    let mut res = Redirect::to("/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&auth::session_cookie(&app, "", 0)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

// ---- the jobs page -----------------------------------------------------------------------

fn options_form(app: &App) -> String {
    let (models, _) = super::installed_models();
    let mut model_opts = String::from(r#"<option value="">server default</option>"#);
    for (name, test) in &models {
        let _ = write!(
            model_opts,
            r#"<option value="{n}">{n}{t}</option>"#,
            n = esc(name),
            t = if *test { " (test model)" } else { "" }
        );
    }
    let mut presets = String::from(r#"<option value="">plain (no preset)</option>"#);
    for p in ddcolor_engine::workflow::PRESETS {
        let _ = write!(
            presets,
            r#"<option value="{n}">{n}: {s}</option>"#,
            n = esc(p.name),
            s = esc(p.summary)
        );
    }
    presets.push_str(r#"<option value="custom">my own workflow file…</option>"#);
    let _ = app;
    format!(
        r#"<fieldset class="options"><legend>Options</legend>
<label>Preset <select name="preset" id="preset">{presets}</select></label>
<label id="workflow-label" class="hidden">Workflow file (ComfyUI API JSON) <input type="file" name="workflow" id="workflow" accept=".json,application/json"></label>
<label>Style <select name="style"><option value="">none</option><option value="vintage">vintage (muted, warm)</option><option value="modern">modern (vivid)</option></select></label>
<label>Size <select name="size"><option value="auto">auto (from each photo)</option><option>256</option><option>512</option><option>768</option><option>1024</option><option>1280</option></select></label>
<label>Model <select name="model">{model_opts}</select></label>
<label>Upsampling <select name="upsample"><option value="auto">automatic</option><option value="bilinear">bilinear (smooth)</option><option value="edge-aware">edge-aware</option><option value="nearest">nearest (as the official code)</option></select></label>
<label>Job name <input name="name" placeholder="from the files" maxlength="200"></label>
</fieldset>"#
    )
}

fn job_row(j: &Job, show_owner: bool) -> String {
    let progress = if j.kind == "film" {
        match (j.frames_done, j.frames_total) {
            (Some(d), Some(t)) if t > 0 => format!("{d} / {t} frames"),
            _ => "film".into(),
        }
    } else {
        format!("{} / {}", j.done, j.total)
    };
    format!(
        r#"<tr data-job="{id}"><td><a href="/jobs/{id}">{name}</a></td>{owner}<td>{kind}</td><td class="js-state">{badge}</td><td class="js-count">{progress}</td><td class="js-failed">{failed}</td><td><time data-ts="{created}">{created_text}</time></td></tr>"#,
        id = j.id,
        name = esc(&j.name),
        owner = if show_owner {
            format!("<td>{}</td>", esc(&j.owner))
        } else {
            String::new()
        },
        kind = esc(&j.kind),
        badge = state_badge(&j.state),
        failed = if j.failed > 0 {
            format!(r#"<span class="bad">{} failed</span>"#, j.failed)
        } else {
            String::new()
        },
        created = super::time::rfc3339(j.created),
        created_text = super::time::rfc3339(j.created)
            .replace('T', " ")
            .replace('Z', " UTC"),
    )
}

#[derive(Deserialize)]
pub struct HomeQuery {
    all: Option<String>,
}

pub async fn home(
    State(app): State<Arc<App>>,
    Extension(a): Extension<Auth>,
    Query(q): Query<HomeQuery>,
) -> Response {
    let everyone = a.user.admin && q.all.is_some();
    let jobs = app
        .store
        .jobs((!everyone).then_some(a.user.id), 500)
        .unwrap_or_default();
    let (used, _) = app.store.usage(a.user.id).unwrap_or((0, 0));
    let mut rows = String::new();
    for j in &jobs {
        rows.push_str(&job_row(j, everyone));
    }
    let list = if jobs.is_empty() {
        r#"<p class="empty">No jobs yet. Drop some photos above to start: they will appear here, and you can come back to them any time.</p>"#.to_string()
    } else {
        format!(
            r#"<table class="jobs"><thead><tr><th>Name</th>{owner}<th>Kind</th><th>State</th><th>Done</th><th>Failed</th><th>Started</th></tr></thead><tbody>{rows}</tbody></table>"#,
            owner = if everyone { "<th>Owner</th>" } else { "" }
        )
    };
    let admin_switch = if a.user.admin {
        if everyone {
            r#"<a href="/">only mine</a>"#
        } else {
            r#"<a href="/?all=1">everyone's jobs</a>"#
        }
    } else {
        ""
    };
    let body = format!(
        r#"<section class="card upload">
<h1>Colorize photos or a film</h1>
<form id="upload" method="post" action="/api/jobs" enctype="multipart/form-data">
<div id="drop" class="drop" tabindex="0" role="button" aria-label="Drop files here or press Enter to choose">
<p><strong>Drop photos, a folder, a zip of an album, or a film here</strong></p>
<p><label class="button">Choose files<input type="file" name="files" id="pick-files" multiple class="visually-hidden"></label>
<label class="button">Choose a folder<input type="file" name="files" id="pick-folder" webkitdirectory multiple class="visually-hidden"></label></p>
<p class="hint">JPEG, PNG, TIFF, WebP, BMP; zip; MP4, MKV, WebM, MOV, AVI… Up to {max} per upload.</p>
</div>
<p id="chosen" class="chosen" aria-live="polite"></p>
{options}
<button type="submit" class="primary" id="start" disabled>Colorize</button>
<div id="upload-progress" class="hidden"><progress max="100" value="0"></progress> <span></span></div>
<p id="upload-error" class="error hidden" role="alert"></p>
</form>
</section>
<section class="card">
<h2>{title} {admin_switch}</h2>
<p class="hint">Storage used: {used} of {quota}.</p>
{list}
</section>"#,
        max = super::intake::human_bytes(app.limits.max_upload),
        options = options_form(&app),
        title = if everyone {
            "Everyone's jobs"
        } else {
            "Your jobs"
        },
        used = super::intake::human_bytes(used.max(0) as u64),
        quota = super::intake::human_bytes(app.limits.quota_storage),
    );
    html(page(&app, "Jobs", Some(&a), &body))
}

// ---- one job -----------------------------------------------------------------------------

pub async fn job_page(
    State(app): State<Arc<App>>,
    Extension(a): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    let Ok(job) = super::api::visible_job(&app, &a, id) else {
        return not_found(State(app), "/jobs/x".parse().unwrap_or_default()).await;
    };
    let items = app.store.items(id).unwrap_or_default();
    let live = app.hub.live(id);
    let mut grid = String::new();
    if job.kind == "film" {
        for i in &items {
            let player = if i.state == "done" {
                format!(
                    r#"<video controls preload="metadata" src="/api/items/{id}/result?view=inline"></video>
<p><a class="button" href="/api/items/{id}/result" download>Download the colour film</a> <a class="button" href="/api/items/{id}/original" download>Download the original</a></p>"#,
                    id = i.id
                )
            } else {
                String::new()
            };
            let _ = write!(
                grid,
                r#"<div class="film" data-item="{id}"><p><strong>{name}</strong> <span class="js-item-state">{badge}</span></p>{error}{player}</div>"#,
                id = i.id,
                name = esc(&i.name),
                badge = state_badge(&i.state),
                error = i
                    .error
                    .as_deref()
                    .map(|e| format!(r#"<p class="error">{}</p>"#, esc(e)))
                    .unwrap_or_default(),
            );
        }
    } else {
        grid.push_str(r#"<ul class="grid" id="items">"#);
        for i in &items {
            grid.push_str(&item_tile(i));
        }
        grid.push_str("</ul>");
    }
    let notes: String = job
        .notes
        .iter()
        .map(|n| format!("<li>{}</li>", esc(n)))
        .collect();
    let running = matches!(job.state.as_str(), "queued" | "running");
    let percent = if job.total > 0 {
        (job.done + job.failed) * 100 / job.total
    } else {
        0
    };
    let body = format!(
        r#"<section class="card job" id="job" data-job="{id}" data-state="{state}">
<p class="crumbs"><a href="/">Jobs</a> ›</p>
<h1>{name}</h1>
<p class="status"><span id="state">{badge}</span> <span id="counts">{done} of {total} done</span><span id="failed" class="bad">{failed_text}</span></p>
<progress id="bar" max="100" value="{percent}"></progress>
<p class="live"><span id="current">{current}</span> <span id="rate">{rate}</span> <span id="eta">{eta}</span></p>
<ul id="notes" class="notes">{notes}</ul>
<p id="error" class="error">{error}</p>
<p class="actions">
<a class="button primary" id="zip" href="/api/jobs/{id}/result.zip">Download all results (zip)</a>
<a class="button" href="/api/jobs/{id}/originals.zip">Download the originals (zip)</a>
<button type="button" id="cancel" class="{cancel_class}" data-job="{id}">Cancel</button>
<button type="button" id="delete" class="danger" data-job="{id}">Delete job</button>
</p>
<p class="hint">Options: {options}. Owner: {owner}. Originals are never changed; each result records how it was made (its provenance).</p>
</section>
<section class="card">{grid}</section>"#,
        id = job.id,
        state = esc(&job.state),
        name = esc(&job.name),
        badge = state_badge(&job.state),
        done = job.done,
        total = job.total,
        failed_text = if job.failed > 0 {
            format!(" · {} failed", job.failed)
        } else {
            String::new()
        },
        current = live
            .as_ref()
            .and_then(|l| l.current.as_deref())
            .map(|c| format!("Now: {}", esc(c)))
            .unwrap_or_default(),
        rate = live
            .as_ref()
            .and_then(|l| l.rate)
            .map(|r| format!("· {r:.2} per second"))
            .unwrap_or_default(),
        eta = live
            .as_ref()
            .and_then(|l| l.eta_seconds)
            .map(|e| format!("· about {} left", human_duration(e)))
            .unwrap_or_default(),
        error = job.error.as_deref().map(esc).unwrap_or_default(),
        cancel_class = if running { "" } else { "hidden" },
        options = esc(&describe_options(&job.options)),
        owner = esc(&job.owner),
    );
    html(page(&app, &job.name, Some(&a), &body))
}

pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s.div_ceil(60)),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn describe_options(o: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    for (key, label) in [
        ("preset", "preset"),
        ("style", "style"),
        ("size", "size"),
        ("model", "model"),
        ("upsample", "upsampling"),
    ] {
        match &o[key] {
            serde_json::Value::String(s) => parts.push(format!("{label} {s}")),
            serde_json::Value::Number(n) => parts.push(format!("{label} {n}")),
            _ => {}
        }
    }
    if parts.is_empty() {
        "the server's defaults".into()
    } else {
        parts.join(", ")
    }
}

pub fn item_tile(i: &super::store::Item) -> String {
    let img = match i.state.as_str() {
        "done" => format!(
            r#"<img loading="lazy" alt="{n} in colour" src="/api/items/{id}/preview/after?w=480">"#,
            n = esc(&i.name),
            id = i.id
        ),
        "failed" => String::from(r#"<div class="placeholder failed">✕</div>"#),
        _ => String::from(r#"<div class="placeholder">…</div>"#),
    };
    format!(
        r#"<li class="tile {s}" data-item="{id}"><a href="/items/{id}">{img}<span class="name">{n}</span> <span class="js-item-state">{badge}</span>{error}</a></li>"#,
        s = esc(&i.state),
        id = i.id,
        n = esc(&i.name),
        badge = state_badge(&i.state),
        error = i
            .error
            .as_deref()
            .map(|e| format!(r#"<span class="error">{}</span>"#, esc(e)))
            .unwrap_or_default()
    )
}

// ---- one photo: before and after ---------------------------------------------------------

pub async fn item_page(
    State(app): State<Arc<App>>,
    Extension(a): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    let Ok((item, job)) = super::api::visible_item(&app, &a, id) else {
        return not_found(State(app), "/items/x".parse().unwrap_or_default()).await;
    };
    let items = app.store.items(job.id).unwrap_or_default();
    let pos = items.iter().position(|i| i.id == id).unwrap_or(0);
    let prev = pos.checked_sub(1).and_then(|p| items.get(p));
    let next = items.get(pos + 1);
    let nav = |i: Option<&super::store::Item>, rel: &str, label: &str| {
        i.map(|i| {
            format!(
                r#"<a class="button" rel="{rel}" id="{rel}" href="/items/{}">{label}</a>"#,
                i.id
            )
        })
        .unwrap_or_default()
    };
    let viewer = if item.state == "done" {
        format!(
            r#"<div class="compare" id="compare">
<img class="before" alt="{n}, the original" src="/api/items/{id}/preview/before?w=1600">
<div class="after-clip" id="after-clip"><img class="after" alt="{n} in colour" src="/api/items/{id}/preview/after?w=1600"></div>
<div class="divider" id="divider"></div>
<span class="tag left">before</span><span class="tag right">after</span>
</div>
<input type="range" id="slider" min="0" max="100" value="50" aria-label="Move between before (left) and after (right)">"#,
            n = esc(&item.name),
            id = item.id
        )
    } else {
        format!(
            r#"<p>{badge} {error}</p><img class="single" alt="{n}, the original" src="/api/items/{id}/preview/before?w=1600">"#,
            badge = state_badge(&item.state),
            error = item
                .error
                .as_deref()
                .map(|e| format!(r#"<span class="error">{}</span>"#, esc(e)))
                .unwrap_or_default(),
            n = esc(&item.name),
            id = item.id
        )
    };
    let body = format!(
        r#"<section class="card item">
<p class="crumbs"><a href="/">Jobs</a> › <a href="/jobs/{job}">{job_name}</a> ›</p>
<h1>{name}</h1>
{viewer}
<p class="actions">{prev}{next}
{result}
<a class="button" href="/api/items/{id}/original" download>Download the original</a></p>
<p class="hint">Drag the slider (or press ← and → on it) to compare. J and K go to the previous and next photo.{size}</p>
</section>"#,
        job = job.id,
        job_name = esc(&job.name),
        name = esc(&item.name),
        prev = nav(prev, "prev", "← Previous"),
        next = nav(next, "next", "Next →"),
        result = if item.state == "done" {
            format!(
                r#"<a class="button primary" href="/api/items/{}/result" download>Download the colour photo (full size)</a>"#,
                item.id
            )
        } else {
            String::new()
        },
        id = item.id,
        size = item
            .size
            .map(|s| format!(" Colorized at input size {s}."))
            .unwrap_or_default(),
    );
    html(page(&app, &item.name, Some(&a), &body))
}

// ---- help ------------------------------------------------------------------------------

pub async fn help(State(app): State<Arc<App>>, Extension(a): Extension<Auth>) -> Response {
    let mut models = String::new();
    for v in ddcolor_engine::catalog::VARIANTS {
        let status = if ddcolor_engine::catalog::find_named(v.name).is_some() {
            r#"<span class="badge done">installed</span>"#
        } else {
            r#"<span class="badge">not installed</span>"#
        };
        let _ = write!(
            models,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{status}</td></tr>",
            esc(v.name),
            esc(v.encoder),
            esc(v.about)
        );
    }
    for (name, about) in ddcolor_engine::catalog::GENERATED {
        let status = if ddcolor_engine::catalog::find_named(name).is_some() {
            r#"<span class="badge">installed (test only)</span>"#
        } else {
            r#"<span class="badge">not installed</span>"#
        };
        let _ = write!(
            models,
            "<tr><td>{}</td><td>-</td><td>{}</td><td>{status}</td></tr>",
            esc(name),
            esc(about)
        );
    }
    let mut presets = String::new();
    for p in ddcolor_engine::workflow::PRESETS {
        let _ = write!(
            presets,
            "<dt>{}</dt><dd>{} <em>Sizes: {}</em></dd>",
            esc(p.name),
            esc(p.summary),
            esc(p.sizes)
        );
    }
    let body = format!(
        include_str!("assets/help.html"),
        presets = presets,
        models = models,
        max_upload = super::intake::human_bytes(app.limits.max_upload),
        max_files = app.limits.max_files,
        quota = super::intake::human_bytes(app.limits.quota_storage),
        quota_jobs = app.limits.quota_jobs,
    );
    html(page(&app, "Help", Some(&a), &body))
}

// ---- the operation log (administrators) -----------------------------------------------

#[derive(Deserialize, Default)]
pub struct LogQuery {
    user: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl LogQuery {
    fn filter(&self, limit: usize) -> LogFilter {
        let keep = |s: &Option<String>| {
            s.as_ref()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        LogFilter {
            user: keep(&self.user),
            action: keep(&self.action),
            since: keep(&self.since).and_then(|s| super::time::parse(&s)),
            // A date alone means the whole of that day.
            until: keep(&self.until).and_then(|s| {
                super::time::parse(&s).map(|t| if s.len() <= 10 { t + 86_399 } else { t })
            }),
            limit,
        }
    }

    fn query_string(&self) -> String {
        [
            ("user", &self.user),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", url_encode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
    }
}

pub async fn admin_log(
    State(app): State<Arc<App>>,
    Extension(a): Extension<Auth>,
    Query(q): Query<LogQuery>,
) -> Response {
    let entries = app.store.log_entries(&q.filter(1000)).unwrap_or_default();
    let actions = app.store.log_actions().unwrap_or_default();
    let mut action_opts = String::from(r#"<option value="">all actions</option>"#);
    for act in &actions {
        let _ = write!(
            action_opts,
            r#"<option{sel}>{a}</option>"#,
            sel = if q.action.as_deref() == Some(act) {
                " selected"
            } else {
                ""
            },
            a = esc(act)
        );
    }
    let mut rows = String::new();
    for e in &entries {
        let _ = write!(
            rows,
            "<tr><td><time>{}</time></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            super::time::rfc3339(e.at),
            esc(e.user.as_deref().unwrap_or("")),
            esc(e.address.as_deref().unwrap_or("")),
            esc(&e.action),
            esc(&e.detail)
        );
    }
    let table = if entries.is_empty() {
        r#"<p class="empty">No entries match.</p>"#.to_string()
    } else {
        format!(
            r#"<table class="log"><thead><tr><th>When (UTC)</th><th>User</th><th>Address</th><th>Action</th><th>Detail</th></tr></thead><tbody>{rows}</tbody></table>"#
        )
    };
    let body = format!(
        r#"<section class="card">
<h1>Operation log</h1>
<form method="get" action="/admin/log" class="filters">
<label>User <input name="user" value="{user}"></label>
<label>Action <select name="action">{action_opts}</select></label>
<label>From <input type="date" name="since" value="{since}"></label>
<label>To <input type="date" name="until" value="{until}"></label>
<button type="submit">Filter</button>
<a class="button" href="/admin/log.csv?{qs}">Export CSV</a>
</form>
<p class="hint">The newest 1000 entries that match. The same entries are written as JSON lines to <code>operations.jsonl</code> in the data folder.</p>
{table}
</section>"#,
        user = esc(q.user.as_deref().unwrap_or("")),
        since = esc(q.since.as_deref().unwrap_or("")),
        until = esc(q.until.as_deref().unwrap_or("")),
        qs = esc(&q.query_string()),
    );
    html(page(&app, "Operation log", Some(&a), &body))
}

/// A CSV field, quoted when needed; a leading `=`, `+`, `-` or `@` is defused so a
/// spreadsheet never runs a user-chosen name as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub async fn admin_log_csv(
    State(app): State<Arc<App>>,
    Extension(a): Extension<Auth>,
    Query(q): Query<LogQuery>,
) -> Response {
    let entries = app
        .store
        .log_entries(&q.filter(1_000_000))
        .unwrap_or_default();
    let mut csv = String::from("id,at,user,address,action,detail\n");
    for e in entries.iter().rev() {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            e.id,
            super::time::rfc3339(e.at),
            csv_field(e.user.as_deref().unwrap_or("")),
            csv_field(e.address.as_deref().unwrap_or("")),
            csv_field(&e.action),
            csv_field(&e.detail)
        );
    }
    app.record(
        Some(&a.user.name),
        &a.address,
        "log exported",
        format!("{} entries", entries.len()),
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ddcolor-operations.csv\"",
            ),
        ],
        csv,
    )
        .into_response()
}

// ---- static files ------------------------------------------------------------------------

pub async fn asset(UrlPath(file): UrlPath<String>) -> Response {
    let (body, mime): (&'static str, &'static str) = match file.as_str() {
        "app.js" => (
            include_str!("assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "style.css" => (include_str!("assets/style.css"), "text/css; charset=utf-8"),
        "icon.svg" => (include_str!("assets/icon.svg"), "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, mime)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        for f in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)"] {
            assert!(
                csv_field(f).trim_start_matches('"').starts_with('\''),
                "{f}"
            );
        }
    }

    #[test]
    fn login_redirects_stay_on_this_site() {
        assert_eq!(safe_next(Some("/jobs/3")), "/jobs/3");
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\\evil",
            "https://evil.example",
            "/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
    }
}
