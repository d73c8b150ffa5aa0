//! Integration tests of `ddcolor film`: what a user gets (every frame and timestamp of the input,
//! colour, the sound copied untouched, PNG frames equal to `ddcolor photo`'s results), and what
//! never happens (a result under the final name after a failure, a left-over `.ddcolor-*.part` file,
//! a run that hangs).
//!
//! The films written are inspected in-process with GStreamer (`decodebin` to RGB frames,
//! `parsebin` for the compressed streams). Every run of the binary and every GStreamer pipeline
//! has a watchdog: a run that takes too long, or uses no CPU time at all for a while (a
//! deadlocked pipeline), is killed and the test fails instead of stalling.
//!
//! Inputs: the films under `tests/media/` (read only), short clips and image
//! sequences made into temporary folders, and the generated test models, always passed with
//! `--model`, at a small `--input-size` to keep the runs fast.

#[macro_use]
mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::{Run, media, model, snapshot};
use gst::prelude::*;
use gst_video::prelude::*;
use image::{GrayImage, Luma, RgbImage};
use serde_json::{Value, json};
use tempfile::TempDir;

/// Where inputs shared between tests (made once per test binary run) are kept.
const SCRATCH: &str = env!("CARGO_TARGET_TMPDIR");

/// H.264, 432x320, 29/1 fps, 360 frames, 12.4 s, no sound, a grey film.
const ABOMB: &str = "film/a-bomb_blast_effects_part.mp4";
const ABOMB_FRAMES: usize = 360;
/// H.264 1280x720 25 fps, 132 frames, with AAC sound (6 channels).
const BUNNY: &str = "video-color/bigbuckbunny.mp4";
const BUNNY_FRAMES: usize = 132;

/// Limits for one run of the binary.
const SHORT: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Running the binary, with a watchdog
// ---------------------------------------------------------------------------------------------

/// `--model test-dynamic --input-size S`.
fn fast_model(size: u32) -> Vec<OsString> {
    args![
        "--model",
        model("test-dynamic"),
        "--input-size",
        size.to_string()
    ]
}

/// Starts `ddcolor ARGS` (see [`common::Running`]).
fn start(args: Vec<OsString>) -> common::Running {
    common::start(common::ddcolor_command(&args))
}

/// Runs `ddcolor ARGS`; fails the test when it takes longer than `limit` or uses no CPU time
/// for a while (hung).
fn run(args: Vec<OsString>, limit: Duration) -> Run {
    start(args).finish_unless_hung(limit)
}

/// `ddcolor film IN OUT EXTRA... --model test-dynamic --input-size 64`.
fn film(input: &Path, output: &Path, extra: &[&str], limit: Duration) -> Run {
    let mut a = args!["film", input, output];
    a.extend(extra.iter().map(OsString::from));
    a.extend(fast_model(64));
    run(a, limit)
}

// ---------------------------------------------------------------------------------------------
// Files left behind
// ---------------------------------------------------------------------------------------------

/// Hidden temporary files written beside `output` (`.ddcolor-PID-XXXXXX.part`, see
/// `ddcolor_engine::io::temp_file_beside`).
fn part_files(output: &Path) -> Vec<String> {
    let dir = output.parent().unwrap();
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".ddcolor-") && n.ends_with(".part"))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_part_files(output: &Path) {
    let parts = part_files(output);
    assert!(
        parts.is_empty(),
        "temporary files left beside {}: {parts:?}",
        output.display()
    );
}

/// After a failed run: nothing under the final name, no temporary file beside it.
fn assert_nothing_written(output: &Path) {
    assert!(
        !output.exists(),
        "{} exists after the failed run",
        output.display()
    );
    assert_no_part_files(output);
}

/// The `frame_NNNNNN.png` files in `dir`, sorted.
fn png_frames(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("frame_") && n.ends_with(".png"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn expected_png_frames(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("frame_{i:06}.png")).collect()
}

// ---------------------------------------------------------------------------------------------
// Looking into films with GStreamer, in-process
// ---------------------------------------------------------------------------------------------

fn gst_init() {
    gst::init().expect("GStreamer could not be initialised");
}

fn element(factory: &str) -> gst::Element {
    gst::ElementFactory::make(factory)
        .build()
        .unwrap_or_else(|e| panic!("GStreamer element {factory}: {e}"))
}

fn filesrc(path: &Path) -> gst::Element {
    gst::ElementFactory::make("filesrc")
        .property("location", path.to_str().unwrap())
        .build()
        .unwrap()
}

/// Sets a pipeline to NULL, failing the test if even that hangs.
fn stop(pipeline: &gst::Pipeline) {
    let p = pipeline.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = p.set_state(gst::State::Null);
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(30)).is_ok(),
        "a GStreamer pipeline did not stop within 30 s"
    );
}

/// Plays `pipeline` to end-of-stream. `Ok(duration)` (the pipeline's duration query at the end),
/// `Err` with the first error; panics when it has not ended after `limit`.
fn play_to_end(
    pipeline: &gst::Pipeline,
    what: &str,
    limit: Duration,
) -> Result<Option<u64>, String> {
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + limit;
    let started = pipeline.set_state(gst::State::Playing);
    let result = loop {
        if Instant::now() > deadline {
            stop(pipeline);
            panic!("{what}: the GStreamer pipeline did not end within {limit:?}");
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            if started.is_err() {
                break Err(format!("{what}: the pipeline could not start"));
            }
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => {
                break Ok(pipeline
                    .query_duration::<gst::ClockTime>()
                    .map(|d| d.nseconds()));
            }
            gst::MessageView::Error(e) => {
                break Err(format!(
                    "{what}: {} ({}: {})",
                    e.error(),
                    e.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    e.debug().map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            _ => {}
        }
    };
    stop(pipeline);
    result
}

/// One decoded frame.
struct Frame {
    /// When it is shown, in ns from the start of the film: the running time of its timestamp.
    /// (Raw timestamps of MP4s start where the edit list says, e.g. after the B-frame delay.)
    time: Option<u64>,
    duration: Option<u64>,
    width: u32,
    height: u32,
    /// Pixels with colour (R != G or G != B).
    coloured: u64,
    /// Packed RGB, for the frames asked for.
    rgb: Option<Vec<u8>>,
}

impl Frame {
    fn image(&self) -> RgbImage {
        RgbImage::from_raw(
            self.width,
            self.height,
            self.rgb.clone().expect("frame kept"),
        )
        .unwrap()
    }
}

/// Which frames' pixels `decode` keeps.
#[derive(Clone)]
enum Keep {
    None,
    All,
    Only(Vec<usize>),
}

struct Video {
    frames: Vec<Frame>,
    /// From the decoded caps.
    fps: Option<gst::Fraction>,
    /// The pipeline's duration at the end.
    duration: Option<u64>,
}

impl Video {
    fn times(&self) -> Vec<Option<u64>> {
        self.frames.iter().map(|f| f.time).collect()
    }

    /// End of the last frame.
    fn end(&self) -> Option<u64> {
        let last = self.frames.last()?;
        Some(last.time? + last.duration.unwrap_or(0))
    }

    fn colour_fraction(&self) -> f64 {
        let coloured: u64 = self.frames.iter().map(|f| f.coloured).sum();
        let all: u64 = self
            .frames
            .iter()
            .map(|f| f.width as u64 * f.height as u64)
            .sum();
        coloured as f64 / all.max(1) as f64
    }
}

/// Decodes the first video stream of `path` to RGB (`decodebin ! videoconvert ! RGB ! appsink`;
/// other streams go to a fakesink).
fn decode(path: &Path, keep: Keep, limit: Duration) -> Result<Video, String> {
    gst_init();
    let pipeline = gst::Pipeline::new();
    let src = filesrc(path);
    let dec = element("decodebin");
    pipeline.add_many([&src, &dec]).unwrap();
    src.link(&dec).unwrap();
    let frames = Arc::new(Mutex::new(Vec::<Frame>::new()));
    let fps = Arc::new(Mutex::new(None));
    let weak = pipeline.downgrade();
    let video_linked = Arc::new(Mutex::new(false));
    {
        let (frames, fps) = (frames.clone(), fps.clone());
        dec.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let is_video = caps
                .structure(0)
                .is_some_and(|s| s.name().starts_with("video/"));
            let mut linked = video_linked.lock().unwrap();
            if !is_video || *linked {
                let fake = element("fakesink");
                fake.set_property("sync", false);
                fake.set_property("async", false);
                pipeline.add(&fake).unwrap();
                fake.sync_state_with_parent().unwrap();
                pad.link(&fake.static_pad("sink").unwrap()).unwrap();
                return;
            }
            *linked = true;
            let convert = element("videoconvert");
            let sink = gst_app::AppSink::builder()
                .caps(
                    &gst_video::VideoCapsBuilder::new()
                        .format(gst_video::VideoFormat::Rgb)
                        .build(),
                )
                .sync(false)
                .build();
            sink.set_property("async", false);
            let (frames, fps, keep) = (frames.clone(), fps.clone(), keep.clone());
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let caps = sample.caps().ok_or(gst::FlowError::NotNegotiated)?;
                        let info = gst_video::VideoInfo::from_caps(caps)
                            .map_err(|_| gst::FlowError::NotNegotiated)?;
                        let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                        let frame =
                            gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
                                .map_err(|_| gst::FlowError::Error)?;
                        let (w, h) = (info.width() as usize, info.height() as usize);
                        let stride = frame.plane_stride()[0] as usize;
                        let data = frame.plane_data(0).map_err(|_| gst::FlowError::Error)?;
                        let mut rgb = Vec::with_capacity(w * h * 3);
                        for y in 0..h {
                            rgb.extend_from_slice(&data[y * stride..y * stride + w * 3]);
                        }
                        let coloured = rgb
                            .chunks_exact(3)
                            .filter(|p| p[0] != p[1] || p[1] != p[2])
                            .count() as u64;
                        let mut frames = frames.lock().unwrap();
                        let i = frames.len();
                        let kept = match &keep {
                            Keep::None => false,
                            Keep::All => true,
                            Keep::Only(v) => v.contains(&i),
                        };
                        fps.lock().unwrap().get_or_insert(info.fps());
                        frames.push(Frame {
                            time: buffer
                                .pts()
                                .and_then(|pts| {
                                    sample
                                        .segment()?
                                        .downcast_ref::<gst::ClockTime>()?
                                        .to_running_time(pts)
                                })
                                .map(|t| t.nseconds()),
                            duration: buffer.duration().map(|t| t.nseconds()),
                            width: w as u32,
                            height: h as u32,
                            coloured,
                            rgb: kept.then_some(rgb),
                        });
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            pipeline.add_many([&convert, sink.upcast_ref()]).unwrap();
            convert.link(&sink).unwrap();
            convert.sync_state_with_parent().unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&convert.static_pad("sink").unwrap()).unwrap();
        });
    }
    let duration = play_to_end(&pipeline, &path.display().to_string(), limit)?;
    let frames = std::mem::take(&mut *frames.lock().unwrap());
    let fps = *fps.lock().unwrap();
    Ok(Video {
        frames,
        fps,
        duration,
    })
}

