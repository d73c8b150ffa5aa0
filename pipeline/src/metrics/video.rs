//! Frames of a video, one at a time, as 8-bit RGB: from a file GStreamer can decode or from a
//! folder holding an image sequence.
//!
//! The measuring commands compare several videos frame by frame, so frames are pulled on demand
//! (never buffered whole): a file's pipeline runs ahead by a few frames only, then waits for the
//! next pull. Every way a file can fail to give frames (not a video, a decoder error, no video
//! stream, a stall) becomes an error naming the file instead of a hang.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ddcolor_engine::io::{DEFAULT_MAX_PIXELS, read_photo};
use ddcolor_engine::metrics::Rgb;
use ddcolor_engine::{Photo, Samples};
use gst::prelude::*;
use gst_video::prelude::*;

use crate::error_watch;
use crate::film::sequence_files;

/// How long a file may go without giving a frame before it counts as hung. Decoding one frame
/// takes milliseconds; this only catches pipelines that wait forever.
const STALL: Duration = Duration::from_secs(60);
/// How often the bus is looked at while waiting for a frame.
const POLL: Duration = Duration::from_millis(100);
/// Decoded frames a file's pipeline may hold ahead of the reader.
const AHEAD: u32 = 3;

/// A video opened for reading, frame by frame.
pub struct FrameSource {
    path: PathBuf,
    kind: Kind,
    /// Frames handed out so far.
    read: u64,
}

enum Kind {
    Folder(Vec<PathBuf>),
    File(FileReader),
}

