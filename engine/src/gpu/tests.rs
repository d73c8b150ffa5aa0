//! The GPU path against the CPU path: the kernels' host build on every machine, NVRTC's compile
//! where NVRTC is, and the launches where a GPU is.

use cudarc::driver::{CudaContext, CudaSlice};
use cudarc::nvrtc::compile_ptx_with_opts;

use super::*;
use crate::inference::cuda::{nvrtc_candidates, nvrtc_present};
use crate::picture::photo::{Photo, Samples};
use crate::picture::resize::Upsample;
use crate::video::frame::PixelFormat;

unsafe extern "C" {
    fn dd_host_model_input(
        t: *const Tables,
        input: *const FrameIn,
        xt: *const Tap,
        yt: *const Tap,
        size: i32,
        area2x: i32,
        out: *mut f32,
    );
    fn dd_host_recombine(
        t: *const Tables,
        input: *const FrameIn,
        ab: *const f32,
        size: i32,
        xt: *const Tap,
        yt: *const Tap,
        nearest: i32,
        out: *const FrameOut,
    );
}

unsafe extern "C" {
    fn dd_host_yuv_to_rgb(
        t: *const crate::video::frame::ToRgb,
        f: *const YuvFrame,
        out: *mut u8,
        out_pitch: i32,
    );
    fn dd_host_rgb_to_yuv(
        t: *const crate::video::frame::FromRgb,
        input: *const u8,
        in_pitch: i32,
        step: i32,
        f: *const YuvFrame,
    );
}

/// Y'CbCr frames both ways, in every matrix and range, at odd sizes (the 4:2:0 edges):
/// the kernels' code equals the CPU conversions byte for byte.
#[test]
fn kernel_yuv_conversions_equal_the_cpu_path() {
    use crate::video::frame::{Frame, FrameMut, Yuv, YuvMatrix, frame_to_photo, photo_to_frame};
    let (_, base) = &photos()[0];
    let Samples::U8(d) = &base.samples else {
        unreachable!()
    };
    // 301 x 199, cut from the photo: odd both ways.
    let (w, h) = (301usize, 199usize);
    let rgb: Vec<u8> = (0..h)
        .flat_map(|y| d[(y * base.width) * 3..][..w * 3].to_vec())
        .collect();
    let photo = Photo {
        width: w,
        height: h,
        channels: 3,
        samples: Samples::U8(rgb.clone()),
    };
    for format in [PixelFormat::I420, PixelFormat::Nv12, PixelFormat::Y444] {
        for matrix in [YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020] {
            for full_range in [false, true] {
                let yuv = Yuv { matrix, full_range };
                let (cw, ch) = if format == PixelFormat::Y444 {
                    (w, h)
                } else {
                    (w.div_ceil(2), h.div_ceil(2))
                };
                let strides = match format {
                    PixelFormat::Nv12 => [w + 3, 2 * cw + 5, 0],
                    _ => [w + 3, cw + 7, cw + 1],
                };
                let sizes = [strides[0] * h, strides[1] * ch, strides[2] * ch];
                // CPU: photo -> frame.
                let mut planes: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
                {
                    let [p0, p1, p2] = &mut planes[..] else {
                        unreachable!()
                    };
                    let mut f = FrameMut {
                        format,
                        width: w,
                        height: h,
                        planes: [p0, p1, p2],
                        strides,
                        yuv,
                    };
                    photo_to_frame(&photo, &mut f, None).expect("photo to frame");
                }
                // Kernel code: the same photo -> frame.
                let mut got: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
                let out = YuvFrame {
                    y: got[0].as_mut_ptr() as u64,
                    u: got[1].as_mut_ptr() as u64,
                    v: got[2].as_mut_ptr() as u64,
                    y_pitch: strides[0] as i32,
                    u_pitch: strides[1] as i32,
                    v_pitch: strides[2] as i32,
                    width: w as i32,
                    height: h as i32,
                    format: yuv_code(format).unwrap(),
                };
                let from = crate::video::frame::FromRgb::new(yuv);
                // SAFETY: host buffers of the stated shapes.
                unsafe { dd_host_rgb_to_yuv(&from, rgb.as_ptr(), (w * 3) as i32, 3, &out) };
                assert!(got == planes, "{format:?} {yuv:?}: RGB -> Y'CbCr differs");

                // And back: frame -> photo.
                let frame = Frame {
                    format,
                    width: w,
                    height: h,
                    planes: [&planes[0], &planes[1], &planes[2]],
                    strides,
                    yuv,
                };
                let mut want = Photo {
                    width: 0,
                    height: 0,
                    channels: 3,
                    samples: Samples::U8(Vec::new()),
                };
                frame_to_photo(&frame, &mut want).expect("frame to photo");
                let Samples::U8(want) = want.samples else {
                    unreachable!()
                };
                let input = YuvFrame {
                    y: planes[0].as_ptr() as u64,
                    u: planes[1].as_ptr() as u64,
                    v: planes[2].as_ptr() as u64,
                    ..out
                };
                let mut back = vec![0u8; w * h * 3];
                let to = crate::video::frame::ToRgb::new(yuv);
                // SAFETY: as above.
                unsafe { dd_host_yuv_to_rgb(&to, &input, back.as_mut_ptr(), (w * 3) as i32) };
                assert!(back == want, "{format:?} {yuv:?}: Y'CbCr -> RGB differs");
            }
        }
    }
}

unsafe extern "C" {
    fn dd_host_signature(
        luma: *const f32,
        width: i32,
        height: i32,
        sums: *mut f32,
        counts: *mut f32,
        hist: *mut u32,
    );
}

/// The scene signature from the kernels' sums equals `scene_signature`, also on luma with
/// values outside [0, 1] and a NaN (histogram edge cases).
#[test]
fn kernel_signature_sums_equal_the_cpu_signature() {
    use crate::video::temporal as t;
    let (_, base) = &photos()[0];
    for size in [40usize, 256] {
        let mut input = vec![0f32; 3 * size * size];
        crate::recipe::model_input(base, size, &mut input);
        let mut luma = input[..size * size].to_vec();
        luma[3] = -0.5;
        luma[7] = 1.7;
        for with_nan in [false, true] {
            if with_nan {
                luma[11] = f32::NAN;
            }
            let want = t::scene_signature(&luma, size, size);
            let got = smooth::Steps::signature(&mut HostSteps, &luma, size).expect("host steps");
            if with_nan {
                // A NaN makes every thumbnail value NaN on both sides; the histogram still counts.
                assert_eq!(got.hist(), want.hist(), "S={size} with NaN: histogram");
            } else {
                assert_eq!(got, want, "S={size}");
            }
        }
    }
}