fn decode_ok(path: &Path, keep: Keep) -> Video {
    decode(path, keep, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{}: does not decode: {e}", path.display()))
}

/// One elementary stream as `parsebin` gives it: compressed buffers, untouched.
struct Stream {
    caps: gst::Caps,
    buffers: Vec<Vec<u8>>,
}

impl Stream {
    fn name(&self) -> String {
        self.caps
            .structure(0)
            .map(|s| s.name().to_string())
            .unwrap_or_default()
    }

    fn kind(&self) -> &'static str {
        let n = self.name();
        if n.starts_with("video/") {
            "video"
        } else if n.starts_with("audio/") {
            "audio"
        } else {
            "other"
        }
    }
}

/// The elementary streams of a file (`filesrc ! parsebin`, each pad to an appsink), in the order
/// parsebin exposes them.
fn streams(path: &Path) -> Vec<Stream> {
    gst_init();
    let pipeline = gst::Pipeline::new();
    let src = filesrc(path);
    let parse = element("parsebin");
    pipeline.add_many([&src, &parse]).unwrap();
    src.link(&parse).unwrap();
    let found = Arc::new(Mutex::new(Vec::<Stream>::new()));
    let weak = pipeline.downgrade();
    {
        let found = found.clone();
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let index = {
                let mut f = found.lock().unwrap();
                f.push(Stream {
                    caps,
                    buffers: Vec::new(),
                });
                f.len() - 1
            };
            let sink = gst_app::AppSink::builder().sync(false).build();
            // Without a queue, a sink waiting for preroll would block the demuxer before the
            // other streams' sinks get their first buffer: async=false lets the pipeline play.
            sink.set_property("async", false);
            let found = found.clone();
            sink.set_callbacks(
                gst_app::AppSinkCallbacks::builder()
                    .new_sample(move |sink| {
                        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                        let buffer = sample.buffer().ok_or(gst::FlowError::Error)?;
                        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
                        let mut f = found.lock().unwrap();
                        if let Some(caps) = sample.caps() {
                            f[index].caps = caps.to_owned();
                        }
                        f[index].buffers.push(map.as_slice().to_vec());
                        Ok(gst::FlowSuccess::Ok)
                    })
                    .build(),
            );
            pipeline.add(&sink).unwrap();
            sink.sync_state_with_parent().unwrap();
            pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        });
    }
    play_to_end(
        &pipeline,
        &path.display().to_string(),
        Duration::from_secs(120),
    )
    .unwrap_or_else(|e| panic!("{}: cannot be parsed: {e}", path.display()));
    std::mem::take(&mut *found.lock().unwrap())
}

fn stream_of<'a>(streams: &'a [Stream], kind: &str, path: &Path) -> &'a Stream {
    let of_kind: Vec<&Stream> = streams.iter().filter(|s| s.kind() == kind).collect();
    assert_eq!(
        of_kind.len(),
        1,
        "{}: expected one {kind} stream, found {:?}",
        path.display(),
        streams.iter().map(Stream::name).collect::<Vec<_>>()
    );
    of_kind[0]
}

/// Runs a `gst-launch`-style description whose `filesrc`/`filesink` are named `src`/`sink`.
fn make_with_gst(description: &str, src: Option<&Path>, sink: &Path) {
    gst_init();
    let pipeline = gst::parse::launch(description)
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    if let Some(src) = src {
        pipeline
            .by_name("src")
            .unwrap()
            .set_property("location", src.to_str().unwrap());
    }
    pipeline
        .by_name("sink")
        .unwrap()
        .set_property("location", sink.to_str().unwrap());
    play_to_end(&pipeline, description, Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("making {}: {e}", sink.display()));
}

// ---------------------------------------------------------------------------------------------
// Shared inputs and runs (made once per test binary run, under CARGO_TARGET_TMPDIR)
// ---------------------------------------------------------------------------------------------

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(SCRATCH).join("film-tests").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The start of the a-bomb film, re-encoded (H.264 without B-frames, 432x320, 29/1 fps): a short
/// input. `identity eos-after=30` stops it at about 30 frames; the decoder's reordered frames
/// still come through, so the clip has 32 frames with one missing timestamp (1.0 s): a gap the
/// films made from it must keep too.
fn clip() -> &'static Path {
    &clip_and_frames().0
}

/// Frames in the short clip.
fn clip_frames() -> usize {
    clip_and_frames().1
}

fn clip_and_frames() -> &'static (PathBuf, usize) {
    static CLIP: OnceLock<(PathBuf, usize)> = OnceLock::new();
    CLIP.get_or_init(|| {
        let path = scratch("clip").join("clip.mp4");
        make_with_gst(
            "filesrc name=src ! qtdemux ! h264parse ! avdec_h264 ! identity eos-after=30 \
                 ! videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux ! filesink name=sink",
            Some(&media(ABOMB)),
            &path,
        );
        let v = decode_ok(&path, Keep::None);
        let n = v.frames.len();
        assert!((25..=40).contains(&n), "the test clip has {n} frames");
        (path, n)
    })
}

/// The whole a-bomb film colorized once with `--frames`: tests 1 and 2 look at it.
struct AbombRun {
    output: PathBuf,
    frames_dir: PathBuf,
}

fn abomb_run() -> &'static AbombRun {
    static RUN: OnceLock<AbombRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("abomb");
        let output = dir.join("out.mp4");
        let frames_dir = dir.join("frames");
        let r = film(
            &media(ABOMB),
            &output,
            // Off: the frames must equal `ddcolor photo`'s (one recipe); smoothing has its tests.
            &[
                "--frames",
                frames_dir.to_str().unwrap(),
                "--temporal",
                "off",
            ],
            LONG,
        );
        r.assert_ok();
        assert!(
            r.stderr.contains("done: 360 frames"),
            "no `done: 360 frames` line:\n{}",
            r.stderr
        );
        AbombRun { output, frames_dir }
    })
}

fn grey_frame(w: u32, h: u32, i: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        Luma([(40 + (x * 7 + y * 3 + i * 11) % 170) as u8])
    })
}

/// A folder of `n` grey PNG frames `frame_01.png`...
fn sequence(dir: &Path, n: u32, w: u32, h: u32) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        grey_frame(w, h, i)
            .save(dir.join(format!("frame_{:02}.png", i + 1)))
            .unwrap();
    }
}

