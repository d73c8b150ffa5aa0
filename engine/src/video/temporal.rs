//! Temporal smoothing of the model's chroma, so colorized film does not flicker.
//!
//! DDColor colours each frame on its own; small changes of grain or exposure move its guess, and
//! a coat or a sky changes colour from frame to frame. The filter blends each frame's predicted
//! ab (in model space, SxS, before upsampling) with the previous frame's smoothed ab:
//!
//! `ab_t = (1 - w) * pred_t + w * W(ab_{t-1})`, `w = s * exp(-alpha * dL^2)`
//!
//! where W is the identity (`recursive`) or a warp along the optical flow from this frame to the
//! previous one (`flow`, with w = 0 where the forward-backward check finds no match), and dL the
//! largest `|L_t - W(L_{t-1}) - m|` of the (blurred) luma within two model pixels, m the frame's
//! median change (old film's exposure breathes from frame to frame). Where the
//! luma changed nearby (something moved in or out) w falls to zero and the new prediction wins,
//! so a moving object leaves no smear of old colour, even where it was as bright as what it
//! uncovers. Hue and saturation are blended separately, so a
//! model hesitating between neighbouring hues does not fade to grey. A scene cut (the picture's
//! layout or brightness changes at once) resets the state, so colours change at once at a cut.

use std::fmt;
use std::str::FromStr;

use crate::video::flow::{self, Flow, FlowParams, Plane};

/// Which smoothing runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TemporalMode {
    /// Every frame coloured on its own (the model's raw output).
    Off,
    /// Blend with the previous frame at the same place, less where the luma changed.
    Recursive,
    /// Blend with the previous frame moved along the optical flow; no blending where occluded.
    #[default]
    Flow,
}

impl TemporalMode {
    pub const ALL: [TemporalMode; 3] = [Self::Off, Self::Recursive, Self::Flow];

    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Recursive => "recursive",
            Self::Flow => "flow",
        }
    }
}

impl fmt::Display for TemporalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TemporalMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("unknown temporal mode '{s}' (expected off, recursive or flow)"))
    }
}

/// The filter's knobs. The defaults are the ones the temporal benchmark chose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TemporalSettings {
    pub mode: TemporalMode,
    /// Weight of the previous frame where nothing changed, 0 (none) to 0.99.
    pub strength: f32,
    /// How fast the weight falls with the luma difference (alpha, for L in [0, 1]).
    pub motion_sensitivity: f32,
    /// Change of the picture (0 to 1, see [`scene_change`]) above which a frame starts a new
    /// scene; 1 never cuts.
    pub scene_cut_threshold: f32,
}

impl Default for TemporalSettings {
    fn default() -> Self {
        Self {
            mode: TemporalMode::default(),
            strength: DEFAULT_STRENGTH,
            motion_sensitivity: DEFAULT_MOTION_SENSITIVITY,
            scene_cut_threshold: DEFAULT_SCENE_CUT_THRESHOLD,
        }
    }
}

impl TemporalSettings {
    /// The strength and motion sensitivity the blend uses: clamped, and never NaN (which would
    /// stay in the carried state until the next cut).
    pub(crate) fn blend_weights(&self) -> (f32, f32) {
        let finite_or = |v: f32, d: f32| if v.is_finite() { v } else { d };
        (
            finite_or(self.strength, 0.0).clamp(0.0, 0.99),
            finite_or(self.motion_sensitivity, DEFAULT_MOTION_SENSITIVITY).max(0.0),
        )
    }
}

pub const DEFAULT_STRENGTH: f32 = 0.9;
pub const DEFAULT_MOTION_SENSITIVITY: f32 = 200.0;
pub const DEFAULT_SCENE_CUT_THRESHOLD: f32 = 0.35;
/// Flow runs on the model-space luma brought down to at most this size: chroma is smooth, and
/// the flow at S = 512 would cost more than the filter is allowed to add.
pub const FLOW_SIZE: usize = 128;
/// Side of the thumbnail compared for scene cuts.
pub(crate) const THUMB: usize = 16;
/// The filter's occlusion test, at flow size: forward-backward mismatch only. The metric's
/// motion-boundary test flags most of a frame of real footage with a smooth flow such as this
/// one, which would turn the filter off where it is needed.
pub(crate) const OCCLUSION: flow::OcclusionTest = flow::OcclusionTest {
    mismatch_rel: 0.05,
    mismatch_abs: 2.0,
    boundary: None,
};

