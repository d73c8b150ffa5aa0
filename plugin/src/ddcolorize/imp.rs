use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex, MutexGuard};

use ddcolor_engine::cuda::frames::{self as gpu_frames, Memory};
use ddcolor_engine::device::{GpuOptions, Placement};
use ddcolor_engine::plan::{PlanError, PlanRequest, SizeRule, Sizes};
use ddcolor_engine::temporal::{self, Smoother, TemporalSettings};
use ddcolor_engine::{Model, model_input};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_transform::GenerateOutputSuccess;
use gst_base::subclass::prelude::*;
use gst_video::subclass::prelude::*;

use super::batch::{Slot, State, Timing};
use super::caps::{SINK_FORMATS, SRC_FORMATS, pixel_format, transformed_caps};
use super::gpu::{self, CudaShare, GpuState, device_memory_check, primary_handle};
use super::{Device, Style, Temporal, Upsample};
use crate::gstcuda::{self, CudaContext, GstCuda};

pub(super) static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
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

pub(super) fn frame_error(e: impl std::fmt::Display) -> gst::ErrorMessage {
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
        match GpuState::new(model, upsample, settings.keep_luma, has_workflow, per_call) {
            Ok(gpu) => {
                gst::info!(CAT, imp = self, "pre- and post-processing on the GPU");
                Some(gpu)
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
        let context = self.lock_cuda().context.clone();
        gpu::cuda_pool(context, caps, min, max)
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
            gpu.push_frame(inbuf, info, format, too_small)?;
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
        slot.fill(&vframe, info, format, keep_luma)?;
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
        let filled = state.run_cpu(
            upsample,
            temporal,
            |s, sizes| self.said_out_of_memory(s, sizes),
            |timing, cut_score| {
                gst::debug!(
                    CAT,
                    imp = self,
                    "scene cut at {:?} (cut score {:.3})",
                    timing.pts,
                    cut_score
                );
            },
        )?;
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
        if let Some(warning) = gpu.follow_upsample(upsample) {
            gst::warning!(CAT, imp = self, "{warning}");
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
            gpu.write_frame(slot, buf, out_info, format)?;
            return Ok(outbuf);
        }
        let slot = &state.slots[slot];
        {
            let buf = outbuf.make_mut();
            slot.timing.apply(buf);
            slot.write(buf, out_info, in_info, format, keep_luma)?;
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
            state.discard();
        }
    }

    /// A new segment, stream or format: colour from before it must not leak into it.
    fn forget_past(&self) {
        if let Some(state) = self.lock_state().as_mut() {
            state.forget_past();
        }
    }

    /// Frames held back by batching, as latency (`batch-size - 1` frame durations).
    fn added_latency(&self) -> gst::ClockTime {
        match self.lock_state().as_ref() {
            Some(state) => state.added_latency(),
            None => gst::ClockTime::ZERO,
        }
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
