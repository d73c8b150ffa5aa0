use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, MutexGuard};

use ddcolor_engine::cuda::frames::{self as gpu_frames, GpuFrames, Memory, Planes};
use ddcolor_engine::device::{GpuOptions, Placement};
use ddcolor_engine::frame::{self, Frame, FrameMut, LumaPlane, PixelFormat, Yuv, YuvMatrix};
use ddcolor_engine::plan::{PlanError, PlanRequest, SizeRule, Sizes};
use ddcolor_engine::temporal::{self, Smoother, TemporalSettings};
use ddcolor_engine::workflow::Workflow;
use ddcolor_engine::{EngineError, LabImage, Model, Photo, Samples, model_input, recombine_into};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_transform::GenerateOutputSuccess;
use gst_base::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;
use std::sync::Arc;

use super::{Device, Style, Temporal, Upsample};
use crate::gstcuda::{self, CudaContext, GstCuda, MappedFrame};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "ddcolorize",
        gst::DebugColorFlags::empty(),
        Some("DDColor colorization"),
    )
});

const MAX_BATCH: u32 = 64;

// Each default once: `Settings::default()` and the ParamSpecs (what gst-inspect shows) both
// take it from here.
/// 0: the model's fixed S, or the engine's default for a model of any size.
const DEFAULT_INPUT_SIZE: u32 = 0;
const DEFAULT_UPSAMPLE: Upsample = Upsample::Bilinear;
const DEFAULT_BATCH_SIZE: u32 = 1;
const DEFAULT_DEVICE: Device = Device::Auto;
const DEFAULT_FP16: bool = false;
/// 0: no cap on ONNX Runtime's GPU memory.
const DEFAULT_MAX_GPU_MEMORY: u64 = 0;
const DEFAULT_KEEP_LUMA: bool = false;
/// 0: ONNX Runtime's own choice, one per core.
const DEFAULT_THREADS: u32 = 0;
const DEFAULT_STYLE: Style = Style::None;
const MAX_INPUT_SIZE: u32 = 4096;

/// Name of the element message that says which S runs (field `input-size`, a string: `512`,
/// `768 (auto)`, or a step-down's description), posted when it is first known and after each
/// step-down.
pub const SIZE_MESSAGE: &str = "ddcolorize-input-size";

/// Formats the element reads. Grey formats are what scanned film decodes to; the others let it
/// sit straight after a decoder or `videoconvert` without another conversion.
const SINK_FORMATS: &[gst_video::VideoFormat] = &[
    gst_video::VideoFormat::Gray8,
    gst_video::VideoFormat::Gray16Le,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
];

/// Formats the element writes: colour only. The order is the preference for grey input.
const SRC_FORMATS: &[gst_video::VideoFormat] = &[
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
];

#[derive(Debug, Clone)]
struct Settings {
    model: Option<String>,
    input_size: u32,
    upsample: Upsample,
    batch_size: u32,
    device: Device,
    /// TensorRT in half precision.
    fp16: bool,
    /// Folder where TensorRT keeps the engines it builds.
    engine_cache: Option<String>,
    /// Cap on ONNX Runtime's GPU memory, in MiB (0: none).
    max_gpu_memory: u64,
    keep_luma: bool,
    threads: u32,
    temporal: Temporal,
    temporal_strength: f32,
    motion_sensitivity: f32,
    scene_cut_threshold: f32,
    /// A workflow preset name or JSON file; its per-frame nodes run on every frame.
    workflow: Option<String>,
    style: Style,
    /// `upsample` was set explicitly: it then wins over a workflow's.
    upsample_set: bool,
}

impl Settings {
    fn temporal(&self) -> TemporalSettings {
        TemporalSettings {
            mode: self.temporal.into(),
            strength: self.temporal_strength,
            motion_sensitivity: self.motion_sensitivity,
            scene_cut_threshold: self.scene_cut_threshold,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: None,
            input_size: DEFAULT_INPUT_SIZE,
            upsample: DEFAULT_UPSAMPLE,
            batch_size: DEFAULT_BATCH_SIZE,
            device: DEFAULT_DEVICE,
            fp16: DEFAULT_FP16,
            engine_cache: None,
            max_gpu_memory: DEFAULT_MAX_GPU_MEMORY,
            keep_luma: DEFAULT_KEEP_LUMA,
            threads: DEFAULT_THREADS,
            temporal: Temporal::default(),
            temporal_strength: temporal::DEFAULT_STRENGTH,
            motion_sensitivity: temporal::DEFAULT_MOTION_SENSITIVITY,
            scene_cut_threshold: temporal::DEFAULT_SCENE_CUT_THRESHOLD,
            workflow: None,
            style: DEFAULT_STYLE,
            upsample_set: false,
        }
    }
}

/// Timestamps and flags of an input frame, kept instead of the buffer itself.
#[derive(Debug, Clone, Copy)]
struct Timing {
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    offset: u64,
    offset_end: u64,
    flags: gst::BufferFlags,
}

impl Timing {
    fn of(buf: &gst::BufferRef) -> Self {
        Self {
            pts: buf.pts(),
            dts: buf.dts(),
            duration: buf.duration(),
            offset: buf.offset(),
            offset_end: buf.offset_end(),
            flags: buf.flags(),
        }
    }

    fn apply(&self, buf: &mut gst::BufferRef) {
        buf.set_pts(self.pts);
        buf.set_dts(self.dts);
        buf.set_duration(self.duration);
        buf.set_offset(self.offset);
        buf.set_offset_end(self.offset_end);
        // Only flags that describe the frame's place in the stream carry over.
        let keep = gst::BufferFlags::DISCONT
            | gst::BufferFlags::RESYNC
            | gst::BufferFlags::GAP
            | gst::BufferFlags::DROPPABLE;
        buf.set_flags(self.flags & keep);
    }
}

/// One frame waiting for its batch: its full-resolution pixels (L comes from them) and, with
/// `keep-luma`, its luma plane. Slots are reused, so no frame-sized buffer is allocated per frame.
struct Slot {
    photo: Photo,
    luma: Vec<u8>,
    /// The colour result, once the model has run on the batch.
    out: Photo,
    timing: Timing,
}

impl Slot {
    fn new() -> Self {
        Self {
            photo: Photo {
                width: 0,
                height: 0,
                channels: 1,
                samples: Samples::U8(Vec::new()),
            },
            luma: Vec::new(),
            out: Photo {
                width: 0,
                height: 0,
                channels: 3,
                samples: Samples::U8(Vec::new()),
            },
            timing: Timing {
                pts: None,
                dts: None,
                duration: None,
                offset: 0,
                offset_end: 0,
                flags: gst::BufferFlags::empty(),
            },
        }
    }
}

struct State {
    model: Model,
    size: usize,
    batch: usize,
    /// Frames per model call: the model's fixed batch if it has one, else `batch`.
    per_call: usize,
    in_info: Option<gst_video::VideoInfo>,
    out_info: Option<gst_video::VideoInfo>,
    slots: Vec<Slot>,
    filled: usize,
    input: Vec<f32>,
    ab: Vec<f32>,
    /// Slots whose colour result waits to be written out, in order. Output buffers are written
    /// one at a time, as they are pushed: holding a batch of them could exhaust a small
    /// downstream pool and stall.
    ready: VecDeque<usize>,
    /// Colour carried from frame to frame; frames reach it in order, batch or not.
    smoother: Smoother,
    /// Post-processing after the model, from the `workflow` property.
    workflow: Option<Arc<Workflow>>,
    /// S per frame size and the out-of-memory step-down, as the engine's plan decided them.
    sizes: Arc<Sizes>,
    /// Frames colorized since the last flush or new segment: varies the workflow's film grain
    /// from frame to frame, the same way on a second pass after a seek to the start.
    frames: u64,
    /// The workflow changes lightness: `keep-luma` cannot apply.
    luma_changed: bool,
    /// The recipe's pre- and post-processing on the GPU, when the model runs there and no
    /// CPU-only option is in use.
    gpu: Option<GpuState>,
}

