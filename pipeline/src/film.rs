//! `ddcolor film`: builds and runs the GStreamer pipeline that colorizes a film file or a scanned
//! image sequence with the `ddcolorize` element, keeping every frame, timestamp and the sound.
//!
//! ```text
//! filesrc ! parsebin ─ video ─ decodebin ! queue ! videoconvert ! RGB ! ddcolorize ! RGB ! tee ─ queue ! videoconvert ! encoder ! parser ! mux ! filesink (temporary name)
//!                   │                                          (--frames: a pad probe after the colorizer hands frames to a PNG writer thread)
//!                   └ audio ─ queue (unbounded) ! mux       (copied untouched when the container takes it)
//!                           └ decodebin ! audioconvert ! audioresample ! encoder ! mux   (otherwise, with a note)
//! ```
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
use crate::progress::{bar_style, progress_bar};

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
    pub temporal: ddcolor_engine::temporal::TemporalSettings,
    /// The element's `workflow` (preset name or JSON file) and `style` properties.
    pub workflow: Option<String>,
    pub style: Option<&'static str>,
    /// Recorded in the container's tags and in the `--frames` PNGs; `None` with `--no-metadata`.
    pub provenance: Option<Provenance>,
    /// Draw the visible "COLORIZED" mark on every frame (`--mark`).
    pub mark: bool,
}

/// The container and codecs an output name asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Container {
    Mp4,
    Mkv,
    Webm,
}

impl Container {
    fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("mp4") | Some("m4v") | Some("mov") => Ok(Self::Mp4),
            Some("mkv") => Ok(Self::Mkv),
            Some("webm") => Ok(Self::Webm),
            _ => bail!(
                "{}: unsupported output format (use .mp4, .mkv or .webm)",
                path.display()
            ),
        }
    }

    fn muxer(self, output: &Path) -> &'static str {
        match self {
            Self::Mp4
                if output
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("mov")) =>
            {
                "qtmux"
            }
            Self::Mp4 => "mp4mux",
            Self::Mkv => "matroskamux",
            Self::Webm => "webmmux",
        }
    }

    /// Audio encoder for streams the container cannot take as they are.
    fn audio_encoder(self) -> &'static str {
        match self {
            Self::Mp4 => "avenc_aac",
            Self::Mkv | Self::Webm => "opusenc",
        }
    }
}

/// The video encoder chain (after `videoconvert`), as `gst::parse::bin_from_description` text.
/// H.264's capsfilter is named `layout`: its chroma layout is set once the frame size is known.
fn video_encoder(container: Container, lossless: bool) -> Result<String> {
    Ok(match (container, lossless) {
        // FFV1 on BGRx keeps the element's RGB bit for bit: an archival master.
        (Container::Mkv, true) => "capsfilter caps=video/x-raw,format=BGRx ! avenc_ffv1 slicecrc=1".into(),
        (_, true) => bail!("--lossless needs an .mkv output (FFV1 in Matroska)"),
        (Container::Webm, false) => {
            "vp9enc deadline=1 cpu-used=5 row-mt=true end-usage=cq cq-level=20 threads=2 keyframe-max-dist=250".into()
        }
        (_, false) => "capsfilter name=layout ! x264enc pass=qual quantizer=18 speed-preset=medium ! h264parse".into(),
    })
}

fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .with_context(|| format!("GStreamer element '{factory}' is missing: run `make setup` (it installs the GStreamer plugins)"))
}

/// A queue bounded by buffer count only (0: unbounded), so frame size does not change how many
/// frames it holds.
fn queue(max_buffers: u32) -> Result<gst::Element> {
    Ok(gst::ElementFactory::make("queue")
        .property("max-size-buffers", max_buffers)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()?)
}

/// Sorted image files of a scanned sequence.
pub fn sequence_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            !hidden
                && p.is_file()
                && matches!(
                    ext.as_deref(),
                    Some("png" | "tif" | "tiff" | "jpg" | "jpeg")
                )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "{}: no .png, .tif or .jpg frames in this folder",
            dir.display()
        );
    }
    Ok(files)
}

