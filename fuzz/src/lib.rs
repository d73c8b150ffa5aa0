//! Fuzzing on the stable toolchain, without cargo-fuzz: each target is a plain `fn(&[u8])` over
//! the product's real entry points, driven by a seeded mutator over real seed files. Hostile
//! input (damaged scans, hand-edited workflows, frames from a demuxer we do not control) must
//! give an error, never a panic, a hang or an unbounded allocation; `cargo test` runs a short,
//! fixed-seed budget so that a regression fails the ordinary test run, and `make fuzz` runs a
//! long one with varied seeds.

pub mod alloc;
pub mod driver;
pub mod mutate;
pub mod rng;
pub mod targets;

pub use driver::{Target, fuzz};
