//! Per-photo time split (decode, pre-processing, inference, post-processing, encode) and the
//! model-alone ceiling for a batch. Run through `make bench` (scripts/bench.sh), which also times
//! `ddcolor batch` and the Python reference recipe in the same session.
//!
//! Environment: BENCH_MODEL (default models/generated/bench.onnx), BENCH_SIZE (512),
//! BENCH_REPEAT (5), BENCH_CEILING_CALLS (35), BENCH_CEILING_ONLY (1: only the model-alone
//! ceiling, as `make bench-film` uses it).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ddcolor_engine::io::{WriteOptions, chroma_is_coarse, read_photo, write_photo};
use ddcolor_engine::{Model, ModelOptions, Upsample, model_input, recombine};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let model_path = std::env::var("BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(ROOT).join("models/generated/bench.onnx"));
    let size: usize = env_or("BENCH_SIZE", 512);
    let repeat: usize = env_or("BENCH_REPEAT", 5);
    let ceiling_calls: usize = env_or("BENCH_CEILING_CALLS", 35);
    let mut model = match Model::load(
        &model_path,
        &ModelOptions {
            input_size: Some(size),
            threads: None,
            ..ModelOptions::default()
        },
    ) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e} (run `make setup` to generate the bench model)");
            std::process::exit(2);
        }
    };
    println!(
        "model {} at S={size}, median of {repeat} runs",
        model_path.display()
    );

    // Test photos of the two sizes, made from a real scan (a grey JPEG, as archives store them).
    let dir = tempfile::tempdir().expect("tempdir");
    let source = PathBuf::from(ROOT).join("../shared/media/photos/historical/1860Girls.jpg");
    let src = image::open(&source).expect("source photo").to_luma8();
    let mut files = Vec::new();
    for (w, h) in [(1024u32, 768u32), (3000, 2000)] {
        let img = image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle);
        let p = dir.path().join(format!("{w}x{h}.jpg"));
        img.save(&p).expect("write test photo");
        files.push((w, h, p));
    }

    let ceiling_only = std::env::var("BENCH_CEILING_ONLY").is_ok_and(|v| v == "1");
    if !ceiling_only {
        println!();
        println!(
            "{:<10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>10} {:>12}",
            "photo", "decode", "pre", "inference", "post", "encode", "total", "pre+post/inf"
        );
    }
    for (w, h, path) in files.iter().filter(|_| !ceiling_only) {
        let (mut dec, mut pre, mut inf, mut post, mut enc) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut input = vec![0f32; 3 * size * size];
        let mut ab = Vec::new();
        let out = dir.path().join(format!("out_{w}x{h}.jpg"));
        for _ in 0..repeat + 1 {
            let t = Instant::now();
            let photo = read_photo(path, u64::MAX).expect("decode");
            let t1 = Instant::now();
            model_input(&photo, size, &mut input);
            let t2 = Instant::now();
            model.run(&input, 1, &mut ab).expect("inference");
            let t3 = Instant::now();
            let color = recombine(&photo, &ab, size, Upsample::Bilinear);
            let t4 = Instant::now();
            // As `ddcolor batch` writes it: 4:2:0 JPEG when the chroma is coarse enough.
            let write = WriteOptions {
                jpeg_half_chroma: chroma_is_coarse(photo.width, photo.height, size, false),
                ..WriteOptions::default()
            };
            write_photo(&color, &out, write).expect("encode");
            let t5 = Instant::now();
            dec.push(t1 - t);
            pre.push(t2 - t1);
            inf.push(t3 - t2);
            post.push(t4 - t3);
            enc.push(t5 - t4);
        }
        // The first round warms the runtime up.
        for v in [&mut dec, &mut pre, &mut inf, &mut post, &mut enc] {
            v.remove(0);
        }
        let (d, p, i, q, e) = (
            median(dec),
            median(pre),
            median(inf),
            median(post),
            median(enc),
        );
        println!(
            "{:<10} {:>7.1}ms {:>7.1}ms {:>8.1}ms {:>7.1}ms {:>7.1}ms {:>8.1}ms {:>11.1}%",
            format!("{w}x{h}"),
            ms(d),
            ms(p),
            ms(i),
            ms(q),
            ms(e),
            ms(d + p + i + q + e),
            100.0 * (p + q).as_secs_f64() / i.as_secs_f64()
        );
    }

    // The ceiling for a batch: the model alone, on ready-made inputs, as many calls as photos.
    let photo = read_photo(&files[0].2, u64::MAX).expect("decode");
    let mut input = vec![0f32; 3 * size * size];
    model_input(&photo, size, &mut input);
    let mut ab = Vec::new();
    let t = Instant::now();
    for _ in 0..ceiling_calls {
        model.run(&input, 1, &mut ab).expect("inference");
    }
    let ceiling = t.elapsed();
    println!();
    println!(
        "CEILING {ceiling_calls} model calls on ready-made inputs: {:.2} s",
        ceiling.as_secs_f64()
    );
}
