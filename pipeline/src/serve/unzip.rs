//! Unpacks an album that a user uploaded as a zip archive.
//!
//! Why this is more than `ZipArchive::extract`: a zip is a list of instructions that a stranger
//! writes and our server carries out. Its names may point anywhere (`../../etc/cron.d/x`,
//! `/root/.ssh/authorized_keys`), its entries may be links that turn later writes into writes
//! elsewhere, and its sizes are claims, not facts: a 42 kB file can unpack to petabytes (42.zip,
//! or the overlapping-entry bombs that reuse one block of packed data for many files). So this
//! module decides everything it can from the central directory before writing a byte, counts
//! the bytes it really unpacks instead of believing the headers, writes only plain files and
//! folders under `dest`, and on any refusal takes back everything it wrote: the caller refuses
//! the whole upload, and an album half unpacked is worse than none. Each refusal says, in plain
//! words, what is wrong and what the user can do about it, because the person reading it is
//! someone with a box of old photos, not an administrator.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use zip::result::ZipError;
use zip::{SUPPORTED_COMPRESSION_METHODS, ZipArchive};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Slack on top of `max_ratio` × packed size for every entry: a short text file or a tiny
/// blank image packs to a few bytes, a huge ratio that is harmless at that size.
const RATIO_ALLOWANCE: u64 = MIB;

/// Linux refuses a single name part longer than this (NAME_MAX).
const MAX_NAME_PART: usize = 255;

/// Longest relative path we accept: well inside PATH_MAX (4096) once joined to wherever the
/// server keeps uploads, and far longer than any real album needs. It also bounds the work the
/// duplicate check does per entry.
const MAX_PATH_BYTES: usize = 1024;

/// Names in messages are cut to this many characters: a name may be 64 KiB long.
const SHOWN_CHARS: usize = 120;

/// Bytes moved per read; also how far past a limit a read may look before it is refused (the
/// excess is never written).
const CHUNK: usize = 64 * 1024;

/// How much one upload may cost us. Every limit is checked against the bytes really unpacked,
/// not against what the archive's headers claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most entries (files and folders) the archive may list. Each entry costs a file, an inode
    /// and some work however small it is, so an archive of a million empty files exhausts the
    /// server without tripping any byte limit; an album of 10,000 photos is already huge.
    pub max_entries: usize,
    /// Most bytes the whole album may unpack to. Nested bombs (42.zip) and overlapping-entry
    /// bombs turn a small upload into petabytes; this bounds what one upload may put on disk.
    pub max_total_bytes: u64,
    /// Most bytes one file may unpack to. No scanned photo comes near 2 GiB; a bigger entry is a
    /// video, a disk image or a bomb, and it would fill the disk long before the total is due.
    pub max_entry_bytes: u64,
    /// Most that one entry may grow on unpacking, as a multiple of its packed size (plus 1 MiB
    /// of slack). Photos are already compressed (JPEG) or shrink a few times at most (TIFF,
    /// BMP); 200:1 only happens with long runs of identical bytes, which is how bombs are made,
    /// and this catches a bomb after a few megabytes instead of at the total limit.
    pub max_ratio: u64,
}

impl Default for Limits {
    /// Generous for any real album, small enough that a hostile upload costs little.
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_total_bytes: 20 * GIB,
            max_entry_bytes: 2 * GIB,
            max_ratio: 200,
        }
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The files written, relative to `dest` ('/'-joined), in the archive's order: the caller
    /// colorizes these and nothing else (folders are created but not listed).
    pub files: Vec<PathBuf>,
    /// The bytes written, which is the size of those files on disk.
    pub bytes: u64,
    /// Entries left out on purpose, with why: the junk that macOS and Windows add to every zip
    /// (`__MACOSX/`, `.DS_Store`, `Thumbs.db`) and other hidden files. Shown to the user so that
    /// nothing vanishes silently. Names are cleaned for display, as in [`Refusal`].
    pub skipped: Vec<(String, &'static str)>,
}

/// Why an upload was refused. Each message is one line of plain words naming the entry and
/// what the user can do; entry names in it are cut short and stripped of control characters,
/// so a hostile name cannot forge lines in a page or a log.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "this file is not a zip archive (or it is damaged); check that you chose the right file, \
         zip the album again and upload that"
    )]
    NotAZip(#[source] ZipError),

    #[error(
        "the zip holds {count} files and folders, more than the {max} allowed; \
         upload the album in parts"
    )]
    TooManyEntries { count: usize, max: usize },

    #[error(
        "\"{name}\" unpacks to more than {} (the limit for one file); leave it out of the zip \
         and upload the album again",
        human(*.max)
    )]
    EntryTooLarge { name: String, max: u64 },

    #[error("the album unpacks to more than {} (the limit); upload the album in parts", human(*.max))]
    TotalTooLarge { max: u64 },

    /// `ratio` is the limit that was passed, not the entry's own ratio: unpacking stops there.
    #[error(
        "\"{name}\" unpacks to more than {ratio} times its packed size, which no photo does \
         (zip bombs do); zip the original photos again and upload that"
    )]
    Ratio { name: String, ratio: u64 },

    #[error(
        "several files in the zip share the same packed data, a trick used by zip bombs; \
         zip the original photos again with an ordinary zip tool"
    )]
    Overlapping,

    #[error(
        "the zip holds an entry named \"{name}\", which points outside the album folder or cannot \
         be used as a file name; zip the album folder again and upload that"
    )]
    UnsafePath { name: String },

    #[error(
        "\"{name}\" has a name or folder path too long to be saved; shorten it and zip the album \
         again"
    )]
    NameTooLong { name: String },

    #[error(
        "\"{name}\" is a link (shortcut), not a file, and links are not accepted; put the photo \
         itself in its place or leave it out, and zip the album again"
    )]
    Link { name: String },

    #[error("\"{name}\" is password-protected; zip the album again without a password")]
    Encrypted { name: String },

    #[error(
        "\"{name}\" appears twice in the zip (or as both a file and a folder); rename one of them \
         and zip the album again"
    )]
    Duplicate { name: String },

    /// The central directory lists one raw name twice; the zip library keeps only one of them,
    /// so which name it was is not known any more.
    #[error(
        "two entries in the zip have exactly the same name; rename one of them and zip the album \
         again"
    )]
    DuplicateNames,

    #[error(
        "\"{name}\" is packed with the {method} method, which is not supported; zip the album \
         again with the standard method (Deflate, the default of most zip tools)"
    )]
    Unsupported { name: String, method: String },

    /// The entry's packed data is corrupt: bad checksum, truncated, or longer than declared.
    #[error(
        "\"{name}\" in the zip is damaged and cannot be unpacked; zip the album again and upload that"
    )]
    Damaged {
        name: String,
        #[source]
        source: ZipError,
    },

    /// Our side failed (disk full, permissions); `what` names the entry or the upload.
    #[error("the server failed while unpacking {what}; please try again later")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

