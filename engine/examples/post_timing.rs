// TEMPORARY: timing of the post ops on an 18 MP image. Delete after measuring.
use ddcolor_engine::LabImage;
use ddcolor_engine::post::PostOp;
use ddcolor_engine::post::chroma::*;
use ddcolor_engine::post::detail::*;
use ddcolor_engine::post::grain::*;
use ddcolor_engine::post::skin::*;
use ddcolor_engine::post::style::Style;
use std::time::Instant;

fn main() {
    let (w, h) = (4764usize, 3759usize);
    let n = w * h;
    let mut l = vec![0f32; n];
    let mut a = vec![0f32; n];
    let mut b = vec![0f32; n];
    let mut s = 12345u64;
    for y in 0..h {
        for x in 0..w {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let r = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            let i = y * w + x;
            l[i] =
                (50.0 + 30.0 * ((x as f32) * 0.003).sin() * ((y as f32) * 0.002).cos() + 4.0 * r)
                    .clamp(0.0, 100.0);
            let hue = (x as f32 * 0.001 + y as f32 * 0.0013) * 3.0;
            let c = 5.0 + 30.0 * (0.5 + 0.5 * (x as f32 * 0.0007).sin());
            a[i] = c * hue.cos() + 6.0 * r;
            b[i] = c * hue.sin() - 6.0 * r;
        }
    }
    let img = LabImage {
        width: w,
        height: h,
        l,
        a,
        b,
        alpha: None,
        bit_depth: 8,
    };
    let ops: Vec<(String, PostOp)> = vec![
        (
            "warm-up".into(),
            Tone {
                contrast: 0.2,
                fade: 0.3,
            }
            .into(),
        ),
        (
            "chroma-denoise r2 s1".into(),
            ChromaDenoise {
                strength: 1.0,
                radius: 2,
            }
            .into(),
        ),
        (
            "chroma-denoise r5 s.5".into(),
            ChromaDenoise {
                strength: 0.5,
                radius: 5,
            }
            .into(),
        ),
        (
            "chroma-denoise r6 s.6".into(),
            ChromaDenoise {
                strength: 0.6,
                radius: 6,
            }
            .into(),
        ),
        ("chroma-denoise r8".into(), ChromaDenoise::default().into()),
        (
            "local-contrast r4 a1".into(),
            LocalContrast {
                amount: 1.0,
                radius: 4,
            }
            .into(),
        ),
        (
            "local-contrast r64 a1".into(),
            LocalContrast {
                amount: 1.0,
                radius: 64,
            }
            .into(),
        ),
        (
            "chroma-denoise r32 s1".into(),
            ChromaDenoise {
                strength: 1.0,
                radius: 32,
            }
            .into(),
        ),
        (
            "saturation+vibrance".into(),
            Saturation {
                saturation: 1.1,
                vibrance: 0.3,
            }
            .into(),
        ),
        (
            "saturation only".into(),
            Saturation {
                saturation: 1.1,
                vibrance: 0.0,
            }
            .into(),
        ),
        (
            "white-balance".into(),
            WhiteBalance {
                strength: 1.0,
                temperature: 10.0,
                tint: 0.0,
            }
            .into(),
        ),
        ("skin-tone".into(), SkinTone::default().into()),
        ("local-contrast r24".into(), LocalContrast::default().into()),
        ("sharpen r1".into(), Sharpen::default().into()),
        (
            "sharpen r5".into(),
            Sharpen {
                amount: 1.0,
                radius: 5.0,
                threshold: 1.0,
            }
            .into(),
        ),
        (
            "tone".into(),
            Tone {
                contrast: 0.2,
                fade: 0.3,
            }
            .into(),
        ),
        ("grain s1.5".into(), Grain::default().into()),
        (
            "grain s4".into(),
            Grain {
                amount: 0.5,
                size: 4.0,
                seed: 1,
            }
            .into(),
        ),
    ];
    let mut work = img.clone();
    for (name, op) in &ops {
        work.clone_from(&img);
        let t = Instant::now();
        op.apply(&mut work);
        let dt = t.elapsed().as_secs_f64();
        let nan = work
            .l
            .iter()
            .chain(&work.a)
            .chain(&work.b)
            .any(|v| !v.is_finite());
        println!("{name:24} {:7.3} s  nan={nan}", dt);
    }
    for st in Style::ALL {
        work.clone_from(&img);
        let t = Instant::now();
        for op in st.ops(1.0) {
            op.apply(&mut work);
        }
        println!("style {:18} {:7.3} s", st.name(), t.elapsed().as_secs_f64());
    }
}
