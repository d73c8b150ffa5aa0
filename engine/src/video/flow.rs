//! Dense optical flow between two luma images: coarse-to-fine Horn–Schunck with warping.
//!
//! Written here rather than taken from a crate: no maintained Rust crate does dense flow, and
//! what the temporal filter and the warping-error metric need is modest (smooth motion of
//! whole objects at a few hundred pixels across). Each image is normalised to zero mean and
//! unit spread first, so the exposure flicker of archival film does not read as motion.

use rayon::prelude::*;

/// A luma image: row-major, values about [0, 1].
#[derive(Clone, Debug, Default)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), width * height, "plane data has the wrong size");
        Self {
            width,
            height,
            data,
        }
    }

    #[inline(always)]
    fn at(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        self.data[y * self.width + x]
    }

    /// Bilinear sample at (x, y), clamped to the edge.
    #[inline(always)]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        bilinear(&self.data, self.width, self.height, x, y)
    }

    /// Half size, 2x2 average (odd last rows and columns folded into the last cell).
    pub fn half(&self) -> Plane {
        let (w, h) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (x0, y0) = (2 * x as isize, 2 * y as isize);
                data[y * w + x] = 0.25
                    * (self.at(x0, y0)
                        + self.at(x0 + 1, y0)
                        + self.at(x0, y0 + 1)
                        + self.at(x0 + 1, y0 + 1));
            }
        }
        Plane::new(w, h, data)
    }

    /// Resized to `width` x `height`: halved (2x2 average) while at least twice as large, then
    /// bilinear for the rest.
    pub fn resized(&self, width: usize, height: usize) -> Plane {
        assert!(width > 0 && height > 0, "resize to an empty plane");
        let mut p = self.clone();
        while p.width >= 2 * width && p.height >= 2 * height {
            p = p.half();
        }
        if p.width == width && p.height == height {
            return p;
        }
        let (sx, sy) = (
            p.width as f32 / width as f32,
            p.height as f32 / height as f32,
        );
        let mut data = vec![0f32; width * height];
        for y in 0..height {
            for x in 0..width {
                data[y * width + x] =
                    p.sample((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
            }
        }
        Plane::new(width, height, data)
    }

    /// Zero mean, unit standard deviation (a flat image stays flat at zero).
    fn normalised(&self) -> Plane {
        let n = self.data.len().max(1) as f64;
        let mean = self.data.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = self
            .data
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let k = if var > 1e-12 { 1.0 / var.sqrt() } else { 0.0 };
        // Scaled to about the spread of a natural image in [0, 1], so the smoothness weight
        // keeps one meaning whatever the contrast.
        let k = (k * 0.2) as f32;
        let mean = mean as f32;
        Plane::new(
            self.width,
            self.height,
            self.data.iter().map(|&v| (v - mean) * k).collect(),
        )
    }
}

/// Bilinear sample of a row-major `w` x `h` plane at (x, y), clamped to the edge.
#[inline(always)]
pub fn bilinear(data: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = data[y0 * w + x0] * (1.0 - fx) + data[y0 * w + x1] * fx;
    let bot = data[y1 * w + x0] * (1.0 - fx) + data[y1 * w + x1] * fx;
    top * (1.0 - fy) + bot * fy
}

/// A dense displacement field: the pixel (x, y) of the first image is seen at
/// (x + u, y + v) in the second. In pixels of its own size.
#[derive(Clone, Debug, Default)]
pub struct Flow {
    pub width: usize,
    pub height: usize,
    pub u: Vec<f32>,
    pub v: Vec<f32>,
}

impl Flow {
    fn zero(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            u: vec![0.0; width * height],
            v: vec![0.0; width * height],
        }
    }

    /// Bilinearly resized to `width` x `height`, vectors scaled to the new pixel size.
    pub fn resized(&self, width: usize, height: usize) -> Flow {
        if width == self.width && height == self.height {
            return self.clone();
        }
        let (sx, sy) = (
            self.width as f32 / width as f32,
            self.height as f32 / height as f32,
        );
        let mut out = Flow::zero(width, height);
        for y in 0..height {
            let fy = (y as f32 + 0.5) * sy - 0.5;
            for x in 0..width {
                let fx = (x as f32 + 0.5) * sx - 0.5;
                let i = y * width + x;
                out.u[i] = bilinear(&self.u, self.width, self.height, fx, fy) / sx;
                out.v[i] = bilinear(&self.v, self.width, self.height, fx, fy) / sy;
            }
        }
        out
    }

    /// `src` (same size as the flow) sampled along the flow: the second image's values brought
    /// back onto the first image's pixels.
    pub fn warp(&self, src: &[f32], out: &mut Vec<f32>) {
        let (w, h) = (self.width, self.height);
        assert_eq!(src.len(), w * h, "warp source has the wrong size");
        out.resize(w * h, 0.0);
        out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            for (x, o) in row.iter_mut().enumerate() {
                let i = y * w + x;
                *o = bilinear(src, w, h, x as f32 + self.u[i], y as f32 + self.v[i]);
            }
        });
    }
}

