//! Tests of the `ddcolorize` element: negotiation over every format, pixel exactness against the
//! still-photo path (`ddcolor_engine::colorize`), strides, Y'CbCr and keep-luma, batching, flushing,
//! latency, properties, errors, the shared library under `gst-launch-1.0`/`gst-inspect-1.0`, and
//! temporal smoothing (what carries colour from frame to frame, and what makes it forget).
//!
//! The models are the generated random ones in `models/generated/`: their colours are meaningless
//! but deterministic, which is all a pixel-for-pixel comparison needs.
//!
//! Every test starts a [`Watchdog`] that aborts the process if the test hangs, and every wait on
//! a bus or a child process has its own deadline.

// The helpers every crate's tests share (process runner, skips and the DDCOLOR_REQUIRE_GPU switch).
#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ddcolor_engine::frame::{self, Frame, FrameMut, PixelFormat, Yuv, YuvMatrix};
use ddcolor_engine::{Model, ModelOptions, Photo, Samples, Upsample};
use gst::glib;
use gst::prelude::*;
use gst_check::Harness;
use gst_video::VideoFormat as V;
use gst_video::prelude::*;

const DYNAMIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/generated/test-dynamic.onnx"
);
const BATCH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/generated/test-batch.onnx"
);
const FIXED_256: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/generated/test-256.onnx"
);
const BAD_CHANNELS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/generated/bad-output-channels.onnx"
);
const BAD_RANK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../models/generated/bad-rank.onnx"
);

const SINK_FORMATS: [V; 11] = [
    V::Gray8,
    V::Gray16Le,
    V::I420,
    V::Nv12,
    V::Y444,
    V::Rgb,
    V::Bgr,
    V::Rgba,
    V::Bgra,
    V::Rgbx,
    V::Bgrx,
];
const COLOUR_FORMATS: [V; 9] = [
    V::Rgb,
    V::Bgr,
    V::Rgba,
    V::Bgra,
    V::Rgbx,
    V::Bgrx,
    V::Y444,
    V::I420,
    V::Nv12,
];
const FRAME: gst::ClockTime = gst::ClockTime::from_mseconds(40);

// ---------------------------------------------------------------------------------------------
// Set-up, watchdog

fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        gst::init().expect("gst::init");
        gstddcolor::register_static().expect("register ddcolorize");
    });
}

/// Aborts the whole test process when a test outlives `secs`: a hang must fail, not stall CI.
struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            eprintln!("watchdog: test `{name}` still running after {secs} s; aborting");
            std::process::abort();
        }
    });
    Watchdog(tx)
}

// ---------------------------------------------------------------------------------------------
// Frames: building input buffers, reading output buffers

fn pixel_format(f: V) -> PixelFormat {
    match f {
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
        other => panic!("no engine format for {other:?}"),
    }
}

/// How a Y'CbCr frame with these caps is to be read: the caps' matrix and range (the caps'
/// defaults when they name none, as `VideoInfo` fills them in).
fn yuv_of(info: &gst_video::VideoInfo) -> Yuv {
    use gst_video::VideoColorMatrix as M;
    let c = info.colorimetry();
    Yuv {
        matrix: match c.matrix() {
            M::Bt601 | M::Fcc => YuvMatrix::Bt601,
            M::Bt2020 => YuvMatrix::Bt2020,
            _ => YuvMatrix::Bt709,
        },
        full_range: c.range() == gst_video::VideoColorRange::Range0_255,
    }
}

/// `(row bytes, rows)` of each plane of a frame.
fn plane_shapes(f: V, w: usize, h: usize) -> Vec<(usize, usize)> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match f {
        V::Gray8 => vec![(w, h)],
        V::Gray16Le => vec![(2 * w, h)],
        V::Rgb | V::Bgr => vec![(3 * w, h)],
        V::Rgba | V::Bgra | V::Rgbx | V::Bgrx => vec![(4 * w, h)],
        V::I420 => vec![(w, h), (cw, ch), (cw, ch)],
        V::Nv12 => vec![(w, h), (2 * cw, ch)],
        V::Y444 => vec![(w, h); 3],
        other => panic!("no layout for {other:?}"),
    }
}

fn info(f: V, w: u32, h: u32) -> gst_video::VideoInfo {
    gst_video::VideoInfo::builder(f, w, h)
        .fps(gst::Fraction::new(25, 1))
        .build()
        .expect("video info")
}

fn info_of_caps(caps: &gst::CapsRef) -> gst_video::VideoInfo {
    gst_video::VideoInfo::from_caps(caps).expect("raw video caps")
}

fn samples_u8(p: &Photo) -> &[u8] {
    match &p.samples {
        Samples::U8(v) => v,
        Samples::U16(_) => panic!("expected an 8-bit photo"),
    }
}

fn samples_u16(p: &Photo) -> &[u16] {
    match &p.samples {
        Samples::U16(v) => v,
        Samples::U8(_) => panic!("expected a 16-bit photo"),
    }
}

/// A deterministic pseudo-random byte per (x, y, c, seed).
fn hash(x: usize, y: usize, c: usize, seed: usize) -> u32 {
    let mut v = (x as u32).wrapping_mul(0x9E37_79B1)
        ^ (y as u32).wrapping_mul(0x85EB_CA77)
        ^ (c as u32).wrapping_mul(0xC2B2_AE3D)
        ^ (seed as u32).wrapping_mul(0x27D4_EB2F);
    v ^= v >> 15;
    v = v.wrapping_mul(0x2C1B_3C6D);
    v ^= v >> 12;
    v
}

/// A greyish 8-bit test picture: a gradient with noise; colour channels get small, different
/// offsets (a "greyed" scan), alpha is a pattern of its own.
fn picture(w: usize, h: usize, channels: usize, seed: usize) -> Photo {
    let mut v = Vec::with_capacity(w * h * channels);
    for y in 0..h {
        for x in 0..w {
            let base = 30 + (180 * (x + 2 * y)) / (w + 2 * h).max(1);
            let noise = (hash(x, y, 0, seed) % 21) as usize;
            let grey = (base + noise).min(255);
            for c in 0..channels {
                let val = if channels >= 3 && c < 3 {
                    (grey as i32 + (hash(x, y, c + 1, seed) % 9) as i32 - 4).clamp(0, 255) as u8
                } else if c == 3 || (channels == 2 && c == 1) {
                    (hash(x, y, 7, seed) % 256) as u8
                } else {
                    grey as u8
                };
                v.push(val);
            }
        }
    }
    Photo {
        width: w,
        height: h,
        channels,
        samples: Samples::U8(v),
    }
}

/// A smooth picture (no per-pixel noise): for comparisons through 4:2:0 chroma.
fn smooth_picture(w: usize, h: usize) -> Photo {
    let mut v = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let g = 40.0 + 160.0 * (x as f32 + y as f32) / (w + h) as f32;
            v.extend([g as u8, (g + 3.0) as u8, (g - 2.0) as u8]);
        }
    }
    Photo {
        width: w,
        height: h,
        channels: 3,
        samples: Samples::U8(v),
    }
}

fn picture16(w: usize, h: usize, seed: usize) -> Photo {
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let base = 6000 + (50_000 * (x + 2 * y)) / (w + 2 * h).max(1);
            v.push((base as u32 + hash(x, y, 0, seed) % 3001) as u16);
        }
    }
    Photo {
        width: w,
        height: h,
        channels: 1,
        samples: Samples::U16(v),
    }
}

/// The test picture that suits an input format: grey for grey formats, RGBA for alpha formats.
fn picture_for(f: V, w: usize, h: usize, seed: usize) -> Photo {
    match f {
        V::Gray8 => picture(w, h, 1, seed),
        V::Gray16Le => picture16(w, h, seed),
        V::Rgba | V::Bgra => picture(w, h, 4, seed),
        _ => picture(w, h, 3, seed),
    }
}

/// Writes `photo` into a new buffer of the format and size of `info`.
///
/// `pad: None`: the default layout of `info`, no video meta (its own row padding, if any, is
/// filled with 0xAB). `pad: Some((extra, fill))`: every row `extra` bytes longer than it needs,
/// gaps between planes, all padding set to `fill`, the layout described by a `VideoMeta`.
fn frame_buffer(
    info: &gst_video::VideoInfo,
    photo: &Photo,
    pad: Option<(usize, u8)>,
) -> gst::Buffer {
    let f = info.format();
    let (w, h) = (info.width() as usize, info.height() as usize);
    let shapes = plane_shapes(f, w, h);
    let n = shapes.len();
    let (offsets, strides, size, fill): (Vec<usize>, Vec<usize>, usize, u8) = match pad {
        None => (
            info.offset()[..n].to_vec(),
            info.stride()[..n].iter().map(|&s| s as usize).collect(),
            info.size(),
            0xAB,
        ),
        Some((extra, fill)) => {
            let (mut off, mut st) = (Vec::new(), Vec::new());
            let mut at = 24;
            for &(row_bytes, rows) in &shapes {
                let stride = row_bytes + extra;
                off.push(at);
                st.push(stride);
                at += stride * rows + 40;
            }
            (off, st, at, fill)
        }
    };
    let mut data = vec![fill; size];
    {
        let mut planes: [&mut [u8]; 3] = [&mut [], &mut [], &mut []];
        let mut rest: &mut [u8] = &mut data;
        let mut consumed = 0;
        for i in 0..n {
            let (_, r) = std::mem::take(&mut rest).split_at_mut(offsets[i] - consumed);
            let len = if i + 1 < n {
                offsets[i + 1] - offsets[i]
            } else {
                r.len()
            };
            let (p, r) = r.split_at_mut(len);
            planes[i] = p;
            rest = r;
            consumed = offsets[i] + len;
        }
        let mut st = [0usize; 3];
        st[..n].copy_from_slice(&strides);
        let mut out = FrameMut {
            format: pixel_format(f),
            width: w,
            height: h,
            planes,
            strides: st,
            yuv: yuv_of(info),
        };
        frame::photo_to_frame(photo, &mut out, None).expect("test frame");
    }
    let mut buf = gst::Buffer::from_mut_slice(data);
    if pad.is_some() {
        let strides: Vec<i32> = strides.iter().map(|&s| s as i32).collect();
        gst_video::VideoMeta::add_full(
            buf.get_mut().unwrap(),
            gst_video::VideoFrameFlags::empty(),
            f,
            w as u32,
            h as u32,
            &offsets,
            &strides,
        )
        .expect("video meta");
    }
    buf
}

/// Sets the timestamps of frame `i` of a 25 fps stream.
fn stamped(mut buf: gst::Buffer, i: u64) -> gst::Buffer {
    let b = buf.get_mut().unwrap();
    b.set_pts(FRAME * i);
    b.set_dts(FRAME * i);
    b.set_duration(FRAME);
    b.set_offset(i);
    b.set_offset_end(i + 1);
    buf
}

/// The pixels of an output frame as a photo (RGB(A) for colour formats), read with the engine's
/// own frame conversion.
fn decode(buf: &gst::Buffer, info: &gst_video::VideoInfo) -> Photo {
    let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), info)
        .expect("output buffer maps as its caps say");
    let planes = vf.planes_data();
    let strides = vf.plane_stride();
    let mut p = [[].as_slice(); 3];
    let mut st = [0usize; 3];
    for i in 0..(vf.n_planes() as usize).min(3) {
        p[i] = planes[i];
        st[i] = strides[i] as usize;
    }
    let frame = Frame {
        format: pixel_format(info.format()),
        width: info.width() as usize,
        height: info.height() as usize,
        planes: p,
        strides: st,
        yuv: yuv_of(info),
    };
    let mut photo = Photo {
        width: 0,
        height: 0,
        channels: 1,
        samples: Samples::U8(Vec::new()),
    };
    frame::frame_to_photo(&frame, &mut photo).expect("output frame converts");
    photo
}

/// The bytes of each plane of a frame, row padding left out.
fn plane_rows(buf: &gst::Buffer, info: &gst_video::VideoInfo) -> Vec<Vec<u8>> {
    let vf = gst_video::VideoFrameRef::from_buffer_ref_readable(buf.as_ref(), info)
        .expect("buffer maps as its caps say");
    let shapes = plane_shapes(info.format(), info.width() as usize, info.height() as usize);
    let planes = vf.planes_data();
    let strides = vf.plane_stride();
    shapes
        .iter()
        .enumerate()
        .map(|(i, &(row_bytes, rows))| {
            let s = strides[i] as usize;
            (0..rows)
                .flat_map(|y| planes[i][y * s..y * s + row_bytes].iter().copied())
                .collect()
        })
        .collect()
}