unsafe extern "C" {
    fn dd_host_box_blur3(src: *const f32, size: i32, out: *mut f32);
    fn dd_host_diff_grid(cur: *const f32, prev: *const f32, size: i32, step: i32, out: *mut f32);
    fn dd_host_luma_change(
        cur: *const f32,
        prev: *const f32,
        size: i32,
        typical: f32,
        radius: i32,
        out: *mut f32,
    );
    fn dd_host_blend(
        ab: *mut f32,
        old_ab: *const f32,
        change: *const f32,
        size: i32,
        strength: f32,
        alpha: f32,
    );
}

/// The recursive smoother's steps as kernels (blur, the grid of differences, the luma
/// change, the blend) equal `temporal.rs` bit for bit on two frames of a panning photo,
/// a brightening exposure and an object moving in.
#[test]
fn kernel_smoothing_steps_equal_the_cpu_smoother() {
    use crate::video::temporal::{self as t, DEFAULT_MOTION_SENSITIVITY, DEFAULT_STRENGTH};
    let (_, base) = &photos()[0];
    for size in [64usize, 256] {
        let plane = size * size;
        let mut input = vec![0f32; 3 * plane];
        crate::recipe::model_input(base, size, &mut input);
        let l0 = input[..plane].to_vec();
        // The next frame: moved 2 pixels, 3 % brighter, with a bright square come in.
        let l1: Vec<f32> = (0..plane)
            .map(|i| {
                let (x, y) = (i % size, i / size);
                let v = l0[y * size + x.saturating_sub(2)] * 1.03;
                if (size / 4..size / 2).contains(&x) && (size / 4..size / 2).contains(&y) {
                    0.9
                } else {
                    v
                }
            })
            .collect();
        let ab0: Vec<f32> = (0..2 * plane)
            .map(|i| 60.0 * ((i % 97) as f32 * 0.13).sin())
            .collect();
        let ab1: Vec<f32> = (0..2 * plane)
            .map(|i| 55.0 * ((i % 89) as f32 * 0.11).cos())
            .collect();

        // CPU.
        let (mut b0, mut b1) = (Vec::new(), Vec::new());
        t::box_blur_3(&l0, size, &mut b0);
        t::box_blur_3(&l1, size, &mut b1);
        let (mut change, mut tmp) = (Vec::new(), Vec::new());
        t::luma_change(&b1, &b0, size, &mut change, &mut tmp);
        let mut want = ab1.clone();
        for i in 0..plane {
            let d = change[i];
            let w = DEFAULT_STRENGTH * (-DEFAULT_MOTION_SENSITIVITY * d * d).exp();
            let (a, b) = t::blend(want[i], want[plane + i], ab0[i], ab0[plane + i], w);
            want[i] = a;
            want[plane + i] = b;
        }

        // Kernels' code.
        let (mut k0, mut k1) = (vec![0f32; plane], vec![0f32; plane]);
        let n = size as i32;
        // SAFETY: host buffers of the stated sizes, here and below.
        unsafe {
            dd_host_box_blur3(l0.as_ptr(), n, k0.as_mut_ptr());
            dd_host_box_blur3(l1.as_ptr(), n, k1.as_mut_ptr());
        }
        assert!(k0 == b0 && k1 == b1, "S={size}: blur differs");
        let step = t::grid_step(size);
        let grid = size.div_ceil(step);
        let mut diffs = vec![0f32; grid * grid];
        unsafe { dd_host_diff_grid(k1.as_ptr(), k0.as_ptr(), n, step as i32, diffs.as_mut_ptr()) };
        let typical = t::median_of(&mut diffs);
        let mut kchange = vec![0f32; plane];
        unsafe {
            dd_host_luma_change(
                k1.as_ptr(),
                k0.as_ptr(),
                n,
                typical,
                t::CHANGE_RADIUS as i32,
                kchange.as_mut_ptr(),
            )
        };
        assert!(kchange == change, "S={size}: luma change differs");
        let mut got = ab1.clone();
        unsafe {
            dd_host_blend(
                got.as_mut_ptr(),
                ab0.as_ptr(),
                kchange.as_ptr(),
                n,
                DEFAULT_STRENGTH,
                DEFAULT_MOTION_SENSITIVITY,
            )
        };
        let diff = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(diff, 0, "S={size}: {diff} blended values differ");
    }
}

unsafe extern "C" {
    fn dd_host_half(src: *const f32, w: i32, h: i32, out: *mut f32);
    fn dd_host_resample(
        src: *const f32,
        sw: i32,
        sh: i32,
        dw: i32,
        dh: i32,
        scale: i32,
        out: *mut f32,
    );
    fn dd_host_normalise(src: *const f32, n: i32, out: *mut f32);
    fn dd_host_warp(src: *const f32, u: *const f32, v: *const f32, w: i32, h: i32, out: *mut f32);
    fn dd_host_gradients(
        a: *const f32,
        bw: *const f32,
        w: i32,
        h: i32,
        ix: *mut f32,
        iy: *mut f32,
        it: *mut f32,
    );
    fn dd_host_jacobi(
        u: *const f32,
        v: *const f32,
        u0: *const f32,
        v0: *const f32,
        ix: *const f32,
        iy: *const f32,
        it: *const f32,
        w: i32,
        h: i32,
        smoothness: f32,
        un: *mut f32,
        vn: *mut f32,
    );
    fn dd_host_occlusion(
        fu: *const f32,
        fv: *const f32,
        bu: *const f32,
        bv: *const f32,
        w: i32,
        h: i32,
        rel: f32,
        abs: f32,
        out: *mut f32,
    );
    fn dd_host_blend_flow(
        ab: *mut f32,
        old_ab: *const f32,
        change: *const f32,
        size: i32,
        strength: f32,
        alpha: f32,
        occluded: *const f32,
        f: i32,
    );
}

/// The kernels' host build as the smoother's steps.
struct HostSteps;

