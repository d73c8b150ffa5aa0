//! Chroma steps: denoising, saturation/vibrance and white balance. They touch only a and b, so
//! the photo's own lightness (its detail, its tones) comes through them unchanged.

use rayon::prelude::*;

use super::LabImage;
use super::detail::guided_smooth;
use super::ops::{param, scale_ab, usable};
use super::skin::{hue_deg, natural_skin_weight};

/// Guided-filter regulariser for chroma denoising, in squared L units: a lightness edge whose
/// local standard deviation is above about 2 L units is followed; flatter areas are averaged.
/// Chroma noise that does not follow lightness is removed either way (the filter fits chroma as
/// a local linear function of L, and uncorrelated noise does not fit), so a small value costs
/// little smoothing and keeps chroma steps that sit on real edges crisp.
const DENOISE_EPS: f32 = 4.0;

/// Edge-preserving smoothing of a and b, guided by L: the model's blotchy chroma noise (and the
/// blockiness upsampling leaves) is averaged out within areas of like lightness, while a colour
/// change that follows a lightness edge (a red coat against a grey wall) stays where it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChromaDenoise {
    /// 0..1: the share of the filtered chroma in the result (1 = fully filtered).
    pub strength: f32,
    /// Window radius in pixels: about the size of the blotches to remove.
    pub radius: usize,
}

impl Default for ChromaDenoise {
    fn default() -> Self {
        Self {
            strength: 0.5,
            radius: 8,
        }
    }
}

impl ChromaDenoise {
    pub fn apply(&self, img: &mut LabImage) {
        let s = param(self.strength, 0.0, 1.0, 0.0);
        if s == 0.0 || self.radius == 0 || !usable(img) {
            return;
        }
        let (w, h) = (img.width, img.height);
        if s >= 1.0 {
            guided_smooth(
                &img.l,
                &mut [&mut img.a, &mut img.b],
                w,
                h,
                self.radius,
                DENOISE_EPS,
            );
            return;
        }
        let mut fa = img.a.clone();
        let mut fb = img.b.clone();
        guided_smooth(
            &img.l,
            &mut [&mut fa, &mut fb],
            w,
            h,
            self.radius,
            DENOISE_EPS,
        );
        for (plane, filtered) in [(&mut img.a, &fa), (&mut img.b, &fb)] {
            plane
                .par_iter_mut()
                .zip(filtered.par_iter())
                .for_each(|(v, f)| *v += s * (f - *v));
        }
    }
}

/// Chroma below which vibrance counts a colour as "muted" (it gets half its full boost here;
/// Lab chroma of everyday colours is about 10..60).
const VIBRANCE_CHROMA: f32 = 25.0;
/// Share of the vibrance change withheld from skin, as photo editors do so that boosting a
/// muted scene does not turn faces orange.
const VIBRANCE_SKIN_PROTECT: f32 = 0.8;

/// Saturation scales all chroma alike; vibrance scales muted colours more than already vivid
/// ones (and spares skin), the usual way to liven a flat colorization without oversaturating
/// what is already strong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Saturation {
    /// 0..3: chroma multiplier (0 = greyscale, 1 = unchanged).
    pub saturation: f32,
    /// -1..1: extra relative chroma change, full for near-grey colours and fading as chroma
    /// grows; skin tones get a fifth of it.
    pub vibrance: f32,
}

impl Default for Saturation {
    fn default() -> Self {
        Self {
            saturation: 1.0,
            vibrance: 0.2,
        }
    }
}

