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
