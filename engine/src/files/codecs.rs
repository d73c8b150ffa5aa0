//! Reading photos from disk and writing results without ever leaving a half-written file under
//! the final name: results go to a temporary file in the destination folder and are renamed.

use std::fs;
use std::io::{BufRead, Cursor, Seek, Write};
use std::path::Path;
use std::sync::Arc;

use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits};

use crate::error::{EngineError, Result};
use crate::files::mark::draw_mark;
use crate::files::provenance::Provenance;
use crate::picture::photo::{Photo, Samples};

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

/// What a path is when it is neither a regular file nor a folder ("a named pipe (FIFO)", "a
/// character device", ...), from its type alone. Reading a named pipe blocks until someone
/// writes to it, and a device such as `/dev/zero` never ends, so neither may be opened as a
/// photo or a film.
pub fn special_file_kind(t: fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() || t.is_dir() {
        None
    } else if t.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Why a path cannot be a photo, from its metadata alone.
fn not_a_photo_file(meta: &fs::Metadata) -> Option<String> {
    if meta.is_dir() {
        return Some("is a directory".into());
    }
    special_file_kind(meta.file_type()).map(|kind| format!("is {kind}, not a photo file"))
}

/// Reads a photo, applying its EXIF orientation. Refuses images above `max_pixels` before
/// decoding them, and anything that is not a regular file before opening it.
pub fn read_photo(path: &Path, max_pixels: u64) -> Result<Photo> {
    let meta = fs::metadata(path).map_err(|e| io_err(path, e))?;
    if let Some(why) = not_a_photo_file(&meta) {
        return Err(decode_err(path, why));
    }
    decode_source(Source::File(path), meta.len(), path, max_pixels)
}

/// [`read_photo`] on a file already in memory: the same checks and decoders, with `path` only
/// naming the photo in errors. What the fuzz tests drive, so that every decoder is reached
/// without a file per input.
pub fn decode_photo(bytes: &[u8], path: &Path, max_pixels: u64) -> Result<Photo> {
    decode_source(Source::Bytes(bytes), bytes.len() as u64, path, max_pixels)
}

/// Where a photo's bytes come from: a file is opened (and read through a buffer) once to
/// probe its size and once to decode it, so a large uncompressed TIFF is never held twice.
#[derive(Clone, Copy)]
enum Source<'a> {
    File(&'a Path),
    Bytes(&'a [u8]),
}

trait BufReadSeek: BufRead + Seek {}
impl<T: BufRead + Seek> BufReadSeek for T {}

impl<'a> Source<'a> {
    fn open(self) -> std::io::Result<Box<dyn BufReadSeek + 'a>> {
        Ok(match self {
            Self::File(p) => Box::new(std::io::BufReader::new(fs::File::open(p)?)),
            Self::Bytes(b) => Box::new(Cursor::new(b)),
        })
    }

    fn bytes(self) -> std::io::Result<std::borrow::Cow<'a, [u8]>> {
        Ok(match self {
            Self::File(p) => fs::read(p)?.into(),
            Self::Bytes(b) => b.into(),
        })
    }
}

