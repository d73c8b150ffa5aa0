//! A photo in memory and the colour maths on it: samples, OpenCV-exact Lab, the resizes the
//! recipe makes, and chroma scaled row by row. The lowest layer: it knows no model and no file.

pub mod lab;
pub mod photo;
pub mod resize;
pub mod rows;
