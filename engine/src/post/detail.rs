//! Lightness steps: local contrast ("clarity"), sharpening and a global tone curve. They touch
//! only L: the model's chroma is soft by nature, and crispness is read from lightness anyway.
//! Every change goes through [`add_lightness`], so L stays within 0..100 without hard clipping.

use rayon::prelude::*;

use super::LabImage;
use super::ops::{add_lightness, param, smoothstep, soft_limit, usable};

/// Guided-filter regulariser of the local-contrast base, in L units squared: structure whose
/// local standard deviation is below about 8 L units (texture, soft shading) counts as detail
/// and is boosted; stronger edges are kept in the base, so they are not boosted and do not
/// grow halos.
const LOCAL_CONTRAST_EPS: f32 = 64.0;
/// Detail (L minus base) is soft-limited to about this many L units before it is boosted:
/// texture and shading sit well below it, while the large residuals the base leaves right next
/// to a strong edge are what would otherwise turn into halos.
const LOCAL_CONTRAST_DETAIL_LIMIT: f32 = 10.0;

/// Large-radius unsharp masking of L against an edge-preserving base: mid-frequency contrast
/// (texture of brick and wood, the modelling of a face) rises without halos along strong
/// edges, and overall brightness is kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalContrast {
    /// 0..2: how much of the detail (L minus base) is added again (0 = none).
    pub amount: f32,
    /// Base window radius in pixels: the scale of the structure that is boosted.
    pub radius: usize,
}

impl Default for LocalContrast {
    fn default() -> Self {
        Self {
            amount: 0.3,
            radius: 24,
        }
    }
}

impl LocalContrast {
    pub fn apply(&self, img: &mut LabImage) {
        let amount = param(self.amount, 0.0, 2.0, 0.0);
        if amount == 0.0 || self.radius == 0 || !usable(img) {
            return;
        }
        let (w, h) = (img.width, img.height);
        let mut base = img.l.clone();
        guided_smooth(
            &img.l,
            &mut [&mut base],
            w,
            h,
            self.radius,
            LOCAL_CONTRAST_EPS,
        );
        img.l
            .par_iter_mut()
            .zip(base.par_iter())
            .for_each(|(l, base)| {
                let d = LOCAL_CONTRAST_DETAIL_LIMIT
                    * soft_limit((*l - base) / LOCAL_CONTRAST_DETAIL_LIMIT);
                *l = add_lightness(*l, amount * d);
            });
    }
}

/// Unsharp mask on L with a threshold: fine edges get steeper, while differences from the
/// blurred image smaller than the threshold (film grain, sensor and JPEG noise) are left alone
/// rather than amplified.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sharpen {
    /// 0..3: share of the difference from the blur that is added.
    pub amount: f32,
    /// 0.5..5: Gaussian sigma of the blur in pixels: the width of the edges sharpened.
    pub radius: f32,
    /// L units: differences up to this are not amplified, full effect from twice this (a
    /// smooth ramp between, so no seam where the threshold is crossed).
    pub threshold: f32,
}

impl Default for Sharpen {
    fn default() -> Self {
        Self {
            amount: 0.5,
            radius: 1.0,
            threshold: 1.0,
        }
    }
}

impl Sharpen {
    pub fn apply(&self, img: &mut LabImage) {
        let amount = param(self.amount, 0.0, 3.0, 0.0);
        let sigma = param(self.radius, 0.5, 5.0, 1.0);
        let t = param(self.threshold, 0.0, 100.0, 0.0);
        if amount == 0.0 || !usable(img) {
            return;
        }
        let blur = gaussian_blur(&img.l, img.width, img.height, sigma);
        img.l
            .par_iter_mut()
            .zip(blur.par_iter())
            .for_each(|(l, blur)| {
                let d = *l - blur;
                let g = if t > 0.0 {
                    smoothstep(t, 2.0 * t, d.abs())
                } else {
                    1.0
                };
                if g > 0.0 {
                    *l = add_lightness(*l, amount * g * d);
                }
            });
    }
}

/// Normalised Gaussian taps for `sigma`, radius ceil(3 sigma).
pub(crate) fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil().max(1.0) as isize;
    let k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|v| v / sum).collect()
}

