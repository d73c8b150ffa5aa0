//! Integration tests of `ddcolor metrics`: the numbers it reports on small synthetic films
//! whose answer is known (a run equal to the truth, a grey run, a steady run against one whose
//! colour flickers), its one-line errors naming the offending file, its chart, and real video
//! files decoded with GStreamer.
//!
//! Films are folders of 64x48 PNG frames written into temporary folders, and short H.264 clips
//! made with `gst-launch-1.0`. Every process has a time limit, so a hang fails the test instead
//! of stalling CI.

#[macro_use]
mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Run;
use image::{GrayImage, Luma, Rgb, RgbImage};
use serde_json::Value;
use tempfile::TempDir;

/// Limit for one run of a process: the films here take well under a second.
const LIMIT: Duration = Duration::from_secs(120);
/// Size of the chart `--plot` writes: 1200 px wide, 400 px per panel.
const PLOT_WIDTH: u32 = 1200;
const PANEL_HEIGHT: u32 = 400;

const W: u32 = 64;
const H: u32 = 48;
const FRAMES: u32 = 8;

// ---------------------------------------------------------------------------------------------
// Running processes, with a time limit
// ---------------------------------------------------------------------------------------------

/// Runs `program` with `args`; fails the test when it runs longer than `LIMIT`.
fn run_program(program: &str, args: &[OsString]) -> Run {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null());
    common::run(cmd, LIMIT)
}

fn metrics(args: Vec<OsString>) -> Run {
    let mut all = args!["metrics"];
    all.extend(args);
    common::run(common::ddcolor_command(&all), LIMIT)
}

/// Runs the metrics with `--json` into `dir` and returns the report.
fn report(dir: &Path, args: Vec<OsString>) -> Value {
    let json = dir.join("report.json");
    let mut all = args;
    all.extend(args!["--json", json]);
    metrics(all).assert_ok();
    let text = fs::read_to_string(&json).expect("the JSON report was not written");
    serde_json::from_str(&text).expect("the JSON report does not parse")
}

fn summary(report: &Value, run: usize) -> &Value {
    &report["runs"][run]["summary"]
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

// ---------------------------------------------------------------------------------------------
// Synthetic films
// ---------------------------------------------------------------------------------------------

/// Brightness (0..1) of a texture that moves 2 px right per frame.
fn texture(x: u32, y: u32, t: u32) -> f32 {
    let xf = x as f32 - 2.0 * t as f32;
    0.5 + 0.3 * (xf * 0.3).sin() * (y as f32 * 0.25).cos()
}

/// The colour of the truth film: an orange tint of the moving texture.
fn truth_pixel(x: u32, y: u32, t: u32) -> [u8; 3] {
    let v = texture(x, y, t) * 255.0;
    [v as u8, (v * 0.8) as u8, (v * 0.5) as u8]
}

/// A folder `name` of `frames` PNG frames of `w`x`h`, `pixel(x, y, t)` each.
fn rgb_film(
    root: &Path,
    name: &str,
    frames: u32,
    (w, h): (u32, u32),
    pixel: impl Fn(u32, u32, u32) -> [u8; 3],
) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    for t in 0..frames {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb(pixel(x, y, t)));
        img.save(dir.join(format!("frame_{t:04}.png"))).unwrap();
    }
    dir
}

/// The grey input: 8-bit grey PNGs of the texture.
fn grey_film(root: &Path, name: &str, frames: u32) -> PathBuf {
    let dir = root.join(name);
    fs::create_dir_all(&dir).unwrap();
    for t in 0..frames {
        let img = GrayImage::from_fn(W, H, |x, y| Luma([(texture(x, y, t) * 255.0) as u8]));
        img.save(dir.join(format!("frame_{t:04}.png"))).unwrap();
    }
    dir
}

fn truth_film(root: &Path, name: &str) -> PathBuf {
    rgb_film(root, name, FRAMES, (W, H), truth_pixel)
}

// ---------------------------------------------------------------------------------------------
// What the measures say
// ---------------------------------------------------------------------------------------------

#[test]
fn a_run_equal_to_the_truth_has_no_colour_error() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let truth = truth_film(tmp.path(), "truth");
    let same = truth_film(tmp.path(), "same");
    let r = report(tmp.path(), args![same, "--input", input, "--truth", truth]);
    let s = summary(&r, 0);
    assert_eq!(num(&s["ciede2000"]), 0.0);
    assert_eq!(num(&s["ab_error"]), 0.0);
    assert_eq!(s["frames"], FRAMES);
    let frames = r["runs"][0]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), FRAMES as usize);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f["index"], i);
        assert_eq!(num(&f["ciede2000"]), 0.0);
        assert_eq!(num(&f["ab_error"]), 0.0);
        assert_eq!(f["warp_error"].is_null(), i == 0, "frame {i}: {f}");
    }
    assert_eq!(
        r["runs"][0]["label"], "same",
        "label defaults to the folder name"
    );
    assert_eq!(r["truth"], truth.display().to_string());
    assert_eq!(r["input"], input.display().to_string());
}

