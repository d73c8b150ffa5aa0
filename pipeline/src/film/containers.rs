//! Containers and codecs: which muxer and video encoder a film's extension takes, and the
//! provenance in the muxer's tags, which GStreamer writes differently per container (and which
//! follows the S the colorizer reports).

use super::*;

/// The container and codecs an output name asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Container {
    Mp4,
    Mkv,
    Webm,
}

impl Container {
    pub(super) fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("mp4") | Some("m4v") | Some("mov") => Ok(Self::Mp4),
            Some("mkv") => Ok(Self::Mkv),
            Some("webm") => Ok(Self::Webm),
            _ => bail!(
                "{}: unsupported output format (use .mp4, .mkv or .webm)",
                path.display()
            ),
        }
    }

    pub(super) fn muxer(self, output: &Path) -> &'static str {
        match self {
            Self::Mp4
                if output
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("mov")) =>
            {
                "qtmux"
            }
            Self::Mp4 => "mp4mux",
            Self::Mkv => "matroskamux",
            Self::Webm => "webmmux",
        }
    }

    /// Audio encoder for streams the container cannot take as they are.
    pub(super) fn audio_encoder(self) -> &'static str {
        match self {
            Self::Mp4 => "avenc_aac",
            Self::Mkv | Self::Webm => "opusenc",
        }
    }
}

/// The video encoder chain (from the colour frames, RGB), as `gst::parse::bin_from_description`
/// text. H.264's is 4:2:0, which many players require; its `videobox` named [`EVEN`] pads an odd
/// size to even (`pad_to_even`). x264enc's output goes to the muxer as it is (AVC, whole frames,
/// with each frame's duration): `h264parse` (1.22) would replace every duration by one frame of
/// the rate in the stream's timing header, which x264enc writes as 1 ns for a variable rate
/// (caps framerate 0/1), so the muxers would end the film 1 ns after its last frame starts.
pub(super) fn video_encoder(container: Container, lossless: bool) -> Result<String> {
    Ok(match (container, lossless) {
        // FFV1 on BGRx keeps the element's RGB bit for bit: an archival master.
        (Container::Mkv, true) => "videoconvert ! capsfilter caps=video/x-raw,format=BGRx ! avenc_ffv1 slicecrc=1".into(),
        (_, true) => bail!("--lossless needs an .mkv output (FFV1 in Matroska)"),
        // A fixed 1/90000 s clock: with the default (1/fps), a variable-rate input (caps
        // framerate 0/1) is counted in 1/30 s ticks, and frames closer than that are dropped.
        (Container::Webm, false) => {
            "videoconvert ! vp9enc deadline=1 cpu-used=5 row-mt=true end-usage=cq cq-level=20 threads=2 keyframe-max-dist=250 timebase=1/90000 lag-in-frames=0".into()
        }
        // No B-frames in MP4: mp4mux (1.22) makes each sample's length the gap to the next
        // decode time and the last one's its buffer duration, and the film's length their sum;
        // with B-frames at a variable rate, x264enc's decode times are spaced like the
        // presentation times of other frames, so the sum misses the real end (a sparse clip of
        // 29.6 s came out 34.6 s).
        (Container::Mp4, false) => format!("{H264_HEAD} ! x264enc pass=qual quantizer=18 speed-preset=medium bframes=0"),
        (_, false) => format!("{H264_HEAD} ! x264enc pass=qual quantizer=18 speed-preset=medium"),
    })
}

/// Keeps the provenance's `input_size` to what the colorizer runs: it posts the S when it
/// knows it and after a step-down, before pushing frames made at it. The handler runs in the
/// thread that posts, so the muxer's tags and the `--frames` writer have the new S before the
/// first frame made at it reaches them; the muxer writes its tags when it finishes the file.
pub(super) fn record_size_that_runs(
    pipeline: &gst::Pipeline,
    colorize: &gst::Element,
    mux: &gst::Element,
    shared: Arc<Shared>,
) -> Result<()> {
    let bus = pipeline
        .bus()
        .ok_or_else(|| anyhow!("pipeline without a bus"))?;
    let (colorize, mux) = (colorize.downgrade(), mux.downgrade());
    bus.set_sync_handler(move |_, msg| {
        if let gst::MessageView::Element(e) = msg.view()
            && let Some(s) = e.structure()
            && s.name() == gstddcolor::ddcolorize::SIZE_MESSAGE
            && msg
                .src()
                .is_some_and(|src| colorize.upgrade().is_some_and(|c| src == &c))
            && let Ok(size) = s.get::<String>("input-size")
        {
            let mut p = shared.provenance.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = p.as_mut() {
                for (k, v) in &mut p.settings {
                    if k == "input_size" {
                        v.clone_from(&size);
                    }
                }
                if let Some(mux) = mux.upgrade()
                    && let Err(e) = set_provenance_tags(&mux, p)
                {
                    shared.fail(format!("{e:#}"));
                }
            }
        }
        gst::BusSyncReply::Pass
    });
    Ok(())
}

