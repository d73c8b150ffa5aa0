//! The queue's worker: takes the oldest queued job and runs it as `ddcolor batch` (an album) or
//! `ddcolor film` (a film) — this very binary, as a child process — reading the command's
//! `--events` stream to keep the database and the pages up to date.
//!
//! Why a child process: the command line's pipelines are the product's one implementation of
//! decoding, the engine's plan, the out-of-memory step-down, atomic writes and the resume
//! record; a photo that crashes a decoder ends one child, not the server; cancelling is the
//! SIGTERM every command already handles (finish what is past the model, exit 130). A killed
//! server takes its child with it (`PR_SET_PDEATHSIG`), and at the next start the job is queued
//! again: `batch` skips every photo its output folder records as done, so nothing is done
//! twice and nothing is lost. A film is made again from the start.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::App;
use super::hub::Live;

/// Where the worker waits between looks at the queue when nothing wakes it.
const IDLE_LOOK: Duration = Duration::from_secs(2);

pub async fn run(app: Arc<App>) {
    loop {
        if app.hub.stopping() {
            return;
        }
        let next = app.store.claim_next();
        match next {
            Ok(Some(id)) => run_job(&app, id).await,
            Ok(None) => {
                tokio::select! {
                    _ = app.hub.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_LOOK) => {}
                }
            }
            Err(e) => {
                super::say(&format!("error: the job queue: {e}"));
                tokio::time::sleep(IDLE_LOOK).await;
            }
        }
    }
}

/// The command line for a job: `batch` or `film`, the server's options, then the job's.
fn command_line(app: &App, job: &super::store::Job, dir: &Path) -> Vec<String> {
    let input = dir.join("in");
    let output = dir.join("out");
    let opts = &job.options;
    let mut a: Vec<String> = Vec::new();
    if job.kind == "film" {
        let film = opts["film"].as_str().unwrap_or_default();
        a.extend([
            "film".into(),
            input.join(film).display().to_string(),
            output
                .join(super::intake::film_output_name(film))
                .display()
                .to_string(),
            "--overwrite".into(),
        ]);
    } else {
        a.extend([
            "batch".into(),
            input.display().to_string(),
            output.display().to_string(),
            "--quality".into(),
            app.quality.to_string(),
        ]);
    }
    a.extend(["--events".into(), "-".into()]);
    a.extend(app.base_args.iter().cloned());
    // The job's own choices come last, so they win over the server's defaults.
    let mut put = |flag: &str, key: &str| {
        if let Some(v) = opts[key].as_str().filter(|v| !v.is_empty()) {
            a.push(flag.into());
            a.push(v.into());
        }
    };
    put("--model", "model");
    put("--style", "style");
    put("--upsample", "upsample");
    if let Some(s) = opts["size"].as_u64() {
        a.push("--input-size".into());
        a.push(s.to_string());
    }
    if let Some(preset) = opts["preset"].as_str().filter(|p| !p.is_empty()) {
        a.push("--workflow".into());
        if preset == "custom" {
            a.push(dir.join(super::intake::WORKFLOW_FILE).display().to_string());
        } else {
            a.push(preset.into());
        }
    }
    a
}

