//! The inputs `ddcolor` promises to read, and the paths it must refuse at once: every format the
//! help text and the README name goes through `ddcolor photo` and gives the pixels the same photo
//! gives as PNG (a format that is listed but not built in fails here, not at a user's), and named
//! pipes and devices are named for what they are instead of being opened (a read from either
//! blocks or never ends).

#[macro_use]
mod common;

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{Run, model};
use ddcolor_engine::io::INPUT_EXTENSIONS;
use image::{ImageFormat, ImageReader, RgbImage};
use tempfile::TempDir;

/// Runs `ddcolor` with the fast dynamic test model at size 256 appended; killed, and the test
/// failed, after `limit`.
fn run_fast(mut args: Vec<OsString>, limit: Duration) -> Run {
    args.extend(args![
        "--model",
        model("test-dynamic"),
        "--input-size",
        "256"
    ]);
    common::run(common::ddcolor_command(&args), limit)
}

/// The extensions `ddcolor photo --help` lists for its inputs, in its order.
fn help_extensions() -> Vec<String> {
    let r = common::run(
        common::ddcolor_command(["photo", "--help"]),
        Duration::from_secs(60),
    );
    r.assert_ok();
    // The help is wrapped to the terminal: join the lines before looking for the list.
    let text = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    let intro = "Photos or folders of photos (";
    let start = text
        .find(intro)
        .unwrap_or_else(|| panic!("no list of input formats in the help:\n{}", r.stdout))
        + intro.len();
    let list = &text[start..start + text[start..].find(')').expect("closing parenthesis")];
    list.split(',')
        .map(|e| e.trim().trim_start_matches('.').to_string())
        .collect()
}

#[test]
fn help_lists_exactly_the_extensions_read() {
    let mut listed = help_extensions();
    listed.sort();
    let mut read: Vec<String> = INPUT_EXTENSIONS.iter().map(|e| e.to_string()).collect();
    read.sort();
    assert_eq!(listed, read, "`photo --help` and INPUT_EXTENSIONS disagree");
}

#[test]
fn readme_names_every_input_format() {
    let readme = fs::read_to_string(Path::new(common::ROOT).join("README.md")).expect("README");
    let line = readme
        .split("\n\n")
        .find(|p| p.starts_with("What goes in and out:"))
        .expect("the README's paragraph on inputs");
    let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
    for ext in INPUT_EXTENSIONS {
        let format = ImageFormat::from_extension(ext).expect("a known extension");
        let name = match format {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Tiff => "TIFF",
            ImageFormat::WebP => "WebP",
            ImageFormat::Bmp => "BMP",
            other => panic!(".{ext} ({other:?}) is read but this test does not know its name"),
        };
        assert!(line.contains(name), "README does not name {name}: {line}");
    }
}

/// A grey photo with detail in both directions and sizes that are not multiples of 8.
fn grey_photo() -> RgbImage {
    RgbImage::from_fn(67, 45, |x, y| {
        let g = (20 + (x * 7 + y * 5 + (x * y) % 13) % 220) as u8;
        image::Rgb([g, g, g])
    })
}

#[test]
fn every_listed_input_format_colorizes_like_the_same_photo_as_png() {
    let dir = TempDir::new().expect("temp dir");
    let photo = grey_photo();
    for ext in help_extensions() {
        let input = dir.path().join(format!("in.{ext}"));
        photo
            .save(&input)
            .unwrap_or_else(|e| panic!(".{ext}: cannot write the test photo: {e}"));
        // The reference: the pixels the file holds (JPEG is lossy), as PNG.
        let decoded = image::open(&input)
            .expect("decode the test photo")
            .to_rgb8();
        let as_png = dir.path().join(format!("in-{ext}.png"));
        decoded.save(&as_png).expect("save the PNG copy");
        let (out, out_png) = (
            dir.path().join(format!("out-{ext}.png")),
            dir.path().join(format!("out-{ext}-png.png")),
        );
        run_fast(args!["photo", input, "-o", out], Duration::from_secs(300)).assert_ok();
        run_fast(
            args!["photo", as_png, "-o", out_png],
            Duration::from_secs(300),
        )
        .assert_ok();
        let open = |p: &Path| {
            ImageReader::open(p)
                .expect("open")
                .decode()
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let (a, b) = (open(&out), open(&out_png));
        assert_eq!((a.width(), a.height()), (67, 45), ".{ext}");
        assert!(
            a.as_bytes() == b.as_bytes(),
            ".{ext}: result differs from the same photo's as PNG"
        );
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// A run that opened the pipe would block on it: the limit (and the harness's stall watch)
/// turns that into a failure instead of a hung test.
const AT_ONCE: Duration = Duration::from_secs(120);

#[test]
fn batch_reports_a_named_pipe_and_goes_on() {
    let dir = TempDir::new().expect("temp dir");
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    fs::create_dir(&input).expect("mkdir");
    grey_photo().save(input.join("a.png")).expect("save");
    let fifo = input.join("x.jpg");
    mkfifo(&fifo);
    let r = run_fast(args!["batch", input, output], AT_ONCE);
    r.assert_one_error(&fifo, &["named pipe (FIFO)", "not a photo file"]);
    assert!(!r.stderr.contains("empty file"), "stderr:\n{}", r.stderr);
    let summary = r
        .stderr
        .lines()
        .find(|l| l.starts_with("done: "))
        .unwrap_or_else(|| panic!("no summary, stderr:\n{}", r.stderr));
    assert!(
        summary.contains("1 colorized") && summary.contains("1 failed"),
        "{summary}"
    );
    assert!(
        r.stderr.contains("failed:\n  ") && r.stderr.contains(&format!("  {}: ", fifo.display())),
        "the summary lists the pipe, stderr:\n{}",
        r.stderr
    );
    assert!(output.join("a.png").is_file(), "the good photo was done");
}

#[test]
fn photo_refuses_devices_at_once() {
    let dir = TempDir::new().expect("temp dir");
    for dev in ["/dev/zero", "/dev/null"] {
        let out = dir.path().join("out.png");
        let r = run_fast(args!["photo", dev, "-o", out], AT_ONCE);
        r.assert_one_error(
            Path::new(dev),
            &["is a character device", "not a photo file"],
        );
        assert!(!out.exists(), "{dev}: no result");
    }
}
