//! `ddcolor`: colorize black-and-white photos, archive folders and films with DDColor.

mod error_watch;
mod film;
mod idle;
mod jobs;
mod metrics;
mod progress;
mod video;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use ddcolor_engine::Style;
use ddcolor_engine::Upsample;
use ddcolor_engine::catalog as models;
use ddcolor_engine::device::{Device, GpuOptions};
use ddcolor_engine::io::{DEFAULT_MAX_PIXELS, OutputFormat, WriteOptions, is_image_path};
use ddcolor_engine::plan::{Choice, Plan, PlanRequest, SizeRule};
use ddcolor_engine::provenance::{self, Provenance};
use ddcolor_engine::temporal::{self, TemporalMode, TemporalSettings};
use ddcolor_engine::workflow::{PRESETS, SizeChoice, Workflow, nodes};
use std::sync::Arc;

use crate::jobs::{Job, Settings, Summary};

#[derive(Parser)]
#[command(
    name = "ddcolor",
    version,
    about = "Colorize black-and-white photos and films with the DDColor model",
    long_about = "Colorize black-and-white photos with the DDColor model.\n\n\
        Results are new files: inputs are never modified. Start with `ddcolor models` to see which \
        DDColor models are installed, then `ddcolor photo old.jpg` or `ddcolor batch scans/ colour/`.",
    after_help = "Examples:\n  ddcolor photo grandma.jpg                 writes grandma_color.jpg beside it\n  \
        ddcolor photo a.jpg b.png -o colour/      writes colour/a.jpg, colour/b.png\n  \
        ddcolor batch scans/ colour/              a whole archive, tree mirrored, resumable\n  \
        ddcolor models                            which models are installed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Colorize photos: files and/or folders (the images directly inside them).
    #[command(
        after_help = "Without -o, each result is written beside its input as NAME_color.EXT.\n\
        With -o FILE (one input) the format follows FILE's extension: .png, .jpg, .tif, .webp.\n\
        With -o DIR results are written into DIR (created if missing) under the input's name."
    )]
    Photo {
        /// Photos or folders of photos (.jpg, .png, .tif, .webp, .bmp).
        #[arg(required = true, value_name = "IN")]
        inputs: Vec<PathBuf>,
        /// Output file (one input) or folder.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Colorize a folder tree into another, mirroring it; resumes where an interrupted run stopped.
    #[command(
        after_help = "Photos whose result already exists are skipped (use --overwrite to redo them).\n\
        A photo that cannot be read or written is reported and the batch goes on; the exit status\n\
        is non-zero when any photo failed."
    )]
    Batch {
        /// Folder of photos, searched recursively.
        in_dir: PathBuf,
        /// Folder for the results (created if missing); the input tree is mirrored in it.
        out_dir: PathBuf,
        /// Redo photos whose result already exists.
        #[arg(long)]
        overwrite: bool,
        /// Threads that read photos, and as many that encode them, alongside the model (at
        /// idle priority when other programs leave the CPU free: they use what the model
        /// leaves).
        #[arg(long, value_name = "N", default_value_t = 2)]
        jobs: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Colorize a film: a video file, or a folder holding a scanned image sequence.
    #[command(
        after_help = "The output's extension picks the container and codec: .mp4 (H.264), .mkv (H.264, or FFV1\n\
        with --lossless for archival masters), .webm (VP9). Sound is copied untouched when the\n\
        container takes it (otherwise re-encoded, with a note). Every frame and timestamp is kept.\n\
        The result appears under its name only when complete; Ctrl-C finishes a playable file\n\
        with the frames done so far (press it twice to stop at once).\n\n\
        Examples:\n  ddcolor film reel.mkv reel_color.mp4\n  \
        ddcolor film reel.mkv master.mkv --lossless --frames frames/\n  \
        ddcolor film scans/ film.mp4 --fps 24"
    )]
    Film {
        /// A video file GStreamer can decode (mp4, mkv, avi, mov, webm...), or a folder of frames
        /// (*.png, *.tif, *.jpg, taken in name order; needs --fps).
        input: PathBuf,
        /// Output video: .mp4, .mkv or .webm.
        output: PathBuf,
        /// Frame rate of an image sequence: 24, 25, 29.97 or 24000/1001.
        #[arg(long, value_name = "F", value_parser = parse_fps)]
        fps: Option<gst::Fraction>,
        /// Store the video losslessly (FFV1 in .mkv): for archival masters.
        #[arg(long)]
        lossless: bool,
        /// Also write every colour frame as DIR/frame_000001.png, ...
        #[arg(long, value_name = "DIR")]
        frames: Option<PathBuf>,
        /// Frames per inference call (more can be faster on a GPU; adds latency, not memory use
        /// beyond the frames held).
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        batch_size: u32,
        /// Replace the output if it exists.
        #[arg(long)]
        overwrite: bool,
        /// Largest frame accepted from an image sequence, in pixels.
        #[arg(long, value_name = "PIXELS", default_value_t = DEFAULT_MAX_PIXELS)]
        max_pixels: u64,
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        temporal: TemporalArgs,
        #[command(flatten)]
        look: LookArgs,
        #[command(flatten)]
        output_args: OutputArgs,
    },
    /// Run a workflow file (ComfyUI API format) on photos: `ddcolor run portrait.json --input a.jpg`.
    #[command(
        after_help = "The workflow's LoadImage node names the photo unless --input is given; without -o the\n\
        result is written beside each input as NAME_<filename_prefix of the SaveImage node>.EXT.\n\
        `ddcolor workflows` lists the presets and the node types a workflow may use.\n\n\
        Examples:\n  ddcolor run workflows/portrait.json --input grandma.jpg -o grandma_color.png\n  \
        ddcolor run my_comfyui_export.json --input scans/ -o colour/"
    )]
    Run {
        /// The workflow file (.json, as ComfyUI's "Save (API Format)" writes it) or a preset name.
        #[arg(value_name = "WORKFLOW")]
        file: String,
        /// Photos or folders of photos (default: the LoadImage node's photo).
        #[arg(long = "input", short = 'i', value_name = "IN")]
        inputs: Vec<PathBuf>,
        /// Output file (one input) or folder.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// The workflow presets: what each is for and the model sizes that suit it.
    Workflows {
        /// Also list every node type a workflow file may use, with its inputs.
        #[arg(long)]
        nodes: bool,
    },
    /// List the DDColor models this tool knows, which are installed, and which one it would use.
    #[command(long_about = MODELS_HELP)]
    Models,
    /// Compare colorized versions of a film: colour steadiness, colourfulness, error from a truth.
    Metrics(metrics::MetricsArgs),
}

