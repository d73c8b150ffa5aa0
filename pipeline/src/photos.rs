//! `ddcolor photo`, `run` and `batch`: the engine's plan asked once, the inputs found (folders
//! walked, results never taken for inputs), and the photo pipeline run over them with a summary.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ddcolor_engine::catalog as models;
use ddcolor_engine::io::{OutputFormat, WriteOptions, is_image_path};
use ddcolor_engine::plan::{Plan, PlanRequest, SizeRule};
use ddcolor_engine::provenance::sha256_file_cached;

use crate::args::{Common, EventsArgs, LookArgs, ModelArgs};
use crate::events::{Event, Events, ItemState, Start};
use crate::jobs::{Job, Settings, Summary};
use crate::output_folder::{OutputFolder, Verdict};
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
        // A batch with `--events` sets its own.
        events: Events::off(),
        events_root: PathBuf::new(),
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

/// A file's device and inode: the same file under any name or link.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether `path` carries the provenance ddcolor writes into its results (at the start of a
/// PNG or JPEG, at the end of a TIFF or WebP).
fn written_by_ddcolor(path: &Path) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    const WINDOW: u64 = 1 << 20;
    const SIGNATURE: &[u8] = b"Colorized by ddcolor ";
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut found = false;
    for start in [0, len.saturating_sub(WINDOW)] {
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(start)).is_ok()
            && (&mut file).take(WINDOW).read_to_end(&mut buf).is_ok()
        {
            found |= buf.windows(SIGNATURE.len()).any(|w| w == SIGNATURE);
        }
    }
    found
}

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Appended to the name of a result written beside its input.
pub(crate) const RESULT_SUFFIX: &str = "_color";

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
    crate::signals::watch_with_hard_stop(std::time::Duration::ZERO);
    // Expand folders; inputs that do not exist or hold no images are failures of their own.
    let mut files = Vec::new();
    let mut failed = Vec::new();
    // Every file given, directly or found in an input folder: none of them is ever replaced by
    // a result. (Earlier results left out of a folder are not in it: they may be replaced, if
    // ddcolor wrote them.)
    let mut given = HashSet::new();
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
            // Those left out as earlier results are replaced only if ddcolor wrote them (below).
            given.extend(found.iter().filter_map(|p| file_id(p)));
            if found.is_empty() {
                failed.push(format!(
                    "{}: no images found in this folder (looked for .jpg, .png, .tif, .webp, .bmp)",
                    input.display()
                ));
            }
            files.extend(found);
        } else if input.exists() {
            given.extend(file_id(input));
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
        if file_id(&target).is_some_and(|id| given.contains(&id)) {
            failed.push(format!(
                "{}: its result would replace {}, which is one of the inputs; not overwritten (give -o FOLDER)",
                input.display(),
                target.display()
            ));
            continue;
        }
        // Beside the input, a file under the result's name is replaced only if it is an
        // earlier result: anything else may be an original that happens to be named so.
        if output.is_none() && target.exists() && !written_by_ddcolor(&target) {
            failed.push(format!(
                "{}: its result's name {} is taken by a file ddcolor did not write (or wrote \
                 with --no-metadata); not overwritten (move it, or give -o FOLDER)",
                input.display(),
                target.display()
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
    sweep_temporary_files(
        jobs.iter()
            .filter_map(|j| j.output.parent())
            .filter(|d| d.is_dir()),
    );
    let settings = settings(&common, &plan, 1, true)?;
    let summary = crate::jobs::run(plan.model.as_mut(), jobs, &settings, 0, None);
    let total_failed = failed.len() + summary.failed.len();
    if summary.done + total_failed > 1 || summary.interrupted > 0 {
        eprintln!("{} colorized, {} failed", summary.done, total_failed);
    }
    if summary.interrupted > 0 {
        eprintln!("interrupted: {} photo(s) not done", summary.interrupted);
        return Ok(ExitCode::from(crate::signals::EXIT_INTERRUPTED));
    }
    Ok(if total_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What walking an input folder found: the photos, and what it would not go into.
#[derive(Default)]
pub(crate) struct Walk {
    pub(crate) files: Vec<PathBuf>,
    /// A folder reached a second time through a link (a loop, or two links to one folder), or
    /// one that could not be read.
    pub(crate) skipped: Vec<NotWalked>,
    /// Folders walked so far, by device and inode: what makes a link loop visible.
    seen: HashSet<(u64, u64)>,
}

/// A folder a walk did not go into, and why.
pub(crate) struct NotWalked {
    pub(crate) path: PathBuf,
    pub(crate) reason: String,
}

impl std::fmt::Display for NotWalked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// All images under `dir`, recursively, sorted; hidden files and `skip` (the output folder, when
/// it lies inside the input) are left out.
///
/// Links are followed, to files and to folders (archives link shares into one tree), but each
/// folder is walked once: one reached again, by a link back up the tree or a second link to it,
/// is skipped and reported, so a loop can neither repeat photos nor run forever.
pub(crate) fn walk(dir: &Path, skip: Option<&Path>) -> Result<Walk> {
    let mut found = Walk::default();
    let meta =
        std::fs::metadata(dir).with_context(|| format!("{}: cannot read folder", dir.display()))?;
    found.seen.insert((meta.dev(), meta.ino()));
    walk_into(dir, skip, &mut found, true)?;
    Ok(found)
}

fn walk_into(dir: &Path, skip: Option<&Path>, found: &mut Walk, top: bool) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // The folder given must be readable; one below it that is not is reported and passed.
        Err(e) if !top => {
            found.skipped.push(NotWalked {
                path: dir.to_path_buf(),
                reason: format!("cannot read folder: {e}"),
            });
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read folder", dir.display())),
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if is_hidden(&path) {
            continue;
        }
        // Through links: a link to a folder is a folder here.
        let Ok(meta) = std::fs::metadata(&path) else {
            if is_image_path(&path) {
                // A dangling link named like a photo: reading it reports the problem.
                found.files.push(path);
            }
            continue;
        };
        if meta.is_dir() {
            if skip.is_some_and(|s| same_file(&path, s)) {
                continue;
            }
            if !found.seen.insert((meta.dev(), meta.ino())) {
                let reason = format!(
                    "not walked: a link to a folder already walked ({})",
                    std::fs::canonicalize(&path)
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "a loop".into())
                );
                found.skipped.push(NotWalked { path, reason });
                continue;
            }
            walk_into(&path, skip, found, false)?;
        } else if is_image_path(&path) {
            found.files.push(path);
        }
    }
    Ok(())
}

/// What makes a result what it is, as the batch record keeps it: a resumed run that is asked
/// for something else says which results were made otherwise. Settings that change only where
/// or how fast it runs (device, threads, workers) are left out.
pub(crate) fn settings_key(common: &Common) -> Result<String> {
    let choice = plan_request(&common.model, &common.look).choose()?;
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| format!("{}:{}", m.len(), m.mtime()))
            .unwrap_or_default()
    };
    let model = choice
        .model
        .as_ref()
        .map(|c| format!("{}@{}", c.path.display(), stamp(&c.path)))
        .unwrap_or_default();
    let workflow = common
        .look
        .workflow
        .as_deref()
        .map(|w| format!("{w}@{}", stamp(Path::new(w))))
        .unwrap_or_default();
    Ok(format!(
        "model={model}; input_size={:?}; upsample={}; workflow={workflow}; style={:?}; format={:?}; quality={}; mark={}; metadata={}",
        common.model.input_size,
        choice.upsample.name(),
        common.look.style.map(|s| s.name()),
        common.format,
        common.quality,
        common.output.mark,
        !common.output.no_metadata,
    ))
}

/// Removes the temporary files that killed runs left in the folders results go to, and says so.
fn sweep_temporary_files<'a>(folders: impl IntoIterator<Item = &'a Path>) {
    let mut seen = HashSet::new();
    let mut removed = 0;
    for dir in folders {
        if seen.insert(dir.to_path_buf()) {
            removed += ddcolor_engine::io::sweep_stale(dir).len();
        }
    }
    if removed > 0 {
        eprintln!("note: removed {removed} temporary file(s) that an interrupted run left behind");
    }
}

