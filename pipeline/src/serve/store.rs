//! The web app's database: one SQLite file in the data folder (users, API tokens, browser
//! sessions, jobs and their items, the operation log), compiled into the binary so that nothing
//! else has to be installed or started. WAL lets pages read while the worker writes; a busy
//! timeout rides out the short waits between writers; the worker claims jobs inside
//! `BEGIN IMMEDIATE`, so two claims can never take the same job.
//!
//! Every query lives here, behind a typed API: the routes, the worker and `ddcolor users` never
//! write SQL of their own.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("no user named '{0}'")]
    NoSuchUser(String),
    #[error("a user named '{0}' exists already")]
    UserExists(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users(
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, password TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens(
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    hash TEXT UNIQUE NOT NULL, created INTEGER NOT NULL, last_used INTEGER);
CREATE TABLE IF NOT EXISTS sessions(
    hash TEXT PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL, created INTEGER NOT NULL, seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs(
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL, options TEXT NOT NULL,
    created INTEGER NOT NULL, started INTEGER, finished INTEGER,
    bytes INTEGER NOT NULL DEFAULT 0, error TEXT, notes TEXT NOT NULL DEFAULT '',
    frames_done INTEGER, frames_total INTEGER);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, id);
CREATE TABLE IF NOT EXISTS items(
    id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    rel TEXT NOT NULL, state TEXT NOT NULL, error TEXT, size INTEGER, output TEXT,
    UNIQUE(job_id, rel));
CREATE TABLE IF NOT EXISTS oplog(
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, user TEXT, address TEXT,
    action TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS oplog_at ON oplog(at);
";

/// The database file's name inside the data folder.
pub const DB_FILE: &str = "ddcolor.sqlite";

// `AUTOINCREMENT`: a deleted job's or item's id is never given to a new one, so nothing that
// still names the old one (a page, a stream, a script) can reach someone else's new job.

/// One connection behind a mutex: every query is a few microseconds to a millisecond, and
/// SQLite serialises writers anyway; a pool would add nothing but threads.
pub struct Store {
    conn: Mutex<Connection>,
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub admin: bool,
    pub created: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Job {
    pub id: i64,
    pub user_id: i64,
    pub owner: String,
    /// `album` or `film`.
    pub kind: String,
    pub name: String,
    pub state: String,
    /// The options as chosen on upload (JSON).
    pub options: serde_json::Value,
    pub created: i64,
    pub started: Option<i64>,
    pub finished: Option<i64>,
    pub bytes: i64,
    pub error: Option<String>,
    /// Notes to show on the job: a step-down after running out of memory, files left out.
    pub notes: Vec<String>,
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub frames_done: Option<i64>,
    pub frames_total: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Item {
    pub id: i64,
    pub job_id: i64,
    /// The photo's path inside the album, as uploaded.
    pub name: String,
    pub state: String,
    pub error: Option<String>,
    /// The model's input size S it got (after any step-down).
    pub size: Option<i64>,
    /// The result's path relative to the job's output folder.
    #[serde(skip)]
    pub output: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub at: i64,
    pub user: Option<String>,
    pub address: Option<String>,
    pub action: String,
    pub detail: String,
}

/// A job as an upload makes it.
#[derive(Clone, Copy)]
pub struct NewJob<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    pub name: &'a str,
    pub options: &'a serde_json::Value,
    pub bytes: i64,
    pub items: &'a [String],
    pub notes: &'a [String],
}

/// What the admin page filters the log by.
#[derive(Default, Debug, Clone)]
pub struct LogFilter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: usize,
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

const JOB_COLUMNS: &str = "j.id, j.user_id, u.name, j.kind, j.name, j.state, j.options, j.created,
    j.started, j.finished, j.bytes, j.error, j.notes, j.frames_done, j.frames_total,
    (SELECT COUNT(*) FROM items i WHERE i.job_id = j.id),
    (SELECT COUNT(*) FROM items i WHERE i.job_id = j.id AND i.state = 'done'),
    (SELECT COUNT(*) FROM items i WHERE i.job_id = j.id AND i.state = 'failed')";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let options: String = r.get(6)?;
    let notes: String = r.get(12)?;
    Ok(Job {
        id: r.get(0)?,
        user_id: r.get(1)?,
        owner: r.get(2)?,
        kind: r.get(3)?,
        name: r.get(4)?,
        state: r.get(5)?,
        options: serde_json::from_str(&options).unwrap_or(serde_json::Value::Null),
        created: r.get(7)?,
        started: r.get(8)?,
        finished: r.get(9)?,
        bytes: r.get(10)?,
        error: r.get(11)?,
        notes: notes
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        frames_done: r.get(13)?,
        frames_total: r.get(14)?,
        total: r.get(15)?,
        done: r.get(16)?,
        failed: r.get(17)?,
    })
}

/// A user from the first four columns `id, name, admin, created`.
fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        admin: r.get(2)?,
        created: r.get(3)?,
    })
}

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        id: r.get(0)?,
        job_id: r.get(1)?,
        name: r.get(2)?,
        state: r.get(3)?,
        error: r.get(4)?,
        size: r.get(5)?,
        output: r.get(6)?,
    })
}

