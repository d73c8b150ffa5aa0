//! Running the model: which model file (the catalog), where it runs (the device), the ONNX
//! Runtime session, and the CUDA libraries and stream the session shares with the GPU kernels.

pub mod catalog;
pub mod cuda;
pub mod device;
pub mod model;
