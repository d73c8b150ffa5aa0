//! Named looks built from the post-processing steps: a style is only a recipe of [`PostOp`]s
//! whose settings scale with one strength, so it can be mixed with a workflow's own steps and
//! shows up step by step in provenance.

use std::fmt;
use std::str::FromStr;

use super::PostOp;
use super::chroma::{ChromaDenoise, Saturation, WhiteBalance};
use super::detail::{LocalContrast, Tone};
use super::grain::Grain;

/// Grain pattern of the vintage look: fixed, so a style gives the same image every run.
const VINTAGE_GRAIN_SEED: u64 = 0x7669_6e74_6167_6531;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Style {
    /// An old print: muted, warm, milky blacks and softer contrast, fine grain.
    Vintage,
    /// A contemporary photo: clean chroma, vivid (muted colours lifted most), local contrast.
    Modern,
}

impl Style {
    pub const ALL: [Style; 2] = [Style::Vintage, Style::Modern];

    pub fn name(self) -> &'static str {
        match self {
            Self::Vintage => "vintage",
            Self::Modern => "modern",
        }
    }

    /// The steps of this look at `strength` (0..1, how far from neutral every setting goes):
    /// 0 gives no steps at all.
    pub fn ops(self, strength: f32) -> Vec<PostOp> {
        let s = if strength.is_nan() {
            0.0
        } else {
            strength.clamp(0.0, 1.0)
        };
        if s == 0.0 {
            return Vec::new();
        }
        match self {
            Self::Vintage => vec![
                Saturation {
                    saturation: 1.0 - 0.3 * s,
                    vibrance: 0.0,
                }
                .into(),
                WhiteBalance {
                    strength: 0.0,
                    temperature: 30.0 * s,
                    tint: 4.0 * s,
                }
                .into(),
                Tone {
                    contrast: -0.25 * s,
                    fade: 0.5 * s,
                }
                .into(),
                Grain {
                    amount: 0.25 * s,
                    size: 1.5,
                    seed: VINTAGE_GRAIN_SEED,
                }
                .into(),
            ],
            Self::Modern => vec![
                // Clean first, so that the boost below does not amplify chroma noise.
                ChromaDenoise {
                    strength: 0.6 * s,
                    radius: 6,
                }
                .into(),
                Saturation {
                    saturation: 1.0 + 0.1 * s,
                    vibrance: 0.35 * s,
                }
                .into(),
                LocalContrast {
                    amount: 0.4 * s,
                    radius: 24,
                }
                .into(),
            ],
        }
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Style {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown style '{s}' (expected vintage or modern)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::LabImage;
    use crate::post::ops::test_images::{image, mean_chroma, noise};

    /// Patches of many hues (mean b about 0), with some chroma noise and texture.
    fn scene() -> LabImage {
        image(96, 64, |x, y| {
            let i = y * 96 + x;
            let patch = (x / 16 + 6 * (y / 16)) as f32;
            let hue = patch * 1.1;
            let c = 8.0 + (patch * 11.0) % 40.0;
            (
                35.0 + (patch * 7.0) % 40.0 + 4.0 * noise(i, 1),
                c * hue.cos() + 3.0 * noise(i, 2),
                c * hue.sin() + 3.0 * noise(i, 3),
            )
        })
    }

    fn run(style: Style, strength: f32) -> LabImage {
        let mut img = scene();
        for op in style.ops(strength) {
            op.apply(&mut img);
        }
        img
    }

    fn mean(v: &[f32]) -> f32 {
        v.iter().sum::<f32>() / v.len() as f32
    }

    #[test]
    fn vintage_is_muted_and_warm() {
        let (img, out) = (scene(), run(Style::Vintage, 1.0));
        assert!(mean_chroma(&out) < 0.85 * mean_chroma(&img));
        assert!(
            mean(&out.b) > mean(&img.b) + 2.0,
            "b {} -> {}",
            mean(&img.b),
            mean(&out.b)
        );
        // Faded blacks: the darkest pixel is lifted.
        let min = |v: &[f32]| v.iter().cloned().fold(f32::MAX, f32::min);
        assert!(min(&out.l) > min(&img.l));
        // Half strength sits between.
        let half = run(Style::Vintage, 0.5);
        assert!(mean_chroma(&half) < mean_chroma(&img) && mean_chroma(&half) > mean_chroma(&out));
    }

    #[test]
    fn modern_is_more_colourful() {
        let (img, out) = (scene(), run(Style::Modern, 1.0));
        assert!(mean_chroma(&out) > 1.05 * mean_chroma(&img));
        assert!(out.l.iter().all(|l| (0.0..=100.0).contains(l)));
    }

    #[test]
    fn strength_zero_is_a_no_op() {
        for style in Style::ALL {
            assert!(style.ops(0.0).is_empty() && style.ops(f32::NAN).is_empty());
            assert_eq!(run(style, 0.0), scene());
            assert!(!style.ops(0.3).is_empty());
        }
    }

    #[test]
    fn names_round_trip() {
        for style in Style::ALL {
            assert_eq!(style.name().parse::<Style>(), Ok(style));
            assert_eq!(style.to_string(), style.name());
        }
        assert_eq!("Vintage".parse::<Style>(), Ok(Style::Vintage));
        assert!("sepia".parse::<Style>().is_err());
    }
}