/// Separable Gaussian blur of a `w` x `h` plane, borders clamped.
pub(crate) fn gaussian_blur(src: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let kernel = gaussian_kernel(sigma);
    let r = kernel.len() / 2;
    let mut tmp = vec![0f32; w * h];
    tmp.par_chunks_mut(w).enumerate().for_each_init(
        || vec![0f32; w + 2 * r],
        |pad, (y, out)| {
            let row = &src[y * w..(y + 1) * w];
            for (i, p) in pad.iter_mut().enumerate() {
                *p = row[i.saturating_sub(r).min(w - 1)];
            }
            out.fill(0.0);
            for (k, &wk) in kernel.iter().enumerate() {
                for (o, p) in out.iter_mut().zip(&pad[k..k + w]) {
                    *o += wk * p;
                }
            }
        },
    );
    let mut out = vec![0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, orow)| {
        for (k, &wk) in kernel.iter().enumerate() {
            let yy = (y + k).saturating_sub(r).min(h - 1);
            for (o, s) in orow.iter_mut().zip(&tmp[yy * w..(yy + 1) * w]) {
                *o += wk * s;
            }
        }
    });
    out
}

/// Edge-preserving smoothing of each of `channels` (w x h, in place) with `guide` (w x h), the
/// guided filter of He, Sun and Tang (2010) with window radius `r` and regulariser `eps` (in
/// squared guide units). From radius 4 on the coefficients are computed at a fraction
/// of the resolution and scaled up bilinearly before they are applied to the full-resolution
/// guide (the "fast guided filter" of He and Sun 2015): the coefficients are smooth anyway, the
/// result still follows every edge of the guide, and an 18-megapixel photo takes a fraction of
/// the time.
pub(crate) fn guided_smooth(
    guide: &[f32],
    channels: &mut [&mut [f32]],
    w: usize,
    h: usize,
    r: usize,
    eps: f32,
) {
    let n = w * h;
    if n == 0 || r == 0 || guide.len() != n || channels.iter().any(|c| c.len() != n) {
        return;
    }
    // A window wider than the photo is the whole photo; capping also keeps index arithmetic
    // from overflowing on absurd radii.
    let r = r.min(w.max(h));
    // Block size: the low-resolution window keeps a radius of at least 2 blocks (4 from
    // radius 8 on), below which the coefficients get too coarse to follow edges closely.
    let s = match r {
        0..4 => 1,
        4..8 => 2,
        _ => r / 4,
    };
    let (ws, hs) = (w.div_ceil(s), h.div_ceil(s));
    let ns = ws * hs;
    let rs = ((r as f32 / s as f32).round() as usize).max(1);
    let small_guide;
    let gi: &[f32] = if s == 1 {
        guide
    } else {
        small_guide = downsample(guide, w, h, s);
        &small_guide
    };
    // Fresh pages cost more than the arithmetic at this size (every new plane is page faults
    // on first touch), so the planes are allocated once and reused for every channel.
    let mut scratch = vec![0f32; ns];
    let mut mean_i = vec![0f32; ns];
    let mut var_i = vec![0f32; ns];
    let mut prod = vec![0f32; ns];
    let mut coef_a = vec![0f32; ns];
    let mut coef_b = vec![0f32; ns];
    let mut small_p = if s == 1 { Vec::new() } else { vec![0f32; ns] };
    box_filter_into(gi, ws, hs, rs, &mut scratch, &mut mean_i);
    prod.par_iter_mut()
        .zip(gi.par_iter())
        .for_each(|(q, v)| *q = v * v);
    box_filter_into(&prod, ws, hs, rs, &mut scratch, &mut var_i);
    var_i
        .par_iter_mut()
        .zip(mean_i.par_iter())
        .for_each(|(v, m)| *v = (*v - m * m).max(0.0));
    for ch in channels.iter_mut() {
        if s > 1 {
            downsample_into(ch, w, h, s, &mut small_p);
        }
        let p: &[f32] = if s == 1 { ch } else { &small_p };
        box_filter_into(p, ws, hs, rs, &mut scratch, &mut coef_b);
        prod.par_iter_mut()
            .zip(gi.par_iter().zip(p.par_iter()))
            .for_each(|(q, (i, v))| *q = i * v);
        box_filter_into(&prod, ws, hs, rs, &mut scratch, &mut coef_a);
        coef_a
            .par_iter_mut()
            .zip(coef_b.par_iter_mut())
            .zip(mean_i.par_iter().zip(var_i.par_iter()))
            .for_each(|((a, b), (mi, vi))| {
                // a holds mean(I p), b mean(p) on the way in.
                let ca = (*a - mi * *b) / (vi + eps);
                *b -= ca * mi;
                *a = ca;
            });
        // Box-filtered coefficients: A into `prod`, B into `coef_a` (A is read first).
        box_filter_into(&coef_a, ws, hs, rs, &mut scratch, &mut prod);
        box_filter_into(&coef_b, ws, hs, rs, &mut scratch, &mut coef_a);
        let (ma, mb) = (&prod, &coef_a);
        if s == 1 {
            ch.par_iter_mut()
                .zip(guide.par_iter())
                .zip(ma.par_iter().zip(mb.par_iter()))
                .for_each(|((o, g), (a, b))| *o = a * g + b);
        } else {
            apply_upsampled(ch, guide, w, ma, mb, ws, hs, s);
        }
    }
}

