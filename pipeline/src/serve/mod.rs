//! `ddcolor serve`: the web app for people who will never open a terminal. One binary with its
//! database embedded: log in, upload photos, a folder, a zip or a film, follow the progress,
//! compare before and after, download. Jobs wait in a queue kept in SQLite and run one at a
//! time through `ddcolor batch` and `ddcolor film` themselves (child processes of this binary):
//! the same plan, the same resume record, the same signal handling, and a decoder that crashes
//! on a hostile upload takes down one job, never the server.
//!
//! Layers: `store` (all SQL), `accounts` (passwords, tokens, `ddcolor users`), `oplog`,
//! `auth` (sessions, tokens, CSRF, throttling), `intake` (uploads and zips), `worker` (the
//! queue), `hub` (live progress), `api` and `pages` (the routes), `routes` (the one table both
//! the router and its tests are built from), `headers` (security headers).

mod accounts;
mod api;
mod auth;
mod headers;
mod html;
mod hub;
mod intake;
mod oplog;
mod pages;
mod routes;
mod store;
mod time;
mod unzip;
mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::args::ServeArgs;
use ddcolor_engine::catalog as models;

/// Where each job's files live: `jobs/ID/in` (the originals, read-only), `jobs/ID/out` (the
/// results), `jobs/ID/preview` (screen-size copies for the pages).
pub(crate) fn jobs_dir(data: &Path) -> PathBuf {
    data.join("jobs")
}

/// Zip downloads and previews in progress at once, server-wide.
const HEAVY_AT_ONCE: usize = 8;

/// Limits on what users may send and keep.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_upload: u64,
    pub max_files: usize,
    pub quota_storage: u64,
    pub quota_jobs: i64,
    pub max_pixels: u64,
}

/// Everything the routes and the worker share.
pub struct App {
    pub data: PathBuf,
    pub store: store::Store,
    pub log: oplog::OpLog,
    pub limits: Limits,
    /// The options every job's command starts with: the server's own `--model`, `--device`,
    /// pixel limit and metadata choices, as given to `serve`.
    pub base_args: Vec<String>,
    /// JPEG quality of photo results (`batch` only: a film has none).
    pub quality: u8,
    pub tls: bool,
    pub behind_proxy: bool,
    pub throttle: auth::Throttle,
    pub hub: hub::Hub,
    /// Password checks running at once (see `pages::login`).
    pub login_turns: tokio::sync::Semaphore,
    /// Zip downloads being written and previews being made at once: each holds a thread
    /// and memory, so a flood of them waits its turn instead of starving the server.
    pub heavy_turns: Arc<tokio::sync::Semaphore>,
    /// True while only a generated test model is installed: every page says so.
    pub test_model_only: bool,
}

impl App {
    /// Records an operation (see [`oplog`]).
    pub fn record(&self, user: Option<&str>, address: &str, action: &str, detail: String) {
        self.log.write(
            &self.store,
            store::LogEntry {
                id: 0,
                at: store::now(),
                user: user.map(str::to_string),
                address: Some(address.to_string()),
                action: action.to_string(),
                detail,
            },
        );
    }
}

/// The models a job may pick: the known names that are installed, then the generated test
/// models; and whether only test models are there.
pub fn installed_models() -> (Vec<(String, bool)>, bool) {
    let mut found: Vec<(String, bool)> = models::VARIANTS
        .iter()
        .filter(|v| models::find_named(v.name).is_some())
        .map(|v| (v.name.to_string(), false))
        .collect();
    let real = !found.is_empty();
    found.extend(
        models::GENERATED
            .iter()
            .filter(|(name, _)| models::find_named(name).is_some())
            .map(|(name, _)| (name.to_string(), true)),
    );
    let explicit_real = std::env::var_os("DDCOLOR_MODEL").is_some_and(|m| {
        !models::GENERATED
            .iter()
            .any(|(name, _)| m.to_string_lossy().contains(name))
    });
    (found, !real && !explicit_real)
}

fn base_args(args: &ServeArgs) -> Vec<String> {
    let mut a = args.model.to_args();
    a.extend(["--max-pixels".to_string(), args.max_pixels.to_string()]);
    if args.output.no_metadata {
        a.push("--no-metadata".into());
    }
    if args.output.mark {
        a.push("--mark".into());
    }
    a
}

