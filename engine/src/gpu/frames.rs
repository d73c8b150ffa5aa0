//! Video frames through the GPU recipe, for the `ddcolorize` element and anything else that
//! hands over frames as plane addresses: frames in GPU memory go in and come out without a host
//! copy of their pixels; frames in host memory cost one upload and one download each.
//!
//! Free of GStreamer types (the element maps its buffers and passes the addresses), so the
//! element and the runner share it. Frames queue in slots of GPU memory until a batch is full:
//! the caller's buffer can go back to its pool as soon as [`GpuFrames::push`] returns.

use cudarc::driver::{CudaSlice, DevicePtr, sys};

use super::{FrameIn, FrameOut, GpuColorizer, GpuError, Layout, Timing, YuvFrame, yuv_code};
use crate::video::frame::{PixelFormat, Yuv};

/// Where a frame's planes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    Host,
    Device,
}

/// One video frame's planes as addresses (host pointers or CUDA device pointers, as `memory`
/// says) with their pitches in bytes. Unused planes: 0.
#[derive(Clone, Copy, Debug)]
pub struct Planes {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    /// Matrix and range, for Y'CbCr formats.
    pub yuv: Yuv,
    pub memory: Memory,
    pub data: [u64; 3],
    pub pitch: [usize; 3],
}

impl Planes {
    /// `(row bytes, rows)` of each plane, checked against the pitches.
    fn shapes(&self) -> Result<[(usize, usize); 3], GpuError> {
        let shapes = self
            .format
            .plane_shapes(self.width, self.height)
            .ok_or_else(|| {
                GpuError::Unsupported(format!(
                    "a {}x{} frame is too large",
                    self.width, self.height
                ))
            })?;
        for (i, &(row, rows)) in shapes.iter().enumerate() {
            if rows > 0 && (self.data[i] == 0 || self.pitch[i] < row) {
                return Err(GpuError::Unsupported(format!(
                    "{:?} plane {i}: pitch {} for rows of {row} bytes",
                    self.format, self.pitch[i]
                )));
            }
        }
        Ok(shapes)
    }

    fn yuv_frame(&self, data: [u64; 3], pitch: [usize; 3]) -> YuvFrame {
        YuvFrame {
            y: data[0],
            u: data[1],
            v: data[2],
            y_pitch: pitch[0] as i32,
            u_pitch: pitch[1] as i32,
            v_pitch: pitch[2] as i32,
            width: self.width as i32,
            height: self.height as i32,
            format: yuv_code(self.format).unwrap_or(-1),
        }
    }
}

/// Why frames of `input` cannot become `output` on the GPU (`None`: they can). The caller then
/// runs pre- and post-processing on the CPU.
pub fn unsupported(input: PixelFormat, output: PixelFormat) -> Option<String> {
    let readable = |f: PixelFormat| Layout::of(f).is_some() || yuv_code(f).is_some();
    if input == PixelFormat::Gray16Le {
        return Some("16-bit frames have no GPU kernel yet".into());
    }
    if !readable(input) {
        return Some(format!("{input:?} frames have no GPU kernel"));
    }
    if output.is_grey() || !readable(output) {
        return Some(format!("{output:?} output has no GPU kernel"));
    }
    None
}

/// A frame held for its batch: its pixels in GPU memory as the kernels read them (packed, in
/// the input's own layout, or RGB from Y'CbCr), and the colour result once the batch ran.
struct Slot {
    input: CudaSlice<u8>,
    in_layout: Layout,
    width: usize,
    height: usize,
    output: CudaSlice<u8>,
    out_layout: Layout,
    /// The stream has a gap before this frame: the smoother forgets the past.
    discont: bool,
}

/// What one [`GpuFrames::run`] did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ran {
    pub frames: usize,
    /// The GPU ran out of memory and the model now runs at this S (said once by the caller).
    pub stepped_down: Option<usize>,
    pub timing: Timing,
}

