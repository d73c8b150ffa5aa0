//! Photo files through the engine's real reader ([`decode_photo`], the core of `read_photo`):
//! every input format, the JPEG completeness check and EXIF orientation. Seeds are one real
//! historical scan plus small generated files of each format and layout, some carrying an EXIF
//! orientation, so that mutations start from inputs every decoder accepts.

use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use ddcolor_engine::Samples;
use ddcolor_engine::io::decode_photo;
use image::{DynamicImage, ImageFormat};

use crate::driver::{Target, label, root};

/// Small enough that a run stays fast, large enough for every decoder's paths (the decoders
/// get the engine's own allocation limit for it).
const MAX_PIXELS: u64 = 1 << 20;

pub const TARGET: Target = Target {
    name: "photo",
    seeds,
    run,
    dictionary: &[
        b"\x89PNG\r\n\x1a\n",
        b"IHDR",
        b"IDAT",
        b"IEND",
        b"eXIf",
        b"iCCP",
        b"acTL",
        b"\xFF\xD8",
        b"\xFF\xD9",
        b"\xFF\xDA",
        b"\xFF\xC0",
        b"\xFF\xC2",
        b"\xFF\xC4",
        b"\xFF\xDB",
        b"\xFF\xDD\x00\x04\x00\x01",
        b"\xFF\xE1",
        b"Exif\0\0",
        b"MM\0*\0\0\0\x08",
        b"II*\0\x08\0\0\0",
        b"\x01\x12\x00\x03\x00\x00\x00\x01",
        b"RIFF",
        b"WEBP",
        b"VP8 ",
        b"VP8L",
        b"VP8X",
        b"ALPH",
        b"EXIF",
        b"BM",
        b"BITFIELDS",
    ],
    max_len: 64 << 10,
    short_runs: 20000,
    time_limit: Duration::from_secs(2),
    memory_limit: 700 << 20,
};

fn run(data: &[u8]) -> String {
    label(
        decode_photo(data, Path::new("fuzz-input"), MAX_PIXELS)
            .map(|p| {
                let per_sample = match &p.samples {
                    Samples::U8(v) => v.len(),
                    Samples::U16(v) => v.len(),
                };
                // A decoded photo must hold exactly the samples it claims: the recipe indexes by them.
                assert_eq!(
                    per_sample,
                    p.width * p.height * p.channels,
                    "photo {}x{}x{} holds {per_sample} samples",
                    p.width,
                    p.height,
                    p.channels
                );
                assert!(
                    p.width as u64 * p.height as u64 <= MAX_PIXELS,
                    "pixel limit"
                );
            })
            .map_err(|e| e.to_string()),
    )
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut Cursor::new(&mut v), format)
        .unwrap_or_else(|e| panic!("seed {format:?}: {e}"));
    v
}

/// A big-endian TIFF structure holding one Orientation (274) entry: the EXIF payload of JPEG
/// APP1 (after `Exif\0\0`), PNG `eXIf` and WebP `EXIF`.
fn exif_orientation(value: u16) -> Vec<u8> {
    let mut t = b"MM\0*\0\0\0\x08".to_vec();
    t.extend(1u16.to_be_bytes());
    t.extend([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01]);
    t.extend(value.to_be_bytes());
    t.extend([0, 0]);
    t.extend(0u32.to_be_bytes());
    t
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `png` with an `eXIf` chunk inserted after IHDR.
fn png_with_exif(png: &[u8], exif: &[u8]) -> Vec<u8> {
    let ihdr_end = 8 + 8 + 13 + 4;
    let mut chunk = (exif.len() as u32).to_be_bytes().to_vec();
    let mut body = b"eXIf".to_vec();
    body.extend(exif);
    chunk.extend(&body);
    chunk.extend(crc32(&body).to_be_bytes());
    let mut v = png[..ihdr_end].to_vec();
    v.extend(chunk);
    v.extend(&png[ihdr_end..]);
    v
}

/// `jpeg` with an EXIF APP1 segment right after its start marker.
fn jpeg_with_exif(jpeg: &[u8], exif: &[u8]) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif);
    let mut v = vec![0xFF, 0xD8, 0xFF, 0xE1];
    v.extend(((payload.len() + 2) as u16).to_be_bytes());
    v.extend(payload);
    v.extend(&jpeg[2..]);
    v
}

