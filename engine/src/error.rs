//! Engine errors. Each names the file it is about, so the runner can print one line per failure.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a readable image: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    #[error("{}: image is {width}x{height} ({} MP), above the limit of {} MP (raise it with --max-pixels)", path.display(), megapixels(*width as u64 * *height as u64), megapixels(*limit))]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: u64,
    },
    #[error("{}: unsupported output format '{ext}' (use .png, .jpg, .tif or .webp)", path.display())]
    UnsupportedOutput { path: PathBuf, ext: String },
    #[error("{}: could not write image: {reason}", path.display())]
    Encode { path: PathBuf, reason: String },
    /// The provenance does not fit where the format keeps metadata (JPEG: one APP1 segment).
    #[error("{}: the provenance metadata is {bytes} bytes, more than this format holds ({limit}); use --no-metadata or shorter settings", path.display())]
    MetadataTooLarge {
        path: PathBuf,
        bytes: usize,
        limit: usize,
    },
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    #[error("{}: model file not found", path.display())]
    ModelMissing { path: PathBuf },
    #[error("{}: not a DDColor model: {problem}; found {found}", path.display())]
    ModelContract {
        path: PathBuf,
        problem: String,
        found: String,
    },
    #[error("{}: could not load model: {reason}", path.display())]
    ModelLoad { path: PathBuf, reason: String },
    #[error("{}: {reason}", path.display())]
    InputSize { path: PathBuf, reason: String },
    #[error("{}: device: {reason}", path.display())]
    Device { path: PathBuf, reason: String },
    #[error("inference failed: {0}")]
    Inference(String),
    /// The device ran out of memory running the model: the plan may step S down and retry.
    #[error("inference failed: {0}")]
    OutOfMemory(String),
}

fn megapixels(p: u64) -> String {
    let mp = p as f64 / 1e6;
    if mp >= 10.0 {
        format!("{mp:.0}")
    } else if mp >= 0.1 || p == 0 {
        format!("{mp:.1}")
    } else {
        // Small limits (`--max-pixels 1000`) must not read "0.0 MP".
        format!("{mp:.6}").trim_end_matches('0').to_string()
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
