//! Post-processing after the model: the colour photo held as full-resolution Lab planes, so
//! that each step (edge-aware upsampling, chroma denoising, saturation, white balance, skin-tone
//! protection, local contrast, grain, styles) works on lightness and chroma separately and the
//! photo is quantised only once, at the end. Shared by the runner's workflows and the element.

pub mod chroma;
pub mod detail;
pub mod grain;
pub mod guided;
pub mod ops;
pub mod skin;
pub mod style;

pub use ops::PostOp;

use rayon::prelude::*;

use crate::picture::lab::{GammaEncode, LabToRgb, l_from_coords, lab_coord, rgb_to_lab};
use crate::picture::photo::{Photo, Sample, Samples};
use crate::picture::resize::{Upsample, resize_to_model};
use crate::picture::rows::{RowCache, RowSource, pixel_l};

/// Range sigma (L in [0, 1]) of the edge-aware upsampling; chosen on the Kodak set (see the
/// `upsample` bench).
pub const EDGE_AWARE_SIGMA: f32 = 0.24;

/// A colour photo as OpenCV-convention Lab planes (L 0..100, a and b about -128..127), with the
/// input's alpha and bit depth kept for the way back.
#[derive(Clone, Debug, PartialEq)]
pub struct LabImage {
    pub width: usize,
    pub height: usize,
    pub l: Vec<f32>,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    /// One sample per pixel, at the photo's bit depth.
    pub alpha: Option<Samples>,
    /// 8 or 16: the depth the result is written at.
    pub bit_depth: u32,
}

impl LabImage {
    pub fn pixel_count(&self) -> usize {
        self.width * self.height
    }

    /// The recipe up to, not including, the Lab -> RGB step: `photo`'s own lightness with the
    /// model's chroma `ab` (planar `[2, size, size]`) brought up to the photo's size.
    pub fn from_recipe(photo: &Photo, ab: &[f32], size: usize, upsample: Upsample) -> Self {
        assert_eq!(ab.len(), 2 * size * size, "model output has the wrong size");
        let mut img = match &photo.samples {
            Samples::U8(v) => lightness::<u8>(v, photo),
            Samples::U16(v) => lightness::<u16>(v, photo),
        };
        let (w, h) = (img.width, img.height);
        match upsample {
            Upsample::EdgeAware => {
                let l_small = small_lightness(photo, size);
                let l_full: Vec<f32> = img.l.iter().map(|v| v * 0.01).collect();
                crate::post::guided::joint_bilateral_upsample(
                    &l_small,
                    ab,
                    size,
                    &l_full,
                    w,
                    h,
                    EDGE_AWARE_SIGMA,
                    &mut img.a,
                    &mut img.b,
                );
            }
            plain => {
                let source = RowSource::new(plain, size, w, h);
                let planes = ab.split_at(size * size);
                img.a
                    .par_chunks_mut(w)
                    .zip(img.b.par_chunks_mut(w))
                    .enumerate()
                    .for_each_init(RowCache::default, |cache, (y, (ra, rb))| {
                        source.fill(y, planes, size, cache, ra, rb)
                    });
            }
        }
        img
    }

    /// A photo that already has colour (or none): its Lab planes, for post-processing alone.
    pub fn from_photo(photo: &Photo) -> Self {
        let (w, c) = (photo.width, photo.channels);
        let mut img = Self::empty_like(photo);
        let tables_u8 = u8::tables();
        let tables_u16 = u16::tables();
        let unit = |s: &Samples, i: usize| -> f32 {
            match s {
                Samples::U8(v) => tables_u8.unit[v[i] as usize],
                Samples::U16(v) => tables_u16.unit[v[i] as usize],
            }
        };
        let rows = img
            .l
            .par_chunks_mut(w)
            .zip(img.a.par_chunks_mut(w))
            .zip(img.b.par_chunks_mut(w));
        rows.enumerate().for_each(|(y, ((rl, ra), rb))| {
            for x in 0..w {
                let i = (y * w + x) * c;
                let lab = if c >= 3 {
                    rgb_to_lab([
                        unit(&photo.samples, i),
                        unit(&photo.samples, i + 1),
                        unit(&photo.samples, i + 2),
                    ])
                } else {
                    let g = unit(&photo.samples, i);
                    rgb_to_lab([g, g, g])
                };
                rl[x] = lab[0];
                ra[x] = lab[1];
                rb[x] = lab[2];
            }
        });
        img
    }

