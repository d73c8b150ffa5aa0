//! Raw video frames to and from [`Photo`], so the film element can feed mapped buffers to the
//! same recipe the runner uses without the engine learning any GStreamer type.
//!
//! Frames are described the way a video mapping hands them over (planes plus strides), and the
//! conversions read and write them in place: a 4K film runs this twice per frame, so nothing here
//! copies a frame more than once or allocates per pixel, and rows are spread over rayon's pool.
//! Y'CbCr maths is done in float with one rounding per output sample, so a grey frame stays
//! exactly grey and an RGB -> Y'CbCr -> RGB round trip moves a pixel by no more than the Y'CbCr
//! grid's quantisation (plus, in 4:2:0, the chroma detail that subsampling gives up).

use rayon::prelude::*;

use crate::picture::photo::{Photo, Samples};

/// The raw layouts the film element negotiates. Only what the recipe can use losslessly (or, for
/// Y'CbCr, with one rounding) is listed, so an unsupported layout is refused at caps time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Gray8,
    Gray16Le,
    I420,
    Nv12,
    Y444,
    Rgb,
    Bgr,
    Rgba,
    Bgra,
    Rgbx,
    Bgrx,
}

impl PixelFormat {
    pub fn is_grey(self) -> bool {
        matches!(self, Self::Gray8 | Self::Gray16Le)
    }

    pub fn is_yuv(self) -> bool {
        matches!(self, Self::I420 | Self::Nv12 | Self::Y444)
    }

    /// Only a real alpha channel counts: the padding byte of `Rgbx`/`Bgrx` carries nothing.
    pub fn has_alpha(self) -> bool {
        matches!(self, Self::Rgba | Self::Bgra)
    }

    pub fn n_planes(self) -> usize {
        match self {
            Self::I420 | Self::Y444 => 3,
            Self::Nv12 => 2,
            _ => 1,
        }
    }

    /// Channels of the photo this format decodes to.
    fn photo_channels(self) -> usize {
        match self {
            Self::Gray8 | Self::Gray16Le => 1,
            Self::Rgba | Self::Bgra => 4,
            _ => 3,
        }
    }

    /// `(row bytes, rows)` of each plane; `(0, 0)` for planes the format does not use. `None`
    /// when the sizes do not fit in `usize`, so absurd caps become an error and not a wrap.
    pub(crate) fn plane_shapes(self, width: usize, height: usize) -> Option<[(usize, usize); 3]> {
        let (cw, chh) = (width.div_ceil(2), height.div_ceil(2));
        let packed = |bpp: usize| Some([(width.checked_mul(bpp)?, height), (0, 0), (0, 0)]);
        match self {
            Self::Gray8 => packed(1),
            Self::Gray16Le => packed(2),
            Self::Rgb | Self::Bgr => packed(3),
            Self::Rgba | Self::Bgra | Self::Rgbx | Self::Bgrx => packed(4),
            Self::I420 => Some([(width, height), (cw, chh), (cw, chh)]),
            Self::Nv12 => Some([(width, height), (cw.checked_mul(2)?, chh), (0, 0)]),
            Self::Y444 => Some([(width, height); 3]),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
    Bt2020,
}

impl YuvMatrix {
    /// `(Kr, Kb)`; Kg is whatever makes them sum to one.
    fn kr_kb(self) -> (f64, f64) {
        match self {
            Self::Bt601 => (0.299, 0.114),
            Self::Bt709 => (0.2126, 0.0722),
            Self::Bt2020 => (0.2627, 0.0593),
        }
    }
}

/// How Y'CbCr relates to R'G'B' for YUV formats (ignored for others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Yuv {
    pub matrix: YuvMatrix,
    pub full_range: bool,
}

/// BT.709 limited range: what HD video without colorimetry in its caps means in practice.
impl Default for Yuv {
    fn default() -> Self {
        Self {
            matrix: YuvMatrix::Bt709,
            full_range: false,
        }
    }
}

/// A read-only mapped frame. Unused planes: empty slices, stride 0.
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a [u8]; 3],
    pub strides: [usize; 3],
    pub yuv: Yuv,
}

/// A writable mapped frame. Unused planes: empty slices, stride 0.
pub struct FrameMut<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub planes: [&'a mut [u8]; 3],
    pub strides: [usize; 3],
    pub yuv: Yuv,
}

// By hand: a derived Debug would print every byte of a 4K frame.
impl std::fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("plane_lens", &self.planes.map(<[u8]>::len))
            .field("strides", &self.strides)
            .field("yuv", &self.yuv)
            .finish()
    }
}

impl std::fmt::Debug for FrameMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameMut")
            .field("format", &self.format)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("plane_lens", &self.planes.each_ref().map(|p| p.len()))
            .field("strides", &self.strides)
            .field("yuv", &self.yuv)
            .finish()
    }
}

/// Why a frame could not be converted. Frames come from buffers and caps the element does not
/// control, so every inconsistency is reported rather than trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error(
        "{format:?} {width}x{height}: plane {plane} stride {stride} is shorter than a row of {row_bytes} bytes"
    )]
    StrideTooSmall {
        format: PixelFormat,
        width: usize,
        height: usize,
        plane: usize,
        stride: usize,
        row_bytes: usize,
    },
    #[error(
        "{format:?} {width}x{height}: plane {plane} holds {len} bytes, but {rows} rows of {row_bytes} bytes at stride {stride} need {needed}"
    )]
    PlaneTooSmall {
        format: PixelFormat,
        width: usize,
        height: usize,
        plane: usize,
        len: usize,
        needed: usize,
        rows: usize,
        row_bytes: usize,
        stride: usize,
    },
    #[error("{format:?} {width}x{height}: plane {plane} would not fit in memory (stride {stride})")]
    TooLarge {
        format: PixelFormat,
        width: usize,
        height: usize,
        plane: usize,
        stride: usize,
    },
    #[error("photo is {photo_width}x{photo_height} but the frame is {frame_width}x{frame_height}")]
    SizeMismatch {
        photo_width: usize,
        photo_height: usize,
        frame_width: usize,
        frame_height: usize,
    },
    #[error("photo claims {width}x{height} with {channels} channels but holds {len} samples")]
    BadPhoto {
        width: usize,
        height: usize,
        channels: usize,
        len: usize,
    },
    #[error(
        "cannot write a {channels}-channel photo as {format:?} (grey formats take 1 or 2 channels, colour formats 3 or 4)"
    )]
    UnsupportedChannels {
        channels: usize,
        format: PixelFormat,
    },
    #[error(
        "keep_luma needs Y'CbCr frames of one size: input is {input:?} {input_width}x{input_height}, output {output:?} {output_width}x{output_height}"
    )]
    KeepLumaIncompatible {
        input: PixelFormat,
        input_width: usize,
        input_height: usize,
        output: PixelFormat,
        output_width: usize,
        output_height: usize,
    },
    #[error(
        "keep_luma: input Y' is {input:?} but the output is {output:?}; copying it would shift brightness"
    )]
    KeepLumaYuvMismatch { input: Yuv, output: Yuv },
}

/// Checks every plane the format uses against its width, height and stride, so the converters
/// can slice rows without further checks (and without panicking on a short buffer).
fn check_planes(
    format: PixelFormat,
    width: usize,
    height: usize,
    lens: [usize; 3],
    strides: [usize; 3],
) -> Result<[(usize, usize); 3], FrameError> {
    let too_large = |plane, stride| FrameError::TooLarge {
        format,
        width,
        height,
        plane,
        stride,
    };
    let shapes = format
        .plane_shapes(width, height)
        .ok_or(too_large(0, strides[0]))?;
    for plane in 0..format.n_planes() {
        let (row_bytes, rows) = shapes[plane];
        let (stride, len) = (strides[plane], lens[plane]);
        if rows == 0 || row_bytes == 0 {
            continue;
        }
        if stride < row_bytes {
            return Err(FrameError::StrideTooSmall {
                format,
                width,
                height,
                plane,
                stride,
                row_bytes,
            });
        }
        let needed = stride
            .checked_mul(rows - 1)
            .and_then(|b| b.checked_add(row_bytes))
            .ok_or(too_large(plane, stride))?;
        if len < needed {
            return Err(FrameError::PlaneTooSmall {
                format,
                width,
                height,
                plane,
                len,
                needed,
                rows,
                row_bytes,
                stride,
            });
        }
    }
    Ok(shapes)
}

