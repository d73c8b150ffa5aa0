//! CIE Lab conversions that reproduce OpenCV's float `cvtColor` (sRGB, D65).
//!
//! The official DDColor inference code runs `cv2.cvtColor(..., COLOR_BGR2Lab)` on float images.
//! OpenCV does not evaluate the textbook formula there: it interpolates a 33x33x33 table
//! trilinearly in 14-bit fixed point, so L and a/b come out quantised and differ from the formula
//! by up to 0.2 (L) and 0.5 (a/b). Reproducing the official output bit-for-bit therefore needs the
//! same table, built the same way (float32 arithmetic in the same order), and the same fixed-point
//! interpolation. Lab -> RGB is the formula with a cubic-spline sRGB gamma, also reproduced here.
//!
//! Channel order follows OpenCV's internals: the first table axis is blue, the last is red.

use std::sync::OnceLock;

const LAB_LUT_SHIFT: i32 = 5;
const LAB_LUT_DIM: usize = (1 << LAB_LUT_SHIFT) + 1;
const LAB_BASE_SHIFT: i32 = 14;
/// Fixed-point scale of the table inputs and outputs (OpenCV's `LAB_BASE`).
pub const LAB_BASE: i32 = 1 << LAB_BASE_SHIFT;
const TRILINEAR_SHIFT: i32 = 8 - LAB_LUT_SHIFT + 1;
const TRILINEAR_BASE: usize = 1 << TRILINEAR_SHIFT;
const GAMMA_TAB_SIZE: usize = 1024;

/// sRGB -> XYZ (D65), OpenCV's exact doubles (`sRGB2XYZ_D65`), row-major X, Y, Z by R, G, B.
const SRGB2XYZ: [u64; 9] = [
    0x3fda65a14488c60d,
    0x3fd6e297396d0918,
    0x3fc71819d2391d58,
    0x3fcb38cda6e75ff6,
    0x3fe6e297396d0918,
    0x3fb279aae6c8f755,
    0x3f93cc4ac6cdaf4b,
    0x3fbe836eb4e98138,
    0x3fee68427418d691,
];
/// XYZ -> sRGB (D65), OpenCV's exact doubles (`XYZ2sRGB_D65`), row-major R, G, B by X, Y, Z.
const XYZ2SRGB: [u64; 9] = [
    0x4009ec804102ff8f,
    0xbff8982a9930be0e,
    0xbfdfe7ff583a53b9,
    0xbfef042528ae74f3,
    0x3ffe040f23897204,
    0x3fa546d3f9e7b80b,
    0x3fac7de5082cf52c,
    0xbfca1e14bdfd2631,
    0x3ff0eabef06b3786,
];
/// D65 white point (0.950456, 1, 1.088754) as OpenCV stores it.
const D65: [u64; 3] = [0x3fee6a22b3892ee8, 0x3ff0000000000000, 0x3ff16b8950763a19];

struct Tables {
    /// 33^3 cells x 8 corners x 3 channels, laid out like OpenCV's `RGB2LabLUT_s16`.
    lut: Vec<i16>,
    /// Trilinear weights for each 4-bit fractional position, OpenCV's `trilinearLUT`.
    weights: Vec<i16>,
    /// Cubic spline of the inverse sRGB gamma over [0, 1] in 1024 steps (`sRGBInvGammaTab`).
    inv_gamma: Vec<f32>,
    /// XYZ -> RGB matrix with the white point folded in, row-major.
    xyz2rgb: [f32; 9],
    /// 8-bit gamma encoding by table, see [`U8Encoder`].
    u8_encoder: U8Encoder,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build_tables)
}

fn d(bits: u64) -> f64 {
    f64::from_bits(bits)
}

/// OpenCV's `applyGamma`: sRGB companding evaluated in double, rounded to float.
fn apply_gamma(x: f32) -> f32 {
    let xd = x as f64;
    let v = if xd <= 809.0 / 20000.0 {
        xd / (323.0 / 25.0)
    } else {
        ((xd + 11.0 / 200.0) / (1.0 + 11.0 / 200.0)).powf(12.0 / 5.0)
    };
    v as f32
}

