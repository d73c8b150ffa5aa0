//! Ctrl-C, SIGTERM and SIGHUP, one handler for every command: a scheduler stopping a job, `timeout`
//! or a closed terminal must end a run as cleanly as Ctrl-C does (nothing half-written left behind,
//! an exit status that says the run did not finish). The handler only counts; each command looks
//! at the count where it can stop safely.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// Exit status of a run stopped by a signal before it finished (as shells report SIGINT).
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

/// Starts counting interrupts (idempotent). Until it is called the signals keep their default
/// action, which ends the process at once.
pub(crate) fn watch() {
    INSTALL.call_once(|| {
        // Fails only if another handler was installed, which nothing else in the program does.
        let _ = ctrlc::set_handler(|| {
            INTERRUPTS.fetch_add(1, Ordering::SeqCst);
        });
    });
}

/// Interrupts received since [`watch`]: 1 asks to finish cleanly, 2 or more to stop at once.
pub(crate) fn count() -> u64 {
    INTERRUPTS.load(Ordering::SeqCst)
}

pub(crate) fn interrupted() -> bool {
    count() > 0
}

/// A run stopped by a signal before it could finish: `main` exits with [`EXIT_INTERRUPTED`].
#[derive(Debug)]
pub(crate) struct Interrupted(pub(crate) String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

/// [`watch`], and a second signal ends the process `grace` after it arrives if the command has
/// not stopped by then: a photo being decoded, or a film's model loading (a TensorRT build can
/// take minutes), does not look at the count. The temporary file being written then stays
/// behind; it names this process, and the next run in that folder removes it.
pub(crate) fn watch_with_hard_stop(grace: std::time::Duration) {
    watch();
    static HARD_STOP: Once = Once::new();
    HARD_STOP.call_once(|| {
        std::thread::spawn(move || {
            while count() < 2 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            std::thread::sleep(grace);
            eprintln!("stopped at once (second interrupt)");
            // `_exit`, not `exit`: no destructors or atexit handlers run while the model's and
            // the encoders' threads are still working.
            // SAFETY: ends the process; nothing runs after it.
            unsafe { libc::_exit(i32::from(EXIT_INTERRUPTED)) }
        });
    });
}