fn check_frame(frame: &Frame) -> Result<(), FrameError> {
    check_planes(
        frame.format,
        frame.width,
        frame.height,
        frame.planes.map(<[u8]>::len),
        frame.strides,
    )
    .map(|_| ())
}

/// Row `y` of a checked plane.
#[inline]
fn row(plane: &[u8], stride: usize, y: usize, len: usize) -> &[u8] {
    &plane[y * stride..][..len]
}

/// Rows handed to one rayon task: small frames would drown in scheduling otherwise.
fn rows_per_task(row_pixels: usize) -> usize {
    (16_384 / row_pixels.max(1)).max(1)
}

/// Round half away from zero and clamp, once per output sample. The same result as
/// `v.round().clamp(0.0, 255.0)`, but `f32::round` is a libm call on baseline x86-64 and this
/// runs three times per pixel: truncate and look at the (exact) fraction instead. Not
/// `(v + 0.5) as u8`, which turns 0.49999997 into 1.
#[inline(always)]
fn to_u8(v: f32) -> u8 {
    let v = v.clamp(0.0, 255.0);
    let t = v as i32;
    (t + ((v - t as f32) >= 0.5) as i32) as u8
}

/// Y'CbCr -> R'G'B' as per-code tables (in 0..255 units), built once per frame: the per-pixel
/// work is then three adds. Every chroma table is exactly 0 at code 128, so a grey pixel gives
/// R = G = B = Y' bit for bit.
/// `repr(C)`: the CUDA kernels take it as it is (`dd_to_rgb` in gpu/recipe.cu).
#[repr(C)]
pub(crate) struct ToRgb {
    y: [f32; 256],
    r_cr: [f32; 256],
    g_cb: [f32; 256],
    g_cr: [f32; 256],
    b_cb: [f32; 256],
}

impl ToRgb {
    pub(crate) fn new(yuv: Yuv) -> Self {
        let (kr, kb) = yuv.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y0, y_scale, c_scale) = if yuv.full_range {
            (0.0, 1.0 / 255.0, 1.0 / 255.0)
        } else {
            (16.0, 1.0 / 219.0, 1.0 / 224.0)
        };
        let mut t = Self {
            y: [0.0; 256],
            r_cr: [0.0; 256],
            g_cb: [0.0; 256],
            g_cr: [0.0; 256],
            b_cb: [0.0; 256],
        };
        for i in 0..256 {
            let code = i as f64;
            t.y[i] = ((code - y0) * y_scale * 255.0) as f32;
            let c = (code - 128.0) * c_scale;
            t.r_cr[i] = (2.0 * (1.0 - kr) * c * 255.0) as f32;
            t.b_cb[i] = (2.0 * (1.0 - kb) * c * 255.0) as f32;
            t.g_cb[i] = (kb * 2.0 * (1.0 - kb) / kg * c * 255.0) as f32;
            t.g_cr[i] = (kr * 2.0 * (1.0 - kr) / kg * c * 255.0) as f32;
        }
        t
    }

    /// The chroma offsets `(dR, dG, dB)` one Cb/Cr pair adds to Y'.
    #[inline(always)]
    fn chroma(&self, cb: u8, cr: u8) -> [f32; 3] {
        let (cb, cr) = (cb as usize, cr as usize);
        [
            self.r_cr[cr],
            -(self.g_cb[cb] + self.g_cr[cr]),
            self.b_cb[cb],
        ]
    }

    #[inline(always)]
    fn put(&self, dst: &mut [u8; 3], y: u8, c: [f32; 3]) {
        let y = self.y[y as usize];
        *dst = [to_u8(y + c[0]), to_u8(y + c[1]), to_u8(y + c[2])];
    }
}

/// R'G'B' (0..255 units) -> Y'CbCr codes, constants folded once per frame. `repr(C)`: the CUDA
/// kernels take it as it is (`dd_from_rgb` in gpu/recipe.cu).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct FromRgb {
    kr: f32,
    kg: f32,
    kb: f32,
    y_off: f32,
    y_scale: f32,
    cb_scale: f32,
    cr_scale: f32,
}

impl FromRgb {
    pub(crate) fn new(yuv: Yuv) -> Self {
        let (kr, kb) = yuv.matrix.kr_kb();
        let kg = 1.0 - kr - kb;
        let (y_off, y_scale, c_scale) = if yuv.full_range {
            (0.0, 1.0, 1.0)
        } else {
            (16.0, 219.0 / 255.0, 224.0 / 255.0)
        };
        Self {
            kr: kr as f32,
            kg: kg as f32,
            kb: kb as f32,
            y_off: y_off as f32,
            y_scale: y_scale as f32,
            cb_scale: (c_scale / (2.0 * (1.0 - kb))) as f32,
            cr_scale: (c_scale / (2.0 * (1.0 - kr))) as f32,
        }
    }

    /// Unscaled Y' in 0..255 units: shared by the luma code and both colour differences.
    #[inline(always)]
    fn luma(&self, [r, g, b]: [f32; 3]) -> f32 {
        self.kr * r + self.kg * g + self.kb * b
    }

    #[inline(always)]
    fn y(&self, luma: f32) -> u8 {
        to_u8(self.y_off + self.y_scale * luma)
    }

    #[inline(always)]
    fn cb_cr(&self, [r, _, b]: [f32; 3], luma: f32) -> (u8, u8) {
        (
            to_u8(128.0 + self.cb_scale * (b - luma)),
            to_u8(128.0 + self.cr_scale * (r - luma)),
        )
    }
}

/// Photo sample types as frames want them: frames are 8-bit except `Gray16Le`.
trait PhotoSample: Copy + Send + Sync {
    fn to8(self) -> u8;
    fn to16(self) -> u16;
}

impl PhotoSample for u8 {
    #[inline(always)]
    fn to8(self) -> u8 {
        self
    }
    #[inline(always)]
    fn to16(self) -> u16 {
        self as u16 * 257
    }
}

impl PhotoSample for u16 {
    /// Rounded as the runner's 8-bit output does, so a film and a still agree.
    #[inline(always)]
    fn to8(self) -> u8 {
        ((self as u32 * 255 + 32767) / 65535) as u8
    }
    #[inline(always)]
    fn to16(self) -> u16 {
        self
    }
}

/// Takes the photo's 8-bit sample buffer for refilling; a 16-bit one cannot be reused.
fn take_u8(samples: &mut Samples) -> Vec<u8> {
    match std::mem::replace(samples, Samples::U8(Vec::new())) {
        Samples::U8(v) => v,
        Samples::U16(_) => Vec::new(),
    }
}

fn take_u16(samples: &mut Samples) -> Vec<u16> {
    match std::mem::replace(samples, Samples::U16(Vec::new())) {
        Samples::U16(v) => v,
        Samples::U8(_) => Vec::new(),
    }
}

/// The luma plane of a Y'CbCr frame, held back so `keep-luma` can copy it unchanged into the
/// output (film grain stays bit-exact) without keeping the whole input frame.
#[derive(Clone, Copy, Debug)]
pub struct LumaPlane<'a> {
    /// The frame it came from (for messages; must be Y'CbCr).
    pub format: PixelFormat,
    pub data: &'a [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
    pub yuv: Yuv,
}

impl<'a> Frame<'a> {
    /// The Y' plane of a Y'CbCr frame; `None` for grey and RGB formats.
    pub fn luma(&self) -> Option<LumaPlane<'a>> {
        self.format.is_yuv().then(|| LumaPlane {
            format: self.format,
            data: self.planes[0],
            stride: self.strides[0],
            width: self.width,
            height: self.height,
            yuv: self.yuv,
        })
    }
}

