//! The DDColor colorization engine: the official inference recipe with OpenCV-exact colour
//! maths, an ONNX Runtime session for any model with the DDColor contract, and photo file I/O.
//!
//! Free of GStreamer types on purpose: the `ddcolor` runner and the `ddcolorize` element share
//! this one implementation of the recipe, and ask its [`Plan`] every decision about model,
//! size, upsampling, device and the out-of-memory step-down.
//!
//! The folders are layers, each using only those below it: `picture` (photo, Lab, resize),
//! `inference` (catalog, device, model, CUDA libraries), `post` and `workflow`
//! (post-processing), `recipe` (model input, recombination, the plan), `video` (frame formats,
//! temporal smoothing, metrics), `gpu` (the recipe's kernels), `files` (codecs, provenance).
//! They are private: what front ends use is re-exported below, grouped as they use it.

mod error;
mod files;
mod gpu;
mod inference;
mod picture;
mod post;
mod recipe;
mod video;
pub mod workflow;

pub use error::{EngineError, Result};
pub use inference::model::{CpuMemory, Model, ModelOptions};
pub use picture::photo::{Photo, Samples};
pub use picture::resize::Upsample;
pub use post::LabImage;
pub use post::style::Style;
pub use recipe::{build_tables, model_input, recombine, recombine_into};

/// Every decision about how a run colorizes: model, S, upsampling, the out-of-memory step-down.
pub mod plan {
    pub use crate::recipe::plan::{
        Choice, Plan, PlanError, PlanRequest, STEP_DOWN_SIZES, SizeRule, Sizes, upsample,
    };
}

/// Which DDColor models exist and how one is found.
pub mod catalog {
    pub use crate::inference::catalog::{
        CatalogError, Chosen, GENERATED, VARIANTS, choose, find_named, model_dirs,
    };
}

/// Where inference runs, and how running out of device memory is recognised.
pub mod device {
    pub use crate::inference::device::{Device, GpuOptions, Placement};
}

/// Film frames as video pipelines hand them over (packed RGB, Y'CbCr, grey) and their
/// conversion to and from photos.
pub mod frame {
    pub use crate::video::frame::{
        Frame, FrameError, FrameMut, LumaPlane, PixelFormat, Yuv, YuvMatrix, frame_to_photo,
        photo_to_frame,
    };
}

/// Reading and writing photos.
pub mod io {
    pub use crate::files::atomic::{
        persist_synced, sweep_stale, sync_folder, temp_file_beside, write_atomically,
    };
    pub use crate::files::codecs::{
        DEFAULT_MAX_PIXELS, INPUT_EXTENSIONS, OutputFormat, WriteOptions, chroma_is_coarse,
        decode_photo, encode_photo, is_image_path, read_photo, special_file_kind, write_encoded,
        write_photo,
    };
}

/// What each result records about how it was made.
pub mod provenance {
    pub use crate::files::provenance::{Provenance, model_name, sha256_file_cached};
}

/// The visible "colorized" mark.
pub mod mark {
    pub use crate::files::mark::draw_mark_u8;
}

/// OpenCV-exact Lab conversions (also the reference the tests and benchmarks compare with).
pub mod lab {
    pub use crate::picture::lab::{LabToRgb, lab_to_rgb, rgb_to_lab};
}

/// The recipe's resize to model size, for benchmarks that feed a model by hand.
pub mod resize {
    pub use crate::picture::resize::{linear_taps, resize_to_model};
}

/// Temporal smoothing of film chroma.
pub mod temporal {
    pub use crate::video::temporal::{
        DEFAULT_MOTION_SENSITIVITY, DEFAULT_SCENE_CUT_THRESHOLD, DEFAULT_STRENGTH, SceneSignature,
        Smoother, Step, TemporalMode, TemporalSettings, scene_change, scene_signature,
    };
}

/// Film metrics: warping error, colour distribution consistency, colourfulness, colour error.
pub mod metrics {
    pub use crate::video::flow::Plane;
    pub use crate::video::metrics::{
        Histograms, Motion, Rgb, cdc, colour_error, colourfulness, histograms, jensen_shannon,
        warp_error,
    };
}

/// Guided filters, kept for the upsampling benchmark's comparison of edge-aware methods.
pub mod guided {
    pub use crate::post::guided::{guided_filter, guided_upsample, joint_bilateral_upsample};
}

/// The recipe on an NVIDIA GPU: kernels, frames held in GPU memory, the shared CUDA context.
pub mod cuda {
    pub use crate::gpu::frames::{self, GpuFrames, Memory, Planes};
    pub use crate::gpu::{
        FrameIn, FrameOut, GpuColorizer, GpuError, Layout, Timing, libraries_present,
        primary_context, yuv_code,
    };
}

/// Colorizes one photo with `model`: the whole recipe in one call.
pub fn colorize(model: &mut Model, photo: &Photo, upsample: Upsample) -> Result<Photo> {
    let s = model.input_size();
    let mut input = vec![0f32; 3 * s * s];
    model_input(photo, s, &mut input);
    let mut ab = Vec::new();
    model.run(&input, 1, &mut ab)?;
    Ok(recombine(photo, &ab, s, upsample))
}
