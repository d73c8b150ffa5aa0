//! The photo pipeline shared by `ddcolor photo` and `ddcolor batch`: decode and pre-processing on
//! worker threads, the model on one thread, post-processing and encoding on worker threads, joined
//! by bounded crossbeam channels, so the model never waits for the disk or the colour maths.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ddcolor_engine::io::{WriteOptions, read_photo, write_photo};
use ddcolor_engine::{Model, Photo, Upsample, model_input, recombine};
use indicatif::{ProgressBar, ProgressStyle};

/// One photo to colorize.
#[derive(Clone, Debug)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub max_pixels: u64,
    pub upsample: Upsample,
    pub write: WriteOptions,
    /// Decode and encode threads (each).
    pub workers: usize,
    /// Print "input -> output" for each photo written.
    pub list_outputs: bool,
}

/// What became of the photos of one run.
#[derive(Debug, Default)]
pub struct Summary {
    pub done: usize,
    pub skipped: usize,
    pub failed: Vec<String>,
    pub elapsed: Duration,
    /// Time the model spent running, to compare with the wall time.
    pub model_time: Duration,
}

struct Prepared {
    job: Job,
    photo: Photo,
    input: Vec<f32>,
}

struct Colored {
    job: Job,
    photo: Photo,
    ab: Vec<f32>,
}

enum Done {
    Ok(Job),
    Failed(String),
}

fn progress_bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} photos, {per_sec}, ETA {eta}  {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

/// Runs `jobs` through `model`. Failures are collected per photo; one bad file never stops the rest.
pub fn run(
    model: &mut Model,
    jobs: Vec<Job>,
    settings: &Settings,
    already_skipped: usize,
) -> Summary {
    let start = Instant::now();
    let size = model.input_size();
    let workers = settings.workers.max(1);
    let pb = progress_bar(jobs.len() as u64);

    let (job_tx, job_rx) = unbounded::<Job>();
    for j in jobs {
        // The receiver lives until the end of this function.
        let _ = job_tx.send(j);
    }
    drop(job_tx);
    // Small bounds: enough to keep the model fed, little memory held in flight.
    let (prep_tx, prep_rx) = bounded::<Prepared>(2);
    let (col_tx, col_rx) = bounded::<Colored>(2);
    let (done_tx, done_rx) = unbounded::<Done>();

    let mut summary = Summary {
        skipped: already_skipped,
        ..Summary::default()
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (job_rx, prep_tx, done_tx) = (job_rx.clone(), prep_tx.clone(), done_tx.clone());
            s.spawn(move || decode_worker(job_rx, prep_tx, done_tx, settings.max_pixels, size));
        }
        for _ in 0..workers {
            let (col_rx, done_tx) = (col_rx.clone(), done_tx.clone());
            s.spawn(move || encode_worker(col_rx, done_tx, settings, size));
        }
        drop((prep_tx, col_rx));
        let model_done_tx = done_tx.clone();
        drop(done_tx);

        let collector = s.spawn(|| {
            let mut done = 0;
            let mut failed = Vec::new();
            for d in done_rx {
                match d {
                    Done::Ok(job) => {
                        done += 1;
                        if settings.list_outputs {
                            pb.suspend(|| {
                                println!("{} -> {}", job.input.display(), job.output.display())
                            });
                        }
                        pb.set_message(
                            job.input
                                .file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default(),
                        );
                    }
                    Done::Failed(msg) => {
                        pb.suspend(|| eprintln!("error: {msg}"));
                        failed.push(msg);
                    }
                }
                pb.inc(1);
            }
            (done, failed)
        });

        // The model runs here, on the calling thread.
        let mut ab = Vec::new();
        let mut model_time = Duration::ZERO;
        let batch = model.max_batch().unwrap_or(1);
        for p in prep_rx {
            let t = Instant::now();
            let result = if batch == 1 {
                model.run(&p.input, 1, &mut ab)
            } else {
                // A fixed-batch export: fill the batch with copies, keep the first result.
                let padded: Vec<f32> = p
                    .input
                    .iter()
                    .copied()
                    .cycle()
                    .take(p.input.len() * batch)
                    .collect();
                model
                    .run(&padded, batch, &mut ab)
                    .map(|_| ab.truncate(2 * size * size))
            };
            model_time += t.elapsed();
            match result {
                Ok(()) => {
                    let colored = Colored {
                        job: p.job,
                        photo: p.photo,
                        ab: std::mem::take(&mut ab),
                    };
                    if col_tx.send(colored).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ =
                        model_done_tx.send(Done::Failed(format!("{}: {e}", p.job.input.display())));
                }
            }
        }
        drop(col_tx);
        drop(model_done_tx);
        summary.model_time = model_time;
        let (done, failed) = collector.join().unwrap_or_default();
        summary.done = done;
        summary.failed = failed;
    });
    pb.finish_and_clear();
    summary.elapsed = start.elapsed();
    summary
}

fn decode_worker(
    jobs: Receiver<Job>,
    out: Sender<Prepared>,
    done: Sender<Done>,
    max_pixels: u64,
    size: usize,
) {
    for job in jobs {
        match read_photo(&job.input, max_pixels) {
            Ok(photo) => {
                let mut input = vec![0f32; 3 * size * size];
                model_input(&photo, size, &mut input);
                if out.send(Prepared { job, photo, input }).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = done.send(Done::Failed(e.to_string()));
            }
        }
    }
}

fn encode_worker(items: Receiver<Colored>, done: Sender<Done>, settings: &Settings, size: usize) {
    for item in items {
        let result = (|| -> Result<(), String> {
            let color = recombine(&item.photo, &item.ab, size, settings.upsample);
            if let Some(dir) = item.job.output.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("{}: cannot create folder: {e}", dir.display()))?;
            }
            write_photo(&color, &item.job.output, settings.write).map_err(|e| e.to_string())
        })();
        let _ = done.send(match result {
            Ok(()) => Done::Ok(item.job),
            Err(msg) => Done::Failed(msg),
        });
    }
}
