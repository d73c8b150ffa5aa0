//! GStreamer's CUDA library (GstCuda, `libgstcuda-1.0.so.0` from gst-plugins-bad), for the
//! element's zero-copy path: the `memory:CUDAMemory` caps feature, the `gst.cuda.context`
//! context its neighbours (nvh264dec, cudaupload, cudaconvert) share, CUDA buffer pools, and the
//! `GST_MAP_CUDA` map flag that makes a mapped plane a device pointer.
//!
//! gstreamer-rs has no bindings for GstCuda (its API is still marked unstable), so the few
//! functions used are loaded at run time, like the CUDA driver itself: the plugin builds and
//! loads where GstCuda is missing, and only the GPU path needs it.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::OnceLock;

use gst::ffi as gst_ffi;
use gst::glib;
use gst::glib::translate::{FromGlibPtrFull, ToGlibPtr};

/// The caps feature of video frames in CUDA device memory.
pub const CUDA_MEMORY: &str = "memory:CUDAMemory";
/// The context type CUDA elements share (its structure holds the `GstCudaContext`).
pub const CONTEXT_TYPE: &str = "gst.cuda.context";
/// `GST_MAP_CUDA` (`GST_MAP_FLAG_LAST << 1`): a CUDA memory mapped with it gives the device
/// pointer instead of a host copy.
pub const MAP_CUDA: u32 = gst_ffi::GST_MAP_FLAG_LAST << 1;
/// Formats the kernels take and give in CUDA memory (`ddcolor_engine::cuda`).
pub const CUDA_FORMATS: [gst_video::VideoFormat; 7] = [
    gst_video::VideoFormat::Nv12,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Y444,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgrx,
];

/// Raw video in CUDA memory, in the formats the kernels handle, any size and rate.
pub fn cuda_caps() -> gst::Caps {
    gst_video::VideoCapsBuilder::new()
        .features([CUDA_MEMORY])
        .format_list(CUDA_FORMATS)
        .build()
}

/// Whether caps (their first structure) are in CUDA memory.
pub fn is_cuda_caps(caps: &gst::CapsRef) -> bool {
    caps.features(0).is_some_and(|f| f.contains(CUDA_MEMORY))
}

type Object = gst_ffi::GstObject;

/// The GstCuda functions the element uses, from `libgstcuda-1.0.so.0`.
pub struct GstCuda {
    _lib: libloading::Library,
    context_new_wrapped: unsafe extern "C" fn(*mut c_void, c_int) -> *mut Object,
    context_get_handle: unsafe extern "C" fn(*mut Object) -> *mut c_void,
    handle_set_context: unsafe extern "C" fn(
        *mut gst_ffi::GstElement,
        *mut gst_ffi::GstContext,
        c_int,
        *mut *mut Object,
    ) -> glib::ffi::gboolean,
    handle_context_query: unsafe extern "C" fn(
        *mut gst_ffi::GstElement,
        *mut gst_ffi::GstQuery,
        *mut Object,
    ) -> glib::ffi::gboolean,
    buffer_pool_new: unsafe extern "C" fn(*mut Object) -> *mut gst_ffi::GstBufferPool,
    is_cuda_memory: unsafe extern "C" fn(*mut gst_ffi::GstMemory) -> glib::ffi::gboolean,
    memory_init_once: unsafe extern "C" fn(),
    context_new: unsafe extern "C" fn(*mut Object) -> *mut gst_ffi::GstContext,
    load_library: unsafe extern "C" fn() -> glib::ffi::gboolean,
    /// `gst_cuda_memory_sync` (GStreamer 1.24+, where a CUDA element may leave its copy
    /// running on its own stream); 1.22 completes copies before a buffer leaves an element.
    memory_sync: Option<unsafe extern "C" fn(*mut gst_ffi::GstMemory)>,
    /// Whether GstCuda's own CUDA driver table loaded (`gst_cuda_load_library`).
    driver: OnceLock<bool>,
}

/// Why GstCuda cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "GStreamer's CUDA library (libgstcuda-1.0.so.0, package libgstreamer-plugins-bad1.0-0): {0}"
)]
pub struct GstCudaError(String);