/// The GPU path's state: frames queue in GPU memory, the kernels convert and recombine them.
struct GpuState {
    frames: GpuFrames,
    /// The negotiated formats have kernels: frames take this path (else the CPU's).
    active: bool,
    /// Where the negotiated caps put input and output frames (`memory:CUDAMemory` or not).
    in_memory: Memory,
    out_memory: Memory,
    upsample: ddcolor_engine::Upsample,
    /// An `upsample` change the GPU path cannot follow was said once.
    warned_upsample: bool,
    /// `keep-luma` switched on while playing, which the GPU path does not do, was said once.
    warned_keep_luma: bool,
}

/// A buffer in CUDA-memory caps must hold CUDA memory on the primary context (see
/// [`GstCuda::check_and_sync`]).
fn device_memory_check(buffer: &gst::BufferRef) -> Result<(), String> {
    let lib = GstCuda::get().map_err(|e| e.to_string())?;
    let ours = primary_handle().ok_or("no CUDA driver")?;
    lib.check_and_sync(buffer, ours)
}

/// The device's primary CUDA context, wrapped as a `GstCudaContext` for the element's
/// neighbours (decoders, `cudaupload`, `cudaconvert`), so that CUDA memory passes between them
/// and the kernels without a copy.
#[derive(Default)]
struct CudaShare {
    context: Option<CudaContext>,
    /// A neighbour brought a CUDA context of its own: its device memory is not ours to read,
    /// so CUDA memory caps are not offered.
    foreign: bool,
}

#[derive(Default)]
pub struct Ddcolorize {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
    cuda: Mutex<CudaShare>,
    /// Whether the GPU path runs: [`GPU_PATH_UNKNOWN`] until started. Kept outside the state so
    /// caps queries never wait for the state lock, which a batch holds through inference.
    gpu_path: std::sync::atomic::AtomicU8,
}

const GPU_PATH_UNKNOWN: u8 = 0;
const GPU_PATH_YES: u8 = 1;
const GPU_PATH_NO: u8 = 2;

/// The device's primary CUDA context (`CUcontext`), when a driver is there.
fn primary_handle() -> Option<*mut std::ffi::c_void> {
    ddcolor_engine::cuda::primary_context(0)
        .ok()
        .map(|(ctx, _)| ctx as *mut std::ffi::c_void)
}

pub(crate) fn pixel_format(f: gst_video::VideoFormat) -> Option<PixelFormat> {
    use gst_video::VideoFormat as V;
    Some(match f {
        V::Gray8 => PixelFormat::Gray8,
        V::Gray16Le => PixelFormat::Gray16Le,
        V::I420 => PixelFormat::I420,
        V::Nv12 => PixelFormat::Nv12,
        V::Y444 => PixelFormat::Y444,
        V::Rgb => PixelFormat::Rgb,
        V::Bgr => PixelFormat::Bgr,
        V::Rgba => PixelFormat::Rgba,
        V::Bgra => PixelFormat::Bgra,
        V::Rgbx => PixelFormat::Rgbx,
        V::Bgrx => PixelFormat::Bgrx,
        _ => return None,
    })
}

fn yuv_of(info: &gst_video::VideoInfo) -> Yuv {
    use gst_video::VideoColorMatrix as M;
    let matrix = match info.colorimetry().matrix() {
        M::Bt601 | M::Fcc => YuvMatrix::Bt601,
        M::Bt2020 => YuvMatrix::Bt2020,
        _ => YuvMatrix::Bt709,
    };
    Yuv {
        matrix,
        full_range: info.colorimetry().range() == gst_video::VideoColorRange::Range0_255,
    }
}