/// OpenCV's `applyInvGamma`.
fn apply_inv_gamma(x: f32) -> f32 {
    let xd = x as f64;
    let v = if xd <= 7827.0 / 2500000.0 {
        xd * (323.0 / 25.0)
    } else {
        xd.powf(1.0 / (12.0 / 5.0)) * (1.0 + 11.0 / 200.0) - 11.0 / 200.0
    };
    v as f32
}

/// OpenCV's `splineBuild`: natural cubic spline coefficients, 4 per interval, float32 maths.
fn spline_build(f: &[f32]) -> Vec<f32> {
    let n = f.len() - 1;
    let mut tab = vec![0f32; n * 4];
    for i in 1..n {
        let t = (f[i + 1] - f[i] * 2.0 + f[i - 1]) * 3.0;
        let l = 1.0 / (4.0 - tab[(i - 1) * 4]);
        tab[i * 4] = l;
        tab[i * 4 + 1] = (t - tab[(i - 1) * 4 + 1]) * l;
    }
    let mut cn = 0f32;
    for j in 0..n {
        let i = n - j - 1;
        let c = tab[i * 4 + 1] - tab[i * 4] * cn;
        let b = f[i + 1] - f[i] - (cn + c * 2.0) / 3.0;
        let dd = (cn - c) / 3.0;
        tab[i * 4] = f[i];
        tab[i * 4 + 1] = b;
        tab[i * 4 + 2] = c;
        tab[i * 4 + 3] = dd;
        cn = c;
    }
    tab
}

#[inline(always)]
fn spline_interpolate(x: f32, tab: &[f32]) -> f32 {
    let ix = (x as i32).clamp(0, GAMMA_TAB_SIZE as i32 - 1) as usize;
    let x = x - ix as f32;
    let t = &tab[ix * 4..ix * 4 + 4];
    ((t[3] * x + t[2]) * x + t[1]) * x + t[0]
}

/// OpenCV's softfloat `cbrt` (Ken Turkowski's rational approximation in double, mantissa
/// truncated to float). It is not correctly rounded; the table values depend on its exact bits.
fn opencv_cbrt(x: f32) -> f32 {
    let bits = x.to_bits();
    if bits & 0x7fff_ffff == 0 || !x.is_finite() {
        return x;
    }
    let sign = bits >> 31;
    let mut ex = ((bits >> 23) & 0xff) as i32 - 127;
    let mut shx = ex % 3;
    if shx >= 0 {
        shx -= 3;
    }
    ex = (ex - shx) / 3 - 1;
    let fr = f64::from_bits((((shx + 1023) as u64) << 52) | (((bits & 0x7f_ffff) as u64) << 29));
    let a = |b: u64| f64::from_bits(b);
    let num = (((a(0x4046a09e6653ba70) * fr + a(0x406808f46c6116e0)) * fr + a(0x405dca97439cae14))
        * fr
        + a(0x402add70d2827500))
        * fr
        + a(0x3fc4f15f83f55d2d);
    let den = (((a(0x402d9e20660edb21) * fr + a(0x4062ff15c0285815)) * fr + a(0x406510d06a8112ce))
        * fr
        + a(0x4040fecbc9e2c375))
        * fr
        + 1.0;
    let r = num / den;
    let frac = ((r.to_bits() & ((1u64 << 52) - 1)) >> 29) as u32;
    f32::from_bits((sign << 31) | (((ex + 127) as u32) << 23) | frac)
}

/// Round half to even, as `cvRound` does with the default FPU rounding mode.
#[inline(always)]
fn cv_round(v: f32) -> i32 {
    round_ties_even_small(v) as i32
}

