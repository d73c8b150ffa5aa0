//! A DDColor model behind ONNX Runtime: finding the runtime library, checking that a model
//! follows the DDColor contract before any photo is read, running it.
//!
//! The contract: one float32 input `[N, 3, S, S]` (grey RGB in [0, 1]) and one float32 output
//! `[N, 2, S, S]` (Lab a and b). S is fixed by the model or, for dynamic H/W, chosen by the caller.
//! Input and output names are not enforced: community exports name them differently, and with one
//! input and one output there is nothing to confuse.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::{Tensor, TensorElementType, TensorRef, ValueType};

use crate::error::{EngineError, Result};
use crate::inference::device::{self, Attempt, Device, GpuOptions, Placement};

/// `DDCOLOR_SIMULATE_OOM_ABOVE=S`, in builds with the `test-hooks` feature only: every model
/// call above S fails as if the device ran out of memory, so the step-down can be tested on
/// machines without a GPU (and without exhausting their memory for real).
#[cfg(feature = "test-hooks")]
fn simulated_out_of_memory(size: usize) -> Result<()> {
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    let limit = *LIMIT.get_or_init(|| {
        std::env::var("DDCOLOR_SIMULATE_OOM_ABOVE")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    match limit {
        Some(limit) if size > limit => Err(EngineError::OutOfMemory(format!(
            "out of memory (simulated above S={limit}: DDCOLOR_SIMULATE_OOM_ABOVE)"
        ))),
        _ => Ok(()),
    }
}

#[cfg(not(feature = "test-hooks"))]
fn simulated_out_of_memory(_size: usize) -> Result<()> {
    Ok(())
}

/// An error from ONNX Runtime as the engine's: running out of device memory is its own kind,
/// recognised here once (ONNX Runtime's CUDA and TensorRT providers and its allocators word it
/// several ways), so that callers decide on the kind and never on the text.
fn inference_error(e: impl std::fmt::Display) -> EngineError {
    let msg = e.to_string();
    let lower = msg.to_ascii_lowercase();
    let out_of_memory = [
        "out of memory",
        "cuda_error_out_of_memory",
        "cudaerrormemoryallocation",
        "failed to allocate memory",
        "cudnn_status_alloc_failed",
        "cublas_status_alloc_failed",
        "could not be allocated",
        "insufficient memory",
        "bad_alloc",
    ]
    .iter()
    .any(|k| lower.contains(k));
    if out_of_memory {
        EngineError::OutOfMemory(msg)
    } else {
        EngineError::Inference(msg)
    }
}

/// Input size used for models with dynamic H/W when the caller does not choose one.
pub const DEFAULT_INPUT_SIZE: usize = 512;

/// Where the ONNX Runtime library is looked for, in order: `ORT_DYLIB_PATH`, next to the
/// executable (installed layouts), then the copy the project's set-up installs in `.deps/`
/// (found from the executable's place in the repository, then from where it was built).
pub fn ort_library_candidates() -> Vec<PathBuf> {
    library_candidates("ORT_DYLIB_PATH", "libonnxruntime.so", "onnxruntime")
}

/// Where a shared library the project's set-up installs is looked for, in order: the path in
/// the environment variable `env` (then nothing else), `file` next to the executable and in
/// `../lib`, then `.deps/<deps_dir>/file` of the repository the executable sits in; then the
/// same beside the shared object this code is in (the GStreamer plugin, loaded by
/// `gst-launch-1.0` from wherever it was put). Test builds also look in the repository they
/// were built from; a product build carries no path of the machine it was built on.
pub(crate) fn library_candidates(env: &str, file: &str, deps_dir: &str) -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os(env) {
        c.push(PathBuf::from(p));
        return c;
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    for dir in exe_dir.into_iter().chain(code_dir()) {
        c.push(dir.join(file));
        c.push(dir.join("../lib").join(file));
        // target/release/ddcolor inside the repository, wherever the repository was moved.
        c.push(dir.join("../../.deps").join(deps_dir).join(file));
    }
    #[cfg(debug_assertions)]
    c.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../.deps")
            .join(deps_dir)
            .join(file),
    );
    c
}

/// The folder of the executable or shared object this code was linked into: for the plugin,
/// where its `.so` is, which the executable's folder (`/usr/bin` for `gst-launch-1.0`) is not.
pub(crate) fn code_dir() -> Option<PathBuf> {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let here = code_dir as *const () as *const libc::c_void;
    // SAFETY: dladdr only reads the loader's tables and fills `info`; `dli_fname` points into
    // the loader's own strings, copied out before anything could unload them.
    let found = unsafe { libc::dladdr(here, &mut info) } != 0 && !info.dli_fname.is_null();
    if !found {
        return None;
    }
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(std::ffi::OsStr::new(
        std::str::from_utf8(name.to_bytes()).ok()?,
    ));
    let path = path.canonicalize().unwrap_or(path);
    path.parent().map(Path::to_path_buf)
}

/// The process-wide ONNX Runtime environment (ONNX Runtime allows one per process).
pub(crate) fn environment() -> Result<&'static Environment> {
    static ENV: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let candidates = ort_library_candidates();
        let Some(lib) = candidates.iter().find(|p| p.is_file()) else {
            let list: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "library not found (looked for {}); run `make setup` or set ORT_DYLIB_PATH",
                list.join(", ")
            ));
        };
        ort::init_from(lib)
            .map_err(|e| format!("{}: {e}", lib.display()))?
            .with_name("ddcolor")
            .build()
            .map_err(|e| format!("{}: {e}", lib.display()))
    })
    .as_ref()
    .map_err(|e| EngineError::Runtime(e.clone()))
}

