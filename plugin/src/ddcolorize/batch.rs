//! Batching is bookkeeping over frames and buffers that needs no element to test or read: the
//! element's glue decides when a batch runs, this decides what running it means.

use std::collections::VecDeque;
use std::sync::Arc;

use ddcolor_engine::frame::{self, Frame, FrameMut, LumaPlane, PixelFormat};
use ddcolor_engine::plan::Sizes;
use ddcolor_engine::temporal::{Smoother, TemporalSettings};
use ddcolor_engine::workflow::Workflow;
use ddcolor_engine::{EngineError, LabImage, Model, Photo, Samples, model_input, recombine_into};
use gst::prelude::*;
use gst_video::prelude::*;

use super::caps::{pixel_format, yuv_of};
use super::gpu::GpuState;
use super::imp::frame_error;

/// Timestamps and flags of an input frame, kept instead of the buffer itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    pub(super) pts: Option<gst::ClockTime>,
    pub(super) dts: Option<gst::ClockTime>,
    pub(super) duration: Option<gst::ClockTime>,
    pub(super) offset: u64,
    pub(super) offset_end: u64,
    pub(super) flags: gst::BufferFlags,
}

impl Timing {
    pub(super) fn of(buf: &gst::BufferRef) -> Self {
        Self {
            pts: buf.pts(),
            dts: buf.dts(),
            duration: buf.duration(),
            offset: buf.offset(),
            offset_end: buf.offset_end(),
            flags: buf.flags(),
        }
    }