/// Same number of frames, each shown at the same time (to `tolerance` ns).
fn assert_same_times(input: &[Option<u64>], output: &[Option<u64>], tolerance: u64, what: &str) {
    assert_eq!(output.len(), input.len(), "{what}: frame count");
    for (i, (a, b)) in input.iter().zip(output).enumerate() {
        let (a, b) = (
            a.unwrap_or_else(|| panic!("{what}: input frame {i} has no timestamp")),
            b.unwrap_or_else(|| panic!("{what}: output frame {i} has no timestamp")),
        );
        assert!(
            a.abs_diff(b) <= tolerance,
            "{what}: frame {i} is shown at {b} ns, the input's at {a} ns"
        );
    }
}

/// Half a millisecond: Matroska's time resolution (TimecodeScale 1 ms), rounded.
const MATROSKA_MS: u64 = 500_000;

// ---------------------------------------------------------------------------------------------
// 1-2. The a-bomb film: every frame and timestamp, colour, PNG frames equal to `ddcolor photo`
// ---------------------------------------------------------------------------------------------

#[test]
fn film_keeps_every_frame_and_timestamp() {
    let input = media(ABOMB);
    let run = abomb_run();
    assert_no_part_files(&run.output);

    let inp = decode_ok(&input, Keep::None);
    assert_eq!(inp.frames.len(), ABOMB_FRAMES, "input frame count");
    assert_eq!(inp.fps, Some(gst::Fraction::new(29, 1)), "input frame rate");

    let out = decode_ok(&run.output, Keep::None);
    assert_eq!(out.frames.len(), ABOMB_FRAMES, "output frame count");
    for (i, f) in out.frames.iter().enumerate() {
        assert_eq!((f.width, f.height), (432, 320), "frame {i}: size");
    }
    assert_eq!(out.fps, inp.fps, "output frame rate");
    // 1 ns: rounding of 1/29 s to MP4 track ticks (see the interrupt test).
    assert_same_times(&inp.times(), &out.times(), 1, "a-bomb .mp4");

    let frame_ns = 1_000_000_000 / 29;
    let (din, dout) = (
        inp.duration.expect("input duration"),
        out.duration.expect("output duration"),
    );
    eprintln!(
        "duration: input {din} ns, output {dout} ns; stream end: input {:?}, output {:?}",
        inp.end(),
        out.end()
    );
    assert!(
        din.abs_diff(dout) <= frame_ns,
        "durations differ by more than a frame: input {din} ns, output {dout} ns"
    );
    let (ein, eout) = (inp.end().unwrap(), out.end().unwrap());
    assert!(
        ein.abs_diff(eout) <= frame_ns,
        "last frames end apart: input {ein} ns, output {eout} ns"
    );

    let (cin, cout) = (inp.colour_fraction(), out.colour_fraction());
    eprintln!(
        "pixels with colour: input {:.2}%, output {:.2}%",
        cin * 100.0,
        cout * 100.0
    );
    assert!(
        cout > 0.3 && cout > cin + 0.2,
        "the output has little colour: {:.2}% of its pixels (input {:.2}%)",
        cout * 100.0,
        cin * 100.0
    );

    assert_eq!(
        png_frames(&run.frames_dir),
        expected_png_frames(ABOMB_FRAMES),
        "PNG frames in {}",
        run.frames_dir.display()
    );
    let first = image::open(run.frames_dir.join("frame_000001.png")).unwrap();
    assert_eq!((first.width(), first.height()), (432, 320));
}

