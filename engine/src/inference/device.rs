//! Where the model runs: ONNX Runtime on the CPU, or its CUDA execution provider (with TensorRT
//! in front of it when the library has it) on an NVIDIA GPU.
//!
//! `auto` takes the GPU when the ONNX Runtime library in use was built with CUDA and a session
//! opens on the device, else the CPU, and says why in one line. `cuda` asked explicitly fails
//! with the reason instead: a user who asked for the GPU must not get an hour of CPU work
//! without knowing. The PyPI `onnxruntime` wheel the set-up installs is CPU-only; the GPU needs
//! the `onnxruntime-gpu` build (its library found the same way: `ORT_DYLIB_PATH`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the user wants inference to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
    /// The GPU when it can be used, else the CPU.
    #[default]
    Auto,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            "auto" => Ok(Self::Auto),
            other => Err(format!(
                "unknown device '{other}' (expected cpu, cuda or auto)"
            )),
        }
    }
}

/// GPU settings; ignored on the CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// CUDA device ordinal.
    pub device_id: u32,
    /// TensorRT in half precision (about twice as fast on recent GPUs; colours within a level
    /// or two of fp32).
    pub fp16: bool,
    /// Where TensorRT keeps the engines it builds: building one takes minutes, loading it
    /// seconds. `None`: no cache.
    pub engine_cache: Option<PathBuf>,
    /// Cap on ONNX Runtime's CUDA memory arena, in bytes (and TensorRT's build workspace); the
    /// memory TensorRT's engines themselves take is not capped.
    pub max_memory: Option<u64>,
}

/// What the ONNX Runtime library in use can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Support {
    pub cuda: bool,
    pub tensorrt: bool,
}

/// Where a model ended up running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the CPU; `why` is set when the GPU was wanted (`auto`) but could not be used.
    Cpu { why: Option<String> },
    Cuda {
        device_id: u32,
        tensorrt: bool,
        fp16: bool,
    },
}

impl Placement {
    pub fn is_gpu(&self) -> bool {
        matches!(self, Self::Cuda { .. })
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu { why: None } => f.write_str("CPU"),
            Self::Cpu { why: Some(why) } => write!(f, "CPU ({why})"),
            Self::Cuda {
                device_id,
                tensorrt,
                fp16,
            } => {
                write!(f, "CUDA GPU {device_id}")?;
                match (tensorrt, fp16) {
                    (true, true) => f.write_str(" (TensorRT, fp16)"),
                    (true, false) => f.write_str(" (TensorRT)"),
                    (false, _) => f.write_str(" (CUDA execution provider)"),
                }
            }
        }
    }
}

/// The first step of opening a model on a device, decided before any session is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Open on the CPU; the reason the GPU is not tried, if it was wanted.
    Cpu(Option<String>),
    /// Try the GPU; `required`: fail rather than fall back to the CPU.
    Gpu { tensorrt: bool, required: bool },
    /// The GPU was asked for and cannot work: this is the error.
    Refuse(String),
}

/// Why the library cannot use a GPU, in words a user can act on.
pub const NO_CUDA_BUILD: &str = "this ONNX Runtime library has no CUDA support: install the GPU build \
     (PyPI onnxruntime-gpu) and point ORT_DYLIB_PATH at its libonnxruntime.so";

pub(crate) fn attempt(device: Device, support: Support) -> Attempt {
    match (device, support.cuda) {
        (Device::Cpu, _) => Attempt::Cpu(None),
        (Device::Auto, false) => Attempt::Cpu(Some(
            "no CUDA-enabled ONNX Runtime; the GPU build is PyPI onnxruntime-gpu".into(),
        )),
        (Device::Cuda, false) => Attempt::Refuse(NO_CUDA_BUILD.into()),
        (Device::Auto | Device::Cuda, true) => Attempt::Gpu {
            tensorrt: support.tensorrt,
            required: device == Device::Cuda,
        },
    }
}

/// What the loaded ONNX Runtime library was built with. Call after [`crate::inference::model::environment`]:
/// before it, `ort` would load a library of its own choosing.
pub(crate) fn support() -> Support {
    use ort::ep::ExecutionProvider;
    Support {
        cuda: ort::ep::CUDA::is_available().unwrap_or(false),
        tensorrt: ort::ep::TensorRT::is_available().unwrap_or(false),
    }
}