/// Pixels whose R, G and B are not all equal.
fn coloured_pixels(p: &Photo) -> usize {
    assert!(
        p.channels >= 3,
        "not a colour photo: {} channels",
        p.channels
    );
    samples_u8(p)
        .chunks(p.channels)
        .filter(|px| px[0] != px[1] || px[1] != px[2])
        .count()
}

/// The packed bytes `format` holds for an 8-bit RGB or RGBA photo (x bytes are 255, alpha is
/// the photo's or 255).
fn packed(p: &Photo, format: V) -> Vec<u8> {
    let c = p.channels;
    let mut out = Vec::new();
    for px in samples_u8(p).chunks(c) {
        let a = if c == 4 { px[3] } else { 255 };
        let (r, g, b) = (px[0], px[1], px[2]);
        match format {
            V::Rgb => out.extend([r, g, b]),
            V::Bgr => out.extend([b, g, r]),
            V::Rgbx => out.extend([r, g, b, 255]),
            V::Bgrx => out.extend([b, g, r, 255]),
            V::Rgba => out.extend([r, g, b, a]),
            V::Bgra => out.extend([b, g, r, a]),
            other => panic!("not a packed RGB format: {other:?}"),
        }
    }
    out
}

/// The 16-bit photo at 8 bits, rounded as the element documents: `(v*255 + 32767) / 65535`.
fn to_8bit(p: &Photo) -> Photo {
    Photo {
        width: p.width,
        height: p.height,
        channels: p.channels,
        samples: Samples::U8(
            samples_u16(p)
                .iter()
                .map(|&v| ((v as u32 * 255 + 32767) / 65535) as u8)
                .collect(),
        ),
    }
}

fn max_diff(a: &[u8], b: &[u8]) -> (u8, f64) {
    assert_eq!(a.len(), b.len());
    let mut max = 0u8;
    let mut sum = 0u64;
    for (&x, &y) in a.iter().zip(b) {
        let d = x.abs_diff(y);
        max = max.max(d);
        sum += d as u64;
    }
    (max, sum as f64 / a.len().max(1) as f64)
}

fn load(path: &str, size: Option<usize>) -> Model {
    Model::load(
        Path::new(path),
        &ModelOptions {
            input_size: size,
            threads: None,
            ..ModelOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Harness helpers

fn element(model: &str, input_size: u32) -> gst::Element {
    init();
    gst::ElementFactory::make("ddcolorize")
        .property("model", model)
        .property("input-size", input_size)
        .build()
        .expect("ddcolorize element")
}

fn harness(el: &gst::Element) -> Harness {
    Harness::with_element(el, Some("sink"), Some("src"))
}

/// Sends caps (and a new time segment); unlike `Harness::set_src_caps` a refusal fails the test
/// instead of aborting the process.
fn send_caps(h: &mut Harness, caps: &gst::Caps) {
    assert!(
        h.push_event(gst::event::Caps::new(caps)),
        "caps refused by ddcolorize: {caps}"
    );
    send_segment(h);
}

fn send_segment(h: &mut Harness) {
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
}

fn push(h: &mut Harness, buf: gst::Buffer) {
    let r = h.push(buf);
    assert_eq!(r, Ok(gst::FlowSuccess::Ok), "push into ddcolorize");
}

/// The next output buffer, which must already be there (the element works in the pushing thread).
fn pull(h: &mut Harness) -> gst::Buffer {
    h.try_pull()
        .expect("ddcolorize produced no output buffer for the frame just pushed")
}

fn out_info(h: &Harness) -> gst_video::VideoInfo {
    let caps = h
        .sinkpad()
        .expect("harness sink pad")
        .current_caps()
        .expect("output caps");
    info_of_caps(&caps)
}

/// Output of one frame through a fresh `ddcolorize` with the given settings and output caps.
fn run_one(
    launch: &str,
    in_info: &gst_video::VideoInfo,
    input: gst::Buffer,
) -> (gst::Buffer, gst_video::VideoInfo) {
    init();
    let mut h = Harness::new_parse(launch);
    send_caps(&mut h, &in_info.to_caps().unwrap());
    push(&mut h, stamped(input, 0));
    let out = pull(&mut h);
    let info = out_info(&h);
    (out, info)
}

// ---------------------------------------------------------------------------------------------
// 1. Formats x sizes

#[test]
fn every_format_and_size_negotiates_and_gives_colour() {
    let _w = watchdog("every_format_and_size_negotiates_and_gives_colour", 60);
    let sizes = [(64u32, 48u32), (33, 17), (7, 5), (1, 1), (2, 3)];
    for f in SINK_FORMATS {
        let el = element(DYNAMIC, 32);
        let mut h = harness(&el);
        for (i, &(w, hgt)) in sizes.iter().enumerate() {
            let what = format!("{f:?} {w}x{hgt}");
            let in_info = info(f, w, hgt);
            send_caps(&mut h, &in_info.to_caps().unwrap());
            let photo = picture_for(f, w as usize, hgt as usize, i);
            let mut buf = stamped(frame_buffer(&in_info, &photo, None), i as u64);
            buf.get_mut().unwrap().set_flags(gst::BufferFlags::DISCONT);
            push(&mut h, buf);
            let out = pull(&mut h);
            assert!(h.try_pull().is_none(), "{what}: more than one output");

            let oi = out_info(&h);
            assert!(
                COLOUR_FORMATS.contains(&oi.format()),
                "{what}: output format {:?} is not a colour format",
                oi.format()
            );
            // Colour in keeps its format (no forced conversion); grey in becomes RGB.
            let want = if matches!(f, V::Gray8 | V::Gray16Le) {
                V::Rgb
            } else {
                f
            };
            assert_eq!(oi.format(), want, "{what}: output format");
            assert_eq!((oi.width(), oi.height()), (w, hgt), "{what}: output size");
            assert_eq!(oi.fps(), gst::Fraction::new(25, 1), "{what}: framerate");

            assert_eq!(out.pts(), Some(FRAME * i as u64), "{what}: pts");
            assert_eq!(out.duration(), Some(FRAME), "{what}: duration");
            assert_eq!(out.offset(), i as u64, "{what}: offset");
            assert!(
                out.flags().contains(gst::BufferFlags::DISCONT),
                "{what}: DISCONT flag lost"
            );
            assert!(out.size() >= oi.size(), "{what}: output buffer too small");

            let rgb = decode(&out, &oi);
            assert!(
                coloured_pixels(&rgb) > 0,
                "{what}: output is grey everywhere: {:?}",
                &samples_u8(&rgb)[..samples_u8(&rgb).len().min(12)]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Exactness against the still path

/// RGB(A)/grey frames through the element equal `ddcolor_engine::colorize` on the same picture,
/// in every packed output format.
#[test]
fn output_equals_still_path() {
    let _w = watchdog("output_equals_still_path", 60);
    init();
    let mut model = load(DYNAMIC, Some(64));
    let cases: &[(V, V, (u32, u32))] = &[
        (V::Rgb, V::Rgb, (33, 17)),
        (V::Rgb, V::Rgb, (64, 48)),
        (V::Rgb, V::Bgr, (33, 17)),
        (V::Rgb, V::Bgrx, (33, 17)),
        (V::Rgb, V::Rgbx, (33, 17)),
        (V::Rgb, V::Rgba, (33, 17)),
        (V::Bgr, V::Rgb, (33, 17)),
        (V::Rgbx, V::Bgra, (33, 17)),
        (V::Gray8, V::Rgb, (33, 17)),
        (V::Gray8, V::Bgra, (64, 48)),
        (V::Gray16Le, V::Rgb, (33, 17)),
        (V::Gray16Le, V::Bgrx, (64, 48)),
        (V::Rgba, V::Rgba, (33, 17)),
        (V::Bgra, V::Bgra, (33, 17)),
        (V::Rgba, V::Bgra, (64, 48)),
    ];
    for (k, &(fin, fout, (w, hgt))) in cases.iter().enumerate() {
        let what = format!("{fin:?} -> {fout:?} {w}x{hgt}");
        let in_info = info(fin, w, hgt);
        let photo = picture_for(fin, w as usize, hgt as usize, 100 + k);
        let launch = format!(
            "ddcolorize model={DYNAMIC} input-size=64 ! capsfilter caps=video/x-raw,format={}",
            fout.to_str()
        );
        let (out, oi) = run_one(&launch, &in_info, frame_buffer(&in_info, &photo, None));
        assert_eq!(oi.format(), fout, "{what}: negotiated format");

        // The still path gets the same picture (RGB(A) channel order, as `ddcolor photo` reads
        // it), whatever byte order the frame had.
        let still = ddcolor_engine::colorize(&mut model, &photo, Upsample::Bilinear)
            .expect("still colorize");
        let still = match still.samples {
            Samples::U16(_) => to_8bit(&still),
            Samples::U8(_) => still,
        };
        if matches!(fin, V::Rgba | V::Bgra) {
            assert_eq!(still.channels, 4, "{what}: still path keeps alpha");
        }
        let want = packed(&still, fout);
        let got = &plane_rows(&out, &oi)[0];
        if got != &want {
            let first = got.iter().zip(&want).position(|(a, b)| a != b).unwrap();
            panic!(
                "{what}: element output differs from ddcolor_engine::colorize at byte {first} \
                 (got {}, want {}); max diff {:?}",
                got[first],
                want[first],
                max_diff(got, &want)
            );
        }
    }
}

/// The `workflow` property: the workflow's size and upsampling, then its post-processing nodes
/// on every frame, equal to the engine's workflow path; grain changes from frame to frame.
#[test]
fn workflow_runs_on_every_frame_like_the_engine() {
    let _w = watchdog("workflow_runs_on_every_frame_like_the_engine", 60);
    init();
    let dir = tempfile::TempDir::new().expect("temp dir");
    let file = dir.path().join("wf.json");
    std::fs::write(
        &file,
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["1", 0], "size": 64, "upsample": "edge-aware"}},
            "3": {"class_type": "DDColor-Saturation", "inputs": {"image": ["2", 0], "saturation": 1.6}},
            "4": {"class_type": "DDColor-Grain", "inputs": {"image": ["3", 0], "amount": 0.5, "seed": 3}},
            "5": {"class_type": "SaveImage", "inputs": {"images": ["4", 0]}}}"#,
    )
    .expect("write workflow");
    let workflow = ddcolor_engine::workflow::Workflow::load(&file).expect("workflow");
    let mut model = load(DYNAMIC, Some(64));
    let (w, hgt) = (48u32, 32u32);
    let in_info = info(V::Rgb, w, hgt);
    let photo = picture_for(V::Rgb, w as usize, hgt as usize, 7);
    let mut h = Harness::new_parse(&format!(
        "ddcolorize model={DYNAMIC} temporal=off workflow={}",
        file.display()
    ));
    send_caps(&mut h, &in_info.to_caps().unwrap());
    let mut outputs = Vec::new();
    for i in 0..2u64 {
        push(&mut h, stamped(frame_buffer(&in_info, &photo, None), i));
        outputs.push(plane_rows(&pull(&mut h), &out_info(&h))[0].clone());
    }
    let mut input = vec![0f32; 3 * 64 * 64];
    ddcolor_engine::model_input(&photo, 64, &mut input);
    let mut ab = Vec::new();
    model.run(&input, 1, &mut ab).expect("model");
    for (i, got) in outputs.iter().enumerate() {
        let mut lab = ddcolor_engine::LabImage::from_recipe(&photo, &ab, 64, Upsample::EdgeAware);
        workflow.apply(&mut lab, i as u64 + 1);
        let want = packed(&lab.to_photo(), V::Rgb);
        assert_eq!(got, &want, "frame {i}: max diff {:?}", max_diff(got, &want));
    }
    assert_ne!(outputs[0], outputs[1], "grain is the same on both frames");

    // The upsample property, when set, wins over the workflow's edge-aware.
    let mut h = Harness::new_parse(&format!(
        "ddcolorize model={DYNAMIC} temporal=off upsample=nearest workflow={}",
        file.display()
    ));
    send_caps(&mut h, &in_info.to_caps().unwrap());
    push(&mut h, stamped(frame_buffer(&in_info, &photo, None), 0));
    let got = plane_rows(&pull(&mut h), &out_info(&h))[0].clone();
    let mut lab = ddcolor_engine::LabImage::from_recipe(&photo, &ab, 64, Upsample::Nearest);
    workflow.apply(&mut lab, 1);
    assert_eq!(
        got,
        packed(&lab.to_photo(), V::Rgb),
        "upsample=nearest set explicitly"
    );

    // A broken workflow stops the element from starting, naming the node.
    std::fs::write(
        &file,
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-Fancy", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
    )
    .expect("write workflow");
    let el = gst::ElementFactory::make("ddcolorize")
        .property("model", DYNAMIC)
        .property("workflow", file.display().to_string())
        .build()
        .expect("element");
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("videotestsrc")
        .property("num-buffers", 1)
        .build()
        .unwrap();
    let sink = gst::ElementFactory::make("fakesink").build().unwrap();
    pipeline.add_many([&src, &el, &sink]).unwrap();
    gst::Element::link_many([&src, &el, &sink]).unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(20), &[gst::MessageType::Error])
        .expect("an error message");
    let _ = pipeline.set_state(gst::State::Null);
    let gst::MessageView::Error(err) = msg.view() else {
        unreachable!()
    };
    let text = err.error().to_string();
    assert!(
        text.contains("node \"2\"") && text.contains("DDColor-Fancy"),
        "{text}"
    );
}

/// `device`: `auto` falls back to the CPU with one info message saying why (this machine's
/// ONNX Runtime has no CUDA), `cuda` refuses to start with the reason, `cpu` says nothing.
#[test]
fn device_choice_and_fallback() {
    let _w = watchdog("device_choice_and_fallback", 60);
    init();
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        common::skipped(
            "device_choice_and_fallback",
            &"ORT_DYLIB_PATH names another ONNX Runtime library (maybe a GPU build)",
        );
        return;
    }
    let run = |device: &str| -> Vec<gst::Message> {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=1 ! video/x-raw,format=RGB,width=32,height=24 ! \
             ddcolorize model={DYNAMIC} input-size=32 device={device} ! fakesink"
        ))
        .expect("pipeline");
        let bus = pipeline.bus().expect("bus");
        let _ = pipeline.set_state(gst::State::Playing);
        let mut msgs = Vec::new();
        while let Some(m) = bus.timed_pop(gst::ClockTime::from_seconds(20)) {
            let end = matches!(
                m.view(),
                gst::MessageView::Eos(_) | gst::MessageView::Error(_)
            );
            msgs.push(m);
            if end {
                break;
            }
        }
        let _ = pipeline.set_state(gst::State::Null);
        msgs
    };
    let infos = |msgs: &[gst::Message]| -> Vec<String> {
        msgs.iter()
            .filter_map(|m| match m.view() {
                gst::MessageView::Info(i) => Some(i.error().to_string()),
                _ => None,
            })
            .collect()
    };
    let ended_ok = |msgs: &[gst::Message]| {
        msgs.iter()
            .any(|m| matches!(m.view(), gst::MessageView::Eos(_)))
    };

    let auto = run("auto");
    assert!(ended_ok(&auto), "auto runs on the CPU");
    let said = infos(&auto);
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("runs on the CPU") && said[0].contains("onnxruntime-gpu"),
        "{said:?}"
    );

    let cpu = run("cpu");
    assert!(ended_ok(&cpu));
    assert!(infos(&cpu).is_empty(), "{:?}", infos(&cpu));

    let cuda = run("cuda");
    let err = cuda
        .iter()
        .find_map(|m| match m.view() {
            gst::MessageView::Error(e) => Some(e.error().to_string()),
            _ => None,
        })
        .expect("device=cuda without a CUDA ONNX Runtime fails");
    assert!(
        err.contains("device") && err.contains("onnxruntime-gpu"),
        "{err}"
    );
}