/// Records the provenance in the muxer's global tags, chosen for what survives into the file
/// and what `exiftool` reads back: comment and description carry the whole summary (model
/// SHA-256, workflow, settings), encoder the tool. MP4 (`mp4mux`/`qtmux`) writes them as iTunes
/// `ilst` items (©cmt, desc, ©too; the description and keywords also as XMP); Matroska
/// (`matroskamux`) writes COMMENTS and ENCODER SimpleTags (it has no description) and takes the
/// tool as its WritingApp. Matroska's string tags come out escaped; [`unescape_matroska_tags`]
/// puts them right once the file is complete.
pub(super) fn set_provenance_tags(mux: &gst::Element, p: &Provenance) -> Result<()> {
    let setter = mux
        .dynamic_cast_ref::<gst::TagSetter>()
        .ok_or_else(|| anyhow!("the muxer {} takes no tags", mux.name()))?;
    let summary = p.summary();
    let mut tags = gst::TagList::new();
    {
        let t = tags
            .get_mut()
            .ok_or_else(|| anyhow!("a new tag list is not writable"))?;
        let m = gst::TagMergeMode::Replace;
        t.add::<gst::tags::Comment>(&summary.as_str(), m);
        t.add::<gst::tags::Description>(&summary.as_str(), m);
        t.add::<gst::tags::Encoder>(&p.tool.as_str(), m);
        t.add::<gst::tags::Keywords>(&"colorized", gst::TagMergeMode::Append);
        t.add::<gst::tags::Keywords>(&"DDColor", gst::TagMergeMode::Append);
    }
    setter.merge_tags(&tags, gst::TagMergeMode::Replace);
    if mux.has_property("writing-app") {
        mux.set_property("writing-app", &p.tool);
    }
    Ok(())
}

/// `matroskamux` (GStreamer 1.22) writes each tag through `gst_value_serialize`, so a string
/// with spaces is stored quoted and backslash-escaped (`"Colorized\ by\ ..."`). This rewrites
/// those values in place in the finished file: each escaped value is found near the end (where
/// the muxer writes its Tags), checked to be a whole TagString element, and overwritten by the
/// plain text followed by zero bytes, which EBML allows as padding of a string element; no size
/// or offset in the file changes. Values that are not found (a muxer that writes them plainly)
/// are left alone.
pub(super) fn unescape_matroska_tags(path: &Path, values: &[&str]) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    /// Tags follow the clusters and cues: the tail of the file holds them.
    const TAIL: u64 = 4 << 20;
    const TAG_STRING_ID: [u8; 2] = [0x44, 0x87];
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("{}: cannot reopen to fix its tags", path.display()))?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    for value in values {
        let escaped = value.to_value().serialize()?;
        let (escaped, plain) = (escaped.as_bytes(), value.as_bytes());
        if escaped == plain || escaped.len() < plain.len() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = find(&tail[from..], escaped).map(|i| i + from) {
            from = i + escaped.len();
            // The element's header right before: TagString ID, then its size as a one- to
            // eight-byte EBML number equal to the escaped length (plus a trailing NUL, which
            // GStreamer writes).
            let header_ok = (1..=8).any(|w| {
                i >= 2 + w
                    && tail[i - 2 - w..i - w] == TAG_STRING_ID
                    && ebml_size(&tail[i - w..i]).is_some_and(|size| {
                        size == escaped.len() as u64 || size == escaped.len() as u64 + 1
                    })
            });
            if !header_ok {
                continue;
            }
            let mut replacement = plain.to_vec();
            replacement.resize(escaped.len(), 0);
            file.seek(SeekFrom::Start(start + i as u64))?;
            file.write_all(&replacement)?;
            tail[i..i + escaped.len()].copy_from_slice(&replacement);
        }
    }
    file.sync_all()?;
    Ok(())
}

