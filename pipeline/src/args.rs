//! The command line: every command's arguments and the parsers that check them, in one place so
//! that `photo`, `batch`, `run` and `film` share their model, look and output options.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use ddcolor_engine::Style;
use ddcolor_engine::Upsample;
use ddcolor_engine::device::{Device, GpuOptions};
use ddcolor_engine::io::{DEFAULT_MAX_PIXELS, OutputFormat};
use ddcolor_engine::temporal::{self, TemporalMode, TemporalSettings};

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
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Colorize photos: files and/or folders (the images directly inside them).
    #[command(
        after_help = "Without -o, each result is written beside its input as NAME_color.EXT.\n\
        With -o FILE (one input) the format follows FILE's extension: .png, .jpg, .tif, .webp.\n\
        With -o DIR results are written into DIR (created if missing) under the input's name."
    )]
    Photo {
        /// Photos or folders of photos (.jpg, .jpeg, .png, .tif, .tiff, .webp, .bmp).
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
        events: EventsArgs,
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
    Film(FilmArgs),
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
    Metrics(crate::metrics::MetricsArgs),
    /// The web app: log in, upload photos, folders, zips or films, follow progress, download
    /// the results. Create the first user with `ddcolor users add NAME --admin`.
    #[command(long_about = SERVE_HELP)]
    Serve(ServeArgs),
    /// The web app's accounts and API tokens (on the same data folder as `serve`).
    Users {
        /// The data folder, as given to `ddcolor serve --data`.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA, global = true)]
        data: PathBuf,
        #[command(subcommand)]
        command: UsersCommand,
    },
}

/// The web app's data folder when none is given.
pub(crate) const DEFAULT_DATA: &str = "ddcolor-data";

const SERVE_HELP: &str = "The web app: people log in with a browser, upload photos, a folder, a \
zip of an album or a film, pick a preset, a style and a size, and come back to the results. \
Jobs wait in a queue kept in the data folder and run one at a time through the same pipelines \
as `ddcolor batch` and `ddcolor film`; a restarted server resumes them.\n\n\
Start: `ddcolor users add NAME --admin`, then `ddcolor serve`, then open http://127.0.0.1:8080. \
Scripts use the same API with `Authorization: Bearer TOKEN` (`ddcolor users token NAME`); \
the API is described at /help and in /api/openapi.yaml.";

