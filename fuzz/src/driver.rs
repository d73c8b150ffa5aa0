//! The fuzzing loop: replay the kept regressions, then mutate seeds for a budget, running each
//! input under `catch_unwind`, a per-input time check, a memory check (with
//! [`crate::alloc::CountingAlloc`] installed) and a watchdog that saves and aborts on a hang.
//! Inputs that give an outcome not seen before (a new error, a first success) join the corpus:
//! the cheap feedback available without coverage instrumentation on the stable toolchain.
//!
//! Environment: `FUZZ_SECONDS` (a time budget per target, for long runs; without it a fixed
//! number of runs), `FUZZ_SEED` (default fixed: `cargo test` runs the same inputs every time),
//! `FUZZ_CRASH_DIR` (default `target/fuzz-crashes`), `FUZZ_LIST_OUTCOMES` (print every
//! distinct outcome: what the inputs reached), `FUZZ_REPRODUCE` (run one saved file,
//! letting a panic show its backtrace).

use std::collections::HashSet;
use std::ffi::CString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::alloc;
use crate::mutate::mutate;
use crate::rng::Rng;

/// One fuzz target: the code under test and what an input may cost.
pub struct Target {
    pub name: &'static str,
    /// Seed inputs: real files and small generated ones.
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// Runs one input; returns a label of what happened (an error message with its numbers
    /// blanked, or "ok"), used to find inputs worth keeping. Must not panic.
    pub run: fn(&[u8]) -> String,
    /// Tokens worth inserting (magic numbers, markers, keywords).
    pub dictionary: &'static [&'static [u8]],
    pub max_len: usize,
    /// Runs of the short, fixed budget in `cargo test`.
    pub short_runs: u64,
    /// An input taking longer than this is a finding.
    pub time_limit: Duration,
    /// Heap an input may hold at its peak, beyond what was live before it ran.
    pub memory_limit: usize,
}

/// The repository's root (this crate sits one folder below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the fuzz crate sits in the workspace")
        .to_path_buf()
}

/// Where the kept crashing inputs of `target` live; each is replayed by every run.
pub fn regressions_dir(target: &str) -> PathBuf {
    root().join("tests/fuzz/regressions").join(target)
}

/// Distinct outcomes remembered; past this, no input joins the corpus for its outcome.
const MAX_OUTCOMES: usize = 200_000;

/// One fuzz run at a time per process: the memory peak and the watchdog are process-wide.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Set while inputs run: the panic hook stays quiet (the driver reports panics itself).
static QUIET: AtomicBool = AtomicBool::new(false);
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// The input running now, for the watchdog.
struct Running {
    target: &'static str,
    started: Instant,
    input: Arc<Vec<u8>>,
    crash_dir: PathBuf,
    hang_limit: Duration,
}
static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

fn install_hooks() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.load(Ordering::Relaxed) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let at = info.location().map(|l| l.to_string()).unwrap_or_default();
                *LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(format!("{msg} at {at}"));
            } else {
                default(info);
            }
        }));
        std::thread::spawn(|| {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let guard = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(r) = guard.as_ref()
                    && r.started.elapsed() > r.hang_limit
                {
                    let file = save(&r.crash_dir, r.target, "hang", &r.input);
                    eprintln!(
                        "fuzz {}: an input ran past {:?} (hang); saved as {}\n  reproduce: {}",
                        r.target,
                        r.hang_limit,
                        file.display(),
                        reproduce_command(r.target, &file)
                    );
                    std::process::abort();
                }
            }
        });
    });
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn save(dir: &Path, target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = dir.join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{kind}-{:016x}.bin", fnv(input)));
    if let Err(e) = std::fs::write(&path, input) {
        eprintln!("fuzz {target}: cannot save {}: {e}", path.display());
    }
    path
}

/// The command that runs one saved input again.
pub fn reproduce_command(target: &str, file: &Path) -> String {
    let (package, test) = if target == "matroska_tags" {
        ("ddcolor", "--bin ddcolor")
    } else {
        ("ddcolor-fuzz", "--test fuzz")
    };
    format!(
        "FUZZ_REPRODUCE={} cargo test --locked -p {package} {test} {target} -- --nocapture",
        file.display()
    )
}

/// Outcome labels: an error's text with its numbers blanked, so "image is 3x5" and "image is
/// 4x5" count as one outcome.
pub fn label(outcome: Result<(), String>) -> String {
    match outcome {
        Ok(()) => "ok".into(),
        Err(e) => e
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .take(100)
            .collect(),
    }
}

/// What one fuzz run did.
#[derive(Debug)]
pub struct Report {
    pub execs: u64,
    pub seconds: f64,
    pub corpus: usize,
    pub outcomes: usize,
    pub findings: Vec<String>,
}

