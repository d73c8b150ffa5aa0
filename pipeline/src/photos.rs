//! `ddcolor photo`, `run` and `batch`: the engine's plan asked once, the inputs found (folders
//! walked, results never taken for inputs), and the photo pipeline run over them with a summary.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ddcolor_engine::catalog as models;
use ddcolor_engine::io::{OutputFormat, WriteOptions, is_image_path};
use ddcolor_engine::plan::{Plan, PlanRequest, SizeRule};
use ddcolor_engine::provenance::sha256_file_cached;

use crate::args::{Common, LookArgs, ModelArgs};
use crate::jobs::{Job, Settings, Summary};
use crate::provenance::photo_provenance;

/// Tells the user which model runs (and when its colours mean nothing).
pub(crate) fn say_model(chosen: &models::Chosen) {
    eprintln!("model: {} ({})", chosen.path.display(), chosen.how);
    if chosen.is_test_model {
        eprintln!(
            "note: this is a generated test model with random weights: its colours are not meaningful. \
             See models/README.md to get a real DDColor model."
        );
    }
}

/// What the command line asks of the engine's plan.
pub(crate) fn plan_request(args: &ModelArgs, look: &LookArgs) -> PlanRequest {
    PlanRequest {
        model: args.model.clone(),
        model_setting: "--model",
        input_size: args.input_size,
        upsample: args.upsample,
        device: args.device,
        gpu: args.gpu(),
        threads: args.threads,
        workflow: look.workflow.clone(),
        style: look.style,
    }
}

/// The engine's plan for `photo`, `batch` and `run`, with the model loaded, and what it
/// decided said in a few lines.
pub(crate) fn plan(common: &Common) -> Result<Plan> {
    let choice = plan_request(&common.model, &common.look).choose()?;
    if let Some(chosen) = &choice.model {
        say_model(chosen);
    }
    // The results' provenance needs the model's SHA-256: hash it while ONNX Runtime loads it
    // (hundreds of MB for a real model, about 0.3 s for the bench model).
    let hashing = choice
        .model
        .as_ref()
        .filter(|_| !common.output.no_metadata)
        .map(|chosen| {
            let path = chosen.path.clone();
            std::thread::spawn(move || sha256_file_cached(&path))
        });
    let plan = choice.load()?;
    // The hash lands in the cache; a failure is reported where the provenance is built.
    if let Some(h) = hashing {
        let _ = h.join();
    }
    for note in &plan.notes {
        eprintln!("{note}");
    }
    if let Some(model) = &plan.model {
        eprintln!("device: {}", model.placement());
        match plan.sizes.rule() {
            SizeRule::Auto => {
                eprintln!("input size auto (from each photo's resolution, 256 to 1280)")
            }
            SizeRule::Fixed(s) => eprintln!("input size {s}"),
        }
    }
    Ok(plan)
}

pub(crate) fn settings(
    common: &Common,
    plan: &Plan,
    workers: usize,
    list_outputs: bool,
) -> Result<Settings> {
    Ok(Settings {
        max_pixels: common.max_pixels,
        upsample: plan.upsample,
        workflow: plan.workflow.clone(),
        sizes: plan.sizes.clone(),
        write: WriteOptions {
            quality: common.quality,
            provenance: photo_provenance(common, plan)?,
            mark: common.output.mark,
            // Decided per photo (see `jobs`).
            jpeg_half_chroma: false,
        },
        workers,
        // A batch goes largest first; `photo` keeps the order it was given.
        largest_first: !list_outputs,
        list_outputs,
    })
}

/// The images directly inside `dir`, sorted.
pub(crate) fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("{}: cannot read folder", dir.display()))?
    {
        let path = entry
            .with_context(|| format!("{}: cannot read folder", dir.display()))?
            .path();
        if path.is_file() && is_image_path(&path) && !is_hidden(&path) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

pub(crate) fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// The extension a result gets: `--format`, else the input's if it can be written, else png.
pub(crate) fn output_extension(input: &Path, format: Option<&str>) -> String {
    if let Some(f) = format {
        return f.to_string();
    }
    input
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| OutputFormat::from_extension(e).is_some())
        .map(str::to_string)
        .unwrap_or_else(|| "png".into())
}

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Appended to the name of a result written beside its input.
pub(crate) const RESULT_SUFFIX: &str = "_color";

/// Name of the marker `batch` leaves in its output folder: files there were written by it.
pub(crate) const BATCH_MARKER: &str = ".ddcolor-batch";

