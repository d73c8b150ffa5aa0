//! `ddcolor metrics`: measures colorized versions of one film side by side: how steady their
//! colour is over time (warping error, colour distribution consistency), how colourful they are,
//! and, with a colour truth, how far their colour is from it (CIEDE2000, ab distance).
//!
//! All videos are read in lockstep, one frame at a time, keeping only the previous frame of each
//! (a feature film does not fit in memory). The motion between two frames is estimated once, on
//! the grey input's luma, and used for every run, so the runs are judged against the same motion.

mod plot;
mod video;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use ddcolor_engine::metrics::Plane;
use ddcolor_engine::metrics::{
    Histograms, Motion, Rgb, colour_error, colourfulness, histograms, jensen_shannon, warp_error,
};
use ddcolor_engine::temporal::{
    DEFAULT_SCENE_CUT_THRESHOLD, SceneSignature, scene_change, scene_signature,
};

use rayon::prelude::*;
use serde::Serialize;
use tempfile::NamedTempFile;

use crate::progress::{bar_style, progress_bar};
use video::FrameSource;

/// `ddcolor metrics RUN... --input GREY [--truth TRUTH] [--label NAME]... [--json F] [--plot F]`.
#[derive(Args)]
#[command(
    after_help = "Each video is a file GStreamer can decode (mp4, mkv, ...) or a folder of frames\n\
    (*.png, *.tif, *.jpg, in name order). All must have the input's frame count and size.\n\n\
    Measures (one row per run on stdout):\n  \
    E_warp         warping error: mean squared RGB change (0..3) of each pixel from one\n                 \
    frame to the next, after following the motion of the grey input.\n                 \
    Lower is steadier. Its size depends on the footage: compare runs\n                 \
    of the same film.\n  \
    CDC            colour distribution consistency: Jensen-Shannon divergence (bits, 0..1)\n                 \
    of the colour histograms of frames 1, 2 and 4 apart. Lower is steadier.\n  \
    colourfulness  Hasler–Süsstrunk colourfulness (0 for grey), mean per frame. Should stay\n                 \
    near the truth's: steady numbers with low colourfulness mean the\n                 \
    colour was washed out, not steadied.\n  \
    ΔE00           CIEDE2000 difference from the truth, mean per pixel (needs --truth).\n                 \
    Lower is better.\n  \
    ab             distance from the truth in the Lab a-b plane, mean per pixel (needs\n                 \
    --truth). Lower is better.\n\n\
    Where the input cuts to a new shot (its layout or brightness changes at once; see ddcolorize's\n\
    scene-cut-threshold), the pair across the cut is left out of E_warp and CDC: there is no\n\
    motion to follow there, and the colours change by right.\n\n\
    --json writes every number, per run and per frame. --plot draws warping error,\n\
    colourfulness and (with --truth) CIEDE2000 against the frame number, one curve per\n\
    run (1200 px wide, 400 px per panel).\n\n\
    Example:\n  \
    ddcolor metrics off.mp4 recursive.mp4 flow.mp4 --input reel_grey.mp4 \\\n      \
    --truth reel.mp4 --label off --label recursive --label flow \\\n      \
    --json metrics.json --plot metrics.png"
)]
pub struct MetricsArgs {
    /// Colorized videos to compare (files or folders of frames), all made from the grey input.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// The grey video the runs were colorized from; the motion is measured on it.
    #[arg(long, value_name = "GREY")]
    pub input: PathBuf,
    /// The original colour video, if there is one: adds CIEDE2000 and ab error.
    #[arg(long, value_name = "TRUTH")]
    pub truth: Option<PathBuf>,
    /// Name of a run in the table, JSON and plot: once per RUN, in order (default: file stem or
    /// folder name).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// Also write every measure, per run and per frame, as JSON.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Also draw the per-frame measures as a PNG chart.
    #[arg(long, value_name = "OUT.png")]
    pub plot: Option<PathBuf>,
}

/// Measures of one frame of one run.
#[derive(Clone, Debug, Serialize)]
pub struct FrameMeasures {
    pub index: u64,
    /// From the previous frame to this one; None for frame 0, or when every pixel is occluded.
    pub warp_error: Option<f64>,
    /// The input starts a new shot here: no warping error, and no CDC pair reaches back over it.
    pub scene_cut: bool,
    pub colourfulness: f64,
    pub ciede2000: Option<f64>,
    pub ab_error: Option<f64>,
}