impl Refusal {
    /// Whether the server rather than the upload is at fault: the web app answers those with a
    /// 5xx and logs them, and the others with a 4xx and the message.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Refusal::Io { .. })
    }
}

/// Unpacks the zip at `zip_path` into `dest`, an existing empty folder, or refuses it and leaves
/// `dest` empty again.
///
/// Refusals that the central directory can show (too many entries, unsafe names, links,
/// passwords, unsupported methods, duplicates, sizes the headers admit to) come before anything
/// is written. The rest (sizes the headers lie about, damaged data, our own I/O) can come
/// midway, and then everything written so far is removed.
pub fn extract(zip_path: &Path, dest: &Path, limits: &Limits) -> Result<Extracted, Refusal> {
    extract_with(zip_path, dest, limits, true)
}

/// `extract`, with the early checks of the sizes the headers declare switched off by the tests
/// (`use_declared: false`): with them on, an honest bomb never reaches the byte counter, and the
/// counter is what stands when the headers lie.
fn extract_with(
    zip_path: &Path,
    dest: &Path,
    limits: &Limits,
    use_declared: bool,
) -> Result<Extracted, Refusal> {
    ensure_empty(dest)?;
    let upload = || "the uploaded file".to_owned();
    let file = File::open(zip_path).map_err(|source| Refusal::Io {
        what: upload(),
        source,
    })?;
    let archive_len = file
        .metadata()
        .map_err(|source| Refusal::Io {
            what: upload(),
            source,
        })?
        .len();
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(Refusal::NotAZip)?;

    if archive.len() > limits.max_entries {
        return Err(Refusal::TooManyEntries {
            count: archive.len(),
            max: limits.max_entries,
        });
    }
    if archive.has_duplicate_names() {
        return Err(Refusal::DuplicateNames);
    }
    // Overlapping data has no honest use, and it is the one bomb whose every entry can look
    // reasonable: a stored block shared by 10,000 entries only trips the total limit after the
    // whole of it is on disk.
    if archive.has_overlapping_files().map_err(Refusal::NotAZip)? {
        return Err(Refusal::Overlapping);
    }

    let (steps, skipped) = plan(&archive, dest, limits, use_declared)?;

    let mut undo = Undo {
        dest,
        made: Vec::new(),
        keep: false,
    };
    let mut meter = Meter {
        limits,
        archive_len,
        total: 0,
    };
    let mut buf = vec![0u8; CHUNK];
    let mut files = Vec::new();
    for step in steps {
        match step {
            Step::Dir { rel, shown } => {
                make_dirs(dest, &rel, &shown, &mut undo)?;
            }
            Step::File {
                index,
                rel,
                shown,
                packed,
            } => {
                let parent = rel.parent().unwrap_or(Path::new(""));
                let dir = make_dirs(dest, parent, &shown, &mut undo)?;
                let io_err = |source| Refusal::Io {
                    what: format!("\"{shown}\""),
                    source,
                };
                // A name starting with '.' never collides with a kept entry: hidden entries are
                // skipped. `create_new` never follows or reuses whatever is already there.
                let part = dir.join(format!(".unzip-{index}.part"));
                let slot = undo.made.len();
                let mut out = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part)
                    .map_err(io_err)?;
                undo.made.push(part.clone());
                let mut entry = archive.by_index(index).map_err(|source| Refusal::Damaged {
                    name: shown.clone(),
                    source,
                })?;
                meter.copy(&mut entry, &mut out, &shown, packed, &mut buf)?;
                drop(entry);
                out.flush().map_err(io_err)?;
                drop(out);
                let target = dest.join(&rel);
                // The plan rules out clashes by name; this catches the file system seeing two
                // names as one (a case-insensitive disk on a developer's machine).
                if fs::symlink_metadata(&target).is_ok() {
                    return Err(Refusal::Duplicate { name: shown });
                }
                fs::rename(&part, &target).map_err(io_err)?;
                undo.made[slot] = target;
                files.push(rel);
            }
        }
    }
    undo.keep = true;
    Ok(Extracted {
        files,
        bytes: meter.total,
        skipped,
    })
}

