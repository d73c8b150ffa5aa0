//! Raw frame conversions, as the film element calls them with buffers and caps it does not
//! control: any format, width, height, stride and plane length (absurd ones included), any
//! photo handed back, and the keep-luma path with any input plane. Each must give a
//! `FrameError` or a consistent result, never a panic or an out-of-bounds access.

use std::time::Duration;

use ddcolor_engine::frame::{
    Frame, FrameMut, LumaPlane, PixelFormat, Yuv, YuvMatrix, frame_to_photo, photo_to_frame,
};
use ddcolor_engine::{Photo, Samples};

use crate::driver::Target;
use crate::rng::Choices;

pub const TARGET: Target = Target {
    name: "frame_convert",
    seeds,
    run,
    dictionary: &[],
    max_len: 256,
    short_runs: 20000,
    time_limit: Duration::from_secs(2),
    memory_limit: 64 << 20,
};

/// No plane larger than this is ever allocated, whatever the sizes claim.
const MAX_PLANE: usize = 256 << 10;

const FORMATS: &[PixelFormat] = &[
    PixelFormat::Gray8,
    PixelFormat::Gray16Le,
    PixelFormat::I420,
    PixelFormat::Nv12,
    PixelFormat::Y444,
    PixelFormat::Rgb,
    PixelFormat::Bgr,
    PixelFormat::Rgba,
    PixelFormat::Bgra,
    PixelFormat::Rgbx,
    PixelFormat::Bgrx,
];

/// `(row bytes, rows)` of each plane the format uses, as the caps would describe it (wrapping
/// is fine: only used to pick lengths that pass the checks sometimes).
fn shapes(format: PixelFormat, w: usize, h: usize) -> [(usize, usize); 3] {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let packed = |b: usize| [(w.wrapping_mul(b), h), (0, 0), (0, 0)];
    match format {
        PixelFormat::Gray8 => packed(1),
        PixelFormat::Gray16Le => packed(2),
        PixelFormat::Rgb | PixelFormat::Bgr => packed(3),
        PixelFormat::I420 => [(w, h), (cw, ch), (cw, ch)],
        PixelFormat::Nv12 => [(w, h), (cw.wrapping_mul(2), ch), (0, 0)],
        PixelFormat::Y444 => [(w, h); 3],
        _ => packed(4),
    }
}

struct Layout {
    format: PixelFormat,
    w: usize,
    h: usize,
    strides: [usize; 3],
    lens: [usize; 3],
    yuv: Yuv,
}

fn layout(c: &mut Choices) -> Layout {
    let format = *c.pick(FORMATS);
    let (w, h) = (c.size(), c.size());
    let sh = shapes(format, w, h);
    let mut strides = [0; 3];
    let mut lens = [0; 3];
    for p in 0..3 {
        let (row, rows) = sh[p];
        strides[p] = match c.byte() % 4 {
            0 => c.size(),
            1 => row.wrapping_add(c.byte() as usize % 16),
            _ => row,
        };
        let needed = strides[p]
            .checked_mul(rows.saturating_sub(1))
            .and_then(|n| n.checked_add(row));
        lens[p] = match (c.byte() % 4, needed) {
            (0, _) => c.below(MAX_PLANE),
            (1, Some(n)) => n.saturating_sub(1 + c.byte() as usize % 4).min(MAX_PLANE),
            (_, Some(n)) => n.min(MAX_PLANE),
            (_, None) => c.below(MAX_PLANE),
        };
    }
    let yuv = Yuv {
        matrix: *c.pick(&[YuvMatrix::Bt601, YuvMatrix::Bt709, YuvMatrix::Bt2020]),
        full_range: c.byte() & 1 == 1,
    };
    Layout {
        format,
        w,
        h,
        strides,
        lens,
        yuv,
    }
}

