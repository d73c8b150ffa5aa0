//! `ddcolorize`: a video filter that colorizes grey (or greyed) frames with a DDColor model.
//!
//! Frames are collected into batches of `batch-size`, pre-processed as they arrive (so the input
//! buffer goes back upstream at once and decoder pools never run dry), run through the model
//! in one call, and pushed downstream in order with their timestamps.
//!
//! SECTION:element-ddcolorize
//!
//! Colorizes black-and-white film (or stills) with a DDColor ONNX model, smoothing the colour
//! from frame to frame so it does not flicker. The model, S, upsampling, device and the
//! out-of-memory step-down are decided by the engine's plan, as for `ddcolor photo`; the S that
//! runs is posted as an element message named `ddcolorize-input-size`.
//!
//! ## Example launch line
//! ```text
//! gst-launch-1.0 filesrc location=old.mp4 ! decodebin ! videoconvert ! \
//!     ddcolorize model=modelscope input-size=512 ! videoconvert ! x264enc ! mp4mux ! \
//!     filesink location=colour.mp4
//! ```

use gst::glib;
use gst::prelude::*;

mod batch;
mod caps;
mod gpu;
mod imp;

pub use imp::SIZE_MESSAGE;

#[cfg(test)]
pub(crate) use caps::pixel_format;

glib::wrapper! {
    pub struct Ddcolorize(ObjectSubclass<imp::Ddcolorize>)
        @extends gst_video::VideoFilter, gst_base::BaseTransform, gst::Element, gst::Object;
}

/// How the model's chroma is brought up to the frame size (see `ddcolor_engine::Upsample`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDdcolorizeUpsample")]
pub enum Upsample {
    #[enum_value(
        name = "Nearest: as the official DDColor code, for exact reproduction",
        nick = "nearest"
    )]
    Nearest = 0,
    #[default]
    #[enum_value(name = "Bilinear: smooth colour edges (default)", nick = "bilinear")]
    Bilinear = 1,
    #[enum_value(
        name = "Edge-aware: colour edges follow the frame's own edges (joint bilateral)",
        nick = "edge-aware"
    )]
    EdgeAware = 2,
}

impl From<Upsample> for ddcolor_engine::Upsample {
    fn from(u: Upsample) -> Self {
        match u {
            Upsample::Nearest => ddcolor_engine::Upsample::Nearest,
            Upsample::Bilinear => ddcolor_engine::Upsample::Bilinear,
            Upsample::EdgeAware => ddcolor_engine::Upsample::EdgeAware,
        }
    }
}

/// Temporal smoothing of the colour between frames (see `ddcolor_engine::temporal`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDdcolorizeTemporal")]
pub enum Temporal {
    #[enum_value(name = "Off: every frame coloured on its own", nick = "off")]
    Off = 0,
    #[enum_value(
        name = "Recursive: blend with the previous frame where the picture did not change",
        nick = "recursive"
    )]
    Recursive = 1,
    #[default]
    #[enum_value(
        name = "Flow: blend with the previous frame moved along the optical flow (default)",
        nick = "flow"
    )]
    Flow = 2,
}

impl From<Temporal> for ddcolor_engine::temporal::TemporalMode {
    fn from(t: Temporal) -> Self {
        use ddcolor_engine::temporal::TemporalMode;
        match t {
            Temporal::Off => TemporalMode::Off,
            Temporal::Recursive => TemporalMode::Recursive,
            Temporal::Flow => TemporalMode::Flow,
        }
    }
}

/// Where inference runs (see `ddcolor_engine::device`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDdcolorizeDevice")]
pub enum Device {
    #[enum_value(name = "CPU: ONNX Runtime on the processor", nick = "cpu")]
    Cpu = 0,
    #[enum_value(
        name = "CUDA: ONNX Runtime's CUDA (and TensorRT) providers on an NVIDIA GPU; fails without one",
        nick = "cuda"
    )]
    Cuda = 1,
    #[default]
    #[enum_value(
        name = "Auto: the GPU when it can be used, else the CPU",
        nick = "auto"
    )]
    Auto = 2,
}

impl From<Device> for ddcolor_engine::device::Device {
    fn from(d: Device) -> Self {
        use ddcolor_engine::device::Device as D;
        match d {
            Device::Cpu => D::Cpu,
            Device::Cuda => D::Cuda,
            Device::Auto => D::Auto,
        }
    }
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "ddcolorize",
        gst::Rank::NONE,
        Ddcolorize::static_type(),
    )
}

/// A look applied after the workflow's steps (see `ddcolor_engine::Style`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDdcolorizeStyle")]
pub enum Style {
    #[default]
    #[enum_value(
        name = "None: the colours as the model and workflow give them",
        nick = "none"
    )]
    None = 0,
    #[enum_value(name = "Vintage film: muted, warm, fine grain", nick = "vintage")]
    Vintage = 1,
    #[enum_value(name = "Modern HD: vivid, clean", nick = "modern")]
    Modern = 2,
}

impl Style {
    pub fn engine(self) -> Option<ddcolor_engine::Style> {
        use ddcolor_engine::Style as S;
        match self {
            Style::None => None,
            Style::Vintage => Some(S::Vintage),
            Style::Modern => Some(S::Modern),
        }
    }
}
