//! Edge-aware chroma upsampling: the guided filter (He, Sun and Tang 2010) with the photo's own
//! full-resolution lightness as the guide.
//!
//! The model's chroma comes at S x S (256 or 512) and a photo is often ten times larger: scaled
//! up plainly, colour bleeds across every edge (a red coat leaks onto the wall behind it). The
//! guided filter makes the chroma a local linear function of L, so chroma edges snap to the
//! lightness edges the photo really has.

use rayon::prelude::*;

/// Mean over a (2r+1) x (2r+1) window, divided by the pixels inside at the borders: the
/// post-processing box filter, the one implementation of it.
fn box_mean(src: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0f32; src.len()];
    let mut scratch = vec![0f32; src.len()];
    crate::post::detail::box_filter_into(src, w, h, r, &mut scratch, &mut out);
    out
}

/// Filters each of `channels` (w x h each, in place) with `guide` (w x h, about [0, 1]): the
/// result follows the guide's edges. `r` is the window radius in pixels, `eps` how strong an
/// edge of the guide must be to be kept (larger is smoother).
pub fn guided_filter(
    guide: &[f32],
    channels: &mut [&mut [f32]],
    w: usize,
    h: usize,
    r: usize,
    eps: f32,
) {
    let n = w * h;
    assert_eq!(guide.len(), n, "guide has the wrong size");
    let mean_i = box_mean(guide, w, h, r);
    let sq: Vec<f32> = guide.iter().map(|v| v * v).collect();
    let var_i: Vec<f32> = box_mean(&sq, w, h, r)
        .iter()
        .zip(&mean_i)
        .map(|(m2, m)| (m2 - m * m).max(0.0))
        .collect();
    for p in channels.iter_mut() {
        assert_eq!(p.len(), n, "channel has the wrong size");
        let mean_p = box_mean(p, w, h, r);
        let ip: Vec<f32> = guide.iter().zip(p.iter()).map(|(i, v)| i * v).collect();
        let corr = box_mean(&ip, w, h, r);
        let mut a = vec![0f32; n];
        let mut b = vec![0f32; n];
        for k in 0..n {
            a[k] = (corr[k] - mean_i[k] * mean_p[k]) / (var_i[k] + eps);
            b[k] = mean_p[k] - a[k] * mean_i[k];
        }
        let (ma, mb) = (box_mean(&a, w, h, r), box_mean(&b, w, h, r));
        for k in 0..n {
            p[k] = ma[k] * guide[k] + mb[k];
        }
    }
}

/// Guided upsampling (the "fast guided filter" of He and Sun 2015): chroma is fitted as a local
/// linear function of lightness at model size (`l_small`, `ab_small` planar [2, s, s]), and the
/// fitted coefficients, scaled up bilinearly, are applied to the full-resolution lightness
/// `l_full` (w x h). Where a chroma edge follows a lightness edge, it comes out as sharp as the
/// lightness edge; elsewhere the result is the bilinear one. L in [0, 1].
#[allow(clippy::too_many_arguments)]
pub fn guided_upsample(
    l_small: &[f32],
    ab_small: &[f32],
    s: usize,
    l_full: &[f32],
    w: usize,
    h: usize,
    r: usize,
    eps: f32,
    out_a: &mut [f32],
    out_b: &mut [f32],
) {
    let n = s * s;
    assert_eq!(l_small.len(), n, "small guide has the wrong size");
    assert_eq!(ab_small.len(), 2 * n, "small chroma has the wrong size");
    assert_eq!(l_full.len(), w * h, "guide has the wrong size");
    let mean_i = box_mean(l_small, s, s, r);
    let sq: Vec<f32> = l_small.iter().map(|v| v * v).collect();
    let var_i: Vec<f32> = box_mean(&sq, s, s, r)
        .iter()
        .zip(&mean_i)
        .map(|(m2, m)| (m2 - m * m).max(0.0))
        .collect();
    let xt = crate::picture::resize::linear_taps(s, w);
    let yt = crate::picture::resize::linear_taps(s, h);
    for (c, out) in [out_a, out_b].into_iter().enumerate() {
        let p = &ab_small[c * n..(c + 1) * n];
        let mean_p = box_mean(p, s, s, r);
        let ip: Vec<f32> = l_small.iter().zip(p).map(|(i, v)| i * v).collect();
        let corr = box_mean(&ip, s, s, r);
        let mut a = vec![0f32; n];
        let mut b = vec![0f32; n];
        for k in 0..n {
            a[k] = (corr[k] - mean_i[k] * mean_p[k]) / (var_i[k] + eps);
            b[k] = mean_p[k] - a[k] * mean_i[k];
        }
        let (ma, mb) = (box_mean(&a, s, s, r), box_mean(&b, s, s, r));
        out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
            let t = yt[y];
            let (r0, r1) = (t.i0 * s, t.i1 * s);
            for (x, o) in row.iter_mut().enumerate() {
                let tx = xt[x];
                let lerp = |q: &[f32]| {
                    let top = q[r0 + tx.i0] * (1.0 - tx.w) + q[r0 + tx.i1] * tx.w;
                    let bot = q[r1 + tx.i0] * (1.0 - tx.w) + q[r1 + tx.i1] * tx.w;
                    top * (1.0 - t.w) + bot * t.w
                };
                *o = lerp(&ma) * l_full[y * w + x] + lerp(&mb);
            }
        });
    }
}

