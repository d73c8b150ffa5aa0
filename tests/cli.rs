//! Integration tests of the `ddcolor` binary: what a user sees (exit status, one-line errors
//! naming the file), which files appear (and which never do), and the pixels of the results.
//!
//! The tests use the generated test models (`models/generated/`, made by `make models`), always
//! passed with `--model`, so they never depend on which real models are installed. Inputs are
//! synthetic images written into temporary folders, plus a few read-only historical photos from
//! `tests/media/`.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{Run, Snapshot, historical, model, mtime, snapshot};
use image::{
    DynamicImage, GrayAlphaImage, GrayImage, ImageBuffer, ImageDecoder, ImageReader, Luma,
    RgbImage, RgbaImage,
};
use serde_json::{Value, json};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs `ddcolor` with `args`, with no model chosen by the environment unless `env` sets one.
/// Killed, and the test failed, if it runs past 10 minutes.
fn run_env(args: Vec<OsString>, env: &[(&str, &OsStr)]) -> Run {
    run_env_within(args, env, Duration::from_secs(600))
}

/// [`run_env`], killed and failed after `limit`.
fn run_env_within(args: Vec<OsString>, env: &[(&str, &OsStr)], limit: Duration) -> Run {
    let mut cmd = common::ddcolor_command(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(cmd, limit)
}

fn run(args: Vec<OsString>) -> Run {
    run_env(args, &[])
}

/// Runs `ddcolor` with the fast dynamic test model at size 256 appended.
fn run_fast(mut args: Vec<OsString>) -> Run {
    args.extend(args![
        "--model",
        model("test-dynamic"),
        "--input-size",
        "256"
    ]);
    run(args)
}

use common::{BATCH_MARKER, files_under};

/// After a failed run: no result and no temporary `.ddcolor-*.part` file in `dir`.
fn assert_no_files(dir: &Path) {
    let found = files_under(dir);
    assert!(
        found.is_empty(),
        "{}: expected no files after the failed run, found {found:?}",
        dir.display()
    );
}

fn assert_files(dir: &Path, expected: &[&str]) {
    let mut expected: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(files_under(dir), expected, "files under {}", dir.display());
}

fn set_old_mtime(path: &Path) -> SystemTime {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    old
}

fn open_image(path: &Path) -> DynamicImage {
    ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap_or_else(|e| panic!("{}: result does not decode: {e}", path.display()))
}

/// A grey picture with mid tones everywhere (pure black and white cannot take colour).
fn grey_gradient(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([(40 + (x * 7 + y * 3) % 170) as u8]))
}

/// A temporary folder holding one 40x30 grey scan, `scan.png`.
fn grey_scan() -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("scan.png");
    save_grey(&input, 40, 30);
    (dir, input)
}

fn save_grey(path: &Path, w: u32, h: u32) {
    grey_gradient(w, h).save(path).unwrap();
}

/// Fraction of pixels that are not grey (R != G or G != B).
fn colour_fraction(img: &RgbImage) -> f64 {
    let coloured = img
        .pixels()
        .filter(|p| p[0] != p[1] || p[1] != p[2])
        .count();
    coloured as f64 / (img.width() * img.height()) as f64
}

fn assert_colour(path: &Path, w: u32, h: u32) {
    let img = open_image(path);
    assert_eq!(
        (img.width(), img.height()),
        (w, h),
        "{}: size differs from the input",
        path.display()
    );
    let frac = colour_fraction(&img.to_rgb8());
    assert!(
        frac > 0.5,
        "{}: only {:.1}% of the pixels have colour",
        path.display(),
        frac * 100.0
    );
}

/// Runs `photo` on a bad input twice (results beside it, then into a fresh folder) and checks
/// what a user relies on: failure, one error line naming the input and the problem, nothing
/// written, the input untouched. Returns the error line.
fn check_bad_input(input: &Path, problem: &[&str], extra: &[&str]) -> String {
    let parent = input.parent().unwrap();
    let before = files_under(parent);
    let snap = input.is_file().then(|| snapshot(input));
    let out_dir = TempDir::new().unwrap();
    let out = out_dir.path().join("out");

    let mut a = args!["photo", input];
    a.extend(extra.iter().map(OsString::from));
    let r = run_fast(a);
    r.assert_failed();
    let line = r.assert_one_error(input, problem);
    assert_eq!(
        files_under(parent),
        before,
        "a failed run left files beside the input"
    );

    let mut a = args!["photo", input, "-o", out];
    a.extend(extra.iter().map(OsString::from));
    let r = run_fast(a);
    r.assert_failed();
    r.assert_one_error(input, problem);
    assert_no_files(&out);
    if let Some(s) = snap {
        s.assert_untouched();
    }
    line
}

// ---------------------------------------------------------------------------------------------
// 1. Bad inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_input_file() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("nothere.jpg");
    check_bad_input(&missing, &["file not found"], &[]);
    assert!(!missing.exists());
}

#[test]
fn folder_without_images() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("scans");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("notes.txt"), "not a photo").unwrap();
    let notes = snapshot(&folder.join("notes.txt"));
    check_bad_input(&folder, &["no images found"], &[]);
    notes.assert_untouched();
    assert_files(&folder, &["notes.txt"]);
}

#[test]
fn truncated_jpeg() {
    let dir = TempDir::new().unwrap();
    let full = fs::read(historical("LondonStreets1900.jpg")).unwrap();
    let input = dir.path().join("half.jpg");
    fs::write(&input, &full[..full.len() / 2]).unwrap();
    check_bad_input(&input, &["truncated"], &[]);
}

#[test]
fn text_file_named_png() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("letter.png");
    fs::write(&input, "Dear grandma,\nthis is not a picture.\n").unwrap();
    check_bad_input(&input, &["not a readable image"], &[]);
}

#[test]
fn empty_jpeg() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("empty.jpg");
    fs::File::create(&input).unwrap();
    check_bad_input(&input, &["empty"], &[]);
}

/// A real 30000x30000 PNG (900 MP of zeros, about 1 MB compressed), streamed row by row.
fn write_huge_png(path: &Path, w: u32, h: u32) {
    let file = BufWriter::new(fs::File::create(path).unwrap());
    let mut enc = png::Encoder::new(file, w, h);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    enc.set_filter(png::Filter::NoFilter);
    let mut writer = enc.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let row = vec![0u8; w as usize];
    for _ in 0..h {
        stream.write_all(&row).unwrap();
    }
    stream.finish().unwrap();
}

#[test]
fn image_above_the_pixel_limit() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("huge.png");
    write_huge_png(&input, 30_000, 30_000);
    // Sanity: it is a real PNG of that size.
    let dims = ImageReader::open(&input)
        .unwrap()
        .into_dimensions()
        .unwrap();
    assert_eq!(dims, (30_000, 30_000));
    check_bad_input(
        &input,
        &[
            "30000x30000 (900 MP)",
            "above the limit of 100 MP",
            "--max-pixels",
        ],
        &[],
    );
}

