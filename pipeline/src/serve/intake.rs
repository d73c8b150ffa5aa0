//! Uploads: a multipart request streamed to disk (never held in memory), counted against the
//! upload limit and the user's storage quota as it arrives, then sorted by what each file *is*
//! (its first bytes), not what it is called: photos become the album's items, a zip is
//! unpacked with limits (see [`super::unzip`]), a film becomes a film job, anything else is
//! left out with a note. A refused upload leaves nothing behind.

use std::path::{Path, PathBuf};

use axum::extract::Multipart;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use ddcolor_engine::io::is_image_path;

/// An uploaded workflow JSON's name inside the job's folder.
pub const WORKFLOW_FILE: &str = "workflow.json";
/// The largest workflow JSON accepted.
const MAX_WORKFLOW: usize = 1 << 20;
/// Deepest folder nesting kept from an uploaded folder's paths.
const MAX_DEPTH: usize = 16;
/// Film containers `ddcolor film` reads.
const FILM_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ogv", "ts", "mts", "m2ts", "flv",
    "wmv", "dv",
];

/// Why an upload was refused: the HTTP status and a message that says what to do.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: impl Into<String>) -> Refused {
    Refused {
        status,
        message: message.into(),
    }
}

/// A checked upload in its staging folder, ready to become a job.
pub struct Upload {
    /// `jobs/.incoming-RANDOM`: renamed to `jobs/ID` once the job exists.
    pub staging: PathBuf,
    pub kind: &'static str,
    pub name: String,
    pub items: Vec<String>,
    pub options: Value,
    pub bytes: u64,
    pub notes: Vec<String>,
}

/// The options a job may carry, checked against what the server has.
#[derive(Default)]
struct Options {
    preset: Option<String>,
    style: Option<String>,
    size: Option<u64>,
    model: Option<String>,
    upsample: Option<String>,
    name: Option<String>,
}

/// A path from the browser (a file name, or a folder upload's relative path) made safe: no
/// `..`, no absolute part, no hidden parts, no control characters, at most [`MAX_DEPTH`] deep.
pub fn clean_relative(name: &str) -> Option<String> {
    let parts: Vec<&str> = name
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty()
        || parts.len() > MAX_DEPTH
        || parts.iter().any(|p| {
            *p == ".." || p.starts_with('.') || p.len() > 255 || p.chars().any(char::is_control)
        })
    {
        return None;
    }
    Some(parts.join("/"))
}

/// The result's name for a film: its own container when `ddcolor film` writes it, else MKV.
pub fn film_output_name(film: &str) -> String {
    let path = Path::new(film);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "film".into());
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .filter(|e| matches!(e.as_str(), "mp4" | "mkv" | "webm"))
        .unwrap_or_else(|| "mkv".into());
    format!("{stem}_color.{ext}")
}

/// What a file is, from its first bytes.
#[derive(Debug, PartialEq)]
enum Sniffed {
    Photo,
    Zip,
    Film,
    Other,
}

fn sniff(head: &[u8], name: &str) -> Sniffed {
    let ext = Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Sniffed::Zip;
    }
    if image::guess_format(head).is_ok() {
        return Sniffed::Photo;
    }
    let film_magic = (head.len() >= 12 && &head[4..8] == b"ftyp")
        || head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3])
        || (head.starts_with(b"RIFF") && head.len() >= 12 && &head[8..12] == b"AVI ")
        || head.starts_with(&[0, 0, 1, 0xba])
        || head.starts_with(b"OggS")
        || head.starts_with(b"FLV")
        || (head.first() == Some(&0x47) && FILM_EXTENSIONS.contains(&ext.as_str()))
        || (head.len() >= 8 && &head[4..8] == b"moov")
        || head.starts_with(&[0x30, 0x26, 0xb2, 0x75]);
    if film_magic {
        return Sniffed::Film;
    }
    // Named as a photo but not recognisable: it goes in, and fails with the decoder's reason,
    // so the user sees which photo is damaged.
    if is_image_path(Path::new(name)) {
        return Sniffed::Photo;
    }
    Sniffed::Other
}