/// Fuzzes `target` as the environment asks (see the module's doc); fails (panics) listing the
/// saved inputs if any input panicked, ran too long or took too much memory.
pub fn fuzz(target: &Target) -> Report {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    install_hooks();
    if let Some(file) = std::env::var_os("FUZZ_REPRODUCE") {
        let data = std::fs::read(&file).expect("FUZZ_REPRODUCE: cannot read the file");
        eprintln!("fuzz {}: {}", target.name, (target.run)(&data));
        return Report {
            execs: 1,
            seconds: 0.0,
            corpus: 0,
            outcomes: 1,
            findings: Vec::new(),
        };
    }
    let budget = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64);
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0x5EED_D0C0_1012);
    // Each target its own stream, so that adding a target changes no other's inputs.
    let mut rng = Rng::new(seed ^ fnv(target.name.as_bytes()));
    let crash_dir = std::env::var_os("FUZZ_CRASH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/fuzz-crashes"));
    let _ = std::fs::create_dir_all(crash_dir.join(target.name));
    let oom_path = CString::new(
        crash_dir
            .join(target.name)
            .join("oom-current.bin")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .expect("crash folder without NUL");
    let hang_limit = (target.time_limit * 10).max(Duration::from_secs(10));

    let mut corpus: Vec<Vec<u8>> = (target.seeds)();
    let mut regressions = Vec::new();
    if let Ok(dir) = std::fs::read_dir(regressions_dir(target.name)) {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            regressions.push(std::fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())));
        }
    }
    assert!(!corpus.is_empty(), "{}: no seeds", target.name);
    let mut seen = HashSet::new();
    let mut findings = Vec::new();
    let start = Instant::now();
    let mut execs = 0u64;
    // Runs the code accepted: a target whose inputs all fail early tests little.
    let mut oks = 0u64;
    let queue: Vec<Vec<u8>> = regressions.into_iter().chain(corpus.clone()).collect();
    let mut queue = queue.into_iter();
    QUIET.store(true, Ordering::Relaxed);
    loop {
        let input = match queue.next() {
            Some(i) => i,
            None => {
                let done = match budget {
                    Some(b) => start.elapsed() >= b,
                    None => execs >= target.short_runs,
                };
                if done {
                    break;
                }
                let a = rng.below(corpus.len());
                let b = rng.below(corpus.len());
                mutate(
                    &mut rng,
                    &corpus[a],
                    &corpus[b],
                    target.dictionary,
                    target.max_len,
                )
            }
        };
        let input = Arc::new(input);
        *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = Some(Running {
            target: target.name,
            started: Instant::now(),
            input: Arc::clone(&input),
            crash_dir: crash_dir.clone(),
            hang_limit,
        });
        alloc::set_current(&input, &oom_path);
        let base = alloc::reset_peak();
        let t0 = process_cpu_time();
        let result = catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        let took = process_cpu_time().saturating_sub(t0);
        let held = alloc::peak().saturating_sub(base);
        alloc::clear_current();
        *RUNNING.lock().unwrap_or_else(|p| p.into_inner()) = None;
        execs += 1;
        let finding = match &result {
            Err(_) => {
                let msg = LAST_PANIC.lock().unwrap_or_else(|p| p.into_inner()).take();
                Some(("panic", msg.unwrap_or_default()))
            }
            Ok(_) if took > target.time_limit => {
                Some(("slow", format!("took {took:?} of CPU time")))
            }
            Ok(_) if held > target.memory_limit => {
                Some(("memory", format!("held {} MiB at its peak", held >> 20)))
            }
            Ok(_) => None,
        };
        if let Some((kind, why)) = finding {
            let file = save(&crash_dir, target.name, kind, &input);
            let line = format!(
                "{kind}: {why}\n  input: {}\n  reproduce: {}",
                file.display(),
                reproduce_command(target.name, &file)
            );
            eprintln!("fuzz {}: {line}", target.name);
            findings.push(line);
            if findings.len() >= 20 {
                break;
            }
        } else if let Ok(label) = result
            && {
                oks += (label == "ok") as u64;
                // Bounded: labels carry error text, and an hour's run meets millions of them.
                seen.len() < MAX_OUTCOMES && seen.insert(label)
            }
            && corpus.len() < 4096
        {
            corpus.push(input.to_vec());
        }
    }
    QUIET.store(false, Ordering::Relaxed);
    if std::env::var_os("FUZZ_LIST_OUTCOMES").is_some() {
        let mut all: Vec<&String> = seen.iter().collect();
        all.sort();
        for o in all {
            eprintln!("  outcome: {o}");
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let report = Report {
        execs,
        seconds,
        corpus: corpus.len(),
        outcomes: seen.len(),
        findings,
    };
    eprintln!(
        "fuzz {}: {} execs in {:.1} s ({:.0} execs/s), seed {seed}, corpus {}, distinct outcomes {}, accepted {oks}, findings {}{}",
        target.name,
        report.execs,
        report.seconds,
        report.execs as f64 / report.seconds.max(1e-9),
        report.corpus,
        report.outcomes,
        report.findings.len(),
        if alloc::installed() {
            ""
        } else {
            " (memory not measured)"
        },
    );
    assert!(
        report.findings.is_empty(),
        "fuzz {}: {} finding(s):\n{}",
        target.name,
        report.findings.len(),
        report.findings.join("\n")
    );
    report
}

/// CPU time used by the whole process (every thread: the frame conversions run on rayon's).
/// "Slow" is judged on it rather than on wall time: `make fuzz` runs at the lowest priority on
/// machines busy with other work, where an input that needs milliseconds can wait seconds for a
/// core. A real hang still trips the wall-clock watchdog.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
