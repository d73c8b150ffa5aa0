//! The DDColor colorization engine: the official inference recipe with OpenCV-exact colour
//! maths, an ONNX Runtime session for any model with the DDColor contract, and photo file I/O.
//!
//! Free of GStreamer types on purpose: the `ddcolor` runner and the `ddcolorize` element share
//! this one implementation of the recipe.

pub mod catalog;
pub mod cuda;
pub mod device;
pub mod error;
pub mod flow;
pub mod frame;
pub mod guided;
pub mod io;
pub mod lab;
pub mod mark;
pub mod metrics;
pub mod model;
pub mod photo;
pub mod post;
pub mod provenance;
pub mod recipe;
pub mod resize;
pub mod temporal;
pub mod workflow;

pub use error::{EngineError, Result};
pub use frame::{
    Frame, FrameError, FrameMut, LumaPlane, PixelFormat, Yuv, YuvMatrix, frame_to_photo,
    photo_to_frame,
};
pub use model::{Model, ModelOptions};
pub use photo::{Photo, Samples};
pub use post::LabImage;
pub use recipe::{model_input, recombine, recombine_into};
pub use resize::Upsample;

/// Colorizes one photo with `model`: the whole recipe in one call.
pub fn colorize(model: &mut Model, photo: &Photo, upsample: Upsample) -> Result<Photo> {
    let s = model.input_size();
    let mut input = vec![0f32; 3 * s * s];
    model_input(photo, s, &mut input);
    let mut ab = Vec::new();
    model.run(&input, 1, &mut ab)?;
    Ok(recombine(photo, &ab, s, upsample))
}