/// The execution providers for a GPU session, best first, and whether they run on the
/// recipe's stream ([`crate::inference::cuda::shared_stream`], where the CUDA driver and NVRTC load). Each
/// fails the session when it cannot be set up, so that a GPU that does not work is noticed (and
/// `auto` falls back).
pub(crate) fn providers(
    gpu: &GpuOptions,
    tensorrt: bool,
) -> (Vec<ort::ep::ExecutionProviderDispatch>, bool) {
    let id = gpu.device_id as i32;
    let stream = crate::inference::cuda::shared_stream(gpu.device_id as usize)
        .ok()
        .map(|s| s.cu_stream() as *mut ());
    let mut out = Vec::new();
    if tensorrt {
        let mut trt = ort::ep::TensorRT::default()
            .with_device_id(id)
            .with_fp16(gpu.fp16);
        if let Some(s) = stream {
            // SAFETY: the shared stream lives for the whole process.
            trt = unsafe { trt.with_compute_stream(s) };
        }
        if let Some(dir) = &gpu.engine_cache {
            trt = trt
                .with_engine_cache(true)
                .with_engine_cache_path(dir.display().to_string())
                .with_timing_cache(true)
                .with_timing_cache_path(dir.display().to_string());
        }
        if let Some(bytes) = gpu.max_memory {
            trt = trt.with_max_workspace_size(bytes as usize);
        }
        out.push(trt.build().error_on_failure());
    }
    let mut cuda = ort::ep::CUDA::default().with_device_id(id);
    if let Some(bytes) = gpu.max_memory {
        cuda = cuda.with_memory_limit(bytes as usize);
    }
    if let Some(s) = stream {
        // SAFETY: as above.
        cuda = unsafe { cuda.with_compute_stream(s) };
    }
    out.push(cuda.build().error_on_failure());
    (out, stream.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_and_fallback() {
        let none = Support {
            cuda: false,
            tensorrt: false,
        };
        let cuda = Support {
            cuda: true,
            tensorrt: false,
        };
        let trt = Support {
            cuda: true,
            tensorrt: true,
        };
        assert_eq!(attempt(Device::Cpu, trt), Attempt::Cpu(None));
        assert!(
            matches!(attempt(Device::Auto, none), Attempt::Cpu(Some(why)) if why.contains("onnxruntime-gpu"))
        );
        assert!(
            matches!(attempt(Device::Cuda, none), Attempt::Refuse(why) if why.contains("onnxruntime-gpu"))
        );
        assert_eq!(
            attempt(Device::Auto, cuda),
            Attempt::Gpu {
                tensorrt: false,
                required: false
            }
        );
        assert_eq!(
            attempt(Device::Cuda, trt),
            Attempt::Gpu {
                tensorrt: true,
                required: true
            }
        );
    }

    #[test]
    fn names_and_placement_words() {
        for d in [Device::Cpu, Device::Cuda, Device::Auto] {
            assert_eq!(d.name().parse::<Device>(), Ok(d));
        }
        assert_eq!("GPU".parse::<Device>(), Ok(Device::Cuda));
        assert!("tpu".parse::<Device>().is_err());
        assert_eq!(Placement::Cpu { why: None }.to_string(), "CPU");
        assert_eq!(
            Placement::Cuda {
                device_id: 0,
                tensorrt: true,
                fp16: true
            }
            .to_string(),
            "CUDA GPU 0 (TensorRT, fp16)"
        );
    }

    #[test]
    fn the_cpu_build_offers_no_gpu() {
        // The set-up installs the CPU-only wheel: CUDA is not offered, so `auto` means the CPU
        // and `cuda` is refused. (A machine with onnxruntime-gpu skips this check.)
        if std::env::var_os("ORT_DYLIB_PATH").is_some() {
            eprintln!("skipped: ORT_DYLIB_PATH names another ONNX Runtime library");
            return;
        }
        crate::inference::model::environment().expect("ONNX Runtime");
        let s = support();
        assert!(!s.cuda && !s.tensorrt, "{s:?}");
    }
}