/// Block means over `s` x `s` blocks (partial blocks at the right and bottom edges averaged over
/// the pixels they have).
fn downsample(src: &[f32], w: usize, h: usize, s: usize) -> Vec<f32> {
    let mut out = vec![0f32; w.div_ceil(s) * h.div_ceil(s)];
    downsample_into(src, w, h, s, &mut out);
    out
}

fn downsample_into(src: &[f32], w: usize, h: usize, s: usize, out: &mut [f32]) {
    let ws = w.div_ceil(s);
    out.par_chunks_mut(ws).enumerate().for_each(|(j, orow)| {
        let (y0, y1) = (j * s, ((j + 1) * s).min(h));
        orow.fill(0.0);
        for y in y0..y1 {
            for (o, block) in orow.iter_mut().zip(src[y * w..(y + 1) * w].chunks(s)) {
                *o += block.iter().sum::<f32>();
            }
        }
        for (i, o) in orow.iter_mut().enumerate() {
            let bw = (w - i * s).min(s);
            *o /= ((y1 - y0) * bw) as f32;
        }
    });
}

/// `out = A * guide + B` with the coefficient planes `ma`, `mb` (ws x hs, one sample per s x s
/// block) scaled up bilinearly, sample centres at the block centres.
#[allow(clippy::too_many_arguments)]
fn apply_upsampled(
    out: &mut [f32],
    guide: &[f32],
    w: usize,
    ma: &[f32],
    mb: &[f32],
    ws: usize,
    hs: usize,
    s: usize,
) {
    let tap = |x: usize, n: usize| {
        let u = ((x as f32 + 0.5) / s as f32 - 0.5).clamp(0.0, (n - 1) as f32);
        let i0 = u as usize;
        (i0, (i0 + 1).min(n - 1), u - i0 as f32)
    };
    let xt: Vec<(usize, usize, f32)> = (0..w).map(|x| tap(x, ws)).collect();
    out.par_chunks_mut(w).enumerate().for_each_init(
        || (vec![0f32; ws], vec![0f32; ws]),
        |(ra, rb), (y, row)| {
            let (j0, j1, fy) = tap(y, hs);
            for i in 0..ws {
                ra[i] = ma[j0 * ws + i] + (ma[j1 * ws + i] - ma[j0 * ws + i]) * fy;
                rb[i] = mb[j0 * ws + i] + (mb[j1 * ws + i] - mb[j0 * ws + i]) * fy;
            }
            let g = &guide[y * w..(y + 1) * w];
            for ((o, &(i0, i1, fx)), gv) in row.iter_mut().zip(&xt).zip(g) {
                let a = ra[i0] + (ra[i1] - ra[i0]) * fx;
                let b = rb[i0] + (rb[i1] - rb[i0]) * fx;
                *o = a * gv + b;
            }
        },
    );
}