/// A photo as raw video: the formats `ddcolorize` reads directly (grey+alpha drops its alpha).
fn photo_to_video(photo: Photo) -> (gst_video::VideoFormat, Vec<u8>) {
    use gst_video::VideoFormat as V;
    match (photo.samples, photo.channels) {
        (Samples::U8(v), 1) => (V::Gray8, v),
        (Samples::U8(v), 2) => (V::Gray8, v.chunks_exact(2).map(|p| p[0]).collect()),
        (Samples::U8(v), 3) => (V::Rgb, v),
        (Samples::U8(v), _) => (V::Rgba, v),
        (Samples::U16(v), 1) => (
            V::Gray16Le,
            v.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ),
        (Samples::U16(v), 2) => (
            V::Gray16Le,
            v.chunks_exact(2).flat_map(|p| p[0].to_le_bytes()).collect(),
        ),
        // 16-bit colour scans: the element's colour formats are 8-bit.
        (Samples::U16(v), c) => {
            let fmt = if c == 3 { V::Rgb } else { V::Rgba };
            (
                fmt,
                v.iter()
                    .map(|&s| ((s as u32 * 255 + 32767) / 65535) as u8)
                    .collect(),
            )
        }
    }
}

/// Temporary name beside the final output: hidden, removed on failure, renamed on success.
fn temp_output(output: &Path) -> Result<tempfile::TempPath> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = output
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("film");
    let file = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(&dir)
        .with_context(|| format!("{}: cannot write here", output.display()))?;
    Ok(file.into_temp_path())
}

/// Name of the `parsebin` that splits the input file into streams.
const DEMUX: &str = "demux";

/// What the pipeline run ended with.
struct Outcome {
    frames: u64,
    interrupted: bool,
    elapsed: Duration,
    /// Frames per second from the first colour frame to the last.
    steady_fps: Option<f64>,
}

