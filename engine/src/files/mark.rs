//! `--mark`: a small visible "COLORIZED" in the bottom-right corner, for results shown where
//! metadata is lost (screenshots, prints, social media re-encodes). Light text on a darkened,
//! semi-transparent box reads on any background. The font is a built-in 5x7 bitmap of the few
//! letters needed, scaled by whole pixels so the mark stays crisp and identical run to run.

use crate::picture::photo::{Photo, Samples};

/// The text of the mark.
pub const TEXT: &str = "COLORIZED";

/// Photos whose shorter side is below this are left alone: the mark would cover them.
pub const MIN_SIDE: usize = 64;

const GLYPH_W: usize = 5;
const GLYPH_H: usize = 7;

/// Rows of a 5x7 glyph, most significant of the 5 bits leftmost.
fn glyph(c: char) -> [u8; GLYPH_H] {
    match c {
        'C' => [
            0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110,
        ],
        'O' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'L' => [
            0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111,
        ],
        'R' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
        ],
        'I' => [
            0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        'Z' => [
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111,
        ],
        'E' => [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
        ],
        'D' => [
            0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100,
        ],
        _ => [0; GLYPH_H],
    }
}

/// Where the mark goes in a `width` x `height` picture: the box (x, y, w, h) and the text scale;
/// `None` for pictures too small to carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub x: usize,
    pub y: usize,
    pub w: usize,
    pub h: usize,
    /// Pixels per font pixel.
    pub scale: usize,
    /// Box edge to text, in pixels.
    pub pad: usize,
}

/// The mark's box for a picture: text about 2% of the shorter side tall (at least the font's 7
/// pixels), inside a box one padding away from the bottom-right corner.
pub fn placement(width: usize, height: usize) -> Option<Placement> {
    let short = width.min(height);
    if short < MIN_SIDE {
        return None;
    }
    let text_h = (short * 2).div_ceil(100).max(GLYPH_H);
    let scale = (text_h / GLYPH_H).max(1);
    let pad = 2 * scale;
    let n = TEXT.chars().count();
    let text_w = (n * (GLYPH_W + 1) - 1) * scale;
    let (w, h) = (text_w + 2 * pad, GLYPH_H * scale + 2 * pad);
    if w + pad > width || h + pad > height {
        return None;
    }
    Some(Placement {
        x: width - w - pad,
        y: height - h - pad,
        w,
        h,
        scale,
        pad,
    })
}

/// Whether box pixel (`bx`, `by`) (relative to the box) is part of a letter.
fn is_text(p: &Placement, bx: usize, by: usize) -> bool {
    let (tx, ty) = (bx.wrapping_sub(p.pad), by.wrapping_sub(p.pad));
    let (gx, gy) = (tx / p.scale, ty / p.scale);
    if gy >= GLYPH_H {
        return false;
    }
    let (i, col) = (gx / (GLYPH_W + 1), gx % (GLYPH_W + 1));
    match TEXT.chars().nth(i) {
        Some(c) if col < GLYPH_W => glyph(c)[gy] >> (GLYPH_W - 1 - col) & 1 == 1,
        _ => false,
    }
}

/// Sample types the mark is drawn in.
trait MarkSample: Copy {
    const MAX: u32;
    fn to_u32(self) -> u32;
    fn from_u32(v: u32) -> Self;
}

impl MarkSample for u8 {
    const MAX: u32 = 255;
    fn to_u32(self) -> u32 {
        self as u32
    }
    fn from_u32(v: u32) -> Self {
        v as u8
    }
}

impl MarkSample for u16 {
    const MAX: u32 = 65535;
    fn to_u32(self) -> u32 {
        self as u32
    }
    fn from_u32(v: u32) -> Self {
        v as u16
    }
}

/// Darkening of the box: the picture shows through at 35%.
const BOX_KEEP_PERCENT: u32 = 35;
/// Brightness of the letters, in percent of full scale.
const TEXT_PERCENT: u32 = 92;

/// Draws the mark into interleaved rows of `channels` samples (the last one alpha when
/// `has_alpha`), `stride` samples apart.
fn draw<T: MarkSample>(
    data: &mut [T],
    width: usize,
    height: usize,
    stride: usize,
    channels: usize,
    has_alpha: bool,
) {
    let Some(p) = placement(width, height) else {
        return;
    };
    if channels == 0
        || stride < width * channels
        || data.len() < (height - 1) * stride + width * channels
    {
        return;
    }
    let colour = if has_alpha { channels - 1 } else { channels };
    let text = T::from_u32((T::MAX * TEXT_PERCENT + 50) / 100);
    for by in 0..p.h {
        let row = (p.y + by) * stride;
        for bx in 0..p.w {
            let px = &mut data[row + (p.x + bx) * channels..][..channels];
            if is_text(&p, bx, by) {
                px[..colour].fill(text);
            } else {
                for s in &mut px[..colour] {
                    *s = T::from_u32((s.to_u32() * BOX_KEEP_PERCENT + 50) / 100);
                }
            }
            if has_alpha {
                px[channels - 1] = T::from_u32(T::MAX);
            }
        }
    }
}

