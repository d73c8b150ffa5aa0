//! The progress bar `film` and `metrics` show on stderr: frames, rate and, once the total is
//! known, ETA.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

/// The bar's look, with (`known`) or without a total.
pub fn bar_style(known: bool) -> ProgressStyle {
    let template = if known {
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames  {per_sec}  ETA {eta}"
    } else {
        "{spinner} [{elapsed_precise}] {pos} frames  {per_sec}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A frame counter, cleared however the run ends, so an error is not printed after a
/// half-drawn bar.
pub fn progress_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::no_length(),
    };
    bar.set_style(bar_style(total.is_some()));
    let bar = bar.with_finish(ProgressFinish::AndClear);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