#[test]
fn a_flickering_run_is_less_steady_than_a_steady_one() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let steady = truth_film(tmp.path(), "steady");
    // The same film with a red cast on every other frame.
    let flicker = rgb_film(tmp.path(), "flicker", FRAMES, (W, H), |x, y, t| {
        let [r, g, b] = truth_pixel(x, y, t);
        if t % 2 == 1 {
            [r.saturating_add(50), g, b.saturating_sub(20)]
        } else {
            [r, g, b]
        }
    });
    let r = report(
        tmp.path(),
        args![
            steady, flicker, "--input", input, "--label", "steady", "--label", "flicker"
        ],
    );
    assert_eq!(r["runs"][0]["label"], "steady");
    assert_eq!(r["runs"][1]["label"], "flicker");
    assert!(r["truth"].is_null());
    let (s, f) = (summary(&r, 0), summary(&r, 1));
    assert!(s["ciede2000"].is_null() && s["ab_error"].is_null());
    let (ws, wf) = (num(&s["warp_error"]), num(&f["warp_error"]));
    let (cs, cf) = (num(&s["cdc"]), num(&f["cdc"]));
    eprintln!("steady: E_warp {ws:.6} CDC {cs:.5}; flicker: E_warp {wf:.6} CDC {cf:.5}");
    assert!(
        wf > 3.0 * ws.max(1e-4),
        "warping error: flicker {wf} vs steady {ws}"
    );
    assert!(cf > 2.0 * cs, "CDC: flicker {cf} vs steady {cs}");
}

#[test]
fn a_grey_run_has_no_colourfulness() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let colour = truth_film(tmp.path(), "colour");
    let r = report(tmp.path(), args![input, colour, "--input", input]);
    assert_eq!(num(&summary(&r, 0)["colourfulness"]), 0.0);
    for f in r["runs"][0]["frames"].as_array().unwrap() {
        assert_eq!(num(&f["colourfulness"]), 0.0);
    }
    assert!(num(&summary(&r, 1)["colourfulness"]) > 10.0);
}

#[test]
fn the_table_names_every_run_and_explains_the_columns() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", 3);
    let run = rgb_film(tmp.path(), "run", 3, (W, H), truth_pixel);
    let out = metrics(args![
        run, "--input", input, "--truth", run, "--label", "mine"
    ]);
    out.assert_ok();
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("mine "))
        .unwrap_or_else(|| panic!("no row for the run:\n{}", out.stdout));
    assert!(row.contains(" 3 "), "frame count missing: {row}");
    for w in [
        "E_warp",
        "CDC",
        "colourfulness",
        "ΔE00",
        "lower is steadier",
        "lower is better",
    ] {
        assert!(out.stdout.contains(w), "{w:?} missing:\n{}", out.stdout);
    }
}

#[test]
fn help_explains_the_measures_with_an_example() {
    let out = metrics(args!["--help"]);
    out.assert_ok();
    for w in [
        "--input",
        "--truth",
        "--label",
        "--json",
        "--plot",
        "Lower is steadier",
        "Lower is better",
        "Example",
    ] {
        assert!(out.stdout.contains(w), "{w:?} missing:\n{}", out.stdout);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn a_run_with_fewer_frames_is_named() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let short = rgb_film(tmp.path(), "short", FRAMES - 1, (W, H), truth_pixel);
    let json = tmp.path().join("out.json");
    let out = metrics(args![short, "--input", input, "--json", json]);
    out.assert_one_error(&short, &["7 frames", "8"]);
    assert!(!json.exists(), "JSON written after a failure");
    assert_no_temporary_files(tmp.path());
}

#[test]
fn a_truth_with_more_frames_is_named() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let run = truth_film(tmp.path(), "run");
    let long = rgb_film(tmp.path(), "long", FRAMES + 2, (W, H), truth_pixel);
    let out = metrics(args![run, "--input", input, "--truth", long]);
    out.assert_one_error(&long, &["10 frames"]);
}

#[test]
fn a_run_of_another_size_is_named_with_both_sizes() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let run = truth_film(tmp.path(), "run");
    let wide = rgb_film(tmp.path(), "wide", FRAMES, (80, H), |_, _, _| [10, 20, 30]);
    let out = metrics(args![run, wide, "--input", input]);
    out.assert_one_error(&wide, &["80x48", "64x48"]);
}