/// `upsample` may change while playing, and the next frame follows it.
#[test]
fn upsample_changes_while_playing() {
    let _w = watchdog("upsample_changes_while_playing", 60);
    let mut model = load(DYNAMIC, Some(32));
    let el = element(DYNAMIC, 32);
    let mut h = harness(&el);
    h.set_sink_caps_str("video/x-raw,format=RGB");
    let in_info = info(V::Gray8, 50, 30);
    send_caps(&mut h, &in_info.to_caps().unwrap());
    let photo = picture(50, 30, 1, 7);
    let expect = |model: &mut Model, up| {
        packed(
            &ddcolor_engine::colorize(model, &photo, up).unwrap(),
            V::Rgb,
        )
    };
    let bilinear = expect(&mut model, Upsample::Bilinear);
    let nearest = expect(&mut model, Upsample::Nearest);
    assert_ne!(bilinear, nearest, "the two upsamplings should differ");

    push(&mut h, stamped(frame_buffer(&in_info, &photo, None), 0));
    let oi = out_info(&h);
    assert_eq!(
        plane_rows(&pull(&mut h), &oi)[0],
        bilinear,
        "default: bilinear"
    );
    assert_eq!(el.current_state(), gst::State::Playing);
    el.set_property("upsample", gstddcolor::ddcolorize::Upsample::Nearest);
    push(&mut h, stamped(frame_buffer(&in_info, &photo, None), 1));
    assert_eq!(
        plane_rows(&pull(&mut h), &oi)[0],
        nearest,
        "after upsample=nearest while playing"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Strides

/// A frame with padded rows (and planes apart, all padding garbage) described by a VideoMeta
/// gives the same output as the same frame tightly laid out.
#[test]
fn padded_strides_are_honoured_and_padding_ignored() {
    let _w = watchdog("padded_strides_are_honoured_and_padding_ignored", 60);
    // RGB 33 wide: 99-byte rows at stride 112; GRAY8: 33 at 48; the rest: +13 or +29 bytes.
    let cases: Vec<(V, usize)> = SINK_FORMATS
        .iter()
        .map(|&f| match f {
            V::Rgb => (f, 112 - 99),
            V::Gray8 => (f, 48 - 33),
            V::I420 | V::Nv12 => (f, 29),
            _ => (f, 13),
        })
        .collect();
    for (f, extra) in cases {
        let (w, hgt) = (33u32, 17u32);
        let el = element(DYNAMIC, 32);
        let mut h = harness(&el);
        let in_info = info(f, w, hgt);
        send_caps(&mut h, &in_info.to_caps().unwrap());
        let photo = picture_for(f, w as usize, hgt as usize, 3);

        let plain = frame_buffer(&in_info, &photo, None);
        let padded = frame_buffer(&in_info, &photo, Some((extra, 0xAB)));
        let padded2 = frame_buffer(&in_info, &photo, Some((extra + 64, 0x11)));
        assert!(padded.size() > plain.size());
        // The padded buffers really hold the same picture at other places.
        let pi = in_info.clone();
        assert_eq!(
            decode(&padded, &pi),
            decode(&plain, &pi),
            "{f:?}: test set-up"
        );

        let mut outs = Vec::new();
        for (i, b) in [plain, padded, padded2].into_iter().enumerate() {
            push(&mut h, stamped(b, i as u64));
            outs.push(pull(&mut h));
        }
        let oi = out_info(&h);
        let rows: Vec<_> = outs.iter().map(|b| plane_rows(b, &oi)).collect();
        assert!(
            rows[0] == rows[1],
            "{f:?}: a padded frame (stride +{extra}, padding 0xAB) gives another output than the \
             same frame unpadded"
        );
        assert!(
            rows[0] == rows[2],
            "{f:?}: padding bytes (0x11) leak into the output"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Y'CbCr

#[test]
fn yuv_keep_luma_copies_the_luma_plane() {
    let _w = watchdog("yuv_keep_luma_copies_the_luma_plane", 60);
    let cases = [
        (V::I420, V::I420),
        (V::Nv12, V::Nv12),
        (V::Y444, V::Y444),
        (V::I420, V::Nv12),
        (V::Nv12, V::Y444),
    ];
    for (f, fout) in cases {
        for (w, hgt) in [(33u32, 17u32), (64, 48)] {
            let what = format!("{f:?} -> {fout:?} {w}x{hgt}");
            let el = element(DYNAMIC, 32);
            el.set_property("keep-luma", true);
            let mut h = harness(&el);
            h.set_sink_caps_str(&format!("video/x-raw,format={}", fout.to_str()));
            let in_info = info(f, w, hgt);
            send_caps(&mut h, &in_info.to_caps().unwrap());
            let buf = frame_buffer(&in_info, &picture(w as usize, hgt as usize, 3, 9), None);
            let in_rows = plane_rows(&buf, &in_info);
            push(&mut h, stamped(buf, 0));
            let out = pull(&mut h);
            let oi = out_info(&h);
            assert_eq!(oi.format(), fout, "{what}: output format");
            let out_rows = plane_rows(&out, &oi);
            assert!(
                out_rows[0] == in_rows[0],
                "{what}: keep-luma=true but the Y plane changed ({} of {} bytes differ)",
                out_rows[0]
                    .iter()
                    .zip(&in_rows[0])
                    .filter(|(a, b)| a != b)
                    .count(),
                in_rows[0].len()
            );
            let chroma: Vec<u8> = out_rows[1..].concat();
            assert!(
                chroma.iter().any(|&c| c.abs_diff(128) > 2),
                "{what}: no colour in the chroma planes"
            );
        }
    }
}

/// Keep-luma with caps that state their colorimetry (BT.709 at SD size, full range): the output
/// must keep the input's Y'CbCr meaning so the luma can be copied.
#[test]
fn yuv_keep_luma_with_explicit_colorimetry() {
    let _w = watchdog("yuv_keep_luma_with_explicit_colorimetry", 60);
    let mut failures = Vec::new();
    for colorimetry in ["bt601", "bt709", "1:4:0:0", "bt2020"] {
        let what = format!("I420 64x48 colorimetry={colorimetry}");
        let el = element(DYNAMIC, 32);
        el.set_property("keep-luma", true);
        let mut h = harness(&el);
        let caps: gst::Caps = format!(
            "video/x-raw,format=I420,width=64,height=48,framerate=25/1,colorimetry={colorimetry}"
        )
        .parse()
        .unwrap();
        let in_info = info_of_caps(&caps);
        send_caps(&mut h, &caps);
        let buf = frame_buffer(&in_info, &picture(64, 48, 3, 11), None);
        let in_rows = plane_rows(&buf, &in_info);
        push(&mut h, stamped(buf, 0));
        let out = pull(&mut h);
        let oi = out_info(&h);
        assert_eq!(oi.format(), V::I420, "{what}");
        let out_rows = plane_rows(&out, &oi);
        let differ = out_rows[0]
            .iter()
            .zip(&in_rows[0])
            .filter(|(a, b)| a != b)
            .count();
        if differ != 0 {
            failures.push(format!(
                "{what}: {differ} of {} luma bytes changed; output caps {} read as {:?} \
                 (input {:?})",
                in_rows[0].len(),
                h.sinkpad().unwrap().current_caps().unwrap(),
                yuv_of(&oi),
                yuv_of(&in_info),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "keep-luma=true, I420 in and out, but the luma plane was not kept:\n{}",
        failures.join("\n")
    );
}

/// Without keep-luma a Y'CbCr frame follows the RGB recipe: the output is exactly the engine's
/// Y'CbCr encoding of `colorize` on the decoded frame, and back in RGB it is within the Y'CbCr
/// quantisation (4:4:4) or the chroma subsampling (4:2:0) of that RGB result.
#[test]
fn yuv_without_keep_luma_follows_the_rgb_recipe() {
    let _w = watchdog("yuv_without_keep_luma_follows_the_rgb_recipe", 60);
    init();
    let mut model = load(DYNAMIC, Some(64));
    // (format, max abs diff, mean abs diff) back in RGB. The random model's chroma changes from
    // pixel to pixel, so 4:2:0 loses real detail at some pixels; on average it must stay close.
    for (f, max_tol, mean_tol) in [
        (V::Y444, 3u8, 0.75f64),
        (V::I420, 40, 4.0),
        (V::Nv12, 40, 4.0),
    ] {
        for (w, hgt) in [(64u32, 48u32), (33, 17)] {
            let what = format!("{f:?} {w}x{hgt}");
            let in_info = info(f, w, hgt);
            let buf = frame_buffer(&in_info, &smooth_picture(w as usize, hgt as usize), None);
            // What the element (and `ddcolor photo` given the same pixels) sees.
            let seen = decode(&buf, &in_info);
            let still = ddcolor_engine::colorize(&mut model, &seen, Upsample::Bilinear).unwrap();
            let launch = format!(
                "ddcolorize model={DYNAMIC} input-size=64 keep-luma=false ! \
                 capsfilter caps=video/x-raw,format={}",
                f.to_str()
            );
            let (out, oi) = run_one(&launch, &in_info, buf.copy());
            assert_eq!(oi.format(), f, "{what}");
            assert_eq!(yuv_of(&oi), yuv_of(&in_info), "{what}: output colorimetry");
            let want = plane_rows(&frame_buffer(&oi, &still, None), &oi);
            let got = plane_rows(&out, &oi);
            for (p, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    g == w,
                    "{what}: plane {p} is not the Y'CbCr encoding of colorize's result \
                     (max/mean diff {:?})",
                    max_diff(g, w)
                );
            }
            let back = decode(&out, &oi);
            let (max, mean) = max_diff(samples_u8(&back), samples_u8(&still));
            assert!(
                max <= max_tol && mean <= mean_tol,
                "{what}: output back in RGB is max {max} / mean {mean:.2} levels from the RGB \
                 recipe (allowed {max_tol} / {mean_tol})"
            );
            // And the RGB path of the element gives exactly `colorize`.
            let (rgb_out, rgb_info) = run_one(
                &format!(
                    "ddcolorize model={DYNAMIC} input-size=64 ! \
                     capsfilter caps=video/x-raw,format=RGB"
                ),
                &in_info,
                buf,
            );
            assert_eq!(
                plane_rows(&rgb_out, &rgb_info)[0],
                packed(&still, V::Rgb),
                "{what} -> RGB: differs from colorize on the decoded frame"
            );
        }
    }
}

/// A grey I420 frame (U = V = 128) comes out in colour, in I420 and in RGB.
#[test]
fn grey_i420_gets_colour() {
    let _w = watchdog("grey_i420_gets_colour", 60);
    let (w, hgt) = (40usize, 30usize);
    let in_info = info(V::I420, w as u32, hgt as u32);
    let mut data = vec![0u8; in_info.size()];
    let (off, st) = (in_info.offset(), in_info.stride());
    for y in 0..hgt {
        for x in 0..w {
            data[off[0] + y * st[0] as usize + x] = 20 + ((x * 5 + y * 3) % 200) as u8;
        }
    }
    for p in 1..3 {
        for y in 0..hgt.div_ceil(2) {
            for x in 0..w.div_ceil(2) {
                data[off[p] + y * st[p] as usize + x] = 128;
            }
        }
    }
    let input = gst::Buffer::from_mut_slice(data);
    assert_eq!(
        coloured_pixels(&decode(&input, &in_info)),
        0,
        "test set-up: input is grey"
    );
    for out_format in ["I420", "RGB"] {
        let (out, oi) = run_one(
            &format!(
                "ddcolorize model={DYNAMIC} input-size=32 ! capsfilter caps=video/x-raw,format={out_format}"
            ),
            &in_info,
            input.copy(),
        );
        let rgb = decode(&out, &oi);
        assert!(
            coloured_pixels(&rgb) > w * hgt / 2,
            "grey I420 -> {out_format}: only {} of {} pixels have colour",
            coloured_pixels(&rgb),
            w * hgt
        );
        if out_format == "I420" {
            let rows = plane_rows(&out, &oi);
            assert!(rows[1].iter().chain(&rows[2]).any(|&c| c != 128));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Batching

/// Records the buffers (by pts) and events that leave the element's src pad, in order.
fn record_src(el: &gst::Element) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    el.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            let entry = match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => {
                    format!(
                        "buffer {}",
                        b.pts().map(|t| t.mseconds()).unwrap_or(u64::MAX)
                    )
                }
                Some(gst::PadProbeData::Event(e)) => match e.view() {
                    gst::EventView::Caps(c) => {
                        let s = c.caps().structure(0).unwrap();
                        format!(
                            "caps {}x{}",
                            s.get::<i32>("width").unwrap(),
                            s.get::<i32>("height").unwrap()
                        )
                    }
                    _ => format!("{:?}", e.type_()).to_lowercase(),
                },
                _ => "other".into(),
            };
            l.lock().unwrap().push(entry);
            gst::PadProbeReturn::Ok
        },
    );
    log
}

fn batch_inputs(n: usize, in_info: &gst_video::VideoInfo) -> Vec<gst::Buffer> {
    (0..n)
        .map(|i| {
            let p = picture(
                in_info.width() as usize,
                in_info.height() as usize,
                1,
                200 + i,
            );
            stamped(frame_buffer(in_info, &p, None), i as u64)
        })
        .collect()
}

fn drain(h: &mut Harness) -> Vec<gst::Buffer> {
    std::iter::from_fn(|| h.try_pull()).collect()
}

fn pts_ms(bufs: &[gst::Buffer]) -> Vec<u64> {
    bufs.iter().map(|b| b.pts().unwrap().mseconds()).collect()
}

#[test]
fn batching_holds_frames_and_drains_at_eos() {
    let _w = watchdog("batching_holds_frames_and_drains_at_eos", 60);
    init();
    assert_eq!(
        load(BATCH, None).max_batch(),
        None,
        "test-batch has a dynamic batch"
    );
    let in_info = info(V::Gray8, 64, 48);
    let inputs = batch_inputs(10, &in_info);

    // Reference: batch-size 1, one output per input.
    let el = element(BATCH, 0);
    let mut h = harness(&el);
    send_caps(&mut h, &in_info.to_caps().unwrap());
    let mut single = Vec::new();
    for b in &inputs {
        push(&mut h, b.clone());
        single.push(pull(&mut h));
    }
    let oi = out_info(&h);
    drop(h);

    // batch-size 4: nothing for 3 frames, 4 at once on the 4th.
    let el = element(BATCH, 0);
    el.set_property("batch-size", 4u32);
    let log = record_src(&el);
    let mut h = harness(&el);
    send_caps(&mut h, &in_info.to_caps().unwrap());
    for b in &inputs[..3] {
        push(&mut h, b.clone());
    }
    assert_eq!(
        h.buffers_received(),
        0,
        "batch-size=4: output before the batch is full"
    );
    push(&mut h, inputs[3].clone());
    let first = drain(&mut h);
    assert_eq!(
        pts_ms(&first),
        vec![0, 40, 80, 120],
        "the full batch, in order"
    );
    for b in &first {
        assert_eq!(b.duration(), Some(FRAME));
    }
    // 6 more, then EOS: one full batch at once, the partial batch of 2 at EOS, before EOS.
    for b in &inputs[4..10] {
        push(&mut h, b.clone());
    }
    let second = drain(&mut h);
    assert_eq!(pts_ms(&second), vec![160, 200, 240, 280]);
    log.lock().unwrap().clear();
    assert!(h.push_event(gst::event::Eos::new()), "EOS refused");
    let last = drain(&mut h);
    assert_eq!(
        pts_ms(&last),
        vec![320, 360],
        "the partial batch is drained at EOS"
    );
    assert_eq!(
        *log.lock().unwrap(),
        vec!["buffer 320", "buffer 360", "eos"],
        "the partial batch must leave before EOS"
    );
    let mut saw_eos = false;
    while let Some(e) = h.try_pull_event() {
        saw_eos |= e.type_() == gst::EventType::Eos;
    }
    assert!(saw_eos, "EOS forwarded downstream");

    // Batched output equals batch-size 1 output, pixel for pixel.
    let batched: Vec<_> = first.iter().chain(&second).chain(&last).collect();
    assert_eq!(batched.len(), single.len());
    for (i, (b, s)) in batched.iter().zip(&single).enumerate() {
        assert!(
            plane_rows(b, &oi) == plane_rows(s, &oi),
            "frame {i}: batch-size=4 output differs from batch-size=1"
        );
    }
}

/// With a model that takes one frame per call (test-dynamic), batch-size 3 still holds and drains
/// frames the same way, and gives the batch-size 1 pixels.
#[test]
fn batching_with_a_single_frame_model() {
    let _w = watchdog("batching_with_a_single_frame_model", 60);
    init();
    assert_eq!(load(DYNAMIC, Some(32)).max_batch(), Some(1));
    let in_info = info(V::Rgb, 30, 20);
    let inputs: Vec<_> = (0..5)
        .map(|i| {
            stamped(
                frame_buffer(&in_info, &picture(30, 20, 3, i), None),
                i as u64,
            )
        })
        .collect();
    let run = |batch: u32| {
        let el = element(DYNAMIC, 32);
        el.set_property("batch-size", batch);
        let mut h = harness(&el);
        send_caps(&mut h, &in_info.to_caps().unwrap());
        let mut outs = Vec::new();
        let mut counts = Vec::new();
        for b in &inputs {
            push(&mut h, b.clone());
            let got = drain(&mut h);
            counts.push(got.len());
            outs.extend(got);
        }
        assert!(h.push_event(gst::event::Eos::new()));
        let tail = drain(&mut h);
        counts.push(tail.len());
        outs.extend(tail);
        let oi = out_info(&h);
        (outs, counts, oi)
    };
    let (single, counts1, oi) = run(1);
    assert_eq!(counts1, vec![1, 1, 1, 1, 1, 0]);
    let (batched, counts3, _) = run(3);
    assert_eq!(
        counts3,
        vec![0, 0, 3, 0, 0, 2],
        "outputs per push, then at EOS"
    );
    assert_eq!(pts_ms(&batched), vec![0, 40, 80, 120, 160]);
    for (i, (b, s)) in batched.iter().zip(&single).enumerate() {
        assert!(
            plane_rows(b, &oi) == plane_rows(s, &oi),
            "frame {i}: batch-size=3 output differs from batch-size=1"
        );
    }
}

#[test]
fn flush_discards_the_partial_batch() {
    let _w = watchdog("flush_discards_the_partial_batch", 60);
    let in_info = info(V::Gray8, 64, 48);
    let inputs = batch_inputs(6, &in_info);
    let el = element(BATCH, 0);
    el.set_property("batch-size", 4u32);
    let mut h = harness(&el);
    send_caps(&mut h, &in_info.to_caps().unwrap());
    push(&mut h, inputs[0].clone());
    push(&mut h, inputs[1].clone());
    assert_eq!(h.buffers_received(), 0);
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    send_segment(&mut h);
    for b in &inputs[2..6] {
        push(&mut h, b.clone());
    }
    let outs = drain(&mut h);
    assert_eq!(
        pts_ms(&outs),
        vec![80, 120, 160, 200],
        "exactly the 4 frames pushed after the flush"
    );
    assert!(h.push_event(gst::event::Eos::new()));
    assert!(drain(&mut h).is_empty(), "flushed frames came back at EOS");
}

/// A caps change is serialized: the held frames leave, in their old size, before it.
#[test]
fn caps_change_drains_the_batch_first() {
    let _w = watchdog("caps_change_drains_the_batch_first", 60);
    let el = element(BATCH, 0);
    el.set_property("batch-size", 4u32);
    let log = record_src(&el);
    let mut h = harness(&el);
    let a = info(V::Gray8, 64, 48);
    let b = info(V::Gray8, 32, 24);
    send_caps(&mut h, &a.to_caps().unwrap());
    let ia = batch_inputs(2, &a);
    for x in &ia {
        push(&mut h, x.clone());
    }
    log.lock().unwrap().clear();
    assert!(h.push_event(gst::event::Caps::new(&b.to_caps().unwrap())));
    let held = drain(&mut h);
    assert_eq!(pts_ms(&held), vec![0, 40]);
    assert_eq!(
        log.lock().unwrap()[..3],
        ["buffer 0", "buffer 40", "caps 32x24"],
        "held frames must leave before the new caps"
    );
    for x in &held {
        assert_eq!(
            x.size(),
            a.width() as usize * a.height() as usize * 3,
            "old frames in the old size"
        );
    }
    send_segment(&mut h);
    for x in batch_inputs(4, &b) {
        push(&mut h, x);
    }
    let next = drain(&mut h);
    assert_eq!(next.len(), 4);
    assert_eq!((out_info(&h).width(), out_info(&h).height()), (32, 24));
}

/// Downstream offers a buffer pool of at most 2 buffers (as v4l2 and other hardware sinks do),
/// and releases each buffer once it has it, as a sink does. With batch-size 4 the element must
/// still deliver every frame: it may not hold more pool buffers than the pool has.
#[test]
fn batching_with_a_small_downstream_pool_does_not_stall() {
    let _w = watchdog("batching_with_a_small_downstream_pool_does_not_stall", 60);
    init();
    for batch in [1u32, 4] {
        let pipeline = gst::parse::launch(&format!(
            "videotestsrc num-buffers=9 ! video/x-raw,format=GRAY8,width=64,height=48,framerate=25/1 \
             ! ddcolorize name=c model={DYNAMIC} input-size=32 batch-size={batch} ! fakesink name=s sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let el = pipeline.by_name("c").unwrap();
        let pools = Arc::new(Mutex::new(Vec::<gst::BufferPool>::new()));
        let p2 = pools.clone();
        el.static_pad("src").unwrap().add_probe(
            gst::PadProbeType::QUERY_DOWNSTREAM,
            move |_, info| {
                if let Some(gst::PadProbeData::Query(q)) = &mut info.data
                    && let gst::QueryViewMut::Allocation(a) = q.view_mut()
                {
                    let caps = a.get_owned().0.expect("allocation caps");
                    let size = info_of_caps(&caps).size() as u32;
                    let pool = gst_video::VideoBufferPool::new();
                    a.add_allocation_pool(Some(&pool), size, 2, 2);
                    p2.lock().unwrap().push(pool.upcast());
                    return gst::PadProbeReturn::Handled;
                }
                gst::PadProbeReturn::Ok
            },
        );
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = count.clone();
        pipeline
            .by_name("s")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                gst::PadProbeReturn::Ok
            });
        pipeline.set_state(gst::State::Playing).unwrap();
        let bus = pipeline.bus().unwrap();
        let msg = bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        );
        let ended = matches!(
            msg.as_ref().map(|m| m.view()),
            Some(gst::MessageView::Eos(_))
        );
        if !ended {
            // Unblock a stuck streaming thread so the process can go on.
            for pool in pools.lock().unwrap().iter() {
                pool.set_flushing(true);
            }
        }
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(
            ended,
            "batch-size={batch}, downstream pool of max 2 buffers: no EOS ({msg:?})"
        );
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            9,
            "batch-size={batch}: all frames out"
        );
        assert!(
            !pools.lock().unwrap().is_empty(),
            "the downstream pool was offered"
        );
    }
}

/// Runs a live pipeline until it prerolls and returns the latency ddcolorize reports on its src
/// pad, and the pipeline's own latency query result.
fn live_latency(batch: u32) -> ((bool, gst::ClockTime), gst::ClockTime) {
    init();
    let launch = format!(
        "videotestsrc is-live=true num-buffers=200 ! \
         video/x-raw,format=GRAY8,width=64,height=48,framerate=25/1 ! \
         ddcolorize name=c model={DYNAMIC} input-size=32 batch-size={batch} ! fakesink sync=true"
    );
    let pipeline = gst::parse::launch(&launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).expect("PLAYING");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "batch-size={batch}: no ASYNC_DONE within 20 s"
        );
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_nseconds(left.as_nanos() as u64),
            &[gst::MessageType::AsyncDone, gst::MessageType::Error],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::AsyncDone(_) => break,
            gst::MessageView::Error(e) => {
                pipeline.set_state(gst::State::Null).unwrap();
                panic!("batch-size={batch}: {} ({:?})", e.error(), e.debug());
            }
            _ => {}
        }
    }
    let c = pipeline.by_name("c").unwrap();
    let mut q = gst::query::Latency::new();
    assert!(c.static_pad("src").unwrap().query(&mut q), "latency query");
    let (live, min, _max) = q.result();
    let mut pq = gst::query::Latency::new();
    assert!(pipeline.query(&mut pq), "pipeline latency query");
    pipeline.set_state(gst::State::Null).unwrap();
    ((live, min), pq.result().1)
}

#[test]
fn batching_latency_is_reported() {
    let _w = watchdog("batching_latency_is_reported", 60);
    let ((live1, min1), pipe1) = live_latency(1);
    let ((live4, min4), pipe4) = live_latency(4);
    assert!(live1 && live4, "a live source makes a live stream");
    assert!(
        min4 >= min1 + gst::ClockTime::from_mseconds(120),
        "batch-size=4 must add 3 frames (120 ms): {min1} with 1, {min4} with 4"
    );
    assert!(
        pipe4 >= pipe1 + gst::ClockTime::from_mseconds(120),
        "pipeline latency: {pipe1} with batch-size=1, {pipe4} with 4"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Properties

#[test]
fn property_defaults_and_round_trip() {
    let _w = watchdog("property_defaults_and_round_trip", 30);
    init();
    use gstddcolor::ddcolorize::{Device, Upsample as U};
    let el = gst::ElementFactory::make("ddcolorize").build().unwrap();
    assert_eq!(el.property::<Option<String>>("model"), None);
    assert_eq!(el.property::<u32>("input-size"), 0);
    assert_eq!(el.property::<U>("upsample"), U::Bilinear);
    assert_eq!(el.property::<u32>("batch-size"), 1);
    assert_eq!(el.property::<Device>("device"), Device::Auto);
    assert!(!el.property::<bool>("fp16"));
    assert_eq!(el.property::<Option<String>>("engine-cache"), None);
    assert_eq!(el.property::<u64>("max-gpu-memory"), 0);
    assert!(!el.property::<bool>("keep-luma"));
    assert_eq!(el.property::<u32>("threads"), 0);
    assert!(
        !el.property::<bool>("qos"),
        "a slow model must never drop frames"
    );

    el.set_property("model", "some/model.onnx");
    el.set_property("input-size", 320u32);
    el.set_property("upsample", U::Nearest);
    el.set_property("batch-size", 8u32);
    el.set_property("device", Device::Cpu);
    el.set_property("keep-luma", true);
    el.set_property("threads", 3u32);
    assert_eq!(
        el.property::<Option<String>>("model").as_deref(),
        Some("some/model.onnx")
    );
    assert_eq!(el.property::<u32>("input-size"), 320);
    assert_eq!(el.property::<U>("upsample"), U::Nearest);
    assert_eq!(el.property::<u32>("batch-size"), 8);
    assert_eq!(el.property::<Device>("device"), Device::Cpu);
    assert!(el.property::<bool>("keep-luma"));
    assert_eq!(el.property::<u32>("threads"), 3);
    el.set_property("model", "");
    assert_eq!(
        el.property::<Option<String>>("model"),
        None,
        "empty = unset"
    );

    let spec = |n: &str| el.find_property(n).unwrap();
    let bs = spec("batch-size");
    let bs = bs.downcast_ref::<glib::ParamSpecUInt>().unwrap();
    assert_eq!((bs.minimum(), bs.maximum()), (1, 64));
    let is = spec("input-size");
    let is = is.downcast_ref::<glib::ParamSpecUInt>().unwrap();
    assert_eq!(is.maximum(), 4096);
    for name in ["upsample", "keep-luma"] {
        assert!(
            spec(name).flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING),
            "{name} is documented as changeable while playing"
        );
    }
}

#[test]
fn properties_locked_while_playing() {
    let _w = watchdog("properties_locked_while_playing", 60);
    use gstddcolor::ddcolorize::Upsample as U;
    let el = element(DYNAMIC, 32);
    el.set_property("batch-size", 2u32);
    el.set_property("threads", 1u32);
    el.set_state(gst::State::Playing).expect("PLAYING");
    assert_eq!(el.current_state(), gst::State::Playing);

    el.set_property("model", BATCH);
    el.set_property("input-size", 64u32);
    el.set_property("batch-size", 5u32);
    el.set_property("threads", 2u32);
    assert_eq!(
        el.property::<Option<String>>("model").as_deref(),
        Some(DYNAMIC)
    );
    assert_eq!(el.property::<u32>("input-size"), 32);
    assert_eq!(el.property::<u32>("batch-size"), 2);
    assert_eq!(el.property::<u32>("threads"), 1);
    // Live ones change.
    el.set_property("upsample", U::Nearest);
    el.set_property("keep-luma", true);
    assert_eq!(el.property::<U>("upsample"), U::Nearest);
    assert!(el.property::<bool>("keep-luma"));

    el.set_state(gst::State::Paused).unwrap();
    el.set_property("batch-size", 6u32);
    assert_eq!(el.property::<u32>("batch-size"), 2, "locked in PAUSED too");

    el.set_state(gst::State::Ready).unwrap();
    el.set_property("model", BATCH);
    el.set_property("input-size", 0u32);
    el.set_property("batch-size", 5u32);
    el.set_property("threads", 2u32);
    assert_eq!(
        el.property::<Option<String>>("model").as_deref(),
        Some(BATCH)
    );
    assert_eq!(el.property::<u32>("input-size"), 0);
    assert_eq!(el.property::<u32>("batch-size"), 5);
    assert_eq!(el.property::<u32>("threads"), 2);

    // And the new model is the one used after a restart.
    el.set_state(gst::State::Null).unwrap();
    let mut h = harness(&el);
    send_caps(&mut h, &info(V::Gray8, 16, 16).to_caps().unwrap());
    for i in 0..5 {
        push(
            &mut h,
            stamped(
                frame_buffer(&info(V::Gray8, 16, 16), &picture(16, 16, 1, i), None),
                i as u64,
            ),
        );
    }
    assert_eq!(drain(&mut h).len(), 5, "batch-size=5 set in READY is used");
}

// ---------------------------------------------------------------------------------------------
// 8. Errors

/// Sets `launch` to PAUSED: it must fail, with an ERROR from ddcolorize naming the model and
/// saying why.
fn expect_start_error(model: &str, input_size: u32, reason: &str) {
    init();
    let launch = format!(
        "videotestsrc num-buffers=1 ! video/x-raw,format=GRAY8,width=64,height=48 ! \
         ddcolorize name=c model={model} input-size={input_size} ! fakesink"
    );
    let pipeline = gst::parse::launch(&launch).unwrap();
    let bus = pipeline.bus().unwrap();
    let result = pipeline.set_state(gst::State::Paused);
    let what = format!("model={model} input-size={input_size}");
    let state_failed =
        result.is_err() || pipeline.state(gst::ClockTime::from_seconds(10)).0.is_err();
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(state_failed, "{what}: PAUSED did not fail");
    let msg = msg.unwrap_or_else(|| panic!("{what}: no ERROR message on the bus"));
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    assert_eq!(
        msg.src().map(|s| s.name().to_string()).as_deref(),
        Some("c"),
        "{what}: error from ddcolorize"
    );
    let text = format!("{} {}", e.error(), e.debug().unwrap_or_default());
    assert!(
        text.contains(model),
        "{what}: the error does not name the model: {text}"
    );
    assert!(
        text.contains(reason),
        "{what}: the error does not say '{reason}': {text}"
    );
}

#[test]
fn start_errors_name_the_model_and_the_reason() {
    let _w = watchdog("start_errors_name_the_model_and_the_reason", 60);
    let missing = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models/generated/no-such.onnx"
    );
    expect_start_error(missing, 64, "not found");
    expect_start_error(BAD_CHANNELS, 64, "2 channels");
    expect_start_error(BAD_RANK, 64, "rank 4");
    expect_start_error(DYNAMIC, 48, "not a positive multiple of 32");
    expect_start_error(FIXED_256, 64, "fixed input size of 256");
}

/// A buffer too small for its caps is a flow error with an ERROR message, not a crash.
#[test]
fn short_buffer_is_an_error_not_a_crash() {
    let _w = watchdog("short_buffer_is_an_error_not_a_crash", 60);
    let el = element(DYNAMIC, 32);
    let bus = gst::Bus::new();
    el.set_bus(Some(&bus));
    let mut h = harness(&el);
    send_caps(&mut h, &info(V::Rgb, 33, 17).to_caps().unwrap());
    let r = h.push(stamped(gst::Buffer::with_size(100).unwrap(), 0));
    assert_eq!(r, Err(gst::FlowError::Error));
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("ERROR message");
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    let text = format!("{} {}", e.error(), e.debug().unwrap_or_default());
    assert!(text.contains("100-byte"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 9. The shared library under gst-launch-1.0 and gst-inspect-1.0

/// A scratch directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("ddcolorize-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The plugin's shared library as cargo built it with this test: `target/<profile>/deps/` (where
/// the test binary is) or `target/<profile>/`.
fn plugin_library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [
        deps.join("libgstddcolor.so"),
        deps.join("../libgstddcolor.so"),
    ];
    let newest = candidates
        .iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    match newest {
        Some(p) => p.clone(),
        None => panic!(
            "libgstddcolor.so not found next to {} (looked in {:?}); build it with \
             `cargo build -p gst-plugin-ddcolor --profile test`",
            exe.display(),
            candidates
        ),
    }
}

/// A private plugin path (only the ddcolor plugin, linked in) and registry for child processes.
struct PluginEnv {
    dir: TempDir,
}

impl PluginEnv {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        std::fs::create_dir_all(dir.0.join("plugins")).unwrap();
        std::os::unix::fs::symlink(plugin_library(), dir.0.join("plugins/libgstddcolor.so"))
            .unwrap();
        Self { dir }
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("GST_PLUGIN_PATH", self.dir.0.join("plugins"))
            .env("GST_REGISTRY", self.dir.0.join("registry.bin"))
            .env_remove("GST_PLUGIN_PATH_1_0")
            .env_remove("DDCOLOR_MODEL")
            .stdin(Stdio::null());
        c
    }

    /// Runs the command with a deadline; returns (exit status, stdout, stderr).
    fn run(&self, cmd: Command, limit: Duration) -> (std::process::ExitStatus, String, String) {
        let r = common::run(cmd, limit);
        (r.status, r.stdout, r.stderr)
    }
}

/// Running out of memory at a large S (simulated above 512) steps it down with a WARNING per
/// step, and the stream still ends normally with every frame.
#[test]
fn out_of_memory_steps_the_input_size_down() {
    let _w = watchdog("out_of_memory_steps_the_input_size_down", 90);
    let env = PluginEnv::new("oom");
    let frames = env.dir.0.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut cmd = env.command("gst-launch-1.0");
    cmd.env("DDCOLOR_SIMULATE_OOM_ABOVE", "512")
        .args(["videotestsrc", "num-buffers=3", "!"])
        .args(["video/x-raw,format=GRAY8,width=64,height=48", "!"])
        .args([
            "ddcolorize",
            &format!("model={DYNAMIC}"),
            "input-size=1280",
            "batch-size=2",
            "!",
        ])
        .args(["videoconvert", "!", "pngenc", "!", "multifilesink"])
        .arg(format!("location={}/f%d.png", frames.display()));
    let (status, out, err) = env.run(cmd, Duration::from_secs(60));
    let all = format!("{out}\n{err}");
    assert!(status.success(), "gst-launch-1.0 failed ({status}):\n{all}");
    for s in [960, 768, 512] {
        assert!(
            all.contains(&format!("out of memory; continuing at input size {s}")),
            "no step to {s}:\n{all}"
        );
    }
    assert_eq!(std::fs::read_dir(&frames).unwrap().count(), 3, "{all}");
}

#[test]
fn gst_launch_writes_colour_pngs() {
    let _w = watchdog("gst_launch_writes_colour_pngs", 90);
    let env = PluginEnv::new("launch");
    let frames = env.dir.0.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut cmd = env.command("gst-launch-1.0");
    cmd.args(["-q", "videotestsrc", "num-buffers=5", "pattern=ball", "!"])
        .args(["video/x-raw,format=GRAY8,width=64,height=48", "!"])
        .args([
            "ddcolorize",
            &format!("model={DYNAMIC}"),
            "input-size=64",
            "!",
        ])
        .args(["videoconvert", "!", "pngenc", "!", "multifilesink"])
        .arg(format!("location={}/f%d.png", frames.display()));
    let (status, out, err) = env.run(cmd, Duration::from_secs(60));
    assert!(
        status.success(),
        "gst-launch-1.0 failed ({status}):\nstdout: {out}\nstderr: {err}"
    );
    let mut names: Vec<_> = std::fs::read_dir(&frames)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["f0.png", "f1.png", "f2.png", "f3.png", "f4.png"]);
    for n in &names {
        let photo = ddcolor_engine::io::read_photo(&frames.join(n), u64::MAX)
            .unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!((photo.width, photo.height), (64, 48), "{n}");
        assert!(
            photo.channels >= 3,
            "{n}: a grey PNG ({} channels)",
            photo.channels
        );
        assert!(
            coloured_pixels(&photo) > 64 * 48 / 4,
            "{n}: only {} coloured pixels",
            coloured_pixels(&photo)
        );
    }
}

#[test]
fn gst_inspect_lists_every_property() {
    let _w = watchdog("gst_inspect_lists_every_property", 90);
    init();
    let env = PluginEnv::new("inspect");
    let mut cmd = env.command("gst-inspect-1.0");
    cmd.arg("ddcolorize");
    let (status, out, err) = env.run(cmd, Duration::from_secs(60));
    assert!(status.success(), "gst-inspect-1.0 ddcolorize failed: {err}");
    assert!(out.contains("DDColor colorizer"), "long name: {out}");
    let el = gst::ElementFactory::make("ddcolorize").build().unwrap();
    for name in [
        "model",
        "input-size",
        "upsample",
        "batch-size",
        "device",
        "keep-luma",
        "threads",
    ] {
        let blurb = el
            .find_property(name)
            .unwrap()
            .blurb()
            .unwrap_or("")
            .to_string();
        assert!(blurb.len() > 20, "{name}: no real blurb ({blurb:?})");
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("gst-inspect does not list property {name}:\n{out}"));
        let head: String = blurb.chars().take(30).collect();
        assert!(
            line.contains(':') && line.contains(&head),
            "{name}: gst-inspect line lacks the blurb: {line}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 10. Temporal smoothing

const TW: u32 = 64;
const TH: u32 = 48;

/// A grey sinusoidal texture (64x48) moved `shift` pixels right and `shift / 2` down: frame `k`
/// of a slow pan is `texture(1.5 * k)`. Luma changes from frame to frame are small and local.
fn texture(shift: f32) -> Photo {
    let (w, h) = (TW as usize, TH as usize);
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f32 - shift, y as f32 - 0.5 * shift);
            let g = 120.0
                + 45.0 * (0.35 * fx).sin() * (0.28 * fy).cos()
                + 25.0 * (0.11 * fx + 0.07 * fy).sin();
            v.push(g.round().clamp(0.0, 255.0) as u8);
        }
    }
    Photo {
        width: w,
        height: h,
        channels: 1,
        samples: Samples::U8(v),
    }
}

