//! Skin-tone protection for portraits. DDColor's most noticeable failure on faces is a red,
//! purple or magenta cast (and, less often, skin pushed too orange or too vivid); viewers forgive
//! many colour errors but not on skin. This step pulls colours that are near skin, or that are
//! one of those casts, into the range real skin occupies, softly and weighted by how skin-like
//! each pixel is, so there are no seams and clearly non-skin colours are never touched.
//!
//! Where the numbers come from (hue angle h measured in the a/b plane from +a towards +b,
//! chroma C = |(a, b)|; the planes hold CIELAB values, sRGB/D65, as OpenCV computes them):
//! - Colorimetric skin surveys in CIELAB (Weatherall and Coombs 1992, who describe skin by
//!   hue angle and chroma; the Individual Typology Angle work from Chardon et al. 1991; the
//!   multi-ethnic database of Xiao et al. 2017) place skin of every ethnicity at roughly
//!   a* 5..25 and b* 8..35, which is a hue angle of about 30..70 deg at a chroma of about
//!   10..40, and lightness about 25..85. [`HUE_CORE`] and [`CHROMA_CORE`] are that region as
//!   read here (not figures copied from one study); nothing inside it is moved.
//! - The casts the model puts on faces lie at hue about -40..20 deg (magenta to red) at the
//!   same moderate chroma: they are included in the membership ([`HUE_MEMBER`]) and pulled to
//!   the red end of the core.
//! - Lips and red clothes share the red hues but are far more saturated (C 45..80): the chroma
//!   membership fades out over [`CHROMA_MEMBER`], so they are only partly affected and the
//!   most saturated not at all. Separating lips from skin properly needs a face model; this is
//!   the colour-only compromise.

use rayon::prelude::*;

use super::LabImage;
use super::ops::{param, smoothstep, usable};

/// Hue (deg) that real skin has: left alone inside, pulled towards it outside.
const HUE_CORE: (f32, f32) = (30.0, 68.0);
/// How far beyond the core a pulled hue may stay (the soft clamp's knee, deg): a hue just
/// outside barely moves, one far outside ends within this distance of the core.
const HUE_KNEE: f32 = 5.0;
/// Membership in hue (deg): (zero, full, full, zero). Full from the magenta cast to skin's
/// yellow end; zero for blues (about -90) and for yellows and greens (95 and up).
const HUE_MEMBER: (f32, f32, f32, f32) = (-60.0, -35.0, 75.0, 95.0);
/// Chroma that real skin has; soft-clamped into it with these knees (low, high).
const CHROMA_CORE: (f32, f32) = (8.0, 40.0);
const CHROMA_KNEE: (f32, f32) = (3.0, 8.0);
/// Membership in chroma: (zero, full, full, zero). Greys (C < 3) are no colour to correct;
/// past 35 a colour is likelier lips or a garment than a cast face.
const CHROMA_MEMBER: (f32, f32, f32, f32) = (3.0, 9.0, 35.0, 75.0);
/// Membership in lightness: skin is mid-tone; deep shadows and blown highlights are left be.
const L_MEMBER: (f32, f32, f32, f32) = (8.0, 20.0, 88.0, 98.0);

/// Pulls skin and skin with the model's red/purple casts into the range of real skin tones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SkinTone {
    /// 0..1: share of the pull (1 = all the way to the soft-clamped target).
    pub strength: f32,
}

impl Default for SkinTone {
    fn default() -> Self {
        Self { strength: 0.7 }
    }
}

impl SkinTone {
    pub fn apply(&self, img: &mut LabImage) {
        let s = param(self.strength, 0.0, 1.0, 0.0);
        if s == 0.0 || !usable(img) {
            return;
        }
        img.l
            .par_iter()
            .zip(img.a.par_iter_mut())
            .zip(img.b.par_iter_mut())
            .for_each(|((&l, a), b)| {
                if let Some((na, nb)) = correct(l, *a, *b, s) {
                    *a = na;
                    *b = nb;
                }
            });
    }
}