pub fn run(job: &FilmJob) -> Result<()> {
    let container = Container::of(&job.output)?;
    if job.lossless && container != Container::Mkv {
        bail!(
            "{}: --lossless needs an .mkv output (FFV1 in Matroska)",
            job.output.display()
        );
    }
    if !job.input.exists() {
        bail!("{}: no such file or folder", job.input.display());
    }
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

    gst::init().context("GStreamer could not be initialised")?;
    gstddcolor::register_static().context("the ddcolorize element could not be registered")?;
    error_watch::start();
    let temp = temp_output(&job.output)?;

    let (outcome, provenance) = match &sequence {
        Some(files) => run_pipeline(job, container, &temp, Source::Sequence(files)),
        None => run_pipeline(job, container, &temp, Source::File(&job.input)),
    }?;
    if let Some(p) = &provenance
        && matches!(container, Container::Mkv | Container::Webm)
    {
        unescape_matroska_tags(&temp, &[&p.summary(), &p.tool])?;
    }
    temp.persist(&job.output).with_context(|| {
        format!(
            "{}: could not move the result into place",
            job.output.display()
        )
    })?;
    let fps = outcome.frames as f64 / outcome.elapsed.as_secs_f64().max(1e-9);
    if outcome.interrupted {
        eprintln!(
            "interrupted: {} holds the {} frames done so far (a playable file)",
            job.output.display(),
            outcome.frames
        );
    } else {
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
    }
    if let Some(dir) = &job.frames_dir {
        eprintln!("frames: {}", dir.display());
    }
    Ok(())
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

fn run_pipeline(
    job: &FilmJob,
    container: Container,
    temp: &Path,
    source: Source,
) -> Result<(Outcome, Option<Provenance>)> {
    let pipeline = gst::Pipeline::new();
    let shared = Arc::new(Shared {
        failure: std::sync::Mutex::new(None),
        video_linked: AtomicBool::new(false),
        provenance: std::sync::Mutex::new(job.provenance.clone()),
    });

    // Colorizer and everything after it.
    let colorize = make("ddcolorize")?;
    colorize.set_property("model", job.model.to_string_lossy().to_string());
    colorize.set_property("input-size", job.input_size.unwrap_or(0) as u32);
    if let Some(up) = job.upsample {
        colorize.set_property_from_str("upsample", up.name());
    }
    colorize.set_property("batch-size", job.batch_size);
    colorize.set_property_from_str("device", job.device.name());
    colorize.set_property("fp16", job.gpu.fp16);
    if let Some(dir) = &job.gpu.engine_cache {
        colorize.set_property("engine-cache", dir.display().to_string());
    }
    colorize.set_property("max-gpu-memory", job.gpu.max_memory.unwrap_or(0) >> 20);
    if let Some(w) = &job.workflow {
        colorize.set_property("workflow", w);
    }
    if let Some(style) = job.style {
        colorize.set_property_from_str("style", style);
    }
    colorize.set_property("threads", job.threads.unwrap_or(0) as u32);
    colorize.set_property_from_str("temporal", job.temporal.mode.name());
    colorize.set_property("temporal-strength", job.temporal.strength);
    colorize.set_property("motion-sensitivity", job.temporal.motion_sensitivity);
    colorize.set_property("scene-cut-threshold", job.temporal.scene_cut_threshold);
    let rgb_caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .build(),
        )
        .build()?;
    let tee = make("tee")?;
    let mux = make(container.muxer(&job.output))?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", temp.to_string_lossy().to_string())
        .build()?;
    pipeline.add_many([&colorize, &rgb_caps, &tee, &mux, &sink])?;
    gst::Element::link_many([&colorize, &rgb_caps, &tee])?;
    mux.link(&sink)?;
    if let Some(p) = &job.provenance {
        set_provenance_tags(&mux, p)?;
        record_size_that_runs(&pipeline, &colorize, &mux, shared.clone())?;
    }
    if job.mark {
        // On the capsfilter's sink pad: before the `--frames` probe on its src pad, so the PNG
        // frames carry the mark as the film does.
        add_mark_probe(
            &rgb_caps
                .static_pad("sink")
                .ok_or_else(|| anyhow!("capsfilter without sink"))?,
        );
    }

    let frames = Arc::new(AtomicU64::new(0));
    // First and last colour frame: the steady rate, without model loading and start-up.
    let span: Arc<std::sync::Mutex<Option<(Instant, Instant)>>> = Arc::default();
    {
        let (frames, span) = (frames.clone(), span.clone());
        let pad = colorize
            .static_pad("src")
            .ok_or_else(|| anyhow!("ddcolorize has no src pad"))?;
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            frames.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            let mut span = span.lock().unwrap_or_else(|p| p.into_inner());
            *span = Some((span.map_or(now, |s| s.0), now));
            gst::PadProbeReturn::Ok
        });
    }
    let frame_writer = match &job.frames_dir {
        Some(dir) => Some(FrameWriter::start(
            rgb_caps
                .static_pad("src")
                .ok_or_else(|| anyhow!("capsfilter without src"))?,
            dir.clone(),
            job.input.clone(),
            shared.clone(),
        )?),
        None => None,
    };

    let mut total_frames: Option<u64> = None;
    let mut odd = false;
    match source {
        Source::File(path) => {
            let filesrc = gst::ElementFactory::make("filesrc")
                .property("location", path.to_string_lossy().to_string())
                .build()?;
            let parsebin = gst::ElementFactory::make("parsebin")
                .name(DEMUX)
                .build()
                .context("GStreamer element 'parsebin' is missing: run `make setup`")?;
            // The decoder's head to the colorizer is chosen once its caps are known
            // (`attach_video`).
            pipeline.add_many([&filesrc, &parsebin])?;
            filesrc.link(&parsebin)?;
            let weak = pipeline.downgrade();
            let (head, mux, shared2, input) = (
                colorize.clone(),
                mux.clone(),
                shared.clone(),
                path.to_path_buf(),
            );
            parsebin.connect_pad_added(move |_, pad| {
                let Some(pipeline) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = link_stream(&pipeline, pad, &head, &mux, container, &shared2) {
                    shared2.fail(format!("{}: {e:#}", input.display()));
                }
            });
        }
        Source::Sequence(files) => {
            let first = read_photo(&files[0], job.max_pixels).map_err(|e| anyhow!("{e}"))?;
            odd = first.width % 2 == 1 || first.height % 2 == 1;
            total_frames = Some(files.len() as u64);
            let appsrc =
                add_sequence_source(&pipeline, files.to_vec(), first, job, shared.clone())?;
            // Straight into the colorizer: no conversion, 16-bit scans stay 16-bit.
            let q = queue(8)?;
            pipeline.add(&q)?;
            gst::Element::link_many([appsrc.upcast_ref(), &q, &colorize])?;
        }
    }

    // Encoder branch. x264's 4:2:0 needs even sizes; the chroma layout is switched to 4:4:4 when
    // the first caps show an odd size (before they reach the encoder).
    let enc = gst::parse::bin_from_description(
        &format!(
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! videoconvert ! {}",
            video_encoder(container, job.lossless)?
        ),
        true,
    )?;
    pipeline.add(&enc)?;
    tee.link(&enc)?;
    enc.link(&mux)?;
    if let Some(layout) = enc.by_name("layout") {
        let set = move |odd: bool| {
            let format = if odd {
                gst_video::VideoFormat::Y444
            } else {
                gst_video::VideoFormat::I420
            };
            layout.set_property(
                "caps",
                gst_video::VideoCapsBuilder::new().format(format).build(),
            );
        };
        set(odd);
        let pad = colorize
            .static_pad("src")
            .ok_or_else(|| anyhow!("ddcolorize has no src pad"))?;
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Ok(i) = gst_video::VideoInfo::from_caps(c.caps())
            {
                set(i.width() % 2 == 1 || i.height() % 2 == 1);
            }
            gst::PadProbeReturn::Ok
        });
    }

    // Ctrl-C: the first finishes the file (end-of-stream), the second stops at once.
    let interrupts = Arc::new(AtomicU64::new(0));
    {
        let interrupts = interrupts.clone();
        let _ = ctrlc::set_handler(move || {
            interrupts.fetch_add(1, Ordering::SeqCst);
        });
    }

    let bar = progress_bar(total_frames);
    let start = Instant::now();
    if pipeline.set_state(gst::State::Playing).is_err() {
        bar.finish_and_clear();
        let msg =
            first_error(&pipeline).unwrap_or_else(|| "the film pipeline could not start".into());
        let _ = pipeline.set_state(gst::State::Null);
        bail!("{msg}");
    }
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline without a bus"))?;
    let mut interrupted = false;
    let result: Result<()> = loop {
        if let Some(msg) = shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            break Err(anyhow!(msg));
        }
        let n = interrupts.load(Ordering::SeqCst);
        if n == 1 && !interrupted {
            interrupted = true;
            // `suspend`, not `println`: a hidden bar (stderr not a terminal) prints nothing.
            bar.suspend(|| {
                eprintln!("interrupted: finishing the file (Ctrl-C again to stop at once)")
            });
            pipeline.send_event(gst::event::Eos::new());
        } else if n >= 2 {
            break Err(anyhow!("stopped by Ctrl-C; nothing written"));
        }
        let done = frames.load(Ordering::Relaxed);
        bar.set_position(done);
        if total_frames.is_none()
            && let Some(total) = estimate_frames(&pipeline, &colorize)
        {
            total_frames = Some(total);
            bar.set_length(total);
            bar.set_style(bar_style(true));
        }
        if let Some(p) = error_watch::stranded(pipeline.upcast_ref(), Duration::from_secs(2)) {
            let from = p
                .element
                .upgrade()
                .map(|e| e.name().to_string())
                .unwrap_or_default();
            break Err(describe_error(&job.input, &from, &p.error, &p.debug));
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                break Err(describe_error(
                    &job.input,
                    &from,
                    &e.error().to_string(),
                    &debug,
                ));
            }
            gst::MessageView::StreamCollection(c)
                if msg.src().is_some_and(|s| s.name() == DEMUX) =>
            {
                let collection = c.stream_collection();
                if !collection.is_empty()
                    && !collection
                        .iter()
                        .any(|st| st.stream_type().contains(gst::StreamType::VIDEO))
                {
                    break Err(anyhow!(
                        "{}: no video stream in this file",
                        job.input.display()
                    ));
                }
            }
            gst::MessageView::Warning(w) => bar.suspend(|| eprintln!("warning: {}", w.error())),
            // The element says once where it runs when `auto` could not use the GPU.
            gst::MessageView::Info(i) => bar.suspend(|| eprintln!("note: {}", i.error())),
            _ => {}
        }
    };
    bar.finish_and_clear();
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(w) = frame_writer {
        w.finish();
    }
    if let Some(msg) = shared
        .failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        result?;
        bail!(msg);
    }
    result?;
    let frames = frames.load(Ordering::Relaxed);
    if frames == 0 {
        bail!("{}: no frame could be decoded", job.input.display());
    }
    let steady_fps = span
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .filter(|_| frames > 1)
        .map(|(first, last)| (frames - 1) as f64 / (last - first).as_secs_f64().max(1e-9));
    Ok((
        Outcome {
            frames,
            interrupted,
            steady_fps,
            elapsed: start.elapsed(),
        },
        shared.provenance(),
    ))
}