/// The caps the other side can have for `caps` on one side (`direction`: the side of `caps`).
/// Sizes and rates carry over; formats become the other side's, the same format first so no
/// conversion is forced; Y'CbCr out keeps the input's matrix and range (what `keep-luma` needs,
/// and no silent change of colorimetry), RGB out has none. With `cuda` (the GPU path can run),
/// frames may be in CUDA memory on either side, in the formats the kernels handle, the same
/// memory as `caps` first; without it CUDA memory is not taken.
pub(crate) fn transformed_caps(
    direction: gst::PadDirection,
    caps: &gst::Caps,
    cuda: bool,
) -> gst::Caps {
    use gst_video::VideoFormat as V;
    let system = gst::CapsFeatures::new([gst::CAPS_FEATURE_MEMORY_SYSTEM_MEMORY]);
    let device = gst::CapsFeatures::new([gstcuda::CUDA_MEMORY]);
    let mut out = gst::Caps::new_empty();
    {
        let out = out.get_mut().expect("new caps are writable");
        for (s, features) in caps.iter_with_features() {
            let in_cuda = features.contains(gstcuda::CUDA_MEMORY);
            if in_cuda && !cuda {
                continue;
            }
            // (formats, keep colorimetry) in order of preference.
            let mut variants: Vec<(Vec<V>, bool)> = Vec::new();
            if direction == gst::PadDirection::Src {
                variants.push((SINK_FORMATS.to_vec(), false));
            } else {
                let same = s
                    .get::<&str>("format")
                    .ok()
                    .map(V::from_string)
                    .filter(|f| SRC_FORMATS.contains(f));
                let ordered: Vec<V> = same
                    .into_iter()
                    .chain(SRC_FORMATS.iter().copied().filter(|f| Some(*f) != same))
                    .collect();
                if same.is_some_and(|f| pixel_format(f).is_some_and(|p| p.is_yuv())) {
                    let is_yuv = |f: &V| pixel_format(*f).is_some_and(|p| p.is_yuv());
                    variants.push((ordered.iter().copied().filter(is_yuv).collect(), true));
                    variants.push((
                        ordered.iter().copied().filter(|f| !is_yuv(f)).collect(),
                        false,
                    ));
                } else {
                    variants.push((ordered, false));
                }
            }
            let kinds: Vec<(&gst::CapsFeaturesRef, bool)> = match (in_cuda, cuda) {
                (true, _) => vec![(&device, true), (&system, false)],
                (false, true) => vec![(features, false), (&device, true)],
                (false, false) => vec![(features, false)],
            };
            for (kind, on_gpu) in kinds {
                for (formats, colorimetry) in &variants {
                    let formats: Vec<V> = formats
                        .iter()
                        .copied()
                        .filter(|f| !on_gpu || gstcuda::CUDA_FORMATS.contains(f))
                        .collect();
                    if formats.is_empty() {
                        continue;
                    }
                    let mut s = s.to_owned();
                    s.set("format", gst::List::new(formats.iter().map(|f| f.to_str())));
                    if !colorimetry {
                        s.remove_fields(["colorimetry", "chroma-site"]);
                    }
                    out.append_structure_full(s, Some(kind.to_owned()));
                }
            }
        }
    }
    out
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

fn frame_error(e: impl std::fmt::Display) -> gst::ErrorMessage {
    gst::error_msg!(gst::StreamError::Format, ("ddcolorize: {e}"))
}

impl Ddcolorize {
    fn lock_state(&self) -> MutexGuard<'_, Option<State>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_settings(&self) -> MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_cuda(&self) -> MutexGuard<'_, CudaShare> {
        self.cuda.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether frames may come and go in CUDA memory: the primary context is shared, no
    /// neighbour brought another, and (once started) the GPU path runs. Before the start,
    /// offered unless the settings rule the GPU path out; `set_info` refuses CUDA caps if the
    /// model then ends up on the CPU.
    fn offers_cuda(&self) -> bool {
        let shared = {
            let cuda = self.lock_cuda();
            cuda.context.is_some() && !cuda.foreign
        };
        shared
            && match self.gpu_path.load(std::sync::atomic::Ordering::Acquire) {
                GPU_PATH_YES => true,
                GPU_PATH_NO => false,
                // Not started: what the settings already rule out.
                _ => {
                    let s = self.lock_settings();
                    s.workflow.is_none()
                        && s.style == Style::None
                        && !s.keep_luma
                        && s.upsample != Upsample::EdgeAware
                }
            }
    }

    /// Wraps the device's primary context for the neighbours and posts it (HAVE_CONTEXT), so
    /// the pipeline hands it to the CUDA elements that ask; done on NULL -> READY, before the
    /// elements upstream (which change state after this one) open their devices. Nothing
    /// happens with `device=cpu` or without a CUDA driver.
    fn share_cuda_context(&self) {
        if self.lock_settings().device == Device::Cpu || self.lock_cuda().context.is_some() {
            return;
        }
        let made = (|| -> Result<(CudaContext, Option<gst::Context>), String> {
            let lib = GstCuda::get().map_err(|e| e.to_string())?;
            let (ctx, dev) = ddcolor_engine::cuda::primary_context(0).map_err(|e| e.to_string())?;
            // SAFETY: the primary context is retained for the life of the process.
            let wrapped = unsafe { lib.wrap_context(ctx as *mut std::ffi::c_void, dev) }
                .ok_or("GstCuda could not wrap the primary context")?;
            let context = lib.gst_context(&wrapped);
            Ok((wrapped, context))
        })();
        match made {
            Ok((wrapped, context)) => {
                self.lock_cuda().context = Some(wrapped);
                if let Some(context) = context {
                    gst::debug!(CAT, imp = self, "sharing the primary CUDA context");
                    self.obj()
                        .post_message(
                            gst::message::HaveContext::builder(context)
                                .src(&*self.obj())
                                .build(),
                        )
                        .ok();
                }
            }
            Err(e) => gst::debug!(CAT, imp = self, "no CUDA context to share: {e}"),
        }
    }

    /// Says once, on the bus too, where pre- and post-processing run and why not on the GPU.
    fn say(&self, text: &str) {
        gst::info!(CAT, imp = self, "{text}");
        self.obj()
            .post_message(
                gst::message::Info::builder(gst::CoreError::Failed, text)
                    .src(&*self.obj())
                    .build(),
            )
            .ok();
    }

    /// The GPU path for a model placed on the GPU, unless an option needs the CPU's
    /// pre- and post-processing (said once, with the reason).
    fn gpu_path(
        &self,
        model: &Model,
        settings: &Settings,
        has_workflow: bool,
        per_call: usize,
    ) -> Option<GpuState> {
        if !model.placement().is_gpu() {
            return None;
        }
        let upsample = ddcolor_engine::Upsample::from(settings.upsample);
        let made = if has_workflow {
            Err("a workflow's steps run on the CPU".to_string())
        } else if settings.keep_luma {
            Err("keep-luma runs on the CPU".to_string())
        } else {
            GpuFrames::new(model, per_call, upsample).map_err(|e| e.to_string())
        };
        match made {
            Ok(frames) => {
                gst::info!(CAT, imp = self, "pre- and post-processing on the GPU");
                Some(GpuState {
                    frames,
                    active: false,
                    in_memory: Memory::Host,
                    out_memory: Memory::Host,
                    upsample,
                    warned_upsample: false,
                    warned_keep_luma: false,
                })
            }
            Err(why) => {
                self.say(&format!(
                    "ddcolorize: the model runs on the GPU, pre- and post-processing on the CPU: {why}"
                ));
                None
            }
        }
    }

    /// A GstCuda buffer pool on the shared context for frames of `caps`, and its buffer size.
    fn cuda_pool(
        &self,
        caps: &gst::Caps,
        min: u32,
        max: u32,
    ) -> Result<(gst::BufferPool, u32), gst::LoggableError> {
        let info = gst_video::VideoInfo::from_caps(caps)
            .map_err(|e| gst::loggable_error!(CAT, "caps {caps}: {e}"))?;
        let lib = GstCuda::get().map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
        let context = self
            .lock_cuda()
            .context
            .clone()
            .ok_or_else(|| gst::loggable_error!(CAT, "CUDA memory without a CUDA context"))?;
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

    /// Says that the GPU ran out of memory and S went down to `s`, as a warning on the bus, and
    /// announces the S that now runs.
    fn said_out_of_memory(&self, s: usize, sizes: &Sizes) {
        gst::element_imp_warning!(
            self,
            gst::ResourceError::NoSpaceLeft,
            ["ddcolorize: out of memory; continuing at input size {s}"]
        );
        self.announce_size(&sizes.describe());
    }

    /// Posts the S that runs, as [`SIZE_MESSAGE`] on the bus: an application records what ran
    /// (the runner's provenance) from it rather than predicting it. Posted before the frames
    /// at that S are pushed, so a synchronous bus handler sees it first.
    fn announce_size(&self, input_size: &str) {
        let s = gst::Structure::builder(SIZE_MESSAGE)
            .field("input-size", input_size)
            .build();
        self.obj()
            .post_message(gst::message::Element::builder(s).src(&*self.obj()).build())
            .ok();
    }

    fn is_stopped(&self) -> bool {
        self.obj().current_state() <= gst::State::Ready
            && self.obj().pending_state() <= gst::State::Ready
    }

    /// Converts one input buffer into the next free slot; runs the batch when it is full.
    fn accept(&self, state: &mut State, inbuf: &gst::Buffer) -> Result<(), gst::ErrorMessage> {
        let info = state.in_info.as_ref().ok_or_else(|| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                ("ddcolorize: no caps before the first frame")
            )
        })?;
        let format = pixel_format(info.format())
            .ok_or_else(|| frame_error(format!("unsupported format {:?}", info.format())))?;
        let too_small = || {
            frame_error(format!(
                "a {}-byte buffer does not hold a {}x{} {:?} frame",
                inbuf.size(),
                info.width(),
                info.height(),
                info.format()
            ))
        };
        if let Some(gpu) = state.gpu.as_mut().filter(|g| g.active) {
            let memory = gpu.in_memory;
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
            unsafe { gpu.frames.push(&planes, discont) }.map_err(frame_error)?;
            drop(mapped);
            if state.slots.len() <= state.filled {
                state.slots.push(Slot::new());
            }
            state.slots[state.filled].timing = Timing::of(inbuf);
            state.filled += 1;
            if state.filled == state.batch {
                self.run_batch(state)?;
            }
            return Ok(());
        }
        let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(inbuf.as_ref(), info)
            .map_err(|_| too_small())?;
        let keep_luma = self.lock_settings().keep_luma && format.is_yuv() && !state.luma_changed;
        if state.slots.len() <= state.filled {
            state.slots.push(Slot::new());
        }
        let slot = &mut state.slots[state.filled];
        {
            let planes = vframe.planes_data();
            let strides = vframe.plane_stride();
            let mut p = [[].as_slice(); 3];
            let mut st = [0usize; 3];
            for i in 0..(vframe.n_planes() as usize).min(3) {
                p[i] = planes[i];
                st[i] = strides[i].max(0) as usize;
            }
            let frame = Frame {
                format,
                width: info.width() as usize,
                height: info.height() as usize,
                planes: p,
                strides: st,
                yuv: yuv_of(info),
            };
            frame::frame_to_photo(&frame, &mut slot.photo).map_err(frame_error)?;
            if keep_luma {
                let (w, h) = (frame.width, frame.height);
                slot.luma.resize(w * h, 0);
                for y in 0..h {
                    slot.luma[y * w..(y + 1) * w].copy_from_slice(&p[0][y * st[0]..y * st[0] + w]);
                }
            } else {
                slot.luma.clear();
            }
        }
        slot.timing = Timing::of(inbuf);
        let n = 3 * state.size * state.size;
        let at = state.filled * n;
        model_input(
            &state.slots[state.filled].photo,
            state.size,
            &mut state.input[at..at + n],
        );
        state.filled += 1;
        if state.filled == state.batch {
            self.run_batch(state)?;
        }
        Ok(())
    }

    /// Runs the model on the filled slots and queues their colour results, in order.
    fn run_batch(&self, state: &mut State) -> Result<(), gst::ErrorMessage> {
        // Asked per batch: the property may change while playing.
        let (explicit, temporal) = {
            let s = self.lock_settings();
            (
                s.upsample_set
                    .then(|| ddcolor_engine::Upsample::from(s.upsample)),
                s.temporal(),
            )
        };
        let upsample = ddcolor_engine::plan::upsample(explicit, state.workflow.as_deref());
        if state.gpu.as_ref().is_some_and(|g| g.active) {
            return self.run_gpu_batch(state, upsample, temporal);
        }
        state.smoother.set_settings(temporal);
        let mut s = state.size;
        let (mut n_in, mut n_out) = (3 * s * s, 2 * s * s);
        let filled = std::mem::take(&mut state.filled);
        let mut first = 0;
        while first < filled {
            let n = state.per_call.min(filled - first);
            // A model with a fixed batch gets its full batch; the spare places hold stale inputs
            // and their results are dropped.
            let call = state.model.max_batch().unwrap_or(n);
            let input = &state.input[first * n_in..(first + call) * n_in];
            if let Err(e) = state.model.run(input, call, &mut state.ab) {
                // Out of (GPU) memory: continue at the plan's next smaller S, with the held
                // frames' inputs made again, and say so.
                let smaller = match &e {
                    EngineError::OutOfMemory(_) => state.sizes.step_down(s),
                    _ => None,
                };
                let Some(smaller) = smaller else {
                    return Err(gst::error_msg!(
                        gst::LibraryError::Failed,
                        ("ddcolorize: {e}")
                    ));
                };
                state
                    .model
                    .set_input_size(smaller)
                    .map_err(|e| gst::error_msg!(gst::LibraryError::Failed, ("ddcolorize: {e}")))?;
                let places = state.input.len() / n_in;
                s = smaller;
                (n_in, n_out) = (3 * s * s, 2 * s * s);
                state.size = s;
                state.input = vec![0.0; places * n_in];
                for i in first..filled {
                    model_input(
                        &state.slots[i].photo,
                        s,
                        &mut state.input[i * n_in..(i + 1) * n_in],
                    );
                }
                state.smoother.reset();
                self.said_out_of_memory(s, &state.sizes);
                continue;
            }
            for j in 0..n {
                let i = first + j;
                let slot = &mut state.slots[i];
                // A gap in the stream: the previous frame says nothing about this one.
                if slot.timing.flags.contains(gst::BufferFlags::DISCONT) {
                    state.smoother.reset();
                }
                let luma = &state.input[i * n_in..i * n_in + s * s];
                let step = state
                    .smoother
                    .apply(luma, &mut state.ab[j * n_out..(j + 1) * n_out], s);
                if step.cut {
                    gst::debug!(
                        CAT,
                        imp = self,
                        "scene cut at {:?} (cut score {:.3})",
                        slot.timing.pts,
                        step.cut_score
                    );
                }
                let ab = &state.ab[j * n_out..(j + 1) * n_out];
                match &state.workflow {
                    Some(workflow) => {
                        let mut lab = LabImage::from_recipe(&slot.photo, ab, s, upsample);
                        state.frames += 1;
                        workflow.apply(&mut lab, state.frames);
                        lab.to_photo_into(&mut slot.out);
                    }
                    None => recombine_into(&slot.photo, ab, s, upsample, &mut slot.out),
                }
                state.ready.push_back(i);
            }
            first += n;
        }
        gst::trace!(CAT, imp = self, "colorized a batch of {filled}");
        Ok(())
    }

    /// [`Self::run_batch`] on the GPU path: the frames wait in GPU memory.
    fn run_gpu_batch(
        &self,
        state: &mut State,
        upsample: ddcolor_engine::Upsample,
        temporal: TemporalSettings,
    ) -> Result<(), gst::ErrorMessage> {
        let out_format = state
            .out_info
            .as_ref()
            .and_then(|i| pixel_format(i.format()))
            .ok_or_else(|| {
                gst::error_msg!(
                    gst::CoreError::Negotiation,
                    ("ddcolorize: output caps not set")
                )
            })?;
        let Some(gpu) = state.gpu.as_mut() else {
            return Ok(());
        };
        if upsample != gpu.upsample {
            match gpu.frames.colorizer().set_upsample(upsample) {
                Ok(()) => gpu.upsample = upsample,
                Err(e) if !gpu.warned_upsample => {
                    gpu.warned_upsample = true;
                    gst::warning!(CAT, imp = self, "upsample stays {:?}: {e}", gpu.upsample);
                }
                Err(_) => {}
            }
        }
        gpu.frames.colorizer().set_temporal(temporal);
        let filled = std::mem::take(&mut state.filled);
        let ran = gpu
            .frames
            .run(&mut state.model, &state.sizes, out_format)
            .map_err(|e| gst::error_msg!(gst::LibraryError::Failed, ("ddcolorize: {e}")))?;
        if let Some(s) = ran.stepped_down {
            // The CPU path's buffers follow, for caps that later take it.
            let places = state.input.len() / (3 * state.size * state.size);
            state.size = s;
            state.input = vec![0.0; places * 3 * s * s];
            state.smoother.reset();
            self.said_out_of_memory(s, &state.sizes);
        }
        state.ready.extend(0..filled);
        gst::trace!(
            CAT,
            imp = self,
            "colorized a batch of {filled} on the GPU: kernels {:?} + {:?}, model {:?}, smoothing {:?}",
            ran.timing.pre,
            ran.timing.post,
            ran.timing.model,
            ran.timing.smooth
        );
        Ok(())
    }

    fn write_output(
        &self,
        state: &mut State,
        slot: usize,
        keep_luma: bool,
    ) -> Result<gst::Buffer, gst::ErrorMessage> {
        let out_info = state.out_info.as_ref().ok_or_else(|| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                ("ddcolorize: output caps not set")
            )
        })?;
        let in_info = state.in_info.as_ref().ok_or_else(|| {
            gst::error_msg!(
                gst::CoreError::Negotiation,
                ("ddcolorize: input caps not set")
            )
        })?;
        let format = pixel_format(out_info.format()).ok_or_else(|| {
            frame_error(format!("unsupported output format {:?}", out_info.format()))
        })?;
        let mut outbuf = match self.obj().buffer_pool() {
            Some(pool) => {
                if !pool.is_active() {
                    pool.set_active(true).map_err(|e| {
                        gst::error_msg!(
                            gst::CoreError::Negotiation,
                            ("ddcolorize: output buffer pool: {e}")
                        )
                    })?;
                }
                pool.acquire_buffer(None).map_err(|e| {
                    gst::error_msg!(
                        gst::CoreError::Negotiation,
                        ("ddcolorize: no output buffer: {e:?}")
                    )
                })?
            }
            None => gst::Buffer::with_size(out_info.size()).map_err(|e| {
                gst::error_msg!(gst::ResourceError::NoSpaceLeft, ("ddcolorize: {e}"))
            })?,
        };
        if let Some(gpu) = state.gpu.as_mut().filter(|g| g.active) {
            let buf = outbuf.make_mut();
            state.slots[slot].timing.apply(buf);
            let memory = gpu.out_memory;
            if memory == Memory::Device {
                device_memory_check(buf).map_err(frame_error)?;
            }
            if keep_luma && !std::mem::replace(&mut gpu.warned_keep_luma, true) {
                gst::warning!(
                    CAT,
                    imp = self,
                    "keep-luma set while playing is not applied on the GPU path (set it before the start)"
                );
            }
            // SAFETY: the buffer is ours until pushed, and outlives the mapping.
            let mapped = unsafe { MappedFrame::map(buf, out_info, memory == Memory::Device, true) }
                .ok_or_else(|| frame_error("output buffer does not fit the output format"))?;
            let planes = planes_of(&mapped, out_info, format, memory);
            // SAFETY: the mapped planes are the output frame's, writable until `mapped` is
            // dropped, after `write` has finished with them.
            unsafe { gpu.frames.write(slot, &planes) }.map_err(frame_error)?;
            drop(mapped);
            return Ok(outbuf);
        }
        let slot = &state.slots[slot];
        {
            let buf = outbuf.make_mut();
            slot.timing.apply(buf);
            let mut vframe = gst_video::VideoFrameRef::from_buffer_ref_writable(buf, out_info)
                .map_err(|_| frame_error("output buffer does not fit the output format"))?;
            let strides = vframe.plane_stride();
            let n_planes = (vframe.n_planes() as usize).min(3);
            let mut st = [0usize; 3];
            for (i, s) in st.iter_mut().enumerate().take(n_planes) {
                *s = strides[i].max(0) as usize;
            }
            let [p0, p1, p2, _] = vframe.planes_data_mut();
            let mut out = FrameMut {
                format,
                width: out_info.width() as usize,
                height: out_info.height() as usize,
                planes: [p0, p1, p2],
                strides: st,
                yuv: yuv_of(out_info),
            };
            // Luma is kept only where it means the same on both sides; otherwise every pixel
            // follows the recipe.
            let in_format = pixel_format(in_info.format());
            let luma = (keep_luma
                && !slot.luma.is_empty()
                && format.is_yuv()
                && yuv_of(in_info) == out.yuv)
                .then(|| LumaPlane {
                    format: in_format.unwrap_or(PixelFormat::I420),
                    data: &slot.luma,
                    stride: in_info.width() as usize,
                    width: in_info.width() as usize,
                    height: in_info.height() as usize,
                    yuv: yuv_of(in_info),
                });
            frame::photo_to_frame(&slot.out, &mut out, luma.as_ref()).map_err(frame_error)?;
        }
        Ok(outbuf)
    }

    /// The next colour frame, written into an output buffer.
    fn next_output(&self, state: &mut State) -> Result<Option<gst::Buffer>, gst::ErrorMessage> {
        let Some(i) = state.ready.pop_front() else {
            return Ok(None);
        };
        let keep_luma = self.lock_settings().keep_luma && !state.luma_changed;
        self.write_output(state, i, keep_luma).map(Some)
    }

    /// Runs a partial batch (end of stream, caps change, events that must not overtake the
    /// frames held back) and pushes every frame, each without holding the state lock.
    fn drain(&self) -> Result<(), gst::ErrorMessage> {
        loop {
            let buf = {
                let mut guard = self.lock_state();
                let Some(state) = guard.as_mut() else {
                    return Ok(());
                };
                if state.filled > 0 {
                    self.run_batch(state)?;
                }
                match self.next_output(state)? {
                    Some(b) => b,
                    None => return Ok(()),
                }
            };
            if let Err(err) = self.obj().src_pad().push(buf) {
                gst::debug!(CAT, imp = self, "push while draining: {err:?}");
                return Ok(());
            }
        }
    }

    fn discard(&self) {
        if let Some(state) = self.lock_state().as_mut() {
            state.filled = 0;
            state.ready.clear();
            state.smoother.reset();
            state.frames = 0;
            if let Some(gpu) = state.gpu.as_mut() {
                gpu.frames.discard();
                gpu.frames.colorizer().reset_temporal();
            }
        }
    }

    /// A new segment, stream or format: colour from before it must not leak into it.
    fn forget_past(&self) {
        if let Some(state) = self.lock_state().as_mut() {
            state.smoother.reset();
            state.frames = 0;
            if let Some(gpu) = state.gpu.as_mut() {
                gpu.frames.colorizer().reset_temporal();
            }
        }
    }

    /// Frames held back by batching, as latency (`batch-size - 1` frame durations).
    fn added_latency(&self) -> gst::ClockTime {
        let guard = self.lock_state();
        let Some(state) = guard.as_ref() else {
            return gst::ClockTime::ZERO;
        };
        let Some(info) = state.in_info.as_ref() else {
            return gst::ClockTime::ZERO;
        };
        let fps = info.fps();
        if fps.numer() <= 0 || fps.denom() <= 0 || state.batch <= 1 {
            return gst::ClockTime::ZERO;
        }
        let frame = gst::ClockTime::SECOND
            .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
            .unwrap_or(gst::ClockTime::ZERO);
        frame * (state.batch as u64 - 1)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for Ddcolorize {
    const NAME: &'static str = "GstDdcolorize";
    type Type = super::Ddcolorize;
    type ParentType = gst_video::VideoFilter;
}

impl ObjectImpl for Ddcolorize {
    fn constructed(&self) {
        self.parent_constructed();
        // Restoration is not real time: a slow model must never make the element drop frames.
        self.obj().set_qos(false);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("model")
                    .mutable_ready()
                    .nick("Model")
                    .blurb(
                        "DDColor ONNX model: a path to an .onnx file, or a known name (modelscope, paper, artistic, \
                         paper_tiny; `ddcolor models` lists them). Empty: $DDCOLOR_MODEL, else the best model \
                         installed under models/. Set in NULL or READY.",
                    )
                    .build(),
                glib::ParamSpecUInt::builder("input-size")
                    .mutable_ready()
                    .nick("Input size")
                    .blurb(
                        "Size S (pixels, multiple of 32) the model works at, for models with a dynamic input; \
                         0 = the model's fixed size, or 512. Larger is slower. Set in NULL or READY.",
                    )
                    .maximum(MAX_INPUT_SIZE)
                    .default_value(DEFAULT_INPUT_SIZE)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("upsample", DEFAULT_UPSAMPLE)
                    .nick("Upsample")
                    .blurb(
                        "How the model's colour is brought up to the frame size: bilinear (smooth, default), \
                         edge-aware (colour edges follow the frame's own edges) or nearest (exactly as the \
                         official DDColor code). A workflow's setting takes its place. May change while playing.",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .mutable_ready()
                    .nick("Batch size")
                    .blurb(
                        "Frames per inference call. Above 1 it can raise throughput (mostly on GPUs) and adds \
                         batch-size - 1 frames of latency, reported in the latency query; a partial batch is \
                         finished at end of stream. Set in NULL or READY.",
                    )
                    .minimum(1)
                    .maximum(MAX_BATCH)
                    .default_value(DEFAULT_BATCH_SIZE)
                    .build(),
                glib::ParamSpecEnum::builder_with_default("device", DEFAULT_DEVICE)
                    .mutable_ready()
                    .nick("Device")
                    .blurb(
                        "Where inference runs: auto (the GPU when a CUDA-enabled ONNX Runtime and a usable GPU are \
                         there, else the CPU, logged once), cuda (fail without them) or cpu. Set in NULL or READY.",
                    )
                    .build(),
                glib::ParamSpecBoolean::builder("fp16")
                    .mutable_ready()
                    .nick("FP16")
                    .blurb("On the GPU with TensorRT: half precision (faster). Set in NULL or READY.")
                    .default_value(DEFAULT_FP16)
                    .build(),
                glib::ParamSpecString::builder("engine-cache")
                    .mutable_ready()
                    .nick("TensorRT engine cache")
                    .blurb(
                        "Folder where TensorRT keeps the engines it builds (building takes minutes, loading \
                         seconds). Empty: no cache. Set in NULL or READY.",
                    )
                    .build(),
                glib::ParamSpecUInt64::builder("max-gpu-memory")
                    .mutable_ready()
                    .nick("Max GPU memory")
                    .blurb(
                        "Cap on ONNX Runtime's CUDA memory arena (and TensorRT's build workspace), in MiB; \
                         0 = no cap. Set in NULL or READY.",
                    )
                    .maximum(1 << 30)
                    .default_value(DEFAULT_MAX_GPU_MEMORY)
                    .build(),
                glib::ParamSpecBoolean::builder("keep-luma")
                    .nick("Keep luma")
                    .blurb(
                        "YUV in and YUV out only: copy the luma plane unchanged (film grain stays bit-exact) and \
                         write only colour. Off (default): every pixel follows the DDColor recipe, exactly as \
                         `ddcolor photo`. May change while playing.",
                    )
                    .default_value(DEFAULT_KEEP_LUMA)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("temporal", Temporal::default())
                    .nick("Temporal smoothing")
                    .blurb(
                        "Keeps colours steady from frame to frame (no flicker): off, recursive (blend with the \
                         previous frame where the picture did not change) or flow (blend with the previous frame \
                         moved along the optical flow; default). Resets at scene cuts, seeks, flushes, \
                         discontinuities and new segments. May change while playing.",
                    )
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("temporal-strength")
                    .nick("Temporal strength")
                    .blurb(
                        "How much of the previous frame's colour is kept where nothing changed: 0 (none) to \
                         0.99. Higher is steadier but slower to follow real colour changes. May change while \
                         playing.",
                    )
                    .minimum(0.0)
                    .maximum(0.99)
                    .default_value(temporal::DEFAULT_STRENGTH)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("motion-sensitivity")
                    .nick("Motion sensitivity")
                    .blurb(
                        "How quickly blending stops where the picture changed (alpha in w = strength * \
                         exp(-alpha * dL^2), dL the largest |luma change - the frame's median change| within 2 model pixels, L in 0..1). Higher leaves no trail behind moving objects but \
                         smooths less on grainy film. May change while playing.",
                    )
                    .minimum(0.0)
                    .maximum(10000.0)
                    .default_value(temporal::DEFAULT_MOTION_SENSITIVITY)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecFloat::builder("scene-cut-threshold")
                    .nick("Scene-cut threshold")
                    .blurb(
                        "How much the picture changed between two frames, 0 to 1: (1 - correlation of 16x16 luma \
                         thumbnails) / 2 plus half the distance between their brightness histograms. Above it \
                         a new scene starts and no colour is carried over; 1 never cuts. Lower catches more \
                         cuts (and more false ones, such as flashes or very fast pans). May change while playing.",
                    )
                    .minimum(0.0)
                    .maximum(1.0)
                    .default_value(temporal::DEFAULT_SCENE_CUT_THRESHOLD)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecString::builder("workflow")
                    .mutable_ready()
                    .nick("Workflow")
                    .blurb(
                        "A workflow preset (portrait, building) or a ComfyUI-API JSON file: its DDColor-ddcolorize \
                         node's model, size and upsampling (unless model or input-size is set) and its \
                         post-processing nodes run on every frame; load and save nodes are ignored. \
                         Empty: none. Set in NULL or READY.",
                    )
                    .build(),
                glib::ParamSpecEnum::builder_with_default("style", DEFAULT_STYLE)
                    .mutable_ready()
                    .nick("Style")
                    .blurb("A look applied last: none, vintage (muted, warm, fine grain) or modern (vivid, clean). Set in NULL or READY.")
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .mutable_ready()
                    .nick("Threads")
                    .blurb("Threads ONNX Runtime uses for one inference; 0 = one per core. Set in NULL or READY.")
                    .maximum(1024)
                    .default_value(DEFAULT_THREADS)
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        // What may change while playing is what the ParamSpec says.
        let live = pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING);
        if !live && !self.is_stopped() {
            gst::warning!(
                CAT,
                imp = self,
                "property '{}' can only be changed in the NULL or READY state; ignored",
                pspec.name()
            );
            return;
        }
        let mut s = self.lock_settings();
        match pspec.name() {
            "model" => {
                s.model = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|m| !m.is_empty())
            }
            "input-size" => s.input_size = value.get().unwrap_or(DEFAULT_INPUT_SIZE),
            "upsample" => {
                s.upsample = value.get().unwrap_or_default();
                s.upsample_set = true;
            }
            "batch-size" => s.batch_size = value.get().unwrap_or(DEFAULT_BATCH_SIZE),
            "device" => s.device = value.get().unwrap_or_default(),
            "fp16" => s.fp16 = value.get().unwrap_or(DEFAULT_FP16),
            "engine-cache" => {
                s.engine_cache = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|d| !d.is_empty())
            }
            "max-gpu-memory" => s.max_gpu_memory = value.get().unwrap_or(DEFAULT_MAX_GPU_MEMORY),
            "keep-luma" => s.keep_luma = value.get().unwrap_or(DEFAULT_KEEP_LUMA),
            "threads" => s.threads = value.get().unwrap_or(DEFAULT_THREADS),
            "style" => s.style = value.get().unwrap_or_default(),
            "workflow" => {
                s.workflow = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .filter(|w| !w.is_empty())
            }
            "temporal" => s.temporal = value.get().unwrap_or_default(),
            "temporal-strength" => {
                s.temporal_strength = value.get().unwrap_or(temporal::DEFAULT_STRENGTH)
            }
            "motion-sensitivity" => {
                s.motion_sensitivity = value.get().unwrap_or(temporal::DEFAULT_MOTION_SENSITIVITY)
            }
            "scene-cut-threshold" => {
                s.scene_cut_threshold = value.get().unwrap_or(temporal::DEFAULT_SCENE_CUT_THRESHOLD)
            }
            other => gst::warning!(CAT, imp = self, "unknown property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.lock_settings();
        match pspec.name() {
            "model" => s.model.to_value(),
            "input-size" => s.input_size.to_value(),
            "upsample" => s.upsample.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "device" => s.device.to_value(),
            "fp16" => s.fp16.to_value(),
            "engine-cache" => s.engine_cache.to_value(),
            "max-gpu-memory" => s.max_gpu_memory.to_value(),
            "keep-luma" => s.keep_luma.to_value(),
            "threads" => s.threads.to_value(),
            "workflow" => s.workflow.to_value(),
            "style" => s.style.to_value(),
            "temporal" => s.temporal.to_value(),
            "temporal-strength" => s.temporal_strength.to_value(),
            "motion-sensitivity" => s.motion_sensitivity.to_value(),
            "scene-cut-threshold" => s.scene_cut_threshold.to_value(),
            _ => glib::Value::from_type(pspec.value_type()),
        }
    }
}

impl GstObjectImpl for Ddcolorize {}

impl ElementImpl for Ddcolorize {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "DDColor colorizer",
                "Filter/Effect/Converter/Video",
                "Colorizes black-and-white video frames with a DDColor model (ONNX Runtime)",
                "ddcolor developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // System memory, and CUDA memory for the GPU path (offered in negotiation only when
            // it can run).
            let mut sink = gst_video::VideoCapsBuilder::new()
                .format_list(SINK_FORMATS.iter().copied())
                .build();
            sink.merge(gstcuda::cuda_caps());
            let mut src = gst_video::VideoCapsBuilder::new()
                .format_list(SRC_FORMATS.iter().copied())
                .build();
            src.merge(gstcuda::cuda_caps());
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .expect("src template"),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .expect("sink template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady {
            self.share_cuda_context();
        }
        let done = self.parent_change_state(transition)?;
        if transition == gst::StateChange::ReadyToNull {
            *self.lock_cuda() = CudaShare::default();
        }
        Ok(done)
    }

    /// A neighbour's `gst.cuda.context`: the same primary context is welcome; another one
    /// means its device memory is not ours to read, and CUDA memory is no longer offered.
    fn set_context(&self, context: &gst::Context) {
        if context.context_type() == gstcuda::CONTEXT_TYPE
            && let Ok(lib) = GstCuda::get()
        {
            let mut theirs = None;
            lib.handle_set_context(self.obj().upcast_ref(), context, 0, &mut theirs);
            // Compared with the primary context itself: theirs may come before ours is made.
            if let Some(theirs) = theirs
                && Some(lib.handle(&theirs)) != primary_handle()
                && !std::mem::replace(&mut self.lock_cuda().foreign, true)
            {
                gst::warning!(
                    CAT,
                    imp = self,
                    "a neighbour brought a CUDA context other than the device's primary one: \
                     frames pass in system memory (put cudadownload / cudaupload around ddcolorize)"
                );
                // Caps already in CUDA memory are negotiated again.
                self.obj().src_pad().mark_reconfigure();
                let _ = self
                    .obj()
                    .sink_pad()
                    .push_event(gst::event::Reconfigure::new());
            }
        }
        self.parent_set_context(context)
    }
}

