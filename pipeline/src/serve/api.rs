//! The REST API: what scripts call with a token and what the pages' script calls with the
//! session. Jobs are seen, downloaded and deleted by their owner only (administrators see
//! all); anyone else gets 404, as if the job did not exist.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Multipart, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::App;
use super::auth::Auth;
use super::hub::Live;
use super::store::{Item, Job};

/// An error answer: status and a JSON `{"error": ...}` that says what to do.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<super::store::StoreError> for ApiError {
    fn from(e: super::store::StoreError) -> Self {
        super::say(&format!("error: {e}"));
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server's database failed; try again later".into(),
        )
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn not_found(what: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no such {what}"))
}

/// The job, if the caller may see it (else "no such job": strangers learn nothing).
pub fn visible_job(app: &App, auth: &Auth, id: i64) -> ApiResult<Job> {
    match app.store.job(id)? {
        Some(j) if auth.may_see(j.user_id) => Ok(j),
        _ => Err(not_found("job")),
    }
}

/// The item and its job, if the caller may see them.
pub fn visible_item(app: &App, auth: &Auth, id: i64) -> ApiResult<(Item, Job)> {
    let item = app.store.item(id)?.ok_or_else(|| not_found("item"))?;
    let job = visible_job(app, auth, item.job_id).map_err(|_| not_found("item"))?;
    Ok((item, job))
}

/// A job as the API shows it; `items` when asked for.
pub fn job_json(job: &Job, live: Option<&Live>, items: Option<&[Item]>) -> Value {
    let mut v = json!({
        "id": job.id,
        "owner": job.owner,
        "kind": job.kind,
        "name": job.name,
        "state": job.state,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "frames_done": job.frames_done,
        "frames_total": job.frames_total,
        "options": job.options,
        "created": super::time::rfc3339(job.created),
        "started": job.started.map(super::time::rfc3339),
        "finished": job.finished.map(super::time::rfc3339),
        "bytes": job.bytes,
        "error": job.error,
        "notes": job.notes,
        "rate": live.and_then(|l| l.rate),
        "eta_seconds": live.and_then(|l| l.eta_seconds),
        "current": live.and_then(|l| l.current.clone()),
        "links": {
            "self": format!("/api/jobs/{}", job.id),
            "events": format!("/api/jobs/{}/events", job.id),
            "result_zip": format!("/api/jobs/{}/result.zip", job.id),
            "originals_zip": format!("/api/jobs/{}/originals.zip", job.id),
            "page": format!("/jobs/{}", job.id),
        },
    });
    if let Some(items) = items {
        v["items"] = items
            .iter()
            .map(|i| {
                json!({
                    "id": i.id,
                    "name": i.name,
                    "state": i.state,
                    "error": i.error,
                    "size": i.size,
                    "result": (i.state == "done").then(|| format!("/api/items/{}/result", i.id)),
                    "original": format!("/api/items/{}/original", i.id),
                })
            })
            .collect();
    }
    v
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn me(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
) -> ApiResult<Json<Value>> {
    let (bytes, active) = app.store.usage(auth.user.id)?;
    Ok(Json(json!({
        "name": auth.user.name,
        "admin": auth.user.admin,
        "storage_used": bytes,
        "storage_quota": app.limits.quota_storage,
        "active_jobs": active,
        "active_jobs_quota": app.limits.quota_jobs,
        "max_upload": app.limits.max_upload,
    })))
}

pub async fn models(State(app): State<Arc<App>>) -> Json<Value> {
    let (installed, _) = super::installed_models();
    Json(json!({
        "installed": installed.iter().map(|(name, test)| json!({"name": name, "test_model": test})).collect::<Vec<_>>(),
        "test_model_only": app.test_model_only,
    }))
}

pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        include_str!("assets/openapi.yaml"),
    )
        .into_response()
}