    pub(super) fn apply(&self, buf: &mut gst::BufferRef) {
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
pub(super) struct Slot {
    pub(super) photo: Photo,
    pub(super) luma: Vec<u8>,
    /// The colour result, once the model has run on the batch.
    pub(super) out: Photo,
    pub(super) timing: Timing,
}

impl Slot {
    pub(super) fn new() -> Self {
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

    /// Takes a mapped input frame: its full-resolution pixels and, with `keep_luma`, its luma
    /// plane.
    pub(super) fn fill(
        &mut self,
        vframe: &gst_video::VideoFrameRef<&gst::BufferRef>,
        info: &gst_video::VideoInfo,
        format: PixelFormat,
        keep_luma: bool,
    ) -> Result<(), gst::ErrorMessage> {
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
        frame::frame_to_photo(&frame, &mut self.photo).map_err(frame_error)?;
        if keep_luma {
            let (w, h) = (frame.width, frame.height);
            self.luma.resize(w * h, 0);
            for y in 0..h {
                self.luma[y * w..(y + 1) * w].copy_from_slice(&p[0][y * st[0]..y * st[0] + w]);
            }
        } else {
            self.luma.clear();
        }
        Ok(())
    }

    /// Writes the colour result into an output buffer of `out_info`; with `keep_luma`, the
    /// input's luma plane where it means the same on both sides.
    pub(super) fn write(
        &self,
        buf: &mut gst::BufferRef,
        out_info: &gst_video::VideoInfo,
        in_info: &gst_video::VideoInfo,
        format: PixelFormat,
        keep_luma: bool,
    ) -> Result<(), gst::ErrorMessage> {
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
        let luma =
            (keep_luma && !self.luma.is_empty() && format.is_yuv() && yuv_of(in_info) == out.yuv)
                .then(|| LumaPlane {
                    format: in_format.unwrap_or(PixelFormat::I420),
                    data: &self.luma,
                    stride: in_info.width() as usize,
                    width: in_info.width() as usize,
                    height: in_info.height() as usize,
                    yuv: yuv_of(in_info),
                });
        frame::photo_to_frame(&self.out, &mut out, luma.as_ref()).map_err(frame_error)?;
        Ok(())
    }
}

pub(super) struct State {
    pub(super) model: Model,
    pub(super) size: usize,
    pub(super) batch: usize,
    /// Frames per model call: the model's fixed batch if it has one, else `batch`.
    pub(super) per_call: usize,
    pub(super) in_info: Option<gst_video::VideoInfo>,
    pub(super) out_info: Option<gst_video::VideoInfo>,
    pub(super) slots: Vec<Slot>,
    pub(super) filled: usize,
    pub(super) input: Vec<f32>,
    pub(super) ab: Vec<f32>,
    /// Slots whose colour result waits to be written out, in order. Output buffers are written
    /// one at a time, as they are pushed: holding a batch of them could exhaust a small
    /// downstream pool and stall.
    pub(super) ready: VecDeque<usize>,
    /// Colour carried from frame to frame; frames reach it in order, batch or not.
    pub(super) smoother: Smoother,
    /// Post-processing after the model, from the `workflow` property.
    pub(super) workflow: Option<Arc<Workflow>>,
    /// S per frame size and the out-of-memory step-down, as the engine's plan decided them.
    pub(super) sizes: Arc<Sizes>,
    /// Frames colorized since the last flush or new segment: varies the workflow's film grain
    /// from frame to frame, the same way on a second pass after a seek to the start.
    pub(super) frames: u64,
    /// The workflow changes lightness: `keep-luma` cannot apply.
    pub(super) luma_changed: bool,
    /// The recipe's pre- and post-processing on the GPU, when the model runs there and no
    /// CPU-only option is in use.
    pub(super) gpu: Option<GpuState>,
}

impl State {
    /// Runs the model on the filled slots on the CPU path and queues their colour results, in
    /// order; returns how many frames ran. `stepped_down` hears of each out-of-memory step-down
    /// (the S that now runs), `scene_cut` of each scene cut (the frame's timing, the cut score).
    pub(super) fn run_cpu(
        &mut self,
        upsample: ddcolor_engine::Upsample,
        temporal: TemporalSettings,
        mut stepped_down: impl FnMut(usize, &Sizes),
        mut scene_cut: impl FnMut(&Timing, f32),
    ) -> Result<usize, gst::ErrorMessage> {
        self.smoother.set_settings(temporal);
        let mut s = self.size;
        let (mut n_in, mut n_out) = (3 * s * s, 2 * s * s);
        let filled = std::mem::take(&mut self.filled);
        let mut first = 0;
        while first < filled {
            let n = self.per_call.min(filled - first);
            // A model with a fixed batch gets its full batch; the spare places hold stale inputs
            // and their results are dropped.
            let call = self.model.max_batch().unwrap_or(n);
            let input = &self.input[first * n_in..(first + call) * n_in];
            if let Err(e) = self.model.run(input, call, &mut self.ab) {
                // Out of (GPU) memory: continue at the plan's next smaller S, with the held
                // frames' inputs made again, and say so.
                let smaller = match &e {
                    EngineError::OutOfMemory(_) => self.sizes.step_down(s),
                    _ => None,
                };
                let Some(smaller) = smaller else {
                    return Err(gst::error_msg!(
                        gst::LibraryError::Failed,
                        ("ddcolorize: {e}")
                    ));
                };
                self.model
                    .set_input_size(smaller)
                    .map_err(|e| gst::error_msg!(gst::LibraryError::Failed, ("ddcolorize: {e}")))?;
                let places = self.input.len() / n_in;
                s = smaller;
                (n_in, n_out) = (3 * s * s, 2 * s * s);
                self.size = s;
                self.input = vec![0.0; places * n_in];
                for i in first..filled {
                    model_input(
                        &self.slots[i].photo,
                        s,
                        &mut self.input[i * n_in..(i + 1) * n_in],
                    );
                }
                self.smoother.reset();
                stepped_down(s, &self.sizes);
                continue;
            }
            for j in 0..n {
                let i = first + j;
                let slot = &mut self.slots[i];
                // A gap in the stream: the previous frame says nothing about this one.
                if slot.timing.flags.contains(gst::BufferFlags::DISCONT) {
                    self.smoother.reset();
                }
                let luma = &self.input[i * n_in..i * n_in + s * s];
                let step = self
                    .smoother
                    .apply(luma, &mut self.ab[j * n_out..(j + 1) * n_out], s);
                if step.cut {
                    scene_cut(&slot.timing, step.cut_score);
                }
                let ab = &self.ab[j * n_out..(j + 1) * n_out];
                match &self.workflow {
                    Some(workflow) => {
                        let mut lab = LabImage::from_recipe(&slot.photo, ab, s, upsample);
                        self.frames += 1;
                        workflow.apply(&mut lab, self.frames);
                        lab.to_photo_into(&mut slot.out);
                    }
                    None => recombine_into(&slot.photo, ab, s, upsample, &mut slot.out),
                }
                self.ready.push_back(i);
            }
            first += n;
        }
        Ok(filled)
    }

    /// Drops the frames held back and the colour carried over (a flush).
    pub(super) fn discard(&mut self) {
        self.filled = 0;
        self.ready.clear();
        self.smoother.reset();
        self.frames = 0;
        if let Some(gpu) = self.gpu.as_mut() {
            gpu.frames.discard();
            gpu.frames.colorizer().reset_temporal();
        }
    }

    /// A new segment, stream or format: colour from before it must not leak into it.
    pub(super) fn forget_past(&mut self) {
        self.smoother.reset();
        self.frames = 0;
        if let Some(gpu) = self.gpu.as_mut() {
            gpu.frames.colorizer().reset_temporal();
        }
    }

    /// Frames held back by batching, as latency (`batch-size - 1` frame durations).
    pub(super) fn added_latency(&self) -> gst::ClockTime {
        let Some(info) = self.in_info.as_ref() else {
            return gst::ClockTime::ZERO;
        };
        let fps = info.fps();
        if fps.numer() <= 0 || fps.denom() <= 0 || self.batch <= 1 {
            return gst::ClockTime::ZERO;
        }
        let frame = gst::ClockTime::SECOND
            .mul_div_floor(fps.denom() as u64, fps.numer() as u64)
            .unwrap_or(gst::ClockTime::ZERO);
        frame * (self.batch as u64 - 1)
    }
}
