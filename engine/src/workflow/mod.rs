//! Workflows: a ComfyUI-API-format graph (load -> `DDColor-ddcolorize` -> post-processing ->
//! save) compiled into the steps the runner and the element execute. The same file runs from
//! `ddcolor photo --workflow`, `ddcolor run` and the element's `workflow` property; the presets
//! (`portrait`, `building`) are such files, built into the binary.

pub mod graph;
pub mod nodes;

use std::fmt;
use std::path::Path;

use crate::picture::resize::Upsample;
use crate::post::chroma::{ChromaDenoise, Saturation, WhiteBalance};
use crate::post::detail::{LocalContrast, Sharpen};
use crate::post::grain::Grain;
use crate::post::skin::SkinTone;
use crate::post::style::Style;
use crate::post::{LabImage, PostOp};
use graph::{Graph, Node};
use nodes::Role;

/// A problem with a workflow: where (`origin`, the file or preset) and what.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {kind}")]
pub struct WorkflowError {
    pub origin: String,
    pub kind: ErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("{0}")]
    Format(String),
    #[error("node \"{id}\": {problem}")]
    Node { id: String, problem: String },
    #[error("node \"{id}\" ({class}), input \"{input}\": {problem}")]
    Input {
        id: String,
        class: &'static str,
        input: String,
        problem: String,
    },
    #[error("nodes {} form a cycle", .0.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(" -> "))]
    Cycle(Vec<String>),
    #[error("{0}")]
    Shape(String),
    #[error("cannot read it: {0}")]
    Io(String),
}

/// S the model works at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeChoice {
    /// The model's own S (fixed models) or the default 512: the plain recipe.
    ModelDefault,
    Fixed(usize),
    /// From the photo's resolution: see [`auto_size`].
    Auto,
}

impl fmt::Display for SizeChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ModelDefault => f.write_str("default"),
            Self::Fixed(s) => write!(f, "{s}"),
            Self::Auto => f.write_str("auto"),
        }
    }
}

/// Sizes `auto` chooses from: 256 (training), 512 (reference tools), up to 1280 (the largest
/// the original product offered).
pub const AUTO_SIZES: &[usize] = &[256, 384, 512, 640, 768, 960, 1280];

/// S for a photo of `width` x `height` under `size: "auto"`: the largest of [`AUTO_SIZES`] at
/// most the shorter side / 2.5. The model's chroma is scaled up by about 2.5x at most: the
/// range where edge-aware upsampling keeps colour edges as crisp as the photo's, while small
/// photos stay at the size DDColor was trained at (colours most reliable, fastest).
pub fn auto_size(width: usize, height: usize) -> usize {
    let short = width.min(height) as f64;
    AUTO_SIZES
        .iter()
        .copied()
        .filter(|&s| s as f64 <= short / 2.5)
        .max()
        .unwrap_or(AUTO_SIZES[0])
}

/// The `DDColor-ddcolorize` node's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Colorize {
    pub node: String,
    /// A model name or path; `None`: the usual choice.
    pub model: Option<String>,
    pub size: SizeChoice,
    /// `None`: the plain recipe's default (or the command line's / element's own setting).
    pub upsample: Option<Upsample>,
}

/// One post-processing step and the node it came from.
#[derive(Clone, Debug)]
pub struct Step {
    pub node: String,
    pub class_type: &'static str,
    pub op: PostOp,
}

/// A compiled workflow: the chain from the load node to the save node.
#[derive(Clone, Debug)]
pub struct Workflow {
    /// Preset name or file stem: recorded in every output.
    pub name: String,
    /// Where it came from ("preset portrait" or the file's path), for messages.
    pub origin: String,
    /// The load node's photo path, when the graph names one.
    pub input: Option<String>,
    pub colorize: Option<Colorize>,
    pub steps: Vec<Step>,
    /// The save node's `filename_prefix`.
    pub save_prefix: String,
    /// Each colorize and post-processing node's inputs, as `("<id> <class>", "k=v, k=v")`, in
    /// chain order: recorded in the outputs' metadata.
    pub settings: Vec<(String, String)>,
}

/// A built-in preset.
pub struct Preset {
    pub name: &'static str,
    pub summary: &'static str,
    /// Recommended sizes, in words.
    pub sizes: &'static str,
    pub json: &'static str,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "portrait",
        summary: "people: natural skin, eyes and lips, no red or purple casts; soft chroma \
                  denoising, skin-tone protection, gentle vibrance",
        sizes: "512 (default): faces keep clean colour; 768 for a large group photo or a \
                high-resolution scan; 256 is faster and often steadier on small faces",
        json: include_str!("../../../workflows/portrait.json"),
    },
    Preset {
        name: "building",
        summary: "architecture and streets: brick, wood, metal; edge-aware colour that stays \
                  inside the edges, local contrast and sharpening on lightness",
        sizes: "auto (default): from the scan's resolution, 256 to 1280; fix 768 or 960 for \
                very large scans on a GPU",
        json: include_str!("../../../workflows/building.json"),
    },
];