/// `POST /api/jobs`: the upload becomes a queued job (202, `Location: /api/jobs/ID`).
pub async fn create_job(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    headers: axum::http::HeaderMap,
    multipart: Multipart,
) -> ApiResult<Response> {
    let content_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let (used, active) = app.store.usage(auth.user.id)?;
    if active >= app.limits.quota_jobs {
        app.record(
            Some(&auth.user.name),
            &auth.address,
            "upload refused",
            format!("{active} jobs waiting (quota)"),
        );
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "you have {active} jobs waiting or running, the most allowed: wait for one to finish or cancel one"
            ),
        ));
    }
    let quota_left = app.limits.quota_storage.saturating_sub(used.max(0) as u64);
    let allowance = quota_left.min(app.limits.max_upload);
    let (models, _) = super::installed_models();
    let jobs = super::jobs_dir(&app.data);
    let upload = match super::intake::receive(
        multipart,
        content_length,
        &jobs,
        allowance,
        quota_left,
        &app.limits,
        &models,
    )
    .await
    {
        Ok(u) => u,
        Err(r) => {
            app.record(
                Some(&auth.user.name),
                &auth.address,
                "upload refused",
                r.message.clone(),
            );
            return Err(ApiError(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                r.message,
            ));
        }
    };
    let id = app.store.add_job(&super::store::NewJob {
        user_id: auth.user.id,
        kind: upload.kind,
        name: &upload.name,
        options: &upload.options,
        bytes: upload.bytes as i64,
        items: &upload.items,
        notes: &upload.notes,
    })?;
    let dir = jobs.join(id.to_string());
    if let Err(e) = tokio::fs::rename(&upload.staging, &dir).await {
        let _ = app.store.delete_job(id);
        let _ = tokio::fs::remove_dir_all(&upload.staging).await;
        return Err(ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot store the upload: {e}"),
        ));
    }
    app.record(
        Some(&auth.user.name),
        &auth.address,
        "upload",
        format!(
            "job {id}: {} {} ({} file(s), {})",
            upload.kind,
            upload.name,
            upload.items.len(),
            super::intake::human_bytes(upload.bytes)
        ),
    );
    app.hub.wake.notify_waiters();
    let job = app.store.job(id)?.ok_or_else(|| not_found("job"))?;
    let items = app.store.items(id)?;
    let mut res = (
        StatusCode::ACCEPTED,
        Json(job_json(&job, None, Some(&items))),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/jobs/{id}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

#[derive(Deserialize)]
pub struct ListQuery {
    /// Administrators: every user's jobs.
    all: Option<String>,
}

pub async fn list_jobs(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let everyone = auth.user.admin && q.all.is_some();
    let jobs = app.store.jobs((!everyone).then_some(auth.user.id), 500)?;
    Ok(Json(json!({
        "jobs": jobs.iter().map(|j| job_json(j, app.hub.live(j.id).as_ref(), None)).collect::<Vec<_>>()
    })))
}

pub async fn get_job(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<Value>> {
    let job = visible_job(&app, &auth, id)?;
    let items = app.store.items(id)?;
    Ok(Json(job_json(
        &job,
        app.hub.live(id).as_ref(),
        Some(&items),
    )))
}

pub async fn cancel_job(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Json<Value>> {
    let job = visible_job(&app, &auth, id)?;
    if !app.store.cancel_job(id)? {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("the job is {} already: nothing to cancel", job.state),
        ));
    }
    let _ = app.store.cancel_unfinished_items(id, false);
    // Also when it was read as queued: the worker may have claimed it since.
    app.hub.cancel(id);
    app.record(
        Some(&auth.user.name),
        &auth.address,
        "job cancelled",
        format!("job {id}"),
    );
    let job = visible_job(&app, &auth, id)?;
    app.hub.send(id, "job", job_json(&job, None, None));
    Ok(Json(job_json(&job, None, None)))
}

pub async fn delete_job(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<StatusCode> {
    let job = visible_job(&app, &auth, id)?;
    app.store.delete_job(id)?;
    if job.state == "running" {
        // The command is stopped, and the worker removes the folder once it has ended.
        app.hub.cancel(id);
    } else {
        // Streams still open on it end now.
        app.hub.close(id);
        let _ = tokio::fs::remove_dir_all(super::jobs_dir(&app.data).join(id.to_string())).await;
    }
    app.record(
        Some(&auth.user.name),
        &auth.address,
        "job deleted",
        format!("job {id} ({}) of {}", job.name, job.owner),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/jobs/{id}/events`: server-sent events: `job` (the whole job, first and whenever
/// its state changes), `progress` (counts, rate, ETA, current file), `item` (one item
/// finished), `note`, and `resync` when the page fell behind (reload the job).
pub async fn events(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Response> {
    visible_job(&app, &auth, id)?;
    // Listen first, then read the state: a job that ends in between is either read as ended
    // here or its last event and the close reach this stream. (Read first, a job that ended
    // between the read and the subscription left the stream waiting forever on a new channel.)
    let rx = app.hub.subscribe(id);
    let job = match visible_job(&app, &auth, id) {
        Ok(job) => job,
        Err(e) => {
            drop(rx);
            app.hub.release(id);
            return Err(e);
        }
    };
    let first = job_json(&job, app.hub.live(id).as_ref(), None);
    let ended = matches!(job.state.as_str(), "done" | "failed" | "cancelled");
    let app2 = Arc::clone(&app);
    struct S {
        rx: Option<tokio::sync::broadcast::Receiver<super::hub::Update>>,
        first: Option<Value>,
        ended: bool,
        app: Arc<App>,
        id: i64,
    }
    // The stream ends or its client goes: the job's channel goes too if nobody else listens
    // (the worker closes a running job's channel, but not the one a stream on an ended or
    // cancelled queued job made, which would otherwise stay in the hub for good).
    impl Drop for S {
        fn drop(&mut self) {
            self.rx.take();
            self.app.hub.release(self.id);
        }
    }
    let stream = futures_util::stream::unfold(
        S {
            rx: Some(rx),
            first: Some(first),
            ended,
            app: app2,
            id,
        },
        |mut s| async move {
            if let Some(first) = s.first.take() {
                let ev = Event::default().event("job").json_data(first).ok()?;
                return Some((Ok::<_, std::convert::Infallible>(ev), s));
            }
            if s.ended {
                return None;
            }
            let rx = s.rx.as_mut()?;
            match rx.recv().await {
                Ok(u) => {
                    if u.event == "job"
                        && matches!(
                            u.data["state"].as_str(),
                            Some("done" | "failed" | "cancelled")
                        )
                    {
                        s.ended = true;
                    }
                    let ev = Event::default().event(u.event).json_data(u.data).ok()?;
                    Some((Ok(ev), s))
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    Some((Ok(Event::default().event("resync").data("{}")), s))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    // The job ended (or the server stops): its final state, then the end.
                    s.ended = true;
                    let job = s.app.store.job(s.id).ok().flatten()?;
                    let ev = Event::default()
                        .event("job")
                        .json_data(job_json(&job, None, None))
                        .ok()?;
                    Some((Ok(ev), s))
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// A file download: attachment with its name, the type guessed from its bytes' format.
async fn send_file(
    path: &Path,
    download_name: &str,
    req: Request,
    inline: bool,
) -> ApiResult<Response> {
    if !tokio::fs::try_exists(path).await.unwrap_or(false) {
        return Err(not_found("file"));
    }
    let mut res = tower_http::services::ServeFile::new(path)
        .oneshot(req)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map(Body::new);
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        download_name.replace(['"', '\\', '\r', '\n'], "_"),
        super::html::url_encode(download_name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    Ok(res)
}

/// The type of a file this app serves, by the extension it gave the file itself.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        _ => "application/octet-stream",
    }
}

fn job_dir(app: &App, id: i64) -> PathBuf {
    super::jobs_dir(&app.data).join(id.to_string())
}

fn base_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

#[derive(Deserialize)]
pub struct FileQuery {
    /// `inline`: shown in the page (the film player) instead of downloaded.
    view: Option<String>,
}

pub async fn item_result(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<FileQuery>,
    req: Request,
) -> ApiResult<Response> {
    let (item, job) = visible_item(&app, &auth, id)?;
    let Some(out) = item.output.as_deref().filter(|_| item.state == "done") else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("{} has no result (it is {})", item.name, item.state),
        ));
    };
    let path = job_dir(&app, job.id).join("out").join(out);
    if q.view.is_none() {
        app.record(
            Some(&auth.user.name),
            &auth.address,
            "download",
            format!("job {}: {}", job.id, out),
        );
    }
    send_file(&path, base_name(out), req, q.view.is_some()).await
}

pub async fn item_original(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
    req: Request,
) -> ApiResult<Response> {
    let (item, job) = visible_item(&app, &auth, id)?;
    let path = job_dir(&app, job.id).join("in").join(&item.name);
    app.record(
        Some(&auth.user.name),
        &auth.address,
        "download",
        format!("job {}: original {}", job.id, item.name),
    );
    send_file(&path, base_name(&item.name), req, false).await
}

/// Screen-size copies for the pages: `before`/`after`, 480 px (the grid) or 1600 px (the
/// slider) on the long side, made once and kept in the job's `preview` folder.
pub async fn item_preview(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath((id, side)): UrlPath<(i64, String)>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    req: Request,
) -> ApiResult<Response> {
    let (item, job) = visible_item(&app, &auth, id)?;
    let width: u32 = match q.get("w").map(String::as_str) {
        Some("480") => 480,
        None | Some("1600") => 1600,
        Some(_) => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "w must be 480 or 1600".into(),
            ));
        }
    };
    let dir = job_dir(&app, job.id);
    let source = match side.as_str() {
        "before" => dir.join("in").join(&item.name),
        "after" => match item.output.as_deref().filter(|_| item.state == "done") {
            Some(out) => dir.join("out").join(out),
            None => return Err(not_found("result")),
        },
        _ => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                "side must be before or after".into(),
            ));
        }
    };
    let preview = dir.join("preview").join(format!("{id}-{side}-{width}.jpg"));
    if !tokio::fs::try_exists(&preview).await.unwrap_or(false) {
        // A turn among the heavy work, then a second look: the same preview asked for twice
        // at once is made once.
        let _turn = app.heavy_turns.acquire().await;
        if !tokio::fs::try_exists(&preview).await.unwrap_or(false) {
            let (src, dst, max_pixels) = (source.clone(), preview.clone(), app.limits.max_pixels);
            tokio::task::spawn_blocking(move || make_preview(&src, &dst, width, max_pixels))
                .await
                .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| {
                    ApiError(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("{}: {e}", item.name),
                    )
                })?;
        }
    }
    send_file(
        &preview,
        &format!("{}-{side}.jpg", base_name(&item.name)),
        req,
        true,
    )
    .await
}

fn make_preview(src: &Path, dst: &Path, width: u32, max_pixels: u64) -> Result<(), String> {
    // The engine's reader: the same formats, orientation and pixel limit as the jobs.
    let photo = ddcolor_engine::io::read_photo(src, max_pixels).map_err(|e| e.to_string())?;
    let img = rgb_image(&photo).ok_or("cannot make a preview")?;
    let img = image::DynamicImage::ImageRgb8(img);
    // Smaller only: a small photo is shown at its own size, not blown up.
    let img = if img.width() > width || img.height() > width {
        img.thumbnail(width, width)
    } else {
        img
    };
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(&img.to_rgb8())
        .map_err(|e| e.to_string())?;
    ddcolor_engine::io::write_atomically(&bytes, dst).map_err(|e| e.to_string())
}

/// 8-bit RGB of any decoded photo (grey spread to three channels, alpha dropped).
fn rgb_image(p: &ddcolor_engine::Photo) -> Option<image::RgbImage> {
    let n = p.width * p.height;
    let at = |i: usize| -> u8 {
        match &p.samples {
            ddcolor_engine::Samples::U8(v) => v.get(i).copied().unwrap_or(0),
            ddcolor_engine::Samples::U16(v) => (v.get(i).copied().unwrap_or(0) >> 8) as u8,
        }
    };
    let mut rgb = Vec::with_capacity(n * 3);
    for px in 0..n {
        let base = px * p.channels;
        if p.channels >= 3 {
            rgb.extend([at(base), at(base + 1), at(base + 2)]);
        } else {
            let g = at(base);
            rgb.extend([g, g, g]);
        }
    }
    image::RgbImage::from_raw(p.width as u32, p.height as u32, rgb)
}

pub async fn result_zip(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Response> {
    let job = visible_job(&app, &auth, id)?;
    let items = app.store.items(id)?;
    let out = job_dir(&app, id).join("out");
    let files: Vec<(String, PathBuf)> = items
        .iter()
        .filter(|i| i.state == "done")
        .filter_map(|i| i.output.as_ref().map(|o| (o.clone(), out.join(o))))
        .collect();
    if files.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, "no results yet".into()));
    }
    app.record(
        Some(&auth.user.name),
        &auth.address,
        "download",
        format!("job {id}: result.zip ({} files)", files.len()),
    );
    zip_response(&app, files, &format!("{}_color.zip", safe_stem(&job.name)))
}

pub async fn originals_zip(
    State(app): State<Arc<App>>,
    Extension(auth): Extension<Auth>,
    UrlPath(id): UrlPath<i64>,
) -> ApiResult<Response> {
    let job = visible_job(&app, &auth, id)?;
    let items = app.store.items(id)?;
    let input = job_dir(&app, id).join("in");
    let files: Vec<(String, PathBuf)> = items
        .iter()
        .map(|i| (i.name.clone(), input.join(&i.name)))
        .collect();
    app.record(
        Some(&auth.user.name),
        &auth.address,
        "download",
        format!("job {id}: originals.zip ({} files)", files.len()),
    );
    zip_response(
        &app,
        files,
        &format!("{}_originals.zip", safe_stem(&job.name)),
    )
}

fn safe_stem(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if s.is_empty() { "album".into() } else { s }
}

/// A zip written as it is sent (stored, not compressed: photos and films are compressed
/// already), never built in memory: a thread writes it into a small channel the response
/// reads. A client that goes away stops the writing.
fn zip_response(app: &App, files: Vec<(String, PathBuf)>, name: &str) -> ApiResult<Response> {
    let Ok(turn) = Arc::clone(&app.heavy_turns).try_acquire_owned() else {
        return Err(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many downloads at once on this server: try again in a minute".into(),
        ));
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(8);
    tokio::task::spawn_blocking(move || {
        // Held while the zip is written.
        let _turn = turn;
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write_zip(writer, &files) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut res = Response::new(Body::from_stream(stream));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\'], "_")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

const CHUNK: usize = 256 * 1024;

struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

fn write_zip(writer: ChannelWriter, files: &[(String, PathBuf)]) -> std::io::Result<()> {
    let mut zip = zip::ZipWriter::new_stream(writer);
    for (name, path) in files {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            // A file deleted meanwhile is left out rather than ending the download.
            Err(_) => continue,
        };
        let large = file
            .metadata()
            .map(|m| m.len() >= u32::MAX as u64)
            .unwrap_or(false);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(large);
        zip.start_file(name.as_str(), options)
            .map_err(std::io::Error::other)?;
        std::io::copy(&mut file, &mut zip)?;
    }
    let mut writer = zip.finish().map_err(std::io::Error::other)?;
    writer.flush()
}
