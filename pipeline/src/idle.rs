//! Reading and encoding photos at idle priority, with a way back when other programs keep the
//! CPU busy.
//!
//! ONNX Runtime splits each operator evenly over its threads, so a reader or encoder that
//! preempts one of them stalls all of them at the next barrier: on 2 cores that cost a batch
//! 6 to 10 % of its time. Under `SCHED_IDLE` the readers and encoders run only on cycles the
//! model leaves free. But an idle thread gets almost nothing while other programs keep the
//! cores busy, and it cannot raise its priority again without privileges. So the thread that
//! runs the model (normal priority) does their work itself whenever it would otherwise wait:
//! it takes back jobs that no worker has started, and jobs whose worker is starved (its thread
//! got almost no CPU time lately).
//!
//! Each job is a [`Ticket`], registered before it is handed over and accepted by whoever
//! consumes the results; a result is used once, whoever finishes first, and a job is never
//! out of sight between the hand-over and its acceptance.
//!
//! When other programs are already busy as the run starts ([`cpu_is_free`]), the workers stay
//! at normal priority: idle threads would get almost nothing, and a process whose idle threads
//! still hold large buffers can take seconds to exit.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the model's thread waits for a worker before taking a job back.
pub const RESCUE_AFTER: Duration = Duration::from_millis(100);

/// The wait instead of [`RESCUE_AFTER`] once the workers were found starved, until one of them
/// delivers again: under heavy load from other programs, every photo would otherwise cost the
/// full wait twice (reading and encoding).
pub const STARVED_WAIT: Duration = Duration::from_millis(20);

/// A started job is taken back when its worker thread got less than a quarter of a core over
/// at least this long. A worker that is merely slow (a 100 MP scan) keeps its job.
const PROGRESS_WINDOW: Duration = Duration::from_millis(200);

/// Without a per-thread CPU clock (not Linux), a started job is taken back after this long.
const TAKE_BACK_AFTER: Duration = Duration::from_secs(2);

/// Puts the calling thread under `SCHED_IDLE`. Failure (a restricted container, another OS)
/// leaves it at normal priority, which is only slower.
pub fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a system call on the calling thread (pid 0) with a valid parameter block.
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}

/// Other programs' use of the CPU, measured from the start of the process (see
/// [`start_load_probe`]) to the moment workers are started.
struct LoadProbe {
    at: Instant,
    busy: Duration,
    own: Duration,
}

static PROBE: std::sync::OnceLock<Option<LoadProbe>> = std::sync::OnceLock::new();

/// Starts measuring how busy the CPU is with other programs; call it first thing in `main`.
pub fn start_load_probe() {
    PROBE.get_or_init(LoadProbe::now);
}

/// Whether the workers should run at idle priority: only when other programs left the CPU
/// alone since the process started. Under load from other programs, idle threads get almost
/// nothing; the model's thread would do all their work alone, and a process whose idle
/// threads hold gigabytes can take seconds to be torn down (measured on 2 busy cores: 24 to
/// 33 s against 21 s at normal priority).
pub fn cpu_is_free() -> bool {
    const MIN_WINDOW: Duration = Duration::from_millis(100);
    let Some(Some(start)) = PROBE.get() else {
        return true;
    };
    let waited = start.at.elapsed();
    if waited < MIN_WINDOW {
        std::thread::sleep(MIN_WINDOW - waited);
    }
    let Some(now) = LoadProbe::now() else {
        return true;
    };
    let wall = now.at.duration_since(start.at).as_secs_f64();
    let others = now.busy.saturating_sub(start.busy).as_secs_f64()
        - now.own.saturating_sub(start.own).as_secs_f64();
    // More than half a core busy with something else.
    others / wall <= 0.5
}