/// Measures of a whole run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub frames: u64,
    pub warp_error: Option<f64>,
    pub cdc: Option<f64>,
    pub colourfulness: Option<f64>,
    pub ciede2000: Option<f64>,
    pub ab_error: Option<f64>,
}

#[derive(Serialize)]
pub struct RunReport {
    pub label: String,
    pub path: String,
    pub summary: Summary,
    pub frames: Vec<FrameMeasures>,
}

/// What `--json` writes.
#[derive(Serialize)]
pub struct Report {
    pub input: String,
    pub truth: Option<String>,
    /// Mean colourfulness of the truth, what the runs' colourfulness should be near.
    pub truth_colourfulness: Option<f64>,
    /// Frames where the input starts a new shot (left out of E_warp and CDC).
    pub scene_cuts: Vec<u64>,
    pub runs: Vec<RunReport>,
}

/// A run while it is being measured.
struct RunState {
    label: String,
    path: PathBuf,
    prev: Option<Rgb>,
    cdc: CdcStream,
    frames: Vec<FrameMeasures>,
}

pub fn run(args: &MetricsArgs) -> Result<()> {
    let labels = labels(&args.runs, &args.labels)?;
    // Outputs are checked before hours of measuring, not after.
    if let Some(p) = &args.json {
        check_writable(p)?;
    }
    if let Some(p) = &args.plot {
        plot::load_font()?;
        check_writable(p)?;
    }

    // Source 0 is the input, then the truth if any, then the runs.
    let mut paths = vec![args.input.clone()];
    paths.extend(args.truth.iter().cloned());
    let first_run = paths.len();
    paths.extend(args.runs.iter().cloned());
    let mut sources = paths
        .iter()
        .map(|p| FrameSource::open(p))
        .collect::<Result<Vec<_>>>()?;
    check_exact_counts(&sources)?;

    let mut runs: Vec<RunState> = args
        .runs
        .iter()
        .zip(labels)
        .map(|(path, label)| RunState {
            label,
            path: path.clone(),
            prev: None,
            cdc: CdcStream::default(),
            frames: Vec::new(),
        })
        .collect();
    let mut truth_colourfulness = Vec::new();
    let mut prev_luma: Option<Plane> = None;
    let mut prev_signature: Option<SceneSignature> = None;
    let (mut scene_cuts, mut shot_start) = (Vec::new(), 0u64);
    let bar = progress_bar(sources[0].frames_hint());

    let mut index = 0u64;
    loop {
        let mut frames = sources
            .par_iter_mut()
            .map(FrameSource::next_frame)
            .collect::<Result<Vec<_>>>()?;
        check_counts(&sources, &frames, index)?;
        let Some(input) = frames[0].take() else {
            break;
        };
        check_sizes(&sources, &frames, &input, prev_luma.as_ref(), index)?;
        let mut rest = frames.into_iter().skip(1);
        let truth = if args.truth.is_some() {
            rest.next().flatten()
        } else {
            None
        };
        let outputs: Vec<Rgb> = rest.flatten().collect();
        debug_assert_eq!(outputs.len(), sources.len() - first_run);

        let luma = input.luma();
        // Across a cut there is no motion to follow and the colours change by right: such pairs
        // say nothing about flicker, and a handful of them would swamp the means.
        let signature = scene_signature(&luma.data, luma.width, luma.height);
        let cut = prev_signature
            .as_ref()
            .is_some_and(|p| scene_change(p, &signature) > DEFAULT_SCENE_CUT_THRESHOLD);
        if cut {
            scene_cuts.push(index);
            shot_start = index;
        }
        let motion = prev_luma
            .as_ref()
            .filter(|_| !cut)
            .map(|p| Motion::between(p, &luma));
        runs.par_iter_mut().zip(outputs).for_each(|(state, frame)| {
            state.add(frame, index, shot_start, motion.as_ref(), truth.as_ref())
        });
        prev_signature = Some(signature);
        if let Some(t) = &truth {
            truth_colourfulness.push(colourfulness(t));
        }
        prev_luma = Some(luma);
        index += 1;
        bar.set_position(index);
        if bar.length().is_none()
            && let Some(total) = sources[0].frames_hint()
        {
            bar.set_length(total.max(index));
            bar.set_style(bar_style(true));
        }
    }
    bar.finish_and_clear();
    if index == 0 {
        bail!("{}: no frames", args.input.display());
    }

    let report = Report {
        input: args.input.display().to_string(),
        truth: args.truth.as_ref().map(|t| t.display().to_string()),
        truth_colourfulness: mean(truth_colourfulness.iter().copied()),
        scene_cuts,
        runs: runs.into_iter().map(RunState::finish).collect(),
    };
    print_table(&report, index);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot format the JSON")?;
        write_atomically(path, text.as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let png = plot::render(&report, &truth_colourfulness)?;
        write_atomically(path, &png)?;
    }
    Ok(())
}