/// A name not yet in `taken`: `a.jpg`, else `a (2).jpg`, ...
fn unique(rel: String, taken: &std::collections::HashSet<String>) -> String {
    if !taken.contains(&rel) {
        return rel;
    }
    let p = Path::new(&rel);
    let stem = p
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = p
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let parent = p
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/"))
        .unwrap_or_default();
    (2..)
        .map(|n| format!("{parent}{stem} ({n}){ext}"))
        .find(|c| !taken.contains(c))
        .unwrap_or(rel)
}

/// Reads the multipart request into a staging folder under `jobs`, within `allowance` bytes
/// (the smaller of the upload limit and what is left of the user's quota).
pub async fn receive(
    mut multipart: Multipart,
    content_length: Option<u64>,
    jobs: &Path,
    allowance: u64,
    quota_left: u64,
    limits: &super::Limits,
    models: &[(String, bool)],
) -> Result<Upload, Refused> {
    let staging = jobs.join(format!(
        ".incoming-{}",
        super::accounts::random_hex(8).map_err(|e| refuse(500, e.to_string()))?
    ));
    let mut guard = Staging {
        path: staging.clone(),
        keep: false,
    };
    // Clearly too large by its declared length: refused before a byte is stored.
    if content_length.is_some_and(|n| n > allowance.saturating_add(DRAIN_LIMIT)) {
        return Err(over_limit(
            allowance,
            quota_left,
            limits,
            content_length.unwrap_or(0),
        ));
    }
    let result = receive_into(
        &mut multipart,
        &staging,
        allowance,
        quota_left,
        limits,
        models,
    )
    .await;
    // Kept only as a job: a refusal, or a request dropped half-way (a client gone, a server
    // stopping), removes what was stored.
    guard.keep = result.is_ok();
    // A request refused half-way is read to its end (it is small: see above) so the client,
    // still sending, gets the answer rather than a closed connection.
    if result.as_ref().is_err_and(|r| r.status == 413) && content_length.is_some() {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    }
    result
}

/// An upload's staging folder, removed when dropped unless it became a job.
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Notes kept per upload (files left out and why); the rest are counted.
const MAX_NOTES: usize = 100;

fn cap_notes(notes: &mut Vec<String>) {
    if notes.len() > MAX_NOTES {
        let more = notes.len() - MAX_NOTES;
        notes.truncate(MAX_NOTES);
        notes.push(format!("… and {more} more left out"));
    }
}

/// What is read past a limit to give the client its answer.
const DRAIN_LIMIT: u64 = 64 << 20;

fn over_limit(allowance: u64, quota_left: u64, limits: &super::Limits, bytes: u64) -> Refused {
    if allowance < quota_left {
        refuse(
            413,
            format!(
                "the upload is larger than {} (the server's limit per upload): upload the album in parts",
                human_bytes(allowance)
            ),
        )
    } else {
        refuse(
            413,
            format!(
                "this upload would pass your storage quota ({} left of {}, the upload is {}): delete finished jobs you have downloaded, then try again",
                human_bytes(quota_left),
                human_bytes(limits.quota_storage),
                human_bytes(bytes)
            ),
        )
    }
}

