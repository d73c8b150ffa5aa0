//! Reading photos from disk and writing results without ever leaving a half-written file under
//! the final name: results go to a temporary file in the destination folder and are renamed.

use std::fs;
use std::io::{BufRead, BufWriter, Cursor, Seek, Write};
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::codecs::tiff::TiffEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};

use crate::error::{EngineError, Result};
use crate::photo::{Photo, Samples};

/// Default limit on the pixels of one input (100 MP): a decoded 16-bit RGBA image of that size
/// already takes 800 MB.
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// Extensions the runner treats as photos when it walks folders.
pub const INPUT_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "webp", "bmp"];

/// Formats results can be written in, chosen by the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Png,
    Jpeg,
    Tiff,
    /// Lossless WebP (the `image` crate encodes lossless only).
    WebP,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        Self::from_extension(&ext).ok_or_else(|| EngineError::UnsupportedOutput {
            path: path.to_path_buf(),
            ext,
        })
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "png" => Some(Self::Png),
            "jpg" | "jpeg" => Some(Self::Jpeg),
            "tif" | "tiff" => Some(Self::Tiff),
            "webp" => Some(Self::WebP),
            _ => None,
        }
    }
}

pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| INPUT_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn decode_err(path: &Path, reason: impl std::fmt::Display) -> EngineError {
    EngineError::Decode {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn io_err(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a JPEG reaches its end-of-image marker. The decoder fills the missing part of a
/// truncated file with grey instead of failing, which would silently turn a damaged scan into a
/// damaged result. The markers are walked from the start (segment lengths, then the entropy-coded
/// data of each scan), so data appended after the image (phone "motion photos") and thumbnails
/// inside EXIF (which have their own end marker) do not mislead the check.
fn jpeg_reaches_eoi(d: &[u8]) -> bool {
    if d.len() < 4 || d[0] != 0xFF || d[1] != 0xD8 {
        return false;
    }
    let mut i = 2;
    loop {
        // Next marker: 0xFF (fill bytes allowed) then a code.
        while i < d.len() && d[i] == 0xFF {
            i += 1;
        }
        let Some(&code) = d.get(i) else { return false };
        i += 1;
        match code {
            0xD9 => return true,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = d
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return false;
        };
        i += len;
        if i > d.len() {
            return false;
        }
        if code == 0xDA {
            // Entropy-coded data: runs until a marker that is not a stuffed 0xFF00 or a restart.
            loop {
                let Some(off) = d.get(i..).and_then(|t| t.iter().position(|&b| b == 0xFF)) else {
                    return false;
                };
                i += off;
                match d.get(i + 1) {
                    None => return false,
                    Some(0x00) | Some(0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Reads a photo, applying its EXIF orientation. Refuses images above `max_pixels` before
/// decoding them.
pub fn read_photo(path: &Path, max_pixels: u64) -> Result<Photo> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    if meta.is_dir() {
        return Err(decode_err(path, "is a directory"));
    }
    if meta.len() == 0 {
        return Err(decode_err(path, "empty file (0 bytes)"));
    }
    let open = || -> Result<ImageReader<std::io::BufReader<fs::File>>> {
        let reader = ImageReader::open(path).map_err(|e| io_err(path, e))?;
        let reader = reader.with_guessed_format().map_err(|e| io_err(path, e))?;
        if reader.format().is_none() {
            return Err(decode_err(path, "unrecognised image format"));
        }
        Ok(reader)
    };
    let mut probe = open()?;
    let format = probe.format();
    probe.no_limits();
    let (w, h) = probe.into_dimensions().map_err(|e| decode_err(path, e))?;
    if w == 0 || h == 0 {
        return Err(decode_err(path, format!("image has no pixels ({w}x{h})")));
    }
    if w as u64 * h as u64 > max_pixels {
        return Err(EngineError::TooLarge {
            path: path.to_path_buf(),
            width: w,
            height: h,
            limit: max_pixels,
        });
    }
    let img = if format == Some(ImageFormat::Jpeg) {
        // The completeness check reads the whole (compressed, small) file: decode from those bytes.
        let data = fs::read(path).map_err(|e| io_err(path, e))?;
        if !jpeg_reaches_eoi(&data) {
            return Err(decode_err(path, "truncated JPEG (no end-of-image marker)"));
        }
        decode(
            ImageReader::with_format(Cursor::new(data), ImageFormat::Jpeg),
            path,
            max_pixels,
        )?
    } else {
        decode(open()?, path, max_pixels)?
    };
    Ok(photo_from_image(img))
}

fn decode<R: BufRead + Seek>(
    mut reader: ImageReader<R>,
    path: &Path,
    max_pixels: u64,
) -> Result<DynamicImage> {
    let mut limits = Limits::default();
    // Room for the largest accepted picture at 16-bit RGBA plus the decoder's own buffers.
    limits.max_alloc = Some((max_pixels.saturating_mul(8)).max(512 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| decode_err(path, e))?;
    let orientation = decoder.orientation().map_err(|e| decode_err(path, e))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| decode_err(path, e))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Converts a decoded image without changing its bit depth or channel layout where the engine
/// supports it (8/16-bit grey, grey+alpha, RGB, RGBA); float images become 16-bit.
pub fn photo_from_image(img: DynamicImage) -> Photo {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (channels, samples) = match img {
        DynamicImage::ImageLuma8(b) => (1, Samples::U8(b.into_raw())),
        DynamicImage::ImageLumaA8(b) => (2, Samples::U8(b.into_raw())),
        DynamicImage::ImageRgb8(b) => (3, Samples::U8(b.into_raw())),
        DynamicImage::ImageRgba8(b) => (4, Samples::U8(b.into_raw())),
        DynamicImage::ImageLuma16(b) => (1, Samples::U16(b.into_raw())),
        DynamicImage::ImageLumaA16(b) => (2, Samples::U16(b.into_raw())),
        DynamicImage::ImageRgb16(b) => (3, Samples::U16(b.into_raw())),
        DynamicImage::ImageRgba16(b) => (4, Samples::U16(b.into_raw())),
        other if other.color().has_alpha() => (4, Samples::U16(other.to_rgba16().into_raw())),
        other => (3, Samples::U16(other.to_rgb16().into_raw())),
    };
    Photo {
        width,
        height,
        channels,
        samples,
    }
}

fn to_8bit(v: &[u16]) -> Vec<u8> {
    v.iter()
        .map(|&x| ((x as u32 * 255 + 32767) / 65535) as u8)
        .collect()
}

fn drop_alpha<T: Copy>(v: &[T], channels: usize) -> Vec<T> {
    v.chunks_exact(channels)
        .flat_map(|p| p[..3].iter().copied())
        .collect()
}

/// Options for writing results.
#[derive(Clone, Copy, Debug)]
pub struct WriteOptions {
    /// JPEG quality, 1-100.
    pub quality: u8,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { quality: 95 }
    }
}

/// Writes an RGB or RGBA photo atomically: to a temporary file beside `path`, then renamed.
/// PNG and TIFF keep 16 bits; JPEG and WebP are 8-bit; JPEG drops alpha.
pub fn write_photo(photo: &Photo, path: &Path, options: WriteOptions) -> Result<()> {
    let format = OutputFormat::from_path(path)?;
    let enc_err = |e: &dyn std::fmt::Display| EngineError::Encode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("output");
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".part")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| enc_err(&format!("cannot create a file in {}: {e}", dir.display())))?;
    {
        let mut out = BufWriter::new(tmp.as_file_mut());
        encode(photo, format, options, &mut out).map_err(|e| enc_err(&e))?;
        out.flush().map_err(|e| enc_err(&e))?;
    }
    tmp.persist(path).map_err(|e| enc_err(&e.error))?;
    Ok(())
}

fn encode<W: Write + Seek>(
    photo: &Photo,
    format: OutputFormat,
    options: WriteOptions,
    out: &mut W,
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    use image::ExtendedColorType as C;
    let (w, h) = (photo.width as u32, photo.height as u32);
    let c = photo.channels;
    debug_assert!(c == 3 || c == 4);
    let bytes16 = |v: &[u16]| -> Vec<u8> { v.iter().flat_map(|x| x.to_ne_bytes()).collect() };
    match (format, &photo.samples) {
        (OutputFormat::Png, Samples::U8(v)) => PngEncoder::new(out)
            .write_image(v, w, h, if c == 4 { C::Rgba8 } else { C::Rgb8 })
            .map_err(|e| err(&e)),
        (OutputFormat::Png, Samples::U16(v)) => PngEncoder::new(out)
            .write_image(&bytes16(v), w, h, if c == 4 { C::Rgba16 } else { C::Rgb16 })
            .map_err(|e| err(&e)),
        (OutputFormat::Tiff, Samples::U8(v)) => TiffEncoder::new(out)
            .write_image(v, w, h, if c == 4 { C::Rgba8 } else { C::Rgb8 })
            .map_err(|e| err(&e)),
        (OutputFormat::Tiff, Samples::U16(v)) => TiffEncoder::new(out)
            .write_image(&bytes16(v), w, h, if c == 4 { C::Rgba16 } else { C::Rgb16 })
            .map_err(|e| err(&e)),
        (OutputFormat::Jpeg, samples) => {
            let v8 = match samples {
                Samples::U8(v) => v.clone(),
                Samples::U16(v) => to_8bit(v),
            };
            let rgb = if c == 4 { drop_alpha(&v8, 4) } else { v8 };
            // jpeg-encoder rather than the `image` crate's encoder: several times faster (SIMD),
            // which matters on a 2-core machine where encoding competes with the model.
            let (w16, h16) = (
                u16::try_from(w).map_err(|_| "too wide for JPEG (max 65535)".to_string())?,
                u16::try_from(h).map_err(|_| "too tall for JPEG (max 65535)".to_string())?,
            );
            jpeg_encoder::Encoder::new(out, options.quality)
                .encode(&rgb, w16, h16, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| err(&e))
        }
        (OutputFormat::WebP, samples) => {
            let v8 = match samples {
                Samples::U8(v) => v.clone(),
                Samples::U16(v) => to_8bit(v),
            };
            WebPEncoder::new_lossless(out)
                .write_image(&v8, w, h, if c == 4 { C::Rgba8 } else { C::Rgb8 })
                .map_err(|e| err(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::jpeg_reaches_eoi;

    fn tiny_jpeg() -> Vec<u8> {
        let img = image::GrayImage::from_fn(16, 16, |x, y| image::Luma([(x * 16 + y) as u8]));
        let mut v = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Jpeg)
            .expect("encode");
        v
    }

    #[test]
    fn complete_truncated_and_padded_jpegs() {
        let j = tiny_jpeg();
        assert!(jpeg_reaches_eoi(&j));
        assert!(!jpeg_reaches_eoi(&j[..j.len() - 2]), "missing end marker");
        assert!(!jpeg_reaches_eoi(&j[..j.len() / 2]), "cut in the middle");
        let mut appended = j.clone();
        appended.extend(std::iter::repeat_n(0x42, 10_000));
        assert!(
            jpeg_reaches_eoi(&appended),
            "data after the end marker is fine"
        );
    }

    #[test]
    fn thumbnail_end_marker_inside_exif_does_not_count() {
        let j = tiny_jpeg();
        // An APP1 segment holding a whole JPEG (with its own FFD9), then the main image cut short.
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE1];
        v.extend(((j.len() + 2) as u16).to_be_bytes());
        v.extend(&j);
        v.extend(&j[2..j.len() / 2]);
        assert!(!jpeg_reaches_eoi(&v));
    }
}