fn decode_source(source: Source, len: u64, path: &Path, max_pixels: u64) -> Result<Photo> {
    if len == 0 {
        return Err(decode_err(path, "empty file (0 bytes)"));
    }
    let open = || -> Result<ImageReader<Box<dyn BufReadSeek + '_>>> {
        let reader = ImageReader::new(source.open().map_err(|e| io_err(path, e))?);
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
        let data = source.bytes().map_err(|e| io_err(path, e))?;
        if !jpeg_reaches_eoi(&data) {
            return Err(decode_err(path, "truncated JPEG (no end-of-image marker)"));
        }
        decode(
            ImageReader::with_format(Cursor::new(&data[..]), ImageFormat::Jpeg),
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
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// JPEG quality, 1-100.
    pub quality: u8,
    /// How the result was made, embedded in the file (XMP and the format's text fields); `None`
    /// writes no metadata at all (`--no-metadata`). Shared by all the results of a run.
    pub provenance: Option<Arc<Provenance>>,
    /// Draw a small visible "COLORIZED" in the bottom-right corner (`--mark`).
    pub mark: bool,
    /// JPEG chroma at half resolution (4:2:0, what `cv2.imwrite` writes for the official code)
    /// instead of full (4:4:4): for results whose chroma has no finer detail than 2 pixels
    /// (see [`chroma_is_coarse`]). About a third less encoding time and smaller files.
    pub jpeg_half_chroma: bool,
}

/// Whether a result's chroma is at most half as detailed as the photo in both directions: the
/// model's S x S chroma scaled up (bilinear or nearest, not edge-aware) to a photo at least 2S
/// on its shorter side, with no post-processing. Then 4:2:0 JPEG keeps what the model gave (the
/// encoder's chroma still mixes in some full-resolution lightness, a small loss at quality 95),
/// as `cv2.imwrite` does for the official code.
pub fn chroma_is_coarse(width: usize, height: usize, size: usize, edge_aware: bool) -> bool {
    size > 0 && !edge_aware && width.min(height) >= 2 * size
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            quality: 95,
            provenance: None,
            mark: false,
            jpeg_half_chroma: false,
        }
    }
}

impl WriteOptions {
    /// These options for the result of `input`: the provenance names the input's file name.
    /// Cheap (a few short strings) next to encoding a photo.
    pub fn for_input(&self, input: &Path) -> Self {
        Self {
            provenance: self
                .provenance
                .as_ref()
                .map(|p| Arc::new(p.with_source(input))),
            ..self.clone()
        }
    }
}

/// Largest XMP packet a JPEG APP1 segment holds: 65535 minus the length field (2 bytes) and the
/// `http://ns.adobe.com/xap/1.0/\0` namespace (29 bytes), as the XMP specification counts it.
pub const JPEG_XMP_MAX: usize = 65502;

/// Signature that opens an XMP APP1 segment in a JPEG.
const JPEG_XMP_SIGNATURE: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// Writes an RGB or RGBA photo atomically: to a temporary file beside `path`, then renamed.
/// PNG and TIFF keep 16 bits; JPEG and WebP are 8-bit; JPEG drops alpha. With
/// `options.provenance` the file records how it was made (see [`crate::files::provenance`]); with
/// `options.mark` a copy of the photo gets the visible mark before encoding.
pub fn write_photo(photo: &Photo, path: &Path, options: WriteOptions) -> Result<()> {
    let bytes = encode_photo(photo, path, options)?;
    write_encoded(&bytes, path)
}

/// The file [`write_photo`] would write to `path` (whose extension picks the format), in
/// memory: so that the encoding can run on a low-priority thread and the writing elsewhere.
pub fn encode_photo(photo: &Photo, path: &Path, options: WriteOptions) -> Result<Vec<u8>> {
    let format = OutputFormat::from_path(path)?;
    let enc_err = |e: &dyn std::fmt::Display| EngineError::Encode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let xmp = options.provenance.as_deref().map(Provenance::xmp_packet);
    if format == OutputFormat::Jpeg
        && let Some(x) = &xmp
        && x.len() > JPEG_XMP_MAX
    {
        return Err(EngineError::MetadataTooLarge {
            path: path.to_path_buf(),
            bytes: x.len(),
            limit: JPEG_XMP_MAX,
        });
    }
    let marked;
    let photo = if options.mark {
        let mut copy = photo.clone();
        draw_mark(&mut copy);
        marked = copy;
        &marked
    } else {
        photo
    };
    let meta = options
        .provenance
        .as_deref()
        .zip(xmp.as_deref())
        .map(|(p, xmp)| Meta {
            xmp,
            software: &p.tool,
            description: p.summary(),
        });
    let mut out = Cursor::new(Vec::new());
    let jpeg = (options.quality, options.jpeg_half_chroma);
    encode(photo, format, jpeg, meta.as_ref(), &mut out).map_err(|e| enc_err(&e))?;
    Ok(out.into_inner())
}