impl BaseTransformImpl for Ddcolorize {
    const MODE: gst_base::subclass::BaseTransformMode =
        gst_base::subclass::BaseTransformMode::NeverInPlace;
    const PASSTHROUGH_ON_SAME_CAPS: bool = false;
    const TRANSFORM_IP_ON_PASSTHROUGH: bool = false;

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        // `device` may have changed in READY (usually done on NULL -> READY).
        self.share_cuda_context();
        let settings = self.lock_settings().clone();
        let request = PlanRequest {
            model: settings.model.clone(),
            model_setting: "model property",
            input_size: (settings.input_size > 0).then_some(settings.input_size as usize),
            upsample: settings
                .upsample_set
                .then(|| ddcolor_engine::Upsample::from(settings.upsample)),
            device: settings.device.into(),
            gpu: GpuOptions {
                device_id: 0,
                fp16: settings.fp16,
                engine_cache: settings.engine_cache.as_ref().map(Into::into),
                max_memory: (settings.max_gpu_memory > 0)
                    .then_some(settings.max_gpu_memory.saturating_mul(1 << 20)),
            },
            threads: (settings.threads > 0).then_some(settings.threads as usize),
            workflow: settings.workflow.clone(),
            style: settings.style.engine(),
        };
        let plan = request
            .choose()
            .and_then(|choice| {
                choice.require_model("the element")?;
                choice.load()
            })
            .map_err(|e| match e {
                PlanError::Workflow(e) => {
                    gst::error_msg!(gst::ResourceError::Settings, ("ddcolorize: workflow {e}"))
                }
                PlanError::Catalog(e) => {
                    gst::error_msg!(gst::ResourceError::NotFound, ("ddcolorize: {e}"))
                }
                PlanError::Engine(e) => {
                    gst::error_msg!(gst::ResourceError::OpenRead, ("ddcolorize: {e}"))
                }
                e @ PlanError::NoColorizeNode(_) => {
                    gst::error_msg!(gst::ResourceError::Settings, ("ddcolorize: {e}"))
                }
            })?;
        for note in &plan.notes {
            gst::warning!(CAT, imp = self, "{note}");
        }
        let (Some(model), Some(chosen)) = (plan.model, plan.chosen) else {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                ("ddcolorize: no model to run")
            ));
        };
        let workflow = plan.workflow;
        let sizes = plan.sizes;
        let luma_changed = workflow
            .as_ref()
            .is_some_and(|w| w.steps.iter().any(|s| s.op.changes_lightness()));
        if luma_changed && settings.keep_luma {
            gst::warning!(
                CAT,
                imp = self,
                "keep-luma is not applied: the workflow changes lightness (contrast, sharpening, grain)"
            );
        }
        let size = model.input_size();
        let batch = settings.batch_size.max(1) as usize;
        let per_call = model.max_batch().unwrap_or(batch).max(1);
        gst::info!(
            CAT,
            imp = self,
            "model {} ({}), S={size}, batch {batch}, on {}",
            chosen.path.display(),
            chosen.how,
            model.placement()
        );
        // `auto` that stayed on the CPU says why once; the same line reaches the bus as an
        // info message, so `gst-launch-1.0 -m` and applications see it.
        let said = match model.placement() {
            Placement::Cpu { why: Some(why) } => Some(format!("ddcolorize runs on the CPU: {why}")),
            gpu @ Placement::Cuda { .. } => Some(format!("ddcolorize runs on the {gpu}")),
            Placement::Cpu { why: None } => None,
        };
        if let Some(text) = said {
            self.say(&text);
        }
        let gpu = self.gpu_path(&model, &settings, workflow.is_some(), per_call);
        self.gpu_path.store(
            if gpu.is_some() {
                GPU_PATH_YES
            } else {
                GPU_PATH_NO
            },
            std::sync::atomic::Ordering::Release,
        );
        if chosen.is_test_model {
            gst::warning!(
                CAT,
                imp = self,
                "{} is a generated test model: its colours are meaningless",
                chosen.path.display()
            );
        }
        // Room for the largest call: a fixed-batch model may need more places than frames.
        let places = batch.max(per_call).div_ceil(per_call) * per_call;
        *self.lock_state() = Some(State {
            model,
            size,
            batch,
            per_call,
            in_info: None,
            out_info: None,
            slots: Vec::new(),
            filled: 0,
            input: vec![0.0; places * 3 * size * size],
            ab: Vec::new(),
            ready: VecDeque::new(),
            smoother: Smoother::new(settings.temporal()),
            workflow,
            sizes: sizes.clone(),
            frames: 0,
            luma_changed,
            gpu,
        });
        if let SizeRule::Fixed(s) = sizes.rule() {
            self.announce_size(&s.to_string());
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.lock_state() = None;
        self.gpu_path
            .store(GPU_PATH_UNKNOWN, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    fn transform_caps(
        &self,
        direction: gst::PadDirection,
        caps: &gst::Caps,
        filter: Option<&gst::Caps>,
    ) -> Option<gst::Caps> {
        let out = transformed_caps(direction, caps, self.offers_cuda());
        gst::debug!(
            CAT,
            imp = self,
            "transformed {caps:?} ({direction:?}) into {out:?}"
        );
        match filter {
            Some(f) => Some(f.intersect_with_mode(&out, gst::CapsIntersectMode::First)),
            None => Some(out),
        }
    }

    fn query(&self, direction: gst::PadDirection, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Context(_) = query.view_mut()
            && let Ok(lib) = GstCuda::get()
        {
            let cuda = self.lock_cuda();
            if lib.handle_context_query(self.obj().upcast_ref(), query, cuda.context.as_ref()) {
                return true;
            }
        }
        if direction == gst::PadDirection::Src
            && let gst::QueryViewMut::Latency(_) = query.view_mut()
        {
            if !BaseTransformImplExt::parent_query(self, direction, query) {
                return false;
            }
            let extra = self.added_latency();
            if let gst::QueryViewMut::Latency(q) = query.view_mut() {
                let (live, min, max) = q.result();
                q.set(live, min + extra, max.map(|m| m + extra));
                gst::debug!(CAT, imp = self, "latency: {min} + {extra} for batching");
            }
            return true;
        }
        BaseTransformImplExt::parent_query(self, direction, query)
    }

    /// CUDA-memory input: upstream is offered a GstCuda pool on the shared context, so what it
    /// allocates is readable by the kernels (the base class would offer a system-memory pool).
    fn propose_allocation(
        &self,
        decide_query: Option<&gst::query::Allocation>,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let (caps, need_pool) = query.get();
        let Some(caps) = caps
            .filter(|c| gstcuda::is_cuda_caps(c))
            .map(|c| c.to_owned())
        else {
            return self.parent_propose_allocation(decide_query, query);
        };
        if need_pool {
            let (pool, size) = self.cuda_pool(&caps, 0, 0)?;
            query.add_allocation_pool(Some(&pool), size, 0, 0);
        }
        query.add_allocation_meta::<gst_video::VideoMeta>(None);
        Ok(())
    }

    /// CUDA-memory output takes buffers from a GstCuda pool on the shared context (the base
    /// class would make a system-memory pool); system memory is the base class's business.
    fn decide_allocation(
        &self,
        query: &mut gst::query::Allocation,
    ) -> Result<(), gst::LoggableError> {
        let (caps, _) = query.get();
        let Some(caps) = caps
            .filter(|c| gstcuda::is_cuda_caps(c))
            .map(|c| c.to_owned())
        else {
            return self.parent_decide_allocation(query);
        };
        let (min, max) = query
            .allocation_pools()
            .next()
            .map_or((0, 0), |(_, _, min, max)| (min, max));
        let (pool, size) = self.cuda_pool(&caps, min, max)?;
        if query.allocation_pools().next().is_some() {
            query.set_nth_allocation_pool(0, Some(&pool), size, min, max);
        } else {
            query.add_allocation_pool(Some(&pool), size, min, max);
        }
        Ok(())
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::FlushStop(_) => self.discard(),
            gst::EventView::FlushStart(_) => {}
            // Tags may overtake held frames; anything that changes how frames are read or timed
            // must not.
            gst::EventView::Tag(_) => {}
            _ if event.is_serialized() => {
                if let Err(msg) = self.drain() {
                    self.post_error_message(msg);
                    return false;
                }
                if matches!(
                    event.view(),
                    gst::EventView::Segment(_)
                        | gst::EventView::StreamStart(_)
                        | gst::EventView::Caps(_)
                ) {
                    self.forget_past();
                }
            }
            _ => {}
        }
        self.parent_sink_event(event)
    }

    fn generate_output(&self) -> Result<GenerateOutputSuccess, gst::FlowError> {
        let mut guard = self.lock_state();
        let Some(state) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        if let Some(inbuf) = self.take_queued_buffer()
            && let Err(msg) = self.accept(state, &inbuf)
        {
            drop(guard);
            self.post_error_message(msg);
            return Err(gst::FlowError::Error);
        }
        match self.next_output(state) {
            Ok(Some(buf)) => Ok(GenerateOutputSuccess::Buffer(buf)),
            Ok(None) => Ok(GenerateOutputSuccess::NoOutput),
            Err(msg) => {
                drop(guard);
                self.post_error_message(msg);
                Err(gst::FlowError::Error)
            }
        }
    }
}