/// Another shot altogether: a plain horizontal ramp, dark on the left, bright on the right.
fn ramp() -> Photo {
    let (w, h) = (TW as usize, TH as usize);
    let v = (0..w * h)
        .map(|i| (20 + 215 * (i % w) / (w - 1)) as u8)
        .collect();
    Photo {
        width: w,
        height: h,
        channels: 1,
        samples: Samples::U8(v),
    }
}

/// `n` frames of a slow pan over [`texture`].
fn drifting(n: usize) -> Vec<Photo> {
    (0..n).map(|k| texture(1.5 * k as f32)).collect()
}

/// One `ddcolorize` (test-dynamic at S = 64 unless told otherwise) in a harness, fed 64x48 GRAY8
/// frames stamped 0, 1, 2, ... in push order; it writes RGB.
struct Seq {
    h: Harness,
    el: gst::Element,
    in_info: gst_video::VideoInfo,
    next: u64,
}

impl Seq {
    fn new(mode: gstddcolor::ddcolorize::Temporal, batch: u32) -> Self {
        Self::with_model(DYNAMIC, 64, mode, batch)
    }

    fn with_model(
        model: &str,
        input_size: u32,
        mode: gstddcolor::ddcolorize::Temporal,
        batch: u32,
    ) -> Self {
        let el = element(model, input_size);
        el.set_property("temporal", mode);
        el.set_property("batch-size", batch);
        let mut h = harness(&el);
        h.set_sink_caps_str("video/x-raw,format=RGB");
        let in_info = info(V::Gray8, TW, TH);
        send_caps(&mut h, &in_info.to_caps().unwrap());
        Self {
            h,
            el,
            in_info,
            next: 0,
        }
    }

