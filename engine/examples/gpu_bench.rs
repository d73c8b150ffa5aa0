//! The GPU path's figures for issue 5, on a machine with an NVIDIA GPU and the GPU build of ONNX
//! Runtime (`ORT_DYLIB_PATH`). Needs no GStreamer, so it runs on a bare GPU machine:
//!
//! ```sh
//! cargo run --release -p ddcolor-engine --example gpu_bench -- MODEL [--size 512] [--fp16] \
//!     [--frames 40] [--photo PHOTO] [--compare DIR] [--temporal off|recursive|flow]
//! ```
//!
//! Prints, for batch 1 and 8 at 1920x1080: frames/s, and per frame the time in the kernels
//! (model input, recombination) against the model and the temporal smoothing, the host copies of
//! frame pixels (none for frames already on the GPU; temporal smoothing, `recursive` or `flow`,
//! runs on the GPU too). Then the host-memory path (one upload and
//! one download per frame), and the element's path (`GpuFrames`, NV12 in and out) with frames in
//! GPU memory and in host memory, with its host copies per frame. With `--compare DIR`, every PNG in DIR is colorized on the GPU and on
//! the CPU; the largest difference in levels is printed, and the run fails if it is over 1.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cudarc::driver::{DevicePtr, DevicePtrMut};
use ddcolor_engine::cuda::frames::{GpuFrames, Memory, Planes};
use ddcolor_engine::cuda::{FrameIn, FrameOut, GpuColorizer, Layout, Timing};
use ddcolor_engine::device::{Device, GpuOptions};
use ddcolor_engine::frame::PixelFormat;
use ddcolor_engine::temporal::{TemporalMode, TemporalSettings};
use ddcolor_engine::{Model, ModelOptions, Upsample};
use ddcolor_engine::{Photo, Samples};

struct Args {
    model: PathBuf,
    size: usize,
    fp16: bool,
    frames: usize,
    photo: PathBuf,
    compare: Option<PathBuf>,
    temporal: TemporalMode,
}