/// Frames through the GPU recipe in batches: [`Self::push`] each frame, [`Self::run`] when
/// `batch` are in (or at the end), then [`Self::write`] each result where it goes.
pub struct GpuFrames {
    colorizer: GpuColorizer,
    slots: Vec<Slot>,
    filled: usize,
    /// Host planes uploaded here (Y'CbCr input) or written here before their download
    /// (Y'CbCr output to host memory).
    staging: Option<CudaSlice<u8>>,
    /// Host copies of frame pixels so far: one each way per frame at most.
    pub uploads: u64,
    pub downloads: u64,
}

impl GpuFrames {
    /// For `model` (on a GPU), `batch` frames per model call.
    pub fn new(
        model: &crate::Model,
        batch: usize,
        upsample: crate::picture::resize::Upsample,
    ) -> Result<Self, GpuError> {
        Ok(Self {
            colorizer: GpuColorizer::new(model, batch.max(1), upsample)?,
            slots: Vec::new(),
            filled: 0,
            staging: None,
            uploads: 0,
            downloads: 0,
        })
    }

    pub fn colorizer(&mut self) -> &mut GpuColorizer {
        &mut self.colorizer
    }

    /// Frames pushed but not run are dropped (flush).
    pub fn discard(&mut self) {
        self.filled = 0;
    }

    /// Takes one frame into the next slot, converted to what the kernels read; returns how many
    /// frames wait. `discont`: the stream has a gap before it. When this returns, the frame's
    /// memory is no longer needed (the GPU has finished reading it).
    ///
    /// # Safety
    /// `frame`'s planes must be valid memory of its stated shape, where `memory` says.
    pub unsafe fn push(&mut self, frame: &Planes, discont: bool) -> Result<usize, GpuError> {
        let shapes = frame.shapes()?;
        let stream = self.colorizer.recipe.stream().clone();
        let (w, h) = (frame.width, frame.height);
        let in_layout = match Layout::of(frame.format) {
            Some(l) => l,
            None if yuv_code(frame.format).is_some() => rgb_layout(3),
            None => {
                return Err(GpuError::Unsupported(format!(
                    "{:?} frames have no GPU kernel",
                    frame.format
                )));
            }
        };
        let in_bytes = w * h * in_layout.step as usize;
        if self.slots.len() <= self.filled {
            self.slots.push(Slot {
                input: stream.alloc_zeros::<u8>(in_bytes.max(1))?,
                in_layout,
                width: w,
                height: h,
                output: stream.alloc_zeros::<u8>(1)?,
                out_layout: rgb_layout(3),
                discont,
            });
        }
        let slot = &mut self.slots[self.filled];
        if slot.input.len() < in_bytes.max(1) {
            slot.input = stream.alloc_zeros::<u8>(in_bytes)?;
        }
        (slot.in_layout, slot.width, slot.height, slot.discont) = (in_layout, w, h, discont);
        let dst = ptr(&slot.input, &stream);
        let pitch = w * in_layout.step as usize;
        if frame.format.is_yuv() {
            let (planes, pitches) = match frame.memory {
                Memory::Device => (frame.data, frame.pitch),
                Memory::Host => {
                    // One upload of the planes as they are (pitches kept), then the conversion.
                    let sizes = shapes.map(|(_, rows)| rows);
                    let total: usize = (0..3).map(|i| frame.pitch[i] * sizes[i]).sum();
                    let staging = staging(&mut self.staging, &stream, total)?;
                    let base = ptr(staging, &stream);
                    let mut at = base;
                    let mut planes = [0u64; 3];
                    for i in 0..3 {
                        if sizes[i] == 0 {
                            continue;
                        }
                        planes[i] = at;
                        let bytes = frame.pitch[i] * sizes[i];
                        // SAFETY: the caller vouches for the host plane; the staging buffer
                        // holds every plane.
                        unsafe {
                            copy_2d(
                                &self.colorizer,
                                (Memory::Host, frame.data[i], frame.pitch[i]),
                                (Memory::Device, at, frame.pitch[i]),
                                shapes[i].0,
                                sizes[i],
                            )
                        }?;
                        at += bytes as u64;
                    }
                    self.uploads += 1;
                    (planes, frame.pitch)
                }
            };
            let yuv = frame.yuv_frame(planes, pitches);
            // SAFETY: the planes are device memory of the frame's shape; the slot holds it.
            unsafe {
                self.colorizer
                    .recipe
                    .yuv_to_rgb(&yuv, frame.yuv, dst, pitch)
            }?;
        } else {
            // SAFETY: the caller vouches for the plane; the slot holds the frame.
            unsafe {
                copy_2d(
                    &self.colorizer,
                    (frame.memory, frame.data[0], frame.pitch[0]),
                    (Memory::Device, dst, pitch),
                    shapes[0].0,
                    h,
                )
            }?;
            self.uploads += u64::from(frame.memory == Memory::Host);
        }
        // The caller's buffer may be reused as soon as this returns.
        stream.synchronize()?;
        self.filled += 1;
        Ok(self.filled)
    }