pub(crate) fn batch(
    in_dir: PathBuf,
    out_dir: PathBuf,
    overwrite: bool,
    workers: usize,
    events: &EventsArgs,
    common: Common,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let events = Events::from_arg(events.events.as_deref())?;
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
    crate::signals::watch_with_hard_stop(std::time::Duration::ZERO);
    let Walk {
        files,
        skipped: not_walked,
        ..
    } = walk(&in_dir, Some(&out_dir))?;
    for line in &not_walked {
        eprintln!("note: {line}");
    }
    if files.is_empty() {
        bail!(
            "{}: no images found (looked for .jpg, .png, .tif, .webp, .bmp, recursively)",
            in_dir.display()
        );
    }
    let settings_key = settings_key(&common)?;
    // A folder an earlier batch wrote is locked before anything in it is trusted.
    let mut folder = if OutputFolder::is_marked(&out_dir) {
        Some(OutputFolder::lock(&out_dir, settings_key.clone())?)
    } else {
        None
    };
    let planned = plan_targets(files, &in_dir, &out_dir, common.format.as_deref());
    // Files already under a result's name are only trusted as results (skipped, or replaced with
    // --overwrite) in a folder an earlier batch wrote; anywhere else they may be originals.
    if folder.is_none()
        && let Some(example) = planned.iter().find(|j| j.output.exists())
    {
        bail!(
            "{}: this folder already holds files under the names the results would get (e.g. {}) \
             that ddcolor batch did not write; choose a new or empty output folder",
            out_dir.display(),
            example.output.display()
        );
    }
    sweep_temporary_files(
        planned
            .iter()
            .filter_map(|j| j.output.parent())
            .filter(|d| d.is_dir()),
    );
    let resume = resume(planned, folder.as_ref(), overwrite);
    let skipped = resume.skipped.len();
    let jobs = resume.jobs;
    let total = jobs.len() + skipped;
    eprintln!(
        "{total} photos under {}, {skipped} already done{}",
        in_dir.display(),
        if resume.damaged.is_empty() {
            String::new()
        } else {
            format!(", {} incomplete result(s) made again", resume.damaged.len())
        }
    );
    events.send(&Event::Start(Start::Batch {
        total,
        to_do: jobs.len(),
    }));
    for nw in &not_walked {
        events.send(&Event::NotWalked {
            path: nw.path.to_string_lossy().into_owned(),
            reason: nw.reason.clone(),
        });
    }
    for note in resume.damaged {
        events.note(note);
    }
    for job in &resume.skipped {
        events.send(&Event::item(&in_dir, job, ItemState::Skipped));
    }
    let end = |s: &Summary, error: Option<String>| {
        events.send(&Event::BatchEnd {
            done: s.done,
            failed: s.failed.len(),
            skipped: s.skipped,
            interrupted: s.interrupted,
            seconds: crate::events::seconds(started.elapsed()),
            error,
        });
    };
    let summary = if jobs.is_empty() {
        Summary {
            skipped,
            ..Summary::default()
        }
    } else {
        let run = || -> Result<Summary> {
            let mut plan = plan(&common)?;
            let folder = match folder.take() {
                Some(f) => f,
                None => OutputFolder::lock(&out_dir, settings_key)?,
            };
            let settings = Settings {
                events: events.clone(),
                events_root: in_dir.clone(),
                ..settings(&common, &plan, workers.max(1), false)?
            };
            let summary =
                crate::jobs::run(plan.model.as_mut(), jobs, &settings, skipped, Some(&folder));
            Ok(summary)
        };
        // After `start`, a run that cannot begin still ends its stream.
        run().inspect_err(|e| {
            let s = Summary {
                skipped,
                ..Summary::default()
            };
            end(&s, Some(format!("{e:#}")));
        })?
    };
    print_summary(&summary, &out_dir, &not_walked);
    if resume.other_settings > 0 {
        let note = format!(
            "{} of the results skipped were made with other settings or from an input that has \
             changed since; --overwrite makes them again",
            resume.other_settings
        );
        eprintln!("note: {note}");
        events.note(note);
    }
    end(&summary, None);
    Ok(if summary.interrupted > 0 {
        ExitCode::from(crate::signals::EXIT_INTERRUPTED)
    } else if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Each photo found with the path of its result: the input tree mirrored under `out_dir`.
fn plan_targets(
    files: Vec<PathBuf>,
    in_dir: &Path,
    out_dir: &Path,
    format: Option<&str>,
) -> Vec<Job> {
    let mut targets = HashSet::new();
    let mut planned = Vec::new();
    for input in files {
        let rel = input.strip_prefix(in_dir).unwrap_or(&input);
        let ext = output_extension(&input, format);
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
        planned.push(Job {
            input,
            output: target,
        });
    }
    planned
}

/// What a resumed batch makes of the results already there.
struct Resume {
    /// The photos that go through the model.
    jobs: Vec<Job>,
    /// Those done by an earlier run, left as they are.
    skipped: Vec<Job>,
    /// How many of `skipped` were made with other settings (or from an input changed since).
    other_settings: usize,
    /// One note each for the results found incomplete, which are made again.
    damaged: Vec<String>,
}

/// The resume verdicts: which photos a batch does, and which it leaves to an earlier run's
/// results (all of them done again with `overwrite`).
fn resume(planned: Vec<Job>, folder: Option<&OutputFolder>, overwrite: bool) -> Resume {
    let mut resume = Resume {
        jobs: Vec::new(),
        skipped: Vec::new(),
        other_settings: 0,
        damaged: Vec::new(),
    };
    for job in planned {
        if overwrite || !job.output.exists() {
            resume.jobs.push(job);
            continue;
        }
        let verdict = folder.map_or(Verdict::Unrecorded, |f| f.verdict(&job));
        match verdict {
            Verdict::Done | Verdict::Unrecorded => resume.skipped.push(job),
            Verdict::OtherSettings => {
                resume.skipped.push(job);
                resume.other_settings += 1;
            }
            Verdict::Damaged(why) => {
                let note = format!("{why}: an incomplete result; colorizing it again");
                eprintln!("note: {note}");
                resume.damaged.push(note);
                resume.jobs.push(job);
            }
        }
    }
    resume
}

pub(crate) fn print_summary(s: &Summary, out_dir: &Path, not_walked: &[NotWalked]) {
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
    if !not_walked.is_empty() {
        eprintln!("not walked:");
        for f in not_walked {
            eprintln!("  {f}");
        }
    }
    if s.interrupted > 0 {
        eprintln!(
            "interrupted: {} photo(s) not done; run the same command again to finish them",
            s.interrupted
        );
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
