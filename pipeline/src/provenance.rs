//! What each result records about how it was made: the runner's settings and the workflow's,
//! gathered once per run (the model is hashed once) and handed to every writer.

use std::path::Path;

use anyhow::{Context, Result};
use ddcolor_engine::plan::{Choice, Plan};
use ddcolor_engine::provenance::{Provenance, model_name, sha256_file_cached};
use ddcolor_engine::temporal::{TemporalMode, TemporalSettings};
use ddcolor_engine::workflow::{SizeChoice, Workflow};
use std::sync::Arc;

use crate::args::{Common, OutputArgs};

/// What every result of this run records about how it was made (`None` with `--no-metadata`).
/// The model file is hashed here, once per run; `workflow` is the workflow's name when one
/// shapes the result, `settings` the values that change the colours, in display order.
pub(crate) fn provenance(
    output: &OutputArgs,
    model_path: &Path,
    workflow: Option<&str>,
    settings: Vec<(String, String)>,
) -> Result<Option<Arc<Provenance>>> {
    if output.no_metadata {
        return Ok(None);
    }
    let sha256 = sha256_file_cached(model_path).with_context(|| {
        format!(
            "{}: cannot read the model to record its SHA-256 (--no-metadata skips this)",
            model_path.display()
        )
    })?;
    Ok(Some(Arc::new(Provenance {
        tool: format!("ddcolor {}", env!("CARGO_PKG_VERSION")),
        model_name: model_name(model_path),
        model_sha256: sha256,
        workflow: workflow.map(str::to_string),
        settings,
        source: None,
    })))
}

/// The provenance of `photo`, `batch` and `run` results: S ("auto" when each photo picks its
/// own), upsampling, JPEG quality, then the workflow's node settings. `None` when no model runs
/// (a workflow of post-processing only colorizes nothing).
pub(crate) fn photo_provenance(common: &Common, plan: &Plan) -> Result<Option<Arc<Provenance>>> {
    let Some(model_path) = plan.model_path() else {
        return Ok(None);
    };
    let input_size = plan.sizes.rule().to_string();
    let mut recorded = vec![
        ("input_size".to_string(), input_size),
        ("upsample".to_string(), plan.upsample.name().to_string()),
        ("jpeg_quality".to_string(), common.quality.to_string()),
    ];
    let workflow = plan.workflow.as_deref();
    if let Some(w) = workflow {
        recorded.extend(post_settings(w));
    }
    provenance(
        &common.output,
        model_path,
        workflow.map(|w| w.name.as_str()),
        recorded,
    )
}

/// The provenance of a film: the settings of `ddcolor film` that change the colours, then the
/// workflow's. S is what the element reports once it has loaded the model (and again after a
/// step-down, see `film`); until then, what the settings say.
pub(crate) fn film_provenance(
    output: &OutputArgs,
    choice: &Choice,
    temporal: &TemporalSettings,
) -> Result<Option<Arc<Provenance>>> {
    let Some(chosen) = &choice.model else {
        return Ok(None);
    };
    let input_size = match choice.size_hint() {
        Some(SizeChoice::Auto) => "auto (from the frame size)".to_string(),
        Some(size) => size.to_string(),
        None => "model default".to_string(),
    };
    let mut recorded = vec![
        ("input_size".to_string(), input_size),
        ("upsample".to_string(), choice.upsample.name().to_string()),
        ("temporal".to_string(), temporal.mode.name().to_string()),
    ];
    if temporal.mode != TemporalMode::Off {
        recorded.extend([
            (
                "temporal_strength".to_string(),
                temporal.strength.to_string(),
            ),
            (
                "motion_sensitivity".to_string(),
                temporal.motion_sensitivity.to_string(),
            ),
            (
                "scene_cut_threshold".to_string(),
                temporal.scene_cut_threshold.to_string(),
            ),
        ]);
    }
    let workflow = choice.workflow.as_deref();
    if let Some(w) = workflow {
        recorded.extend(post_settings(w));
    }
    provenance(
        output,
        &chosen.path,
        workflow.map(|w| w.name.as_str()),
        recorded,
    )
}

/// The workflow's post-processing settings. The DDColor-ddcolorize node's are left out: what
/// ran (the command line may override the node) is recorded as input_size and upsample.
pub(crate) fn post_settings(w: &Workflow) -> impl Iterator<Item = (String, String)> + '_ {
    w.settings
        .iter()
        .filter(|(node, _)| !node.ends_with(" DDColor-ddcolorize"))
        .cloned()
}
