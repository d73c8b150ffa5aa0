//! The DDColor reference recipe, split at the model call so a pipeline can run the two halves
//! on other threads than the model:
//!
//! - [`model_input`]: resize the photo to SxS (OpenCV bilinear), take L (OpenCV Lab), set a=b=0,
//!   back to RGB: the grey picture the model sees, as a planar `[3, S, S]` tensor.
//! - [`recombine`]: L of the full-resolution photo + the model's ab brought up to the photo's
//!   size, Lab -> RGB (clipped), rounded to the photo's bit depth; alpha carried through.

use rayon::prelude::*;

use crate::picture::lab::{GammaEncode, LabToRgb, grey_from_coords, lab_coord};
use crate::picture::photo::{Photo, Sample, Samples};
use std::cell::RefCell;

use crate::picture::resize::{Upsample, resize_to_model_into};
use crate::picture::rows::{RowCache, RowSource, pixel_l};

pub mod plan;

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
    use crate::picture::resize::linear_taps;

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
