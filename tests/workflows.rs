//! Workflows from the command line: `ddcolor photo --workflow`, `ddcolor run FILE.json`,
//! `--style`, `ddcolor workflows`, `ddcolor help models`, and the errors a broken workflow file
//! gets (one line naming the file, the node id and the input; nothing written).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Run, historical};
use image::{GrayImage, Luma, RgbImage};
use tempfile::TempDir;

fn model(name: &str) -> String {
    common::model(name).display().to_string()
}

/// Runs `ddcolor ARGS` (no model chosen by the environment); fails the test when it runs past
/// 5 minutes.
fn ddcolor(args: &[&str]) -> Run {
    common::run(common::ddcolor_command(args), Duration::from_secs(300))
}

fn ok(args: &[&str]) -> Run {
    let o = ddcolor(args);
    assert!(o.status.success(), "ddcolor {args:?} failed:\n{}", o.stderr);
    o
}

/// A grey test scan with edges and gradients, `w` x `h`.
fn scan(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let img = GrayImage::from_fn(w, h, |x, y| {
        let v = if (x / 16 + y / 16) % 2 == 0 { 60 } else { 190 };
        Luma([v + (x * 40 / w) as u8])
    });
    let p = dir.join(name);
    img.save(&p).expect("write scan");
    p
}

fn pixels(p: &Path) -> RgbImage {
    image::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn write_workflow(dir: &Path, name: &str, json: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, json).expect("write workflow");
    p
}

