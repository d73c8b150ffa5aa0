//! Builds the host copy of the CUDA kernels' per-pixel code (`src/gpu/host_check.c` includes
//! `src/gpu/recipe.cu`). Tests compare it with the CPU path bit for bit, so the GPU path's
//! maths is checked on every machine; no CUDA toolkit is involved.

fn main() {
    println!("cargo:rerun-if-changed=src/gpu/recipe.cu");
    println!("cargo:rerun-if-changed=src/gpu/host_check.c");
    cc::Build::new()
        .file("src/gpu/host_check.c")
        .std("c11")
        .opt_level(2)
        // Every product rounded on its own, as in the Rust code and under NVRTC's --fmad=false.
        .flag("-ffp-contract=off")
        .flag_if_supported("-fno-fast-math")
        .warnings(true)
        .extra_warnings(true)
        .compile("ddcolor_kernels_host");
}