/// Fills `photo` (reusing its sample Vec's capacity: no new allocation when the size is
/// unchanged) with the frame's pixels:
/// Gray8 -> U8 1 channel; Gray16Le -> U16 1 channel; Rgb/Bgr/Rgbx/Bgrx -> U8 3 channels in RGB
/// order (x bytes dropped); Rgba/Bgra -> U8 4 channels RGBA (alpha kept); I420/Nv12/Y444 -> U8 3
/// channels RGB through the frame's `yuv` matrix and range (4:2:0 chroma by nearest, as each
/// chroma sample stands for its 2x2 block).
///
/// On error `photo` is left as it was.
pub fn frame_to_photo(frame: &Frame, photo: &mut Photo) -> Result<(), FrameError> {
    check_frame(frame)?;
    let (w, h, format) = (frame.width, frame.height, frame.format);
    let channels = format.photo_channels();
    let too_large = FrameError::TooLarge {
        format,
        width: w,
        height: h,
        plane: 0,
        stride: frame.strides[0],
    };
    let row_len = w.checked_mul(channels).ok_or(too_large.clone())?;
    let n = row_len.checked_mul(h).ok_or(too_large)?;
    let min_rows = rows_per_task(w);

    if format == PixelFormat::Gray16Le {
        let mut v = take_u16(&mut photo.samples);
        v.resize(n, 0);
        if n > 0 {
            v.par_chunks_mut(row_len)
                .enumerate()
                .with_min_len(min_rows)
                .for_each(|(y, dst)| {
                    let src = row(frame.planes[0], frame.strides[0], y, 2 * w);
                    for (d, s) in dst.iter_mut().zip(src.as_chunks::<2>().0) {
                        *d = u16::from_le_bytes(*s);
                    }
                });
        }
        photo.samples = Samples::U16(v);
    } else {
        let mut v = take_u8(&mut photo.samples);
        v.resize(n, 0);
        if n > 0 {
            let tables = format.is_yuv().then(|| ToRgb::new(frame.yuv));
            v.par_chunks_mut(row_len)
                .enumerate()
                .with_min_len(min_rows)
                .for_each(|(y, dst)| match &tables {
                    Some(t) => yuv_row_to_rgb(t, frame, y, dst),
                    None => unpack_row(
                        format,
                        row(
                            frame.planes[0],
                            frame.strides[0],
                            y,
                            frame_row_bytes(format, w),
                        ),
                        dst,
                    ),
                });
        }
        photo.samples = Samples::U8(v);
    }
    photo.width = w;
    photo.height = h;
    photo.channels = channels;
    Ok(())
}

/// Bytes of one row of a single-plane format (the width was checked against this already).
fn frame_row_bytes(format: PixelFormat, width: usize) -> usize {
    width
        * match format {
            PixelFormat::Gray8 => 1,
            PixelFormat::Gray16Le => 2,
            PixelFormat::Rgb | PixelFormat::Bgr => 3,
            _ => 4,
        }
}

/// Reorders channels: `dst[c] = src[map[c]]` for each pixel.
#[inline(always)]
fn swizzle<const I: usize, const O: usize>(src: &[u8], dst: &mut [u8], map: [usize; O]) {
    for (s, d) in src
        .as_chunks::<I>()
        .0
        .iter()
        .zip(dst.as_chunks_mut::<O>().0)
    {
        for c in 0..O {
            d[c] = s[map[c]];
        }
    }
}

/// One row of a single-plane 8-bit format into RGB(A) photo order.
fn unpack_row(format: PixelFormat, src: &[u8], dst: &mut [u8]) {
    use PixelFormat::*;
    match format {
        Gray8 | Rgb | Rgba => dst.copy_from_slice(src),
        Bgr => swizzle::<3, 3>(src, dst, [2, 1, 0]),
        Rgbx => swizzle::<4, 3>(src, dst, [0, 1, 2]),
        Bgrx => swizzle::<4, 3>(src, dst, [2, 1, 0]),
        Bgra => swizzle::<4, 4>(src, dst, [2, 1, 0, 3]),
        // Not single-plane 8-bit: handled by the callers' own paths.
        Gray16Le | I420 | Nv12 | Y444 => {}
    }
}

/// Row `y` of a Y'CbCr frame into RGB.
fn yuv_row_to_rgb(t: &ToRgb, frame: &Frame, y: usize, dst: &mut [u8]) {
    let (w, p, s) = (frame.width, &frame.planes, &frame.strides);
    let cw = w.div_ceil(2);
    let luma = row(p[0], s[0], y, w);
    let px = dst.as_chunks_mut::<3>().0;
    match frame.format {
        PixelFormat::Y444 => {
            let (u, v) = (row(p[1], s[1], y, w), row(p[2], s[2], y, w));
            for (((d, &l), &cb), &cr) in px.iter_mut().zip(luma).zip(u).zip(v) {
                t.put(d, l, t.chroma(cb, cr));
            }
        }
        PixelFormat::I420 => {
            let (u, v) = (row(p[1], s[1], y / 2, cw), row(p[2], s[2], y / 2, cw));
            for (((d, l), &cb), &cr) in px.chunks_mut(2).zip(luma.chunks(2)).zip(u).zip(v) {
                let c = t.chroma(cb, cr);
                for (d, &l) in d.iter_mut().zip(l) {
                    t.put(d, l, c);
                }
            }
        }
        PixelFormat::Nv12 => {
            let uv = row(p[1], s[1], y / 2, 2 * cw);
            for ((d, l), &[cb, cr]) in px
                .chunks_mut(2)
                .zip(luma.chunks(2))
                .zip(uv.as_chunks::<2>().0)
            {
                let c = t.chroma(cb, cr);
                for (d, &l) in d.iter_mut().zip(l) {
                    t.put(d, l, c);
                }
            }
        }
        _ => {}
    }
}

/// Writes an RGB or RGBA photo (U8, or U16 which is scaled to 8 bits with rounding:
/// `(v*255 + 32767)/65535`, as the runner's 8-bit output does) into `out`:
/// - Rgb/Bgr/Rgbx/Bgrx/Rgba/Bgra: swizzle; alpha from the photo's 4th channel if it has one,
///   else opaque; the x byte of Rgbx/Bgrx written as 255 so downstream never sees stale bytes.
/// - I420/Nv12/Y444: Y'CbCr through `out.yuv`. A 4:2:0 chroma sample is the average of the (up
///   to) 2x2 pixels it covers, averaged in float and rounded once, so a flat area keeps its
///   exact colour; at odd edges only the pixels that exist are averaged.
/// - Gray8/Gray16Le: from a grey (or grey+alpha) photo only, alpha dropped; U8 goes to 16 bits
///   as `v * 257`.
///
/// `keep_luma`: Some(input frame) copies the input's Y plane row by row unchanged (strides may
/// differ) instead of computing Y', so the film keeps its own brightness bit for bit and only
/// gains chroma. It needs Y'CbCr input and output of the same size and Y'CbCr settings.
///
/// Only pixel bytes are written: stride padding in `out` is left alone.
pub fn photo_to_frame(
    photo: &Photo,
    out: &mut FrameMut,
    keep_luma: Option<&LumaPlane>,
) -> Result<(), FrameError> {
    let (w, h, format) = (out.width, out.height, out.format);
    check_planes(
        format,
        w,
        h,
        out.planes.each_ref().map(|p| p.len()),
        out.strides,
    )?;
    if (photo.width, photo.height) != (w, h) {
        return Err(FrameError::SizeMismatch {
            photo_width: photo.width,
            photo_height: photo.height,
            frame_width: w,
            frame_height: h,
        });
    }
    let ch = photo.channels;
    let fits = if format.is_grey() {
        matches!(ch, 1 | 2)
    } else {
        matches!(ch, 3 | 4)
    };
    if !fits {
        return Err(FrameError::UnsupportedChannels {
            channels: ch,
            format,
        });
    }
    let len = match &photo.samples {
        Samples::U8(v) => v.len(),
        Samples::U16(v) => v.len(),
    };
    if w.checked_mul(h).and_then(|n| n.checked_mul(ch)) != Some(len) {
        return Err(FrameError::BadPhoto {
            width: w,
            height: h,
            channels: ch,
            len,
        });
    }
    if let Some(input) = keep_luma {
        if !input.format.is_yuv() || !format.is_yuv() || (input.width, input.height) != (w, h) {
            return Err(FrameError::KeepLumaIncompatible {
                input: input.format,
                input_width: input.width,
                input_height: input.height,
                output: format,
                output_width: w,
                output_height: h,
            });
        }
        if input.yuv != out.yuv {
            return Err(FrameError::KeepLumaYuvMismatch {
                input: input.yuv,
                output: out.yuv,
            });
        }
        check_planes(
            PixelFormat::Gray8,
            w,
            h,
            [input.data.len(), 0, 0],
            [input.stride, 0, 0],
        )?;
    }
    if w == 0 || h == 0 {
        return Ok(());
    }
    match &photo.samples {
        Samples::U8(v) => write_frame(v, ch, out, keep_luma),
        Samples::U16(v) => write_frame(v, ch, out, keep_luma),
    }
    Ok(())
}