/// The one-line error for a GStreamer error `error` posted by the element named `from`.
fn describe_error(input: &Path, from: &str, error: &str, debug: &str) -> anyhow::Error {
    // The colorizer's errors name the model; the others are about the input.
    if from.starts_with("ddcolorize") {
        return anyhow!("{error}");
    }
    let detail = short_debug(debug);
    let detail = if detail.is_empty() {
        from.to_string()
    } else {
        format!("{from}: {detail}")
    };
    anyhow!("{}: {error} ({detail})", input.display())
}

/// The last line of GStreamer's debug text, without its source position and element path
/// (`file.c(123): function (): /GstPipeline:...:\nreason`).
fn short_debug(debug: &str) -> String {
    let last = debug.lines().last().unwrap_or("");
    let reason = match last.rfind("): ") {
        Some(i) if last.contains(".c(") => &last[i + 3..],
        _ => last,
    };
    // A bare element path is no reason.
    if reason.starts_with("/Gst") {
        return String::new();
    }
    reason.chars().take(300).collect()
}

fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(e.error().to_string());
        }
    }
    None
}

/// Frames in the input, from its duration and frame rate, once both are known.
fn estimate_frames(pipeline: &gst::Pipeline, colorize: &gst::Element) -> Option<u64> {
    let duration = pipeline.query_duration::<gst::ClockTime>()?;
    let caps = colorize.static_pad("sink")?.current_caps()?;
    let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
    let fps = info.fps();
    if fps.numer() <= 0 || fps.denom() <= 0 {
        return None;
    }
    Some(
        (duration.nseconds() as u128 * fps.numer() as u128 / (fps.denom() as u128 * 1_000_000_000))
            .max(1) as u64,
    )
}

