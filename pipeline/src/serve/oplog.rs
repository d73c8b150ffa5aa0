//! The operation log: who did what, when, from which address. Each entry goes to the database
//! (the admin page filters it and exports CSV) and, as one JSON line, to `operations.jsonl` in
//! the data folder, for the host's log collection. Entries are built from names and ids only:
//! no password or token ever reaches them.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::store::{LogEntry, Store};

/// The JSON-lines copy's name inside the data folder.
pub const LOG_FILE: &str = "operations.jsonl";

pub struct OpLog {
    file: Mutex<File>,
}

impl OpLog {
    pub fn open(data: &Path) -> Result<OpLog> {
        let path = data.join(LOG_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open the operation log", path.display()))?;
        Ok(OpLog {
            file: Mutex::new(file),
        })
    }

    /// Records the entry in both places. A failure to log is reported on standard error and
    /// does not fail the operation itself.
    pub fn write(&self, store: &Store, mut entry: LogEntry) {
        match store.log(&entry) {
            Ok(id) => entry.id = id,
            Err(e) => super::say(&format!("warning: operation log: {e}")),
        }
        let line = serde_json::json!({
            "id": entry.id,
            "at": super::time::rfc3339(entry.at),
            "user": entry.user,
            "address": entry.address,
            "action": entry.action,
            "detail": entry.detail,
        });
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // One write per line: readers tailing the file never see half an entry.
        if let Err(e) = file.write_all(format!("{line}\n").as_bytes()) {
            super::say(&format!("warning: operation log file: {e}"));
        }
    }
}