/// How ONNX Runtime holds host memory between runs on the CPU. A model's working memory at
/// S=1280 is several GB; what matters over thousands of photos of mixed sizes is the peak and
/// what stays held between photos. `scripts/bench-memory.sh` measures every mode side by side
/// (`make bench-memory`); the default is the one that keeps both flat for the smallest cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CpuMemory {
    /// ONNX Runtime's own defaults: its CPU arena, which keeps the largest working set any run
    /// needed, and more as sizes mix (runs at one S cannot reuse another's pieces of it).
    Arena,
    /// The arena, shrunk back at the end of every run: memory is handed back and taken again
    /// for every photo, which costs page faults each time.
    ArenaShrink,
    /// The arena, shrunk back at the end of a run whose S differs from the run before: at one
    /// S (a film, a batch at a fixed size) the arena is reused as it is, at no cost; when sizes
    /// mix, no run inherits the pieces another S left behind, so the peak stays that of the
    /// largest S alone.
    #[default]
    ArenaShrinkOnChange,
    /// No arena: tensors come from the C allocator and go back to it.
    NoArena,
    /// No arena, and the C allocator's free memory handed back to the system after each run
    /// (ONNX Runtime's worker threads each allocate from their own malloc arena, whose free
    /// space glibc keeps until asked).
    NoArenaTrim,
}

impl CpuMemory {
    pub const ALL: [CpuMemory; 5] = [
        CpuMemory::Arena,
        CpuMemory::ArenaShrink,
        CpuMemory::ArenaShrinkOnChange,
        CpuMemory::NoArena,
        CpuMemory::NoArenaTrim,
    ];