/// The corrected chroma of one pixel, or `None` where it is no skin candidate (left
/// bit-identical).
fn correct(l: f32, a: f32, b: f32, s: f32) -> Option<(f32, f32)> {
    let ml = band(l, L_MEMBER);
    if ml == 0.0 {
        return None;
    }
    let c = a.hypot(b);
    let mc = band(c, CHROMA_MEMBER);
    if mc == 0.0 {
        return None;
    }
    let h = hue_deg(a, b);
    let mh = band(h, HUE_MEMBER);
    if mh == 0.0 {
        return None;
    }
    let k = s * ml * mc * mh;
    let th = soft_clamp(h, HUE_CORE, (HUE_KNEE, HUE_KNEE));
    let tc = soft_clamp(c, CHROMA_CORE, CHROMA_KNEE);
    if th == h && tc == c {
        return None;
    }
    let nh = h + k * (th - h);
    let nc = c + k * (tc - c);
    let (sin, cos) = nh.to_radians().sin_cos();
    Some((nc * cos, nc * sin))
}

/// Hue angle in degrees, -180..180, from +a towards +b.
pub(crate) fn hue_deg(a: f32, b: f32) -> f32 {
    b.atan2(a).to_degrees()
}

/// How much a colour looks like ordinary skin (natural hues only, not the casts): what other
/// steps (vibrance) use to spare faces. 0..1.
pub(crate) fn natural_skin_weight(l: f32, c: f32, h: f32) -> f32 {
    band(h, (15.0, 25.0, 70.0, 85.0)) * band(c, (3.0, 9.0, 40.0, 70.0)) * band(l, L_MEMBER)
}

/// A smooth plateau: 0 up to `z0`, rising to 1 at `f0`, 1 up to `f1`, falling to 0 at `z1`.
fn band(x: f32, (z0, f0, f1, z1): (f32, f32, f32, f32)) -> f32 {
    smoothstep(z0, f0, x) * (1.0 - smoothstep(f1, z1, x))
}