impl RunState {
    fn add(
        &mut self,
        frame: Rgb,
        index: u64,
        shot_start: u64,
        motion: Option<&Motion>,
        truth: Option<&Rgb>,
    ) {
        let warp = match (&self.prev, motion) {
            (Some(prev), Some(m)) => warp_error(prev, &frame, m),
            _ => None,
        };
        let error = truth.and_then(|t| colour_error(&frame, t, None));
        self.cdc.push(index, shot_start, histograms(&frame));
        self.frames.push(FrameMeasures {
            index,
            warp_error: warp,
            scene_cut: index > 0 && index == shot_start,
            colourfulness: colourfulness(&frame),
            ciede2000: error.map(|e| e.0),
            ab_error: error.map(|e| e.1),
        });
        self.prev = Some(frame);
    }

    fn finish(self) -> RunReport {
        let f = &self.frames;
        RunReport {
            summary: Summary {
                frames: f.len() as u64,
                warp_error: mean(f.iter().filter_map(|m| m.warp_error)),
                cdc: self.cdc.value(),
                colourfulness: mean(f.iter().map(|m| m.colourfulness)),
                ciede2000: mean(f.iter().filter_map(|m| m.ciede2000)),
                ab_error: mean(f.iter().filter_map(|m| m.ab_error)),
            },
            label: self.label,
            path: self.path.display().to_string(),
            frames: self.frames,
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0u64), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The name of each run: `--label` in order, else the file stem (folder name for folders).
fn labels(runs: &[PathBuf], given: &[String]) -> Result<Vec<String>> {
    if !given.is_empty() {
        if given.len() != runs.len() {
            bail!(
                "{} --label given but {} runs: give one --label per RUN, in order, or none",
                given.len(),
                runs.len()
            );
        }
        return Ok(given.to_vec());
    }
    Ok(runs
        .iter()
        .map(|p| {
            let name = if p.is_dir() {
                p.file_name()
            } else {
                p.file_stem()
            };
            name.map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string())
        })
        .collect())
}

/// Folders know their frame count at once: compare before measuring anything.
fn check_exact_counts(sources: &[FrameSource]) -> Result<()> {
    let input = &sources[0];
    let Some(want) = input.frames_hint().filter(|_| input.count_is_exact()) else {
        return Ok(());
    };
    for s in &sources[1..] {
        if let Some(n) = s.frames_hint().filter(|_| s.count_is_exact())
            && n != want
        {
            bail!(
                "{}: {n} frames, but the input {} has {want}",
                s.path().display(),
                input.path().display()
            );
        }
    }
    Ok(())
}

/// After reading frame `index` of every source: all have one, or none has.
fn check_counts(sources: &[FrameSource], frames: &[Option<Rgb>], index: u64) -> Result<()> {
    let input = sources[0].path();
    let input_ended = frames[0].is_none();
    for (s, f) in sources.iter().zip(frames).skip(1) {
        match (input_ended, f.is_some()) {
            (true, true) => bail!(
                "{}: more frames than the input {}, which has {index}",
                s.path().display(),
                input.display()
            ),
            (false, false) => bail!(
                "{}: only {index} frames, but the input {} has more",
                s.path().display(),
                input.display()
            ),
            _ => {}
        }
    }
    Ok(())
}

/// Every frame has the size of the input's frame; the input keeps its first frame's size.
/// `frames[0]` (the input's) is not looked at.
fn check_sizes(
    sources: &[FrameSource],
    frames: &[Option<Rgb>],
    input: &Rgb,
    prev_input: Option<&Plane>,
    index: u64,
) -> Result<()> {
    let size = |w: usize, h: usize| format!("{w}x{h}");
    if let Some(p) = prev_input
        && (p.width, p.height) != (input.width, input.height)
    {
        bail!(
            "{}: frame {index}{} is {}, but the frames before it are {}",
            sources[0].path().display(),
            frame_file(&sources[0]),
            size(input.width, input.height),
            size(p.width, p.height)
        );
    }
    for (s, f) in sources.iter().zip(frames).skip(1) {
        if let Some(f) = f
            && (f.width, f.height) != (input.width, input.height)
        {
            bail!(
                "{}: frames are {}, but the input {} is {} (frame {index}{})",
                s.path().display(),
                size(f.width, f.height),
                sources[0].path().display(),
                size(input.width, input.height),
                frame_file(s)
            );
        }
    }
    Ok(())
}

/// ", NAME" of the image a folder's last frame came from; empty for files.
fn frame_file(s: &FrameSource) -> String {
    let p = s.last_frame_path();
    if p == s.path() {
        String::new()
    } else {
        format!(", {}", p.file_name().unwrap_or_default().to_string_lossy())
    }
}

/// Frame-to-frame distances at which CDC compares histograms.
const CDC_STEPS: [usize; 3] = [1, 2, 4];

/// Colour distribution consistency as the frames go by: the same number as
/// `ddcolor_engine::metrics::cdc` over all frames' histograms, keeping only the last four, and
/// leaving out pairs that reach back over a scene cut.
#[derive(Default)]
struct CdcStream {
    recent: VecDeque<(u64, Histograms)>,
    sums: [f64; CDC_STEPS.len()],
    pairs: [u64; CDC_STEPS.len()],
}

impl CdcStream {
    /// Frame `index`'s histograms; its shot started at `shot_start`.
    fn push(&mut self, index: u64, shot_start: u64, h: Histograms) {
        for (j, &k) in CDC_STEPS.iter().enumerate() {
            if self.recent.len() >= k {
                let (old_index, old) = &self.recent[self.recent.len() - k];
                if *old_index < shot_start {
                    continue;
                }
                self.sums[j] += (0..3).map(|c| jensen_shannon(&old[c], &h[c])).sum::<f64>() / 3.0;
                self.pairs[j] += 1;
            }
        }
        self.recent.push_back((index, h));
        if self.recent.len() > CDC_STEPS[CDC_STEPS.len() - 1] {
            self.recent.pop_front();
        }
    }