impl GstCuda {
    /// The library, loaded once per process.
    pub fn get() -> Result<&'static GstCuda, GstCudaError> {
        static LIB: OnceLock<Result<GstCuda, GstCudaError>> = OnceLock::new();
        LIB.get_or_init(Self::load).as_ref().map_err(Clone::clone)
    }

    fn load() -> Result<GstCuda, GstCudaError> {
        // SAFETY: loading GstCuda runs no initialiser beyond GLib type set-up.
        let lib = unsafe { libloading::Library::new("libgstcuda-1.0.so.0") }
            .map_err(|e| GstCudaError(e.to_string()))?;
        macro_rules! sym {
            ($name:literal) => {
                // SAFETY: the declared types are those of the GstCuda 1.22 headers.
                *unsafe { lib.get($name) }.map_err(|e| GstCudaError(e.to_string()))?
            };
        }
        Ok(GstCuda {
            context_new_wrapped: sym!(b"gst_cuda_context_new_wrapped\0"),
            context_get_handle: sym!(b"gst_cuda_context_get_handle\0"),
            handle_set_context: sym!(b"gst_cuda_handle_set_context\0"),
            handle_context_query: sym!(b"gst_cuda_handle_context_query\0"),
            buffer_pool_new: sym!(b"gst_cuda_buffer_pool_new\0"),
            is_cuda_memory: sym!(b"gst_is_cuda_memory\0"),
            memory_init_once: sym!(b"gst_cuda_memory_init_once\0"),
            context_new: sym!(b"gst_context_new_cuda_context\0"),
            load_library: sym!(b"gst_cuda_load_library\0"),
            // SAFETY: as above; absent before 1.24.
            memory_sync: unsafe { lib.get(b"gst_cuda_memory_sync\0") }
                .ok()
                .map(|f| *f),
            driver: OnceLock::new(),
            _lib: lib,
        })
    }

    /// A `GstCudaContext` around an existing CUDA context: the device's primary context, which
    /// cudarc and ONNX Runtime use (`gst_cuda_context_new` would make a different one, and
    /// device pointers would not be shared).
    ///
    /// # Safety
    /// `cu_context` must be a live CUDA context of device `device`, outliving the result and
    /// every neighbour it is shared with: retain the primary context for the life of the
    /// process (`cuDevicePrimaryCtxRetain`, never released) before wrapping it.
    pub unsafe fn wrap_context(&self, cu_context: *mut c_void, device: i32) -> Option<CudaContext> {
        // GstCuda calls the driver through a table that nvcodec usually fills; when no nvcodec
        // element was made yet, an empty table would abort the process.
        if !self.driver_loaded() {
            return None;
        }
        // SAFETY: as the caller vouches.
        NonNull::new(unsafe { (self.context_new_wrapped)(cu_context, device) }).map(CudaContext)
    }

    /// Loads GstCuda's table of CUDA driver functions, once; false without a driver.
    fn driver_loaded(&self) -> bool {
        // SAFETY: loads libcuda into GstCuda's own table; no other effect.
        *self
            .driver
            .get_or_init(|| unsafe { (self.load_library)() } != glib::ffi::GFALSE)
    }

    /// Checks that every memory of `buffer` is CUDA memory on the CUDA context `ours` (a
    /// device pointer from anything else would fault in our kernels and break the context for
    /// ONNX Runtime too), and waits for copies a neighbour left running on its own stream.
    pub fn check_and_sync(&self, buffer: &gst::BufferRef, ours: *mut c_void) -> Result<(), String> {
        for memory in buffer.iter_memories() {
            if !self.is_cuda_memory(memory) {
                return Err("a buffer in CUDA-memory caps holds other memory".into());
            }
            // SAFETY: CUDA memory is a GstCudaMemory, whose first public field after the
            // GstMemory is its GstCudaContext (gstcudamemory.h, 1.22 and later).
            let context = unsafe {
                *(memory.as_ptr() as *const u8)
                    .add(std::mem::size_of::<gst_ffi::GstMemory>())
                    .cast::<*mut Object>()
            };
            // SAFETY: a live memory's context is a valid GstCudaContext.
            let handle =
                (!context.is_null()).then(|| unsafe { (self.context_get_handle)(context) });
            if handle != Some(ours) {
                return Err(
                    "CUDA memory from another CUDA context than the device's primary one".into(),
                );
            }
            if let Some(sync) = self.memory_sync {
                // SAFETY: a GstCudaMemory.
                unsafe { sync(memory.as_mut_ptr()) };
            }
        }
        Ok(())
    }

    /// Takes a neighbour's CUDA context from a `set_context` call, if it is one for
    /// `device_id` and `slot` is empty; `slot` keeps it. Returns whether it was taken (GstCuda
    /// keeps a context already there and answers TRUE; this answers false then).
    ///
    /// (GstCuda's `gst_cuda_ensure_element_context` is not used: it finds a neighbour's context
    /// by calling the element's own `set_context` with the same out-pointer, and otherwise makes
    /// a new, non-primary context. The element is to ask its neighbours itself and wrap the
    /// primary context when none answers.)
    pub fn handle_set_context(
        &self,
        element: &gst::Element,
        context: &gst::Context,
        device_id: i32,
        slot: &mut Option<CudaContext>,
    ) -> bool {
        if slot.is_some() {
            return false;
        }
        let mut raw: *mut Object = std::ptr::null_mut();
        // SAFETY: valid element and context; `raw` is null, and gets a reference we own when
        // the call takes the context.
        let took = unsafe {
            (self.handle_set_context)(
                element.to_glib_none().0,
                context.to_glib_none().0,
                device_id,
                &mut raw,
            )
        } != glib::ffi::GFALSE;
        *slot = NonNull::new(raw).map(CudaContext);
        took
    }

    /// Answers a context query with `context`, when the query asks for a CUDA context.
    pub fn handle_context_query(
        &self,
        element: &gst::Element,
        query: &mut gst::QueryRef,
        context: Option<&CudaContext>,
    ) -> bool {
        let Some(ctx) = context else {
            return false;
        };
        // SAFETY: valid element, query and context object.
        unsafe {
            (self.handle_context_query)(
                element.to_glib_none().0,
                query.as_mut_ptr(),
                ctx.0.as_ptr(),
            ) != glib::ffi::GFALSE
        }
    }

    /// A pool of CUDA-memory buffers on `context` for the element's output.
    pub fn buffer_pool(&self, context: &CudaContext) -> Option<gst::BufferPool> {
        // SAFETY: a valid context; the pool comes back with a reference we own.
        let pool = unsafe { (self.buffer_pool_new)(context.0.as_ptr()) };
        // SAFETY: full ownership of a non-null pool.
        (!pool.is_null()).then(|| unsafe { gst::BufferPool::from_glib_full(pool) })
    }

    /// Whether a memory block is CUDA memory.
    pub fn is_cuda_memory(&self, memory: &gst::MemoryRef) -> bool {
        // SAFETY: GstCuda's allocator types must be registered before the check.
        unsafe {
            (self.memory_init_once)();
            (self.is_cuda_memory)(memory.as_mut_ptr()) != glib::ffi::GFALSE
        }
    }

    /// The CUDA context (`CUcontext`) a `GstCudaContext` wraps.
    pub fn handle(&self, context: &CudaContext) -> *mut c_void {
        // SAFETY: a valid context object.
        unsafe { (self.context_get_handle)(context.0.as_ptr()) }
    }

    /// A `gst.cuda.context` GstContext holding `context`, to post in a HAVE_CONTEXT message so
    /// the pipeline hands it to every CUDA element.
    pub fn gst_context(&self, context: &CudaContext) -> Option<gst::Context> {
        // SAFETY: a valid context object; the GstContext comes back with a reference we own.
        let raw = unsafe { (self.context_new)(context.0.as_ptr()) };
        // SAFETY: full ownership of a non-null context.
        (!raw.is_null()).then(|| unsafe { gst::Context::from_glib_full(raw) })
    }
}

