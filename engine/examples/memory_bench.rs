//! One process's memory over many photos for one way of keeping ONNX Runtime's host memory
//! ([`CpuMemory`]): the peak (VmHWM) and what stays held between photos (VmRSS), and the time
//! per photo. `scripts/bench-memory.sh` runs it once per mode, interleaved over rounds, and
//! prints the comparison; a process per mode, because a process's peak never comes down.
//!
//! ```sh
//! cargo run --release -p ddcolor-engine --example memory_bench -- MODEL --mode no-arena-trim \
//!     [--sizes 512,1280 | --sizes auto] [--count 8] PHOTO...
//! ```
//!
//! Photos are taken in turn, S in turn from `--sizes` (`auto`: from each photo's resolution, as
//! the `building` workflow does). Prints a line per photo and one `RESULT` line (sizes in MB).

use std::path::PathBuf;
use std::time::Instant;

use ddcolor_engine::io::read_photo;
use ddcolor_engine::workflow::auto_size;
use ddcolor_engine::{CpuMemory, Model, ModelOptions, Upsample, model_input, recombine};

/// A field of /proc/self/status in MB (the kernel gives kB).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// CPU seconds this process has used (all threads, user and system): on a shared machine a
/// steadier measure of cost than the clock, and the system part is where page faults from
/// memory handed back and taken again show.
fn cpu_seconds() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given and keeps no pointer to it.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn usage() -> ! {
    eprintln!(
        "usage: memory_bench MODEL --mode {} [--sizes 512,1280|auto] [--count N] PHOTO...",
        CpuMemory::ALL.map(CpuMemory::name).join("|")
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut model_path = None;
    let mut mode = CpuMemory::default();
    let mut sizes: Option<Vec<usize>> = Some(vec![512, 1280]);
    let mut count = 8usize;
    let mut photos = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--mode" => {
                mode = args
                    .next()
                    .and_then(|m| CpuMemory::from_name(&m))
                    .unwrap_or_else(|| usage())
            }
            "--sizes" => {
                let v = args.next().unwrap_or_else(|| usage());
                sizes = if v == "auto" {
                    None
                } else {
                    Some(
                        v.split(',')
                            .map(|s| s.parse().unwrap_or_else(|_| usage()))
                            .collect(),
                    )
                };
            }
            "--count" => {
                count = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            _ if model_path.is_none() => model_path = Some(PathBuf::from(a)),
            _ => photos.push(PathBuf::from(a)),
        }
    }
    let Some(model_path) = model_path else {
        usage()
    };
    if photos.is_empty() {
        usage();
    }
    let photos: Vec<_> = photos
        .iter()
        .map(|p| {
            read_photo(p, u64::MAX).unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(1)
            })
        })
        .collect();
    let mut model = Model::load(
        &model_path,
        &ModelOptions {
            cpu_memory: mode,
            ..ModelOptions::default()
        },
    )
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let loaded = status_mb("VmRSS:");
    println!("mode {} loaded {loaded:.0} MB", mode.name());
    // Warm-up: every photo and every S once (ONNX Runtime plans its memory on a shape's first
    // run; each photo's own buffers are the same every time it comes back).
    let warm = sizes
        .as_ref()
        .map_or(photos.len(), |v| v.len().max(photos.len()))
        .min(count);
    let (mut held, mut warm_peak, mut seconds, mut model_seconds) = (0f64, 0f64, 0f64, 0f64);
    let mut cpu = 0f64;
    let mut ab = Vec::new();
    for i in 0..count {
        let photo = &photos[i % photos.len()];
        let s = match &sizes {
            Some(v) => v[i % v.len()],
            None => auto_size(photo.width, photo.height),
        };
        let t = Instant::now();
        let cpu_start = cpu_seconds();
        let mut input = vec![0f32; 3 * s * s];
        model.set_input_size(s).expect("a dynamic model");
        model_input(photo, s, &mut input);
        let t_model = Instant::now();
        model.run(&input, 1, &mut ab).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1)
        });
        let dt_model = t_model.elapsed().as_secs_f64();
        let color = recombine(photo, &ab, s, Upsample::Bilinear);
        drop((color, input));
        let dt = t.elapsed().as_secs_f64();
        let dt_cpu = cpu_seconds() - cpu_start;
        let (rss, hwm) = (status_mb("VmRSS:"), status_mb("VmHWM:"));
        println!(
            "photo {i} {}x{} S={s} {dt:.2} s (cpu {dt_cpu:.2} s) rss {rss:.0} MB peak {hwm:.0} MB",
            photo.width, photo.height
        );
        if i + 1 == warm {
            warm_peak = hwm;
        }
        if i + 1 >= warm {
            held = held.max(rss);
        }
        if i >= warm {
            seconds += dt;
            model_seconds += dt_model;
            cpu += dt_cpu;
        }
    }
    let timed = count.saturating_sub(warm).max(1);
    println!(
        "RESULT mode={} loaded_mb={loaded:.0} peak_warm_mb={warm_peak:.0} peak_mb={:.0} held_mb={held:.0} end_mb={:.0} s_per_photo={:.4} s_per_run={:.4} cpu_s_per_photo={:.4}",
        mode.name(),
        status_mb("VmHWM:"),
        status_mb("VmRSS:"),
        seconds / timed as f64,
        model_seconds / timed as f64,
        cpu / timed as f64
    );
}
