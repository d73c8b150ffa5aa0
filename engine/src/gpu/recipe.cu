/*
 * The DDColor recipe's per-pixel steps as CUDA kernels: the model input (resize to S x S,
 * lightness, grey) and the recombination (the photo's lightness with the model's chroma scaled
 * up, Lab -> sRGB, 8-bit). engine/src/cuda.rs compiles this file at run time with NVRTC.
 *
 * Why one file for two compilers: the same source is also compiled as C on the host
 * (engine/build.rs, engine/src/gpu/host_check.c) and a test compares it with the Rust CPU
 * path on real photos, bit for bit. So the maths of the GPU path is checked on every machine,
 * with or without a GPU; only the launch itself needs one. The rules that make it exact:
 *   - the tables are the CPU path's own (engine/src/lab.rs, photo.rs), uploaded once;
 *   - every float expression is written in the CPU code's order, and neither compiler may
 *     fuse a multiply and an add (NVRTC --fmad=false, cc -ffp-contract=off);
 *   - no transcendental functions (their last bit differs between libdevice and libm);
 *   - geometry that the CPU computes in f64 (resize taps) is computed on the host and passed.
 */

#ifdef __CUDACC_RTC__
#define DD_FN static __device__ __forceinline__
#else
#define DD_FN static inline
#endif

typedef unsigned char dd_u8;
typedef short dd_i16;
typedef unsigned short dd_u16;

#define DD_LAB_BASE_SHIFT 14
#define DD_LAB_BASE (1 << DD_LAB_BASE_SHIFT)
#define DD_LAB_LUT_SHIFT 5
#define DD_LAB_LUT_DIM ((1 << DD_LAB_LUT_SHIFT) + 1)
#define DD_TRILINEAR_SHIFT (8 - DD_LAB_LUT_SHIFT + 1)
#define DD_TRILINEAR_BASE (1 << DD_TRILINEAR_SHIFT)
#define DD_U8_BUCKETS 8192

/* The CPU path's tables (device pointers on the GPU). Field order and types match
 * `Tables` in engine/src/cuda.rs. */
typedef struct {
    const dd_i16 *lut;            /* Lab trilinear LUT, DD_LAB_LUT_DIM^3 cells of 24 */
    const dd_i16 *weights;        /* trilinear weights, DD_TRILINEAR_BASE^3 x 8 */
    const float *unit;            /* 256: sample value / 255 */
    const dd_u16 *coord;          /* 256: fixed-point Lab coordinate of unit[v] */
    const float *grey_l;          /* 256: L of the grey (v, v, v) */
    const float *grey_rgb;        /* (DD_LAB_BASE + 1) x 3: sRGB of (L, 0, 0) per fixed L */
    const float *xyz2rgb;         /* 9 */
    const dd_u8 *enc_base;        /* DD_U8_BUCKETS + 1: 8-bit level at the bucket's start */
    const float *enc_thresholds;  /* 257: linear light where level k starts */
} dd_tables;

/* A packed 8-bit frame: `step` bytes per pixel, channel byte offsets r, g, b (all 0 for grey)
 * and a (-1 when there is none). */
typedef struct {
    const dd_u8 *data;
    int pitch;
    int width;
    int height;
    int step;
    int r, g, b, a;
} dd_frame_in;

typedef struct {
    dd_u8 *data;
    int pitch;
    int step;
    int r, g, b, a;
} dd_frame_out;

/* Bilinear taps: the two source indices and the weight of the second (engine/src/resize.rs
 * `Tap`, with i0 and i1 as int). */
typedef struct {
    int i0;
    int i1;
    float w;
} dd_tap;

/* Round half to even for |v| < 2^22: the CPU path's `round_ties_even_small`. */
DD_FN int dd_round(float v)
{
    /* IEEE arithmetic, which both compilers keep without fast-math: no folding of the pair. */
    const float magic = 12582912.0f;
    float t = v + magic;
    return (int)(t - magic);
}

/* `lab_coord`: cvRound(clip(v) * LAB_BASE); NaN gives the top. */
DD_FN int dd_lab_coord(float v)
{
    float c = v < 0.0f ? 0.0f : (v <= 1.0f ? v : 1.0f);
    return dd_round(c * (float)DD_LAB_BASE);
}