/// `photo_to_frame` after every check: `src` holds `w * h * ch` samples and `out` (and
/// `keep`) have been validated, with a non-empty size.
fn write_frame<T: PhotoSample>(src: &[T], ch: usize, out: &mut FrameMut, keep: Option<&LumaPlane>) {
    let (w, h, format, strides) = (out.width, out.height, out.format, out.strides);
    let src_row = w * ch;
    let min_rows = rows_per_task(w);
    let [p0, p1, p2] = &mut out.planes;
    let (p0, p1, p2) = (&mut **p0, &mut **p1, &mut **p2);

    if format.is_yuv() {
        let t = FromRgb::new(out.yuv);
        let chroma_rows = h.div_ceil(2);
        // Each chroma row goes with a pair of Y' rows (saturating: a 1-row frame may have
        // any stride).
        let pair_stride = strides[0].saturating_mul(2);
        match format {
            PixelFormat::Y444 => {
                p0.par_chunks_mut(strides[0])
                    .zip(p1.par_chunks_mut(strides[1]))
                    .zip(p2.par_chunks_mut(strides[2]))
                    .take(h)
                    .enumerate()
                    .with_min_len(min_rows)
                    .for_each(|(y, ((yr, ur), vr))| {
                        let s = &src[y * src_row..][..src_row];
                        let yr = &mut yr[..w];
                        if let Some(k) = keep {
                            yr.copy_from_slice(row(k.data, k.stride, y, w));
                        }
                        for (x, (u, v)) in ur[..w].iter_mut().zip(&mut vr[..w]).enumerate() {
                            let px = rgb(s, ch, x);
                            let l = t.luma(px);
                            if keep.is_none() {
                                yr[x] = t.y(l);
                            }
                            (*u, *v) = t.cb_cr(px, l);
                        }
                    });
            }
            PixelFormat::I420 => {
                p0.par_chunks_mut(pair_stride)
                    .zip(p1.par_chunks_mut(strides[1]))
                    .zip(p2.par_chunks_mut(strides[2]))
                    .take(chroma_rows)
                    .enumerate()
                    .with_min_len(min_rows.div_ceil(2))
                    .for_each(|(cy, ((ys, ur), vr))| {
                        encode_420_pair(
                            &t,
                            src,
                            ch,
                            w,
                            h,
                            cy,
                            ys,
                            strides[0],
                            keep,
                            |cx, cb, cr| {
                                ur[cx] = cb;
                                vr[cx] = cr;
                            },
                        )
                    });
            }
            PixelFormat::Nv12 => {
                p0.par_chunks_mut(pair_stride)
                    .zip(p1.par_chunks_mut(strides[1]))
                    .take(chroma_rows)
                    .enumerate()
                    .with_min_len(min_rows.div_ceil(2))
                    .for_each(|(cy, (ys, uv))| {
                        encode_420_pair(
                            &t,
                            src,
                            ch,
                            w,
                            h,
                            cy,
                            ys,
                            strides[0],
                            keep,
                            |cx, cb, cr| {
                                uv[2 * cx] = cb;
                                uv[2 * cx + 1] = cr;
                            },
                        )
                    });
            }
            _ => {}
        }
        return;
    }

    let row_bytes = frame_row_bytes(format, w);
    p0.par_chunks_mut(strides[0])
        .take(h)
        .enumerate()
        .with_min_len(min_rows)
        .for_each(|(y, d)| {
            let s = &src[y * src_row..][..src_row];
            let d = &mut d[..row_bytes];
            use PixelFormat::*;
            match (format, ch) {
                (Gray8, _) => {
                    for (d, s) in d.iter_mut().zip(s.chunks_exact(ch)) {
                        *d = s[0].to8();
                    }
                }
                (Gray16Le, _) => {
                    for (d, s) in d.as_chunks_mut::<2>().0.iter_mut().zip(s.chunks_exact(ch)) {
                        *d = s[0].to16().to_le_bytes();
                    }
                }
                // Output byte i takes photo channel order[i] of [R, G, B, A-or-255].
                (Rgb, 3) => pack_row::<T, 3, 3>(s, d, [0, 1, 2]),
                (Rgb, _) => pack_row::<T, 4, 3>(s, d, [0, 1, 2]),
                (Bgr, 3) => pack_row::<T, 3, 3>(s, d, [2, 1, 0]),
                (Bgr, _) => pack_row::<T, 4, 3>(s, d, [2, 1, 0]),
                (Rgbx, 3) | (Rgba, 3) => pack_row::<T, 3, 4>(s, d, [0, 1, 2, 3]),
                (Bgrx, 3) | (Bgra, 3) => pack_row::<T, 3, 4>(s, d, [2, 1, 0, 3]),
                // The photo's alpha must not leak into an x byte.
                (Rgbx, _) => pack_row::<T, 4, 4>(s, d, [0, 1, 2, 4]),
                (Bgrx, _) => pack_row::<T, 4, 4>(s, d, [2, 1, 0, 4]),
                (Rgba, _) => pack_row::<T, 4, 4>(s, d, [0, 1, 2, 3]),
                (Bgra, _) => pack_row::<T, 4, 4>(s, d, [2, 1, 0, 3]),
                (I420 | Nv12 | Y444, _) => {}
            }
        });
}

/// One row of RGB(A) photo samples into a packed 8-bit format. `order` indexes
/// `[R, G, B, A, 255]`, where A is 255 for a 3-channel photo.
#[inline(always)]
fn pack_row<T: PhotoSample, const CH: usize, const BPP: usize>(
    src: &[T],
    dst: &mut [u8],
    order: [usize; BPP],
) {
    for (s, d) in src
        .as_chunks::<CH>()
        .0
        .iter()
        .zip(dst.as_chunks_mut::<BPP>().0)
    {
        // `s[CH - 1]` is only the alpha when CH == 4; the index stays in bounds for CH == 3.
        let a = if CH == 4 { s[CH - 1].to8() } else { 255 };
        let px = [s[0].to8(), s[1].to8(), s[2].to8(), a, 255];
        for i in 0..BPP {
            d[i] = px[order[i]];
        }
    }
}

/// Pixel `x` of a photo row as R'G'B' floats in 0..255 units.
#[inline(always)]
fn rgb<T: PhotoSample>(row: &[T], ch: usize, x: usize) -> [f32; 3] {
    let p = &row[x * ch..][..3];
    [p[0].to8() as f32, p[1].to8() as f32, p[2].to8() as f32]
}