    fn value(&self) -> Option<f64> {
        mean(
            self.sums
                .iter()
                .zip(&self.pairs)
                .filter(|&(_, &n)| n > 0)
                .map(|(s, &n)| s / n as f64),
        )
    }
}

/// The table on stdout: one row per run, then what the columns mean.
fn print_table(report: &Report, frames: u64) {
    let fmt = |v: Option<f64>, decimals: usize| match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".into(),
    };
    let width = report
        .runs
        .iter()
        .map(|r| r.label.chars().count())
        .chain([7])
        .max()
        .unwrap_or(7);
    let truth = report.truth.is_some();
    println!(
        "{frames} frames of {}{}",
        report.input,
        report
            .truth
            .as_ref()
            .map(|t| format!(", truth {t}"))
            .unwrap_or_default()
    );
    if !report.scene_cuts.is_empty() {
        println!(
            "scene cuts in the input at frames {:?}: pairs across them left out of E_warp and CDC",
            report.scene_cuts
        );
    }
    println!();
    let header = format!(
        "{:<width$}  {:>6}  {:>10}  {:>8}  {:>13}",
        "run", "frames", "E_warp", "CDC", "colourfulness"
    );
    if truth {
        println!("{header}  {:>7}  {:>7}", "ΔE00", "ab");
    } else {
        println!("{header}");
    }
    for r in &report.runs {
        let s = &r.summary;
        let row = format!(
            "{:<width$}  {:>6}  {:>10}  {:>8}  {:>13}",
            r.label,
            s.frames,
            fmt(s.warp_error, 6),
            fmt(s.cdc, 5),
            fmt(s.colourfulness, 2)
        );
        if truth {
            println!(
                "{row}  {:>7}  {:>7}",
                fmt(s.ciede2000, 2),
                fmt(s.ab_error, 2)
            );
        } else {
            println!("{row}");
        }
    }
    if truth {
        println!(
            "{:<width$}  {:>6}  {:>10}  {:>8}  {:>13}  {:>7}  {:>7}",
            "(truth)",
            frames,
            "-",
            "-",
            fmt(report.truth_colourfulness, 2),
            "-",
            "-"
        );
    }
    println!();
    println!(
        "E_warp         warping error along the input's motion, mean per frame pair: lower is steadier"
    );
    println!(
        "CDC            colour histogram change over 1, 2, 4 frames (bits): lower is steadier"
    );
    if truth {
        println!("colourfulness  Hasler–Süsstrunk, mean per frame: should stay near the truth's");
        println!("ΔE00           CIEDE2000 difference from the truth, mean: lower is better");
        println!(
            "ab             distance from the truth in the Lab a-b plane, mean: lower is better"
        );
    } else {
        println!(
            "colourfulness  Hasler–Süsstrunk, mean per frame: 0 is grey; steady but washed-out runs score low"
        );
    }
}

