//! The recipe's kernels on one GPU: compiled once, tables uploaded once, per-size geometry kept
//! until the size changes, and each launch on the shared stream.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, PushKernelArg};
use cudarc::nvrtc::compile_ptx_with_opts;

use crate::picture::resize::Upsample;

use super::*;

/// The recipe's kernels on one GPU, with the tables uploaded once and the per-size geometry
/// kept until the size changes. The kernels run on one stream of their own; ONNX Runtime runs
/// on its own stream, after a synchronisation (see [`GpuColorizer::colorize_frames`]).
pub struct GpuRecipe {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) model_input: CudaFunction,
    pub(crate) recombine: CudaFunction,
    pub(crate) yuv_to_rgb: CudaFunction,
    pub(crate) rgb_to_yuv: CudaFunction,
    /// Y'CbCr -> R'G'B' tables for the last matrix and range used.
    pub(crate) to_rgb: Option<(crate::video::frame::Yuv, CudaSlice<u8>)>,
    /// The recursive smoother's kernels.
    pub(crate) smoothing: smooth::CudaSteps,
    pub(crate) tables: Tables,
    /// Keeps the tables' device memory alive (`tables` points into it).
    pub(crate) _table_memory: Vec<CudaSlice<u8>>,
    pub(crate) input_taps: Option<DeviceGeometry<(usize, usize, usize)>>,
    pub(crate) output_taps: Option<DeviceGeometry<(usize, usize, usize, Upsample)>>,
}

/// Taps uploaded for one frame size (`key`), kept until the size changes; `flag` is the area
/// path (model input) or nearest upsampling (recombination).
pub(crate) struct DeviceGeometry<K> {
    pub(crate) key: K,
    pub(crate) taps: [CudaSlice<Tap>; 2],
    pub(crate) flag: bool,
}

impl<K: PartialEq + Copy> DeviceGeometry<K> {
    /// The geometry in `slot` for `key`, made by `make` and uploaded when the key changed.
    pub(crate) fn for_key<'a>(
        slot: &'a mut Option<Self>,
        key: K,
        stream: &Arc<CudaStream>,
        make: impl FnOnce() -> Result<(Vec<Tap>, Vec<Tap>, bool), GpuError>,
    ) -> Result<&'a Self, GpuError> {
        if slot.as_ref().is_none_or(|g| g.key != key) {
            let (xt, yt, flag) = make()?;
            let taps = [stream.clone_htod(&xt)?, stream.clone_htod(&yt)?];
            *slot = Some(Self { key, taps, flag });
        }
        Ok(slot.as_ref().expect("set above"))
    }
}

