//! The output folder of `ddcolor batch`, which archives fill over days and runs that get
//! interrupted: its lock (two batches writing one folder would both do every photo and replace
//! each other's results), and its record of finished results, which is what a resumed run
//! trusts. A result in the record was synced to disk before it was recorded, and still has the
//! length and time it had then; anything else under a result's name is checked by decoding it.
//!
//! Both live in one hidden file, `.ddcolor-batch`: its first line says what it is, each further
//! line is one result as JSON. The lock is an advisory `flock` on that file, which the system
//! drops when the process ends however it ends, so a killed run never leaves the folder locked.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::jobs::Job;

/// Name of the file that marks a folder as written by `batch`, locks it and records its results.
pub(crate) const BATCH_MARKER: &str = ".ddcolor-batch";

const HEADER: &str = "results written by `ddcolor batch`; lets a later run resume here";

/// One finished result, as the record keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Entry {
    /// The result, relative to the output folder.
    output: String,
    output_len: u64,
    output_mtime_ns: i64,
    /// The input it was made from, as given (so a moved input tree is not taken for the same).
    input: String,
    input_len: u64,
    input_mtime_ns: i64,
    /// What made it (model file, size, look, format): see `photos::settings_key`.
    settings: String,
}

/// Length and modification time of a file, to the nanosecond.
fn stamp(path: &Path) -> std::io::Result<(u64, i64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec()))
}

/// How far an existing result can be trusted by a resumed run.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Recorded as made from this input with these settings, and unchanged since.
    Done,
    /// Recorded with other settings (or from another version of the input): kept unless
    /// `--overwrite`, and said once.
    OtherSettings,
    /// Not in the record (an earlier version's folder, or replaced by hand), but a complete,
    /// decodable picture: kept.
    Unrecorded,
    /// Empty, truncated or not a picture: made again.
    Damaged(String),
}

/// An output folder held by this run: locked, its record read.
pub(crate) struct OutputFolder {
    dir: PathBuf,
    /// Holds the lock (and appends to the record) until dropped.
    file: Mutex<File>,
    recorded: HashMap<String, Entry>,
    settings: String,
}

impl OutputFolder {
    /// Whether `dir` was written by `batch` (its marker is there).
    pub(crate) fn is_marked(dir: &Path) -> bool {
        dir.join(BATCH_MARKER).is_file()
    }

    /// Creates the folder if needed and takes its lock; fails at once, naming the process,
    /// if another run holds it.
    pub(crate) fn lock(dir: &Path, settings: String) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
        let path = dir.join(BATCH_MARKER);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .with_context(|| format!("{}: cannot write in the output folder", dir.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = lock_holder(&path)
                    .map(|(pid, cmd)| format!("process {pid}: {cmd}"))
                    .unwrap_or_else(|| "another process".into());
                bail!(
                    "{}: another ddcolor batch is writing into this folder ({who}); wait for it \
                     to finish, or choose another output folder",
                    dir.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e)
                    .with_context(|| format!("{}: cannot lock the output folder", dir.display()));
            }
        }
        let mut recorded = HashMap::new();
        let mut text = String::new();
        for line in BufReader::new(&file).lines() {
            let Ok(line) = line else { break };
            // The header, or a line cut short by a power cut: neither is a result.
            if let Ok(entry) = serde_json::from_str::<Entry>(&line) {
                recorded.insert(entry.output.clone(), entry);
            }
            text = line;
        }
        // A line cut short (a power cut, a hard stop) must not swallow the next one.
        let ends_cleanly = {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            let len = file.metadata().map_or(0, |m| m.len());
            len == 0
                || (file.seek(SeekFrom::Start(len - 1)).is_ok()
                    && file.read_exact(&mut last).is_ok()
                    && last[0] == b'\n')
        };
        let start = if text.is_empty() {
            format!("{HEADER}\n")
        } else if !ends_cleanly {
            "\n".into()
        } else {
            String::new()
        };
        file.write_all(start.as_bytes())
            .with_context(|| format!("{}: cannot write in the output folder", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file: Mutex::new(file),
            recorded,
            settings,
        })
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// What a resumed run makes of the file already at `job.output`.
    pub(crate) fn verdict(&self, job: &Job) -> Verdict {
        let entry = self.recorded.get(&self.relative(&job.output));
        if let Some(entry) = entry {
            let input_same = entry.input == job.input.to_string_lossy()
                && stamp(&job.input).is_ok_and(|s| s == (entry.input_len, entry.input_mtime_ns));
            let made_so = input_same && entry.settings == self.settings;
            if stamp(&job.output).is_ok_and(|s| s == (entry.output_len, entry.output_mtime_ns)) {
                return if made_so {
                    Verdict::Done
                } else {
                    Verdict::OtherSettings
                };
            }
            // Changed since (copied without its time, or damaged): decoded, and counted as made
            // otherwise if it is complete.
            return match self.decodes(job) {
                Ok(()) if !made_so => Verdict::OtherSettings,
                Ok(()) => Verdict::Unrecorded,
                Err(e) => Verdict::Damaged(e),
            };
        }
        match self.decodes(job) {
            Ok(()) => Verdict::Unrecorded,
            Err(e) => Verdict::Damaged(e),
        }
    }

    /// Whether the result decodes completely. No pixel limit: a result is as large as its
    /// input was, whatever `--max-pixels` says now.
    fn decodes(&self, job: &Job) -> Result<(), String> {
        ddcolor_engine::io::read_photo(&job.output, u64::MAX)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Records a result once it is in place (synced, renamed). A record that cannot be written
    /// only costs a decode on the next resume, so it is not a failure of the photo.
    pub(crate) fn record(&self, job: &Job) {
        let (Ok((output_len, output_mtime_ns)), Ok((input_len, input_mtime_ns))) =
            (stamp(&job.output), stamp(&job.input))
        else {
            return;
        };
        let entry = Entry {
            output: self.relative(&job.output),
            output_len,
            output_mtime_ns,
            input: job.input.to_string_lossy().into_owned(),
            input_len,
            input_mtime_ns,
            settings: self.settings.clone(),
        };
        if let Ok(mut line) = serde_json::to_string(&entry) {
            line.push('\n');
            let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
            // One write: appended whole, not in pieces another line could come between.
            let _ = file.write_all(line.as_bytes());
        }
    }
}

/// The process holding the `flock` on `path`, from the kernel's list of locks, and its
/// command line.
fn lock_holder(path: &Path) -> Option<(u32, String)> {
    let meta = std::fs::metadata(path).ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let pid = locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (pid, id) = (fields.get(4)?, fields.get(5)?);
        // MAJOR:MINOR:INODE, the device numbers in hexadecimal.
        let mut parts = id.split(':');
        let major = u32::from_str_radix(parts.next()?, 16).ok()?;
        let minor = u32::from_str_radix(parts.next()?, 16).ok()?;
        let ino: u64 = parts.next()?.parse().ok()?;
        let same_file = ino == meta.ino()
            && major == libc::major(meta.dev())
            && minor == libc::minor(meta.dev());
        (fields.get(1) == Some(&"FLOCK") && same_file)
            .then(|| pid.parse::<u32>().ok())
            .flatten()
    })?;
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            c.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some((pid, cmd))
}