impl FrameSource {
    /// Opens a video file or a folder of frames (*.png, *.tif, *.jpg in name order).
    pub fn open(path: &Path) -> Result<Self> {
        let kind = if path.is_dir() {
            Kind::Folder(sequence_files(path)?)
        } else if path.is_file() {
            Kind::File(FileReader::open(path)?)
        } else {
            bail!("{}: no such file or folder", path.display());
        };
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            read: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames in the video: exact for a folder, estimated from duration and frame rate for a
    /// file (once its first frame is decoded), None when unknown.
    pub fn frames_hint(&self) -> Option<u64> {
        match &self.kind {
            Kind::Folder(files) => Some(files.len() as u64),
            Kind::File(f) => f.frames_hint(),
        }
    }

    /// Whether `frames_hint` is an exact count.
    pub fn count_is_exact(&self) -> bool {
        matches!(self.kind, Kind::Folder(_))
    }

    /// The next frame, None after the last.
    pub fn next_frame(&mut self) -> Result<Option<Rgb>> {
        let frame = match &mut self.kind {
            Kind::Folder(files) => match files.get(self.read as usize) {
                Some(file) => Some(read_frame(file)?),
                None => None,
            },
            Kind::File(f) => f.next_frame()?,
        };
        if frame.is_some() {
            self.read += 1;
        }
        Ok(frame)
    }

    /// The file behind the frame last handed out: the image for a folder, else the video.
    pub fn last_frame_path(&self) -> &Path {
        match &self.kind {
            Kind::Folder(files) => self
                .read
                .checked_sub(1)
                .and_then(|i| files.get(i as usize))
                .map_or(&self.path, |p| p.as_path()),
            Kind::File(_) => &self.path,
        }
    }
}

/// One image of a sequence as 8-bit RGB: 16-bit rounded (v / 257), grey replicated, alpha
/// dropped.
fn read_frame(path: &Path) -> Result<Rgb> {
    let photo = read_photo(path, DEFAULT_MAX_PIXELS).map_err(|e| anyhow!("{e}"))?;
    Ok(photo_to_rgb(&photo))
}

fn photo_to_rgb(photo: &Photo) -> Rgb {
    let eight: Vec<u8> = match &photo.samples {
        Samples::U8(v) => v.clone(),
        Samples::U16(v) => v.iter().map(|&s| ((s as u32 + 128) / 257) as u8).collect(),
    };
    let n = photo.channels.max(1);
    let mut data = Vec::with_capacity(photo.width * photo.height * 3);
    for px in eight.chunks_exact(n) {
        match n {
            1 | 2 => data.extend_from_slice(&[px[0]; 3]),
            _ => data.extend_from_slice(&px[..3]),
        }
    }
    Rgb::new(photo.width, photo.height, data)
}

/// What the decoder's pad-added callback tells the reader.
#[derive(Default)]
struct Pads {
    video: AtomicBool,
    all_added: AtomicBool,
}

/// `filesrc ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink`, pulled
/// synchronously; streams other than the first video stream go to fakesinks.
struct FileReader {
    path: PathBuf,
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    bus: gst::Bus,
    pads: Arc<Pads>,
    /// Frame rate from the first frame's caps, for the frame count estimate.
    fps: Option<gst::Fraction>,
    /// Frames handed out so far.
    decoded: u64,
    ended: bool,
}

impl FileReader {
    fn open(path: &Path) -> Result<Self> {
        gst::init().context("GStreamer could not be initialised")?;
        error_watch::start();
        let location = path
            .to_str()
            .ok_or_else(|| anyhow!("{}: the path is not valid UTF-8", path.display()))?;
        let pipeline = gst::Pipeline::new();
        let src = make("filesrc")?;
        src.set_property("location", location);
        let decode = make("decodebin")?;
        let convert = make("videoconvert")?;
        let sink = gst_app::AppSink::builder()
            .caps(
                &gst_video::VideoCapsBuilder::new()
                    .format(gst_video::VideoFormat::Rgb)
                    .build(),
            )
            .sync(false)
            .max_buffers(AHEAD)
            .drop(false)
            .enable_last_sample(false)
            .build();
        pipeline.add_many([&src, &decode, &convert, sink.upcast_ref()])?;
        src.link(&decode)?;
        convert.link(&sink)?;

        let pads = Arc::new(Pads::default());
        let weak = pipeline.downgrade();
        let convert_sink = convert
            .static_pad("sink")
            .ok_or_else(|| anyhow!("videoconvert without a sink pad"))?;
        {
            let pads = pads.clone();
            decode.connect_pad_added(move |_, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let is_video = caps
                    .structure(0)
                    .is_some_and(|s| s.name().starts_with("video/"));
                if is_video && !pads.video.swap(true, Ordering::SeqCst) {
                    // A failed link shows up as a not-linked error on the bus.
                    let _ = pad.link(&convert_sink);
                } else if let Some(pipeline) = weak.upgrade() {
                    discard(&pipeline, pad);
                }
            });
        }
        {
            let pads = pads.clone();
            decode.connect_no_more_pads(move |_| pads.all_added.store(true, Ordering::SeqCst));
        }
        let bus = pipeline
            .bus()
            .ok_or_else(|| anyhow!("pipeline without a bus"))?;
        let reader = Self {
            path: path.to_path_buf(),
            pipeline,
            sink,
            bus,
            pads,
            fps: None,
            decoded: 0,
            ended: false,
        };
        if reader.pipeline.set_state(gst::State::Playing).is_err() {
            reader.check_bus()?;
            bail!("{}: the decoding pipeline could not start", path.display());
        }
        Ok(reader)
    }

    fn next_frame(&mut self) -> Result<Option<Rgb>> {
        if self.ended {
            return Ok(None);
        }
        let started = Instant::now();
        loop {
            self.check_bus()?;
            self.check_swallowed(Duration::from_secs(2))?;
            if self.pads.all_added.load(Ordering::SeqCst) && !self.pads.video.load(Ordering::SeqCst)
            {
                bail!("{}: no video stream in this file", self.path.display());
            }
            if let Some(sample) = self
                .sink
                .try_pull_sample(gst::ClockTime::from_nseconds(POLL.as_nanos() as u64))
            {
                return self.convert(&sample).map(Some);
            }
            if self.sink.is_eos() {
                // A demuxer that fails posts its error, then ends the stream: look once more.
                self.check_bus()?;
                self.check_swallowed(Duration::ZERO)?;
                self.ended = true;
                return Ok(None);
            }
            if started.elapsed() > STALL {
                bail!(
                    "{}: no frame decoded in {} s (after {} frames); the file may be damaged",
                    self.path.display(),
                    STALL.as_secs(),
                    self.decoded
                );
            }
        }
    }