/// What the filter did with one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The frame starts a new scene: its prediction was used as it is.
    pub cut: bool,
    /// How unlike the previous frame this one looks, 0 to 1 (0 with no previous frame).
    pub cut_score: f32,
    /// Mean weight given to the previous frame (0 when it was not used).
    pub weight: f32,
    /// Share of pixels the flow's occlusion check left unblended (flow mode).
    pub occluded: f32,
}

/// The previous frame, as the filter keeps it.
struct Previous {
    size: usize,
    /// Model-space luma, box-blurred: grain should not read as change.
    luma: Vec<f32>,
    /// For the scene-cut test.
    signature: SceneSignature,
    /// The previous frame's smoothed chroma, planar [2, S, S].
    ab: Vec<f32>,
    /// The luma at flow size (flow mode only).
    small: Option<Plane>,
}

/// The state of the filter along one stream. Reset it at flushes, seeks, discontinuities and
/// new segments; frames must come in presentation order.
pub struct Smoother {
    settings: TemporalSettings,
    previous: Option<Previous>,
    params: FlowParams,
    warped: Vec<f32>,
    /// One warped plane at a time, before it is copied into `warped`.
    tmp: Vec<f32>,
    scratch: Vec<f32>,
    /// Per-pixel luma change, see [`luma_change`].
    change: Vec<f32>,
}

impl Smoother {
    pub fn new(settings: TemporalSettings) -> Self {
        Self {
            settings,
            previous: None,
            params: FlowParams::default(),
            warped: Vec::new(),
            tmp: Vec::new(),
            scratch: Vec::new(),
            change: Vec::new(),
        }
    }

    pub fn settings(&self) -> TemporalSettings {
        self.settings
    }

    /// New settings apply from the next frame; turning the filter off forgets the past.
    pub fn set_settings(&mut self, settings: TemporalSettings) {
        if settings.mode != self.settings.mode {
            self.previous = None;
        }
        self.settings = settings;
    }

    /// Forgets the previous frame: the next one is taken as the model gave it.
    pub fn reset(&mut self) {
        self.previous = None;
    }