fn args() -> Args {
    let mut a = std::env::args().skip(1);
    let mut out = Args {
        model: PathBuf::new(),
        size: 512,
        fp16: false,
        frames: 40,
        photo: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/media/photos/kodak/kodim23.png"
        )),
        compare: None,
        temporal: TemporalMode::default(),
    };
    while let Some(v) = a.next() {
        let mut value = || a.next().unwrap_or_else(|| panic!("{v} needs a value"));
        match v.as_str() {
            "--size" => out.size = value().parse().expect("--size N"),
            "--fp16" => out.fp16 = true,
            "--frames" => out.frames = value().parse().expect("--frames N"),
            "--photo" => out.photo = value().into(),
            "--compare" => out.compare = Some(value().into()),
            "--temporal" => out.temporal = value().parse().expect("--temporal off|recursive|flow"),
            m if out.model.as_os_str().is_empty() => out.model = m.into(),
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(
        !out.model.as_os_str().is_empty(),
        "usage: gpu_bench MODEL [options]"
    );
    out
}

fn load(a: &Args, device: Device) -> Model {
    Model::load(
        &a.model,
        &ModelOptions {
            input_size: Some(a.size),
            device,
            gpu: GpuOptions {
                fp16: a.fp16,
                engine_cache: Some(std::env::temp_dir().join("ddcolor-trt-cache")),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The photo scaled to 1920x1080, RGBA.
fn frame_1080p(path: &PathBuf) -> Photo {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let img = image::imageops::resize(
        &img.to_rgba8(),
        1920,
        1080,
        image::imageops::FilterType::Triangle,
    );
    Photo {
        width: 1920,
        height: 1080,
        channels: 4,
        samples: Samples::U8(img.into_raw()),
    }
}

fn main() {
    let a = args();
    let mut model = load(&a, Device::Cuda);
    println!(
        "model {} at S={} on {}; ONNX Runtime on the kernels' stream: {}",
        a.model.display(),
        a.size,
        model.placement(),
        model.shares_stream()
    );
    let photo = frame_1080p(&a.photo);
    let Samples::U8(bytes) = &photo.samples else {
        unreachable!()
    };
    let layout = Layout::of(PixelFormat::Rgba).expect("RGBA");
    for batch in [1usize, 8] {
        let mut gpu = match GpuColorizer::new(&model, batch, Upsample::Bilinear) {
            Ok(g) => g,
            Err(e) => {
                println!("batch {batch}: {e}");
                continue;
            }
        };
        let stream = gpu.recipe().stream().clone();
        // The frames stay on the GPU: uploaded once here, as a decoder would leave them.
        let src = stream.clone_htod(bytes).expect("upload");
        let mut dst: Vec<_> = (0..batch)
            .map(|_| stream.alloc_zeros::<u8>(bytes.len()).expect("alloc"))
            .collect();
        let (src_ptr, _g) = src.device_ptr(&stream);
        let frames: Vec<FrameIn> = (0..batch)
            .map(|_| FrameIn {
                data: src_ptr,
                pitch: 1920 * 4,
                width: 1920,
                height: 1080,
                layout,
            })
            .collect();
        let outs: Vec<FrameOut> = dst
            .iter_mut()
            .map(|d| FrameOut {
                data: d.device_ptr_mut(&stream).0,
                pitch: 1920 * 4,
                layout,
            })
            .collect();
        let (up0, down0) = (gpu.uploads, gpu.downloads);
        // Temporal smoothing as `ddcolor film` does it by default (`--temporal off` to leave out).
        gpu.set_temporal(TemporalSettings {
            mode: a.temporal,
            ..Default::default()
        });
        let calls = a.frames.div_ceil(batch).max(1);
        let mut sum = Timing::default();
        let mut wall = Duration::ZERO;
        for i in 0..calls + 3 {
            let t = Instant::now();
            // SAFETY: `src` and `dst` live until the end of this block; the call waits for the GPU.
            let timing = unsafe { gpu.colorize_frames(&mut model, &frames, &outs) }
                .unwrap_or_else(|e| panic!("batch {batch}: {e}"));
            if i >= 3 {
                // The first calls build TensorRT engines and warm up the allocator.
                wall += t.elapsed();
                sum.pre += timing.pre;
                sum.model += timing.model;
                sum.smooth += timing.smooth;
                sum.post += timing.post;
            }
        }
        let n = (calls * batch) as f64;
        let ms = |d: Duration| d.as_secs_f64() * 1e3 / n;
        println!(
            "batch {batch}: {:.1} frames/s at 1920x1080; per frame: kernels {:.2} ms (input {:.2}, recombine {:.2}), model {:.2} ms, temporal {} {:.2} ms; host copies per frame: frame pixels {} up, {} down",
            n / wall.as_secs_f64(),
            ms(sum.pre + sum.post),
            ms(sum.pre),
            ms(sum.post),
            ms(sum.model),
            a.temporal,
            ms(sum.smooth),
            (gpu.uploads - up0) as f64 / n,
            (gpu.downloads - down0) as f64 / n,
        );
    }

    let mut gpu = GpuColorizer::new(&model, 1, Upsample::Bilinear).expect("GPU colorizer");
    let t = Instant::now();
    let host_frames = a.frames.clamp(1, 20);
    for _ in 0..host_frames {
        gpu.colorize_photo(&mut model, &photo).expect("colorize");
    }
    println!(
        "host memory: {:.1} frames/s at 1920x1080 with {} upload(s) and {} download(s) per frame",
        host_frames as f64 / t.elapsed().as_secs_f64(),
        gpu.uploads / host_frames as u64,
        gpu.downloads / host_frames as u64
    );

    // The element's path (`GpuFrames`): NV12 video frames as a decoder gives them, in GPU
    // memory (zero-copy caps) and in host memory (system-memory caps).
    let (w, h) = (1920usize, 1080usize);
    let mut nv12 = vec![0u8; w * h * 3 / 2];
    {
        let (y, uv) = nv12.split_at_mut(w * h);
        let mut f = ddcolor_engine::frame::FrameMut {
            format: PixelFormat::Nv12,
            width: w,
            height: h,
            planes: [y, uv, &mut []],
            strides: [w, w, 0],
            yuv: Default::default(),
        };
        ddcolor_engine::frame::photo_to_frame(&photo, &mut f, None).expect("NV12");
    }
    for (batch, memory) in [(1, Memory::Device), (8, Memory::Device), (1, Memory::Host)] {
        let mut frames = match GpuFrames::new(&model, batch, Upsample::Bilinear) {
            Ok(f) => f,
            Err(e) => {
                println!("element path, batch {batch}: {e}");
                continue;
            }
        };
        frames.colorizer().set_temporal(TemporalSettings {
            mode: a.temporal,
            ..Default::default()
        });
        let stream = frames.colorizer().recipe().stream().clone();
        let src_dev = stream.clone_htod(&nv12).expect("upload");
        let dst_dev = stream.alloc_zeros::<u8>(nv12.len()).expect("alloc");
        let mut dst_host = vec![0u8; nv12.len()];
        let (src, dst) = match memory {
            Memory::Device => (src_dev.device_ptr(&stream).0, dst_dev.device_ptr(&stream).0),
            Memory::Host => (nv12.as_ptr() as u64, dst_host.as_mut_ptr() as u64),
        };
        let planes = |base: u64| Planes {
            format: PixelFormat::Nv12,
            width: w,
            height: h,
            yuv: Default::default(),
            memory,
            data: [base, base + (w * h) as u64, 0],
            pitch: [w, w, 0],
        };
        let calls = a.frames.div_ceil(batch).max(1);
        let sizes = ddcolor_engine::plan::Sizes::new(
            ddcolor_engine::plan::SizeRule::Fixed(model.input_size()),
            model.has_dynamic_size(),
        );
        let (mut wall, mut up0, mut down0) = (Duration::ZERO, 0, 0);
        for i in 0..calls + 3 {
            if i == 3 {
                (up0, down0) = (frames.uploads, frames.downloads);
            }
            let t = Instant::now();
            for _ in 0..batch {
                // SAFETY: the planes live until the end of this loop; `push` waits for the GPU.
                unsafe { frames.push(&planes(src), false) }.expect("push");
            }
            frames
                .run(&mut model, &sizes, PixelFormat::Nv12)
                .expect("run");
            for k in 0..batch {
                // SAFETY: as above; `write` waits for the GPU.
                unsafe { frames.write(k, &planes(dst)) }.expect("write");
            }
            if i >= 3 {
                wall += t.elapsed();
            }
        }
        let n = (calls * batch) as f64;
        println!(
            "element path, NV12 in {memory:?} memory, batch {batch}: {:.1} frames/s at 1920x1080; host copies per frame: {} up, {} down",
            n / wall.as_secs_f64(),
            (frames.uploads - up0) as f64 / n,
            (frames.downloads - down0) as f64 / n,
        );
    }

    if let Some(dir) = &a.compare {
        let mut cpu = load(&a, Device::Cpu);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("--compare DIR")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "png"))
            .collect();
        files.sort();
        let (mut worst, mut differ, mut total) = (0u8, 0u64, 0u64);
        for f in &files {
            let p = ddcolor_engine::io::read_photo(f, u64::MAX).unwrap_or_else(|e| panic!("{e}"));
            let g = gpu.colorize_photo(&mut model, &p).expect("GPU colorize");
            let c =
                ddcolor_engine::colorize(&mut cpu, &p, Upsample::Bilinear).expect("CPU colorize");
            let (Samples::U8(g), Samples::U8(c)) = (&g.samples, &c.samples) else {
                unreachable!()
            };
            for (x, y) in g.iter().zip(c) {
                let d = x.abs_diff(*y);
                worst = worst.max(d);
                differ += u64::from(d > 0);
                total += 1;
            }
        }
        println!(
            "GPU vs CPU on {} frames of {}: largest difference {worst} level(s), {:.4}% of samples differ",
            files.len(),
            dir.display(),
            100.0 * differ as f64 / total.max(1) as f64
        );
        if worst > 1 {
            eprintln!("FAIL: the GPU path is more than 1 level from the CPU path");
            std::process::exit(1);
        }
    }
}