/// Where `needle` first occurs; an empty needle is found at 0 (as `str::find` has it), where
/// `windows(0)` would panic.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of an EBML variable-size integer occupying exactly `bytes` (its length marker must
/// say so).
pub(super) fn ebml_size(bytes: &[u8]) -> Option<u64> {
    let w = bytes.len();
    let first = *bytes.first()?;
    if w > 8 || first.leading_zeros() as usize != w - 1 {
        return None;
    }
    let mut v = (first as u64) & (0xFF >> w);
    for &b in &bytes[1..] {
        v = v << 8 | b as u64;
    }
    Some(v)
}

/// The H.264 chain before the encoder: odd sizes padded to even, 4:2:0.
const H264_HEAD: &str =
    "videobox name=even ! videoconvert ! capsfilter caps=video/x-raw,format=I420";

/// Name of the `videobox` that pads odd sizes in the H.264 chain (in [`H264_HEAD`]).
pub(super) const EVEN: &str = "even";

/// H.264 4:2:0 needs an even width and height. An odd one is padded by one column (right) or row
/// (bottom) that repeats the edge pixels, rather than cropped: every pixel of the input stays in
/// the film (an archive's scan keeps its last line), and the added one is invisible, where a black
/// line would show. The alternative, 4:4:4, is refused by many players and hardware decoders.
/// `videobox` adds the border (it fills it with black), and a probe on its output copies the edge
/// into it; `size_from` is the colorizer's output, whose caps tell the size before any frame.
pub(super) fn pad_to_even(videobox: &gst::Element, size_from: &gst::Pad) -> Result<()> {
    let pad_by = Arc::new(std::sync::Mutex::new((0u32, 0u32)));
    {
        let (videobox, pad_by) = (videobox.downgrade(), pad_by.clone());
        size_from.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data
                && let gst::EventView::Caps(c) = ev.view()
                && let Ok(i) = gst_video::VideoInfo::from_caps(c.caps())
                && let Some(videobox) = videobox.upgrade()
            {
                let (right, bottom) = (i.width() % 2, i.height() % 2);
                // Negative borders add pixels.
                videobox.set_property("right", -(right as i32));
                videobox.set_property("bottom", -(bottom as i32));
                *pad_by.lock().unwrap_or_else(|p| p.into_inner()) = (right, bottom);
            }
            gst::PadProbeReturn::Ok
        });
    }
    let src = videobox
        .static_pad("src")
        .ok_or_else(|| anyhow!("videobox without src"))?;
    src.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let (right, bottom) = *pad_by.lock().unwrap_or_else(|p| p.into_inner());
        if right == 0 && bottom == 0 {
            return gst::PadProbeReturn::Ok;
        }
        let Some(vinfo) = pad
            .current_caps()
            .and_then(|c| gst_video::VideoInfo::from_caps(&c).ok())
        else {
            return gst::PadProbeReturn::Ok;
        };
        if let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data
            && let Ok(mut frame) =
                gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), &vinfo)
        {
            replicate_edges(&mut frame, right == 1, bottom == 1);
        }
        gst::PadProbeReturn::Ok
    });
    Ok(())
}

/// Copies the column before the last into the last (`right`) and the row before the last into
/// the last (`bottom`), in every plane of a packed or planar frame.
fn replicate_edges(
    frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>,
    right: bool,
    bottom: bool,
) {
    let finfo = frame.format_info();
    let (w, h) = (frame.width(), frame.height());
    for plane in 0..frame.n_planes() {
        let stride = frame.plane_stride()[plane as usize] as usize;
        // Size of this plane in pixels, and bytes per pixel in it.
        let comp = (0..finfo.n_components())
            .find(|&c| finfo.plane()[c as usize] == plane)
            .unwrap_or(0);
        let pw = finfo.scale_width(comp as u8, w) as usize;
        let ph = finfo.scale_height(comp as u8, h) as usize;
        let px = finfo.pixel_stride()[comp as usize].max(1) as usize;
        let Ok(data) = frame.plane_data_mut(plane) else {
            continue;
        };
        if right && pw >= 2 {
            for y in 0..ph {
                let row = y * stride;
                let (last, before) = (row + (pw - 1) * px, row + (pw - 2) * px);
                if last + px <= data.len() {
                    data.copy_within(before..before + px, last);
                }
            }
        }
        if bottom && ph >= 2 {
            let (last, before) = ((ph - 1) * stride, (ph - 2) * stride);
            let n = (pw * px).min(stride);
            if last + n <= data.len() {
                data.copy_within(before..before + n, last);
            }
        }
    }
}

#[cfg(test)]
#[path = "containers_fuzz.rs"]
mod fuzz;