/* L in fixed point (0..LAB_BASE) from table coordinates: OpenCV's trilinear lookup. */
DD_FN int dd_l_fixed(const dd_tables *t, int cr, int cg, int cb)
{
    const int shift = DD_LAB_BASE_SHIFT - DD_LAB_LUT_SHIFT;
    const int fshift = DD_LAB_BASE_SHIFT - 8 - 1;
    const int mask = (1 << DD_TRILINEAR_SHIFT) - 1;
    const int dim = DD_LAB_LUT_DIM;
    const int tb = DD_TRILINEAR_BASE;
    int base = 24 * (cb >> shift) + 24 * dim * (cg >> shift) + 24 * dim * dim * (cr >> shift);
    int wbase = 8 * ((cb >> fshift) & mask) + 8 * tb * ((cg >> fshift) & mask)
        + 8 * tb * tb * ((cr >> fshift) & mask);
    int acc = 0;
    for (int k = 0; k < 8; k++)
        acc += (int)t->lut[base + k] * (int)t->weights[wbase + k];
    return (acc + (1 << (DD_TRILINEAR_SHIFT * 3 - 1))) >> (DD_TRILINEAR_SHIFT * 3);
}

/* `pixel_l`: L (0..100) of an 8-bit pixel. */
DD_FN float dd_pixel_l(const dd_tables *t, int r, int g, int b)
{
    if (r == g && g == b)
        return t->grey_l[r];
    return (float)dd_l_fixed(t, t->coord[r], t->coord[g], t->coord[b]) * (100.0f / (float)DD_LAB_BASE);
}

/* `LabToRgb::linear`: linear-light RGB clipped to [0, 1] (NaN gives 1). */
DD_FN void dd_lab_linear(const dd_tables *t, float l, float a, float b, float out[3])
{
    const float inv903 = 1.0f / 903.3f;
    const float f16_116 = 16.0f / 116.0f;
    const float f_thresh = 6.0f / 29.0f;
    float y_low = l * inv903;
    float fy_low = 7.787f * y_low + f16_116;
    float fy_high = (l + 16.0f) * (1.0f / 116.0f);
    int low = l <= 8.0f;
    float y = low ? y_low : fy_high * fy_high * fy_high;
    float fy = low ? fy_low : fy_high;
    float fx = a * (1.0f / 500.0f) + fy;
    float fz = b * (-1.0f / 200.0f) + fy;
    float x = fx <= f_thresh ? (fx - f16_116) * (1.0f / 7.787f) : fx * fx * fx;
    float z = fz <= f_thresh ? (fz - f16_116) * (1.0f / 7.787f) : fz * fz * fz;
    for (int i = 0; i < 3; i++) {
        const float *c = t->xyz2rgb + 3 * i;
        float v = c[0] * x + (c[1] * y + c[2] * z);
        float upper = v <= 1.0f ? v : 1.0f;
        out[i] = v < 0.0f ? 0.0f : upper;
    }
}

/* `U8Encoder::encode`: the 8-bit level of clipped linear light. */
DD_FN dd_u8 dd_encode_u8(const dd_tables *t, float v)
{
    dd_u8 k = t->enc_base[(int)(v * (float)DD_U8_BUCKETS)];
    return (dd_u8)(k + (v >= t->enc_thresholds[k + 1] ? 1 : 0));
}

/* The unit-range sample of one channel at (x, y); grey frames replicate. */
DD_FN float dd_unit_at(const dd_tables *t, const dd_frame_in *in, int x, int y, int channel)
{
    return t->unit[in->data[(long)y * in->pitch + (long)x * in->step + channel]];
}

/* One pixel of the model input: the frame resized to size x size like OpenCV's INTER_LINEAR
 * (engine/src/resize.rs: an exact 2x shrink on both axes averages 2x2 blocks), then the grey
 * of its lightness, written to the three planes of `out`. `xt` holds `size` horizontal taps,
 * `yt` `size` vertical ones (rows clamped, weight not: OpenCV's way). */
