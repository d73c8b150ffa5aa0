//! The DDColor reference recipe, split at the model call so a pipeline can run the two halves
//! on other threads than the model:
//!
//! - [`model_input`]: resize the photo to SxS (OpenCV bilinear), take L (OpenCV Lab), set a=b=0,
//!   back to RGB: the grey picture the model sees, as a planar `[3, S, S]` tensor.
//! - [`recombine`]: L of the full-resolution photo + the model's ab brought up to the photo's
//!   size, Lab -> RGB (clipped), rounded to the photo's bit depth; alpha carried through.

use rayon::prelude::*;

use crate::lab::{GammaEncode, LabToRgb, grey_from_coords, l_from_coords, lab_coord};
use crate::photo::{Photo, Sample, Samples};
use std::cell::RefCell;

use crate::resize::{Upsample, linear_taps, nearest_indices, resize_to_model_into};

/// Builds the colour tables now, on the calling thread, instead of on first use: a pipeline
/// whose workers run at idle priority calls it first, so that no thread ever waits for a
/// starved one to finish building them.
pub fn build_tables() {
    let _ = LabToRgb::new();
    let _ = grey_from_coords(0, 0, 0);
    let _ = <u8 as Sample>::tables();
    let _ = <u16 as Sample>::tables();
}

/// Writes the model input for `photo` at size `size` into `out` (`3 * size * size` floats,
/// planes R, G, B).
pub fn model_input(photo: &Photo, size: usize, out: &mut [f32]) {
    assert_eq!(
        out.len(),
        3 * size * size,
        "model input buffer has the wrong size"
    );
    // The S x S image is rebuilt for every photo or film frame: keep it per thread.
    thread_local! {
        static SMALL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    SMALL.with_borrow_mut(|small| {
        resize_to_model_into(photo, size, small);
        grey_model_input(small, size, out);
    });
}

fn grey_model_input(small: &[f32], size: usize, out: &mut [f32]) {
    let plane = size * size;
    let (r_plane, rest) = out.split_at_mut(plane);
    let (g_plane, b_plane) = rest.split_at_mut(plane);
    for i in 0..plane {
        let px = &small[i * 3..i * 3 + 3];
        let [r, g, b] = grey_from_coords(lab_coord(px[0]), lab_coord(px[1]), lab_coord(px[2]));
        r_plane[i] = r;
        g_plane[i] = g;
        b_plane[i] = b;
    }
}

/// Combines `photo`'s own lightness with the model's chroma `ab` (planar `[2, size, size]`) and
/// returns the colour photo: RGB, or RGBA when the input had alpha, at the input's bit depth.
pub fn recombine(photo: &Photo, ab: &[f32], size: usize, upsample: Upsample) -> Photo {
    let mut out = Photo {
        width: 0,
        height: 0,
        channels: 3,
        samples: Samples::U8(Vec::new()),
    };
    recombine_into(photo, ab, size, upsample, &mut out);
    out
}

/// [`recombine`] into a photo the caller keeps: its sample buffer is reused when the size and
/// depth match, so a film element allocates no frame-sized buffer per frame.
pub fn recombine_into(photo: &Photo, ab: &[f32], size: usize, upsample: Upsample, out: &mut Photo) {
    assert_eq!(ab.len(), 2 * size * size, "model output has the wrong size");
    if upsample == Upsample::EdgeAware {
        // Needs the whole lightness plane first: the post-processing image does it.
        crate::post::LabImage::from_recipe(photo, ab, size, upsample).to_photo_into(out);
        return;
    }
    let out_c = if photo.has_alpha() { 4 } else { 3 };
    let n = photo.width * photo.height * out_c;
    match &photo.samples {
        Samples::U8(v) => {
            let mut buf = match std::mem::replace(&mut out.samples, Samples::U8(Vec::new())) {
                Samples::U8(b) => b,
                Samples::U16(_) => Vec::new(),
            };
            buf.resize(n, 0);
            recombine_impl::<u8>(v, photo, ab, size, upsample, &mut buf);
            out.samples = Samples::U8(buf);
        }
        Samples::U16(v) => {
            let mut buf = match std::mem::replace(&mut out.samples, Samples::U8(Vec::new())) {
                Samples::U16(b) => b,
                Samples::U8(_) => Vec::new(),
            };
            buf.resize(n, 0);
            recombine_impl::<u16>(v, photo, ab, size, upsample, &mut buf);
            out.samples = Samples::U16(buf);
        }
    }
    out.width = photo.width;
    out.height = photo.height;
    out.channels = out_c;
}

/// Per-row chroma source: either one model row (nearest) or two rows and a weight (bilinear).
pub(crate) enum RowSource {
    Nearest(Vec<usize>, Vec<usize>),
    Bilinear(Vec<crate::resize::Tap>, Vec<crate::resize::Tap>),
}

impl RowSource {
    /// The plain (not edge-aware) ways of scaling `size` x `size` chroma to `w` x `h`.
    pub(crate) fn new(upsample: Upsample, size: usize, w: usize, h: usize) -> Self {
        match upsample {
            Upsample::Nearest => Self::Nearest(nearest_indices(size, w), nearest_indices(size, h)),
            Upsample::Bilinear | Upsample::EdgeAware => {
                Self::Bilinear(linear_taps(size, w), linear_taps(size, h))
            }
        }
    }

    /// Row `y` of the upsampled chroma planes. `cache` holds the last model rows scaled to the
    /// photo's width: going up from S to the photo's height, about H/S output rows in a row
    /// share them (OpenCV's resize keeps them the same way).
    pub(crate) fn fill(
        &self,
        y: usize,
        (a_plane, b_plane): (&[f32], &[f32]),
        size: usize,
        cache: &mut RowCache,
        row_a: &mut [f32],
        row_b: &mut [f32],
    ) {
        match self {
            Self::Nearest(xs, ys) => {
                let base = ys[y] * size;
                for x in 0..row_a.len() {
                    row_a[x] = a_plane[base + xs[x]];
                    row_b[x] = b_plane[base + xs[x]];
                }
            }
            Self::Bilinear(xt, yt) => {
                let t = yt[y];
                let horizontal = |r: usize, ra: &mut [f32], rb: &mut [f32]| {
                    let (pa, pb) = (&a_plane[r * size..], &b_plane[r * size..]);
                    for ((oa, ob), tx) in ra.iter_mut().zip(rb.iter_mut()).zip(xt) {
                        *oa = pa[tx.i0] * (1.0 - tx.w) + pa[tx.i1] * tx.w;
                        *ob = pb[tx.i0] * (1.0 - tx.w) + pb[tx.i1] * tx.w;
                    }
                };
                let s0 = cache.slot(t.i0, t.i1, row_a.len(), horizontal);
                let s1 = cache.slot(t.i1, t.i0, row_a.len(), horizontal);
                let (a0, a1, b0, b1) = (&cache.a[s0], &cache.a[s1], &cache.b[s0], &cache.b[s1]);
                for x in 0..row_a.len() {
                    row_a[x] = a0[x] * (1.0 - t.w) + a1[x] * t.w;
                    row_b[x] = b0[x] * (1.0 - t.w) + b1[x] * t.w;
                }
            }
        }
    }
}

/// Two model rows of chroma scaled to the photo's width, keyed by model row.
#[derive(Default)]
pub(crate) struct RowCache {
    key: [Option<usize>; 2],
    a: [Vec<f32>; 2],
    b: [Vec<f32>; 2],
}

impl RowCache {
    /// The slot holding model row `r`, computed by `scale` unless already there; the slot of
    /// row `keep` is not reused.
    fn slot(
        &mut self,
        r: usize,
        keep: usize,
        width: usize,
        scale: impl Fn(usize, &mut [f32], &mut [f32]),
    ) -> usize {
        if let Some(s) = self.key.iter().position(|&k| k == Some(r)) {
            return s;
        }
        let s = usize::from(self.key[0] == Some(keep));
        self.a[s].resize(width, 0.0);
        self.b[s].resize(width, 0.0);
        scale(r, &mut self.a[s], &mut self.b[s]);
        self.key[s] = Some(r);
        s
    }
}

/// L (OpenCV Lab, 0..100) of the pixel `px` (1 to 4 channels).
#[inline(always)]
pub(crate) fn pixel_l<T: Sample>(px: &[T], tables: &crate::photo::SampleTables) -> f32 {
    if px.len() >= 3 {
        let (r, g, b) = (px[0].index(), px[1].index(), px[2].index());
        // Grey pixels (most of a black-and-white archive) need no interpolation.
        if r == g && g == b {
            tables.grey_l[r]
        } else {
            let c = &tables.coord;
            l_from_coords(c[r] as i32, c[g] as i32, c[b] as i32)
        }
    } else {
        tables.grey_l[px[0].index()]
    }
}

fn recombine_impl<T: Sample + GammaEncode>(
    data: &[T],
    photo: &Photo,
    ab: &[f32],
    size: usize,
    upsample: Upsample,
    out: &mut [T],
) {
    let (w, h, c) = (photo.width, photo.height, photo.channels);
    let out_c = if photo.has_alpha() { 4 } else { 3 };
    let tables = T::tables();
    let source = RowSource::new(upsample, size, w, h);
    let planes = ab.split_at(size * size);
    let lab2rgb = LabToRgb::new();
    let row_buffers = || {
        (
            vec![0f32; w],
            vec![0f32; w],
            vec![0f32; w],
            RowCache::default(),
        )
    };
    out.par_chunks_mut(w * out_c).enumerate().for_each_init(
        row_buffers,
        |(row_l, row_a, row_b, cache), (y, out_row)| {
            let in_row = &data[y * w * c..(y + 1) * w * c];
            source.fill(y, planes, size, cache, row_a, row_b);
            for (l, px) in row_l.iter_mut().zip(in_row.chunks_exact(c)) {
                *l = pixel_l(px, tables);
            }
            lab2rgb.row_into(row_l, row_a, row_b, out_row, out_c);
            if out_c == 4 {
                for (o, px) in out_row.chunks_exact_mut(4).zip(in_row.chunks_exact(c)) {
                    o[3] = px[c - 1];
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chroma rows scaled from cached model rows equal the bilinear formula evaluated for
    /// each pixel on its own, whatever order the rows come in and whenever the cache is new.
    #[test]
    fn cached_rows_equal_the_per_pixel_formula() {
        let size = 7;
        let (w, h) = (23, 31);
        let ab: Vec<f32> = (0..2 * size * size)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.73)
            .collect();
        let planes = ab.split_at(size * size);
        let (xt, yt) = (linear_taps(size, w), linear_taps(size, h));
        let expect = |x: usize, y: usize, p: &[f32]| {
            let (tx, ty) = (xt[x], yt[y]);
            let top = p[ty.i0 * size + tx.i0] * (1.0 - tx.w) + p[ty.i0 * size + tx.i1] * tx.w;
            let bot = p[ty.i1 * size + tx.i0] * (1.0 - tx.w) + p[ty.i1 * size + tx.i1] * tx.w;
            top * (1.0 - ty.w) + bot * ty.w
        };
        let source = RowSource::new(Upsample::Bilinear, size, w, h);
        let ascending: Vec<usize> = (0..h).collect();
        let descending: Vec<usize> = (0..h).rev().collect();
        let scattered: Vec<usize> = (0..h).map(|i| i * 13 % h).collect();
        for (order, fresh_every) in [
            (&ascending, h),
            (&ascending, 5),
            (&descending, h),
            (&scattered, 3),
        ] {
            let mut cache = RowCache::default();
            let (mut row_a, mut row_b) = (vec![0f32; w], vec![0f32; w]);
            for (n, &y) in order.iter().enumerate() {
                if n % fresh_every == 0 {
                    cache = RowCache::default();
                }
                source.fill(y, planes, size, &mut cache, &mut row_a, &mut row_b);
                for x in 0..w {
                    assert_eq!(
                        row_a[x].to_bits(),
                        expect(x, y, planes.0).to_bits(),
                        "a {x},{y}"
                    );
                    assert_eq!(
                        row_b[x].to_bits(),
                        expect(x, y, planes.1).to_bits(),
                        "b {x},{y}"
                    );
                }
            }
        }
    }
}
