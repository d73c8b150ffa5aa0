//! The temporal-smoothing benchmark's engine half (run through `make bench-temporal`, which
//! extracts the clips' frames first and measures the results with `ddcolor metrics`).
//!
//! A "flickering oracle" stands in for the model: the true chroma of a colour clip at model
//! size, plus temporally independent, spatially smooth perturbations and occasional hue jumps
//! (seeded). Its output goes through the engine's smoother exactly as the element's model
//! output does, in each mode, and is recombined with the grey frame's own lightness.
//!
//! Subcommands (arguments after `--`):
//! - `oracle TRUTH_DIR OUT_DIR`: writes OUT_DIR/{grey,off,recursive,flow}/frame_NNNNNN.png.
//! - `ghost OUT_DIR`: makes a clip of a patch moving over a still photo, colours it like
//!   `oracle`, and prints the ab error in the patch's wake for each mode.
//! - `cuts OUT_DIR CLIPS_DIR`: splices segments of the clips at known frames and prints the
//!   scene-cut precision and recall, and whether colour crossed a cut.
//! - `cost MODEL`: the model's time per frame at S=512 against each mode's smoothing time.

use std::f32::consts::PI;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ddcolor_engine::lab::{lab_to_rgb, rgb_to_lab};
use ddcolor_engine::resize::resize_to_model;
use ddcolor_engine::temporal::{Smoother, TemporalMode, TemporalSettings};
use ddcolor_engine::{Model, ModelOptions, Upsample, model_input, recombine};
use ddcolor_engine::{Photo, Samples};

/// Model size the oracle works at (DDColor's training size).
const S: usize = 256;
const MODES: [TemporalMode; 3] = TemporalMode::ALL;

/// SplitMix64: a seeded, dependency-free generator (the figures must repeat run to run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// The flickering oracle's perturbations.
struct Oracle {
    rng: Rng,
}

/// The perturbation: a rotation of hue (degrees) and a change of saturation (relative), each
/// part shared by the whole frame and part a smooth field across it, a small additive cast
/// (ab units, also shared plus a field) for colour where there is none, and now and then a hue
/// jump of the whole frame. Every part is drawn anew for each frame.
///
/// The amounts are set so that the per-frame output keeps about the truth's colourfulness
/// (`make bench-temporal` prints how far it is off on each clip), as a model's second thoughts
/// do: the test, colourfulness within 10 % of per-frame, is only fair to a filter that
/// recovers the truth when the flicker itself does not make frames more colourful. Rotating
/// hue does not keep the Hasler–Süsstrunk measure (its red-green and yellow-blue axes weigh
/// ab differently), so spatially varying rotations raise it: the first oracle (a 25° hue field
/// and a 3-unit additive field, nothing shared) made bigbuckbunny's frames 12 % more colourful
/// than the truth, and a filter that brought them back to the truth's colourfulness failed.
const HUE_SHARED_DEGREES: f32 = 10.0;
const HUE_FIELD_DEGREES: f32 = 10.0;
const SATURATION_SHARED: f32 = 0.05;
const SATURATION_FIELD: f32 = 0.05;
const CAST_SHARED_AB: f32 = 1.0;
const CAST_FIELD_AB: f32 = 1.5;
const JUMP_CHANCE: f32 = 0.12;
const JUMP_DEGREES: (f32, f32) = (30.0, 70.0);

impl Oracle {
    fn new(seed: u64) -> Self {
        Self { rng: Rng(seed) }
    }

    /// A standard normal draw (Box-Muller).
    fn normal(&mut self) -> f32 {
        let u = self.rng.unit().max(f32::MIN_POSITIVE);
        let v = self.rng.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
    }

