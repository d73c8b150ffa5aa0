//! The node types a workflow may use: ComfyUI's own load/save nodes, the `DDColor-ddcolorize`
//! node of the ComfyUI DDColor world, and this project's post-processing nodes. Each input has
//! a kind, a range and a default, so a graph is checked completely before any photo is read.

/// What an input accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// A link to another node's IMAGE output.
    Image,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Text,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A model size S (a multiple of 32) or the word "auto".
    Size,
}

impl Kind {
    pub fn describe(&self) -> String {
        match self {
            Self::Image => "a link to an IMAGE output, [\"<node id>\", 0]".into(),
            Self::Int { min, max } => format!("a whole number from {min} to {max}"),
            Self::Float { min, max } => format!("a number from {min} to {max}"),
            Self::Text => "a string".into(),
            Self::Choice(words) => format!("one of {}", words.join(", ")),
            Self::Size => "\"auto\" or a multiple of 32 from 32 to 4096".into(),
        }
    }
}

/// A literal default (links have none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Default {
    None,
    Int(i64),
    Float(f64),
    Text(&'static str),
}

#[derive(Debug)]
pub struct InputSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// `Default::None`: the input must be given.
    pub default: Default,
    pub doc: &'static str,
}

/// Where a node may sit in a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Reads the photo (its path comes from the graph or from `--input`).
    Load,
    /// Runs the model.
    Colorize,
    /// Changes a colour photo; also runs on each film frame in the element.
    Post,
    /// Writes the result.
    Save,
    /// Shows the result in ComfyUI; nothing to do headless.
    Preview,
}

#[derive(Debug)]
pub struct NodeSpec {
    pub class_type: &'static str,
    pub role: Role,
    pub inputs: &'static [InputSpec],
    /// Number of outputs (ComfyUI's LoadImage has IMAGE and MASK; only IMAGE, index 0, is
    /// produced here).
    pub outputs: usize,
    pub doc: &'static str,
    /// ComfyUI's own nodes carry inputs this tool has no use for (`upload` on LoadImage):
    /// ignore unknown inputs there, refuse them on this project's nodes (a typo would
    /// otherwise silently do nothing).
    pub lenient: bool,
}

impl NodeSpec {
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.name == name)
    }
}

const fn float(
    name: &'static str,
    min: f64,
    max: f64,
    default: f64,
    doc: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        kind: Kind::Float { min, max },
        default: Default::Float(default),
        doc,
    }
}

const fn int(name: &'static str, min: i64, max: i64, default: i64, doc: &'static str) -> InputSpec {
    InputSpec {
        name,
        kind: Kind::Int { min, max },
        default: Default::Int(default),
        doc,
    }
}

const IMAGE_IN: InputSpec = InputSpec {
    name: "image",
    kind: Kind::Image,
    default: Default::None,
    doc: "the picture to work on",
};

pub const UPSAMPLE_CHOICES: &[&str] = &["nearest", "bilinear", "edge-aware"];
pub const STYLE_CHOICES: &[&str] = &["vintage", "modern"];