#[test]
fn max_pixels_option_refuses_a_small_photo() {
    // abe.jpg is 220x276 = 60720 pixels.
    let input = historical("abe.jpg");
    let out_dir = TempDir::new().unwrap();
    let out = out_dir.path().join("out");
    let r = run_fast(args!["photo", input, "-o", out, "--max-pixels", "1000"]);
    r.assert_failed();
    // The limit is shown as given, not rounded to "0.0 MP".
    r.assert_one_error(
        &input,
        &[
            "220x276 (0.06072 MP)",
            "above the limit of 0.001 MP",
            "--max-pixels",
        ],
    );
    assert_no_files(&out);
    // And the same photo is accepted just above its size.
    run_fast(args!["photo", input, "-o", out, "--max-pixels", "60720"]).assert_ok();
    assert_files(&out, &["abe.jpg"]);
}

/// A folder this process cannot create files in (root included), or `None` when there is none.
fn unwritable_dir() -> Option<(PathBuf, Option<TempDir>)> {
    let sys = Path::new("/sys");
    if sys.is_dir() {
        let probe = sys.join(".ddcolor-cli-test-probe");
        match fs::File::create(&probe) {
            Err(_) => return Some((sys.to_path_buf(), None)),
            Ok(_) => {
                let _ = fs::remove_file(&probe);
            }
        }
    }
    let tmp = TempDir::new().unwrap();
    let ro = tmp.path().join("read-only");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    if fs::File::create(ro.join("probe")).is_err() {
        return Some((ro, Some(tmp)));
    }
    None
}

#[test]
fn unwritable_output() {
    let Some((dir, _keep)) = unwritable_dir() else {
        common::skipped(
            "unwritable_output",
            &"/sys accepts new files here and this user can write into a 0o555 folder (root), so \
              no unwritable folder is available",
        );
        return;
    };
    let src = TempDir::new().unwrap();
    let input = src.path().join("scan.png");
    save_grey(&input, 48, 40);
    let snap = snapshot(&input);
    let before: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();

    // -o FILE in a folder that refuses new files: the photo fails, nothing is left behind.
    let target = dir.join("out.png");
    let r = run_fast(args!["photo", input, "-o", target]);
    r.assert_failed();
    r.assert_one_error(&target, &["could not write"]);
    assert!(!target.exists(), "{} was created", target.display());
    let after: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        before,
        after,
        "{}: the failed run left files behind",
        dir.display()
    );

    // -o DIR that cannot be created.
    let sub = dir.join("colour");
    let r = run_fast(args!["photo", input, "-o", sub]);
    r.assert_failed();
    r.assert_one_error(&sub, &["cannot create output folder"]);
    assert!(!sub.exists());

    // batch into a folder that cannot be created.
    let r = run_fast(args!["batch", src.path(), sub]);
    r.assert_failed();
    r.assert_one_error(&sub, &["cannot create output folder"]);
    assert!(!sub.exists());

    snap.assert_untouched();
    assert_files(src.path(), &["scan.png"]);
}

