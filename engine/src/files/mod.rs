//! Photos on disk: decoding and encoding the formats the tool takes and writes, writing results
//! atomically, the provenance recorded in each result, and the visible mark.

pub mod atomic;
pub mod codecs;
pub mod mark;
pub mod provenance;
