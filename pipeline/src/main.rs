//! `ddcolor`: colorize black-and-white photos, archive folders and films with DDColor.
//!
//! This file only dispatches: each command lives in its own module.

mod args;
mod error_watch;
mod events;
mod film;
mod idle;
mod jobs;
mod listings;
mod metrics;
mod output_folder;
mod photos;
mod progress;
mod provenance;
mod serve;
mod signals;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::args::{Cli, Command};
use crate::listings::{list_models, list_workflows};
use crate::photos::{batch, photo, run_workflow};

/// glibc gives each new thread a heap of its own (up to 8 per core), and each keeps the free
/// space of the largest photos that thread ever held: over a long `batch`, memory between photos
/// crept up from about 256 to 320 MB that way, where two heaps held it at 160 MB, flat, at no
/// cost in speed (`make soak`; 300 photos, 2 against 16 heaps, interleaved: 12.4/11.9 s against
/// 12.0/13.1 s). Set before any thread starts; `MALLOC_ARENA_MAX` in the environment still wins,
/// for comparing settings.
fn limit_malloc_heaps() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a number in glibc's allocator; no thread of ours exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> ExitCode {
    limit_malloc_heaps();
    // Before anything of ours runs: `batch` looks at what other programs did meanwhile.
    idle::start_load_probe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<signals::Interrupted>().is_some() {
                ExitCode::from(signals::EXIT_INTERRUPTED)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Photo {
            inputs,
            output,
            common,
        } => photo(inputs, output, common),
        Command::Batch {
            in_dir,
            out_dir,
            overwrite,
            jobs,
            events,
            common,
        } => batch(in_dir, out_dir, overwrite, jobs, &events, common),
        Command::Film(args) => film::command(args),
        Command::Serve(args) => serve::command(args),
        Command::Users { data, command } => serve::users(&data, command),
        Command::Run {
            file,
            inputs,
            output,
            common,
        } => run_workflow(file, inputs, output, common),
        Command::Workflows { nodes } => {
            list_workflows(nodes);
            Ok(ExitCode::SUCCESS)
        }
        Command::Models => list_models(),
        Command::Metrics(args) => {
            metrics::run(&args)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
