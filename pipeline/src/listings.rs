//! `ddcolor models` and `ddcolor workflows`: what is installed and what each preset is for, for
//! people choosing before they run anything.

use std::process::ExitCode;

use anyhow::Result;
use ddcolor_engine::catalog as models;
use ddcolor_engine::workflow::{PRESETS, Workflow, nodes};

pub(crate) fn list_models() -> Result<ExitCode> {
    let dirs = models::model_dirs();
    println!(
        "Model folders searched: {}",
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("{:<12} {:<11} {:<40} status", "name", "encoder", "about");
    for v in models::VARIANTS {
        let status = match models::find_named(v.name) {
            Some(p) => format!("present: {}", p.display()),
            None => format!("missing (put ddcolor_{}.onnx in models/)", v.name),
        };
        println!("{:<12} {:<11} {:<40} {status}", v.name, v.encoder, v.about);
    }
    println!();
    for (name, about) in models::GENERATED {
        let status = match models::find_named(name) {
            Some(p) => format!("present: {}", p.display()),
            None => "missing (made by `make setup`)".into(),
        };
        println!("{name:<12} {:<11} {about:<40} {status}", "-");
    }
    println!();
    match models::choose(None, "--model") {
        Ok(c) => println!(
            "Default: {} ({}){}",
            c.path.display(),
            c.how,
            if c.is_test_model {
                " - a test model, colours not meaningful"
            } else {
                ""
            }
        ),
        Err(e) => println!("Default: none ({e})"),
    }
    println!("Get a real model: see models/README.md");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn list_workflows(with_nodes: bool) {
    println!("Workflow presets (ddcolor photo --workflow NAME, or a JSON file of your own):\n");
    for p in PRESETS {
        println!("  {}", p.name);
        println!("      for:   {}", p.summary);
        println!("      sizes: {}", p.sizes);
        if let Ok(w) = Workflow::resolve(p.name) {
            let steps: Vec<String> = w
                .settings
                .iter()
                .map(|(node, values)| {
                    let class = node.split_once(' ').map_or(node.as_str(), |(_, c)| c);
                    format!("{} ({values})", class.trim_start_matches("DDColor-"))
                })
                .collect();
            println!("      steps: {}", steps.join(" -> "));
        }
        println!();
    }
    println!(
        "Styles (--style, or a DDColor-Style node): vintage (muted, warm, fine grain), modern (vivid, clean)."
    );
    println!();
    println!(
        "Sizes: DDColor was trained at 256 (most reliable colours, fastest); the reference tools"
    );
    println!(
        "use 512; the original product offered up to 1280 for large scans (finer colour detail,"
    );
    println!(
        "9x-25x slower than 256, colours can turn patchy). \"auto\" picks 256-1280 from the photo's"
    );
    println!("resolution. `ddcolor help models` says more.");
    println!();
    println!(
        "Workflow files are ComfyUI API-format JSON: workflows/portrait.json and workflows/building.json"
    );
    println!("are the presets; `ddcolor run FILE.json --input PHOTO` runs one.");
    if with_nodes {
        println!("\nNode types:");
        for n in nodes::NODES {
            println!("\n  {}: {}", n.class_type, n.doc);
            for i in n.inputs {
                let default = match i.default {
                    nodes::Default::None => "required".to_string(),
                    nodes::Default::Int(v) => format!("default {v}"),
                    nodes::Default::Float(v) => format!("default {v}"),
                    nodes::Default::Text("") => "default empty".to_string(),
                    nodes::Default::Text(t) => format!("default {t}"),
                };
                println!(
                    "      {:<16} {} ({}; {default})",
                    i.name,
                    i.doc,
                    i.kind.describe()
                );
            }
        }
    } else {
        println!("`ddcolor workflows --nodes` lists the node types a workflow may use.");
    }
}
