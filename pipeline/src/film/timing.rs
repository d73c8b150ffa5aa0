//! How long each colour frame lasts, and how far the film got. Encoders and muxers take a
//! frame's length from its buffer duration, and the last frame's length from nothing else: a
//! decoder that leaves it unset or at 1 ns (variable frame rates, long-held last frames, a run
//! stopped early) makes the written film longer or shorter than the input, and MP4 then marks its
//! last frame to be discarded. So the frames are held back by one: each one's length is the time
//! to the next, and the last one's comes from its own duration, else from where the container says
//! the film ends, else from the frames before it. The same place records the end of the last frame
//! written, which tells a truncated input (it ends well before its container's claim).

use super::*;

/// What the timing probe found, read by the main loop.
#[derive(Default)]
pub(super) struct Timing {
    /// Frames passed on to the encoder.
    pub(super) frames: AtomicU64,
    /// End of the last frame passed on, in stream time (ns; 0: none yet).
    pub(super) video_end: AtomicU64,
    /// End of the last sound buffer read, in stream time (ns; 0: none).
    pub(super) audio_end: AtomicU64,
    /// How long the container says the film is (ns; 0: not known), from the pipeline's
    /// duration query.
    pub(super) claimed: AtomicU64,
}

/// Shortest duration taken as meant: decoders write 0 or 1 ns for "unknown".
const MEANINGFUL: u64 = 1_000_000;

struct Held {
    buffer: gst::Buffer,
    /// Length of the frame before it (ns), for a last frame with nothing better.
    interval: Option<u64>,
}

#[derive(Default)]
struct State {
    held: Option<Held>,
    segment: Option<gst::FormattedSegment<gst::ClockTime>>,
    /// 1/fps from the caps, when the rate is fixed.
    frame_time: Option<u64>,
}

impl State {
    fn stream_time(&self, t: gst::ClockTime) -> u64 {
        self.segment
            .as_ref()
            .and_then(|s| s.to_stream_time(t))
            .unwrap_or(t)
            .nseconds()
    }
}

/// Holds each buffer leaving `pad` until the next one arrives (or end-of-stream), fixing its
/// duration as the module comment says, then hands it to the pad's peer.
pub(super) fn hold_back_one(pad: &gst::Pad, timing: Arc<Timing>) {
    let state = Arc::new(std::sync::Mutex::new(State::default()));
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |pad, info| {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            match &info.data {
                Some(gst::PadProbeData::Buffer(buffer)) => {
                    let buffer = buffer.clone();
                    let previous = state.held.take();
                    let interval = match (&previous, buffer.pts()) {
                        (Some(p), Some(pts)) => p
                            .buffer
                            .pts()
                            .filter(|&prev| pts > prev)
                            .map(|prev| (pts - prev).nseconds()),
                        _ => None,
                    };
                    state.held = Some(Held {
                        buffer,
                        interval: interval.or(previous.as_ref().and_then(|p| p.interval)),
                    });
                    info.flow_res = match previous {
                        Some(p) => pass_on(pad, p.buffer, interval, &state, &timing),
                        None => Ok(gst::FlowSuccess::Ok),
                    };
                    gst::PadProbeReturn::Handled
                }
                Some(gst::PadProbeData::Event(ev)) => {
                    // New caps, a new segment or the end: the frame held goes first, as it
                    // came before them.
                    if matches!(
                        ev.view(),
                        gst::EventView::Caps(_)
                            | gst::EventView::Segment(_)
                            | gst::EventView::Eos(_)
                    ) && let Some(last) = state.held.take()
                    {
                        let length = last_length(&last, &state, &timing);
                        let _ = pass_on(pad, last.buffer, length, &state, &timing);
                    }
                    match ev.view() {
                        gst::EventView::Segment(s) => {
                            state.segment = s.segment().downcast_ref::<gst::ClockTime>().cloned();
                        }
                        gst::EventView::Caps(c) => {
                            if let Some(caps) = without_implausible_rate(c.caps()) {
                                state.frame_time = None;
                                info.data =
                                    Some(gst::PadProbeData::Event(gst::event::Caps::new(&caps)));
                                return gst::PadProbeReturn::Ok;
                            }
                            state.frame_time = gst_video::VideoInfo::from_caps(c.caps())
                                .ok()
                                .map(|i| i.fps())
                                .filter(|f| f.numer() > 0 && f.denom() > 0)
                                .map(|f| {
                                    (1_000_000_000u128 * f.denom() as u128 / f.numer() as u128)
                                        as u64
                                });
                        }
                        // A seek or flush: what is held belongs to the old position.
                        gst::EventView::FlushStop(_) => state.held = None,
                        _ => {}
                    }
                    gst::PadProbeReturn::Ok
                }
                _ => gst::PadProbeReturn::Ok,
            }
        },
    );
}