/// Entries left out, with why (see [`Extracted::skipped`]).
type Skipped = Vec<(String, &'static str)>;

/// One thing to do, decided from the central directory before anything is written.
enum Step {
    Dir {
        rel: PathBuf,
        shown: String,
    },
    File {
        index: usize,
        rel: PathBuf,
        shown: String,
        packed: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// Checks every entry's metadata and decides what to do with it, so that an archive refused for
/// what its directory says costs no writes at all.
fn plan<R: Read + io::Seek>(
    archive: &ZipArchive<R>,
    dest: &Path,
    limits: &Limits,
    use_declared: bool,
) -> Result<(Vec<Step>, Skipped), Refusal> {
    let mut steps = Vec::new();
    let mut skipped = Vec::new();
    let mut claimed: HashMap<PathBuf, Kind> = HashMap::new();
    let mut declared_total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_data(index).map_err(Refusal::NotAZip)?;
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => {
                let raw = String::from_utf8_lossy(entry.name_raw());
                return Err(Refusal::UnsafePath { name: shown(&raw) });
            }
        };
        let shown = shown(&name);
        let rel = relative_path(&name, entry.enclosed_name(), dest, &shown)?;
        if let Some(reason) = junk(&rel) {
            skipped.push((shown, reason));
            continue;
        }
        // Checked on the raw mode bits, not only through `is_symlink`: any entry whose file type
        // says link is refused, even one that also claims to be a folder.
        let link_mode = entry.unix_mode().is_some_and(|m| m & 0o170000 == 0o120000);
        if entry.is_symlink() || link_mode {
            return Err(Refusal::Link { name: shown });
        }
        if entry.is_dir() {
            if rel.as_os_str().is_empty() {
                skipped.push((shown, "the album folder itself"));
                continue;
            }
            claim(&mut claimed, &rel, Kind::Dir, &shown)?;
            steps.push(Step::Dir { rel, shown });
            continue;
        }
        if rel.as_os_str().is_empty() {
            return Err(Refusal::UnsafePath { name: shown });
        }
        if entry.encrypted() {
            return Err(Refusal::Encrypted { name: shown });
        }
        let method = entry.compression();
        if !SUPPORTED_COMPRESSION_METHODS.contains(&method) {
            return Err(Refusal::Unsupported {
                name: shown,
                method: method.to_string(),
            });
        }
        claim(&mut claimed, &rel, Kind::File, &shown)?;
        let packed = entry.compressed_size();
        if use_declared {
            // Not trusted, only believed when it admits to too much: refusing here saves
            // writing gigabytes first. Sizes that lie low are caught by the `Meter`.
            let size = entry.size();
            if size > limits.max_entry_bytes {
                return Err(Refusal::EntryTooLarge {
                    name: shown,
                    max: limits.max_entry_bytes,
                });
            }
            if size > ratio_cap(limits.max_ratio, packed) {
                return Err(Refusal::Ratio {
                    name: shown,
                    ratio: limits.max_ratio,
                });
            }
            declared_total = declared_total.saturating_add(size);
            if declared_total > limits.max_total_bytes {
                return Err(Refusal::TotalTooLarge {
                    max: limits.max_total_bytes,
                });
            }
        }
        steps.push(Step::File {
            index,
            rel,
            shown,
            packed,
        });
    }
    Ok((steps, skipped))
}

/// The entry's path under `dest`, or a refusal. `enclosed_name` alone is not enough: it turns
/// `/etc/x` into `etc/x` and `a/../b` into `b`, names that no honest zip tool writes and that we
/// would rather refuse than guess about; backslashes are separators to Windows tools and
/// ordinary characters to Linux, so a name holding one means different files to different
/// readers.
fn relative_path(
    name: &str,
    enclosed: Option<PathBuf>,
    dest: &Path,
    shown: &str,
) -> Result<PathBuf, Refusal> {
    let refuse = || Refusal::UnsafePath {
        name: shown.to_owned(),
    };
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with('/')
        || drive
        || name.contains('\\')
        || name.chars().any(char::is_control)
        || name.split('/').any(|part| part == "..")
    {
        return Err(refuse());
    }
    let rel = enclosed.ok_or_else(refuse)?;
    if !rel.components().all(|c| matches!(c, Component::Normal(_)))
        || !dest.join(&rel).starts_with(dest)
    {
        return Err(refuse());
    }
    if rel.as_os_str().len() > MAX_PATH_BYTES
        || rel
            .components()
            .any(|c| c.as_os_str().len() > MAX_NAME_PART)
    {
        return Err(Refusal::NameTooLong {
            name: shown.to_owned(),
        });
    }
    Ok(rel)
}

/// Why an entry is left out, if it is: what operating systems add to a zip on their own, and
/// hidden files, which the user neither sees nor means to upload.
fn junk(rel: &Path) -> Option<&'static str> {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    let last = parts.last()?;
    if parts.iter().any(|p| p == "__MACOSX") {
        Some("macOS resource data (__MACOSX)")
    } else if last == ".DS_Store" {
        Some("macOS folder settings (.DS_Store)")
    } else if last.eq_ignore_ascii_case("Thumbs.db") || last.eq_ignore_ascii_case("ehthumbs.db") {
        Some("Windows thumbnail cache (Thumbs.db)")
    } else if last.eq_ignore_ascii_case("desktop.ini") {
        Some("Windows folder settings (desktop.ini)")
    } else if parts.iter().any(|p| p.starts_with('.')) {
        Some("hidden file or folder")
    } else {
        None
    }
}

/// Records `rel` as taken, refusing a second entry for the same path and a file where a folder
/// is needed (or the other way round): either way the second write would silently replace or
/// break the first.
fn claim(
    claimed: &mut HashMap<PathBuf, Kind>,
    rel: &Path,
    kind: Kind,
    shown: &str,
) -> Result<(), Refusal> {
    let duplicate = || Refusal::Duplicate {
        name: shown.to_owned(),
    };
    match (claimed.get(rel), kind) {
        (Some(Kind::Dir), Kind::Dir) => return Ok(()),
        (Some(_), _) => return Err(duplicate()),
        (None, _) => {}
    }
    // Deepest folder first; a folder already claimed had its own parents claimed with it, so
    // the walk stops there and the whole check stays linear in the size of the directory.
    for folder in rel.ancestors().skip(1) {
        if folder.as_os_str().is_empty() {
            break;
        }
        match claimed.get(folder) {
            Some(Kind::Dir) => break,
            Some(Kind::File) => return Err(duplicate()),
            None => {
                claimed.insert(folder.to_path_buf(), Kind::Dir);
            }
        }
    }
    claimed.insert(rel.to_path_buf(), kind);
    Ok(())
}

/// Creates the folders of `rel` under `dest` one by one, so that each one made is known and can
/// be removed again; returns the deepest.
fn make_dirs(
    dest: &Path,
    rel: &Path,
    shown: &str,
    undo: &mut Undo<'_>,
) -> Result<PathBuf, Refusal> {
    let mut at = dest.to_path_buf();
    for part in rel.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            // `symlink_metadata` does not follow links: a link here is not a folder.
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(Refusal::Duplicate {
                    name: shown.to_owned(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&at).map_err(|source| Refusal::Io {
                    what: format!("\"{shown}\""),
                    source,
                })?;
                undo.made.push(at.clone());
            }
            Err(source) => {
                return Err(Refusal::Io {
                    what: format!("\"{shown}\""),
                    source,
                });
            }
        }
    }
    Ok(at)
}