async fn receive_into(
    multipart: &mut Multipart,
    staging: &Path,
    allowance: u64,
    quota_left: u64,
    limits: &super::Limits,
    models: &[(String, bool)],
) -> Result<Upload, Refused> {
    let input = staging.join("in");
    tokio::fs::create_dir_all(&input)
        .await
        .map_err(|e| refuse(500, format!("cannot store the upload: {e}")))?;
    let mut opts = Options::default();
    let mut received: Vec<(String, Sniffed)> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    let mut bytes = 0u64;
    let mut notes = Vec::new();
    let mut workflow = false;
    let too_big = |bytes: u64| over_limit(allowance, quota_left, limits, bytes);
    let mut parts = 0usize;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| refuse(400, format!("the upload was cut off or malformed: {e}")))?
    {
        // Empty parts with refused names cost no bytes: they are counted instead.
        parts += 1;
        if parts > limits.max_files.saturating_mul(2).saturating_add(16) {
            return Err(refuse(
                413,
                format!(
                    "more than {} parts in one upload (the server's limit is {} files): upload the album in parts",
                    parts - 1,
                    limits.max_files
                ),
            ));
        }
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "files" | "file" => {
                let raw = field.file_name().unwrap_or("upload").to_string();
                let Some(rel) = clean_relative(&raw) else {
                    notes.push(format!(
                        "{raw}: a name that cannot be stored safely; left out"
                    ));
                    // Drain it: the rest of the request still counts.
                    while let Ok(Some(chunk)) = field.chunk().await {
                        bytes += chunk.len() as u64;
                        if bytes > allowance {
                            return Err(too_big(bytes));
                        }
                    }
                    continue;
                };
                if received.len() >= limits.max_files {
                    return Err(refuse(
                        413,
                        format!(
                            "more than {} files in one upload (the server's limit): upload the album in parts",
                            limits.max_files
                        ),
                    ));
                }
                let rel = unique(rel, &taken);
                // The file and its folders: a zip unpacked later gets a folder of its own.
                let mut prefix = rel.as_str();
                while let Some((parent, _)) = prefix.rsplit_once('/') {
                    taken.insert(parent.to_string());
                    prefix = parent;
                }
                taken.insert(rel.clone());
                let path = input.join(&rel);
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| refuse(500, format!("cannot store {rel}: {e}")))?;
                }
                let mut file = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| refuse(500, format!("cannot store {rel}: {e}")))?;
                let mut head = Vec::with_capacity(64);
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| refuse(400, format!("{rel}: the upload was cut off: {e}")))?
                {
                    bytes += chunk.len() as u64;
                    if bytes > allowance {
                        return Err(too_big(bytes));
                    }
                    if head.len() < 64 {
                        let take = (64 - head.len()).min(chunk.len());
                        head.extend_from_slice(&chunk[..take]);
                    }
                    file.write_all(&chunk)
                        .await
                        .map_err(|e| refuse(507, format!("cannot store {rel}: {e}")))?;
                }
                file.sync_all()
                    .await
                    .map_err(|e| refuse(507, format!("cannot store {rel}: {e}")))?;
                let kind = sniff(&head, &rel);
                if kind == Sniffed::Other {
                    notes.push(format!("{rel}: not a photo, a film or a zip; left out"));
                    let _ = tokio::fs::remove_file(&path).await;
                    continue;
                }
                received.push((rel, kind));
            }
            "workflow" => {
                let data = read_small(&mut field, MAX_WORKFLOW, "the workflow file").await?;
                if data.is_empty() {
                    continue;
                }
                let text = String::from_utf8(data).map_err(|_| {
                    refuse(
                        400,
                        "the workflow file is not text (a ComfyUI-API JSON file is expected)",
                    )
                })?;
                let path = staging.join(WORKFLOW_FILE);
                tokio::fs::write(&path, &text)
                    .await
                    .map_err(|e| refuse(500, format!("cannot store the workflow: {e}")))?;
                ddcolor_engine::workflow::Workflow::resolve(&path.display().to_string())
                    .map_err(|e| refuse(400, format!("the workflow file cannot be used: {e}")))?;
                workflow = true;
            }
            "preset" | "style" | "size" | "model" | "upsample" | "name" | "csrf" => {
                let data = read_small(&mut field, 4096, &name).await?;
                let value = String::from_utf8_lossy(&data).trim().to_string();
                let value = (!value.is_empty()).then_some(value);
                match name.as_str() {
                    "preset" => opts.preset = value,
                    "style" => opts.style = value,
                    "size" => {
                        opts.size = match value.as_deref() {
                            None | Some("auto") => None,
                            Some(v) => Some(v.parse().map_err(|_| {
                                refuse(
                                    400,
                                    format!("bad size '{v}': use auto or a number such as 512"),
                                )
                            })?),
                        }
                    }
                    "model" => opts.model = value,
                    "upsample" => opts.upsample = value,
                    "name" => opts.name = value,
                    _ => {}
                }
            }
            other => {
                return Err(refuse(
                    400,
                    format!(
                        "unknown field '{other}' (expected files, preset, style, size, model, upsample, workflow, name)"
                    ),
                ));
            }
        }
    }
    // Zips unpacked in place of themselves, each into a folder of its own name.
    let mut items = Vec::new();
    let mut film = None;
    for (rel, kind) in received {
        match kind {
            Sniffed::Photo => items.push(rel),
            Sniffed::Film => {
                if film.is_some() {
                    return Err(refuse(
                        400,
                        "upload one film at a time (each film is a job of its own)",
                    ));
                }
                film = Some(rel);
            }
            Sniffed::Zip => {
                if allowance <= bytes {
                    return Err(too_big(bytes));
                }
                let zip_path = input.join(&rel);
                let folder = rel
                    .trim_end_matches(".zip")
                    .trim_end_matches(".ZIP")
                    .to_string();
                let folder = unique(folder, &taken);
                taken.insert(folder.clone());
                let dest = input.join(&folder);
                let zip_limits = super::unzip::Limits {
                    max_entries: limits.max_files,
                    max_total_bytes: allowance.saturating_sub(bytes),
                    ..super::unzip::Limits::default()
                };
                let (zp, d) = (zip_path.clone(), dest.clone());
                let unpacked = tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&d)?;
                    Ok::<_, std::io::Error>(super::unzip::extract(&zp, &d, &zip_limits))
                })
                .await
                .map_err(|e| refuse(500, format!("{rel}: {e}")))?
                .map_err(|e| refuse(500, format!("{rel}: {e}")))?;
                let unpacked = unpacked.map_err(|e| {
                    refuse(
                        if e.is_server_fault() { 500 } else { 400 },
                        format!("{rel}: {e}"),
                    )
                })?;
                let _ = tokio::fs::remove_file(&zip_path).await;
                bytes += unpacked.bytes;
                for (name, why) in &unpacked.skipped {
                    notes.push(format!("{rel}: {name}: {why}; left out"));
                }
                for f in unpacked.files {
                    let inner = format!("{folder}/{}", f.to_string_lossy());
                    let head = read_head(&input.join(&inner)).await;
                    match sniff(&head, &inner) {
                        Sniffed::Photo => items.push(inner),
                        _ => {
                            notes.push(format!("{inner}: not a photo; left out"));
                            let _ = tokio::fs::remove_file(input.join(&inner)).await;
                        }
                    }
                }
            }
            Sniffed::Other => {}
        }
    }
    if items.len() > limits.max_files {
        return Err(refuse(
            413,
            format!(
                "{} photos in one job, more than the server's limit of {}: upload the album in parts",
                items.len(),
                limits.max_files
            ),
        ));
    }
    cap_notes(&mut notes);
    let (kind, items) = match (film, items.is_empty()) {
        (Some(f), true) => ("film", vec![f]),
        (Some(_), false) => {
            return Err(refuse(
                400,
                "a film and photos in one upload: upload the film as a job of its own",
            ));
        }
        (None, false) => ("album", items),
        (None, true) => {
            let why = if notes.is_empty() {
                "no files were uploaded".to_string()
            } else {
                notes.join("; ")
            };
            return Err(refuse(400, format!("nothing to colorize: {why}")));
        }
    };
    let options = check_options(opts, workflow, kind, &items, models)?;
    // The originals are read-only from here on: nothing the job runs may change them.
    make_read_only(&input).await;
    let name = options["name"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default();
    Ok(Upload {
        staging: staging.to_path_buf(),
        kind,
        name,
        items,
        options,
        bytes,
        notes,
    })
}