/// Writes `bytes` to `path` atomically: to a temporary file beside it, then renamed, so that
/// an interrupted run never leaves a partial file under the final name.
pub fn write_encoded(bytes: &[u8], path: &Path) -> Result<()> {
    let enc_err = |e: &dyn std::fmt::Display| EngineError::Encode {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    crate::files::atomic::write_atomically(bytes, path).map_err(|e| enc_err(&e))
}

/// The provenance as the encoders embed it.
struct Meta<'a> {
    /// The XMP packet.
    xmp: &'a str,
    /// Tool and version, for the formats' `Software` fields.
    software: &'a str,
    /// [`Provenance::summary`], for their description fields.
    description: String,
}

fn encode<W: Write + Seek>(
    photo: &Photo,
    format: OutputFormat,
    (quality, half_chroma): (u8, bool),
    meta: Option<&Meta>,
    out: &mut W,
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    use image::ExtendedColorType as C;
    let (w, h) = (photo.width as u32, photo.height as u32);
    let c = photo.channels;
    debug_assert!(c == 3 || c == 4);
    match (format, &photo.samples) {
        (OutputFormat::Png, samples) => encode_png(samples, w, h, c == 4, meta, out),
        (OutputFormat::Tiff, samples) => encode_tiff(samples, w, h, c == 4, meta, out),
        (OutputFormat::Jpeg, samples) => {
            let v8 = match samples {
                Samples::U8(v) => std::borrow::Cow::Borrowed(v.as_slice()),
                Samples::U16(v) => std::borrow::Cow::Owned(to_8bit(v)),
            };
            let rgb = if c == 4 {
                std::borrow::Cow::Owned(drop_alpha(&v8, 4))
            } else {
                v8
            };
            // jpeg-encoder rather than the `image` crate's encoder: several times faster (SIMD),
            // which matters on a 2-core machine where encoding competes with the model.
            let (w16, h16) = (
                u16::try_from(w).map_err(|_| "too wide for JPEG (max 65535)".to_string())?,
                u16::try_from(h).map_err(|_| "too tall for JPEG (max 65535)".to_string())?,
            );
            let mut encoder = jpeg_encoder::Encoder::new(out, quality);
            // jpeg-encoder's own choice is 4:4:4 from quality 90 up, 4:2:0 below.
            if half_chroma {
                encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
            }
            if let Some(m) = meta {
                // XMP in JPEG: an APP1 segment opened by the XMP namespace (XMP spec, part 3).
                let mut app1 = JPEG_XMP_SIGNATURE.to_vec();
                app1.extend_from_slice(m.xmp.as_bytes());
                encoder.add_app_segment(1, app1).map_err(|e| err(&e))?;
            }
            encoder
                .encode(&rgb, w16, h16, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| err(&e))
        }
        (OutputFormat::WebP, samples) => {
            let v8 = match samples {
                Samples::U8(v) => v.clone(),
                Samples::U16(v) => to_8bit(v),
            };
            let mut simple = Vec::new();
            WebPEncoder::new_lossless(&mut simple)
                .write_image(&v8, w, h, if c == 4 { C::Rgba8 } else { C::Rgb8 })
                .map_err(|e| err(&e))?;
            let bytes = match meta {
                Some(m) => webp_with_xmp(&simple, m.xmp.as_bytes(), w, h, c == 4)?,
                None => simple,
            };
            out.write_all(&bytes).map_err(|e| err(&e))
        }
    }
}

