use super::*;

fn parse(text: &str) -> Result<Workflow, WorkflowError> {
    Workflow::parse(text, "t", "t.json")
}

fn error(text: &str) -> String {
    match parse(text) {
        Ok(w) => panic!("accepted: {w:?}"),
        Err(e) => e.to_string(),
    }
}

const CHAIN: &str = r#"{
  "1": {"class_type": "LoadImage", "inputs": {"image": "in.png", "upload": "image"}},
  "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["1", 0], "model": "paper", "size": 256}},
  "3": {"class_type": "DDColor-Saturation", "inputs": {"image": ["2", 0], "saturation": 0.5}},
  "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
  "5": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "out"}}
}"#;

#[test]
fn a_chain_compiles_with_defaults_filled_in() {
    let w = parse(CHAIN).expect("valid");
    assert_eq!(w.input.as_deref(), Some("in.png"));
    let c = w.colorize.as_ref().expect("colorize");
    assert_eq!(c.model.as_deref(), Some("paper"));
    assert_eq!(c.size, SizeChoice::Fixed(256));
    // Not given: the node's default.
    assert_eq!(c.upsample, Some(Upsample::EdgeAware));
    assert_eq!(w.steps.len(), 1);
    match &w.steps[0].op {
        PostOp::Saturation(s) => {
            assert_eq!(s.saturation, 0.5);
            assert_eq!(s.vibrance, 0.0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.save_prefix, "out");
    assert_eq!(
        w.settings,
        vec![
            (
                "2 DDColor-ddcolorize".to_string(),
                "model=paper, size=256, upsample=edge-aware".to_string()
            ),
            (
                "3 DDColor-Saturation".to_string(),
                "saturation=0.5, vibrance=0".to_string()
            ),
        ]
    );
}

#[test]
fn presets_compile() {
    for p in PRESETS {
        let w = Workflow::resolve(p.name).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.name, p.name);
        assert!(w.colorize.is_some() && !w.steps.is_empty(), "{}", p.name);
        assert_eq!(
            w.colorize.as_ref().and_then(|c| c.upsample),
            Some(Upsample::EdgeAware)
        );
    }
    let portrait = Workflow::resolve("portrait").expect("portrait");
    assert!(
        portrait
            .steps
            .iter()
            .any(|s| matches!(s.op, PostOp::SkinTone(_))),
        "portrait protects skin"
    );
    let building = Workflow::resolve("building").expect("building");
    assert_eq!(building.colorize.map(|c| c.size), Some(SizeChoice::Auto));
    assert!(
        building
            .steps
            .iter()
            .any(|s| matches!(s.op, PostOp::LocalContrast(_)))
    );
}

#[test]
fn unknown_node_type_names_the_node() {
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "7": {"class_type": "DDColor-Magic", "inputs": {"image": ["1", 0]}}}"#,
    );
    assert!(
        e.starts_with("t.json: node \"7\": unknown node type \"DDColor-Magic\""),
        "{e}"
    );
}

#[test]
fn dangling_link_names_node_and_input() {
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["9", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
    );
    assert_eq!(
        e,
        "t.json: node \"2\" (DDColor-ddcolorize), input \"image\": links to node \"9\", which does not exist"
    );
}

#[test]
fn a_cycle_is_refused() {
    let e = error(
        r#"{"1": {"class_type": "DDColor-Saturation", "inputs": {"image": ["3", 0]}},
            "2": {"class_type": "DDColor-Sharpen", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "DDColor-Grain", "inputs": {"image": ["2", 0]}},
            "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}}"#,
    );
    assert!(e.contains("form a cycle"), "{e}");
    for id in ["\"1\"", "\"2\"", "\"3\""] {
        assert!(e.contains(id), "{e}");
    }
}