impl GpuRecipe {
    /// Compiles the kernels for GPU `device_id` and uploads the tables.
    pub fn new(device_id: usize) -> Result<Self, GpuError> {
        let stream = shared_stream(device_id)?;
        let ctx = stream.context().clone();
        let ptx = compile_ptx_with_opts(KERNELS, compile_options(None))
            .map_err(|e| GpuError::Compile(e.to_string()))?;
        let module = ctx.load_module(ptx)?;
        let model_input = module.load_function("dd_model_input")?;
        let recombine = module.load_function("dd_recombine")?;
        let yuv_to_rgb = module.load_function("dd_yuv_to_rgb")?;
        let rgb_to_yuv = module.load_function("dd_rgb_to_yuv")?;
        let smoothing = smooth::CudaSteps {
            stream: stream.clone(),
            blur: module.load_function("dd_box_blur3")?,
            diff_grid: module.load_function("dd_diff_grid")?,
            luma_change: module.load_function("dd_luma_change")?,
            blend: module.load_function("dd_blend")?,
            signature_cells: module.load_function("dd_signature_cells")?,
            signature_hist: module.load_function("dd_signature_hist")?,
            half: module.load_function("dd_half")?,
            resample: module.load_function("dd_resample")?,
            norm_stats: module.load_function("dd_norm_stats_k")?,
            norm_apply: module.load_function("dd_norm_apply")?,
            warp: module.load_function("dd_warp")?,
            gradients: module.load_function("dd_gradients")?,
            jacobi: module.load_function("dd_jacobi")?,
            occlusion: module.load_function("dd_occlusion")?,
            blend_flow: module.load_function("dd_blend_flow")?,
            scratch: None,
        };
        let host = host_tables();
        let mut memory = Vec::new();
        let mut upload = |bytes: &[u8]| -> Result<u64, GpuError> {
            let slice = stream.clone_htod(bytes)?;
            let ptr = {
                use cudarc::driver::DevicePtr;
                let (p, _sync) = slice.device_ptr(&stream);
                p
            };
            memory.push(slice);
            Ok(ptr)
        };
        let tables = Tables {
            lut: upload(as_bytes(host.lut))?,
            weights: upload(as_bytes(host.weights))?,
            unit: upload(as_bytes(host.unit))?,
            coord: upload(as_bytes(host.coord))?,
            grey_l: upload(as_bytes(host.grey_l))?,
            grey_rgb: upload(as_bytes(host.grey_rgb.as_flattened()))?,
            xyz2rgb: upload(as_bytes(host.xyz2rgb))?,
            enc_base: upload(host.enc_base)?,
            enc_thresholds: upload(as_bytes(host.enc_thresholds))?,
        };
        Ok(Self {
            ctx,
            stream,
            model_input,
            recombine,
            yuv_to_rgb,
            rgb_to_yuv,
            to_rgb: None,
            smoothing,
            tables,
            _table_memory: memory,
            input_taps: None,
            output_taps: None,
        })
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The stream every kernel runs on.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Writes the model input (`3 * size * size` floats at device address `out`) for `frame`.
    ///
    /// # Safety
    /// `frame.data` must point to a device frame of the stated shape, and `out` to at least
    /// `3 * size * size` device floats, both valid until the stream has run the kernel.
    pub unsafe fn model_input(
        &mut self,
        frame: &FrameIn,
        size: usize,
        out: u64,
    ) -> Result<(), GpuError> {
        let key = (frame.width as usize, frame.height as usize, size);
        let DeviceGeometry {
            taps: [xt, yt],
            flag: area,
            ..
        } = DeviceGeometry::for_key(&mut self.input_taps, key, &self.stream, || {
            Ok(input_geometry(key.0, key.1, size))
        })?;
        let (size_i, area_i) = (size as i32, i32::from(*area));
        let cfg = grid(size, size);
        let mut launch = self.stream.launch_builder(&self.model_input);
        launch
            .arg(&self.tables)
            .arg(frame)
            .arg(xt)
            .arg(yt)
            .arg(&size_i)
            .arg(&area_i)
            .arg(&out);
        // SAFETY: the arguments match `dd_model_input`'s parameters; the caller vouches for
        // the frame and output memory.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }

    /// Writes the colour frame `out` (same width and height as `frame`) from `frame`'s
    /// lightness and the model's chroma at device address `ab` (`2 * size * size` floats).
    ///
    /// # Safety
    /// As for [`Self::model_input`], for `frame`, `ab` and `out`.
    pub unsafe fn recombine(
        &mut self,
        frame: &FrameIn,
        ab: u64,
        size: usize,
        upsample: Upsample,
        out: &FrameOut,
    ) -> Result<(), GpuError> {
        let key = (frame.width as usize, frame.height as usize, size, upsample);
        let DeviceGeometry {
            taps: [xt, yt],
            flag: nearest,
            ..
        } = DeviceGeometry::for_key(&mut self.output_taps, key, &self.stream, || {
            upsample_geometry(size, key.0, key.1, upsample).ok_or_else(|| {
                GpuError::Unsupported("edge-aware upsampling has no GPU kernel yet".into())
            })
        })?;
        let (size_i, nearest_i) = (size as i32, i32::from(*nearest));
        let cfg = grid(key.0, key.1);
        let mut launch = self.stream.launch_builder(&self.recombine);
        launch
            .arg(&self.tables)
            .arg(frame)
            .arg(&ab)
            .arg(&size_i)
            .arg(xt)
            .arg(yt)
            .arg(&nearest_i)
            .arg(out);
        // SAFETY: as in `model_input`.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }
}

impl GpuRecipe {
    /// Converts a Y'CbCr frame to packed RGB (3 bytes a pixel) at device address `out`, as
    /// [`crate::frame_to_photo`] does on the CPU.
    ///
    /// # Safety
    /// `frame`'s planes and `out` (`out_pitch * height` bytes) must be device memory valid
    /// until the stream has run the kernel.
    pub unsafe fn yuv_to_rgb(
        &mut self,
        frame: &YuvFrame,
        yuv: crate::video::frame::Yuv,
        out: u64,
        out_pitch: usize,
    ) -> Result<(), GpuError> {
        if self.to_rgb.as_ref().is_none_or(|(y, _)| *y != yuv) {
            let t = crate::video::frame::ToRgb::new(yuv);
            // SAFETY: `ToRgb` is `repr(C)` floats.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&t as *const crate::video::frame::ToRgb).cast::<u8>(),
                    std::mem::size_of_val(&t),
                )
            };
            self.to_rgb = Some((yuv, self.stream.clone_htod(bytes)?));
        }
        let Some((_, table)) = &self.to_rgb else {
            unreachable!("set above")
        };
        let pitch = out_pitch as i32;
        let cfg = grid(frame.width as usize, frame.height as usize);
        let mut launch = self.stream.launch_builder(&self.yuv_to_rgb);
        launch.arg(table).arg(frame).arg(&out).arg(&pitch);
        // SAFETY: the arguments match `dd_yuv_to_rgb`; the caller vouches for the memory.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }

    /// Writes packed RGB(A) at device address `input` (`step` bytes a pixel, R G B first) into
    /// a Y'CbCr frame, as [`crate::photo_to_frame`] does on the CPU.
    ///
    /// # Safety
    /// As for [`Self::yuv_to_rgb`].
    pub unsafe fn rgb_to_yuv(
        &mut self,
        input: u64,
        in_pitch: usize,
        step: usize,
        frame: &YuvFrame,
        yuv: crate::video::frame::Yuv,
    ) -> Result<(), GpuError> {
        let t = crate::video::frame::FromRgb::new(yuv);
        let sub = if frame.format == 2 { 1 } else { 2 };
        let cfg = grid(
            (frame.width as usize).div_ceil(sub),
            (frame.height as usize).div_ceil(sub),
        );
        let (pitch, step) = (in_pitch as i32, step as i32);
        let mut launch = self.stream.launch_builder(&self.rgb_to_yuv);
        launch.arg(&t).arg(&input).arg(&pitch).arg(&step).arg(frame);
        // SAFETY: the arguments match `dd_rgb_to_yuv`; the caller vouches for the memory.
        unsafe { launch.launch(cfg) }?;
        Ok(())
    }
}