/// `x` unchanged within `lo..=hi`; outside, moved towards the range, ending at most `knee`
/// beyond it (exponential approach, so the map is smooth and monotonic).
fn soft_clamp(x: f32, (lo, hi): (f32, f32), (knee_lo, knee_hi): (f32, f32)) -> f32 {
    if x < lo {
        lo - knee_lo * (1.0 - (-(lo - x) / knee_lo).exp())
    } else if x > hi {
        hi + knee_hi * (1.0 - (-(x - hi) / knee_hi).exp())
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::post::ops::test_images::{image, noise};

    fn patch(l: f32, c: f32, hue: f32, jitter: f32) -> LabImage {
        image(24, 24, |x, y| {
            let i = y * 24 + x;
            let h = (hue + jitter * noise(i, 1)).to_radians();
            let c = c + 0.2 * jitter * noise(i, 2);
            (l + 2.0 * noise(i, 3), c * h.cos(), c * h.sin())
        })
    }

    fn mean_hue_chroma(img: &LabImage) -> (f32, f32) {
        let n = img.a.len() as f32;
        let (sa, sb) = (img.a.iter().sum::<f32>() / n, img.b.iter().sum::<f32>() / n);
        let c = img
            .a
            .iter()
            .zip(&img.b)
            .map(|(a, b)| a.hypot(*b))
            .sum::<f32>()
            / n;
        (hue_deg(sa, sb), c)
    }

    #[test]
    fn purple_cast_face_ends_in_skin_hues() {
        let mut img = patch(65.0, 20.0, -20.0, 6.0);
        SkinTone { strength: 1.0 }.apply(&mut img);
        for i in 0..img.a.len() {
            let h = hue_deg(img.a[i], img.b[i]);
            assert!((20.0..=75.0).contains(&h), "pixel {i}: hue {h}");
        }
        let (h, c) = mean_hue_chroma(&img);
        assert!(h > 24.0 && (15.0..30.0).contains(&c), "hue {h} chroma {c}");
        // The default strength moves it most of the way.
        let mut img = patch(65.0, 20.0, -20.0, 6.0);
        SkinTone::default().apply(&mut img);
        let (h, _) = mean_hue_chroma(&img);
        assert!(h > 10.0, "default strength: hue {h}");
    }

    #[test]
    fn red_cast_and_over_vivid_skin_are_pulled_in() {
        // A red cast (hue 10 deg) ends at the red end of the core, about 25 deg.
        let mut red = patch(60.0, 25.0, 10.0, 3.0);
        SkinTone { strength: 1.0 }.apply(&mut red);
        let h = mean_hue_chroma(&red).0;
        assert!(h > 23.0, "hue {h}");
        // Over-vivid skin (C 48) comes down towards the core's 40; only partly, as the chroma
        // membership is already fading there (about 45.8 when written).
        let mut vivid = patch(60.0, 48.0, 50.0, 2.0);
        SkinTone { strength: 1.0 }.apply(&mut vivid);
        let c = mean_hue_chroma(&vivid).1;
        assert!(c < 47.0, "chroma {c}");
    }

    #[test]
    fn normal_skin_barely_moves() {
        let img = patch(62.0, 22.0, 48.0, 10.0);
        let mut out = img.clone();
        SkinTone { strength: 1.0 }.apply(&mut out);
        let worst = (0..img.a.len())
            .map(|i| (out.a[i] - img.a[i]).abs().max((out.b[i] - img.b[i]).abs()))
            .fold(0f32, f32::max);
        assert!(worst < 1e-3, "moved by {worst}");
    }

    #[test]
    fn sky_foliage_and_greys_are_untouched() {
        for (l, c, hue) in [
            (70.0, 35.0, -95.0), // blue sky
            (55.0, 30.0, -75.0), // violet-blue sky
            (45.0, 40.0, 135.0), // foliage
            (70.0, 20.0, 100.0), // yellow-green grass
            (50.0, 1.5, 40.0),   // grey with a trace of warmth
            (4.0, 20.0, 40.0),   // skin-coloured but in deep shadow
            (50.0, 80.0, 35.0),  // a vivid red-orange garment
        ] {
            let img = patch(l, c, hue, 3.0);
            let mut out = img.clone();
            SkinTone { strength: 1.0 }.apply(&mut out);
            assert_eq!(out, img, "L {l} C {c} hue {hue}");
        }
    }

    #[test]
    fn lips_keep_most_of_their_chroma() {
        // Lipstick red: a 45, b 17 (C 48, hue 21 deg).
        let img = patch(45.0, 48.0, 21.0, 3.0);
        let mut out = img.clone();
        SkinTone { strength: 1.0 }.apply(&mut out);
        let (h0, c0) = mean_hue_chroma(&img);
        let (h1, c1) = mean_hue_chroma(&out);
        assert!(c1 > 0.9 * c0, "chroma {c0} -> {c1}");
        assert!(h1 - h0 < 6.0, "hue {h0} -> {h1}");
    }

    #[test]
    fn membership_is_smooth() {
        // Sweep the hue across the whole membership edge: neighbouring hues never land far apart.
        let out_hue = |h: f32| {
            let (s, c) = h.to_radians().sin_cos();
            let (a, b) = correct(60.0, 20.0 * c, 20.0 * s, 1.0).unwrap_or((20.0 * c, 20.0 * s));
            hue_deg(a, b)
        };
        let mut prev = out_hue(-80.0);
        for i in 1..=1000 {
            let h = -80.0 + i as f32 * 0.2;
            let o = out_hue(h);
            assert!(o >= prev - 1e-3, "monotonic at {h}: {prev} -> {o}");
            assert!(o - prev < 2.0, "no jump at {h}: {prev} -> {o}");
            prev = o;
        }
    }
}