DD_FN void dd_model_input_px(const dd_tables *t, const dd_frame_in *in, const dd_tap *xt,
                             const dd_tap *yt, int size, int area2x, float *out, int dx, int dy)
{
    int ch[3] = {in->r, in->g, in->b};
    float rgb[3];
    if (area2x) {
        for (int k = 0; k < 3; k++) {
            float s = dd_unit_at(t, in, 2 * dx, 2 * dy, ch[k]) + dd_unit_at(t, in, 2 * dx + 1, 2 * dy, ch[k])
                + dd_unit_at(t, in, 2 * dx, 2 * dy + 1, ch[k]) + dd_unit_at(t, in, 2 * dx + 1, 2 * dy + 1, ch[k]);
            rgb[k] = s * 0.25f;
        }
    } else {
        dd_tap tx = xt[dx], ty = yt[dy];
        for (int k = 0; k < 3; k++) {
            float h0 = dd_unit_at(t, in, tx.i0, ty.i0, ch[k]) * (1.0f - tx.w) + dd_unit_at(t, in, tx.i1, ty.i0, ch[k]) * tx.w;
            float h1 = dd_unit_at(t, in, tx.i0, ty.i1, ch[k]) * (1.0f - tx.w) + dd_unit_at(t, in, tx.i1, ty.i1, ch[k]) * tx.w;
            rgb[k] = h0 * (1.0f - ty.w) + h1 * ty.w;
        }
    }
    int l = dd_l_fixed(t, dd_lab_coord(rgb[0]), dd_lab_coord(rgb[1]), dd_lab_coord(rgb[2]));
    l = l < 0 ? 0 : (l > DD_LAB_BASE ? DD_LAB_BASE : l);
    long plane = (long)size * size, i = (long)dy * size + dx;
    out[i] = t->grey_rgb[3 * l];
    out[plane + i] = t->grey_rgb[3 * l + 1];
    out[2 * plane + i] = t->grey_rgb[3 * l + 2];
}

/* One pixel of the colour frame: the input's own L with the model's ab (planar [2, size, size])
 * scaled up, bilinear (`xt`, `yt`: taps from size to the frame's width and height) or, with
 * `nearest`, nearest (the taps' i0), then Lab -> sRGB, 8-bit. Alpha is copied, or opaque
 * when the input has none. */
DD_FN void dd_recombine_px(const dd_tables *t, const dd_frame_in *in, const float *ab, int size,
                           const dd_tap *xt, const dd_tap *yt, int nearest, const dd_frame_out *out,
                           int x, int y)
{
    const dd_u8 *px = in->data + (long)y * in->pitch + (long)x * in->step;
    float l = dd_pixel_l(t, px[in->r], px[in->g], px[in->b]);
    const float *pa = ab, *pb = ab + (long)size * size;
    dd_tap tx = xt[x], ty = yt[y];
    float a, b;
    if (nearest) {
        a = pa[ty.i0 * size + tx.i0];
        b = pb[ty.i0 * size + tx.i0];
    } else {
        long r0 = (long)ty.i0 * size, r1 = (long)ty.i1 * size;
        float a0 = pa[r0 + tx.i0] * (1.0f - tx.w) + pa[r0 + tx.i1] * tx.w;
        float a1 = pa[r1 + tx.i0] * (1.0f - tx.w) + pa[r1 + tx.i1] * tx.w;
        float b0 = pb[r0 + tx.i0] * (1.0f - tx.w) + pb[r0 + tx.i1] * tx.w;
        float b1 = pb[r1 + tx.i0] * (1.0f - tx.w) + pb[r1 + tx.i1] * tx.w;
        a = a0 * (1.0f - ty.w) + a1 * ty.w;
        b = b0 * (1.0f - ty.w) + b1 * ty.w;
    }
    float lin[3];
    dd_lab_linear(t, l, a, b, lin);
    dd_u8 *o = out->data + (long)y * out->pitch + (long)x * out->step;
    o[out->r] = dd_encode_u8(t, lin[0]);
    o[out->g] = dd_encode_u8(t, lin[1]);
    o[out->b] = dd_encode_u8(t, lin[2]);
    if (out->a >= 0)
        o[out->a] = in->a >= 0 ? px[in->a] : 255;
    else if (out->step == 4)
        o[6 - out->r - out->g - out->b] = 255; /* the x byte of RGBx/BGRx, as photo_to_frame */
}

/* Y'CbCr frames (engine/src/frame.rs): I420, NV12 (u holds the interleaved CbCr plane) and Y444. */
#define DD_I420 0
#define DD_NV12 1
#define DD_Y444 2

typedef struct {
    dd_u8 *y;
    dd_u8 *u;
    dd_u8 *v;
    int y_pitch, u_pitch, v_pitch;
    int width;
    int height;
    int format;
} dd_yuv;

/* Y'CbCr -> R'G'B' per-code tables (frame.rs `ToRgb`), 0..255 units. */
typedef struct {
    float y[256];
    float r_cr[256];
    float g_cb[256];
    float g_cr[256];
    float b_cb[256];
} dd_to_rgb;

/* R'G'B' -> Y'CbCr constants (frame.rs `FromRgb`). */
typedef struct {
    float kr, kg, kb, y_off, y_scale, cb_scale, cr_scale;
} dd_from_rgb;