    /// The name the memory benchmark prints and takes.
    pub fn name(self) -> &'static str {
        match self {
            CpuMemory::Arena => "arena",
            CpuMemory::ArenaShrink => "arena-shrink",
            CpuMemory::ArenaShrinkOnChange => "arena-shrink-on-change",
            CpuMemory::NoArena => "no-arena",
            CpuMemory::NoArenaTrim => "no-arena-trim",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    fn arena(self) -> bool {
        matches!(
            self,
            CpuMemory::Arena | CpuMemory::ArenaShrink | CpuMemory::ArenaShrinkOnChange
        )
    }

    /// Whether a run at `size` shrinks the arena at its end, after a run at `last`.
    fn shrinks(self, size: usize, last: Option<usize>) -> bool {
        match self {
            CpuMemory::ArenaShrink => true,
            CpuMemory::ArenaShrinkOnChange => last != Some(size),
            _ => false,
        }
    }
}

/// Hands the C allocator's free memory back to the system ([`CpuMemory::NoArenaTrim`]).
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it takes no pointer of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// How a model is opened.
#[derive(Clone, Debug, Default)]
pub struct ModelOptions {
    /// S for models with dynamic H/W (multiple of 32); must match S for fixed models.
    pub input_size: Option<usize>,
    /// Threads ONNX Runtime uses inside one inference (default: its own choice, one per core).
    pub threads: Option<usize>,
    /// Where inference runs (`auto`: the GPU when it can be used).
    pub device: Device,
    pub gpu: GpuOptions,
    /// Host memory on the CPU (the GPU's own memory is [`GpuOptions`]'s).
    pub cpu_memory: CpuMemory,
}

/// A loaded DDColor model.
pub struct Model {
    session: Session,
    path: PathBuf,
    size: usize,
    /// Whether the model takes any S (dynamic H/W), so [`Model::set_input_size`] can change it.
    dynamic_size: bool,
    /// `None`: dynamic batch axis; `Some(n)`: the model takes exactly n images per call.
    fixed_batch: Option<usize>,
    placement: Placement,
    /// ONNX Runtime runs on the GPU recipe's stream ([`crate::inference::cuda::shared_stream`]).
    shares_stream: bool,
    /// How host memory is kept between runs; applies when the model runs on the CPU.
    cpu_memory: CpuMemory,
    /// Asks ONNX Runtime to shrink its CPU arena at the end of a run (CPU sessions whose
    /// [`CpuMemory`] ever shrinks).
    shrink: Option<RunOptions>,
    /// S of the last run on the CPU, for [`CpuMemory::ArenaShrinkOnChange`].
    last_size: Option<usize>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("size", &self.size)
            .finish()
    }
}

fn describe(name: &str, ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, shape, .. } => {
            let dims: Vec<String> = shape
                .iter()
                .map(|&d| if d < 0 { "?".into() } else { d.to_string() })
                .collect();
            format!("'{name}' {ty:?} [{}]", dims.join(","))
        }
        other => format!("'{name}' {other:?}"),
    }
}