/// `v.round_ties_even()` for |v| < 2^22 without a libm call: without SSE4.1 (the x86-64
/// baseline) `round_ties_even` is a call to `rintf`, which cost 4 % of a batch. Adding and
/// subtracting 1.5 * 2^23 leaves the value rounded to an integer by the FPU's default
/// round-half-to-even mode. Beyond 2^22 it is not exact; the callers' saturating casts to
/// u16 or i32 give the same result there anyway (NaN and infinities included).
#[inline(always)]
fn round_ties_even_small(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

fn build_tables() -> Tables {
    // RGB -> Lab table at the 33^3 grid, in OpenCV's float32 operation order.
    let m: Vec<f64> = SRGB2XYZ.iter().map(|&b| d(b)).collect();
    let white = [d(D65[0]), d(D65[1]), d(D65[2])];
    let scale_white = [1.0 / white[0], 1.0, 1.0 / white[2]];
    let mut s = [0f32; 9];
    for i in 0..3 {
        // Blue first: OpenCV builds the table for BGR input.
        s[i * 3] = (m[i * 3 + 2] * scale_white[i]) as f32;
        s[i * 3 + 1] = (m[i * 3 + 1] * scale_white[i]) as f32;
        s[i * 3 + 2] = (m[i * 3] * scale_white[i]) as f32;
    }
    let lthresh = 216f32 / 24389f32;
    let lscale = 841f32 / 108f32;
    let lbias = 16f32 / 116f32;
    let f9033 = (29 * 29 * 29) as f32 / 27f32;
    let lbase = LAB_BASE as f32;
    let f = |v: f32| {
        if v > lthresh {
            opencv_cbrt(v)
        } else {
            v.mul_add(lscale, lbias)
        }
    };

    let dim = LAB_LUT_DIM;
    let mut prev = vec![0i16; dim * dim * dim * 3];
    for p in 0..dim {
        for q in 0..dim {
            for r in 0..dim {
                let idx = p * 3 + q * dim * 3 + r * dim * dim * 3;
                let b = apply_gamma(p as f32 / (dim - 1) as f32);
                let g = apply_gamma(q as f32 / (dim - 1) as f32);
                let rr = apply_gamma(r as f32 / (dim - 1) as f32);
                let x = b * s[0] + g * s[1] + rr * s[2];
                let y = b * s[3] + g * s[4] + rr * s[5];
                let z = b * s[6] + g * s[7] + rr * s[8];
                let (fx, fy, fz) = (f(x), f(y), f(z));
                let l = if y > lthresh {
                    116f32 * fy - 16f32
                } else {
                    f9033 * y
                };
                let a = 500f32 * (fx - fy);
                let bb = 200f32 * (fy - fz);
                prev[idx] = cv_round(lbase * l / 100f32) as i16;
                prev[idx + 1] = cv_round(lbase * (a + 128f32) / 256f32) as i16;
                prev[idx + 2] = cv_round(lbase * (bb + 128f32) / 256f32) as i16;
            }
        }
    }
    // Expand to 8 corners per cell so one interpolation reads one contiguous block.
    let mut lut = vec![0i16; dim * dim * dim * 3 * 8];
    for p in 0..dim {
        for q in 0..dim {
            for r in 0..dim {
                for cp in 0..2 {
                    for cq in 0..2 {
                        for cr in 0..2 {
                            let old = (p + cp).min(dim - 1) * 3
                                + (q + cq).min(dim - 1) * dim * 3
                                + (r + cr).min(dim - 1) * dim * dim * 3;
                            let new =
                                p * 24 + q * dim * 24 + r * dim * dim * 24 + 4 * cp + 2 * cq + cr;
                            lut[new] = prev[old];
                            lut[new + 8] = prev[old + 1];
                            lut[new + 16] = prev[old + 2];
                        }
                    }
                }
            }
        }
    }
    let tb = TRILINEAR_BASE;
    let mut weights = vec![0i16; tb * tb * tb * 8];
    for p in 0..tb {
        let pp = (tb - p) as i16;
        for q in 0..tb {
            let qq = (tb - q) as i16;
            for r in 0..tb {
                let rr = (tb - r) as i16;
                let (p, q, r2) = (p as i16, q as i16, r as i16);
                let base = 8 * p as usize + 8 * tb * q as usize + 8 * tb * tb * r;
                let vals = [
                    pp * qq * rr,
                    pp * qq * r2,
                    pp * q * rr,
                    pp * q * r2,
                    p * qq * rr,
                    p * qq * r2,
                    p * q * rr,
                    p * q * r2,
                ];
                weights[base..base + 8].copy_from_slice(&vals);
            }
        }
    }

    let inv: Vec<f32> = (0..=GAMMA_TAB_SIZE)
        .map(|i| apply_inv_gamma((1f32 / GAMMA_TAB_SIZE as f32) * i as f32))
        .collect();
    let inv_gamma = spline_build(&inv);

    let mi: Vec<f64> = XYZ2SRGB.iter().map(|&b| d(b)).collect();
    let mut xyz2rgb = [0f32; 9];
    for i in 0..3 {
        for j in 0..3 {
            xyz2rgb[i + j * 3] = (mi[i + j * 3] * white[i]) as f32;
        }
    }
    let u8_encoder = U8Encoder::build(&inv_gamma);
    Tables {
        lut,
        weights,
        inv_gamma,
        xyz2rgb,
        u8_encoder,
    }
}

/// Buckets over linear light [0, 1] for the 8-bit encoder; fine enough that no bucket holds
/// two output levels' boundaries (the sRGB curve is steepest at 0: 12.92, one level per
/// 3e-4, a bucket is 1.2e-4). [`U8Encoder::build`] checks each bucket's ends, which suffices
/// because the spline is monotone; a test compares the two encoders on every float in [0, 1].
const U8_BUCKETS: usize = 8192;

/// Linear light -> 8-bit sRGB exactly as the spline and `round(v * 255)` give it, by table:
/// a bucket's first level plus one comparison against the next level's threshold. The spline
/// and the rounding were a third of the time of putting a photo back together.
struct U8Encoder {
    /// The level at the start of each bucket (`U8_BUCKETS + 1` entries, the last one for 1.0).
    base: Vec<u8>,
    /// `thresholds[k]`: the smallest linear value that encodes to level k or more;
    /// `thresholds[256]` is infinite, so level 255 never goes up.
    thresholds: [f32; 257],
}

impl U8Encoder {
    fn build(inv_gamma: &[f32]) -> Self {
        let reference = |v: f32| spline_u8(v, inv_gamma);
        let mut thresholds = [f32::INFINITY; 257];
        thresholds[0] = f32::NEG_INFINITY;
        // Non-negative floats order like their bit patterns: search the bits of [0, 1].
        let one = 1f32.to_bits();
        for (k, t) in thresholds.iter_mut().enumerate().take(256).skip(1) {
            if reference(1.0) < k as u8 {
                continue;
            }
            let (mut lo, mut hi) = (0u32, one);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if reference(f32::from_bits(mid)) >= k as u8 {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            *t = f32::from_bits(lo);
        }
        let base: Vec<u8> = (0..=U8_BUCKETS)
            .map(|i| reference(i as f32 / U8_BUCKETS as f32))
            .collect();
        for (i, pair) in base.windows(2).enumerate() {
            assert!(
                pair[1] - pair[0] <= 1,
                "8-bit encoder bucket {i} spans more than one level"
            );
        }
        Self { base, thresholds }
    }

    /// `v` is linear light already clipped to [0, 1].
    #[inline(always)]
    fn encode(&self, v: f32) -> u8 {
        let k = self.base[(v * U8_BUCKETS as f32) as usize];
        k + (v >= self.thresholds[k as usize + 1]) as u8
    }
}

/// The reference's 8-bit encoding: OpenCV's spline gamma, then `round(v * 255)`.
fn spline_u8(v: f32, inv_gamma: &[f32]) -> u8 {
    let e = spline_interpolate(v * GAMMA_TAB_SIZE as f32, inv_gamma);
    (e * 255.0).round_ties_even() as u8
}

/// Fixed-point table coordinate of one colour value: `cvRound(clip(v) * LAB_BASE)`.
#[inline(always)]
pub fn lab_coord(v: f32) -> i32 {
    let v = if v < 0.0 {
        0.0
    } else if v <= 1.0 {
        v
    } else {
        1.0
    };
    cv_round(v * LAB_BASE as f32)
}

#[inline(always)]
fn interpolate(t: &Tables, cb: i32, cg: i32, cr: i32, channels: usize) -> [i32; 3] {
    let shift = LAB_BASE_SHIFT - LAB_LUT_SHIFT;
    let (tx, ty, tz) = (
        (cb >> shift) as usize,
        (cg >> shift) as usize,
        (cr >> shift) as usize,
    );
    let dim = LAB_LUT_DIM;
    let base = 24 * tx + 24 * dim * ty + 24 * dim * dim * tz;
    let mask = (1 << TRILINEAR_SHIFT) - 1;
    let fshift = LAB_BASE_SHIFT - 8 - 1;
    let (x, y, z) = (
        ((cb >> fshift) & mask) as usize,
        ((cg >> fshift) & mask) as usize,
        ((cr >> fshift) & mask) as usize,
    );
    let tb = TRILINEAR_BASE;
    let wbase = 8 * x + 8 * tb * y + 8 * tb * tb * z;
    let w = &t.weights[wbase..wbase + 8];
    let mut out = [0i32; 3];
    for (c, o) in out.iter_mut().enumerate().take(channels) {
        let cell = &t.lut[base + 8 * c..base + 8 * c + 8];
        let mut acc = 0i32;
        for k in 0..8 {
            acc += cell[k] as i32 * w[k] as i32;
        }
        *o = (acc + (1 << (TRILINEAR_SHIFT * 3 - 1))) >> (TRILINEAR_SHIFT * 3);
    }
    out
}

/// L (0..100) of an sRGB colour given as table coordinates (see [`lab_coord`]).
#[inline(always)]
pub fn l_from_coords(cr: i32, cg: i32, cb: i32) -> f32 {
    l_fixed_from_coords(cr, cg, cb) as f32 * (100.0 / LAB_BASE as f32)
}

/// L in OpenCV's fixed point (0..=[`LAB_BASE`] for 0..100) of a colour given as table
/// coordinates.
#[inline(always)]
fn l_fixed_from_coords(cr: i32, cg: i32, cb: i32) -> i32 {
    interpolate(tables(), cb, cg, cr, 1)[0]
}

/// The grey (a = b = 0) of the lightness of a colour given as table coordinates, in sRGB
/// [0, 1]: the model's input pixel. L takes only `LAB_BASE + 1` values, so the Lab -> RGB
/// step is a table lookup, built on first use with [`LabToRgb::convert`].
#[inline(always)]
pub fn grey_from_coords(cr: i32, cg: i32, cb: i32) -> [f32; 3] {
    greys()[l_fixed_from_coords(cr, cg, cb).clamp(0, LAB_BASE) as usize]
}

/// The sRGB grey of each fixed-point L.
fn greys() -> &'static [[f32; 3]] {
    static GREYS: OnceLock<Vec<[f32; 3]>> = OnceLock::new();
    GREYS.get_or_init(|| {
        let lab2rgb = LabToRgb::new();
        (0..=LAB_BASE)
            .map(|v| lab2rgb.convert(v as f32 * (100.0 / LAB_BASE as f32), 0.0, 0.0))
            .collect()
    })
}

/// The tables the CUDA kernels take (`dd_tables` in gpu/recipe.cu): the GPU path uses the
/// CPU path's own, so the two agree.
pub(crate) struct KernelTables {
    pub lut: &'static [i16],
    pub weights: &'static [i16],
    pub grey_rgb: &'static [[f32; 3]],
    pub xyz2rgb: &'static [f32; 9],
    pub enc_base: &'static [u8],
    pub enc_thresholds: &'static [f32; 257],
}

pub(crate) fn kernel_tables() -> KernelTables {
    let t = tables();
    KernelTables {
        lut: &t.lut,
        weights: &t.weights,
        grey_rgb: greys(),
        xyz2rgb: &t.xyz2rgb,
        enc_base: &t.u8_encoder.base,
        enc_thresholds: &t.u8_encoder.thresholds,
    }
}

/// OpenCV float RGB -> Lab for one colour with components in [0, 1] (clipped).
pub fn rgb_to_lab(rgb: [f32; 3]) -> [f32; 3] {
    let [l, a, b] = interpolate(
        tables(),
        lab_coord(rgb[2]),
        lab_coord(rgb[1]),
        lab_coord(rgb[0]),
        3,
    );
    let k = 256.0 / LAB_BASE as f32;
    [
        l as f32 * (100.0 / LAB_BASE as f32),
        a as f32 * k - 128.0,
        b as f32 * k - 128.0,
    ]
}

/// Converts Lab to sRGB in [0, 1] with OpenCV's float `Lab2RGB`: out-of-gamut colours are
/// clipped per channel (never wrapped), then gamma-encoded.
pub struct LabToRgb {
    t: &'static Tables,
}

impl Default for LabToRgb {
    fn default() -> Self {
        Self::new()
    }
}

impl LabToRgb {
    pub fn new() -> Self {
        Self { t: tables() }
    }

    #[inline(always)]
    pub fn convert(&self, l: f32, a: f32, b: f32) -> [f32; 3] {
        let scale = GAMMA_TAB_SIZE as f32;
        self.linear(l, a, b)
            .map(|v| spline_interpolate(v * scale, &self.t.inv_gamma))
    }

    /// One row of Lab planes to samples: `out_c` samples per pixel, of which the first three
    /// are written (a fourth, alpha, is the caller's).
    pub fn row_into<T: GammaEncode>(
        &self,
        l: &[f32],
        a: &[f32],
        b: &[f32],
        out: &mut [T],
        out_c: usize,
    ) {
        // Two passes per block of pixels: the arithmetic, which the compiler vectorises, then
        // the table lookups of the gamma encoding, which it cannot.
        const BLOCK: usize = 64;
        let mut lin = [[0f32; 3]; BLOCK];
        let n = l.len().min(a.len()).min(b.len()).min(out.len() / out_c);
        for start in (0..n).step_by(BLOCK) {
            let end = (start + BLOCK).min(n);
            let block = &mut lin[..end - start];
            for (((v, &l), &a), &b) in block
                .iter_mut()
                .zip(&l[start..end])
                .zip(&a[start..end])
                .zip(&b[start..end])
            {
                *v = self.linear(l, a, b);
            }
            for (v, o) in block
                .iter()
                .zip(out[start * out_c..end * out_c].chunks_exact_mut(out_c))
            {
                o[0] = T::gamma_encode(self, v[0]);
                o[1] = T::gamma_encode(self, v[1]);
                o[2] = T::gamma_encode(self, v[2]);
            }
        }
    }

    /// Linear-light RGB, clipped per channel to [0, 1] (NaN gives 1).
    #[inline(always)]
    fn linear(&self, l: f32, a: f32, b: f32) -> [f32; 3] {
        const INV903: f32 = 1.0 / 903.3;
        const F16_116: f32 = 16.0 / 116.0;
        // Both sides of each branch are computed and one is selected, so that a row of pixels
        // vectorises; the values are those of the branching formula.
        let y_low = l * INV903;
        let fy_low = 7.787 * y_low + F16_116;
        let fy_high = (l + 16.0) * (1.0 / 116.0);
        let low = l <= 8.0;
        let y = if low {
            y_low
        } else {
            fy_high * fy_high * fy_high
        };
        let fy = if low { fy_low } else { fy_high };
        let f_thresh = 6.0f32 / 29.0f32;
        let inv = |f: f32| {
            let linear = (f - F16_116) * (1.0 / 7.787);
            let cube = f * f * f;
            if f <= f_thresh { linear } else { cube }
        };
        let x = inv(a * (1.0 / 500.0) + fy);
        let z = inv(b * (-1.0 / 200.0) + fy);
        let c = &self.t.xyz2rgb;
        let mut out = [0f32; 3];
        for (i, o) in out.iter_mut().enumerate() {
            let v = c[i * 3] * x + (c[i * 3 + 1] * y + c[i * 3 + 2] * z);
            // NaN gives 1, as OpenCV's clip does.
            let upper = if v <= 1.0 { v } else { 1.0 };
            *o = if v < 0.0 { 0.0 } else { upper };
        }
        out
    }
}

/// Gamma encoding of clipped linear light to a sample value, as the reference rounds it.
pub trait GammaEncode: Copy {
    fn gamma_encode(lab: &LabToRgb, v: f32) -> Self;
}

impl GammaEncode for u8 {
    #[inline(always)]
    fn gamma_encode(lab: &LabToRgb, v: f32) -> Self {
        lab.t.u8_encoder.encode(v)
    }
}

impl GammaEncode for u16 {
    #[inline(always)]
    fn gamma_encode(lab: &LabToRgb, v: f32) -> Self {
        let e = spline_interpolate(v * GAMMA_TAB_SIZE as f32, &lab.t.inv_gamma);
        round_ties_even_small(e * 65535.0) as u16
    }
}

/// OpenCV float Lab -> RGB for one colour.
pub fn lab_to_rgb(lab: [f32; 3]) -> [f32; 3] {
    LabToRgb::new().convert(lab[0], lab[1], lab[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_is_quantised_like_opencv() {
        // cv2.cvtColor(np.full((1,1,3), 0.123, np.float32), cv2.COLOR_BGR2Lab) on OpenCV 4/5;
        // the textbook formula gives L = 11.938 and a = b = 0.
        assert_eq!(
            rgb_to_lab([0.123, 0.123, 0.123]),
            [11.71875, 0.046875, 0.03125]
        );
    }

    #[test]
    fn white_and_black() {
        assert_eq!(rgb_to_lab([1.0, 1.0, 1.0])[0], 100.0);
        assert_eq!(rgb_to_lab([0.0, 0.0, 0.0]), [0.0, 0.0, 0.0]);
        let w = lab_to_rgb([100.0, 0.0, 0.0]);
        assert!(w.iter().all(|&v| (v - 1.0).abs() < 1e-3), "{w:?}");
    }

    /// The 8-bit table encoder against the spline and rounding it replaces, on every float in
    /// [0, 1] (about 10^9 values; a few seconds).
    #[test]
    fn u8_encoder_equals_the_spline_on_every_value() {
        use rayon::prelude::*;
        let t = tables();
        let one = 1f32.to_bits();
        let mismatches: Vec<u32> = (0..=one / (1 << 20))
            .into_par_iter()
            .flat_map_iter(|chunk| {
                let lo = chunk << 20;
                let hi = (lo + (1 << 20) - 1).min(one);
                (lo..=hi).filter(|&bits| {
                    let v = f32::from_bits(bits);
                    t.u8_encoder.encode(v) != spline_u8(v, &t.inv_gamma)
                })
            })
            .take_any(10)
            .collect();
        assert!(
            mismatches.is_empty(),
            "differs at {:?}",
            mismatches
                .iter()
                .map(|&b| f32::from_bits(b))
                .collect::<Vec<_>>()
        );
    }

    /// `LabToRgb::convert` as it was before the row conversion (branches, spline, libm
    /// rounding), kept verbatim as the oracle for the faster code.
    fn convert_before(l: f32, a: f32, b: f32) -> [f32; 3] {
        const INV903: f32 = 1.0 / 903.3;
        const F16_116: f32 = 16.0 / 116.0;
        let t = tables();
        let (y, fy) = if l <= 8.0 {
            let y = l * INV903;
            (y, 7.787 * y + F16_116)
        } else {
            let fy = (l + 16.0) * (1.0 / 116.0);
            (fy * fy * fy, fy)
        };
        let f_thresh = 6.0f32 / 29.0f32;
        let inv = |f: f32| {
            if f <= f_thresh {
                (f - F16_116) * (1.0 / 7.787)
            } else {
                f * f * f
            }
        };
        let x = inv(a * (1.0 / 500.0) + fy);
        let z = inv(b * (-1.0 / 200.0) + fy);
        let c = &t.xyz2rgb;
        let scale = GAMMA_TAB_SIZE as f32;
        let mut out = [0f32; 3];
        for (i, o) in out.iter_mut().enumerate() {
            let v = c[i * 3] * x + (c[i * 3 + 1] * y + c[i * 3 + 2] * z);
            let v = if v < 0.0 {
                0.0
            } else if v <= 1.0 {
                v
            } else {
                1.0
            };
            *o = spline_interpolate(v * scale, &t.inv_gamma);
        }
        out
    }

    #[test]
    fn row_conversion_equals_the_conversion_before_it() {
        let lab2rgb = LabToRgb::new();
        // A sweep over L (both branches at L = 8), a and b (both branches of f^-1, and out
        // of gamut on both sides), then edge values.
        let (mut l, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..=400 {
            for j in 0..=60 {
                l.push(i as f32 * 0.25);
                a.push(j as f32 * 5.5 - 165.0);
                b.push(150.0 - j as f32 * 5.0 + i as f32 * 0.1);
            }
        }
        // f = 6/29 exactly at the branch: a = 500 * (6/29 - fy) with L = 50.
        let fy50 = (50.0f32 + 16.0) * (1.0 / 116.0);
        let edges = [
            (f32::NAN, 0.0, 0.0),
            (50.0, f32::NAN, 0.0),
            (50.0, 0.0, f32::NAN),
            (f32::INFINITY, 0.0, 0.0),
            (50.0, f32::NEG_INFINITY, f32::INFINITY),
            (-0.0, -0.0, -0.0),
            (8.0, 0.0, 0.0),
            (50.0, (6.0f32 / 29.0 - fy50) * 500.0, 0.0),
            (100.0, 0.0, 0.0),
            (-5.0, 20.0, -20.0),
        ];
        for (el, ea, eb) in edges {
            l.push(el);
            a.push(ea);
            b.push(eb);
        }
        let mut out8 = vec![0u8; l.len() * 4];
        let mut out16 = vec![0u16; l.len() * 3];
        lab2rgb.row_into(&l, &a, &b, &mut out8, 4);
        lab2rgb.row_into(&l, &a, &b, &mut out16, 3);
        for i in 0..l.len() {
            let rgb = convert_before(l[i], a[i], b[i]);
            let conv = lab2rgb.convert(l[i], a[i], b[i]);
            for c in 0..3 {
                let what = format!("Lab ({}, {}, {}) channel {c}", l[i], a[i], b[i]);
                assert_eq!(conv[c].to_bits(), rgb[c].to_bits(), "{what}");
                assert_eq!(
                    out8[i * 4 + c],
                    (rgb[c] * 255.0).round_ties_even() as u8,
                    "{what}"
                );
                assert_eq!(
                    out16[i * 3 + c],
                    (rgb[c] * 65535.0).round_ties_even() as u16,
                    "{what}"
                );
            }
            // The fourth (alpha) sample is the caller's.
            assert_eq!(out8[i * 4 + 3], 0);
        }
    }

    #[test]
    fn grey_table_equals_the_conversion() {
        let check = |r: i32, g: i32, b: i32| {
            let fixed = l_fixed_from_coords(r, g, b);
            assert!((0..=LAB_BASE).contains(&fixed), "L {fixed} out of range");
            let l = l_from_coords(r, g, b);
            assert_eq!(
                grey_from_coords(r, g, b),
                convert_before(l, 0.0, 0.0),
                "coords {r} {g} {b}"
            );
        };
        // Every grey coordinate, then colours across the cube.
        for c in 0..=LAB_BASE {
            check(c, c, c);
        }
        for r in (0..=LAB_BASE).step_by(1021) {
            for g in (0..=LAB_BASE).step_by(1531) {
                for b in (0..=LAB_BASE).step_by(2039) {
                    check(r, g, b);
                }
            }
        }
    }

    #[test]
    fn out_of_gamut_is_clipped_not_wrapped() {
        let rgb = lab_to_rgb([50.0, 200.0, -200.0]);
        assert!(rgb.iter().all(|&v| (0.0..=1.0).contains(&v)), "{rgb:?}");
        assert_eq!(rgb[1], 0.0);
    }
}