pub(crate) fn photo(
    inputs: Vec<PathBuf>,
    output: Option<PathBuf>,
    common: Common,
) -> Result<ExitCode> {
    photo_with_suffix(inputs, output, common, RESULT_SUFFIX)
}

/// `photo`, with results written beside their inputs named NAME`suffix`.EXT.
pub(crate) fn photo_with_suffix(
    inputs: Vec<PathBuf>,
    output: Option<PathBuf>,
    common: Common,
    suffix: &str,
) -> Result<ExitCode> {
    // A broken workflow is reported before anything else is looked at.
    plan_request(&common.model, &common.look).resolve_workflow()?;
    // Expand folders; inputs that do not exist or hold no images are failures of their own.
    let mut files = Vec::new();
    let mut failed = Vec::new();
    for input in &inputs {
        if input.is_dir() {
            let mut found = images_in(input)?;
            if output.is_none() {
                // Results of an earlier run sit beside their inputs: do not colorize them again.
                found.retain(|p| {
                    !p.file_stem()
                        .and_then(|s| s.to_str())
                        .is_some_and(|s| s.ends_with(suffix))
                });
            }
            if found.is_empty() {
                failed.push(format!(
                    "{}: no images found in this folder (looked for .jpg, .png, .tif, .webp, .bmp)",
                    input.display()
                ));
            }
            files.extend(found);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            failed.push(format!("{}: file not found", input.display()));
        }
    }
    let output_is_file = output
        .as_deref()
        .is_some_and(|o| OutputFormat::from_path(o).is_ok() && !o.is_dir());
    if output_is_file && (inputs.len() != 1 || inputs[0].is_dir()) {
        bail!(
            "-o {} names a file, but there is more than one input; give a folder",
            output
                .as_deref()
                .map(Path::display)
                .map(|d| d.to_string())
                .unwrap_or_default()
        );
    }
    if let Some(o) = &output
        && !output_is_file
        && o.extension().is_some()
        && !o.is_dir()
        && inputs.len() == 1
        && !inputs[0].is_dir()
    {
        // Looks like a file name with an extension we cannot write.
        OutputFormat::from_path(o)?;
    }

    let mut jobs: Vec<Job> = Vec::new();
    for input in files {
        let target = match &output {
            Some(o) if output_is_file => o.clone(),
            Some(dir) => {
                let stem = input
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                dir.join(format!(
                    "{stem}.{}",
                    output_extension(&input, common.format.as_deref())
                ))
            }
            None => {
                let stem = input
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                input.with_file_name(format!(
                    "{stem}{suffix}.{}",
                    output_extension(&input, common.format.as_deref())
                ))
            }
        };
        if same_file(&input, &target) {
            failed.push(format!(
                "{}: refusing to overwrite the input with its result (choose another -o)",
                input.display()
            ));
            continue;
        }
        if let Some(other) = jobs.iter().find(|j| j.output == target) {
            failed.push(format!(
                "{}: its result {} would replace the result of {}; colorize them into different folders",
                input.display(),
                target.display(),
                other.input.display()
            ));
            continue;
        }
        jobs.push(Job {
            input,
            output: target,
        });
    }
    for msg in &failed {
        eprintln!("error: {msg}");
    }
    if jobs.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    let mut plan = plan(&common)?;
    if let Some(dir) = output.as_ref().filter(|_| !output_is_file) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
    }
    let settings = settings(&common, &plan, 1, true)?;
    let summary = crate::jobs::run(plan.model.as_mut(), jobs, &settings, 0);
    let total_failed = failed.len() + summary.failed.len();
    if summary.done + total_failed > 1 {
        eprintln!("{} colorized, {} failed", summary.done, total_failed);
    }
    Ok(if total_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// All images under `dir`, recursively, sorted; hidden files and `skip` (the output folder, when
/// it lies inside the input) are left out.
pub(crate) fn walk(dir: &Path, skip: Option<&Path>, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if is_hidden(&path) {
            continue;
        }
        if path.is_dir() {
            if skip.is_some_and(|s| same_file(&path, s)) {
                continue;
            }
            walk(&path, skip, out)?;
        } else if is_image_path(&path) {
            out.push(path);
        }
    }
    Ok(())
}

