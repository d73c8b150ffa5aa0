//! Provenance in every output: each format the `ddcolor` binary writes is read back with an
//! independent reader, `exiftool` (Debian's `libimage-exiftool-perl`, installed by `make
//! setup`), which must find the tool, the model's SHA-256 (computed here, not by the tool) and
//! the settings; `--no-metadata` results carry none of it and have the very same pixels;
//! `--mark` changes only the bottom-right corner.
//!
//! Without exiftool these tests fail (they do not skip): a missing reader must not pass for
//! missing metadata.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::model;
use image::{DynamicImage, GrayImage, ImageBuffer, Luma};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const TOOL: &str = concat!("ddcolor ", env!("CARGO_PKG_VERSION"));

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// SHA-256 of a file, computed by the test itself.
fn sha256(path: &Path) -> String {
    let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Runs `ddcolor`; fails the test unless it succeeds within 5 minutes. Returns its stderr.
fn ddcolor(args: Vec<OsString>) -> String {
    common::run(common::ddcolor_command(&args), Duration::from_secs(300))
        .assert_ok()
        .stderr
        .clone()
}

/// `ddcolor photo IN -o OUT --model test-256 EXTRA...`.
fn photo(input: &Path, output: &Path, extra: &[&str]) {
    let mut a = args!["photo", input, "-o", output, "--model", model("test-256")];
    a.extend(extra.iter().map(OsString::from));
    ddcolor(a);
}

/// Tags as exiftool reports them: `Group:Tag` -> every value, in the order found.
type Tags = BTreeMap<String, Vec<Value>>;

/// Every tag exiftool finds in `path` (`-G1`: the specific group, e.g. `XMP-ddcolor`, `PNG`,
/// `IFD0`; `-a`: duplicates too, which `:4` keeps apart in the JSON as `Group:CopyN:Tag`).
/// Fails, naming `make setup`, when exiftool is missing.
fn exiftool(path: &Path) -> Tags {
    exiftool_with(path, &[])
}

/// [`exiftool`] with more options.
fn exiftool_with(path: &Path, options: &[&str]) -> Tags {
    let out = match Command::new("exiftool")
        .args(["-j", "-G1:4", "-a"])
        .args(options)
        .arg(path)
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "exiftool not found: these tests read the metadata back with it; run `make setup` \
             (it installs Debian's libimage-exiftool-perl)"
        ),
        Err(e) => panic!("exiftool: cannot run: {e}"),
    };
    assert!(
        out.status.success(),
        "exiftool {} failed:\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("exiftool's JSON for {}: {e}", path.display()));
    let obj = json
        .as_array()
        .and_then(|a| a.first())
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("exiftool's JSON for {}: not [{{...}}]", path.display()));
    let mut tags = Tags::new();
    for (k, v) in obj {
        let key = match k.split(':').collect::<Vec<_>>()[..] {
            [group, copy, tag] if copy.starts_with("Copy") => format!("{group}:{tag}"),
            _ => k.clone(),
        };
        tags.entry(key).or_default().push(v.clone());
    }
    tags
}

/// A tag's value as text (exiftool writes numbers-looking values as JSON numbers).
fn text(tags: &Tags, key: &str, path: &Path) -> String {
    match tags.get(key).and_then(|v| v.first()) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => panic!(
            "{}: exiftool shows no {key}; it shows:\n{}",
            path.display(),
            serde_json::to_string_pretty(tags).unwrap_or_default()
        ),
    }
}

/// The tags every photo result must carry: the standard XMP ones and the project's own.
fn assert_xmp(tags: &Tags, path: &Path, sha: &str, source: &str) {
    assert_eq!(text(tags, "XMP-xmp:CreatorTool", path), TOOL);
    // exiftool's JSON turns "True" into a boolean.
    assert_eq!(
        tags.get("XMP-ddcolor:Colorized").map(Vec::as_slice),
        Some(&[Value::Bool(true)][..]),
        "{}: XMP-ddcolor:Colorized",
        path.display()
    );
    assert_eq!(text(tags, "XMP-ddcolor:Model", path), "test-256");
    assert_eq!(text(tags, "XMP-ddcolor:ModelSHA256", path), sha);
    // The JPEG quality is recorded for JPEG results only.
    let jpeg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("jpeg"));
    assert_eq!(
        text(tags, "XMP-ddcolor:Settings", path),
        if jpeg {
            "input_size=256; upsample=bilinear; jpeg_quality=95"
        } else {
            "input_size=256; upsample=bilinear"
        }
    );
    assert_eq!(text(tags, "XMP-ddcolor:Source", path), source);
    let description = text(tags, "XMP-dc:Description", path);
    for want in [TOOL, sha, "test-256", "upsample=bilinear"] {
        assert!(
            description.contains(want),
            "{}: dc:description {description:?} lacks {want:?}",
            path.display()
        );
    }
}

