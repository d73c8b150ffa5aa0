//! Helpers shared by the integration tests, included with `mod common;` (from `tests/*.rs`) or
//! `#[path = "../../tests/common/mod.rs"] mod common;` (from `plugin/tests/`):
//!
//! - where things are: the repository's test inputs under `tests/media/` ([`media`],
//!   [`historical`], [`media_dir`]) and the generated test models ([`model`]);
//! - running a program with a time limit ([`start`], [`run`], [`Running`]) and what a run did
//!   ([`Run`], with the checks every command-line test makes: success, a failure the way the
//!   tool fails, exactly one error line naming the file);
//! - [`Snapshot`], proof that a run left a file alone;
//! - [`gpu_or_skip`] and [`skipped`]: how a test that cannot run here says so, and the
//!   `DDCOLOR_REQUIRE_GPU` switch that turns a GPU test's skip into a failure.
//!
//! Standard library only: it is compiled into the tests of every crate (engine, pipeline,
//! plugin), which have different dependencies. Each test file uses only part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Display;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// The repository's root: every crate (engine, pipeline, plugin) sits one folder below it.
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Builds an argument list (`Vec<OsString>`) from anything path- or string-like.
#[allow(unused_macros)]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        vec![$(::std::ffi::OsString::from(::std::convert::AsRef::<::std::ffi::OsStr>::as_ref(&$a))),*]
    };
}

// ---------------------------------------------------------------------------------------------
// Where things are
// ---------------------------------------------------------------------------------------------

pub fn root() -> PathBuf {
    PathBuf::from(ROOT)
}

/// A generated test model, e.g. `model("test-dynamic")`: `models/generated/NAME.onnx`.
pub fn model(name: &str) -> PathBuf {
    let p = root().join("models/generated").join(format!("{name}.onnx"));
    assert!(
        p.is_file(),
        "{}: generated test model missing: run `make test` or `make models` first",
        p.display()
    );
    p
}

/// A read-only test input under `tests/media/`, e.g. `media("film/a-bomb_blast_effects_part.mp4")`
/// (`tests/media/README.md` says what each is and where it comes from).
pub fn media(rel: &str) -> PathBuf {
    let p = root().join("tests/media").join(rel);
    assert!(p.is_file(), "{}: test input missing", p.display());
    p
}

/// A folder under `tests/media/`, e.g. `media_dir("photos/kodak")`.
pub fn media_dir(rel: &str) -> PathBuf {
    let p = root().join("tests/media").join(rel);
    assert!(p.is_dir(), "{}: test input folder missing", p.display());
    p
}

/// A read-only historical photo, `tests/media/photos/historical/NAME` (never written to).
pub fn historical(name: &str) -> PathBuf {
    media(&format!("photos/historical/{name}"))
}

/// The `ddcolor` binary cargo built for this test (only the `ddcolor` package's tests have one).
pub fn ddcolor_bin() -> &'static str {
    match option_env!("CARGO_BIN_EXE_ddcolor") {
        Some(bin) => bin,
        None => panic!("the ddcolor binary is only built for the tests of the ddcolor package"),
    }
}

/// `ddcolor ARGS` with no model chosen by the environment (`DDCOLOR_MODEL` and
/// `DDCOLOR_MODELS_DIR` removed) and nothing on its standard input.
pub fn ddcolor_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(ddcolor_bin());
    cmd.args(args)
        .env_remove("DDCOLOR_MODEL")
        .env_remove("DDCOLOR_MODELS_DIR")
        .stdin(Stdio::null());
    cmd
}

// ---------------------------------------------------------------------------------------------
// What a run left on disk
// ---------------------------------------------------------------------------------------------

/// The marker `batch` leaves in its output folder (so that a resumed run trusts the results).
pub const BATCH_MARKER: &str = ".ddcolor-batch";

/// Every file under `dir` (recursively, hidden ones included, except `batch`'s marker), relative,
/// sorted; empty when `dir` does not exist.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.file_name().is_some_and(|n| n == BATCH_MARKER) {
                continue;
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped; `None` (the test skips) where
/// mounting is not allowed.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

// ---------------------------------------------------------------------------------------------
// Running a program, with a watchdog
// ---------------------------------------------------------------------------------------------

/// A run that uses (almost) no CPU time for this long is hung: a deadlocked pipeline. (A
/// progress bar's and a bus-polling thread still wake up, so "no CPU at all" is too strict.)
pub const STALL: Duration = Duration::from_secs(15);
/// Below this much CPU time in [`STALL`] (in clock ticks, 1/100 s), a run counts as hung.
pub const STALL_TICKS: u64 = 25;

