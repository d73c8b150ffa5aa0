//! Reading a workflow in ComfyUI's API format (`{"<id>": {"class_type": ..., "inputs": {...}}}`,
//! links as `["<id>", <output index>]`) and checking it whole: node types, input names, value
//! types and ranges, links, cycles. Every problem names the node id and the input.

use std::collections::BTreeMap;

use serde_json::Value;

use super::nodes::{self, Kind, NodeSpec};
use super::{ErrorKind, WorkflowError};

/// A checked input value.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Link { from: String, output: usize },
    Int(i64),
    Float(f64),
    Text(String),
}

#[derive(Debug)]
pub struct Node {
    pub id: String,
    pub spec: &'static NodeSpec,
    /// Every input of the spec, defaults filled in.
    pub inputs: BTreeMap<&'static str, Input>,
}

impl Node {
    pub fn float(&self, name: &str) -> f64 {
        match self.inputs.get(name) {
            Some(Input::Float(v)) => *v,
            Some(Input::Int(v)) => *v as f64,
            _ => 0.0,
        }
    }

    pub fn int(&self, name: &str) -> i64 {
        match self.inputs.get(name) {
            Some(Input::Int(v)) => *v,
            Some(Input::Float(v)) => *v as i64,
            _ => 0,
        }
    }

    pub fn text(&self, name: &str) -> &str {
        match self.inputs.get(name) {
            Some(Input::Text(v)) => v,
            _ => "",
        }
    }

    /// The node its `name` input links to.
    pub fn link(&self, name: &str) -> Option<&str> {
        match self.inputs.get(name) {
            Some(Input::Link { from, .. }) => Some(from),
            _ => None,
        }
    }
}

/// A graph whose every node, input and link has been checked; no cycles.
#[derive(Debug)]
pub struct Graph {
    pub nodes: BTreeMap<String, Node>,
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A link as ComfyUI writes it: `["4", 0]` (ids are strings; numbers are accepted too).
fn as_link(v: &Value) -> Option<(String, Option<u64>)> {
    let a = v.as_array()?;
    if a.len() != 2 {
        return None;
    }
    let id = match &a[0] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some((id, a[1].as_u64()))
}

fn check_value(kind: Kind, v: &Value) -> Result<Input, String> {
    let found = || match v {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    };
    match kind {
        Kind::Image => match as_link(v) {
            Some((from, Some(output))) => Ok(Input::Link {
                from,
                output: output as usize,
            }),
            Some((_, None)) => Err("a link's output index must be a whole number".into()),
            None => Err(format!("expected {}, found {}", kind.describe(), found())),
        },
        Kind::Int { min, max } => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => Ok(Input::Int(n)),
            Some(n) => Err(format!(
                "{n} is out of range (expected {})",
                kind.describe()
            )),
            None => Err(format!("expected {}, found {}", kind.describe(), found())),
        },
        Kind::Float { min, max } => match v.as_f64() {
            Some(x) if x.is_finite() && (min..=max).contains(&x) => Ok(Input::Float(x)),
            Some(x) => Err(format!(
                "{x} is out of range (expected {})",
                kind.describe()
            )),
            None => Err(format!("expected {}, found {}", kind.describe(), found())),
        },
        Kind::Text => match v.as_str() {
            Some(s) => Ok(Input::Text(s.to_string())),
            None => Err(format!("expected {}, found {}", kind.describe(), found())),
        },
        Kind::Choice(words) => match v.as_str() {
            Some(s) if words.contains(&s) => Ok(Input::Text(s.to_string())),
            _ => Err(format!("expected {}, found {}", kind.describe(), found())),
        },
        Kind::Size => match (v.as_str(), v.as_i64()) {
            (Some("auto"), _) => Ok(Input::Text("auto".into())),
            (_, Some(n)) if (32..=4096).contains(&n) && n % 32 == 0 => Ok(Input::Int(n)),
            _ => Err(format!("expected {}, found {}", kind.describe(), found())),
        },
    }
}

