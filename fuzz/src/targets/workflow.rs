//! Workflow files, twice: as raw bytes (anything a user or a web upload can hand
//! `--workflow`), and as valid JSON graphs edited node by node (values of every type in every
//! input, removed and duplicated nodes, links to missing nodes, cycles, unknown classes), which
//! reaches the compiler's checks that raw mutation rarely gets past JSON syntax to. A workflow
//! that compiles is also applied to a small image: its parameters must not make a post-processing
//! step panic, hang or allocate without bound.

use std::time::Duration;

use ddcolor_engine::workflow::Workflow;
use ddcolor_engine::{LabImage, Photo, Samples};
use serde_json::{Map, Value, json};

use crate::driver::{Target, label, root};
use crate::rng::Choices;

pub const RAW: Target = Target {
    name: "workflow_json",
    seeds: raw_seeds,
    run: run_raw,
    dictionary: &[
        b"\"class_type\"",
        b"\"inputs\"",
        b"\"DDColor-ddcolorize\"",
        b"\"DDColor-Style\"",
        b"\"DDColor-Grain\"",
        b"\"LoadImage\"",
        b"\"SaveImage\"",
        b"[\"1\", 0]",
        b"1e308",
        b"-1",
        b"null",
        b"{}",
        b"[]",
        b"\"\\u0000\"",
        b"\"auto\"",
    ],
    max_len: 16 << 10,
    short_runs: 20000,
    time_limit: Duration::from_secs(2),
    memory_limit: 256 << 20,
};

pub const GRAPH: Target = Target {
    name: "workflow_graph",
    seeds: graph_seeds,
    run: run_graph,
    dictionary: &[],
    max_len: 512,
    short_runs: 20000,
    time_limit: Duration::from_secs(2),
    memory_limit: 256 << 20,
};

const CLASSES: &[&str] = &[
    "LoadImage",
    "DDColor-ddcolorize",
    "DDColor-ChromaDenoise",
    "DDColor-Saturation",
    "DDColor-WhiteBalance",
    "DDColor-SkinTone",
    "DDColor-LocalContrast",
    "DDColor-Sharpen",
    "DDColor-Grain",
    "DDColor-Style",
    "SaveImage",
    "PreviewImage",
    "",
];

const KEYS: &[&str] = &[
    "image",
    "images",
    "model",
    "size",
    "upsample",
    "strength",
    "radius",
    "saturation",
    "vibrance",
    "temperature",
    "tint",
    "amount",
    "threshold",
    "seed",
    "style",
    "filename_prefix",
    "intensity",
    "",
];

fn preset_texts() -> Vec<String> {
    let mut v = Vec::new();
    for name in ["portrait.json", "building.json"] {
        let path = root().join("workflows").join(name);
        v.push(
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        );
    }
    // Every node class once, so each one's inputs are reached.
    v.push(
        json!({
            "1": {"class_type": "LoadImage", "inputs": {"image": "a.jpg"}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["1", 0], "size": 256, "upsample": "bilinear"}},
            "3": {"class_type": "DDColor-Sharpen", "inputs": {"image": ["2", 0], "amount": 0.5, "radius": 1.0, "threshold": 1.0}},
            "4": {"class_type": "DDColor-Grain", "inputs": {"image": ["3", 0], "strength": 0.2, "seed": 7}},
            "5": {"class_type": "DDColor-Style", "inputs": {"image": ["4", 0], "style": "sepia", "strength": 0.5}},
            "6": {"class_type": "DDColor-LocalContrast", "inputs": {"image": ["5", 0], "amount": 0.3, "radius": 8}},
            "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "x"}}
        })
        .to_string(),
    );
    v
}

fn raw_seeds() -> Vec<Vec<u8>> {
    preset_texts().into_iter().map(String::into_bytes).collect()
}

/// A small grey image with some texture, for compiled workflows to run on.
fn image() -> LabImage {
    let (w, h) = (19, 13);
    let samples = (0..w * h * 3).map(|i| ((i / 3) * 37 % 251) as u8).collect();
    LabImage::from_photo(&Photo {
        width: w,
        height: h,
        channels: 3,
        samples: Samples::U8(samples),
    })
}

