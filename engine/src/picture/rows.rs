//! Chroma brought from model size to the photo's size one row at a time, and a pixel's
//! lightness: shared by the recipe's recombination and the post-processing image, which both
//! walk the photo row by row and must scale chroma the same way.

use crate::picture::lab::l_from_coords;
use crate::picture::photo::{Sample, SampleTables};
use crate::picture::resize::{Tap, Upsample, linear_taps, nearest_indices};

/// Per-row chroma source: either one model row (nearest) or two rows and a weight (bilinear).
pub(crate) enum RowSource {
    Nearest(Vec<usize>, Vec<usize>),
    Bilinear(Vec<Tap>, Vec<Tap>),
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
    pub(crate) fn slot(
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
pub(crate) fn pixel_l<T: Sample>(px: &[T], tables: &SampleTables) -> f32 {
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
