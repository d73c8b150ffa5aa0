//! Provenance: the one place the engine turns outside text (file names, workflow names,
//! settings) into a format with syntax, the XMP packet and the formats' text fields. Any text
//! must come out escaped (no markup of its own in the packet, no control characters), and a
//! result written with it must read back through the engine's own reader.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ddcolor_engine::io::{DEFAULT_MAX_PIXELS, WriteOptions, decode_photo, encode_photo};
use ddcolor_engine::provenance::{Provenance, model_name};
use ddcolor_engine::{Photo, Samples};

use crate::driver::{Target, label};
use crate::rng::Choices;

pub const TARGET: Target = Target {
    name: "provenance",
    seeds,
    run,
    dictionary: &[
        b"<",
        b">",
        b"&",
        b"\"",
        b"'",
        b"]]>",
        b"<?xpacket",
        b"\0",
        b"\x1b",
        b"\xef\xbf\xbe",
        b"ddcolor_paper_tiny_x.onnx",
    ],
    max_len: 4096,
    short_runs: 3000,
    time_limit: Duration::from_secs(2),
    memory_limit: 64 << 20,
};

/// Splits the input into text fields at 0xFF bytes (which never occur in UTF-8).
fn fields(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == 0xFF).collect()
}

fn text(f: &[u8]) -> String {
    String::from_utf8_lossy(f).into_owned()
}

fn run(data: &[u8]) -> String {
    let mut c = Choices::new(data.first().map_or(&[][..], std::slice::from_ref));
    let ext = *c.pick(&["png", "jpg", "tif", "webp"]);
    let f = fields(data.get(1..).unwrap_or_default());
    let at = |i: usize| f.get(i).copied().unwrap_or_default();
    let settings = f
        .get(5..)
        .unwrap_or_default()
        .chunks(2)
        .map(|kv| (text(kv[0]), text(kv.get(1).copied().unwrap_or_default())))
        .collect();
    let p = Provenance {
        tool: text(at(0)),
        model_name: model_name(Path::new(OsStr::from_bytes(at(1)))),
        model_sha256: text(at(2)),
        workflow: (!at(3).is_empty()).then(|| text(at(3))),
        settings,
        source: None,
    }
    .with_source(Path::new(OsStr::from_bytes(at(4))));
    let _ = p.summary();
    let packet = p.xmp_packet();
    // Markup comes from the template only: the same provenance with every text blanked has the
    // same number of angle brackets.
    let blank = |s: &str| "x".repeat(s.is_empty() as usize ^ 1);
    let plain = Provenance {
        tool: blank(&p.tool),
        model_name: blank(&p.model_name),
        model_sha256: blank(&p.model_sha256),
        workflow: p.workflow.as_deref().map(blank),
        settings: p
            .settings
            .iter()
            .map(|(k, v)| (blank(k), blank(v)))
            .collect(),
        source: p.source.as_deref().map(blank),
    }
    .xmp_packet();
    for ch in ['<', '>'] {
        assert_eq!(
            packet.matches(ch).count(),
            plain.matches(ch).count(),
            "text made markup in the XMP packet"
        );
    }
    assert!(
        !packet
            .chars()
            .any(|c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')),
        "control character in the XMP packet"
    );
    // Written with it, a result reads back.
    let photo = Photo {
        width: 3,
        height: 2,
        channels: 3,
        samples: Samples::U8((0..18).map(|i| i * 13).collect()),
    };
    let name = format!("out.{ext}");
    let options = WriteOptions {
        provenance: Some(Arc::new(p)),
        ..WriteOptions::default()
    };
    label(
        encode_photo(&photo, Path::new(&name), options)
            .map(|bytes| {
                let back = decode_photo(&bytes, Path::new(&name), DEFAULT_MAX_PIXELS)
                    .unwrap_or_else(|e| {
                        panic!("a result with this provenance does not read back: {e}")
                    });
                assert_eq!((back.width, back.height), (3, 2), "read back at its size");
            })
            .map_err(|e| e.to_string()),
    )
}

fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for ext in 0..4u8 {
        let mut s = vec![ext];
        s.extend_from_slice(
            b"ddcolor 0.1.0\xffmodels/ddcolor_paper_tiny.onnx\xff0123abcd\xffportrait\xffphotos/a b&c.jpg\xffinput_size\xff512\xffupsample\xffedge-aware",
        );
        v.push(s);
    }
    v
}