#[test]
fn png_frames_equal_photo_results() {
    let input = media(ABOMB);
    let shared = abomb_run();
    let picks = [1usize, 180, 360];
    let inp = decode_ok(&input, Keep::Only(picks.iter().map(|k| k - 1).collect()));
    let tmp = TempDir::new().unwrap();
    let stills = tmp.path().join("stills");
    let colour = tmp.path().join("colour");
    fs::create_dir(&stills).unwrap();
    let mut a = args!["photo"];
    for k in picks {
        let p = stills.join(format!("in_{k:06}.png"));
        inp.frames[k - 1].image().save(&p).unwrap();
        a.push(p.into());
    }
    a.extend(args!["-o", colour]);
    a.extend(fast_model(64));
    run(a, SHORT).assert_ok();
    for k in picks {
        let photo = image::open(colour.join(format!("in_{k:06}.png")))
            .unwrap()
            .to_rgb8();
        let frame = image::open(shared.frames_dir.join(format!("frame_{k:06}.png")))
            .unwrap()
            .to_rgb8();
        assert_eq!(photo.dimensions(), frame.dimensions(), "frame {k}: size");
        let max = photo
            .as_raw()
            .iter()
            .zip(frame.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let differing = photo
            .as_raw()
            .iter()
            .zip(frame.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        eprintln!("frame {k}: max difference {max}, {differing} samples differ");
        assert!(
            max <= 1,
            "frame {k}: the --frames PNG differs from `ddcolor photo` by up to {max} levels \
             ({differing} samples differ)"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Containers and codecs
// ---------------------------------------------------------------------------------------------

/// Colorizes the 30-frame clip into `name` and checks codec, frame count, size and timestamps.
/// Matroska and WebM store times in milliseconds (their default TimecodeScale): `tolerance` ns.
fn container_case(
    name: &str,
    extra: &[&str],
    codec: &str,
    tolerance: u64,
) -> (TempDir, PathBuf, Video) {
    let input = clip();
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join(name);
    film(input, &output, extra, SHORT).assert_ok();
    assert_no_part_files(&output);
    let s = streams(&output);
    assert_eq!(
        stream_of(&s, "video", &output).name(),
        codec,
        "{}: video codec",
        output.display()
    );
    let inp = decode_ok(input, Keep::None);
    let out = decode_ok(&output, Keep::All);
    assert_eq!(
        out.frames.len(),
        clip_frames(),
        "{}: frame count",
        output.display()
    );
    assert!(
        out.frames.iter().all(|f| (f.width, f.height) == (432, 320)),
        "{}: frame size",
        output.display()
    );
    assert_same_times(
        &inp.times(),
        &out.times(),
        tolerance,
        &output.display().to_string(),
    );
    (tmp, output, out)
}

#[test]
fn mkv_is_h264() {
    let (_tmp, _, out) = container_case("out.mkv", &[], "video/x-h264", MATROSKA_MS);
    assert!(out.colour_fraction() > 0.3, "little colour in the .mkv");
}

#[test]
fn mkv_lossless_is_ffv1_and_bit_exact() {
    let tmp = TempDir::new().unwrap();
    let frames_dir = tmp.path().join("frames");
    let (_t, output, out) = container_case(
        "master.mkv",
        &["--lossless", "--frames", frames_dir.to_str().unwrap()],
        "video/x-ffv",
        MATROSKA_MS,
    );
    assert_eq!(png_frames(&frames_dir), expected_png_frames(clip_frames()));
    for (i, f) in out.frames.iter().enumerate() {
        let png = image::open(frames_dir.join(format!("frame_{:06}.png", i + 1)))
            .unwrap()
            .to_rgb8();
        let decoded = f.image();
        let differing = png
            .as_raw()
            .iter()
            .zip(decoded.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing,
            0,
            "{}: frame {} differs from its --frames PNG in {differing} samples (FFV1 is lossless)",
            output.display(),
            i + 1
        );
    }
}

/// `--workflow`: the workflow's post-processing runs on every frame (saturation 0 turns every
/// frame grey); a broken workflow is refused before anything is written.
#[test]
fn film_runs_a_workflow_on_every_frame() {
    let tmp = TempDir::new().unwrap();
    let scans = tmp.path().join("scans");
    sequence(&scans, 5, 64, 48);
    let wf = tmp.path().join("grey.json");
    fs::write(
        &wf,
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["1", 0], "size": 64}},
            "3": {"class_type": "DDColor-Saturation", "inputs": {"image": ["2", 0], "saturation": 0}},
            "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}}"#,
    )
    .unwrap();
    let output = tmp.path().join("out.mkv");
    let frames = tmp.path().join("frames");
    let wf_arg = wf.to_string_lossy().into_owned();
    let frames_arg = frames.to_string_lossy().into_owned();
    let extra = [
        "--fps",
        "25",
        "--workflow",
        &wf_arg,
        "--frames",
        &frames_arg,
    ];
    film(&scans, &output, &extra, SHORT).assert_ok();
    assert_eq!(png_frames(&frames), expected_png_frames(5));
    for name in png_frames(&frames) {
        let img = image::open(frames.join(&name)).unwrap().to_rgb8();
        let worst = img
            .pixels()
            .map(|p| p.0[0].abs_diff(p.0[1]).max(p.0[1].abs_diff(p.0[2])))
            .max()
            .unwrap();
        assert!(worst <= 1, "{name}: not grey (channels differ by {worst})");
    }

    let output = tmp.path().join("bad.mp4");
    let r = film(
        &scans,
        &output,
        &["--fps", "25", "--workflow", "potrait"],
        SHORT,
    );
    r.assert_failed();
    r.assert_one_error(
        Path::new("potrait"),
        &["unknown workflow", "portrait, building"],
    );
    assert_nothing_written(&output);
}

/// Where the element runs reaches the user even though stderr is not a terminal here (the
/// progress bar is hidden then, and its `println` would print nothing).
#[test]
fn device_note_is_printed_without_a_terminal() {
    if std::env::var_os("ORT_DYLIB_PATH").is_some() {
        common::skipped(
            "device_note_is_printed_without_a_terminal",
            &"ORT_DYLIB_PATH names another ONNX Runtime library (maybe a GPU build)",
        );
        return;
    }
    let tmp = TempDir::new().unwrap();
    let scans = tmp.path().join("scans");
    sequence(&scans, 2, 32, 24);
    let output = tmp.path().join("out.mkv");
    let r = film(&scans, &output, &["--fps", "25"], SHORT);
    r.assert_ok();
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("note: ddcolorize runs on the CPU:")
                && l.contains("onnxruntime-gpu")),
        "{}",
        r.stderr
    );
}

#[test]
fn lossless_needs_mkv() {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    let r = film(clip(), &output, &["--lossless"], SHORT);
    r.assert_failed();
    r.assert_one_error(&output, &["--lossless", "mkv"]);
    assert_nothing_written(&output);
}

#[test]
fn webm_is_vp9() {
    let (_tmp, _, out) = container_case("out.webm", &[], "video/x-vp9", MATROSKA_MS);
    assert!(out.colour_fraction() > 0.3, "little colour in the .webm");
}

// ---------------------------------------------------------------------------------------------
// 4. Sound
// ---------------------------------------------------------------------------------------------

/// Colorizes Big Buck Bunny into `name`: 132 frames, and returns the output's streams.
fn bunny(name: &str) -> (TempDir, PathBuf, Run, Vec<Stream>) {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join(name);
    let r = film(&media(BUNNY), &output, &[], LONG);
    r.assert_ok();
    assert_no_part_files(&output);
    let out = decode_ok(&output, Keep::None);
    assert_eq!(
        out.frames.len(),
        BUNNY_FRAMES,
        "{}: frame count",
        output.display()
    );
    assert!(
        out.frames
            .iter()
            .all(|f| (f.width, f.height) == (1280, 720))
    );
    let s = streams(&output);
    (tmp, output, r, s)
}

fn assert_sound_copied(name: &str) {
    let input = media(BUNNY);
    let ins = streams(&input);
    let ina = stream_of(&ins, "audio", &input);
    assert_eq!(ina.name(), "audio/mpeg");
    let (_tmp, output, r, outs) = bunny(name);
    assert!(
        !r.stderr.contains("re-encoding"),
        "AAC should be copied into {name}, stderr:\n{}",
        r.stderr
    );
    let outa = stream_of(&outs, "audio", &output);
    assert_eq!(
        outa.name(),
        "audio/mpeg",
        "{}: audio codec",
        output.display()
    );
    assert_eq!(
        outa.buffers.len(),
        ina.buffers.len(),
        "{}: number of AAC frames",
        output.display()
    );
    let first_diff = ina
        .buffers
        .iter()
        .zip(&outa.buffers)
        .position(|(a, b)| a != b);
    assert!(
        first_diff.is_none(),
        "{}: AAC frame {} differs from the input's",
        output.display(),
        first_diff.unwrap_or(0)
    );
}

#[test]
fn sound_is_copied_into_mp4() {
    assert_sound_copied("out.mp4");
}

#[test]
fn sound_is_copied_into_mkv() {
    assert_sound_copied("out.mkv");
}

#[test]
fn sound_is_reencoded_for_webm() {
    let (_tmp, output, r, outs) = bunny("out.webm");
    let note = r
        .stderr
        .lines()
        .find(|l| l.starts_with("note:") && l.contains("re-encoding"));
    assert!(
        note.is_some_and(|l| l.contains("opus")),
        "no note about re-encoding the sound with Opus, stderr:\n{}",
        r.stderr
    );
    let a = stream_of(&outs, "audio", &output);
    assert_eq!(
        a.name(),
        "audio/x-opus",
        "{}: audio codec",
        output.display()
    );
    assert!(
        a.buffers.len() > 100,
        "{}: only {} Opus packets",
        output.display(),
        a.buffers.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Image sequences
// ---------------------------------------------------------------------------------------------

/// Each timestamp is frame i at `fps`, to GStreamer's nanosecond rounding.
fn assert_timestamps(v: &Video, fps: gst::Fraction, what: &str) {
    for (i, f) in v.frames.iter().enumerate() {
        let exact = i as u128 * 1_000_000_000 * fps.denom() as u128 / fps.numer() as u128;
        let pts = f
            .time
            .unwrap_or_else(|| panic!("{what}: frame {i} without timestamp"))
            as u128;
        assert!(
            pts.abs_diff(exact) <= 1,
            "{what}: frame {i} at {pts} ns, expected {exact} ns"
        );
    }
    assert_eq!(v.fps, Some(fps), "{what}: frame rate");
}

/// Colorizes a 12-frame grey sequence of `w`x`h` at `--fps fps_arg` and checks the film.
fn check_sequence(w: u32, h: u32, fps_arg: &str, fps: gst::Fraction) {
    let tmp = TempDir::new().unwrap();
    let seq = tmp.path().join("scans");
    sequence(&seq, 12, w, h);
    let output = tmp.path().join("film.mp4");
    let what = format!("{w}x{h} --fps {fps_arg}");
    film(&seq, &output, &["--fps", fps_arg], SHORT).assert_ok();
    assert_no_part_files(&output);
    let v = decode_ok(&output, Keep::All);
    assert_eq!(v.frames.len(), 12, "{what}: frame count");
    // H.264 4:2:0 needs even sizes: an odd one is padded by one column or row repeating the
    // edge (README, Film).
    let (ew, eh) = (w + w % 2, h + h % 2);
    assert!(
        v.frames.iter().all(|f| (f.width, f.height) == (ew, eh)),
        "{what}: frame size is not {ew}x{eh}"
    );
    let s = streams(&output);
    let caps = &stream_of(&s, "video", &output).caps;
    let st = caps.structure(0).unwrap();
    assert_eq!(
        st.get::<&str>("chroma-format").ok(),
        Some("4:2:0"),
        "{what}: not 4:2:0: {caps}"
    );
    // The added column/row repeats the edge (within the codec's error), no black line.
    let img = v.frames[5].image();
    for (x0, y0, x1, y1, n) in [
        (ew - 1, 0, ew - 2, 0, (eh, true)),
        (0, eh - 1, 0, eh - 2, (ew, false)),
    ] {
        if (n.1 && w.is_multiple_of(2)) || (!n.1 && h.is_multiple_of(2)) {
            continue;
        }
        let mut diff = 0u64;
        for i in 0..n.0 {
            let (a, b) = if n.1 {
                (img.get_pixel(x0, y0 + i), img.get_pixel(x1, y1 + i))
            } else {
                (img.get_pixel(x0 + i, y0), img.get_pixel(x1 + i, y1))
            };
            diff +=
                a.0.iter()
                    .zip(b.0)
                    .map(|(p, q)| p.abs_diff(q) as u64)
                    .sum::<u64>();
        }
        let mean = diff as f64 / (3 * n.0) as f64;
        assert!(
            mean < 12.0,
            "{what}: the padding differs from the edge by {mean:.1} levels on average"
        );
    }
    assert_timestamps(&v, fps, &what);
    assert!(
        v.colour_fraction() > 0.3,
        "{what}: little colour ({:.1}%)",
        v.colour_fraction() * 100.0
    );
}

/// An odd height: padded to 62 rows, H.264 4:2:0. Frame i at exactly i/24 s and i*1001/30000 s.
#[test]
fn image_sequence_with_fps() {
    check_sequence(100, 61, "24", gst::Fraction::new(24, 1));
    check_sequence(100, 61, "29.97", gst::Fraction::new(30000, 1001));
}

/// A width that is not a multiple of 4: GStreamer pads each row of a Gray8/RGB frame to 4 bytes.
#[test]
fn image_sequence_of_odd_width() {
    check_sequence(99, 61, "24", gst::Fraction::new(24, 1));
}

#[test]
fn image_sequence_without_fps() {
    let tmp = TempDir::new().unwrap();
    let seq = tmp.path().join("scans");
    sequence(&seq, 3, 40, 30);
    let output = tmp.path().join("film.mp4");
    let r = film(&seq, &output, &[], SHORT);
    r.assert_failed();
    r.assert_one_error(&seq, &["--fps"]);
    assert_nothing_written(&output);
}

#[test]
fn image_sequence_with_a_frame_of_another_size() {
    let tmp = TempDir::new().unwrap();
    let seq = tmp.path().join("scans");
    sequence(&seq, 12, 99, 61);
    let odd = seq.join("frame_07.png");
    grey_frame(100, 61, 6).save(&odd).unwrap();
    let output = tmp.path().join("film.mp4");
    let r = film(&seq, &output, &["--fps", "24"], SHORT);
    r.assert_failed();
    r.assert_one_error(&odd, &["100x61", "99x61"]);
    assert_nothing_written(&output);
}

// ---------------------------------------------------------------------------------------------
// 6. Bad inputs and outputs: a clear one-line error, nothing written, no hang
// ---------------------------------------------------------------------------------------------

/// `ddcolor film input out.mp4` fails with one error line naming `input` (and each of `words`),
/// leaves nothing in the output folder, and does not quote GStreamer's source positions.
fn check_bad_input(input: &Path, words: &[&str]) {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    let r = film(input, &output, &[], SHORT);
    r.assert_failed();
    let line = r.assert_one_error(input, words);
    assert_nothing_written(&output);
    assert!(
        fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "files left in the output folder"
    );
    // film.rs's short_debug() promises the useful part "without source file positions".
    assert!(
        !line.contains(".c("),
        "the error quotes GStreamer's C source positions: {line:?}"
    );
}

#[test]
fn truncated_mp4() {
    // The a-bomb film keeps its index (moov) at the end: its first 40% has frames but no index.
    let tmp = TempDir::new().unwrap();
    let bytes = fs::read(media(ABOMB)).unwrap();
    let input = tmp.path().join("truncated.mp4");
    fs::write(&input, &bytes[..bytes.len() * 2 / 5]).unwrap();
    check_bad_input(&input, &[]);
}

#[test]
fn random_bytes_named_mp4() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("noise.mp4");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(&input, bytes).unwrap();
    check_bad_input(&input, &[]);
}

#[test]
fn text_file_named_mp4() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("notes.mp4");
    fs::write(&input, "not a film\n".repeat(100)).unwrap();
    check_bad_input(&input, &[]);
}

#[test]
fn file_without_video() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("sound.mp4");
    make_with_gst(
        "audiotestsrc num-buffers=50 ! audioconvert ! avenc_aac ! aacparse ! mp4mux ! filesink name=sink",
        None,
        &input,
    );
    check_bad_input(&input, &["no video"]);
}