    /// Smooths one frame's chroma in place. `luma` is the frame's model-space lightness (the
    /// model input's first plane, S x S, in [0, 1]); `ab` the model's output for it (planar
    /// [2, S, S]).
    pub fn apply(&mut self, luma: &[f32], ab: &mut [f32], size: usize) -> Step {
        assert!(size > 0, "model size 0");
        let plane = size * size;
        assert_eq!(luma.len(), plane, "luma has the wrong size");
        assert_eq!(ab.len(), 2 * plane, "chroma has the wrong size");
        let s = self.settings;
        if s.mode == TemporalMode::Off {
            self.previous = None;
            return Step {
                cut: false,
                cut_score: 0.0,
                weight: 0.0,
                occluded: 0.0,
            };
        }
        let mut blurred = std::mem::take(&mut self.scratch);
        box_blur_3(luma, size, &mut blurred);
        let signature = scene_signature(luma, size, size);
        let previous = self.previous.take().filter(|p| p.size == size);
        let cut_score = previous
            .as_ref()
            .map_or(0.0, |p| scene_change(&p.signature, &signature));
        let cut = previous.is_some() && cut_score > s.scene_cut_threshold;
        let small = (s.mode == TemporalMode::Flow).then(|| {
            let f = size.min(FLOW_SIZE);
            Plane::new(size, size, luma.to_vec()).resized(f, f)
        });

        let mut recycled = None;
        let (mut weight_sum, mut occluded_share) = (0f32, 0f32);
        if let Some(prev) = previous.filter(|_| !cut) {
            let (strength, alpha) = s.blend_weights();
            match (&small, &prev.small) {
                (Some(cur_small), Some(prev_small)) => {
                    // Backward flow: this frame's pixel x was at x + B(x) in the previous one.
                    let back = flow::estimate(cur_small, prev_small, &self.params);
                    let fwd = flow::estimate(prev_small, cur_small, &self.params);
                    let occluded = flow::occlusion_with(&back, &fwd, &OCCLUSION);
                    let full: Flow = back.resized(size, size);
                    let warped = &mut self.warped;
                    warped.resize(3 * plane, 0.0);
                    let (wl, wab) = warped.split_at_mut(plane);
                    let tmp = &mut self.tmp;
                    full.warp(&prev.luma, tmp);
                    wl.copy_from_slice(tmp);
                    full.warp(&prev.ab[..plane], tmp);
                    wab[..plane].copy_from_slice(tmp);
                    full.warp(&prev.ab[plane..], tmp);
                    wab[plane..].copy_from_slice(tmp);
                    let f = cur_small.width;
                    occluded_share =
                        occluded.iter().filter(|&&o| o).count() as f32 / occluded.len() as f32;
                    let change = &mut self.change;
                    luma_change(&blurred, wl, size, change, &mut self.tmp);
                    for y in 0..size {
                        let oy = y * f / size;
                        for x in 0..size {
                            let i = y * size + x;
                            let w = if occluded[oy * f + x * f / size] {
                                0.0
                            } else {
                                let d = change[i];
                                strength * (-alpha * d * d).exp()
                            };
                            weight_sum += w;
                            let (a, b) = blend(ab[i], ab[plane + i], wab[i], wab[plane + i], w);
                            ab[i] = a;
                            ab[plane + i] = b;
                        }
                    }
                }
                _ => {
                    let change = &mut self.change;
                    luma_change(&blurred, &prev.luma, size, change, &mut self.tmp);
                    for i in 0..plane {
                        let d = change[i];
                        let w = strength * (-alpha * d * d).exp();
                        weight_sum += w;
                        let (a, b) = blend(ab[i], ab[plane + i], prev.ab[i], prev.ab[plane + i], w);
                        ab[i] = a;
                        ab[plane + i] = b;
                    }
                }
            }
            recycled = Some(prev);
        }
        // Keep this frame (its smoothed chroma) for the next, reusing the old buffers.
        let (kept_luma, mut kept_ab) = match recycled {
            Some(p) => {
                self.scratch = p.luma;
                (blurred, p.ab)
            }
            None => (blurred, Vec::new()),
        };
        kept_ab.clear();
        kept_ab.extend_from_slice(ab);
        self.previous = Some(Previous {
            size,
            luma: kept_luma,
            signature,
            ab: kept_ab,
            small,
        });
        Step {
            cut,
            cut_score,
            weight: weight_sum / plane as f32,
            occluded: occluded_share,
        }
    }
}

/// `(1 - w) * new + w * old` for the hue, and the same mix of the two chroma magnitudes for the
/// saturation, the saturation raised at most twofold over the plain mix. A plain average of two
/// colours of different hue is greyer than either, so a model that hesitates between
/// neighbouring hues would fade to grey where it hesitates most. For nearly opposite hues the
/// mixed hue means little (noise would pick it), so there the cap leaves the mix greyish.
#[inline(always)]
pub(crate) fn blend(a: f32, b: f32, old_a: f32, old_b: f32, w: f32) -> (f32, f32) {
    const MAX_GAIN: f32 = 2.0;
    let (va, vb) = ((1.0 - w) * a + w * old_a, (1.0 - w) * b + w * old_b);
    let m = (1.0 - w) * (a * a + b * b).sqrt() + w * (old_a * old_a + old_b * old_b).sqrt();
    let len = (va * va + vb * vb).sqrt();
    if len > 1e-3 {
        let gain = (m / len).min(MAX_GAIN);
        (va * gain, vb * gain)
    } else {
        (va, vb)
    }
}

