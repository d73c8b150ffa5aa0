//! What the kernels take, laid out as `recipe.cu` declares it: tables, frames, pixel layouts
//! and resize taps, made from the CPU path's own tables and geometry so both paths read the
//! same numbers.

use cudarc::driver::{DeviceRepr, LaunchConfig};

use crate::picture::resize::{Upsample, linear_taps, model_rows, nearest_indices};
use crate::video::frame::PixelFormat;

/// The CPU path's tables as the kernels take them (`dd_tables`): device pointers on the GPU,
/// host pointers in the host check.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Tables {
    pub(crate) lut: u64,
    pub(crate) weights: u64,
    pub(crate) unit: u64,
    pub(crate) coord: u64,
    pub(crate) grey_l: u64,
    pub(crate) grey_rgb: u64,
    pub(crate) xyz2rgb: u64,
    pub(crate) enc_base: u64,
    pub(crate) enc_thresholds: u64,
}

// SAFETY: plain old data with the layout of `dd_tables`.
unsafe impl DeviceRepr for Tables {}

/// A packed 8-bit frame as the kernels read it (`dd_frame_in`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FrameIn {
    pub data: u64,
    pub pitch: i32,
    pub width: i32,
    pub height: i32,
    pub layout: Layout,
}

// SAFETY: plain old data with the layout of `dd_frame_in`.
unsafe impl DeviceRepr for FrameIn {}

/// A packed 8-bit frame as the kernels write it (`dd_frame_out`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FrameOut {
    pub data: u64,
    pub pitch: i32,
    pub layout: Layout,
}

// SAFETY: plain old data with the layout of `dd_frame_out`.
unsafe impl DeviceRepr for FrameOut {}

/// Where a packed pixel keeps its channels: bytes per pixel and the byte offset of R, G, B and
/// alpha (-1: none).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub step: i32,
    pub r: i32,
    pub g: i32,
    pub b: i32,
    pub a: i32,
}

impl Layout {
    /// The packed 8-bit formats the kernels read and write directly; Y'CbCr and 16-bit are not
    /// among them yet.
    pub fn of(format: PixelFormat) -> Option<Self> {
        let l = |step, r, g, b, a| Some(Self { step, r, g, b, a });
        match format {
            PixelFormat::Gray8 => l(1, 0, 0, 0, -1),
            PixelFormat::Rgb => l(3, 0, 1, 2, -1),
            PixelFormat::Bgr => l(3, 2, 1, 0, -1),
            PixelFormat::Rgba => l(4, 0, 1, 2, 3),
            PixelFormat::Bgra => l(4, 2, 1, 0, 3),
            PixelFormat::Rgbx => l(4, 0, 1, 2, -1),
            PixelFormat::Bgrx => l(4, 2, 1, 0, -1),
            PixelFormat::Gray16Le | PixelFormat::I420 | PixelFormat::Nv12 | PixelFormat::Y444 => {
                None
            }
        }
    }
}

/// A Y'CbCr frame as the kernels take it (`dd_yuv`): planes Y, U, V (NV12: U is the
/// interleaved CbCr plane, V unused).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct YuvFrame {
    pub y: u64,
    pub u: u64,
    pub v: u64,
    pub y_pitch: i32,
    pub u_pitch: i32,
    pub v_pitch: i32,
    pub width: i32,
    pub height: i32,
    pub format: i32,
}

// SAFETY: plain old data with the layout of `dd_yuv`.
unsafe impl DeviceRepr for YuvFrame {}
// SAFETY: plain old data with the layout of `dd_from_rgb`.
unsafe impl DeviceRepr for crate::video::frame::FromRgb {}

/// The kernels' code for a Y'CbCr format (`DD_I420`, `DD_NV12`, `DD_Y444`).
pub fn yuv_code(format: PixelFormat) -> Option<i32> {
    match format {
        PixelFormat::I420 => Some(0),
        PixelFormat::Nv12 => Some(1),
        PixelFormat::Y444 => Some(2),
        _ => None,
    }
}

/// A bilinear tap as the kernels take it (`dd_tap`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    pub(crate) i0: i32,
    pub(crate) i1: i32,
    pub(crate) w: f32,
}

// SAFETY: plain old data with the layout of `dd_tap`.
unsafe impl DeviceRepr for Tap {}

pub(crate) fn taps(t: &[crate::picture::resize::Tap]) -> Vec<Tap> {
    t.iter()
        .map(|t| Tap {
            i0: t.i0 as i32,
            i1: t.i1 as i32,
            w: t.w,
        })
        .collect()
}

/// The model input's geometry for a `width` x `height` frame: horizontal and vertical taps, and
/// whether OpenCV's exact-2x area path applies instead.
pub fn input_geometry(width: usize, height: usize, size: usize) -> (Vec<Tap>, Vec<Tap>, bool) {
    (
        taps(&linear_taps(width, size)),
        taps(&model_rows(height, size)),
        width == 2 * size && height == 2 * size,
    )
}

/// The chroma upsampling's geometry: taps from `size` to the frame, and whether it is nearest
/// (then only `i0` is used). Edge-aware upsampling needs the whole plane and is not a kernel.
pub fn upsample_geometry(
    size: usize,
    width: usize,
    height: usize,
    upsample: Upsample,
) -> Option<(Vec<Tap>, Vec<Tap>, bool)> {
    let nearest = |n: usize| -> Vec<Tap> {
        nearest_indices(size, n)
            .into_iter()
            .map(|i| Tap {
                i0: i as i32,
                i1: i as i32,
                w: 0.0,
            })
            .collect()
    };
    match upsample {
        Upsample::Nearest => Some((nearest(width), nearest(height), true)),
        Upsample::Bilinear => Some((
            taps(&linear_taps(size, width)),
            taps(&linear_taps(size, height)),
            false,
        )),
        Upsample::EdgeAware => None,
    }
}

/// The tables' host copies, borrowed from the CPU path.
pub(crate) struct HostTables {
    pub(crate) lut: &'static [i16],
    pub(crate) weights: &'static [i16],
    pub(crate) unit: &'static [f32],
    pub(crate) coord: &'static [u16],
    pub(crate) grey_l: &'static [f32],
    pub(crate) grey_rgb: &'static [[f32; 3]],
    pub(crate) xyz2rgb: &'static [f32; 9],
    pub(crate) enc_base: &'static [u8],
    pub(crate) enc_thresholds: &'static [f32; 257],
}

pub(crate) fn host_tables() -> HostTables {
    let lab = crate::picture::lab::kernel_tables();
    let sample = <u8 as crate::picture::photo::Sample>::tables();
    HostTables {
        lut: lab.lut,
        weights: lab.weights,
        unit: &sample.unit,
        coord: &sample.coord,
        grey_l: &sample.grey_l,
        grey_rgb: lab.grey_rgb,
        xyz2rgb: lab.xyz2rgb,
        enc_base: lab.enc_base,
        enc_thresholds: lab.enc_thresholds,
    }
}

/// 16 x 16 threads per block over a `w` x `h` grid of pixels.
pub(crate) fn grid(w: usize, h: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: ((w as u32).div_ceil(16), (h as u32).div_ceil(16), 1),
        block_dim: (16, 16, 1),
        shared_mem_bytes: 0,
    }
}

pub(crate) fn as_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: the tables are plain numbers (i16, u16, f32): any byte view of them is valid.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}
