//! The fuzz targets over the engine's input-driven code, one module per kind of input. (The
//! Matroska tag fixer lives in the `ddcolor` binary and is fuzzed by its own unit tests, with
//! this crate's driver.)

pub mod frame;
pub mod photo;
pub mod provenance;
pub mod workflow;
