//! Do the presets do better than the plain model? (`cargo bench -p ddcolor-engine --bench
//! workflows`). Real DDColor weights cannot be fetched here, so the model is played by an
//! oracle with the model's known flaws, on Kodak photos whose true colour is known:
//!
//! - the true chroma brought down to S (256), as a perfect model would give it;
//! - then DDColor-like flaws: blotchy chroma noise (low-frequency patches plus fine noise), a
//!   global colour cast, and on skin a red/purple cast (hue turned towards magenta, chroma up);
//! - each way of finishing (the plain recipe with bilinear upsampling, each preset) is scored
//!   by CIEDE2000 against the photo.
//!
//! The clean oracle (no flaws) checks the other side: where the model is right, a preset must
//! not make the colour much worse. Portraits: kodim04, 15, 18; buildings: kodim01, 08, 19, 24.
//! `WORKFLOW_BENCH_OUT=DIR` writes the plain and preset results as PNGs for a look.

use std::path::PathBuf;

use ddcolor_engine::lab::rgb_to_lab;
use ddcolor_engine::metrics::{Rgb, colour_error};
use ddcolor_engine::resize::resize_to_model;
use ddcolor_engine::workflow::Workflow;
use ddcolor_engine::{LabImage, recombine};
use ddcolor_engine::{Photo, Samples, Upsample};

const S: usize = 256;

fn to_rgb(p: &Photo) -> Rgb {
    let Samples::U8(d) = &p.samples else {
        panic!("8-bit only")
    };
    Rgb::new(p.width, p.height, d.clone())
}