/// A chain: load -> ddcolorize (`colorize_inputs`) -> `post` nodes (ids 3, 4, ...) -> save.
fn chain(load: &str, colorize_inputs: &str, post: &[(&str, &str)]) -> String {
    let mut nodes = vec![
        format!(r#""1": {{"class_type": "LoadImage", "inputs": {{"image": "{load}"}}}}"#),
        format!(
            r#""2": {{"class_type": "DDColor-ddcolorize", "inputs": {{"image": ["1", 0]{colorize_inputs}}}}}"#
        ),
    ];
    let mut last = 2;
    for (class, inputs) in post {
        let id = last + 1;
        nodes.push(format!(
            r#""{id}": {{"class_type": "{class}", "inputs": {{"image": ["{last}", 0]{inputs}}}}}"#
        ));
        last = id;
    }
    nodes.push(format!(
        r#""99": {{"class_type": "SaveImage", "inputs": {{"images": ["{last}", 0], "filename_prefix": "wf"}}}}"#
    ));
    format!("{{{}}}", nodes.join(",\n"))
}

#[test]
fn a_workflow_of_the_model_alone_equals_photo() {
    let dir = TempDir::new().unwrap();
    let input = scan(dir.path(), "in.png", 120, 90);
    let wf = write_workflow(
        dir.path(),
        "plain.json",
        &chain("", r#", "size": 256, "upsample": "nearest""#, &[]),
    );
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    let m = model("test-dynamic");
    ok(&[
        "run",
        s(&wf),
        "--input",
        s(&input),
        "-o",
        s(&a),
        "--model",
        &m,
    ]);
    ok(&[
        "photo",
        s(&input),
        "-o",
        s(&b),
        "--model",
        &m,
        "--input-size",
        "256",
        "--upsample",
        "nearest",
    ]);
    assert_eq!(pixels(&a), pixels(&b), "same recipe, same pixels");
}

#[test]
fn auto_size_follows_the_photo() {
    // size "auto": 256 for a small photo, 384 for a 1000x1000 one (shorter side / 2.5).
    let dir = TempDir::new().unwrap();
    let wf = write_workflow(
        dir.path(),
        "auto.json",
        &chain("", r#", "size": "auto", "upsample": "nearest""#, &[]),
    );
    let m = model("test-dynamic");
    for (w, h, want) in [(200, 150, "256"), (1000, 1000, "384")] {
        let input = scan(dir.path(), &format!("in{w}.png"), w, h);
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        ok(&["run", s(&wf), "-i", s(&input), "-o", s(&a), "--model", &m]);
        ok(&[
            "photo",
            s(&input),
            "-o",
            s(&b),
            "--model",
            &m,
            "--input-size",
            want,
            "--upsample",
            "nearest",
        ]);
        assert_eq!(pixels(&a), pixels(&b), "{w}x{h} should run at S={want}");
        // The result records the S it got.
        let tags = Command::new("exiftool")
            .args(["-s3", "-XMP-ddcolor:Settings"])
            .arg(&a)
            .output()
            .expect("exiftool not found: run `make setup`");
        let tags = String::from_utf8_lossy(&tags.stdout);
        assert!(
            tags.contains(&format!("input_size={want} (auto)")),
            "{w}x{h}: settings recorded as {tags}"
        );
    }
}

#[test]
fn presets_run_change_the_result_and_are_deterministic() {
    let dir = TempDir::new().unwrap();
    let m = model("test-dynamic");
    for (preset, photo) in [
        ("portrait", "1870Girl.jpg"),
        ("building", "1909Chicago.jpg"),
    ] {
        let input = historical(photo);
        let plain = dir.path().join(format!("{preset}_plain.png"));
        let a = dir.path().join(format!("{preset}_a.png"));
        let b = dir.path().join(format!("{preset}_b.png"));
        ok(&[
            "photo",
            s(&input),
            "-o",
            s(&plain),
            "--model",
            &m,
            "--input-size",
            "256",
        ]);
        let r = ok(&[
            "photo",
            s(&input),
            "-o",
            s(&a),
            "--model",
            &m,
            "--workflow",
            preset,
            "--input-size",
            "256",
        ]);
        assert!(r.stderr.contains("input size 256"), "{}", r.stderr);
        ok(&[
            "photo",
            s(&input),
            "-o",
            s(&b),
            "--model",
            &m,
            "--workflow",
            preset,
            "--input-size",
            "256",
        ]);
        let (p, x, y) = (pixels(&plain), pixels(&a), pixels(&b));
        assert_eq!(x.dimensions(), p.dimensions());
        assert_eq!(x, y, "{preset}: same input, same result");
        let changed = x
            .pixels()
            .zip(p.pixels())
            .filter(|(u, v)| u.0.iter().zip(v.0).any(|(s, t)| s.abs_diff(t) > 2))
            .count();
        assert!(
            changed > x.len() / 3 / 20,
            "{preset}: only {changed} pixels differ from the plain model"
        );
    }
}

#[test]
fn run_takes_the_photo_from_the_load_node_and_names_the_result_by_prefix() {
    let dir = TempDir::new().unwrap();
    let input = scan(dir.path(), "old.png", 64, 48);
    let wf = write_workflow(
        dir.path(),
        "wf.json",
        &chain(
            s(&input),
            r#", "size": 256"#,
            &[("DDColor-Saturation", r#", "saturation": 1.5"#)],
        ),
    );
    ok(&["run", s(&wf), "--model", &model("test-dynamic")]);
    let out = dir.path().join("old_wf.png");
    assert!(out.is_file(), "expected {}", out.display());
    assert_eq!(pixels(&out).dimensions(), (64, 48));
}

#[test]
fn style_and_post_processing_without_a_model() {
    let dir = TempDir::new().unwrap();
    // A colour photo restyled: no model is loaded (none given, none needed).
    let colour = RgbImage::from_fn(80, 60, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 4) as u8, 120])
    });
    let input = dir.path().join("colour.png");
    colour.save(&input).unwrap();
    let wf = write_workflow(
        dir.path(),
        "restyle.json",
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-Saturation", "inputs": {"image": ["1", 0], "saturation": 0}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
    );
    let out = dir.path().join("grey.png");
    let r = ok(&["run", s(&wf), "-i", s(&input), "-o", s(&out)]);
    assert!(!r.stderr.contains("model:"), "{}", r.stderr);
    for p in pixels(&out).pixels() {
        let [r, g, b] = p.0;
        assert!(
            r.abs_diff(g) <= 1 && g.abs_diff(b) <= 1,
            "saturation 0 is grey: {p:?}"
        );
    }

    // --style on the plain recipe changes the colours; vintage is less colourful than modern.
    let grey = scan(dir.path(), "g.png", 96, 64);
    let m = model("test-dynamic");
    let chroma = |p: &Path| -> f64 {
        let img = pixels(p);
        img.pixels()
            .map(|q| {
                let [r, g, b] = q.0.map(|v| v as f64);
                (r - g).abs() + (g - b).abs()
            })
            .sum::<f64>()
            / img.len() as f64
    };
    let mut results = Vec::new();
    for style in ["vintage", "modern"] {
        let out = dir.path().join(format!("{style}.png"));
        ok(&[
            "photo",
            s(&grey),
            "-o",
            s(&out),
            "--model",
            &m,
            "--input-size",
            "256",
            "--style",
            style,
        ]);
        results.push(chroma(&out));
    }
    assert!(
        results[0] < results[1],
        "vintage {} vs modern {}",
        results[0],
        results[1]
    );
}

/// Runs a broken workflow: exit 2, one error line naming the file and `must` (node, input),
/// and nothing written.
fn refused(json: &str, must: &[&str]) {
    let dir = TempDir::new().unwrap();
    let input = scan(dir.path(), "in.png", 32, 32);
    let wf = write_workflow(dir.path(), "broken.json", json);
    let out = dir.path().join("out.png");
    let r = ddcolor(&[
        "run",
        s(&wf),
        "-i",
        s(&input),
        "-o",
        s(&out),
        "--model",
        &model("test-dynamic"),
    ]);
    assert_eq!(r.code(), Some(2), "{}", r.stderr);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(lines[0].contains(s(&wf)), "names the file: {}", lines[0]);
    for m in must {
        assert!(lines[0].contains(m), "'{m}' missing from: {}", lines[0]);
    }
    assert!(!out.exists(), "nothing written");
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["broken.json", "in.png"]);
}

