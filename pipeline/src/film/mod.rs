//! `ddcolor film`: builds and runs the GStreamer pipeline that colorizes a film file or a scanned
//! image sequence with the `ddcolorize` element, keeping every frame, timestamp and the sound.
//!
//! ```text
//! filesrc ! parsebin ─ video ─ decodebin ! queue ! videoconvert ! RGB ! ddcolorize ! RGB ! identity ! tee ─ queue ! [videobox] ! videoconvert ! encoder ! parser ! mux ! filesink (temporary name)
//!                   └ others ─ fakesink                                  (frame lengths fixed there, `timing`; --frames: a probe before it hands frames to a PNG writer thread)
//! filesrc ! parsebin ─ audio ─ queue (1 s) ! mux       (copied untouched when the container takes it)
//!                   │        └ queue ! decodebin ! audioconvert ! audioresample ! encoder ! mux   (otherwise, with a note)
//!                   └ others ─ fakesink
//! ```
//! The file is read twice, for picture and sound (`streams` says why).
//! The queues put decoding, inference and encoding on their own threads, so the model never
//! waits for the others. The result is written under a temporary name and renamed at the end,
//! so a failed run leaves nothing under the final name; Ctrl-C sends end-of-stream instead, so
//! what was done so far is a playable file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ddcolor_engine::io::{WriteOptions, read_photo, write_photo};
use ddcolor_engine::mark::draw_mark_u8;
use ddcolor_engine::provenance::Provenance;
use ddcolor_engine::{Photo, Samples};
use gst::prelude::*;
use gst_video::prelude::*;

use crate::error_watch;
use crate::events::Events;
use crate::progress::{bar_style, progress_bar};

mod checks;
mod containers;
mod errors;
mod graph;
mod report;
mod sequence;
mod streams;
mod timing;

use checks::*;
use containers::*;
use errors::*;
use graph::*;
use report::*;
use sequence::*;
use streams::*;
use timing::*;

pub use sequence::sequence_files;

/// What `ddcolor film` was asked to do.
pub struct FilmJob {
    pub input: PathBuf,
    pub output: PathBuf,
    pub model: PathBuf,
    pub input_size: Option<usize>,
    /// `None`: the workflow's, else the element's default.
    pub upsample: Option<ddcolor_engine::Upsample>,
    pub device: ddcolor_engine::device::Device,
    pub gpu: ddcolor_engine::device::GpuOptions,
    pub threads: Option<usize>,
    pub batch_size: u32,
    pub lossless: bool,
    pub fps: Option<gst::Fraction>,
    pub frames_dir: Option<PathBuf>,
    pub max_pixels: u64,
    pub overwrite: bool,
    /// `--accept-truncated`: an input shorter than its container claims is not a failure.
    pub accept_truncated: bool,
    pub temporal: ddcolor_engine::temporal::TemporalSettings,
    /// The element's `workflow` (preset name or JSON file) and `style` properties.
    pub workflow: Option<String>,
    pub style: Option<&'static str>,
    /// Recorded in the container's tags and in the `--frames` PNGs; `None` with `--no-metadata`.
    pub provenance: Option<Provenance>,
    /// Draw the visible "COLORIZED" mark on every frame (`--mark`).
    pub mark: bool,
}

/// Temporary name beside the final output: hidden, removed on failure, renamed on success
/// (see `ddcolor_engine::io::temp_file_beside`).
fn temp_output(output: &Path) -> Result<tempfile::NamedTempFile> {
    // Kept open until the end: its lock tells a run beside this one that the file is in use.
    ddcolor_engine::io::temp_file_beside(output)
        .with_context(|| format!("{}: cannot write here", output.display()))
}

/// Name of the `parsebin` that splits the input file into streams (the video's reader).
const DEMUX: &str = "demux";
/// Names of the elements that write the output: their errors are about the output.
const OUTPUT_MUX: &str = "output-mux";
const OUTPUT_FILE: &str = "output-file";

/// What the pipeline run ended with.
struct Outcome {
    frames: u64,
    interrupted: bool,
    elapsed: Duration,
    /// Frames per second from the first colour frame to the last.
    steady_fps: Option<f64>,
    /// `(reached, claimed)` seconds when the input ended well before its container's duration.
    shortfall: Option<(f64, f64)>,
}

