//! Live progress between the worker and the pages: a broadcast channel per job for the event
//! streams (a page that falls behind is told to reload the job rather than shown gaps), the
//! running job's rate, ETA and current file (the database keeps counts, not speeds), and the
//! signals the routes send the worker: a job was queued, a job was cancelled, the server stops.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde::Serialize;
use tokio::sync::{Notify, broadcast};

/// One message on a job's event stream (the SSE event name and its JSON data).
#[derive(Clone, Debug)]
pub struct Update {
    pub event: &'static str,
    pub data: serde_json::Value,
}

/// What only the running job has: speed and where it is.
#[derive(Clone, Debug, Serialize)]
pub struct Live {
    /// Items finished per second in this run (resumed items not counted).
    pub rate: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub current: Option<String>,
    #[serde(skip)]
    pub started: Instant,
    #[serde(skip)]
    pub finished_here: usize,
    #[serde(skip)]
    pub to_do: usize,
}

impl Live {
    pub fn new(to_do: usize) -> Live {
        Live {
            rate: None,
            eta_seconds: None,
            current: None,
            started: Instant::now(),
            finished_here: 0,
            to_do,
        }
    }

    /// One more item (or frame) finished in this run: rate and ETA from this run's pace.
    pub fn finished(&mut self, count: usize) {
        self.finished_here = count;
        let secs = self.started.elapsed().as_secs_f64();
        if count > 0 && secs > 0.0 {
            let rate = count as f64 / secs;
            self.rate = Some(rate);
            self.eta_seconds = Some(self.to_do.saturating_sub(count) as f64 / rate);
        }
    }
}

#[derive(Default)]
pub struct Hub {
    channels: Mutex<HashMap<i64, broadcast::Sender<Update>>>,
    live: Mutex<HashMap<i64, Live>>,
    cancelled: Mutex<HashMap<i64, bool>>,
    /// A job was queued or cancelled: the worker looks again.
    pub wake: Notify,
    stopping: AtomicBool,
}

/// Messages a slow page may fall behind by before it is told to reload.
const BACKLOG: usize = 256;

impl Hub {
    pub fn subscribe(&self, job: i64) -> broadcast::Receiver<Update> {
        let mut c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        c.entry(job)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe()
    }

    /// Forgets the job's channel if nobody listens to it any more (its last stream ended or
    /// went away): the worker closes only the channel of a job it ran, so one made by a stream
    /// on an ended job, or on a queued job that was cancelled, would otherwise stay for good.
    pub fn release(&self, job: i64) {
        let mut c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if c.get(&job).is_some_and(|tx| tx.receiver_count() == 0) {
            c.remove(&job);
        }
    }

    pub fn send(&self, job: i64, event: &'static str, data: serde_json::Value) {
        let c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = c.get(&job) {
            // No page listening is fine.
            let _ = tx.send(Update { event, data });
        }
    }

    /// The job ended: its streams get the last word and close.
    pub fn close(&self, job: i64) {
        let mut c = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        c.remove(&job);
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job);
    }

    pub fn set_live(&self, job: i64, live: Live) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job, live);
    }

    pub fn live(&self, job: i64) -> Option<Live> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&job)
            .cloned()
    }

    pub fn update_live(&self, job: i64, f: impl FnOnce(&mut Live)) -> Option<Live> {
        let mut l = self.live.lock().unwrap_or_else(|p| p.into_inner());
        l.get_mut(&job).map(|live| {
            f(live);
            live.clone()
        })
    }

    pub fn cancel(&self, job: i64) {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job, true);
        self.wake.notify_waiters();
    }

    pub fn take_cancel(&self, job: i64) -> bool {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job)
            .unwrap_or(false)
    }

    pub fn is_cancelled(&self, job: i64) -> bool {
        self.cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&job)
            .copied()
            .unwrap_or(false)
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_nobody_listens_to_is_released() {
        let hub = Hub::default();
        let a = hub.subscribe(7);
        let b = hub.subscribe(7);
        drop(a);
        hub.release(7);
        assert!(
            hub.channels.lock().unwrap().contains_key(&7),
            "b still listens"
        );
        drop(b);
        hub.release(7);
        assert!(hub.channels.lock().unwrap().is_empty());
        // Releasing what is not there, or a running job's channel gone, changes nothing.
        hub.release(8);
        hub.send(7, "job", serde_json::json!({}));
        assert!(hub.channels.lock().unwrap().is_empty());
    }

    #[test]
    fn a_new_subscriber_after_a_release_gets_what_follows() {
        let hub = Hub::default();
        drop(hub.subscribe(3));
        hub.release(3);
        let mut rx = hub.subscribe(3);
        hub.send(3, "progress", serde_json::json!({"done": 1}));
        hub.close(3);
        assert_eq!(rx.try_recv().map(|u| u.event).ok(), Some("progress"));
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
    }
}