    /// A spatially smooth random field at model size with about unit spread: three plane
    /// waves, wavelengths from 1.5 to 4 times the frame, new every call.
    fn field(&mut self) -> Vec<f32> {
        let waves: Vec<(f32, f32, f32, f32)> = (0..3)
            .map(|_| {
                let angle = self.rng.range(0.0, 2.0 * PI);
                let k = 2.0 * PI / (S as f32 * self.rng.range(1.5, 4.0));
                let amp = self.rng.range(0.5, 1.1);
                (
                    k * angle.cos(),
                    k * angle.sin(),
                    self.rng.range(0.0, 2.0 * PI),
                    amp,
                )
            })
            .collect();
        let mut f = vec![0f32; S * S];
        for y in 0..S {
            for x in 0..S {
                f[y * S + x] = waves
                    .iter()
                    .map(|&(kx, ky, ph, amp)| amp * (kx * x as f32 + ky * y as f32 + ph).sin())
                    .sum();
            }
        }
        f
    }

    /// `truth_ab` (planar [2, S, S]) with this frame's perturbation.
    fn predict(&mut self, truth_ab: &[f32]) -> Vec<f32> {
        let plane = S * S;
        let (da, db, hue, sat) = (self.field(), self.field(), self.field(), self.field());
        let jump = if self.rng.unit() < JUMP_CHANCE {
            let sign = if self.rng.unit() < 0.5 { -1.0 } else { 1.0 };
            sign * self.rng.range(JUMP_DEGREES.0, JUMP_DEGREES.1)
        } else {
            0.0
        };
        let hue0 = jump + HUE_SHARED_DEGREES * self.normal();
        let sat0 = 1.0 + SATURATION_SHARED * self.normal();
        let (cast_a, cast_b) = (
            CAST_SHARED_AB * self.normal(),
            CAST_SHARED_AB * self.normal(),
        );
        let mut ab = vec![0f32; 2 * plane];
        for i in 0..plane {
            let t = (hue0 + HUE_FIELD_DEGREES * hue[i]).to_radians();
            let g = sat0 + SATURATION_FIELD * sat[i];
            let (c, s) = (g * t.cos(), g * t.sin());
            let (a, b) = (truth_ab[i], truth_ab[plane + i]);
            ab[i] = c * a - s * b + cast_a + CAST_FIELD_AB * da[i];
            ab[plane + i] = s * a + c * b + cast_b + CAST_FIELD_AB * db[i];
        }
        ab
    }
}

fn read_rgb(path: &Path) -> Photo {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    Photo {
        width: img.width() as usize,
        height: img.height() as usize,
        channels: 3,
        samples: Samples::U8(img.into_raw()),
    }
}

fn write_png(photo: &Photo, path: &Path) {
    let Samples::U8(data) = &photo.samples else {
        panic!("8-bit frames only")
    };
    let color = if photo.channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        std::io::BufWriter::new(file),
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Sub,
    );
    image::ImageEncoder::write_image(enc, data, photo.width as u32, photo.height as u32, color)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The grey film a colour frame would have been: its own L with no chroma (rounded to 8 bits).
fn grey_of(colour: &Photo) -> Photo {
    let Samples::U8(data) = &colour.samples else {
        panic!("8-bit frames only")
    };
    let mut lut = std::collections::HashMap::new();
    let grey: Vec<u8> = data
        .chunks_exact(3)
        .flat_map(|p| {
            let key = [p[0], p[1], p[2]];
            let g = *lut.entry(key).or_insert_with(|| {
                let l = rgb_to_lab([
                    p[0] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[2] as f32 / 255.0,
                ])[0];
                (lab_to_rgb([l, 0.0, 0.0])[0] * 255.0).round() as u8
            });
            [g, g, g]
        })
        .collect();
    Photo {
        width: colour.width,
        height: colour.height,
        channels: 3,
        samples: Samples::U8(grey),
    }
}

/// The true chroma of a colour frame at model size (planar [2, S, S]), as the recipe would
/// see it: the frame resized like the model input, then Lab.
fn truth_ab(colour: &Photo) -> Vec<f32> {
    let small = resize_to_model(colour, S);
    let plane = S * S;
    let mut ab = vec![0f32; 2 * plane];
    for i in 0..plane {
        let lab = rgb_to_lab([small[3 * i], small[3 * i + 1], small[3 * i + 2]]);
        ab[i] = lab[1];
        ab[plane + i] = lab[2];
    }
    ab
}