/// No trace of provenance: no XMP at all, none of the text fields, the hash nowhere.
fn assert_no_provenance(path: &Path, sha: &str) {
    let tags = exiftool(path);
    let found: Vec<&String> = tags
        .keys()
        .filter(|k| {
            k.starts_with("XMP")
                || matches!(
                    k.as_str(),
                    "PNG:Software" | "PNG:Description" | "IFD0:Software" | "IFD0:ImageDescription"
                )
        })
        .collect();
    assert!(
        found.is_empty(),
        "{}: --no-metadata, yet exiftool shows {found:?}",
        path.display()
    );
    let all = serde_json::to_string(&tags).unwrap_or_default();
    assert!(
        !all.contains(sha) && !all.contains(TOOL),
        "{}: --no-metadata, yet the tags mention the model or the tool:\n{all}",
        path.display()
    );
}

fn decode(path: &Path) -> DynamicImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: cannot decode: {e}", path.display()))
}

/// An 8-bit grey test photo with structure (so the model's colours vary across it).
fn grey8(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([(30 + (x * 5 + y * 3) % 200) as u8]))
}

/// The inputs: an 8-bit and a 16-bit grey PNG.
struct Inputs {
    dir: TempDir,
    png8: PathBuf,
    png16: PathBuf,
}

fn inputs() -> Inputs {
    let dir = TempDir::new().unwrap();
    let png8 = dir.path().join("scan.png");
    grey8(320, 240).save(&png8).unwrap();
    let png16 = dir.path().join("scan16.png");
    let g16: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_fn(200, 150, |x, y| {
        Luma([(2000 + (x * 301 + y * 177) % 60000) as u16])
    });
    g16.save(&png16).unwrap();
    Inputs { dir, png8, png16 }
}

// ---------------------------------------------------------------------------------------------
// Photos
// ---------------------------------------------------------------------------------------------

/// Each output format, 8-bit input: exiftool reads the provenance back (XMP everywhere, plus the
/// PNG and TIFF text fields); the `--no-metadata` twin has none of it and the same pixels.
#[test]
fn every_photo_format_records_its_provenance() {
    let inp = inputs();
    let sha = sha256(&model("test-256"));
    for ext in ["png", "jpg", "tif", "webp"] {
        let out = inp.dir.path().join(format!("out.{ext}"));
        let bare = inp.dir.path().join(format!("bare.{ext}"));
        photo(&inp.png8, &out, &[]);
        photo(&inp.png8, &bare, &["--no-metadata"]);

        let tags = exiftool(&out);
        assert_xmp(&tags, &out, &sha, "scan.png");
        match ext {
            "png" => {
                assert_eq!(text(&tags, "PNG:Software", &out), TOOL);
                let d = text(&tags, "PNG:Description", &out);
                assert!(d.starts_with("Colorized by ") && d.contains(&sha), "{d}");
            }
            "tif" => {
                assert_eq!(text(&tags, "IFD0:Software", &out), TOOL);
                let d = text(&tags, "IFD0:ImageDescription", &out);
                assert!(d.starts_with("Colorized by ") && d.contains(&sha), "{d}");
            }
            "webp" => {
                // The extended format, as exiftool sees it: canvas from VP8X, image from VP8L.
                assert_eq!(text(&tags, "RIFF:ImageWidth", &out), "320");
                assert_eq!(text(&tags, "RIFF:ImageHeight", &out), "240");
            }
            _ => {}
        }
        assert_no_provenance(&bare, &sha);

        let (a, b) = (decode(&out), decode(&bare));
        assert_eq!(a.color(), b.color(), "{ext}: colour type");
        assert_eq!((a.width(), a.height()), (320, 240), "{ext}: size");
        assert!(
            a.as_bytes() == b.as_bytes(),
            "{ext}: the metadata changed the pixels"
        );
    }
}