impl Store {
    pub fn open(data: &Path) -> Result<Store> {
        let path = data.join(DB_FILE);
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        // The database holds password hashes and session keys: nobody else reads it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while the lock was held leaves SQLite itself consistent (each statement is
        // atomic), so the poisoned guard is still good to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- users -------------------------------------------------------------------------

    pub fn add_user(&self, name: &str, password_hash: &str, admin: bool) -> Result<User> {
        let c = self.conn();
        let created = now();
        match c.execute(
            "INSERT INTO users(name, password, admin, created) VALUES (?1, ?2, ?3, ?4)",
            params![name, password_hash, admin, created],
        ) {
            Ok(_) => Ok(User {
                id: c.last_insert_rowid(),
                name: name.to_string(),
                admin,
                created,
            }),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::UserExists(name.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT id, name, admin, created FROM users ORDER BY name")?;
        let rows = st.query_map([], user_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn user_by_name(&self, name: &str) -> Result<Option<(User, String)>> {
        let c = self.conn();
        Ok(c.query_row(
            "SELECT id, name, admin, created, password FROM users WHERE name = ?1",
            [name],
            |r| Ok((user_from_row(r)?, r.get(4)?)),
        )
        .optional()?)
    }

    pub fn user(&self, name: &str) -> Result<User> {
        self.user_by_name(name)?
            .map(|(u, _)| u)
            .ok_or_else(|| StoreError::NoSuchUser(name.to_string()))
    }

    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        let c = self.conn();
        let n = c.execute(
            "UPDATE users SET password = ?2 WHERE name = ?1",
            params![name, password_hash],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchUser(name.to_string()));
        }
        // A new password ends every session the old one opened.
        c.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
            [name],
        )?;
        Ok(())
    }

    /// Removes the user, their tokens, sessions, jobs and items; returns the removed job ids
    /// (their folders are for the caller to remove).
    pub fn remove_user(&self, name: &str) -> Result<Vec<i64>> {
        let mut c = self.conn();
        let tx = c.transaction()?;
        let id: Option<i64> = tx
            .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        let Some(id) = id else {
            return Err(StoreError::NoSuchUser(name.to_string()));
        };
        let jobs: Vec<i64> = {
            let mut st = tx.prepare("SELECT id FROM jobs WHERE user_id = ?1")?;
            st.query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        tx.execute("DELETE FROM users WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(jobs)
    }

    // ---- API tokens --------------------------------------------------------------------

    pub fn add_token(&self, user_id: i64, hash: &str) -> Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO tokens(user_id, hash, created) VALUES (?1, ?2, ?3)",
            params![user_id, hash, now()],
        )?;
        Ok(c.last_insert_rowid())
    }

    /// The user's tokens: id, created, last used.
    pub fn tokens(&self, user_id: i64) -> Result<Vec<(i64, i64, Option<i64>)>> {
        let c = self.conn();
        let mut st =
            c.prepare("SELECT id, created, last_used FROM tokens WHERE user_id = ?1 ORDER BY id")?;
        let rows = st.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Revokes one token (`Some(id)`) or all of the user's; returns how many went.
    pub fn revoke_tokens(&self, user_id: i64, id: Option<i64>) -> Result<usize> {
        let c = self.conn();
        Ok(match id {
            Some(id) => c.execute(
                "DELETE FROM tokens WHERE user_id = ?1 AND id = ?2",
                params![user_id, id],
            )?,
            None => c.execute("DELETE FROM tokens WHERE user_id = ?1", [user_id])?,
        })
    }

    pub fn user_by_token(&self, hash: &str) -> Result<Option<User>> {
        let c = self.conn();
        let user = c
            .query_row(
                "SELECT u.id, u.name, u.admin, u.created FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1",
                [hash],
                user_from_row,
            )
            .optional()?;
        if user.is_some() {
            c.execute(
                // Once a minute at most: a script polling every 100 ms is not a write each time.
                "UPDATE tokens SET last_used = ?2
                 WHERE hash = ?1 AND (last_used IS NULL OR last_used < ?2 - 60)",
                params![hash, now()],
            )?;
        }
        Ok(user)
    }

    // ---- browser sessions --------------------------------------------------------------

    pub fn add_session(&self, hash: &str, user_id: i64, csrf: &str) -> Result<()> {
        let c = self.conn();
        let t = now();
        c.execute(
            "INSERT INTO sessions(hash, user_id, csrf, created, seen) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![hash, user_id, csrf, t],
        )?;
        Ok(())
    }

    /// The session's user and CSRF token, if it exists and was used within `idle` seconds and
    /// is younger than `max_age`; marks it used.
    pub fn session(&self, hash: &str, idle: i64, max_age: i64) -> Result<Option<(User, String)>> {
        let c = self.conn();
        let t = now();
        c.execute(
            "DELETE FROM sessions WHERE seen < ?1 OR created < ?2",
            params![t - idle, t - max_age],
        )?;
        let found = c
            .query_row(
                "SELECT u.id, u.name, u.admin, u.created, s.csrf FROM sessions s
                 JOIN users u ON u.id = s.user_id WHERE s.hash = ?1",
                [hash],
                |r| Ok((user_from_row(r)?, r.get::<_, String>(4)?)),
            )
            .optional()?;
        if found.is_some() {
            c.execute(
                "UPDATE sessions SET seen = ?2 WHERE hash = ?1",
                params![hash, t],
            )?;
        }
        Ok(found)
    }

    pub fn remove_session(&self, hash: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM sessions WHERE hash = ?1", [hash])?;
        Ok(())
    }

    // ---- jobs and items ----------------------------------------------------------------

    /// A new queued job with its items, in one transaction.
    pub fn add_job(&self, job: &NewJob<'_>) -> Result<i64> {
        let NewJob {
            user_id,
            kind,
            name,
            options,
            bytes,
            items,
            notes,
        } = *job;
        let mut c = self.conn();
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO jobs(user_id, kind, name, state, options, created, bytes, notes)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7)",
            params![
                user_id,
                kind,
                name,
                options.to_string(),
                now(),
                bytes,
                notes.join("\n")
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx.prepare(
                "INSERT OR IGNORE INTO items(job_id, rel, state) VALUES (?1, ?2, 'queued')",
            )?;
            for rel in items {
                st.execute(params![id, rel])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// Hands the oldest queued job to a worker, or `None`. Inside `BEGIN IMMEDIATE`: the write
    /// lock is taken before the read, so two workers never claim the same job.
    pub fn claim_next(&self) -> Result<Option<i64>> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = id {
            tx.execute(
                "UPDATE jobs SET state = 'running', started = COALESCE(started, ?2) WHERE id = ?1",
                params![id, now()],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Jobs a stopped server left running go back to the queue (their done items stay done).
    pub fn requeue_running(&self) -> Result<usize> {
        let c = self.conn();
        c.execute(
            "UPDATE items SET state = 'queued' WHERE state = 'running'
             AND job_id IN (SELECT id FROM jobs WHERE state = 'running')",
            [],
        )?;
        Ok(c.execute(
            "UPDATE jobs SET state = 'queued' WHERE state = 'running'",
            [],
        )?)
    }

    pub fn set_job_state(&self, id: i64, state: &str, error: Option<&str>) -> Result<()> {
        let c = self.conn();
        let finished = matches!(state, "done" | "failed" | "cancelled").then(now);
        c.execute(
            // A cancel that came while the job ran is not overwritten by its end.
            "UPDATE jobs SET state = ?2, error = ?3, finished = ?4
             WHERE id = ?1 AND state != 'cancelled'",
            params![id, state, error, finished],
        )?;
        Ok(())
    }

    /// Cancels a queued or running job; false if it had finished already.
    pub fn cancel_job(&self, id: i64) -> Result<bool> {
        let c = self.conn();
        let n = c.execute(
            "UPDATE jobs SET state = 'cancelled', finished = ?2
             WHERE id = ?1 AND state IN ('queued', 'running')",
            params![id, now()],
        )?;
        Ok(n > 0)
    }

    pub fn add_job_note(&self, id: i64, note: &str) -> Result<()> {
        let c = self.conn();
        c.execute(
            "UPDATE jobs SET notes = CASE WHEN notes = '' THEN ?2 ELSE notes || char(10) || ?2 END
             WHERE id = ?1",
            params![id, note],
        )?;
        Ok(())
    }

    pub fn set_frames(&self, id: i64, done: Option<i64>, total: Option<i64>) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET frames_done = ?2, frames_total = COALESCE(?3, frames_total)
             WHERE id = ?1",
            params![id, done, total],
        )?;
        Ok(())
    }

    pub fn set_job_bytes(&self, id: i64, bytes: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET bytes = ?2 WHERE id = ?1",
            params![id, bytes],
        )?;
        Ok(())
    }

    pub fn job(&self, id: i64) -> Result<Option<Job>> {
        let c = self.conn();
        Ok(c.query_row(
            &format!(
                "SELECT {JOB_COLUMNS} FROM jobs j JOIN users u ON u.id = j.user_id WHERE j.id = ?1"
            ),
            [id],
            job_from_row,
        )
        .optional()?)
    }

    /// The user's jobs, newest first; every user's for `None` (administrators).
    pub fn jobs(&self, user_id: Option<i64>, limit: usize) -> Result<Vec<Job>> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j JOIN users u ON u.id = j.user_id
             WHERE ?1 IS NULL OR j.user_id = ?1 ORDER BY j.id DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![user_id, limit as i64], job_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn delete_job(&self, id: i64) -> Result<()> {
        self.conn()
            .execute("DELETE FROM jobs WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Bytes held by the user's jobs, and how many are queued or running.
    pub fn usage(&self, user_id: i64) -> Result<(i64, i64)> {
        let c = self.conn();
        Ok(c.query_row(
            "SELECT COALESCE(SUM(bytes), 0),
                    COALESCE(SUM(state IN ('queued', 'running')), 0)
             FROM jobs WHERE user_id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    pub fn items(&self, job_id: i64) -> Result<Vec<Item>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, job_id, rel, state, error, size, output FROM items WHERE job_id = ?1
             ORDER BY rel",
        )?;
        let rows = st.query_map([job_id], item_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn item(&self, id: i64) -> Result<Option<Item>> {
        let c = self.conn();
        Ok(c.query_row(
            "SELECT id, job_id, rel, state, error, size, output FROM items WHERE id = ?1",
            [id],
            item_from_row,
        )
        .optional()?)
    }

    /// Records what became of one item; returns its id (`None` for a name the job lacks).
    pub fn set_item(
        &self,
        job_id: i64,
        rel: &str,
        state: &str,
        error: Option<&str>,
        size: Option<i64>,
        output: Option<&str>,
    ) -> Result<Option<i64>> {
        let c = self.conn();
        Ok(c.query_row(
            "UPDATE items SET state = ?3, error = ?4, size = COALESCE(?5, size),
                    output = COALESCE(?6, output)
             WHERE job_id = ?1 AND rel = ?2 RETURNING id",
            params![job_id, rel, state, error, size, output],
            |r| r.get(0),
        )
        .optional()?)
    }

    /// Items the run never reached (a job that could not run): failed with `why`.
    pub fn fail_unfinished_items(&self, job_id: i64, why: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE items SET state = 'failed', error = ?2
             WHERE job_id = ?1 AND state IN ('queued', 'running')",
            params![job_id, why],
        )?;
        Ok(())
    }

    /// Items a cancel left undone (those past the model when it came still finish as done;
    /// `running` ones too, once the command has ended).
    pub fn cancel_unfinished_items(&self, job_id: i64, running_too: bool) -> Result<()> {
        self.conn().execute(
            "UPDATE items SET state = 'cancelled'
             WHERE job_id = ?1 AND (state = 'queued' OR (?2 AND state = 'running'))",
            params![job_id, running_too],
        )?;
        Ok(())
    }

    // ---- the operation log -------------------------------------------------------------

    pub fn log(&self, entry: &LogEntry) -> Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO oplog(at, user, address, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                entry.at,
                entry.user,
                entry.address,
                entry.action,
                entry.detail
            ],
        )?;
        Ok(c.last_insert_rowid())
    }

    pub fn log_entries(&self, f: &LogFilter) -> Result<Vec<LogEntry>> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, at, user, address, action, detail FROM oplog
             WHERE (?1 IS NULL OR user = ?1) AND (?2 IS NULL OR action = ?2)
               AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4)
             ORDER BY id DESC LIMIT ?5",
        )?;
        let rows = st.query_map(
            params![f.user, f.action, f.since, f.until, f.limit.max(1) as i64],
            |r| {
                Ok(LogEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    user: r.get(2)?,
                    address: r.get(3)?,
                    action: r.get(4)?,
                    detail: r.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn log_actions(&self) -> Result<Vec<String>> {
        let c = self.conn();
        let mut st = c.prepare("SELECT DISTINCT action FROM oplog ORDER BY action")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