impl Saturation {
    pub fn apply(&self, img: &mut LabImage) {
        let sat = param(self.saturation, 0.0, 3.0, 1.0);
        let vib = param(self.vibrance, -1.0, 1.0, 0.0);
        if (sat == 1.0 && vib == 0.0) || !usable(img) {
            return;
        }
        img.l
            .par_iter()
            .zip(img.a.par_iter_mut())
            .zip(img.b.par_iter_mut())
            .for_each(|((&l, a), b)| {
                let mut f = sat;
                if vib != 0.0 {
                    let c = a.hypot(*b);
                    if c > 0.0 {
                        let muted = 1.0 / (1.0 + (c / VIBRANCE_CHROMA).powi(2));
                        let skin = natural_skin_weight(l, c, hue_deg(*a, *b));
                        f *= 1.0 + vib * muted * (1.0 - VIBRANCE_SKIN_PROTECT * skin);
                    }
                }
                (*a, *b) = scale_ab(*a, *b, f);
            });
    }
}

/// Candidates for "should be neutral": chroma below this (a cast on a grey is rarely larger) ...
const NEUTRAL_MAX_CHROMA: f32 = 20.0;
/// ... and lightness in this range (near black and near white, chroma says little about the
/// illuminant and the model's output is least reliable).
const NEUTRAL_L: (f32, f32) = (20.0, 90.0);
/// Second pass: only candidates this close to the first estimate, so that a muted coloured
/// object (brown wood, a pale blue wall) among the greys does not drag the estimate.
const NEUTRAL_REFINE_RADIUS: f32 = 8.0;
/// Below this share of near-neutral pixels the scene has no greys to trust: no automatic
/// correction.
const NEUTRAL_MIN_SHARE: f32 = 0.02;
/// Manual shifts, in a/b units per setting unit: +-100 moves chroma by +-20, a strong but not
/// absurd cast. Warm follows the black-body direction in Lab (mostly +b, a little +a).
const TEMPERATURE_B: f32 = 0.2;
const TEMPERATURE_A: f32 = 0.02;
const TINT_A: f32 = 0.2;

/// Removes a global colour cast and optionally adds a deliberate one. The automatic part
/// estimates the cast as the robust centre (median, then a median of the pixels near it) of the
/// near-neutral pixels and shifts all chroma against it: the model often tints a whole scene
/// slightly, and greys show it first. The shift is additive in a/b, which is what a cast in the
/// model's chroma output amounts to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WhiteBalance {
    /// 0..1: share of the estimated cast removed.
    pub strength: f32,
    /// -100..100: warm (+, towards yellow) or cool (-, towards blue) shift.
    pub temperature: f32,
    /// -100..100: magenta (+) or green (-) shift.
    pub tint: f32,
}

impl Default for WhiteBalance {
    fn default() -> Self {
        Self {
            strength: 0.5,
            temperature: 0.0,
            tint: 0.0,
        }
    }
}

impl WhiteBalance {
    pub fn apply(&self, img: &mut LabImage) {
        let s = param(self.strength, 0.0, 1.0, 0.0);
        let temp = param(self.temperature, -100.0, 100.0, 0.0);
        let tint = param(self.tint, -100.0, 100.0, 0.0);
        if !usable(img) {
            return;
        }
        let (mut da, mut db) = (temp * TEMPERATURE_A + tint * TINT_A, temp * TEMPERATURE_B);
        if s > 0.0
            && let Some(cast) = estimate_cast(img)
        {
            let (ca, cb) = unnatural_part(cast);
            da -= s * ca;
            db -= s * cb;
        }
        if da == 0.0 && db == 0.0 {
            return;
        }
        for (plane, d) in [(&mut img.a, da), (&mut img.b, db)] {
            if d != 0.0 {
                plane
                    .par_iter_mut()
                    .for_each(|v| *v = (*v + d).clamp(-128.0, 127.0));
            }
        }
    }
}

/// Where the near-neutral median of real colour photos lies: on the 24 Kodak photos it spans
/// a -10.6..8.9 and b -3.0..18.2, mostly warm (beige, earth, skin and wood read as "near
/// neutral"). A median inside this box is the scene's own colour, not a cast: correcting it
/// turned the colour of correct photos by 3 to 4 CIEDE2000 units (`workflows` bench). Only a
/// cast beyond it (blue, green, magenta: the model's flaws, not nature's) is removed.
const NATURAL_A: (f32, f32) = (-6.0, 6.0);
const NATURAL_B: (f32, f32) = (-3.0, 15.0);

