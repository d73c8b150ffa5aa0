//! Negotiation is the element's contract with its neighbours and is tested on its own, without a
//! model or a running pipeline: what it reads and writes, and in which memory, lives here.

use ddcolor_engine::frame::{PixelFormat, Yuv, YuvMatrix};

use crate::gstcuda;

/// Formats the element reads. Grey formats are what scanned film decodes to; the others let it
/// sit straight after a decoder or `videoconvert` without another conversion.
pub(super) const SINK_FORMATS: &[gst_video::VideoFormat] = &[
    gst_video::VideoFormat::Gray8,
    gst_video::VideoFormat::Gray16Le,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
];

/// Formats the element writes: colour only. The order is the preference for grey input.
pub(super) const SRC_FORMATS: &[gst_video::VideoFormat] = &[
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Bgr,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
];

pub(crate) fn pixel_format(f: gst_video::VideoFormat) -> Option<PixelFormat> {
    use gst_video::VideoFormat as V;
    Some(match f {
        V::Gray8 => PixelFormat::Gray8,
        V::Gray16Le => PixelFormat::Gray16Le,
        V::I420 => PixelFormat::I420,
        V::Nv12 => PixelFormat::Nv12,
        V::Y444 => PixelFormat::Y444,
        V::Rgb => PixelFormat::Rgb,
        V::Bgr => PixelFormat::Bgr,
        V::Rgba => PixelFormat::Rgba,
        V::Bgra => PixelFormat::Bgra,
        V::Rgbx => PixelFormat::Rgbx,
        V::Bgrx => PixelFormat::Bgrx,
        _ => return None,
    })
}

pub(super) fn yuv_of(info: &gst_video::VideoInfo) -> Yuv {
    use gst_video::VideoColorMatrix as M;
    let matrix = match info.colorimetry().matrix() {
        M::Bt601 | M::Fcc => YuvMatrix::Bt601,
        M::Bt2020 => YuvMatrix::Bt2020,
        _ => YuvMatrix::Bt709,
    };
    Yuv {
        matrix,
        full_range: info.colorimetry().range() == gst_video::VideoColorRange::Range0_255,
    }
}