/* frame.rs `to_u8`: clamp, then round half away from zero. */
DD_FN dd_u8 dd_to_u8(float v)
{
    float c = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    int t = (int)c;
    return (dd_u8)(t + ((c - (float)t) >= 0.5f ? 1 : 0));
}

/* The Cb and Cr codes of pixel (x, y). 4:2:0 chroma is taken as it is for the 2x2 pixels it
 * covers (frame.rs does the same). */
DD_FN void dd_yuv_chroma(const dd_yuv *f, int x, int y, int *cb, int *cr)
{
    if (f->format == DD_Y444) {
        *cb = f->u[(long)y * f->u_pitch + x];
        *cr = f->v[(long)y * f->v_pitch + x];
    } else if (f->format == DD_NV12) {
        const dd_u8 *uv = f->u + (long)(y / 2) * f->u_pitch + 2 * (x / 2);
        *cb = uv[0];
        *cr = uv[1];
    } else {
        *cb = f->u[(long)(y / 2) * f->u_pitch + x / 2];
        *cr = f->v[(long)(y / 2) * f->v_pitch + x / 2];
    }
}

/* One pixel of a Y'CbCr frame to packed RGB (3 bytes a pixel, `out_pitch`). */
DD_FN void dd_yuv_to_rgb_px(const dd_to_rgb *t, const dd_yuv *f, dd_u8 *out, int out_pitch, int x, int y)
{
    int cb, cr;
    dd_yuv_chroma(f, x, y, &cb, &cr);
    float l = t->y[f->y[(long)y * f->y_pitch + x]];
    float c0 = t->r_cr[cr], c1 = -(t->g_cb[cb] + t->g_cr[cr]), c2 = t->b_cb[cb];
    dd_u8 *o = out + (long)y * out_pitch + 3 * x;
    o[0] = dd_to_u8(l + c0);
    o[1] = dd_to_u8(l + c1);
    o[2] = dd_to_u8(l + c2);
}

DD_FN float dd_luma(const dd_from_rgb *t, float r, float g, float b)
{
    return t->kr * r + t->kg * g + t->kb * b;
}

/* One chroma sample of packed RGB(A) `in` (bytes per pixel `step`, R G B first) into a Y'CbCr
 * frame, with the Y' of the pixels it covers: one for Y444, up to 2x2 for 4:2:0, where the
 * chroma is that of the pixels' mean (frame.rs `encode_420_pair`, summed in its order). */
DD_FN void dd_rgb_to_yuv_px(const dd_from_rgb *t, const dd_u8 *in, int in_pitch, int step, const dd_yuv *f,
                            int cx, int cy)
{
    int sub = f->format == DD_Y444 ? 1 : 2;
    float sum[3] = {0.0f, 0.0f, 0.0f};
    float count = 0.0f;
    for (int x = sub * cx; x < sub * cx + sub && x < f->width; x++) {
        for (int y = sub * cy; y < sub * cy + sub && y < f->height; y++) {
            const dd_u8 *p = in + (long)y * in_pitch + (long)x * step;
            float r = (float)p[0], g = (float)p[1], b = (float)p[2];
            f->y[(long)y * f->y_pitch + x] = dd_to_u8(t->y_off + t->y_scale * dd_luma(t, r, g, b));
            sum[0] = sum[0] + r;
            sum[1] = sum[1] + g;
            sum[2] = sum[2] + b;
            count += 1.0f;
        }
    }
    float m0 = sum[0] / count, m1 = sum[1] / count, m2 = sum[2] / count;
    float l = dd_luma(t, m0, m1, m2);
    dd_u8 cb = dd_to_u8(128.0f + t->cb_scale * (m2 - l));
    dd_u8 cr = dd_to_u8(128.0f + t->cr_scale * (m0 - l));
    if (f->format == DD_NV12) {
        dd_u8 *uv = f->u + (long)cy * f->u_pitch + 2 * cx;
        uv[0] = cb;
        uv[1] = cr;
    } else {
        f->u[(long)cy * f->u_pitch + cx] = cb;
        f->v[(long)cy * f->v_pitch + cx] = cr;
    }
}

/* Temporal smoothing, recursive mode (engine/src/temporal.rs), on model-space planes
 * (size x size). expf is the one transcendental function here: the host build calls the same
 * libm expf as the Rust code, the GPU's differs by an ulp or two. */
#ifdef __CUDACC_RTC__
#define dd_expf expf
#define dd_sqrtf sqrtf
#define dd_fabsf fabsf
#else
float expf(float);
float sqrtf(float);
float fabsf(float);
#define dd_expf expf
#define dd_sqrtf sqrtf
#define dd_fabsf fabsf
#endif