/// Draws the mark on a photo (any bit depth and channel layout); photos under [`MIN_SIDE`] are
/// left as they are.
pub fn draw_mark(photo: &mut Photo) {
    let (w, h, c, alpha) = (photo.width, photo.height, photo.channels, photo.has_alpha());
    match &mut photo.samples {
        Samples::U8(v) => draw(v, w, h, w * c, c, alpha),
        Samples::U16(v) => draw(v, w, h, w * c, c, alpha),
    }
}

/// Draws the mark on 8-bit interleaved pixels rows `stride` bytes apart (a video frame).
pub fn draw_mark_u8(
    data: &mut [u8],
    width: usize,
    height: usize,
    stride: usize,
    channels: usize,
    has_alpha: bool,
) {
    draw(data, width, height, stride, channels, has_alpha);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: usize, h: usize, c: usize, sixteen: bool) -> Photo {
        let n = w * h * c;
        let samples = if sixteen {
            Samples::U16((0..n).map(|i| (i * 7919 % 65536) as u16).collect())
        } else {
            Samples::U8((0..n).map(|i| (i * 31 % 256) as u8).collect())
        };
        Photo {
            width: w,
            height: h,
            channels: c,
            samples,
        }
    }

    fn sample(p: &Photo, i: usize) -> u32 {
        match &p.samples {
            Samples::U8(v) => v[i] as u32,
            Samples::U16(v) => v[i] as u32,
        }
    }

    #[test]
    fn changes_only_the_corner_box() {
        for (w, h) in [(640, 480), (300, 1200), (64, 64), (4000, 3000)] {
            for c in [3, 4] {
                for sixteen in [false, true] {
                    let before = photo(w, h, c, sixteen);
                    let mut after = before.clone();
                    draw_mark(&mut after);
                    let p = placement(w, h).expect("big enough");
                    let (mut changed, mut text) = (0, 0);
                    for y in 0..h {
                        for x in 0..w {
                            let inside =
                                (p.x..p.x + p.w).contains(&x) && (p.y..p.y + p.h).contains(&y);
                            let i = (y * w + x) * c;
                            let same =
                                (0..c).all(|k| sample(&before, i + k) == sample(&after, i + k));
                            if !inside {
                                assert!(same, "{w}x{h}x{c}: ({x},{y}) outside the box changed");
                            } else if !same {
                                changed += 1;
                            }
                            if inside && is_text(&p, x - p.x, y - p.y) {
                                text += 1;
                            }
                        }
                    }
                    assert!(changed > p.w * p.h * 9 / 10, "{w}x{h}: box mostly changed");
                    assert!(text > 0);
                    if c == 4 {
                        let max = if sixteen { 65535 } else { 255 };
                        let i = ((p.y + 1) * w + p.x + 1) * c + 3;
                        assert_eq!(sample(&after, i), max, "box pixels are opaque");
                    }
                }
            }
        }
    }

    #[test]
    fn scales_with_the_photo() {
        let small = placement(640, 480).expect("fits");
        assert_eq!(small.scale, 1);
        assert_eq!(small.h, 7 + 4);
        let big = placement(4000, 3000).expect("fits");
        assert!(
            big.scale * GLYPH_H >= 56 && big.scale * GLYPH_H <= 63,
            "{big:?}"
        );
        assert_eq!(big.x + big.w + big.pad, 4000);
        assert_eq!(big.y + big.h + big.pad, 3000);
    }

    #[test]
    fn small_photos_are_left_alone() {
        for (w, h) in [(63, 500), (500, 40), (1, 1)] {
            let before = photo(w, h, 3, false);
            let mut after = before.clone();
            draw_mark(&mut after);
            assert_eq!(before, after);
        }
    }

    #[test]
    fn deterministic() {
        let mut a = photo(800, 600, 3, false);
        let mut b = a.clone();
        draw_mark(&mut a);
        draw_mark(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn strided_frames_match_photos() {
        let (w, h) = (101, 70);
        let mut p = photo(w, h, 3, false);
        let Samples::U8(packed) = &p.samples else {
            unreachable!()
        };
        let stride = 304; // rows padded to 4 bytes, as GStreamer lays out RGB
        let mut frame = vec![0u8; stride * h];
        for y in 0..h {
            frame[y * stride..y * stride + w * 3].copy_from_slice(&packed[y * w * 3..][..w * 3]);
        }
        draw_mark(&mut p);
        draw_mark_u8(&mut frame, w, h, stride, 3, false);
        let Samples::U8(marked) = &p.samples else {
            unreachable!()
        };
        for y in 0..h {
            assert_eq!(
                &frame[y * stride..y * stride + w * 3],
                &marked[y * w * 3..][..w * 3]
            );
        }
    }
}
