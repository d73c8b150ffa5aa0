//! Writing a result so that no interruption (Ctrl-C, a killed job, a full disk, a power cut)
//! leaves a partial or empty file under its final name: the bytes go to a temporary file in the
//! destination folder, which is synced, renamed over the final name, and the folder synced so
//! the rename itself survives a power cut.
//!
//! The temporary name is short and fixed in length (`.ddcolor-PID-XXXXXX.part`, under 40
//! bytes), so a result whose own name is near the file system's 255-byte limit can still be
//! written. It names the process that writes it, and the writer holds a lock on it while it is
//! open: a later run removes the ones whose process is gone and that nobody holds
//! ([`sweep_stale`]). The lock covers what a process id cannot: a writer in another container
//! or on another machine sharing the folder, whose id means nothing here.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What every temporary name starts with.
const PREFIX: &str = ".ddcolor-";
/// And ends with.
const SUFFIX: &str = ".part";
/// Random characters between the process id and the suffix.
const RANDOM: usize = 6;

/// The folder a result is written in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, empty temporary file beside `path` (same folder, so the rename is atomic), readable
/// by others once it is in place as results are. Removed when dropped unless persisted.
/// Locked (where the file system has locks) for as long as it is open.
pub fn temp_file_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .suffix(SUFFIX)
        .rand_bytes(RANDOM)
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(folder_of(path))?;
    // A file system without locks only loses the protection of writers on other machines.
    let _ = file.as_file().try_lock();
    Ok(file)
}

/// Syncs the finished temporary file at `temp`, renames it to `path` (replacing what is there)
/// and syncs the folder. On failure the temporary file is left for the caller to remove.
pub fn persist_synced(temp: &Path, path: &Path) -> io::Result<()> {
    File::open(temp)?.sync_all()?;
    fs::rename(temp, path)?;
    sync_folder(folder_of(path))
}

/// Makes the folder's entries (a rename, a new file) durable.
pub fn sync_folder(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` through a synced temporary file.
pub fn write_atomically(bytes: &[u8], path: &Path) -> io::Result<()> {
    let mut tmp = temp_file_beside(path)?;
    tmp.as_file_mut().write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_folder(folder_of(path))
}

/// The process that wrote a temporary file named by [`temp_file_beside`], if the name is one.
fn writer_of(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (pid, random) = rest.split_once('-')?;
    if random.len() != RANDOM || !random.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` still runs (a zombie counts as gone: it writes nothing more).
fn is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses, which may itself hold them.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Whether a writer (here, in another container, or on another machine) holds the file's lock.
fn is_held(path: &Path) -> bool {
    match File::open(path) {
        Ok(f) => matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)),
        // Cannot be opened: not ours to remove either.
        Err(_) => true,
    }
}

/// Removes the temporary files in `dir` that earlier runs left behind (killed with SIGKILL, or
/// by a power cut) and returns them. Those of processes still running are left alone; so is
/// every other file.
pub fn sweep_stale(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(writer_of) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && pid != std::process::id() && !is_running(pid) && !is_held(&entry.path()) {
            let path = entry.path();
            if fs::remove_file(&path).is_ok() {
                removed.push(path);
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_short_and_name_their_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let long = "x".repeat(251) + ".png";
        let target = dir.path().join(&long);
        let tmp = temp_file_beside(&target).expect("temp file");
        let name = tmp
            .path()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(name.len() < 40, "{name}");
        assert_eq!(writer_of(&name), Some(std::process::id()));
        write_atomically(b"result", &target).expect("a 255-byte name is written");
        assert_eq!(fs::read(&target).unwrap(), b"result");
    }

    #[test]
    fn only_temporary_files_of_ended_processes_are_swept() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A process that has ended: a child reaped by `wait`.
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let gone = child.id();
        child.wait().expect("wait");
        let stale = dir.path().join(format!(".ddcolor-{gone}-abcdef.part"));
        let ours = temp_file_beside(&dir.path().join("a.png")).expect("temp file");
        // A writer elsewhere (another container: its id is a dead one here) holds its lock.
        let elsewhere = dir.path().join(format!(".ddcolor-{gone}-zyxwvu.part"));
        fs::write(&elsewhere, b"x").expect("write");
        let held = File::open(&elsewhere).expect("open");
        held.try_lock().expect("lock");
        let keep = [
            elsewhere.clone(),
            dir.path().join(".ddcolor-1-abcdef.part"), // init: always running
            dir.path().join(format!(".ddcolor-{gone}-abc-def.part")), // not our pattern
            dir.path().join("photo.part"),
            dir.path().join(format!(".other-{gone}-abcdef.part")),
        ];
        for p in keep.iter().chain([&stale]) {
            fs::write(p, b"x").expect("write");
        }
        assert_eq!(sweep_stale(dir.path()), vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(
            ours.path().exists(),
            "this process's own temporary file is kept"
        );
        for p in &keep {
            assert!(p.exists(), "{} kept", p.display());
        }
    }
}
