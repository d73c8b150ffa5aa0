//! The GPU path touches raw CUDA memory and contexts through `unsafe` calls; keeping it apart
//! from the element's glue keeps those calls, and what makes them sound, in one place.

use ddcolor_engine::Model;
use ddcolor_engine::cuda::frames::{GpuFrames, Memory, Planes};
use ddcolor_engine::frame::PixelFormat;
use gst::prelude::*;

use super::caps::yuv_of;
use super::imp::{CAT, frame_error};
use crate::gstcuda::{CudaContext, GstCuda, MappedFrame};

/// The GPU path's state: frames queue in GPU memory, the kernels convert and recombine them.
pub(super) struct GpuState {
    pub(super) frames: GpuFrames,
    /// The negotiated formats have kernels: frames take this path (else the CPU's).
    pub(super) active: bool,
    /// Where the negotiated caps put input and output frames (`memory:CUDAMemory` or not).
    pub(super) in_memory: Memory,
    pub(super) out_memory: Memory,
    pub(super) upsample: ddcolor_engine::Upsample,
    /// An `upsample` change the GPU path cannot follow was said once.
    pub(super) warned_upsample: bool,
    /// `keep-luma` switched on while playing, which the GPU path does not do, was said once.
    pub(super) warned_keep_luma: bool,
}

impl GpuState {
    /// The GPU path's state for a model placed on the GPU, or why an option needs the CPU's
    /// pre- and post-processing.
    pub(super) fn new(
        model: &Model,
        upsample: ddcolor_engine::Upsample,
        keep_luma: bool,
        has_workflow: bool,
        per_call: usize,
    ) -> Result<Self, String> {
        let made = if has_workflow {
            Err("a workflow's steps run on the CPU".to_string())
        } else if keep_luma {
            Err("keep-luma runs on the CPU".to_string())
        } else {
            GpuFrames::new(model, per_call, upsample).map_err(|e| e.to_string())
        };
        made.map(|frames| GpuState {
            frames,
            active: false,
            in_memory: Memory::Host,
            out_memory: Memory::Host,
            upsample,
            warned_upsample: false,
            warned_keep_luma: false,
        })
    }

    /// Follows an `upsample` change where the kernels can; the first change they cannot follow
    /// comes back as the warning to give, once.
    pub(super) fn follow_upsample(&mut self, upsample: ddcolor_engine::Upsample) -> Option<String> {
        if upsample != self.upsample {
            match self.frames.colorizer().set_upsample(upsample) {
                Ok(()) => self.upsample = upsample,
                Err(e) if !self.warned_upsample => {
                    self.warned_upsample = true;
                    return Some(format!("upsample stays {:?}: {e}", self.upsample));
                }
                Err(_) => {}
            }
        }
        None
    }

    /// Queues an input frame in GPU memory (`too_small`: the error for a buffer that does not
    /// hold a frame of `info`).
    pub(super) fn push_frame(
        &mut self,
        inbuf: &gst::Buffer,
        info: &gst_video::VideoInfo,
        format: PixelFormat,
        too_small: impl FnOnce() -> gst::ErrorMessage,
    ) -> Result<(), gst::ErrorMessage> {
        let memory = self.in_memory;
        if memory == Memory::Device {
            device_memory_check(inbuf.as_ref()).map_err(frame_error)?;
        }
        // SAFETY: the buffer outlives the mapping, which is only read.
        let mapped =
            unsafe { MappedFrame::map(inbuf.as_ref(), info, memory == Memory::Device, false) }
                .ok_or_else(|| {
                    if memory == Memory::Device {
                        frame_error("the input buffer's CUDA memory could not be mapped")
                    } else {
                        too_small()
                    }
                })?;
        let planes = planes_of(&mapped, info, format, memory);
        let discont = inbuf.flags().contains(gst::BufferFlags::DISCONT);
        // SAFETY: the mapped planes are the frame's, valid until `mapped` is dropped, which
        // is after `push` has finished reading them.
        unsafe { self.frames.push(&planes, discont) }.map_err(frame_error)?;
        drop(mapped);
        Ok(())
    }