/// PNG through the `png` crate (the `image` crate's encoder writes no text chunks), with the
/// settings `image` uses (fast compression, adaptive filter). The XMP goes in an iTXt chunk
/// keyed `XML:com.adobe.xmp`, where the XMP specification puts it; `Software` and `Description`
/// are the standard PNG keywords plain viewers show.
fn encode_png<W: Write>(
    samples: &Samples,
    w: u32,
    h: u32,
    alpha: bool,
    meta: Option<&Meta>,
    out: &mut W,
) -> std::result::Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut encoder = png::Encoder::new(out, w, h);
    encoder.set_color(if alpha {
        png::ColorType::Rgba
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(match samples {
        Samples::U8(_) => png::BitDepth::Eight,
        Samples::U16(_) => png::BitDepth::Sixteen,
    });
    encoder.set_compression(png::Compression::Fast);
    encoder.set_filter(png::Filter::Adaptive);
    if let Some(m) = meta {
        encoder
            .add_itxt_chunk("XML:com.adobe.xmp".into(), m.xmp.into())
            .map_err(|e| err(&e))?;
        encoder
            .add_itxt_chunk("Software".into(), m.software.into())
            .map_err(|e| err(&e))?;
        encoder
            .add_itxt_chunk("Description".into(), m.description.clone())
            .map_err(|e| err(&e))?;
    }
    let mut writer = encoder.write_header().map_err(|e| err(&e))?;
    match samples {
        Samples::U8(v) => writer.write_image_data(v),
        // PNG stores 16-bit samples big-endian.
        Samples::U16(v) => {
            let be: Vec<u8> = v.iter().flat_map(|x| x.to_be_bytes()).collect();
            writer.write_image_data(&be)
        }
    }
    .map_err(|e| err(&e))?;
    writer.finish().map_err(|e| err(&e))
}

/// TIFF through the `tiff` crate (uncompressed, as the `image` crate writes it), with the XMP in
/// tag 700 (XMLPacket, BYTE, as the XMP specification asks) and the ASCII tags Software (305)
/// and ImageDescription (270).
fn encode_tiff<W: Write + Seek>(
    samples: &Samples,
    w: u32,
    h: u32,
    alpha: bool,
    meta: Option<&Meta>,
    out: &mut W,
) -> std::result::Result<(), String> {
    use tiff::encoder::colortype::{RGB8, RGB16, RGBA8, RGBA16};
    let mut encoder = tiff::encoder::TiffEncoder::new(out).map_err(|e| e.to_string())?;
    match (samples, alpha) {
        (Samples::U8(v), false) => write_tiff::<RGB8, _>(&mut encoder, w, h, v, meta),
        (Samples::U8(v), true) => write_tiff::<RGBA8, _>(&mut encoder, w, h, v, meta),
        (Samples::U16(v), false) => write_tiff::<RGB16, _>(&mut encoder, w, h, v, meta),
        (Samples::U16(v), true) => write_tiff::<RGBA16, _>(&mut encoder, w, h, v, meta),
    }
    .map_err(|e| e.to_string())
}

fn write_tiff<C, W>(
    encoder: &mut tiff::encoder::TiffEncoder<W>,
    w: u32,
    h: u32,
    data: &[C::Inner],
    meta: Option<&Meta>,
) -> tiff::TiffResult<()>
where
    C: tiff::encoder::colortype::ColorType,
    [C::Inner]: tiff::encoder::TiffValue,
    W: Write + Seek,
{
    use tiff::tags::Tag;
    let mut image = encoder.new_image::<C>(w, h)?;
    if let Some(m) = meta {
        let dir = image.encoder();
        dir.write_tag(Tag::Unknown(TIFF_XMP_TAG), m.xmp.as_bytes())?;
        dir.write_tag(Tag::Software, ascii_lossy(m.software).as_str())?;
        dir.write_tag(Tag::ImageDescription, ascii_lossy(&m.description).as_str())?;
    }
    image.write_data(data)
}

/// TIFF tag XMLPacket, where XMP lives in TIFF files.
const TIFF_XMP_TAG: u16 = 700;

/// TIFF ASCII fields take 7-bit text without NULs: anything else becomes `?` (the XMP packet
/// carries the exact UTF-8 text).
fn ascii_lossy(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii() && c != '\0' { c } else { '?' })
        .collect()
}