/// Deterministic noise in [-1, 1].
fn hash(i: u64, seed: u64) -> f32 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 29;
    (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// Smooth noise: a coarse grid of random values, bilinearly interpolated (blotches `cell` px).
fn blotch(x: usize, y: usize, cell: usize, seed: u64) -> f32 {
    let (gx, gy) = (x as f32 / cell as f32, y as f32 / cell as f32);
    let (x0, y0) = (gx.floor() as u64, gy.floor() as u64);
    let (fx, fy) = (gx.fract(), gy.fract());
    let v = |i: u64, j: u64| hash(i * 7919 + j * 104_729, seed);
    let top = v(x0, y0) * (1.0 - fx) + v(x0 + 1, y0) * fx;
    let bot = v(x0, y0 + 1) * (1.0 - fx) + v(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bot * fy
}

/// The oracle's chroma at S x S, with flaws when `flawed`.
fn oracle(photo: &Photo, flawed: bool, seed: u64) -> Vec<f32> {
    let small = resize_to_model(photo, S);
    let plane = S * S;
    let mut ab = vec![0f32; 2 * plane];
    for i in 0..plane {
        let lab = rgb_to_lab([small[3 * i], small[3 * i + 1], small[3 * i + 2]]);
        let (mut a, mut b) = (lab[1], lab[2]);
        if flawed {
            let (x, y) = (i % S, i / S);
            // Skin (hue 20-75 degrees, moderate chroma, mid lightness): turned towards magenta.
            let (c, h) = (a.hypot(b), b.atan2(a).to_degrees());
            if (20.0..75.0).contains(&h)
                && (8.0..45.0).contains(&c)
                && (25.0..90.0).contains(&lab[0])
            {
                let h2 = (h - 35.0).to_radians();
                let c2 = c * 1.25;
                a = c2 * h2.cos();
                b = c2 * h2.sin();
            }
            // Blotches (about 24 px at S=256) and fine noise.
            a += 7.0 * blotch(x, y, 24, seed) + 2.0 * hash(i as u64, seed + 1);
            b += 7.0 * blotch(x, y, 24, seed + 2) + 2.0 * hash(i as u64, seed + 3);
            // A global cast: magenta-blue.
            a += 4.0;
            b -= 5.0;
        }
        ab[i] = a;
        ab[plane + i] = b;
    }
    ab
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/media/photos/kodak");
    let out_dir = std::env::var_os("WORKFLOW_BENCH_OUT").map(PathBuf::from);
    let sets = [
        ("portrait", ["kodim04", "kodim15", "kodim18", ""]),
        ("building", ["kodim01", "kodim08", "kodim19", "kodim24"]),
    ];
    println!(
        "Mean CIEDE2000 to the true colour (lower is better), model played by an oracle at S={S}"
    );
    println!("  CIEDE2000 (lightness changes count too) | ab distance (colour only)");
    println!(
        "{:<10} {:<8} {:>9} {:>9} {:>9} | {:>7} {:>9} {:>9}",
        "set", "oracle", "plain", "portrait", "building", "plain", "portrait", "building"
    );
    let presets = ["portrait", "building"].map(|p| Workflow::resolve(p).expect("preset"));
    if std::env::var_os("WORKFLOW_BENCH_ABLATE").is_some() {
        ablate(&dir, &sets, &presets);
        return;
    }
    for (set, names) in sets {
        for flawed in [false, true] {
            let mut sums = [0f64; 3];
            let mut ab_sums = [0f64; 3];
            let mut n = 0;
            for (k, name) in names.iter().filter(|n| !n.is_empty()).enumerate() {
                let img = image::open(dir.join(format!("{name}.png")))
                    .expect("photo")
                    .to_rgb8();
                let photo = Photo {
                    width: img.width() as usize,
                    height: img.height() as usize,
                    channels: 3,
                    samples: Samples::U8(img.into_raw()),
                };
                let truth = to_rgb(&photo);
                let ab = oracle(&photo, flawed, 17 + k as u64);
                let plain = recombine(&photo, &ab, S, Upsample::Bilinear);
                let e = colour_error(&to_rgb(&plain), &truth, None).expect("error");
                sums[0] += e.0;
                ab_sums[0] += e.1;
                let mut results = vec![("plain", plain)];
                for (j, wf) in presets.iter().enumerate() {
                    let up = wf
                        .colorize
                        .as_ref()
                        .and_then(|c| c.upsample)
                        .unwrap_or(Upsample::Bilinear);
                    let mut lab = LabImage::from_recipe(&photo, &ab, S, up);
                    wf.apply(&mut lab, 0);
                    let result = lab.to_photo();
                    let e = colour_error(&to_rgb(&result), &truth, None).expect("error");
                    sums[1 + j] += e.0;
                    ab_sums[1 + j] += e.1;
                    results.push((presets[j].name.as_str(), result));
                }
                if let (Some(out), true) = (&out_dir, flawed) {
                    std::fs::create_dir_all(out).expect("output folder");
                    for (what, p) in results {
                        let Samples::U8(d) = p.samples else { continue };
                        image::RgbImage::from_raw(p.width as u32, p.height as u32, d)
                            .expect("image")
                            .save(out.join(format!("{name}_{what}.png")))
                            .expect("write");
                    }
                }
                n += 1;
            }
            let n = n as f64;
            println!(
                "{:<10} {:<8} {:>9.3} {:>9.3} {:>9.3} | {:>7.3} {:>9.3} {:>9.3}",
                set,
                if flawed { "flawed" } else { "clean" },
                sums[0] / n,
                sums[1] / n,
                sums[2] / n,
                ab_sums[0] / n,
                ab_sums[1] / n,
                ab_sums[2] / n
            );
        }
    }
}

/// Each preset step alone, on its own set: which step gains and which costs.
fn ablate(dir: &std::path::Path, sets: &[(&str, [&str; 4]); 2], presets: &[Workflow; 2]) {
    for (k, wf) in presets.iter().enumerate() {
        let (set, names) = sets[k];
        for (i, step) in wf.steps.iter().enumerate() {
            let mut one = wf.clone();
            one.steps = vec![step.clone()];
            let mut sums = [0f64; 4];
            let mut n = 0.0;
            for name in names.iter().filter(|n| !n.is_empty()) {
                let img = image::open(dir.join(format!("{name}.png")))
                    .expect("photo")
                    .to_rgb8();
                let photo = Photo {
                    width: img.width() as usize,
                    height: img.height() as usize,
                    channels: 3,
                    samples: Samples::U8(img.into_raw()),
                };
                let truth = to_rgb(&photo);
                for (f, flawed) in [false, true].into_iter().enumerate() {
                    let ab = oracle(&photo, flawed, 17);
                    let mut lab = LabImage::from_recipe(&photo, &ab, S, Upsample::Bilinear);
                    one.apply(&mut lab, 0);
                    let e = colour_error(&to_rgb(&lab.to_photo()), &truth, None).expect("error");
                    sums[f] += e.0;
                    sums[2 + f] += e.1;
                }
                n += 1.0;
            }
            println!(
                "{set:<10} step {i} {:<16} dE00 clean {:.3} flawed {:.3} | ab clean {:.3} flawed {:.3}",
                step.op.name(),
                sums[0] / n,
                sums[1] / n,
                sums[2] / n,
                sums[3] / n
            );
        }
    }
}
