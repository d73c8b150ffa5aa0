//! Resampling that matches what the reference pipeline feeds the model and how it spreads the
//! model's chroma back over the photo.
//!
//! Down to the model: OpenCV's `cv2.resize(..., INTER_LINEAR)` on float32. It does not antialias
//! when shrinking (two taps, half-pixel centres); the `image` crate's filters widen their support
//! and would feed the model a different picture. An exact 2x shrink is routed by OpenCV to its
//! area-averaging path, reproduced too.
//!
//! Back to the photo: PyTorch's legacy nearest (`F.interpolate` default, what the official code
//! does) or bilinear with half-pixel centres (smooth colour edges, the default here).

use std::str::FromStr;

use crate::picture::photo::{Photo, Sample, Samples};

/// How the model's SxS chroma is brought back to the photo's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Upsample {
    /// PyTorch's legacy nearest, as the official DDColor code: for exact reproduction.
    Nearest,
    /// Bilinear with half-pixel centres: no blocky colour edges.
    #[default]
    Bilinear,
    /// Joint bilateral upsampling guided by the photo's full-resolution lightness: chroma edges
    /// follow the photo's own edges instead of bleeding across them (see `guided`).
    EdgeAware,
}

impl Upsample {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nearest => "nearest",
            Self::Bilinear => "bilinear",
            Self::EdgeAware => "edge-aware",
        }
    }
}

impl std::fmt::Display for Upsample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Upsample {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nearest" => Ok(Self::Nearest),
            "bilinear" => Ok(Self::Bilinear),
            "edge-aware" | "edge" | "joint-bilateral" => Ok(Self::EdgeAware),
            other => Err(format!(
                "unknown upsampling '{other}' (expected nearest, bilinear or edge-aware)"
            )),
        }
    }
}

/// Source index per destination index for PyTorch's legacy nearest interpolation.
pub fn nearest_indices(input: usize, output: usize) -> Vec<usize> {
    (0..output)
        .map(|d| {
            if output == input {
                d
            } else if output == 2 * input {
                d >> 1
            } else {
                let scale = input as f32 / output as f32;
                ((d as f32 * scale).floor() as usize).min(input - 1)
            }
        })
        .collect()
}

/// Two taps and the weight of the second, for bilinear with half-pixel centres, clamped.
#[derive(Clone, Copy, Debug)]
pub struct Tap {
    pub i0: usize,
    pub i1: usize,
    pub w: f32,
}

/// Bilinear taps from `input` samples to `output` samples (OpenCV INTER_LINEAR geometry).
pub fn linear_taps(input: usize, output: usize) -> Vec<Tap> {
    let scale = 1.0 / (output as f64 / input as f64);
    (0..output)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut s = f.floor() as isize;
            let mut w = f - s as f32;
            if s < 0 {
                s = 0;
                w = 0.0;
            }
            if s as usize >= input - 1 {
                s = input as isize - 1;
                w = 0.0;
            }
            let s = s as usize;
            Tap {
                i0: s,
                i1: (s + 1).min(input - 1),
                w,
            }
        })
        .collect()
}

/// The rows the model input's row `dy` mixes, for a photo `input` rows high, and the weight of
/// the second. Unlike [`linear_taps`], OpenCV does not clamp the weight here, only the rows it
/// reads.
pub fn model_rows(input: usize, size: usize) -> Vec<Tap> {
    let scale_y = 1.0 / (size as f64 / input as f64);
    let clip = |v: isize| v.clamp(0, input as isize - 1) as usize;
    (0..size)
        .map(|dy| {
            let fy = ((dy as f64 + 0.5) * scale_y - 0.5) as f32;
            let sy = fy.floor();
            let w = fy - sy;
            let sy = sy as isize;
            Tap {
                i0: clip(sy),
                i1: clip(sy + 1),
                w,
            }
        })
        .collect()
}