/// Links one elementary stream from `parsebin`: the first video stream to the colorizer, audio
/// to the muxer (copied when the container takes it), anything else to a fakesink.
/// Links decoded video to the colorizer. Frames an NVIDIA decoder leaves in GPU memory go
/// straight in when the colorizer takes them there (its GPU path runs): no copy to the host
/// before the colour frames come down. Anything else reaches it as RGB, as `ddcolor photo`
/// sees a picture (a decoder that offered GPU memory then gives system memory).
fn attach_video(
    pipeline: &gst::Pipeline,
    decoded: &gst::Pad,
    colorize: &gst::Element,
) -> Result<()> {
    let sink = colorize
        .static_pad("sink")
        .ok_or_else(|| anyhow!("ddcolorize has no sink pad"))?;
    if sink.is_linked() {
        return Ok(());
    }
    let caps = decoded.current_caps();
    let on_gpu = caps.as_ref().is_some_and(|c| {
        c.features(0)
            .is_some_and(|f| f.contains("memory:CUDAMemory"))
            && sink.query_accept_caps(c)
    });
    let head: gst::Element = gst::parse::bin_from_description(
        if on_gpu {
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0"
        } else {
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! videoconvert ! capsfilter caps=video/x-raw,format=RGB"
        },
        true,
    )?
    .upcast();
    pipeline.add(&head)?;
    head.link(colorize)?;
    head.sync_state_with_parent()?;
    let head_sink = head
        .static_pad("sink")
        .ok_or_else(|| anyhow!("video head without a sink pad"))?;
    decoded.link(&head_sink)?;
    if on_gpu {
        eprintln!("note: decoded frames stay in GPU memory up to the colorizer");
    }
    Ok(())
}