#[derive(Args, Clone)]
pub(crate) struct ServeArgs {
    /// Folder of the database, the uploaded originals, the results and the operation log
    /// (created if missing).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA)]
    pub(crate) data: PathBuf,
    /// Address and port to listen on. Anything but loopback should have TLS (--tls-cert and
    /// --tls-key, or a reverse proxy in front).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key the app serves HTTPS itself.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Trust the client address in X-Forwarded-For (only behind a reverse proxy that sets it).
    #[arg(long)]
    pub(crate) behind_proxy: bool,
    /// Largest upload, in MiB (one request: all its files together).
    #[arg(long, value_name = "MIB", default_value_t = 4096)]
    pub(crate) max_upload: u64,
    /// Most files in one job (an upload, or what a zip unpacks to).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub(crate) max_files: usize,
    /// Storage each user may hold (originals and results), in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 20_480)]
    pub(crate) quota_storage: u64,
    /// Jobs each user may have waiting or running at once.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) quota_jobs: i64,
    /// Print every route with who may use it, and exit (for tests and reviews).
    #[arg(long, hide = true)]
    pub(crate) list_routes: bool,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// JPEG quality of the results (1-100).
    #[arg(long, value_name = "Q", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub(crate) quality: u8,
    /// Largest photo accepted, in pixels.
    #[arg(long, value_name = "PIXELS", default_value_t = DEFAULT_MAX_PIXELS)]
    pub(crate) max_pixels: u64,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

#[derive(Subcommand, Clone)]
pub(crate) enum UsersCommand {
    /// Add a user (the password is asked for, or read from --password-file).
    Add {
        name: String,
        /// May see every user's jobs and the operation log.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of this file instead of asking.
        #[arg(long, value_name = "F")]
        password_file: Option<PathBuf>,
    },
    /// List the users and their API tokens.
    List,
    /// Remove a user with their jobs, files, sessions and tokens.
    Remove { name: String },
    /// Change a user's password (ends their browser sessions).
    Passwd {
        name: String,
        #[arg(long, value_name = "F")]
        password_file: Option<PathBuf>,
    },
    /// Print a new API token for scripts (alone on the last line), or revoke tokens.
    Token {
        name: String,
        /// Revoke the token with this id (see `users list`), or `all`.
        #[arg(long, value_name = "ID|all")]
        revoke: Option<String>,
    },
}

/// How the model is chosen and run: shared by `photo`, `batch` and `film`.
#[derive(Args, Clone)]
pub(crate) struct ModelArgs {
    /// Model: a path to an .onnx file or a known name (modelscope, paper, artistic, paper_tiny).
    /// Default: $DDCOLOR_MODEL, else the best model present under models/.
    #[arg(long, value_name = "PATH|NAME")]
    pub(crate) model: Option<String>,
    /// Size S the model works at, for models with a dynamic input (multiple of 32). Larger is
    /// slower; DDColor was trained at 256, the reference tools use 512.
    #[arg(long, value_name = "S")]
    pub(crate) input_size: Option<usize>,
    /// How the model's colour is scaled back to the photo: bilinear (smooth; the default
    /// without a workflow), edge-aware (colour edges follow the photo's own edges; the
    /// workflows' choice) or nearest (exactly what the official DDColor code does).
    #[arg(long, value_name = "MODE", value_parser = parse_upsample)]
    pub(crate) upsample: Option<Upsample>,
    /// Threads the model uses (default: one per core).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Where the model runs: auto (an NVIDIA GPU when a CUDA-enabled ONNX Runtime and a usable
    /// GPU are there, else the CPU, with one line saying why), cuda (fail without them) or cpu.
    #[arg(long, value_name = "DEVICE", default_value = "auto", value_parser = parse_device)]
    pub(crate) device: Device,
    /// On the GPU with TensorRT: half precision (faster; colours within a level or two).
    #[arg(long)]
    fp16: bool,
    /// Folder where TensorRT keeps the engines it builds (building one takes minutes).
    #[arg(long, value_name = "DIR")]
    pub(crate) engine_cache: Option<PathBuf>,
    /// Cap on ONNX Runtime's CUDA memory arena (and TensorRT's build workspace), in MiB.
    #[arg(long, value_name = "MIB")]
    pub(crate) max_gpu_memory: Option<u64>,
}

impl ModelArgs {
    /// These options as a command line again, for the commands the web app runs.
    pub(crate) fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                a.push(k.to_string());
                a.push(v);
            }
        };
        push("--model", self.model.clone());
        push("--input-size", self.input_size.map(|s| s.to_string()));
        push("--upsample", self.upsample.map(|u| u.to_string()));
        push("--threads", self.threads.map(|t| t.to_string()));
        push("--device", Some(self.device.to_string()));
        push(
            "--engine-cache",
            self.engine_cache.as_ref().map(|p| p.display().to_string()),
        );
        push(
            "--max-gpu-memory",
            self.max_gpu_memory.map(|m| m.to_string()),
        );
        if self.fp16 {
            a.push("--fp16".into());
        }
        a
    }

    pub(crate) fn gpu(&self) -> GpuOptions {
        GpuOptions {
            device_id: 0,
            fp16: self.fp16,
            engine_cache: self.engine_cache.clone(),
            max_memory: self.max_gpu_memory.map(|m| m.saturating_mul(1 << 20)),
        }
    }
}

pub(crate) fn parse_device(s: &str) -> Result<Device, String> {
    s.parse()
}