impl smooth::Steps for HostSteps {
    type Plane = Vec<f32>;
    fn plane(&mut self, len: usize) -> Result<Vec<f32>, GpuError> {
        Ok(vec![0.0; len])
    }
    fn len(p: &Vec<f32>) -> usize {
        p.len()
    }
    fn copy(&mut self, src: &Vec<f32>, dst: &mut Vec<f32>) -> Result<(), GpuError> {
        dst.copy_from_slice(src);
        Ok(())
    }
    fn blur(&mut self, src: &Vec<f32>, size: usize, out: &mut Vec<f32>) -> Result<(), GpuError> {
        // SAFETY: host planes of size x size.
        unsafe { dd_host_box_blur3(src.as_ptr(), size as i32, out.as_mut_ptr()) };
        Ok(())
    }
    fn signature(
        &mut self,
        luma: &Vec<f32>,
        size: usize,
    ) -> Result<crate::video::temporal::SceneSignature, GpuError> {
        use crate::video::temporal::{HIST_BINS, THUMB};
        let (mut sums, mut counts, mut hist) = (
            vec![0f32; THUMB * THUMB],
            vec![0f32; THUMB * THUMB],
            [0u32; HIST_BINS],
        );
        // SAFETY: host buffers of the stated sizes.
        unsafe {
            dd_host_signature(
                luma.as_ptr(),
                size as i32,
                size as i32,
                sums.as_mut_ptr(),
                counts.as_mut_ptr(),
                hist.as_mut_ptr(),
            )
        };
        Ok(crate::video::temporal::signature_from_sums(
            sums,
            &counts,
            hist.map(|c| c as f32),
            size * size,
        ))
    }
    fn typical_change(
        &mut self,
        cur: &Vec<f32>,
        prev: &Vec<f32>,
        size: usize,
    ) -> Result<f32, GpuError> {
        let step = crate::video::temporal::grid_step(size);
        let g = size.div_ceil(step);
        let mut diffs = vec![0f32; g * g];
        // SAFETY: as above.
        unsafe {
            dd_host_diff_grid(
                cur.as_ptr(),
                prev.as_ptr(),
                size as i32,
                step as i32,
                diffs.as_mut_ptr(),
            )
        };
        Ok(crate::video::temporal::median_of(&mut diffs))
    }
    fn luma_change(
        &mut self,
        cur: &Vec<f32>,
        prev: &Vec<f32>,
        size: usize,
        typical: f32,
        out: &mut Vec<f32>,
    ) -> Result<(), GpuError> {
        // SAFETY: as above.
        unsafe {
            dd_host_luma_change(
                cur.as_ptr(),
                prev.as_ptr(),
                size as i32,
                typical,
                crate::video::temporal::CHANGE_RADIUS as i32,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }
    fn half(
        &mut self,
        src: &Vec<f32>,
        w: usize,
        h: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), GpuError> {
        assert!(src.len() >= w * h && out.len() >= w.div_ceil(2) * h.div_ceil(2));
        // SAFETY: host planes of the sizes checked above, here and below.
        unsafe { dd_host_half(src.as_ptr(), w as i32, h as i32, out.as_mut_ptr()) };
        Ok(())
    }
    fn resample(
        &mut self,
        src: &Vec<f32>,
        sw: usize,
        sh: usize,
        dw: usize,
        dh: usize,
        scale: i32,
        out: &mut Vec<f32>,
    ) -> Result<(), GpuError> {
        assert!(src.len() >= sw * sh && out.len() >= dw * dh);
        unsafe {
            dd_host_resample(
                src.as_ptr(),
                sw as i32,
                sh as i32,
                dw as i32,
                dh as i32,
                scale,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }
    fn normalise(&mut self, src: &Vec<f32>, n: usize, out: &mut Vec<f32>) -> Result<(), GpuError> {
        assert!(src.len() >= n && out.len() >= n);
        unsafe { dd_host_normalise(src.as_ptr(), n as i32, out.as_mut_ptr()) };
        Ok(())
    }
    fn warp(
        &mut self,
        src: &Vec<f32>,
        src_at: usize,
        u: &Vec<f32>,
        v: &Vec<f32>,
        w: usize,
        h: usize,
        out: &mut Vec<f32>,
        out_at: usize,
    ) -> Result<(), GpuError> {
        let n = w * h;
        assert!(src.len() >= src_at + n && out.len() >= out_at + n);
        assert!(u.len() >= n && v.len() >= n);
        unsafe {
            dd_host_warp(
                src[src_at..].as_ptr(),
                u.as_ptr(),
                v.as_ptr(),
                w as i32,
                h as i32,
                out[out_at..].as_mut_ptr(),
            )
        };
        Ok(())
    }
    fn gradients(
        &mut self,
        a: &Vec<f32>,
        bw: &Vec<f32>,
        w: usize,
        h: usize,
        g: &mut [Vec<f32>; 3],
    ) -> Result<(), GpuError> {
        let n = w * h;
        assert!(a.len() >= n && bw.len() >= n && g.iter().all(|p| p.len() >= n));
        let [ix, iy, it] = g;
        unsafe {
            dd_host_gradients(
                a.as_ptr(),
                bw.as_ptr(),
                w as i32,
                h as i32,
                ix.as_mut_ptr(),
                iy.as_mut_ptr(),
                it.as_mut_ptr(),
            )
        };
        Ok(())
    }
    fn jacobi(
        &mut self,
        uv: &[Vec<f32>; 2],
        uv0: &[Vec<f32>; 2],
        g: &[Vec<f32>; 3],
        w: usize,
        h: usize,
        smoothness: f32,
        out: &mut [Vec<f32>; 2],
    ) -> Result<(), GpuError> {
        let n = w * h;
        assert!(
            uv.iter()
                .chain(uv0)
                .chain(g)
                .chain(out.iter())
                .all(|p| p.len() >= n)
        );
        let [un, vn] = out;
        unsafe {
            dd_host_jacobi(
                uv[0].as_ptr(),
                uv[1].as_ptr(),
                uv0[0].as_ptr(),
                uv0[1].as_ptr(),
                g[0].as_ptr(),
                g[1].as_ptr(),
                g[2].as_ptr(),
                w as i32,
                h as i32,
                smoothness,
                un.as_mut_ptr(),
                vn.as_mut_ptr(),
            )
        };
        Ok(())
    }
    fn occlusion(
        &mut self,
        f: &[Vec<f32>; 2],
        b: &[Vec<f32>; 2],
        w: usize,
        h: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), GpuError> {
        let n = w * h;
        assert!(f.iter().chain(b).all(|p| p.len() >= n) && out.len() >= n);
        let t = crate::video::temporal::OCCLUSION;
        unsafe {
            dd_host_occlusion(
                f[0].as_ptr(),
                f[1].as_ptr(),
                b[0].as_ptr(),
                b[1].as_ptr(),
                w as i32,
                h as i32,
                t.mismatch_rel,
                t.mismatch_abs,
                out.as_mut_ptr(),
            )
        };
        Ok(())
    }
    fn blend_flow(
        &mut self,
        ab: &mut Vec<f32>,
        old_ab: &Vec<f32>,
        change: &Vec<f32>,
        size: usize,
        strength: f32,
        alpha: f32,
        occluded: &Vec<f32>,
        f: usize,
    ) -> Result<(), GpuError> {
        let plane = size * size;
        assert!(ab.len() >= 2 * plane && old_ab.len() >= 2 * plane);
        assert!(change.len() >= plane && occluded.len() >= f * f);
        unsafe {
            dd_host_blend_flow(
                ab.as_mut_ptr(),
                old_ab.as_ptr(),
                change.as_ptr(),
                size as i32,
                strength,
                alpha,
                occluded.as_ptr(),
                f as i32,
            )
        };
        Ok(())
    }
    fn blend(
        &mut self,
        ab: &mut Vec<f32>,
        old_ab: &Vec<f32>,
        change: &Vec<f32>,
        size: usize,
        strength: f32,
        alpha: f32,
    ) -> Result<(), GpuError> {
        // SAFETY: as above.
        unsafe {
            dd_host_blend(
                ab.as_mut_ptr(),
                old_ab.as_ptr(),
                change.as_ptr(),
                size as i32,
                strength,
                alpha,
            )
        };
        Ok(())
    }
}

/// The GPU smoother's orchestration, run with the kernels' host build, gives the CPU
/// smoother's output bit for bit over a sequence with motion, an exposure change, a cut, a
/// reset and a change of settings, in both modes: `flow` at model sizes where the flow runs
/// at the model size (64), is resampled to 128 (160) and is halved to it (256).
#[test]
fn gpu_smoother_equals_the_cpu_smoother_in_both_modes() {
    use crate::video::temporal::TemporalMode;
    smoother_sequence(TemporalMode::Recursive, 128);
    smoother_sequence(TemporalMode::Flow, 160);
    smoother_sequence(TemporalMode::Flow, 256);
}

fn smoother_sequence(mode: crate::video::temporal::TemporalMode, big: usize) {
    use crate::video::temporal::{Smoother, TemporalMode, TemporalSettings};
    let all = photos();
    let luma_of = |p: &Photo, size: usize, shift: usize, gain: f32| -> Vec<f32> {
        let plane = size * size;
        let mut input = vec![0f32; 3 * plane];
        crate::recipe::model_input(p, size, &mut input);
        (0..plane)
            .map(|i| input[(i / size) * size + (i % size).saturating_sub(shift)] * gain)
            .collect()
    };
    // (photo, shift, exposure, reset before it, model size)
    let frames = [
        (0, 0, 1.0, false, 64),
        (0, 1, 1.0, false, 64),
        (0, 2, 1.04, false, 64),
        (1, 0, 1.0, false, 64), // a cut
        (1, 1, 1.0, false, 64),
        (1, 2, 1.0, true, 64), // a reset (seek)
        (1, 3, 0.97, false, 64),
        (1, 4, 1.0, false, big), // a new size: starts afresh
        (1, 5, 1.0, false, big), // (a grid step of 2 for the median)
        (1, 6, 1.0, false, big), // after off and back on: starts afresh
        (1, 7, 1.0, false, big),
    ];
    let settings = TemporalSettings {
        mode,
        ..Default::default()
    };
    let mut cpu = Smoother::new(settings);
    let mut gpu = smooth::GpuSmoother::new(settings);
    let mut steps = HostSteps;
    for (k, &(photo, shift, gain, reset, size)) in frames.iter().enumerate() {
        let plane = size * size;
        if reset {
            cpu.reset();
            gpu.reset();
        }
        if k == 6 {
            // Settings change while playing.
            let s = TemporalSettings {
                strength: 0.7,
                motion_sensitivity: 120.0,
                ..settings
            };
            cpu.set_settings(s);
            gpu.set_settings(s);
        }
        if k == 9 {
            let off = TemporalSettings {
                mode: TemporalMode::Off,
                ..settings
            };
            cpu.set_settings(off);
            gpu.set_settings(off);
            cpu.set_settings(settings);
            gpu.set_settings(settings);
        }
        let luma = luma_of(&all[photo].1, size, shift, gain);
        let ab: Vec<f32> = (0..2 * plane)
            .map(|i| 50.0 * ((i % 71) as f32 * 0.09 + k as f32).sin())
            .collect();
        let (mut want, mut got) = (ab.clone(), ab.clone());
        let a = cpu.apply(&luma, &mut want, size);
        let b = gpu
            .apply(&mut steps, &luma, &mut got, size)
            .expect("host steps");
        assert_eq!(
            (a.cut, a.cut_score.to_bits()),
            (b.cut, b.cut_score.to_bits()),
            "frame {k}: cut"
        );
        let diff = got
            .iter()
            .zip(&want)
            .filter(|(x, y)| x.to_bits() != y.to_bits())
            .count();
        assert_eq!(diff, 0, "{mode} S={size} frame {k}: {diff} values differ");
        // Which frames blend with the past, and which start afresh.
        let fresh = matches!(k, 0 | 3 | 5 | 7 | 9);
        assert_eq!(a.cut, k == 3, "frame {k}: cut");
        assert_eq!(got == ab, fresh, "{mode} frame {k}: blended {}", !fresh);
    }
}

fn host_pointer_tables() -> Tables {
    let h = host_tables();
    let p = |s: &[u8]| s.as_ptr() as u64;
    Tables {
        lut: p(as_bytes(h.lut)),
        weights: p(as_bytes(h.weights)),
        unit: p(as_bytes(h.unit)),
        coord: p(as_bytes(h.coord)),
        grey_l: p(as_bytes(h.grey_l)),
        grey_rgb: p(as_bytes(h.grey_rgb.as_flattened())),
        xyz2rgb: p(as_bytes(h.xyz2rgb)),
        enc_base: p(h.enc_base),
        enc_thresholds: p(as_bytes(h.enc_thresholds)),
    }
}

/// A photo in a packed format: the photo's RGB(A) bytes moved to the layout's offsets,
/// rows padded to a pitch that is not the row size (as GPU frames are).
fn packed(photo: &Photo, layout: Layout) -> (Vec<u8>, i32) {
    let Samples::U8(data) = &photo.samples else {
        panic!("8-bit photos only")
    };
    let pitch = photo.width * layout.step as usize + 13;
    let mut out = vec![0xa5u8; pitch * photo.height];
    let c = photo.channels;
    for y in 0..photo.height {
        for x in 0..photo.width {
            let px = &data[(y * photo.width + x) * c..][..c];
            let o = &mut out[y * pitch + x * layout.step as usize..];
            if c >= 3 {
                o[layout.r as usize] = px[0];
                o[layout.g as usize] = px[1];
                o[layout.b as usize] = px[2];
            } else {
                o[0] = px[0];
            }
            if layout.a >= 0 {
                o[layout.a as usize] = if c == 4 { px[3] } else { 255 };
            }
        }
    }
    (out, pitch as i32)
}

fn photos() -> Vec<(String, Photo)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/media/photos/kodak");
    let mut out = Vec::new();
    for name in ["kodim03.png", "kodim23.png"] {
        let p = crate::files::codecs::read_photo(&dir.join(name), u64::MAX).expect("test photo");
        out.push((name.to_string(), p));
    }
    // A grey photo, one with alpha, and one exactly twice the model size (OpenCV's area path).
    let base = out[0].1.clone();
    let Samples::U8(d) = &base.samples else {
        unreachable!()
    };
    let grey: Vec<u8> = d.chunks_exact(3).map(|p| p[1]).collect();
    out.push((
        "grey".into(),
        Photo {
            width: base.width,
            height: base.height,
            channels: 1,
            samples: Samples::U8(grey),
        },
    ));
    let rgba: Vec<u8> = d
        .chunks_exact(3)
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], (i * 7) as u8])
        .collect();
    out.push((
        "rgba".into(),
        Photo {
            width: base.width,
            height: base.height,
            channels: 4,
            samples: Samples::U8(rgba),
        },
    ));
    let twice: Vec<u8> = d[..128 * base.width * 3]
        .chunks_exact(base.width * 3)
        .flat_map(|row| row[..128 * 3].to_vec())
        .collect();
    out.push((
        "128x128".into(),
        Photo {
            width: 128,
            height: 128,
            channels: 3,
            samples: Samples::U8(twice),
        },
    ));
    out
}