fn model_luma(grey: &Photo) -> Vec<f32> {
    let mut input = vec![0f32; 3 * S * S];
    model_input(grey, S, &mut input);
    input.truncate(S * S);
    input
}

fn frame_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    v.sort();
    v
}

fn smoothers() -> Vec<Smoother> {
    MODES
        .iter()
        .map(|&mode| {
            Smoother::new(TemporalSettings {
                mode,
                ..Default::default()
            })
        })
        .collect()
}

/// `oracle TRUTH_DIR OUT_DIR`.
fn oracle(truth_dir: &Path, out: &Path) {
    let files = frame_files(truth_dir);
    for sub in ["grey", "off", "recursive", "flow"] {
        std::fs::create_dir_all(out.join(sub)).expect("output folder");
    }
    let mut oracle = Oracle::new(0x5eed_0001);
    let mut sm = smoothers();
    let mut spent = [Duration::ZERO; 3];
    let (mut weight, mut occluded) = ([0f64; 3], [0f64; 3]);
    for (k, f) in files.iter().enumerate() {
        let colour = read_rgb(f);
        let grey = grey_of(&colour);
        let luma = model_luma(&grey);
        let pred = oracle.predict(&truth_ab(&colour));
        let name = format!("frame_{:06}.png", k + 1);
        write_png(&grey, &out.join("grey").join(&name));
        for (m, smoother) in sm.iter_mut().enumerate() {
            let mut ab = pred.clone();
            let t = Instant::now();
            let step = smoother.apply(&luma, &mut ab, S);
            spent[m] += t.elapsed();
            weight[m] += step.weight as f64;
            occluded[m] += step.occluded as f64;
            let photo = recombine(&grey, &ab, S, Upsample::Bilinear);
            write_png(&photo, &out.join(MODES[m].name()).join(&name));
        }
    }
    let n = files.len().max(1) as f64;
    for (m, t) in spent.iter().enumerate() {
        println!(
            "SMOOTH {} {:.2} ms/frame at S={S}, mean weight of the past {:.3}, occluded {:.1}%",
            MODES[m].name(),
            t.as_secs_f64() * 1e3 / n,
            weight[m] / n,
            100.0 * occluded[m] / n
        );
    }
}

/// `ghost OUT_DIR`: a 120x90 patch of one Kodak photo moving over another, 4 px a frame.
fn ghost(out: &Path) {
    let kodak = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/media/photos/kodak");
    let bg = read_rgb(&kodak.join("kodim23.png"));
    let fg = read_rgb(&kodak.join("kodim03.png"));
    let (Samples::U8(bgd), Samples::U8(fgd)) = (&bg.samples, &fg.samples) else {
        unreachable!()
    };
    let (w, h) = (bg.width, bg.height);
    let (pw, ph) = (120usize, 90usize);
    let (fx0, fy0) = (300usize, 200usize); // where the patch is cut from in kodim03
    let frames = 48usize;
    let py = (h - ph) / 2;
    let px = |t: usize| 40 + 4 * t;
    let inside = |t: usize, x: usize, y: usize| {
        (px(t)..px(t) + pw).contains(&x) && (py..py + ph).contains(&y)
    };
    std::fs::create_dir_all(out.join("truth")).expect("output folder");
    let mut oracle = Oracle::new(0x5eed_0002);
    let mut sm = smoothers();
    let mut wake_err = [0f64; 3];
    let mut wake_px = 0u64;
    for t in 0..frames {
        let mut data = bgd.clone();
        for y in py..py + ph {
            for x in px(t)..px(t) + pw {
                let s = ((fy0 + y - py) * fg.width + fx0 + x - px(t)) * 3;
                data[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&fgd[s..s + 3]);
            }
        }
        let colour = Photo {
            width: w,
            height: h,
            channels: 3,
            samples: Samples::U8(data),
        };
        write_png(
            &colour,
            &out.join("truth").join(format!("frame_{:06}.png", t + 1)),
        );
        let grey = grey_of(&colour);
        let luma = model_luma(&grey);
        let pred = oracle.predict(&truth_ab(&colour));
        // The wake: background the patch covered in one of the last 8 frames.
        let wake: Vec<usize> = (0..w * h)
            .filter(|&i| {
                let (x, y) = (i % w, i / w);
                !inside(t, x, y) && (t.saturating_sub(8)..t).any(|u| inside(u, x, y))
            })
            .collect();
        let truth_lab: Vec<[f32; 3]> = wake
            .iter()
            .map(|&i| {
                let Samples::U8(d) = &colour.samples else {
                    unreachable!()
                };
                rgb_to_lab([
                    d[3 * i] as f32 / 255.0,
                    d[3 * i + 1] as f32 / 255.0,
                    d[3 * i + 2] as f32 / 255.0,
                ])
            })
            .collect();
        for (m, smoother) in sm.iter_mut().enumerate() {
            let mut ab = pred.clone();
            smoother.apply(&luma, &mut ab, S);
            let photo = recombine(&grey, &ab, S, Upsample::Bilinear);
            let Samples::U8(d) = &photo.samples else {
                unreachable!()
            };
            for (j, &i) in wake.iter().enumerate() {
                let lab = rgb_to_lab([
                    d[3 * i] as f32 / 255.0,
                    d[3 * i + 1] as f32 / 255.0,
                    d[3 * i + 2] as f32 / 255.0,
                ]);
                let (da, db) = (lab[1] - truth_lab[j][1], lab[2] - truth_lab[j][2]);
                wake_err[m] += ((da * da + db * db) as f64).sqrt();
            }
        }
        wake_px += wake.len() as u64;
    }
    for (m, e) in wake_err.iter().enumerate() {
        println!(
            "GHOST {} wake ab error {:.3} over {wake_px} pixel-frames",
            MODES[m].name(),
            e / wake_px.max(1) as f64
        );
    }
}