#[test]
fn missing_input() {
    let tmp = TempDir::new().unwrap();
    check_bad_input(&tmp.path().join("nothing.mp4"), &["no such file"]);
}

#[test]
fn unsupported_output_extension() {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.avi");
    let r = film(clip(), &output, &[], SHORT);
    r.assert_failed();
    r.assert_one_error(&output, &["unsupported output format"]);
    assert_nothing_written(&output);
}

#[test]
fn output_in_an_unwritable_folder() {
    let sys = Path::new("/sys");
    let probe = sys.join(".ddcolor-film-test-probe");
    if fs::File::create(&probe).is_ok() {
        let _ = fs::remove_file(&probe);
        common::skipped(
            "output_in_an_unwritable_folder",
            &"/sys accepts new files here",
        );
        return;
    }
    let output = sys.join("out.mp4");
    let r = film(clip(), &output, &[], SHORT);
    r.assert_failed();
    r.assert_one_error(&output, &["cannot write"]);
    assert_nothing_written(&output);
}

#[test]
fn output_equal_to_input() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("reel.mp4");
    fs::copy(clip(), &input).unwrap();
    let snap = snapshot(&input);
    for output in [input.clone(), tmp.path().join(".").join("reel.mp4")] {
        let r = film(&input, &output, &["--overwrite"], SHORT);
        r.assert_failed();
        r.assert_one_error(&output, &["overwrite the input"]);
        assert_no_part_files(&input);
        snap.assert_untouched();
    }
}

#[test]
fn existing_output_needs_overwrite() {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    fs::write(&output, b"an earlier result").unwrap();
    let snap = snapshot(&output);
    let r = film(clip(), &output, &[], SHORT);
    r.assert_failed();
    r.assert_one_error(&output, &["already exists", "--overwrite"]);
    snap.assert_untouched();
    assert_no_part_files(&output);

    // With --overwrite it is replaced by the film.
    film(clip(), &output, &["--overwrite"], SHORT).assert_ok();
    assert_no_part_files(&output);
    assert_eq!(decode_ok(&output, Keep::None).frames.len(), clip_frames());
}

#[test]
fn missing_model() {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    let missing = Path::new("/nonexistent/x.onnx");
    let r = run(args!["film", clip(), output, "--model", missing], SHORT);
    r.assert_failed();
    r.assert_one_error(missing, &["not found"]);
    assert_nothing_written(&output);
}

// ---------------------------------------------------------------------------------------------
// 6b. `--events`: the progress stream a front end (the web app) reads
// ---------------------------------------------------------------------------------------------

/// The events in `text`: every line one JSON object (nothing else may share the stream).
fn events_in(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON event ({e}): {l:?}\nstream:\n{text}"))
        })
        .collect()
}

/// The `end` event: the last one, and the only one.
fn film_end(events: &[Value]) -> &Value {
    let ends = events.iter().filter(|e| e["event"] == "end").count();
    assert_eq!(ends, 1, "{events:#?}");
    let end = events.last().expect("no events");
    assert_eq!(end["event"], "end", "{events:#?}");
    assert!(end["seconds"].as_f64().is_some(), "{end}");
    end
}

/// `--events -`: stdout holds only the events: `start`, `frames` as the film goes (at most
/// twice a second, never going back), notes, and `end` with every frame.
#[test]
fn film_events_tell_start_progress_and_end() {
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    let r = film(clip(), &output, &["--events", "-"], SHORT);
    r.assert_ok();
    let events = events_in(&r.stdout);
    assert_eq!(
        events[0],
        json!({
            "event": "start",
            "kind": "film",
            "input": clip().to_str().unwrap(),
            "output": output.to_str().unwrap(),
            "frames": null,
            "duration": null
        })
    );
    let mut last_done = 0;
    for e in &events[1..events.len() - 1] {
        match e["event"].as_str() {
            Some("frames") => {
                let done = e["done"].as_u64().expect("frames without done");
                assert!(
                    done >= last_done && done <= clip_frames() as u64,
                    "{events:#?}"
                );
                assert!(e["total"].is_null() || e["total"].is_u64(), "{e}");
                last_done = done;
            }
            Some("note") => assert!(e["text"].is_string(), "{e}"),
            _ => panic!("unexpected event {e}"),
        }
    }
    let end = film_end(&events);
    assert_eq!(end["state"], "done", "{end}");
    assert_eq!(end["frames"], clip_frames(), "{end}");
    assert_eq!(end["output"], output.to_str().unwrap(), "{end}");
    assert!(end.get("error").is_none(), "{end}");
}

/// A film that fails once started ends its stream with the reason (an image sequence's start
/// knows its frames and length); one refused before it starts writes no events at all.
#[test]
fn film_events_end_a_failed_run_with_its_reason() {
    let tmp = TempDir::new().unwrap();
    let seq = tmp.path().join("scans");
    sequence(&seq, 4, 40, 30);
    grey_frame(42, 30, 2)
        .save(seq.join("frame_03.png"))
        .unwrap();
    let output = tmp.path().join("film.mp4");
    let stream = tmp.path().join("events.jsonl");
    let r = film(
        &seq,
        &output,
        &["--fps", "24", "--events", stream.to_str().unwrap()],
        SHORT,
    );
    r.assert_failed();
    assert_eq!(r.stdout, "", "stdout must stay empty with --events FILE");
    assert_nothing_written(&output);
    let events = events_in(&fs::read_to_string(&stream).unwrap());
    let start = &events[0];
    assert_eq!(start["event"], "start", "{events:#?}");
    assert_eq!(start["frames"], 4, "{start}");
    let duration = start["duration"].as_f64().expect("no duration");
    assert!((duration - 4.0 / 24.0).abs() < 1e-9, "{start}");
    let end = film_end(&events);
    assert_eq!(end["state"], "failed", "{end}");
    let error = end["error"].as_str().expect("a failed end without error");
    assert!(
        error.contains("42x30") && error.contains("40x30"),
        "{error:?}"
    );

    let r = film(clip(), &output, &["--lossless", "--events", "-"], SHORT);
    r.assert_failed();
    assert_eq!(r.stdout, "", "events from a film refused before it started");
}