fn layout_for(photo: &Photo) -> Vec<(&'static str, Layout)> {
    let all = [
        ("RGB", PixelFormat::Rgb),
        ("BGRx", PixelFormat::Bgrx),
        ("RGBA", PixelFormat::Rgba),
        ("BGRA", PixelFormat::Bgra),
    ];
    match photo.channels {
        1 => vec![("GRAY8", Layout::of(PixelFormat::Gray8).unwrap())],
        4 => vec![
            ("RGBA", Layout::of(PixelFormat::Rgba).unwrap()),
            ("BGRA", Layout::of(PixelFormat::Bgra).unwrap()),
        ],
        _ => all
            .iter()
            .filter(|(_, f)| !f.has_alpha())
            .map(|&(n, f)| (n, Layout::of(f).unwrap()))
            .collect(),
    }
}

/// The kernels' code, built for the host, gives the CPU path's model input bit for bit, for
/// every packed layout, grey, alpha and the exact-2x case.
#[test]
fn kernel_model_input_equals_the_cpu_path() {
    let tables = host_pointer_tables();
    for (name, photo) in photos() {
        for size in [64, 256] {
            let mut want = vec![0f32; 3 * size * size];
            crate::recipe::model_input(&photo, size, &mut want);
            for (lname, layout) in layout_for(&photo) {
                let (bytes, pitch) = packed(&photo, layout);
                let frame = FrameIn {
                    data: bytes.as_ptr() as u64,
                    pitch,
                    width: photo.width as i32,
                    height: photo.height as i32,
                    layout,
                };
                let (xt, yt, area) = input_geometry(photo.width, photo.height, size);
                let mut got = vec![0f32; 3 * size * size];
                // SAFETY: host pointers to live buffers of the stated shapes.
                unsafe {
                    dd_host_model_input(
                        &tables,
                        &frame,
                        xt.as_ptr(),
                        yt.as_ptr(),
                        size as i32,
                        area as i32,
                        got.as_mut_ptr(),
                    )
                };
                let diff = want
                    .iter()
                    .zip(&got)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(
                    diff, 0,
                    "{name} as {lname} at S={size}: {diff} values differ"
                );
            }
        }
    }
}

