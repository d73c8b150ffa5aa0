//! The fuzz targets under `cargo test`: a short, fixed-seed budget per target (the same inputs
//! every run, so a failure here is reproducible), after replaying every kept regression in
//! `tests/fuzz/regressions/<target>/`. `make fuzz` runs the same tests with `FUZZ_SECONDS` and
//! a varied `FUZZ_SEED`. This binary counts heap bytes, so an input that makes the code
//! allocate far beyond its size is a finding too.

use ddcolor_fuzz::alloc::CountingAlloc;
use ddcolor_fuzz::fuzz;
use ddcolor_fuzz::targets::{frame, photo, provenance, workflow};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn photo() {
    fuzz(&photo::TARGET);
}

#[test]
fn workflow_json() {
    fuzz(&workflow::RAW);
}

#[test]
fn workflow_graph() {
    fuzz(&workflow::GRAPH);
}

#[test]
fn frame_convert() {
    fuzz(&frame::TARGET);
}

#[test]
fn provenance() {
    fuzz(&provenance::TARGET);
}