fn parse_and_apply(text: &str, frame: u64) -> String {
    label(
        Workflow::parse(text, "fuzz", "fuzz.json")
            .map(|wf| {
                let mut img = image();
                wf.apply(&mut img, frame);
                assert_eq!(
                    img.l.len(),
                    img.width * img.height,
                    "planes keep their size"
                );
            })
            .map_err(|e| e.to_string()),
    )
}

fn run_raw(data: &[u8]) -> String {
    parse_and_apply(&String::from_utf8_lossy(data), 3)
}

fn graph_seeds() -> Vec<Vec<u8>> {
    // The first choice picks the base graph; an empty tail leaves it unchanged.
    (0..preset_texts().len() as u8).map(|i| vec![i]).collect()
}

/// A value of any JSON type, with the edge cases of each.
fn value(c: &mut Choices, ids: &[String]) -> Value {
    match c.byte() % 12 {
        0 => json!(*c.pick(&[
            0.0, -1.0, 0.5, 1.0, 2.0, 1e9, -1e9, 1e308, -1e308, 5e-324, 1e-9, 65536.0
        ])),
        1 => json!(*c.pick(&[
            0i64,
            -1,
            1,
            255,
            256,
            4096,
            1 << 31,
            i64::MAX,
            i64::MIN,
            1 << 53
        ])),
        2 => json!(u64::MAX),
        3 => json!(*c.pick(&[
            "",
            "auto",
            "nearest",
            "bilinear",
            "edge-aware",
            "sepia",
            "ddcolorize",
            "x",
            "\u{0}",
            "512"
        ])),
        4 => json!(c.byte() & 1 == 1),
        5 => Value::Null,
        6 => json!({}),
        7 => json!([]),
        8 | 9 => {
            let id = if ids.is_empty() || c.byte().is_multiple_of(4) {
                json!(*c.pick(&["missing", "", "0", "-1"]))
            } else {
                json!(c.pick(ids))
            };
            json!([
                id,
                *c.pick(&[
                    json!(0),
                    json!(1),
                    json!(-1),
                    json!(1e20),
                    json!("0"),
                    Value::Null
                ])
            ])
        }
        10 => json!([c.byte(), c.byte(), c.byte()]),
        _ => json!(c.u32() as f64 / (c.u32().max(1) as f64)),
    }
}

fn run_graph(data: &[u8]) -> String {
    let mut c = Choices::new(data);
    let texts = preset_texts();
    let base: &String = c.pick(&texts);
    let mut graph: Map<String, Value> = match serde_json::from_str::<Value>(base) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("the seeds are JSON objects"),
    };
    let mut frame = 0;
    while !c.is_empty() {
        let ids: Vec<String> = graph.keys().cloned().collect();
        let id = if ids.is_empty() {
            "1".to_string()
        } else {
            c.pick(&ids).clone()
        };
        match c.byte() % 10 {
            0..=3 => {
                // Set or add an input.
                let key = c.pick(KEYS).to_string();
                let v = value(&mut c, &ids);
                if let Some(inputs) = graph
                    .get_mut(&id)
                    .and_then(|n| n.get_mut("inputs"))
                    .and_then(Value::as_object_mut)
                {
                    inputs.insert(key, v);
                }
            }
            4 => {
                if let Some(inputs) = graph
                    .get_mut(&id)
                    .and_then(|n| n.get_mut("inputs"))
                    .and_then(Value::as_object_mut)
                    && !inputs.is_empty()
                {
                    let keys: Vec<String> = inputs.keys().cloned().collect();
                    inputs.remove(c.pick(&keys));
                }
            }
            5 => {
                graph.remove(&id);
            }
            6 => {
                let copy = graph.get(&id).cloned().unwrap_or(Value::Null);
                graph.insert(format!("{}{}", id, c.byte()), copy);
            }
            7 => {
                if let Some(node) = graph.get_mut(&id).and_then(Value::as_object_mut) {
                    node.insert("class_type".into(), json!(c.pick(CLASSES)));
                }
            }
            8 => {
                // Replace a whole node, or its inputs, by a value of another type.
                let v = value(&mut c, &ids);
                if c.byte() & 1 == 0 {
                    graph.insert(id, v);
                } else if let Some(node) = graph.get_mut(&id).and_then(Value::as_object_mut) {
                    node.insert("inputs".into(), v);
                }
            }
            _ => frame = c.u64(),
        }
    }
    parse_and_apply(&Value::Object(graph).to_string(), frame)
}
