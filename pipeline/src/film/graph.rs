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
    report: &Report,
) -> Result<(Outcome, Option<Provenance>)> {
    let pipeline = gst::Pipeline::new();
    let shared = Arc::new(Shared {
        failure: std::sync::Mutex::new(None),
        video_linked: AtomicBool::new(false),
        provenance: std::sync::Mutex::new(job.provenance.clone()),
        timing: Arc::default(),
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
    // Where each frame's length is fixed (`timing`): frames are held there by one.
    let timed = gst::ElementFactory::make("identity")
        .property("silent", true)
        .build()?;
    let tee = make("tee")?;
    let mux = gst::ElementFactory::make(container.muxer(&job.output))
        .name(OUTPUT_MUX)
        .build()
        .with_context(|| {
            format!(
                "GStreamer element '{}' is missing: run `make setup`",
                container.muxer(&job.output)
            )
        })?;
    let sink = gst::ElementFactory::make("filesink")
        .name(OUTPUT_FILE)
        .property("location", temp.to_string_lossy().to_string())
        .build()?;
    pipeline.add_many([&colorize, &rgb_caps, &timed, &tee, &mux, &sink])?;
    gst::Element::link_many([&colorize, &rgb_caps, &timed, &tee])?;
    mux.link(&sink)?;
    hold_back_one(
        &timed
            .static_pad("src")
            .ok_or_else(|| anyhow!("identity without src"))?,
        shared.timing.clone(),
    );
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
    match source {
        Source::File(path) => {
            // Two readers of the file (see `streams`): video to the colorizer (the decoder's
            // head is chosen once its caps are known, `attach_video`), sound to the muxer.
            let (head, shared2, input) = (colorize.clone(), shared.clone(), path.to_path_buf());
            add_reader(&pipeline, path, DEMUX, move |pipeline, pad| {
                if let Err(e) = link_video_stream(pipeline, pad, &head, &shared2) {
                    shared2.fail(format!("{}: {e:#}", input.display()));
                }
            })?;
            let (mux, shared2, input) = (mux.clone(), shared.clone(), path.to_path_buf());
            add_reader(&pipeline, path, AUDIO_DEMUX, move |pipeline, pad| {
                if let Err(e) = link_audio_stream(pipeline, pad, &mux, container, &shared2.timing) {
                    shared2.fail(format!("{}: {e:#}", input.display()));
                }
            })?;
        }
        Source::Sequence(files) => {
            let first = read_photo(&files[0], job.max_pixels).map_err(|e| anyhow!("{e}"))?;
            total_frames = Some(files.len() as u64);
            let appsrc =
                add_sequence_source(&pipeline, files.to_vec(), first, job, shared.clone())?;
            // Straight into the colorizer: no conversion, 16-bit scans stay 16-bit.
            let q = queue(8)?;
            pipeline.add(&q)?;
            gst::Element::link_many([appsrc.upcast_ref(), &q, &colorize])?;
        }
    }

    // Encoder branch. H.264 in 4:2:0 (what players take) needs even sizes: an odd width or
    // height is padded by one column or row (`pad_to_even`), set when the first caps show the
    // size (before they reach the encoder).
    let enc = gst::parse::bin_from_description(
        &format!(
            "queue max-size-buffers=8 max-size-bytes=0 max-size-time=0 ! {}",
            video_encoder(container, job.lossless)?
        ),
        true,
    )?;
    pipeline.add(&enc)?;
    tee.link(&enc)?;
    enc.link(&mux)?;
    if let Some(pad) = enc.by_name(EVEN) {
        pad_to_even(
            &pad,
            &colorize
                .static_pad("src")
                .ok_or_else(|| anyhow!("ddcolorize has no src pad"))?,
        )?;
    }

    // Ctrl-C (or SIGTERM, SIGHUP; `run` started counting them): the first finishes the file
    // (end-of-stream), the second stops at once.

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
            report.note("interrupted: finishing the file".into());
            pipeline.send_event(gst::event::Eos::new());
        } else if n >= 2 {
            break Err(crate::signals::Interrupted(
                "stopped by a second interrupt; nothing written".into(),
            )
            .into());
        }
        if let Some(d) = pipeline.query_duration::<gst::ClockTime>() {
            shared.timing.claimed.store(d.nseconds(), Ordering::Relaxed);
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
        report.frames(done, total_frames);
        if let Some(p) = error_watch::stranded(pipeline.upcast_ref(), Duration::from_secs(2)) {
            let from = p
                .element
                .upgrade()
                .map(|e| e.name().to_string())
                .unwrap_or_default();
            break Err(describe_error(
                &job.input,
                &job.output,
                &from,
                &p.error,
                &p.debug,
            ));
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
                    &job.output,
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
            gst::MessageView::Warning(w) => {
                bar.suspend(|| eprintln!("warning: {}", w.error()));
                report.note(format!("warning: {}", w.error()));
            }
            // The element says once where it runs when `auto` could not use the GPU.
            gst::MessageView::Info(i) => {
                bar.suspend(|| eprintln!("note: {}", i.error()));
                report.note(i.error().to_string());
            }
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
    // What reached the encoder: the frames the file holds.
    let frames = shared.timing.frames.load(Ordering::Relaxed);
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
            shortfall: shortfall(&shared.timing),
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
