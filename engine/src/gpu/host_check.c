/*
 * The GPU kernels' per-pixel code (recipe.cu) compiled for the host, one loop per kernel in
 * place of the grid, so that tests compare it with the Rust CPU path on any machine
 * (engine/build.rs builds it; engine/src/cuda.rs declares it).
 */
#include "recipe.cu"

void dd_host_model_input(const dd_tables *t, const dd_frame_in *in, const dd_tap *xt, const dd_tap *yt,
                         int size, int area2x, float *out)
{
    for (int dy = 0; dy < size; dy++)
        for (int dx = 0; dx < size; dx++)
            dd_model_input_px(t, in, xt, yt, size, area2x, out, dx, dy);
}

void dd_host_recombine(const dd_tables *t, const dd_frame_in *in, const float *ab, int size,
                       const dd_tap *xt, const dd_tap *yt, int nearest, const dd_frame_out *out)
{
    for (int y = 0; y < in->height; y++)
        for (int x = 0; x < in->width; x++)
            dd_recombine_px(t, in, ab, size, xt, yt, nearest, out, x, y);
}

void dd_host_yuv_to_rgb(const dd_to_rgb *t, const dd_yuv *f, dd_u8 *out, int out_pitch)
{
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++)
            dd_yuv_to_rgb_px(t, f, out, out_pitch, x, y);
}

void dd_host_rgb_to_yuv(const dd_from_rgb *t, const dd_u8 *in, int in_pitch, int step, const dd_yuv *f)
{
    int sub = f->format == DD_Y444 ? 1 : 2;
    for (int cy = 0; cy < (f->height + sub - 1) / sub; cy++)
        for (int cx = 0; cx < (f->width + sub - 1) / sub; cx++)
            dd_rgb_to_yuv_px(t, in, in_pitch, step, f, cx, cy);
}

void dd_host_box_blur3(const float *src, int size, float *out)
{
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            dd_box_blur3_px(src, size, out, x, y);
}

void dd_host_diff_grid(const float *cur, const float *prev, int size, int step, float *out)
{
    int grid = (size + step - 1) / step;
    for (int gy = 0; gy < grid; gy++)
        for (int gx = 0; gx < grid; gx++)
            dd_diff_grid_px(cur, prev, size, step, out, gx, gy);
}

void dd_host_luma_change(const float *cur, const float *prev, int size, float typical, int radius, float *out)
{
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            dd_luma_change_px(cur, prev, size, typical, radius, out, x, y);
}

void dd_host_blend(float *ab, const float *old_ab, const float *change, int size, float strength, float alpha)
{
    for (int i = 0; i < size * size; i++)
        dd_blend_px(ab, old_ab, change, size, strength, alpha, i);
}

void dd_host_signature(const float *luma, int width, int height, float *sums, float *counts, unsigned int *hist)
{
    for (int cell = 0; cell < DD_THUMB * DD_THUMB; cell++)
        dd_signature_cell(luma, width, height, sums, counts, cell);
    for (int b = 0; b < DD_HIST_BINS; b++)
        hist[b] = 0;
    for (long i = 0; i < (long)width * height; i++)
        hist[dd_hist_bin(luma[i])]++;
}

void dd_host_half(const float *src, int w, int h, float *out)
{
    for (int y = 0; y < (h + 1) / 2; y++)
        for (int x = 0; x < (w + 1) / 2; x++)
            dd_half_px(src, w, h, out, x, y);
}

void dd_host_resample(const float *src, int sw, int sh, int dw, int dh, int scale, float *out)
{
    for (int y = 0; y < dh; y++)
        for (int x = 0; x < dw; x++)
            dd_resample_px(src, sw, sh, dw, dh, scale, out, x, y);
}

void dd_host_normalise(const float *src, int n, float *out)
{
    float stats[2];
    dd_norm_stats(src, n, stats);
    for (int i = 0; i < n; i++)
        dd_norm_apply_px(src, stats, out, i);
}

void dd_host_warp(const float *src, const float *u, const float *v, int w, int h, float *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            dd_warp_px(src, u, v, w, h, out, x, y);
}

void dd_host_gradients(const float *a, const float *bw, int w, int h, float *ix, float *iy, float *it)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            dd_gradients_px(a, bw, w, h, ix, iy, it, x, y);
}

void dd_host_jacobi(const float *u, const float *v, const float *u0, const float *v0, const float *ix,
                    const float *iy, const float *it, int w, int h, float smoothness, float *un, float *vn)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            dd_jacobi_px(u, v, u0, v0, ix, iy, it, w, h, smoothness, un, vn, x, y);
}

void dd_host_occlusion(const float *fu, const float *fv, const float *bu, const float *bv, int w, int h, float rel,
                       float abs_, float *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            dd_occlusion_px(fu, fv, bu, bv, w, h, rel, abs_, out, x, y);
}

void dd_host_blend_flow(float *ab, const float *old_ab, const float *change, int size, float strength, float alpha,
                        const float *occluded, int f)
{
    for (int i = 0; i < size * size; i++)
        dd_blend_flow_px(ab, old_ab, change, size, strength, alpha, occluded, f, i);
}