/* `box_blur_3`: 3x3 mean, edges clamped. */
DD_FN void dd_box_blur3_px(const float *src, int size, float *out, int x, int y)
{
    int last = size - 1;
    int y0 = y > 0 ? y - 1 : 0, y2 = y + 1 < last ? y + 1 : last;
    int x0 = x > 0 ? x - 1 : 0, x2 = x + 1 < last ? x + 1 : last;
    int rows[3] = {y0, y, y2};
    float acc = 0.0f;
    for (int k = 0; k < 3; k++) {
        const float *row = src + (long)rows[k] * size;
        acc += row[x0] + row[x] + row[x2];
    }
    out[(long)y * size + x] = acc * (1.0f / 9.0f);
}

/* The luma differences on the sparse grid `luma_change` takes its median over. */
DD_FN void dd_diff_grid_px(const float *cur, const float *prev, int size, int step, float *out, int gx, int gy)
{
    int grid = (size + step - 1) / step;
    long i = (long)(gy * step) * size + gx * step;
    out[gy * grid + gx] = cur[i] - prev[i];
}

/* `luma_change`: the largest |cur - prev - typical| within `radius`. */
DD_FN void dd_luma_change_px(const float *cur, const float *prev, int size, float typical, int radius,
                             float *out, int x, int y)
{
    float m = 0.0f;
    for (int yy = y - radius; yy <= y + radius; yy++) {
        if (yy < 0 || yy >= size)
            continue;
        for (int xx = x - radius; xx <= x + radius; xx++) {
            if (xx < 0 || xx >= size)
                continue;
            long i = (long)yy * size + xx;
            float d = dd_fabsf(cur[i] - prev[i] - typical);
            m = d > m ? d : m; /* f32::max: a NaN never wins */
        }
    }
    out[(long)y * size + x] = m;
}

/* `blend` with the weight of the previous frame from the luma change (recursive mode). */
DD_FN void dd_mix(float *ab, const float *old_ab, int size, float w, int i)
{
    long plane = (long)size * size;
    float a = ab[i], b = ab[plane + i], oa = old_ab[i], ob = old_ab[plane + i];
    float va = (1.0f - w) * a + w * oa, vb = (1.0f - w) * b + w * ob;
    float m = (1.0f - w) * dd_sqrtf(a * a + b * b) + w * dd_sqrtf(oa * oa + ob * ob);
    float len = dd_sqrtf(va * va + vb * vb);
    if (len > 1e-3f) {
        float g = m / len;
        float gain = g < 2.0f ? g : 2.0f; /* f32::min: NaN gives 2 */
        ab[i] = va * gain;
        ab[plane + i] = vb * gain;
    } else {
        ab[i] = va;
        ab[plane + i] = vb;
    }
}

DD_FN void dd_blend_px(float *ab, const float *old_ab, const float *change, int size, float strength,
                       float alpha, int i)
{
    float d = change[i];
    dd_mix(ab, old_ab, size, strength * dd_expf(-alpha * d * d), i);
}

/* The scene signature's sums (temporal.rs `scene_signature`): for thumbnail cell `cell` of a
 * 16 x 16 grid, the sum of its pixels' luma, added in row-major order as the CPU does, and
 * their count. */
#define DD_THUMB 16
#define DD_HIST_BINS 32

DD_FN void dd_signature_cell(const float *luma, int width, int height, float *sums, float *counts, int cell)
{
    int ty = cell / DD_THUMB, tx = cell % DD_THUMB;
    /* The rows and columns with y * 16 / height == ty (and x likewise), in order. */
    int y0 = (int)(((long)ty * height + DD_THUMB - 1) / DD_THUMB);
    int y1 = (int)(((long)(ty + 1) * height + DD_THUMB - 1) / DD_THUMB);
    int x0 = (int)(((long)tx * width + DD_THUMB - 1) / DD_THUMB);
    int x1 = (int)(((long)(tx + 1) * width + DD_THUMB - 1) / DD_THUMB);
    float s = 0.0f, n = 0.0f;
    for (int y = y0; y < y1; y++) {
        for (int x = x0; x < x1; x++) {
            s += luma[(long)y * width + x];
            n += 1.0f;
        }
    }
    sums[cell] = s;
    counts[cell] = n;
}

/* temporal.rs `hist_bin`: truncation, clamped; NaN gives bin 0. */
DD_FN int dd_hist_bin(float v)
{
    float f = v * (float)DD_HIST_BINS;
    return f >= (float)(DD_HIST_BINS - 1) ? DD_HIST_BINS - 1 : (f > 0.0f ? (int)f : 0);
}