/// Mean over a (2r+1) x (2r+1) window, divided by the pixels inside it at the borders, into
/// `out`, with `scratch` (same size) for the horizontal pass. Running sums in f64: rows, then
/// bands of rows with a running sum per column (contiguous memory, so the vertical pass streams
/// instead of striding).
pub(crate) fn box_filter_into(
    src: &[f32],
    w: usize,
    h: usize,
    r: usize,
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let n = w * h;
    if n == 0 || src.len() != n || scratch.len() != n || out.len() != n {
        return;
    }
    let r = r.min(w.max(h));
    let inv = |len: usize| -> Vec<f64> {
        (0..len)
            .map(|i| 1.0 / ((i + r).min(len - 1) - i.saturating_sub(r) + 1) as f64)
            .collect()
    };
    let (inv_x, inv_y) = (inv(w), inv(h));
    scratch
        .par_chunks_mut(w)
        .zip(src.par_chunks(w))
        .for_each(|(out, row)| {
            let mut sum: f64 = row[..=r.min(w - 1)].iter().map(|&v| v as f64).sum();
            for x in 0..w {
                out[x] = (sum * inv_x[x]) as f32;
                if x + 1 + r < w {
                    sum += row[x + 1 + r] as f64;
                }
                if x >= r {
                    sum -= row[x - r] as f64;
                }
            }
        });
    let tmp = &*scratch;
    let band = 64.max(4 * r + 2);
    out.par_chunks_mut(w * band)
        .enumerate()
        .for_each(|(bi, chunk)| {
            let y0 = bi * band;
            let mut sum = vec![0f64; w];
            let add = |sum: &mut [f64], y: usize, sign: f64| {
                for (s, &v) in sum.iter_mut().zip(&tmp[y * w..(y + 1) * w]) {
                    *s += sign * v as f64;
                }
            };
            for y in y0.saturating_sub(r)..=(y0 + r).min(h - 1) {
                add(&mut sum, y, 1.0);
            }
            for (j, orow) in chunk.chunks_mut(w).enumerate() {
                let y = y0 + j;
                let k = inv_y[y];
                for (o, s) in orow.iter_mut().zip(&sum) {
                    *o = (s * k) as f32;
                }
                if y + 1 + r < h {
                    add(&mut sum, y + 1 + r, 1.0);
                }
                if y >= r {
                    add(&mut sum, y - r, -1.0);
                }
            }
        });
}

/// Black point a full fade lifts to (share of the L range), and how far it lowers white: faded
/// prints and old film have milky blacks and slightly dull whites.
const FADE_BLACK: f32 = 0.15;
const FADE_WHITE: f32 = 0.05;

/// A global tone curve on L: contrast as an S-curve pinned at black, mid-grey and white (never
/// clips, never inverts), then an optional fade of the black and white points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tone {
    /// -1..1: S-curve strength (+ more contrast, - softer).
    pub contrast: f32,
    /// 0..1: lifts blacks to L 15 and lowers whites to L 95 at 1.
    pub fade: f32,
}

impl Default for Tone {
    fn default() -> Self {
        Self {
            contrast: 0.1,
            fade: 0.0,
        }
    }
}