#[test]
fn broken_workflows_are_refused_naming_node_and_input() {
    refused(
        &chain("", "", &[("DDColor-Sparkle", "")]),
        &["node \"3\"", "unknown node type \"DDColor-Sparkle\""],
    );
    refused(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["5", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
        &[
            "node \"2\"",
            "input \"image\"",
            "\"5\", which does not exist",
        ],
    );
    refused(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-Sharpen", "inputs": {"image": ["3", 0]}},
            "3": {"class_type": "DDColor-Grain", "inputs": {"image": ["2", 0]}},
            "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}}"#,
        &["cycle", "\"2\"", "\"3\""],
    );
    refused(
        &chain("", r#", "size": "big""#, &[]),
        &[
            "node \"2\" (DDColor-ddcolorize)",
            "input \"size\"",
            "found \"big\"",
        ],
    );
    refused(
        &chain("", "", &[("DDColor-SkinTone", r#", "strength": [1]"#)]),
        &[
            "node \"3\" (DDColor-SkinTone)",
            "input \"strength\"",
            "expected a number",
        ],
    );
    refused("{ not json", &["not valid JSON"]);
}

#[test]
fn unknown_preset_and_conflicting_flags() {
    let r = ddcolor(&["photo", "x.png", "--workflow", "potrait"]);
    assert_eq!(r.code(), Some(2));
    assert!(
        r.stderr.contains("potrait: unknown workflow"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("portrait, building"), "{}", r.stderr);
}

#[test]
fn a_fixed_size_model_keeps_its_size_with_a_note() {
    let dir = TempDir::new().unwrap();
    let input = scan(dir.path(), "in.png", 64, 64);
    let out = dir.path().join("out.png");
    // The portrait preset asks for 512; test-256 only takes 256.
    let r = ok(&[
        "photo",
        s(&input),
        "-o",
        s(&out),
        "--model",
        &model("test-256"),
        "--workflow",
        "portrait",
    ]);
    assert!(r.stderr.contains("fixed input size of 256"), "{}", r.stderr);
    assert!(out.is_file());
}

#[test]
fn help_explains_presets_models_and_sizes() {
    let r = ok(&["workflows"]);
    for want in [
        "portrait", "building", "skin", "brick", "256", "512", "1280", "auto", "vintage", "modern",
    ] {
        assert!(
            r.stdout.contains(want),
            "`ddcolor workflows` lacks {want}:\n{}",
            r.stdout
        );
    }
    let r = ok(&["workflows", "--nodes"]);
    for want in [
        "DDColor-ddcolorize",
        "DDColor-SkinTone",
        "DDColor-LocalContrast",
        "SaveImage",
        "upsample",
    ] {
        assert!(r.stdout.contains(want), "--nodes lacks {want}");
    }
    let r = ok(&["help", "models"]);
    for want in [
        "Which model?",
        "Which size",
        "modelscope",
        "paper_tiny",
        "256",
        "512",
        "1280",
    ] {
        assert!(
            r.stdout.contains(want),
            "`ddcolor help models` lacks {want}:\n{}",
            r.stdout
        );
    }
}

fn xmp_settings(p: &Path) -> String {
    let o = Command::new("exiftool")
        .args(["-s3", "-XMP-ddcolor:Settings"])
        .arg(p)
        .output()
        .expect("exiftool not found: run `make setup`");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn command_line_wins_over_the_workflow_and_the_metadata_says_what_ran() {
    let dir = TempDir::new().unwrap();
    let input = scan(dir.path(), "in.png", 96, 64);
    let m = model("test-dynamic");
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    // The portrait preset asks for 512 and edge-aware; the flags say 256 and nearest.
    ok(&[
        "photo",
        s(&input),
        "-o",
        s(&a),
        "--model",
        &m,
        "--workflow",
        "portrait",
        "--input-size",
        "256",
        "--upsample",
        "nearest",
    ]);
    let settings = xmp_settings(&a);
    assert!(
        settings.starts_with("input_size=256; upsample=nearest; "),
        "{settings}"
    );
    assert!(
        settings.contains("DDColor-SkinTone=strength=0.8"),
        "{settings}"
    );
    assert!(
        !settings.contains("DDColor-ddcolorize"),
        "the node's own values are not what ran: {settings}"
    );
    assert!(
        !settings.contains("jpeg_quality"),
        "a PNG has no JPEG quality: {settings}"
    );
    // A style alone keeps --upsample too.
    ok(&[
        "photo",
        s(&input),
        "-o",
        s(&b),
        "--model",
        &m,
        "--input-size",
        "256",
        "--style",
        "modern",
        "--upsample",
        "nearest",
    ]);
    assert!(
        xmp_settings(&b).starts_with("input_size=256; upsample=nearest; "),
        "{}",
        xmp_settings(&b)
    );
}

#[test]
fn run_reads_the_load_node_photo_beside_the_workflow_and_drops_folders_from_the_prefix() {
    let dir = TempDir::new().unwrap();
    let sub = dir.path().join("project");
    fs::create_dir(&sub).unwrap();
    scan(&sub, "old.png", 64, 48);
    let json = chain("old.png", r#", "size": 256"#, &[]).replace(
        r#""filename_prefix": "wf""#,
        r#""filename_prefix": "ComfyUI/colour""#,
    );
    let wf = write_workflow(&sub, "wf.json", &json);
    // Run from another folder: the photo is found beside the workflow file.
    let mut cmd = common::ddcolor_command(["run", s(&wf), "--model", &model("test-dynamic")]);
    cmd.current_dir(dir.path());
    let o = common::run(cmd, Duration::from_secs(300));
    assert!(o.status.success(), "{}", o.stderr);
    assert!(
        sub.join("old_colour.png").is_file(),
        "{:?}",
        fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    );
    assert!(!sub.join("old_ComfyUI").exists());
}
