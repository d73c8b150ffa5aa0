//! A film file's streams, read by two independent readers: one takes the first video stream to
//! the colorizer, the other the sound to the muxer. One shared demuxer would tie them together:
//! the muxer interleaves by time, so when the sound ends seconds before the picture it waits for
//! sound that a single demuxer can only announce as ended once it has read to the end of the file,
//! while the demuxer itself waits for room in the (bounded) video queues that the muxer is not
//! emptying: a deadlock. With a reader of its own, the sound's end reaches the muxer as soon as
//! that reader has read past it, whatever the video is doing, and neither side needs an
//! unbounded queue.

use super::*;

/// Name of the `parsebin` of the sound's reader.
pub(super) const AUDIO_DEMUX: &str = "audio-demux";

/// How far the sound may run ahead of the muxer: enough to keep it fed, small enough that a
/// film stopped early does not carry more than about this much sound past its last frame.
const AUDIO_AHEAD: gst::ClockTime = gst::ClockTime::from_seconds(1);

/// Adds `filesrc ! parsebin name=NAME` reading `path`, and calls `on_pad` with each stream it
/// exposes.
pub(super) fn add_reader(
    pipeline: &gst::Pipeline,
    path: &Path,
    name: &str,
    on_pad: impl Fn(&gst::Pipeline, &gst::Pad) + Send + Sync + 'static,
) -> Result<()> {
    let filesrc = gst::ElementFactory::make("filesrc")
        .property("location", path.to_string_lossy().to_string())
        .build()?;
    let parsebin = gst::ElementFactory::make("parsebin")
        .name(name)
        .build()
        .context("GStreamer element 'parsebin' is missing: run `make setup`")?;
    pipeline.add_many([&filesrc, &parsebin])?;
    filesrc.link(&parsebin)?;
    let weak = pipeline.downgrade();
    parsebin.connect_pad_added(move |_, pad| {
        if let Some(pipeline) = weak.upgrade() {
            on_pad(&pipeline, pad);
        }
    });
    Ok(())
}

/// The caps a stream from `parsebin` carries: the negotiated ones, else those of its stream
/// object (set before data flows), else what the pad can give (possibly not fixed).
fn stream_caps(pad: &gst::Pad) -> gst::Caps {
    pad.current_caps()
        .or_else(|| pad.stream().and_then(|s| s.caps()))
        .unwrap_or_else(|| pad.query_caps(None))
}

fn media_type(caps: &gst::Caps) -> String {
    caps.structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default()
}

fn sink_of(e: &gst::Element) -> Result<gst::Pad> {
    e.static_pad("sink")
        .ok_or_else(|| anyhow!("{} has no sink pad", e.name()))
}

/// A stream a reader does not carry: read and dropped at once. Never waits for preroll (the
/// demuxer pushes every stream from one thread: a sink holding it would stall the others).
pub(super) fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<()> {
    let fake = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
        .context("GStreamer element 'fakesink' is missing: run `make setup`")?;
    pipeline.add(&fake)?;
    fake.sync_state_with_parent()?;
    pad.link(&sink_of(&fake)?)?;
    Ok(())
}

/// The video reader's stream: the first video stream is decoded and attached to the colorizer,
/// everything else (sound: the other reader carries it; subtitles, data, a second video) is
/// dropped.
pub(super) fn link_video_stream(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    colorize: &gst::Element,
    shared: &Arc<Shared>,
) -> Result<()> {
    let caps = stream_caps(pad);
    if !media_type(&caps).starts_with("video/") || shared.video_linked.swap(true, Ordering::SeqCst)
    {
        return discard(pipeline, pad);
    }
    let dec = make("decodebin")?;
    pipeline.add(&dec)?;
    let (colorize, weak, shared) = (colorize.clone(), pipeline.downgrade(), shared.clone());
    dec.connect_pad_added(move |_, dpad| {
        if let Some(pipeline) = weak.upgrade()
            && let Err(e) = attach_video(&pipeline, dpad, &colorize)
        {
            shared.fail(format!("the decoded video could not be linked: {e:#}"));
        }
    });
    dec.sync_state_with_parent()?;
    pad.link(&sink_of(&dec)?)?;
    Ok(())
}