async fn run_job(app: &Arc<App>, id: i64) {
    let Ok(Some(job)) = app.store.job(id) else {
        return;
    };
    let dir = super::jobs_dir(&app.data).join(id.to_string());
    let args = command_line(app, &job, &dir);
    let to_do = (job.total - job.done).max(0) as usize;
    app.hub.set_live(id, Live::new(to_do));
    app.record(
        Some(&job.owner),
        "server",
        "job started",
        format!("job {id} ({} item(s) to do)", to_do),
    );
    send_job(app, id);
    let _ = tokio::fs::create_dir_all(dir.join("out")).await;
    wait_for_earlier_run(&dir).await;
    let outcome = run_child(app, &job, &args, &dir).await;
    let (state, error) = match outcome {
        Ended::Stopped => {
            // The server stops: back to the queue, to resume at the next start.
            let _ = app.store.set_job_state(id, "queued", None);
            app.record(
                Some(&job.owner),
                "server",
                "job paused",
                format!("job {id}: the server stopped; it resumes at the next start"),
            );
            app.hub.close(id);
            return;
        }
        Ended::Cancelled => {
            let _ = app.store.cancel_unfinished_items(id, true);
            ("cancelled", None)
        }
        Ended::Finished { ran, error } => match (ran, error) {
            (true, None) => ("done", None),
            // Items it never reached fail with the reason the whole run failed.
            (true, Some(e)) => {
                let _ = app.store.fail_unfinished_items(id, &e);
                ("done", Some(e))
            }
            (false, e) => {
                let e = e.unwrap_or_else(|| "the job could not run".into());
                let _ = app.store.fail_unfinished_items(id, &e);
                ("failed", Some(e))
            }
        },
    };
    // A job deleted while it ran: its row is gone, its files go now.
    if app.store.job(id).ok().flatten().is_none() {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        app.hub.close(id);
        return;
    }
    // `cancelled` too: the API wrote it already, unless the cancel met the claim half-way.
    let _ = app.store.set_job_state(id, state, error.as_deref());
    let bytes = super::intake::folder_bytes(&dir).await;
    let _ = app.store.set_job_bytes(id, bytes as i64);
    if let Ok(Some(j)) = app.store.job(id) {
        let action = match state {
            "done" if j.failed > 0 => "job done with failures",
            "done" => "job done",
            "cancelled" => "job cancelled",
            _ => "job failed",
        };
        app.record(
            Some(&j.owner),
            "server",
            action,
            format!(
                "job {id}: {} done, {} failed of {}{}",
                j.done,
                j.failed,
                j.total,
                error.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        );
    }
    send_job(app, id);
    app.hub.close(id);
}

/// The whole job as JSON on its event stream.
fn send_job(app: &App, id: i64) {
    if let Ok(Some(job)) = app.store.job(id) {
        let live = app.hub.live(id);
        app.hub
            .send(id, "job", super::api::job_json(&job, live.as_ref(), None));
    }
}

enum Ended {
    /// The command ended by itself; `ran`: it got as far as starting its work.
    Finished {
        ran: bool,
        error: Option<String>,
    },
    Cancelled,
    /// The server is stopping.
    Stopped,
}

/// The job's command's messages (standard error), kept in the job's folder.
const COMMAND_LOG: &str = "command.log";
/// The file naming the process that runs a job's command, while it runs.
const CHILD_PID: &str = "command.pid";

/// A server killed mid-job left its command finishing on its own (it got SIGTERM when the
/// server died, and is writing what is past the model): wait for it, so the new run neither
/// meets its lock nor races its last writes. One that takes longer than a minute is killed.
async fn wait_for_earlier_run(dir: &Path) {
    let Ok(text) = tokio::fs::read_to_string(dir.join(CHILD_PID)).await else {
        return;
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return;
    };
    // Only that command: a process id may have been reused by anything since.
    let ours = || {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
            .unwrap_or(false)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while ours() {
        if std::time::Instant::now() > deadline {
            // SAFETY: kill sends a signal to a process checked to be this job's command.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its command line is gone as soon as its main thread has exited, but its other threads
    // (the model's, a writer's) may take tens of milliseconds more to end, and until the last
    // one has, the output folder stays locked: the new run would find it taken and fail the
    // whole job. So wait for the lock itself to be free (a `batch` folder; a film has none).
    if let Ok(marker) =
        std::fs::File::open(dir.join("out").join(crate::output_folder::BATCH_MARKER))
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while matches!(marker.try_lock(), Err(std::fs::TryLockError::WouldBlock))
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Closing the file lets go of the lock if it was taken here.
        drop(marker);
    }
    let _ = tokio::fs::remove_file(dir.join(CHILD_PID)).await;
}

async fn run_child(app: &Arc<App>, job: &super::store::Job, args: &[String], dir: &Path) -> Ended {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            return Ended::Finished {
                ran: false,
                error: Some(format!("cannot find the ddcolor program: {e}")),
            };
        }
    };
    // The command's own messages go to the job's log file, not a pipe: a command that
    // outlives a killed server must not die writing to a pipe nobody reads.
    let log_path = dir.join(COMMAND_LOG);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path);
    let (log, log_start) = match log {
        Ok(f) => {
            let start = f.metadata().map(|m| m.len()).unwrap_or(0);
            (Stdio::from(f), start)
        }
        Err(_) => (Stdio::null(), 0),
    };
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true);
    // SAFETY: prctl only sets a flag of the new process; it allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            // If the server dies, the job's command is told to stop (and finishes cleanly).
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Ended::Finished {
                ran: false,
                error: Some(format!("cannot start the job's command: {e}")),
            };
        }
    };
    if let Some(pid) = child.id() {
        let _ = tokio::fs::write(dir.join(CHILD_PID), pid.to_string()).await;
    }
    let Some(stdout) = child.stdout.take() else {
        return Ended::Finished {
            ran: false,
            error: Some("cannot read the job's command".into()),
        };
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut ran = false;
    let mut signalled = None::<&'static str>;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(line)) => {
                    if let Ok(event) = serde_json::from_str::<Value>(&line) {
                        ran |= event["event"] == "start";
                        on_event(app, job, &event);
                    }
                }
                _ => break,
            },
            _ = tick.tick() => {
                if signalled.is_none() {
                    let why = if app.hub.stopping() {
                        Some("stop")
                    } else if app.hub.is_cancelled(job.id) {
                        Some("cancel")
                    } else {
                        None
                    };
                    if let (Some(why), Some(pid)) = (why, child.id()) {
                        // SAFETY: kill sends a signal to our own child.
                        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                        signalled = Some(why);
                    }
                }
            }
        }
    }
    let status = child.wait().await;
    let _ = tokio::fs::remove_file(dir.join(CHILD_PID)).await;
    let cancelled = app.hub.take_cancel(job.id);
    if signalled == Some("stop") {
        return Ended::Stopped;
    }
    if cancelled || signalled == Some("cancel") {
        return Ended::Cancelled;
    }
    let error = last_error(&log_path, log_start).await;
    match status {
        Ok(s) if s.success() => Ended::Finished { ran, error: None },
        // `batch` exits 1 when some photos failed: they carry their own reasons.
        Ok(s) if ran && s.code() == Some(1) => Ended::Finished { ran, error: None },
        Ok(s) => Ended::Finished {
            ran,
            error: Some(error.unwrap_or_else(|| format!("the job's command ended with {s}"))),
        },
        Err(e) => Ended::Finished {
            ran,
            error: Some(format!("the job's command: {e}")),
        },
    }
}

