//! The film pipeline's graph: source, decoder, colorizer, encoder and muxer linked as streams
//! appear, the `--frames` writer and the visible mark, and the loop that watches it to the end.

use super::*;

pub(super) fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory)
        .build()
        .with_context(|| format!("GStreamer element '{factory}' is missing: run `make setup` (it installs the GStreamer plugins)"))
}

/// A queue bounded by buffer count only (0: unbounded), so frame size does not change how many
/// frames it holds.
pub(super) fn queue(max_buffers: u32) -> Result<gst::Element> {
    Ok(gst::ElementFactory::make("queue")
        .property("max-size-buffers", max_buffers)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()?)
}

pub(super) fn run_pipeline(
    job: &FilmJob,
    container: Container,
    temp: &Path,
    source: Source,
) -> Result<(Outcome, Option<Provenance>)> {
    let pipeline = gst::Pipeline::new();
    let shared = Arc::new(Shared {
        failure: std::sync::Mutex::new(None),
        video_linked: AtomicBool::new(false),
        provenance: std::sync::Mutex::new(job.provenance.clone()),
    });

    // Colorizer and everything after it.
    let colorize = make("ddcolorize")?;
    colorize.set_property("model", job.model.to_string_lossy().to_string());
    colorize.set_property("input-size", job.input_size.unwrap_or(0) as u32);
    if let Some(up) = job.upsample {
        colorize.set_property_from_str("upsample", up.name());
    }
    colorize.set_property("batch-size", job.batch_size);
    colorize.set_property_from_str("device", job.device.name());
    colorize.set_property("fp16", job.gpu.fp16);
    if let Some(dir) = &job.gpu.engine_cache {
        colorize.set_property("engine-cache", dir.display().to_string());
    }
    colorize.set_property("max-gpu-memory", job.gpu.max_memory.unwrap_or(0) >> 20);
    if let Some(w) = &job.workflow {
        colorize.set_property("workflow", w);
    }
    if let Some(style) = job.style {
        colorize.set_property_from_str("style", style);
    }
    colorize.set_property("threads", job.threads.unwrap_or(0) as u32);
    colorize.set_property_from_str("temporal", job.temporal.mode.name());
    colorize.set_property("temporal-strength", job.temporal.strength);
    colorize.set_property("motion-sensitivity", job.temporal.motion_sensitivity);
    colorize.set_property("scene-cut-threshold", job.temporal.scene_cut_threshold);
    let rgb_caps = gst::ElementFactory::make("capsfilter")
        .property(
            "caps",
            gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .build(),
        )
        .build()?;
    let tee = make("tee")?;
    let mux = make(container.muxer(&job.output))?;
    let sink = gst::ElementFactory::make("filesink")
        .property("location", temp.to_string_lossy().to_string())
        .build()?;
    pipeline.add_many([&colorize, &rgb_caps, &tee, &mux, &sink])?;
    gst::Element::link_many([&colorize, &rgb_caps, &tee])?;
    mux.link(&sink)?;
    if let Some(p) = &job.provenance {
        set_provenance_tags(&mux, p)?;
        record_size_that_runs(&pipeline, &colorize, &mux, shared.clone())?;
    }
    if job.mark {
        // On the capsfilter's sink pad: before the `--frames` probe on its src pad, so the PNG
        // frames carry the mark as the film does.
        add_mark_probe(
            &rgb_caps
                .static_pad("sink")
                .ok_or_else(|| anyhow!("capsfilter without sink"))?,
        );
    }

    let frames = Arc::new(AtomicU64::new(0));
    // First and last colour frame: the steady rate, without model loading and start-up.
    let span: Arc<std::sync::Mutex<Option<(Instant, Instant)>>> = Arc::default();
    {
        let (frames, span) = (frames.clone(), span.clone());
        let pad = colorize
            .static_pad("src")
            .ok_or_else(|| anyhow!("ddcolorize has no src pad"))?;
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            frames.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            let mut span = span.lock().unwrap_or_else(|p| p.into_inner());
            *span = Some((span.map_or(now, |s| s.0), now));
            gst::PadProbeReturn::Ok
        });
    }
    let frame_writer = match &job.frames_dir {
        Some(dir) => Some(FrameWriter::start(
            rgb_caps
                .static_pad("src")
                .ok_or_else(|| anyhow!("capsfilter without src"))?,
            dir.clone(),
            job.input.clone(),
            shared.clone(),
        )?),
        None => None,
    };

    let mut total_frames: Option<u64> = None;
    let mut odd = false;
    match source {
        Source::File(path) => {
            let filesrc = gst::ElementFactory::make("filesrc")
                .property("location", path.to_string_lossy().to_string())
                .build()?;
            let parsebin = gst::ElementFactory::make("parsebin")
                .name(DEMUX)
                .build()
                .context("GStreamer element 'parsebin' is missing: run `make setup`")?;
            // The decoder's head to the colorizer is chosen once its caps are known
            // (`attach_video`).
            pipeline.add_many([&filesrc, &parsebin])?;
            filesrc.link(&parsebin)?;
            let weak = pipeline.downgrade();
            let (head, mux, shared2, input) = (
                colorize.clone(),
                mux.clone(),
                shared.clone(),
                path.to_path_buf(),
            );
            parsebin.connect_pad_added(move |_, pad| {
                let Some(pipeline) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = link_stream(&pipeline, pad, &head, &mux, container, &shared2) {
                    shared2.fail(format!("{}: {e:#}", input.display()));
                }
            });
        }
        Source::Sequence(files) => {
            let first = read_photo(&files[0], job.max_pixels).map_err(|e| anyhow!("{e}"))?;
            odd = first.width % 2 == 1 || first.height % 2 == 1;
            total_frames = Some(files.len() as u64);
            let appsrc =
                add_sequence_source(&pipeline, files.to_vec(), first, job, shared.clone())?;
            // Straight into the colorizer: no conversion, 16-bit scans stay 16-bit.
            let q = queue(8)?;
            pipeline.add(&q)?;
            gst::Element::link_many([appsrc.upcast_ref(), &q, &colorize])?;
        }
    }

    // Encoder branch. x264's 4:2:0 needs even sizes; the chroma layout is switched to 4:4:4 when
    // the first caps show an odd size (before they reach the encoder).
    let enc = gst::parse::bin_from_description(
        &format!(
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! videoconvert ! {}",
            video_encoder(container, job.lossless)?
        ),
        true,
    )?;
    pipeline.add(&enc)?;
    tee.link(&enc)?;
    enc.link(&mux)?;
    if let Some(layout) = enc.by_name("layout") {
        let set = move |odd: bool| {
            let format = if odd {
                gst_video::VideoFormat::Y444
            } else {
                gst_video::VideoFormat::I420
            };
            layout.set_property(
                "caps",
                gst_video::VideoCapsBuilder::new().format(format).build(),
            );
        };
        set(odd);
        let pad = colorize
            .static_pad("src")
            .ok_or_else(|| anyhow!("ddcolorize has no src pad"))?;
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Ok(i) = gst_video::VideoInfo::from_caps(c.caps())
            {
                set(i.width() % 2 == 1 || i.height() % 2 == 1);
            }
            gst::PadProbeReturn::Ok
        });
    }

    // Ctrl-C (or SIGTERM, SIGHUP): the first finishes the file (end-of-stream), the second
    // stops at once.
    crate::signals::watch();

    let bar = progress_bar(total_frames);
    let start = Instant::now();
    if pipeline.set_state(gst::State::Playing).is_err() {
        bar.finish_and_clear();
        let msg =
            first_error(&pipeline).unwrap_or_else(|| "the film pipeline could not start".into());
        let _ = pipeline.set_state(gst::State::Null);
        bail!("{msg}");
    }
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline without a bus"))?;
    let mut interrupted = false;
    let result: Result<()> = loop {
        if let Some(msg) = shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            break Err(anyhow!(msg));
        }
        let n = crate::signals::count();
        if n == 1 && !interrupted {
            interrupted = true;
            // `suspend`, not `println`: a hidden bar (stderr not a terminal) prints nothing.
            bar.suspend(|| {
                eprintln!("interrupted: finishing the file (Ctrl-C again to stop at once)")
            });
            pipeline.send_event(gst::event::Eos::new());
        } else if n >= 2 {
            break Err(anyhow!("stopped by Ctrl-C; nothing written"));
        }
        let done = frames.load(Ordering::Relaxed);
        bar.set_position(done);
        if total_frames.is_none()
            && let Some(total) = estimate_frames(&pipeline, &colorize)
        {
            total_frames = Some(total);
            bar.set_length(total);
            bar.set_style(bar_style(true));
        }
        if let Some(p) = error_watch::stranded(pipeline.upcast_ref(), Duration::from_secs(2)) {
            let from = p
                .element
                .upgrade()
                .map(|e| e.name().to_string())
                .unwrap_or_default();
            break Err(describe_error(&job.input, &from, &p.error, &p.debug));
        }
        let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => break Ok(()),
            gst::MessageView::Error(e) => {
                let from = e.src().map(|s| s.name().to_string()).unwrap_or_default();
                let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                break Err(describe_error(
                    &job.input,
                    &from,
                    &e.error().to_string(),
                    &debug,
                ));
            }
            gst::MessageView::StreamCollection(c)
                if msg.src().is_some_and(|s| s.name() == DEMUX) =>
            {
                let collection = c.stream_collection();
                if !collection.is_empty()
                    && !collection
                        .iter()
                        .any(|st| st.stream_type().contains(gst::StreamType::VIDEO))
                {
                    break Err(anyhow!(
                        "{}: no video stream in this file",
                        job.input.display()
                    ));
                }
            }
            gst::MessageView::Warning(w) => bar.suspend(|| eprintln!("warning: {}", w.error())),
            // The element says once where it runs when `auto` could not use the GPU.
            gst::MessageView::Info(i) => bar.suspend(|| eprintln!("note: {}", i.error())),
            _ => {}
        }
    };
    bar.finish_and_clear();
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(w) = frame_writer {
        w.finish();
    }
    if let Some(msg) = shared
        .failure
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        result?;
        bail!(msg);
    }
    result?;
    let frames = frames.load(Ordering::Relaxed);
    if frames == 0 {
        bail!("{}: no frame could be decoded", job.input.display());
    }
    let steady_fps = span
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .filter(|_| frames > 1)
        .map(|(first, last)| (frames - 1) as f64 / (last - first).as_secs_f64().max(1e-9));
    Ok((
        Outcome {
            frames,
            interrupted,
            steady_fps,
            elapsed: start.elapsed(),
        },
        shared.provenance(),
    ))
}

