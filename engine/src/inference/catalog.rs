//! Which DDColor models exist and how one is found: an explicit choice (`--model`, the
//! element's `model` property), then `DDCOLOR_MODEL`, then the best variant present under
//! `models/`. Shared by the runner and the `ddcolorize` element so a name means the same file.

use std::path::{Path, PathBuf};

/// Why no model could be chosen; the message tells the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "model '{name}' ({how}) is not present: put ddcolor_{name}.onnx in models/ (see models/README.md) or give a path"
    )]
    NotPresent { name: String, how: String },
    #[error("{path}: model file not found ({how})")]
    FileNotFound { path: String, how: String },
    #[error("unknown model '{name}' ({how}): give a path to an .onnx file or one of {known}")]
    Unknown {
        name: String,
        how: String,
        known: String,
    },
    #[error(
        "no DDColor model found: download one (see models/README.md) into models/, give a model path, or set DDCOLOR_MODEL"
    )]
    NoneFound,
}

type Result<T> = std::result::Result<T, CatalogError>;

/// A released DDColor variant, best first (the order used when picking one automatically).
pub struct Variant {
    pub name: &'static str,
    pub encoder: &'static str,
    pub about: &'static str,
}

pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "modelscope",
        encoder: "ConvNeXt-L",
        about: "recommended: ImageNet + extra data",
    },
    Variant {
        name: "paper",
        encoder: "ConvNeXt-L",
        about: "the paper's ImageNet model",
    },
    Variant {
        name: "artistic",
        encoder: "ConvNeXt-L",
        about: "more vivid, artistic colours",
    },
    Variant {
        name: "paper_tiny",
        encoder: "ConvNeXt-T",
        about: "small and fast, paper model",
    },
];

/// Models the project generates for its tests and benchmarks (`models/generated/`).
pub const GENERATED: &[(&str, &str)] = &[
    ("test-dynamic", "test model, dynamic size (random colours)"),
    ("test-256", "test model, fixed 256 (random colours)"),
    ("test-512", "test model, fixed 512 (random colours)"),
    ("test-batch", "test model, dynamic batch (random colours)"),
    (
        "bench",
        "benchmark model, DDColor-tiny-like cost (random colours)",
    ),
];

/// Folders searched for models, in order, without duplicates.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("DDCOLOR_MODELS_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("models"));
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        // target/release/ddcolor inside the repository, and installed layouts.
        dirs.push(exe_dir.join("../../models"));
        dirs.push(exe_dir.join("../share/ddcolor/models"));
    }
    // The plugin's own place (loaded by gst-launch-1.0 from target/release or an installed
    // layout).
    if let Some(code_dir) = super::model::code_dir() {
        dirs.push(code_dir.join("../../models"));
        dirs.push(code_dir.join("../share/ddcolor/models"));
    }
    // Test builds only: a product build carries no path of the machine it was built on.
    #[cfg(debug_assertions)]
    dirs.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../models"
    )));
    let mut seen = Vec::new();
    dirs.into_iter()
        .filter(|d| match d.canonicalize() {
            Ok(c) if !seen.contains(&c) => {
                seen.push(c);
                true
            }
            _ => false,
        })
        .collect()
}

/// `ddcolor_<name>.onnx`, or `ddcolor_<name>_<anything>.onnx` (e.g. `_512`, `_fp16`), in `dir`.
fn variant_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(format!("ddcolor_{name}.onnx"));
    if exact.is_file() {
        return Some(exact);
    }
    let prefix = format!("ddcolor_{name}_");
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            p.extension().is_some_and(|e| e == "onnx")
                && stem.starts_with(&prefix)
                // `paper` must not pick up `paper_tiny`.
                && !VARIANTS.iter().any(|v| v.name != name && v.name.starts_with(name) && stem.starts_with(&format!("ddcolor_{}", v.name)))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

fn generated_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join("generated").join(format!("{name}.onnx"));
    p.is_file().then_some(p)
}

/// Where a known model name is, if present.
pub fn find_named(name: &str) -> Option<PathBuf> {
    let dirs = model_dirs();
    if VARIANTS.iter().any(|v| v.name == name) {
        dirs.iter().find_map(|d| variant_file(d, name))
    } else if GENERATED.iter().any(|(g, _)| *g == name) {
        dirs.iter().find_map(|d| generated_file(d, name))
    } else {
        None
    }
}

/// A model chosen for a run.
pub struct Chosen {
    pub path: PathBuf,
    /// How it was chosen, for the user.
    pub how: String,
    /// A generated test model: colours are random, the user should be told.
    pub is_test_model: bool,
}

fn is_generated(path: &Path) -> bool {
    path.parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "generated")
}

/// Resolves a path or a known name; `how` says where the choice came from, for messages.
pub fn resolve_spec(spec: &str, how: &str) -> Result<Chosen> {
    let as_path = PathBuf::from(spec);
    if as_path.is_file() {
        return Ok(Chosen {
            is_test_model: is_generated(&as_path),
            path: as_path,
            how: how.into(),
        });
    }
    let known =
        VARIANTS.iter().any(|v| v.name == spec) || GENERATED.iter().any(|(g, _)| *g == spec);
    if known {
        if let Some(path) = find_named(spec) {
            return Ok(Chosen {
                is_test_model: is_generated(&path),
                path,
                how: how.into(),
            });
        }
        return Err(CatalogError::NotPresent {
            name: spec.into(),
            how: how.into(),
        });
    }
    if spec.ends_with(".onnx") || spec.contains('/') {
        return Err(CatalogError::FileNotFound {
            path: spec.into(),
            how: how.into(),
        });
    }
    let names: Vec<&str> = VARIANTS
        .iter()
        .map(|v| v.name)
        .chain(GENERATED.iter().map(|g| g.0))
        .collect();
    Err(CatalogError::Unknown {
        name: spec.into(),
        how: how.into(),
        known: names.join(", "),
    })
}

/// Picks the model: `arg` (with `how` naming where it came from), then `DDCOLOR_MODEL`, then the
/// best one present under `models/`.
pub fn choose(arg: Option<&str>, how: &str) -> Result<Chosen> {
    if let Some(spec) = arg {
        return resolve_spec(spec, how);
    }
    if let Some(spec) = std::env::var_os("DDCOLOR_MODEL") {
        return resolve_spec(&spec.to_string_lossy(), "DDCOLOR_MODEL");
    }
    for v in VARIANTS {
        if let Some(path) = find_named(v.name) {
            return Ok(Chosen {
                path,
                how: format!("best present: {}", v.name),
                is_test_model: false,
            });
        }
    }
    if let Some(path) = find_named("test-dynamic") {
        return Ok(Chosen {
            path,
            how: "no real DDColor model present".into(),
            is_test_model: true,
        });
    }
    Err(CatalogError::NoneFound)
}