/// Resizes a photo to `size` x `size` float RGB (interleaved, values in [0, 1]) exactly like
/// `cv2.resize(img.astype(float32) / 255, (size, size))` on the 3-channel image. Alpha is ignored,
/// grey is replicated, as `cv2.imread(..., IMREAD_COLOR)` gives the reference.
pub fn resize_to_model(photo: &Photo, size: usize) -> Vec<f32> {
    let mut out = Vec::new();
    resize_to_model_into(photo, size, &mut out);
    out
}

/// [`resize_to_model`] into a buffer the caller keeps, so a film element does not allocate the
/// S x S image again for every frame.
pub fn resize_to_model_into(photo: &Photo, size: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(size * size * 3, 0.0);
    match &photo.samples {
        Samples::U8(v) => resize_impl::<u8>(v, photo, size, out),
        Samples::U16(v) => resize_impl::<u16>(v, photo, size, out),
    }
}

fn rgb_row<T: Sample>(data: &[T], photo: &Photo, y: usize, unit: &[f32], out: &mut [f32]) {
    let c = photo.channels;
    let row = &data[y * photo.width * c..(y + 1) * photo.width * c];
    for x in 0..photo.width {
        let px = &row[x * c..x * c + c];
        let (r, g, b) = if c >= 3 {
            (px[0], px[1], px[2])
        } else {
            (px[0], px[0], px[0])
        };
        out[x * 3] = unit[r.index()];
        out[x * 3 + 1] = unit[g.index()];
        out[x * 3 + 2] = unit[b.index()];
    }
}

fn resize_impl<T: Sample>(data: &[T], photo: &Photo, size: usize, out: &mut [f32]) {
    let unit = &T::tables().unit;
    let (w, h) = (photo.width, photo.height);
    let mut r0 = vec![0f32; w * 3];
    let mut r1 = vec![0f32; w * 3];

    // OpenCV switches INTER_LINEAR to its area path for an exact 2x shrink on both axes.
    if w == 2 * size && h == 2 * size {
        for dy in 0..size {
            rgb_row(data, photo, 2 * dy, unit, &mut r0);
            rgb_row(data, photo, 2 * dy + 1, unit, &mut r1);
            for dx in 0..size {
                for k in 0..3 {
                    let i = dx * 6 + k;
                    let t = r0[i] + r0[i + 3] + r1[i] + r1[i + 3];
                    out[(dy * size + dx) * 3 + k] = t * 0.25;
                }
            }
        }
        return;
    }

    let xt = linear_taps(w, size);
    let yt = model_rows(h, size);
    let mut hbuf0 = vec![0f32; size * 3];
    let mut hbuf1 = vec![0f32; size * 3];
    let hpass = |src: &[f32], dst: &mut [f32]| {
        for (dx, t) in xt.iter().enumerate() {
            for k in 0..3 {
                dst[dx * 3 + k] = src[t.i0 * 3 + k] * (1.0 - t.w) + src[t.i1 * 3 + k] * t.w;
            }
        }
    };
    let mut cached: (Option<usize>, Option<usize>) = (None, None);
    for (dy, t) in yt.iter().enumerate() {
        let (y0, y1, wy) = (t.i0, t.i1, t.w);
        if cached.0 != Some(y0) {
            if cached.1 == Some(y0) {
                std::mem::swap(&mut hbuf0, &mut hbuf1);
                cached.1 = None;
            } else {
                rgb_row(data, photo, y0, unit, &mut r0);
                hpass(&r0, &mut hbuf0);
            }
            cached.0 = Some(y0);
        }
        if cached.1 != Some(y1) {
            rgb_row(data, photo, y1, unit, &mut r1);
            hpass(&r1, &mut hbuf1);
            cached.1 = Some(y1);
        }
        let (b0, b1) = (1.0 - wy, wy);
        let dst = &mut out[dy * size * 3..(dy + 1) * size * 3];
        for i in 0..size * 3 {
            dst[i] = hbuf0[i] * b0 + hbuf1[i] * b1;
        }
    }
}