    fn convert(&mut self, sample: &gst::Sample) -> Result<Rgb> {
        let bad = |what: &str| anyhow!("{}: decoded frame {what}", self.path.display());
        let caps = sample.caps().ok_or_else(|| bad("without caps"))?;
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| bad("with unusable caps"))?;
        self.fps.get_or_insert(info.fps());
        let buffer = sample.buffer().ok_or_else(|| bad("without a buffer"))?;
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
            .map_err(|_| bad("that cannot be mapped"))?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        // RGB rows are padded to a multiple of 4 bytes: copy row by row.
        let stride = frame.plane_stride()[0] as usize;
        let data = frame.plane_data(0).map_err(|_| bad("without pixel data"))?;
        if h > 0 && data.len() < (h - 1) * stride + w * 3 {
            return Err(bad("shorter than its size"));
        }
        let mut rgb = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            rgb.extend_from_slice(&data[y * stride..y * stride + w * 3]);
        }
        self.decoded += 1;
        Ok(Rgb::new(w, h, rgb))
    }

    /// Fails with the first error on the bus.
    fn check_bus(&self) -> Result<()> {
        while let Some(msg) = self.bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                return Err(describe_error(
                    &self.path,
                    &from,
                    &e.error().to_string(),
                    &debug,
                ));
            }
        }
        Ok(())
    }

    /// Fails with an error that decodebin swallowed while plugging (see `error_watch`).
    fn check_swallowed(&self, grace: Duration) -> Result<()> {
        match error_watch::stranded(self.pipeline.upcast_ref(), grace) {
            Some(p) => {
                let from = p
                    .element
                    .upgrade()
                    .map(|e| e.name().to_string())
                    .unwrap_or_default();
                Err(describe_error(&self.path, &from, &p.error, &p.debug))
            }
            None => Ok(()),
        }
    }

    fn frames_hint(&self) -> Option<u64> {
        let fps = self.fps?;
        if fps.numer() <= 0 || fps.denom() <= 0 {
            return None;
        }
        let duration = self.pipeline.query_duration::<gst::ClockTime>()?;
        Some(
            (duration.nseconds() as u128 * fps.numer() as u128
                / (fps.denom() as u128 * 1_000_000_000))
                .max(1) as u64,
        )
    }
}

impl Drop for FileReader {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory).build().with_context(|| {
        format!(
            "GStreamer element '{factory}' is missing: run `make setup` (it installs the GStreamer plugins)"
        )
    })
}

/// Sends a stream nobody reads (sound, a second video) to a fakesink, so the demuxer never
/// stops on a not-linked pad.
fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) {
    let Ok(fake) = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
    else {
        return;
    };
    if pipeline.add(&fake).is_err() {
        return;
    }
    let _ = fake.sync_state_with_parent();
    if let Some(sink) = fake.static_pad("sink") {
        let _ = pad.link(&sink);
    }
}

/// The one-line error for GStreamer's `error`, posted by the element named `from`.
fn describe_error(path: &Path, from: &str, error: &str, debug: &str) -> anyhow::Error {
    let last = debug.lines().last().unwrap_or("");
    let reason = match last.rfind("): ") {
        Some(i) if last.contains(".c(") => &last[i + 3..],
        _ => last,
    };
    let reason: String = if reason.starts_with("/Gst") {
        String::new()
    } else {
        reason.chars().take(300).collect()
    };
    let detail = if reason.is_empty() {
        from.to_string()
    } else {
        format!("{from}: {reason}")
    };
    anyhow!("{}: {error} ({detail})", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_grey_rounds_and_replicates() {
        let photo = Photo {
            width: 3,
            height: 1,
            channels: 1,
            samples: Samples::U16(vec![0, 257 * 10 + 128, 257 * 10 + 129]),
        };
        let rgb = photo_to_rgb(&photo);
        assert_eq!(rgb.data, vec![0, 0, 0, 10, 10, 10, 11, 11, 11]);
    }

    #[test]
    fn alpha_is_dropped() {
        let photo = Photo {
            width: 1,
            height: 1,
            channels: 4,
            samples: Samples::U8(vec![1, 2, 3, 4]),
        };
        assert_eq!(photo_to_rgb(&photo).data, vec![1, 2, 3]);
    }
}
