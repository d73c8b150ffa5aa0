//! End to end: `ddcolor photo --upsample nearest` against the official recipe re-implemented in
//! Python (numpy + OpenCV + onnxruntime, `tests/reference/recipe.py`) with the same model, on
//! every historical photo in `tests/media/photos/historical/` (up to the 4764x3759 scan,
//! 1-channel, sepia and faded PNG files included).
//!
//! Reference outputs are made by `make test-data` into `tests/data/recipe/`.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ROOT, model};

/// Limit for one `ddcolor photo` run over a whole set (the largest scan is 18 megapixels).
const LIMIT: Duration = Duration::from_secs(1800);

fn historical() -> PathBuf {
    common::media_dir("photos/historical")
}

fn reference_dir(model: &str, set: &str) -> PathBuf {
    let d = PathBuf::from(ROOT)
        .join("tests/data/recipe")
        .join(model)
        .join(set);
    assert!(
        d.is_dir(),
        "{} missing: run `make test` (or `make test-data`) first",
        d.display()
    );
    d
}

fn images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file() && !p.extension().is_some_and(|e| e == "f32" || e == "u8"))
        .collect();
    v.sort();
    v
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// Colorizes `inputs` with the runner and returns (name, PSNR against the reference) per photo.
fn compare(
    model_name: &str,
    extra: &[&str],
    inputs: &[PathBuf],
    reference: &Path,
) -> Vec<(String, f64, u32, u32)> {
    let out = tempfile::tempdir().expect("tempdir");
    let mut cmd = common::ddcolor_command(["photo"]);
    cmd.args(inputs)
        .args(["--upsample", "nearest", "--format", "png", "-o"])
        .arg(out.path())
        .arg("--model")
        .arg(model(model_name))
        .args(extra);
    common::run(cmd, LIMIT).assert_ok();
    inputs
        .iter()
        .map(|input| {
            let stem = input
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let ours = image::open(out.path().join(format!("{stem}.png")))
                .expect("our output")
                .to_rgb8();
            let theirs = image::open(reference.join(format!("{stem}.png")))
                .expect("reference output")
                .to_rgb8();
            assert_eq!(
                ours.dimensions(),
                theirs.dimensions(),
                "{stem}: size differs from the reference"
            );
            let (w, h) = ours.dimensions();
            (stem, psnr(ours.as_raw(), theirs.as_raw()), w, h)
        })
        .collect()
}

/// Checks one row per historical photo.
fn report_and_check(title: &str, rows: &[(String, f64, u32, u32)], min_db: f64) {
    report_and_check_n(title, rows, min_db, images(&historical()).len());
}

fn report_and_check_n(title: &str, rows: &[(String, f64, u32, u32)], min_db: f64, expected: usize) {
    println!("{title}");
    for (name, db, w, h) in rows {
        println!("  {name:<32} {w:>5}x{h:<5} {db:>7.2} dB");
    }
    let worst = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    println!("  worst: {worst:.2} dB over {} photos", rows.len());
    assert_eq!(rows.len(), expected, "expected {expected} photos");
    for (name, db, _, _) in rows {
        assert!(
            *db >= min_db,
            "{name}: {db:.2} dB against the reference recipe (need >= {min_db})"
        );
    }
}

#[test]
fn photo_matches_reference_recipe_dynamic_model_at_512() {
    let inputs = images(&historical());
    let rows = compare(
        "test-dynamic",
        &["--input-size", "512"],
        &inputs,
        &reference_dir("test-dynamic", "orig"),
    );
    report_and_check(
        "test-dynamic at 512, original files (JPEG decoders differ: image crate vs libjpeg-turbo)",
        &rows,
        50.0,
    );
}

#[test]
fn photo_matches_reference_recipe_fixed_256_model() {
    let inputs = images(&historical());
    let rows = compare("test-256", &[], &inputs, &reference_dir("test-256", "orig"));
    report_and_check("test-256 (fixed shape), original files", &rows, 50.0);
}

/// Fed the very pixels OpenCV decoded, the recipe must agree far more closely: what is left is
/// float rounding inside the model runtime and the Lab->RGB spline.
#[test]
fn photo_matches_reference_recipe_on_identical_pixels() {
    let decoded = PathBuf::from(ROOT).join("tests/data/lab/photos");
    let inputs: Vec<PathBuf> = images(&decoded)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    let rows = compare(
        "test-dynamic",
        &["--input-size", "512"],
        &inputs,
        &reference_dir("test-dynamic", "png"),
    );
    report_and_check(
        "test-dynamic at 512, identical decoded pixels (PNG)",
        &rows,
        80.0,
    );
}

/// 1024x1024 at S=512: an exact 2x shrink, where OpenCV's INTER_LINEAR switches to area averaging.
#[test]
fn photo_matches_reference_recipe_on_exact_2x_shrink() {
    let crops = PathBuf::from(ROOT).join("tests/data/lab/crops");
    let inputs = images(&crops);
    let rows = compare(
        "test-dynamic",
        &["--input-size", "512"],
        &inputs,
        &reference_dir("test-dynamic", "crops"),
    );
    report_and_check_n(
        "test-dynamic at 512, 1024x1024 crops (exact 2x shrink)",
        &rows,
        80.0,
        2,
    );
}
