//! Measures of colorized video: temporal stability (warping error, colour distribution
//! consistency), colourfulness, and error against a colour truth (CIEDE2000, ab distance).
//!
//! Stability alone can be bought by washing the colour out, so the two are always reported
//! together (DESIGN.md §7). Absolute warping errors depend on the flow used: compare runs only
//! against each other, on this harness.

use rayon::prelude::*;

use crate::picture::lab::rgb_to_lab;
use crate::video::flow::{self, Flow, FlowParams, Plane};

/// An 8-bit RGB frame, rows packed.
#[derive(Clone, Debug)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub data: Vec<u8>,
}

impl Rgb {
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(
            data.len(),
            width * height * 3,
            "RGB data has the wrong size"
        );
        Self {
            width,
            height,
            data,
        }
    }

    /// BT.601 luma in [0, 1].
    pub fn luma(&self) -> Plane {
        let data = self
            .data
            .chunks_exact(3)
            .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
            .collect();
        Plane::new(self.width, self.height, data)
    }

    /// Lab (OpenCV float conversion) of every pixel.
    pub fn lab(&self) -> Vec<[f32; 3]> {
        self.data
            .par_chunks_exact(3)
            .map(|p| {
                rgb_to_lab([
                    p[0] as f32 / 255.0,
                    p[1] as f32 / 255.0,
                    p[2] as f32 / 255.0,
                ])
            })
            .collect()
    }
}

/// Flow between two consecutive input frames, for the warping error: computed on the input's
/// luma (grey film has the same motion as its colorized version), at most this many pixels on
/// the long side, then brought to full size.
pub const METRIC_FLOW_MAX: usize = 512;

/// The motion from frame t-1 to frame t of the input, and which pixels of t-1 it leaves
/// unmatched.
pub struct Motion {
    pub forward: Flow,
    pub occluded: Vec<bool>,
}

impl Motion {
    /// `prev` and `cur`: the input's luma at t-1 and t.
    pub fn between(prev: &Plane, cur: &Plane) -> Motion {
        let (w, h) = (prev.width, prev.height);
        let scale = (METRIC_FLOW_MAX as f32 / w.max(h) as f32).min(1.0);
        let (fw, fh) = (
            ((w as f32 * scale).round() as usize).max(1),
            ((h as f32 * scale).round() as usize).max(1),
        );
        let (a, b) = (prev.resized(fw, fh), cur.resized(fw, fh));
        let params = FlowParams {
            warps: 3,
            ..FlowParams::default()
        };
        let (fwd, bwd) = rayon::join(
            || flow::estimate(&a, &b, &params),
            || flow::estimate(&b, &a, &params),
        );
        let occ_small = flow::occlusion(&fwd, &bwd);
        let forward = fwd.resized(w, h);
        let mut occluded = vec![false; w * h];
        for y in 0..h {
            let sy = (y * fh / h).min(fh - 1);
            for x in 0..w {
                occluded[y * w + x] = occ_small[sy * fw + (x * fw / w).min(fw - 1)];
            }
        }
        Motion { forward, occluded }
    }
}

