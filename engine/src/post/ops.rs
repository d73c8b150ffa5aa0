//! One type for every post-processing step, so that workflow presets and styles can be written
//! as plain lists of steps and run in order on a [`LabImage`]; plus the small numeric helpers
//! the steps share (parameter sanitising, smooth ramps, range-keeping lightness updates).

use super::LabImage;
use super::chroma::{ChromaDenoise, Saturation, WhiteBalance};
use super::detail::{LocalContrast, Sharpen, Tone};
use super::grain::Grain;
use super::skin::SkinTone;

/// A post-processing step with its settings. Steps are independent: each reads and writes the
/// whole image, so the order of a list matters (denoise before boosting chroma, grain last).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PostOp {
    ChromaDenoise(ChromaDenoise),
    Saturation(Saturation),
    WhiteBalance(WhiteBalance),
    SkinTone(SkinTone),
    LocalContrast(LocalContrast),
    Sharpen(Sharpen),
    Tone(Tone),
    Grain(Grain),
}

impl PostOp {
    pub fn apply(&self, img: &mut LabImage) {
        match self {
            Self::ChromaDenoise(op) => op.apply(img),
            Self::Saturation(op) => op.apply(img),
            Self::WhiteBalance(op) => op.apply(img),
            Self::SkinTone(op) => op.apply(img),
            Self::LocalContrast(op) => op.apply(img),
            Self::Sharpen(op) => op.apply(img),
            Self::Tone(op) => op.apply(img),
            Self::Grain(op) => op.apply(img),
        }
    }

    /// Whether the step changes lightness (not only colour): the element cannot then keep the
    /// input's luma plane as it is.
    pub fn changes_lightness(&self) -> bool {
        matches!(
            self,
            Self::LocalContrast(_) | Self::Sharpen(_) | Self::Tone(_) | Self::Grain(_)
        )
    }

    /// A short stable name, for logs and provenance.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ChromaDenoise(_) => "chroma-denoise",
            Self::Saturation(_) => "saturation",
            Self::WhiteBalance(_) => "white-balance",
            Self::SkinTone(_) => "skin-tone",
            Self::LocalContrast(_) => "local-contrast",
            Self::Sharpen(_) => "sharpen",
            Self::Tone(_) => "tone",
            Self::Grain(_) => "grain",
        }
    }
}

macro_rules! from_op {
    ($($t:ident),*) => {
        $(impl From<$t> for PostOp {
            fn from(op: $t) -> Self {
                Self::$t(op)
            }
        })*
    };
}
from_op!(
    ChromaDenoise,
    Saturation,
    WhiteBalance,
    SkinTone,
    LocalContrast,
    Sharpen,
    Tone,
    Grain
);

/// A setting brought into `lo..=hi`; NaN reads as `neutral` (the value that does nothing), so a
/// bad setting can never spread NaN through the image.
pub(crate) fn param(x: f32, lo: f32, hi: f32, neutral: f32) -> f32 {
    if x.is_nan() { neutral } else { x.clamp(lo, hi) }
}

/// Whether the planes match the declared size and hold any pixels: the steps do nothing
/// otherwise instead of panicking on a malformed image.
pub(crate) fn usable(img: &LabImage) -> bool {
    let n = img.pixel_count();
    img.width > 0 && img.height > 0 && img.l.len() == n && img.a.len() == n && img.b.len() == n
}

/// 0 below `e0`, 1 above `e1`, a smooth cubic between: the steps weight pixels with this so
/// that no threshold leaves a visible seam.
pub(crate) fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// `l + delta`, with the change compressed (tanh) against the room left towards 0 or 100: small
/// changes pass as they are, large ones approach the end of the range instead of clipping flat,
/// so contrast steps never push L outside 0..100 nor leave hard clipped patches.
pub(crate) fn add_lightness(l: f32, delta: f32) -> f32 {
    let l = l.clamp(0.0, 100.0);
    if delta == 0.0 || delta.is_nan() {
        return l;
    }
    let room = if delta > 0.0 { 100.0 - l } else { l };
    if room <= 0.0 {
        return l;
    }
    let out = l + room * soft_limit(delta / room);
    out.clamp(0.0, 100.0)
}

/// tanh, with its series for small arguments: the steps call it per pixel and nearly every
/// argument is small, where the library call is the slowest part of a pass. Relative error
/// below 2e-6 at the switch.
pub(crate) fn soft_limit(x: f32) -> f32 {
    if x.abs() < 0.2 {
        let x2 = x * x;
        x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0)))
    } else {
        x.tanh()
    }
}

/// Scales chroma by `f` (hue kept), limited so neither a nor b leaves the -128..127 range the
/// Lab planes are defined on.
pub(crate) fn scale_ab(a: f32, b: f32, f: f32) -> (f32, f32) {
    let m = a.abs().max(b.abs());
    let f = if f > 1.0 && m * f > 127.0 {
        (127.0 / m).max(1.0)
    } else {
        f
    };
    (a * f, b * f)
}

/// Synthetic images for the steps' tests.
#[cfg(test)]
pub(crate) mod test_images {
    use super::LabImage;

