//! Chroma upsampling quality on the Kodak set (`cargo bench -p ddcolor-engine --bench upsample`):
//! each photo's true ab brought down to S x S as the model would give it, brought back up each
//! way, recombined with the photo's own L, and compared with the photo (CIEDE2000): nearest,
//! bilinear, the guided filter after bilinear, guided upsampling (coefficients fitted at S),
//! and joint bilateral upsampling on the bilinear footprint over a few range sigmas.
//! Groundwork for issue 6's edge-aware upsampling; `UPSAMPLE_SIZES=256,512` picks the sizes.

use std::path::PathBuf;

use ddcolor_engine::Upsample;
use ddcolor_engine::guided::{guided_filter, guided_upsample, joint_bilateral_upsample};
use ddcolor_engine::lab::{LabToRgb, rgb_to_lab};
use ddcolor_engine::metrics::{Rgb, colour_error};
use ddcolor_engine::recombine;
use ddcolor_engine::resize::{linear_taps, resize_to_model};
use ddcolor_engine::{Photo, Samples};

fn to_rgb(p: &Photo) -> Rgb {
    let Samples::U8(d) = &p.samples else {
        panic!("8-bit only")
    };
    Rgb::new(p.width, p.height, d.clone())
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/media/photos/kodak");
    let sizes: Vec<usize> = std::env::var("UPSAMPLE_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_else(|| vec![256, 512]);
    let grid: [(f32, f32); 1] = [(1.0, 1e-4)];
    let fast: [(usize, f32); 1] = [(1, 1e-4)];
    let jbu: [f32; 4] = [0.08, 0.16, 0.24, 0.32];
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("kodak folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    for &s in &sizes {
        let mut sums = vec![[0f64; 2]; 2 + grid.len() + fast.len() + jbu.len()];
        let mut product = [0f64; 2];
        for f in &files {
            let img = image::open(f).expect("photo").to_rgb8();
            let photo = Photo {
                width: img.width() as usize,
                height: img.height() as usize,
                channels: 3,
                samples: Samples::U8(img.into_raw()),
            };
            let (w, h) = (photo.width, photo.height);
            let truth = to_rgb(&photo);
            // Where colour bleeding shows: pixels next to a lightness edge (central-difference
            // gradient of the true L above 8 L units per pixel).
            let truth_l: Vec<f32> = truth.lab().iter().map(|p| p[0]).collect();
            let edges: Vec<bool> = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let at = |xx: usize, yy: usize| truth_l[yy * w + xx];
                    let gx = at((x + 1).min(w - 1), y) - at(x.saturating_sub(1), y);
                    let gy = at(x, (y + 1).min(h - 1)) - at(x, y.saturating_sub(1));
                    0.5 * gx.hypot(gy) > 8.0
                })
                .collect();
            let score = |out: &Rgb| -> [f64; 2] {
                [
                    colour_error(out, &truth, None).expect("error").0,
                    colour_error(out, &truth, Some(&edges)).expect("error").0,
                ]
            };
            let add = |acc: &mut [f64; 2], v: [f64; 2]| {
                acc[0] += v[0];
                acc[1] += v[1];
            };
            let small = resize_to_model(&photo, s);
            let plane = s * s;
            let mut ab = vec![0f32; 2 * plane];
            for i in 0..plane {
                let lab = rgb_to_lab([small[3 * i], small[3 * i + 1], small[3 * i + 2]]);
                ab[i] = lab[1];
                ab[plane + i] = lab[2];
            }
            for (k, up) in [Upsample::Nearest, Upsample::Bilinear]
                .into_iter()
                .enumerate()
            {
                let out = to_rgb(&recombine(&photo, &ab, s, up));
                add(&mut sums[k], score(&out));
            }
            // The product's edge-aware path, exactly as `ddcolor --upsample edge-aware` runs it.
            let out = to_rgb(&recombine(&photo, &ab, s, Upsample::EdgeAware));
            add(&mut product, score(&out));
            // Guided: bilinear first, then the filter with L as the guide.
            let lab = truth.lab();
            let guide: Vec<f32> = lab.iter().map(|p| p[0] / 100.0).collect();
            let (xt, yt) = (linear_taps(s, w), linear_taps(s, h));
            let mut up_a = vec![0f32; w * h];
            let mut up_b = vec![0f32; w * h];
            for y in 0..h {
                let t = yt[y];
                for x in 0..w {
                    let tx = xt[x];
                    let lerp = |p: &[f32]| {
                        let top = p[t.i0 * s + tx.i0] * (1.0 - tx.w) + p[t.i0 * s + tx.i1] * tx.w;
                        let bot = p[t.i1 * s + tx.i0] * (1.0 - tx.w) + p[t.i1 * s + tx.i1] * tx.w;
                        top * (1.0 - t.w) + bot * t.w
                    };
                    up_a[y * w + x] = lerp(&ab[..plane]);
                    up_b[y * w + x] = lerp(&ab[plane..]);
                }
            }
            let l_small: Vec<f32> = (0..plane)
                .map(|i| rgb_to_lab([small[3 * i], small[3 * i + 1], small[3 * i + 2]])[0] / 100.0)
                .collect();
            let conv = LabToRgb::new();
            for (g, &(r, eps)) in fast.iter().enumerate() {
                let (mut a, mut b) = (vec![0f32; w * h], vec![0f32; w * h]);
                guided_upsample(&l_small, &ab, s, &guide, w, h, r, eps, &mut a, &mut b);
                let data: Vec<u8> = (0..w * h)
                    .flat_map(|i| {
                        conv.convert(lab[i][0], a[i], b[i])
                            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                    })
                    .collect();
                let out = Rgb::new(w, h, data);
                add(&mut sums[2 + grid.len() + g], score(&out));
            }
            for (g, &sr) in jbu.iter().enumerate() {
                let (mut a, mut b) = (vec![0f32; w * h], vec![0f32; w * h]);
                joint_bilateral_upsample(&l_small, &ab, s, &guide, w, h, sr, &mut a, &mut b);
                let data: Vec<u8> = (0..w * h)
                    .flat_map(|i| {
                        conv.convert(lab[i][0], a[i], b[i])
                            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                    })
                    .collect();
                let out = Rgb::new(w, h, data);
                add(&mut sums[2 + grid.len() + fast.len() + g], score(&out));
            }
            let factor = w.max(h) as f32 / s as f32;
            for (g, &(rk, eps)) in grid.iter().enumerate() {
                let (mut a, mut b) = (up_a.clone(), up_b.clone());
                let r = ((rk * factor).round() as usize).max(1);
                guided_filter(&guide, &mut [&mut a, &mut b], w, h, r, eps);
                let data: Vec<u8> = (0..w * h)
                    .flat_map(|i| {
                        conv.convert(lab[i][0], a[i], b[i])
                            .map(|v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
                    })
                    .collect();
                let out = Rgb::new(w, h, data);
                add(&mut sums[2 + g], score(&out));
            }
        }
        let n = files.len() as f64;
        println!(
            "S={s}: mean CIEDE2000 to the truth over {} Kodak photos (whole photo | next to lightness edges)",
            files.len()
        );
        let row =
            |name: &str, v: [f64; 2]| println!("  {name:<48} {:.4} | {:.4}", v[0] / n, v[1] / n);
        row("nearest (the reference)", sums[0]);
        row("bilinear", sums[1]);
        row("edge-aware (--upsample edge-aware)", product);
        for (g, &(rk, eps)) in grid.iter().enumerate() {
            row(
                &format!("guided filter after bilinear r={rk}x eps={eps:e}"),
                sums[2 + g],
            );
        }
        for (g, &(r, eps)) in fast.iter().enumerate() {
            row(
                &format!("guided upsampling r={r} eps={eps:e}"),
                sums[2 + grid.len() + g],
            );
        }
        for (g, &sr) in jbu.iter().enumerate() {
            row(
                &format!("joint bilateral sigma_r={sr}"),
                sums[2 + grid.len() + fast.len() + g],
            );
        }
    }
}
