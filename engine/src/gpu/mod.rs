//! The recipe's pre- and post-processing as CUDA kernels, through `cudarc` (NVRTC at run time,
//! the driver API loaded dynamically: the default build needs no CUDA toolkit, and a machine
//! without a GPU never loads either library).
//!
//! The kernels (`recipe.cu`) are written so that the same source also compiles as C on the
//! host; a test runs that host build against the CPU path on real photos and requires equal
//! bytes, and another has NVRTC compile the kernels (no GPU needed for either). What only a GPU
//! can check, the launches, is in `gpu_kernels_equal_the_cpu_path`, skipped (and saying so)
//! where there is none.

use cudarc::nvrtc::CompileOptions;

pub use crate::inference::cuda::{GpuError, libraries_present, primary_context, shared_stream};

mod colorizer;
mod kernels;
mod layout;

pub use colorizer::*;
pub use kernels::*;
pub use layout::*;

pub mod frames;

mod smooth;

/// The kernels' source, compiled by NVRTC when a [`GpuRecipe`] is made.
pub const KERNELS: &str = include_str!("recipe.cu");

/// NVRTC options: no fused multiply-add, so that every float operation rounds as the CPU
/// path's does (the host build of the same source uses `-ffp-contract=off`).
pub fn compile_options(arch: Option<&'static str>) -> CompileOptions {
    CompileOptions {
        fmad: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        ftz: Some(false),
        arch,
        name: Some("recipe.cu".into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