fn photo(c: &mut Choices, like: (usize, usize)) -> Photo {
    let (width, height) = if c.byte().is_multiple_of(4) {
        (c.size(), c.size())
    } else {
        like
    };
    let channels = *c.pick(&[1, 2, 3, 4, 3, 4, 0, 5]);
    let consistent = width
        .checked_mul(height)
        .and_then(|n| n.checked_mul(channels));
    let len = match consistent {
        Some(n) if n <= MAX_PLANE && !c.byte().is_multiple_of(4) => n,
        _ => c.below(4096),
    };
    let samples = if c.byte() & 1 == 0 {
        Samples::U8((0..len).map(|i| (i * 31) as u8).collect())
    } else {
        Samples::U16((0..len).map(|i| (i * 2731) as u16).collect())
    };
    Photo {
        width,
        height,
        channels,
        samples,
    }
}

fn run(data: &[u8]) -> String {
    let mut c = Choices::new(data);
    let input = layout(&mut c);
    let planes: Vec<Vec<u8>> = input
        .lens
        .iter()
        .map(|&n| (0..n).map(|i| (i * 7 + 3) as u8).collect())
        .collect();
    let frame = Frame {
        format: input.format,
        width: input.w,
        height: input.h,
        planes: [&planes[0], &planes[1], &planes[2]],
        strides: input.strides,
        yuv: input.yuv,
    };
    let mut got = photo(&mut c, (3, 2));
    let before = got.clone();
    let read = frame_to_photo(&frame, &mut got);
    match &read {
        Ok(()) => {
            let n = match &got.samples {
                Samples::U8(v) => v.len(),
                Samples::U16(v) => v.len(),
            };
            assert_eq!(
                n,
                got.width * got.height * got.channels,
                "photo holds what it claims"
            );
            assert_eq!(
                (got.width, got.height),
                (input.w, input.h),
                "photo has the frame's size"
            );
        }
        Err(_) => assert!(
            got == before,
            "a failed conversion leaves the photo as it was"
        ),
    }
    let output = layout(&mut c);
    let mut out_planes: Vec<Vec<u8>> = output.lens.iter().map(|&n| vec![0xA5; n]).collect();
    let src = photo(&mut c, (output.w, output.h));
    let keep_frame = c.byte().is_multiple_of(3);
    let luma = frame.luma().or_else(|| {
        keep_frame.then(|| LumaPlane {
            format: PixelFormat::I420,
            data: &planes[0],
            stride: input.strides[0],
            width: input.w,
            height: input.h,
            yuv: input.yuv,
        })
    });
    let [a, b, d] = &mut out_planes[..] else {
        unreachable!("three planes")
    };
    let mut out = FrameMut {
        format: output.format,
        width: output.w,
        height: output.h,
        planes: [a, b, d],
        strides: output.strides,
        yuv: output.yuv,
    };
    let keep = luma.filter(|_| keep_frame);
    let wrote = photo_to_frame(&src, &mut out, keep.as_ref());
    // The kinds of error only: the messages carry every size, so each input would be new.
    let kind = |r: Result<(), ddcolor_engine::frame::FrameError>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{e:?}")
            .split([' ', '{', '('])
            .next()
            .unwrap_or("")
            .to_string(),
    };
    let (read, wrote) = (kind(read), kind(wrote));
    if read == "ok" && wrote == "ok" {
        "ok".into()
    } else {
        format!(
            "{read} / {wrote} ({:?} -> {:?})",
            input.format, output.format
        )
    }
}

fn seeds() -> Vec<Vec<u8>> {
    // Each format with a plausible size, exact strides and lengths, so that the conversions run.
    (0..FORMATS.len() as u8)
        .map(|f| {
            let mut v = vec![f, 2, 13, 2, 9];
            v.extend([2, 2, 2, 2, 2, 2]);
            v.extend([1, 0, f, 2, 13, 2, 9, 2, 2, 2, 2, 2, 2, 1, 0, 1, 1, 0, 0, 1]);
            v
        })
        .collect()
}
