//! The DDColor reference recipe, split at the model call so a pipeline can run the two halves
//! on other threads than the model:
//!
//! - [`model_input`]: resize the photo to SxS (OpenCV bilinear), take L (OpenCV Lab), set a=b=0,
//!   back to RGB: the grey picture the model sees, as a planar `[3, S, S]` tensor.
//! - [`recombine`]: L of the full-resolution photo + the model's ab brought up to the photo's
//!   size, Lab -> RGB (clipped), rounded to the photo's bit depth; alpha carried through.

use rayon::prelude::*;

use crate::lab::{LabToRgb, l_from_coords, lab_coord};
use crate::photo::{Photo, Sample, Samples};
use std::cell::RefCell;

use crate::resize::{Upsample, linear_taps, nearest_indices, resize_to_model_into};

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
    let lab2rgb = LabToRgb::new();
    let plane = size * size;
    let (r_plane, rest) = out.split_at_mut(plane);
    let (g_plane, b_plane) = rest.split_at_mut(plane);
    for i in 0..plane {
        let px = &small[i * 3..i * 3 + 3];
        let l = l_from_coords(lab_coord(px[0]), lab_coord(px[1]), lab_coord(px[2]));
        let [r, g, b] = lab2rgb.convert(l, 0.0, 0.0);
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

    /// Row `y` of the upsampled chroma planes.
    pub(crate) fn fill(
        &self,
        y: usize,
        (a_plane, b_plane): (&[f32], &[f32]),
        size: usize,
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
                let (r0, r1) = (t.i0 * size, t.i1 * size);
                for x in 0..row_a.len() {
                    let tx = xt[x];
                    let lerp = |p: &[f32]| {
                        let top = p[r0 + tx.i0] * (1.0 - tx.w) + p[r0 + tx.i1] * tx.w;
                        let bot = p[r1 + tx.i0] * (1.0 - tx.w) + p[r1 + tx.i1] * tx.w;
                        top * (1.0 - t.w) + bot * t.w
                    };
                    row_a[x] = lerp(a_plane);
                    row_b[x] = lerp(b_plane);
                }
            }
        }
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

fn recombine_impl<T: Sample>(
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
    let row_buffers = || (vec![0f32; w], vec![0f32; w]);
    out.par_chunks_mut(w * out_c).enumerate().for_each_init(
        row_buffers,
        |(row_a, row_b), (y, out_row)| {
            let in_row = &data[y * w * c..(y + 1) * w * c];
            source.fill(y, planes, size, row_a, row_b);
            for x in 0..w {
                let px = &in_row[x * c..x * c + c];
                let l = pixel_l(px, tables);
                let rgb = lab2rgb.convert(l, row_a[x], row_b[x]);
                let o = &mut out_row[x * out_c..x * out_c + out_c];
                o[0] = T::from_unit(rgb[0]);
                o[1] = T::from_unit(rgb[1]);
                o[2] = T::from_unit(rgb[2]);
                if out_c == 4 {
                    o[3] = px[c - 1];
                }
            }
        },
    );
}