/// 16-bit input to 16-bit PNG and TIFF: still 16-bit, provenance present, pixels as without it.
#[test]
fn sixteen_bit_results_record_their_provenance() {
    let inp = inputs();
    let sha = sha256(&model("test-256"));
    for ext in ["png", "tif"] {
        let out = inp.dir.path().join(format!("out16.{ext}"));
        let bare = inp.dir.path().join(format!("bare16.{ext}"));
        photo(&inp.png16, &out, &[]);
        photo(&inp.png16, &bare, &["--no-metadata"]);
        let tags = exiftool(&out);
        assert_xmp(&tags, &out, &sha, "scan16.png");
        let depth = match ext {
            "png" => text(&tags, "PNG:BitDepth", &out),
            _ => text(&tags, "IFD0:BitsPerSample", &out),
        };
        assert!(depth.starts_with("16"), "{ext}: bit depth {depth}");
        assert_no_provenance(&bare, &sha);
        let (a, b) = (decode(&out), decode(&bare));
        assert_eq!(a.color(), image::ColorType::Rgb16, "{ext}");
        assert!(
            a.as_bytes() == b.as_bytes(),
            "{ext}: metadata changed the pixels"
        );
    }
}

/// `batch` records each photo's own file name as the source, and the provenance survives
/// `--format jpg` from PNG inputs.
#[test]
fn batch_names_each_source() {
    let inp = inputs();
    let out = inp.dir.path().join("out");
    let sha = sha256(&model("test-256"));
    ddcolor(args![
        "batch",
        inp.dir.path(),
        &out,
        "--model",
        model("test-256"),
        "--format",
        "jpg"
    ]);
    for (result, source) in [("scan.jpg", "scan.png"), ("scan16.jpg", "scan16.png")] {
        let path = out.join(result);
        assert_xmp(&exiftool(&path), &path, &sha, source);
    }
}

/// `--mark`: pixels change in the bottom-right corner only, the rest is the unmarked result's,
/// and the marked file still carries its provenance.
#[test]
fn mark_changes_only_the_corner() {
    let inp = inputs();
    let sha = sha256(&model("test-256"));
    let plain = inp.dir.path().join("plain.png");
    let marked = inp.dir.path().join("marked.png");
    photo(&inp.png8, &plain, &[]);
    photo(&inp.png8, &marked, &["--mark"]);
    assert_xmp(&exiftool(&marked), &marked, &sha, "scan.png");
    let (a, b) = (decode(&plain).to_rgb8(), decode(&marked).to_rgb8());
    let (w, h) = a.dimensions();
    let mut changed = 0;
    let (mut min_x, mut min_y) = (w, h);
    for (x, y, p) in a.enumerate_pixels() {
        if p != b.get_pixel(x, y) {
            changed += 1;
            min_x = min_x.min(x);
            min_y = min_y.min(y);
        }
    }
    // 320x240: text 7 px high (2% of 240 rounds up to 5, at least the font's 7), the box about
    // 57x11 px two pixels in from the corner.
    assert!(
        changed > 57 * 11 / 2,
        "--mark changed only {changed} pixels"
    );
    assert!(
        min_x >= w - 70 && min_y >= h - 20,
        "--mark changed pixels outside the bottom-right corner (from x {min_x}, y {min_y})"
    );
}