/// How hard the flow is worked.
#[derive(Clone, Copy, Debug)]
pub struct FlowParams {
    /// Re-linearisations per pyramid level.
    pub warps: usize,
    /// Horn–Schunck (Jacobi) iterations per linearisation.
    pub iterations: usize,
    /// Smoothness weight (alpha squared, on normalised images).
    pub smoothness: f32,
    /// Coarsest level's shorter side, in pixels.
    pub coarsest: usize,
}

impl Default for FlowParams {
    fn default() -> Self {
        Self {
            warps: 2,
            iterations: 30,
            smoothness: 0.002,
            coarsest: 12,
        }
    }
}

/// The flow from `a` to `b` (same size): `a(x) ≈ b(x + flow(x))`.
pub fn estimate(a: &Plane, b: &Plane, params: &FlowParams) -> Flow {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "flow between planes of different sizes"
    );
    let mut pa = vec![a.normalised()];
    let mut pb = vec![b.normalised()];
    while pa
        .last()
        .is_some_and(|p| p.width.min(p.height) >= 2 * params.coarsest)
    {
        let (na, nb) = (pa[pa.len() - 1].half(), pb[pb.len() - 1].half());
        pa.push(na);
        pb.push(nb);
    }
    let mut flow: Option<Flow> = None;
    for (la, lb) in pa.iter().zip(&pb).rev() {
        let mut f = match flow {
            None => Flow::zero(la.width, la.height),
            Some(f) => f.resized(la.width, la.height),
        };
        for _ in 0..params.warps {
            refine(la, lb, &mut f, params);
        }
        flow = Some(f);
    }
    flow.unwrap_or_else(|| Flow::zero(a.width, a.height))
}

/// One linearisation of the brightness constancy around `f`, solved by Jacobi iterations.
fn refine(a: &Plane, b: &Plane, f: &mut Flow, params: &FlowParams) {
    let (w, h) = (a.width, a.height);
    let n = w * h;
    let mut bw = Vec::with_capacity(n);
    f.warp(&b.data, &mut bw);
    let bw = Plane::new(w, h, bw);
    let mut ix = vec![0f32; n];
    let mut iy = vec![0f32; n];
    let mut it = vec![0f32; n];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            // Gradients of the average of both images: symmetric, steadier than either alone.
            let gx = 0.25 * (a.at(x + 1, y) - a.at(x - 1, y) + bw.at(x + 1, y) - bw.at(x - 1, y));
            let gy = 0.25 * (a.at(x, y + 1) - a.at(x, y - 1) + bw.at(x, y + 1) - bw.at(x, y - 1));
            ix[i] = gx;
            iy[i] = gy;
            it[i] = bw.data[i] - a.data[i];
        }
    }
    let (u0, v0) = (f.u.clone(), f.v.clone());
    let mut un = f.u.clone();
    let mut vn = f.v.clone();
    let avg = |p: &[f32], x: usize, y: usize| {
        let xl = x.saturating_sub(1);
        let xr = (x + 1).min(w - 1);
        let yu = y.saturating_sub(1);
        let yd = (y + 1).min(h - 1);
        (p[y * w + xl] + p[y * w + xr] + p[yu * w + x] + p[yd * w + x]) * (1.0 / 6.0)
            + (p[yu * w + xl] + p[yu * w + xr] + p[yd * w + xl] + p[yd * w + xr]) * (1.0 / 12.0)
    };
    for _ in 0..params.iterations {
        un.par_chunks_mut(w)
            .zip(vn.par_chunks_mut(w))
            .enumerate()
            .for_each(|(y, (ur, vr))| {
                for x in 0..w {
                    let i = y * w + x;
                    let ub = avg(&f.u, x, y);
                    let vb = avg(&f.v, x, y);
                    let (gx, gy) = (ix[i], iy[i]);
                    let r = (gx * (ub - u0[i]) + gy * (vb - v0[i]) + it[i])
                        / (params.smoothness + gx * gx + gy * gy);
                    ur[x] = ub - gx * r;
                    vr[x] = vb - gy * r;
                }
            });
        std::mem::swap(&mut f.u, &mut un);
        std::mem::swap(&mut f.v, &mut vn);
    }
}