fn check_options(
    o: Options,
    workflow: bool,
    kind: &str,
    items: &[String],
    models: &[(String, bool)],
) -> Result<Value, Refused> {
    let preset = match (o.preset.as_deref(), workflow) {
        (_, true) => Some("custom".to_string()),
        (None | Some("none") | Some("plain"), false) => None,
        (Some(p), false)
            if ddcolor_engine::workflow::PRESETS
                .iter()
                .any(|w| w.name == p) =>
        {
            Some(p.to_string())
        }
        (Some(p), false) => {
            return Err(refuse(
                400,
                format!(
                    "unknown preset '{p}' (choose none, {}, or upload a workflow file)",
                    ddcolor_engine::workflow::PRESETS
                        .iter()
                        .map(|w| w.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    if let Some(s) = o.style.as_deref().filter(|s| *s != "none") {
        s.parse::<ddcolor_engine::Style>()
            .map_err(|e| refuse(400, format!("bad style: {e}")))?;
    }
    if let Some(u) = o.upsample.as_deref().filter(|u| *u != "auto") {
        u.parse::<ddcolor_engine::Upsample>()
            .map_err(|e| refuse(400, format!("bad upsampling: {e}")))?;
    }
    if let Some(s) = o.size
        && (!(64..=2048).contains(&s) || s % 32 != 0)
    {
        return Err(refuse(
            400,
            format!("bad size {s}: use auto or a multiple of 32 from 64 to 2048"),
        ));
    }
    if let Some(m) = o.model.as_deref().filter(|m| *m != "default")
        && !models.iter().any(|(name, _)| name == m)
    {
        return Err(refuse(
            400,
            format!(
                "the model '{m}' is not installed here (installed: {})",
                models
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let name = o.name.unwrap_or_else(|| {
        let first = items.first().map(String::as_str).unwrap_or("upload");
        let top = first.split('/').next().unwrap_or(first);
        if items.len() == 1 || kind == "film" {
            first.rsplit('/').next().unwrap_or(first).to_string()
        } else if items.iter().all(|i| i.starts_with(&format!("{top}/"))) {
            top.to_string()
        } else {
            format!("{} photos", items.len())
        }
    });
    let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    Ok(json!({
        "name": name,
        "preset": preset,
        "style": o.style.filter(|s| s != "none"),
        "size": o.size,
        "model": o.model.filter(|m| m != "default"),
        "upsample": o.upsample.filter(|u| u != "auto"),
        "film": (kind == "film").then(|| items[0].clone()),
    }))
}

async fn read_small(
    field: &mut axum::extract::multipart::Field<'_>,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, Refused> {
    let mut data = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| refuse(400, format!("{what}: the upload was cut off: {e}")))?
    {
        data.extend_from_slice(&chunk);
        if data.len() > max {
            return Err(refuse(
                413,
                format!(
                    "{what} is larger than {} (the limit)",
                    human_bytes(max as u64)
                ),
            ));
        }
    }
    Ok(data)
}

async fn read_head(path: &Path) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut head = vec![0u8; 64];
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return Vec::new();
    };
    let n = f.read(&mut head).await.unwrap_or(0);
    head.truncate(n);
    head
}

async fn make_read_only(dir: &Path) {
    let dir = dir.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::PermissionsExt;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => stack.push(p),
                    Ok(t) if t.is_file() => {
                        let _ =
                            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400));
                    }
                    _ => {}
                }
            }
        }
    })
    .await;
}

