//! Film grain on L: a little structured noise makes a colorized archival photo read as a photo
//! rather than a painting, and hides the model's smooth chroma a little. Deterministic: the
//! noise is a hash of (seed, x, y), so the same settings give the same image on any thread
//! count, and frames of a film can share or vary their seed on purpose.

use rayon::prelude::*;

use super::LabImage;
use super::detail::{gaussian_blur, gaussian_kernel};
use super::ops::{param, usable};

/// L standard deviation at mid-grey per unit of `amount`.
const GRAIN_STD: f32 = 8.0;
/// Blur sigma per pixel of grain size beyond 1: size 1 is single-pixel (digital-looking) noise,
/// size 4 clumps of about 4 px.
const SIGMA_PER_SIZE: f32 = 0.6;

/// Zero-mean luminance grain, strongest in the mid-tones as in film (deep shadows and
/// highlights carry less visible grain).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grain {
    /// 0..1: standard deviation of about 8 * amount L units at mid-grey.
    pub amount: f32,
    /// 1..4: grain size in pixels.
    pub size: f32,
    /// Noise pattern: the same seed gives the same grain.
    pub seed: u64,
}

impl Default for Grain {
    fn default() -> Self {
        Self {
            amount: 0.2,
            size: 1.5,
            seed: 0,
        }
    }
}

impl Grain {
    pub fn apply(&self, img: &mut LabImage) {
        let amount = param(self.amount, 0.0, 1.0, 0.0);
        let size = param(self.size, 1.0, 4.0, 1.0);
        if amount == 0.0 || !usable(img) {
            return;
        }
        let (w, h) = (img.width, img.height);
        let seed = self.seed;
        let mut noise = vec![0f32; w * h];
        noise.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for (x, v) in row.iter_mut().enumerate() {
                *v = gaussian_ish(hash(seed, x as u64, y as u64));
            }
        });
        let sigma = SIGMA_PER_SIZE * (size - 1.0);
        let mut scale = amount * GRAIN_STD;
        if sigma >= 0.2 {
            noise = gaussian_blur(&noise, w, h, sigma);
            // Blurring white noise lowers its deviation by the kernel's norm (squared, for the
            // two separable passes): scale back so `amount` means the same at every size.
            let k = gaussian_kernel(sigma);
            scale /= k.iter().map(|v| v * v).sum::<f32>();
        }
        img.l
            .par_iter_mut()
            .zip(noise.par_iter())
            .for_each(|(l, n)| {
                let t = (*l * 0.01).clamp(0.0, 1.0);
                // 1 at mid-grey, about 0.6 at L 10 and 90, 0 at pure black and white.
                let tone = (4.0 * t * (1.0 - t)).sqrt();
                *l = (*l + scale * tone * n).clamp(0.0, 100.0);
            });
    }
}

/// SplitMix64 finaliser over seed and position: cheap, well mixed, no state to share.
fn hash(seed: u64, x: u64, y: u64) -> u64 {
    let mut z = seed
        .wrapping_add(((y << 32) | x).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Unit-variance, zero-mean noise from 64 random bits: the sum of four 16-bit uniforms (Irwin-
/// Hall), close enough to Gaussian for grain and far cheaper than Box-Muller.
fn gaussian_ish(bits: u64) -> f32 {
    let s = (bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) + ((bits >> 32) & 0xFFFF) + (bits >> 48);
    // Each uniform has mean 32767.5 and variance 65536^2 / 12.
    const MEAN: f32 = 4.0 * 32767.5;
    const INV_STD: f32 = 1.0 / (65536.0 / 1.732_050_8);
    (s as f32 - MEAN) * INV_STD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::ops::test_images::image;

    fn grey(l: f32) -> LabImage {
        image(128, 96, |_, _| (l, 3.0, -2.0))
    }

    fn stats(a: &LabImage, b: &LabImage) -> (f32, f32) {
        let d: Vec<f32> = a.l.iter().zip(&b.l).map(|(x, y)| x - y).collect();
        let n = d.len() as f32;
        let m = d.iter().sum::<f32>() / n;
        let v = d.iter().map(|x| (x - m).powi(2)).sum::<f32>() / n;
        (m, v.sqrt())
    }

    #[test]
    fn grain_is_deterministic_per_seed_and_differs_across_seeds() {
        let img = grey(50.0);
        let run = |seed| {
            let mut out = img.clone();
            Grain {
                amount: 0.5,
                size: 2.0,
                seed,
            }
            .apply(&mut out);
            out
        };
        assert_eq!(run(7), run(7));
        let (a, b) = (run(7), run(8));
        let differing = a.l.iter().zip(&b.l).filter(|(x, y)| x != y).count();
        assert!(differing > a.l.len() * 9 / 10);
        assert_eq!((a.a.clone(), a.b.clone()), (img.a.clone(), img.b.clone()));
    }

    #[test]
    fn grain_is_zero_mean_with_the_promised_strength() {
        // Larger grain has fewer independent samples per image, so its mean wanders more.
        for (size, mean_tol) in [(1.0, 0.1), (2.5, 0.3), (4.0, 0.5)] {
            let img = image(256, 192, |_, _| (50.0, 0.0, 0.0));
            let mut out = img.clone();
            Grain {
                amount: 0.5,
                size,
                seed: 3,
            }
            .apply(&mut out);
            let (m, sd) = stats(&out, &img);
            assert!(m.abs() < mean_tol, "size {size}: mean {m}");
            assert!(
                (sd - 4.0).abs() < 0.5,
                "size {size}: std {sd} (want about 4)"
            );
        }
    }

    #[test]
    fn grain_is_weaker_in_shadows_and_highlights_and_stays_in_range() {
        let sd_at = |l| {
            let img = grey(l);
            let mut out = img.clone();
            Grain {
                amount: 1.0,
                size: 1.0,
                seed: 1,
            }
            .apply(&mut out);
            assert!(out.l.iter().all(|v| (0.0..=100.0).contains(v)));
            stats(&out, &img).1
        };
        let (mid, dark, bright) = (sd_at(50.0), sd_at(5.0), sd_at(95.0));
        assert!(
            dark < 0.6 * mid && bright < 0.6 * mid,
            "{dark} {mid} {bright}"
        );
    }

    #[test]
    fn amount_zero_is_a_no_op() {
        let img = grey(40.0);
        let mut out = img.clone();
        Grain {
            amount: 0.0,
            size: 2.0,
            seed: 9,
        }
        .apply(&mut out);
        assert_eq!(out, img);
    }
}