/// Thresholds of the occlusion test: a pixel is occluded when
/// `|F + B|^2 > mismatch_rel * (|F|^2 + |B|^2) + mismatch_abs` (forward-backward mismatch) or,
/// with `boundary` set to `(rel, abs)`, `|grad B|^2 > rel * |B|^2 + abs` (motion boundary).
#[derive(Clone, Copy, Debug)]
pub struct OcclusionTest {
    pub mismatch_rel: f32,
    pub mismatch_abs: f32,
    pub boundary: Option<(f32, f32)>,
}

impl OcclusionTest {
    /// Lai et al. 2018, as DESIGN.md §7 states it: the warping-error metric's mask.
    pub const METRIC: Self = Self {
        mismatch_rel: 0.01,
        mismatch_abs: 0.5,
        boundary: Some((0.01, 0.002)),
    };
}

/// Pixels of the first image with no reliable match in the second, by the metric's test (see
/// [`OcclusionTest::METRIC`]). `forward` goes from the first image to the second, `backward`
/// the other way; true where occluded.
pub fn occlusion(forward: &Flow, backward: &Flow) -> Vec<bool> {
    occlusion_with(forward, backward, &OcclusionTest::METRIC)
}

/// [`occlusion`] with other thresholds.
pub fn occlusion_with(forward: &Flow, backward: &Flow, test: &OcclusionTest) -> Vec<bool> {
    let (w, h) = (forward.width, forward.height);
    let mut occluded = vec![false; w * h];
    occluded.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, o) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let (fu, fv) = (forward.u[i], forward.v[i]);
            let (tx, ty) = (x as f32 + fu, y as f32 + fv);
            let bu = bilinear(&backward.u, w, h, tx, ty);
            let bv = bilinear(&backward.v, w, h, tx, ty);
            let mismatch = (fu + bu).powi(2) + (fv + bv).powi(2)
                > test.mismatch_rel * (fu * fu + fv * fv + bu * bu + bv * bv) + test.mismatch_abs;
            let Some((rel, abs)) = test.boundary else {
                *o = mismatch;
                continue;
            };
            // Motion boundary: the gradient of the backward flow where this pixel lands.
            let g = |p: &[f32]| {
                let dx = 0.5 * (bilinear(p, w, h, tx + 1.0, ty) - bilinear(p, w, h, tx - 1.0, ty));
                let dy = 0.5 * (bilinear(p, w, h, tx, ty + 1.0) - bilinear(p, w, h, tx, ty - 1.0));
                dx * dx + dy * dy
            };
            let boundary = g(&backward.u) + g(&backward.v) > rel * (bu * bu + bv * bv) + abs;
            *o = mismatch || boundary;
        }
    });
    occluded
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth texture with detail at several scales.
    fn texture(w: usize, h: usize, dx: f32, dy: f32) -> Plane {
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f32 - dx, y as f32 - dy);
                data[y * w + x] = 0.5
                    + 0.2 * (fx * 0.11).sin() * (fy * 0.07).cos()
                    + 0.1 * (fx * 0.31 + fy * 0.23).sin()
                    + 0.05 * ((fx * 0.05).cos() + (fy * 0.045).sin());
            }
        }
        Plane::new(w, h, data)
    }

    fn mean_flow(f: &Flow, margin: usize) -> (f32, f32) {
        let (mut su, mut sv, mut n) = (0f32, 0f32, 0f32);
        for y in margin..f.height - margin {
            for x in margin..f.width - margin {
                su += f.u[y * f.width + x];
                sv += f.v[y * f.width + x];
                n += 1.0;
            }
        }
        (su / n, sv / n)
    }

    #[test]
    fn finds_a_known_shift() {
        // b is a moved right by 3.5 and down by 1.25: a(x) = b(x + (3.5, 1.25)).
        let a = texture(128, 96, 0.0, 0.0);
        let b = texture(128, 96, 3.5, 1.25);
        let f = estimate(&a, &b, &FlowParams::default());
        let (u, v) = mean_flow(&f, 16);
        assert!((u - 3.5).abs() < 0.25 && (v - 1.25).abs() < 0.25, "{u} {v}");
    }

    #[test]
    fn ignores_a_change_of_exposure() {
        let a = texture(96, 96, 0.0, 0.0);
        let mut b = texture(96, 96, 0.0, 0.0);
        for v in &mut b.data {
            *v = *v * 0.8 + 0.05;
        }
        let f = estimate(&a, &b, &FlowParams::default());
        let max = f.u.iter().chain(&f.v).fold(0f32, |m, &v| m.max(v.abs()));
        assert!(max < 0.05, "exposure read as motion: {max}");
    }

    #[test]
    fn warp_brings_the_second_image_back() {
        let a = texture(128, 96, 0.0, 0.0);
        let b = texture(128, 96, 4.0, -2.0);
        let f = estimate(&a, &b, &FlowParams::default());
        let mut back = Vec::new();
        f.warp(&b.data, &mut back);
        let (mut err, mut n) = (0f32, 0f32);
        for y in 16..80 {
            for x in 16..112 {
                err += (back[y * 128 + x] - a.data[y * 128 + x]).abs();
                n += 1.0;
            }
        }
        assert!(err / n < 0.01, "mean warp error {}", err / n);
    }

    #[test]
    fn consistent_flows_have_no_occlusion() {
        let a = texture(96, 96, 0.0, 0.0);
        let b = texture(96, 96, 2.0, 1.0);
        let p = FlowParams::default();
        let (fw, bw) = (estimate(&a, &b, &p), estimate(&b, &a, &p));
        let occ = occlusion(&fw, &bw);
        // Away from the borders, where content leaves the frame.
        let inner = (16..80)
            .flat_map(|y| (16..80).map(move |x| (x, y)))
            .filter(|&(x, y)| occ[y * 96 + x])
            .count();
        assert!(inner < 20, "{inner} occluded pixels in a pure shift");
    }

    #[test]
    fn a_moving_square_occludes_its_edges() {
        // A bright square moves 6 px right over a still background: the background it uncovers
        // (left edge in the first image's terms: covered in the second) has no match.
        let bg = texture(96, 96, 0.0, 0.0);
        let square = |dx: usize| {
            let mut p = bg.clone();
            for y in 30..60 {
                for x in 30 + dx..60 + dx {
                    let (u, v) = ((x - dx) as f32, y as f32);
                    p.data[y * 96 + x] =
                        0.8 + 0.1 * (u * 0.13 + v * 0.21).sin() + 0.05 * (u * 0.3).cos();
                }
            }
            p
        };
        let (a, b) = (square(0), square(6));
        let p = FlowParams::default();
        let (fw, bw) = (estimate(&a, &b, &p), estimate(&b, &a, &p));
        let occ = occlusion(&fw, &bw);
        let count = |x0: usize, x1: usize| {
            (38..52)
                .flat_map(|y| (x0..x1).map(move |x| (x, y)))
                .filter(|&(x, y)| occ[y * 96 + x])
                .count()
        };
        // Background just right of the square gets covered; deep inside the square nothing.
        assert!(count(60, 66) > 40, "covered strip: {}", count(60, 66));
        assert!(count(40, 50) < 10, "inside the square: {}", count(40, 50));
    }
}