impl Workflow {
    /// A preset by name, or a workflow file.
    pub fn resolve(arg: &str) -> Result<Self, WorkflowError> {
        if let Some(p) = PRESETS.iter().find(|p| p.name == arg) {
            return Self::parse(p.json, p.name, &format!("preset {}", p.name));
        }
        let path = Path::new(arg);
        if path.exists() || arg.ends_with(".json") {
            return Self::load(path);
        }
        let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
        Err(WorkflowError {
            origin: arg.to_string(),
            kind: ErrorKind::Format(format!(
                "unknown workflow: give a .json file or one of {}",
                names.join(", ")
            )),
        })
    }

    pub fn load(path: &Path) -> Result<Self, WorkflowError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| WorkflowError {
            origin: origin.clone(),
            kind: ErrorKind::Io(e.to_string()),
        })?;
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("workflow")
            .to_string();
        Self::parse(&text, &name, &origin)
    }

    /// The recipe alone, as a workflow: the model at its default size, plain upsampling, no
    /// post-processing. `--style` without `--workflow` appends to it.
    pub fn plain() -> Self {
        Self {
            name: "plain".into(),
            origin: "the plain recipe".into(),
            input: None,
            colorize: Some(Colorize {
                node: "ddcolorize".into(),
                model: None,
                size: SizeChoice::ModelDefault,
                upsample: None,
            }),
            steps: Vec::new(),
            save_prefix: "color".into(),
            settings: Vec::new(),
        }
    }

    /// Appends `style` as the last step (a `DDColor-Style` node).
    pub fn add_style(&mut self, style: Style, strength: f32) {
        for op in style.ops(strength) {
            self.steps.push(Step {
                node: "style".into(),
                class_type: "DDColor-Style",
                op,
            });
        }
        self.settings.push((
            "style DDColor-Style".into(),
            format!("style={}, strength={strength}", style.name()),
        ));
        self.name = format!("{}+{}", self.name, style.name());
    }

    /// Checks the graph and compiles the chain that ends at its save node.
    pub fn parse(text: &str, name: &str, origin: &str) -> Result<Self, WorkflowError> {
        let graph = Graph::parse(text, origin)?;
        compile(&graph, name, origin).map_err(|kind| WorkflowError {
            origin: origin.to_string(),
            kind,
        })
    }

    /// Runs the post-processing steps on a colour image. `frame` varies film grain from frame
    /// to frame (0 for a photo).
    pub fn apply(&self, img: &mut LabImage, frame: u64) {
        for step in &self.steps {
            match &step.op {
                PostOp::Grain(g) if frame != 0 => {
                    let g = Grain {
                        seed: g.seed ^ frame.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                        ..*g
                    };
                    g.apply(img);
                }
                op => op.apply(img),
            }
        }
    }
}

fn shape(msg: String) -> ErrorKind {
    ErrorKind::Shape(msg)
}