fn link_stream(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    colorize: &gst::Element,
    mux: &gst::Element,
    container: Container,
    shared: &Arc<Shared>,
) -> Result<()> {
    let caps = pad
        .current_caps()
        .or_else(|| Some(pad.query_caps(None)))
        .ok_or_else(|| anyhow!("stream without caps"))?;
    let name = caps
        .structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    let sink_of = |e: &gst::Element| {
        e.static_pad("sink")
            .ok_or_else(|| anyhow!("{} has no sink pad", e.name()))
    };
    if name.starts_with("video/") && !shared.video_linked.swap(true, Ordering::SeqCst) {
        let dec = make("decodebin")?;
        pipeline.add(&dec)?;
        let (colorize, weak, shared) = (colorize.clone(), pipeline.downgrade(), shared.clone());
        dec.connect_pad_added(move |_, dpad| {
            if let Some(pipeline) = weak.upgrade()
                && let Err(e) = attach_video(&pipeline, dpad, &colorize)
            {
                shared.fail(format!("the decoded video could not be linked: {e:#}"));
            }
        });
        dec.sync_state_with_parent()?;
        pad.link(&sink_of(&dec)?)?;
        return Ok(());
    }
    if name.starts_with("audio/") {
        let mux_pad = mux
            .request_pad_simple("audio_%u")
            .ok_or_else(|| anyhow!("the muxer takes no audio"))?;
        let takes_it =
            mux_pad.query_accept_caps(&caps) || mux_pad.pad_template_caps().can_intersect(&caps);
        if takes_it {
            // Unbounded: the muxer needs audio up to where the video is, and the video sits in the
            // encoder's look-ahead for a second or more; a full audio queue would block the
            // demuxer and with it the video (compressed audio is small).
            let q = queue(0)?;
            pipeline.add(&q)?;
            q.sync_state_with_parent()?;
            pad.link(&sink_of(&q)?)?;
            q.static_pad("src")
                .ok_or_else(|| anyhow!("queue without src"))?
                .link(&mux_pad)?;
        } else {
            eprintln!(
                "note: the {name} audio cannot go into this container as it is; re-encoding it with {}",
                container.audio_encoder()
            );
            // decodebin's pad appears only once data flows: ghost the ends by hand.
            let chain = gst::parse::bin_from_description(
                &format!(
                    "queue name=in max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! decodebin name=dec \
                     audioconvert name=conv ! audioresample ! {} name=enc",
                    container.audio_encoder()
                ),
                false,
            )?;
            let get = |name: &str| {
                chain
                    .by_name(name)
                    .ok_or_else(|| anyhow!("audio chain without {name}"))
            };
            let (input, dec, conv, enc) = (get("in")?, get("dec")?, get("conv")?, get("enc")?);
            let conv_sink = sink_of(&conv)?;
            dec.connect_pad_added(move |_, dpad| {
                if !conv_sink.is_linked() {
                    let _ = dpad.link(&conv_sink);
                }
            });
            let ghost_in = gst::GhostPad::with_target(&sink_of(&input)?)?;
            let ghost_out = gst::GhostPad::with_target(
                &enc.static_pad("src")
                    .ok_or_else(|| anyhow!("audio encoder without src"))?,
            )?;
            chain.add_pad(&ghost_in)?;
            chain.add_pad(&ghost_out)?;
            pipeline.add(&chain)?;
            chain.sync_state_with_parent()?;
            pad.link(&ghost_in)?;
            ghost_out.link(&mux_pad)?;
        }
        return Ok(());
    }
    // Subtitles, data, a second video: not carried.
    let fake = make("fakesink")?;
    fake.set_property("sync", false);
    pipeline.add(&fake)?;
    fake.sync_state_with_parent()?;
    pad.link(&sink_of(&fake)?)?;
    Ok(())
}

/// Keeps the provenance's `input_size` to what the colorizer runs: it posts the S when it
/// knows it and after a step-down, before pushing frames made at it. The handler runs in the
/// thread that posts, so the muxer's tags and the `--frames` writer have the new S before the
/// first frame made at it reaches them; the muxer writes its tags when it finishes the file.
fn record_size_that_runs(
    pipeline: &gst::Pipeline,
    colorize: &gst::Element,
    mux: &gst::Element,
    shared: Arc<Shared>,
) -> Result<()> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline without a bus"))?;
    let (colorize, mux) = (colorize.downgrade(), mux.downgrade());
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name() == gstddcolor::ddcolorize::SIZE_MESSAGE
            && msg
                .src()
                .is_some_and(|src| colorize.upgrade().is_some_and(|c| src == &c))
            && let Ok(size) = s.get::<String>("input-size")
        {
            let mut p = shared.provenance.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = p.as_mut() {
                for (k, v) in &mut p.settings {
                    if k == "input_size" {
                        v.clone_from(&size);
                    }
                }
                if let Some(mux) = mux.upgrade()
                    && let Err(e) = set_provenance_tags(&mux, p)
                {
                    shared.fail(format!("{e:#}"));
                }
            }
        }
        gst::BusSyncReply::Pass
    });
    Ok(())
}

/// Records the provenance in the muxer's global tags, chosen for what survives into the file
/// and what `exiftool` reads back: comment and description carry the whole summary (model
/// SHA-256, workflow, settings), encoder the tool. MP4 (`mp4mux`/`qtmux`) writes them as iTunes
/// `ilst` items (©cmt, desc, ©too; the description and keywords also as XMP); Matroska
/// (`matroskamux`) writes COMMENTS and ENCODER SimpleTags (it has no description) and takes the
/// tool as its WritingApp. Matroska's string tags come out escaped; [`unescape_matroska_tags`]
/// puts them right once the file is complete.
fn set_provenance_tags(mux: &gst::Element, p: &Provenance) -> Result<()> {
    let setter = mux
        .dynamic_cast_ref::<gst::TagSetter>()
        .ok_or_else(|| anyhow!("the muxer {} takes no tags", mux.name()))?;
    let summary = p.summary();
    let mut tags = gst::TagList::new();
    {
        let t = tags
            .get_mut()
            .ok_or_else(|| anyhow!("a new tag list is not writable"))?;
        let m = gst::TagMergeMode::Replace;
        t.add::<gst::tags::Comment>(&summary.as_str(), m);
        t.add::<gst::tags::Description>(&summary.as_str(), m);
        t.add::<gst::tags::Encoder>(&p.tool.as_str(), m);
        t.add::<gst::tags::Keywords>(&"colorized", gst::TagMergeMode::Append);
        t.add::<gst::tags::Keywords>(&"DDColor", gst::TagMergeMode::Append);
    }
    setter.merge_tags(&tags, gst::TagMergeMode::Replace);
    if mux.has_property("writing-app") {
        mux.set_property("writing-app", &p.tool);
    }
    Ok(())
}