    /// Colorizes the frames waiting, for output as `output` (packed formats are written by the
    /// recombination kernel in their own layout; Y'CbCr ones are converted in [`Self::write`]).
    /// When the GPU runs out of memory at S, the model steps down as the plan's `sizes` say
    /// and the batch runs again.
    pub fn run(
        &mut self,
        model: &mut crate::Model,
        sizes: &crate::recipe::plan::Sizes,
        output: PixelFormat,
    ) -> Result<Ran, GpuError> {
        let n = std::mem::take(&mut self.filled);
        let out_layout = match Layout::of(output) {
            Some(l) if !output.is_grey() => l,
            _ if output.is_yuv() => rgb_layout(3),
            _ => {
                return Err(GpuError::Unsupported(format!(
                    "{output:?} output has no GPU kernel"
                )));
            }
        };
        let stream = self.colorizer.recipe.stream().clone();
        for slot in &mut self.slots[..n] {
            let bytes = (slot.width * slot.height * out_layout.step as usize).max(1);
            if slot.output.len() < bytes {
                slot.output = stream.alloc_zeros::<u8>(bytes)?;
            }
            slot.out_layout = out_layout;
        }
        let mut ran = Ran {
            frames: n,
            ..Default::default()
        };
        let mut first = 0;
        while first < n {
            // A call ends before a gap in the stream, which starts afresh.
            if self.slots[first].discont {
                self.colorizer.reset_temporal();
            }
            let batch = self.colorizer.batch();
            let end = (first + 1..n)
                .find(|&i| self.slots[i].discont)
                .unwrap_or(n)
                .min(first + batch);
            let frames: Vec<FrameIn> = self.slots[first..end]
                .iter()
                .map(|s| FrameIn {
                    data: ptr(&s.input, &stream),
                    pitch: (s.width * s.in_layout.step as usize) as i32,
                    width: s.width as i32,
                    height: s.height as i32,
                    layout: s.in_layout,
                })
                .collect();
            let outs: Vec<FrameOut> = self.slots[first..end]
                .iter()
                .map(|s| FrameOut {
                    data: ptr(&s.output, &stream),
                    pitch: (s.width * s.out_layout.step as usize) as i32,
                    layout: s.out_layout,
                })
                .collect();
            // SAFETY: the slots' buffers hold the frames and results of the stated shapes and
            // outlive the call, which waits for the GPU.
            match unsafe { self.colorizer.colorize_frames(model, &frames, &outs) } {
                Ok(t) => {
                    ran.timing.pre += t.pre;
                    ran.timing.model += t.model;
                    ran.timing.smooth += t.smooth;
                    ran.timing.post += t.post;
                    first = end;
                }
                Err(GpuError::Engine(mut e @ crate::EngineError::OutOfMemory(_))) => {
                    // Down the plan's ladder until the model's buffers fit too.
                    loop {
                        let Some(smaller) = sizes.step_down(model.input_size()) else {
                            return Err(GpuError::Engine(e));
                        };
                        model.set_input_size(smaller)?;
                        ran.stepped_down = Some(smaller);
                        match self.colorizer.rebind(model) {
                            Ok(()) => break,
                            Err(GpuError::Engine(again @ crate::EngineError::OutOfMemory(_))) => {
                                e = again
                            }
                            Err(other) => return Err(other),
                        }
                    }
                    self.colorizer.reset_temporal();
                }
                Err(e) => return Err(e),
            }
        }
        Ok(ran)
    }

