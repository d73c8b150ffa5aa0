//! The recursive smoother (see [`crate::temporal`]) with its planes on the GPU: the same
//! decisions as [`crate::temporal::Smoother`] in `recursive` mode, each per-pixel step a kernel.
//! The orchestration is generic over where the steps run, so the tests run it with the
//! kernels' host build and require the CPU smoother's output bit for bit.

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use std::sync::Arc;

use super::{GpuError, grid};
use crate::temporal::{self, SceneSignature, Step, TemporalMode, TemporalSettings};

/// The smoother's per-pixel steps on model-space planes (`size` x `size` floats; chroma is two).
pub(crate) trait Steps {
    type Plane;
    fn plane(&mut self, len: usize) -> Result<Self::Plane, GpuError>;
    fn len(plane: &Self::Plane) -> usize;
    fn copy(&mut self, src: &Self::Plane, dst: &mut Self::Plane) -> Result<(), GpuError>;
    fn blur(
        &mut self,
        src: &Self::Plane,
        size: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError>;
    fn signature(&mut self, luma: &Self::Plane, size: usize) -> Result<SceneSignature, GpuError>;
    /// The median of the luma differences on `luma_change`'s sparse grid.
    fn typical_change(
        &mut self,
        cur: &Self::Plane,
        prev: &Self::Plane,
        size: usize,
    ) -> Result<f32, GpuError>;
    fn luma_change(
        &mut self,
        cur: &Self::Plane,
        prev: &Self::Plane,
        size: usize,
        typical: f32,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError>;
    #[allow(clippy::too_many_arguments)]
    fn blend(
        &mut self,
        ab: &mut Self::Plane,
        old_ab: &Self::Plane,
        change: &Self::Plane,
        size: usize,
        strength: f32,
        alpha: f32,
    ) -> Result<(), GpuError>;
}

struct Previous<P> {
    size: usize,
    /// Blurred luma.
    luma: P,
    /// Smoothed chroma.
    ab: P,
    signature: SceneSignature,
}

/// The state along one stream, as [`crate::temporal::Smoother`] keeps it, in `recursive` mode
/// (or `off`). Reset it where the CPU smoother is reset.
pub(crate) struct RecursiveSmoother<P> {
    settings: TemporalSettings,
    previous: Option<Previous<P>>,
    spare_luma: Option<P>,
    change: Option<P>,
}

impl<P> RecursiveSmoother<P> {
    pub(crate) fn new(settings: TemporalSettings) -> Self {
        Self {
            settings,
            previous: None,
            spare_luma: None,
            change: None,
        }
    }

    pub(crate) fn set_settings(&mut self, settings: TemporalSettings) {
        if settings.mode != self.settings.mode {
            self.previous = None;
        }
        self.settings = settings;
    }

    pub(crate) fn reset(&mut self) {
        self.previous = None;
    }

    /// Smooths `ab` (2 x size x size) in place against the previous frames; `luma` is the model
    /// input's first plane. `weight` is not measured here (NaN).
    pub(crate) fn apply<S: Steps<Plane = P>>(
        &mut self,
        steps: &mut S,
        luma: &P,
        ab: &mut P,
        size: usize,
    ) -> Result<Step, GpuError> {
        let plane = size * size;
        let s = self.settings;
        if s.mode == TemporalMode::Off {
            self.previous = None;
            return Ok(Step {
                cut: false,
                cut_score: 0.0,
                weight: 0.0,
                occluded: 0.0,
            });
        }
        if s.mode != TemporalMode::Recursive {
            return Err(GpuError::Unsupported(format!(
                "temporal {} has no GPU kernels yet",
                s.mode
            )));
        }
        if S::len(luma) != plane || S::len(ab) != 2 * plane {
            return Err(GpuError::Unsupported("planes of the wrong size".into()));
        }
        let mut blurred = match self.spare_luma.take() {
            Some(p) if S::len(&p) == plane => p,
            _ => steps.plane(plane)?,
        };
        steps.blur(luma, size, &mut blurred)?;
        let signature = steps.signature(luma, size)?;
        let previous = self.previous.take().filter(|p| p.size == size);
        let cut_score = previous
            .as_ref()
            .map_or(0.0, |p| temporal::scene_change(&p.signature, &signature));
        let cut = previous.is_some() && cut_score > s.scene_cut_threshold;
        let mut recycled = None;
        if let Some(prev) = previous.filter(|_| !cut) {
            let (strength, alpha) = s.blend_weights();
            let typical = steps.typical_change(&blurred, &prev.luma, size)?;
            let mut change = match self.change.take() {
                Some(c) if S::len(&c) == plane => c,
                _ => steps.plane(plane)?,
            };
            steps.luma_change(&blurred, &prev.luma, size, typical, &mut change)?;
            steps.blend(ab, &prev.ab, &change, size, strength, alpha)?;
            self.change = Some(change);
            recycled = Some(prev);
        }
        let mut kept_ab = match recycled {
            Some(p) => {
                self.spare_luma = Some(p.luma);
                p.ab
            }
            None => steps.plane(2 * plane)?,
        };
        steps.copy(ab, &mut kept_ab)?;
        self.previous = Some(Previous {
            size,
            luma: blurred,
            ab: kept_ab,
            signature,
        });
        Ok(Step {
            cut,
            cut_score,
            weight: f32::NAN,
            occluded: 0.0,
        })
    }
}

/// The steps as kernel launches on one stream.
pub(crate) struct CudaSteps {
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blur: CudaFunction,
    pub(crate) diff_grid: CudaFunction,
    pub(crate) luma_change: CudaFunction,
    pub(crate) blend: CudaFunction,
    pub(crate) signature_cells: CudaFunction,
    pub(crate) signature_hist: CudaFunction,
    /// Small buffers reused frame to frame: the signature's sums, counts and histogram, the
    /// grid of differences.
    pub(crate) scratch: Option<Scratch>,
}

pub(crate) struct Scratch {
    sums: CudaSlice<f32>,
    counts: CudaSlice<f32>,
    hist: CudaSlice<u32>,
    grid: CudaSlice<f32>,
}

impl CudaSteps {
    fn scratch(&mut self, grid_len: usize) -> Result<&mut Scratch, GpuError> {
        let cells = temporal::THUMB * temporal::THUMB;
        if self
            .scratch
            .as_ref()
            .is_none_or(|s| s.grid.len() < grid_len)
        {
            self.scratch = Some(Scratch {
                sums: self.stream.alloc_zeros::<f32>(cells)?,
                counts: self.stream.alloc_zeros::<f32>(cells)?,
                hist: self.stream.alloc_zeros::<u32>(temporal::HIST_BINS)?,
                grid: self.stream.alloc_zeros::<f32>(grid_len)?,
            });
        }
        Ok(self.scratch.as_mut().expect("set above"))
    }
}

impl Steps for CudaSteps {
    type Plane = CudaSlice<f32>;

    fn plane(&mut self, len: usize) -> Result<Self::Plane, GpuError> {
        Ok(self.stream.alloc_zeros::<f32>(len)?)
    }

    fn len(plane: &Self::Plane) -> usize {
        plane.len()
    }

    fn copy(&mut self, src: &Self::Plane, dst: &mut Self::Plane) -> Result<(), GpuError> {
        Ok(self.stream.memcpy_dtod(src, dst)?)
    }

    fn blur(
        &mut self,
        src: &Self::Plane,
        size: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError> {
        let n = size as i32;
        let mut l = self.stream.launch_builder(&self.blur);
        l.arg(src).arg(&n).arg(out);
        // SAFETY: `dd_box_blur3(const float*, int, float*)` on planes of size x size.
        unsafe { l.launch(grid(size, size)) }?;
        Ok(())
    }

    fn signature(&mut self, luma: &Self::Plane, size: usize) -> Result<SceneSignature, GpuError> {
        let cells = temporal::THUMB * temporal::THUMB;
        let stream = self.stream.clone();
        let (cells_fn, hist_fn) = (self.signature_cells.clone(), self.signature_hist.clone());
        let grid_len = size.div_ceil(temporal::grid_step(size)).pow(2);
        let Scratch {
            sums, counts, hist, ..
        } = self.scratch(grid_len)?;
        stream.memset_zeros(hist)?;
        let n = size as i32;
        let mut l = stream.launch_builder(&cells_fn);
        l.arg(luma)
            .arg(&n)
            .arg(&n)
            .arg(&mut *sums)
            .arg(&mut *counts);
        // SAFETY: `dd_signature_cells(const float*, int, int, float*, float*)`, 256 cells.
        unsafe { l.launch(LaunchConfig::for_num_elems(cells as u32)) }?;
        let pixels = (size * size) as i32;
        let mut l = stream.launch_builder(&hist_fn);
        l.arg(luma).arg(&pixels).arg(&mut *hist);
        // SAFETY: `dd_signature_hist(const float*, int, unsigned*)`, zeroed counts.
        unsafe { l.launch(LaunchConfig::for_num_elems(pixels as u32)) }?;
        let sums = stream.clone_dtoh(&*sums)?;
        let counts = stream.clone_dtoh(&*counts)?;
        let hist = stream.clone_dtoh(&*hist)?;
        let mut h = [0f32; temporal::HIST_BINS];
        for (d, c) in h.iter_mut().zip(&hist) {
            *d = *c as f32;
        }
        Ok(temporal::signature_from_sums(sums, &counts, h, size * size))
    }

    fn typical_change(
        &mut self,
        cur: &Self::Plane,
        prev: &Self::Plane,
        size: usize,
    ) -> Result<f32, GpuError> {
        let step = temporal::grid_step(size);
        let g = size.div_ceil(step);
        let stream = self.stream.clone();
        let f = self.diff_grid.clone();
        let out = &mut self.scratch(g * g)?.grid;
        let (n, st) = (size as i32, step as i32);
        let mut l = stream.launch_builder(&f);
        l.arg(cur).arg(prev).arg(&n).arg(&st).arg(&mut *out);
        // SAFETY: `dd_diff_grid(const float*, const float*, int, int, float*)`, g x g out (the
        // buffer may be longer: only the first g * g values are read back).
        unsafe { l.launch(grid(g, g)) }?;
        let mut diffs = stream.clone_dtoh(&out.slice(..g * g))?;
        Ok(temporal::median_of(&mut diffs))
    }

    fn luma_change(
        &mut self,
        cur: &Self::Plane,
        prev: &Self::Plane,
        size: usize,
        typical: f32,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError> {
        let (n, r) = (size as i32, temporal::CHANGE_RADIUS as i32);
        let mut l = self.stream.launch_builder(&self.luma_change);
        l.arg(cur).arg(prev).arg(&n).arg(&typical).arg(&r).arg(out);
        // SAFETY: `dd_luma_change(const float*, const float*, int, float, int, float*)`.
        unsafe { l.launch(grid(size, size)) }?;
        Ok(())
    }

    fn blend(
        &mut self,
        ab: &mut Self::Plane,
        old_ab: &Self::Plane,
        change: &Self::Plane,
        size: usize,
        strength: f32,
        alpha: f32,
    ) -> Result<(), GpuError> {
        let n = size as i32;
        let mut l = self.stream.launch_builder(&self.blend);
        l.arg(ab)
            .arg(old_ab)
            .arg(change)
            .arg(&n)
            .arg(&strength)
            .arg(&alpha);
        // SAFETY: `dd_blend(float*, const float*, const float*, int, float, float)`.
        unsafe { l.launch(LaunchConfig::for_num_elems((size * size) as u32)) }?;
        Ok(())
    }
}