/// How the model is chosen and run: shared by `photo`, `batch` and `film`.
#[derive(Args, Clone)]
struct ModelArgs {
    /// Model: a path to an .onnx file or a known name (modelscope, paper, artistic, paper_tiny).
    /// Default: $DDCOLOR_MODEL, else the best model present under models/.
    #[arg(long, value_name = "PATH|NAME")]
    model: Option<String>,
    /// Size S the model works at, for models with a dynamic input (multiple of 32). Larger is
    /// slower; DDColor was trained at 256, the reference tools use 512.
    #[arg(long, value_name = "S")]
    input_size: Option<usize>,
    /// How the model's colour is scaled back to the photo: bilinear (smooth; the default
    /// without a workflow), edge-aware (colour edges follow the photo's own edges; the
    /// workflows' choice) or nearest (exactly what the official DDColor code does).
    #[arg(long, value_name = "MODE", value_parser = parse_upsample)]
    upsample: Option<Upsample>,
    /// Threads the model uses (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Where the model runs: auto (an NVIDIA GPU when a CUDA-enabled ONNX Runtime and a usable
    /// GPU are there, else the CPU, with one line saying why), cuda (fail without them) or cpu.
    #[arg(long, value_name = "DEVICE", default_value = "auto", value_parser = parse_device)]
    device: Device,
    /// On the GPU with TensorRT: half precision (faster; colours within a level or two).
    #[arg(long)]
    fp16: bool,
    /// Folder where TensorRT keeps the engines it builds (building one takes minutes).
    #[arg(long, value_name = "DIR")]
    engine_cache: Option<PathBuf>,
    /// Cap on ONNX Runtime's CUDA memory arena (and TensorRT's build workspace), in MiB.
    #[arg(long, value_name = "MIB")]
    max_gpu_memory: Option<u64>,
}

impl ModelArgs {
    fn gpu(&self) -> GpuOptions {
        GpuOptions {
            device_id: 0,
            fp16: self.fp16,
            engine_cache: self.engine_cache.clone(),
            max_memory: self.max_gpu_memory.map(|m| m.saturating_mul(1 << 20)),
        }
    }
}

fn parse_device(s: &str) -> Result<Device, String> {
    s.parse()
}

/// What is done around the model: a workflow (preset or JSON file) and a style.
#[derive(Args, Clone, Default)]
struct LookArgs {
    /// A workflow: a preset (portrait, building; see `ddcolor workflows`) or a ComfyUI-API JSON
    /// file. Its model, size and upsampling apply unless --model, --input-size or --upsample
    /// is given.
    #[arg(long, value_name = "NAME|FILE")]
    workflow: Option<String>,
    /// A look applied last: vintage (muted, warm, fine grain) or modern (vivid, clean).
    #[arg(long, value_name = "STYLE", value_parser = parse_style)]
    style: Option<Style>,
}

