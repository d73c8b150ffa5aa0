//! What is checked before a film starts, so that a run that cannot succeed fails at once with
//! the reason instead of after minutes of work: an input that is not a file a film can be read
//! from (a named pipe or a device would block the reader, or feed it forever), and an output
//! folder without the room the film needs.

use super::*;

/// Fails with what `input` is when it is neither a regular file nor a folder (a sequence). Looks
/// at the file's type only: nothing is opened, so a FIFO with no writer cannot block here.
pub(super) fn check_input_kind(input: &Path) -> Result<()> {
    let meta = match std::fs::metadata(input) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no such file or folder", input.display())
        }
        Err(e) => bail!("{}: cannot be read ({e})", input.display()),
    };
    match ddcolor_engine::io::special_file_kind(meta.file_type()) {
        None => Ok(()),
        Some(what) => bail!(
            "{}: is {what}, not a film file (save the film to a file first)",
            input.display()
        ),
    }
}

/// Free bytes for an unprivileged writer in `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// The least room the film is expected to need, from the input's size: an H.264 or VP9 film at
/// the quality written here is rarely under a quarter of the input's size (films come in already
/// compressed; a grey film gains colour), and an FFV1 master is larger than any lossy input.
/// A floor, not a forecast: only a folder clearly too small for the film is refused before
/// starting; one that fills up later still fails, naming the output.
pub(super) fn least_needed(input_bytes: u64, lossless: bool) -> u64 {
    if lossless {
        input_bytes
    } else {
        input_bytes / 4
    }
}

/// Refuses to start when the output folder has less room than [`least_needed`].
pub(super) fn check_free_space(
    job: &FilmJob,
    sequence: Option<&[PathBuf]>,
    dir: &Path,
) -> Result<()> {
    let input_bytes = match sequence {
        Some(files) => files
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum(),
        None => std::fs::metadata(&job.input).map(|m| m.len()).unwrap_or(0),
    };
    let needed = least_needed(input_bytes, job.lossless);
    if let Some(free) = free_bytes(dir)
        && free < needed
    {
        bail!(
            "{}: not enough free space: {} free in {}, and the film needs at least about {} (estimated from the input's {})",
            job.output.display(),
            human(free),
            dir.display(),
            human(needed),
            human(input_bytes)
        );
    }
    Ok(())
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_follows_the_input_and_the_codec() {
        assert_eq!(least_needed(4_000_000, false), 1_000_000);
        assert_eq!(least_needed(4_000_000, true), 4_000_000);
        assert_eq!(least_needed(0, false), 0);
    }

    #[test]
    fn sizes_are_said_in_units_people_read() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(64 << 10), "64.0 KiB");
        assert_eq!(human(3 << 20 | 1 << 19), "3.5 MiB");
    }
}
