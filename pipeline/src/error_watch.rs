//! Errors that GStreamer's auto-plugging bins swallow.
//!
//! `parsebin` and `decodebin` (1.22) hold back errors from an element while they are still
//! wiring it up, so that a failed try can move on to the next candidate. If the element's
//! streaming thread posts its error in that window and the element then activates fine (qtdemux
//! on a truncated MP4 does), the error is dropped: nothing reaches the pipeline's bus, no
//! end-of-stream follows, and the run waits forever. A tracer sees every message as it is
//! posted, before any bin can drop it, so the runner can still fail with the real reason.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;

/// An error as it was posted, with the element that posted it.
pub struct Posted {
    pub element: glib::WeakRef<gst::Element>,
    pub error: String,
    pub debug: String,
    at: Instant,
}

static POSTED: Mutex<Vec<Posted>> = Mutex::new(Vec::new());

/// Starts watching errors; the tracer lives as long as the process (GStreamer keeps it).
pub fn start() {
    static TRACER: OnceLock<ErrorWatch> = OnceLock::new();
    TRACER.get_or_init(glib::Object::new::<ErrorWatch>);
}

/// An error posted inside `bin` at least `grace` ago by an element that is still in `bin`.
///
/// The grace leaves time for the bus to deliver errors that were not dropped, and for a bin
/// that rejected an element to remove it; an element still in place after that is one whose
/// error was swallowed.
pub fn stranded(bin: &gst::Bin, grace: Duration) -> Option<Posted> {
    // Elements are looked at with the list unlocked: their own locks must never be taken
    // under ours, which streaming threads take while posting.
    let taken = std::mem::take(&mut *POSTED.lock().unwrap_or_else(|p| p.into_inner()));
    let mut keep = Vec::with_capacity(taken.len());
    let mut found = None;
    for p in taken {
        let Some(element) = p.element.upgrade() else {
            continue;
        };
        if found.is_none()
            && p.at.elapsed() >= grace
            && element.parent().is_some()
            && element.has_as_ancestor(bin)
        {
            found = Some(p);
        } else {
            keep.push(p);
        }
    }
    POSTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(keep);
    found
}

glib::wrapper! {
    pub struct ErrorWatch(ObjectSubclass<imp::ErrorWatch>) @extends gst::Tracer, gst::Object;
}

mod imp {
    use gst::subclass::prelude::*;

    use super::*;

    #[derive(Default)]
    pub struct ErrorWatch;

    #[glib::object_subclass]
    impl ObjectSubclass for ErrorWatch {
        const NAME: &'static str = "DdcolorErrorWatch";
        type Type = super::ErrorWatch;
        type ParentType = gst::Tracer;
    }

    impl ObjectImpl for ErrorWatch {
        fn constructed(&self) {
            self.parent_constructed();
            self.register_hook(TracerHook::ElementPostMessagePre);
        }
    }

    impl GstObjectImpl for ErrorWatch {}

    impl TracerImpl for ErrorWatch {
        fn element_post_message_pre(&self, _ts: u64, element: &gst::Element, msg: &gst::Message) {
            if let gst::MessageView::Error(e) = msg.view() {
                POSTED
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Posted {
                        element: element.downgrade(),
                        error: e.error().to_string(),
                        debug: e.debug().map(|d| d.to_string()).unwrap_or_default(),
                        at: Instant::now(),
                    });
            }
        }
    }
}