impl LoadProbe {
    #[cfg(target_os = "linux")]
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
        let busy_ticks: u64 = fields
            .iter()
            .take(8)
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .map(|(_, v)| v)
            .sum();
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as u64 } else { 100 };
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: fills a valid rusage for this process.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
            return None;
        }
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        Some(Self {
            at: Instant::now(),
            busy: Duration::from_secs_f64(busy_ticks as f64 / hz as f64),
            own: tv(usage.ru_utime) + tv(usage.ru_stime),
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn now() -> Option<Self> {
        None
    }
}

/// The rayon pool the encoders run in: each encoder's loop on a pool thread of its own, plus
/// one thread per core for the parallel parts of encoding (putting the colour back together,
/// the workflow's steps), at idle priority or not. An encoder's loop runs on a pool thread so
/// that its thread's CPU clock shows the work done for it (a thread outside the pool would
/// sleep while the pool works, and look starved). `None` if the pool cannot be made.
pub fn worker_pool(encoders: usize, idle: bool) -> Option<rayon::ThreadPool> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores + encoders)
        .thread_name(|i| format!("ddcolor-encode-{i}"))
        .start_handler(move |_| {
            if idle {
                lower_priority()
            }
        })
        .build()
        .ok()
}

/// Test hook: `DDCOLOR_TEST_STALL_WORKERS=1` makes every worker stop for good once it has
/// started a job, as if other programs starved it; the run must still finish, through the
/// model's thread.
fn stall_for_tests() {
    if stalling_for_tests() {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// Only in builds with the `test-hooks` feature: a product build ignores the variable.
#[cfg(feature = "test-hooks")]
pub fn stalling_for_tests() -> bool {
    std::env::var_os("DDCOLOR_TEST_STALL_WORKERS").is_some_and(|v| v == "1")
}

#[cfg(not(feature = "test-hooks"))]
pub fn stalling_for_tests() -> bool {
    false
}

/// A worker's loop: for each ticket not taken back meanwhile, `work` on it, store the result and
/// `hand_over` the ticket (false: nobody takes results any more, stop).
pub fn serve<T, R>(
    tickets: &crossbeam_channel::Receiver<Arc<Ticket<T, R>>>,
    inflight: &InFlight<T, R>,
    idle: bool,
    work: impl Fn(&T) -> R,
    hand_over: impl Fn(Arc<Ticket<T, R>>) -> bool,
) {
    if idle {
        lower_priority();
    }
    for ticket in tickets {
        if !inflight.begin(&ticket) {
            continue;
        }
        stall_for_tests();
        let result = work(&ticket.work);
        if inflight.finish(&ticket, result) && !hand_over(ticket) {
            return;
        }
    }
}

/// How long the model's thread waits for one kind of worker before taking work back.
#[derive(Default)]
pub struct Patience {
    starved: bool,
}

impl Patience {
    pub fn wait(&self) -> Duration {
        if self.starved {
            STARVED_WAIT
        } else {
            RESCUE_AFTER
        }
    }

    /// The last wait ran out.
    pub fn ran_out(&mut self) {
        self.starved = true;
    }

    /// Something came within the wait.
    pub fn kept(&mut self) {
        self.starved = false;
    }
}

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
/// The worker has stored its result and is handing the ticket over.
const DONE: u8 = 2;
const ACCEPTED: u8 = 3;
const TAKEN_BACK: u8 = 4;

/// One job, from its hand-over to a worker until its result is accepted or it is taken back.
pub struct Ticket<T, R> {
    pub work: T,
    state: AtomicU8,
    worker: Mutex<Option<Worker>>,
    result: Mutex<Option<R>>,
}

/// The worker thread holding a started job, to tell a starved one from a slow one.
struct Worker {
    started: Instant,
    clock: Option<ThreadClock>,
    /// The last look at the worker's CPU time: (when, CPU time then).
    sample: Option<(Instant, Duration)>,
}

/// The jobs handed to workers and not yet accepted or taken back, in hand-over order.
pub struct InFlight<T, R> {
    tickets: Mutex<Vec<Arc<Ticket<T, R>>>>,
    taken_back: AtomicUsize,
}

impl<T, R> Default for InFlight<T, R> {
    fn default() -> Self {
        Self {
            tickets: Mutex::new(Vec::new()),
            taken_back: AtomicUsize::new(0),
        }
    }
}

impl<T, R> InFlight<T, R> {
    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Ticket<T, R>>>> {
        // Each change is a single push or remove: a panic elsewhere leaves the list consistent.
        self.tickets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self, ticket: &Arc<Ticket<T, R>>) {
        let mut tickets = self.lock();
        if let Some(i) = tickets.iter().position(|t| Arc::ptr_eq(t, ticket)) {
            tickets.remove(i);
        }
    }

    /// Registers `work` before it is handed to the workers.
    pub fn register(&self, work: T) -> Arc<Ticket<T, R>> {
        let ticket = Arc::new(Ticket {
            work,
            state: AtomicU8::new(QUEUED),
            worker: Mutex::new(None),
            result: Mutex::new(None),
        });
        self.lock().push(Arc::clone(&ticket));
        ticket
    }

    /// A worker starts the job: false if it was taken back meanwhile (skip it).
    pub fn begin(&self, ticket: &Ticket<T, R>) -> bool {
        // Recorded before the job counts as started, so that it can be judged at once.
        *ticket.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(Worker {
            started: Instant::now(),
            clock: ThreadClock::current(),
            sample: None,
        });
        transition(&ticket.state, QUEUED, STARTED)
    }

    /// The worker stores its result before handing the ticket over: from here on the job is
    /// not taken back, and the result can be taken from the ticket even if the hand-over
    /// stalls. False if the job was taken back meanwhile (drop the result).
    pub fn finish(&self, ticket: &Ticket<T, R>, result: R) -> bool {
        *ticket.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        transition(&ticket.state, STARTED, DONE)
    }

    /// The consumer receives a handed-over ticket: its result, or `None` if the job was taken
    /// back or its result was already used.
    pub fn accept(&self, ticket: &Arc<Ticket<T, R>>) -> Option<R> {
        if !transition(&ticket.state, DONE, ACCEPTED) {
            return None;
        }
        self.forget(ticket);
        ticket
            .result
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Takes back a job that was registered but could not be handed over.
    pub fn withdraw(&self, ticket: &Arc<Ticket<T, R>>) -> bool {
        let withdrawn = transition(&ticket.state, QUEUED, TAKEN_BACK);
        if withdrawn {
            self.forget(ticket);
            self.taken_back.fetch_add(1, Ordering::Relaxed);
        }
        withdrawn
    }

    /// What the model's thread can do instead of waiting: the result of a finished job whose
    /// hand-over stalls, else the first job no worker has started, else the first one whose
    /// worker is starved.
    pub fn take_back(&self) -> Option<TakenBack<T, R>> {
        let now = Instant::now();
        let mut tickets = self.lock();
        let stalled_hand_over = tickets.iter().position(|t| {
            t.state.load(Ordering::Acquire) == DONE
                && t.worker_starved(now)
                && transition(&t.state, DONE, ACCEPTED)
        });
        if let Some(i) = stalled_hand_over {
            let t = tickets.remove(i);
            let result = t.result.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(r) = result {
                return Some(TakenBack::Result(r));
            }
        }
        let i = tickets
            .iter()
            .position(|t| transition(&t.state, QUEUED, TAKEN_BACK))
            .or_else(|| {
                tickets.iter().position(|t| {
                    t.state.load(Ordering::Acquire) == STARTED
                        && t.worker_starved(now)
                        && transition(&t.state, STARTED, TAKEN_BACK)
                })
            })?;
        self.taken_back.fetch_add(1, Ordering::Relaxed);
        Some(TakenBack::Work(tickets.remove(i)))
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// How many jobs were taken back or withdrawn so far.
    pub fn taken_back(&self) -> usize {
        self.taken_back.load(Ordering::Relaxed)
    }
}

/// What [`InFlight::take_back`] hands the model's thread.
pub enum TakenBack<T, R> {
    /// A job to do.
    Work(Arc<Ticket<T, R>>),
    /// A finished job's result, whose worker is starved before handing it over.
    Result(R),
}

impl<T, R> Ticket<T, R> {
    /// Whether the worker holding this ticket got less than a quarter of a core lately.
    fn worker_starved(&self, now: Instant) -> bool {
        // The worker may be inside `begin` (and starved there): never wait for it.
        let Ok(mut guard) = self.worker.try_lock() else {
            return false;
        };
        // Started a moment ago: the worker has not recorded itself yet.
        let Some(w) = guard.as_mut() else {
            return false;
        };
        let Some(clock) = &w.clock else {
            return now.duration_since(w.started) >= TAKE_BACK_AFTER;
        };
        // A thread that is gone will not finish the job (or hand it over).
        let Some(cpu) = clock.read() else {
            return true;
        };
        let (starved, sample) = judge(w.sample, now, cpu);
        w.sample = Some(sample);
        starved
    }
}

/// The starvation rule, from the previous look at a worker (`None`: the first) and the
/// present one: starved when it got less than a quarter of a core over at least
/// [`PROGRESS_WINDOW`]. A look older than two windows starts a new window instead (the model's
/// thread looks only while it waits; a window spanning its model runs, when idle workers get
/// nothing by design, says nothing). Returns the verdict and the look to keep.
fn judge(
    previous: Option<(Instant, Duration)>,
    now: Instant,
    cpu: Duration,
) -> (bool, (Instant, Duration)) {
    match previous {
        Some((then, cpu_then)) => {
            let wall = now.duration_since(then);
            if wall < PROGRESS_WINDOW {
                (false, (then, cpu_then))
            } else if wall > 2 * PROGRESS_WINDOW {
                (false, (now, cpu))
            } else {
                (cpu.saturating_sub(cpu_then) < wall / 4, (now, cpu))
            }
        }
        None => (false, (now, cpu)),
    }
}

fn transition(state: &AtomicU8, from: u8, to: u8) -> bool {
    state
        .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A thread's CPU-time clock, readable from other threads.
struct ThreadClock(#[cfg(target_os = "linux")] libc::clockid_t);

impl ThreadClock {
    #[cfg(target_os = "linux")]
    fn current() -> Option<Self> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: asks for the calling thread's own clock id, written to a valid location.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
        (rc == 0).then_some(Self(id))
    }

    #[cfg(not(target_os = "linux"))]
    fn current() -> Option<Self> {
        None
    }

    #[cfg(target_os = "linux")]
    fn read(&self) -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: reads a clock into a valid timespec; an exited thread's clock gives an error.
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    #[cfg(not(target_os = "linux"))]
    fn read(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work<T: Copy, R>(t: TakenBack<T, R>) -> T {
        match t {
            TakenBack::Work(t) => t.work,
            TakenBack::Result(_) => panic!("a result, not work"),
        }
    }

    #[test]
    fn a_result_is_used_once_whoever_finishes_first() {
        let inflight = InFlight::<&str, u32>::default();
        // The worker's result arrives first: nothing is left to take back.
        let a = inflight.register("a");
        assert!(inflight.begin(&a));
        assert!(inflight.finish(&a, 1));
        assert_eq!(inflight.accept(&a), Some(1));
        assert_eq!(inflight.accept(&a), None);
        assert!(inflight.take_back().is_none());
        // Taken back before any worker started it: the worker skips it.
        let b = inflight.register("b");
        assert_eq!(inflight.take_back().map(work), Some("b"));
        assert!(!inflight.begin(&b));
        // A job that could not be handed over is withdrawn.
        let c = inflight.register("c");
        assert!(inflight.withdraw(&c));
        assert!(inflight.is_empty());
        assert_eq!(inflight.taken_back(), 2);
    }

    #[test]
    fn the_starvation_rule() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // The first look only starts a window.
        assert_eq!(judge(None, t0, ms(5)), (false, (t0, ms(5))));
        // Too soon to judge: the window goes on.
        assert!(!judge(Some((t0, ms(5))), t0 + ms(100), ms(5)).0);
        // 250 ms with 10 ms of CPU: starved. With 100 ms: working.
        assert!(judge(Some((t0, ms(5))), t0 + ms(250), ms(15)).0);
        assert!(!judge(Some((t0, ms(5))), t0 + ms(250), ms(105)).0);
        // A look from long ago (the model ran meanwhile) starts over instead.
        let (starved, kept) = judge(Some((t0, ms(5))), t0 + ms(900), ms(5));
        assert!(!starved);
        assert_eq!(kept, (t0 + ms(900), ms(5)));
    }

    #[test]
    fn a_stalled_worker_loses_its_job_and_a_finished_one_keeps_it() {
        let inflight = Arc::new(InFlight::<&str, u32>::default());
        let finished = inflight.register("finished");
        let stalled = inflight.register("stalled");
        // One worker finishes and hands over (its thread then ends); one stalls for good.
        let done = {
            let (inflight, t) = (Arc::clone(&inflight), Arc::clone(&finished));
            std::thread::spawn(move || {
                assert!(inflight.begin(&t));
                assert!(inflight.finish(&t, 7));
            })
        };
        done.join().unwrap();
        let (inflight2, t) = (Arc::clone(&inflight), Arc::clone(&stalled));
        let _sleeper = std::thread::spawn(move || {
            assert!(inflight2.begin(&t));
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        });
        while stalled.state.load(Ordering::Acquire) != STARTED {
            std::thread::sleep(Duration::from_millis(1));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let taken = loop {
            match inflight.take_back() {
                Some(TakenBack::Work(t)) => break t,
                // The finished worker's thread is gone before the hand-over was accepted:
                // its stored result comes back, once.
                Some(TakenBack::Result(r)) => assert_eq!(r, 7),
                None => {}
            }
            assert!(
                Instant::now() < deadline,
                "the stalled job was never taken back"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(taken.work, "stalled");
        assert_eq!(
            inflight.accept(&finished),
            None,
            "its result was used already"
        );
    }

    #[test]
    fn racing_workers_and_take_backs_use_each_result_once() {
        let inflight = Arc::new(InFlight::<u32, u32>::default());
        let tickets: Vec<_> = (0..2000).map(|i| inflight.register(i)).collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let used = Arc::new(Mutex::new(Vec::new()));
        let worker = {
            let (inflight, tickets, tx) = (Arc::clone(&inflight), tickets.clone(), tx.clone());
            std::thread::spawn(move || {
                for t in tickets {
                    if inflight.begin(&t) && inflight.finish(&t, t.work) {
                        let _ = tx.send(t);
                    }
                }
            })
        };
        drop(tx);
        let consumer = {
            let (inflight, used) = (Arc::clone(&inflight), Arc::clone(&used));
            std::thread::spawn(move || {
                for t in rx {
                    if let Some(r) = inflight.accept(&t) {
                        used.lock().unwrap().push(r);
                    }
                }
            })
        };
        // Meanwhile, take back whatever can be.
        let mut mine = Vec::new();
        while !worker.is_finished() {
            match inflight.take_back() {
                Some(TakenBack::Work(t)) => mine.push(t.work),
                Some(TakenBack::Result(r)) => mine.push(r),
                None => {}
            }
        }
        worker.join().unwrap();
        consumer.join().unwrap();
        let mut all = used.lock().unwrap().clone();
        all.extend(mine);
        all.sort_unstable();
        assert_eq!(all, (0..2000).collect::<Vec<_>>());
    }
}