/// How far the previous frame's weight reaches: a pixel's luma change is the largest within
/// this many model pixels (a (2R+1) square).
pub(crate) const CHANGE_RADIUS: usize = 2;

/// The largest luma difference between `cur` and `prev` around each pixel, within
/// [`CHANGE_RADIUS`], after taking away the frame's typical difference.
///
/// - A moving object changes the luma along its edges and where its texture differs from what
///   it uncovers, but inside an area of the same brightness nothing changes: taken pixel by
///   pixel, such an object's wake would keep its colour (a ghost). Taking the neighbourhood's
///   largest change lets the edges' change cover the motion of a frame or two.
/// - Old film breathes: the exposure of a whole frame goes up and down from one to the next.
///   That is no motion, and should not stop the blending, so the median difference (over a
///   sparse grid: cheap, and robust to a large object moving in) is taken away first.
pub(crate) fn luma_change(
    cur: &[f32],
    prev: &[f32],
    size: usize,
    out: &mut Vec<f32>,
    tmp: &mut Vec<f32>,
) {
    let r = CHANGE_RADIUS;
    tmp.clear();
    let step = grid_step(size);
    tmp.extend(
        (0..size)
            .step_by(step)
            .flat_map(|y| (0..size).step_by(step).map(move |x| y * size + x))
            .map(|i| cur[i] - prev[i]),
    );
    let typical = median_of(tmp);
    tmp.clear();
    tmp.extend(cur.iter().zip(prev).map(|(a, b)| (a - b - typical).abs()));
    out.resize(size * size, 0.0);
    // Separable: the largest along each row, then along each column of that.
    for y in 0..size {
        let row = &tmp[y * size..(y + 1) * size];
        let dst = &mut out[y * size..(y + 1) * size];
        for (x, d) in dst.iter_mut().enumerate() {
            *d = row[x.saturating_sub(r)..(x + r + 1).min(size)]
                .iter()
                .fold(0f32, |m, &v| m.max(v));
        }
    }
    tmp.copy_from_slice(out);
    for y in 0..size {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(size));
        for x in 0..size {
            out[y * size + x] = (y0..y1).fold(0f32, |m, yy| m.max(tmp[yy * size + x]));
        }
    }
}

/// Spacing of the sparse grid the median change is taken over (about 64 x 64 points).
pub(crate) fn grid_step(size: usize) -> usize {
    (size / 64).max(1)
}

/// The median of the grid's differences (reordered in place); 0 when it is not finite.
pub(crate) fn median_of(diffs: &mut [f32]) -> f32 {
    if diffs.is_empty() {
        return 0.0;
    }
    let mid = diffs.len() / 2;
    let typical = *diffs.select_nth_unstable_by(mid, f32::total_cmp).1;
    if typical.is_finite() { typical } else { 0.0 }
}

/// 3x3 box blur, edges clamped.
pub(crate) fn box_blur_3(src: &[f32], size: usize, out: &mut Vec<f32>) {
    out.resize(size * size, 0.0);
    let last = size - 1;
    for y in 0..size {
        let (y0, y2) = (y.saturating_sub(1), (y + 1).min(last));
        for x in 0..size {
            let (x0, x2) = (x.saturating_sub(1), (x + 1).min(last));
            let mut acc = 0.0;
            for yy in [y0, y, y2] {
                let row = &src[yy * size..];
                acc += row[x0] + row[x] + row[x2];
            }
            out[y * size + x] = acc * (1.0 / 9.0);
        }
    }
}

/// What a shot looks like at a glance: its layout (a `THUMB` x `THUMB` average of the luma,
/// zero mean and unit length, whatever the exposure) and its brightness distribution (a
/// 32-bin luma histogram). Compare two with [`scene_change`].
#[derive(Clone, Debug, PartialEq)]
pub struct SceneSignature {
    thumb: Vec<f32>,
    hist: [f32; HIST_BINS],
}

pub(crate) const HIST_BINS: usize = 32;

