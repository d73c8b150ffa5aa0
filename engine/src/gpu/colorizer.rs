//! The whole recipe on the GPU around the model: the model-input kernel writes into the model's
//! bound input, the model runs, the recombination kernel reads its bound output, with
//! temporal smoothing in between, so no pixel data goes through the host.

use cudarc::driver::CudaSlice;

use crate::picture::resize::Upsample;
use crate::video::frame::PixelFormat;

use super::*;

/// Where one [`GpuColorizer::colorize_frames`] call spent its time (wall clock, the GPU waited
/// for after each part).
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    /// Model-input kernels.
    pub pre: std::time::Duration,
    /// The model.
    pub model: std::time::Duration,
    /// Temporal smoothing, with its transfers.
    pub smooth: std::time::Duration,
    /// Recombination kernels.
    pub post: std::time::Duration,
}

/// The whole recipe on the GPU: the model-input kernel writes into the model's bound input, the
/// model runs, the recombination kernel reads its bound output. Frames already in GPU memory go
/// through without a host copy of pixel data; [`Self::colorize_photo`] uploads one frame and
/// downloads one.
pub struct GpuColorizer {
    pub(crate) recipe: GpuRecipe,
    /// The model's bound input and output; `None` only after making them again failed.
    pub(crate) io: Option<crate::inference::model::DeviceIo>,
    /// Images per model call.
    pub(crate) batch: usize,
    pub(crate) upsample: Upsample,
    /// Host <-> device copies of frame pixels so far, for the benchmark's count.
    pub uploads: u64,
    pub downloads: u64,
    pub(crate) temporal: crate::video::temporal::TemporalSettings,
    /// Temporal smoothing, `recursive` and `flow`, by kernels.
    pub(crate) smoother: smooth::GpuSmoother<CudaSlice<f32>>,
}

impl GpuColorizer {
    /// For `model` (placed on a GPU: the kernels run on the same one), `batch` frames per
    /// model call.
    pub fn new(model: &crate::Model, batch: usize, upsample: Upsample) -> Result<Self, GpuError> {
        let crate::inference::device::Placement::Cuda { device_id, .. } = *model.placement() else {
            return Err(GpuError::Unsupported(
                "the model runs on the CPU: load it with device cuda".into(),
            ));
        };
        if upsample == Upsample::EdgeAware {
            return Err(GpuError::Unsupported(
                "edge-aware upsampling has no GPU kernel yet: use bilinear or nearest".into(),
            ));
        }
        let recipe = GpuRecipe::new(device_id as usize)?;
        let io = model.device_io(batch)?;
        let off = crate::video::temporal::TemporalSettings {
            mode: crate::video::temporal::TemporalMode::Off,
            ..Default::default()
        };
        Ok(Self {
            recipe,
            io: Some(io),
            batch,
            upsample,
            uploads: 0,
            downloads: 0,
            temporal: off,
            smoother: smooth::GpuSmoother::new(off),
        })
    }

    pub fn recipe(&mut self) -> &mut GpuRecipe {
        &mut self.recipe
    }

    /// The chroma upsampling from the next frame on; edge-aware has no kernel and is refused.
    pub fn set_upsample(&mut self, upsample: Upsample) -> Result<(), GpuError> {
        if upsample == Upsample::EdgeAware {
            return Err(GpuError::Unsupported(
                "edge-aware upsampling has no GPU kernel yet: use bilinear or nearest".into(),
            ));
        }
        self.upsample = upsample;
        Ok(())
    }

    /// New bound buffers after the model's S changed (the out-of-memory step-down).
    pub fn rebind(&mut self, model: &crate::Model) -> Result<(), GpuError> {
        // The old buffers go first: memory is short when this is called.
        self.io = None;
        self.io = Some(model.device_io(self.batch)?);
        Ok(())
    }

    /// The S the bound buffers are made for (0 when they could not be made again).
    pub fn size(&self) -> usize {
        self.io.as_ref().map_or(0, |io| io.size())
    }

    /// Images per model call.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Temporal smoothing from the next frame on (off at first), on the GPU. A change of mode
    /// forgets the past.
    pub fn set_temporal(&mut self, settings: crate::video::temporal::TemporalSettings) {
        self.temporal = settings;
        self.smoother.set_settings(settings);
    }

    /// Forgets the previous frames (flush, seek, discontinuity, new segment).
    pub fn reset_temporal(&mut self) {
        self.smoother.reset();
    }

