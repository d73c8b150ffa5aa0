//! What `--events` hears of a film: its start, its frames (at most twice a second, from where the
//! progress bar is updated) and its end, however it ends once started.

use std::cell::Cell;

use super::*;
use crate::events::{Event, FilmState, Start, seconds};

/// The least time between two `frames` events: a front end's progress needs no more.
const FRAMES_EVERY: Duration = Duration::from_millis(500);

/// One film's events. Used by the thread that watches the pipeline only.
pub(super) struct Report<'a> {
    events: &'a Events,
    started: Instant,
    /// Frames colorized so far, as the main loop last saw them: what a failed run got to.
    frames: Cell<u64>,
    /// The last `frames` event: when it went, and its `done` and `total`.
    sent: Cell<Option<(Instant, u64, Option<u64>)>>,
}

impl<'a> Report<'a> {
    /// Sends `start`: the frames and duration of an image sequence are known now, a video
    /// file's only once it plays (then `frames` events carry the total).
    pub(super) fn start(events: &'a Events, job: &FilmJob, sequence: Option<&[PathBuf]>) -> Self {
        let frames = sequence.map(|files| files.len() as u64);
        let duration = frames.zip(job.fps).and_then(|(n, fps)| {
            (fps.numer() > 0).then(|| n as f64 * fps.denom() as f64 / fps.numer() as f64)
        });
        events.send(&Event::Start(Start::Film {
            input: job.input.to_string_lossy().into_owned(),
            output: job.output.to_string_lossy().into_owned(),
            frames,
            duration,
        }));
        Self {
            events,
            started: Instant::now(),
            frames: Cell::new(0),
            sent: Cell::new(None),
        }
    }

    /// Frames done so far (of `total`, once known): sent when they changed, at most every
    /// [`FRAMES_EVERY`].
    pub(super) fn frames(&self, done: u64, total: Option<u64>) {
        self.frames.set(done);
        if let Some((at, d, t)) = self.sent.get()
            && (at.elapsed() < FRAMES_EVERY || (d, t) == (done, total))
        {
            return;
        }
        self.events.send(&Event::Frames { done, total });
        self.sent.set(Some((Instant::now(), done, total)));
    }

    /// A `note` event: a warning or note the run prints.
    pub(super) fn note(&self, text: String) {
        self.events.note(text);
    }

    /// Sends `end`: done, interrupted (a playable part written, or nothing after a second
    /// interrupt) or failed, with the reason.
    pub(super) fn end(&self, job: &FilmJob, finished: &Result<Finished>) {
        let (frames, output, state, error) = match finished {
            Ok(f) => (
                f.frames,
                &f.output,
                if f.interrupted {
                    FilmState::Interrupted
                } else {
                    FilmState::Done
                },
                None,
            ),
            Err(e) if e.downcast_ref::<crate::signals::Interrupted>().is_some() => {
                (self.frames.get(), &job.output, FilmState::Interrupted, None)
            }
            Err(e) => (
                self.frames.get(),
                &job.output,
                FilmState::Failed,
                Some(format!("{e:#}")),
            ),
        };
        self.events.send(&Event::FilmEnd {
            frames,
            output: output.to_string_lossy().into_owned(),
            state,
            error,
            seconds: seconds(self.started.elapsed()),
        });
    }
}
