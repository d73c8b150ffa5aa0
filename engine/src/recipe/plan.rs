//! Every decision about how a run colorizes, made in one place: which model, at which S,
//! with which upsampling, and how far S steps down when the device runs out of memory.
//!
//! The photo commands, the film runner, the GStreamer element (CPU and GPU paths) and the GPU
//! frame batcher all ask this module, so a setting means the same thing everywhere: the front
//! end's own option wins, then the workflow's DDColor-ddcolorize node, then the environment
//! and the installed models (model) or the model's own S (size) or bilinear (upsampling).
//!
//! It comes in two steps because the film runner must record its provenance before the
//! element (in another thread) loads the model: [`PlanRequest::choose`] picks the workflow,
//! the model file and the upsampling without loading anything; [`Choice::load`] opens the model
//! and settles S.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::EngineError;
use crate::inference::catalog::{self, CatalogError};
use crate::inference::device::{Device, GpuOptions};
use crate::inference::model::{Model, ModelOptions};
use crate::picture::resize::Upsample;
use crate::post::style::Style;
use crate::workflow::{Colorize, SizeChoice, Workflow, WorkflowError, auto_size};

/// Sizes S is stepped down through when the device runs out of memory, largest first: the
/// original product's ladder. Below 512 the result changes too much to do it silently.
pub const STEP_DOWN_SIZES: &[usize] = &[1280, 960, 768, 512];

/// Why a plan could not be made; each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Says which workflow and what is wrong with it; front ends add no prefix of their own.
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("the workflow has no DDColor-ddcolorize node: {0} needs one")]
    NoColorizeNode(&'static str),
}

/// What a front end was asked for, each setting as the user gave it (`None`: not given).
#[derive(Clone, Debug, Default)]
pub struct PlanRequest {
    /// A model name or path (`--model`, the element's `model` property).
    pub model: Option<String>,
    /// How the front end names its model setting in messages (`--model`, `model property`).
    pub model_setting: &'static str,
    pub input_size: Option<usize>,
    pub upsample: Option<Upsample>,
    pub device: Device,
    pub gpu: GpuOptions,
    pub threads: Option<usize>,
    /// A preset name or a workflow JSON file.
    pub workflow: Option<String>,
    /// A colour style added after the workflow's steps (alone: the plain recipe plus it).
    pub style: Option<Style>,
}

/// The workflow, the model file and the upsampling, chosen without opening the model.
pub struct Choice {
    pub workflow: Option<Arc<Workflow>>,
    /// `None`: the workflow only post-processes, no model runs.
    pub model: Option<catalog::Chosen>,
    pub upsample: Upsample,
    /// What the user should know about how the settings combined, one line each.
    pub notes: Vec<String>,
    request: PlanRequest,
}

/// A loaded model and the rules it runs by.
pub struct Plan {
    /// `None` when the workflow only post-processes.
    pub model: Option<Model>,
    /// Where the model came from (path, how it was chosen, whether it is a test model).
    pub chosen: Option<catalog::Chosen>,
    pub workflow: Option<Arc<Workflow>>,
    pub upsample: Upsample,
    /// S per picture and the out-of-memory step-down; shared by the threads that run the model.
    pub sizes: Arc<Sizes>,
    pub notes: Vec<String>,
}

impl PlanRequest {
    /// The workflow named by the request with its style added.
    pub fn resolve_workflow(&self) -> Result<Option<Workflow>, PlanError> {
        let mut workflow = match &self.workflow {
            Some(arg) => Some(Workflow::resolve(arg)?),
            None => None,
        };
        if let Some(style) = self.style {
            workflow
                .get_or_insert_with(Workflow::plain)
                .add_style(style, 1.0);
        }
        Ok(workflow)
    }

    /// Chooses the workflow, the model file and the upsampling. Loads nothing.
    pub fn choose(&self) -> Result<Choice, PlanError> {
        let workflow = self.resolve_workflow()?;
        let node = workflow.as_ref().and_then(|w| w.colorize.as_ref());
        let mut notes = Vec::new();
        let model = match (&workflow, node) {
            (Some(w), None) => {
                notes.push(format!(
                    "workflow {}: no DDColor-ddcolorize node, post-processing only \
                     (no model runs, so the results record no colorization)",
                    w.name
                ));
                if self.model.is_some() || self.input_size.is_some() || self.upsample.is_some() {
                    notes.push(
                        "note: the model, input size and upsampling settings are not used without a DDColor-ddcolorize node"
                            .into(),
                    );
                }
                None
            }
            _ => Some(self.choose_model(workflow.as_ref(), node)?),
        };
        let upsample = upsample(self.upsample, workflow.as_ref());
        Ok(Choice {
            workflow: workflow.map(Arc::new),
            model,
            upsample,
            notes,
            request: self.clone(),
        })
    }

