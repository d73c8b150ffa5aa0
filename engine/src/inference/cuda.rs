//! The CUDA libraries and the one stream, below both the model and the recipe's kernels:
//! ONNX Runtime's CUDA provider is handed the stream the kernels run on, so the two share it
//! without either layer knowing the other. Loaded only when first asked (`cudarc`'s dynamic
//! loading): a machine without a GPU never opens either library.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaStream};

/// Why the GPU recipe cannot run, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no CUDA driver library (libcuda.so.1): is the NVIDIA driver installed?")]
    NoDriver,
    #[error(
        "no NVRTC library (libnvrtc.so.13): install PyPI nvidia-cuda-nvrtc or the CUDA toolkit, and set DDCOLOR_NVRTC_PATH to the library"
    )]
    NoNvrtc,
    #[error("CUDA: {0}")]
    Driver(#[from] cudarc::driver::DriverError),
    #[error("NVRTC could not compile the kernels: {0}")]
    Compile(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Engine(#[from] crate::EngineError),
}

/// Where NVRTC is looked for before the system's search path: `DDCOLOR_NVRTC_PATH`, next to the
/// executable, then the copy the project's set-up links into `.deps/nvrtc` (PyPI
/// `nvidia-cuda-nvrtc`, so a machine with only the NVIDIA driver needs no CUDA toolkit).
pub fn nvrtc_candidates() -> Vec<std::path::PathBuf> {
    super::model::library_candidates("DDCOLOR_NVRTC_PATH", "libnvrtc.so.13", "nvrtc")
}

/// Loads the first NVRTC candidate that exists, once per process. `cudarc` opens NVRTC by name
/// (`libnvrtc.so.13`), and the dynamic loader answers that with a library of that name already
/// loaded; without a candidate the system's search path (LD_LIBRARY_PATH, the CUDA toolkit's
/// ld.so.conf entry) decides.
fn preload_nvrtc() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        for path in nvrtc_candidates().iter().filter(|p| p.is_file()) {
            // SAFETY: NVRTC's initialisers only set up the library itself.
            if let Ok(lib) = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_GLOBAL) } {
                // Kept for the life of the process, as cudarc keeps its own handle.
                std::mem::forget(lib);
                return;
            }
        }
    });
}

/// Whether NVRTC 13 can be loaded (see [`preload_nvrtc`]). cudarc asks the loader for
/// `libnvrtc.so` before `libnvrtc.so.13`, so another toolkit's NVRTC could answer: the version
/// is checked, as the bindings are those of CUDA 13.
pub fn nvrtc_present() -> bool {
    preload_nvrtc();
    std::panic::catch_unwind(|| {
        // SAFETY: the probe only tries to dlopen the library; nvrtcVersion writes two ints.
        unsafe {
            if !cudarc::nvrtc::sys::is_culib_present() {
                return false;
            }
            let (mut major, mut minor) = (0, 0);
            let ok = cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor)
                == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS;
            ok && major == 13
        }
    })
    .unwrap_or(false)
}

/// Whether the CUDA driver and NVRTC libraries can be loaded. `cudarc` panics (rather than
/// return an error) on the first call into a library it cannot find, so this is asked first.
pub fn libraries_present() -> Result<(), GpuError> {
    let probe = |f: fn() -> bool| std::panic::catch_unwind(f).unwrap_or(false);
    // SAFETY: the probes only try to dlopen the libraries.
    if !probe(|| unsafe { cudarc::driver::sys::is_culib_present() }) {
        return Err(GpuError::NoDriver);
    }
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
    }
    Ok(())
}

/// The primary context of GPU `device_id` (the one the kernels and ONNX Runtime's CUDA provider
/// use), as `(CUcontext, CUdevice)`: the shared stream's, which holds it for the life of the
/// process, as GStreamer neighbours given it in a `GstCudaContext` may outlive every object of
/// ours.
pub fn primary_context(device_id: usize) -> Result<(usize, i32), GpuError> {
    let stream = shared_stream(device_id)?;
    let ctx = stream.context();
    Ok((ctx.cu_ctx() as usize, ctx.cu_device()))
}

/// The one CUDA stream of GPU `device_id` for the whole recipe: the kernels run on it, and ONNX
/// Runtime is given it as its compute stream ([`crate::inference::device::providers`]), so the model's work
/// is ordered after the kernels' without the host waiting in between. Made once, on the
/// primary context, and kept for the life of the process (ONNX Runtime requires the stream to
/// outlive its sessions).
pub fn shared_stream(device_id: usize) -> Result<Arc<CudaStream>, GpuError> {
    static STREAMS: std::sync::Mutex<Vec<(usize, Arc<CudaStream>)>> =
        std::sync::Mutex::new(Vec::new());
    libraries_present()?;
    let mut streams = STREAMS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, s)) = streams.iter().find(|(id, _)| *id == device_id) {
        return Ok(s.clone());
    }
    let ctx = CudaContext::new(device_id)?;
    // Everything cudarc does here runs on this one stream (ONNX Runtime too, or after a
    // synchronisation), so cudarc's per-buffer events would only add two or three driver
    // calls per kernel argument, hundreds of launches a frame. Off before any allocation.
    // SAFETY: no buffer of this context is used on another stream.
    unsafe { ctx.disable_event_tracking() };
    let stream = ctx.new_stream()?;
    streams.push((device_id, stream.clone()));
    Ok(stream)
}