    /// Colorizes up to `batch` device frames into `outs` (same sizes, one each), in order, and
    /// says how long each part took. With temporal smoothing on ([`Self::set_temporal`]), each
    /// frame's chroma is smoothed against the previous frames' between the model and the
    /// recombination, by kernels (the scene-cut signature and the median luma change read a
    /// few hundred values back to the host per frame).
    ///
    /// # Safety
    /// Every frame and output must point to device memory of the stated shape, valid until
    /// this returns (it waits for the GPU).
    pub unsafe fn colorize_frames(
        &mut self,
        model: &mut crate::Model,
        frames: &[FrameIn],
        outs: &[FrameOut],
    ) -> Result<Timing, GpuError> {
        let Some(io) = self.io.as_mut() else {
            return Err(GpuError::Unsupported(
                "the model's GPU buffers could not be made again after running out of memory"
                    .into(),
            ));
        };
        let (s, n) = (io.size(), frames.len());
        let (input, output) = (io.input_ptr(), io.output_ptr());
        if n == 0 || n > self.batch || outs.len() != n {
            return Err(GpuError::Unsupported(format!(
                "{n} frames for {} outputs and a batch of {}",
                outs.len(),
                self.batch
            )));
        }
        let start = std::time::Instant::now();
        let bytes_in = (3 * s * s * std::mem::size_of::<f32>()) as u64;
        for (k, f) in frames.iter().enumerate() {
            // SAFETY: the bound input holds `batch` images; the caller vouches for the frame.
            unsafe { self.recipe.model_input(f, s, input + k as u64 * bytes_in) }?;
        }
        // The host waits after each part to time it (the split the benchmark prints); the
        // order itself is the stream's where ONNX Runtime shares it (`Model::shares_stream`),
        // and this wait is what orders the two where it could not be given it.
        self.recipe.stream().synchronize()?;
        let pre = start.elapsed();
        if let Some(io) = &self.io {
            model.run_device(io)?;
        }
        self.recipe.stream().synchronize()?;
        let model_time = start.elapsed() - pre;
        let bytes_out = (2 * s * s * std::mem::size_of::<f32>()) as u64;
        for k in 0..n as u64 {
            let (luma, ab) = (input + k * bytes_in, output + k * bytes_out);
            // SAFETY: inside the bound input and output, which only this object writes.
            if self.temporal.mode != crate::video::temporal::TemporalMode::Off {
                unsafe { self.smooth(luma, ab) }?
            }
        }
        if self.temporal.mode != crate::video::temporal::TemporalMode::Off {
            self.recipe.stream().synchronize()?;
        }
        let smooth_time = start.elapsed() - pre - model_time;
        for (k, (f, o)) in frames.iter().zip(outs).enumerate() {
            // SAFETY: as above, for the bound output.
            unsafe {
                self.recipe
                    .recombine(f, output + k as u64 * bytes_out, s, self.upsample, o)
            }?;
        }
        self.recipe.stream().synchronize()?;
        let total = start.elapsed();
        Ok(Timing {
            pre,
            model: model_time,
            smooth: smooth_time,
            post: total - pre - model_time - smooth_time,
        })
    }

    /// Smooths one image's chroma at device address `ab` with its model-input luma at `luma`
    /// (the first plane of the model input), by the smoother's kernels.
    ///
    /// # Safety
    /// `luma` must hold `S * S` and `ab` `2 * S * S` device floats.
    unsafe fn smooth(&mut self, luma: u64, ab: u64) -> Result<(), GpuError> {
        let s = self.size();
        let stream = self.recipe.stream().clone();
        // SAFETY: borrowed views of the model's tensors. `ManuallyDrop`: never freed here, even
        // if the smoother panics; the smoother reads the luma and blends the chroma in place.
        let (l_dev, mut ab_dev) = unsafe {
            (
                std::mem::ManuallyDrop::new(stream.upgrade_device_ptr::<f32>(luma, s * s)),
                std::mem::ManuallyDrop::new(stream.upgrade_device_ptr::<f32>(ab, 2 * s * s)),
            )
        };
        let result = self
            .smoother
            .apply(&mut self.recipe.smoothing, &l_dev, &mut ab_dev, s)
            .map(|_| ());
        std::mem::ManuallyDrop::into_inner(l_dev).leak();
        std::mem::ManuallyDrop::into_inner(ab_dev).leak();
        result
    }

    /// Colorizes an 8-bit photo (grey, RGB or RGBA) held in host memory: one upload, the
    /// recipe on the GPU, one download. The result equals [`crate::colorize`]'s within the
    /// model's own GPU/CPU difference.
    pub fn colorize_photo(
        &mut self,
        model: &mut crate::Model,
        photo: &crate::Photo,
    ) -> Result<crate::Photo, GpuError> {
        use cudarc::driver::{DevicePtr, DevicePtrMut};
        let crate::picture::photo::Samples::U8(data) = &photo.samples else {
            return Err(GpuError::Unsupported(
                "16-bit photos have no GPU kernel yet".into(),
            ));
        };
        let format = match photo.channels {
            1 => PixelFormat::Gray8,
            3 => PixelFormat::Rgb,
            4 => PixelFormat::Rgba,
            c => {
                return Err(GpuError::Unsupported(format!(
                    "{c}-channel photos have no GPU kernel"
                )));
            }
        };
        let layout = Layout::of(format).expect("packed 8-bit format");
        let out_c = if photo.channels == 4 { 4 } else { 3 };
        let stream = self.recipe.stream().clone();
        let src = stream.clone_htod(data)?;
        self.uploads += 1;
        let mut dst = stream.alloc_zeros::<u8>(photo.width * photo.height * out_c)?;
        let (src_ptr, _s) = src.device_ptr(&stream);
        let (dst_ptr, _d) = dst.device_ptr_mut(&stream);
        let frame = FrameIn {
            data: src_ptr,
            pitch: (photo.width * photo.channels) as i32,
            width: photo.width as i32,
            height: photo.height as i32,
            layout,
        };
        let out = FrameOut {
            data: dst_ptr,
            pitch: (photo.width * out_c) as i32,
            layout: Layout {
                step: out_c as i32,
                r: 0,
                g: 1,
                b: 2,
                a: if out_c == 4 { 3 } else { -1 },
            },
        };
        // SAFETY: both buffers live on this stream until the synchronisation at the end.
        unsafe { self.colorize_frames(model, &[frame], &[out]) }?;
        drop((_s, _d));
        let bytes = stream.clone_dtoh(&dst)?;
        self.downloads += 1;
        Ok(crate::Photo {
            width: photo.width,
            height: photo.height,
            channels: out_c,
            samples: crate::picture::photo::Samples::U8(bytes),
        })
    }
}