    /// The front end's setting, then the workflow node's model, then `DDCOLOR_MODEL`, then the
    /// best model installed.
    fn choose_model(
        &self,
        workflow: Option<&Workflow>,
        node: Option<&Colorize>,
    ) -> Result<catalog::Chosen, PlanError> {
        let chosen = match (&self.model, node.and_then(|c| c.model.as_deref())) {
            (Some(m), _) => catalog::choose(Some(m), self.model_setting)?,
            (None, Some(m)) => catalog::choose(
                Some(m),
                &format!(
                    "{} node {}",
                    workflow.map_or("", |w| w.origin.as_str()),
                    node.map_or("", |c| c.node.as_str())
                ),
            )?,
            (None, None) => catalog::choose(None, self.model_setting)?,
        };
        Ok(chosen)
    }
}

/// The upsampling that runs: the front end's setting, else the workflow node's, else the
/// default. The element asks again when its property changes while playing.
pub fn upsample(explicit: Option<Upsample>, workflow: Option<&Workflow>) -> Upsample {
    explicit
        .or(workflow
            .and_then(|w| w.colorize.as_ref())
            .and_then(|c| c.upsample))
        .unwrap_or_default()
}

impl Choice {
    /// Fails for front ends that colorize every frame (film, the element): a workflow without
    /// a model node has nothing for them to do.
    pub fn require_model(&self, front_end: &'static str) -> Result<&catalog::Chosen, PlanError> {
        self.model
            .as_ref()
            .ok_or(PlanError::NoColorizeNode(front_end))
    }

    /// S as far as it can be told without opening the model: the front end's size, the
    /// workflow's, or `None` (the model's own, known once it is loaded).
    pub fn size_hint(&self) -> Option<SizeChoice> {
        match (self.request.input_size, self.node().map(|c| c.size)) {
            (Some(s), _) => Some(SizeChoice::Fixed(s)),
            (None, Some(SizeChoice::ModelDefault) | None) => None,
            (None, Some(size)) => Some(size),
        }
    }

    fn node(&self) -> Option<&Colorize> {
        self.workflow.as_ref().and_then(|w| w.colorize.as_ref())
    }

    /// Opens the model on the requested device and settles S: the front end's size (checked
    /// against a fixed model when it loads), else the workflow's where the model takes any
    /// size, else the model's own.
    pub fn load(self) -> Result<Plan, PlanError> {
        let Some(chosen) = self.model else {
            return Ok(Plan {
                model: None,
                chosen: None,
                workflow: self.workflow,
                upsample: self.upsample,
                sizes: Arc::new(Sizes::new(SizeRule::Fixed(0), false)),
                notes: self.notes,
            });
        };
        let r = &self.request;
        let options = ModelOptions {
            input_size: r.input_size,
            threads: r.threads,
            device: r.device,
            gpu: r.gpu.clone(),
            ..ModelOptions::default()
        };
        let mut model = Model::load(&chosen.path, &options)?;
        let mut notes = self.notes;
        let node_size = self
            .workflow
            .as_ref()
            .and_then(|w| w.colorize.as_ref())
            .map(|c| c.size);
        let rule = match (r.input_size, node_size) {
            (Some(_), _) | (None, None | Some(SizeChoice::ModelDefault)) => {
                SizeRule::Fixed(model.input_size())
            }
            (None, Some(SizeChoice::Fixed(s))) if model.has_dynamic_size() => {
                model.set_input_size(s)?;
                SizeRule::Fixed(s)
            }
            (None, Some(SizeChoice::Auto)) if model.has_dynamic_size() => SizeRule::Auto,
            (None, Some(size)) => {
                let fixed = model.input_size();
                if size != SizeChoice::Fixed(fixed) {
                    notes.push(format!(
                        "note: the model has a fixed input size of {fixed}; the workflow's size {size} is not used"
                    ));
                }
                SizeRule::Fixed(fixed)
            }
        };
        let sizes = Arc::new(Sizes::new(rule, model.has_dynamic_size()));
        Ok(Plan {
            model: Some(model),
            chosen: Some(chosen),
            workflow: self.workflow,
            upsample: self.upsample,
            sizes,
            notes,
        })
    }
}

impl PlanRequest {
    /// [`Self::choose`] then [`Choice::load`].
    pub fn plan(&self) -> Result<Plan, PlanError> {
        self.choose()?.load()
    }
}

/// Where S comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeRule {
    /// One S for every picture.
    Fixed(usize),
    /// S from each picture's resolution ([`auto_size`]).
    Auto,
}