/// Bytes of the files under `dir` (a job's originals, results and previews).
pub async fn folder_bytes(dir: &Path) -> u64 {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut total = 0;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                match e.metadata() {
                    Ok(m) if m.is_dir() => stack.push(e.path()),
                    Ok(m) => total += m.len(),
                    Err(_) => {}
                }
            }
        }
        total
    })
    .await
    .unwrap_or(0)
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: &[&str] = &["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_paths_are_made_safe() {
        assert_eq!(clean_relative("a.jpg").as_deref(), Some("a.jpg"));
        assert_eq!(
            clean_relative("album/2/a.jpg").as_deref(),
            Some("album/2/a.jpg")
        );
        assert_eq!(
            clean_relative("C:\\scans\\a.jpg").as_deref(),
            Some("C:/scans/a.jpg")
        );
        assert_eq!(clean_relative("../etc/passwd"), None);
        assert_eq!(clean_relative("/etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(clean_relative("a/.hidden/b.jpg"), None);
        assert_eq!(clean_relative(""), None);
        assert_eq!(clean_relative("a\u{7}.jpg"), None);
    }

    #[test]
    fn files_are_known_by_their_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n0000", "x.txt"), Sniffed::Photo);
        assert_eq!(sniff(b"PK\x03\x04rest", "album.jpg"), Sniffed::Zip);
        assert_eq!(sniff(b"\0\0\0\x18ftypisom", "clip.bin"), Sniffed::Film);
        assert_eq!(sniff(b"garbage", "broken.jpg"), Sniffed::Photo);
        assert_eq!(sniff(b"<html>", "notes.txt"), Sniffed::Other);
    }

    #[test]
    fn duplicate_names_get_a_number() {
        let mut taken = std::collections::HashSet::new();
        taken.insert("a/b.jpg".to_string());
        taken.insert("a/b (2).jpg".to_string());
        assert_eq!(unique("a/b.jpg".into(), &taken), "a/b (3).jpg");
        assert_eq!(unique("c.jpg".into(), &taken), "c.jpg");
    }
}