/// The options are documented where users look.
#[test]
fn help_describes_the_options() {
    for cmd in ["photo", "batch", "film"] {
        let out = common::run(
            common::ddcolor_command([cmd, "--help"]),
            Duration::from_secs(60),
        );
        let help = &out.stdout;
        for flag in ["--no-metadata", "--mark"] {
            assert!(
                help.contains(flag),
                "`ddcolor {cmd} --help` lacks {flag}:\n{help}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Film
// ---------------------------------------------------------------------------------------------

/// A tiny film: a folder of grey frames, read as an image sequence at 24 fps.
fn frames(dir: &Path, n: u32) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        GrayImage::from_fn(96, 64, |x, y| {
            Luma([(40 + (x * 7 + y * 3 + i * 11) % 170) as u8])
        })
        .save(dir.join(format!("frame_{:02}.png", i + 1)))
        .unwrap();
    }
}

fn film(input: &Path, output: &Path, extra: &[&str]) {
    let mut a = args![
        "film",
        input,
        output,
        "--fps",
        "24",
        "--model",
        model("test-dynamic"),
        "--input-size",
        "64"
    ];
    a.extend(extra.iter().map(OsString::from));
    ddcolor(a);
}

/// MP4 and MKV: exiftool shows the summary (tool, model SHA-256, settings) as the film's
/// comment (and, in MP4, description), and the tool as its encoder (and as the MKV's writing
/// application); `--no-metadata` films have none. `-ee`: Matroska keeps its tags after the
/// clusters, where exiftool only looks when asked to.
#[test]
fn films_record_their_provenance() {
    let dir = TempDir::new().unwrap();
    let seq = dir.path().join("reel");
    frames(&seq, 6);
    let sha = sha256(&model("test-dynamic"));
    for ext in ["mp4", "mkv"] {
        let out = dir.path().join(format!("reel.{ext}"));
        film(&seq, &out, &[]);
        let tags = exiftool_with(&out, &["-ee"]);
        let all = serde_json::to_string_pretty(&tags).unwrap_or_default();
        // Every value of a tag, whatever its group (ItemList, Matroska, Track1...) and copy.
        let find = |name: &str| -> Vec<String> {
            tags.iter()
                .filter(|(k, _)| k.rsplit(':').next() == Some(name))
                .flat_map(|(_, v)| v.iter().filter_map(|v| v.as_str().map(str::to_string)))
                .collect()
        };
        let names: &[&str] = match ext {
            "mp4" => &[
                "ItemList:Comment",
                "ItemList:Description",
                "XMP-dc:Description",
            ],
            _ => &["Matroska:Comments"],
        };
        for &name in names {
            // Starts plainly: GStreamer 1.22's matroskamux alone would store it quoted and
            // backslash-escaped (`"Colorized\\ by\\ ...`).
            let v = text(&tags, name, &out);
            assert!(
                v.starts_with("Colorized by ")
                    && v.contains(TOOL)
                    && v.contains(&sha)
                    && v.contains("input_size=64")
                    && v.contains("temporal="),
                "{ext}: {name} is not the provenance: {v:?}"
            );
        }
        assert!(
            find("Encoder").iter().any(|v| v == TOOL),
            "{ext}: no Encoder {TOOL:?}; exiftool shows:\n{all}"
        );
        if ext == "mkv" {
            assert_eq!(text(&tags, "Matroska:WritingApp", &out), TOOL);
        }

        let bare = dir.path().join(format!("bare.{ext}"));
        film(&seq, &bare, &["--no-metadata"]);
        let bare_tags = serde_json::to_string(&exiftool_with(&bare, &["-ee"])).unwrap_or_default();
        assert!(
            !bare_tags.contains(&sha) && !bare_tags.contains(TOOL),
            "{ext}: --no-metadata, yet exiftool shows:\n{bare_tags}"
        );
    }
}

/// A film records the S that ran, not the one asked for: with the device out of memory above
/// 512 (simulated), `--input-size 768` steps down, and the container's comment and every
/// `--frames` PNG say so. Without `--input-size`, the S the element chose is recorded rather
/// than a guess.
#[test]
fn films_record_the_size_that_ran() {
    let dir = TempDir::new().unwrap();
    let seq = dir.path().join("reel");
    frames(&seq, 4);
    for ext in ["mp4", "mkv"] {
        let out = dir.path().join(format!("reel.{ext}"));
        let png = dir.path().join(format!("frames-{ext}"));
        let mut cmd = common::ddcolor_command(args![
            "film",
            &seq,
            &out,
            "--fps",
            "24",
            "--model",
            model("test-dynamic"),
            "--input-size",
            "768",
            "--frames",
            &png
        ]);
        cmd.env("DDCOLOR_SIMULATE_OOM_ABOVE", "512");
        let r = common::run(cmd, Duration::from_secs(300));
        r.assert_ok();
        let tags = exiftool_with(&out, &["-ee"]);
        let key = if ext == "mp4" {
            "ItemList:Comment"
        } else {
            "Matroska:Comments"
        };
        let comment = text(&tags, key, &out);
        assert!(
            comment.contains("input_size=512 (stepped down from 768 after running out of memory)"),
            "{ext}: {key} is {comment:?}"
        );
        let first = exiftool(&png.join("frame_000001.png"));
        let settings = text(
            &first,
            "XMP-ddcolor:Settings",
            &png.join("frame_000001.png"),
        );
        assert!(
            settings.starts_with("input_size=512 (stepped down from 768"),
            "{ext}: frame 1 records {settings:?}"
        );
    }
    // No size given: the model's default as the element chose it (512 for a dynamic model).
    let out = dir.path().join("plain.mkv");
    ddcolor(args![
        "film",
        &seq,
        &out,
        "--fps",
        "24",
        "--model",
        model("test-dynamic")
    ]);
    let comment = text(&exiftool_with(&out, &["-ee"]), "Matroska:Comments", &out);
    assert!(comment.contains("input_size=512;"), "{comment:?}");
}