/// Segments of the spliced clip: (clip, first frame), `SEGMENT` frames each, all inside one
/// shot of their source (bikes.mp4 has cuts of its own, at frames 30, 76, 137, 187 and 242;
/// the other two have none), so the only cuts are the splices.
const SPLICE: [(&str, usize); 11] = [
    ("bikes", 0),
    ("carphone_pristine", 0),
    ("bigbuckbunny", 0),
    ("bikes", 40),
    ("carphone_pristine", 45),
    ("bigbuckbunny", 50),
    ("bikes", 90),
    ("carphone_pristine", 90),
    ("bigbuckbunny", 100),
    ("bikes", 150),
    ("bikes", 200),
];
const SEGMENT: usize = 25;

/// `cuts OUT_DIR CLIPS_DIR`: the clips of `SPLICE` (frame folders under CLIPS_DIR) spliced at
/// 320x240, a cut every `SEGMENT` frames.
fn cuts(out: &Path, clips: &Path) {
    let mut sequence = Vec::new();
    for (clip, first) in SPLICE {
        let files = frame_files(&clips.join(clip));
        sequence.extend(files[first..first + SEGMENT].iter().cloned());
    }
    let truth_cuts: Vec<usize> = (1..sequence.len() / SEGMENT).map(|k| k * SEGMENT).collect();
    std::fs::create_dir_all(out).expect("output folder");
    let mut oracle = Oracle::new(0x5eed_0003);
    let mut sm = smoothers();
    let mut detected: Vec<Vec<usize>> = vec![Vec::new(); 3];
    let mut carried = [0usize; 3];
    let mut scores = Vec::new();
    for (k, f) in sequence.iter().enumerate() {
        let img = image::open(f).expect("frame").to_rgb8();
        let img = image::imageops::resize(&img, 320, 240, image::imageops::FilterType::Triangle);
        let colour = Photo {
            width: 320,
            height: 240,
            channels: 3,
            samples: Samples::U8(img.into_raw()),
        };
        let grey = grey_of(&colour);
        let luma = model_luma(&grey);
        let pred = oracle.predict(&truth_ab(&colour));
        for (m, smoother) in sm.iter_mut().enumerate() {
            let mut ab = pred.clone();
            let step = smoother.apply(&luma, &mut ab, S);
            if step.cut {
                detected[m].push(k);
            }
            if m == 2 {
                scores.push((k, step.cut_score));
            }
            if truth_cuts.contains(&k) && ab != pred {
                carried[m] += 1;
            }
        }
    }
    let mut within: Vec<f32> = scores
        .iter()
        .filter(|(k, _)| *k > 0 && !truth_cuts.contains(k))
        .map(|&(_, s)| s)
        .collect();
    within.sort_by(f32::total_cmp);
    if std::env::var_os("CUTS_VERBOSE").is_some() {
        for &(k, s) in &scores {
            println!(
                "score {k} {s:.3}{}",
                if truth_cuts.contains(&k) { " CUT" } else { "" }
            );
        }
    }
    let at: Vec<f32> = scores
        .iter()
        .filter(|(k, _)| truth_cuts.contains(k))
        .map(|&(_, s)| s)
        .collect();
    println!(
        "CUTS {} frames, cuts at {:?}; cut score within shots: median {:.3}, max {:.3}; at cuts: min {:.3}",
        sequence.len(),
        truth_cuts,
        within.get(within.len() / 2).copied().unwrap_or(0.0),
        within.last().copied().unwrap_or(0.0),
        at.iter().copied().fold(f32::INFINITY, f32::min)
    );
    for m in 1..3 {
        let hits = detected[m]
            .iter()
            .filter(|k| truth_cuts.contains(k))
            .count();
        let precision = hits as f64 / detected[m].len().max(1) as f64;
        let recall = hits as f64 / truth_cuts.len().max(1) as f64;
        println!(
            "CUTS {} detected {:?} precision {precision:.3} recall {recall:.3}, colour carried across {} of {} cuts",
            MODES[m].name(),
            detected[m],
            carried[m],
            truth_cuts.len()
        );
    }
}