/// What is done around the model: a workflow (preset or JSON file) and a style.
#[derive(Args, Clone, Default)]
pub(crate) struct LookArgs {
    /// A workflow: a preset (portrait, building; see `ddcolor workflows`) or a ComfyUI-API JSON
    /// file. Its model, size and upsampling apply unless --model, --input-size or --upsample
    /// is given.
    #[arg(long, value_name = "NAME|FILE")]
    pub(crate) workflow: Option<String>,
    /// A look applied last: vintage (muted, warm, fine grain) or modern (vivid, clean).
    #[arg(long, value_name = "STYLE", value_parser = parse_style)]
    pub(crate) style: Option<Style>,
}

pub(crate) fn parse_style(s: &str) -> Result<Style, String> {
    s.parse()
}

/// Temporal smoothing for `film` (the `ddcolorize` properties of the same names).
#[derive(Args, Clone)]
pub(crate) struct TemporalArgs {
    /// Keep colours steady from frame to frame: off, recursive (blend with the previous frame
    /// where the picture did not change) or flow (follow motion with optical flow).
    #[arg(long, value_name = "MODE", default_value_t = TemporalMode::default(), value_parser = parse_temporal)]
    pub(crate) temporal: TemporalMode,
    /// How much of the previous frame's colour is kept where nothing changed (0 to 0.99).
    #[arg(long, value_name = "S", default_value_t = temporal::DEFAULT_STRENGTH, value_parser = parse_strength)]
    pub(crate) temporal_strength: f32,
    /// How quickly blending stops where the picture changed; higher leaves no trail behind
    /// moving objects, lower smooths grainy film more.
    #[arg(long, value_name = "ALPHA", default_value_t = temporal::DEFAULT_MOTION_SENSITIVITY, value_parser = parse_sensitivity)]
    pub(crate) motion_sensitivity: f32,
    /// Change of the picture's layout (0 to 1) that starts a new scene, where no colour is carried
    /// over; 1 never cuts.
    #[arg(long, value_name = "T", default_value_t = temporal::DEFAULT_SCENE_CUT_THRESHOLD, value_parser = parse_cut_threshold)]
    pub(crate) scene_cut_threshold: f32,
}

impl TemporalArgs {
    pub(crate) fn settings(&self) -> TemporalSettings {
        TemporalSettings {
            mode: self.temporal,
            strength: self.temporal_strength,
            motion_sensitivity: self.motion_sensitivity,
            scene_cut_threshold: self.scene_cut_threshold,
        }
    }
}

pub(crate) fn parse_temporal(s: &str) -> Result<TemporalMode, String> {
    s.parse()
}

pub(crate) fn parse_in_range(s: &str, what: &str, lo: f32, hi: f32) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!(
            "bad {what} '{s}' (expected a number from {lo} to {hi})"
        )),
    }
}

pub(crate) fn parse_strength(s: &str) -> Result<f32, String> {
    parse_in_range(s, "strength", 0.0, 0.99)
}

pub(crate) fn parse_sensitivity(s: &str) -> Result<f32, String> {
    parse_in_range(s, "motion sensitivity", 0.0, 10000.0)
}

pub(crate) fn parse_cut_threshold(s: &str) -> Result<f32, String> {
    parse_in_range(s, "scene-cut threshold", 0.0, 1.0)
}

#[derive(Args, Clone)]
pub(crate) struct Common {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// JPEG quality of the results (1-100).
    #[arg(long, value_name = "Q", default_value_t = 95, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub(crate) quality: u8,
    /// Largest photo accepted, in pixels (protects against huge or malicious files).
    #[arg(long, value_name = "PIXELS", default_value_t = DEFAULT_MAX_PIXELS)]
    pub(crate) max_pixels: u64,
    #[command(flatten)]
    pub(crate) look: LookArgs,
    /// Format of the results: png, jpg, tif or webp (default: the input's format; PNG for inputs
    /// that cannot be written, such as .bmp).
    #[arg(long, value_name = "EXT", value_parser = parse_format)]
    pub(crate) format: Option<String>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
}