/// Warping error of one pair (DESIGN.md §7): `sum(M * (warp(V_t) - V_{t-1})^2) / sum(M)`, the
/// squares summed over R, G, B in [0, 1], M the pixels that are not occluded. None when every
/// pixel is occluded.
pub fn warp_error(prev: &Rgb, cur: &Rgb, motion: &Motion) -> Option<f64> {
    let (w, h) = (prev.width, prev.height);
    assert_eq!((cur.width, cur.height), (w, h), "frames of different sizes");
    let f = &motion.forward;
    assert_eq!((f.width, f.height), (w, h), "flow of another size");
    let planes: Vec<Vec<f32>> = (0..3)
        .map(|c| {
            cur.data[c..]
                .iter()
                .step_by(3)
                .map(|&v| v as f32 / 255.0)
                .collect()
        })
        .collect();
    let (sum, count) = (0..h)
        .into_par_iter()
        .map(|y| {
            let (mut sum, mut count) = (0f64, 0u64);
            for x in 0..w {
                let i = y * w + x;
                if motion.occluded[i] {
                    continue;
                }
                let (tx, ty) = (x as f32 + f.u[i], y as f32 + f.v[i]);
                let mut e = 0f32;
                for (c, p) in planes.iter().enumerate() {
                    let d = flow::bilinear(p, w, h, tx, ty) - prev.data[i * 3 + c] as f32 / 255.0;
                    e += d * d;
                }
                sum += e as f64;
                count += 1;
            }
            (sum, count)
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (count > 0).then(|| sum / count as f64)
}

/// Colourfulness of Hasler and Süsstrunk (2003), on 0..255 RGB.
pub fn colourfulness(frame: &Rgb) -> f64 {
    let n = (frame.width * frame.height).max(1) as f64;
    let (mut s_rg, mut s_yb, mut q_rg, mut q_yb) = (0f64, 0f64, 0f64, 0f64);
    for p in frame.data.chunks_exact(3) {
        let (r, g, b) = (p[0] as f64, p[1] as f64, p[2] as f64);
        let rg = r - g;
        let yb = 0.5 * (r + g) - b;
        s_rg += rg;
        s_yb += yb;
        q_rg += rg * rg;
        q_yb += yb * yb;
    }
    let (m_rg, m_yb) = (s_rg / n, s_yb / n);
    let var_rg = (q_rg / n - m_rg * m_rg).max(0.0);
    let var_yb = (q_yb / n - m_yb * m_yb).max(0.0);
    (var_rg + var_yb).sqrt() + 0.3 * (m_rg * m_rg + m_yb * m_yb).sqrt()
}

/// Per-channel 256-bin histograms, normalised.
pub type Histograms = [[f32; 256]; 3];

pub fn histograms(frame: &Rgb) -> Histograms {
    let mut h = [[0f32; 256]; 3];
    for p in frame.data.chunks_exact(3) {
        for c in 0..3 {
            h[c][p[c] as usize] += 1.0;
        }
    }
    let n = (frame.width * frame.height).max(1) as f32;
    h.iter_mut().flatten().for_each(|v| *v /= n);
    h
}

/// Jensen–Shannon divergence of two distributions, in bits (0 to 1).
pub fn jensen_shannon(p: &[f32], q: &[f32]) -> f64 {
    let kl_half = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .filter(|&(&x, _)| x > 0.0)
            .map(|(&x, &y)| {
                let m = 0.5 * (x as f64 + y as f64);
                x as f64 * (x as f64 / m).log2()
            })
            .sum::<f64>()
    };
    (0.5 * kl_half(p, q) + 0.5 * kl_half(q, p)).max(0.0)
}

/// Colour distribution consistency: the Jensen–Shannon divergence of the per-channel
/// histograms of frames t and t+k, for k = 1, 2, 4, averaged over channels, frames and k.
/// None with fewer than two frames.
pub fn cdc(hists: &[Histograms]) -> Option<f64> {
    let per_k: Vec<f64> = [1usize, 2, 4]
        .into_iter()
        .filter(|&k| hists.len() > k)
        .map(|k| {
            let pairs = hists.len() - k;
            (0..pairs)
                .map(|t| {
                    (0..3)
                        .map(|c| jensen_shannon(&hists[t][c], &hists[t + k][c]))
                        .sum::<f64>()
                        / 3.0
                })
                .sum::<f64>()
                / pairs as f64
        })
        .collect();
    (!per_k.is_empty()).then(|| per_k.iter().sum::<f64>() / per_k.len() as f64)
}

/// CIEDE2000 colour difference (Sharma, Wu and Dalal 2005), unit weights.
pub fn ciede2000(lab1: [f32; 3], lab2: [f32; 3]) -> f64 {
    use std::f64::consts::PI;
    let [l1, a1, b1] = lab1.map(|v| v as f64);
    let [l2, a2, b2] = lab2.map(|v| v as f64);
    let c1 = (a1 * a1 + b1 * b1).sqrt();
    let c2 = (a2 * a2 + b2 * b2).sqrt();
    let cm = 0.5 * (c1 + c2);
    let cm7 = cm.powi(7);
    let g = 0.5 * (1.0 - (cm7 / (cm7 + 25f64.powi(7))).sqrt());
    let (a1p, a2p) = ((1.0 + g) * a1, (1.0 + g) * a2);
    let c1p = (a1p * a1p + b1 * b1).sqrt();
    let c2p = (a2p * a2p + b2 * b2).sqrt();
    let hue = |b: f64, a: f64| {
        if a == 0.0 && b == 0.0 {
            0.0
        } else {
            let h = b.atan2(a).to_degrees();
            if h < 0.0 { h + 360.0 } else { h }
        }
    };
    let (h1p, h2p) = (hue(b1, a1p), hue(b2, a2p));
    let dlp = l2 - l1;
    let dcp = c2p - c1p;
    let dhp = if c1p * c2p == 0.0 {
        0.0
    } else {
        let d = h2p - h1p;
        if d > 180.0 {
            d - 360.0
        } else if d < -180.0 {
            d + 360.0
        } else {
            d
        }
    };
    let dhp_big = 2.0 * (c1p * c2p).sqrt() * (dhp.to_radians() / 2.0).sin();
    let lpm = 0.5 * (l1 + l2);
    let cpm = 0.5 * (c1p + c2p);
    let hpm = if c1p * c2p == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        0.5 * (h1p + h2p)
    } else if h1p + h2p < 360.0 {
        0.5 * (h1p + h2p + 360.0)
    } else {
        0.5 * (h1p + h2p - 360.0)
    };
    let t = 1.0 - 0.17 * (hpm - 30.0).to_radians().cos()
        + 0.24 * (2.0 * hpm).to_radians().cos()
        + 0.32 * (3.0 * hpm + 6.0).to_radians().cos()
        - 0.20 * (4.0 * hpm - 63.0).to_radians().cos();
    let d_theta = 30.0 * (-((hpm - 275.0) / 25.0).powi(2)).exp();
    let cpm7 = cpm.powi(7);
    let rc = 2.0 * (cpm7 / (cpm7 + 25f64.powi(7))).sqrt();
    let lm50 = (lpm - 50.0).powi(2);
    let sl = 1.0 + 0.015 * lm50 / (20.0 + lm50).sqrt();
    let sc = 1.0 + 0.045 * cpm;
    let sh = 1.0 + 0.015 * cpm * t;
    let rt = -(2.0 * d_theta * PI / 180.0).sin() * rc;
    let (x, y, z) = (dlp / sl, dcp / sc, dhp_big / sh);
    (x * x + y * y + z * z + rt * y * z).max(0.0).sqrt()
}

