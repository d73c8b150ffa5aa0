//! A film's errors in one line each: GStreamer's messages named after the file or element they
//! are about, rather than after the internal element that posted them.

use super::*;

/// The one-line error for a GStreamer error `error` posted by the element named `from`.
pub(super) fn describe_error(
    input: &Path,
    output: &Path,
    from: &str,
    error: &str,
    debug: &str,
) -> anyhow::Error {
    // The colorizer's errors name the model; the file writer's and the muxer's are about the
    // output (a full disk, a lost network share); the others are about the input.
    if from.starts_with("ddcolorize") {
        return anyhow!("{error}");
    }
    if from == OUTPUT_FILE || from == OUTPUT_MUX {
        return anyhow!("{}: {error} (writing the film)", output.display());
    }
    let detail = short_debug(debug);
    let detail = if detail.is_empty() {
        from.to_string()
    } else {
        format!("{from}: {detail}")
    };
    anyhow!("{}: {error} ({detail})", input.display())
}

/// The last line of GStreamer's debug text, without its source position and element path
/// (`file.c(123): function (): /GstPipeline:...:\nreason`).
pub(super) fn short_debug(debug: &str) -> String {
    let last = debug.lines().last().unwrap_or("");
    let reason = match last.rfind("): ") {
        Some(i) if last.contains(".c(") => &last[i + 3..],
        _ => last,
    };
    // A bare element path is no reason.
    if reason.starts_with("/Gst") {
        return String::new();
    }
    reason.chars().take(300).collect()
}

pub(super) fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(e.error().to_string());
        }
    }
    None
}
