//! The temporal smoother (see [`crate::video::temporal`]) with its planes on the GPU: the same
//! decisions as [`crate::video::temporal::Smoother`] in `recursive` and `flow` modes (the optical flow
//! of [`crate::video::flow`] included), each per-pixel step a kernel.
//! The orchestration is generic over where the steps run, so the tests run it with the
//! kernels' host build and require the CPU smoother's output bit for bit.

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use std::sync::Arc;

use super::{GpuError, grid};
use crate::video::flow::FlowParams;
use crate::video::temporal::{self, SceneSignature, Step, TemporalMode, TemporalSettings};

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
    /// `Plane::half` of a `w` x `h` plane into `out` ((w+1)/2 x (h+1)/2).
    fn half(
        &mut self,
        src: &Self::Plane,
        w: usize,
        h: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError>;
    /// Bilinear resampling of `src` onto `dw` x `dh`; `scale` 1 or 2 divides the values by the
    /// horizontal or vertical step (flow vectors), 0 leaves them.
    #[allow(clippy::too_many_arguments)]
    fn resample(
        &mut self,
        src: &Self::Plane,
        sw: usize,
        sh: usize,
        dw: usize,
        dh: usize,
        scale: i32,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError>;
    /// `Plane::normalised` of `n` values.
    fn normalise(
        &mut self,
        src: &Self::Plane,
        n: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError>;
    /// `Flow::warp` of the `w` x `h` plane at `src_at` in `src` into `out` at `out_at`.
    #[allow(clippy::too_many_arguments)]
    fn warp(
        &mut self,
        src: &Self::Plane,
        src_at: usize,
        u: &Self::Plane,
        v: &Self::Plane,
        w: usize,
        h: usize,
        out: &mut Self::Plane,
        out_at: usize,
    ) -> Result<(), GpuError>;
    /// `refine`'s gradients and temporal difference.
    #[allow(clippy::too_many_arguments)]
    fn gradients(
        &mut self,
        a: &Self::Plane,
        bw: &Self::Plane,
        w: usize,
        h: usize,
        g: &mut [Self::Plane; 3],
    ) -> Result<(), GpuError>;
    /// One Jacobi iteration: `uv` -> `out`, around `uv0` with gradients `g`.
    #[allow(clippy::too_many_arguments)]
    fn jacobi(
        &mut self,
        uv: &[Self::Plane; 2],
        uv0: &[Self::Plane; 2],
        g: &[Self::Plane; 3],
        w: usize,
        h: usize,
        smoothness: f32,
        out: &mut [Self::Plane; 2],
    ) -> Result<(), GpuError>;
    /// The occlusion mask (1 occluded, 0 not) of flow `f` against flow `b` the other way.
    fn occlusion(
        &mut self,
        f: &[Self::Plane; 2],
        b: &[Self::Plane; 2],
        w: usize,
        h: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError>;
    /// [`Self::blend`] with no weight where the flow-size (`f` x `f`) mask is set.
    #[allow(clippy::too_many_arguments)]
    fn blend_flow(
        &mut self,
        ab: &mut Self::Plane,
        old_ab: &Self::Plane,
        change: &Self::Plane,
        size: usize,
        strength: f32,
        alpha: f32,
        occluded: &Self::Plane,
        f: usize,
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
    /// Flow mode: the flow's pyramid of this frame's luma (normalised, finest first, with each
    /// level's size). The CPU makes it again from the kept luma next frame; the same planes
    /// come out, so they are kept instead.
    small: Option<Pyramid<P>>,
}

// The occlusion kernel has no motion-boundary test: the filter's own test has none.
const _: () = assert!(temporal::OCCLUSION.boundary.is_none());

/// Pyramid levels, finest first, each with its width and height.
type Pyramid<P> = Vec<(P, usize, usize)>;

/// A flow field: horizontal and vertical displacements, `w` x `h`.
type Field<P> = [P; 2];

/// `Plane::resized(f, f)` of the `size` x `size` luma: halved while at least twice as large,
/// then bilinear.
fn small_luma<S: Steps>(
    steps: &mut S,
    luma: &S::Plane,
    size: usize,
    f: usize,
) -> Result<S::Plane, GpuError> {
    let mut p = steps.plane(size * size)?;
    steps.copy(luma, &mut p)?;
    let (mut w, mut h) = (size, size);
    while w >= 2 * f && h >= 2 * f {
        let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
        let mut half = steps.plane(hw * hh)?;
        steps.half(&p, w, h, &mut half)?;
        (p, w, h) = (half, hw, hh);
    }
    if (w, h) == (f, f) {
        return Ok(p);
    }
    let mut out = steps.plane(f * f)?;
    steps.resample(&p, w, h, f, f, 0, &mut out)?;
    Ok(out)
}

/// `estimate`'s pyramid of a flow-size plane: normalised, then halved while its shorter side is
/// at least twice the coarsest level's. Finest first, with each level's size.
fn pyramid<S: Steps>(
    steps: &mut S,
    small: &S::Plane,
    f: usize,
    params: &FlowParams,
) -> Result<Pyramid<S::Plane>, GpuError> {
    let mut first = steps.plane(f * f)?;
    steps.normalise(small, f * f, &mut first)?;
    let mut levels = vec![(first, f, f)];
    loop {
        let (p, w, h) = levels.last().expect("one level at least");
        if (*w).min(*h) < 2 * params.coarsest {
            break;
        }
        let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
        let mut half = steps.plane(hw * hh)?;
        steps.half(p, *w, *h, &mut half)?;
        levels.push((half, hw, hh));
    }
    Ok(levels)
}

/// `flow::estimate` from pyramid `a` to pyramid `b`: the flow at the finest level's size.
fn estimate<S: Steps>(
    steps: &mut S,
    a: &[(S::Plane, usize, usize)],
    b: &[(S::Plane, usize, usize)],
    params: &FlowParams,
) -> Result<Field<S::Plane>, GpuError> {
    let mut flow: Option<(Field<S::Plane>, usize, usize)> = None;
    for ((la, w, h), (lb, _, _)) in a.iter().zip(b).rev() {
        let (w, h) = (*w, *h);
        let n = w * h;
        let mut f = [steps.plane(n)?, steps.plane(n)?];
        if let Some((prev, pw, ph)) = &flow {
            if (*pw, *ph) == (w, h) {
                steps.copy(&prev[0], &mut f[0])?;
                steps.copy(&prev[1], &mut f[1])?;
            } else {
                steps.resample(&prev[0], *pw, *ph, w, h, 1, &mut f[0])?;
                steps.resample(&prev[1], *pw, *ph, w, h, 2, &mut f[1])?;
            }
        }
        let mut bw = steps.plane(n)?;
        let mut g = [steps.plane(n)?, steps.plane(n)?, steps.plane(n)?];
        let mut uv0 = [steps.plane(n)?, steps.plane(n)?];
        let mut next = [steps.plane(n)?, steps.plane(n)?];
        for _ in 0..params.warps {
            // `refine`: one linearisation around `f`, then Jacobi iterations.
            steps.warp(lb, 0, &f[0], &f[1], w, h, &mut bw, 0)?;
            steps.gradients(la, &bw, w, h, &mut g)?;
            steps.copy(&f[0], &mut uv0[0])?;
            steps.copy(&f[1], &mut uv0[1])?;
            for _ in 0..params.iterations {
                steps.jacobi(&f, &uv0, &g, w, h, params.smoothness, &mut next)?;
                std::mem::swap(&mut f, &mut next);
            }
        }
        flow = Some((f, w, h));
    }
    Ok(flow.expect("one level at least").0)
}

/// The state along one stream, as [`crate::video::temporal::Smoother`] keeps it (any mode). Reset it
/// where the CPU smoother is reset.
pub(crate) struct GpuSmoother<P> {
    settings: TemporalSettings,
    params: FlowParams,
    previous: Option<Previous<P>>,
    spare_luma: Option<P>,
    change: Option<P>,
}

impl<P> GpuSmoother<P> {
    pub(crate) fn new(settings: TemporalSettings) -> Self {
        Self {
            settings,
            params: FlowParams::default(),
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
        let f = size.min(temporal::FLOW_SIZE);
        let small = match s.mode {
            TemporalMode::Flow => {
                let small = small_luma(steps, luma, size, f)?;
                Some(pyramid(steps, &small, f, &self.params)?)
            }
            _ => None,
        };
        let mut recycled = None;
        if let Some(prev) = previous.filter(|_| !cut) {
            let (strength, alpha) = s.blend_weights();
            let mut change = match self.change.take() {
                Some(c) if S::len(&c) == plane => c,
                _ => steps.plane(plane)?,
            };
            match (&small, &prev.small) {
                (Some(cur), Some(old)) => {
                    let params = self.params;
                    // Backward flow: this frame's pixel x was at x + B(x) in the previous one.
                    let back = estimate(steps, cur, old, &params)?;
                    let fwd = estimate(steps, old, cur, &params)?;
                    let mut occluded = steps.plane(f * f)?;
                    steps.occlusion(&back, &fwd, f, f, &mut occluded)?;
                    let full = if f == size {
                        back
                    } else {
                        let mut full = [steps.plane(plane)?, steps.plane(plane)?];
                        steps.resample(&back[0], f, f, size, size, 1, &mut full[0])?;
                        steps.resample(&back[1], f, f, size, size, 2, &mut full[1])?;
                        full
                    };
                    let mut wl = steps.plane(plane)?;
                    let mut wab = steps.plane(2 * plane)?;
                    let [u, v] = &full;
                    steps.warp(&prev.luma, 0, u, v, size, size, &mut wl, 0)?;
                    steps.warp(&prev.ab, 0, u, v, size, size, &mut wab, 0)?;
                    steps.warp(&prev.ab, plane, u, v, size, size, &mut wab, plane)?;
                    let typical = steps.typical_change(&blurred, &wl, size)?;
                    steps.luma_change(&blurred, &wl, size, typical, &mut change)?;
                    steps.blend_flow(ab, &wab, &change, size, strength, alpha, &occluded, f)?;
                }
                _ => {
                    let typical = steps.typical_change(&blurred, &prev.luma, size)?;
                    steps.luma_change(&blurred, &prev.luma, size, typical, &mut change)?;
                    steps.blend(ab, &prev.ab, &change, size, strength, alpha)?;
                }
            }
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
            small,
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
    pub(crate) half: CudaFunction,
    pub(crate) resample: CudaFunction,
    pub(crate) norm_stats: CudaFunction,
    pub(crate) norm_apply: CudaFunction,
    pub(crate) warp: CudaFunction,
    pub(crate) gradients: CudaFunction,
    pub(crate) jacobi: CudaFunction,
    pub(crate) occlusion: CudaFunction,
    pub(crate) blend_flow: CudaFunction,
    /// Small buffers reused frame to frame: the signature's sums, counts and histogram, the
    /// grid of differences.
    pub(crate) scratch: Option<Scratch>,
}

pub(crate) struct Scratch {
    sums: CudaSlice<f32>,
    counts: CudaSlice<f32>,
    hist: CudaSlice<u32>,
    grid: CudaSlice<f32>,
    /// A plane's mean and scale for `normalise`.
    stats: CudaSlice<f32>,
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
                stats: self.stream.alloc_zeros::<f32>(2)?,
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

    fn half(
        &mut self,
        src: &Self::Plane,
        w: usize,
        h: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError> {
        let (wi, hi) = (w as i32, h as i32);
        let mut l = self.stream.launch_builder(&self.half);
        l.arg(src).arg(&wi).arg(&hi).arg(out);
        // SAFETY: `dd_half(const float*, int, int, float*)`, out (w+1)/2 x (h+1)/2.
        unsafe { l.launch(grid(w.div_ceil(2), h.div_ceil(2))) }?;
        Ok(())
    }

    fn resample(
        &mut self,
        src: &Self::Plane,
        sw: usize,
        sh: usize,
        dw: usize,
        dh: usize,
        scale: i32,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError> {
        let d = [sw as i32, sh as i32, dw as i32, dh as i32];
        let mut l = self.stream.launch_builder(&self.resample);
        l.arg(src)
            .arg(&d[0])
            .arg(&d[1])
            .arg(&d[2])
            .arg(&d[3])
            .arg(&scale)
            .arg(out);
        // SAFETY: `dd_resample(const float*, int, int, int, int, int, float*)`, out dw x dh.
        unsafe { l.launch(grid(dw, dh)) }?;
        Ok(())
    }

    fn normalise(
        &mut self,
        src: &Self::Plane,
        n: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError> {
        let stream = self.stream.clone();
        let (stats_fn, apply_fn) = (self.norm_stats.clone(), self.norm_apply.clone());
        let stats = &mut self.scratch(1)?.stats;
        let ni = n as i32;
        let mut l = stream.launch_builder(&stats_fn);
        l.arg(src).arg(&ni).arg(&mut *stats);
        let one = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (1, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: `dd_norm_stats_k(const float*, int, float*)`: one thread sums in order.
        unsafe { l.launch(one) }?;
        let mut l = stream.launch_builder(&apply_fn);
        l.arg(src).arg(&*stats).arg(&ni).arg(out);
        // SAFETY: `dd_norm_apply(const float*, const float*, int, float*)`.
        unsafe { l.launch(LaunchConfig::for_num_elems(n as u32)) }?;
        Ok(())
    }

    fn warp(
        &mut self,
        src: &Self::Plane,
        src_at: usize,
        u: &Self::Plane,
        v: &Self::Plane,
        w: usize,
        h: usize,
        out: &mut Self::Plane,
        out_at: usize,
    ) -> Result<(), GpuError> {
        let n = w * h;
        let src = src.slice(src_at..src_at + n);
        let mut out = out.slice_mut(out_at..out_at + n);
        let (wi, hi) = (w as i32, h as i32);
        let mut l = self.stream.launch_builder(&self.warp);
        l.arg(&src).arg(u).arg(v).arg(&wi).arg(&hi).arg(&mut out);
        // SAFETY: `dd_warp(const float*, const float*, const float*, int, int, float*)`.
        unsafe { l.launch(grid(w, h)) }?;
        Ok(())
    }

    fn gradients(
        &mut self,
        a: &Self::Plane,
        bw: &Self::Plane,
        w: usize,
        h: usize,
        g: &mut [Self::Plane; 3],
    ) -> Result<(), GpuError> {
        let (wi, hi) = (w as i32, h as i32);
        let [ix, iy, it] = g;
        let mut l = self.stream.launch_builder(&self.gradients);
        l.arg(a).arg(bw).arg(&wi).arg(&hi).arg(ix).arg(iy).arg(it);
        // SAFETY: `dd_gradients(const float*, const float*, int, int, float*, float*, float*)`.
        unsafe { l.launch(grid(w, h)) }?;
        Ok(())
    }

    fn jacobi(
        &mut self,
        uv: &[Self::Plane; 2],
        uv0: &[Self::Plane; 2],
        g: &[Self::Plane; 3],
        w: usize,
        h: usize,
        smoothness: f32,
        out: &mut [Self::Plane; 2],
    ) -> Result<(), GpuError> {
        let (wi, hi) = (w as i32, h as i32);
        let [un, vn] = out;
        let mut l = self.stream.launch_builder(&self.jacobi);
        l.arg(&uv[0])
            .arg(&uv[1])
            .arg(&uv0[0])
            .arg(&uv0[1])
            .arg(&g[0])
            .arg(&g[1])
            .arg(&g[2])
            .arg(&wi)
            .arg(&hi)
            .arg(&smoothness)
            .arg(un)
            .arg(vn);
        // SAFETY: `dd_jacobi(7 x const float*, int, int, float, float*, float*)`.
        unsafe { l.launch(grid(w, h)) }?;
        Ok(())
    }

    fn occlusion(
        &mut self,
        f: &[Self::Plane; 2],
        b: &[Self::Plane; 2],
        w: usize,
        h: usize,
        out: &mut Self::Plane,
    ) -> Result<(), GpuError> {
        let (wi, hi) = (w as i32, h as i32);
        let t = temporal::OCCLUSION;
        let mut l = self.stream.launch_builder(&self.occlusion);
        l.arg(&f[0])
            .arg(&f[1])
            .arg(&b[0])
            .arg(&b[1])
            .arg(&wi)
            .arg(&hi)
            .arg(&t.mismatch_rel)
            .arg(&t.mismatch_abs)
            .arg(out);
        // SAFETY: `dd_occlusion(4 x const float*, int, int, float, float, float*)`.
        unsafe { l.launch(grid(w, h)) }?;
        Ok(())
    }

    fn blend_flow(
        &mut self,
        ab: &mut Self::Plane,
        old_ab: &Self::Plane,
        change: &Self::Plane,
        size: usize,
        strength: f32,
        alpha: f32,
        occluded: &Self::Plane,
        f: usize,
    ) -> Result<(), GpuError> {
        let (n, fi) = (size as i32, f as i32);
        let mut l = self.stream.launch_builder(&self.blend_flow);
        l.arg(ab)
            .arg(old_ab)
            .arg(change)
            .arg(&n)
            .arg(&strength)
            .arg(&alpha)
            .arg(occluded)
            .arg(&fi);
        // SAFETY: `dd_blend_flow(float*, const float*, const float*, int, float, float,
        // const float*, int)`.
        unsafe { l.launch(LaunchConfig::for_num_elems((size * size) as u32)) }?;
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