#[test]
fn wrong_value_types_and_ranges_name_node_and_input() {
    let base = |inputs: &str| {
        format!(
            r#"{{"1": {{"class_type": "LoadImage", "inputs": {{}}}},
                "2": {{"class_type": "DDColor-ddcolorize", "inputs": {{"image": ["1", 0]}}}},
                "3": {{"class_type": "DDColor-Saturation", "inputs": {{"image": ["2", 0], {inputs}}}}},
                "4": {{"class_type": "SaveImage", "inputs": {{"images": ["3", 0]}}}}}}"#
        )
    };
    let e = error(&base(r#""saturation": "high""#));
    assert_eq!(
        e,
        "t.json: node \"3\" (DDColor-Saturation), input \"saturation\": expected a number from 0 to 3, found \"high\""
    );
    let e = error(&base(r#""saturation": 7"#));
    assert!(e.contains("input \"saturation\": 7 is out of range"), "{e}");
    let e = error(&base(r#""saturaton": 1"#));
    assert!(e.contains("input \"saturaton\": unknown input"), "{e}");
    // An IMAGE input given a plain string (the seed's "load_image_output").
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": "load_image_output", "size": 960}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
    );
    assert!(
        e.contains("node \"2\" (DDColor-ddcolorize), input \"image\": expected a link"),
        "{e}"
    );
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["1", 0], "size": 500}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
    );
    assert!(
        e.contains("input \"size\": expected \"auto\" or a multiple of 32"),
        "{e}"
    );
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-Style", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}"#,
    );
    assert!(
        e.contains("node \"2\" (DDColor-Style), input \"style\": missing"),
        "{e}"
    );
}

#[test]
fn mask_output_and_bad_shapes() {
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 1]}}}"#,
    );
    assert!(e.contains("a MASK"), "{e}");
    let e = error(r#"{"1": {"class_type": "LoadImage", "inputs": {}}}"#);
    assert!(e.contains("no SaveImage node"), "{e}");
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}"#,
    );
    assert!(e.contains("2 SaveImage nodes (\"2\", \"3\")"), "{e}");
    let e = error(
        r#"{"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-Sharpen", "inputs": {"image": ["1", 0]}},
            "3": {"class_type": "DDColor-ddcolorize", "inputs": {"image": ["2", 0]}},
            "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0]}}}"#,
    );
    assert!(
        e.contains("node \"3\": post-processing must come after"),
        "{e}"
    );
    let e = error(r#"{"nodes": [], "links": []}"#);
    assert!(e.contains("Save (API Format)"), "{e}");
    let e = error("{\"1\": ");
    assert!(e.starts_with("t.json: not valid JSON"), "{e}");
}

#[test]
fn post_processing_alone_is_a_workflow() {
    // Restyling a photo that already has colour: no model involved.
    let w = parse(
        r#"{"prompt": {"1": {"class_type": "LoadImage", "inputs": {}},
            "2": {"class_type": "DDColor-Style", "inputs": {"image": ["1", 0], "style": "vintage"}},
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}}"#,
    )
    .expect("valid");
    assert!(w.colorize.is_none());
    assert!(!w.steps.is_empty());
}

#[test]
fn auto_size_follows_resolution() {
    assert_eq!(auto_size(300, 200), 256);
    assert_eq!(auto_size(1024, 768), 256);
    assert_eq!(auto_size(1024, 1024), 384);
    assert_eq!(auto_size(2000, 1400), 512);
    assert_eq!(auto_size(4764, 3759), 1280);
    assert_eq!(auto_size(3000, 2400), 960);
    for (w, h) in [(10, 10), (640, 480), (8000, 6000)] {
        let s = auto_size(w, h);
        assert!(s.is_multiple_of(32) && (256..=1280).contains(&s));
    }
}

#[test]
fn unknown_workflow_name_is_explained() {
    let e = match Workflow::resolve("potrait") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(
        e,
        "potrait: unknown workflow: give a .json file or one of portrait, building"
    );
}

#[test]
fn save_prefix_is_a_file_name_part() {
    for (prefix, want) in [
        ("ComfyUI/portrait", "portrait"),
        ("a\\b", "b"),
        ("../escape", "escape"),
        ("..", "color"),
        ("", "color"),
        ("old/", "color"),
        ("wf", "wf"),
    ] {
        let json = format!(
            r#"{{"1": {{"class_type": "LoadImage", "inputs": {{}}}},
                "2": {{"class_type": "SaveImage", "inputs": {{"images": ["1", 0], "filename_prefix": {}}}}}}}"#,
            serde_json::to_string(prefix).expect("json")
        );
        assert_eq!(parse(&json).expect("valid").save_prefix, want, "{prefix:?}");
    }
}

#[test]
fn the_plain_recipe_leaves_upsampling_to_the_caller() {
    let mut w = Workflow::plain();
    w.add_style(Style::Vintage, 1.0);
    assert_eq!(w.colorize.as_ref().and_then(|c| c.upsample), None);
    assert!(!w.steps.is_empty());
}