impl fmt::Display for SizeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(s) => write!(f, "{s}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

/// S for each picture, and the out-of-memory step-down: once the device ran out of memory at
/// some S, no picture after it is made that large again (the next may be bigger still and fail
/// the same way). Shared by every thread that prepares or runs pictures.
#[derive(Debug)]
pub struct Sizes {
    rule: SizeRule,
    /// Whether the model takes any S: only then can it step down.
    dynamic: bool,
    /// The largest S allowed after running out of memory (`usize::MAX`: never ran out).
    cap: AtomicUsize,
}

impl Sizes {
    pub fn new(rule: SizeRule, dynamic: bool) -> Self {
        Self {
            rule,
            dynamic,
            cap: AtomicUsize::new(usize::MAX),
        }
    }

    pub fn rule(&self) -> SizeRule {
        self.rule
    }

    /// S for a `width` x `height` picture, no larger than a step-down allows.
    pub fn for_picture(&self, width: usize, height: usize) -> usize {
        let s = match self.rule {
            SizeRule::Fixed(s) => s,
            SizeRule::Auto => auto_size(width, height),
        };
        s.min(self.cap())
    }

    /// The largest S a step-down still allows (`usize::MAX`: no step-down happened).
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// After the device ran out of memory at `failed_at`: the next smaller S of the ladder,
    /// which also becomes the cap for every later picture. `None` when the model's S is fixed
    /// or there is no smaller step: the error then stands.
    pub fn step_down(&self, failed_at: usize) -> Option<usize> {
        let smaller = STEP_DOWN_SIZES
            .iter()
            .copied()
            .find(|&s| s < failed_at)
            .filter(|_| self.dynamic)?;
        self.cap.fetch_min(smaller, Ordering::Relaxed);
        Some(smaller)
    }

    /// What provenance records: S (`auto`: each picture's own), and the step-down if one
    /// happened.
    pub fn describe(&self) -> String {
        match (self.rule, self.cap()) {
            (rule, usize::MAX) => rule.to_string(),
            (SizeRule::Fixed(s), cap) if cap < s => {
                format!("{cap} (stepped down from {s} after running out of memory)")
            }
            (SizeRule::Auto, cap) => {
                format!("auto, at most {cap} (stepped down after running out of memory)")
            }
            (rule, _) => rule.to_string(),
        }
    }
}

impl Plan {
    /// The model file's path, when a model runs.
    pub fn model_path(&self) -> Option<&PathBuf> {
        self.chosen.as_ref().map(|c| &c.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_down_the_ladder_to_512_and_stops() {
        let sizes = Sizes::new(SizeRule::Fixed(1280), true);
        assert_eq!(sizes.step_down(1280), Some(960));
        assert_eq!(sizes.step_down(1024), Some(960));
        assert_eq!(sizes.step_down(960), Some(768));
        assert_eq!(sizes.step_down(768), Some(512));
        assert_eq!(sizes.step_down(512), None);
        assert_eq!(sizes.step_down(256), None);
        // The cap is the smallest step taken, whatever order threads report in.
        assert_eq!(sizes.cap(), 512);
        assert_eq!(sizes.for_picture(4000, 3000), 512);
    }

    #[test]
    fn a_fixed_model_never_steps_down() {
        let sizes = Sizes::new(SizeRule::Fixed(1280), false);
        assert_eq!(sizes.step_down(1280), None);
        assert_eq!(sizes.cap(), usize::MAX);
        assert_eq!(sizes.describe(), "1280");
    }

    #[test]
    fn auto_sizes_follow_the_picture_and_the_cap() {
        let sizes = Sizes::new(SizeRule::Auto, true);
        assert_eq!(sizes.for_picture(4764, 3759), 1280);
        assert_eq!(sizes.for_picture(640, 480), 256);
        assert_eq!(sizes.describe(), "auto");
        assert_eq!(sizes.step_down(1280), Some(960));
        assert_eq!(sizes.for_picture(4764, 3759), 960);
        assert_eq!(sizes.for_picture(640, 480), 256);
        assert_eq!(
            sizes.describe(),
            "auto, at most 960 (stepped down after running out of memory)"
        );
    }

    #[test]
    fn a_step_down_is_described() {
        let sizes = Sizes::new(SizeRule::Fixed(1280), true);
        assert_eq!(sizes.describe(), "1280");
        sizes.step_down(1280);
        assert_eq!(
            sizes.describe(),
            "960 (stepped down from 1280 after running out of memory)"
        );
    }

    #[test]
    fn upsampling_precedence() {
        let mut wf = Workflow::resolve("building").expect("preset");
        let node = wf.colorize.as_ref().and_then(|c| c.upsample);
        assert_eq!(upsample(None, None), Upsample::default());
        assert_eq!(upsample(None, Some(&wf)), node.unwrap_or_default());
        assert_eq!(
            upsample(Some(Upsample::Nearest), Some(&wf)),
            Upsample::Nearest
        );
        wf.colorize = None;
        assert_eq!(upsample(None, Some(&wf)), Upsample::default());
    }
}
