//! `ddcolor`: colorize black-and-white photos, archive folders and films with DDColor.
//!
//! This file only dispatches: each command lives in its own module.

mod args;
mod error_watch;
mod film;
mod idle;
mod jobs;
mod listings;
mod metrics;
mod output_folder;
mod photos;
mod progress;
mod provenance;
mod signals;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::args::{Cli, Command};
use crate::listings::{list_models, list_workflows};
use crate::photos::{batch, photo, run_workflow};

fn main() -> ExitCode {
    // Before anything of ours runs: `batch` looks at what other programs did meanwhile.
    idle::start_load_probe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
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
            common,
        } => batch(in_dir, out_dir, overwrite, jobs, common),
        Command::Film(args) => film::command(args),
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