fn parse_style(s: &str) -> Result<Style, String> {
    s.parse()
}

/// Temporal smoothing for `film` (the `ddcolorize` properties of the same names).
#[derive(Args, Clone)]
struct TemporalArgs {
    /// Keep colours steady from frame to frame: off, recursive (blend with the previous frame
    /// where the picture did not change) or flow (follow motion with optical flow).
    #[arg(long, value_name = "MODE", default_value_t = TemporalMode::default(), value_parser = parse_temporal)]
    temporal: TemporalMode,
    /// How much of the previous frame's colour is kept where nothing changed (0 to 0.99).
    #[arg(long, value_name = "S", default_value_t = temporal::DEFAULT_STRENGTH, value_parser = parse_strength)]
    temporal_strength: f32,
    /// How quickly blending stops where the picture changed; higher leaves no trail behind
    /// moving objects, lower smooths grainy film more.
    #[arg(long, value_name = "ALPHA", default_value_t = temporal::DEFAULT_MOTION_SENSITIVITY, value_parser = parse_sensitivity)]
    motion_sensitivity: f32,
    /// Change of the picture's layout (0 to 1) that starts a new scene, where no colour is carried
    /// over; 1 never cuts.
    #[arg(long, value_name = "T", default_value_t = temporal::DEFAULT_SCENE_CUT_THRESHOLD, value_parser = parse_cut_threshold)]
    scene_cut_threshold: f32,
}

impl TemporalArgs {
    fn settings(&self) -> TemporalSettings {
        TemporalSettings {
            mode: self.temporal,
            strength: self.temporal_strength,
            motion_sensitivity: self.motion_sensitivity,
            scene_cut_threshold: self.scene_cut_threshold,
        }
    }
}

fn parse_temporal(s: &str) -> Result<TemporalMode, String> {
    s.parse()
}

fn parse_in_range(s: &str, what: &str, lo: f32, hi: f32) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!(
            "bad {what} '{s}' (expected a number from {lo} to {hi})"
        )),
    }
}

fn parse_strength(s: &str) -> Result<f32, String> {
    parse_in_range(s, "strength", 0.0, 0.99)
}

fn parse_sensitivity(s: &str) -> Result<f32, String> {
    parse_in_range(s, "motion sensitivity", 0.0, 10000.0)
}

fn parse_cut_threshold(s: &str) -> Result<f32, String> {
    parse_in_range(s, "scene-cut threshold", 0.0, 1.0)
}