impl Graph {
    /// Parses and checks `text`; `origin` (a file name or "preset portrait") starts every error.
    pub fn parse(text: &str, origin: &str) -> Result<Self, WorkflowError> {
        let err = |kind: ErrorKind| WorkflowError {
            origin: origin.to_string(),
            kind,
        };
        let root: Value = serde_json::from_str(text)
            .map_err(|e| err(ErrorKind::Format(format!("not valid JSON: {e}"))))?;
        let Value::Object(mut map) = root else {
            return Err(err(ErrorKind::Format(format!(
                "expected an object of nodes, found {}",
                kind_of(&root)
            ))));
        };
        // ComfyUI's /prompt request wraps the graph as {"prompt": {...}}.
        if map.len() <= 3
            && let Some(Value::Object(inner)) = map.get("prompt")
        {
            map = inner.clone();
        }
        if map.contains_key("nodes") && map.contains_key("links") {
            return Err(err(ErrorKind::Format(
                "this is ComfyUI's editor format; export the workflow with \"Save (API Format)\""
                    .into(),
            )));
        }
        if map.is_empty() {
            return Err(err(ErrorKind::Format("the workflow has no nodes".into())));
        }

        let mut nodes = BTreeMap::new();
        for (id, body) in &map {
            let node_err = |problem: String| {
                err(ErrorKind::Node {
                    id: id.clone(),
                    problem,
                })
            };
            let Value::Object(body) = body else {
                return Err(node_err(format!(
                    "expected an object with class_type and inputs, found {}",
                    kind_of(body)
                )));
            };
            let class = match body.get("class_type") {
                Some(Value::String(c)) => c.as_str(),
                Some(other) => {
                    return Err(node_err(format!(
                        "class_type must be a string, found {}",
                        kind_of(other)
                    )));
                }
                None => return Err(node_err("has no class_type".into())),
            };
            let Some(spec) = nodes::spec(class) else {
                let known: Vec<&str> = nodes::NODES.iter().map(|n| n.class_type).collect();
                return Err(node_err(format!(
                    "unknown node type \"{class}\" (known: {})",
                    known.join(", ")
                )));
            };
            let empty = serde_json::Map::new();
            let given = match body.get("inputs") {
                Some(Value::Object(i)) => i,
                None => &empty,
                Some(other) => {
                    return Err(node_err(format!(
                        "inputs must be an object, found {}",
                        kind_of(other)
                    )));
                }
            };
            let input_err = |input: &str, problem: String| {
                err(ErrorKind::Input {
                    id: id.clone(),
                    class: spec.class_type,
                    input: input.to_string(),
                    problem,
                })
            };
            if !spec.lenient
                && let Some(extra) = given.keys().find(|k| spec.input(k).is_none())
            {
                let names: Vec<&str> = spec.inputs.iter().map(|i| i.name).collect();
                return Err(input_err(
                    extra,
                    format!("unknown input (this node takes {})", names.join(", ")),
                ));
            }
            let mut inputs = BTreeMap::new();
            for input in spec.inputs {
                let value = match given.get(input.name) {
                    Some(v) => check_value(input.kind, v).map_err(|p| input_err(input.name, p))?,
                    None => match input.default {
                        nodes::Default::None => {
                            return Err(input_err(
                                input.name,
                                format!("missing (expected {})", input.kind.describe()),
                            ));
                        }
                        nodes::Default::Int(n) => Input::Int(n),
                        nodes::Default::Float(x) => Input::Float(x),
                        nodes::Default::Text(s) => Input::Text(s.into()),
                    },
                };
                inputs.insert(input.name, value);
            }
            nodes.insert(
                id.clone(),
                Node {
                    id: id.clone(),
                    spec,
                    inputs,
                },
            );
        }

        // Links: to an existing node, an output it has, of the type IMAGE.
        for node in nodes.values() {
            for (name, input) in &node.inputs {
                let Input::Link { from, output } = input else {
                    continue;
                };
                let input_err = |problem: String| {
                    err(ErrorKind::Input {
                        id: node.id.clone(),
                        class: node.spec.class_type,
                        input: name.to_string(),
                        problem,
                    })
                };
                let Some(target) = nodes.get(from) else {
                    return Err(input_err(format!(
                        "links to node \"{from}\", which does not exist"
                    )));
                };
                if *output >= target.spec.outputs {
                    return Err(input_err(format!(
                        "links to output {output} of node \"{from}\" ({}), which has {}",
                        target.spec.class_type,
                        match target.spec.outputs {
                            0 => "no outputs".to_string(),
                            1 => "only output 0".to_string(),
                            n => format!("outputs 0 to {}", n - 1),
                        }
                    )));
                }
                if *output != 0 {
                    return Err(input_err(format!(
                        "links to output {output} of node \"{from}\" (a MASK); an IMAGE (output 0) is needed"
                    )));
                }
            }
        }

        let graph = Self { nodes };
        if let Some(cycle) = graph.find_cycle() {
            return Err(err(ErrorKind::Cycle(cycle)));
        }
        Ok(graph)
    }

    /// A cycle as the list of its node ids, if there is one.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> =
            self.nodes.keys().map(|k| (k.as_str(), Mark::New)).collect();
        // Iterative depth-first search; `stack` holds the current path.
        for start in self.nodes.keys() {
            if marks[start.as_str()] != Mark::New {
                continue;
            }
            let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, self.links_of(start))];
            marks.insert(start, Mark::Open);
            while let Some((id, pending)) = stack.last_mut() {
                let id = *id;
                match pending.pop() {
                    Some(next) => match marks[next] {
                        Mark::Open => {
                            let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                            let mut cycle: Vec<String> =
                                stack[from..].iter().map(|(n, _)| n.to_string()).collect();
                            cycle.push(next.to_string());
                            return Some(cycle);
                        }
                        Mark::New => {
                            marks.insert(next, Mark::Open);
                            stack.push((next, self.links_of(next)));
                        }
                        Mark::Done => {}
                    },
                    None => {
                        marks.insert(id, Mark::Done);
                        stack.pop();
                    }
                }
            }
        }
        None
    }

    fn links_of(&self, id: &str) -> Vec<&str> {
        self.nodes[id]
            .inputs
            .values()
            .filter_map(|i| match i {
                Input::Link { from, .. } => Some(from.as_str()),
                _ => None,
            })
            .collect()
    }
}