    fn push(&mut self, p: &Photo) {
        self.push_flagged(p, gst::BufferFlags::empty());
    }

    fn push_flagged(&mut self, p: &Photo, flags: gst::BufferFlags) {
        let mut buf = stamped(frame_buffer(&self.in_info, p, None), self.next);
        buf.get_mut().unwrap().set_flags(flags);
        self.next += 1;
        push(&mut self.h, buf);
    }

    fn event(&mut self, e: gst::Event) {
        let what = format!("{:?}", e.type_());
        assert!(self.h.push_event(e), "{what} refused by ddcolorize");
    }

    /// EOS, then every frame that came out: (frame number, RGB bytes), in output order.
    fn finish(mut self) -> Vec<(u64, Vec<u8>)> {
        self.event(gst::event::Eos::new());
        let outs = drain(&mut self.h);
        if outs.is_empty() {
            return Vec::new();
        }
        let oi = out_info(&self.h);
        assert_eq!(oi.format(), V::Rgb, "output format");
        outs.iter()
            .map(|b| {
                let n = b.pts().expect("output pts").nseconds() / FRAME.nseconds();
                (n, plane_rows(b, &oi)[0].clone())
            })
            .collect()
    }
}

/// The RGB output of `frames` pushed in order through one fresh element.
fn run_seq(mode: gstddcolor::ddcolorize::Temporal, batch: u32, frames: &[Photo]) -> Vec<Vec<u8>> {
    let mut s = Seq::new(mode, batch);
    for f in frames {
        s.push(f);
    }
    let outs = s.finish();
    let numbers: Vec<u64> = outs.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        numbers,
        (0..frames.len() as u64).collect::<Vec<_>>(),
        "{mode:?} batch-size={batch}: one output per frame, in order"
    );
    outs.into_iter().map(|(_, rgb)| rgb).collect()
}