/// The same for the recombination, bilinear and nearest, with chroma that covers the gamut
/// and beyond (so clipping is exercised).
#[test]
fn kernel_recombine_equals_the_cpu_path() {
    let tables = host_pointer_tables();
    let size = 48;
    let plane = size * size;
    let ab: Vec<f32> = (0..2 * plane)
        .map(|i| {
            let (k, j) = (i / plane, i % plane);
            let (x, y) = ((j % size) as f32, (j / size) as f32);
            if k == 0 {
                110.0 * (x * 0.31 + y * 0.07).sin()
            } else {
                110.0 * (y * 0.23 - x * 0.11).cos()
            }
        })
        .collect();
    for (name, photo) in photos() {
        for upsample in [Upsample::Bilinear, Upsample::Nearest] {
            let want = crate::recipe::recombine(&photo, &ab, size, upsample);
            let Samples::U8(want_bytes) = &want.samples else {
                unreachable!()
            };
            for (lname, layout) in layout_for(&photo) {
                let (bytes, pitch) = packed(&photo, layout);
                let frame = FrameIn {
                    data: bytes.as_ptr() as u64,
                    pitch,
                    width: photo.width as i32,
                    height: photo.height as i32,
                    layout,
                };
                // Out: RGB(A) in the photo's own order, so it compares with `want` as is.
                let out_layout = Layout {
                    step: want.channels as i32,
                    r: 0,
                    g: 1,
                    b: 2,
                    a: if want.channels == 4 { 3 } else { -1 },
                };
                let mut got = vec![0u8; want_bytes.len()];
                let out = FrameOut {
                    data: got.as_mut_ptr() as u64,
                    pitch: (photo.width * want.channels) as i32,
                    layout: out_layout,
                };
                let (xt, yt, nearest) =
                    upsample_geometry(size, photo.width, photo.height, upsample).unwrap();
                // SAFETY: host pointers to live buffers of the stated shapes.
                unsafe {
                    dd_host_recombine(
                        &tables,
                        &frame,
                        ab.as_ptr(),
                        size as i32,
                        xt.as_ptr(),
                        yt.as_ptr(),
                        nearest as i32,
                        &out,
                    )
                };
                let diff = want_bytes.iter().zip(&got).filter(|(a, b)| a != b).count();
                assert_eq!(
                    diff, 0,
                    "{name} as {lname}, {upsample:?}: {diff} bytes differ"
                );
                // Straight into every packed output format (what the element writes):
                // the CPU's recombination then `photo_to_frame`, x bytes and alpha
                // included.
                for format in [
                    PixelFormat::Rgb,
                    PixelFormat::Bgr,
                    PixelFormat::Rgba,
                    PixelFormat::Bgra,
                    PixelFormat::Rgbx,
                    PixelFormat::Bgrx,
                ] {
                    let layout = Layout::of(format).expect("packed");
                    let row = photo.width * layout.step as usize;
                    let pitch = row + 5;
                    let mut cpu = vec![0x5au8; pitch * photo.height];
                    {
                        let (p1, p2) = (&mut [][..], &mut [][..]);
                        let mut f = crate::video::frame::FrameMut {
                            format,
                            width: photo.width,
                            height: photo.height,
                            planes: [&mut cpu[..], p1, p2],
                            strides: [pitch, 0, 0],
                            yuv: Default::default(),
                        };
                        crate::video::frame::photo_to_frame(&want, &mut f, None).expect("to frame");
                    }
                    let mut gpu = vec![0x5au8; pitch * photo.height];
                    let out = FrameOut {
                        data: gpu.as_mut_ptr() as u64,
                        pitch: pitch as i32,
                        layout,
                    };
                    // SAFETY: as above.
                    unsafe {
                        dd_host_recombine(
                            &tables,
                            &frame,
                            ab.as_ptr(),
                            size as i32,
                            xt.as_ptr(),
                            yt.as_ptr(),
                            nearest as i32,
                            &out,
                        )
                    };
                    let diff = (0..photo.height)
                        .flat_map(|y| (0..row).map(move |x| y * pitch + x))
                        .filter(|&i| cpu[i] != gpu[i])
                        .count();
                    assert_eq!(diff, 0, "{name} {lname} -> {format:?}: {diff} bytes differ");
                }
            }
        }
    }
}