impl VideoFilterImpl for Ddcolorize {
    fn set_info(
        &self,
        incaps: &gst::Caps,
        in_info: &gst_video::VideoInfo,
        outcaps: &gst::Caps,
        out_info: &gst_video::VideoInfo,
    ) -> Result<(), gst::LoggableError> {
        gst::debug!(CAT, imp = self, "caps {incaps} -> {outcaps}");
        let mut guard = self.lock_state();
        let state = guard
            .as_mut()
            .ok_or_else(|| gst::loggable_error!(CAT, "caps set before the model was loaded"))?;
        if in_info.width() != out_info.width() || in_info.height() != out_info.height() {
            return Err(gst::loggable_error!(
                CAT,
                "ddcolorize cannot scale: {}x{} in, {}x{} out",
                in_info.width(),
                in_info.height(),
                out_info.width(),
                out_info.height()
            ));
        }
        // A workflow's `size: "auto"`: S from the frame size, chosen before the first frame.
        let mut announce = None;
        if state.sizes.rule() == SizeRule::Auto && state.filled == 0 {
            let s = state
                .sizes
                .for_picture(in_info.width() as usize, in_info.height() as usize);
            if s != state.size {
                state
                    .model
                    .set_input_size(s)
                    .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                if let Some(gpu) = state.gpu.as_mut() {
                    gpu.frames
                        .colorizer()
                        .rebind(&state.model)
                        .map_err(|e| gst::loggable_error!(CAT, "{e}"))?;
                }
                let places = state.input.len() / (3 * state.size * state.size);
                state.size = s;
                state.input = vec![0.0; places * 3 * s * s];
                state.smoother.reset();
                gst::info!(
                    CAT,
                    imp = self,
                    "workflow size auto: S={s} for {}x{}",
                    in_info.width(),
                    in_info.height()
                );
                announce = Some(format!("{s} (auto)"));
            }
        }
        // The GPU path takes the frames when the formats have kernels; CUDA memory needs it.
        let memory = |caps: &gst::Caps| {
            if gstcuda::is_cuda_caps(caps) {
                Memory::Device
            } else {
                Memory::Host
            }
        };
        let (in_memory, out_memory) = (memory(incaps), memory(outcaps));
        let formats = pixel_format(in_info.format()).zip(pixel_format(out_info.format()));
        let why_not = match (&state.gpu, formats) {
            (None, _) => Some("the GPU path is not running".to_string()),
            (Some(_), None) => Some("unknown format".to_string()),
            (Some(_), Some((i, o))) => gpu_frames::unsupported(i, o),
        };
        if let Some(why) = &why_not {
            if in_memory == Memory::Device || out_memory == Memory::Device {
                return Err(gst::loggable_error!(CAT, "CUDA memory caps, but {why}"));
            }
            if state.gpu.is_some() {
                gst::info!(CAT, imp = self, "these caps run on the CPU: {why}");
            }
        }
        if let Some(gpu) = state.gpu.as_mut() {
            gpu.active = why_not.is_none();
            (gpu.in_memory, gpu.out_memory) = (in_memory, out_memory);
        }
        state.in_info = Some(in_info.clone());
        state.out_info = Some(out_info.clone());
        drop(guard);
        if let Some(size) = announce {
            self.announce_size(&size);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst_video::VideoFormat as V;

    fn structures(caps: &gst::Caps) -> Vec<(bool, Vec<String>)> {
        caps.iter_with_features()
            .map(|(s, f)| {
                let formats = s
                    .get::<gst::List>("format")
                    .expect("format list")
                    .iter()
                    .map(|v| v.get::<String>().expect("string"))
                    .collect();
                (f.contains(gstcuda::CUDA_MEMORY), formats)
            })
            .collect()
    }

    fn caps(format: V, cuda: bool) -> gst::Caps {
        let b = gst_video::VideoCapsBuilder::new()
            .format(format)
            .width(64)
            .height(48);
        if cuda {
            b.features([gstcuda::CUDA_MEMORY]).build()
        } else {
            b.build()
        }
    }

    /// CUDA memory is offered on either side only when the GPU path can run, in the formats
    /// the kernels handle, and the memory the other side already uses comes first.
    #[test]
    fn cuda_memory_is_offered_only_with_the_gpu_path_and_same_memory_first() {
        gst::init().expect("GStreamer");
        let sink = gst::PadDirection::Sink;
        let src = gst::PadDirection::Src;
        // Without the GPU path: CUDA memory is not taken, nor offered.
        assert!(transformed_caps(sink, &caps(V::Nv12, true), false).is_empty());
        let out = structures(&transformed_caps(sink, &caps(V::Nv12, false), false));
        assert!(out.iter().all(|(cuda, _)| !cuda), "{out:?}");
        assert_eq!(out[0].1[0], "NV12", "the same format first");
        // With it: CUDA in gives CUDA out first, then system memory; only kernel formats in
        // CUDA memory.
        let out = structures(&transformed_caps(sink, &caps(V::Nv12, true), true));
        assert!(out[0].0, "{out:?}");
        assert_eq!(out[0].1[0], "NV12");
        let kernel: Vec<&str> = gstcuda::CUDA_FORMATS
            .iter()
            .map(|f| f.to_str().as_str())
            .collect();
        for (cuda, formats) in &out {
            if *cuda {
                assert!(
                    formats.iter().all(|f| kernel.contains(&f.as_str())),
                    "{formats:?}"
                );
            }
        }
        assert!(
            out.iter()
                .any(|(cuda, f)| !cuda && f.contains(&"RGB".to_string()))
        );
        // System memory in: system memory out first, CUDA memory after it.
        let out = structures(&transformed_caps(sink, &caps(V::Rgba, false), true));
        assert!(!out[0].0 && out.iter().any(|(cuda, _)| *cuda), "{out:?}");
        // Upstream from CUDA RGBA out: CUDA memory in the kernels' formats first (no GRAY8, no
        // 16-bit), then any input format in system memory.
        let out = structures(&transformed_caps(src, &caps(V::Rgba, true), true));
        assert!(out[0].0, "{out:?}");
        assert!(!out[0].1.contains(&"GRAY16_LE".to_string()));
        assert!(
            out.iter()
                .any(|(cuda, f)| !cuda && f.contains(&"GRAY16_LE".to_string()))
        );
        // Sizes carry over.
        let s = transformed_caps(sink, &caps(V::I420, true), true);
        assert_eq!(
            s.structure(0).and_then(|s| s.get::<i32>("width").ok()),
            Some(64)
        );
    }
}