// ---------------------------------------------------------------------------------------------
// 7. Ctrl-C: a playable file with the frames done so far
// ---------------------------------------------------------------------------------------------

/// Starts a slow film run (bench.onnx at 256, about 0.2 s a frame: the whole film would take
/// over a minute) writing `--frames` into `frames_dir`, and sends it `signal` once 3 frames are
/// done.
fn start_and_interrupt(
    input: &Path,
    output: &Path,
    frames_dir: &Path,
    extra: &[&str],
    signal: &str,
) -> common::Running {
    let mut a = args![
        "film",
        input,
        output,
        "--frames",
        frames_dir,
        "--model",
        model("bench"),
        "--input-size",
        "256"
    ];
    a.extend(extra.iter().map(OsString::from));
    let mut running = start(a);
    let deadline = Instant::now() + Duration::from_secs(120);
    while png_frames(frames_dir).len() < 3 {
        assert!(
            !running.has_exited(),
            "the run ended before 3 frames were done"
        );
        if Instant::now() > deadline {
            running.kill_and_fail("fewer than 3 frames done after 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} failed");
    running
}

/// Sends `signal` (`INT`, `TERM`) to a film run once it has done 3 frames: the run must finish
/// a playable file with the frames done so far, say how many, and exit 130 (not finished).
fn interrupt_finishes_a_playable_file(signal: &str) {
    let input = media(ABOMB);
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    let frames_dir = tmp.path().join("frames");
    let running = start_and_interrupt(&input, &output, &frames_dir, &[], signal);
    let r = running.finish_unless_hung(Duration::from_secs(120));
    assert_eq!(
        r.code(),
        Some(130),
        "SIG{signal}: an interrupted film must exit 130, stderr:\n{}",
        r.stderr
    );
    assert!(
        output.is_file(),
        "{} missing after SIG{signal}",
        output.display()
    );
    assert_no_part_files(&output);
    let out = decode(&output, Keep::None, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the interrupted film does not decode: {e}"));
    let n = out.frames.len();
    eprintln!(
        "SIG{signal} after {:.1} s: {n} frames",
        r.elapsed.as_secs_f64()
    );
    assert!(
        n > 0 && n < ABOMB_FRAMES,
        "{n} frames in the interrupted film"
    );
    // MP4 (6b): the frames the container lists are the frames that play; none is cut off by
    // the edit list or a zero-length last sample.
    let claimed = mp4_sample_count(&output);
    assert_eq!(
        claimed, n,
        "SIG{signal}: the MP4 lists {claimed} frames, {n} decode"
    );
    let said = format!("holds the {n} frames done so far");
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("interrupted:") && l.contains(&said)),
        "SIG{signal}: no `interrupted: ... {said}` line (the count must be what decodes), stderr:\n{}",
        r.stderr
    );
    assert_eq!(
        png_frames(&frames_dir),
        expected_png_frames(n),
        "--frames PNGs do not match the {n} frames of the film"
    );
    let inp = decode_ok(&input, Keep::None);
    assert_same_times(
        &inp.times()[..n],
        &out.times(),
        // 1 ns: MP4 stores times in ticks of its track clock, which 1/29 s is not a whole
        // number of; without B-frames (no composition offsets) the rounding shows.
        1,
        "the frames done before the interrupt",
    );
}

/// Frames the video track of an MP4 lists: the sample count of the `stsz` box in its `stbl`.
fn mp4_sample_count(path: &Path) -> usize {
    let bytes = fs::read(path).unwrap();
    let find = |from: usize, what: &[u8]| {
        bytes[from..]
            .windows(what.len())
            .position(|w| w == what)
            .map(|i| i + from)
    };
    let moov = find(0, b"moov").unwrap_or_else(|| panic!("{}: no moov", path.display()));
    let stbl = find(moov, b"stbl").unwrap_or_else(|| panic!("{}: no stbl", path.display()));
    let stsz = find(stbl, b"stsz").unwrap_or_else(|| panic!("{}: no stsz", path.display()));
    // type, version and flags, sample size, then the count.
    let at = stsz + 4 + 4 + 4;
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

#[test]
fn ctrl_c_finishes_a_playable_file() {
    interrupt_finishes_a_playable_file("INT");
}

/// `timeout`, `kill` or a scheduler stop a run with SIGTERM: the same as Ctrl-C.
#[test]
fn sigterm_finishes_a_playable_file() {
    interrupt_finishes_a_playable_file("TERM");
}

/// Temporary files that killed runs left in the output folder are removed at the start (and
/// said so); those of running processes and other files are kept.
#[test]
fn stale_temporary_files_are_swept() {
    let tmp = TempDir::new().unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    let stale = tmp.path().join(format!(".ddcolor-{gone}-abcdef.part"));
    let alive = tmp.path().join(".ddcolor-1-abcdef.part");
    fs::write(&stale, b"half a film").unwrap();
    fs::write(&alive, b"another run's").unwrap();
    let output = tmp.path().join("out.mp4");
    let r = film(clip(), &output, &[], SHORT);
    r.assert_ok();
    assert!(!stale.exists(), "the stale temporary file was not removed");
    assert!(
        alive.exists(),
        "a running process's temporary file was removed"
    );
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("note:") && l.contains("removed 1 temporary file")),
        "no note about the removed file, stderr:\n{}",
        r.stderr
    );
    fs::remove_file(&alive).unwrap();
}

// ---------------------------------------------------------------------------------------------
// 7. Temporal smoothing
// ---------------------------------------------------------------------------------------------

/// Twelve frames drifting right: 1-6 a dark texture, 7-12 a bright, different picture (a scene
/// cut at 7).
fn two_scenes(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..12u32 {
        let drift = i as f32 * 2.0;
        GrayImage::from_fn(96, 64, |x, y| {
            let (fx, fy) = (x as f32 - drift, y as f32);
            let v = if i < 6 {
                55.0 + 35.0 * (fx * 0.21).sin() * (fy * 0.17).cos()
            } else {
                140.0 + fy * 1.5 + 15.0 * (fx * 0.09).cos()
            };
            Luma([v as u8])
        })
        .save(dir.join(format!("scan_{:02}.png", i + 1)))
        .unwrap();
    }
}

#[test]
fn temporal_smoothing_acts_after_the_first_frame_and_not_across_a_cut() {
    let tmp = TempDir::new().unwrap();
    let seq = tmp.path().join("scans");
    two_scenes(&seq);
    let frames = |mode: &str| {
        let dir = tmp.path().join(mode);
        let out = tmp.path().join(format!("{mode}.mkv"));
        let d = dir.to_str().unwrap();
        film(
            &seq,
            &out,
            &[
                "--fps",
                "24",
                "--lossless",
                "--frames",
                d,
                "--temporal",
                mode,
            ],
            SHORT,
        )
        .assert_ok();
        (1..=12)
            .map(|k| {
                image::open(dir.join(format!("frame_{k:06}.png")))
                    .unwrap()
                    .to_rgb8()
            })
            .collect::<Vec<_>>()
    };
    let off = frames("off");
    for mode in ["recursive", "flow"] {
        let on = frames(mode);
        assert!(
            on[0] == off[0],
            "{mode}: the first frame has no past to blend"
        );
        for k in [2, 4, 6] {
            assert!(
                on[k - 1] != off[k - 1],
                "{mode}: frame {k} was not smoothed"
            );
        }
        assert!(
            on[6] == off[6],
            "{mode}: colour carried across the cut at frame 7"
        );
        assert!(on[8] != off[8], "{mode}: no smoothing after the cut");
    }
}