/// NVRTC accepts the kernels (no GPU needed). `make test` installs NVRTC (PyPI
/// nvidia-cuda-nvrtc) and sets DDCOLOR_REQUIRE_NVRTC, so there this cannot be skipped.
#[test]
fn nvrtc_compiles_the_kernels() {
    if !nvrtc_present() {
        assert!(
            std::env::var_os("DDCOLOR_REQUIRE_NVRTC").is_none(),
            "DDCOLOR_REQUIRE_NVRTC is set but libnvrtc.so.13 cannot be loaded (looked in {:?} and the system's search path)",
            nvrtc_candidates()
        );
        skipped(
            "nvrtc_compiles_the_kernels",
            &"no libnvrtc (install PyPI nvidia-cuda-nvrtc, see Makefile)",
        );
        return;
    }
    for arch in ["compute_75", "compute_90"] {
        let ptx = compile_ptx_with_opts(KERNELS, compile_options(Some(arch)))
            .unwrap_or_else(|e| panic!("{arch}: {e}"));
        let src = ptx.to_src();
        for entry in [
            "dd_model_input",
            "dd_recombine",
            "dd_yuv_to_rgb",
            "dd_rgb_to_yuv",
            "dd_box_blur3",
            "dd_diff_grid",
            "dd_luma_change",
            "dd_blend",
            "dd_signature_cells",
            "dd_signature_hist",
            "dd_half",
            "dd_resample",
            "dd_norm_stats_k",
            "dd_norm_apply",
            "dd_warp",
            "dd_gradients",
            "dd_jacobi",
            "dd_occlusion",
            "dd_blend_flow",
        ] {
            assert!(
                src.contains(&format!(".entry {entry}")),
                "{arch}: no entry {entry}"
            );
        }
        // No fused multiply-add may appear, single or double: the CPU path rounds every
        // product. Except in `dd_blend` and `dd_blend_flow`, where expf's own code uses
        // explicit ones (expf is the one function allowed to differ from the CPU's, by an
        // ulp or two).
        let bodies: Vec<&str> = src.split(".entry ").skip(1).collect();
        for body in bodies.iter().filter(|b| !b.starts_with("dd_blend")) {
            let name = body
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or("?");
            assert!(
                !body.contains("fma.rn.f32") && !body.contains("fma.rn.f64"),
                "{arch}: {name} fuses multiply-adds"
            );
        }
        assert_eq!(bodies.len(), 19, "{arch}: expected 19 kernels");
    }
}

/// Says a test was skipped where `cargo test` shows it: straight to stderr, which libtest
/// does not capture (it captures `eprintln!`).
fn skipped(test: &str, why: &dyn std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether this machine can run the GPU tests: the libraries load and a GPU is there, and
/// the ONNX Runtime library has CUDA. Anything else that fails later is a failure.
///
/// With `DDCOLOR_REQUIRE_GPU` set (to anything but empty or `0`), as on a machine that has a
/// GPU, a test that cannot run fails instead of skipping, as the integration tests do.
fn gpu_here(test: &str, needs_gpu_model: bool) -> bool {
    let skipped = |test: &str, why: &dyn std::fmt::Display| {
        let required =
            std::env::var_os("DDCOLOR_REQUIRE_GPU").is_some_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required,
            "{test}: DDCOLOR_REQUIRE_GPU is set, but it cannot run: {why}"
        );
        skipped(test, why);
    };
    if let Err(e) = libraries_present() {
        skipped(test, &e);
        return false;
    }
    match CudaContext::device_count() {
        Ok(n) if n > 0 => {}
        Ok(_) => {
            skipped(test, &"no CUDA device");
            return false;
        }
        Err(e) => {
            skipped(test, &e);
            return false;
        }
    }
    if needs_gpu_model {
        crate::inference::model::environment().expect("ONNX Runtime");
        if !crate::inference::device::support().cuda {
            skipped(test, &crate::inference::device::NO_CUDA_BUILD);
            return false;
        }
    }
    true
}

fn test_model(device: crate::inference::device::Device) -> crate::Result<crate::Model> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/generated/test-dynamic.onnx");
    crate::Model::load(
        &path,
        &crate::ModelOptions {
            input_size: Some(256),
            device,
            ..Default::default()
        },
    )
}

#[test]
fn a_model_on_the_cpu_has_no_gpu_buffers() {
    let model =
        test_model(crate::inference::device::Device::Cpu).expect("test model (make test-data)");
    let e = model.device_io(1).err().expect("no GPU buffers on the CPU");
    assert!(e.to_string().contains("runs on the CPU"), "{e}");
}