fn compile(graph: &Graph, name: &str, origin: &str) -> Result<Workflow, ErrorKind> {
    let saves: Vec<&Node> = graph
        .nodes
        .values()
        .filter(|n| n.spec.role == Role::Save)
        .collect();
    let save = match saves.as_slice() {
        [one] => *one,
        [] => {
            return Err(shape(
                "no SaveImage node: add one (its \"images\" input linked to the last step)".into(),
            ));
        }
        many => {
            let ids: Vec<String> = many.iter().map(|n| format!("\"{}\"", n.id)).collect();
            return Err(shape(format!(
                "{} SaveImage nodes ({}): ddcolor writes one result per photo, keep one",
                many.len(),
                ids.join(", ")
            )));
        }
    };
    // Walk back from the save node to the load node.
    let mut chain: Vec<&Node> = Vec::new();
    let mut at = save;
    loop {
        let input = match at.spec.role {
            Role::Save | Role::Preview => "images",
            _ => "image",
        };
        let Some(from) = at.link(input) else { break };
        let node = &graph.nodes[from];
        if node.spec.role == Role::Save || node.spec.role == Role::Preview {
            return Err(ErrorKind::Input {
                id: at.id.clone(),
                class: at.spec.class_type,
                input: input.into(),
                problem: format!("links to \"{}\", which has no output", node.id),
            });
        }
        chain.push(node);
        at = node;
    }
    chain.reverse();
    let Some(first) = chain.first() else {
        return Err(ErrorKind::Input {
            id: save.id.clone(),
            class: save.spec.class_type,
            input: "images".into(),
            problem: "not linked to anything".into(),
        });
    };
    if first.spec.role != Role::Load {
        return Err(shape(format!(
            "the chain to SaveImage starts at node \"{}\" ({}), not at a LoadImage node",
            first.id, first.spec.class_type
        )));
    }
    let mut colorize = None;
    let mut steps = Vec::new();
    for node in &chain[1..] {
        match node.spec.role {
            Role::Colorize => {
                if colorize.is_some() {
                    return Err(ErrorKind::Node {
                        id: node.id.clone(),
                        problem: "a second DDColor-ddcolorize in the chain: colorize once".into(),
                    });
                }
                if !steps.is_empty() {
                    return Err(ErrorKind::Node {
                        id: node.id.clone(),
                        problem: "post-processing must come after DDColor-ddcolorize, not before"
                            .into(),
                    });
                }
                let model = node.text("model");
                colorize = Some(Colorize {
                    node: node.id.clone(),
                    model: (!model.is_empty()).then(|| model.to_string()),
                    size: match node.inputs.get("size") {
                        Some(graph::Input::Int(s)) => SizeChoice::Fixed(*s as usize),
                        _ => SizeChoice::Auto,
                    },
                    upsample: node.text("upsample").parse().ok(),
                });
            }
            Role::Post => steps.extend(post_ops(node)),
            Role::Load => {
                return Err(ErrorKind::Node {
                    id: node.id.clone(),
                    problem: "a second LoadImage in the chain".into(),
                });
            }
            Role::Save | Role::Preview => unreachable!("walked back from SaveImage"),
        }
    }
    let settings = chain[1..]
        .iter()
        .map(|n| {
            (
                format!("{} {}", n.id, n.spec.class_type),
                describe_inputs(n),
            )
        })
        .collect();
    let input = first.text("image");
    Ok(Workflow {
        name: name.to_string(),
        origin: origin.to_string(),
        input: (!input.is_empty()).then(|| input.to_string()),
        colorize,
        steps,
        save_prefix: file_name_part(save.text("filename_prefix")),
        settings,
    })
}

/// The name part of a SaveImage `filename_prefix`: ComfyUI prefixes often carry a folder
/// ("ComfyUI/portrait"); results here are named after their input, so only the last part is
/// kept, and a prefix that names no file ("", "..") becomes "color".
fn file_name_part(prefix: &str) -> String {
    let last = prefix.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if last.is_empty() || last == "." || last == ".." {
        "color".into()
    } else {
        last.to_string()
    }
}

/// A node's literal inputs as `k=v, k=v` (links left out).
fn describe_inputs(node: &Node) -> String {
    node.inputs
        .iter()
        .filter_map(|(k, v)| match v {
            graph::Input::Link { .. } => None,
            graph::Input::Int(n) => Some(format!("{k}={n}")),
            graph::Input::Float(x) => Some(format!("{k}={x}")),
            graph::Input::Text(t) => Some(format!("{k}={t}")),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The operations of one post-processing node (a style is several).
fn post_ops(node: &Node) -> Vec<Step> {
    let f = |name: &str| node.float(name) as f32;
    let one = |op: PostOp| {
        vec![Step {
            node: node.id.clone(),
            class_type: node.spec.class_type,
            op,
        }]
    };
    match node.spec.class_type {
        "DDColor-ChromaDenoise" => one(PostOp::ChromaDenoise(ChromaDenoise {
            strength: f("strength"),
            radius: node.int("radius") as usize,
        })),
        "DDColor-Saturation" => one(PostOp::Saturation(Saturation {
            saturation: f("saturation"),
            vibrance: f("vibrance"),
        })),
        "DDColor-WhiteBalance" => one(PostOp::WhiteBalance(WhiteBalance {
            strength: f("strength"),
            temperature: f("temperature"),
            tint: f("tint"),
        })),
        "DDColor-SkinTone" => one(PostOp::SkinTone(SkinTone {
            strength: f("strength"),
        })),
        "DDColor-LocalContrast" => one(PostOp::LocalContrast(LocalContrast {
            amount: f("amount"),
            radius: node.int("radius") as usize,
        })),
        "DDColor-Sharpen" => one(PostOp::Sharpen(Sharpen {
            amount: f("amount"),
            radius: f("radius"),
            threshold: f("threshold"),
        })),
        "DDColor-Grain" => one(PostOp::Grain(Grain {
            amount: f("amount"),
            size: f("size"),
            seed: node.int("seed") as u64,
        })),
        "DDColor-Style" => {
            let style: Style = node.text("style").parse().unwrap_or(Style::Modern);
            style
                .ops(f("strength"))
                .into_iter()
                .map(|op| Step {
                    node: node.id.clone(),
                    class_type: node.spec.class_type,
                    op,
                })
                .collect()
        }
        other => unreachable!("post node {other} without operations"),
    }
}

#[cfg(test)]
mod tests;