/// Frames in the input, from its duration and frame rate, once both are known.
pub(super) fn estimate_frames(pipeline: &gst::Pipeline, colorize: &gst::Element) -> Option<u64> {
    let duration = pipeline.query_duration::<gst::ClockTime>()?;
    let caps = colorize.static_pad("sink")?.current_caps()?;
    let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
    let fps = info.fps();
    if fps.numer() <= 0 || fps.denom() <= 0 {
        return None;
    }
    Some(
        (duration.nseconds() as u128 * fps.numer() as u128 / (fps.denom() as u128 * 1_000_000_000))
            .max(1) as u64,
    )
}

/// Links one elementary stream from `parsebin`: the first video stream to the colorizer, audio
/// to the muxer (copied when the container takes it), anything else to a fakesink.
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

pub(super) fn link_stream(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    colorize: &gst::Element,
    mux: &gst::Element,
    container: Container,
    shared: &Arc<Shared>,
) -> Result<()> {
    let caps = pad
        .current_caps()
        .or_else(|| Some(pad.query_caps(None)))
        .ok_or_else(|| anyhow!("stream without caps"))?;
    let name = caps
        .structure(0)
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    let sink_of = |e: &gst::Element| {
        e.static_pad("sink")
            .ok_or_else(|| anyhow!("{} has no sink pad", e.name()))
    };
    if name.starts_with("video/") && !shared.video_linked.swap(true, Ordering::SeqCst) {
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
        return Ok(());
    }
    if name.starts_with("audio/") {
        let mux_pad = mux
            .request_pad_simple("audio_%u")
            .ok_or_else(|| anyhow!("the muxer takes no audio"))?;
        let takes_it =
            mux_pad.query_accept_caps(&caps) || mux_pad.pad_template_caps().can_intersect(&caps);
        if takes_it {
            // Unbounded: the muxer needs audio up to where the video is, and the video sits in the
            // encoder's look-ahead for a second or more; a full audio queue would block the
            // demuxer and with it the video (compressed audio is small).
            let q = queue(0)?;
            pipeline.add(&q)?;
            q.sync_state_with_parent()?;
            pad.link(&sink_of(&q)?)?;
            q.static_pad("src")
                .ok_or_else(|| anyhow!("queue without src"))?
                .link(&mux_pad)?;
        } else {
            eprintln!(
                "note: the {name} audio cannot go into this container as it is; re-encoding it with {}",
                container.audio_encoder()
            );
            // decodebin's pad appears only once data flows: ghost the ends by hand.
            let chain = gst::parse::bin_from_description(
                &format!(
                    "queue name=in max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! decodebin name=dec \
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
            let ghost_in = gst::GhostPad::with_target(&sink_of(&input)?)?;
            let ghost_out = gst::GhostPad::with_target(
                &enc.static_pad("src")
                    .ok_or_else(|| anyhow!("audio encoder without src"))?,
            )?;
            chain.add_pad(&ghost_in)?;
            chain.add_pad(&ghost_out)?;
            pipeline.add(&chain)?;
            chain.sync_state_with_parent()?;
            pad.link(&ghost_in)?;
            ghost_out.link(&mux_pad)?;
        }
        return Ok(());
    }
    // Subtitles, data, a second video: not carried.
    let fake = make("fakesink")?;
    fake.set_property("sync", false);
    pipeline.add(&fake)?;
    fake.sync_state_with_parent()?;
    pad.link(&sink_of(&fake)?)?;
    Ok(())
}

/// `--mark`: the visible mark drawn into every colour frame (RGB, 8-bit, rows padded).
pub(super) fn add_mark_probe(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::BUFFER, |pad, info| {
        let Some(caps) = pad.current_caps() else {
            return gst::PadProbeReturn::Ok;
        };
        let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps) else {
            return gst::PadProbeReturn::Ok;
        };
        if vinfo.format() != gst_video::VideoFormat::Rgb {
            return gst::PadProbeReturn::Ok;
        }
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data {
            // Copies the frame only if something else still holds it.
            let buffer = buffer.make_mut();
            if let Ok(mut frame) =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &vinfo)
            {
                let stride = frame.plane_stride()[0] as usize;
                if let Ok(data) = frame.plane_data_mut(0) {
                    draw_mark_u8(
                        data,
                        vinfo.width() as usize,
                        vinfo.height() as usize,
                        stride,
                        3,
                        false,
                    );
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// `--frames DIR`: every colour frame also written as `frame_NNNNNN.png`, atomically, with the
/// same writer as `ddcolor photo`. A pad probe hands the frames (references, not copies) to a
/// writer thread: a sink branch would block in PAUSED and stall the encoder's preroll.
pub(super) struct FrameWriter {
    pad: gst::Pad,
    probe: Option<gst::PadProbeId>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FrameWriter {
    pub(super) fn start(
        pad: gst::Pad,
        dir: PathBuf,
        input: PathBuf,
        shared: Arc<Shared>,
    ) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<(gst::Buffer, gst_video::VideoInfo)>(8);
        let thread = std::thread::Builder::new()
            .name("frame-writer".into())
            .spawn(move || {
                for (n, (buffer, info)) in rx.iter().enumerate() {
                    let path = dir.join(format!("frame_{:06}.png", n + 1));
                    // Each frame records the S it was made at: the colorizer says so before
                    // it pushes the frames of a new S.
                    let write = WriteOptions {
                        provenance: shared.provenance().map(|p| Arc::new(p.with_source(&input))),
                        ..WriteOptions::default()
                    };
                    if let Err(e) = write_frame(&buffer, &info, &path, &write) {
                        shared.fail(format!("{}: {e:#}", path.display()));
                        return;
                    }
                }
            })?;
        let probe = pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let Some(gst::PadProbeData::Buffer(buffer)) = &info.data
                && let Some(caps) = pad.current_caps()
                && let Ok(vinfo) = gst_video::VideoInfo::from_caps(&caps)
            {
                // The writer failed: the main loop is already stopping the pipeline.
                let _ = tx.send((buffer.clone(), vinfo));
            }
            gst::PadProbeReturn::Ok
        });
        Ok(Self {
            pad,
            probe,
            thread: Some(thread),
        })
    }

    /// Waits until every frame handed over is on disk.
    pub(super) fn finish(mut self) {
        if let Some(probe) = self.probe.take() {
            self.pad.remove_probe(probe); // drops the sender: the writer ends after the last frame
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(super) fn write_frame(
    buffer: &gst::Buffer,
    info: &gst_video::VideoInfo,
    path: &Path,
    write: &WriteOptions,
) -> Result<()> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), info)
        .map_err(|_| anyhow!("cannot map the frame"))?;
    let (w, h) = (info.width() as usize, info.height() as usize);
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0)?;
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        rgb.extend_from_slice(&data[y * stride..y * stride + w * 3]);
    }
    let photo = Photo {
        width: w,
        height: h,
        channels: 3,
        samples: Samples::U8(rgb),
    };
    write_photo(&photo, path, write.clone()).map_err(|e| anyhow!("{e}"))
}