/// The whole recipe on a real GPU (kernels, bound model input and output) against the CPU
/// path: within 1 level (the model itself may round differently on the GPU). Skipped,
/// visibly, without a GPU or without the GPU build of ONNX Runtime.
#[test]
fn gpu_colorizer_equals_the_cpu_path_within_one_level() {
    if !gpu_here("gpu_colorizer_equals_the_cpu_path_within_one_level", true) {
        return;
    }
    let mut gpu_model =
        test_model(crate::inference::device::Device::Cuda).expect("model on the GPU");
    let mut cpu_model = test_model(crate::inference::device::Device::Cpu).expect("test model");
    let mut gpu = GpuColorizer::new(&gpu_model, 1, Upsample::Bilinear).expect("GPU colorizer");
    for (name, photo) in photos() {
        let got = gpu
            .colorize_photo(&mut gpu_model, &photo)
            .expect("GPU colorize");
        let want =
            crate::colorize(&mut cpu_model, &photo, Upsample::Bilinear).expect("CPU colorize");
        let (Samples::U8(g), Samples::U8(w)) = (&got.samples, &want.samples) else {
            unreachable!()
        };
        assert_eq!(g.len(), w.len(), "{name}");
        let worst = g
            .iter()
            .zip(w)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0);
        assert!(worst <= 1, "{name}: off by {worst} levels");
    }
    assert_eq!(
        (gpu.uploads, gpu.downloads),
        (5, 5),
        "one upload and one download per photo"
    );
}

/// Video frames through [`frames::GpuFrames`] (what the element runs), in every input and
/// output format, in host memory and in GPU memory, against the CPU path (frame -> photo,
/// colorize, photo -> frame): within 1 level, and the host copies counted are one upload
/// and one download per frame for host memory, none for GPU memory. Skipped, visibly,
/// without a GPU.
#[test]
fn gpu_frames_in_every_format_equal_the_cpu_path_within_one_level() {
    use crate::video::frame::{Frame, FrameMut, Yuv, YuvMatrix, frame_to_photo, photo_to_frame};
    use frames::{GpuFrames, Memory, Planes};
    if !gpu_here(
        "gpu_frames_in_every_format_equal_the_cpu_path_within_one_level",
        true,
    ) {
        return;
    }
    let (_, base) = &photos()[0];
    let Samples::U8(d) = &base.samples else {
        unreachable!()
    };
    let (w, h) = (301usize, 199usize);
    let photo = Photo {
        width: w,
        height: h,
        channels: 3,
        samples: Samples::U8(
            (0..h)
                .flat_map(|y| d[y * base.width * 3..][..w * 3].to_vec())
                .collect(),
        ),
    };
    let yuv = Yuv {
        matrix: YuvMatrix::Bt601,
        full_range: false,
    };
    // Planes of `format`, with padded pitches.
    let alloc = |format: PixelFormat| -> (Vec<Vec<u8>>, [usize; 3]) {
        let shapes = format.plane_shapes(w, h).expect("shape");
        let pitch = shapes.map(|(row, _)| if row == 0 { 0 } else { row + 11 });
        (
            (0..3).map(|i| vec![0u8; pitch[i] * shapes[i].1]).collect(),
            pitch,
        )
    };
    let to_frame = |p: &Photo, format: PixelFormat| {
        let (mut planes, pitch) = alloc(format);
        let [p0, p1, p2] = &mut planes[..] else {
            unreachable!()
        };
        let mut f = FrameMut {
            format,
            width: w,
            height: h,
            planes: [p0, p1, p2],
            strides: pitch,
            yuv,
        };
        photo_to_frame(p, &mut f, None).expect("photo to frame");
        (planes, pitch)
    };
    let mut gpu_model =
        test_model(crate::inference::device::Device::Cuda).expect("model on the GPU");
    let sizes = crate::recipe::plan::Sizes::new(
        crate::recipe::plan::SizeRule::Fixed(gpu_model.input_size()),
        true,
    );
    let mut cpu_model = test_model(crate::inference::device::Device::Cpu).expect("test model");
    let mut gpu = GpuFrames::new(&gpu_model, 1, Upsample::Bilinear).expect("GPU frames");
    let stream = gpu.colorizer().recipe().stream().clone();
    use PixelFormat as P;
    for input in [P::Rgb, P::Bgrx, P::Rgba, P::I420, P::Nv12, P::Y444] {
        let (in_planes, in_pitch) = to_frame(&photo, input);
        // The CPU path, as the element runs it.
        let mut read = Photo {
            width: 0,
            height: 0,
            channels: 3,
            samples: Samples::U8(Vec::new()),
        };
        let frame = Frame {
            format: input,
            width: w,
            height: h,
            planes: [&in_planes[0], &in_planes[1], &in_planes[2]],
            strides: in_pitch,
            yuv,
        };
        frame_to_photo(&frame, &mut read).expect("frame to photo");
        let colour =
            crate::colorize(&mut cpu_model, &read, Upsample::Bilinear).expect("CPU colorize");
        for output in [P::Rgba, P::Bgrx, P::Rgb, P::I420, P::Nv12, P::Y444] {
            let (want, out_pitch) = to_frame(&colour, output);
            for memory in [Memory::Host, Memory::Device] {
                let (ups, downs) = (gpu.uploads, gpu.downloads);
                let (mut got, _) = alloc(output);
                // (Unused planes get a byte: zero-size allocations fail on some GPUs.)
                let dev_in: Vec<CudaSlice<u8>> = in_planes
                    .iter()
                    .map(|p| {
                        if p.is_empty() {
                            stream.alloc_zeros::<u8>(1).expect("alloc")
                        } else {
                            stream.clone_htod(&p[..]).expect("upload")
                        }
                    })
                    .collect();
                let dev_out: Vec<CudaSlice<u8>> = got
                    .iter()
                    .map(|p| stream.alloc_zeros::<u8>(p.len().max(1)).expect("alloc"))
                    .collect();
                let addr = |i: usize, host: &[Vec<u8>], dev: &[CudaSlice<u8>]| -> u64 {
                    if host[i].is_empty() {
                        0
                    } else if memory == Memory::Host {
                        host[i].as_ptr() as u64
                    } else {
                        use cudarc::driver::DevicePtr;
                        dev[i].device_ptr(&stream).0
                    }
                };
                let src = Planes {
                    format: input,
                    width: w,
                    height: h,
                    yuv,
                    memory,
                    data: [0, 1, 2].map(|i| addr(i, &in_planes, &dev_in)),
                    pitch: in_pitch,
                };
                let got_addr = [0, 1, 2].map(|i| addr(i, &got, &dev_out));
                let dst = Planes {
                    format: output,
                    data: got_addr,
                    pitch: out_pitch,
                    ..src
                };
                // SAFETY: the planes are live buffers of the stated shapes.
                unsafe { gpu.push(&src, false) }.expect("push");
                gpu.run(&mut gpu_model, &sizes, output).expect("run");
                unsafe { gpu.write(0, &dst) }.expect("write");
                if memory == Memory::Device {
                    for (g, dev) in got.iter_mut().zip(&dev_out) {
                        if !g.is_empty() {
                            stream.memcpy_dtoh(dev, &mut g[..]).expect("download");
                        }
                    }
                    stream.synchronize().expect("sync");
                }
                let copies = u64::from(memory == Memory::Host);
                assert_eq!(
                    (gpu.uploads - ups, gpu.downloads - downs),
                    (copies, copies),
                    "{input:?} -> {output:?} in {memory:?} memory: host copies"
                );
                let shapes = output.plane_shapes(w, h).expect("shape");
                for i in 0..3 {
                    for y in 0..shapes[i].1 {
                        let r = y * out_pitch[i]..y * out_pitch[i] + shapes[i].0;
                        let worst = want[i][r.clone()]
                            .iter()
                            .zip(&got[i][r])
                            .map(|(a, b)| a.abs_diff(*b))
                            .max()
                            .unwrap_or(0);
                        assert!(
                            worst <= 1,
                            "{input:?} -> {output:?} in {memory:?} memory: plane {i} row {y} off by {worst}"
                        );
                    }
                }
            }
        }
    }
}