/// The part of `cast` outside the natural box.
fn unnatural_part((a, b): (f32, f32)) -> (f32, f32) {
    let excess = |v: f32, (lo, hi): (f32, f32)| {
        if v < lo {
            v - lo
        } else if v > hi {
            v - hi
        } else {
            0.0
        }
    };
    (excess(a, NATURAL_A), excess(b, NATURAL_B))
}

/// The global cast (a, b) read from the near-neutral pixels, or `None` where too few pixels
/// look neutral to say.
pub fn estimate_cast(img: &LabImage) -> Option<(f32, f32)> {
    let min_count = ((img.pixel_count() as f32 * NEUTRAL_MIN_SHARE) as u64).max(16);
    let first = neutral_median(img, (0.0, 0.0), NEUTRAL_MAX_CHROMA, min_count)?;
    let refined = neutral_median(img, first, NEUTRAL_REFINE_RADIUS, min_count / 2);
    Some(refined.unwrap_or(first))
}

/// Histogram resolution of the median: bins of 1/8 chroma unit over +-HIST_RANGE.
const HIST_RANGE: f32 = 32.0;
const HIST_STEP: f32 = 0.125;
const HIST_BINS: usize = (2.0 * HIST_RANGE / HIST_STEP) as usize;

/// Component-wise median of a and b over the mid-lightness pixels within `radius` of `centre`
/// in the a/b plane (histograms, so one parallel pass over the photo).
fn neutral_median(
    img: &LabImage,
    centre: (f32, f32),
    radius: f32,
    min_count: u64,
) -> Option<(f32, f32)> {
    let w = img.width;
    let r2 = radius * radius;
    let bin = |v: f32| (((v + HIST_RANGE) / HIST_STEP) as usize).min(HIST_BINS - 1);
    let (ha, hb, count) = img
        .l
        .par_chunks(w)
        .zip(img.a.par_chunks(w))
        .zip(img.b.par_chunks(w))
        .fold(
            || (vec![0u64; HIST_BINS], vec![0u64; HIST_BINS], 0u64),
            |(mut ha, mut hb, mut n), ((rl, ra), rb)| {
                for ((&l, &a), &b) in rl.iter().zip(ra).zip(rb) {
                    let (da, db) = (a - centre.0, b - centre.1);
                    if l >= NEUTRAL_L.0 && l <= NEUTRAL_L.1 && da * da + db * db < r2 {
                        ha[bin(a)] += 1;
                        hb[bin(b)] += 1;
                        n += 1;
                    }
                }
                (ha, hb, n)
            },
        )
        .reduce(
            || (vec![0u64; HIST_BINS], vec![0u64; HIST_BINS], 0u64),
            |(mut ha, mut hb, n), (ha2, hb2, n2)| {
                ha.iter_mut().zip(&ha2).for_each(|(x, y)| *x += y);
                hb.iter_mut().zip(&hb2).for_each(|(x, y)| *x += y);
                (ha, hb, n + n2)
            },
        );
    if count < min_count.max(1) {
        return None;
    }
    Some((hist_median(&ha, count), hist_median(&hb, count)))
}