    /// Deterministic noise in -1..1 (a hash of `i` and `seed`).
    pub fn noise(i: usize, seed: u64) -> f32 {
        let mut x = (i as u64 ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_mul(0xBF58_476D_1CE4_E5B9)
            .wrapping_add(seed);
        x ^= x >> 31;
        x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 29;
        (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// A `w` x `h` image with (L, a, b) from `f(x, y)`.
    pub fn image(w: usize, h: usize, f: impl Fn(usize, usize) -> (f32, f32, f32)) -> LabImage {
        let mut img = LabImage {
            width: w,
            height: h,
            l: vec![0.0; w * h],
            a: vec![0.0; w * h],
            b: vec![0.0; w * h],
            alpha: None,
            bit_depth: 8,
        };
        for y in 0..h {
            for x in 0..w {
                let (l, a, b) = f(x, y);
                img.l[y * w + x] = l;
                img.a[y * w + x] = a;
                img.b[y * w + x] = b;
            }
        }
        img
    }

    /// Mean chroma: how colourful an image is overall.
    pub fn mean_chroma(img: &LabImage) -> f32 {
        let s: f32 = img.a.iter().zip(&img.b).map(|(a, b)| a.hypot(*b)).sum();
        s / img.a.len() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::test_images::{image, noise};
    use crate::post::style::Style;

    /// Every step at strong settings, then the styles.
    fn strong_ops() -> Vec<PostOp> {
        let mut ops: Vec<PostOp> = vec![
            ChromaDenoise {
                strength: 1.0,
                radius: 40,
            }
            .into(),
            ChromaDenoise {
                strength: 0.7,
                radius: 2,
            }
            .into(),
            Saturation {
                saturation: 3.0,
                vibrance: 1.0,
            }
            .into(),
            Saturation {
                saturation: 0.2,
                vibrance: -1.0,
            }
            .into(),
            WhiteBalance {
                strength: 1.0,
                temperature: 100.0,
                tint: -100.0,
            }
            .into(),
            SkinTone { strength: 1.0 }.into(),
            LocalContrast {
                amount: 2.0,
                radius: 9,
            }
            .into(),
            Sharpen {
                amount: 3.0,
                radius: 5.0,
                threshold: 0.0,
            }
            .into(),
            Tone {
                contrast: 1.0,
                fade: 1.0,
            }
            .into(),
            Grain {
                amount: 1.0,
                size: 4.0,
                seed: 1,
            }
            .into(),
        ];
        for style in Style::ALL {
            ops.extend(style.ops(1.0));
        }
        ops
    }

    #[test]
    fn every_step_keeps_the_image_finite_and_in_range_at_any_size() {
        for (w, h) in [(1usize, 1usize), (1, 9), (9, 1), (3, 2), (67, 45)] {
            // Extreme content: pure black and white, chroma at the limits.
            let mut img = image(w, h, |x, y| {
                let i = y * w + x;
                let l = [0.0, 100.0, 50.0, 3.0, 97.0][i % 5] + 2.0 * noise(i, 1);
                (
                    l.clamp(0.0, 100.0),
                    127.0 * noise(i, 2),
                    -128.0 * noise(i, 3),
                )
            });
            for op in strong_ops() {
                op.apply(&mut img);
                let bad = img.a.iter().chain(&img.b).any(|v| !v.is_finite());
                assert!(!bad, "{} gave a non-finite chroma at {w}x{h}", op.name());
                assert!(
                    img.l.iter().all(|l| (0.0..=100.0).contains(l)),
                    "{} left L out of range at {w}x{h}",
                    op.name()
                );
            }
        }
        // An empty or malformed image is left alone rather than panicking.
        let mut empty = image(0, 0, |_, _| (0.0, 0.0, 0.0));
        let mut short = image(4, 4, |_, _| (50.0, 1.0, 1.0));
        short.a.pop();
        let short_before = short.clone();
        for op in strong_ops() {
            op.apply(&mut empty);
            op.apply(&mut short);
        }
        assert_eq!(short, short_before);
    }

    #[test]
    fn names_are_distinct() {
        let mut names: Vec<&str> = strong_ops()[..10].iter().map(PostOp::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 8, "{names:?}");
    }

    #[test]
    fn lightness_updates_stay_in_range_and_pass_small_changes() {
        for l in [0.0f32, 0.5, 10.0, 50.0, 99.5, 100.0] {
            for d in [-1e6f32, -50.0, -1.0, 0.0, 1.0, 50.0, 1e6, f32::NAN] {
                let v = add_lightness(l, d);
                assert!((0.0..=100.0).contains(&v), "{l} + {d} -> {v}");
            }
        }
        assert!((add_lightness(50.0, 2.0) - 52.0).abs() < 0.01);
        assert!((add_lightness(50.0, -2.0) - 48.0).abs() < 0.01);
    }

    #[test]
    fn soft_limit_is_tanh() {
        for i in -300..=300 {
            let x = i as f32 * 0.01;
            assert!((soft_limit(x) - x.tanh()).abs() < 1e-6, "{x}");
        }
    }

    #[test]
    fn params_never_pass_nan() {
        assert_eq!(param(f32::NAN, 0.0, 1.0, 0.0), 0.0);
        assert_eq!(param(5.0, 0.0, 1.0, 0.0), 1.0);
        assert_eq!(param(f32::INFINITY, -1.0, 1.0, 0.0), 1.0);
    }

    #[test]
    fn chroma_scaling_keeps_hue_and_range() {
        let (a, b) = scale_ab(100.0, -50.0, 3.0);
        assert!(a <= 127.0 && b >= -128.0);
        assert!((a / b + 2.0).abs() < 1e-5, "hue kept: {a} {b}");
    }
}