    /// Writes the result of frame `index` of the last [`Self::run`] into `out` (same size,
    /// the format given to `run`). The GPU has finished with `out` when this returns.
    ///
    /// # Safety
    /// `out`'s planes must be valid, writable memory of its stated shape, where `memory` says.
    pub unsafe fn write(&mut self, index: usize, out: &Planes) -> Result<(), GpuError> {
        let shapes = out.shapes()?;
        let stream = self.colorizer.recipe.stream().clone();
        let slot = self
            .slots
            .get(index)
            .ok_or_else(|| GpuError::Unsupported(format!("no frame {index} to write")))?;
        if (slot.width, slot.height) != (out.width, out.height) {
            return Err(GpuError::Unsupported(format!(
                "a {}x{} result for a {}x{} output",
                slot.width, slot.height, out.width, out.height
            )));
        }
        let src = ptr(&slot.output, &stream);
        let src_pitch = slot.width * slot.out_layout.step as usize;
        if out.format.is_yuv() {
            let step = slot.out_layout.step as usize;
            let (planes, pitches) = match out.memory {
                Memory::Device => (out.data, out.pitch),
                Memory::Host => {
                    let rows = shapes.map(|(_, rows)| rows);
                    let total: usize = (0..3).map(|i| shapes[i].0 * rows[i]).sum();
                    let staging = staging(&mut self.staging, &stream, total)?;
                    let mut at = ptr(staging, &stream);
                    let mut planes = [0u64; 3];
                    let mut pitches = [0usize; 3];
                    for i in 0..3 {
                        planes[i] = at;
                        pitches[i] = shapes[i].0;
                        at += (shapes[i].0 * rows[i]) as u64;
                    }
                    (planes, pitches)
                }
            };
            let yuv = out.yuv_frame(planes, pitches);
            // SAFETY: the slot's result and the planes are device memory of the frame's shape.
            unsafe {
                self.colorizer
                    .recipe
                    .rgb_to_yuv(src, src_pitch, step, &yuv, out.yuv)
            }?;
            if out.memory == Memory::Host {
                for i in 0..3 {
                    if shapes[i].1 == 0 {
                        continue;
                    }
                    // SAFETY: the caller vouches for the host plane.
                    unsafe {
                        copy_2d(
                            &self.colorizer,
                            (Memory::Device, planes[i], pitches[i]),
                            (Memory::Host, out.data[i], out.pitch[i]),
                            shapes[i].0,
                            shapes[i].1,
                        )
                    }?;
                }
            }
        } else {
            if Layout::of(out.format) != Some(slot.out_layout) {
                return Err(GpuError::Unsupported(format!(
                    "the batch ran for another output format than {:?}",
                    out.format
                )));
            }
            // SAFETY: the caller vouches for the plane.
            unsafe {
                copy_2d(
                    &self.colorizer,
                    (Memory::Device, src, src_pitch),
                    (out.memory, out.data[0], out.pitch[0]),
                    shapes[0].0,
                    out.height,
                )
            }?;
        }
        self.downloads += u64::from(out.memory == Memory::Host);
        stream.synchronize()?;
        Ok(())
    }
}