/// The median of a histogram, interpolated within its bin.
fn hist_median(hist: &[u64], count: u64) -> f32 {
    let half = count as f64 / 2.0;
    let mut below = 0f64;
    for (i, &n) in hist.iter().enumerate() {
        let n = n as f64;
        if n > 0.0 && below + n >= half {
            let frac = ((half - below) / n) as f32;
            return -HIST_RANGE + (i as f32 + frac) * HIST_STEP;
        }
        below += n;
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::ops::test_images::{image, noise};

    fn variance(v: impl Iterator<Item = f32> + Clone) -> f32 {
        let n = v.clone().count() as f32;
        let m = v.clone().sum::<f32>() / n;
        v.map(|x| (x - m) * (x - m)).sum::<f32>() / n
    }

    /// A colourful test scene: patches of many hues and chroma, with texture.
    fn scene() -> LabImage {
        image(96, 64, |x, y| {
            let i = y * 96 + x;
            let patch = (x / 16 + 6 * (y / 16)) as f32;
            let hue = patch * 0.7;
            let c = 5.0 + (patch * 13.0) % 60.0;
            (
                30.0 + (patch * 7.0) % 50.0 + 3.0 * noise(i, 1),
                c * hue.cos() + noise(i, 2),
                c * hue.sin() + noise(i, 3),
            )
        })
    }

    #[test]
    fn denoise_flattens_noise_but_keeps_a_chroma_step_on_a_lightness_edge() {
        // Left: dark, red; right: bright, green-ish. Chroma noise (+-12) everywhere. Radius 12
        // takes the subsampled path, with blocks that straddle the edge.
        let (w, h) = (80usize, 40usize);
        let clean = |x: usize| if x < 40 { (30.0, 40.0) } else { (75.0, -25.0) };
        let noisy = image(w, h, |x, y| {
            let (l, a) = clean(x);
            (
                l,
                a + 12.0 * noise(y * w + x, 7),
                10.0 * noise(y * w + x, 8),
            )
        });
        let flat = |img: &LabImage| {
            let v = (8..32).flat_map(|y| (5..30).map(move |x| y * w + x));
            (
                variance(v.clone().map(|i| img.a[i])),
                variance(v.map(|i| img.b[i])),
            )
        };
        let before = flat(&noisy);
        for radius in [6, 12] {
            let mut img = noisy.clone();
            ChromaDenoise {
                strength: 1.0,
                radius,
            }
            .apply(&mut img);
            let after = flat(&img);
            assert!(
                after.0 < 0.2 * before.0 && after.1 < 0.2 * before.1,
                "radius {radius}: variance {before:?} -> {after:?}"
            );
            // The step stays at the lightness edge: the columns right next to it keep their
            // own side's colour (a plain blur would give both about the average, 7.5).
            let col = |x: usize| (0..h).map(|y| img.a[y * w + x]).sum::<f32>() / h as f32;
            assert!(
                (col(39) - 40.0).abs() < 4.0 && (col(40) + 25.0).abs() < 4.0,
                "radius {radius}: edge columns {} {}",
                col(39),
                col(40)
            );
            assert_eq!(img.l, noisy.l);
        }
    }

    #[test]
    fn denoise_strength_zero_is_a_no_op_and_half_is_between() {
        let img = scene();
        let mut same = img.clone();
        ChromaDenoise {
            strength: 0.0,
            radius: 8,
        }
        .apply(&mut same);
        assert_eq!(same, img);
        let mut full = img.clone();
        let mut half = img.clone();
        ChromaDenoise {
            strength: 1.0,
            radius: 4,
        }
        .apply(&mut full);
        ChromaDenoise {
            strength: 0.5,
            radius: 4,
        }
        .apply(&mut half);
        for i in (0..img.a.len()).step_by(37) {
            let mid = 0.5 * (img.a[i] + full.a[i]);
            assert!((half.a[i] - mid).abs() < 1e-3);
        }
    }

    #[test]
    fn saturation_zero_is_grey_and_one_is_identity() {
        let img = scene();
        let mut grey = img.clone();
        Saturation {
            saturation: 0.0,
            vibrance: 0.0,
        }
        .apply(&mut grey);
        assert!(grey.a.iter().chain(&grey.b).all(|&v| v == 0.0));
        assert_eq!(grey.l, img.l);
        let mut same = img.clone();
        Saturation {
            saturation: 1.0,
            vibrance: 0.0,
        }
        .apply(&mut same);
        assert_eq!(same, img);
        // Doubling doubles chroma (away from the range limit) and keeps the hue.
        let mut double = img.clone();
        Saturation {
            saturation: 2.0,
            vibrance: 0.0,
        }
        .apply(&mut double);
        for i in 0..img.a.len() {
            if img.a[i].abs().max(img.b[i].abs()) < 60.0 {
                assert!((double.a[i] - 2.0 * img.a[i]).abs() < 1e-4);
                assert!((double.b[i] - 2.0 * img.b[i]).abs() < 1e-4);
            }
        }
        assert!(double.a.iter().chain(&double.b).all(|v| v.abs() <= 128.0));
    }

    #[test]
    fn vibrance_lifts_muted_colours_more_and_spares_skin() {
        // Pixel 0: muted cyan; 1: vivid cyan; 2: skin (hue ~50 deg) at the muted chroma.
        let cyan = (200f32).to_radians();
        let skin = (50f32).to_radians();
        let mut img = image(3, 1, |x, _| match x {
            0 => (60.0, 10.0 * cyan.cos(), 10.0 * cyan.sin()),
            1 => (60.0, 60.0 * cyan.cos(), 60.0 * cyan.sin()),
            _ => (60.0, 10.0 * skin.cos(), 10.0 * skin.sin()),
        });
        let before: Vec<f32> = (0..3).map(|i| img.a[i].hypot(img.b[i])).collect();
        Saturation {
            saturation: 1.0,
            vibrance: 1.0,
        }
        .apply(&mut img);
        let gain: Vec<f32> = (0..3)
            .map(|i| img.a[i].hypot(img.b[i]) / before[i])
            .collect();
        assert!(gain[0] > 1.5, "muted colour boosted: {gain:?}");
        assert!(
            gain[1] > 1.0 && gain[1] < 1.25,
            "vivid colour barely: {gain:?}"
        );
        assert!(
            gain[2] < 1.0 + 0.5 * (gain[0] - 1.0),
            "skin spared: {gain:?}"
        );
        // Negative vibrance mutes the muted colours most.
        let mut img2 = image(2, 1, |x, _| {
            let c = if x == 0 { 10.0 } else { 60.0 };
            (60.0, c * cyan.cos(), c * cyan.sin())
        });
        Saturation {
            saturation: 1.0,
            vibrance: -1.0,
        }
        .apply(&mut img2);
        let g0 = img2.a[0].hypot(img2.b[0]) / 10.0;
        let g1 = img2.a[1].hypot(img2.b[1]) / 60.0;
        assert!(g0 < g1 && g1 < 1.0, "{g0} {g1}");
    }

    /// Neutral greys at many lightnesses, plus a quarter of colourful pixels (sky, foliage,
    /// brick) that must not sway the estimate, all under a cast.
    fn grey_scene(cast: (f32, f32)) -> (LabImage, Vec<bool>) {
        let (w, h) = (64usize, 64usize);
        let mut neutral = vec![true; w * h];
        let img = image(w, h, |x, y| {
            let i = y * w + x;
            let l = 25.0 + (i % 61) as f32;
            let (a, b) = match (x / 8 + y / 8) % 8 {
                0 => (-5.0, -35.0),
                1 => (-30.0, 30.0),
                _ => (1.5 * noise(i, 4), 1.5 * noise(i, 5)),
            };
            (l, a + cast.0, b + cast.1)
        });
        for y in 0..h {
            for x in 0..w {
                neutral[y * w + x] = (x / 8 + y / 8) % 8 > 1;
            }
        }
        (img, neutral)
    }

    #[test]
    fn white_balance_removes_the_unnatural_part_of_a_cast() {
        // A magenta-blue cast (a +14, b -12) lies outside the natural box (a -6..6, b -3..15):
        // it is brought back to the box's edge (a 6, b -3), not to zero.
        let (mut img, neutral) = grey_scene((14.0, -12.0));
        let (ca, cb) = estimate_cast(&img).expect("greys found");
        assert!(
            (ca - 14.0).abs() < 0.5 && (cb + 12.0).abs() < 0.5,
            "{ca} {cb}"
        );
        WhiteBalance {
            strength: 1.0,
            temperature: 0.0,
            tint: 0.0,
        }
        .apply(&mut img);
        let greys: Vec<usize> = (0..img.a.len()).filter(|&i| neutral[i]).collect();
        let mean = |p: &[f32]| greys.iter().map(|&i| p[i]).sum::<f32>() / greys.len() as f32;
        assert!(
            (mean(&img.a) - 6.0).abs() < 0.5,
            "a after: {}",
            mean(&img.a)
        );
        assert!(
            (mean(&img.b) + 3.0).abs() < 0.5,
            "b after: {}",
            mean(&img.b)
        );
        // Half strength removes half of the excess.
        let (mut half, _) = grey_scene((14.0, -12.0));
        WhiteBalance {
            strength: 0.5,
            ..WhiteBalance::default()
        }
        .apply(&mut half);
        let ma = greys.iter().map(|&i| half.a[i]).sum::<f32>() / greys.len() as f32;
        assert!((ma - 10.0).abs() < 0.5, "{ma}");
        // A warm scene (beige, wood: a 3, b 10) is the scene's colour, not a cast.
        let (warm, _) = grey_scene((3.0, 10.0));
        let mut out = warm.clone();
        WhiteBalance {
            strength: 1.0,
            temperature: 0.0,
            tint: 0.0,
        }
        .apply(&mut out);
        assert_eq!(out, warm, "a natural warm scene is left alone");
    }

    #[test]
    fn white_balance_leaves_a_neutral_scene_alone() {
        let (img, _) = grey_scene((0.0, 0.0));
        let mut out = img.clone();
        WhiteBalance {
            strength: 1.0,
            temperature: 0.0,
            tint: 0.0,
        }
        .apply(&mut out);
        let worst = (0..img.a.len())
            .map(|i| (out.a[i] - img.a[i]).abs().max((out.b[i] - img.b[i]).abs()))
            .fold(0f32, f32::max);
        assert!(worst < 0.3, "moved by {worst}");
        // A scene with no greys at all is not "corrected".
        let sky = image(32, 32, |x, _| (60.0, -5.0, -30.0 - x as f32));
        let mut out = sky.clone();
        WhiteBalance {
            strength: 1.0,
            ..WhiteBalance::default()
        }
        .apply(&mut out);
        assert_eq!(out, sky);
    }

    #[test]
    fn temperature_warms_and_tint_goes_magenta() {
        let (img, _) = grey_scene((0.0, 0.0));
        let mean = |p: &[f32]| p.iter().sum::<f32>() / p.len() as f32;
        let mut warm = img.clone();
        WhiteBalance {
            strength: 0.0,
            temperature: 50.0,
            tint: 0.0,
        }
        .apply(&mut warm);
        assert!(mean(&warm.b) > mean(&img.b) + 5.0);
        let mut cool = img.clone();
        WhiteBalance {
            strength: 0.0,
            temperature: -50.0,
            tint: 0.0,
        }
        .apply(&mut cool);
        assert!(mean(&cool.b) < mean(&img.b) - 5.0);
        let mut magenta = img.clone();
        WhiteBalance {
            strength: 0.0,
            temperature: 0.0,
            tint: 50.0,
        }
        .apply(&mut magenta);
        assert!(mean(&magenta.a) > mean(&img.a) + 5.0);
        assert_eq!(magenta.l, img.l);
    }

    #[test]
    fn nan_settings_do_nothing() {
        let img = scene();
        let mut out = img.clone();
        Saturation {
            saturation: f32::NAN,
            vibrance: f32::NAN,
        }
        .apply(&mut out);
        ChromaDenoise {
            strength: f32::NAN,
            radius: 4,
        }
        .apply(&mut out);
        WhiteBalance {
            strength: f32::NAN,
            temperature: f32::NAN,
            tint: f32::NAN,
        }
        .apply(&mut out);
        assert_eq!(out, img);
    }
}
