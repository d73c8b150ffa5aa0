//! Edge-aware chroma upsampling against the plain ways, on the Kodak photos (true colour known):
//! each photo's own chroma brought down to S as a perfect model would give it, brought back up,
//! and scored by CIEDE2000 against the photo. Edge-aware must beat bilinear, which must beat
//! nearest (the reference's), over the whole photo and next to lightness edges, at every S.
//! All 24 photos are used: photo by photo the differences are small and the order is not always
//! kept, so the claim is about the set as a whole, not about a few photos picked from it.
//! `cargo bench -p ddcolor-engine --bench upsample` prints the full table with the variants
//! that lost.

mod common;

use std::path::PathBuf;

use ddcolor_engine::lab::rgb_to_lab;
use ddcolor_engine::metrics::{Rgb, colour_error};
use ddcolor_engine::recombine;
use ddcolor_engine::resize::resize_to_model;
use ddcolor_engine::{Photo, Samples, Upsample};

fn kodak() -> Vec<PathBuf> {
    let dir = common::media_dir("photos/kodak");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 24, "the 24 Kodak photos");
    files
}

#[test]
fn edge_aware_beats_bilinear_beats_nearest_on_kodak() {
    const WAYS: [Upsample; 3] = [Upsample::Nearest, Upsample::Bilinear, Upsample::EdgeAware];
    let photos: Vec<Photo> = kodak()
        .iter()
        .map(|f| {
            let img = image::open(f).expect("photo").to_rgb8();
            Photo {
                width: img.width() as usize,
                height: img.height() as usize,
                channels: 3,
                samples: Samples::U8(img.into_raw()),
            }
        })
        .collect();
    for s in [128usize, 256, 512] {
        // [way][whole, edges]
        let mut sums = [[0f64; 2]; 3];
        for photo in &photos {
            let (w, h) = (photo.width, photo.height);
            let Samples::U8(data) = &photo.samples else {
                unreachable!()
            };
            let truth = Rgb::new(w, h, data.clone());
            let l: Vec<f32> = truth.lab().iter().map(|p| p[0]).collect();
            let edges: Vec<bool> = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let gx = l[y * w + (x + 1).min(w - 1)] - l[y * w + x.saturating_sub(1)];
                    let gy = l[(y + 1).min(h - 1) * w + x] - l[y.saturating_sub(1) * w + x];
                    0.5 * gx.hypot(gy) > 8.0
                })
                .collect();
            let small = resize_to_model(photo, s);
            let plane = s * s;
            let mut ab = vec![0f32; 2 * plane];
            for i in 0..plane {
                let lab = rgb_to_lab([small[3 * i], small[3 * i + 1], small[3 * i + 2]]);
                ab[i] = lab[1];
                ab[plane + i] = lab[2];
            }
            for (k, way) in WAYS.into_iter().enumerate() {
                let out = recombine(photo, &ab, s, way);
                let Samples::U8(d) = out.samples else {
                    unreachable!()
                };
                let out = Rgb::new(w, h, d);
                sums[k][0] += colour_error(&out, &truth, None).expect("score").0;
                sums[k][1] += colour_error(&out, &truth, Some(&edges)).expect("score").0;
            }
        }
        let n = photos.len() as f64;
        let mean = |k: usize, j: usize| sums[k][j] / n;
        eprintln!(
            "S={s}: nearest {:.4} | {:.4}, bilinear {:.4} | {:.4}, edge-aware {:.4} | {:.4}",
            mean(0, 0),
            mean(0, 1),
            mean(1, 0),
            mean(1, 1),
            mean(2, 0),
            mean(2, 1)
        );
        for j in 0..2 {
            let what = ["whole photo", "next to edges"][j];
            assert!(
                mean(2, j) < mean(1, j) && mean(1, j) < mean(0, j),
                "S={s}, {what}: edge-aware {:.4}, bilinear {:.4}, nearest {:.4}",
                mean(2, j),
                mean(1, j),
                mean(0, j)
            );
        }
    }
}
