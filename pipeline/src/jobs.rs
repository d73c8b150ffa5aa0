//! The photo pipeline shared by `ddcolor photo` and `ddcolor batch`: decode and pre-processing on
//! worker threads, the model on one thread, post-processing and encoding on worker threads, the
//! files written by one more, joined by bounded crossbeam channels, so the model never waits for
//! the disk or the colour maths. The workers run at idle priority when the CPU is otherwise free,
//! so they do not slow the model down either (see [`crate::idle`]).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, SendTimeoutError, bounded, unbounded};
use ddcolor_engine::io::{
    OutputFormat, WriteOptions, chroma_is_coarse, encode_photo, read_photo, write_encoded,
};
use ddcolor_engine::plan::{SizeRule, Sizes};
use ddcolor_engine::workflow::Workflow;
use ddcolor_engine::{EngineError, LabImage, Model, Photo, Upsample, model_input, recombine};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::events::{Event, Events, ItemState};
use crate::idle::{self, InFlight, Patience, TakenBack, Ticket};
use crate::output_folder::OutputFolder;

/// One photo to colorize.
#[derive(Clone, Debug)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub max_pixels: u64,
    pub upsample: Upsample,
    /// Post-processing after the model (and whether there is a model at all).
    pub workflow: Option<Arc<Workflow>>,
    /// S per photo and the out-of-memory step-down, as the engine's plan decided them.
    pub sizes: Arc<Sizes>,
    pub write: WriteOptions,
    /// Reading threads, and as many encoding threads (at idle priority when the CPU is free).
    pub workers: usize,
    /// Largest photos first (a batch), rather than in the given order (`photo`, whose listing
    /// may still come out of order when work is taken back).
    pub largest_first: bool,
    /// Print "input -> output" for each photo written.
    pub list_outputs: bool,
    /// `--events`: each photo's progress, for a program running the batch.
    pub events: Events,
    /// The folder the events name photos from (`rel`): the batch's input folder.
    pub events_root: PathBuf,
}

impl Settings {
    /// The `item` event that says how `job` ended.
    fn send_item(&self, job: &Job, state: ItemState) {
        self.events
            .send(&Event::item(&self.events_root, job, state));
    }
}

/// What became of the photos of one run.
#[derive(Debug, Default)]
pub struct Summary {
    pub done: usize,
    pub skipped: usize,
    pub failed: Vec<String>,
    pub elapsed: Duration,
    /// Time the model spent running, to compare with the wall time.
    pub model_time: Duration,
    /// Photos left undone because a signal (Ctrl-C, SIGTERM) stopped the run.
    pub interrupted: usize,
}

struct Prepared {
    job: Job,
    photo: Photo,
    /// Empty when the workflow has no model step.
    input: Vec<f32>,
    size: usize,
}

/// Why a photo has no result.
struct Failure {
    job: Job,
    /// One line naming the file, as the summary lists it.
    message: String,
}

impl Failure {
    fn new(job: &Job, message: String) -> Self {
        Self {
            job: job.clone(),
            message,
        }
    }

    /// The message without the path it starts with (the photo's input or output), for the
    /// events, which name the photo apart.
    fn reason(&self) -> &str {
        [&self.job.input, &self.job.output]
            .iter()
            .find_map(|p| {
                self.message
                    .strip_prefix(&*p.to_string_lossy())
                    .and_then(|rest| rest.strip_prefix(": "))
            })
            .unwrap_or(&self.message)
    }
}

struct Colored {
    job: Job,
    photo: Photo,
    /// Empty when the workflow has no model step.
    ab: Vec<f32>,
    size: usize,
}

/// A reader's job: a photo to read, and what reading it gave.
type ReadTicket = Ticket<Job, Result<Prepared, Failure>>;
/// An encoder's job: a colorized photo to encode, and its outcome.
type EncodeTicket = Ticket<Colored, Outcome>;

/// What reaches the writer for each photo: its encoded file, or why there is none.
enum Outcome {
    /// `size`: the model input size the photo got (0 without a model step).
    Encoded {
        job: Job,
        bytes: Vec<u8>,
        size: usize,
    },
    Failed(Failure),
    /// A photo a reading thread lost, which cannot happen (readers catch their panics): a
    /// failure no photo can be named for.
    Lost(String),
}