#[derive(Args, Clone)]
struct Common {
    #[command(flatten)]
    model: ModelArgs,
    /// JPEG quality of the results (1-100).
    #[arg(long, value_name = "Q", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Largest photo accepted, in pixels (protects against huge or malicious files).
    #[arg(long, value_name = "PIXELS", default_value_t = DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    #[command(flatten)]
    look: LookArgs,
    /// Format of the results: png, jpg, tif or webp (default: the input's format; PNG for inputs
    /// that cannot be written, such as .bmp).
    #[arg(long, value_name = "EXT", value_parser = parse_format)]
    format: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

/// What goes into each result besides its pixels: shared by `photo`, `batch`, `run` and `film`.
#[derive(Args, Clone)]
struct OutputArgs {
    /// Write no provenance into the results. By default each result records that it was
    /// colorized: the model (name and SHA-256), workflow, settings and ddcolor version, as XMP
    /// (PNG, JPEG, TIFF, WebP; PNG/TIFF text fields too) or as container tags (film).
    #[arg(long)]
    no_metadata: bool,
    /// Draw a small visible "COLORIZED" mark in the bottom-right corner of each result (each
    /// frame of a film), for copies shown where metadata is lost. Pictures under 64 pixels on a
    /// side are left unmarked.
    #[arg(long)]
    mark: bool,
}

fn parse_fps(s: &str) -> Result<gst::Fraction, String> {
    let bad = || format!("bad frame rate '{s}' (expected e.g. 24, 29.97 or 24000/1001)");
    let f = if let Some((n, d)) = s.split_once('/') {
        gst::Fraction::new(
            n.trim().parse().map_err(|_| bad())?,
            d.trim().parse().map_err(|_| bad())?,
        )
    } else {
        let v: f64 = s.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || v <= 0.0 || v > 1000.0 {
            return Err(bad());
        }
        // 29.97 is NTSC's 30000/1001, not 2997/100.
        let ntsc = (v * 1001.0).round();
        if (ntsc / 1001.0 - v).abs() < 0.005 && ntsc as i64 % 1000 == 0 {
            gst::Fraction::new(ntsc as i32, 1001)
        } else {
            gst::Fraction::new((v * 1000.0).round() as i32, 1000)
        }
    };
    if f.numer() <= 0 || f.denom() <= 0 {
        return Err(bad());
    }
    Ok(f)
}

fn parse_upsample(s: &str) -> Result<Upsample, String> {
    s.parse()
}

fn parse_format(s: &str) -> Result<String, String> {
    let ext = s.trim_start_matches('.').to_ascii_lowercase();
    match OutputFormat::from_extension(&ext) {
        Some(_) => Ok(ext),
        None => Err(format!(
            "unknown format '{s}' (expected png, jpg, tif or webp)"
        )),
    }
}

fn main() -> ExitCode {
    // Before anything of ours runs: `batch` looks at what other programs did meanwhile.
    idle::start_load_probe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Photo {
            inputs,
            output,
            common,
        } => photo(inputs, output, common),
        Command::Batch {
            in_dir,
            out_dir,
            overwrite,
            jobs,
            common,
        } => batch(in_dir, out_dir, overwrite, jobs, common),
        Command::Film {
            input,
            output,
            fps,
            lossless,
            frames,
            batch_size,
            overwrite,
            max_pixels,
            model,
            temporal,
            look,
            output_args,
        } => {
            // Checked here so a bad workflow or model fails before the pipeline is built; the
            // element asks the same plan and loads the model.
            let choice = plan_request(&model, &look).choose()?;
            let chosen = choice.require_model("a film")?;
            say_model(chosen);
            let temporal = temporal.settings();
            let provenance = film_provenance(&output_args, &choice, &temporal)?;
            film::run(&film::FilmJob {
                input,
                output,
                model: chosen.path.clone(),
                input_size: model.input_size,
                upsample: model.upsample,
                device: model.device,
                gpu: model.gpu(),
                threads: model.threads,
                batch_size,
                lossless,
                fps,
                frames_dir: frames,
                max_pixels,
                overwrite,
                temporal,
                workflow: look.workflow.clone(),
                style: look.style.map(|s| s.name()),
                provenance: provenance.map(Arc::unwrap_or_clone),
                mark: output_args.mark,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            file: workflow,
            inputs,
            output,
            mut common,
        } => {
            if common.look.workflow.is_some() {
                bail!("give the workflow once: `ddcolor run FILE` takes no --workflow");
            }
            common.look.workflow = Some(workflow);
            let wf = plan_request(&common.model, &common.look)
                .resolve_workflow()?
                .context("no workflow")?;
            let inputs = if inputs.is_empty() {
                match &wf.input {
                    // A relative path is taken from the workflow file's folder.
                    Some(p) => {
                        let file = Path::new(common.look.workflow.as_deref().unwrap_or_default());
                        let base = file.parent().filter(|_| file.is_file());
                        let photo = base.map_or_else(|| PathBuf::from(p), |b| b.join(p));
                        if !photo.exists() {
                            bail!(
                                "{}: not found (the photo named by the workflow's LoadImage node; give another with --input)",
                                photo.display()
                            );
                        }
                        vec![photo]
                    }
                    None => bail!(
                        "{}: its LoadImage node names no photo; give one with --input",
                        common.look.workflow.as_deref().unwrap_or_default()
                    ),
                }
            } else {
                inputs
            };
            let suffix = format!("_{}", wf.save_prefix);
            photo_with_suffix(inputs, output, common, &suffix)
        }
        Command::Workflows { nodes } => {
            list_workflows(nodes);
            Ok(ExitCode::SUCCESS)
        }
        Command::Models => list_models(),
        Command::Metrics(args) => {
            metrics::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Tells the user which model runs (and when its colours mean nothing).
fn say_model(chosen: &models::Chosen) {
    eprintln!("model: {} ({})", chosen.path.display(), chosen.how);
    if chosen.is_test_model {
        eprintln!(
            "note: this is a generated test model with random weights: its colours are not meaningful. \
             See models/README.md to get a real DDColor model."
        );
    }
}

/// What the command line asks of the engine's plan.
fn plan_request(args: &ModelArgs, look: &LookArgs) -> PlanRequest {
    PlanRequest {
        model: args.model.clone(),
        model_setting: "--model",
        input_size: args.input_size,
        upsample: args.upsample,
        device: args.device,
        gpu: args.gpu(),
        threads: args.threads,
        workflow: look.workflow.clone(),
        style: look.style,
    }
}

/// The engine's plan for `photo`, `batch` and `run`, with the model loaded, and what it
/// decided said in a few lines.
fn plan(common: &Common) -> Result<Plan> {
    let choice = plan_request(&common.model, &common.look).choose()?;
    if let Some(chosen) = &choice.model {
        say_model(chosen);
    }
    // The results' provenance needs the model's SHA-256: hash it while ONNX Runtime loads it
    // (hundreds of MB for a real model, about 0.3 s for the bench model).
    let hashing = choice
        .model
        .as_ref()
        .filter(|_| !common.output.no_metadata)
        .map(|chosen| {
            let path = chosen.path.clone();
            std::thread::spawn(move || provenance::sha256_file_cached(&path))
        });
    let plan = choice.load()?;
    // The hash lands in the cache; a failure is reported where the provenance is built.
    if let Some(h) = hashing {
        let _ = h.join();
    }
    for note in &plan.notes {
        eprintln!("{note}");
    }
    if let Some(model) = &plan.model {
        eprintln!("device: {}", model.placement());
        match plan.sizes.rule() {
            SizeRule::Auto => {
                eprintln!("input size auto (from each photo's resolution, 256 to 1280)")
            }
            SizeRule::Fixed(s) => eprintln!("input size {s}"),
        }
    }
    Ok(plan)
}

fn settings(common: &Common, plan: &Plan, workers: usize, list_outputs: bool) -> Result<Settings> {
    Ok(Settings {
        max_pixels: common.max_pixels,
        upsample: plan.upsample,
        workflow: plan.workflow.clone(),
        sizes: plan.sizes.clone(),
        write: WriteOptions {
            quality: common.quality,
            provenance: photo_provenance(common, plan)?,
            mark: common.output.mark,
            // Decided per photo (see `jobs`).
            jpeg_half_chroma: false,
        },
        workers,
        // A batch goes largest first; `photo` keeps the order it was given.
        largest_first: !list_outputs,
        list_outputs,
    })
}

/// What every result of this run records about how it was made (`None` with `--no-metadata`).
/// The model file is hashed here, once per run; `workflow` is the workflow's name when one
/// shapes the result, `settings` the values that change the colours, in display order.
fn provenance(
    output: &OutputArgs,
    model_path: &Path,
    workflow: Option<&str>,
    settings: Vec<(String, String)>,
) -> Result<Option<Arc<Provenance>>> {
    if output.no_metadata {
        return Ok(None);
    }
    let sha256 = provenance::sha256_file_cached(model_path).with_context(|| {
        format!(
            "{}: cannot read the model to record its SHA-256 (--no-metadata skips this)",
            model_path.display()
        )
    })?;
    Ok(Some(Arc::new(Provenance {
        tool: format!("ddcolor {}", env!("CARGO_PKG_VERSION")),
        model_name: provenance::model_name(model_path),
        model_sha256: sha256,
        workflow: workflow.map(str::to_string),
        settings,
        source: None,
    })))
}

/// The provenance of `photo`, `batch` and `run` results: S ("auto" when each photo picks its
/// own), upsampling, JPEG quality, then the workflow's node settings. `None` when no model runs
/// (a workflow of post-processing only colorizes nothing).
fn photo_provenance(common: &Common, plan: &Plan) -> Result<Option<Arc<Provenance>>> {
    let Some(model_path) = plan.model_path() else {
        return Ok(None);
    };
    let input_size = plan.sizes.rule().to_string();
    let mut recorded = vec![
        ("input_size".to_string(), input_size),
        ("upsample".to_string(), plan.upsample.name().to_string()),
        ("jpeg_quality".to_string(), common.quality.to_string()),
    ];
    let workflow = plan.workflow.as_deref();
    if let Some(w) = workflow {
        recorded.extend(post_settings(w));
    }
    provenance(
        &common.output,
        model_path,
        workflow.map(|w| w.name.as_str()),
        recorded,
    )
}

/// The provenance of a film: the settings of `ddcolor film` that change the colours, then the
/// workflow's. S is what the element reports once it has loaded the model (and again after a
/// step-down, see `film`); until then, what the settings say.
fn film_provenance(
    output: &OutputArgs,
    choice: &Choice,
    temporal: &TemporalSettings,
) -> Result<Option<Arc<Provenance>>> {
    let Some(chosen) = &choice.model else {
        return Ok(None);
    };
    let input_size = match choice.size_hint() {
        Some(SizeChoice::Auto) => "auto (from the frame size)".to_string(),
        Some(size) => size.to_string(),
        None => "model default".to_string(),
    };
    let mut recorded = vec![
        ("input_size".to_string(), input_size),
        ("upsample".to_string(), choice.upsample.name().to_string()),
        ("temporal".to_string(), temporal.mode.name().to_string()),
    ];
    if temporal.mode != TemporalMode::Off {
        recorded.extend([
            (
                "temporal_strength".to_string(),
                temporal.strength.to_string(),
            ),
            (
                "motion_sensitivity".to_string(),
                temporal.motion_sensitivity.to_string(),
            ),
            (
                "scene_cut_threshold".to_string(),
                temporal.scene_cut_threshold.to_string(),
            ),
        ]);
    }
    let workflow = choice.workflow.as_deref();
    if let Some(w) = workflow {
        recorded.extend(post_settings(w));
    }
    provenance(
        output,
        &chosen.path,
        workflow.map(|w| w.name.as_str()),
        recorded,
    )
}

/// The workflow's post-processing settings. The DDColor-ddcolorize node's are left out: what
/// ran (the command line may override the node) is recorded as input_size and upsample.
fn post_settings(w: &Workflow) -> impl Iterator<Item = (String, String)> + '_ {
    w.settings
        .iter()
        .filter(|(node, _)| !node.ends_with(" DDColor-ddcolorize"))
        .cloned()
}

/// The images directly inside `dir`, sorted.
fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot read folder", dir.display()))?
    {
        let path = entry
            .with_context(|| format!("{}: cannot read folder", dir.display()))?
            .path();
        if path.is_file() && is_image_path(&path) && !is_hidden(&path) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The extension a result gets: `--format`, else the input's if it can be written, else png.
fn output_extension(input: &Path, format: Option<&str>) -> String {
    if let Some(f) = format {
        return f.to_string();
    }
    input
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| OutputFormat::from_extension(e).is_some())
        .map(str::to_string)
        .unwrap_or_else(|| "png".into())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Appended to the name of a result written beside its input.
const RESULT_SUFFIX: &str = "_color";

/// Name of the marker `batch` leaves in its output folder: files there were written by it.
const BATCH_MARKER: &str = ".ddcolor-batch";

fn photo(inputs: Vec<PathBuf>, output: Option<PathBuf>, common: Common) -> Result<ExitCode> {
    photo_with_suffix(inputs, output, common, RESULT_SUFFIX)
}

/// `photo`, with results written beside their inputs named NAME`suffix`.EXT.
fn photo_with_suffix(
    inputs: Vec<PathBuf>,
    output: Option<PathBuf>,
    common: Common,
    suffix: &str,
) -> Result<ExitCode> {
    // A broken workflow is reported before anything else is looked at.
    plan_request(&common.model, &common.look).resolve_workflow()?;
    // Expand folders; inputs that do not exist or hold no images are failures of their own.
    let mut files = Vec::new();
    let mut failed = Vec::new();
    for input in &inputs {
        if input.is_dir() {
            let mut found = images_in(input)?;
            if output.is_none() {
                // Results of an earlier run sit beside their inputs: do not colorize them again.
                found.retain(|p| {
                    !p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| s.ends_with(suffix))
                });
            }
            if found.is_empty() {
                failed.push(format!(
                    "{}: no images found in this folder (looked for .jpg, .png, .tif, .webp, .bmp)",
                    input.display()
                ));
            }
            files.extend(found);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            failed.push(format!("{}: file not found", input.display()));
        }
    }
    let output_is_file = output
        .as_deref()
        .is_some_and(|o| OutputFormat::from_path(o).is_ok() && !o.is_dir());
    if output_is_file && (inputs.len() != 1 || inputs[0].is_dir()) {
        bail!(
            "-o {} names a file, but there is more than one input; give a folder",
            output
                .as_deref()
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default()
        );
    }
    if let Some(o) = &output
        && !output_is_file
        && o.extension().is_some()
        && !o.is_dir()
        && inputs.len() == 1
        && !inputs[0].is_dir()
    {
        // Looks like a file name with an extension we cannot write.
        OutputFormat::from_path(o)?;
    }

    let mut jobs: Vec<Job> = Vec::new();
    for input in files {
        let target = match &output {
            Some(o) if output_is_file => o.clone(),
            Some(dir) => {
                let stem = input
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                dir.join(format!(
                    "{stem}.{}",
                    output_extension(&input, common.format.as_deref())
                ))
            }
            None => {
                let stem = input
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                input.with_file_name(format!(
                    "{stem}{suffix}.{}",
                    output_extension(&input, common.format.as_deref())
                ))
            }
        };
        if same_file(&input, &target) {
            failed.push(format!(
                "{}: refusing to overwrite the input with its result (choose another -o)",
                input.display()
            ));
            continue;
        }
        if let Some(other) = jobs.iter().find(|j| j.output == target) {
            failed.push(format!(
                "{}: its result {} would replace the result of {}; colorize them into different folders",
                input.display(),
                target.display(),
                other.input.display()
            ));
            continue;
        }
        jobs.push(Job {
            input,
            output: target,
        });
    }
    for msg in &failed {
        eprintln!("error: {msg}");
    }
    if jobs.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    let mut plan = plan(&common)?;
    if let Some(dir) = output.as_ref().filter(|_| !output_is_file) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
    }
    let settings = settings(&common, &plan, 1, true)?;
    let summary = jobs::run(plan.model.as_mut(), jobs, &settings, 0);
    let total_failed = failed.len() + summary.failed.len();
    if summary.done + total_failed > 1 {
        eprintln!("{} colorized, {} failed", summary.done, total_failed);
    }
    Ok(if total_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// All images under `dir`, recursively, sorted; hidden files and `skip` (the output folder, when
/// it lies inside the input) are left out.
fn walk(dir: &Path, skip: Option<&Path>, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            if skip.is_some_and(|s| same_file(&path, s)) {
                continue;
            }
            walk(&path, skip, out)?;
        } else if is_image_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn batch(
    in_dir: PathBuf,
    out_dir: PathBuf,
    overwrite: bool,
    workers: usize,
    common: Common,
) -> Result<ExitCode> {
    plan_request(&common.model, &common.look).resolve_workflow()?;
    if !in_dir.is_dir() {
        bail!("{}: not a folder", in_dir.display());
    }
    if same_file(&in_dir, &out_dir) {
        bail!(
            "{}: the output folder must differ from the input folder",
            out_dir.display()
        );
    }
    let mut files = Vec::new();
    walk(&in_dir, Some(&out_dir), &mut files)?;
    if files.is_empty() {
        bail!(
            "{}: no images found (looked for .jpg, .png, .tif, .webp, .bmp, recursively)",
            in_dir.display()
        );
    }
    let mut jobs = Vec::new();
    let mut skipped = 0;
    let mut targets = HashSet::new();
    let mut existing = None;
    for input in files {
        let rel = input.strip_prefix(&in_dir).unwrap_or(&input);
        let ext = output_extension(&input, common.format.as_deref());
        let mut target = out_dir.join(rel).with_extension(&ext);
        if !targets.insert(target.clone()) {
            // a.jpg and a.png in one folder, both written as png: the second keeps its extension.
            let stem = target
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let in_ext = input
                .extension()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            target = target.with_file_name(format!("{stem}_{in_ext}.{ext}"));
            targets.insert(target.clone());
        }
        if target.exists() {
            existing.get_or_insert_with(|| target.clone());
            if !overwrite {
                skipped += 1;
                continue;
            }
        }
        jobs.push(Job {
            input,
            output: target,
        });
    }
    // Files already under a result's name are only trusted as results (skipped, or replaced with
    // --overwrite) in a folder an earlier batch wrote; anywhere else they may be originals.
    if let Some(example) = existing
        && !out_dir.join(BATCH_MARKER).exists()
    {
        bail!(
            "{}: this folder already holds files under the names the results would get (e.g. {}) \
             that ddcolor batch did not write; choose a new or empty output folder",
            out_dir.display(),
            example.display()
        );
    }
    let total = jobs.len() + skipped;
    eprintln!(
        "{total} photos under {}, {skipped} already done",
        in_dir.display()
    );
    let summary = if jobs.is_empty() {
        Summary {
            skipped,
            ..Summary::default()
        }
    } else {
        let mut plan = plan(&common)?;
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("{}: cannot create output folder", out_dir.display()))?;
        std::fs::write(
            out_dir.join(BATCH_MARKER),
            "results written by `ddcolor batch`; lets a later run resume here\n",
        )
        .with_context(|| format!("{}: cannot write in the output folder", out_dir.display()))?;
        let settings = settings(&common, &plan, workers.max(1), false)?;
        jobs::run(plan.model.as_mut(), jobs, &settings, skipped)
    };
    print_summary(&summary, &out_dir);
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_summary(s: &Summary, out_dir: &Path) {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.done as f64 / secs
    } else {
        0.0
    };
    eprintln!(
        "done: {} colorized, {} skipped (already done), {} failed in {secs:.1} s ({rate:.2} photos/s, model busy {:.0}%)",
        s.done,
        s.skipped,
        s.failed.len(),
        if secs > 0.0 {
            100.0 * s.model_time.as_secs_f64() / secs
        } else {
            0.0
        }
    );
    if !s.failed.is_empty() {
        eprintln!("failed:");
        for f in &s.failed {
            eprintln!("  {f}");
        }
    }
    eprintln!("results in {}", out_dir.display());
}

fn list_models() -> Result<ExitCode> {
    let dirs = models::model_dirs();
    println!(
        "Model folders searched: {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("{:<12} {:<11} {:<40} status", "name", "encoder", "about");
    for v in models::VARIANTS {
        let status = match models::find_named(v.name) {
            Some(p) => format!("present: {}", p.display()),
            None => format!("missing (put ddcolor_{}.onnx in models/)", v.name),
        };
        println!("{:<12} {:<11} {:<40} {status}", v.name, v.encoder, v.about);
    }
    println!();
    for (name, about) in models::GENERATED {
        let status = match models::find_named(name) {
            Some(p) => format!("present: {}", p.display()),
            None => "missing (made by `make setup`)".into(),
        };
        println!("{name:<12} {:<11} {about:<40} {status}", "-");
    }
    println!();
    match models::choose(None, "--model") {
        Ok(c) => println!(
            "Default: {} ({}){}",
            c.path.display(),
            c.how,
            if c.is_test_model {
                " - a test model, colours not meaningful"
            } else {
                ""
            }
        ),
        Err(e) => println!("Default: none ({e})"),
    }
    println!("Get a real model: see models/README.md");
    Ok(ExitCode::SUCCESS)
}

/// `ddcolor help models`: which model and which size, in plain words.
const MODELS_HELP: &str =
    "List the DDColor models this tool knows, which are installed, and which one it would use.

Which model?
  modelscope   the best all-round choice (ConvNeXt-L, trained on ImageNet plus more data).
  paper        the model of the DDColor paper (ImageNet only): a little more conservative.
  artistic     more vivid, saturated colours: for a bold look, less for faithful archives.
  paper_tiny   small and fast (ConvNeXt-T): about 4x quicker on a CPU, colours a little flatter.
  Models are .onnx files in models/ (see models/README.md for downloads and for exporting the
  official checkpoints); --model takes a name or a path, DDCOLOR_MODEL sets a default.

Which size (--input-size, or a workflow's \"size\")?
  The model colours a small square copy of the photo (S x S) and the colour is then scaled up
  to the photo; the photo's own detail (lightness) is always kept at full resolution.
  256   what every DDColor model was trained at: the most reliable colours, the fastest
        (about 0.25 s per photo with the tiny model on a 2-core CPU). Good for small photos,
        film frames, and faces that fill the picture.
  512   what the reference tools use, and the default: finer colour boundaries for ordinary
        scans, about 4x the work of 256.
  768 to 1280  large, detailed scans (a street, a group photo): colour follows small objects
        better, but the model sees things at a scale it was not trained at, so colours can
        turn patchy; 9x to 25x the work of 256 and much more memory: a GPU job.
  auto  (in workflows) picks 256 to 1280 from the photo's resolution.
  With --upsample edge-aware (the workflows' choice) colour edges follow the photo's own
  edges, so a smaller S loses little.

Examples:
  ddcolor models                              what is installed
  ddcolor photo old.jpg --model paper_tiny    fast
  ddcolor photo scan.tif --input-size 768     a large, detailed scan
  ddcolor workflows                           presets that pick a size for you";

fn list_workflows(with_nodes: bool) {
    println!("Workflow presets (ddcolor photo --workflow NAME, or a JSON file of your own):\n");
    for p in PRESETS {
        println!("  {}", p.name);
        println!("      for:   {}", p.summary);
        println!("      sizes: {}", p.sizes);
        if let Ok(w) = Workflow::resolve(p.name) {
            let steps: Vec<String> = w
                .settings
                .iter()
                .map(|(node, values)| {
                    let class = node.split_once(' ').map_or(node.as_str(), |(_, c)| c);
                    format!("{} ({values})", class.trim_start_matches("DDColor-"))
                })
                .collect();
            println!("      steps: {}", steps.join(" -> "));
        }
        println!();
    }
    println!(
        "Styles (--style, or a DDColor-Style node): vintage (muted, warm, fine grain), modern (vivid, clean)."
    );
    println!();
    println!(
        "Sizes: DDColor was trained at 256 (most reliable colours, fastest); the reference tools"
    );
    println!(
        "use 512; the original product offered up to 1280 for large scans (finer colour detail,"
    );
    println!(
        "9x-25x slower than 256, colours can turn patchy). \"auto\" picks 256-1280 from the photo's"
    );
    println!("resolution. `ddcolor help models` says more.");
    println!();
    println!(
        "Workflow files are ComfyUI API-format JSON: workflows/portrait.json and workflows/building.json"
    );
    println!("are the presets; `ddcolor run FILE.json --input PHOTO` runs one.");
    if with_nodes {
        println!("\nNode types:");
        for n in nodes::NODES {
            println!("\n  {}: {}", n.class_type, n.doc);
            for i in n.inputs {
                let default = match i.default {
                    nodes::Default::None => "required".to_string(),
                    nodes::Default::Int(v) => format!("default {v}"),
                    nodes::Default::Float(v) => format!("default {v}"),
                    nodes::Default::Text("") => "default empty".to_string(),
                    nodes::Default::Text(t) => format!("default {t}"),
                };
                println!(
                    "      {:<16} {} ({}; {default})",
                    i.name,
                    i.doc,
                    i.kind.describe()
                );
            }
        }
    } else {
        println!("`ddcolor workflows --nodes` lists the node types a workflow may use.");
    }
}
