//! `--events`: a machine-readable stream of what `batch` and `film` are doing, for front ends
//! that run the command as a child process (the web app) and show each item's progress. The
//! human text stays on stderr; the stream is one JSON object per line, on standard output or in
//! a file, each line written whole and flushed at once, so a reader sees complete lines as they
//! happen.
//!
//! The stream never decides the run: a reader that goes away (a closed pipe) or a full disk
//! only ends the stream, never the colorizing.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::jobs::Job;

/// The stream's writer; `None` once a write failed.
type Stream = Mutex<Option<Box<dyn Write + Send>>>;

/// Where the events go: shared by every thread of a run (a clone is another handle to the same
/// stream). Off, sending costs nothing, not even the serialising.
#[derive(Clone, Default)]
pub(crate) struct Events(Option<Arc<Stream>>);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Events(on)"
        } else {
            "Events(off)"
        })
    }
}

impl Events {
    /// No stream: `photo`, and `batch` or `film` without `--events`.
    pub(crate) fn off() -> Self {
        Self(None)
    }

    /// `-`: standard output; anything else: a file, created or emptied.
    pub(crate) fn open(target: &Path) -> Result<Self> {
        let out: Box<dyn Write + Send> =
            if target == Path::new("-") {
                Box::new(std::io::stdout())
            } else {
                Box::new(File::create(target).with_context(|| {
                    format!("{}: cannot write the events here", target.display())
                })?)
            };
        Ok(Self(Some(Arc::new(Mutex::new(Some(out))))))
    }

    /// `--events TARGET` if given, else [`Events::off`].
    pub(crate) fn from_arg(target: Option<&Path>) -> Result<Self> {
        target.map_or_else(|| Ok(Self::off()), Self::open)
    }

    /// Writes `event` as one line. After a failed write the stream stays closed: the reader is
    /// gone, and the run goes on without it.
    pub(crate) fn send(&self, event: &Event) {
        let Some(stream) = &self.0 else { return };
        let Ok(mut line) = serde_json::to_string(event) else {
            return;
        };
        line.push('\n');
        let mut out = stream.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = out.as_mut()
            && (w.write_all(line.as_bytes()).is_err() || w.flush().is_err())
        {
            *out = None;
        }
    }

    /// A `note` event: one of the `note:` lines on stderr, without its `note: `.
    pub(crate) fn note(&self, text: impl Into<String>) {
        self.send(&Event::Note { text: text.into() });
    }
}

/// One line of the stream; the field names are what front ends parse.
#[derive(Serialize, Debug, PartialEq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    /// The run begins: what it is about to do.
    Start(Start),
    /// A photo of a batch is finished: each photo of the run gets exactly one, unless an
    /// interrupt leaves it undone.
    Item {
        /// The input's path under the batch's input folder, with `/`.
        rel: String,
        input: String,
        output: String,
        #[serde(flatten)]
        state: ItemState,
    },
    /// A photo goes into the model.
    Current { rel: String },
    /// Something the user is told on stderr as `note: ...`.
    Note { text: String },
    /// The device ran out of memory at S `from`: this and every later photo go at `to`.
    Stepdown { from: usize, to: usize },
    /// A folder under the input that the batch did not go into, and why.
    NotWalked { path: String, reason: String },
    /// A film's progress: frames colorized so far, of `total` when it is known.
    Frames { done: u64, total: Option<u64> },
    /// A batch is over (finished, or stopped by a signal: then `interrupted` photos were left
    /// undone). `error`: why the run stopped before its photos went through (a model that
    /// would not load), after `start`.
    #[serde(rename = "end")]
    BatchEnd {
        done: usize,
        failed: usize,
        skipped: usize,
        interrupted: usize,
        seconds: f64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A film is over: `output` is where its frames are (a part beside a finished film after
    /// an interrupt).
    #[serde(rename = "end")]
    FilmEnd {
        frames: u64,
        output: String,
        state: FilmState,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        seconds: f64,
    },
}

/// What a run is about to do.
#[derive(Serialize, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Start {
    /// `total` photos found, `to_do` of them going through the model (the rest were done by
    /// an earlier run).
    Batch { total: usize, to_do: usize },
    /// `frames` and `duration` (seconds) when known before the film plays (an image sequence).
    Film {
        input: String,
        output: String,
        frames: Option<u64>,
        duration: Option<f64>,
    },
}