/// Joint bilateral upsampling (Kopf et al. 2007) on the bilinear footprint: each
/// full-resolution pixel takes the chroma of the 2x2 model-size samples around it, weighted by
/// the bilinear weights times how close their lightness is to its own (Gaussian, `sigma_r`, L in
/// [0, 1]). In flat areas this is exactly bilinear; across a lightness edge the samples from the
/// other side count little, so colour does not bleed over the edge.
#[allow(clippy::too_many_arguments)]
pub fn joint_bilateral_upsample(
    l_small: &[f32],
    ab_small: &[f32],
    s: usize,
    l_full: &[f32],
    w: usize,
    h: usize,
    sigma_r: f32,
    out_a: &mut [f32],
    out_b: &mut [f32],
) {
    let n = s * s;
    assert_eq!(l_small.len(), n, "small guide has the wrong size");
    assert_eq!(ab_small.len(), 2 * n, "small chroma has the wrong size");
    assert_eq!(l_full.len(), w * h, "guide has the wrong size");
    let kr = -0.5 / (sigma_r * sigma_r);
    let xt = crate::picture::resize::linear_taps(s, w);
    let yt = crate::picture::resize::linear_taps(s, h);
    let (pa, pb) = ab_small.split_at(n);
    out_a
        .par_chunks_mut(w)
        .zip(out_b.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, (ra, rb))| {
            let t = yt[y];
            for x in 0..w {
                let tx = xt[x];
                let l = l_full[y * w + x];
                let (mut wa, mut wb, mut wsum) = (0f32, 0f32, 0f32);
                for (yy, wy) in [(t.i0, 1.0 - t.w), (t.i1, t.w)] {
                    for (xx, wx) in [(tx.i0, 1.0 - tx.w), (tx.i1, tx.w)] {
                        let k = yy * s + xx;
                        let dl = l_small[k] - l;
                        let wgt = wx * wy * (kr * dl * dl).exp() + 1e-6 * wx * wy;
                        wa += wgt * pa[k];
                        wb += wgt * pb[k];
                        wsum += wgt;
                    }
                }
                let inv = 1.0 / wsum.max(1e-12);
                ra[x] = wa * inv;
                rb[x] = wb * inv;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroma_snaps_to_the_guide_edge() {
        // Guide: dark left half, bright right half. Chroma: a soft ramp across the edge (what
        // bilinear upsampling gives). After filtering, the change is concentrated at the edge.
        let (w, h) = (40usize, 8usize);
        let guide: Vec<f32> = (0..w * h)
            .map(|i| if i % w < 20 { 0.2 } else { 0.8 })
            .collect();
        let ramp = |x: usize| (((x as f32 - 16.0) / 8.0).clamp(0.0, 1.0)) * 40.0 - 20.0;
        let mut a: Vec<f32> = (0..w * h).map(|i| ramp(i % w)).collect();
        guided_filter(&guide, &mut [&mut a], w, h, 4, 1e-4);
        let row = &a[4 * w..5 * w];
        let (before, after) = (ramp(20) - ramp(19), row[20] - row[19]);
        assert!(
            after > 2.5 * before,
            "step at the edge: {after} (was {before})"
        );
        // Far from the edge nothing moves.
        assert!((row[2] - ramp(2)).abs() < 0.5 && (row[37] - ramp(37)).abs() < 0.5);
    }
}