/// A video frame mapped for the GPU path: plane addresses and pitches, device pointers when
/// mapped with [`MAP_CUDA`] (CUDA memory), host pointers otherwise. Unmapped on drop.
pub struct MappedFrame {
    frame: gst_video::ffi::GstVideoFrame,
    planes: usize,
}

impl MappedFrame {
    /// Maps `buffer` as a frame of `info`, for reading or writing; `cuda`: the buffer is CUDA
    /// memory and the planes are wanted as device pointers.
    ///
    /// # Safety
    /// `buffer` must stay alive and, for writing, not be read by anyone else until the result
    /// is dropped.
    pub unsafe fn map(
        buffer: &gst::BufferRef,
        info: &gst_video::VideoInfo,
        cuda: bool,
        write: bool,
    ) -> Option<Self> {
        let mut flags = if write {
            gst_ffi::GST_MAP_WRITE
        } else {
            gst_ffi::GST_MAP_READ
        };
        if cuda {
            flags |= MAP_CUDA;
        }
        let mut frame = std::mem::MaybeUninit::<gst_video::ffi::GstVideoFrame>::zeroed();
        // SAFETY: valid info and buffer; the frame is filled when the call succeeds.
        let ok = unsafe {
            gst_video::ffi::gst_video_frame_map(
                frame.as_mut_ptr(),
                info.to_glib_none().0 as *mut _,
                buffer.as_mut_ptr(),
                flags,
            )
        } != glib::ffi::GFALSE;
        if !ok {
            return None;
        }
        // SAFETY: mapped, so initialised, with the format's info.
        let frame = unsafe { frame.assume_init() };
        let planes = unsafe { (*frame.info.finfo).n_planes } as usize;
        Some(Self { frame, planes })
    }

    /// Plane `i`'s address (0 for planes the format does not have).
    pub fn data(&self, i: usize) -> u64 {
        if i < self.planes.min(4) {
            self.frame.data[i] as u64
        } else {
            0
        }
    }

    /// Plane `i`'s pitch in bytes.
    pub fn pitch(&self, i: usize) -> usize {
        if i < self.planes.min(4) {
            self.frame.info.stride[i].max(0) as usize
        } else {
            0
        }
    }
}