    fn empty_like(photo: &Photo) -> Self {
        let n = photo.pixel_count();
        let c = photo.channels;
        let alpha = photo.has_alpha().then(|| match &photo.samples {
            Samples::U8(v) => Samples::U8(v.iter().skip(c - 1).step_by(c).copied().collect()),
            Samples::U16(v) => Samples::U16(v.iter().skip(c - 1).step_by(c).copied().collect()),
        });
        Self {
            width: photo.width,
            height: photo.height,
            l: vec![0.0; n],
            a: vec![0.0; n],
            b: vec![0.0; n],
            alpha,
            bit_depth: photo.bit_depth(),
        }
    }

    /// Lab -> RGB (clipped, never wrapped), rounded to the photo's depth; alpha carried through.
    pub fn to_photo(&self) -> Photo {
        let mut out = Photo {
            width: 0,
            height: 0,
            channels: 3,
            samples: Samples::U8(Vec::new()),
        };
        self.to_photo_into(&mut out);
        out
    }

    /// [`Self::to_photo`] into a photo the caller keeps (its buffer is reused).
    pub fn to_photo_into(&self, out: &mut Photo) {
        let out_c = if self.alpha.is_some() { 4 } else { 3 };
        let n = self.pixel_count() * out_c;
        let old = std::mem::replace(&mut out.samples, Samples::U8(Vec::new()));
        out.samples = match (self.bit_depth, old) {
            (16, Samples::U16(mut buf)) => {
                buf.resize(n, 0);
                self.write_rgb::<u16>(&mut buf, out_c);
                Samples::U16(buf)
            }
            (16, _) => {
                let mut buf = vec![0u16; n];
                self.write_rgb::<u16>(&mut buf, out_c);
                Samples::U16(buf)
            }
            (_, Samples::U8(mut buf)) => {
                buf.resize(n, 0);
                self.write_rgb::<u8>(&mut buf, out_c);
                Samples::U8(buf)
            }
            (_, _) => {
                let mut buf = vec![0u8; n];
                self.write_rgb::<u8>(&mut buf, out_c);
                Samples::U8(buf)
            }
        };
        out.width = self.width;
        out.height = self.height;
        out.channels = out_c;
    }

    fn write_rgb<T: Sample + AlphaSample + GammaEncode>(&self, out: &mut [T], out_c: usize) {
        let w = self.width;
        let lab2rgb = LabToRgb::new();
        out.par_chunks_mut(w * out_c)
            .enumerate()
            .for_each(|(y, row)| {
                let r = y * w..(y + 1) * w;
                lab2rgb.row_into(
                    &self.l[r.clone()],
                    &self.a[r.clone()],
                    &self.b[r],
                    row,
                    out_c,
                );
                if out_c == 4 {
                    for (x, o) in row.chunks_exact_mut(4).enumerate() {
                        o[3] = T::alpha_at(self.alpha.as_ref(), y * w + x);
                    }
                }
            });
    }
}

/// Alpha read back at the output's depth (the input's, so no conversion happens in practice).
trait AlphaSample: Sized {
    fn alpha_at(alpha: Option<&Samples>, i: usize) -> Self;
}

impl AlphaSample for u8 {
    fn alpha_at(alpha: Option<&Samples>, i: usize) -> Self {
        match alpha {
            Some(Samples::U8(v)) => v[i],
            Some(Samples::U16(v)) => ((v[i] as u32 * 255 + 32767) / 65535) as u8,
            None => u8::MAX,
        }
    }
}

impl AlphaSample for u16 {
    fn alpha_at(alpha: Option<&Samples>, i: usize) -> Self {
        match alpha {
            Some(Samples::U16(v)) => v[i],
            Some(Samples::U8(v)) => v[i] as u16 * 257,
            None => u16::MAX,
        }
    }
}

/// The full-resolution lightness of `photo` exactly as the recipe takes it; chroma zero.
fn lightness<T: Sample>(data: &[T], photo: &Photo) -> LabImage {
    let (w, c) = (photo.width, photo.channels);
    let mut img = LabImage::empty_like(photo);
    let tables = T::tables();
    img.l.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let in_row = &data[y * w * c..(y + 1) * w * c];
        for (x, l) in row.iter_mut().enumerate() {
            *l = pixel_l(&in_row[x * c..x * c + c], tables);
        }
    });
    img
}