#[test]
fn missing_model() {
    let (src, input) = grey_scan();
    let snap = snapshot(&input);
    let out = src.path().join("out");
    let missing = Path::new("/nonexistent/x.onnx");
    let r = run(args!["photo", input, "-o", out, "--model", missing]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    r.assert_one_error(missing, &["not found"]);
    assert_no_files(&out);
    snap.assert_untouched();
    assert!(!src.path().join("scan_color.png").exists());
}

#[test]
fn models_with_the_wrong_contract_are_refused() {
    let (src, input) = grey_scan();
    let snap = snapshot(&input);
    let out = src.path().join("out");
    let cases: &[(&str, &[&str])] = &[
        (
            "bad-output-channels",
            &[
                "not a DDColor model",
                "2 channels",
                "found",
                "[1,3,256,256]",
            ],
        ),
        (
            "bad-input-type",
            &["not a DDColor model", "float32", "found", "Uint8"],
        ),
        (
            "bad-rank",
            &["not a DDColor model", "rank 4", "found", "[1,256,256]"],
        ),
    ];
    for (name, problem) in cases {
        let m = model(name);
        let r = run(args!["photo", input, "-o", out, "--model", m]);
        assert_eq!(r.code(), Some(2), "{name}: stderr:\n{}", r.stderr);
        r.assert_one_error(&m, problem);
        assert_no_files(&out);
    }
    snap.assert_untouched();
    assert_files(src.path(), &["scan.png"]);
}

#[test]
fn input_and_output_names_are_not_enforced() {
    let (src, input) = grey_scan();
    let out = src.path().join("colour.png");
    let m = model("bad-input-name");
    let r = run(args!["photo", input, "-o", out, "--model", m]);
    r.assert_ok();
    assert!(r.error_lines().is_empty(), "stderr:\n{}", r.stderr);
    assert_colour(&out, 40, 30);
}

#[test]
fn input_size_conflicts() {
    let (src, input) = grey_scan();
    let out = src.path().join("out");

    let fixed = model("test-256");
    let r = run(args![
        "photo",
        input,
        "-o",
        out,
        "--model",
        fixed,
        "--input-size",
        "512"
    ]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    r.assert_one_error(&fixed, &["fixed input size of 256", "512"]);
    assert_no_files(&out);

    let dynamic = model("test-dynamic");
    let r = run(args![
        "photo",
        input,
        "-o",
        out,
        "--model",
        dynamic,
        "--input-size",
        "100"
    ]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    r.assert_one_error(&dynamic, &["100", "multiple of 32"]);
    assert_no_files(&out);

    // The matching size, or none, is fine for the fixed model; test-512 and the dynamic-batch
    // model work too.
    for (m, size) in [
        (fixed.clone(), Some("256")),
        (fixed, None),
        (model("test-512"), None),
        (model("test-batch"), Some("256")),
    ] {
        let target = out.join("x.png");
        let mut a = args!["photo", input, "-o", target, "--model", m];
        if let Some(s) = size {
            a.extend(args!["--input-size", s]);
        }
        let r = run(a);
        r.assert_ok();
        assert!(
            r.stderr.contains(&format!("model: {}", m.display())),
            "stderr:\n{}",
            r.stderr
        );
        assert_colour(&target, 40, 30);
        fs::remove_file(&target).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 2. `photo`
// ---------------------------------------------------------------------------------------------

#[test]
fn photo_default_output_beside_the_input() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("abe.jpg");
    fs::copy(historical("abe.jpg"), &input).unwrap();
    let snap = snapshot(&input);
    let r = run_fast(args!["photo", input]);
    r.assert_ok();
    let expected = dir.path().join("abe_color.jpg");
    assert!(
        r.stdout
            .contains(&format!("{} -> {}", input.display(), expected.display())),
        "stdout:\n{}",
        r.stdout
    );
    assert_files(dir.path(), &["abe.jpg", "abe_color.jpg"]);
    assert_colour(&expected, 220, 276);
    snap.assert_untouched();

    // --format changes the extension.
    let r = run_fast(args!["photo", input, "--format", "png"]);
    r.assert_ok();
    assert_files(dir.path(), &["abe.jpg", "abe_color.jpg", "abe_color.png"]);
    let png = dir.path().join("abe_color.png");
    assert_eq!(
        image::ImageFormat::from_path(&png).unwrap(),
        image::ImageFormat::Png
    );
    assert!(
        fs::read(&png).unwrap().starts_with(b"\x89PNG"),
        "abe_color.png is not a PNG file"
    );
    assert_colour(&png, 220, 276);
    snap.assert_untouched();
}

#[test]
fn photo_output_file() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("scan.png");
    save_grey(&input, 50, 34);
    let snap = snapshot(&input);
    let target = dir.path().join("result.png");
    let r = run_fast(args!["photo", input, "-o", target]);
    r.assert_ok();
    assert_files(dir.path(), &["result.png", "scan.png"]);
    assert_colour(&target, 50, 34);
    snap.assert_untouched();

    // -o FILE with two inputs is refused.
    let other = dir.path().join("other.png");
    save_grey(&other, 20, 20);
    let target2 = dir.path().join("both.png");
    let r = run_fast(args!["photo", input, other, "-o", target2]);
    r.assert_failed();
    assert!(
        r.stderr.contains("more than one input"),
        "stderr:\n{}",
        r.stderr
    );
    assert!(!target2.exists());
}

#[test]
fn photo_output_folder_with_several_inputs() {
    let dir = TempDir::new().unwrap();
    let a = dir.path().join("a.png");
    save_grey(&a, 40, 30);
    let folder = dir.path().join("folder");
    fs::create_dir(&folder).unwrap();
    save_grey(&folder.join("c.png"), 33, 21);
    save_grey(&folder.join("d.jpg"), 64, 48);
    fs::write(folder.join("notes.txt"), "not a photo").unwrap();
    fs::write(
        folder.join(".hidden.png"),
        "hidden, and not a picture either",
    )
    .unwrap();
    fs::create_dir(folder.join("nested")).unwrap();
    save_grey(&folder.join("nested/e.png"), 16, 16); // photo takes the images directly inside
    let abe = historical("abe.jpg");
    let out = dir.path().join("colour");

    let r = run_fast(args!["photo", a, abe, folder, "-o", out]);
    r.assert_ok();
    assert_eq!(
        r.stdout.lines().filter(|l| l.contains(" -> ")).count(),
        4,
        "stdout:\n{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("4 colorized, 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    assert_files(&out, &["a.png", "abe.jpg", "c.png", "d.jpg"]);
    assert_colour(&out.join("a.png"), 40, 30);
    assert_colour(&out.join("abe.jpg"), 220, 276);
    assert_colour(&out.join("c.png"), 33, 21);
    assert_colour(&out.join("d.jpg"), 64, 48);

    // --format applies to every result.
    let out2 = dir.path().join("colour2");
    run_fast(args!["photo", a, folder, "-o", out2, "--format", "webp"]).assert_ok();
    assert_files(&out2, &["a.webp", "c.webp", "d.webp"]);
    assert_colour(&out2.join("d.webp"), 64, 48);
}

#[test]
fn photo_goes_on_after_a_bad_file() {
    let dir = TempDir::new().unwrap();
    let good = dir.path().join("good.png");
    save_grey(&good, 40, 30);
    let bad = dir.path().join("bad.png");
    fs::write(&bad, "not a picture").unwrap();
    let out = dir.path().join("out");
    let r = run_fast(args!["photo", bad, good, "-o", out]);
    assert_eq!(r.code(), Some(1), "stderr:\n{}", r.stderr);
    r.assert_one_error(&bad, &["not a readable image"]);
    assert!(
        r.stderr.contains("1 colorized, 1 failed"),
        "stderr:\n{}",
        r.stderr
    );
    assert_files(&out, &["good.png"]);
}

#[test]
fn photo_refuses_to_overwrite_its_input() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("x.png");
    save_grey(&input, 40, 30);
    let snap = snapshot(&input);
    let r = run_fast(args!["photo", input, "-o", input]);
    r.assert_failed();
    r.assert_one_error(&input, &["refusing to overwrite the input"]);
    snap.assert_untouched();
    assert_files(dir.path(), &["x.png"]);

    // Also through another spelling of the same path.
    let other_spelling = dir.path().join(".").join("x.png");
    let r = run_fast(args!["photo", input, "-o", other_spelling]);
    r.assert_failed();
    r.assert_one_error(&input, &["refusing to overwrite"]);
    snap.assert_untouched();
    assert_files(dir.path(), &["x.png"]);
}

#[test]
fn photo_unknown_output_extension() {
    let (dir, input) = grey_scan();
    let target = dir.path().join("out.gif");
    let r = run_fast(args!["photo", input, "-o", target]);
    r.assert_failed();
    r.assert_one_error(&target, &["unsupported output format", "gif"]);
    assert!(!target.exists());
    assert_files(dir.path(), &["scan.png"]);

    // --format with an unknown format is a usage error.
    let r = run_fast(args!["photo", input, "--format", "gif"]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    assert!(
        r.stderr.contains("unknown format 'gif'"),
        "stderr:\n{}",
        r.stderr
    );
    assert_files(dir.path(), &["scan.png"]);
}

// ---------------------------------------------------------------------------------------------
// 3. Formats and bit depths
// ---------------------------------------------------------------------------------------------

#[test]
fn rgba_png_keeps_its_alpha() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("rgba.png");
    let src = RgbaImage::from_fn(45, 31, |x, y| {
        let g = (40 + (x * 5 + y * 3) % 170) as u8;
        image::Rgba([g, g, g, ((x * 13 + y * 7) % 256) as u8])
    });
    src.save(&input).unwrap();
    let out = colorize_keeping_alpha(
        dir.path(),
        &input,
        src.dimensions(),
        src.pixels().map(|p| p[3]).collect(),
    );
    assert!(
        colour_fraction(&DynamicImage::ImageRgba8(out).to_rgb8()) > 0.5,
        "result is not in colour"
    );
}

/// Colorizes `input` to an RGBA PNG and checks its size and that its alpha is `alpha_in`.
fn colorize_keeping_alpha(
    dir: &Path,
    input: &Path,
    dims: (u32, u32),
    alpha_in: Vec<u8>,
) -> RgbaImage {
    let target = dir.join("out.png");
    run_fast(args!["photo", input, "-o", target]).assert_ok();
    let out = open_image(&target);
    let DynamicImage::ImageRgba8(out) = out else {
        panic!("expected an 8-bit RGBA result, got {:?}", out.color())
    };
    assert_eq!(out.dimensions(), dims);
    let alpha_out: Vec<u8> = out.pixels().map(|p| p[3]).collect();
    assert!(alpha_in == alpha_out, "the alpha channel changed");
    out
}

#[test]
fn grey_alpha_png_becomes_rgba_with_the_same_alpha() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("la.png");
    let src = GrayAlphaImage::from_fn(37, 29, |x, y| {
        image::LumaA([
            (50 + (x * 3 + y * 5) % 150) as u8,
            ((x * 11 + y * 17) % 256) as u8,
        ])
    });
    src.save(&input).unwrap();
    colorize_keeping_alpha(
        dir.path(),
        &input,
        src.dimensions(),
        src.pixels().map(|p| p[1]).collect(),
    );
}

#[test]
fn sixteen_bit_grey_stays_sixteen_bit() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("deep.png");
    let src: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(41, 27, |x, y| Luma([(9000 + x * 913 + y * 377) as u16]));
    src.save(&input).unwrap();
    let snap = snapshot(&input);
    for name in ["out.png", "out.tif"] {
        let target = dir.path().join(name);
        run_fast(args!["photo", input, "-o", target]).assert_ok();
        let out = open_image(&target);
        let DynamicImage::ImageRgb16(out) = out else {
            panic!(
                "{name}: expected a 16-bit RGB result, got {:?}",
                out.color()
            )
        };
        assert_eq!(out.dimensions(), (41, 27), "{name}");
        // Real 16-bit values, not 8-bit ones scaled up (those are multiples of 257).
        let fine = out.as_raw().iter().filter(|&&v| v % 257 != 0).count();
        assert!(
            fine > out.as_raw().len() / 2,
            "{name}: the result has 8-bit precision only"
        );
        let coloured = out
            .pixels()
            .filter(|p| p[0] != p[1] || p[1] != p[2])
            .count();
        assert!(coloured > (41 * 27) / 2, "{name}: result is not in colour");
    }
    snap.assert_untouched();
}

#[test]
fn jpeg_and_webp_results_decode() {
    let dir = TempDir::new().unwrap();
    let abe = historical("abe.jpg");
    for name in ["out.jpg", "out.jpeg", "out.webp"] {
        let target = dir.path().join(name);
        run_fast(args!["photo", abe, "-o", target]).assert_ok();
        let format = ImageReader::open(&target)
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .format();
        let expected = if name.ends_with("webp") {
            image::ImageFormat::WebP
        } else {
            image::ImageFormat::Jpeg
        };
        assert_eq!(format, Some(expected), "{name}: wrong file format");
        assert_colour(&target, 220, 276);
    }
}

/// An EXIF APP1 segment holding only an Orientation tag.
fn exif_app1(orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend(1u16.to_be_bytes()); // one IFD entry
    tiff.extend(0x0112u16.to_be_bytes()); // Orientation
    tiff.extend(3u16.to_be_bytes()); // SHORT
    tiff.extend(1u32.to_be_bytes()); // count
    tiff.extend(orientation.to_be_bytes());
    tiff.extend([0, 0]);
    tiff.extend(0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend(tiff);
    let mut seg = vec![0xFF, 0xE1];
    seg.extend(((payload.len() + 2) as u16).to_be_bytes());
    seg.extend(payload);
    seg
}

#[test]
fn exif_orientation_is_applied() {
    let dir = TempDir::new().unwrap();
    // 64x32: left half light, right half dark.
    let src = GrayImage::from_fn(64, 32, |x, _| Luma([if x < 32 { 210 } else { 50 }]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
        .encode_image(&DynamicImage::ImageLuma8(src))
        .unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let mut with_exif = jpeg[..2].to_vec();
    with_exif.extend(exif_app1(6)); // rotate 90 degrees clockwise to display
    with_exif.extend(&jpeg[2..]);
    let input = dir.path().join("sideways.jpg");
    fs::write(&input, &with_exif).unwrap();
    // Sanity: the image crate sees the tag we wrote.
    let mut dec = ImageReader::open(&input).unwrap().into_decoder().unwrap();
    assert_eq!(
        dec.orientation().unwrap(),
        image::metadata::Orientation::Rotate90
    );

    let target = dir.path().join("out.png");
    run_fast(args!["photo", input, "-o", target]).assert_ok();
    let out = open_image(&target).to_rgb8();
    assert_eq!(out.dimensions(), (32, 64), "EXIF orientation 6 not applied");
    // Rotated clockwise, the light left half is now on top.
    let mean = |y0: u32, y1: u32| {
        let mut sum = 0u64;
        for y in y0..y1 {
            for x in 0..32 {
                let p = out.get_pixel(x, y);
                sum += p[0] as u64 + p[1] as u64 + p[2] as u64;
            }
        }
        sum as f64 / (3 * 32 * (y1 - y0)) as f64
    };
    let (top, bottom) = (mean(0, 28), mean(36, 64));
    assert!(
        top > bottom + 80.0,
        "top {top:.0} should be much lighter than bottom {bottom:.0}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Same pixels whatever the route
// ---------------------------------------------------------------------------------------------

#[test]
fn photo_and_batch_give_the_same_pixels() {
    let dir = TempDir::new().unwrap();
    let input_dir = dir.path().join("in");
    fs::create_dir(&input_dir).unwrap();
    fs::copy(historical("abe.jpg"), input_dir.join("abe.jpg")).unwrap();
    let rgba = RgbaImage::from_fn(70, 45, |x, y| {
        let g = (30 + (x * 3 + y * 2) % 200) as u8;
        image::Rgba([g, g, g, (x * 3) as u8])
    });
    rgba.save(input_dir.join("rgba.png")).unwrap();

    let single = dir.path().join("single");
    let folder = dir.path().join("folder");
    let batched = dir.path().join("batched");
    for name in ["abe.jpg", "rgba.png"] {
        run_fast(args![
            "photo",
            input_dir.join(name),
            "-o",
            single,
            "--format",
            "png"
        ])
        .assert_ok();
    }
    run_fast(args!["photo", input_dir, "-o", folder, "--format", "png"]).assert_ok();
    run_fast(args![
        "batch", input_dir, batched, "--format", "png", "--jobs", "3"
    ])
    .assert_ok();
    for name in ["abe.png", "rgba.png"] {
        let a = open_image(&single.join(name));
        let b = open_image(&folder.join(name));
        let c = open_image(&batched.join(name));
        assert_eq!(a.color(), c.color(), "{name}");
        assert!(
            a.as_bytes() == b.as_bytes(),
            "{name}: photo FILE and photo DIR give different pixels"
        );
        assert!(
            a.as_bytes() == c.as_bytes(),
            "{name}: photo and batch give different pixels"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 5. `batch`
// ---------------------------------------------------------------------------------------------

/// IN/a.png, IN/sub/b.jpg, IN/sub/deeper/c.tif plus things that are not photos.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    save_grey(&root.join("a.png"), 40, 30);
    save_grey(&root.join("sub/b.jpg"), 48, 36);
    save_grey(&root.join("sub/deeper/c.tif"), 20, 24);
    fs::write(root.join("notes.txt"), "not a photo").unwrap();
    fs::write(root.join(".hidden.png"), "hidden, and not a picture either").unwrap();
}

#[test]
fn batch_mirrors_the_tree() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let before = files_under(&input);
    let out = dir.path().join("out");
    let r = run_fast(args!["batch", input, out]);
    r.assert_ok();
    assert!(r.error_lines().is_empty(), "stderr:\n{}", r.stderr);
    assert!(
        r.stderr
            .contains("done: 3 colorized, 0 skipped (already done), 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    assert_files(&out, &["a.png", "sub/b.jpg", "sub/deeper/c.tif"]);
    assert_colour(&out.join("a.png"), 40, 30);
    assert_colour(&out.join("sub/b.jpg"), 48, 36);
    assert_colour(&out.join("sub/deeper/c.tif"), 20, 24);
    assert_eq!(
        files_under(&input),
        before,
        "batch wrote into its input folder"
    );
}

#[test]
fn batch_goes_on_after_a_bad_file() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let bad = input.join("sub/bad.png");
    fs::write(&bad, "a letter, not a picture").unwrap();
    let out = dir.path().join("out");
    let r = run_fast(args!["batch", input, out]);
    assert_eq!(r.code(), Some(1), "stderr:\n{}", r.stderr);
    assert_files(&out, &["a.png", "sub/b.jpg", "sub/deeper/c.tif"]);
    assert!(
        r.stderr
            .contains("done: 3 colorized, 0 skipped (already done), 1 failed"),
        "stderr:\n{}",
        r.stderr
    );
    // The summary lists the bad file with the reason.
    let summary = r
        .stderr
        .split("\nfailed:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no failed list, stderr:\n{}", r.stderr));
    let listed: Vec<&str> = summary.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(listed.len(), 1, "stderr:\n{}", r.stderr);
    assert!(
        listed[0].starts_with(&format!("  {}: not a readable image", bad.display())),
        "summary line: {:?}",
        listed[0]
    );
}

/// Readers and writers run at idle priority; when other programs starve them, the model's
/// thread does their work. `DDCOLOR_TEST_STALL_WORKERS` stops every worker for good once it has
/// taken a job: the batch must still finish, with the same files and the same failure.
#[test]
fn batch_finishes_when_its_workers_are_starved() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    save_grey(&input.join("d.png"), 64, 40);
    save_grey(&input.join("sub/e.jpg"), 30, 50);
    let bad = input.join("sub/bad.png");
    fs::write(&bad, "a letter, not a picture").unwrap();
    let expected = [
        "a.png",
        "d.png",
        "sub/b.jpg",
        "sub/deeper/c.tif",
        "sub/e.jpg",
    ];
    let runs = normal_and_starved(dir.path(), |out| {
        let mut args = args!["batch", &input, out, "--jobs", "2"];
        args.extend(args![
            "--model",
            model("test-dynamic"),
            "--input-size",
            "64"
        ]);
        args
    });
    for (name, r, out) in &runs {
        assert_eq!(r.code(), Some(1), "{name}: stderr:\n{}", r.stderr);
        // The hook engaged: the model's thread read all 6 files and encoded the 5 photos.
        let taken_back = r.stderr.lines().find(|l| l.starts_with("test: "));
        let expected_line =
            (*name == "starved").then_some("test: 6 read and 5 encoded on the model's thread");
        assert_eq!(taken_back, expected_line, "{name}: stderr:\n{}", r.stderr);
        assert!(
            r.stderr
                .contains("done: 5 colorized, 0 skipped (already done), 1 failed"),
            "{name}: stderr:\n{}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains(&format!("{}: not a readable image", bad.display())),
            "{name}: stderr:\n{}",
            r.stderr
        );
        // No temporary file left behind by a worker that never finished.
        assert_files(out, &expected);
    }
    assert_same_bytes(&runs[0].2, &runs[1].2, &expected);
}

/// The same for `photo`, with a workflow (its steps run on the idle pool, or on the model's
/// thread when the workers are starved).
#[test]
fn photo_with_a_workflow_finishes_when_its_workers_are_starved() {
    let dir = TempDir::new().unwrap();
    let inputs = [dir.path().join("p1.png"), dir.path().join("p2.jpg")];
    save_grey(&inputs[0], 70, 50);
    save_grey(&inputs[1], 40, 64);
    let runs = normal_and_starved(dir.path(), |out| {
        let mut args = args!["photo", &inputs[0], &inputs[1], "-o", out];
        args.extend(args![
            "--workflow",
            "portrait",
            "--model",
            model("test-dynamic")
        ]);
        args.extend(args!["--input-size", "64"]);
        args
    });
    let expected = ["p1.png", "p2.jpg"];
    for (name, r, out) in &runs {
        r.assert_ok();
        if *name == "starved" {
            assert!(
                r.stderr
                    .contains("test: 2 read and 2 encoded on the model's thread"),
                "stderr:\n{}",
                r.stderr
            );
        }
        assert_files(out, &expected);
    }
    assert_same_bytes(&runs[0].2, &runs[1].2, &expected);
}

/// Runs `ddcolor` twice, into `dir/normal` and then into `dir/starved` with every worker
/// stalled for good once it has a job (`DDCOLOR_TEST_STALL_WORKERS`), each killed and failed
/// if it hangs: the name, the run and the output folder of each.
fn normal_and_starved(
    dir: &Path,
    args: impl Fn(&Path) -> Vec<OsString>,
) -> Vec<(&'static str, Run, PathBuf)> {
    [("normal", "0"), ("starved", "1")]
        .into_iter()
        .map(|(name, stall)| {
            let out = dir.join(name);
            let r = run_env_within(
                args(&out),
                &[("DDCOLOR_TEST_STALL_WORKERS", OsStr::new(stall))],
                Duration::from_secs(120),
            );
            (name, r, out)
        })
        .collect()
}

fn assert_same_bytes(a: &Path, b: &Path, files: &[&str]) {
    for f in files {
        assert!(
            fs::read(a.join(f)).unwrap() == fs::read(b.join(f)).unwrap(),
            "{f}: {} and {} differ",
            a.display(),
            b.display()
        );
    }
}

#[test]
fn batch_resumes_and_overwrite_redoes() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let out = dir.path().join("out");
    run_fast(args!["batch", input, out]).assert_ok();
    let results = ["a.png", "sub/b.jpg", "sub/deeper/c.tif"];
    assert_files(&out, &results);

    // A result the user has replaced by hand (a retouched picture) must survive a resumed run;
    // one that is not a complete picture is made again (tests/photos_hostile.rs).
    save_grey(&out.join("a.png"), 12, 9);
    let old: Vec<SystemTime> = results
        .iter()
        .map(|f| set_old_mtime(&out.join(f)))
        .collect();
    let snaps: Vec<Snapshot> = results.iter().map(|f| snapshot(&out.join(f))).collect();

    let r = run_fast(args!["batch", input, out]);
    r.assert_ok();
    assert!(r.stderr.contains("3 photos under"), "stderr:\n{}", r.stderr);
    assert!(r.stderr.contains("3 already done"), "stderr:\n{}", r.stderr);
    assert!(
        r.stderr
            .contains("done: 0 colorized, 3 skipped (already done), 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    assert_files(&out, &results);
    for s in &snaps {
        s.assert_untouched();
    }

    // A deleted result is redone, the others are still skipped.
    fs::remove_file(out.join("sub/b.jpg")).unwrap();
    let r = run_fast(args!["batch", input, out]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("done: 1 colorized, 2 skipped (already done), 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    assert_colour(&out.join("sub/b.jpg"), 48, 36);
    snaps[0].assert_untouched();
    snaps[2].assert_untouched();

    let r = run_fast(args!["batch", input, out, "--overwrite"]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("done: 3 colorized, 0 skipped (already done), 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    assert_files(&out, &results);
    for (f, old) in results.iter().zip(old) {
        assert!(
            mtime(&out.join(f)) > old,
            "{f} was not rewritten by --overwrite"
        );
    }
    assert_colour(&out.join("a.png"), 40, 30);
}

#[test]
fn batch_output_inside_input_is_not_walked() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    fs::create_dir(&input).unwrap();
    save_grey(&input.join("a.png"), 40, 30);
    save_grey(&input.join("b.png"), 30, 40);
    let out = input.join("colour");
    run_fast(args!["batch", input, out]).assert_ok();
    assert_files(&input, &["a.png", "b.png", "colour/a.png", "colour/b.png"]);
    // Second run, with results now inside the input: they are not photos to colorize.
    let r = run_fast(args!["batch", input, out, "--overwrite"]);
    r.assert_ok();
    assert!(r.stderr.contains("2 photos under"), "stderr:\n{}", r.stderr);
    assert_files(&input, &["a.png", "b.png", "colour/a.png", "colour/b.png"]);
    // Same through a relative-looking spelling of the output folder.
    let r = run_fast(args![
        "batch",
        input,
        input.join(".").join("colour"),
        "--overwrite"
    ]);
    r.assert_ok();
    assert!(r.stderr.contains("2 photos under"), "stderr:\n{}", r.stderr);
    assert_files(&input, &["a.png", "b.png", "colour/a.png", "colour/b.png"]);
}

#[test]
fn batch_refuses_the_input_folder_as_output() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let before = files_under(&input);
    for out in [input.clone(), input.join("."), input.join("sub/..")] {
        let r = run_fast(args!["batch", input, out]);
        assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
        r.assert_one_error(&out, &["must differ from the input folder"]);
        assert_eq!(files_under(&input), before);
    }
}

#[test]
fn batch_without_images_or_input() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(input.join("sub")).unwrap();
    fs::write(input.join("sub/notes.txt"), "not a photo").unwrap();
    let out = dir.path().join("out");
    let r = run_fast(args!["batch", input, out]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    r.assert_one_error(&input, &["no images found"]);
    assert!(!out.exists(), "the output folder was created for nothing");

    let missing = dir.path().join("missing");
    let r = run_fast(args!["batch", missing, out]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    r.assert_one_error(&missing, &["not a folder"]);
    assert!(!out.exists());
}

#[test]
fn batch_with_three_jobs() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    fs::create_dir(&input).unwrap();
    let mut expected = Vec::new();
    for i in 0..9u32 {
        let name = format!("p{i}.{}", ["png", "jpg", "tif"][i as usize % 3]);
        save_grey(&input.join(&name), 20 + i * 3, 30 - i);
        expected.push(name);
    }
    let out = dir.path().join("out");
    let r = run_fast(args!["batch", input, out, "--jobs", "3", "--threads", "2"]);
    r.assert_ok();
    assert!(
        r.stderr
            .contains("done: 9 colorized, 0 skipped (already done), 0 failed"),
        "stderr:\n{}",
        r.stderr
    );
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_files(&out, &expected);
    for i in 0..9u32 {
        assert_colour(&out.join(expected[i as usize]), 20 + i * 3, 30 - i);
    }
}

// ---------------------------------------------------------------------------------------------
// 5b. `batch --events`: the progress stream a front end (the web app) reads
// ---------------------------------------------------------------------------------------------

/// The events in `text`: every line one JSON object (nothing else may share the stream).
fn events_in(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON event ({e}): {l:?}\nstream:\n{text}"))
        })
        .collect()
}

/// The events named `name`.
fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// The `item` events by `rel`, each photo exactly once.
fn items_by_rel(events: &[Value]) -> BTreeMap<String, &Value> {
    let mut items = BTreeMap::new();
    for e in events_named(events, "item") {
        let rel = e["rel"].as_str().expect("item without rel").to_string();
        assert!(
            items.insert(rel.clone(), e).is_none(),
            "two item events for {rel}: {events:#?}"
        );
    }
    items
}

/// `start` first, `end` last, one of each.
fn assert_start_and_end(events: &[Value], start: Value, end: Value) {
    assert_eq!(events.first(), Some(&start), "{events:#?}");
    assert_eq!(events_named(events, "start").len(), 1, "{events:#?}");
    assert_eq!(events_named(events, "end").len(), 1, "{events:#?}");
    let last = events.last().expect("no events");
    let seconds = last["seconds"].as_f64().expect("end without seconds");
    assert!(seconds >= 0.0, "{last}");
    let mut last = last.clone();
    last.as_object_mut().unwrap().remove("seconds");
    assert_eq!(last, end, "{events:#?}");
}

/// Every photo of a batch ends in one `item` event (done with the S it got, failed with the
/// reason without the path, or skipped when a resumed run finds it done), between `start`
/// and `end`, whose counts match; nothing but events on stdout.
#[test]
fn batch_events_tell_each_photo_and_what_a_resumed_run_skips() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let broken = input.join("broken.jpg");
    fs::write(&broken, "garbage, not a JPEG").unwrap();
    let out = dir.path().join("out");
    let done = ["a.png", "sub/b.jpg", "sub/deeper/c.tif"];

    let r = run_fast(args!["batch", input, out, "--events", "-"]);
    assert_eq!(r.code(), Some(1), "stderr:\n{}", r.stderr);
    let events = events_in(&r.stdout);
    assert_start_and_end(
        &events,
        json!({"event": "start", "kind": "batch", "total": 4, "to_do": 4}),
        json!({"event": "end", "done": 3, "failed": 1, "skipped": 0, "interrupted": 0}),
    );
    let items = items_by_rel(&events);
    let rels: Vec<&str> = items.keys().map(String::as_str).collect();
    assert_eq!(
        rels,
        ["a.png", "broken.jpg", "sub/b.jpg", "sub/deeper/c.tif"]
    );
    for rel in done {
        let item = items[rel];
        assert_eq!(item["state"], "done", "{item}");
        assert_eq!(item["size"], 256, "{item}");
        assert_eq!(item["input"], input.join(rel).to_str().unwrap(), "{item}");
        assert_eq!(item["output"], out.join(rel).to_str().unwrap(), "{item}");
        assert!(out.join(rel).is_file(), "{rel}: no result");
        // Into the model first, then written.
        let pos = |e: &Value| events.iter().position(|x| x == e).unwrap();
        let current = json!({"event": "current", "rel": rel});
        assert!(
            events.contains(&current) && pos(&current) < pos(item),
            "{rel}: no current event before its item: {events:#?}"
        );
    }
    let failed = items["broken.jpg"];
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["input"], broken.to_str().unwrap(), "{failed}");
    let error = failed["error"].as_str().expect("failed item without error");
    assert!(
        error.starts_with("not a readable image"),
        "the reason, without the path: {error:?}"
    );

    // Resumed: the results are skipped before any photo goes into the model; the broken
    // photo (no result) is tried again.
    let r = run_fast(args!["batch", input, out, "--events", "-"]);
    assert_eq!(r.code(), Some(1), "stderr:\n{}", r.stderr);
    let events = events_in(&r.stdout);
    assert_start_and_end(
        &events,
        json!({"event": "start", "kind": "batch", "total": 4, "to_do": 1}),
        json!({"event": "end", "done": 0, "failed": 1, "skipped": 3, "interrupted": 0}),
    );
    let items = items_by_rel(&events);
    for rel in done {
        assert_eq!(items[rel]["state"], "skipped", "{}", items[rel]);
        assert_eq!(items[rel]["output"], out.join(rel).to_str().unwrap());
    }
    assert_eq!(items["broken.jpg"]["state"], "failed");
    assert_eq!(items.len(), 4);
    assert!(
        events[1..4].iter().all(|e| e["state"] == "skipped"),
        "skipped items come right after start: {events:#?}"
    );
}

/// `--events FILE` replaces FILE with the stream and leaves stdout empty; running out of memory
/// says so (`note`, `stepdown`), and each item gives the S it got after the step-down.
#[test]
fn batch_events_in_a_file_tell_the_step_down() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    fs::create_dir(&input).unwrap();
    save_grey(&input.join("p0.png"), 64, 48);
    save_grey(&input.join("p1.png"), 48, 64);
    let out = dir.path().join("out");
    let stream = dir.path().join("events.jsonl");
    fs::write(&stream, "an earlier run's events\n").unwrap();
    let r = run_env(
        args![
            "batch",
            input,
            out,
            "--events",
            stream,
            "--model",
            model("test-dynamic"),
            "--input-size",
            "768"
        ],
        &[("DDCOLOR_SIMULATE_OOM_ABOVE", OsStr::new("512"))],
    );
    r.assert_ok();
    assert_eq!(r.stdout, "", "stdout must stay empty with --events FILE");
    let events = events_in(&fs::read_to_string(&stream).unwrap());
    assert_start_and_end(
        &events,
        json!({"event": "start", "kind": "batch", "total": 2, "to_do": 2}),
        json!({"event": "end", "done": 2, "failed": 0, "skipped": 0, "interrupted": 0}),
    );
    assert_eq!(
        events_named(&events, "stepdown"),
        [&json!({"event": "stepdown", "from": 768, "to": 512})],
        "{events:#?}"
    );
    assert!(
        events.contains(&json!({
            "event": "note",
            "text": "out of memory at input size 768: continuing at 512"
        })),
        "{events:#?}"
    );
    let items = items_by_rel(&events);
    assert_eq!(items.len(), 2);
    for (rel, item) in items {
        assert_eq!(item["state"], "done", "{rel}: {item}");
        assert_eq!(item["size"], 512, "{rel}: {item}");
    }
}

/// A batch whose model does not load ends its stream with the reason after `start`; one refused
/// before it starts (no such folder) writes no events.
#[test]
fn batch_events_end_a_run_that_cannot_begin() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let out = dir.path().join("out");
    let r = run(args![
        "batch",
        input,
        out,
        "--events",
        "-",
        "--model",
        model("bad-rank")
    ]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    let events = events_in(&r.stdout);
    assert_eq!(events.len(), 2, "{events:#?}");
    assert_eq!(events[0]["event"], "start");
    let end = &events[1];
    assert_eq!(end["event"], "end", "{end}");
    assert_eq!(end["done"], 0, "{end}");
    let error = end["error"].as_str().expect("an end without error");
    assert!(error.contains("not a DDColor model"), "{error:?}");

    let r = run_fast(args![
        "batch",
        dir.path().join("missing"),
        out,
        "--events",
        "-"
    ]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    assert_eq!(
        r.stdout, "",
        "events from a batch refused before it started"
    );
}

/// A reader that goes away (a closed pipe) ends the stream, not the batch.
#[test]
fn batch_goes_on_when_the_events_reader_goes_away() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let out = dir.path().join("out");
    let mut cmd = common::ddcolor_command(args![
        "batch",
        input,
        out,
        "--events",
        "-",
        "--model",
        model("test-dynamic"),
        "--input-size",
        "256"
    ]);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The reading end closed: every event written fails (EPIPE).
    drop(child.stdout.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the batch did not end within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert_files(&out, &["a.png", "sub/b.jpg", "sub/deeper/c.tif"]);
}

// ---------------------------------------------------------------------------------------------
// 6. `models` and help
// ---------------------------------------------------------------------------------------------

#[test]
fn models_lists_the_variants() {
    let r = run(args!["models"]);
    r.assert_ok();
    for name in ["paper", "paper_tiny", "modelscope", "artistic"] {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "`ddcolor models` does not list {name}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn help_mentions_the_options() {
    let r = run(args!["--help"]);
    r.assert_ok();
    for word in ["photo", "batch", "models"] {
        assert!(
            r.stdout.contains(word),
            "--help does not mention {word}:\n{}",
            r.stdout
        );
    }
    let common = ["--model", "--input-size", "--upsample", "--threads"];
    let r = run(args!["photo", "--help"]);
    r.assert_ok();
    for opt in common
        .iter()
        .chain(&["--output", "--format", "--max-pixels"])
    {
        assert!(
            r.stdout.contains(opt),
            "photo --help does not mention {opt}:\n{}",
            r.stdout
        );
    }
    let r = run(args!["batch", "--help"]);
    r.assert_ok();
    for opt in common.iter().chain(&["--jobs", "--overwrite", "--events"]) {
        assert!(
            r.stdout.contains(opt),
            "batch --help does not mention {opt}:\n{}",
            r.stdout
        );
    }
    // Usage errors exit 2 with clap's message, not a panic.
    let r = run(args!["photo"]);
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    assert!(r.stderr.contains("required"), "stderr:\n{}", r.stderr);
}

// ---------------------------------------------------------------------------------------------
// 7. DDCOLOR_MODEL
// ---------------------------------------------------------------------------------------------

#[test]
fn ddcolor_model_env_is_used_without_model_option() {
    let (dir, input) = grey_scan();
    let m = model("test-dynamic");
    let target = dir.path().join("out.png");
    let r = run_env(
        args!["photo", input, "-o", target, "--input-size", "256"],
        &[("DDCOLOR_MODEL", m.as_os_str())],
    );
    r.assert_ok();
    assert!(
        r.stderr
            .contains(&format!("model: {} (DDCOLOR_MODEL)", m.display())),
        "stderr does not name the model from DDCOLOR_MODEL:\n{}",
        r.stderr
    );
    assert_colour(&target, 40, 30);

    // --model wins over the environment.
    let fixed = model("test-256");
    let r = run_env(
        args!["photo", input, "-o", target, "--model", fixed],
        &[("DDCOLOR_MODEL", m.as_os_str())],
    );
    r.assert_ok();
    assert!(
        r.stderr
            .contains(&format!("model: {} (--model)", fixed.display())),
        "stderr:\n{}",
        r.stderr
    );

    // A DDCOLOR_MODEL that does not exist is an error naming it.
    let missing = dir.path().join("gone.onnx");
    let target2 = dir.path().join("out2.png");
    let r = run_env(
        args!["photo", input, "-o", target2],
        &[("DDCOLOR_MODEL", missing.as_os_str())],
    );
    assert_eq!(r.code(), Some(2), "stderr:\n{}", r.stderr);
    r.assert_one_error(&missing, &["not found", "DDCOLOR_MODEL"]);
    assert!(!target2.exists());
}

#[test]
fn batch_marks_its_folder_and_refuses_a_folder_holding_originals() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    make_tree(&input);
    let out = dir.path().join("out");
    run_fast(args!["batch", input, out]).assert_ok();
    assert!(
        out.join(BATCH_MARKER).is_file(),
        "batch must mark the folder it wrote"
    );

    // A folder with a file under a result's name that batch did not write: it may be an original.
    let foreign = dir.path().join("foreign");
    fs::create_dir_all(&foreign).unwrap();
    save_grey(&foreign.join("a.png"), 10, 10);
    let snap = snapshot(&foreign.join("a.png"));
    for extra in [&[][..], &["--overwrite"][..]] {
        let mut a = args!["batch", input, foreign];
        a.extend(extra.iter().map(OsString::from));
        let r = run_fast(a);
        r.assert_failed();
        r.assert_one_error(&foreign, &["did not write", "a.png"]);
        snap.assert_untouched();
    }
    assert_files(&foreign, &["a.png"]);
}

#[test]
fn batch_name_collisions_resume_too() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in");
    fs::create_dir_all(&input).unwrap();
    save_grey(&input.join("a.jpg"), 20, 10);
    save_grey(&input.join("a.png"), 20, 10);
    let out = dir.path().join("out");
    run_fast(args!["batch", input, out, "--format", "png"]).assert_ok();
    assert_files(&out, &["a.png", "a_png.png"]);
    let r = run_fast(args!["batch", input, out, "--format", "png"]);
    r.assert_ok();
    assert!(
        r.stderr.contains("done: 0 colorized, 2 skipped"),
        "stderr:\n{}",
        r.stderr
    );
}

#[test]
fn photo_refuses_two_results_under_one_name() {
    let dir = TempDir::new().unwrap();
    for sub in ["x", "y"] {
        fs::create_dir_all(dir.path().join(sub)).unwrap();
        save_grey(&dir.path().join(sub).join("a.png"), 12, 12);
    }
    let out = dir.path().join("out");
    let second = dir.path().join("y/a.png");
    let r = run_fast(args![
        "photo",
        dir.path().join("x/a.png"),
        second,
        "-o",
        out
    ]);
    r.assert_failed();
    r.assert_one_error(&second, &["would replace the result of"]);
    assert_files(&out, &["a.png"]);
}

#[test]
fn photo_folder_twice_does_not_colorize_its_own_results() {
    let dir = TempDir::new().unwrap();
    save_grey(&dir.path().join("a.png"), 16, 16);
    run_fast(args!["photo", dir.path()]).assert_ok();
    let r = run_fast(args!["photo", dir.path()]);
    r.assert_ok();
    assert_files(dir.path(), &["a.png", "a_color.png"]);
}

#[test]
fn no_output_folder_is_left_when_the_model_fails() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("never");
    let r = run(args![
        "photo",
        historical("abe.jpg"),
        "-o",
        out,
        "--model",
        dir.path().join("missing.onnx")
    ]);
    r.assert_failed();
    assert!(
        !out.exists(),
        "photo created {} although nothing could be written",
        out.display()
    );
    let input = dir.path().join("in");
    make_tree(&input);
    let out = dir.path().join("never2");
    let r = run(args![
        "batch",
        input,
        out,
        "--model",
        dir.path().join("missing.onnx")
    ]);
    r.assert_failed();
    assert!(
        !out.exists(),
        "batch created {} although nothing could be written",
        out.display()
    );
}

/// `--device`: `auto` (the default) says it runs on the CPU and why; `cuda` without a
/// CUDA-enabled ONNX Runtime is refused with the way out, nothing written; `cpu` runs quietly.
#[test]
fn device_choice_and_fallback() {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        common::skipped(
            "device_choice_and_fallback",
            &"ORT_DYLIB_PATH names another ONNX Runtime library (maybe a GPU build)",
        );
        return;
    }
    let (dir, input) = grey_scan();
    let target = dir.path().join("out.png");
    let r = run_fast(args!["photo", input, "-o", target]);
    r.assert_ok();
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("device: CPU (") && l.contains("onnxruntime-gpu")),
        "{}",
        r.stderr
    );
    let r = run_fast(args!["photo", input, "-o", target, "--device", "cpu"]);
    r.assert_ok();
    assert!(r.stderr.lines().any(|l| l == "device: CPU"), "{}", r.stderr);

    let refused = dir.path().join("gpu.png");
    let r = run_fast(args!["photo", input, "-o", refused, "--device", "cuda"]);
    assert_eq!(r.code(), Some(2), "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("device") && line.contains("onnxruntime-gpu"),
        "{line}"
    );
    assert!(!refused.exists());
}