/* ---- Optical flow (flow.rs) for the `flow` temporal mode, at the flow size (<= 128). ---- */

#ifndef __CUDACC_RTC__
float floorf(float);
double sqrt(double);
#endif

DD_FN float dd_clampf(float v, float lo, float hi)
{
    /* f32::clamp: NaN stays NaN. */
    return v < lo ? lo : (v > hi ? hi : v);
}

/* flow.rs `bilinear`: sample at (x, y), clamped to the edge. */
DD_FN float dd_bilinear(const float *d, int w, int h, float x, float y)
{
    x = dd_clampf(x, 0.0f, (float)(w - 1));
    y = dd_clampf(y, 0.0f, (float)(h - 1));
    /* `as usize` of a NaN is 0 */
    int x0 = x >= 0.0f ? (int)floorf(x) : 0, y0 = y >= 0.0f ? (int)floorf(y) : 0;
    int x1 = x0 + 1 < w - 1 ? x0 + 1 : w - 1, y1 = y0 + 1 < h - 1 ? y0 + 1 : h - 1;
    float fx = x - (float)x0, fy = y - (float)y0;
    float top = d[(long)y0 * w + x0] * (1.0f - fx) + d[(long)y0 * w + x1] * fx;
    float bot = d[(long)y1 * w + x0] * (1.0f - fx) + d[(long)y1 * w + x1] * fx;
    return top * (1.0f - fy) + bot * fy;
}

DD_FN float dd_at(const float *d, int w, int h, int x, int y)
{
    x = x < 0 ? 0 : (x > w - 1 ? w - 1 : x);
    y = y < 0 ? 0 : (y > h - 1 ? h - 1 : y);
    return d[(long)y * w + x];
}

/* `Plane::half`: 2x2 average into a (w+1)/2 x (h+1)/2 plane. */
DD_FN void dd_half_px(const float *src, int w, int h, float *out, int x, int y)
{
    int x0 = 2 * x, y0 = 2 * y;
    out[(long)y * ((w + 1) / 2) + x] = 0.25f * (dd_at(src, w, h, x0, y0) + dd_at(src, w, h, x0 + 1, y0) +
                                                 dd_at(src, w, h, x0, y0 + 1) + dd_at(src, w, h, x0 + 1, y0 + 1));
}

/* The bilinear tail of `Plane::resized` (`scale` 1) and `Flow::resized` (`scale` on: the values are
 * divided by the step, as vectors are): `src` (sw x sh) sampled onto dw x dh. */
DD_FN void dd_resample_px(const float *src, int sw, int sh, int dw, int dh, int scale, float *out, int x, int y)
{
    float sx = (float)sw / (float)dw, sy = (float)sh / (float)dh;
    float v = dd_bilinear(src, sw, sh, ((float)x + 0.5f) * sx - 0.5f, ((float)y + 0.5f) * sy - 0.5f);
    out[(long)y * dw + x] = scale == 1 ? v / sx : (scale == 2 ? v / sy : v);
}

/* `Plane::normalised`'s mean and scale, summed in order in double as the CPU does (one thread:
 * the planes have at most 128 x 128 values). */
DD_FN void dd_norm_stats(const float *src, int n, float *out)
{
    double sum = -0.0, nn = (double)(n > 1 ? n : 1);
    for (int i = 0; i < n; i++)
        sum += (double)src[i];
    double mean = sum / nn;
    double var = -0.0;
    for (int i = 0; i < n; i++) {
        double d = (double)src[i] - mean;
        var += d * d;
    }
    var = var / nn;
    double k = var > 1e-12 ? 1.0 / sqrt(var) : 0.0;
    out[0] = (float)mean;
    out[1] = (float)(k * 0.2);
}

DD_FN void dd_norm_apply_px(const float *src, const float *stats, float *out, int i)
{
    out[i] = (src[i] - stats[0]) * stats[1];
}

/* `Flow::warp`: `src` sampled at (x + u, y + v). */
DD_FN void dd_warp_px(const float *src, const float *u, const float *v, int w, int h, float *out, int x, int y)
{
    long i = (long)y * w + x;
    out[i] = dd_bilinear(src, w, h, (float)x + u[i], (float)y + v[i]);
}