/// The RGB output of one frame through a fresh element: what it looks like with no past.
fn alone(mode: gstddcolor::ddcolorize::Temporal, frame: &Photo) -> Vec<u8> {
    run_seq(mode, 1, std::slice::from_ref(frame)).remove(0)
}

fn assert_same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    if let Some(first) = got.iter().zip(want).position(|(a, b)| a != b) {
        let n = got.iter().zip(want).filter(|(a, b)| a != b).count();
        panic!(
            "{what}: {n} of {} bytes differ, the first at byte {first} (got {}, want {}); \
             max/mean diff {:?}",
            got.len(),
            got[first],
            want[first],
            max_diff(got, want)
        );
    }
}

fn assert_differs(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    assert!(got != want, "{what}: the two outputs are identical");
}

/// temporal=off: every frame of a sequence comes out exactly as it does with no past.
#[test]
fn temporal_off_gives_every_frame_as_alone() {
    let _w = watchdog("temporal_off_gives_every_frame_as_alone", 90);
    use gstddcolor::ddcolorize::Temporal as T;
    let frames = drifting(6);
    let seq = run_seq(T::Off, 1, &frames);
    for (k, f) in frames.iter().enumerate() {
        assert_same(
            &format!("temporal=off, frame {k} of 6 vs the same frame alone"),
            &seq[k],
            &alone(T::Off, f),
        );
    }
    // The comparison can tell: with smoothing the last frame is not what it is alone.
    let flow = run_seq(T::Flow, 1, &frames);
    assert_differs(
        "temporal=flow, frame 5 of 6 vs alone (test set-up)",
        &flow[5],
        &seq[5],
    );
}

/// recursive and flow: the first frame is the model's own colour; later frames of a slow pan
/// carry colour from before, so they differ from the unsmoothed output.
#[test]
fn temporal_smoothing_blends_later_frames_only() {
    let _w = watchdog("temporal_smoothing_blends_later_frames_only", 90);
    use gstddcolor::ddcolorize::Temporal as T;
    let frames = drifting(6);
    let off = run_seq(T::Off, 1, &frames);
    for mode in [T::Recursive, T::Flow] {
        let smoothed = run_seq(mode, 1, &frames);
        assert_same(
            &format!("{mode:?}: first frame vs temporal=off"),
            &smoothed[0],
            &off[0],
        );
        for k in 1..frames.len() {
            assert_differs(
                &format!("{mode:?}: frame {k} of a slow pan vs temporal=off"),
                &smoothed[k],
                &off[k],
            );
        }
    }
}