/// What goes into each result besides its pixels: shared by `photo`, `batch`, `run` and `film`.
#[derive(Args, Clone)]
pub(crate) struct OutputArgs {
    /// Write no provenance into the results. By default each result records that it was
    /// colorized: the model (name and SHA-256), workflow, settings and ddcolor version, as XMP
    /// (PNG, JPEG, TIFF, WebP; PNG/TIFF text fields too) or as container tags (film).
    #[arg(long)]
    pub(crate) no_metadata: bool,
    /// Draw a small visible "COLORIZED" mark in the bottom-right corner of each result (each
    /// frame of a film), for copies shown where metadata is lost. Pictures under 64 pixels on a
    /// side are left unmarked.
    #[arg(long)]
    pub(crate) mark: bool,
}

pub(crate) fn parse_fps(s: &str) -> Result<gst::Fraction, String> {
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

pub(crate) fn parse_upsample(s: &str) -> Result<Upsample, String> {
    s.parse()
}

pub(crate) fn parse_format(s: &str) -> Result<String, String> {
    let ext = s.trim_start_matches('.').to_ascii_lowercase();
    match OutputFormat::from_extension(&ext) {
        Some(_) => Ok(ext),
        None => Err(format!(
            "unknown format '{s}' (expected png, jpg, tif or webp)"
        )),
    }
}

/// `ddcolor help models`: which model and which size, in plain words.
pub(crate) const MODELS_HELP: &str =
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

/// `--events`, for `batch` and `film`: progress for a program that runs them, such as a web app.
#[derive(Args, Clone, Default)]
pub(crate) struct EventsArgs {
    /// Also write what happens as it happens, one JSON object per line, for a program that runs
    /// this command: TARGET is `-` (standard output, where nothing else is written) or a file
    /// (replaced). Events: start, item (each photo: done, failed or skipped), current, frames,
    /// note, stepdown, not_walked, end.
    #[arg(long, value_name = "TARGET")]
    pub(crate) events: Option<PathBuf>,
}

/// `ddcolor film`'s arguments, handed whole to the film command.
#[derive(Args, Clone)]
pub(crate) struct FilmArgs {
    /// A video file GStreamer can decode (mp4, mkv, avi, mov, webm...), or a folder of frames
    /// (*.png, *.tif, *.jpg, taken in name order; needs --fps).
    pub(crate) input: PathBuf,
    /// Output video: .mp4, .mkv or .webm.
    pub(crate) output: PathBuf,
    /// Frame rate of an image sequence: 24, 25, 29.97 or 24000/1001.
    #[arg(long, value_name = "F", value_parser = parse_fps)]
    pub(crate) fps: Option<gst::Fraction>,
    /// Store the video losslessly (FFV1 in .mkv): for archival masters.
    #[arg(long)]
    pub(crate) lossless: bool,
    /// Also write every colour frame as DIR/frame_000001.png, ...
    #[arg(long, value_name = "DIR")]
    pub(crate) frames: Option<PathBuf>,
    /// Frames per inference call (more can be faster on a GPU; adds latency, not memory use
    /// beyond the frames held).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) batch_size: u32,
    /// Replace the output if it exists.
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Accept an input that ends before the duration its container claims (a cut-off
    /// download or copy): the shorter film is written with a warning and the exit status is 0.
    /// Without it such a film is still written, but the run fails (exit status 2).
    #[arg(long)]
    pub(crate) accept_truncated: bool,
    /// Largest frame accepted from an image sequence, in pixels.
    #[arg(long, value_name = "PIXELS", default_value_t = DEFAULT_MAX_PIXELS)]
    pub(crate) max_pixels: u64,
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    #[command(flatten)]
    pub(crate) temporal: TemporalArgs,
    #[command(flatten)]
    pub(crate) look: LookArgs,
    #[command(flatten)]
    pub(crate) output_args: OutputArgs,
    #[command(flatten)]
    pub(crate) events: EventsArgs,
}
