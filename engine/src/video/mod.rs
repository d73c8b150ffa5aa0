//! Film frames: the pixel formats a video pipeline hands over, temporal smoothing and the
//! optical flow it warps with, and the film metrics that judge flicker and colour.

pub mod flow;
pub mod frame;
pub mod metrics;
pub mod temporal;
