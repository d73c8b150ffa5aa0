//! The photo pipeline shared by `ddcolor photo` and `ddcolor batch`: decode and pre-processing on
//! worker threads, the model on one thread, post-processing and encoding on worker threads, joined
//! by bounded crossbeam channels, so the model never waits for the disk or the colour maths.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use ddcolor_engine::device::{is_out_of_memory, smaller_size};
use ddcolor_engine::io::{OutputFormat, WriteOptions, read_photo, write_photo};
use ddcolor_engine::workflow::{Workflow, auto_size};
use ddcolor_engine::{LabImage, Model, Photo, Upsample, model_input, recombine};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Post-processing after the model (and whether there is a model at all).
    pub workflow: Option<Arc<Workflow>>,
    /// Pick S per photo from its resolution (a workflow's `size: "auto"`, dynamic models only).
    pub auto_size: bool,
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
    /// Empty when the workflow has no model step.
    input: Vec<f32>,
    size: usize,
}

struct Colored {
    job: Job,
    photo: Photo,
    /// Empty when the workflow has no model step.
    ab: Vec<f32>,
    size: usize,
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

/// Runs `jobs` through `model` (`None`: a workflow of post-processing only). Failures are
/// collected per photo; one bad file never stops the rest.
pub fn run(
    mut model: Option<&mut Model>,
    jobs: Vec<Job>,
    settings: &Settings,
    already_skipped: usize,
) -> Summary {
    let start = Instant::now();
    let size = model.as_ref().map_or(0, |m| m.input_size());
    let workers = settings.workers.max(1);
    let pb = progress_bar(jobs.len() as u64);

    // Largest S after running out of memory (see `device::STEP_DOWN_SIZES`); readers make their
    // inputs no larger.
    let size_cap = AtomicUsize::new(usize::MAX);
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
            let size_cap = &size_cap;
            s.spawn(move || decode_worker(job_rx, prep_tx, done_tx, settings, size, size_cap));
        }
        for _ in 0..workers {
            let (col_rx, done_tx) = (col_rx.clone(), done_tx.clone());
            s.spawn(move || encode_worker(col_rx, done_tx, settings));
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
        let size_cap = &size_cap;
        let mut ab = Vec::new();
        let mut model_time = Duration::ZERO;
        let batch = model.as_ref().and_then(|m| m.max_batch()).unwrap_or(1);
        for mut p in prep_rx {
            let t = Instant::now();
            let result = match model.as_deref_mut() {
                Some(model) if !p.input.is_empty() => loop {
                    // An earlier photo ran out of memory: this one is made no larger.
                    let cap = size_cap.load(Ordering::Relaxed);
                    if p.size > cap {
                        p.size = cap;
                        p.input.resize(3 * cap * cap, 0.0);
                        model_input(&p.photo, cap, &mut p.input);
                    }
                    let run = model
                        .set_input_size(p.size)
                        .and_then(|()| run_model(model, &p.input, batch, p.size, &mut ab));
                    match run {
                        // Out of (GPU) memory at this S: step down and say so once.
                        Err(e) if is_out_of_memory(&e) && model.has_dynamic_size() => {
                            match smaller_size(p.size) {
                                Some(smaller) => {
                                    pb.suspend(|| {
                                        eprintln!(
                                            "note: out of memory at input size {}: continuing at {smaller}",
                                            p.size
                                        )
                                    });
                                    size_cap.store(smaller, Ordering::Relaxed);
                                }
                                None => break Err(e),
                            }
                        }
                        other => break other,
                    }
                },
                // A workflow without a model step.
                _ => {
                    ab.clear();
                    Ok(())
                }
            };
            model_time += t.elapsed();
            match result {
                Ok(()) => {
                    let colored = Colored {
                        job: p.job,
                        photo: p.photo,
                        ab: std::mem::take(&mut ab),
                        size: p.size,
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

/// One photo through the model; a fixed-batch export gets the batch filled with copies and
/// the first result kept.
fn run_model(
    model: &mut Model,
    input: &[f32],
    batch: usize,
    size: usize,
    ab: &mut Vec<f32>,
) -> ddcolor_engine::Result<()> {
    if batch == 1 {
        model.run(input, 1, ab)
    } else {
        let padded: Vec<f32> = input
            .iter()
            .copied()
            .cycle()
            .take(input.len() * batch)
            .collect();
        model
            .run(&padded, batch, ab)
            .map(|_| ab.truncate(2 * size * size))
    }
}

fn decode_worker(
    jobs: Receiver<Job>,
    out: Sender<Prepared>,
    done: Sender<Done>,
    settings: &Settings,
    model_size: usize,
    size_cap: &AtomicUsize,
) {
    let colorize = settings
        .workflow
        .as_ref()
        .is_none_or(|w| w.colorize.is_some());
    for job in jobs {
        match read_photo(&job.input, settings.max_pixels) {
            Ok(photo) => {
                let (input, size) = if colorize {
                    let size = if settings.auto_size {
                        auto_size(photo.width, photo.height)
                    } else {
                        model_size
                    }
                    .min(size_cap.load(Ordering::Relaxed));
                    let mut input = vec![0f32; 3 * size * size];
                    model_input(&photo, size, &mut input);
                    (input, size)
                } else {
                    (Vec::new(), 0)
                };
                let prepared = Prepared {
                    job,
                    photo,
                    input,
                    size,
                };
                if out.send(prepared).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = done.send(Done::Failed(e.to_string()));
            }
        }
    }
}

/// The colour photo: the recipe's recombination, or the workflow's steps after it.
fn finish(item: &Colored, settings: &Settings) -> Photo {
    let Some(workflow) = &settings.workflow else {
        return recombine(&item.photo, &item.ab, item.size, settings.upsample);
    };
    let mut lab = if item.ab.is_empty() {
        LabImage::from_photo(&item.photo)
    } else {
        LabImage::from_recipe(&item.photo, &item.ab, item.size, settings.upsample)
    };
    workflow.apply(&mut lab, 0);
    lab.to_photo()
}

fn encode_worker(items: Receiver<Colored>, done: Sender<Done>, settings: &Settings) {
    for item in items {
        let result = (|| -> Result<(), String> {
            let color = finish(&item, settings);
            if let Some(dir) = item.job.output.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("{}: cannot create folder: {e}", dir.display()))?;
            }
            // The provenance names this photo's input as the source, and the S it got when
            // each photo picks its own.
            let mut write = settings.write.for_input(&item.job.input);
            let jpeg = matches!(
                OutputFormat::from_path(&item.job.output),
                Ok(OutputFormat::Jpeg)
            );
            let recorded_size = item.size.to_string();
            let size_differs = write.provenance.as_ref().is_some_and(|p| {
                p.settings
                    .iter()
                    .any(|(k, v)| k == "input_size" && *v != recorded_size)
            });
            if let Some(p) = write.provenance.as_mut()
                && (size_differs || !jpeg)
            {
                let p = std::sync::Arc::make_mut(p);
                // The JPEG quality says nothing about a PNG, TIFF or WebP result.
                if !jpeg {
                    p.settings.retain(|(k, _)| k != "jpeg_quality");
                }
                // The S this photo got: chosen per photo (auto), or stepped down after running
                // out of memory.
                if size_differs {
                    for (k, v) in &mut p.settings {
                        if k == "input_size" {
                            *v = if settings.auto_size {
                                format!("{} (auto)", item.size)
                            } else {
                                recorded_size.clone()
                            };
                        }
                    }
                }
            }
            write_photo(&color, &item.job.output, write).map_err(|e| e.to_string())
        })();
        let _ = done.send(match result {
            Ok(()) => Done::Ok(item.job),
            Err(msg) => Done::Failed(msg),
        });
    }
}