/// `matroskamux` (GStreamer 1.22) writes each tag through `gst_value_serialize`, so a string
/// with spaces is stored quoted and backslash-escaped (`"Colorized\ by\ ..."`). This rewrites
/// those values in place in the finished file: each escaped value is found near the end (where
/// the muxer writes its Tags), checked to be a whole TagString element, and overwritten by the
/// plain text followed by zero bytes, which EBML allows as padding of a string element; no size
/// or offset in the file changes. Values that are not found (a muxer that writes them plainly)
/// are left alone.
fn unescape_matroska_tags(path: &Path, values: &[&str]) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    /// Tags follow the clusters and cues: the tail of the file holds them.
    const TAIL: u64 = 4 << 20;
    const TAG_STRING_ID: [u8; 2] = [0x44, 0x87];
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("{}: cannot reopen to fix its tags", path.display()))?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    for value in values {
        let escaped = value.to_value().serialize()?;
        let (escaped, plain) = (escaped.as_bytes(), value.as_bytes());
        if escaped == plain || escaped.len() < plain.len() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = find(&tail[from..], escaped).map(|i| i + from) {
            from = i + escaped.len();
            // The element's header right before: TagString ID, then its size as a one- to
            // eight-byte EBML number equal to the escaped length (plus a trailing NUL, which
            // GStreamer writes).
            let header_ok = (1..=8).any(|w| {
                i >= 2 + w
                    && tail[i - 2 - w..i - w] == TAG_STRING_ID
                    && ebml_size(&tail[i - w..i]).is_some_and(|size| {
                        size == escaped.len() as u64 || size == escaped.len() as u64 + 1
                    })
            });
            if !header_ok {
                continue;
            }
            let mut replacement = plain.to_vec();
            replacement.resize(escaped.len(), 0);
            file.seek(SeekFrom::Start(start + i as u64))?;
            file.write_all(&replacement)?;
            tail[i..i + escaped.len()].copy_from_slice(&replacement);
        }
    }
    file.sync_all()?;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of an EBML variable-size integer occupying exactly `bytes` (its length marker must
/// say so).
fn ebml_size(bytes: &[u8]) -> Option<u64> {
    let w = bytes.len();
    let first = *bytes.first()?;
    if w > 8 || first.leading_zeros() as usize != w - 1 {
        return None;
    }
    let mut v = (first as u64) & (0xFF >> w);
    for &b in &bytes[1..] {
        v = v << 8 | b as u64;
    }
    Some(v)
}

/// `--mark`: the visible mark drawn into every colour frame (RGB, 8-bit, rows padded).
fn add_mark_probe(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
        let Some(caps) = pad.current_caps() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else {
            return gst::PadProbeReturn::Ok;
        };
        if vinfo.format() != gst_video::VideoFormat::Rgb {
            return gst::PadProbeReturn::Ok;
        }
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            // Copies the frame only if something else still holds it.
            let buffer = buffer.make_mut();
            if let Ok(mut frame) =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &vinfo)
            {
                let stride = frame.plane_stride()[0] as usize;
                if let Ok(data) = frame.plane_data_mut(0) {
                    draw_mark_u8(
                        data,
                        vinfo.width() as usize,
                        vinfo.height() as usize,
                        stride,
                        3,
                        false,
                    );
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// `--frames DIR`: every colour frame also written as `frame_NNNNNN.png`, atomically, with the
/// same writer as `ddcolor photo`. A pad probe hands the frames (references, not copies) to a
/// writer thread: a sink branch would block in PAUSED and stall the encoder's preroll.
struct FrameWriter {
    pad: gst::Pad,
    probe: Option<gst::PadProbeId>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FrameWriter {
    fn start(pad: gst::Pad, dir: PathBuf, input: PathBuf, shared: Arc<Shared>) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<(gst::Buffer, gst_video::VideoInfo)>(8);
        let thread = std::thread::Builder::new()
            .name("frame-writer".into())
            .spawn(move || {
                for (n, (buffer, info)) in rx.iter().enumerate() {
                    let path = dir.join(format!("frame_{:06}.png", n + 1));
                    // Each frame records the S it was made at: the colorizer says so before
                    // it pushes the frames of a new S.
                    let write = WriteOptions {
                        provenance: shared.provenance().map(|p| Arc::new(p.with_source(&input))),
                        ..WriteOptions::default()
                    };
                    if let Err(e) = write_frame(&buffer, &info, &path, &write) {
                        shared.fail(format!("{}: {e:#}", path.display()));
                        return;
                    }
                }
            })?;
        let probe = pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
                && let Some(caps) = pad.current_caps()
                && let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps)
            {
                // The writer failed: the main loop is already stopping the pipeline.
                let _ = tx.send((buffer.clone(), vinfo));
            }
            gst::PadProbeReturn::Ok
        });
        Ok(Self {
            pad,
            probe,
            thread: Some(thread),
        })
    }

    /// Waits until every frame handed over is on disk.
    fn finish(mut self) {
        if let Some(probe) = self.probe.take() {
            self.pad.remove_probe(probe); // drops the sender: the writer ends after the last frame
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_frame(
    buffer: &gst::Buffer,
    info: &gst_video::VideoInfo,
    path: &Path,
    write: &WriteOptions,
) -> Result<()> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), info)
        .map_err(|_| anyhow!("cannot map the frame"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0)?;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        rgb.extend_from_slice(&data[y * stride..y * stride + w * 3]);
    }
    let photo = Photo {
        width: w,
        height: h,
        channels: 3,
        samples: Samples::U8(rgb),
    };
    write_photo(&photo, path, write.clone()).map_err(|e| anyhow!("{e}"))
}