impl Tone {
    pub fn apply(&self, img: &mut LabImage) {
        let c = param(self.contrast, -1.0, 1.0, 0.0);
        let fade = param(self.fade, 0.0, 1.0, 0.0);
        if (c == 0.0 && fade == 0.0) || !usable(img) {
            return;
        }
        let lo = FADE_BLACK * fade;
        let hi = 1.0 - FADE_WHITE * fade;
        img.l.par_iter_mut().for_each(|l| {
            let t = (*l * 0.01).clamp(0.0, 1.0);
            // t + c (smoothstep(t) - t): for c in -1..1 monotonic and within 0..1.
            let t = t + c * (smoothstep(0.0, 1.0, t) - t);
            *l = (100.0 * (lo + (hi - lo) * t)).clamp(0.0, 100.0);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::ops::test_images::{image, noise};

    fn box_filter(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
        let mut out = vec![0f32; src.len()];
        let mut scratch = vec![0f32; src.len()];
        box_filter_into(src, w, h, r, &mut scratch, &mut out);
        out
    }

    fn mean(v: &[f32]) -> f32 {
        v.iter().sum::<f32>() / v.len() as f32
    }

    /// Peak-to-peak of a row's middle part.
    fn swing(row: &[f32]) -> f32 {
        let mid = &row[row.len() / 4..3 * row.len() / 4];
        mid.iter().cloned().fold(f32::MIN, f32::max) - mid.iter().cloned().fold(f32::MAX, f32::min)
    }

    #[test]
    fn local_contrast_raises_mid_frequency_contrast_and_keeps_mean_and_range() {
        // Soft shading (period 48 px, +-6 L) over a mid-grey, plus a patch near black and one
        // near white to check the range.
        let (w, h) = (192usize, 96usize);
        let img = image(w, h, |x, y| {
            let base = if y < 16 {
                3.0
            } else if y >= 80 {
                97.0
            } else {
                50.0
            };
            let wave = 6.0 * (x as f32 * std::f32::consts::TAU / 48.0).sin();
            (base + wave.clamp(-base, 100.0 - base), 5.0, -5.0)
        });
        let mut out = img.clone();
        LocalContrast {
            amount: 1.0,
            radius: 16,
        }
        .apply(&mut out);
        let row = |im: &LabImage, y: usize| im.l[y * w..(y + 1) * w].to_vec();
        let (before, after) = (swing(&row(&img, 48)), swing(&row(&out, 48)));
        assert!(after > 1.3 * before, "swing {before} -> {after}");
        assert!((mean(&out.l) - mean(&img.l)).abs() < 1.0);
        assert!(out.l.iter().all(|l| (0.0..=100.0).contains(l)));
        assert_eq!(
            (out.a.clone(), out.b.clone()),
            (img.a.clone(), img.b.clone())
        );
        // Amount 0 changes nothing.
        let mut same = img.clone();
        LocalContrast {
            amount: 0.0,
            radius: 16,
        }
        .apply(&mut same);
        assert_eq!(same, img);
    }

    #[test]
    fn local_contrast_keeps_strong_edges_free_of_halos() {
        // A hard step 20 -> 80: a plain unsharp mask at this radius overshoots by about 30 L
        // units; the edge-preserving base keeps it to a few (4.6 when written).
        let (w, h) = (128usize, 8usize);
        let img = image(w, h, |x, _| (if x < 64 { 20.0 } else { 80.0 }, 0.0, 0.0));
        let mut out = img.clone();
        LocalContrast {
            amount: 1.0,
            radius: 16,
        }
        .apply(&mut out);
        let overshoot = |l: &[f32]| {
            l.iter()
                .map(|&l| (20.0 - l).max(l - 80.0))
                .fold(0f32, f32::max)
        };
        let plain: Vec<f32> = img
            .l
            .iter()
            .zip(box_filter(&img.l, w, h, 16))
            .map(|(l, m)| l + (l - m))
            .collect();
        let (ours, theirs) = (overshoot(&out.l), overshoot(&plain));
        assert!(
            theirs > 20.0 && ours < 0.2 * theirs,
            "halo {ours} (plain {theirs})"
        );
    }

    /// A soft edge (ramp 30 -> 70 over 8 px) with optional noise of `noise_amp` L units.
    fn edge(noise_amp: f32) -> LabImage {
        image(64, 16, |x, y| {
            let t = ((x as f32 - 28.0) / 8.0).clamp(0.0, 1.0);
            let n = noise_amp * noise(y * 64 + x, 11);
            (30.0 + 40.0 * t + n, 0.0, 0.0)
        })
    }

    #[test]
    fn sharpen_steepens_an_edge() {
        let img = edge(0.0);
        let mut out = img.clone();
        Sharpen {
            amount: 1.5,
            radius: 2.0,
            threshold: 0.0,
        }
        .apply(&mut out);
        let slope = |im: &LabImage| {
            (0..63)
                .map(|x| im.l[8 * 64 + x + 1] - im.l[8 * 64 + x])
                .fold(0f32, f32::max)
        };
        assert!(
            slope(&out) > 1.3 * slope(&img),
            "{} -> {}",
            slope(&img),
            slope(&out)
        );
        assert!(out.l.iter().all(|l| (0.0..=100.0).contains(l)));
    }

    #[test]
    fn sharpen_threshold_leaves_low_amplitude_noise_alone() {
        // Noise of +-0.8 L units on flat grey, threshold 2: nothing changes.
        let img = image(64, 16, |x, y| (50.0 + 0.8 * noise(y * 64 + x, 5), 0.0, 0.0));
        let mut out = img.clone();
        Sharpen {
            amount: 3.0,
            radius: 1.0,
            threshold: 2.0,
        }
        .apply(&mut out);
        assert_eq!(out, img);
        // Without a threshold the same noise is amplified.
        let mut boosted = img.clone();
        Sharpen {
            amount: 3.0,
            radius: 1.0,
            threshold: 0.0,
        }
        .apply(&mut boosted);
        let var = |im: &LabImage| {
            let m = mean(&im.l);
            im.l.iter().map(|l| (l - m).powi(2)).sum::<f32>()
        };
        assert!(var(&boosted) > 2.0 * var(&img));
        // ... while the edge, well above the threshold, is still sharpened.
        let e = edge(0.8);
        let mut out = e.clone();
        Sharpen {
            amount: 1.5,
            radius: 2.0,
            threshold: 2.0,
        }
        .apply(&mut out);
        assert!(
            out.l[8 * 64 + 28] < e.l[8 * 64 + 28] - 1.0,
            "dark side dips"
        );
        assert!(
            out.l[8 * 64 + 36] > e.l[8 * 64 + 36] + 1.0,
            "bright side rises"
        );
    }

    #[test]
    fn box_filter_matches_a_direct_sum() {
        for (w, h, r) in [
            (13usize, 9usize, 2usize),
            (5, 70, 3),
            (70, 3, 40),
            (1, 1, 5),
        ] {
            let src: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
            let got = box_filter(&src, w, h, r);
            for y in 0..h {
                for x in 0..w {
                    let (mut s, mut n) = (0f32, 0f32);
                    for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                        for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                            s += src[yy * w + xx];
                            n += 1.0;
                        }
                    }
                    assert!(
                        (got[y * w + x] - s / n).abs() < 1e-4,
                        "{w}x{h} r{r} ({x},{y})"
                    );
                }
            }
        }
    }

    #[test]
    fn guided_smooth_matches_the_reference_filter_at_full_resolution() {
        // Below radius 4 no subsampling: the same maths as crate::post::guided::guided_filter.
        let (w, h) = (40usize, 30usize);
        let guide: Vec<f32> = (0..w * h)
            .map(|i| if i % w < 20 { 30.0 } else { 70.0 } + 3.0 * noise(i, 1))
            .collect();
        let p: Vec<f32> = (0..w * h).map(|i| 10.0 * noise(i, 2)).collect();
        let mut ours = p.clone();
        guided_smooth(&guide, &mut [&mut ours], w, h, 3, 4.0);
        let mut reference = p.clone();
        crate::post::guided::guided_filter(&guide, &mut [&mut reference], w, h, 3, 4.0);
        for i in 0..w * h {
            assert!(
                (ours[i] - reference[i]).abs() < 1e-3,
                "{i}: {} {}",
                ours[i],
                reference[i]
            );
        }
        // Subsampled: still smooths and still follows the edge.
        let mut fast = p.clone();
        guided_smooth(&guide, &mut [&mut fast], w, h, 12, 4.0);
        let var = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32;
        assert!(var(&fast) < 0.2 * var(&p));
        // Sizes that are no multiple of the block: a constant stays that constant, and with a
        // negligible regulariser so does a plane that is a linear function of the guide.
        let (w, h) = (37usize, 23usize);
        let guide: Vec<f32> = (0..w * h).map(|i| 50.0 + 20.0 * noise(i, 3)).collect();
        let mut flat = vec![5.0f32; w * h];
        let mut linear: Vec<f32> = guide.iter().map(|g| 0.5 * g - 10.0).collect();
        let want = linear.clone();
        guided_smooth(&guide, &mut [&mut flat], w, h, 9, 4.0);
        guided_smooth(&guide, &mut [&mut linear], w, h, 9, 1e-6);
        assert!(flat.iter().all(|v| (v - 5.0).abs() < 1e-3));
        assert!(linear.iter().zip(&want).all(|(v, t)| (v - t).abs() < 0.01));
    }

    #[test]
    fn gaussian_blur_keeps_flat_planes_and_mass() {
        let flat = vec![42.0f32; 30 * 20];
        assert!(
            gaussian_blur(&flat, 30, 20, 2.5)
                .iter()
                .all(|v| (v - 42.0).abs() < 1e-3)
        );
        let k = gaussian_kernel(1.3);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6 && k.len() == 9);
    }

    #[test]
    fn tone_contrast_and_fade() {
        let img = image(101, 1, |x, _| (x as f32, 0.0, 0.0));
        let mut more = img.clone();
        Tone {
            contrast: 1.0,
            fade: 0.0,
        }
        .apply(&mut more);
        assert!(more.l[25] < 25.0 && more.l[75] > 75.0 && (more.l[50] - 50.0).abs() < 1e-3);
        assert!(more.l.windows(2).all(|p| p[1] >= p[0]), "monotonic");
        let mut faded = img.clone();
        Tone {
            contrast: -0.5,
            fade: 1.0,
        }
        .apply(&mut faded);
        assert!((faded.l[0] - 15.0).abs() < 1e-3 && (faded.l[100] - 95.0).abs() < 1e-3);
        assert!(faded.l.windows(2).all(|p| p[1] >= p[0]), "monotonic");
        let mut same = img.clone();
        Tone {
            contrast: 0.0,
            fade: 0.0,
        }
        .apply(&mut same);
        assert_eq!(same, img);
    }
}