/// `ddcolor film`: the engine's plan asked first, so a bad workflow or model fails before the
/// pipeline is built (the element asks the same plan and loads the model); then the film.
pub(crate) fn command(args: crate::args::FilmArgs) -> Result<std::process::ExitCode> {
    let events = Events::from_arg(args.events.events.as_deref())?;
    let choice = crate::photos::plan_request(&args.model, &args.look).choose()?;
    let chosen = choice.require_model("a film")?;
    crate::photos::say_model(chosen);
    let temporal = args.temporal.settings();
    let provenance = crate::provenance::film_provenance(&args.output_args, &choice, &temporal)?;
    let status = run(
        &FilmJob {
            input: args.input,
            output: args.output,
            model: chosen.path.clone(),
            input_size: args.model.input_size,
            upsample: args.model.upsample,
            device: args.model.device,
            gpu: args.model.gpu(),
            threads: args.model.threads,
            batch_size: args.batch_size,
            lossless: args.lossless,
            fps: args.fps,
            frames_dir: args.frames,
            max_pixels: args.max_pixels,
            overwrite: args.overwrite,
            accept_truncated: args.accept_truncated,
            temporal,
            workflow: args.look.workflow.clone(),
            style: args.look.style.map(|s| s.name()),
            provenance: provenance.map(Arc::unwrap_or_clone),
            mark: args.output_args.mark,
        },
        &events,
    )?;
    Ok(std::process::ExitCode::from(status))
}

/// Runs the film; the exit status: 0 when the whole input was colorized (or a truncated one
/// was accepted), [`crate::signals::EXIT_INTERRUPTED`] when an interrupt stopped it early (the
/// frames done so far are written). With `events`, the film's start, progress and end are told
/// there too (nothing is, when it fails before it starts).
pub fn run(job: &FilmJob, events: &Events) -> Result<u8> {
    // First: from here on an interrupt (Ctrl-C, SIGTERM, SIGHUP) is counted, not fatal, so the
    // temporary file made below is always removed or renamed.
    // The main loop stops the film on a second interrupt; the hard stop is for the start-up
    // (the model loads inside the pipeline's start), when nothing looks at the count.
    crate::signals::watch_with_hard_stop(Duration::from_secs(3));
    let ready = set_up(job)?;
    let report = Report::start(events, job, ready.sequence.as_deref());
    let finished = colorize(job, ready, &report);
    report.end(job, &finished);
    Ok(if finished?.interrupted {
        crate::signals::EXIT_INTERRUPTED
    } else {
        0
    })
}

/// A film ready to go: its checks passed, its temporary output made.
struct Ready {
    container: Container,
    /// The frames of an image sequence.
    sequence: Option<Vec<PathBuf>>,
    temp: tempfile::NamedTempFile,
}

/// What a finished run wrote.
struct Finished {
    frames: u64,
    /// The film, or its part beside a finished one after an interrupt.
    output: PathBuf,
    interrupted: bool,
}

/// Everything that can be refused before the film starts: options, input, output, free space.
fn set_up(job: &FilmJob) -> Result<Ready> {
    let container = Container::of(&job.output)?;
    if job.lossless && container != Container::Mkv {
        bail!(
            "{}: --lossless needs an .mkv output (FFV1 in Matroska)",
            job.output.display()
        );
    }
    check_input_kind(&job.input)?;
    if same_path(&job.input, &job.output) {
        bail!(
            "{}: the output would overwrite the input",
            job.output.display()
        );
    }
    if job.output.exists() && !job.overwrite {
        bail!(
            "{}: already exists (use --overwrite to replace it)",
            job.output.display()
        );
    }
    let sequence = if job.input.is_dir() {
        Some(sequence_files(&job.input)?)
    } else {
        None
    };
    if sequence.is_some() && job.fps.is_none() {
        bail!(
            "{}: an image sequence needs --fps (e.g. --fps 24 or --fps 24000/1001)",
            job.input.display()
        );
    }
    if let Some(dir) = &job.frames_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the frames folder", dir.display()))?;
    }

    let out_dir = match job.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let swept = ddcolor_engine::io::sweep_stale(&out_dir);
    if !swept.is_empty() {
        eprintln!(
            "note: removed {} temporary file{} that earlier, killed runs left in {}",
            swept.len(),
            if swept.len() == 1 { "" } else { "s" },
            out_dir.display()
        );
    }

    if crate::signals::interrupted() {
        return Err(crate::signals::Interrupted(format!(
            "{}: interrupted before the film started; nothing written",
            job.output.display()
        ))
        .into());
    }
    gst::init().context("GStreamer could not be initialised")?;
    gstddcolor::register_static().context("the ddcolorize element could not be registered")?;
    error_watch::start();
    // After the temporary file: a folder that cannot be written says so first.
    let temp = temp_output(&job.output)?;
    check_free_space(job, sequence.as_deref(), &out_dir)?;

    Ok(Ready {
        container,
        sequence,
        temp,
    })
}

