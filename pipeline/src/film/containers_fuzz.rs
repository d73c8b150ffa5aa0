//! Fuzzing of the Matroska tag fixer ([`unescape_matroska_tags`] and its EBML helpers) with the
//! workspace's fuzz driver: it rewrites a finished film in place, so any tail the muxer (or a
//! damaged disk) leaves must give an error or a file of the same length, never a panic or a
//! write outside the value it found.

use std::sync::OnceLock;
use std::time::Duration;

use ddcolor_fuzz::driver::{Target, label};
use ddcolor_fuzz::rng::Choices;

use super::*;

/// What the muxer writes for `value`: the TagString ID, its EBML size, the escaped text and a NUL.
fn tag(value: &str, size_width: usize) -> Vec<u8> {
    let escaped = value.to_value().serialize().expect("serialize").to_string();
    let size = escaped.len() as u64 + 1;
    let mut v = vec![0x44, 0x87];
    let marker = 1u64 << (7 * size_width);
    let num = (marker | size).to_be_bytes();
    v.extend(&num[8 - size_width..]);
    v.extend(escaped.as_bytes());
    v.push(0);
    v
}

const VALUES: &[&str] = &[
    "Colorized by ddcolor 0.1.0 with model test (sha256 0123)",
    "ddcolor 0.1.0",
    "a",
    "",
    "\"quoted\" \\ back",
];

fn seeds() -> Vec<Vec<u8>> {
    init_gst();
    (0..VALUES.len() as u8)
        .map(|i| {
            // Choices: which values to fix, then the file's bytes.
            let mut v = vec![i, (i + 1) % VALUES.len() as u8, 0x1A, 0x45, 0xDF, 0xA3];
            v.extend(tag(VALUES[i as usize], 1 + i as usize % 4));
            v.extend([0xEC, 0x81, 0x00]);
            v.extend(tag(VALUES[(i as usize + 1) % VALUES.len()], 8));
            v
        })
        .collect()
}

fn init_gst() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| gst::init().expect("GStreamer"));
}

fn run(data: &[u8]) -> String {
    init_gst();
    let mut c = Choices::new(data);
    let values = [*c.pick(VALUES), *c.pick(VALUES)];
    let body = c.rest();
    // The helpers alone, on the same bytes.
    for w in 0..=body.len().min(9) {
        if let Some(v) = ebml_size(&body[..w]) {
            assert!(w >= 1 && v < 1 << (7 * w), "{w}-byte EBML size gives {v}");
        }
    }
    let needle = &body[..body.len().min(3)];
    if let Some(i) = find(body, needle) {
        assert_eq!(&body[i..i + needle.len()], needle);
    }
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let path = DIR
        .get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
        .join("film.mkv");
    std::fs::write(&path, body).expect("write the test file");
    let result = unescape_matroska_tags(&path, &values);
    let after = std::fs::read(&path).expect("read back");
    assert_eq!(after.len(), body.len(), "the file keeps its length");
    // Only bytes of a found value change, and only to its plain text or padding.
    for (i, (a, b)) in body.iter().zip(&after).enumerate() {
        if a != b {
            assert!(
                i >= 3
                    && (body[i - 3..i].contains(&0x87)
                        || body[..i].ends_with(b"\"")
                        || *b == 0
                        || body[..i].windows(2).any(|w| w == [0x44, 0x87])),
                "byte {i} changed outside a tag value"
            );
        }
    }
    label(result.map_err(|e| format!("{e:#}")))
}

pub(super) const TARGET: Target = Target {
    name: "matroska_tags",
    seeds,
    run,
    dictionary: &[
        b"\x44\x87",
        b"\x1a\x45\xdf\xa3",
        b"\x12\x54\xc3\x67",
        b"\\ ",
        b"\"",
        b"\x01\x00\x00\x00\x00\x00\x00",
    ],
    max_len: 4096,
    // Each run writes and syncs a file: a few hundred runs take seconds.
    short_runs: 400,
    time_limit: Duration::from_secs(2),
    memory_limit: 64 << 20,
};

#[test]
fn matroska_tags() {
    ddcolor_fuzz::fuzz(&TARGET);
}