/// Mean CIEDE2000 and mean ab distance between a frame and its truth, over the pixels where
/// `mask` is true (all pixels without a mask). None when the mask is empty.
pub fn colour_error(frame: &Rgb, truth: &Rgb, mask: Option<&[bool]>) -> Option<(f64, f64)> {
    assert_eq!(
        (frame.width, frame.height),
        (truth.width, truth.height),
        "frame and truth of different sizes"
    );
    let (la, lb) = rayon::join(|| frame.lab(), || truth.lab());
    let (de, ab, n) = la
        .par_iter()
        .zip(&lb)
        .enumerate()
        .filter(|(i, _)| mask.is_none_or(|m| m[*i]))
        .map(|(_, (p, q))| {
            let dab = ((p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt() as f64;
            (ciede2000(*p, *q), dab, 1u64)
        })
        .reduce(|| (0.0, 0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    (n > 0).then(|| (de / n as f64, ab / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciede2000_matches_sharma_test_data() {
        // Pairs 1, 7, 13, 17 and 25 of Sharma, Wu and Dalal's table.
        let cases = [
            ([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485], 2.0425),
            ([50.0, 0.0, 0.0], [50.0, -1.0, 2.0], 2.3669),
            ([50.0, 2.4900, -0.0010], [50.0, -2.4900, 0.0011], 7.2195),
            ([50.0, 2.5, 0.0], [73.0, 25.0, -18.0], 27.1492),
            (
                [60.2574, -34.0099, 36.2677],
                [60.4626, -34.1751, 39.4387],
                1.2644,
            ),
        ];
        for (a, b, want) in cases {
            let got = ciede2000(a, b);
            assert!((got - want).abs() < 1e-3, "{a:?} {b:?}: {got} != {want}");
        }
    }

    #[test]
    fn colourfulness_of_grey_is_zero_and_of_red_is_high() {
        let grey = Rgb::new(4, 4, vec![120; 48]);
        assert_eq!(colourfulness(&grey), 0.0);
        let red = Rgb::new(2, 1, vec![255, 0, 0, 255, 0, 0]);
        // rg = 255, yb = 127.5: no spread, 0.3 * |mean|.
        let want = 0.3 * (255f64.powi(2) + 127.5f64.powi(2)).sqrt();
        assert!((colourfulness(&red) - want).abs() < 1e-9);
    }

    #[test]
    fn jensen_shannon_bounds() {
        let p = [0.5, 0.5, 0.0, 0.0];
        let q = [0.0, 0.0, 0.5, 0.5];
        assert!((jensen_shannon(&p, &q) - 1.0).abs() < 1e-9);
        assert_eq!(jensen_shannon(&p, &p), 0.0);
    }

    #[test]
    fn cdc_is_zero_for_a_still_and_positive_for_a_flicker() {
        let a = Rgb::new(
            2,
            2,
            vec![10, 200, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120],
        );
        let mut b = a.clone();
        b.data.iter_mut().for_each(|v| *v = v.saturating_add(40));
        let still = vec![histograms(&a); 6];
        assert_eq!(cdc(&still), Some(0.0));
        let flicker: Vec<_> = (0..6)
            .map(|i| histograms(if i % 2 == 0 { &a } else { &b }))
            .collect();
        assert!(cdc(&flicker).unwrap() > 0.3);
    }

    #[test]
    fn warp_error_sees_flicker_not_motion() {
        // A textured frame moving 2 px right: the same colours moved have no warping error;
        // the same frames with a colour cast every other frame do.
        let (w, h) = (96usize, 64usize);
        let frame = |dx: f32, cast: u8| {
            let mut d = Vec::with_capacity(w * h * 3);
            for y in 0..h {
                for x in 0..w {
                    let v = 0.5 + 0.3 * ((x as f32 - dx) * 0.2).sin() * (y as f32 * 0.15).cos();
                    let g = (v * 200.0) as u8;
                    d.extend_from_slice(&[g.saturating_add(cast), g, g / 2]);
                }
            }
            Rgb::new(w, h, d)
        };
        let (a, b) = (frame(0.0, 0), frame(2.0, 0));
        let m = Motion::between(&a.luma(), &b.luma());
        let moved = warp_error(&a, &b, &m).unwrap();
        let cast = warp_error(&a, &frame(2.0, 30), &m).unwrap();
        assert!(moved < 0.002, "motion counted as error: {moved}");
        assert!(cast > 5.0 * moved.max(1e-4), "{cast} vs {moved}");
    }
}