#[test]
fn bad_temporal_options_are_refused() {
    let tmp = TempDir::new().unwrap();
    let seq = tmp.path().join("scans");
    sequence(&seq, 3, 32, 32);
    let out = tmp.path().join("out.mp4");
    for (flag, value) in [
        ("--temporal", "blur"),
        ("--temporal-strength", "1.5"),
        ("--scene-cut-threshold", "-1"),
    ] {
        let r = film(&seq, &out, &["--fps", "24", flag, value], SHORT);
        r.assert_failed();
        assert!(r.stderr.contains(value), "{flag} {value}: {}", r.stderr);
        assert_nothing_written(&out);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile inputs (issue 14)
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 8. Hostile inputs and outputs
// ---------------------------------------------------------------------------------------------

/// 160x120 test video at 30 fps for `video_s` seconds with `audio` (a `gst-launch` encoder chain
/// from raw sound) for `audio_s` seconds, muxed by `mux`.
fn clip_with_sound(path: &Path, video_s: u32, audio: &str, audio_s: u32, mux: &str) {
    make_with_gst(
        &format!(
            "videotestsrc num-buffers={} pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
             ! videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! {mux} name=m ! filesink name=sink \
             audiotestsrc num-buffers={} samplesperbuffer=480 ! audio/x-raw,rate=48000,channels=2 \
             ! audioconvert ! {audio} ! m.",
            video_s * 30,
            audio_s * 100
        ),
        None,
        path,
    );
}

/// The sound ends 5 s before the picture: the run used to hang for ever (the muxer waiting for
/// sound, the demuxer for room in the video queues). Each case has the watchdog.
#[test]
fn sound_ending_early_does_not_hang() {
    let tmp = TempDir::new().unwrap();
    let cases = [
        ("aac.mkv", "avenc_aac ! aacparse", "matroskamux", "out.mkv"),
        ("vorbis.mkv", "vorbisenc", "matroskamux", "out.mkv"),
        ("aac.mp4", "avenc_aac ! aacparse", "mp4mux", "out.webm"),
    ];
    for (name, audio, mux, out) in cases {
        let input = tmp.path().join(name);
        clip_with_sound(&input, 7, audio, 2, mux);
        let output = tmp.path().join(format!("{name}-{out}"));
        let r = film(&input, &output, &[], SHORT);
        r.assert_ok();
        assert_no_part_files(&output);
        let v = decode_ok(&output, Keep::None);
        assert_eq!(v.frames.len(), 210, "{name} -> {out}: frame count");
        let s = streams(&output);
        stream_of(&s, "audio", &output);
    }
}

/// AC3 sound: re-encoded with a note where the container cannot take it (.webm), copied where
/// it can (.mp4), and never a GStreamer-CRITICAL line.
#[test]
fn ac3_sound_is_reencoded_cleanly() {
    let tmp = TempDir::new().unwrap();
    let input = tmp.path().join("ac3.mkv");
    clip_with_sound(&input, 2, "avenc_ac3 ! ac3parse", 2, "matroskamux");
    for (out, codec) in [("out.webm", "audio/x-opus"), ("out.mp4", "audio/x-ac3")] {
        let output = tmp.path().join(out);
        let r = film(&input, &output, &[], SHORT);
        r.assert_ok();
        assert!(
            !r.stderr.contains("CRITICAL"),
            "{out}: GStreamer-CRITICAL lines, stderr:\n{}",
            r.stderr
        );
        let reencoded = r
            .stderr
            .lines()
            .any(|l| l.starts_with("note:") && l.contains("re-encoding"));
        assert_eq!(
            reencoded,
            out.ends_with(".webm"),
            "{out}: note about re-encoding, stderr:\n{}",
            r.stderr
        );
        let s = streams(&output);
        assert_eq!(stream_of(&s, "audio", &output).name(), codec, "{out}");
    }
}

/// A film cut off (its index at the start claims 10 s, the data stops at about 6 s): written,
/// but the run fails with the figures unless `--accept-truncated`.
#[test]
fn truncated_film_is_reported() {
    let tmp = TempDir::new().unwrap();
    let whole = tmp.path().join("whole.mp4");
    make_with_gst(
        "videotestsrc num-buffers=300 pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1 \
         ! videoconvert ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux faststart=true \
         ! filesink name=sink",
        None,
        &whole,
    );
    let bytes = fs::read(&whole).unwrap();
    let input = tmp.path().join("cut.mp4");
    fs::write(&input, &bytes[..bytes.len() * 6 / 10]).unwrap();

    let output = tmp.path().join("out.mp4");
    let r = film(&input, &output, &[], SHORT);
    r.assert_failed();
    let line = r.assert_one_error(&input, &["truncated", "10.00 s", "--accept-truncated"]);
    eprintln!("{line}");
    assert!(
        output.is_file(),
        "the frames there are must still be written"
    );
    assert_no_part_files(&output);

    let output = tmp.path().join("accepted.mp4");
    let r = film(&input, &output, &["--accept-truncated"], SHORT);
    r.assert_ok();
    assert!(
        r.stderr.lines().any(|l| l.starts_with("warning:")
            && l.contains("truncated")
            && l.contains(&*input.to_string_lossy())),
        "no warning naming the truncated input, stderr:\n{}",
        r.stderr
    );
    // A whole film says nothing of the kind.
    let output = tmp.path().join("whole-out.mp4");
    let r = film(&whole, &output, &[], SHORT);
    r.assert_ok();
    assert!(!r.stderr.contains("truncated"), "{}", r.stderr);
}

/// A named pipe or a device as input: said what it is, at once (a FIFO with no writer would
/// block any reader).
#[test]
fn fifo_and_device_inputs_are_refused() {
    let tmp = TempDir::new().unwrap();
    let fifo = tmp.path().join("pipe.mp4");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    check_bad_input(&fifo, &["named pipe (FIFO)", "not a film file"]);
    check_bad_input(
        Path::new("/dev/zero"),
        &["character device", "not a film file"],
    );
}

/// A folder far too small: refused before starting, naming the output and the figures.
#[test]
fn too_little_free_space_is_refused_before_starting() {
    let tmp = TempDir::new().unwrap();
    let Some(disk) = common::Tmpfs::mount(&tmp.path().join("disk"), "64k") else {
        common::skipped(
            "too_little_free_space_is_refused_before_starting",
            &"cannot mount a tmpfs here (not root?)",
        );
        return;
    };
    let output = disk.0.join("out.mp4");
    // The a-bomb film: 1 MB, so at least 256 KiB of film is needed.
    let r = film(&media(ABOMB), &output, &[], SHORT);
    r.assert_failed();
    r.assert_one_error(&output, &["not enough free space", "free", "needs"]);
    assert_nothing_written(&output);
}

/// The disk fills up during the film: the error names the output (not the input), and nothing
/// is left behind.
#[test]
fn a_disk_filling_up_is_reported_against_the_output() {
    let tmp = TempDir::new().unwrap();
    let Some(disk) = common::Tmpfs::mount(&tmp.path().join("disk"), "8m") else {
        common::skipped(
            "a_disk_filling_up_is_reported_against_the_output",
            &"cannot mount a tmpfs here (not root?)",
        );
        return;
    };
    let output = disk.0.join("out.mp4");
    let input = media(ABOMB);
    // Slow enough (about 0.2 s a frame) to fill the disk while it runs.
    let mut running = start(args![
        "film",
        input,
        output,
        "--model",
        model("bench"),
        "--input-size",
        "256"
    ]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while part_files(&output).is_empty() {
        assert!(!running.has_exited(), "the run ended before writing");
        if Instant::now() > deadline {
            running.kill_and_fail("no temporary file after 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Everything that is left, taken by another file.
    let filler = disk.0.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let block = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    let r = running.finish_unless_hung(Duration::from_secs(300));
    r.assert_failed();
    r.assert_one_error(&output, &["space"]);
    assert!(
        !r.stderr.contains(&*input.to_string_lossy()),
        "the error names the input, stderr:\n{}",
        r.stderr
    );
    fs::remove_file(&filler).unwrap();
    assert_nothing_written(&output);
}

// ---------------------------------------------------------------------------------------------
// 14. The film's duration: the last frame keeps its length
// ---------------------------------------------------------------------------------------------

/// Intervals cycling 20, 40 and 80 ms (a variable frame rate), ending at exactly 4.000 s:
/// `(start, length)` in ms.
fn vfr_frames() -> Vec<(u64, u64)> {
    let mut lengths: Vec<u64> = [20, 40, 80].iter().copied().cycle().take(84).collect();
    lengths.extend([20, 40, 20]);
    let mut t = 0;
    lengths
        .into_iter()
        .map(|l| {
            t += l;
            (t - l, l)
        })
        .collect()
}

/// Five frames over 29.6 s, long gaps between them, the last one held for 2 s.
fn sparse_frames() -> Vec<(u64, u64)> {
    vec![
        (0, 7000),
        (7000, 7000),
        (14000, 7000),
        (21000, 6600),
        (27600, 2000),
    ]
}

/// Writes grey 64x48 frames shown at `frames` (ms) as H.264 (B-frames on in Matroska) in `mux`, the caps
/// saying `fps` (0/1: a variable rate). No `h264parse`: it would set every frame's duration to
/// 1 ns (the rate x264enc writes in the stream for a variable rate), the last one's included.
fn timed_clip(path: &Path, frames: &[(u64, u64)], fps: gst::Fraction, mux: &str) {
    gst_init();
    // B-frames only in Matroska: mp4mux cannot keep a variable-rate film's length with them
    // (see `video_encoder` in the film module).
    let bframes = if mux == "mp4mux" { 0 } else { 2 };
    let description = format!(
        "appsrc name=src format=time ! videoconvert ! x264enc speed-preset=superfast bframes={bframes} \
         ! {mux} ! filesink name=sink"
    );
    let pipeline = gst::parse::launch(&description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    pipeline
        .by_name("sink")
        .unwrap()
        .set_property("location", path.to_str().unwrap());
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    src.set_caps(Some(
        &gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Gray8)
            .width(64)
            .height(48)
            .framerate(fps)
            .build(),
    ));
    for (i, &(start, length)) in frames.iter().enumerate() {
        let mut buffer = gst::Buffer::from_mut_slice(grey_frame(64, 48, i as u32).into_raw());
        let b = buffer.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(start));
        b.set_duration(gst::ClockTime::from_mseconds(length));
        src.push_buffer(buffer).unwrap();
    }
    src.end_of_stream().unwrap();
    play_to_end(&pipeline, &description, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("making {}: {e}", path.display()));
}

/// How long a player finds a film: the container's duration (the pipeline's duration query),
/// where its last frame ends as the demuxer gives it (time plus duration, in running time: after
/// MP4's edit list), in ns, and the frames that decode. The end is taken before any parser: a
/// decoder's `h264parse` replaces the stored durations of an x264 variable-rate stream by 1 ns.
struct Length {
    container: u64,
    end: u64,
    frames: usize,
}

fn length(path: &Path) -> Length {
    let v = decode_ok(path, Keep::None);
    Length {
        container: v
            .duration
            .unwrap_or_else(|| panic!("{}: no duration", path.display())),
        end: demuxed_end(path),
        frames: v.frames.len(),
    }
}

/// End of the latest-ending video frame of `path` as its demuxer (`qtdemux`, `matroskademux`)
/// gives it, in running time (ns).
fn demuxed_end(path: &Path) -> u64 {
    gst_init();
    let pipeline = gst::Pipeline::new();
    let src = filesrc(path);
    let demux = element(if path.extension().is_some_and(|e| e == "mp4") {
        "qtdemux"
    } else {
        "matroskademux"
    });
    pipeline.add_many([&src, &demux]).unwrap();
    src.link(&demux).unwrap();
    let end = Arc::new(Mutex::new(None::<u64>));
    let weak = pipeline.downgrade();
    let end2 = end.clone();
    demux.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else {
            return;
        };
        let sink = element("fakesink");
        sink.set_property("sync", false);
        sink.set_property("async", false);
        pipeline.add(&sink).unwrap();
        sink.sync_state_with_parent().unwrap();
        pad.link(&sink.static_pad("sink").unwrap()).unwrap();
        if !pad.name().starts_with("video") {
            return;
        }
        let end = end2.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data
                && let Some(pts) = b.pts()
                && let Some(seg) = pad.sticky_event::<gst::event::Segment>(0)
                && let Some(seg) = seg.segment().downcast_ref::<gst::ClockTime>()
                && let Some(t) = seg.to_running_time(pts + b.duration().unwrap_or_default())
            {
                let mut end = end.lock().unwrap();
                *end = Some(end.map_or(t.nseconds(), |e| e.max(t.nseconds())));
            }
            gst::PadProbeReturn::Ok
        });
    });
    play_to_end(
        &pipeline,
        &path.display().to_string(),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("{}: does not demux: {e}", path.display()));
    let end = *end.lock().unwrap();
    end.unwrap_or_else(|| panic!("{}: no video frame demuxed", path.display()))
}

/// One millisecond: Matroska's tick, and well above MP4's.
const DURATION_TOLERANCE: u64 = 1_000_000;

/// Colorizes `input` into `.mkv`, `.mp4` and `.webm` and checks that each keeps the input's
/// duration and last frame end (to [`DURATION_TOLERANCE`]) and its frames; `expected`, when
/// given, is the duration the input was made with (checked first: the generator's own muxer
/// must have kept it, or the comparison says nothing).
fn assert_duration_kept(input: &Path, expected: Option<u64>) {
    let inp = length(input);
    eprintln!(
        "{}: {} frames, container {} ns, last frame ends {} ns",
        input.display(),
        inp.frames,
        inp.container,
        inp.end
    );
    if let Some(expected) = expected {
        assert!(
            inp.container.abs_diff(expected) <= DURATION_TOLERANCE
                && inp.end.abs_diff(expected) <= DURATION_TOLERANCE,
            "{}: the input itself lasts {} ns (container) / {} ns (last frame end), not {expected} ns",
            input.display(),
            inp.container,
            inp.end
        );
    }
    let tmp = TempDir::new().unwrap();
    let mut wrong = Vec::new();
    for ext in ["mkv", "mp4", "webm"] {
        let output = tmp.path().join(format!("out.{ext}"));
        film(input, &output, &[], SHORT).assert_ok();
        let out = length(&output);
        eprintln!(
            "  -> .{ext}: {} frames, container {} ns ({:+} ns), last frame ends {} ns ({:+} ns)",
            out.frames,
            out.container,
            out.container as i64 - inp.container as i64,
            out.end,
            out.end as i64 - inp.end as i64
        );
        if out.frames != inp.frames
            || out.container.abs_diff(inp.container) > DURATION_TOLERANCE
            || out.end.abs_diff(inp.end) > DURATION_TOLERANCE
        {
            wrong.push(format!(
                ".{ext}: {} frames, container {} ns, last frame ends {} ns",
                out.frames, out.container, out.end
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} ({} frames, {} ns, last frame ends {} ns) colorized into:\n{}",
        input.display(),
        inp.frames,
        inp.container,
        inp.end,
        wrong.join("\n")
    );
}

#[test]
fn constant_rate_film_keeps_its_duration() {
    assert_duration_kept(&media(ABOMB), None);
}

#[test]
fn variable_rate_film_keeps_its_duration() {
    let tmp = TempDir::new().unwrap();
    for (name, fps) in [
        ("vfr.mkv", gst::Fraction::new(0, 1)),
        ("vfr.mp4", gst::Fraction::new(0, 1)),
    ] {
        let input = tmp.path().join(name);
        let mux = if name.ends_with("mkv") {
            "matroskamux"
        } else {
            "mp4mux"
        };
        timed_clip(&input, &vfr_frames(), fps, mux);
        assert_duration_kept(&input, Some(4_000_000_000));
    }
}

#[test]
fn sparse_film_keeps_its_duration() {
    let tmp = TempDir::new().unwrap();
    for name in ["sparse.mkv", "sparse.mp4"] {
        let input = tmp.path().join(name);
        let mux = if name.ends_with("mkv") {
            "matroskamux"
        } else {
            "mp4mux"
        };
        timed_clip(&input, &sparse_frames(), gst::Fraction::new(0, 1), mux);
        assert_duration_kept(&input, Some(29_600_000_000));
    }
}

/// `--overwrite` of a finished film, interrupted: the finished film stays, and what was done goes
/// beside it as NAME.partial.EXT.
#[test]
fn an_interrupted_rerun_keeps_the_finished_film() {
    let input = media(ABOMB);
    let tmp = TempDir::new().unwrap();
    let output = tmp.path().join("out.mp4");
    // Stands for the finished film of an earlier run.
    fs::copy(&input, &output).unwrap();
    let finished = common::snapshot(&output);
    let frames_dir = tmp.path().join("frames");
    let running = start_and_interrupt(
        &input,
        &output,
        &frames_dir,
        &["--overwrite", "--events", "-"],
        "INT",
    );
    let r = running.finish_unless_hung(Duration::from_secs(120));
    assert_eq!(r.code(), Some(130), "stderr:\n{}", r.stderr);
    finished.assert_untouched();
    let partial = tmp.path().join("out.partial.mp4");
    // `--events`: the end names the part, and what it holds.
    let events = events_in(&r.stdout);
    let end = film_end(&events);
    assert_eq!(end["state"], "interrupted", "{end}");
    assert_eq!(end["output"], partial.to_str().unwrap(), "{end}");
    let frames = end["frames"].as_u64().expect("end without frames");
    assert!((3..ABOMB_FRAMES as u64).contains(&frames), "{end}");
    assert!(end.get("error").is_none(), "{end}");
    assert!(
        r.stderr.contains(&partial.display().to_string()),
        "stderr:\n{}",
        r.stderr
    );
    let out = decode(&partial, Keep::None, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the partial film does not decode: {e}"));
    assert!(!out.frames.is_empty() && out.frames.len() < ABOMB_FRAMES);
    assert_no_part_files(&output);
}