impl Drop for MappedFrame {
    fn drop(&mut self) {
        // SAFETY: mapped in `map`, unmapped once here.
        unsafe { gst_video::ffi::gst_video_frame_unmap(&mut self.frame) };
    }
}

// SAFETY: the mapping is owned, and GStreamer buffers may be unmapped from any thread.
unsafe impl Send for MappedFrame {}

/// A `GstCudaContext` reference the element holds.
pub struct CudaContext(NonNull<Object>);

impl Clone for CudaContext {
    fn clone(&self) -> Self {
        // SAFETY: a valid object; the new reference is owned by the clone.
        unsafe { gst_ffi::gst_object_ref(self.0.as_ptr().cast()) };
        Self(self.0)
    }
}

impl Drop for CudaContext {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { gst_ffi::gst_object_unref(self.0.as_ptr().cast()) };
    }
}

// SAFETY: GstObjects are reference counted with atomic operations and usable from any thread.
unsafe impl Send for CudaContext {}
// SAFETY: as above; the element only reads through shared references.
unsafe impl Sync for CudaContext {}

#[cfg(test)]
mod tests {
    use super::*;

    fn init() {
        gst::init().expect("GStreamer");
    }

    #[test]
    fn the_map_flag_is_gstcudas() {
        // gstcudamemory.h: #define GST_MAP_CUDA (GST_MAP_FLAG_LAST << 1), GST_MAP_FLAG_LAST = 1 << 16.
        assert_eq!(MAP_CUDA, 1 << 17);
    }

    #[test]
    fn cuda_caps_carry_the_feature_and_the_kernels_formats() {
        init();
        let caps = cuda_caps();
        assert!(is_cuda_caps(&caps));
        let s = caps.structure(0).expect("one structure");
        let formats: Vec<String> = s
            .get::<gst::List>("format")
            .expect("format list")
            .iter()
            .map(|v| v.get::<String>().expect("string"))
            .collect();
        for f in ["NV12", "I420", "RGBA"] {
            assert!(
                formats.iter().any(|x| x == f),
                "{f} missing from {formats:?}"
            );
        }
        let system = gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Nv12)
            .build();
        assert!(!is_cuda_caps(&system));
        // Every format offered in CUDA memory is one the engine's kernels lay out.
        for f in CUDA_FORMATS {
            let p = crate::ddcolorize::pixel_format(f).expect("a format the engine knows");
            assert!(
                ddcolor_engine::cuda::Layout::of(p).is_some()
                    || ddcolor_engine::cuda::yuv_code(p).is_some(),
                "{f:?} has no kernel layout"
            );
        }
    }

    /// The GPU path's mapping, on system memory: the planes and pitches GStreamer's own video
    /// frame mapping gives, writes land in the buffer, and a buffer too small is refused.
    #[test]
    fn a_mapped_frame_gives_the_planes_of_the_buffer() {
        init();
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 33, 17)
            .build()
            .expect("info");
        let mut buffer = gst::Buffer::with_size(info.size()).expect("buffer");
        {
            let buf = buffer.get_mut().expect("writable");
            // SAFETY: the buffer outlives the mapping.
            let mapped = unsafe { MappedFrame::map(buf, &info, false, true) }.expect("mapped");
            for i in 0..3 {
                assert_eq!(mapped.pitch(i), info.stride()[i] as usize, "plane {i}");
                // SAFETY: inside the mapped plane.
                unsafe { *(mapped.data(i) as *mut u8) = 10 + i as u8 };
            }
            assert_eq!((mapped.data(3), mapped.pitch(3)), (0, 0));
        }
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer.as_ref(), &info)
            .expect("frame");
        for i in 0..3u32 {
            assert_eq!(frame.plane_data(i).expect("plane")[0], 10 + i as u8);
        }
        let small = gst::Buffer::with_size(info.size() - 1).expect("buffer");
        // SAFETY: as above.
        assert!(unsafe { MappedFrame::map(small.as_ref(), &info, false, false) }.is_none());
    }

    /// The library Debian's gst-plugins-bad ships loads and has every function used. (The
    /// set-up installs it; a machine without it gets the error, not a crash.)
    #[test]
    fn gstcuda_loads_and_refuses_what_is_not_a_cuda_context() {
        init();
        let cuda = GstCuda::get().expect("libgstcuda-1.0.so.0 (make setup installs it)");
        let element = gst::ElementFactory::make("identity")
            .build()
            .expect("identity");
        // Another context type is not taken, and nothing is kept.
        let other = gst::Context::new("gst.gl.GLDisplay", true);
        let mut slot = None;
        assert!(!cuda.handle_set_context(&element, &other, 0, &mut slot));
        assert!(slot.is_none());
        // System memory is not CUDA memory.
        let buffer = gst::Buffer::with_size(16).expect("buffer");
        assert!(!cuda.is_cuda_memory(buffer.peek_memory(0)));
    }
}
