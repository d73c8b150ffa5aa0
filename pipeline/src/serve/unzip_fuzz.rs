//! Fuzzing of the upload zip reader with the workspace's fuzz driver: whatever a user uploads,
//! unpacking must refuse it in one line or unpack it within the limits, never panic, never write
//! outside its folder, and leave nothing behind after a refusal (the checks of [`fuzz_one`]).

use std::io::Write;
use std::time::Duration;

use ddcolor_fuzz::driver::{Target, label};

use super::*;

/// A zip of (name, bytes, stored?) entries, as archivers write them.
fn zip_of(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes, stored) in entries {
        let method = if *stored {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        if name.ends_with('/') {
            w.add_directory(*name, options).expect("zip folder");
        } else {
            w.start_file(*name, options).expect("zip entry");
            w.write_all(bytes).expect("zip data");
        }
    }
    w.finish().expect("zip").into_inner()
}

fn seeds() -> Vec<Vec<u8>> {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\0\0\0\0";
    vec![
        zip_of(&[("a.png", png, false)]),
        zip_of(&[
            ("album/", b"", true),
            ("album/one.jpg", b"\xff\xd8\xff\xe0 jpeg", true),
            ("album/two/three.png", png, false),
            ("__MACOSX/album/._one.jpg", b"fork", true),
        ]),
        zip_of(&[("zeros.tif", &[0u8; 20_000], false)]),
        zip_of(&[
            ("a.jpg", b"1", true),
            ("b.jpg", b"22", true),
            ("c.jpg", b"333", true),
        ]),
    ]
}

fn run(data: &[u8]) -> String {
    label(fuzz_one(data))
}

pub(super) const TARGET: Target = Target {
    name: "upload_zip",
    seeds,
    run,
    dictionary: &[
        b"PK\x03\x04",
        b"PK\x01\x02",
        b"PK\x05\x06",
        b"PK\x06\x06",
        b"PK\x07\x08",
        b"../",
        b"/",
        b"\\",
        b"\xff\xff\xff\xff",
        b"\x00\x00\x00\x00",
    ],
    max_len: 8192,
    // Each run makes a folder, writes the archive and unpacks it: a few hundred take seconds.
    short_runs: 400,
    time_limit: Duration::from_secs(2),
    memory_limit: 64 << 20,
};

#[test]
fn upload_zip() {
    ddcolor_fuzz::fuzz(&TARGET);
}