/// How a photo of a batch ended.
#[derive(Serialize, Debug, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum ItemState {
    /// Done by an earlier run: left as it is.
    Skipped,
    /// Its result is in place, made at model input size `size` (after any step-down; `None`
    /// for a workflow without a model step).
    Done { size: Option<usize> },
    /// No result; `error` says why in one line.
    Failed { error: String },
}

#[derive(Serialize, Debug, PartialEq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FilmState {
    Done,
    Failed,
    Interrupted,
}

impl Event {
    /// The `item` event of `job`, named under `root` (the batch's input folder).
    pub(crate) fn item(root: &Path, job: &Job, state: ItemState) -> Self {
        Event::Item {
            rel: rel(root, &job.input),
            input: job.input.to_string_lossy().into_owned(),
            output: job.output.to_string_lossy().into_owned(),
            state,
        }
    }
}

/// `path` under `root`, with `/` between the parts, whatever the platform.
pub(crate) fn rel(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A duration as the events give it: seconds, to the millisecond.
pub(crate) fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn json(event: &Event) -> String {
        serde_json::to_string(event).expect("serialises")
    }

    #[test]
    fn events_have_the_field_names_front_ends_parse() {
        assert_eq!(
            json(&Event::Start(Start::Batch { total: 4, to_do: 3 })),
            r#"{"event":"start","kind":"batch","total":4,"to_do":3}"#
        );
        let job = Job {
            input: PathBuf::from("in/a/b.jpg"),
            output: PathBuf::from("out/a/b.jpg"),
        };
        assert_eq!(
            json(&Event::item(
                Path::new("in"),
                &job,
                ItemState::Done { size: Some(512) }
            )),
            r#"{"event":"item","rel":"a/b.jpg","input":"in/a/b.jpg","output":"out/a/b.jpg","state":"done","size":512}"#
        );
        assert_eq!(
            json(&Event::item(Path::new("in"), &job, ItemState::Skipped)),
            r#"{"event":"item","rel":"a/b.jpg","input":"in/a/b.jpg","output":"out/a/b.jpg","state":"skipped"}"#
        );
        assert_eq!(
            json(&Event::Stepdown {
                from: 1024,
                to: 768
            }),
            r#"{"event":"stepdown","from":1024,"to":768}"#
        );
        assert_eq!(
            json(&Event::NotWalked {
                path: "in/x".into(),
                reason: "loop".into()
            }),
            r#"{"event":"not_walked","path":"in/x","reason":"loop"}"#
        );
        assert_eq!(
            json(&Event::BatchEnd {
                done: 1,
                failed: 2,
                skipped: 3,
                interrupted: 0,
                seconds: 1.5,
                error: None
            }),
            r#"{"event":"end","done":1,"failed":2,"skipped":3,"interrupted":0,"seconds":1.5}"#
        );
        assert_eq!(
            json(&Event::FilmEnd {
                frames: 7,
                output: "f.mp4".into(),
                state: FilmState::Failed,
                error: Some("why".into()),
                seconds: 0.25
            }),
            r#"{"event":"end","frames":7,"output":"f.mp4","state":"failed","error":"why","seconds":0.25}"#
        );
        assert_eq!(
            json(&Event::Start(Start::Film {
                input: "a.mkv".into(),
                output: "b.mp4".into(),
                frames: None,
                duration: None
            })),
            r#"{"event":"start","kind":"film","input":"a.mkv","output":"b.mp4","frames":null,"duration":null}"#
        );
    }

    /// A writer whose reader went away: every write fails.
    struct Closed(Arc<Mutex<usize>>);

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            *self.0.lock().unwrap() += 1;
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_closes_the_stream_quietly() {
        let tries = Arc::new(Mutex::new(0));
        let events = Events(Some(Arc::new(Mutex::new(Some(Box::new(Closed(
            tries.clone(),
        )))))));
        for _ in 0..3 {
            events.note("x");
        }
        assert_eq!(*tries.lock().unwrap(), 1);
    }

    #[test]
    fn a_file_gets_one_line_per_event() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "old content, replaced\n").expect("write");
        let events = Events::open(&path).expect("opens");
        events.note("one");
        events.clone().send(&Event::Current {
            rel: "a.png".into(),
        });
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            "{\"event\":\"note\",\"text\":\"one\"}\n{\"event\":\"current\",\"rel\":\"a.png\"}\n"
        );
    }
}