/// Removes what this call made unless it finished: the caller refuses the whole upload, so
/// nothing of it may stay. A guard rather than a cleanup call, so that a panic cleans up too.
struct Undo<'a> {
    dest: &'a Path,
    /// Files (or their part files) and folders, in the order made.
    made: Vec<PathBuf>,
    keep: bool,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for path in self.made.iter().rev() {
            match fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() => {
                    let _ = fs::remove_dir(path);
                }
                Ok(_) => {
                    let _ = fs::remove_file(path);
                }
                Err(_) => {}
            }
        }
        // `dest` was empty when we began, so whatever is still in it came from this call.
        // `remove_dir_all` does not follow links.
        if let Ok(left) = fs::read_dir(self.dest) {
            for item in left.flatten() {
                let path = item.path();
                let _ = match item.file_type() {
                    Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
                    _ => fs::remove_file(&path),
                };
            }
        }
    }
}

/// Refuses to unpack into a folder that holds anything: undoing a refusal empties `dest`, which
/// must not take anything of the caller's with it.
fn ensure_empty(dest: &Path) -> Result<(), Refusal> {
    let what = || "the upload folder".to_owned();
    let mut items = fs::read_dir(dest).map_err(|source| Refusal::Io {
        what: what(),
        source,
    })?;
    if items.next().is_some() {
        let source = io::Error::new(
            io::ErrorKind::DirectoryNotEmpty,
            "the folder to unpack into is not empty",
        );
        return Err(Refusal::Io {
            what: what(),
            source,
        });
    }
    Ok(())
}

/// Counts the bytes really unpacked, across the whole archive.
struct Meter<'l> {
    limits: &'l Limits,
    /// The packed size an entry declares is a claim too; it cannot honestly exceed the archive.
    archive_len: u64,
    total: u64,
}

impl Meter<'_> {
    /// Copies one entry, refusing before writing the chunk that would pass a limit, so that
    /// what is on disk never exceeds them.
    fn copy(
        &mut self,
        from: &mut impl Read,
        to: &mut impl Write,
        shown: &str,
        packed: u64,
        buf: &mut [u8],
    ) -> Result<u64, Refusal> {
        let limits = self.limits;
        let cap = ratio_cap(limits.max_ratio, packed.min(self.archive_len));
        let mut written: u64 = 0;
        loop {
            let n = match from.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let source = ZipError::Io(e);
                    return Err(Refusal::Damaged {
                        name: shown.to_owned(),
                        source,
                    });
                }
            };
            let n64 = n as u64;
            let entry = written.saturating_add(n64);
            if entry > limits.max_entry_bytes {
                return Err(Refusal::EntryTooLarge {
                    name: shown.to_owned(),
                    max: limits.max_entry_bytes,
                });
            }
            if self.total.saturating_add(n64) > limits.max_total_bytes {
                return Err(Refusal::TotalTooLarge {
                    max: limits.max_total_bytes,
                });
            }
            if entry > cap {
                return Err(Refusal::Ratio {
                    name: shown.to_owned(),
                    ratio: limits.max_ratio,
                });
            }
            to.write_all(&buf[..n]).map_err(|source| Refusal::Io {
                what: format!("\"{shown}\""),
                source,
            })?;
            written = entry;
            self.total += n64;
        }
        Ok(written)
    }
}

/// Most bytes an entry of `packed` bytes may unpack to.
fn ratio_cap(max_ratio: u64, packed: u64) -> u64 {
    max_ratio
        .saturating_mul(packed)
        .saturating_add(RATIO_ALLOWANCE)
}

/// A name as it may appear in a message: control and text-direction characters (which can
/// forge lines or make `gpj.exe` read as `exe.jpg`) become '?', and long names are cut.
fn shown(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == SHOWN_CHARS {
            out.push('…');
            break;
        }
        let direction = matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        );
        out.push(if c.is_control() || direction { '?' } else { c });
    }
    out
}

