//! Photos on disk: decoding and encoding the formats the tool takes and writes, the provenance
//! recorded in each result, and the visible mark.

pub mod codecs;
pub mod mark;
pub mod provenance;