impl Model {
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Self> {
        if !path.is_file() {
            return Err(EngineError::ModelMissing {
                path: path.to_path_buf(),
            });
        }
        let env = environment()?;
        let load_err = |e: &dyn std::fmt::Display| EngineError::ModelLoad {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let open = |providers: Vec<ort::ep::ExecutionProviderDispatch>| -> Result<Session> {
            let mut builder = Session::builder(env)
                .map_err(|e| load_err(&e))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(|e| load_err(&e))?;
            // The CPU's memory settings for CPU sessions only: a GPU session keeps ONNX
            // Runtime's defaults, its working memory being the device's.
            if providers.is_empty() {
                builder = builder
                    .with_execution_providers([ort::ep::CPU::default()
                        .with_arena_allocator(options.cpu_memory.arena())
                        .build()])
                    .map_err(|e| load_err(&e))?;
            }
            if let Some(n) = options.threads {
                builder = builder.with_intra_threads(n).map_err(|e| load_err(&e))?;
            }
            if !providers.is_empty() {
                builder = builder
                    .with_execution_providers(providers)
                    .map_err(|e| load_err(&e))?;
            }
            builder.commit_from_file(path).map_err(|e| load_err(&e))
        };
        let mut shares_stream = false;
        let (session, placement) = match device::attempt(options.device, device::support()) {
            Attempt::Cpu(why) => (open(Vec::new())?, Placement::Cpu { why }),
            Attempt::Refuse(why) => {
                return Err(EngineError::Device {
                    path: path.to_path_buf(),
                    reason: why,
                });
            }
            Attempt::Gpu { tensorrt, required } => {
                // TensorRT in front of CUDA when the library offers it; the GPU build of ONNX
                // Runtime offers it even where TensorRT itself is not installed, so CUDA alone
                // is tried next.
                let mut opened = Err(EngineError::Inference("no GPU attempt".into()));
                for trt in [true, false].into_iter().filter(|&t| tensorrt || !t) {
                    let (providers, on_stream) = device::providers(&options.gpu, trt);
                    opened = open(providers).map(|s| (s, trt));
                    shares_stream = on_stream;
                    if opened.is_ok() {
                        break;
                    }
                }
                match opened {
                    Ok((s, tensorrt)) => (
                        s,
                        Placement::Cuda {
                            device_id: options.gpu.device_id,
                            tensorrt,
                            fp16: tensorrt && options.gpu.fp16,
                        },
                    ),
                    Err(e) if required => {
                        return Err(EngineError::Device {
                            path: path.to_path_buf(),
                            reason: format!("cannot run on the GPU: {e}"),
                        });
                    }
                    // `auto`: the GPU did not open (no driver, no device, out of memory).
                    Err(e) => (
                        open(Vec::new())?,
                        Placement::Cpu {
                            why: Some(format!("the GPU could not be used: {e}")),
                        },
                    ),
                }
            }
        };

        let inputs: Vec<String> = session
            .inputs()
            .iter()
            .map(|o| describe(o.name(), o.dtype()))
            .collect();
        let outputs: Vec<String> = session
            .outputs()
            .iter()
            .map(|o| describe(o.name(), o.dtype()))
            .collect();
        let found = format!(
            "inputs {}; outputs {}",
            inputs.join(", "),
            outputs.join(", ")
        );
        let refuse = |problem: &str| EngineError::ModelContract {
            path: path.to_path_buf(),
            problem: problem.into(),
            found: found.clone(),
        };
        if session.inputs().len() != 1 || session.outputs().len() != 1 {
            return Err(refuse("expected exactly one input and one output"));
        }
        let shape_of = |ty: &ValueType, what: &str| -> Result<Vec<i64>> {
            match ty {
                ValueType::Tensor {
                    ty: TensorElementType::Float32,
                    shape,
                    ..
                } if shape.len() == 4 => Ok(shape.to_vec()),
                _ => Err(refuse(&format!(
                    "the {what} must be a float32 tensor of rank 4"
                ))),
            }
        };
        let ins = shape_of(session.inputs()[0].dtype(), "input")?;
        let outs = shape_of(session.outputs()[0].dtype(), "output")?;
        if ins[1] != 3 && ins[1] >= 0 {
            return Err(refuse("the input must have 3 channels [N,3,S,S]"));
        }
        if outs[1] != 2 && outs[1] >= 0 {
            return Err(refuse("the output must have 2 channels (a, b) [N,2,S,S]"));
        }
        let size_err = |reason: String| EngineError::InputSize {
            path: path.to_path_buf(),
            reason,
        };
        let size = match (ins[2], ins[3]) {
            (h, w) if h > 0 && w > 0 => {
                if h != w {
                    return Err(refuse("the input must be square [N,3,S,S]"));
                }
                let s = h as usize;
                if let Some(want) = options.input_size
                    && want != s
                {
                    return Err(size_err(format!(
                        "model has a fixed input size of {s}; --input-size {want} cannot be used with it"
                    )));
                }
                s
            }
            (h, w) if h < 0 && w < 0 => {
                let s = options.input_size.unwrap_or(DEFAULT_INPUT_SIZE);
                if s == 0 || !s.is_multiple_of(32) {
                    return Err(size_err(format!(
                        "input size {s} is not a positive multiple of 32"
                    )));
                }
                s
            }
            _ => {
                return Err(refuse(
                    "the input must be square with both sides fixed or both dynamic",
                ));
            }
        };
        let fixed_batch = if ins[0] > 0 {
            Some(ins[0] as usize)
        } else {
            None
        };
        let shares_stream = shares_stream && placement.is_gpu();
        let shrink = match (options.cpu_memory, placement.is_gpu()) {
            (CpuMemory::ArenaShrink | CpuMemory::ArenaShrinkOnChange, false) => {
                let mut run = RunOptions::new().map_err(|e| load_err(&e))?;
                run.set("memory.enable_memory_arena_shrinkage", "cpu:0")
                    .map_err(|e| load_err(&e))?;
                Some(run)
            }
            _ => None,
        };
        Ok(Self {
            session,
            path: path.to_path_buf(),
            size,
            dynamic_size: ins[2] < 0,
            fixed_batch,
            placement,
            shares_stream,
            cpu_memory: options.cpu_memory,
            shrink,
            last_size: None,
        })
    }

    /// S: the model works on S x S pictures.
    pub fn input_size(&self) -> usize {
        self.size
    }

    /// Where the model runs, and why not on the GPU when that was wanted.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// Whether ONNX Runtime runs on the GPU recipe's stream, which orders the model after the
    /// kernels without another synchronisation.
    pub fn shares_stream(&self) -> bool {
        self.shares_stream
    }

    /// Whether S can change from one call to the next (dynamic H/W).
    pub fn has_dynamic_size(&self) -> bool {
        self.dynamic_size
    }

    /// Changes S for the next calls: a workflow's `size: "auto"` picks S per photo. Fixed-size
    /// models keep their S (the call is refused for another).
    pub fn set_input_size(&mut self, s: usize) -> Result<()> {
        if s == self.size {
            return Ok(());
        }
        if !self.dynamic_size {
            return Err(EngineError::InputSize {
                path: self.path.clone(),
                reason: format!(
                    "model has a fixed input size of {}; {s} cannot be used",
                    self.size
                ),
            });
        }
        if s == 0 || !s.is_multiple_of(32) {
            return Err(EngineError::InputSize {
                path: self.path.clone(),
                reason: format!("input size {s} is not a positive multiple of 32"),
            });
        }
        self.size = s;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many images one call takes at most (`None`: any number).
    pub fn max_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    /// The model's input and output in GPU memory, bound once for `batch` images at the
    /// current S. Only for a model placed on the GPU.
    pub fn device_io(&self, batch: usize) -> Result<DeviceIo> {
        let Placement::Cuda { device_id, .. } = self.placement else {
            return Err(EngineError::Inference(
                "the model runs on the CPU: it has no GPU buffers".into(),
            ));
        };
        if let Some(b) = self.fixed_batch
            && b != batch
        {
            return Err(EngineError::Inference(format!(
                "model takes batches of {b}, not {batch}"
            )));
        }
        let err = inference_error;
        let memory = MemoryInfo::new(
            AllocationDevice::CUDA,
            device_id as i32,
            AllocatorType::Device,
            MemoryType::Default,
        )
        .map_err(err)?;
        let allocator = Allocator::new(&self.session, memory).map_err(err)?;
        let s = self.size;
        let input = Tensor::<f32>::new(&allocator, [batch, 3, s, s]).map_err(err)?;
        let mut output = Tensor::<f32>::new(&allocator, [batch, 2, s, s]).map_err(err)?;
        let mut binding = self.session.create_binding().map_err(err)?;
        binding
            .bind_input(self.session.inputs()[0].name(), &input)
            .map_err(err)?;
        binding
            .bind_output(self.session.outputs()[0].name(), &mut output)
            .map_err(err)?;
        Ok(DeviceIo {
            binding,
            input,
            output,
            batch,
            size: s,
        })
    }

    /// Runs the model on the images already in `io`'s input; the chroma is in its output when
    /// this returns (ONNX Runtime waits for the GPU at the end of a run).
    pub fn run_device(&mut self, io: &DeviceIo) -> Result<()> {
        if io.size != self.size {
            return Err(EngineError::Inference(format!(
                "GPU buffers made for S={}, model now at S={}",
                io.size, self.size
            )));
        }
        simulated_out_of_memory(self.size)?;
        self.session
            .run_binding(&io.binding)
            .map_err(inference_error)?;
        Ok(())
    }

    /// Runs the model on `n` images (planar `[n, 3, S, S]` in `input`) and writes the chroma
    /// (planar `[n, 2, S, S]`) into `output`.
    pub fn run(&mut self, input: &[f32], n: usize, output: &mut Vec<f32>) -> Result<()> {
        let s = self.size;
        simulated_out_of_memory(s)?;
        if input.len() != n * 3 * s * s {
            return Err(EngineError::Inference(format!(
                "expected {} input values, got {}",
                n * 3 * s * s,
                input.len()
            )));
        }
        if let Some(b) = self.fixed_batch
            && b != n
        {
            return Err(EngineError::Inference(format!(
                "model takes batches of {b}, got {n}"
            )));
        }
        let err = inference_error;
        let tensor = TensorRef::from_array_view(([n, 3, s, s], input)).map_err(err)?;
        let shrink = self
            .shrink
            .as_ref()
            .filter(|_| self.cpu_memory.shrinks(s, self.last_size));
        self.last_size = Some(s);
        let outputs = match shrink {
            Some(run) => self
                .session
                .run_with_options(ort::inputs![tensor], run)
                .map_err(err)?,
            None => self.session.run(ort::inputs![tensor]).map_err(err)?,
        };
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(err)?;
        let want = [n as i64, 2, s as i64, s as i64];
        if shape.iter().copied().ne(want.iter().copied()) {
            return Err(EngineError::Inference(format!(
                "{}: model returned shape {:?}, expected {:?}",
                self.path.display(),
                shape.to_vec(),
                want
            )));
        }
        output.clear();
        output.extend_from_slice(data);
        // The output goes back to the allocator only here, so the trim comes after it.
        drop(outputs);
        if self.cpu_memory == CpuMemory::NoArenaTrim && !self.placement.is_gpu() {
            trim_heap();
        }
        Ok(())
    }
}

/// The model's input (`[batch, 3, S, S]`) and output (`[batch, 2, S, S]`) in GPU memory, made by
/// ONNX Runtime's CUDA allocator and bound once: the recipe's kernels write the input and read
/// the output where they are, so no pixel data goes through the host, and the same binding is
/// reused for every run (a new one per frame grows GPU memory, DESIGN.md section 6).
pub struct DeviceIo {
    binding: IoBinding,
    input: Tensor<f32>,
    output: Tensor<f32>,
    batch: usize,
    size: usize,
}

impl DeviceIo {
    /// Device address of the input, for the model-input kernel.
    pub fn input_ptr(&mut self) -> u64 {
        self.input.data_ptr_mut() as u64
    }

    /// Device address of the output, for the recombination kernel.
    pub fn output_ptr(&self) -> u64 {
        self.output.data_ptr() as u64
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn size(&self) -> usize {
        self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_shrinks_when_the_size_changes() {
        let on_change = CpuMemory::ArenaShrinkOnChange;
        assert!(on_change.shrinks(512, None));
        assert!(!on_change.shrinks(512, Some(512)));
        assert!(on_change.shrinks(1280, Some(512)));
        assert!(CpuMemory::ArenaShrink.shrinks(512, Some(512)));
        assert!(!CpuMemory::Arena.shrinks(1280, Some(512)));
        assert!(!CpuMemory::NoArenaTrim.shrinks(1280, Some(512)));
        for m in CpuMemory::ALL {
            assert_eq!(CpuMemory::from_name(m.name()), Some(m));
        }
    }

    #[test]
    fn running_out_of_memory_is_its_own_kind() {
        let oom = |m: &str| matches!(inference_error(m), EngineError::OutOfMemory(_));
        assert!(oom("CUDA failure 2: out of memory ; GPU=0"));
        assert!(oom(
            "Failed to allocate memory for requested buffer of size 805306368"
        ));
        assert!(oom("CUDNN_STATUS_ALLOC_FAILED"));
        assert!(!oom("expected 786432 input values, got 12"));
        // The message the user sees is ONNX Runtime's, whatever the kind.
        assert_eq!(
            inference_error("CUDNN_STATUS_ALLOC_FAILED").to_string(),
            "inference failed: CUDNN_STATUS_ALLOC_FAILED"
        );
    }
}