/// `cost MODEL`: model time per frame at S=512 against the smoothing time of each mode, on
/// frames of the archival film (as PNGs in FRAMES_DIR), side by side.
fn cost(model_path: &Path, frames_dir: &Path) {
    const S512: usize = 512;
    let mut model = Model::load(
        model_path,
        &ModelOptions {
            input_size: Some(S512),
            threads: None,
            ..ModelOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let files: Vec<PathBuf> = frame_files(frames_dir).into_iter().take(12).collect();
    let mut inputs = Vec::new();
    for f in &files {
        let grey = read_rgb(f);
        let mut input = vec![0f32; 3 * S512 * S512];
        model_input(&grey, S512, &mut input);
        inputs.push(input);
    }
    let mut ab = Vec::new();
    model.run(&inputs[0], 1, &mut ab).expect("warm-up");
    let mut outputs = Vec::new();
    let t = Instant::now();
    for input in &inputs {
        model.run(input, 1, &mut ab).expect("model");
        outputs.push(ab.clone());
    }
    let model_ms = t.elapsed().as_secs_f64() * 1e3 / inputs.len() as f64;
    println!("COST model {model_ms:.1} ms/frame at S={S512}");
    for mode in [TemporalMode::Recursive, TemporalMode::Flow] {
        let mut sm = Smoother::new(TemporalSettings {
            mode,
            ..Default::default()
        });
        let t = Instant::now();
        for (input, out) in inputs.iter().zip(&outputs) {
            let mut ab = out.clone();
            sm.apply(&input[..S512 * S512], &mut ab, S512);
        }
        let ms = t.elapsed().as_secs_f64() * 1e3 / inputs.len() as f64;
        println!(
            "COST {} {ms:.1} ms/frame = {:.1}% of the model's time",
            mode.name(),
            100.0 * ms / model_ms
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let path = |i: usize| PathBuf::from(args.get(i).unwrap_or_else(|| usage()));
    match args.first().map(String::as_str) {
        Some("oracle") => oracle(&path(1), &path(2)),
        Some("ghost") => ghost(&path(1)),
        Some("cuts") => cuts(&path(1), &path(2)),
        Some("cost") => cost(&path(1), &path(2)),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench -p ddcolor-engine --bench temporal -- \
         oracle TRUTH_DIR OUT_DIR | ghost OUT_DIR | cuts OUT_DIR CLIPS_DIR | cost MODEL FRAMES_DIR"
    );
    std::process::exit(2);
}