/// Running out of memory at a large S steps down 1280 -> 960 -> 768 -> 512, says so, finishes
/// every photo and records the S used (the device's memory is simulated as full above 512).
#[test]
fn out_of_memory_steps_the_input_size_down() {
    let dir = TempDir::new().unwrap();
    let inputs: Vec<PathBuf> = (0..2)
        .map(|i| {
            let p = dir.path().join(format!("in{i}.png"));
            GrayImage::from_fn(64, 48, |x, y| {
                Luma([((x * 3 + y * 5 + i * 40) % 256) as u8])
            })
            .save(&p)
            .unwrap();
            p
        })
        .collect();
    let out = dir.path().join("out");
    let big = model("test-dynamic");
    let r = run_env(
        args![
            "photo",
            inputs[0],
            inputs[1],
            "-o",
            out,
            "--model",
            big,
            "--input-size",
            "1280"
        ],
        &[("DDCOLOR_SIMULATE_OOM_ABOVE", OsStr::new("512"))],
    );
    r.assert_ok();
    let notes: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("out of memory"))
        .collect();
    assert_eq!(
        notes,
        [
            "note: out of memory at input size 1280: continuing at 960",
            "note: out of memory at input size 960: continuing at 768",
            "note: out of memory at input size 768: continuing at 512",
        ],
        "{}",
        r.stderr
    );
    // Both results equal a plain run at 512.
    let plain = dir.path().join("plain");
    run(args![
        "photo",
        inputs[0],
        inputs[1],
        "-o",
        plain,
        "--model",
        model("test-dynamic"),
        "--input-size",
        "512"
    ])
    .assert_ok();
    for i in 0..2 {
        let name = format!("in{i}.png");
        let a = image::open(out.join(&name)).unwrap().to_rgb8();
        let b = image::open(plain.join(&name)).unwrap().to_rgb8();
        assert_eq!(a, b, "{name}");
    }
    // Nothing smaller than 512 is tried: at 512 the error stands.
    let r = run_env(
        args![
            "photo",
            inputs[0],
            "-o",
            dir.path().join("x.png"),
            "--model",
            model("test-dynamic"),
            "--input-size",
            "512"
        ],
        &[("DDCOLOR_SIMULATE_OOM_ABOVE", OsStr::new("256"))],
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("out of memory"), "{}", r.stderr);
    assert!(!dir.path().join("x.png").exists());
}