/// `ddcolor serve`.
pub(crate) fn command(args: ServeArgs) -> Result<ExitCode> {
    if args.list_routes {
        routes::print_table();
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(jobs_dir(&args.data))
        .with_context(|| format!("{}: cannot create the data folder", args.data.display()))?;
    let data = args
        .data
        .canonicalize()
        .with_context(|| format!("{}: cannot open the data folder", args.data.display()))?;
    // Uploaded photos and results belong to their users: nobody else on the host reads them.
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700));
    }
    let store = store::Store::open(&data)?;
    let requeued = store.requeue_running()?;
    sweep_incoming(&jobs_dir(&data));
    if store.users()?.is_empty() {
        eprintln!(
            "note: no users yet: create the first with `ddcolor users add NAME --admin --data {}`",
            args.data.display()
        );
    }
    let (_, test_model_only) = installed_models();
    let app = Arc::new(App {
        log: oplog::OpLog::open(&data)?,
        store,
        limits: Limits {
            max_upload: args.max_upload.saturating_mul(1 << 20),
            max_files: args.max_files,
            quota_storage: args.quota_storage.saturating_mul(1 << 20),
            quota_jobs: args.quota_jobs,
            max_pixels: args.max_pixels,
        },
        base_args: base_args(&args),
        quality: args.quality,
        tls: args.tls_cert.is_some(),
        behind_proxy: args.behind_proxy,
        throttle: auth::Throttle::default(),
        hub: hub::Hub::default(),
        login_turns: tokio::sync::Semaphore::new(4),
        heavy_turns: Arc::new(tokio::sync::Semaphore::new(HEAVY_AT_ONCE)),
        test_model_only,
        data,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(serve(app, args, requeued))
}

async fn serve(app: Arc<App>, args: ServeArgs, requeued: usize) -> Result<ExitCode> {
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    if args.tls_cert.is_none() && !args.listen.ip().is_loopback() && !args.behind_proxy {
        eprintln!(
            "warning: listening on {} without TLS: passwords and photos cross the network in the \
             clear. Give --tls-cert and --tls-key, or put a reverse proxy with TLS in front \
             (and pass --behind-proxy); see the README.",
            args.listen
        );
    }
    // The signal handlers are in place before the address is announced: a script that reads
    // the `listening on` line and stops the server at once must not meet SIGTERM's default
    // action (death without the job handed back to the queue).
    let signals = stop_signals();
    let handle = axum_server::Handle::<SocketAddr>::new();
    let router = routes::router(Arc::clone(&app));
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    let worker = tokio::spawn(worker::run(Arc::clone(&app)));
    if requeued > 0 {
        say(&format!(
            "note: {requeued} job(s) interrupted by the last stop go on where they stopped"
        ));
    }
    let server = {
        let handle = handle.clone();
        let listen = args.listen;
        async move {
            match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => {
                    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                        .await
                        .with_context(|| {
                            format!(
                                "cannot use the TLS certificate {} with key {}",
                                cert.display(),
                                key.display()
                            )
                        })?;
                    axum_server::bind_rustls(listen, config)
                        .handle(handle)
                        .serve(service)
                        .await
                        .with_context(|| format!("cannot serve on {listen}"))
                }
                _ => axum_server::bind(listen)
                    .handle(handle)
                    .serve(service)
                    .await
                    .with_context(|| format!("cannot serve on {listen}")),
            }
        }
    };
    let announce = {
        let handle = handle.clone();
        async move {
            if let Some(addr) = handle.listening().await {
                // Tests and scripts read this line to find the port (with --listen ...:0).
                say(&format!("listening on {scheme}://{addr}"));
            }
        }
    };
    tokio::spawn(announce);
    let stop = {
        let handle = handle.clone();
        let app = Arc::clone(&app);
        async move {
            shutdown_signal(signals).await;
            say(
                "stopping: the running job is finished where it stands and resumes at the next start",
            );
            app.hub.stop();
            handle.graceful_shutdown(Some(Duration::from_secs(3)));
        }
    };
    tokio::spawn(stop);
    let served = server.await;
    app.hub.stop();
    // The worker hands the running job back to the queue before it returns.
    let _ = tokio::time::timeout(Duration::from_secs(60), worker).await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// A line on standard error that never panics: a server whose terminal or log pipe went away
/// must still stop cleanly.
pub(crate) fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

type StopSignals = Option<[tokio::signal::unix::Signal; 3]>;

/// SIGTERM, SIGINT and SIGHUP, caught from now on.
fn stop_signals() -> StopSignals {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(term), Ok(int), Ok(hup)) => Some([term, int, hup]),
        _ => None,
    }
}

async fn shutdown_signal(signals: StopSignals) {
    let Some([mut term, mut int, mut hup]) = signals else {
        // Without signal handlers the server runs until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        _ = hup.recv() => {}
    }
}

/// Uploads a stopped server was receiving (`jobs/.incoming-*`) never became jobs: removed.
fn sweep_incoming(jobs: &Path) {
    let Ok(entries) = std::fs::read_dir(jobs) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(".incoming-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `ddcolor users`.
pub(crate) use accounts::command as users;
