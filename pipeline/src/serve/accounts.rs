//! Accounts: passwords hashed with argon2id (never stored or logged in the clear), random
//! secrets for sessions and API tokens (only their SHA-256 is stored, so a copy of the database
//! opens no door), and `ddcolor users`, which manages them on the same data folder as `serve`.
//! There is no default account and no default password: the first user is made here.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};

use super::oplog::OpLog;
use super::store::{LogEntry, Store, now};
use crate::args::UsersCommand;

/// Shortest password accepted: argon2 slows guessing down, it cannot save a 4-letter word.
pub const MIN_PASSWORD: usize = 10;
/// Prefix of API tokens, so a leaked one is recognisable in a log or a secret scanner.
pub const TOKEN_PREFIX: &str = "ddc_";

/// A hex string of `bytes` random bytes from the operating system.
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness from the system: {e}"))?;
    Ok(hex(&buf))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the database keeps of a session key or token.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash that no password matches, verified against when the user does not exist, so a
/// failed login takes as long for an unknown name as for a wrong password.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no user has this password").unwrap_or_default())
}

/// User names: letters, digits and `._-`, so they show and log unambiguously.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!("bad user name '{name}': use 1 to 64 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD {
        bail!("the password is too short: use at least {MIN_PASSWORD} characters");
    }
    Ok(())
}

/// A new API token for the user: the secret (shown once) and its id.
pub fn new_token(store: &Store, user_id: i64) -> Result<(String, i64)> {
    let secret = format!("{TOKEN_PREFIX}{}", random_hex(24)?);
    let id = store.add_token(user_id, &secret_hash(&secret))?;
    Ok((secret, id))
}

/// The password from `--password-file` (first line), else asked on the terminal (twice, not
/// echoed), else the first line of standard input when that is not a terminal.
fn read_password(file: Option<&Path>) -> Result<String> {
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("{}: cannot read the password file", f.display()))?;
        return Ok(text.lines().next().unwrap_or("").to_string());
    }
    if std::io::stdin().is_terminal() {
        let first = prompt_hidden("Password: ")?;
        let second = prompt_hidden("Again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Reads a line from the terminal with echo off (restored however the read ends).
fn prompt_hidden(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data, filled by tcgetattr before use.
    let mut old: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd is standard input, a terminal (checked by the caller).
    let have = unsafe { libc::tcgetattr(fd, &mut old) } == 0;
    if have {
        let mut quiet = old;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: as above; `quiet` is a copy of the terminal's own settings.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if have {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &old) };
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `ddcolor users ...`.
pub fn command(data: &Path, cmd: UsersCommand) -> Result<ExitCode> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("{}: cannot create the data folder", data.display()))?;
    let store = Store::open(data)?;
    let log = OpLog::open(data)?;
    let record = |action: &str, user: &str, detail: String| {
        log.write(
            &store,
            LogEntry {
                id: 0,
                at: now(),
                user: Some(user.to_string()),
                address: Some("command line".into()),
                action: action.into(),
                detail,
            },
        );
    };
    match cmd {
        UsersCommand::Add {
            name,
            admin,
            password_file,
        } => {
            check_name(&name)?;
            if store.user_by_name(&name)?.is_some() {
                bail!("a user named '{name}' exists already (use `ddcolor users passwd {name}`)");
            }
            let password = read_password(password_file.as_deref())?;
            check_password(&password)?;
            store.add_user(&name, &hash_password(&password)?, admin)?;
            record(
                "user added",
                &name,
                if admin { "administrator" } else { "user" }.into(),
            );
            println!(
                "added {}{name}",
                if admin { "administrator " } else { "user " }
            );
        }
        UsersCommand::List => {
            let users = store.users()?;
            if users.is_empty() {
                println!("no users yet: add one with `ddcolor users add NAME --admin`");
            }
            for u in users {
                let tokens = store.tokens(u.id)?;
                println!(
                    "{:<20} {:<13} created {}  API tokens: {}",
                    u.name,
                    if u.admin { "administrator" } else { "user" },
                    super::time::rfc3339(u.created),
                    if tokens.is_empty() {
                        "none".to_string()
                    } else {
                        tokens
                            .iter()
                            .map(|(id, _, used)| match used {
                                Some(t) => format!("#{id} (used {})", super::time::rfc3339(*t)),
                                None => format!("#{id} (never used)"),
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
            }
        }
        UsersCommand::Remove { name } => {
            let jobs = store.remove_user(&name)?;
            for id in &jobs {
                let _ = std::fs::remove_dir_all(super::jobs_dir(data).join(id.to_string()));
            }
            record(
                "user removed",
                &name,
                format!("{} job(s) deleted", jobs.len()),
            );
            println!("removed {name} and their {} job(s)", jobs.len());
        }
        UsersCommand::Passwd {
            name,
            password_file,
        } => {
            store.user(&name)?;
            let password = read_password(password_file.as_deref())?;
            check_password(&password)?;
            store.set_password(&name, &hash_password(&password)?)?;
            record("password changed", &name, "sessions ended".into());
            println!("password of {name} changed; their browser sessions are ended");
        }
        UsersCommand::Token { name, revoke } => {
            let user = store.user(&name)?;
            match revoke {
                Some(which) => {
                    let id = if which == "all" {
                        None
                    } else {
                        Some(which.trim_start_matches('#').parse::<i64>().map_err(|_| {
                            anyhow::anyhow!("bad token id '{which}': give a number from `ddcolor users list`, or all")
                        })?)
                    };
                    let n = store.revoke_tokens(user.id, id)?;
                    if n == 0 {
                        bail!("{name} has no such token");
                    }
                    record("token revoked", &name, format!("{n} token(s)"));
                    println!("revoked {n} token(s) of {name}");
                }
                None => {
                    let (secret, id) = new_token(&store, user.id)?;
                    record("token created", &name, format!("token #{id}"));
                    eprintln!(
                        "new API token #{id} for {name} (shown once; revoke with `ddcolor users token {name} --revoke {id}`):"
                    );
                    println!("{secret}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