/// Packed R G B (A) in that order, `step` bytes a pixel.
fn rgb_layout(step: i32) -> Layout {
    Layout {
        step,
        r: 0,
        g: 1,
        b: 2,
        a: if step == 4 { 3 } else { -1 },
    }
}

/// The device address of a buffer the stream owns (every use is on that stream).
fn ptr(slice: &CudaSlice<u8>, stream: &std::sync::Arc<cudarc::driver::CudaStream>) -> u64 {
    let (p, _sync) = slice.device_ptr(stream);
    p
}

/// The staging buffer, grown to at least `bytes`.
fn staging<'a>(
    slot: &'a mut Option<CudaSlice<u8>>,
    stream: &std::sync::Arc<cudarc::driver::CudaStream>,
    bytes: usize,
) -> Result<&'a CudaSlice<u8>, GpuError> {
    if slot.as_ref().is_none_or(|s| s.len() < bytes) {
        *slot = Some(stream.alloc_zeros::<u8>(bytes.max(1))?);
    }
    Ok(slot.as_ref().expect("set above"))
}

/// A pitched copy of `rows` rows of `width` bytes, on the recipe's stream, between any two of
/// host and device memory.
///
/// # Safety
/// Both regions must be valid for `rows` rows at their pitches, where their memory says.
unsafe fn copy_2d(
    colorizer: &GpuColorizer,
    src: (Memory, u64, usize),
    dst: (Memory, u64, usize),
    width: usize,
    rows: usize,
) -> Result<(), GpuError> {
    if width == 0 || rows == 0 {
        return Ok(());
    }
    colorizer.recipe.context().bind_to_thread()?;
    // SAFETY: an all-zero CUDA_MEMCPY2D is a valid start (null arrays, zero offsets).
    let mut c: sys::CUDA_MEMCPY2D = unsafe { std::mem::zeroed() };
    match src.0 {
        Memory::Host => {
            c.srcMemoryType = sys::CUmemorytype::CU_MEMORYTYPE_HOST;
            c.srcHost = src.1 as *const std::ffi::c_void;
        }
        Memory::Device => {
            c.srcMemoryType = sys::CUmemorytype::CU_MEMORYTYPE_DEVICE;
            c.srcDevice = src.1;
        }
    }
    c.srcPitch = src.2;
    match dst.0 {
        Memory::Host => {
            c.dstMemoryType = sys::CUmemorytype::CU_MEMORYTYPE_HOST;
            c.dstHost = dst.1 as *mut std::ffi::c_void;
        }
        Memory::Device => {
            c.dstMemoryType = sys::CUmemorytype::CU_MEMORYTYPE_DEVICE;
            c.dstDevice = dst.1;
        }
    }
    c.dstPitch = dst.2;
    c.WidthInBytes = width;
    c.Height = rows;
    // SAFETY: as the caller vouches; the stream is the recipe's, on the bound context.
    unsafe { sys::cuMemcpy2DAsync_v2(&c, colorizer.recipe.stream().cu_stream()) }.result()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every format the element offers in CUDA memory, and every packed or Y'CbCr format in
    /// system memory, goes through the kernels; 16-bit and grey output do not, and say why.
    #[test]
    fn the_gpu_path_takes_the_kernels_formats_and_names_the_rest() {
        use PixelFormat as P;
        let colour = [
            P::Rgb,
            P::Bgr,
            P::Rgba,
            P::Bgra,
            P::Rgbx,
            P::Bgrx,
            P::I420,
            P::Nv12,
            P::Y444,
        ];
        for i in colour.iter().chain([&P::Gray8]) {
            for o in colour {
                assert_eq!(unsupported(*i, o), None, "{i:?} -> {o:?}");
            }
        }
        let why = unsupported(P::Gray16Le, P::Rgb).expect("16-bit refused");
        assert!(why.contains("16-bit"), "{why}");
        assert!(unsupported(P::Rgb, P::Gray8).is_some());
    }
}