/// The caps the other side can have for `caps` on one side (`direction`: the side of `caps`).
/// Sizes and rates carry over; formats become the other side's, the same format first so no
/// conversion is forced; Y'CbCr out keeps the input's matrix and range (what `keep-luma` needs,
/// and no silent change of colorimetry), RGB out has none. With `cuda` (the GPU path can run),
/// frames may be in CUDA memory on either side, in the formats the kernels handle, the same
/// memory as `caps` first; without it CUDA memory is not taken.
pub(crate) fn transformed_caps(
    direction: gst::PadDirection,
    caps: &gst::Caps,
    cuda: bool,
) -> gst::Caps {
    use gst_video::VideoFormat as V;
    let system = gst::CapsFeatures::new([gst::CAPS_FEATURE_MEMORY_SYSTEM_MEMORY]);
    let device = gst::CapsFeatures::new([gstcuda::CUDA_MEMORY]);
    let mut out = gst::Caps::new_empty();
    {
        let out = out.get_mut().expect("new caps are writable");
        for (s, features) in caps.iter_with_features() {
            let in_cuda = features.contains(gstcuda::CUDA_MEMORY);
            if in_cuda && !cuda {
                continue;
            }
            // (formats, keep colorimetry) in order of preference.
            let mut variants: Vec<(Vec<V>, bool)> = Vec::new();
            if direction == gst::PadDirection::Src {
                variants.push((SINK_FORMATS.to_vec(), false));
            } else {
                let same = s
                    .get::<&str>("format")
                    .ok()
                    .map(V::from_string)
                    .filter(|f| SRC_FORMATS.contains(f));
                let ordered: Vec<V> = same
                    .into_iter()
                    .chain(SRC_FORMATS.iter().copied().filter(|f| Some(*f) != same))
                    .collect();
                if same.is_some_and(|f| pixel_format(f).is_some_and(|p| p.is_yuv())) {
                    let is_yuv = |f: &V| pixel_format(*f).is_some_and(|p| p.is_yuv());
                    variants.push((ordered.iter().copied().filter(is_yuv).collect(), true));
                    variants.push((
                        ordered.iter().copied().filter(|f| !is_yuv(f)).collect(),
                        false,
                    ));
                } else {
                    variants.push((ordered, false));
                }
            }
            let kinds: Vec<(&gst::CapsFeaturesRef, bool)> = match (in_cuda, cuda) {
                (true, _) => vec![(&device, true), (&system, false)],
                (false, true) => vec![(features, false), (&device, true)],
                (false, false) => vec![(features, false)],
            };
            for (kind, on_gpu) in kinds {
                for (formats, colorimetry) in &variants {
                    let formats: Vec<V> = formats
                        .iter()
                        .copied()
                        .filter(|f| !on_gpu || gstcuda::CUDA_FORMATS.contains(f))
                        .collect();
                    if formats.is_empty() {
                        continue;
                    }
                    let mut s = s.to_owned();
                    s.set("format", gst::List::new(formats.iter().map(|f| f.to_str())));
                    if !colorimetry {
                        s.remove_fields(["colorimetry", "chroma-site"]);
                    }
                    out.append_structure_full(s, Some(kind.to_owned()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use gst_video::VideoFormat as V;

    fn structures(caps: &gst::Caps) -> Vec<(bool, Vec<String>)> {
        caps.iter_with_features()
            .map(|(s, f)| {
                let formats = s
                    .get::<gst::List>("format")
                    .expect("format list")
                    .iter()
                    .map(|v| v.get::<String>().expect("string"))
                    .collect();
                (f.contains(gstcuda::CUDA_MEMORY), formats)
            })
            .collect()
    }

    fn caps(format: V, cuda: bool) -> gst::Caps {
        let b = gst_video::VideoCapsBuilder::new()
            .format(format)
            .width(64)
            .height(48);
        if cuda {
            b.features([gstcuda::CUDA_MEMORY]).build()
        } else {
            b.build()
        }
    }

    /// CUDA memory is offered on either side only when the GPU path can run, in the formats
    /// the kernels handle, and the memory the other side already uses comes first.
    #[test]
    fn cuda_memory_is_offered_only_with_the_gpu_path_and_same_memory_first() {
        gst::init().expect("GStreamer");
        let sink = gst::PadDirection::Sink;
        let src = gst::PadDirection::Src;
        // Without the GPU path: CUDA memory is not taken, nor offered.
        assert!(transformed_caps(sink, &caps(V::Nv12, true), false).is_empty());
        let out = structures(&transformed_caps(sink, &caps(V::Nv12, false), false));
        assert!(out.iter().all(|(cuda, _)| !cuda), "{out:?}");
        assert_eq!(out[0].1[0], "NV12", "the same format first");
        // With it: CUDA in gives CUDA out first, then system memory; only kernel formats in
        // CUDA memory.
        let out = structures(&transformed_caps(sink, &caps(V::Nv12, true), true));
        assert!(out[0].0, "{out:?}");
        assert_eq!(out[0].1[0], "NV12");
        let kernel: Vec<&str> = gstcuda::CUDA_FORMATS
            .iter()
            .map(|f| f.to_str().as_str())
            .collect();
        for (cuda, formats) in &out {
            if *cuda {
                assert!(
                    formats.iter().all(|f| kernel.contains(&f.as_str())),
                    "{formats:?}"
                );
            }
        }
        assert!(
            out.iter()
                .any(|(cuda, f)| !cuda && f.contains(&"RGB".to_string()))
        );
        // System memory in: system memory out first, CUDA memory after it.
        let out = structures(&transformed_caps(sink, &caps(V::Rgba, false), true));
        assert!(!out[0].0 && out.iter().any(|(cuda, _)| *cuda), "{out:?}");
        // Upstream from CUDA RGBA out: CUDA memory in the kernels' formats first (no GRAY8, no
        // 16-bit), then any input format in system memory.
        let out = structures(&transformed_caps(src, &caps(V::Rgba, true), true));
        assert!(out[0].0, "{out:?}");
        assert!(!out[0].1.contains(&"GRAY16_LE".to_string()));
        assert!(
            out.iter()
                .any(|(cuda, f)| !cuda && f.contains(&"GRAY16_LE".to_string()))
        );
        // Sizes carry over.
        let s = transformed_caps(sink, &caps(V::I420, true), true);
        assert_eq!(
            s.structure(0).and_then(|s| s.get::<i32>("width").ok()),
            Some(64)
        );
    }
}