/// Every node type, in the order `ddcolor workflows --nodes` lists them.
pub const NODES: &[NodeSpec] = &[
    NodeSpec {
        class_type: "LoadImage",
        role: Role::Load,
        inputs: &[InputSpec {
            name: "image",
            kind: Kind::Text,
            default: Default::Text(""),
            doc: "photo to read (replaced by the command line's input)",
        }],
        outputs: 2,
        doc: "reads a photo (ComfyUI's LoadImage)",
        lenient: true,
    },
    NodeSpec {
        class_type: "DDColor-ddcolorize",
        role: Role::Colorize,
        inputs: &[
            IMAGE_IN,
            InputSpec {
                name: "model",
                kind: Kind::Text,
                default: Default::Text(""),
                doc: "model name or .onnx path; empty: the usual choice (--model, $DDCOLOR_MODEL, best installed)",
            },
            InputSpec {
                name: "size",
                kind: Kind::Size,
                default: Default::Int(512),
                doc: "S the model works at, or \"auto\" (from the photo's resolution)",
            },
            InputSpec {
                name: "upsample",
                kind: Kind::Choice(UPSAMPLE_CHOICES),
                default: Default::Text("edge-aware"),
                doc: "how the model's colour is brought up to the photo's size",
            },
        ],
        outputs: 1,
        doc: "colorizes with DDColor",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-ChromaDenoise",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float(
                "strength",
                0.0,
                1.0,
                0.5,
                "how much colour noise is smoothed away",
            ),
            int(
                "radius",
                1,
                32,
                4,
                "size of the smoothing window, in pixels",
            ),
        ],
        outputs: 1,
        doc: "smooths blotchy colour without crossing edges",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-Saturation",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float("saturation", 0.0, 3.0, 1.0, "colour strength, 1 unchanged"),
            float(
                "vibrance",
                -1.0,
                1.0,
                0.0,
                "raises dull colours more than vivid ones and skin",
            ),
        ],
        outputs: 1,
        doc: "saturation and vibrance",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-WhiteBalance",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float(
                "strength",
                0.0,
                1.0,
                1.0,
                "how much of a global colour cast is removed",
            ),
            float(
                "temperature",
                -100.0,
                100.0,
                0.0,
                "warmer (+) or cooler (-)",
            ),
            float("tint", -100.0, 100.0, 0.0, "magenta (+) or green (-)"),
        ],
        outputs: 1,
        doc: "removes a colour cast, then warms or cools",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-SkinTone",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float(
                "strength",
                0.0,
                1.0,
                0.7,
                "how firmly skin is held in a natural range",
            ),
        ],
        outputs: 1,
        doc: "keeps skin natural: tames the model's red and purple casts on faces",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-LocalContrast",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float(
                "amount",
                0.0,
                2.0,
                0.3,
                "strength of the local contrast boost",
            ),
            int(
                "radius",
                1,
                200,
                24,
                "size of the details lifted, in pixels",
            ),
        ],
        outputs: 1,
        doc: "local contrast on lightness (texture of brick, wood, stone)",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-Sharpen",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float("amount", 0.0, 3.0, 0.5, "strength"),
            float("radius", 0.5, 5.0, 1.0, "edge width, in pixels"),
            float(
                "threshold",
                0.0,
                20.0,
                1.0,
                "lightness steps below this are left alone (no noise boost)",
            ),
        ],
        outputs: 1,
        doc: "sharpens lightness edges",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-Grain",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            float("amount", 0.0, 1.0, 0.3, "grain strength"),
            float("size", 1.0, 4.0, 1.0, "grain size, in pixels"),
            int("seed", 0, u32::MAX as i64, 0, "grain pattern"),
        ],
        outputs: 1,
        doc: "film grain on lightness",
        lenient: false,
    },
    NodeSpec {
        class_type: "DDColor-Style",
        role: Role::Post,
        inputs: &[
            IMAGE_IN,
            InputSpec {
                name: "style",
                kind: Kind::Choice(STYLE_CHOICES),
                default: Default::None,
                doc: "vintage film (muted, warm, fine grain) or modern HD (vivid, clean)",
            },
            float("strength", 0.0, 1.0, 1.0, "how far the style goes"),
        ],
        outputs: 1,
        doc: "a look: vintage film or modern HD",
        lenient: false,
    },
    NodeSpec {
        class_type: "SaveImage",
        role: Role::Save,
        inputs: &[
            InputSpec {
                name: "images",
                kind: Kind::Image,
                default: Default::None,
                doc: "the result",
            },
            InputSpec {
                name: "filename_prefix",
                kind: Kind::Text,
                default: Default::Text("ddcolor"),
                doc: "name of the result when no output is given",
            },
        ],
        outputs: 0,
        doc: "writes the result (ComfyUI's SaveImage)",
        lenient: true,
    },
    NodeSpec {
        class_type: "PreviewImage",
        role: Role::Preview,
        inputs: &[InputSpec {
            name: "images",
            kind: Kind::Image,
            default: Default::None,
            doc: "shown in ComfyUI",
        }],
        outputs: 0,
        doc: "ComfyUI's preview; ignored headless",
        lenient: true,
    },
];

pub fn spec(class_type: &str) -> Option<&'static NodeSpec> {
    NODES.iter().find(|n| n.class_type == class_type)
}