/// The film through the pipeline, moved into place and reported on stderr.
fn colorize(job: &FilmJob, ready: Ready, report: &Report) -> Result<Finished> {
    let Ready {
        container,
        sequence,
        temp,
    } = ready;
    let (outcome, provenance) = match &sequence {
        Some(files) => run_pipeline(job, container, temp.path(), Source::Sequence(files), report),
        None => run_pipeline(
            job,
            container,
            temp.path(),
            Source::File(&job.input),
            report,
        ),
    }?;
    if let Some(p) = &provenance
        && matches!(container, Container::Mkv | Container::Webm)
    {
        unescape_matroska_tags(temp.path(), &[&p.summary(), &p.tool])?;
    }
    // A truncated input is noticed after a complete run only (an interrupted one stops short
    // by design) and only for files (a sequence has no claimed length).
    let truncated = if outcome.interrupted || sequence.is_some() {
        None
    } else {
        outcome.shortfall
    };
    // An interrupted run never replaces a finished film (`--overwrite` of an earlier result):
    // its part goes beside it, as NAME.partial.EXT.
    let output = if outcome.interrupted && job.output.exists() {
        partial_name(&job.output)
    } else {
        job.output.clone()
    };
    ddcolor_engine::io::persist_synced(temp.path(), &output)
        .with_context(|| format!("{}: could not move the result into place", output.display()))?;
    // Renamed: nothing is left under the temporary name to remove.
    let _ = temp.keep();
    let fps = outcome.frames as f64 / outcome.elapsed.as_secs_f64().max(1e-9);
    if let Some(dir) = &job.frames_dir {
        eprintln!("frames: {}", dir.display());
    }
    let finished = Finished {
        frames: outcome.frames,
        output,
        interrupted: outcome.interrupted,
    };
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} holds the {} frames done so far (a playable file); the film is not finished",
            finished.output.display(),
            outcome.frames
        );
        return Ok(finished);
    }
    if let Some((reached, claimed)) = truncated {
        let what = format!(
            "{}: the film ends at {reached:.2} s, but its container says it lasts {claimed:.2} s (a truncated file?)",
            job.input.display()
        );
        if !job.accept_truncated {
            bail!(
                "{what}; its {} frames are in {} (--accept-truncated makes this a warning)",
                outcome.frames,
                job.output.display()
            );
        }
        eprintln!("warning: {what}");
        report.note(format!("warning: {what}"));
    }
    eprintln!(
        "done: {} frames in {:.1} s ({fps:.2} frames/s{}) -> {}",
        outcome.frames,
        outcome.elapsed.as_secs_f64(),
        outcome
            .steady_fps
            .map(|f| format!(", {f:.3} after start-up"))
            .unwrap_or_default(),
        job.output.display()
    );
    Ok(finished)
}

/// `NAME.partial.EXT` beside `output`.
fn partial_name(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = output
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    output.with_file_name(format!("{stem}.partial{ext}"))
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

enum Source<'a> {
    File(&'a Path),
    Sequence(&'a [PathBuf]),
}

/// Shared between the pad-added handler and the main loop.
struct Shared {
    failure: std::sync::Mutex<Option<String>>,
    video_linked: AtomicBool,
    /// What the film records about how it was made, brought up to date when the colorizer
    /// says which S runs (at start, and after a step-down).
    provenance: std::sync::Mutex<Option<Provenance>>,
    timing: Arc<Timing>,
}

impl Shared {
    fn provenance(&self) -> Option<Provenance> {
        self.provenance
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fail(&self, msg: String) {
        let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(msg);
        }
    }
}