pub(crate) fn batch(
    in_dir: PathBuf,
    out_dir: PathBuf,
    overwrite: bool,
    workers: usize,
    common: Common,
) -> Result<ExitCode> {
    plan_request(&common.model, &common.look).resolve_workflow()?;
    if !in_dir.is_dir() {
        bail!("{}: not a folder", in_dir.display());
    }
    if same_file(&in_dir, &out_dir) {
        bail!(
            "{}: the output folder must differ from the input folder",
            out_dir.display()
        );
    }
    let mut files = Vec::new();
    walk(&in_dir, Some(&out_dir), &mut files)?;
    if files.is_empty() {
        bail!(
            "{}: no images found (looked for .jpg, .png, .tif, .webp, .bmp, recursively)",
            in_dir.display()
        );
    }
    let mut jobs = Vec::new();
    let mut skipped = 0;
    let mut targets = HashSet::new();
    let mut existing = None;
    for input in files {
        let rel = input.strip_prefix(&in_dir).unwrap_or(&input);
        let ext = output_extension(&input, common.format.as_deref());
        let mut target = out_dir.join(rel).with_extension(&ext);
        if !targets.insert(target.clone()) {
            // a.jpg and a.png in one folder, both written as png: the second keeps its extension.
            let stem = target
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let in_ext = input
                .extension()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            target = target.with_file_name(format!("{stem}_{in_ext}.{ext}"));
            targets.insert(target.clone());
        }
        if target.exists() {
            existing.get_or_insert_with(|| target.clone());
            if !overwrite {
                skipped += 1;
                continue;
            }
        }
        jobs.push(Job {
            input,
            output: target,
        });
    }
    // Files already under a result's name are only trusted as results (skipped, or replaced with
    // --overwrite) in a folder an earlier batch wrote; anywhere else they may be originals.
    if let Some(example) = existing
        && !out_dir.join(BATCH_MARKER).exists()
    {
        bail!(
            "{}: this folder already holds files under the names the results would get (e.g. {}) \
             that ddcolor batch did not write; choose a new or empty output folder",
            out_dir.display(),
            example.display()
        );
    }
    let total = jobs.len() + skipped;
    eprintln!(
        "{total} photos under {}, {skipped} already done",
        in_dir.display()
    );
    let summary = if jobs.is_empty() {
        Summary {
            skipped,
            ..Summary::default()
        }
    } else {
        let mut plan = plan(&common)?;
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("{}: cannot create output folder", out_dir.display()))?;
        std::fs::write(
            out_dir.join(BATCH_MARKER),
            "results written by `ddcolor batch`; lets a later run resume here\n",
        )
        .with_context(|| format!("{}: cannot write in the output folder", out_dir.display()))?;
        let settings = settings(&common, &plan, workers.max(1), false)?;
        crate::jobs::run(plan.model.as_mut(), jobs, &settings, skipped)
    };
    print_summary(&summary, &out_dir);
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub(crate) fn print_summary(s: &Summary, out_dir: &Path) {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.done as f64 / secs
    } else {
        0.0
    };
    eprintln!(
        "done: {} colorized, {} skipped (already done), {} failed in {secs:.1} s ({rate:.2} photos/s, model busy {:.0}%)",
        s.done,
        s.skipped,
        s.failed.len(),
        if secs > 0.0 {
            100.0 * s.model_time.as_secs_f64() / secs
        } else {
            0.0
        }
    );
    if !s.failed.is_empty() {
        eprintln!("failed:");
        for f in &s.failed {
            eprintln!("  {f}");
        }
    }
    eprintln!("results in {}", out_dir.display());
}

/// `ddcolor run FILE`: the workflow's photos (or those given) through `photo`, the results named
/// with the workflow's save prefix.
pub(crate) fn run_workflow(
    workflow: String,
    inputs: Vec<PathBuf>,
    output: Option<PathBuf>,
    mut common: Common,
) -> Result<ExitCode> {
    if common.look.workflow.is_some() {
        bail!("give the workflow once: `ddcolor run FILE` takes no --workflow");
    }
    common.look.workflow = Some(workflow);
    let wf = plan_request(&common.model, &common.look)
        .resolve_workflow()?
        .context("no workflow")?;
    let inputs = if inputs.is_empty() {
        match &wf.input {
            // A relative path is taken from the workflow file's folder.
            Some(p) => {
                let file = Path::new(common.look.workflow.as_deref().unwrap_or_default());
                let base = file.parent().filter(|_| file.is_file());
                let photo = base.map_or_else(|| PathBuf::from(p), |b| b.join(p));
                if !photo.exists() {
                    bail!(
                        "{}: not found (the photo named by the workflow's LoadImage node; give another with --input)",
                        photo.display()
                    );
                }
                vec![photo]
            }
            None => bail!(
                "{}: its LoadImage node names no photo; give one with --input",
                common.look.workflow.as_deref().unwrap_or_default()
            ),
        }
    } else {
        inputs
    };
    let suffix = format!("_{}", wf.save_prefix);
    photo_with_suffix(inputs, output, common, &suffix)
}