/// Lightness (in [0, 1]) of the photo scaled to the model's size, as the model saw it: the guide
/// for edge-aware upsampling at model resolution.
pub fn small_lightness(photo: &Photo, size: usize) -> Vec<f32> {
    let small = resize_to_model(photo, size);
    small
        .chunks_exact(3)
        .map(|px| l_from_coords(lab_coord(px[0]), lab_coord(px[1]), lab_coord(px[2])) * 0.01)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recombine;

    fn photo(w: usize, h: usize, c: usize, seed: u32) -> Photo {
        let mut x = seed.wrapping_mul(2654435761) | 1;
        let samples = (0..w * h * c)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        Photo {
            width: w,
            height: h,
            channels: c,
            samples: Samples::U8(samples),
        }
    }

    fn chroma(s: usize) -> Vec<f32> {
        (0..2 * s * s)
            .map(|i| ((i * 7919) % 97) as f32 - 48.0)
            .collect()
    }

    #[test]
    fn plain_upsampling_equals_the_recipe() {
        for (c, up) in [
            (1, Upsample::Nearest),
            (3, Upsample::Bilinear),
            (4, Upsample::Nearest),
            (2, Upsample::Bilinear),
        ] {
            let p = photo(37, 23, c, c as u32);
            let ab = chroma(8);
            let want = recombine(&p, &ab, 8, up);
            let got = LabImage::from_recipe(&p, &ab, 8, up).to_photo();
            assert_eq!(got, want, "{c} channels, {up}");
        }
    }

    #[test]
    fn sixteen_bit_stays_sixteen_bit_with_alpha() {
        let p8 = photo(11, 7, 4, 3);
        let Samples::U8(v) = &p8.samples else {
            unreachable!()
        };
        let p = Photo {
            samples: Samples::U16(v.iter().map(|&x| x as u16 * 257 + 3).collect()),
            ..p8.clone()
        };
        let ab = chroma(4);
        let got = LabImage::from_recipe(&p, &ab, 4, Upsample::Bilinear).to_photo();
        assert_eq!(got, recombine(&p, &ab, 4, Upsample::Bilinear));
        assert_eq!(got.bit_depth(), 16);
    }

    #[test]
    fn colour_photo_round_trips_within_a_level() {
        let p = photo(19, 13, 3, 9);
        let back = LabImage::from_photo(&p).to_photo();
        let (Samples::U8(a), Samples::U8(b)) = (&p.samples, &back.samples) else {
            unreachable!()
        };
        let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max();
        assert!(worst <= Some(1), "worst difference {worst:?}");
    }

    #[test]
    fn edge_aware_keeps_chroma_off_the_other_side_of_an_edge() {
        // Left half dark, right half bright; the model's chroma is red on the dark side only but
        // at model size the boundary column is shared. Bilinear bleeds red onto the bright side
        // next to the edge; edge-aware does not.
        let (w, h, s) = (64usize, 16usize, 8usize);
        let grey: Vec<u8> = (0..w * h)
            .map(|i| if i % w < 32 { 40 } else { 220 })
            .collect();
        let p = Photo {
            width: w,
            height: h,
            channels: 1,
            samples: Samples::U8(grey),
        };
        let mut ab = vec![0f32; 2 * s * s];
        for y in 0..s {
            for x in 0..s / 2 {
                ab[y * s + x] = 60.0;
            }
        }
        let bil = LabImage::from_recipe(&p, &ab, s, Upsample::Bilinear);
        let edge = LabImage::from_recipe(&p, &ab, s, Upsample::EdgeAware);
        let at = |img: &LabImage, x: usize| img.a[8 * w + x];
        assert!(at(&bil, 33) > 10.0, "bilinear bleeds: {}", at(&bil, 33));
        assert!(at(&edge, 33) < 1.0, "edge-aware: {}", at(&edge, 33));
        assert!(at(&edge, 30) > 50.0, "keeps the colour on its own side");
        // recombine takes the same path.
        assert_eq!(recombine(&p, &ab, s, Upsample::EdgeAware), edge.to_photo());
    }
}