/// The signature of a luma image (`width` x `height`, row-major, values in [0, 1]).
pub fn scene_signature(luma: &[f32], width: usize, height: usize) -> SceneSignature {
    assert_eq!(luma.len(), width * height, "luma has the wrong size");
    let mut t = vec![0f32; THUMB * THUMB];
    let mut n = vec![0f32; THUMB * THUMB];
    let mut hist = [0f32; HIST_BINS];
    for y in 0..height {
        let ty = y * THUMB / height;
        for x in 0..width {
            let v = luma[y * width + x];
            let i = ty * THUMB + x * THUMB / width;
            t[i] += v;
            n[i] += 1.0;
            hist[hist_bin(v)] += 1.0;
        }
    }
    signature_from_sums(t, &n, hist, luma.len())
}

#[cfg(test)]
impl SceneSignature {
    /// The brightness histogram's shares.
    pub(crate) fn hist(&self) -> &[f32; HIST_BINS] {
        &self.hist
    }
}

/// The histogram bin of a luma value (NaN: bin 0).
#[inline(always)]
pub(crate) fn hist_bin(v: f32) -> usize {
    ((v * HIST_BINS as f32) as isize).clamp(0, HIST_BINS as isize - 1) as usize
}

/// The signature from its raw sums: per thumbnail cell the sum of luma `t` and the count `n`
/// (row-major cells, pixels added in row-major order), the histogram's counts, the pixel count.
/// The GPU path computes the sums in the same order and finishes here.
pub(crate) fn signature_from_sums(
    mut t: Vec<f32>,
    n: &[f32],
    mut hist: [f32; HIST_BINS],
    pixels: usize,
) -> SceneSignature {
    t.iter_mut().zip(n).for_each(|(v, &c)| *v /= c.max(1.0));
    let mean = t.iter().sum::<f32>() / t.len() as f32;
    t.iter_mut().for_each(|v| *v -= mean);
    // Unit length for a picture with structure; a nearly flat one (black leader, fog, the end
    // of a fade) stays short, so its grain is not blown up into a "layout".
    let norm = t.iter().map(|v| v * v).sum::<f32>().sqrt();
    let floor = 0.01 * THUMB as f32;
    t.iter_mut().for_each(|v| *v /= norm.max(floor));
    let total = pixels.max(1) as f32;
    hist.iter_mut().for_each(|v| *v /= total);
    SceneSignature { thumb: t, hist }
}