/* `refine`'s gradients of the mean of `a` and the warped `b`, and the temporal difference. */
DD_FN void dd_gradients_px(const float *a, const float *bw, int w, int h, float *ix, float *iy, float *it, int x,
                           int y)
{
    long i = (long)y * w + x;
    ix[i] = 0.25f * (dd_at(a, w, h, x + 1, y) - dd_at(a, w, h, x - 1, y) + dd_at(bw, w, h, x + 1, y) -
                     dd_at(bw, w, h, x - 1, y));
    iy[i] = 0.25f * (dd_at(a, w, h, x, y + 1) - dd_at(a, w, h, x, y - 1) + dd_at(bw, w, h, x, y + 1) -
                     dd_at(bw, w, h, x, y - 1));
    it[i] = bw[i] - a[i];
}

DD_FN float dd_hs_avg(const float *p, int w, int h, int x, int y)
{
    int xl = x > 0 ? x - 1 : 0, xr = x + 1 < w - 1 ? x + 1 : w - 1;
    int yu = y > 0 ? y - 1 : 0, yd = y + 1 < h - 1 ? y + 1 : h - 1;
    return (p[(long)y * w + xl] + p[(long)y * w + xr] + p[(long)yu * w + x] + p[(long)yd * w + x]) *
               (1.0f / 6.0f) +
           (p[(long)yu * w + xl] + p[(long)yu * w + xr] + p[(long)yd * w + xl] + p[(long)yd * w + xr]) *
               (1.0f / 12.0f);
}

/* One Horn–Schunck (Jacobi) iteration of `refine`: (u, v) -> (un, vn). */
DD_FN void dd_jacobi_px(const float *u, const float *v, const float *u0, const float *v0, const float *ix,
                        const float *iy, const float *it, int w, int h, float smoothness, float *un, float *vn, int x,
                        int y)
{
    long i = (long)y * w + x;
    float ub = dd_hs_avg(u, w, h, x, y), vb = dd_hs_avg(v, w, h, x, y);
    float gx = ix[i], gy = iy[i];
    float r = (gx * (ub - u0[i]) + gy * (vb - v0[i]) + it[i]) / (smoothness + gx * gx + gy * gy);
    un[i] = ub - gx * r;
    vn[i] = vb - gy * r;
}

/* `occlusion_with` without the motion-boundary test: 1 where the backward flow (bu, bv) and the
 * forward flow where it lands disagree. */
DD_FN void dd_occlusion_px(const float *fu, const float *fv, const float *bu, const float *bv, int w, int h,
                           float rel, float abs_, float *out, int x, int y)
{
    long i = (long)y * w + x;
    float u = fu[i], v = fv[i];
    float tx = (float)x + u, ty = (float)y + v;
    float su = dd_bilinear(bu, w, h, tx, ty), sv = dd_bilinear(bv, w, h, tx, ty);
    float du = u + su, dv = v + sv;
    out[i] = du * du + dv * dv > rel * (u * u + v * v + su * su + sv * sv) + abs_ ? 1.0f : 0.0f;
}

/* `blend` in flow mode: no weight where the flow-size pixel under it is occluded. */
DD_FN void dd_blend_flow_px(float *ab, const float *old_ab, const float *change, int size, float strength,
                            float alpha, const float *occluded, int f, int i)
{
    int x = i % size, y = i / size;
    if (occluded[(long)(y * f / size) * f + x * f / size] != 0.0f)
        dd_mix(ab, old_ab, size, 0.0f, i);
    else
        dd_blend_px(ab, old_ab, change, size, strength, alpha, i);
}

#ifdef __CUDACC_RTC__
/* One thread per pixel, 2D grid. */
extern "C" __global__ void dd_model_input(dd_tables t, dd_frame_in in, const dd_tap *xt, const dd_tap *yt,
                                          int size, int area2x, float *out)
{
    int dx = blockIdx.x * blockDim.x + threadIdx.x;
    int dy = blockIdx.y * blockDim.y + threadIdx.y;
    if (dx < size && dy < size)
        dd_model_input_px(&t, &in, xt, yt, size, area2x, out, dx, dy);
}

extern "C" __global__ void dd_recombine(dd_tables t, dd_frame_in in, const float *ab, int size,
                                        const dd_tap *xt, const dd_tap *yt, int nearest, dd_frame_out out)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < in.width && y < in.height)
        dd_recombine_px(&t, &in, ab, size, xt, yt, nearest, &out, x, y);
}

extern "C" __global__ void dd_yuv_to_rgb(const dd_to_rgb *t, dd_yuv f, dd_u8 *out, int out_pitch)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < f.width && y < f.height)
        dd_yuv_to_rgb_px(t, &f, out, out_pitch, x, y);
}

extern "C" __global__ void dd_box_blur3(const float *src, int size, float *out)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < size && y < size)
        dd_box_blur3_px(src, size, out, x, y);
}

