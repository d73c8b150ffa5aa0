//! A counting global allocator, for the fuzz test binary: it records the peak of live heap bytes
//! so the driver can tell an input that makes the code allocate far beyond what it holds, and
//! refuses any allocation that would take the process past a hard cap (the machine is shared;
//! an input that asks for 40 GB must not take it down). A refused allocation first writes the
//! input being run to disk, as plain system calls (nothing here may allocate), because the
//! process usually aborts right after.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Live bytes past which allocations are refused.
pub const HARD_CAP: usize = 3 << 30;

/// The input being run and where to leave it if the cap is hit: set by the driver before each
/// run (pointers into buffers it keeps alive for that run).
static INPUT_PTR: AtomicUsize = AtomicUsize::new(0);
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static SAVE_PATH: AtomicUsize = AtomicUsize::new(0);

pub struct CountingAlloc;

/// Whether a [`CountingAlloc`] is the global allocator (else peaks read as 0).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Starts a new peak at the current live bytes; returns them.
pub fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Tells the allocator which input runs now and the NUL-terminated path to write it to when the
/// hard cap is hit. Both must stay alive until [`clear_current`].
pub fn set_current(input: &[u8], save_path: &std::ffi::CStr) {
    INPUT_LEN.store(input.len(), Ordering::Relaxed);
    INPUT_PTR.store(input.as_ptr() as usize, Ordering::Relaxed);
    SAVE_PATH.store(save_path.as_ptr() as usize, Ordering::Release);
}

pub fn clear_current() {
    SAVE_PATH.store(0, Ordering::Release);
}

fn save_current() {
    let path = SAVE_PATH.load(Ordering::Acquire);
    if path == 0 {
        return;
    }
    let (ptr, len) = (
        INPUT_PTR.load(Ordering::Relaxed),
        INPUT_LEN.load(Ordering::Relaxed),
    );
    // SAFETY: the driver keeps the path and the input alive while SAVE_PATH is set; these are
    // plain system calls on them.
    unsafe {
        let fd = libc::open(
            path as *const libc::c_char,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o644,
        );
        if fd >= 0 {
            libc::write(fd, ptr as *const libc::c_void, len);
            libc::close(fd);
        }
        let msg =
            b"fuzz: allocation past the hard cap refused; the input is saved as oom-current.bin\n";
        libc::write(2, msg.as_ptr() as *const libc::c_void, msg.len());
    }
}

impl CountingAlloc {
    fn grant(&self, size: usize) -> bool {
        INSTALLED.store(true, Ordering::Relaxed);
        let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
        if live > HARD_CAP {
            LIVE.fetch_sub(size, Ordering::Relaxed);
            save_current();
            return false;
        }
        PEAK.fetch_max(live, Ordering::Relaxed);
        true
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; only counters are kept.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.grant(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, passed on.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !self.grant(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !self.grant(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's pointer and layout, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if p.is_null() {
            if new_size > old {
                LIVE.fetch_sub(new_size - old, Ordering::Relaxed);
            }
        } else if new_size < old {
            LIVE.fetch_sub(old - new_size, Ordering::Relaxed);
        }
        p
    }
}