    /// Writes the colour result of `slot` into an output buffer of `out_info`.
    pub(super) fn write_frame(
        &mut self,
        slot: usize,
        buf: &mut gst::BufferRef,
        out_info: &gst_video::VideoInfo,
        format: PixelFormat,
    ) -> Result<(), gst::ErrorMessage> {
        let memory = self.out_memory;
        // SAFETY: the buffer is ours until pushed, and outlives the mapping.
        let mapped = unsafe { MappedFrame::map(buf, out_info, memory == Memory::Device, true) }
            .ok_or_else(|| frame_error("output buffer does not fit the output format"))?;
        let planes = planes_of(&mapped, out_info, format, memory);
        // SAFETY: the mapped planes are the output frame's, writable until `mapped` is
        // dropped, after `write` has finished with them.
        unsafe { self.frames.write(slot, &planes) }.map_err(frame_error)?;
        drop(mapped);
        Ok(())
    }
}

/// A buffer in CUDA-memory caps must hold CUDA memory on the primary context (see
/// [`GstCuda::check_and_sync`]).
pub(super) fn device_memory_check(buffer: &gst::BufferRef) -> Result<(), String> {
    let lib = GstCuda::get().map_err(|e| e.to_string())?;
    let ours = primary_handle().ok_or("no CUDA driver")?;
    lib.check_and_sync(buffer, ours)
}

/// The device's primary CUDA context, wrapped as a `GstCudaContext` for the element's
/// neighbours (decoders, `cudaupload`, `cudaconvert`), so that CUDA memory passes between them
/// and the kernels without a copy.
#[derive(Default)]
pub(super) struct CudaShare {
    pub(super) context: Option<CudaContext>,
    /// A neighbour brought a CUDA context of its own: its device memory is not ours to read,
    /// so CUDA memory caps are not offered.
    pub(super) foreign: bool,
}

/// The device's primary CUDA context (`CUcontext`), when a driver is there.
pub(super) fn primary_handle() -> Option<*mut std::ffi::c_void> {
    ddcolor_engine::cuda::primary_context(0)
        .ok()
        .map(|(ctx, _)| ctx as *mut std::ffi::c_void)
}

/// A mapped frame's planes as the GPU path takes them.
fn planes_of(
    mapped: &MappedFrame,
    info: &gst_video::VideoInfo,
    format: PixelFormat,
    memory: Memory,
) -> Planes {
    Planes {
        format,
        width: info.width() as usize,
        height: info.height() as usize,
        yuv: yuv_of(info),
        memory,
        data: [0, 1, 2].map(|i| mapped.data(i)),
        pitch: [0, 1, 2].map(|i| mapped.pitch(i)),
    }
}

/// A GstCuda buffer pool on the shared context (`context`) for frames of `caps`, and its buffer
/// size.
pub(super) fn cuda_pool(
    context: Option<CudaContext>,
    caps: &gst::Caps,
    min: u32,
    max: u32,
) -> Result<(gst::BufferPool, u32), gst::LoggableError> {
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|e| gst::loggable_error!(CAT, "caps {caps}: {e}"))?;
    let lib = GstCuda::get().map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
    let context =
        context.ok_or_else(|| gst::loggable_error!(CAT, "CUDA memory without a CUDA context"))?;
    let pool = lib
        .buffer_pool(&context)
        .ok_or_else(|| gst::loggable_error!(CAT, "GstCuda made no buffer pool"))?;
    let size = info.size() as u32;
    let mut config = pool.config();
    config.set_params(Some(caps), size, min, max);
    config.add_option(gst_video::BUFFER_POOL_OPTION_VIDEO_META.as_ref());
    pool.set_config(config)
        .map_err(|e| gst::loggable_error!(CAT, "CUDA buffer pool: {e}"))?;
    Ok((pool, size))
}