extern "C" __global__ void dd_diff_grid(const float *cur, const float *prev, int size, int step, float *out)
{
    int grid = (size + step - 1) / step;
    int gx = blockIdx.x * blockDim.x + threadIdx.x;
    int gy = blockIdx.y * blockDim.y + threadIdx.y;
    if (gx < grid && gy < grid)
        dd_diff_grid_px(cur, prev, size, step, out, gx, gy);
}

extern "C" __global__ void dd_luma_change(const float *cur, const float *prev, int size, float typical,
                                          int radius, float *out)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x < size && y < size)
        dd_luma_change_px(cur, prev, size, typical, radius, out, x, y);
}

extern "C" __global__ void dd_blend(float *ab, const float *old_ab, const float *change, int size,
                                    float strength, float alpha)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < size * size)
        dd_blend_px(ab, old_ab, change, size, strength, alpha, i);
}

extern "C" __global__ void dd_signature_cells(const float *luma, int width, int height, float *sums, float *counts)
{
    int cell = blockIdx.x * blockDim.x + threadIdx.x;
    if (cell < DD_THUMB * DD_THUMB)
        dd_signature_cell(luma, width, height, sums, counts, cell);
}

/* Counts (exact integers) into `hist`, which must start at zero. */
extern "C" __global__ void dd_signature_hist(const float *luma, int n, unsigned int *hist)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        atomicAdd(&hist[dd_hist_bin(luma[i])], 1u);
}

/* One thread per chroma sample. */
extern "C" __global__ void dd_rgb_to_yuv(dd_from_rgb t, const dd_u8 *in, int in_pitch, int step, dd_yuv f)
{
    int sub = f.format == DD_Y444 ? 1 : 2;
    int cx = blockIdx.x * blockDim.x + threadIdx.x;
    int cy = blockIdx.y * blockDim.y + threadIdx.y;
    if (cx < (f.width + sub - 1) / sub && cy < (f.height + sub - 1) / sub)
        dd_rgb_to_yuv_px(&t, in, in_pitch, step, &f, cx, cy);
}

#define DD_XY                                        \
    int x = blockIdx.x * blockDim.x + threadIdx.x;   \
    int y = blockIdx.y * blockDim.y + threadIdx.y;

extern "C" __global__ void dd_half(const float *src, int w, int h, float *out)
{
    DD_XY
    if (x < (w + 1) / 2 && y < (h + 1) / 2)
        dd_half_px(src, w, h, out, x, y);
}

extern "C" __global__ void dd_resample(const float *src, int sw, int sh, int dw, int dh, int scale, float *out)
{
    DD_XY
    if (x < dw && y < dh)
        dd_resample_px(src, sw, sh, dw, dh, scale, out, x, y);
}

extern "C" __global__ void dd_norm_stats_k(const float *src, int n, float *out)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        dd_norm_stats(src, n, out);
}

extern "C" __global__ void dd_norm_apply(const float *src, const float *stats, int n, float *out)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        dd_norm_apply_px(src, stats, out, i);
}

extern "C" __global__ void dd_warp(const float *src, const float *u, const float *v, int w, int h, float *out)
{
    DD_XY
    if (x < w && y < h)
        dd_warp_px(src, u, v, w, h, out, x, y);
}

extern "C" __global__ void dd_gradients(const float *a, const float *bw, int w, int h, float *ix, float *iy,
                                        float *it)
{
    DD_XY
    if (x < w && y < h)
        dd_gradients_px(a, bw, w, h, ix, iy, it, x, y);
}

extern "C" __global__ void dd_jacobi(const float *u, const float *v, const float *u0, const float *v0,
                                     const float *ix, const float *iy, const float *it, int w, int h,
                                     float smoothness, float *un, float *vn)
{
    DD_XY
    if (x < w && y < h)
        dd_jacobi_px(u, v, u0, v0, ix, iy, it, w, h, smoothness, un, vn, x, y);
}

extern "C" __global__ void dd_occlusion(const float *fu, const float *fv, const float *bu, const float *bv, int w,
                                        int h, float rel, float abs_, float *out)
{
    DD_XY
    if (x < w && y < h)
        dd_occlusion_px(fu, fv, bu, bv, w, h, rel, abs_, out, x, y);
}

extern "C" __global__ void dd_blend_flow(float *ab, const float *old_ab, const float *change, int size,
                                         float strength, float alpha, const float *occluded, int f)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < size * size)
        dd_blend_flow_px(ab, old_ab, change, size, strength, alpha, occluded, f, i);
}
#endif