/// Image sequence: frames read with the photo reader (EXIF, 16-bit, limits) on a feeder thread,
/// pushed with timestamps from `--fps`. All frames must have the first one's size and format.
fn add_sequence_source(
    pipeline: &gst::Pipeline,
    files: Vec<PathBuf>,
    first: Photo,
    job: &FilmJob,
    shared: Arc<Shared>,
) -> Result<gst_app::AppSrc> {
    let fps = job
        .fps
        .ok_or_else(|| anyhow!("--fps is required for an image sequence"))?;
    let (w, h) = (first.width, first.height);
    let (format, _) = photo_to_video(first.clone());
    let info = gst_video::VideoInfo::builder(format, w as u32, h as u32)
        .fps(fps)
        .build()?;
    let appsrc = gst_app::AppSrc::builder()
        .caps(&info.to_caps()?)
        .format(gst::Format::Time)
        .is_live(false)
        .block(true)
        .max_bytes((info.size() * 4) as u64)
        .build();
    pipeline.add(&appsrc)?;
    let src = appsrc.clone();
    let max_pixels = job.max_pixels;
    std::thread::spawn(move || {
        let frame_ns = |i: u64| {
            gst::ClockTime::SECOND.mul_div_floor(i * fps.denom() as u64, fps.numer() as u64)
        };
        let mut first = Some(first);
        for (i, path) in files.iter().enumerate() {
            let photo = match first.take() {
                Some(p) => p,
                None => match read_photo(path, max_pixels) {
                    Ok(p) => p,
                    Err(e) => {
                        shared.fail(e.to_string());
                        return;
                    }
                },
            };
            if photo.width != w || photo.height != h {
                shared.fail(format!(
                    "{}: frame is {}x{}, the sequence is {w}x{h}",
                    path.display(),
                    photo.width,
                    photo.height
                ));
                return;
            }
            let (f, bytes) = photo_to_video(photo);
            if f != format {
                shared.fail(format!(
                    "{}: pixel format {f:?} differs from the sequence's {format:?}",
                    path.display()
                ));
                return;
            }
            // GStreamer rows are padded to 4 bytes; the photo's are packed.
            let row = bytes.len() / h;
            let stride = info.stride()[0] as usize;
            let mut padded = vec![0u8; info.size()];
            for (dst, src) in padded.chunks_mut(stride).zip(bytes.chunks(row)) {
                dst[..row].copy_from_slice(src);
            }
            let mut buf = gst::Buffer::from_mut_slice(padded);
            {
                let b = buf.get_mut().expect("new buffer");
                let pts = frame_ns(i as u64);
                b.set_pts(pts);
                b.set_duration(frame_ns(i as u64 + 1).zip(pts).map(|(e, s)| e - s));
                b.set_offset(i as u64);
            }
            if src.push_buffer(buf).is_err() {
                return; // flushing or stopped: the main loop reports why
            }
        }
        let _ = src.end_of_stream();
    });
    Ok(appsrc)
}