/// What one run of a program did.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn assert_ok(&self) -> &Self {
        assert!(
            self.status.success(),
            "expected success, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Failed the way the tool fails (1: some input failed, 2: the run could not start), not by
    /// a panic (101) or a signal.
    pub fn assert_failed(&self) -> &Self {
        assert!(
            matches!(self.code(), Some(1) | Some(2)),
            "expected exit status 1 or 2, got {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// The `error: ...` lines on stderr.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect()
    }

    /// Failed the way the tool fails ([`Run::assert_failed`]), with exactly one
    /// `error: <path>: ...` line on stderr, naming `path` and mentioning each of `words`
    /// (case-insensitive). Returns the line.
    pub fn assert_one_error(&self, path: &Path, words: &[&str]) -> String {
        self.assert_failed();
        let errors = self.error_lines();
        assert_eq!(
            errors.len(),
            1,
            "expected exactly one error line, stderr:\n{}",
            self.stderr
        );
        let line = errors[0];
        let prefix = format!("error: {}: ", path.display());
        assert!(
            line.starts_with(&prefix),
            "error line does not start with {prefix:?}: {line:?}"
        );
        for w in words {
            assert!(
                line.to_lowercase().contains(&w.to_lowercase()),
                "error line does not mention {w:?}: {line:?}"
            );
        }
        line.to_string()
    }
}

/// A running program; killed when dropped (a failed test never leaves it behind).
pub struct Running {
    child: Child,
    what: String,
    start: Instant,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

fn read_all(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The command line of `cmd`, for messages.
fn describe(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(cmd.get_program())
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts `cmd` with its stdout and stderr read on threads (so a chatty program never blocks).
pub fn start(mut cmd: Command) -> Running {
    let what = describe(&cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: cannot run: {e}", cmd.get_program().display()));
    let stdout = read_all(child.stdout.take().expect("piped stdout"));
    let stderr = read_all(child.stderr.take().expect("piped stderr"));
    Running {
        child,
        what,
        start: Instant::now(),
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

/// Runs `cmd` to the end; fails the test (killing it) when it runs longer than `limit`.
pub fn run(cmd: Command, limit: Duration) -> Run {
    start(cmd).finish(limit)
}

/// CPU time (user + system, all threads) a process has used, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `fields` starts at field 3.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the program and fails the test with `why` and what the program wrote on stderr.
    pub fn kill_and_fail(&mut self, why: String) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        panic!("{}: {why}: killed\nstderr:\n{stderr}", self.what);
    }

    /// Waits for the exit; fails the test when it takes longer than `limit`.
    pub fn finish(self, limit: Duration) -> Run {
        self.wait(limit, false)
    }

    /// [`Running::finish`], and fails the test as soon as the program has used almost no CPU
    /// time for [`STALL`] (hung: a deadlocked pipeline).
    pub fn finish_unless_hung(self, limit: Duration) -> Run {
        self.wait(limit, true)
    }

    fn wait(mut self, limit: Duration, watch_cpu: bool) -> Run {
        let pid = self.pid();
        // CPU time at the start of the current watch window.
        let mut window: Option<(Instant, u64)> = None;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => self.kill_and_fail(format!("cannot wait: {e}")),
            }
            let now = Instant::now();
            if now - self.start > limit {
                self.kill_and_fail(format!("still running after {limit:?}"));
            }
            if let Some(cpu) = watch_cpu.then(|| cpu_ticks(pid)).flatten() {
                match window {
                    None => window = Some((now, cpu)),
                    Some((since, at)) if now - since >= STALL => {
                        if cpu.saturating_sub(at) < STALL_TICKS {
                            self.kill_and_fail(format!(
                                "hung: {} ms of CPU time in the last {STALL:?} ({:.0} s after the \
                                 start; a deadlocked pipeline?)",
                                cpu.saturating_sub(at) * 10,
                                (now - self.start).as_secs_f64()
                            ));
                        }
                        window = Some((now, cpu));
                    }
                    Some(_) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.start.elapsed();
        let stdout = self.stdout.take().unwrap().join().unwrap_or_default();
        let stderr = self.stderr.take().unwrap().join().unwrap_or_default();
        // Shown with the test's output when it fails.
        eprintln!(
            "[{:.1} s] {}\n{}",
            elapsed.as_secs_f64(),
            self.what,
            stderr.trim_end()
        );
        Run {
            status,
            stdout,
            stderr,
            elapsed,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// The bytes and modification time of a file, to prove a run left it alone.
pub struct Snapshot {
    path: PathBuf,
    bytes: Vec<u8>,
    modified: SystemTime,
}

pub fn snapshot(path: &Path) -> Snapshot {
    Snapshot {
        path: path.to_path_buf(),
        bytes: fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        modified: mtime(path),
    }
}

impl Snapshot {
    pub fn assert_untouched(&self) {
        let now = fs::read(&self.path)
            .unwrap_or_else(|e| panic!("{}: gone after the run: {e}", self.path.display()));
        assert!(now == self.bytes, "{}: was modified", self.path.display());
        assert_eq!(
            mtime(&self.path),
            self.modified,
            "{}: mtime changed",
            self.path.display()
        );
    }
}

pub fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Tests that cannot run here
// ---------------------------------------------------------------------------------------------

/// Says a test (or part of one) was skipped, where `cargo test` shows it: straight to stderr,
/// which libtest does not capture (it captures `eprintln!`).
pub fn skipped(test: &str, why: &dyn Display) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether `DDCOLOR_REQUIRE_GPU` is set (to anything but empty or `0`): on a machine with an
/// NVIDIA GPU and the GPU build of ONNX Runtime, where every GPU test must run.
pub fn gpu_required() -> bool {
    std::env::var_os("DDCOLOR_REQUIRE_GPU").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The one decision of a GPU test (or a GPU part of one): `ready` says whether what it needs is
/// here (the CUDA driver, a GPU, the GPU build of ONNX Runtime, GStreamer's CUDA elements).
/// `Ok`: true, run it. `Err`: without `DDCOLOR_REQUIRE_GPU`, says `SKIPPED test: why` and
/// returns false (the caller returns, and passes); with it, the test fails with the reason, so
/// that a GPU machine cannot pass by skipping.
pub fn gpu_or_skip<T, E: Display>(test: &str, ready: Result<T, E>) -> bool {
    match ready {
        Ok(_) => true,
        Err(why) => {
            assert!(
                !gpu_required(),
                "{test}: DDCOLOR_REQUIRE_GPU is set, but this test cannot run: {why}"
            );
            skipped(test, &why);
            false
        }
    }
}