pub fn seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        std::fs::read(root().join("tests/media/photos/historical/abe.jpg"))
            .expect("tests/media/photos/historical/abe.jpg"),
    ];
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_fn(13, 9, |x, y| {
        image::Luma([(x * 19 + y * 7) as u8])
    }));
    let rgb = DynamicImage::ImageRgb8(image::RgbImage::from_fn(11, 7, |x, y| {
        image::Rgb([(x * 23) as u8, (y * 31) as u8, 90])
    }));
    let rgba16 = DynamicImage::ImageRgba16(image::ImageBuffer::from_fn(6, 5, |x, y| {
        image::Rgba([x as u16 * 9000, y as u16 * 11000, 300, 40000])
    }));
    let grey_alpha = DynamicImage::ImageLumaA8(image::GrayAlphaImage::from_fn(7, 4, |x, y| {
        image::LumaA([(x * 30) as u8, (y * 60) as u8])
    }));
    let grey16 = DynamicImage::ImageLuma16(image::ImageBuffer::from_fn(5, 6, |x, y| {
        image::Luma([(x * 10000 + y * 300) as u16])
    }));
    for img in [&grey, &rgb, &rgba16, &grey_alpha, &grey16] {
        seeds.push(encode(img, ImageFormat::Png));
    }
    for img in [&grey, &rgb, &rgba16, &grey16] {
        seeds.push(encode(img, ImageFormat::Tiff));
    }
    for img in [&grey, &rgb] {
        seeds.push(encode(img, ImageFormat::Jpeg));
        seeds.push(encode(img, ImageFormat::Bmp));
    }
    for img in [&rgb, &grey_alpha.to_rgba8().into()] {
        seeds.push(encode(img, ImageFormat::WebP));
    }
    seeds.push(encode(&rgba16.to_rgba8().into(), ImageFormat::Bmp));
    for orientation in [3, 6, 8] {
        let exif = exif_orientation(orientation);
        seeds.push(jpeg_with_exif(&encode(&rgb, ImageFormat::Jpeg), &exif));
        seeds.push(png_with_exif(&encode(&grey, ImageFormat::Png), &exif));
    }
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds are what the decoders accept, and the EXIF ones are turned: otherwise the
    /// mutations would start far from the code they are meant to reach.
    #[test]
    fn seeds_decode_and_exif_turns_them() {
        for (i, s) in seeds().iter().enumerate() {
            decode_photo(s, Path::new("seed"), MAX_PIXELS)
                .unwrap_or_else(|e| panic!("seed {i}: {e}"));
        }
        let rgb = DynamicImage::ImageRgb8(image::RgbImage::new(11, 7));
        let turned = jpeg_with_exif(&encode(&rgb, ImageFormat::Jpeg), &exif_orientation(6));
        let p = decode_photo(&turned, Path::new("seed"), MAX_PIXELS).expect("decode");
        assert_eq!(
            (p.width, p.height),
            (7, 11),
            "JPEG EXIF orientation 6 applied"
        );
        let grey = DynamicImage::ImageLuma8(image::GrayImage::new(13, 9));
        let turned = png_with_exif(&encode(&grey, ImageFormat::Png), &exif_orientation(8));
        let p = decode_photo(&turned, Path::new("seed"), MAX_PIXELS).expect("decode");
        assert_eq!(
            (p.width, p.height),
            (9, 13),
            "PNG eXIf orientation 8 applied"
        );
    }
}