/// Batching must not change what smoothing gives: frames are smoothed in order whatever the
/// batch, also across a DISCONT and a scene cut inside a batch, and for the partial batch
/// drained at EOS (10 frames, batch-size 4).
#[test]
fn temporal_smoothing_is_the_same_batched() {
    let _w = watchdog("temporal_smoothing_is_the_same_batched", 120);
    use gstddcolor::ddcolorize::Temporal as T;
    let pan = drifting(10);
    // Frames 0-6 a pan, 7-9 another shot; frame 5 comes after a gap (DISCONT).
    let mut cut = drifting(7);
    cut.extend((0..3).map(|_| ramp()));
    let run = |model: &str, size: u32, mode: T, batch: u32, frames: &[Photo], gap: bool| {
        let mut s = Seq::with_model(model, size, mode, batch);
        for (k, f) in frames.iter().enumerate() {
            let flags = if gap && k == 5 {
                gst::BufferFlags::DISCONT
            } else {
                gst::BufferFlags::empty()
            };
            s.push_flagged(f, flags);
        }
        let outs = s.finish();
        assert_eq!(
            outs.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            (0..frames.len() as u64).collect::<Vec<_>>(),
            "{model} {mode:?} batch-size={batch}: one output per frame, in order"
        );
        outs.into_iter().map(|(_, rgb)| rgb).collect::<Vec<_>>()
    };
    // test-dynamic takes one frame per call; test-batch takes the whole batch in one call.
    for (model, size) in [(DYNAMIC, 64), (BATCH, 0)] {
        let name = Path::new(model).file_name().unwrap().to_string_lossy();
        for mode in [T::Flow, T::Recursive] {
            for (label, frames, gap) in [("pan", &pan, false), ("gap and cut", &cut, true)] {
                let single = run(model, size, mode, 1, frames, gap);
                let batched = run(model, size, mode, 4, frames, gap);
                for k in 0..frames.len() {
                    assert_same(
                        &format!(
                            "{name} {mode:?} {label}: frame {k}, batch-size=4 vs batch-size=1"
                        ),
                        &batched[k],
                        &single[k],
                    );
                }
                if !gap {
                    // The smoothing is really on in these runs.
                    let off = run(model, size, T::Off, 1, frames, gap);
                    assert_differs(
                        &format!("{name} {mode:?} {label}: frame 9 vs temporal=off"),
                        &single[9],
                        &off[9],
                    );
                }
            }
        }
    }
}

/// What comes between frames 3 and 4 in [`temporal_smoothing_resets`]. `Flush` is a flushing
/// seek as the element meets it (flush, then a new segment); `FlushNoSegment` leaves the segment
/// out, so only the flush can be what resets.
#[derive(Clone, Copy, Debug)]
enum Break {
    Nothing,
    Flush,
    FlushNoSegment,
    Discont,
    Segment,
    StreamStart,
}

/// Frames A1..A3 of a pan, then `brk`, then A4: the outputs by frame number.
fn run_with_break(brk: Break, batch: u32, frames: &[Photo]) -> Vec<(u64, Vec<u8>)> {
    use gstddcolor::ddcolorize::Temporal as T;
    let mut s = Seq::new(T::Flow, batch);
    // The events that reach the element from the break on.
    let events = Arc::new(Mutex::new(Vec::<gst::EventType>::new()));
    let ev = events.clone();
    s.el.static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::EVENT_FLUSH,
        move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data {
                ev.lock().unwrap().push(e.type_());
            }
            gst::PadProbeReturn::Ok
        },
    );
    for f in &frames[..3] {
        s.push(f);
    }
    events.lock().unwrap().clear();
    let mut flags = gst::BufferFlags::empty();
    match brk {
        Break::Nothing => {}
        Break::Flush => {
            s.event(gst::event::FlushStart::new());
            s.event(gst::event::FlushStop::new(true));
            send_segment(&mut s.h);
        }
        Break::FlushNoSegment => {
            // No segment: so only the flush itself can make the element forget (a segment
            // would, on its own).
            expect_data_before_segment();
            s.event(gst::event::FlushStart::new());
            s.event(gst::event::FlushStop::new(false));
        }
        Break::Discont => flags = gst::BufferFlags::DISCONT,
        Break::Segment => send_segment(&mut s.h),
        Break::StreamStart => s.event(gst::event::StreamStart::new("another-stream")),
    }
    s.push_flagged(&frames[3], flags);
    // Set-up: the element saw the break, and nothing else that resets.
    use gst::EventType as E;
    let want: &[E] = match brk {
        Break::Nothing | Break::Discont => &[],
        Break::Flush => &[E::FlushStart, E::FlushStop, E::Segment],
        Break::FlushNoSegment => &[E::FlushStart, E::FlushStop],
        Break::Segment => &[E::Segment],
        Break::StreamStart => &[E::StreamStart],
    };
    assert_eq!(
        *events.lock().unwrap(),
        want,
        "batch-size={batch}, {brk:?}: events that reached ddcolorize"
    );
    s.finish()
}

/// Buffers after a flush with no new segment are what [`Break::FlushNoSegment`] is about; GLib's
/// warning for them ("Got data flow before segment event") is expected there, so it is not
/// printed. Every other message passes through.
fn expect_data_before_segment() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        glib::log_set_handler(
            Some("GStreamer"),
            glib::LogLevels::LEVEL_WARNING,
            false,
            false,
            |domain, level, msg| {
                if !msg.contains("Got data flow before segment event") {
                    glib::log_default_handler(domain, level, Some(msg));
                }
            },
        );
    });
}

/// A flush, a DISCONT buffer, a new segment and a new stream each start afresh: the next frame
/// comes out exactly as it does alone, with batch-size 1 and with frames held in a batch.
#[test]
fn temporal_smoothing_resets() {
    let _w = watchdog("temporal_smoothing_resets", 120);
    use gstddcolor::ddcolorize::Temporal as T;
    let frames = drifting(4);
    let a4_alone = alone(T::Flow, &frames[3]);
    let frame = |outs: &[(u64, Vec<u8>)], n: u64, what: &str| -> Vec<u8> {
        let found: Vec<_> = outs.iter().filter(|(k, _)| *k == n).collect();
        assert_eq!(
            found.len(),
            1,
            "{what}: frame {n} came out {} times (frames out: {:?})",
            found.len(),
            outs.iter().map(|(k, _)| *k).collect::<Vec<_>>()
        );
        found[0].1.clone()
    };
    for batch in [1u32, 4] {
        // Without a break A4 carries colour from A3: the comparison can tell.
        let plain = run_with_break(Break::Nothing, batch, &frames);
        assert_differs(
            &format!("batch-size={batch}, no break: A4 vs A4 alone (test set-up)"),
            &frame(&plain, 3, "no break"),
            &a4_alone,
        );
        for brk in [
            Break::Flush,
            Break::FlushNoSegment,
            Break::Discont,
            Break::Segment,
            Break::StreamStart,
        ] {
            let what = format!("batch-size={batch}, {brk:?} before A4");
            let outs = run_with_break(brk, batch, &frames);
            assert_same(
                &format!("{what}: A4 vs A4 alone"),
                &frame(&outs, 3, &what),
                &a4_alone,
            );
            // The frames before the break are untouched by it (held ones leave first, smoothed
            // with each other); a flush drops the held ones.
            let before: Vec<u64> = outs.iter().map(|(k, _)| *k).filter(|&k| k < 3).collect();
            if matches!(brk, Break::Flush | Break::FlushNoSegment) && batch > 1 {
                assert!(before.is_empty(), "{what}: flushed frames came out");
            } else {
                for k in 0..3 {
                    assert_same(
                        &format!("{what}: A{} vs the same without a break", k + 1),
                        &frame(&outs, k, &what),
                        &frame(&plain, k, "no break"),
                    );
                }
            }
        }
    }
}

/// The same shot luma as the element gives the smoother, to check the test's pictures against
/// the engine's own scene-cut test.
fn cut_steps(frames: &[Photo]) -> Vec<ddcolor_engine::temporal::Step> {
    use ddcolor_engine::temporal::{Smoother, TemporalMode, TemporalSettings};
    let s = 64;
    let mut sm = Smoother::new(TemporalSettings {
        mode: TemporalMode::Recursive,
        ..Default::default()
    });
    let mut input = vec![0f32; 3 * s * s];
    frames
        .iter()
        .map(|f| {
            ddcolor_engine::model_input(f, s, &mut input);
            sm.apply(&input[..s * s], &mut vec![0f32; 2 * s * s], s)
        })
        .collect()
}

/// A scene cut (a pan, then another picture) starts afresh at the default threshold; with
/// scene-cut-threshold=1 (never cut) the new picture gets colour from the old one.
#[test]
fn temporal_scene_cut_starts_afresh() {
    let _w = watchdog("temporal_scene_cut_starts_afresh", 90);
    use gstddcolor::ddcolorize::Temporal as T;
    let mut frames = drifting(4);
    frames.push(ramp());
    // Set-up: the engine sees no cut within the pan and a cut at the ramp.
    let steps = cut_steps(&frames);
    for (k, st) in steps.iter().enumerate() {
        let want = k == 4;
        assert_eq!(
            st.cut,
            want,
            "test set-up: frame {k} cut score {} (threshold {})",
            st.cut_score,
            ddcolor_engine::temporal::DEFAULT_SCENE_CUT_THRESHOLD
        );
    }
    for mode in [T::Flow, T::Recursive] {
        let fresh = alone(mode, &frames[4]);
        let outs = run_seq(mode, 1, &frames);
        assert_same(
            &format!("{mode:?}: frame 5 (a new shot) vs alone"),
            &outs[4],
            &fresh,
        );
        assert_differs(
            &format!("{mode:?}: frame 4 (same shot) vs alone"),
            &outs[3],
            &alone(mode, &frames[3]),
        );

        let mut s = Seq::new(mode, 1);
        s.el.set_property("scene-cut-threshold", 1.0f32);
        for f in &frames {
            s.push(f);
        }
        let never = s.finish();
        assert_eq!(never.len(), 5);
        assert_differs(
            &format!("{mode:?}, scene-cut-threshold=1: frame 5 vs alone"),
            &never[4].1,
            &fresh,
        );
    }
}

#[test]
fn temporal_property_defaults() {
    let _w = watchdog("temporal_property_defaults", 30);
    init();
    use ddcolor_engine::temporal::{
        DEFAULT_MOTION_SENSITIVITY, DEFAULT_SCENE_CUT_THRESHOLD, DEFAULT_STRENGTH,
    };
    use gstddcolor::ddcolorize::Temporal as T;
    let el = gst::ElementFactory::make("ddcolorize").build().unwrap();
    assert_eq!(el.property::<T>("temporal"), T::Flow);
    assert_eq!(el.property::<f32>("temporal-strength"), DEFAULT_STRENGTH);
    assert_eq!(
        el.property::<f32>("motion-sensitivity"),
        DEFAULT_MOTION_SENSITIVITY
    );
    assert_eq!(
        el.property::<f32>("scene-cut-threshold"),
        DEFAULT_SCENE_CUT_THRESHOLD
    );

    let spec = |n: &str| el.find_property(n).unwrap();
    let t = spec("temporal");
    let t = t.downcast_ref::<glib::ParamSpecEnum>().unwrap();
    assert_eq!(t.default_value::<T>().unwrap(), T::Flow);
    let nicks: Vec<&str> = t.enum_class().values().iter().map(|v| v.nick()).collect();
    assert_eq!(nicks, ["off", "recursive", "flow"]);
    for (name, default, min, max) in [
        ("temporal-strength", DEFAULT_STRENGTH, 0.0, 0.99),
        (
            "motion-sensitivity",
            DEFAULT_MOTION_SENSITIVITY,
            0.0,
            10000.0,
        ),
        ("scene-cut-threshold", DEFAULT_SCENE_CUT_THRESHOLD, 0.0, 1.0),
    ] {
        let p = spec(name);
        let f = p.downcast_ref::<glib::ParamSpecFloat>().unwrap();
        assert_eq!(
            (f.default_value(), f.minimum(), f.maximum()),
            (default, min, max),
            "{name}: default, minimum, maximum"
        );
    }
    for name in [
        "temporal",
        "temporal-strength",
        "motion-sensitivity",
        "scene-cut-threshold",
    ] {
        let p = spec(name);
        assert!(
            p.flags().contains(gst::PARAM_FLAG_MUTABLE_PLAYING),
            "{name} is documented as changeable while playing"
        );
        assert!(
            p.flags().contains(glib::ParamFlags::READWRITE),
            "{name}: readable and writable"
        );
    }
}