/// Encodes luma rows `2cy` and `2cy + 1` (when it exists) and chroma row `cy` of a 4:2:0 frame.
/// `ys` starts at luma row `2cy`; `put(cx, cb, cr)` stores one chroma sample.
#[allow(clippy::too_many_arguments)]
fn encode_420_pair<T: PhotoSample>(
    t: &FromRgb,
    src: &[T],
    ch: usize,
    w: usize,
    h: usize,
    cy: usize,
    ys: &mut [u8],
    y_stride: usize,
    keep: Option<&LumaPlane>,
    mut put: impl FnMut(usize, u8, u8),
) {
    let y0 = 2 * cy;
    let two = y0 + 1 < h;
    let src_row = w * ch;
    let (first, rest) = if two {
        ys.split_at_mut(y_stride)
    } else {
        (ys, &mut [][..])
    };
    let row0 = &mut first[..w];
    let mut row1 = if two { Some(&mut rest[..w]) } else { None };
    let s0 = &src[y0 * src_row..][..src_row];
    let s1 = two.then(|| &src[(y0 + 1) * src_row..][..src_row]);
    if let Some(k) = keep {
        row0.copy_from_slice(row(k.data, k.stride, y0, w));
        if let Some(r1) = row1.as_deref_mut() {
            r1.copy_from_slice(row(k.data, k.stride, y0 + 1, w));
        }
    }
    let compute_luma = keep.is_none();
    for cx in 0..w.div_ceil(2) {
        let mut sum = [0f32; 3];
        let mut count = 0f32;
        for x in 2 * cx..(2 * cx + 2).min(w) {
            let px = rgb(s0, ch, x);
            if compute_luma {
                row0[x] = t.y(t.luma(px));
            }
            sum = [sum[0] + px[0], sum[1] + px[1], sum[2] + px[2]];
            count += 1.0;
            if let (Some(s1), Some(r1)) = (s1, row1.as_deref_mut()) {
                let px = rgb(s1, ch, x);
                if compute_luma {
                    r1[x] = t.y(t.luma(px));
                }
                sum = [sum[0] + px[0], sum[1] + px[1], sum[2] + px[2]];
                count += 1.0;
            }
        }
        let mean = sum.map(|v| v / count);
        let (cb, cr) = t.cb_cr(mean, t.luma(mean));
        put(cx, cb, cr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PixelFormat::*;

    const GARBAGE: u8 = 0xA7;
    const ALL: [PixelFormat; 11] = [
        Gray8, Gray16Le, I420, Nv12, Y444, Rgb, Bgr, Rgba, Bgra, Rgbx, Bgrx,
    ];
    const PACKED_RGB: [PixelFormat; 6] = [Rgb, Bgr, Rgba, Bgra, Rgbx, Bgrx];
    const YUV: [PixelFormat; 3] = [I420, Nv12, Y444];
    const MATRICES: [YuvMatrix; 3] = [YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020];

    /// Owned planes for a test frame; every padding byte (row tails and the unused tail after
    /// the last row) starts as `GARBAGE`.
    struct Buf {
        format: PixelFormat,
        width: usize,
        height: usize,
        planes: [Vec<u8>; 3],
        strides: [usize; 3],
        yuv: Yuv,
    }

    impl Buf {
        fn new(format: PixelFormat, width: usize, height: usize, pad: usize) -> Self {
            let shapes = format.plane_shapes(width, height).unwrap();
            let mut planes: [Vec<u8>; 3] = Default::default();
            let mut strides = [0; 3];
            for p in 0..format.n_planes() {
                let (row_bytes, rows) = shapes[p];
                strides[p] = row_bytes + pad;
                planes[p] = vec![GARBAGE; strides[p] * rows];
            }
            Self {
                format,
                width,
                height,
                planes,
                strides,
                yuv: Yuv::default(),
            }
        }

        fn frame(&self) -> Frame<'_> {
            Frame {
                format: self.format,
                width: self.width,
                height: self.height,
                planes: [
                    self.planes[0].as_slice(),
                    self.planes[1].as_slice(),
                    self.planes[2].as_slice(),
                ],
                strides: self.strides,
                yuv: self.yuv,
            }
        }

        fn frame_mut(&mut self) -> FrameMut<'_> {
            let [a, b, c] = &mut self.planes;
            FrameMut {
                format: self.format,
                width: self.width,
                height: self.height,
                planes: [a.as_mut_slice(), b.as_mut_slice(), c.as_mut_slice()],
                strides: self.strides,
                yuv: self.yuv,
            }
        }

        /// The pixel bytes of plane `p`, row by row, padding skipped.
        fn rows(&self, p: usize) -> Vec<u8> {
            let (row_bytes, rows) = self.format.plane_shapes(self.width, self.height).unwrap()[p];
            (0..rows)
                .flat_map(|y| row(&self.planes[p], self.strides[p], y, row_bytes).to_vec())
                .collect()
        }

        /// Fills every pixel byte with `f(plane, offset)`, padding untouched.
        fn fill(&mut self, mut f: impl FnMut(usize, usize) -> u8) {
            let shapes = self.format.plane_shapes(self.width, self.height).unwrap();
            for (p, &(row_bytes, rows)) in shapes.iter().enumerate() {
                for y in 0..rows {
                    for x in 0..row_bytes {
                        self.planes[p][y * self.strides[p] + x] = f(p, y * row_bytes + x);
                    }
                }
            }
        }

        /// Whether every padding byte still holds `GARBAGE`.
        fn padding_untouched(&self) -> bool {
            let shapes = self.format.plane_shapes(self.width, self.height).unwrap();
            (0..self.format.n_planes()).all(|p| {
                let (row_bytes, _) = shapes[p];
                self.planes[p]
                    .iter()
                    .enumerate()
                    .all(|(i, &b)| i % self.strides[p] < row_bytes || b == GARBAGE)
            })
        }
    }

    /// Deterministic noise, so failures reproduce.
    fn noise(seed: u64) -> impl FnMut() -> u8 {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 32) as u8
        }
    }

    fn photo_u8(
        width: usize,
        height: usize,
        channels: usize,
        f: impl FnMut(usize, usize, usize) -> u8,
    ) -> Photo {
        let mut f = f;
        let mut v = Vec::with_capacity(width * height * channels);
        for y in 0..height {
            for x in 0..width {
                for c in 0..channels {
                    v.push(f(x, y, c));
                }
            }
        }
        Photo {
            width,
            height,
            channels,
            samples: Samples::U8(v),
        }
    }

    fn u8s(photo: &Photo) -> &[u8] {
        match &photo.samples {
            Samples::U8(v) => v,
            Samples::U16(_) => panic!("expected 8-bit samples"),
        }
    }

    fn empty_photo() -> Photo {
        Photo {
            width: 0,
            height: 0,
            channels: 3,
            samples: Samples::U8(Vec::new()),
        }
    }

    fn to_photo(frame: &Frame) -> Photo {
        let mut p = empty_photo();
        frame_to_photo(frame, &mut p).unwrap();
        p
    }

    fn max_diff(a: &[u8], b: &[u8]) -> u8 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap_or(0)
    }

    /// A smooth colour field (about a level every two pixels): what 4:2:0 is designed for.
    /// Sharper colour detail loses chroma resolution by design and can move by 3 levels.
    fn smooth(width: usize, height: usize, channels: usize) -> Photo {
        photo_u8(width, height, channels, |x, y, c| match c {
            0 => (30 + x / 2 + y / 3).min(255) as u8,
            1 => (200 - x / 3 - y.min(80) / 2) as u8,
            2 => (60 + y / 2 + x / 4).min(255) as u8,
            _ => (x * 37 + y * 11) as u8,
        })
    }

    /// Mean absolute difference: catches a bias that a max bound lets through.
    fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| a.abs_diff(b) as f64)
            .sum::<f64>()
            / a.len().max(1) as f64
    }

    #[test]
    fn packed_rgb_formats_round_trip_exactly() {
        for format in PACKED_RGB {
            for pad in [0, 5] {
                let mut input = Buf::new(format, 7, 5, pad);
                let mut n = noise(format as u64);
                input.fill(|_, _| n());
                let photo = to_photo(&input.frame());
                assert_eq!(
                    (photo.width, photo.height, photo.channels),
                    (7, 5, if format.has_alpha() { 4 } else { 3 })
                );
                let mut out = Buf::new(format, 7, 5, pad + 3);
                photo_to_frame(&photo, &mut out.frame_mut(), None).unwrap();
                let (a, b) = (input.rows(0), out.rows(0));
                for (i, (&a, &b)) in a.iter().zip(&b).enumerate() {
                    let x_byte = matches!(format, Rgbx | Bgrx) && i % 4 == 3;
                    assert_eq!(b, if x_byte { 255 } else { a }, "{format:?} byte {i}");
                }
                assert!(out.padding_untouched(), "{format:?} wrote into padding");
            }
        }
    }

    #[test]
    fn packed_rgb_channel_order() {
        let cases: [(PixelFormat, &[u8], &[u8]); 6] = [
            (Rgb, &[1, 2, 3], &[1, 2, 3]),
            (Bgr, &[1, 2, 3], &[3, 2, 1]),
            (Rgba, &[1, 2, 3, 4], &[1, 2, 3, 4]),
            (Bgra, &[1, 2, 3, 4], &[3, 2, 1, 4]),
            (Rgbx, &[1, 2, 3, 4], &[1, 2, 3]),
            (Bgrx, &[1, 2, 3, 4], &[3, 2, 1]),
        ];
        for (format, bytes, rgb) in cases {
            let mut b = Buf::new(format, 1, 1, 0);
            b.planes[0].copy_from_slice(bytes);
            assert_eq!(u8s(&to_photo(&b.frame())), rgb, "{format:?}");
        }
    }

    #[test]
    fn alpha_and_x_bytes() {
        let rgba = photo_u8(3, 2, 4, |x, y, c| {
            (10 * x + 50 * y + c + 1) as u8 * if c == 3 { 3 } else { 1 }
        });
        let rgb = photo_u8(3, 2, 3, |x, y, c| (10 * x + 50 * y + c + 1) as u8);
        for format in PACKED_RGB {
            for photo in [&rgba, &rgb] {
                let mut out = Buf::new(format, 3, 2, 2);
                photo_to_frame(photo, &mut out.frame_mut(), None).unwrap();
                let bytes = out.rows(0);
                let bpp = bytes.len() / 6;
                let src = u8s(photo);
                for i in 0..6 {
                    let px = &bytes[i * bpp..][..bpp];
                    let sp = &src[i * photo.channels..][..photo.channels];
                    let rgb_bytes = match format {
                        Rgb | Rgba | Rgbx => [px[0], px[1], px[2]],
                        _ => [px[2], px[1], px[0]],
                    };
                    assert_eq!(rgb_bytes, [sp[0], sp[1], sp[2]], "{format:?}");
                    if bpp == 4 {
                        let want = if format.has_alpha() && photo.channels == 4 {
                            sp[3]
                        } else {
                            255
                        };
                        assert_eq!(px[3], want, "{format:?} from {} channels", photo.channels);
                    }
                }
                // Carried back: alpha survives an Rgba/Bgra round trip.
                if format.has_alpha() && photo.channels == 4 {
                    assert_eq!(&to_photo(&out.frame()), photo, "{format:?}");
                }
            }
        }
    }

    #[test]
    fn sixteen_bit_photos_round_to_eight_bits() {
        let vals: [u16; 6] = [0, 128, 129, 257 * 100 + 128, 65278, 65535];
        let photo = Photo {
            width: 2,
            height: 1,
            channels: 3,
            samples: Samples::U16(vals.to_vec()),
        };
        let mut out = Buf::new(Rgb, 2, 1, 0);
        photo_to_frame(&photo, &mut out.frame_mut(), None).unwrap();
        let want: Vec<u8> = vals
            .iter()
            .map(|&v| ((v as u32 * 255 + 32767) / 65535) as u8)
            .collect();
        assert_eq!(out.rows(0), want);
        assert_eq!(want, [0, 0, 1, 100, 254, 255]);
    }

    #[test]
    fn gray8_round_trips() {
        let mut b = Buf::new(Gray8, 7, 5, 3);
        let mut n = noise(8);
        b.fill(|_, _| n());
        let photo = to_photo(&b.frame());
        assert_eq!((photo.channels, photo.bit_depth()), (1, 8));
        assert_eq!(u8s(&photo), b.rows(0));
        let mut out = Buf::new(Gray8, 7, 5, 1);
        photo_to_frame(&photo, &mut out.frame_mut(), None).unwrap();
        assert_eq!(out.rows(0), b.rows(0));
        assert!(out.padding_untouched());
    }

    #[test]
    fn gray16le_is_little_endian_and_round_trips() {
        let mut b = Buf::new(Gray16Le, 2, 2, 2);
        b.fill(|_, i| [0x34, 0x12, 0xFF, 0x00, 0x01, 0x80, 0xCD, 0xAB][i]);
        let photo = to_photo(&b.frame());
        assert_eq!(photo.channels, 1);
        assert_eq!(
            photo.samples,
            Samples::U16(vec![0x1234, 0x00FF, 0x8001, 0xABCD])
        );
        let mut out = Buf::new(Gray16Le, 2, 2, 4);
        photo_to_frame(&photo, &mut out.frame_mut(), None).unwrap();
        assert_eq!(out.rows(0), b.rows(0));
        assert!(out.padding_untouched());
        // An 8-bit grey photo widens exactly.
        let p8 = photo_u8(2, 1, 1, |x, _, _| [0, 0xFF][x]);
        let mut out = Buf::new(Gray16Le, 2, 1, 0);
        photo_to_frame(&p8, &mut out.frame_mut(), None).unwrap();
        assert_eq!(out.rows(0), [0, 0, 0xFF, 0xFF]);
    }

    #[test]
    fn y444_round_trips_within_two_levels() {
        // Every 6-bit-ish colour cube corner and noise in between, for every matrix and range.
        let mut n = noise(444);
        let photo = photo_u8(64, 16, 3, |x, y, c| {
            if y == 0 {
                [0, 85, 170, 255][(x >> (2 * c)) & 3]
            } else {
                n()
            }
        });
        for matrix in MATRICES {
            for full_range in [false, true] {
                let mut b = Buf::new(Y444, 64, 16, 3);
                b.yuv = Yuv { matrix, full_range };
                photo_to_frame(&photo, &mut b.frame_mut(), None).unwrap();
                assert!(b.padding_untouched());
                let back = to_photo(&b.frame());
                let d = max_diff(u8s(&back), u8s(&photo));
                assert!(d <= 2, "{matrix:?} full={full_range}: off by {d}");
                let m = mean_diff(u8s(&back), u8s(&photo));
                assert!(
                    m < 0.6,
                    "{matrix:?} full={full_range}: off by {m} on average"
                );
            }
        }
    }

    #[test]
    fn yuv420_round_trips_smooth_images_within_two_levels() {
        for format in [I420, Nv12] {
            for (w, h) in [(7, 5), (8, 6), (1, 1), (2, 3), (33, 17), (96, 64)] {
                for matrix in MATRICES {
                    for full_range in [false, true] {
                        let photo = smooth(w, h, 3);
                        let mut b = Buf::new(format, w, h, 5);
                        b.yuv = Yuv { matrix, full_range };
                        photo_to_frame(&photo, &mut b.frame_mut(), None).unwrap();
                        assert!(b.padding_untouched(), "{format:?} {w}x{h}");
                        let back = to_photo(&b.frame());
                        assert_eq!((back.width, back.height, back.channels), (w, h, 3));
                        let d = max_diff(u8s(&back), u8s(&photo));
                        assert!(
                            d <= 2,
                            "{format:?} {w}x{h} {matrix:?} full={full_range}: off by {d}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rgba_photo_to_yuv_drops_alpha() {
        let rgb = smooth(7, 5, 3);
        let rgba = smooth(7, 5, 4);
        for format in YUV {
            let (mut a, mut b) = (Buf::new(format, 7, 5, 0), Buf::new(format, 7, 5, 0));
            photo_to_frame(&rgb, &mut a.frame_mut(), None).unwrap();
            photo_to_frame(&rgba, &mut b.frame_mut(), None).unwrap();
            assert_eq!(a.planes, b.planes, "{format:?}");
        }
    }

    #[test]
    fn i420_and_nv12_agree() {
        let mut n = noise(12);
        let photo = photo_u8(7, 5, 3, |_, _, _| n());
        let mut i420 = Buf::new(I420, 7, 5, 1);
        let mut nv12 = Buf::new(Nv12, 7, 5, 2);
        photo_to_frame(&photo, &mut i420.frame_mut(), None).unwrap();
        photo_to_frame(&photo, &mut nv12.frame_mut(), None).unwrap();
        assert_eq!(i420.rows(0), nv12.rows(0));
        let interleaved: Vec<u8> = i420
            .rows(1)
            .iter()
            .zip(i420.rows(2))
            .flat_map(|(&u, v)| [u, v])
            .collect();
        assert_eq!(interleaved, nv12.rows(1));
        assert_eq!(to_photo(&i420.frame()), to_photo(&nv12.frame()));
    }

    #[test]
    fn yuv420_chroma_averages_what_it_covers() {
        // 3x3: the right column and bottom row have half blocks and a corner of one pixel.
        let mut n = noise(3);
        let photo = photo_u8(3, 3, 3, |_, _, _| n());
        let mut y444 = Buf::new(Y444, 3, 3, 0);
        photo_to_frame(&photo, &mut y444.frame_mut(), None).unwrap();
        let mut i420 = Buf::new(I420, 3, 3, 0);
        photo_to_frame(&photo, &mut i420.frame_mut(), None).unwrap();
        assert_eq!(i420.rows(0), y444.rows(0), "luma is per pixel either way");
        // The corner block holds only pixel (2, 2): its own chroma.
        assert_eq!(i420.rows(1)[3], y444.rows(1)[8]);
        assert_eq!(i420.rows(2)[3], y444.rows(2)[8]);
        // Other blocks: the chroma of the mean colour, rounded once.
        let t = FromRgb::new(Yuv::default());
        let px = |x: usize, y: usize| -> [f32; 3] {
            std::array::from_fn(|c| u8s(&photo)[(y * 3 + x) * 3 + c] as f32)
        };
        let blocks: [(usize, &[(usize, usize)]); 3] = [
            (0, &[(0, 0), (1, 0), (0, 1), (1, 1)]),
            (1, &[(2, 0), (2, 1)]),
            (2, &[(0, 2), (1, 2)]),
        ];
        for (i, pixels) in blocks {
            let k = pixels.len() as f32;
            let mean: [f32; 3] =
                std::array::from_fn(|c| pixels.iter().map(|&(x, y)| px(x, y)[c]).sum::<f32>() / k);
            let (cb, cr) = t.cb_cr(mean, t.luma(mean));
            assert_eq!((i420.rows(1)[i], i420.rows(2)[i]), (cb, cr), "block {i}");
        }
    }

    #[test]
    fn flat_colour_keeps_its_chroma_in_420() {
        let photo = photo_u8(6, 4, 3, |_, _, c| [200, 40, 90][c]);
        for format in [I420, Nv12] {
            let mut a = Buf::new(format, 6, 4, 0);
            let mut b = Buf::new(Y444, 6, 4, 0);
            photo_to_frame(&photo, &mut a.frame_mut(), None).unwrap();
            photo_to_frame(&photo, &mut b.frame_mut(), None).unwrap();
            let (cb, cr) = (b.rows(1)[0], b.rows(2)[0]);
            let chroma: Vec<u8> = if format == Nv12 {
                a.rows(1)
            } else {
                a.rows(1)
                    .into_iter()
                    .zip(a.rows(2))
                    .flat_map(|(u, v)| [u, v])
                    .collect()
            };
            assert!(chroma.chunks(2).all(|c| c == [cb, cr]), "{format:?}");
            assert_eq!(to_photo(&a.frame()), to_photo(&b.frame()));
        }
    }

    #[test]
    fn known_bt709_and_bt601_values() {
        let red = photo_u8(1, 1, 3, |_, _, c| [255, 0, 0][c]);
        let cases = [
            (
                Yuv {
                    matrix: YuvMatrix::Bt709,
                    full_range: false,
                },
                [63, 102, 240],
            ),
            (
                Yuv {
                    matrix: YuvMatrix::Bt601,
                    full_range: false,
                },
                [81, 90, 240],
            ),
            (
                Yuv {
                    matrix: YuvMatrix::Bt601,
                    full_range: true,
                },
                [76, 85, 255],
            ),
        ];
        for (yuv, want) in cases {
            let mut b = Buf::new(Y444, 1, 1, 0);
            b.yuv = yuv;
            photo_to_frame(&red, &mut b.frame_mut(), None).unwrap();
            assert_eq!(
                [b.planes[0][0], b.planes[1][0], b.planes[2][0]],
                want,
                "{yuv:?}"
            );
        }
        // Limited-range black and white hit the ends exactly.
        let mut b = Buf::new(Y444, 2, 1, 0);
        b.planes = [vec![16, 235], vec![128, 128], vec![128, 128]];
        assert_eq!(u8s(&to_photo(&b.frame())), [0, 0, 0, 255, 255, 255]);
    }

    #[test]
    fn grey_yuv_gives_equal_rgb() {
        for format in YUV {
            for matrix in MATRICES {
                for full_range in [false, true] {
                    let mut b = Buf::new(format, 256, 2, 3);
                    b.yuv = Yuv { matrix, full_range };
                    b.fill(|p, i| if p == 0 { (i % 256) as u8 } else { 128 });
                    let photo = to_photo(&b.frame());
                    for (i, px) in u8s(&photo).chunks_exact(3).enumerate() {
                        assert!(
                            px[0] == px[1] && px[1] == px[2],
                            "{format:?} {matrix:?} Y={}: {px:?}",
                            i % 256
                        );
                    }
                    // And grey RGB goes back to neutral chroma.
                    let mut out = Buf::new(format, 256, 2, 0);
                    out.yuv = b.yuv;
                    photo_to_frame(&photo, &mut out.frame_mut(), None).unwrap();
                    for p in 1..format.n_planes() {
                        assert!(
                            out.rows(p).iter().all(|&c| c == 128),
                            "{format:?} {matrix:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn padding_garbage_does_not_leak() {
        for format in ALL {
            let (mut tight, mut padded) = (Buf::new(format, 7, 5, 0), Buf::new(format, 7, 5, 9));
            let mut n = noise(format as u64 + 100);
            let mut bytes = Vec::new();
            tight.fill(|_, _| {
                bytes.push(n());
                *bytes.last().unwrap()
            });
            let mut it = bytes.iter();
            padded.fill(|_, _| *it.next().unwrap());
            padded.planes.iter_mut().for_each(|p| p.extend([0xEE; 11]));
            assert_eq!(
                to_photo(&tight.frame()),
                to_photo(&padded.frame()),
                "{format:?}"
            );
        }
    }

    #[test]
    fn keep_luma_copies_y_bit_exactly() {
        let mut n = noise(77);
        let photo = photo_u8(7, 5, 3, |_, _, _| n());
        for (inf, outf) in [(I420, Nv12), (Nv12, I420), (Y444, Y444), (I420, Y444)] {
            let mut input = Buf::new(inf, 7, 5, 3);
            let mut m = noise(inf as u64);
            input.fill(|_, _| m());
            let mut kept = Buf::new(outf, 7, 5, 6);
            photo_to_frame(&photo, &mut kept.frame_mut(), input.frame().luma().as_ref()).unwrap();
            assert_eq!(kept.rows(0), input.rows(0), "{inf:?} -> {outf:?}");
            assert!(kept.padding_untouched());
            // Chroma is unaffected by the choice.
            let mut computed = Buf::new(outf, 7, 5, 0);
            photo_to_frame(&photo, &mut computed.frame_mut(), None).unwrap();
            for p in 1..outf.n_planes() {
                assert_eq!(kept.rows(p), computed.rows(p));
            }
        }
    }

    #[test]
    fn keep_luma_refuses_incompatible_frames() {
        let photo = smooth(4, 4, 3);
        let yuv_in = Buf::new(I420, 4, 4, 0);
        let rgb_in = Buf::new(Rgb, 4, 4, 0);
        let small_in = Buf::new(I420, 4, 2, 0);
        let mut full_in = Buf::new(I420, 4, 4, 0);
        full_in.yuv.full_range = true;
        let mut out = Buf::new(Nv12, 4, 4, 0);
        let mut rgb_out = Buf::new(Rgba, 4, 4, 0);
        let incompatible = |e| matches!(e, Err(FrameError::KeepLumaIncompatible { .. }));
        assert!(incompatible(photo_to_frame(
            &photo,
            &mut rgb_out.frame_mut(),
            yuv_in.frame().luma().as_ref()
        )));
        assert!(rgb_in.frame().luma().is_none());
        assert!(incompatible(photo_to_frame(
            &photo,
            &mut out.frame_mut(),
            small_in.frame().luma().as_ref()
        )));
        assert!(matches!(
            photo_to_frame(
                &photo,
                &mut out.frame_mut(),
                full_in.frame().luma().as_ref()
            ),
            Err(FrameError::KeepLumaYuvMismatch { .. })
        ));
        // A short input Y plane is caught before anything is copied.
        let mut short_in = Buf::new(I420, 4, 4, 0);
        short_in.planes[0].pop();
        assert!(matches!(
            photo_to_frame(
                &photo,
                &mut out.frame_mut(),
                short_in.frame().luma().as_ref()
            ),
            Err(FrameError::PlaneTooSmall { plane: 0, .. })
        ));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        for format in ALL {
            for plane in 0..format.n_planes() {
                let mut b = Buf::new(format, 7, 5, 2);
                // The last row needs no padding; one byte less than that is too small.
                let (row_bytes, _) = format.plane_shapes(7, 5).unwrap()[plane];
                let trimmed = b.planes[plane].len() - 2 - 1;
                b.planes[plane].truncate(trimmed);
                let err = frame_to_photo(&b.frame(), &mut empty_photo()).unwrap_err();
                assert!(
                    matches!(err, FrameError::PlaneTooSmall { plane: p, .. } if p == plane),
                    "{format:?}: {err}"
                );
                let photo = if format.is_grey() {
                    smooth(7, 5, 1)
                } else {
                    smooth(7, 5, 3)
                };
                let err = photo_to_frame(&photo, &mut b.frame_mut(), None).unwrap_err();
                assert!(
                    matches!(err, FrameError::PlaneTooSmall { .. }),
                    "{format:?}: {err}"
                );

                let mut b = Buf::new(format, 7, 5, 0);
                b.strides[plane] = row_bytes - 1;
                let err = frame_to_photo(&b.frame(), &mut empty_photo()).unwrap_err();
                assert!(
                    matches!(err, FrameError::StrideTooSmall { .. }),
                    "{format:?}: {err}"
                );

                let mut b = Buf::new(format, 7, 5, 0);
                b.planes[plane].clear();
                assert!(
                    frame_to_photo(&b.frame(), &mut empty_photo()).is_err(),
                    "{format:?} missing plane {plane}"
                );
            }
        }
        // The exact minimum (no padding after the last row) is accepted.
        let mut b = Buf::new(I420, 7, 5, 4);
        for p in 0..3 {
            let len = b.planes[p].len() - 4;
            b.planes[p].truncate(len);
        }
        assert!(frame_to_photo(&b.frame(), &mut empty_photo()).is_ok());
        // Strides that would overflow.
        let mut b = Buf::new(Rgb, 2, 3, 0);
        b.strides[0] = usize::MAX / 2;
        assert!(matches!(
            frame_to_photo(&b.frame(), &mut empty_photo()),
            Err(FrameError::TooLarge { .. })
        ));
        // A huge width is not an overflow panic either.
        let f = Frame {
            width: usize::MAX,
            ..b.frame()
        };
        assert!(frame_to_photo(&f, &mut empty_photo()).is_err());
    }

    #[test]
    fn bad_photos_are_errors() {
        let mut out = Buf::new(Nv12, 4, 4, 0);
        let e = |r: Result<(), FrameError>| r.unwrap_err();
        assert!(matches!(
            e(photo_to_frame(&smooth(4, 2, 3), &mut out.frame_mut(), None)),
            FrameError::SizeMismatch { .. }
        ));
        for ch in [1, 2] {
            assert!(matches!(
                e(photo_to_frame(
                    &smooth(4, 4, ch),
                    &mut out.frame_mut(),
                    None
                )),
                FrameError::UnsupportedChannels { .. }
            ));
        }
        let mut grey = Buf::new(Gray8, 4, 4, 0);
        assert!(matches!(
            e(photo_to_frame(
                &smooth(4, 4, 3),
                &mut grey.frame_mut(),
                None
            )),
            FrameError::UnsupportedChannels { .. }
        ));
        let liar = Photo {
            width: 4,
            height: 4,
            channels: 3,
            samples: Samples::U8(vec![0; 47]),
        };
        assert!(matches!(
            e(photo_to_frame(&liar, &mut out.frame_mut(), None)),
            FrameError::BadPhoto { .. }
        ));
        let weird = Photo {
            width: 4,
            height: 4,
            channels: 5,
            samples: Samples::U8(vec![0; 80]),
        };
        assert!(matches!(
            e(photo_to_frame(&weird, &mut out.frame_mut(), None)),
            FrameError::UnsupportedChannels { .. }
        ));
        // Messages say what is wrong.
        let msg = e(photo_to_frame(&liar, &mut out.frame_mut(), None)).to_string();
        assert!(msg.contains("47 samples"), "{msg}");
    }

    #[test]
    fn photo_buffer_is_reused() {
        let mut b = Buf::new(I420, 16, 8, 0);
        b.fill(|_, i| i as u8);
        let mut photo = empty_photo();
        frame_to_photo(&b.frame(), &mut photo).unwrap();
        let (ptr, cap) = match &photo.samples {
            Samples::U8(v) => (v.as_ptr(), v.capacity()),
            Samples::U16(_) => unreachable!(),
        };
        frame_to_photo(&b.frame(), &mut photo).unwrap();
        match &photo.samples {
            Samples::U8(v) => assert_eq!((v.as_ptr(), v.capacity()), (ptr, cap)),
            Samples::U16(_) => unreachable!(),
        }
        // A failed conversion leaves the photo alone.
        let before = photo.clone();
        b.planes[2].clear();
        assert!(frame_to_photo(&b.frame(), &mut photo).is_err());
        assert_eq!(photo, before);
    }

    #[test]
    fn empty_frames_convert_to_empty_photos() {
        for format in ALL {
            let b = Buf::new(format, 0, 0, 0);
            let photo = to_photo(&b.frame());
            assert_eq!(photo.pixel_count(), 0);
            let mut out = Buf::new(format, 0, 0, 0);
            let src = Photo {
                channels: if format.is_grey() { 1 } else { 3 },
                ..photo
            };
            photo_to_frame(&src, &mut out.frame_mut(), None).unwrap();
        }
    }

    #[test]
    fn rounding_matches_f32_round() {
        let mut v = -3.0f32;
        while v < 260.0 {
            assert_eq!(to_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
            v += 1.0 / 64.0;
        }
        for v in [
            0.5,
            0.49999997,
            1.5,
            2.5,
            254.5,
            254.49998,
            255.5,
            -0.5,
            f32::NAN,
        ] {
            assert_eq!(to_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
        }
    }

    #[test]
    fn format_properties() {
        assert_eq!(
            ALL.map(PixelFormat::n_planes),
            [1, 1, 3, 2, 3, 1, 1, 1, 1, 1, 1]
        );
        assert_eq!(ALL.iter().filter(|f| f.has_alpha()).count(), 2);
        assert_eq!(ALL.iter().filter(|f| f.is_yuv()).count(), 3);
        assert_eq!(ALL.iter().filter(|f| f.is_grey()).count(), 2);
        assert_eq!(
            Yuv::default(),
            Yuv {
                matrix: YuvMatrix::Bt709,
                full_range: false
            }
        );
    }
}