/// Temporal smoothing between the GPU model and the recombination kernel gives the CPU
/// path's frames (within 1 level) over a short sequence. Skipped, visibly, without a GPU.
#[test]
fn gpu_smoothing_equals_the_cpu_path_within_one_level() {
    use crate::video::temporal::{Smoother, TemporalMode, TemporalSettings};
    if !gpu_here("gpu_smoothing_equals_the_cpu_path_within_one_level", true) {
        return;
    }
    let mut gpu_model =
        test_model(crate::inference::device::Device::Cuda).expect("model on the GPU");
    let mut cpu_model = test_model(crate::inference::device::Device::Cpu).expect("test model");
    let mut gpu = GpuColorizer::new(&gpu_model, 1, Upsample::Bilinear).expect("GPU colorizer");
    let (_, base) = &photos()[0];
    let Samples::U8(d) = &base.samples else {
        unreachable!()
    };
    for mode in [TemporalMode::Recursive, TemporalMode::Flow] {
        let settings = TemporalSettings {
            mode,
            ..Default::default()
        };
        let mut on_cpu = Smoother::new(settings);
        gpu.set_temporal(settings);
        for shift in 0..4usize {
            // The photo panning 3 pixels a frame.
            let w = base.width - 12;
            let data: Vec<u8> = (0..base.height)
                .flat_map(|y| d[(y * base.width + 3 * shift) * 3..][..w * 3].to_vec())
                .collect();
            let frame = Photo {
                width: w,
                height: base.height,
                channels: 3,
                samples: Samples::U8(data),
            };
            let got = gpu.colorize_photo(&mut gpu_model, &frame).expect("GPU");
            let s = cpu_model.input_size();
            let mut input = vec![0f32; 3 * s * s];
            crate::recipe::model_input(&frame, s, &mut input);
            let mut ab = Vec::new();
            cpu_model.run(&input, 1, &mut ab).expect("CPU model");
            on_cpu.apply(&input[..s * s], &mut ab, s);
            let want = crate::recipe::recombine(&frame, &ab, s, Upsample::Bilinear);
            let (Samples::U8(g), Samples::U8(w)) = (&got.samples, &want.samples) else {
                unreachable!()
            };
            let worst = g
                .iter()
                .zip(w)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap_or(0);
            assert!(worst <= 1, "{mode} frame {shift}: off by {worst} levels");
        }
    }
}

/// The launches on a real GPU against the CPU path. Skipped, visibly, without one.
#[test]
fn gpu_kernels_equal_the_cpu_path() {
    if !gpu_here("gpu_kernels_equal_the_cpu_path", false) {
        return;
    }
    let mut gpu = GpuRecipe::new(0).expect("GPU recipe");
    let size = 256;
    for (name, photo) in photos() {
        let layout = layout_for(&photo)[0].1;
        let (bytes, pitch) = packed(&photo, layout);
        let stream = gpu.stream().clone();
        let dev_frame = stream.clone_htod(&bytes).expect("upload");
        let mut dev_input = stream.alloc_zeros::<f32>(3 * size * size).expect("alloc");
        let frame_ptr = {
            use cudarc::driver::DevicePtr;
            dev_frame.device_ptr(&stream).0
        };
        let input_ptr = {
            use cudarc::driver::DevicePtrMut;
            dev_input.device_ptr_mut(&stream).0
        };
        let frame = FrameIn {
            data: frame_ptr,
            pitch,
            width: photo.width as i32,
            height: photo.height as i32,
            layout,
        };
        // SAFETY: device buffers of the stated shapes, alive until the synchronisation.
        unsafe { gpu.model_input(&frame, size, input_ptr) }.expect("model input kernel");
        let got = stream.clone_dtoh(&dev_input).expect("download");
        let mut want = vec![0f32; 3 * size * size];
        crate::recipe::model_input(&photo, size, &mut want);
        assert_eq!(got, want, "{name}: model input");

        let ab: Vec<f32> = want
            .iter()
            .take(2 * size * size)
            .map(|v| 80.0 * (v * 7.0).sin())
            .collect();
        let dev_ab = stream.clone_htod(&ab).expect("upload");
        let out_c = if photo.channels == 4 { 4 } else { 3 };
        let mut dev_out = stream
            .alloc_zeros::<u8>(photo.width * photo.height * out_c)
            .expect("alloc");
        let ab_ptr = {
            use cudarc::driver::DevicePtr;
            dev_ab.device_ptr(&stream).0
        };
        let out_ptr = {
            use cudarc::driver::DevicePtrMut;
            dev_out.device_ptr_mut(&stream).0
        };
        let out = FrameOut {
            data: out_ptr,
            pitch: (photo.width * out_c) as i32,
            layout: Layout {
                step: out_c as i32,
                r: 0,
                g: 1,
                b: 2,
                a: if out_c == 4 { 3 } else { -1 },
            },
        };
        // SAFETY: as above.
        unsafe { gpu.recombine(&frame, ab_ptr, size, Upsample::Bilinear, &out) }
            .expect("recombine kernel");
        let got = stream.clone_dtoh(&dev_out).expect("download");
        let want = crate::recipe::recombine(&photo, &ab, size, Upsample::Bilinear);
        let Samples::U8(want) = want.samples else {
            unreachable!()
        };
        assert_eq!(got, want, "{name}: recombination");
    }
}