/// Rewrites a WebP file in the simple format (RIFF `WEBP` holding one `VP8L` or `VP8 ` chunk, as
/// the `image` crate writes it) into the extended format, which alone can carry metadata: a
/// `VP8X` chunk (canvas size, XMP flag, alpha flag), the image chunks, then an `XMP ` chunk.
fn webp_with_xmp(
    simple: &[u8],
    xmp: &[u8],
    width: u32,
    height: u32,
    alpha: bool,
) -> std::result::Result<Vec<u8>, String> {
    const XMP_FLAG: u8 = 0x04;
    const ALPHA_FLAG: u8 = 0x10;
    let bad = |why: &str| format!("unexpected WebP from the encoder: {why}");
    if simple.len() < 12 || &simple[..4] != b"RIFF" || &simple[8..12] != b"WEBP" {
        return Err(bad("not a RIFF WEBP file"));
    }
    let riff_end = (u32::from_le_bytes([simple[4], simple[5], simple[6], simple[7]]) as usize)
        .saturating_add(8)
        .min(simple.len());
    let mut vp8x: Option<[u8; 10]> = None;
    let mut chunks = Vec::new();
    let mut i = 12;
    while i + 8 <= riff_end {
        let fourcc = &simple[i..i + 4];
        let size = u32::from_le_bytes([simple[i + 4], simple[i + 5], simple[i + 6], simple[i + 7]])
            as usize;
        let end = i + 8 + size;
        if end > riff_end {
            return Err(bad("chunk runs past the end"));
        }
        match fourcc {
            b"VP8X" if size == 10 => {
                let mut v = [0u8; 10];
                v.copy_from_slice(&simple[i + 8..end]);
                vp8x = Some(v);
            }
            // Replaced by ours.
            b"XMP " => {}
            _ => chunks.push(&simple[i..end]),
        }
        i = end + (size & 1);
    }
    if chunks.is_empty() {
        return Err(bad("no image chunk"));
    }
    let vp8x = match vp8x {
        Some(mut v) => {
            v[0] |= XMP_FLAG;
            v
        }
        None => {
            let (w1, h1) = (width.saturating_sub(1), height.saturating_sub(1));
            if w1 >= 1 << 24 || h1 >= 1 << 24 {
                return Err("too large for WebP".into());
            }
            let mut v = [0u8; 10];
            v[0] = XMP_FLAG | if alpha { ALPHA_FLAG } else { 0 };
            v[4..7].copy_from_slice(&w1.to_le_bytes()[..3]);
            v[7..10].copy_from_slice(&h1.to_le_bytes()[..3]);
            v
        }
    };
    let mut body = b"WEBP".to_vec();
    let mut chunk = |fourcc: &[u8], data: &[u8]| {
        body.extend_from_slice(fourcc);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    };
    chunk(b"VP8X", &vp8x);
    for c in &chunks {
        chunk(&c[..4], &c[8..]);
    }
    chunk(b"XMP ", xmp);
    let size = u32::try_from(body.len()).map_err(|_| "too large for WebP".to_string())?;
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&size.to_le_bytes());
    file.extend_from_slice(&body);
    Ok(file)
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

    mod not_files {
        use super::super::*;
        use std::time::{Duration, Instant};

        fn refused(path: &Path) -> String {
            let start = Instant::now();
            let err = read_photo(path, DEFAULT_MAX_PIXELS).expect_err("not a photo");
            assert!(start.elapsed() < Duration::from_secs(5), "answered at once");
            err.to_string()
        }

        #[test]
        fn named_pipes_are_refused_without_opening_them() {
            let dir = tempfile::tempdir().expect("temp dir");
            let fifo = dir.path().join("x.jpg");
            let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
            // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
            // Opening a FIFO for reading with no writer blocks: the test would hang, not pass.
            let msg = refused(&fifo);
            assert!(msg.contains("named pipe (FIFO)"), "{msg}");
            assert!(msg.contains("x.jpg"), "{msg}");
            assert!(!msg.contains("empty file"), "{msg}");
        }

        #[test]
        fn devices_are_named_for_what_they_are() {
            for dev in ["/dev/zero", "/dev/null"] {
                let msg = refused(Path::new(dev));
                assert!(msg.contains("is a character device"), "{msg}");
                assert!(msg.contains(dev), "{msg}");
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let sock = dir.path().join("s.png");
            let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("socket");
            let msg = refused(&sock);
            assert!(msg.contains("is a socket"), "{msg}");
        }

        #[test]
        fn bytes_and_files_decode_alike() {
            let dir = tempfile::tempdir().expect("temp dir");
            let img =
                image::RgbImage::from_fn(9, 5, |x, y| image::Rgb([x as u8 * 20, y as u8 * 40, 7]));
            for ext in ["png", "jpg", "bmp", "tif", "webp"] {
                let path = dir.path().join(format!("a.{ext}"));
                img.save(&path).expect("save");
                let bytes = fs::read(&path).expect("read");
                let from_file = read_photo(&path, DEFAULT_MAX_PIXELS).expect("file");
                let from_bytes = decode_photo(&bytes, &path, DEFAULT_MAX_PIXELS).expect("bytes");
                assert_eq!(from_file, from_bytes, "{ext}");
                let cut = decode_photo(&bytes[..bytes.len() / 2], &path, DEFAULT_MAX_PIXELS);
                assert!(cut.is_err(), "{ext}: half a file is an error");
            }
            let empty =
                decode_photo(&[], Path::new("e.png"), DEFAULT_MAX_PIXELS).expect_err("empty");
            assert!(
                empty.to_string().contains("empty file (0 bytes)"),
                "{empty}"
            );
        }
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

    mod jpeg_chroma {
        use super::super::*;

        /// The luma component's sampling factors in the frame header (SOF0).
        fn luma_sampling(d: &[u8]) -> u8 {
            let sof = d
                .windows(2)
                .position(|w| w == [0xFF, 0xC0])
                .expect("baseline frame header");
            // FFC0, length (2), precision, height (2), width (2), count, then id, factors.
            d[sof + 11]
        }

        #[test]
        fn half_chroma_only_when_asked() {
            let photo = Photo {
                width: 40,
                height: 24,
                channels: 3,
                samples: Samples::U8((0..40 * 24 * 3).map(|i| (i * 7 % 256) as u8).collect()),
            };
            let path = Path::new("result.jpg");
            let full = encode_photo(&photo, path, WriteOptions::default()).expect("encode");
            assert_eq!(luma_sampling(&full), 0x11, "4:4:4 by default");
            let half = WriteOptions {
                jpeg_half_chroma: true,
                ..WriteOptions::default()
            };
            let half = encode_photo(&photo, path, half).expect("encode");
            assert_eq!(luma_sampling(&half), 0x22, "4:2:0 when asked");
        }

        #[test]
        fn coarse_chroma_needs_twice_the_model_size_and_plain_upsampling() {
            assert!(chroma_is_coarse(1024, 1024, 512, false));
            assert!(!chroma_is_coarse(1023, 4000, 512, false));
            assert!(!chroma_is_coarse(4000, 4000, 512, true));
            assert!(!chroma_is_coarse(4000, 4000, 0, false));
        }
    }

    mod metadata {
        use super::super::*;

        fn photo(channels: usize, sixteen: bool) -> Photo {
            let (w, h) = (37, 21);
            let n = w * h * channels;
            Photo {
                width: w,
                height: h,
                channels,
                samples: if sixteen {
                    Samples::U16((0..n).map(|i| (i * 2654 % 65536) as u16).collect())
                } else {
                    Samples::U8((0..n).map(|i| (i * 37 % 256) as u8).collect())
                },
            }
        }

        fn options() -> WriteOptions {
            WriteOptions {
                provenance: Some(Arc::new(Provenance {
                    tool: "ddcolor 0.1.0".into(),
                    model_name: "m".into(),
                    model_sha256: "0".repeat(64),
                    workflow: None,
                    settings: vec![("input_size".into(), "256".into())],
                    // An odd length somewhere makes the WebP chunk padding matter.
                    source: Some("a.png".into()),
                })),
                ..WriteOptions::default()
            }
        }

        /// The RIFF chunks of a WebP file, checking the sizes add up.
        fn riff_chunks(d: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
            assert_eq!(&d[..4], b"RIFF");
            assert_eq!(&d[8..12], b"WEBP");
            let size = u32::from_le_bytes([d[4], d[5], d[6], d[7]]) as usize;
            assert_eq!(size + 8, d.len(), "RIFF size");
            let (mut out, mut i) = (Vec::new(), 12);
            while i < d.len() {
                let n = u32::from_le_bytes([d[i + 4], d[i + 5], d[i + 6], d[i + 7]]) as usize;
                let mut id = [0u8; 4];
                id.copy_from_slice(&d[i..i + 4]);
                out.push((id, d[i + 8..i + 8 + n].to_vec()));
                i += 8 + n + (n & 1);
            }
            assert_eq!(i, d.len(), "chunks fill the file");
            out
        }

        #[test]
        fn pixels_are_the_same_with_and_without_metadata() {
            let dir = tempfile::tempdir().expect("temp dir");
            for (ext, channels, sixteen) in [
                ("png", 3, false),
                ("png", 4, true),
                ("tif", 3, true),
                ("tif", 4, false),
                ("webp", 4, false),
                ("webp", 3, true),
                ("jpg", 3, false),
            ] {
                let p = photo(channels, sixteen);
                let (a, b) = (
                    dir.path().join(format!("a.{ext}")),
                    dir.path().join(format!("b.{ext}")),
                );
                write_photo(&p, &a, options()).expect("write with metadata");
                write_photo(&p, &b, WriteOptions::default()).expect("write without");
                let (ia, ib) = (
                    image::open(&a).expect("decode"),
                    image::open(&b).expect("decode"),
                );
                assert_eq!(ia.color(), ib.color(), "{ext}");
                assert!(ia.as_bytes() == ib.as_bytes(), "{ext} {channels} {sixteen}");
                if ext != "jpg" && !(ext == "webp" && sixteen) {
                    assert_eq!(photo_from_image(ia), p, "{ext}: lossless round trip");
                }
                let bytes = std::fs::read(&a).expect("read");
                let needle = b"ddcolor:ModelSHA256";
                assert!(
                    bytes.windows(needle.len()).any(|w| w == needle),
                    "{ext}: XMP embedded"
                );
                let plain = std::fs::read(&b).expect("read");
                assert!(
                    !plain.windows(7).any(|w| w == b"ddcolor"),
                    "{ext}: no metadata"
                );
            }
        }

        #[test]
        fn webp_becomes_extended_with_an_xmp_chunk() {
            let dir = tempfile::tempdir().expect("temp dir");
            for channels in [3, 4] {
                let path = dir.path().join("x.webp");
                write_photo(&photo(channels, false), &path, options()).expect("write");
                let chunks = riff_chunks(&std::fs::read(&path).expect("read"));
                let ids: Vec<&[u8]> = chunks.iter().map(|(id, _)| &id[..]).collect();
                assert_eq!(ids, [&b"VP8X"[..], b"VP8L", b"XMP "]);
                let vp8x = &chunks[0].1;
                let alpha = if channels == 4 { 0x10 } else { 0 };
                assert_eq!(vp8x[0], 0x04 | alpha, "flags");
                assert_eq!(&vp8x[4..10], &[36, 0, 0, 20, 0, 0], "canvas 37x21");
                assert!(chunks[2].1.starts_with(b"<?xpacket begin="));
            }
        }

        #[test]
        fn png_text_chunks_only_with_provenance() {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("x.png");
            write_photo(&photo(3, false), &path, options()).expect("write");
            let decoder = png::Decoder::new(std::io::BufReader::new(
                std::fs::File::open(&path).expect("open"),
            ));
            let reader = decoder.read_info().expect("png");
            let keys: Vec<&str> = reader
                .info()
                .utf8_text
                .iter()
                .map(|t| t.keyword.as_str())
                .collect();
            assert_eq!(keys, ["XML:com.adobe.xmp", "Software", "Description"]);
            write_photo(&photo(3, false), &path, WriteOptions::default()).expect("write");
            let decoder = png::Decoder::new(std::io::BufReader::new(
                std::fs::File::open(&path).expect("open"),
            ));
            let reader = decoder.read_info().expect("png");
            assert!(reader.info().utf8_text.is_empty());
            assert!(reader.info().uncompressed_latin1_text.is_empty());
        }

        #[test]
        fn jpeg_refuses_oversized_xmp() {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut o = options();
            if let Some(p) = &mut o.provenance {
                Arc::make_mut(p)
                    .settings
                    .push(("long".into(), "x".repeat(70_000)));
            }
            let path = dir.path().join("x.jpg");
            let err = write_photo(&photo(3, false), &path, o).expect_err("too large");
            assert!(matches!(err, EngineError::MetadataTooLarge { .. }), "{err}");
            assert!(!path.exists());
        }
    }
}