/// The last `error:` line the command wrote in this run: the job's reason if it fails whole.
async fn last_error(log: &Path, from: u64) -> Option<String> {
    let text = tokio::fs::read(log).await.ok()?;
    let text = String::from_utf8_lossy(text.get(from as usize..)?).into_owned();
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
}

/// One line of the command's `--events` stream into the database and onto the pages.
fn on_event(app: &App, job: &super::store::Job, e: &Value) {
    let id = job.id;
    match e["event"].as_str().unwrap_or_default() {
        "start" => {
            if let Some(to_do) = e["to_do"].as_u64() {
                app.hub.update_live(id, |l| l.to_do = to_do as usize);
            }
            if let Some(frames) = e["frames"].as_i64() {
                let _ = app.store.set_frames(id, Some(0), Some(frames));
                app.hub.update_live(id, |l| l.to_do = frames as usize);
            }
            if job.kind == "film"
                && let Some(film) = job.options["film"].as_str()
            {
                let _ = app.store.set_item(id, film, "running", None, None, None);
            }
        }
        "current" => {
            let rel = e["rel"].as_str().unwrap_or_default().to_string();
            if let Ok(Some(item)) = app.store.set_item(id, &rel, "running", None, None, None) {
                app.hub.send(
                    id,
                    "item",
                    json!({"id": item, "name": rel, "state": "running", "error": null}),
                );
            }
            let live = app.hub.update_live(id, |l| l.current = Some(rel.clone()));
            progress(app, id, live);
        }
        "item" => {
            let rel = e["rel"].as_str().unwrap_or_default();
            let state = match e["state"].as_str() {
                Some("failed") => "failed",
                _ => "done",
            };
            let error = e["error"].as_str();
            let size = e["size"].as_i64();
            let output = e["output"].as_str().and_then(|o| {
                Path::new(o)
                    .strip_prefix(super::jobs_dir(&app.data).join(id.to_string()).join("out"))
                    .ok()
                    .map(|p| p.to_string_lossy().into_owned())
            });
            if let Ok(Some(item)) =
                app.store
                    .set_item(id, rel, state, error, size, output.as_deref())
            {
                app.hub.send(
                    id,
                    "item",
                    json!({"id": item, "name": rel, "state": state, "error": error, "size": size}),
                );
            }
            if e["state"] != "skipped" {
                let live = app.hub.update_live(id, |l| {
                    let n = l.finished_here + 1;
                    l.finished(n);
                });
                progress(app, id, live);
            }
        }
        "frames" => {
            let done = e["done"].as_i64();
            let total = e["total"].as_i64();
            let _ = app.store.set_frames(id, done, total);
            let live = app.hub.update_live(id, |l| {
                if let Some(t) = total {
                    l.to_do = t as usize;
                }
                l.finished(done.unwrap_or(0) as usize);
            });
            progress(app, id, live);
        }
        "stepdown" => {
            let note = format!(
                "ran out of memory at input size {}: continued at {} (results a little less detailed)",
                e["from"], e["to"]
            );
            if !job_has_note(app, id, &note) {
                let _ = app.store.add_job_note(id, &note);
            }
            app.hub.send(id, "note", json!({"text": note}));
        }
        "not_walked" => {
            let note = format!(
                "{}: not colorized ({})",
                e["path"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("?")
            );
            let _ = app.store.add_job_note(id, &note);
        }
        "end" if job.kind == "film" => {
            let film = job.options["film"].as_str().unwrap_or_default();
            let output = e["output"].as_str().and_then(|o| {
                Path::new(o)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            });
            let (state, error) = match e["state"].as_str() {
                Some("done") => ("done", None),
                Some("interrupted") => return,
                _ => ("failed", e["error"].as_str()),
            };
            if let Ok(Some(item)) =
                app.store
                    .set_item(id, film, state, error, None, output.as_deref())
            {
                app.hub.send(
                    id,
                    "item",
                    json!({"id": item, "name": film, "state": state, "error": error}),
                );
            }
        }
        _ => {}
    }
}

fn job_has_note(app: &App, id: i64, note: &str) -> bool {
    app.store
        .job(id)
        .ok()
        .flatten()
        .is_some_and(|j| j.notes.iter().any(|n| n == note))
}

/// Counts, rate, ETA and the current file onto the job's event stream (the job as the API
/// shows it, without its items).
fn progress(app: &App, id: i64, live: Option<Live>) {
    if let Ok(Some(job)) = app.store.job(id) {
        app.hub.send(
            id,
            "progress",
            super::api::job_json(&job, live.as_ref(), None),
        );
    }
}
