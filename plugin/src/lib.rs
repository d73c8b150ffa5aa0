//! GStreamer plugin `ddcolor`: the `ddcolorize` element colorizes black-and-white video frames
//! with DDColor. The colour work is `ddcolor-engine`'s, the same code the `ddcolor photo`
//! command runs, so a film frame and a still come out identical.
//!
//! Used two ways: as a shared library on `GST_PLUGIN_PATH` for `gst-launch-1.0`, and linked
//! statically by the `ddcolor` runner and the tests through [`register_static`].

use gst::glib;

pub mod ddcolorize;
pub mod gstcuda;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    ddcolorize::register(plugin)
}

gst::plugin_define!(
    ddcolor,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "Apache-2.0",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);

/// Registers the plugin in this process without loading a shared library (runner, tests).
/// Safe to call more than once.
pub fn register_static() -> Result<(), glib::BoolError> {
    static ONCE: std::sync::OnceLock<Result<(), glib::BoolError>> = std::sync::OnceLock::new();
    ONCE.get_or_init(plugin_register_static).clone()
}