/// Links decoded video to the colorizer. Frames an NVIDIA decoder leaves in GPU memory go
/// straight in when the colorizer takes them there (its GPU path runs): no copy to the host
/// before the colour frames come down. Anything else reaches it as RGB, as `ddcolor photo`
/// sees a picture (a decoder that offered GPU memory then gives system memory).
pub(super) fn attach_video(
    pipeline: &gst::Pipeline,
    decoded: &gst::Pad,
    colorize: &gst::Element,
) -> Result<()> {
    let sink = colorize
        .static_pad("sink")
        .ok_or_else(|| anyhow!("ddcolorize has no sink pad"))?;
    if sink.is_linked() {
        return Ok(());
    }
    let caps = decoded.current_caps();
    let on_gpu = caps.as_ref().is_some_and(|c| {
        c.features(0)
            .is_some_and(|f| f.contains("memory:CUDAMemory"))
            && sink.query_accept_caps(c)
    });
    let head: gst::Element = gst::parse::bin_from_description(
        if on_gpu {
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0"
        } else {
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! videoconvert ! capsfilter caps=video/x-raw,format=RGB"
        },
        true,
    )?
    .upcast();
    pipeline.add(&head)?;
    head.link(colorize)?;
    head.sync_state_with_parent()?;
    let head_sink = head
        .static_pad("sink")
        .ok_or_else(|| anyhow!("video head without a sink pad"))?;
    decoded.link(&head_sink)?;
    if on_gpu {
        eprintln!("note: decoded frames stay in GPU memory up to the colorizer");
    }
    Ok(())
}

/// Whether the muxer's new sound pad takes `caps` as they are. Asked only with fixed caps (the
/// accept-caps query is undefined for others); a stream whose caps are not known precisely is
/// re-encoded rather than risked.
fn muxer_takes(mux_pad: &gst::Pad, caps: &gst::Caps) -> bool {
    caps.is_fixed()
        && mux_pad.pad_template_caps().can_intersect(caps)
        && mux_pad.query_accept_caps(caps)
}

/// The sound reader's stream: each sound stream goes to the muxer, copied when the container
/// takes it, else decoded and re-encoded (with a note); anything else is dropped.
pub(super) fn link_audio_stream(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    mux: &gst::Element,
    container: Container,
    timing: &Arc<Timing>,
) -> Result<()> {
    let caps = stream_caps(pad);
    let name = media_type(&caps);
    if !name.starts_with("audio/") {
        return discard(pipeline, pad);
    }
    watch_audio_end(pad, timing.clone());
    let mux_pad = mux
        .request_pad_simple("audio_%u")
        .ok_or_else(|| anyhow!("the muxer takes no audio"))?;
    // Bounded by time: this reader may block on it without holding anything else up.
    let ahead = format!(
        "queue max-size-buffers=0 max-size-bytes=0 max-size-time={}",
        AUDIO_AHEAD.nseconds()
    );
    let chain = if muxer_takes(&mux_pad, &caps) {
        gst::parse::bin_from_description(&ahead, true)?
    } else {
        eprintln!(
            "note: the {name} audio cannot go into this container as it is; re-encoding it with {}",
            container.audio_encoder()
        );
        // decodebin's pad appears only once data flows: ghost the ends by hand.
        let chain = gst::parse::bin_from_description(
            &format!(
                "{ahead} name=in ! decodebin name=dec \
                 audioconvert name=conv ! audioresample ! {} name=enc",
                container.audio_encoder()
            ),
            false,
        )?;
        let get = |name: &str| {
            chain
                .by_name(name)
                .ok_or_else(|| anyhow!("audio chain without {name}"))
        };
        let (input, dec, conv, enc) = (get("in")?, get("dec")?, get("conv")?, get("enc")?);
        let conv_sink = sink_of(&conv)?;
        dec.connect_pad_added(move |_, dpad| {
            if !conv_sink.is_linked() {
                let _ = dpad.link(&conv_sink);
            }
        });
        chain.add_pad(&gst::GhostPad::with_target(&sink_of(&input)?)?)?;
        chain.add_pad(&gst::GhostPad::with_target(
            &enc.static_pad("src")
                .ok_or_else(|| anyhow!("audio encoder without src"))?,
        )?)?;
        chain
    };
    pipeline.add(&chain)?;
    // Muxer first: sound reaching an unlinked chain would stop the reader.
    chain
        .static_pad("src")
        .ok_or_else(|| anyhow!("audio chain without src"))?
        .link(&mux_pad)?;
    chain.sync_state_with_parent()?;
    pad.link(&sink_of(chain.upcast_ref())?)?;
    Ok(())
}