/// An outcome on its way to the writer.
enum Delivery {
    /// From an encoder: the writer accepts the ticket's outcome, unless the model's thread
    /// took the job back (or used the outcome already).
    Encoder(Arc<EncodeTicket>),
    /// From the model's thread.
    Direct(Outcome),
}

fn progress_bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} photos, {per_sec}, ETA {eta}  {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// What the readers, the model's thread, the encoders and the writer share.
struct Shared {
    settings: Settings,
    reading: InFlight<Job, Result<Prepared, Failure>>,
    encoding: InFlight<Colored, Outcome>,
    /// Outcomes the writer has taken so far; the run ends when every photo has one.
    accepted: AtomicUsize,
    /// Outcomes the writer waits for: every photo, or those the model had passed when a
    /// signal stopped the run.
    expected: AtomicUsize,
    /// Workers at idle priority: unless other programs were busy when the run started.
    idle_priority: bool,
}

/// Runs `jobs` through `model` (`None`: a workflow of post-processing only). Failures are
/// collected per photo; one bad file never stops the rest.
///
/// Reading (decode, pre-processing) and encoding run on worker threads, at idle priority when
/// other programs left the CPU free (see [`crate::idle`]); the model runs here and takes their
/// work back whenever it would wait for them. Files are written by a normal-priority thread, so a starved worker never holds one
/// half-written. Workers still stuck in a job when the run ends are left behind (their results
/// are dropped); they end with the process.
///
/// A signal (Ctrl-C, SIGTERM) stops it between photos: the photos past the model are still
/// written, the rest are counted in [`Summary::interrupted`]. With a batch's output `folder`,
/// each result is recorded there once it is in place.
pub fn run(
    mut model: Option<&mut Model>,
    jobs: Vec<Job>,
    settings: &Settings,
    already_skipped: usize,
    folder: Option<&OutputFolder>,
) -> Summary {
    let start = Instant::now();
    let total = jobs.len();
    let workers = settings.workers.max(1);
    let pb = progress_bar(total as u64);
    // Built here, at normal priority: a starved worker building them would hold up every
    // thread that needs them.
    ddcolor_engine::build_tables();
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        reading: InFlight::default(),
        encoding: InFlight::default(),
        accepted: AtomicUsize::new(0),
        expected: AtomicUsize::new(total),
        idle_priority: idle::cpu_is_free(),
    });

    let jobs = if settings.largest_first {
        processing_order(jobs)
    } else {
        jobs
    };
    let (job_tx, job_rx) = unbounded::<Arc<ReadTicket>>();
    for j in jobs {
        // The receiver lives until the end of this function.
        let _ = job_tx.send(shared.reading.register(j));
    }
    drop(job_tx);
    // Small bounds: enough to keep the model fed, little memory held in flight.
    let (prep_tx, prep_rx) = bounded::<Arc<ReadTicket>>(2);
    let (col_tx, col_rx) = bounded::<Arc<EncodeTicket>>(2);
    let (out_tx, out_rx) = bounded::<Delivery>(2 * workers + 2);

    let pool = idle::worker_pool(workers, shared.idle_priority);
    for _ in 0..workers {
        let (job_rx, prep_tx, sh) = (job_rx.clone(), prep_tx.clone(), Arc::clone(&shared));
        std::thread::spawn(move || {
            let read = |job: &Job| prepare(job, &sh);
            idle::serve(&job_rx, &sh.reading, sh.idle_priority, read, |t| {
                prep_tx.send(t).is_ok()
            })
        });
        // On a thread of the encoders' pool (see `idle::worker_pool`): the parallel parts of
        // `encode` run in that pool, at its priority.
        let (col_rx, out_tx, sh) = (col_rx.clone(), out_tx.clone(), Arc::clone(&shared));
        let encoder = move || {
            let work = |c: &Colored| encode(c, &sh.settings);
            idle::serve(&col_rx, &sh.encoding, sh.idle_priority, work, |t| {
                out_tx.send(Delivery::Encoder(t)).is_ok()
            })
        };
        match &pool {
            Some(pool) => pool.spawn(encoder),
            None => drop(std::thread::spawn(encoder)),
        }
    }
    drop((prep_tx, col_rx));

    let mut summary = Summary {
        skipped: already_skipped,
        ..Summary::default()
    };
    std::thread::scope(|s| {
        // The writer owns the receiver: if it died, sending fails instead of blocking.
        let writer = {
            let (shared, pb) = (Arc::clone(&shared), pb.clone());
            s.spawn(move || write_outcomes(&out_rx, &shared, &pb, folder))
        };
        let deliver = |outcome: Outcome| {
            // The writer takes every outcome until it has `total` of them.
            let _ = out_tx.send(Delivery::Direct(outcome));
        };

        // The model runs here, on the calling thread.
        let mut ab = Vec::new();
        let mut model_time = Duration::ZERO;
        let batch = model.as_ref().and_then(|m| m.max_batch()).unwrap_or(1);
        let (mut read_patience, mut encode_patience) = (Patience::default(), Patience::default());
        for i in 0..total {
            if crate::signals::interrupted() {
                // What the model has passed is written; what it has not is left for a rerun.
                shared.expected.store(i, Ordering::Release);
                summary.interrupted = total - i;
                break;
            }
            let Some(next) = next_prepared(&prep_rx, &shared, &mut read_patience) else {
                // Cannot happen (readers catch their panics); never wait forever if it does.
                for _ in i..total {
                    deliver(Outcome::Lost("a photo was lost by a reading thread".into()));
                }
                break;
            };
            let mut p = match next {
                Ok(p) => p,
                Err(failure) => {
                    deliver(Outcome::Failed(failure));
                    continue;
                }
            };
            let events = &shared.settings.events;
            events.send(&Event::Current {
                rel: crate::events::rel(&shared.settings.events_root, &p.job.input),
            });
            let t = Instant::now();
            let result = match model.as_deref_mut() {
                Some(model) if !p.input.is_empty() => colorize(
                    model,
                    &mut p,
                    batch,
                    &shared.settings.sizes,
                    &pb,
                    events,
                    &mut ab,
                ),
                // A workflow without a model step.
                _ => {
                    ab.clear();
                    Ok(())
                }
            };
            model_time += t.elapsed();
            match result {
                Ok(()) => {
                    let ticket = shared.encoding.register(Colored {
                        job: p.job,
                        photo: p.photo,
                        ab: std::mem::take(&mut ab),
                        size: p.size,
                    });
                    match col_tx.send_timeout(Arc::clone(&ticket), encode_patience.wait()) {
                        Ok(()) => encode_patience.kept(),
                        // Encoders starved or behind: encode it here rather than wait.
                        Err(SendTimeoutError::Timeout(_) | SendTimeoutError::Disconnected(_)) => {
                            encode_patience.ran_out();
                            if shared.encoding.withdraw(&ticket) {
                                deliver(encode(&ticket.work, settings));
                            }
                        }
                    }
                }
                Err(e) => {
                    let message = format!("{}: {e}", p.job.input.display());
                    deliver(Outcome::Failed(Failure::new(&p.job, message)));
                }
            }
        }
        drop(col_tx);
        // Encodings still queued or held by starved encoders: do them here.
        while shared.accepted.load(Ordering::Acquire) < shared.expected.load(Ordering::Acquire)
            && !writer.is_finished()
        {
            match shared.encoding.take_back() {
                Some(TakenBack::Work(t)) => deliver(encode(&t.work, settings)),
                Some(TakenBack::Result(outcome)) => deliver(outcome),
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        drop(out_tx);
        summary.model_time = model_time;
        match writer.join() {
            Ok((done, failed)) => {
                summary.done = done;
                summary.failed = failed;
            }
            Err(_) => summary
                .failed
                .push("internal error: the thread writing the results stopped".into()),
        }
    });
    pb.finish_and_clear();
    if idle::stalling_for_tests() {
        eprintln!(
            "test: {} read and {} encoded on the model's thread",
            shared.reading.taken_back(),
            shared.encoding.taken_back()
        );
    }
    summary.failed.sort();
    summary.elapsed = start.elapsed();
    summary
}

/// The order the photos go through the model: the smallest file first, so that the model
/// starts at once, then the rest largest first, so that the big scans' reading and encoding
/// is spread over the run instead of following the last model call (on 2 cores, the 18 MP
/// scan among the historical photos, last but four in name order, added about half a second
/// after the model had finished).
fn processing_order(jobs: Vec<Job>) -> Vec<Job> {
    let mut sized: Vec<(u64, Job)> = jobs
        .into_iter()
        .map(|j| (std::fs::metadata(&j.input).map_or(0, |m| m.len()), j))
        .collect();
    sized.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    if let Some(smallest) = sized.pop() {
        sized.insert(0, smallest);
    }
    sized.into_iter().map(|(_, j)| j).collect()
}

/// The next photo ready for the model: from the readers, or read here when none is ready in
/// time. `None` only if every reader died and nothing is left to read.
fn next_prepared(
    prep_rx: &Receiver<Arc<ReadTicket>>,
    shared: &Shared,
    patience: &mut Patience,
) -> Option<Result<Prepared, Failure>> {
    loop {
        let readers_gone = match prep_rx.recv_timeout(patience.wait()) {
            Ok(ticket) => {
                patience.kept();
                // Else taken back and done here already: drop the late copy.
                if let Some(prepared) = shared.reading.accept(&ticket) {
                    return Some(prepared);
                }
                continue;
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        patience.ran_out();
        match shared.reading.take_back() {
            Some(TakenBack::Work(t)) => return Some(prepare(&t.work, shared)),
            Some(TakenBack::Result(prepared)) => return Some(prepared),
            None => {}
        }
        if readers_gone && shared.reading.is_empty() {
            return None;
        }
        if readers_gone {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// One photo through the model, stepping S down as the plan says after running out of memory
/// (said on stderr, above the progress bar, and in the events).
fn colorize(
    model: &mut Model,
    p: &mut Prepared,
    batch: usize,
    sizes: &Sizes,
    pb: &ProgressBar,
    events: &Events,
    ab: &mut Vec<f32>,
) -> ddcolor_engine::Result<()> {
    loop {
        // An earlier photo ran out of memory: this one is made no larger.
        let cap = sizes.cap();
        if p.size > cap {
            p.size = cap;
            p.input.resize(3 * cap * cap, 0.0);
            model_input(&p.photo, cap, &mut p.input);
        }
        let run = model
            .set_input_size(p.size)
            .and_then(|()| run_model(model, &p.input, batch, p.size, ab));
        match run {
            // Out of (GPU) memory at this S: step down and say so once.
            Err(e @ EngineError::OutOfMemory(_)) => match sizes.step_down(p.size) {
                Some(smaller) => {
                    let text = format!(
                        "out of memory at input size {}: continuing at {smaller}",
                        p.size
                    );
                    pb.suspend(|| eprintln!("note: {text}"));
                    events.note(text);
                    events.send(&Event::Stepdown {
                        from: p.size,
                        to: smaller,
                    });
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// One photo through the model; a fixed-batch export gets the batch filled with copies and
/// the first result kept.
fn run_model(
    model: &mut Model,
    input: &[f32],
    batch: usize,
    size: usize,
    ab: &mut Vec<f32>,
) -> ddcolor_engine::Result<()> {
    if batch == 1 {
        model.run(input, 1, ab)
    } else {
        let padded: Vec<f32> = input
            .iter()
            .copied()
            .cycle()
            .take(input.len() * batch)
            .collect();
        model
            .run(&padded, batch, ab)
            .map(|_| ab.truncate(2 * size * size))
    }
}

/// Decode and pre-processing of one photo. A decoder that panics on a malformed file fails
/// that photo, not the batch.
fn prepare(job: &Job, shared: &Shared) -> Result<Prepared, Failure> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        prepare_unguarded(job, shared)
    }))
    .unwrap_or_else(|_| {
        let message = format!("{}: could not be read (decoder error)", job.input.display());
        Err(Failure::new(job, message))
    })
}

fn prepare_unguarded(job: &Job, shared: &Shared) -> Result<Prepared, Failure> {
    let settings = &shared.settings;
    let photo = read_photo(&job.input, settings.max_pixels)
        .map_err(|e| Failure::new(job, e.to_string()))?;
    let colorize = settings
        .workflow
        .as_ref()
        .is_none_or(|w| w.colorize.is_some());
    let (input, size) = if colorize {
        let size = settings.sizes.for_picture(photo.width, photo.height);
        let mut input = vec![0f32; 3 * size * size];
        model_input(&photo, size, &mut input);
        (input, size)
    } else {
        (Vec::new(), 0)
    };
    Ok(Prepared {
        job: job.clone(),
        photo,
        input,
        size,
    })
}

/// The colour photo: the recipe's recombination, or the workflow's steps after it.
fn finish(item: &Colored, settings: &Settings) -> Photo {
    let Some(workflow) = &settings.workflow else {
        return recombine(&item.photo, &item.ab, item.size, settings.upsample);
    };
    let mut lab = if item.ab.is_empty() {
        LabImage::from_photo(&item.photo)
    } else {
        LabImage::from_recipe(&item.photo, &item.ab, item.size, settings.upsample)
    };
    workflow.apply(&mut lab, 0);
    lab.to_photo()
}

/// The colour photo, encoded for its output file (written later, by the writer).
fn encode(item: &Colored, settings: &Settings) -> Outcome {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encode_unguarded(item, settings)
    }))
    .unwrap_or_else(|_| {
        let message = format!(
            "{}: could not be encoded (encoder error)",
            item.job.output.display()
        );
        Outcome::Failed(Failure::new(&item.job, message))
    })
}

fn encode_unguarded(item: &Colored, settings: &Settings) -> Outcome {
    let color = finish(item, settings);
    // The provenance names this photo's input as the source, and the S it got when each
    // photo picks its own.
    let mut write = settings.write.for_input(&item.job.input);
    // The plain recipe's chroma is the model's S x S scaled up: 4:2:0 JPEG keeps all of it.
    // Not with the visible mark: its crisp text would get colour fringes.
    write.jpeg_half_chroma = settings.workflow.is_none()
        && !write.mark
        && chroma_is_coarse(
            item.photo.width,
            item.photo.height,
            item.size,
            settings.upsample == Upsample::EdgeAware,
        );
    let jpeg = matches!(
        OutputFormat::from_path(&item.job.output),
        Ok(OutputFormat::Jpeg)
    );
    let recorded_size = item.size.to_string();
    let size_differs = write.provenance.as_ref().is_some_and(|p| {
        p.settings
            .iter()
            .any(|(k, v)| k == "input_size" && *v != recorded_size)
    });
    if let Some(p) = write.provenance.as_mut()
        && (size_differs || !jpeg)
    {
        let p = std::sync::Arc::make_mut(p);
        // The JPEG quality says nothing about a PNG, TIFF or WebP result.
        if !jpeg {
            p.settings.retain(|(k, _)| k != "jpeg_quality");
        }
        // The S this photo got: chosen per photo (auto), or stepped down after running out
        // of memory.
        if size_differs {
            for (k, v) in &mut p.settings {
                if k == "input_size" {
                    *v = if settings.sizes.rule() == SizeRule::Auto {
                        format!("{} (auto)", item.size)
                    } else {
                        recorded_size.clone()
                    };
                }
            }
        }
    }
    match encode_photo(&color, &item.job.output, write) {
        Ok(bytes) => Outcome::Encoded {
            job: item.job.clone(),
            bytes,
            size: item.size,
        },
        Err(e) => Outcome::Failed(Failure::new(&item.job, e.to_string())),
    }
}

/// Writes the encoded photos as they come (normal priority: a file is never left half-written
/// by a starved thread), reports each one (and sends its `item` event once its result is in
/// place or it has failed), and returns how many were written and the failures once every
/// photo has an outcome.
fn write_outcomes(
    deliveries: &Receiver<Delivery>,
    shared: &Shared,
    pb: &ProgressBar,
    folder: Option<&OutputFolder>,
) -> (usize, Vec<String>) {
    let mut done = 0;
    let mut failed = Vec::new();
    let all_in =
        || shared.accepted.load(Ordering::Acquire) >= shared.expected.load(Ordering::Acquire);
    while !all_in() {
        // Not a plain `recv`: a signal may lower what is expected while nothing comes.
        let delivery = match deliveries.recv_timeout(Duration::from_millis(100)) {
            Ok(d) => d,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let outcome = match delivery {
            Delivery::Direct(outcome) => outcome,
            Delivery::Encoder(t) => match shared.encoding.accept(&t) {
                Some(outcome) => outcome,
                // An encoder's late copy of a photo the model's thread encoded itself.
                None => continue,
            },
        };
        match outcome {
            Outcome::Encoded { job, bytes, size } => match write_one(&job, &bytes) {
                Ok(()) => {
                    done += 1;
                    report_written(&job, size, shared, pb, folder);
                }
                Err(message) => failed.push(report_failure(Failure { job, message }, shared, pb)),
            },
            Outcome::Failed(failure) => failed.push(report_failure(failure, shared, pb)),
            Outcome::Lost(message) => {
                report_error(&message, pb);
                failed.push(message);
            }
        }
        pb.inc(1);
        shared.accepted.fetch_add(1, Ordering::AcqRel);
    }
    (done, failed)
}

/// A result in place: recorded in the batch's folder, listed (`photo`), its event sent.
fn report_written(
    job: &Job,
    size: usize,
    shared: &Shared,
    pb: &ProgressBar,
    folder: Option<&OutputFolder>,
) {
    if let Some(folder) = folder {
        folder.record(job);
    }
    let size = (size > 0).then_some(size);
    shared.settings.send_item(job, ItemState::Done { size });
    if shared.settings.list_outputs {
        // Not `println!`: a closed pipe (`| head`) must not stop the writing.
        pb.suspend(|| {
            let _ = writeln!(
                std::io::stdout().lock(),
                "{} -> {}",
                job.input.display(),
                job.output.display()
            );
        });
    }
    pb.set_message(
        job.input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
}

/// A photo without a result: said on stderr and in its event; the message for the summary.
fn report_failure(failure: Failure, shared: &Shared, pb: &ProgressBar) -> String {
    report_error(&failure.message, pb);
    let error = failure.reason().to_string();
    shared
        .settings
        .send_item(&failure.job, ItemState::Failed { error });
    failure.message
}

fn report_error(message: &str, pb: &ProgressBar) {
    pb.suspend(|| {
        let _ = writeln!(std::io::stderr().lock(), "error: {message}");
    });
}

fn write_one(job: &Job, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = job.output.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create folder: {e}", dir.display()))?;
    }
    write_encoded(bytes, &job.output).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smallest_photo_first_then_largest_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        let jobs: Vec<Job> = [("a", 300), ("b", 10), ("c", 2000), ("d", 700)]
            .iter()
            .map(|(name, len)| {
                let input = dir.path().join(name);
                std::fs::write(&input, vec![0u8; *len]).expect("write");
                Job {
                    input,
                    output: dir.path().join(format!("{name}.png")),
                }
            })
            .collect();
        let order: Vec<String> = processing_order(jobs)
            .iter()
            .map(|j| j.input.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(order, ["b", "c", "d", "a"]);
    }

    #[test]
    fn a_failure_reason_leaves_out_the_path_it_starts_with() {
        let job = Job {
            input: PathBuf::from("in/a b.jpg"),
            output: PathBuf::from("out/a b.png"),
        };
        let reason = |message: &str| Failure::new(&job, message.into()).reason().to_string();
        assert_eq!(
            reason("in/a b.jpg: not a readable image: x"),
            "not a readable image: x"
        );
        assert_eq!(
            reason("out/a b.png: could not write image: full"),
            "could not write image: full"
        );
        // Another path (a folder that cannot be made) stays in.
        assert_eq!(
            reason("out: cannot create folder: denied"),
            "out: cannot create folder: denied"
        );
    }
}