/// The four properties can be set while PLAYING: the value sticks, and the next frame follows it.
#[test]
fn temporal_properties_change_while_playing() {
    let _w = watchdog("temporal_properties_change_while_playing", 120);
    use gstddcolor::ddcolorize::Temporal as T;
    let frames = drifting(6);
    let fresh: Vec<Vec<u8>> = frames.iter().map(|f| alone(T::Flow, f)).collect();
    let smoothed = run_seq(T::Flow, 1, &frames);

    // Pushes frames 0..=2 with the defaults, sets `name` to `value` while PLAYING, pushes frame 3
    // (and on): the outputs.
    let live = |name: &str, value: glib::Value, upto: usize| {
        let mut s = Seq::new(T::Flow, 1);
        for f in &frames[..3] {
            s.push(f);
        }
        assert_eq!(s.el.current_state(), gst::State::Playing);
        s.el.set_property_from_value(name, &value);
        let got = s.el.property_value(name);
        assert_eq!(
            format!("{got:?}"),
            format!("{value:?}"),
            "{name}: the value set while PLAYING does not stick"
        );
        for f in &frames[3..upto] {
            s.push(f);
        }
        let outs: Vec<Vec<u8>> = s.finish().into_iter().map(|(_, rgb)| rgb).collect();
        assert_eq!(outs.len(), upto, "{name}: one output per frame");
        for k in 0..3 {
            assert_same(
                &format!("{name}: frame {k}, before the change"),
                &outs[k],
                &smoothed[k],
            );
        }
        outs
    };

    // temporal=off: frame 3 has no past.
    let outs = live("temporal", T::Off.to_value(), 4);
    assert_differs(
        "default: frame 3 vs alone (test set-up)",
        &smoothed[3],
        &fresh[3],
    );
    assert_same("temporal=off while PLAYING: frame 3", &outs[3], &fresh[3]);

    // temporal=recursive: another mode starts afresh, then blends again.
    let outs = live("temporal", T::Recursive.to_value(), 5);
    assert_same(
        "temporal=recursive while PLAYING: frame 3",
        &outs[3],
        &fresh[3],
    );
    assert_differs(
        "temporal=recursive while PLAYING: frame 4 vs alone",
        &outs[4],
        &fresh[4],
    );

    // temporal-strength=0: nothing of the past is kept.
    let outs = live("temporal-strength", 0.0f32.to_value(), 5);
    for k in 3..5 {
        assert_same(
            &format!("temporal-strength=0 while PLAYING: frame {k}"),
            &outs[k],
            &fresh[k],
        );
    }

    // scene-cut-threshold=0: every change of picture is a cut.
    let outs = live("scene-cut-threshold", 0.0f32.to_value(), 5);
    for k in 3..5 {
        assert_same(
            &format!("scene-cut-threshold=0 while PLAYING: frame {k}"),
            &outs[k],
            &fresh[k],
        );
    }

    // motion-sensitivity=0: the luma difference no longer lowers the weight.
    let outs = live("motion-sensitivity", 0.0f32.to_value(), 4);
    assert_differs(
        "motion-sensitivity=0 while PLAYING: frame 3 vs the default sensitivity",
        &outs[3],
        &smoothed[3],
    );
    assert_differs(
        "motion-sensitivity=0 while PLAYING: frame 3 vs alone",
        &outs[3],
        &fresh[3],
    );
}

#[test]
fn gst_inspect_lists_temporal_properties() {
    let _w = watchdog("gst_inspect_lists_temporal_properties", 90);
    init();
    let env = PluginEnv::new("inspect-temporal");
    let mut cmd = env.command("gst-inspect-1.0");
    cmd.arg("ddcolorize");
    let (status, out, err) = env.run(cmd, Duration::from_secs(60));
    assert!(status.success(), "gst-inspect-1.0 ddcolorize failed: {err}");
    use ddcolor_engine::temporal::{
        DEFAULT_MOTION_SENSITIVITY, DEFAULT_SCENE_CUT_THRESHOLD, DEFAULT_STRENGTH,
    };
    let el = gst::ElementFactory::make("ddcolorize").build().unwrap();
    // (name, the default as gst-inspect shows it: a float, or the text it contains).
    for (name, default_float, default_text) in [
        ("temporal", None, "\"flow\""),
        ("temporal-strength", Some(DEFAULT_STRENGTH), ""),
        ("motion-sensitivity", Some(DEFAULT_MOTION_SENSITIVITY), ""),
        ("scene-cut-threshold", Some(DEFAULT_SCENE_CUT_THRESHOLD), ""),
    ] {
        let blurb = el
            .find_property(name)
            .unwrap()
            .blurb()
            .unwrap_or("")
            .to_string();
        assert!(blurb.len() > 20, "{name}: no real blurb ({blurb:?})");
        let at = out
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("gst-inspect does not list property {name}:\n{out}"));
        let line = out.lines().nth(at).unwrap();
        let head: String = blurb.chars().take(30).collect();
        assert!(
            line.contains(':') && line.contains(&head),
            "{name}: gst-inspect line lacks the blurb: {line}"
        );
        // The lines that follow, up to the next property, say it is changeable in PLAYING.
        let details: Vec<&str> = out
            .lines()
            .skip(at + 1)
            .take_while(|l| !l.trim().is_empty() && l.starts_with("    "))
            .take(8)
            .collect();
        assert!(
            details
                .iter()
                .any(|l| l.contains("changeable in NULL, READY, PAUSED or PLAYING")),
            "{name}: gst-inspect does not say it may change while playing:\n{}",
            details.join("\n")
        );
        let shown = details
            .iter()
            .find_map(|l| l.split_once("Default:").map(|(_, d)| d.trim()))
            .unwrap_or_else(|| panic!("{name}: gst-inspect shows no default"));
        match default_float {
            Some(want) => assert_eq!(
                shown.parse::<f32>().ok(),
                Some(want),
                "{name}: gst-inspect's default {shown:?}"
            ),
            None => assert!(
                shown.contains(default_text),
                "{name}: gst-inspect's default {shown:?}"
            ),
        }
    }
    for nick in ["off", "recursive", "flow"] {
        assert!(
            out.lines().any(|l| l.contains(&format!("): {nick} "))
                || l.trim_end().ends_with(&format!("): {nick}"))),
            "gst-inspect does not list temporal={nick}:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CUDA memory

fn cuda_structures(caps: &gst::CapsRef) -> Vec<Vec<String>> {
    caps.iter_with_features()
        .filter(|(_, f)| f.contains("memory:CUDAMemory"))
        .map(|(s, _)| {
            s.get::<gst::List>("format")
                .map(|l| l.iter().map(|v| v.get::<String>().unwrap()).collect())
                .unwrap_or_default()
        })
        .collect()
}

/// Both pad templates offer frames in CUDA memory (NV12, I420 and RGBA at least) besides
/// system memory. On a machine without a GPU, negotiation neither offers nor takes them, with
/// `device` cpu or auto, so pipelines there keep working in system memory.
#[test]
fn cuda_memory_is_in_the_templates_and_negotiated_only_with_a_gpu() {
    let _w = watchdog(
        "cuda_memory_is_in_the_templates_and_negotiated_only_with_a_gpu",
        60,
    );
    let el = element(DYNAMIC, 32);
    for name in ["sink", "src"] {
        let templ = el.pad_template(name).expect("template");
        let caps = templ.caps();
        let cuda = cuda_structures(caps);
        let formats: Vec<String> = cuda.concat();
        for f in ["NV12", "I420", "RGBA"] {
            assert!(
                formats.iter().any(|x| x == f),
                "{name}: {f} not in CUDA memory: {caps}"
            );
        }
        assert!(
            caps.iter_with_features()
                .any(|(_, f)| !f.contains("memory:CUDAMemory")),
            "{name}: no system memory"
        );
    }
    if ddcolor_engine::cuda::libraries_present().is_ok() {
        // Not a GPU test's skip: this half is for machines without a GPU.
        common::skipped(
            "cuda_memory_is_in_the_templates_and_negotiated_only_with_a_gpu (no-GPU half)",
            &"a CUDA driver is here",
        );
        return;
    }
    let cuda_nv12 = gst::Caps::builder("video/x-raw")
        .features(["memory:CUDAMemory"])
        .field("format", "NV12")
        .field("width", 64)
        .field("height", 48)
        .field("framerate", gst::Fraction::new(25, 1))
        .build();
    for device in ["auto", "cpu"] {
        let el = gst::ElementFactory::make("ddcolorize")
            .property("model", DYNAMIC)
            .property_from_str("device", device)
            .build()
            .expect("ddcolorize");
        for state in [gst::State::Null, gst::State::Ready] {
            el.set_state(state).expect("state");
            for name in ["sink", "src"] {
                let pad = el.static_pad(name).expect("pad");
                let caps = pad.query_caps(None);
                assert!(
                    cuda_structures(&caps).is_empty(),
                    "device={device}, {state:?}: {name} offers CUDA memory: {caps}"
                );
            }
            assert!(
                !el.static_pad("sink").unwrap().query_accept_caps(&cuda_nv12),
                "device={device}: CUDA memory accepted without a GPU"
            );
        }
        el.set_state(gst::State::Null).expect("null");
    }
}

/// Where a GPU and the GPU build of ONNX Runtime are there: `device=cuda` (kernels, frames in
/// GPU memory) gives the CPU element's frames within 1 level, in system memory for every
/// format pair below, and in CUDA memory through `cudaupload ! ddcolorize ! cudadownload`.
/// Skipped, visibly, anywhere else.
#[test]
fn gpu_element_equals_the_cpu_element_within_one_level() {
    let test = "gpu_element_equals_the_cpu_element_within_one_level";
    let _w = watchdog("gpu_element_equals_the_cpu_element_within_one_level", 300);
    init();
    if !common::gpu_or_skip(test, ddcolor_engine::cuda::libraries_present()) {
        return;
    }
    let gpu_model = Model::load(
        Path::new(DYNAMIC),
        &ModelOptions {
            device: ddcolor_engine::device::Device::Cuda,
            ..ModelOptions::default()
        },
    );
    if !common::gpu_or_skip(test, gpu_model) {
        return;
    }
    // One frame through `launch` (appsrc and appsink around it): the output's plane rows.
    let through = |middle: &str, fin: V, fout: V, photo: &Photo| -> Vec<Vec<u8>> {
        let (w, h) = (photo.width as u32, photo.height as u32);
        let in_info = info(fin, w, h);
        let pipeline = gst::parse::launch(&format!(
            "appsrc name=src format=time ! {middle} ! video/x-raw,format={} ! \
             appsink name=sink sync=false",
            fout.to_str()
        ))
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .unwrap();
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        src.set_caps(Some(&in_info.to_caps().unwrap()));
        let sink = pipeline
            .by_name("sink")
            .unwrap()
            .downcast::<gst_app::AppSink>()
            .unwrap();
        pipeline.set_state(gst::State::Playing).expect("playing");
        src.push_buffer(stamped(frame_buffer(&in_info, photo, None), 0))
            .expect("push");
        src.end_of_stream().expect("eos");
        let sample = sink
            .try_pull_sample(gst::ClockTime::from_seconds(120))
            .unwrap_or_else(|| panic!("{middle}: no output"));
        let out_info = info_of_caps(sample.caps().expect("caps"));
        let rows = plane_rows(sample.buffer_owned().as_ref().expect("buffer"), &out_info);
        pipeline.set_state(gst::State::Null).expect("null");
        rows
    };
    let cpu = format!("ddcolorize model={DYNAMIC} input-size=64 device=cpu");
    let gpu = format!("ddcolorize model={DYNAMIC} input-size=64 device=cuda");
    let mut cases = vec![
        (V::Rgb, V::Rgba, ""),
        (V::Gray8, V::Rgb, ""),
        (V::Bgrx, V::Bgrx, ""),
        (V::I420, V::I420, ""),
        (V::Nv12, V::Rgba, ""),
        (V::Y444, V::Nv12, ""),
    ];
    let nvcodec = ["cudaupload", "cudadownload"]
        .iter()
        .all(|f| gst::ElementFactory::find(f).is_some());
    let zero_copy = common::gpu_or_skip(
        &format!("{test} (CUDA memory)"),
        if nvcodec {
            Ok(())
        } else {
            Err("no cudaupload/cudadownload (nvcodec)")
        },
    );
    if zero_copy {
        cases.push((V::Nv12, V::Nv12, "cuda"));
        cases.push((V::Rgba, V::I420, "cuda"));
    }
    for (k, (fin, fout, memory)) in cases.into_iter().enumerate() {
        let photo = picture_for(fin, 67, 45, 300 + k);
        let gpu = if memory == "cuda" {
            format!("cudaupload ! {gpu} ! video/x-raw(memory:CUDAMemory) ! cudadownload")
        } else {
            gpu.clone()
        };
        let want = through(&cpu, fin, fout, &photo);
        let got = through(&gpu, fin, fout, &photo);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let (worst, _) = max_diff(g, w);
            assert!(
                worst <= 1,
                "{fin:?} -> {fout:?} {memory}: plane {i} off by {worst}"
            );
        }
    }
}
