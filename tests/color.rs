//! The engine's colour conversions against OpenCV's float `cvtColor`, on a dense grid of values
//! and on the historical photographs in `tests/media/photos/historical/`. Reference values:
//! `tests/reference/lab_reference.py` (run by `make test`, written to `tests/data/lab/`).

mod common;

use std::path::PathBuf;

use ddcolor_engine::lab::{LabToRgb, lab_to_rgb, rgb_to_lab};

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/lab");
    assert!(
        dir.join("manifest.json").is_file(),
        "reference data missing in {}: run `make test` (or `make test-data`) first",
        dir.display()
    );
    dir
}

fn read_f32(path: PathBuf) -> Vec<f32> {
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(data_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest json")
}

/// Largest absolute difference over all values, and how many values differ at all.
fn compare(ours: &[f32], theirs: &[f32]) -> (f32, usize) {
    assert_eq!(ours.len(), theirs.len());
    ours.iter().zip(theirs).fold((0f32, 0), |(m, n), (a, b)| {
        let d = (a - b).abs();
        (m.max(d), n + (d != 0.0) as usize)
    })
}

#[test]
fn rgb_to_lab_matches_opencv_on_dense_grid() {
    let dir = data_dir();
    let rgb = read_f32(dir.join("grid_rgb.f32"));
    let want = read_f32(dir.join("grid_lab.f32"));
    let got: Vec<f32> = rgb
        .chunks_exact(3)
        .flat_map(|p| rgb_to_lab([p[0], p[1], p[2]]))
        .collect();
    let (max, differing) = compare(&got, &want);
    println!(
        "RGB->Lab on {} colours: max |diff| {max:e}, {differing} values differ",
        rgb.len() / 3
    );
    assert!(max <= 1e-3, "max |diff| {max} Lab units");
}

#[test]
fn lab_to_rgb_matches_opencv_on_dense_grid() {
    let dir = data_dir();
    let lab = read_f32(dir.join("lab_in.f32"));
    let want = read_f32(dir.join("lab_rgb.f32"));
    let want8 = std::fs::read(dir.join("lab_rgb8.u8")).expect("lab_rgb8");
    let got: Vec<f32> = lab
        .chunks_exact(3)
        .flat_map(|p| lab_to_rgb([p[0], p[1], p[2]]))
        .collect();
    let (max, _) = compare(&got, &want);
    let max8 = got
        .iter()
        .zip(&want8)
        .map(|(g, &w)| ((g * 255.0).round_ties_even() as i32 - w as i32).abs())
        .max()
        .unwrap_or(0);
    println!(
        "Lab->RGB on {} colours: max |diff| {max:e}, max 8-bit diff {max8}",
        lab.len() / 3
    );
    assert!(max <= 1e-3, "max |diff| {max}");
    assert!(max8 <= 1, "8-bit outputs differ by {max8} levels");
    assert!(
        got.iter().all(|v| (0.0..=1.0).contains(v)),
        "out-of-gamut colours must be clipped"
    );
}

#[test]
fn conversions_match_opencv_on_historical_photos() {
    let dir = data_dir();
    let m = manifest();
    let stride = m["stride"].as_u64().expect("stride") as usize;
    let photos = m["photos"].as_array().expect("photos");
    // Every historical photo, none left out (a photo the script cannot read is left out).
    let mut want: Vec<String> = std::fs::read_dir(common::media_dir("photos/historical"))
        .expect("historical photos")
        .map(|e| {
            let p = e.expect("entry").path();
            p.file_stem().expect("stem").to_string_lossy().into_owned()
        })
        .collect();
    want.sort();
    let mut got: Vec<&str> = photos
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "expected every historical photo in the reference data"
    );
    let lab2rgb = LabToRgb::new();
    for p in photos {
        let name = p["name"].as_str().expect("name");
        let img = image::open(dir.join(format!("photos/{name}.png")))
            .expect("decoded photo")
            .to_rgb8();
        let (w, h) = img.dimensions();
        let want = read_f32(dir.join(format!("photos/{name}.lab.f32")));
        let want8 = std::fs::read(dir.join(format!("photos/{name}.rgb8.u8"))).expect("rgb8");
        let mut got = Vec::with_capacity(want.len());
        for y in (0..h).step_by(stride) {
            for x in 0..w {
                let px = img.get_pixel(x, y).0;
                let unit = |v: u8| (v as f64 / 255.0) as f32;
                got.extend(rgb_to_lab([unit(px[0]), unit(px[1]), unit(px[2])]));
            }
        }
        let (max, _) = compare(&got, &want);
        assert!(max <= 1e-3, "{name}: RGB->Lab max |diff| {max}");
        let max8 = want
            .chunks_exact(3)
            .zip(want8.chunks_exact(3))
            .flat_map(|(lab, w8)| {
                let rgb = lab2rgb.convert(lab[0], lab[1], lab[2]);
                (0..3)
                    .map(move |k| ((rgb[k] * 255.0).round_ties_even() as i32 - w8[k] as i32).abs())
            })
            .max()
            .unwrap_or(0);
        assert!(max8 <= 1, "{name}: Lab->RGB 8-bit differs by {max8} levels");
        println!("{name} {w}x{h}: RGB->Lab max |diff| {max:e}, Lab->RGB 8-bit max diff {max8}");
    }
}
