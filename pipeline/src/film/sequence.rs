//! Image sequences as film: a folder of numbered frames read with the photo reader (EXIF, 16-bit,
//! limits), so a scanned reel gets the same decoding as `ddcolor photo`.

use super::*;

/// Sorted image files of a scanned sequence.
pub fn sequence_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let hidden = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            !hidden
                && p.is_file()
                && matches!(
                    ext.as_deref(),
                    Some("png" | "tif" | "tiff" | "jpg" | "jpeg")
                )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "{}: no .png, .tif or .jpg frames in this folder",
            dir.display()
        );
    }
    Ok(files)
}

/// A photo as raw video: the formats `ddcolorize` reads directly (grey+alpha drops its alpha).
pub(super) fn photo_to_video(photo: Photo) -> (gst_video::VideoFormat, Vec<u8>) {
    use gst_video::VideoFormat as V;
    match (photo.samples, photo.channels) {
        (Samples::U8(v), 1) => (V::Gray8, v),
        (Samples::U8(v), 2) => (V::Gray8, v.chunks_exact(2).map(|p| p[0]).collect()),
        (Samples::U8(v), 3) => (V::Rgb, v),
        (Samples::U8(v), _) => (V::Rgba, v),
        (Samples::U16(v), 1) => (
            V::Gray16Le,
            v.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ),
        (Samples::U16(v), 2) => (
            V::Gray16Le,
            v.chunks_exact(2).flat_map(|p| p[0].to_le_bytes()).collect(),
        ),
        // 16-bit colour scans: the element's colour formats are 8-bit.
        (Samples::U16(v), c) => {
            let fmt = if c == 3 { V::Rgb } else { V::Rgba };
            (
                fmt,
                v.iter()
                    .map(|&s| ((s as u32 * 255 + 32767) / 65535) as u8)
                    .collect(),
            )
        }
    }
}

/// Image sequence: frames read with the photo reader (EXIF, 16-bit, limits) on a feeder thread,
/// pushed with timestamps from `--fps`. All frames must have the first one's size and format.
pub(super) fn add_sequence_source(
    pipeline: &gst::Pipeline,
    files: Vec<PathBuf>,
    first: Photo,
    job: &FilmJob,
    shared: Arc<Shared>,
) -> Result<gst_app::AppSrc> {
    let fps = job
        .fps
        .ok_or_else(|| anyhow!("--fps is required for an image sequence"))?;
    let (w, h) = (first.width, first.height);
    let (format, _) = photo_to_video(first.clone());
    let info = gst_video::VideoInfo::builder(format, w as u32, h as u32)
        .fps(fps)
        .build()?;
    let appsrc = gst_app::AppSrc::builder()
        .caps(&info.to_caps()?)
        .format(gst::Format::Time)
        .is_live(false)
        .block(true)
        .max_bytes((info.size() * 4) as u64)
        .build();
    pipeline.add(&appsrc)?;
    let src = appsrc.clone();
    let max_pixels = job.max_pixels;
    std::thread::spawn(move || {
        let frame_ns = |i: u64| {
            gst::ClockTime::SECOND.mul_div_floor(i * fps.denom() as u64, fps.numer() as u64)
        };
        let mut first = Some(first);
        for (i, path) in files.iter().enumerate() {
            let photo = match first.take() {
                Some(p) => p,
                None => match read_photo(path, max_pixels) {
                    Ok(p) => p,
                    Err(e) => {
                        shared.fail(e.to_string());
                        return;
                    }
                },
            };
            if photo.width != w || photo.height != h {
                shared.fail(format!(
                    "{}: frame is {}x{}, the sequence is {w}x{h}",
                    path.display(),
                    photo.width,
                    photo.height
                ));
                return;
            }
            let (f, bytes) = photo_to_video(photo);
            if f != format {
                shared.fail(format!(
                    "{}: pixel format {f:?} differs from the sequence's {format:?}",
                    path.display()
                ));
                return;
            }
            // GStreamer rows are padded to 4 bytes; the photo's are packed.
            let row = bytes.len() / h;
            let stride = info.stride()[0] as usize;
            let mut padded = vec![0u8; info.size()];
            for (dst, src) in padded.chunks_mut(stride).zip(bytes.chunks(row)) {
                dst[..row].copy_from_slice(src);
            }
            let mut buf = gst::Buffer::from_mut_slice(padded);
            {
                let b = buf.get_mut().expect("new buffer");
                let pts = frame_ns(i as u64);
                b.set_pts(pts);
                b.set_duration(frame_ns(i as u64 + 1).zip(pts).map(|(e, s)| e - s));
                b.set_offset(i as u64);
            }
            if src.push_buffer(buf).is_err() {
                return; // flushing or stopped: the main loop reports why
            }
        }
        let _ = src.end_of_stream();
    });
    Ok(appsrc)
}