#[test]
fn a_file_that_is_not_a_video_is_named() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let text = tmp.path().join("notes.mp4");
    fs::write(&text, "not a video at all\n".repeat(100)).unwrap();
    let out = metrics(args![text, "--input", input]);
    out.assert_one_error(&text, &[]);
    let missing = tmp.path().join("missing.mp4");
    let out = metrics(args![missing, "--input", input]);
    out.assert_one_error(&missing, &["no such file"]);
}

#[test]
fn labels_must_be_one_per_run() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", 2);
    let out = metrics(args![input, input, "--input", input, "--label", "only"]);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("--label"), "{}", out.stderr);
}

fn assert_no_temporary_files(dir: &Path) {
    let parts: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "temporary files left behind: {parts:?}");
}

// ---------------------------------------------------------------------------------------------
// The chart
// ---------------------------------------------------------------------------------------------

/// Decodes the chart and checks its size and that it shows something.
fn check_chart(path: &Path, panels: u32) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: not a readable PNG: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (PLOT_WIDTH, PANEL_HEIGHT * panels));
    let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        colours.len() > 20,
        "the chart is (almost) a flat colour: {} colours",
        colours.len()
    );
    // The first curve colour (of the first run) is drawn.
    assert!(
        img.pixels().any(|p| p.0 == [31, 119, 180]),
        "no curve of the first run"
    );
}

#[test]
fn plot_draws_one_panel_per_measure() {
    let tmp = TempDir::new().unwrap();
    let input = grey_film(tmp.path(), "grey", FRAMES);
    let truth = truth_film(tmp.path(), "truth");
    let run = truth_film(tmp.path(), "run");
    let png = tmp.path().join("chart.png");
    metrics(args![
        run, input, "--input", input, "--truth", truth, "--plot", png
    ])
    .assert_ok();
    check_chart(&png, 3);

    // Without a truth there is no CIEDE2000 panel.
    let png2 = tmp.path().join("chart2.png");
    metrics(args![run, "--input", input, "--plot", png2]).assert_ok();
    check_chart(&png2, 2);
    assert_no_temporary_files(tmp.path());
}

// ---------------------------------------------------------------------------------------------
// Video files
// ---------------------------------------------------------------------------------------------

/// A 10-frame 96x64 H.264 MP4 of a videotestsrc `pattern`, optionally made grey.
fn clip(dir: &Path, name: &str, pattern: &str, grey: bool) -> PathBuf {
    let path = dir.join(name);
    let grey = if grey {
        "videoconvert ! video/x-raw,format=GRAY8 ! "
    } else {
        ""
    };
    let desc = format!(
        "videotestsrc num-buffers=10 pattern={pattern} ! video/x-raw,width=96,height=64,framerate=25/1 ! \
         {grey}videoconvert ! x264enc ! mp4mux ! filesink location={}",
        path.display()
    );
    let mut args = vec![OsString::from("-q")];
    args.extend(desc.split_whitespace().map(OsString::from));
    run_program("gst-launch-1.0", &args).assert_ok();
    assert!(path.is_file(), "{}: not made", path.display());
    path
}

#[test]
fn video_files_are_decoded_frame_by_frame() {
    let tmp = TempDir::new().unwrap();
    let input = clip(tmp.path(), "grey.mp4", "ball", true);
    let truth = clip(tmp.path(), "truth.mp4", "ball", false);
    let other = clip(tmp.path(), "bars.mp4", "smpte", false);
    let r = report(
        tmp.path(),
        args![truth, other, "--input", input, "--truth", truth],
    );
    for run in 0..2 {
        assert_eq!(summary(&r, run)["frames"], 10, "{r}");
        assert_eq!(r["runs"][run]["frames"].as_array().unwrap().len(), 10);
    }
    assert_eq!(
        r["runs"][0]["label"], "truth",
        "label defaults to the file stem"
    );
    assert_eq!(num(&summary(&r, 0)["ciede2000"]), 0.0);
    assert!(num(&summary(&r, 1)["ciede2000"]) > 1.0);

    // A folder run against a video input: the count is found out while reading.
    let folder = rgb_film(tmp.path(), "frames", 8, (96, 64), |_, _, _| [90, 60, 30]);
    let out = metrics(args![folder, "--input", input]);
    out.assert_one_error(&folder, &["8 frames", "grey.mp4"]);
    let long = rgb_film(tmp.path(), "long", 12, (96, 64), |_, _, _| [90, 60, 30]);
    let out = metrics(args![long, "--input", input]);
    out.assert_one_error(&long, &["more frames", "grey.mp4", "10"]);
}