/// Sizes as users read them: "20 GiB", "1.5 MiB".
fn human(bytes: u64) -> String {
    for (unit, name) in [(GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")] {
        if bytes >= unit {
            return if bytes.is_multiple_of(unit) {
                format!("{} {name}", bytes / unit)
            } else {
                format!("{:.1} {name}", bytes as f64 / unit as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// Fuzz entry point: unpacks `data` as if it were an upload, with small limits, and checks what
/// must hold for any input. Panics (which is how a fuzzer notices) if extraction panics, writes
/// outside its folder, leaves anything behind after a refusal, or reports other bytes than it
/// wrote.
// In a binary crate only the tests (and a fuzz harness built with them) call this.
#[cfg_attr(not(test), allow(dead_code))]
pub fn fuzz_one(data: &[u8]) -> Result<(), String> {
    let limits = Limits {
        max_entries: 64,
        max_total_bytes: 8 * MIB,
        max_entry_bytes: 8 * MIB,
        max_ratio: 200,
    };
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let zip_path = tmp.path().join("upload.zip");
    fs::write(&zip_path, data).expect("the fuzz input written");
    let fence = tmp.path().join("a");
    let dest = fence.join("dest");
    fs::create_dir_all(&dest).expect("the folder to unpack into");

    let result = extract(&zip_path, &dest, &limits);

    assert_eq!(
        names_in(&fence),
        ["dest"],
        "something was written beside dest"
    );
    assert_eq!(
        names_in(tmp.path()),
        ["a", "upload.zip"],
        "something was written outside"
    );
    let mut on_disk = Vec::new();
    let bytes = walk(&dest, Path::new(""), &mut on_disk);
    match result {
        Err(refusal) => {
            assert!(
                on_disk.is_empty() && names_in(&dest).is_empty(),
                "left behind: {refusal}"
            );
            assert!(
                !refusal.to_string().contains('\n'),
                "a message of more than one line"
            );
            Err(refusal.to_string())
        }
        Ok(extracted) => {
            assert_eq!(
                bytes, extracted.bytes,
                "bytes on disk differ from those reported"
            );
            assert!(extracted.bytes <= limits.max_total_bytes);
            let mut listed = extracted.files.clone();
            listed.sort();
            on_disk.sort();
            assert_eq!(listed, on_disk, "files on disk differ from those reported");
            Ok(())
        }
    }
}

/// The names in a folder, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("a readable folder")
        .map(|item| {
            item.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

/// Adds the plain files under `dir` to `files` (relative to the walk's start) and returns their
/// total size; panics on anything that is neither a file nor a folder, or a part file left over.
fn walk(dir: &Path, rel: &Path, files: &mut Vec<PathBuf>) -> u64 {
    let mut bytes = 0;
    for item in fs::read_dir(dir).expect("a readable folder") {
        let item = item.expect("a folder entry");
        let meta = fs::symlink_metadata(item.path()).expect("metadata");
        let name = rel.join(item.file_name());
        if meta.is_dir() {
            bytes += walk(&item.path(), &name, files);
        } else {
            assert!(meta.is_file(), "not a plain file: {}", name.display());
            let part = item.file_name().to_string_lossy().starts_with(".unzip-");
            assert!(!part, "a part file left over: {}", name.display());
            bytes += meta.len();
            files.push(name);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::sync::OnceLock;
    use zip::CompressionMethod;
    use zip::write::{SimpleFileOptions, ZipWriter};

    /// An entry for `build`: a name ending in '/' is a folder.
    type Entry<'a> = (&'a str, &'a [u8]);

    fn deflated() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Deflated)
    }

    fn stored() -> SimpleFileOptions {
        SimpleFileOptions::default().compression_method(CompressionMethod::Stored)
    }

    fn build(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        for &(name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(name, deflated()).unwrap();
            } else {
                w.start_file(name, deflated()).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    /// Incompressible bytes, like a JPEG's.
    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut rng = Rng(seed | 1);
        (0..len).map(|_| rng.next() as u8).collect()
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Where each entry's headers start: (local header, central directory header).
    fn headers(zip: &[u8]) -> Vec<(usize, usize)> {
        let eocd = zip.len() - 22;
        assert_eq!(
            &zip[eocd..eocd + 4],
            b"PK\x05\x06",
            "a zip without a comment"
        );
        let count = u16::from_le_bytes([zip[eocd + 10], zip[eocd + 11]]) as usize;
        let mut at = u32::from_le_bytes(zip[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(&zip[at..at + 4], b"PK\x01\x02");
            let u16_at = |o: usize| u16::from_le_bytes([zip[at + o], zip[at + o + 1]]) as usize;
            let local = u32::from_le_bytes(zip[at + 42..at + 46].try_into().unwrap()) as usize;
            out.push((local, at));
            at += 46 + u16_at(28) + u16_at(30) + u16_at(32);
        }
        out
    }

    fn put_u16(zip: &mut [u8], at: usize, v: u16) {
        zip[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put_u32(zip: &mut [u8], at: usize, v: u32) {
        zip[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Renames entry `index` in both of its headers; the new name must be as long as the old.
    fn rename(zip: &mut [u8], index: usize, new: &str) {
        let (local, central) = headers(zip)[index];
        let len = u16::from_le_bytes([zip[local + 26], zip[local + 27]]) as usize;
        assert_eq!(len, new.len(), "placeholder and name must be as long");
        zip[local + 30..local + 30 + len].copy_from_slice(new.as_bytes());
        zip[central + 46..central + 46 + len].copy_from_slice(new.as_bytes());
    }

    /// The upload at tmp/upload.zip, unpacked into tmp/a/dest, so that a write beside dest
    /// (tmp/a) or beside the upload (tmp) shows.
    struct Fixture {
        tmp: tempfile::TempDir,
        zip: PathBuf,
        dest: PathBuf,
    }

    fn fixture(bytes: &[u8]) -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let zip = tmp.path().join("upload.zip");
        fs::write(&zip, bytes).unwrap();
        let dest = tmp.path().join("a").join("dest");
        fs::create_dir_all(&dest).unwrap();
        Fixture { tmp, zip, dest }
    }

    fn run(bytes: &[u8], limits: &Limits) -> (Fixture, Result<Extracted, Refusal>) {
        let fx = fixture(bytes);
        let result = extract(&fx.zip, &fx.dest, limits);
        (fx, result)
    }

    /// Nothing on disk changed but the upload itself.
    fn assert_untouched(fx: &Fixture) {
        assert_eq!(
            names_in(&fx.dest),
            Vec::<String>::new(),
            "dest is not empty"
        );
        assert_eq!(names_in(&fx.tmp.path().join("a")), ["dest"]);
        assert_eq!(names_in(fx.tmp.path()), ["a", "upload.zip"]);
    }

    fn one_line(refusal: &Refusal) -> String {
        let text = refusal.to_string();
        assert!(!text.contains('\n'), "{text}");
        text
    }

    #[test]
    fn a_normal_album_unpacks_and_junk_is_skipped() {
        let photo1 = noise(100_000, 1);
        let photo2 = noise(30_000, 2);
        let cover = noise(5_000, 3);
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        w.add_directory("Album/", deflated()).unwrap();
        w.start_file("Album/2019/IMG_0001.jpg", deflated()).unwrap();
        w.write_all(&photo1).unwrap();
        w.start_file("Album/2019/IMG_0002.jpg", stored()).unwrap();
        w.write_all(&photo2).unwrap();
        w.start_file("__MACOSX/Album/._cover.png", deflated())
            .unwrap();
        w.write_all(b"resource fork").unwrap();
        w.start_file("Album/cover.png", deflated()).unwrap();
        w.write_all(&cover).unwrap();
        w.start_file("Album/.DS_Store", deflated()).unwrap();
        w.write_all(b"finder").unwrap();
        w.start_file("Album/2019/Thumbs.db", deflated()).unwrap();
        w.write_all(b"thumbs").unwrap();
        w.add_directory("Album/empty/", deflated()).unwrap();
        // A zip inside is just a file: not opened, not recursed into.
        w.start_file("Album/old.zip", stored()).unwrap();
        w.write_all(&build(&[("x.jpg", b"x")])).unwrap();
        let zip = w.finish().unwrap().into_inner();

        let (fx, result) = run(&zip, &Limits::default());
        let got = result.unwrap();
        let want: Vec<PathBuf> = [
            "Album/2019/IMG_0001.jpg",
            "Album/2019/IMG_0002.jpg",
            "Album/cover.png",
            "Album/old.zip",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got.files, want);
        assert_eq!(
            fs::read(fx.dest.join("Album/2019/IMG_0001.jpg")).unwrap(),
            photo1
        );
        assert_eq!(
            fs::read(fx.dest.join("Album/2019/IMG_0002.jpg")).unwrap(),
            photo2
        );
        assert_eq!(fs::read(fx.dest.join("Album/cover.png")).unwrap(), cover);
        let nested = fs::metadata(fx.dest.join("Album/old.zip")).unwrap().len();
        assert_eq!(
            got.bytes,
            (photo1.len() + photo2.len() + cover.len()) as u64 + nested
        );
        assert!(fx.dest.join("Album/empty").is_dir());
        let skipped: Vec<&str> = got.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "__MACOSX/Album/._cover.png",
                "Album/.DS_Store",
                "Album/2019/Thumbs.db"
            ]
        );
        assert!(got.skipped[0].1.contains("macOS"));
        assert!(!fx.dest.join("__MACOSX").exists());
        assert!(!fx.dest.join("Album/.DS_Store").exists());
        // Exactly the listed files are on disk, no part files.
        let mut on_disk = Vec::new();
        assert_eq!(walk(&fx.dest, Path::new(""), &mut on_disk), got.bytes);
        on_disk.sort();
        assert_eq!(on_disk, want);
        assert_eq!(names_in(&fx.tmp.path().join("a")), ["dest"]);
    }

    #[test]
    fn a_streamed_zip_with_data_descriptors_unpacks() {
        // What macOS's Archive Utility and streaming zippers write: sizes after the data,
        // zeros in the local headers.
        let photo = noise(70_000, 6);
        let mut w = ZipWriter::new_stream(Vec::new());
        w.start_file("Trip/IMG_1.jpg", deflated()).unwrap();
        w.write_all(&photo).unwrap();
        w.start_file("Trip/notes.txt", deflated()).unwrap();
        w.write_all(&b"grandma's house ".repeat(100)).unwrap();
        let zip = w.finish().unwrap().into_inner();
        let (local, _) = headers(&zip)[0];
        assert_ne!(zip[local + 6] & 8, 0, "no data descriptor was written");
        let (fx, result) = run(&zip, &Limits::default());
        let got = result.unwrap();
        assert_eq!(got.files.len(), 2);
        assert_eq!(fs::read(fx.dest.join("Trip/IMG_1.jpg")).unwrap(), photo);
        assert_eq!(got.bytes, 70_000 + 1600);
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        // ZipWriter may refuse or clean such names, so they are patched over placeholders of the
        // same length, in both headers.
        let cases = [
            "../evil.jpg",
            "/etc/ddcolor-unzip-evil.jpg",
            "a/../../evil.jpg",
            "..\\evil.jpg",
            "a\\..\\..\\..\\evil.jpg",
            "C:evil.jpg",
            "C:/evil.jpg",
            "a/../b.jpg",
            "\\\\?\\C:",
            "bad\nname.jpg",
        ];
        for evil in cases {
            let placeholder = "x".repeat(evil.len());
            let mut zip = build(&[("ok.jpg", b"fine"), (&placeholder, b"evil")]);
            rename(&mut zip, 1, evil);
            let (fx, result) = run(&zip, &Limits::default());
            match result {
                Err(r @ Refusal::UnsafePath { .. }) => {
                    one_line(&r);
                }
                other => panic!("{evil:?}: {other:?}"),
            }
            assert_untouched(&fx);
        }
        assert!(!Path::new("/etc/ddcolor-unzip-evil.jpg").exists());
    }

    #[test]
    fn links_are_refused_and_never_made() {
        for name in ["photo.jpg", "2019/photo.jpg", "folder/"] {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            w.start_file("first.jpg", deflated()).unwrap();
            w.write_all(b"first").unwrap();
            w.add_symlink(name, "/etc/passwd", SimpleFileOptions::default())
                .unwrap();
            let zip = w.finish().unwrap().into_inner();
            let (fx, result) = run(&zip, &Limits::default());
            assert!(
                matches!(result, Err(Refusal::Link { .. })),
                "{name}: {result:?}"
            );
            assert_untouched(&fx);
        }
    }

    #[test]
    fn too_many_entries_are_refused_before_anything_is_written() {
        let names: Vec<String> = (0..6).map(|i| format!("p{i}.jpg")).collect();
        let entries: Vec<Entry<'_>> = names.iter().map(|n| (n.as_str(), &b"jpeg"[..])).collect();
        let limits = Limits {
            max_entries: 5,
            ..Limits::default()
        };
        let (fx, result) = run(&build(&entries), &limits);
        match result {
            Err(Refusal::TooManyEntries { count: 6, max: 5 }) => {}
            other => panic!("{other:?}"),
        }
        assert_untouched(&fx);
        // Five is fine.
        let (_fx, result) = run(&build(&entries[..5]), &limits);
        assert_eq!(result.unwrap().files.len(), 5);
    }

    /// 50 MB of zeros, deflated to about 50 kB, built once.
    fn bomb() -> &'static [u8] {
        static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
        BOMB.get_or_init(|| {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            w.start_file("IMG_0001.jpg", deflated()).unwrap();
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..50 {
                w.write_all(&zeros).unwrap();
            }
            w.finish().unwrap().into_inner()
        })
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let zip = bomb();
        assert!(zip.len() < 200_000, "{} bytes", zip.len());
        let limits = Limits {
            max_ratio: 200,
            ..Limits::default()
        };
        let (fx, result) = run(zip, &limits);
        match &result {
            Err(r @ Refusal::Ratio { ratio: 200, .. }) => {
                assert!(one_line(r).contains("IMG_0001.jpg"));
            }
            other => panic!("{other:?}"),
        }
        assert_untouched(&fx);
    }

    #[test]
    fn the_byte_counter_stops_a_bomb_whose_headers_do_not_give_it_away() {
        // With the early checks of the declared sizes off, everything rests on the counter.
        let limits = Limits {
            max_ratio: 200,
            ..Limits::default()
        };
        let fx = fixture(bomb());
        let result = extract_with(&fx.zip, &fx.dest, &limits, false);
        assert!(matches!(result, Err(Refusal::Ratio { .. })), "{result:?}");
        assert_untouched(&fx);

        // Without the ratio, the entry limit stops it; without both, the total.
        let limits = Limits {
            max_ratio: u64::MAX,
            max_entry_bytes: 3 * MIB,
            ..Limits::default()
        };
        let result = extract_with(&fx.zip, &fx.dest, &limits, false);
        assert!(
            matches!(result, Err(Refusal::EntryTooLarge { .. })),
            "{result:?}"
        );
        assert_untouched(&fx);
        let limits = Limits {
            max_ratio: u64::MAX,
            max_total_bytes: 3 * MIB,
            ..Limits::default()
        };
        let result = extract_with(&fx.zip, &fx.dest, &limits, false);
        assert!(
            matches!(result, Err(Refusal::TotalTooLarge { .. })),
            "{result:?}"
        );
        assert_untouched(&fx);
    }

    #[test]
    fn a_bomb_that_lies_about_its_size_is_still_stopped() {
        // Declared 1000 bytes in both headers; the data still inflates to 50 MB. The early
        // checks believe the lie, so the data is read: zip 9 fails the read once it passes the
        // declared size, and that comes out as a damaged entry. Nothing may stay on disk.
        let mut zip = bomb().to_vec();
        let (local, central) = headers(&zip)[0];
        put_u32(&mut zip, local + 22, 1000);
        put_u32(&mut zip, central + 24, 1000);
        let (fx, result) = run(&zip, &Limits::default());
        assert!(matches!(result, Err(Refusal::Damaged { .. })), "{result:?}");
        assert_untouched(&fx);

        // A lie that still looks like a bomb (5 MB declared against 50 kB packed: 100:1 passes
        // the early check of a 200:1 limit, but the real 1000:1 does not) is stopped either by
        // the counter or by the library's own check of the declared size, whichever comes first.
        let mut zip = bomb().to_vec();
        put_u32(&mut zip, local + 22, 5_000_000);
        put_u32(&mut zip, central + 24, 5_000_000);
        let (fx, result) = run(&zip, &Limits::default());
        assert!(
            matches!(result, Err(Refusal::Ratio { .. } | Refusal::Damaged { .. })),
            "{result:?}"
        );
        assert_untouched(&fx);
    }

    #[test]
    fn the_total_and_entry_limits_hold_across_entries() {
        let parts: Vec<Vec<u8>> = (0..4).map(|i| noise(300_000, 10 + i)).collect();
        let names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"];
        let entries: Vec<Entry<'_>> = names
            .iter()
            .zip(&parts)
            .map(|(n, p)| (*n, p.as_slice()))
            .collect();
        let zip = build(&entries);
        let limits = Limits {
            max_total_bytes: 1_000_000,
            ..Limits::default()
        };
        for use_declared in [true, false] {
            let fx = fixture(&zip);
            let result = extract_with(&fx.zip, &fx.dest, &limits, use_declared);
            match &result {
                Err(r @ Refusal::TotalTooLarge { max: 1_000_000 }) => {
                    assert!(one_line(r).contains("upload the album in parts"));
                }
                other => panic!("{other:?}"),
            }
            assert_untouched(&fx);
        }
        let limits = Limits {
            max_entry_bytes: 200_000,
            ..Limits::default()
        };
        for use_declared in [true, false] {
            let fx = fixture(&zip);
            let result = extract_with(&fx.zip, &fx.dest, &limits, use_declared);
            assert!(
                matches!(&result, Err(Refusal::EntryTooLarge { name, max: 200_000 }) if name == "a.jpg"),
                "{result:?}"
            );
            assert_untouched(&fx);
        }
        // At the limit exactly is fine.
        let limits = Limits {
            max_total_bytes: 1_200_000,
            ..Limits::default()
        };
        let (_fx, result) = run(&zip, &limits);
        assert_eq!(result.unwrap().bytes, 1_200_000);
    }

    #[test]
    fn what_is_not_a_zip_is_refused_without_a_panic() {
        let good = build(&[("a.jpg", &noise(10_000, 5)), ("b.jpg", b"b")]);
        let inputs: Vec<Vec<u8>> = vec![
            noise(5_000, 7),
            Vec::new(),
            good[..good.len() / 2].to_vec(),
            good[..good.len() - 5].to_vec(),
            b"PK\x05\x06".to_vec(),
        ];
        for input in inputs {
            let (fx, result) = run(&input, &Limits::default());
            match &result {
                Err(r @ (Refusal::NotAZip(_) | Refusal::Io { .. })) => {
                    one_line(r);
                }
                other => panic!("{} bytes: {other:?}", input.len()),
            }
            assert_untouched(&fx);
        }
        // A missing upload is our fault, not the user's.
        let fx = fixture(b"");
        let result = extract(
            &fx.tmp.path().join("missing.zip"),
            &fx.dest,
            &Limits::default(),
        );
        assert!(
            result.as_ref().is_err_and(Refusal::is_server_fault),
            "{result:?}"
        );
    }

    #[test]
    fn data_damaged_inside_an_entry_is_refused_and_undone() {
        let photo = noise(50_000, 9);
        let mut zip = build(&[("a.jpg", b"first"), ("b.jpg", &photo)]);
        let (local, _) = headers(&zip)[1];
        zip[local + 30 + 5 + 1000] ^= 0xff; // inside b.jpg's data: fails its CRC or inflate
        let (fx, result) = run(&zip, &Limits::default());
        assert!(matches!(&result, Err(Refusal::Damaged { name, .. }) if name == "b.jpg"));
        assert_untouched(&fx);
    }

    #[test]
    fn two_entries_for_one_path_are_refused() {
        let (fx, result) = run(
            &build(&[("a.jpg", b"1"), ("./a.jpg", b"2")]),
            &Limits::default(),
        );
        assert!(matches!(&result, Err(Refusal::Duplicate { name }) if name == "./a.jpg"));
        assert_untouched(&fx);

        // The very same raw name twice.
        let mut zip = build(&[("a.jpg", b"1"), ("b.jpg", b"2")]);
        rename(&mut zip, 1, "a.jpg");
        let (fx, result) = run(&zip, &Limits::default());
        assert!(matches!(result, Err(Refusal::DuplicateNames)), "{result:?}");
        assert_untouched(&fx);

        // A file, and a folder of the same name, either way round.
        for entries in [
            [("a", &b"1"[..]), ("a/b.jpg", b"2")],
            [("a/b.jpg", b"2"), ("a", b"1")],
        ] {
            let (fx, result) = run(&build(&entries), &Limits::default());
            assert!(
                matches!(result, Err(Refusal::Duplicate { .. })),
                "{result:?}"
            );
            assert_untouched(&fx);
        }

        // A folder listed twice (under two spellings), or after its files, is fine.
        let (_fx, result) = run(
            &build(&[
                ("a/", b""),
                ("a/b.jpg", b"2"),
                ("./a/", b""),
                ("c/d.jpg", b"3"),
                ("c/", b""),
            ]),
            &Limits::default(),
        );
        assert_eq!(result.unwrap().files.len(), 2);
    }

    #[test]
    fn encrypted_and_unsupported_entries_are_refused() {
        let mut zip = build(&[("a.jpg", b"1"), ("secret.jpg", b"2")]);
        let (local, central) = headers(&zip)[1];
        put_u16(&mut zip, local + 6, 1);
        put_u16(&mut zip, central + 8, 1);
        let (fx, result) = run(&zip, &Limits::default());
        match &result {
            Err(r @ Refusal::Encrypted { name }) if name == "secret.jpg" => {
                assert!(one_line(r).contains("password"));
            }
            other => panic!("{other:?}"),
        }
        assert_untouched(&fx);

        for (method, label) in [
            (12, "Bzip2"),
            (14, "Lzma"),
            (93, "Zstd"),
            (99, "Aes"),
            (77, "Unknown"),
        ] {
            let mut zip = build(&[("a.jpg", b"1"), ("b.jpg", b"2")]);
            let (local, central) = headers(&zip)[1];
            put_u16(&mut zip, local + 8, method);
            put_u16(&mut zip, central + 10, method);
            let (fx, result) = run(&zip, &Limits::default());
            assert!(
                matches!(&result, Err(Refusal::Unsupported { method, .. }) if method == label),
                "{label}: {result:?}"
            );
            assert_untouched(&fx);
        }
    }

    #[test]
    fn entries_sharing_packed_data_are_refused() {
        let photo = noise(20_000, 4);
        let mut zip = build(&[("a.jpg", &photo), ("b.jpg", &photo)]);
        // b.jpg's directory entry now points at a.jpg's data, as in overlapping-entry bombs.
        let (_, central) = headers(&zip)[1];
        put_u32(&mut zip, central + 42, 0);
        let (fx, result) = run(&zip, &Limits::default());
        assert!(matches!(result, Err(Refusal::Overlapping)), "{result:?}");
        assert_untouched(&fx);
    }

    #[test]
    fn a_folder_that_is_not_empty_is_not_touched() {
        let fx = fixture(&build(&[("a.jpg", b"1")]));
        fs::write(fx.dest.join("mine.txt"), b"keep").unwrap();
        let result = extract(&fx.zip, &fx.dest, &Limits::default());
        assert!(
            result.as_ref().is_err_and(Refusal::is_server_fault),
            "{result:?}"
        );
        assert_eq!(fs::read(fx.dest.join("mine.txt")).unwrap(), b"keep");
        assert_eq!(names_in(&fx.dest), ["mine.txt"]);
    }

    #[test]
    fn messages_are_one_plain_line() {
        let long = format!("{}\u{202E}gpj.exe\r\nx", "a".repeat(300));
        let cases = [
            Refusal::TotalTooLarge {
                max: Limits::default().max_total_bytes,
            },
            Refusal::EntryTooLarge {
                name: shown(&long),
                max: 3 * MIB / 2,
            },
            Refusal::UnsafePath {
                name: shown("evil\n\u{202E}gpj.exe"),
            },
        ];
        let texts: Vec<String> = cases.iter().map(one_line).collect();
        assert!(
            texts[0].contains("more than 20 GiB (the limit)"),
            "{}",
            texts[0]
        );
        assert!(
            texts[1].contains("1.5 MiB") && texts[1].contains('…'),
            "{}",
            texts[1]
        );
        assert!(texts[1].chars().count() < 300, "{}", texts[1]);
        assert!(texts[2].contains("evil??gpj.exe"), "{}", texts[2]);
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(2 * GIB), "2 GiB");
    }

    #[test]
    fn fuzz_one_holds_on_mutated_archives() {
        let seed_zip = {
            let mut w = ZipWriter::new(Cursor::new(Vec::new()));
            w.add_directory("Album/", deflated()).unwrap();
            w.start_file("Album/a.jpg", deflated()).unwrap();
            w.write_all(&noise(2_000, 21)).unwrap();
            w.start_file("Album/b.txt", deflated()).unwrap();
            w.write_all(&b"old photo ".repeat(400)).unwrap();
            w.start_file("c.jpg", stored()).unwrap();
            w.write_all(&noise(500, 22)).unwrap();
            w.start_file(".DS_Store", stored()).unwrap();
            w.write_all(b"x").unwrap();
            w.finish().unwrap().into_inner()
        };
        let _ = fuzz_one(&seed_zip);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..400 {
            let mut data = seed_zip.clone();
            for _ in 0..1 + rng.below(3) {
                if data.is_empty() {
                    break;
                }
                // Half the time aim at the central directory, where the structure lives.
                let at = if rng.next().is_multiple_of(2) {
                    data.len() * 3 / 4 + rng.below(data.len() / 4)
                } else {
                    rng.below(data.len())
                };
                match rng.below(5) {
                    0 => data[at] ^= 1 << rng.below(8),
                    1 => data[at] = rng.next() as u8,
                    2 => data.truncate(at),
                    3 => {
                        let len = 1 + rng.below(64).min(data.len() - at - 1);
                        let copy = data[at..at + len].to_vec();
                        let to = rng.below(data.len());
                        data.splice(to..to, copy);
                    }
                    _ => {
                        let values = [0u32, 1, 0xFFFF, 0xFFFF_FFFF, 0x7FFF_FFFF, 1 << 20];
                        let v = values[rng.below(values.len())].to_le_bytes();
                        let end = (at + 4).min(data.len());
                        data[at..end].copy_from_slice(&v[..end - at]);
                    }
                }
            }
            let _ = fuzz_one(&data);
        }
    }
}

#[cfg(test)]
#[path = "unzip_fuzz.rs"]
mod fuzz;