/// Fastest frame rate taken as meant, in frames per second.
const MAX_RATE: i32 = 1000;

/// `caps` with `framerate=0/1` (a variable rate) when they claim more than [`MAX_RATE`], else
/// `None`. x264 writes a variable-rate stream's timing as 10^9 frames a second, which the
/// decoder's parser puts in the caps; mp4mux (1.22) takes its track clock from that rate, and
/// 10^9 ticks a second overflow its 32-bit durations: a 4 s film came out 0.47 s long, 11 of
/// its 87 frames playable.
fn without_implausible_rate(caps: &gst::CapsRef) -> Option<gst::Caps> {
    let s = caps.structure(0)?;
    let rate = s.get::<gst::Fraction>("framerate").ok()?;
    if rate.denom() <= 0 || rate.numer() / rate.denom() <= MAX_RATE {
        return None;
    }
    let mut caps = caps.to_owned();
    caps.make_mut().set("framerate", gst::Fraction::new(0, 1));
    Some(caps)
}

/// The last frame's length: its own when meaningful; else up to where the container says the
/// film ends, when that is within a few frames (further is a truncated input, whose last frame
/// must not be stretched); else the frame before's, else 1/fps.
fn last_length(last: &Held, state: &State, timing: &Timing) -> Option<u64> {
    let typical = last.interval.or(state.frame_time);
    if let Some(own) = last.buffer.duration().map(|d| d.nseconds())
        && own >= MEANINGFUL
    {
        return Some(own);
    }
    let claimed = timing.claimed.load(Ordering::Relaxed);
    if let Some(pts) = last.buffer.pts() {
        let start = state.stream_time(pts);
        if claimed > start {
            let to_end = claimed - start;
            if to_end >= MEANINGFUL && to_end <= typical.map_or(1_000_000_000, |t| 4 * t) {
                return Some(to_end);
            }
        }
    }
    typical
}

/// Sets `buffer`'s duration to `length` (when known), records it and pushes it to the peer.
fn pass_on(
    pad: &gst::Pad,
    mut buffer: gst::Buffer,
    length: Option<u64>,
    state: &State,
    timing: &Timing,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    if let Some(length) = length {
        buffer
            .make_mut()
            .set_duration(gst::ClockTime::from_nseconds(length));
    }
    if let Some(pts) = buffer.pts() {
        let end = state.stream_time(pts) + buffer.duration().map_or(0, |d| d.nseconds());
        timing.video_end.fetch_max(end, Ordering::Relaxed);
    }
    timing.frames.fetch_add(1, Ordering::Relaxed);
    let peer = pad.peer().ok_or(gst::FlowError::NotLinked)?;
    peer.chain(buffer)
}

/// Records how far the sound read from the input goes (the sound reader's pad for one stream).
pub(super) fn watch_audio_end(pad: &gst::Pad, timing: Arc<Timing>) {
    let segment = std::sync::Mutex::new(None::<gst::FormattedSegment<gst::ClockTime>>);
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            match &info.data {
                Some(gst::PadProbeData::Event(ev)) => {
                    if let gst::EventView::Segment(s) = ev.view() {
                        *segment.lock().unwrap_or_else(|p| p.into_inner()) =
                            s.segment().downcast_ref::<gst::ClockTime>().cloned();
                    }
                }
                Some(gst::PadProbeData::Buffer(b)) => {
                    if let Some(pts) = b.pts() {
                        let end = pts + b.duration().unwrap_or(gst::ClockTime::ZERO);
                        let end = segment
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .as_ref()
                            .and_then(|s| s.to_stream_time(end))
                            .unwrap_or(end);
                        timing
                            .audio_end
                            .fetch_max(end.nseconds(), Ordering::Relaxed);
                    }
                }
                _ => {}
            }
            gst::PadProbeReturn::Ok
        },
    );
}

/// How much of the film is missing: `Some((reached, claimed))` in seconds when the input ends
/// more than two frames (and a quarter second) before the duration its container claims.
pub(super) fn shortfall(timing: &Timing) -> Option<(f64, f64)> {
    let claimed = timing.claimed.load(Ordering::Relaxed);
    let reached = timing
        .video_end
        .load(Ordering::Relaxed)
        .max(timing.audio_end.load(Ordering::Relaxed));
    if claimed == 0 || reached == 0 {
        return None;
    }
    let frames = timing.frames.load(Ordering::Relaxed).max(1);
    let frame = timing.video_end.load(Ordering::Relaxed) / frames;
    let tolerance = (2 * frame).max(250_000_000);
    (reached + tolerance < claimed).then(|| (reached as f64 / 1e9, claimed as f64 / 1e9))
}