/// How unlike two shots are, 0 (same) to 1: `|ta - tb|^2 / 4` for the thumbnails (which is
/// `(1 - correlation) / 2` for pictures with structure, 0 for two flat ones, about 0.25 for flat
/// against structured) plus half the total-variation distance of the histograms. The layout term
/// ignores exposure and barely moves with motion inside a shot; the histogram term catches cuts
/// between shots of a similar layout (sky above, ground below) that differ in brightness. An
/// exposure jump alone (a flash) counts at most 0.5. A frame starts a new scene when this
/// exceeds the scene-cut threshold.
pub fn scene_change(a: &SceneSignature, b: &SceneSignature) -> f32 {
    let dist: f32 = a
        .thumb
        .iter()
        .zip(&b.thumb)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let tv: f32 = 0.5
        * a.hist
            .iter()
            .zip(&b.hist)
            .map(|(x, y)| (x - y).abs())
            .sum::<f32>();
    (0.25 * dist + 0.5 * tv).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: usize = 32;

    fn luma(level: f32) -> Vec<f32> {
        (0..S * S)
            .map(|i| level + 0.2 * (((i % S) as f32) * 0.3).sin() * (((i / S) as f32) * 0.2).cos())
            .collect()
    }

    fn ab(a: f32, b: f32) -> Vec<f32> {
        let mut v = vec![a; S * S];
        v.extend(std::iter::repeat_n(b, S * S));
        v
    }

    fn settings(mode: TemporalMode) -> TemporalSettings {
        TemporalSettings {
            mode,
            ..Default::default()
        }
    }

    #[test]
    fn off_leaves_the_prediction_alone() {
        let mut sm = Smoother::new(settings(TemporalMode::Off));
        let l = luma(0.5);
        sm.apply(&l, &mut ab(10.0, 10.0), S);
        let mut next = ab(-20.0, 30.0);
        sm.apply(&l, &mut next, S);
        assert_eq!(next, ab(-20.0, 30.0));
    }

    #[test]
    fn a_still_scene_blends_with_the_previous_frame() {
        for mode in [TemporalMode::Recursive, TemporalMode::Flow] {
            let mut sm = Smoother::new(settings(mode));
            let l = luma(0.5);
            let first = sm.apply(&l, &mut ab(10.0, 0.0), S);
            assert!(!first.cut);
            let mut next = ab(30.0, 0.0);
            sm.apply(&l, &mut next, S);
            // Nothing moved: w = strength, so 0.2 * 30 + 0.8 * 10 = 14.
            let expect = (1.0 - DEFAULT_STRENGTH) * 30.0 + DEFAULT_STRENGTH * 10.0;
            let worst = next[..S * S]
                .iter()
                .fold(0f32, |m, &v| m.max((v - expect).abs()));
            assert!(worst < 0.5, "{mode}: off by {worst}");
        }
    }

    #[test]
    fn where_the_luma_changed_the_new_prediction_wins() {
        // Cuts off: this is about the per-pixel weight.
        let mut sm = Smoother::new(TemporalSettings {
            scene_cut_threshold: 1.0,
            ..settings(TemporalMode::Recursive)
        });
        let l0 = luma(0.3);
        sm.apply(&l0, &mut ab(10.0, 0.0), S);
        // The left quarter turns much brighter (something moved in), the rest stays.
        let mut l1 = l0.clone();
        for y in 0..S {
            for x in 0..S / 4 {
                l1[y * S + x] += 0.4;
            }
        }
        let mut next = ab(40.0, 0.0);
        sm.apply(&l1, &mut next, S);
        assert!((next[S * 8 + 3] - 40.0).abs() < 1.0, "{}", next[S * 8 + 3]);
        assert!(next[S * 8 + S - 4] < 20.0, "{}", next[S * 8 + S - 4]);
    }

    #[test]
    fn an_object_as_bright_as_what_it_uncovers_leaves_no_ghost() {
        // A bar as bright as the background, outlined in white, moves 5 pixels to the right.
        // Where it was, nothing changed at x = 10 or its 3x3 neighbourhood (bar inside before,
        // background after, both 0.3); only the outline moved. Taken pixel by pixel, x = 10
        // would keep 90 % of the bar's colour.
        let frame = |left: usize| -> (Vec<f32>, Vec<f32>) {
            let mut l = vec![0.3f32; S * S];
            let mut ab = vec![0f32; 2 * S * S];
            for y in 4..S - 4 {
                for x in left..left + 16 {
                    if x == left || x == left + 15 || y == 4 || y == S - 5 {
                        l[y * S + x] = 1.0;
                    }
                    ab[y * S + x] = 40.0;
                }
            }
            (l, ab)
        };
        let mut sm = Smoother::new(TemporalSettings {
            scene_cut_threshold: 1.0,
            ..settings(TemporalMode::Recursive)
        });
        let (l0, mut ab0) = frame(8);
        sm.apply(&l0, &mut ab0, S);
        let (l1, mut ab1) = frame(13);
        sm.apply(&l1, &mut ab1, S);
        let wake = ab1[S * 16 + 10];
        assert!(wake < 10.0, "the bar's colour stayed behind: a = {wake}");
        // Inside the bar, away from its moving outline, it still blends with the past.
        let (l2, mut ab2) = frame(13);
        ab2[S * 16 + 20] = 0.0;
        sm.apply(&l2, &mut ab2, S);
        assert!(ab2[S * 16 + 20] > 30.0, "{}", ab2[S * 16 + 20]);
    }

    #[test]
    fn a_frame_wide_change_of_exposure_keeps_blending() {
        // The whole frame 0.08 brighter (old film's flicker), the picture the same: without
        // taking the median change away, w would fall to 0.9 * exp(-200 * 0.08^2) = 0.25.
        let mut sm = Smoother::new(settings(TemporalMode::Recursive));
        sm.apply(&luma(0.3), &mut ab(10.0, 0.0), S);
        let mut next = ab(40.0, 0.0);
        sm.apply(&luma(0.38), &mut next, S);
        let expect = (1.0 - DEFAULT_STRENGTH) * 40.0 + DEFAULT_STRENGTH * 10.0;
        assert!(
            (next[S * 16 + 16] - expect).abs() < 1.0,
            "{}",
            next[S * 16 + 16]
        );
    }

    /// Another picture: dark on the left, bright on the right.
    fn other_shot(level: f32) -> Vec<f32> {
        (0..S * S)
            .map(|i| level + 0.4 * (i % S) as f32 / S as f32)
            .collect()
    }

    #[test]
    fn a_cut_resets_and_reset_forgets() {
        let mut sm = Smoother::new(settings(TemporalMode::Flow));
        sm.apply(&luma(0.4), &mut ab(10.0, 0.0), S);
        let mut next = ab(-30.0, 5.0);
        let step = sm.apply(&other_shot(0.4), &mut next, S);
        assert!(step.cut, "score {}", step.cut_score);
        assert_eq!(next, ab(-30.0, 5.0));

        let mut after = ab(50.0, 5.0);
        sm.reset();
        let step = sm.apply(&other_shot(0.4), &mut after, S);
        assert!(!step.cut);
        assert_eq!(after, ab(50.0, 5.0));
    }

    #[test]
    fn a_change_of_exposure_is_not_a_cut_and_a_brightness_jump_is() {
        let mut sm = Smoother::new(settings(TemporalMode::Recursive));
        sm.apply(&luma(0.3), &mut ab(10.0, 0.0), S);
        let step = sm.apply(&luma(0.4), &mut ab(10.0, 0.0), S);
        assert!(!step.cut, "score {}", step.cut_score);
        // Same layout, but a darker shot with a wider spread: a cut a thumbnail alone misses.
        let dark: Vec<f32> = luma(0.4).iter().map(|v| 0.05 + (v - 0.2) * 0.4).collect();
        let step = sm.apply(&dark, &mut ab(10.0, 0.0), S);
        assert!(step.cut, "score {}", step.cut_score);
    }

    #[test]
    fn flat_frames_are_one_scene() {
        // Black leader with grain: every frame differs in noise only.
        let grain = |seed: usize| -> Vec<f32> {
            (0..S * S)
                .map(|i| 0.03 + 0.02 * (((i * 7919 + seed * 104729) % 97) as f32 / 97.0 - 0.5))
                .collect()
        };
        let mut sm = Smoother::new(settings(TemporalMode::Recursive));
        sm.apply(&grain(1), &mut ab(5.0, 5.0), S);
        for k in 2..6 {
            let step = sm.apply(&grain(k), &mut ab(5.0, 5.0), S);
            assert!(!step.cut, "frame {k}: score {}", step.cut_score);
        }
    }

    #[test]
    fn blending_keeps_saturation_between_neighbouring_hues_and_stays_bounded() {
        // 40 degrees apart, equal chroma 30: the mix keeps chroma 30.
        let (a, b) = blend(30.0, 0.0, 30.0 * 0.766, 30.0 * 0.643, 0.5);
        assert!(((a * a + b * b).sqrt() - 30.0).abs() < 0.05, "{a} {b}");
        // Nearly opposite: no more than twice the plain mix, whatever the noise.
        let plain = (0.5f32 * 1.0).hypot(0.5 * 0.05);
        let (a, b) = blend(30.0, 0.0, -29.0, 0.05, 0.5);
        assert!(a.hypot(b) <= 2.0 * plain + 1e-3, "{a} {b}");
    }

    #[test]
    fn modes_parse_by_name() {
        for m in TemporalMode::ALL {
            assert_eq!(m.name().parse::<TemporalMode>(), Ok(m));
        }
        assert!("blur".parse::<TemporalMode>().is_err());
    }
}