/// A temporary file beside `path` (see `ddcolor_engine::io::temp_file_beside`), to be renamed to
/// `path` when complete; the errors say what is wrong with `path`.
fn temporary_beside(path: &Path) -> Result<NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if path.is_dir() {
        bail!("{}: is a folder; give a file name", path.display());
    }
    if !dir.is_dir() {
        bail!(
            "{}: cannot write there: the folder {} does not exist",
            path.display(),
            dir.display()
        );
    }
    ddcolor_engine::io::temp_file_beside(path)
        .map_err(|e| anyhow!("{}: cannot write there: {}", path.display(), e.kind()))
}

/// Fails now, not after hours of measuring, when `path` cannot be written. The probe is removed
/// at once, so an interrupted run leaves nothing behind.
fn check_writable(path: &Path) -> Result<()> {
    temporary_beside(path).map(drop)
}

/// Writes `bytes` to `path` whole or not at all (synced, renamed).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    check_writable(path)?;
    ddcolor_engine::io::write_atomically(bytes, path)
        .with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddcolor_engine::metrics::cdc;

    #[test]
    fn streamed_cdc_equals_the_engine_cdc() {
        let frames: Vec<Rgb> = (0..11u8)
            .map(|i| {
                let data = (0..16 * 3)
                    .map(|j| (j as u8).wrapping_mul(7).wrapping_add(i * 13 % 40))
                    .collect();
                Rgb::new(4, 4, data)
            })
            .collect();
        for n in [1, 2, 3, 5, 11] {
            let hists: Vec<Histograms> = frames[..n].iter().map(histograms).collect();
            let mut stream = CdcStream::default();
            hists
                .iter()
                .enumerate()
                .for_each(|(i, h)| stream.push(i as u64, 0, *h));
            match (stream.value(), cdc(&hists)) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{n} frames: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "{n} frames"),
            }
        }
    }

    #[test]
    fn cdc_leaves_out_pairs_over_a_cut() {
        let a = histograms(&Rgb::new(1, 1, vec![10, 10, 10]));
        let b = histograms(&Rgb::new(1, 1, vec![200, 200, 200]));
        let mut stream = CdcStream::default();
        // Shot 1: frames 0-4 all `a`; shot 2 from frame 5: all `b`. No pair inside a shot differs.
        for i in 0..10u64 {
            let (start, h) = if i < 5 { (0, a) } else { (5, b) };
            stream.push(i, start, h);
        }
        assert_eq!(stream.value(), Some(0.0));
    }

    #[test]
    fn labels_default_to_stems_and_must_match_the_runs() {
        let runs = [PathBuf::from("a/flow.mp4"), PathBuf::from("b/off.mkv")];
        assert_eq!(labels(&runs, &[]).unwrap(), ["flow", "off"]);
        assert_eq!(
            labels(&runs, &["x".into(), "y".into()]).unwrap(),
            ["x", "y"]
        );
        assert!(labels(&runs, &["x".into()]).is_err());
    }
}
