//! The `portwarden` binary: parse arguments, install color-eyre, dispatch.
//! Everything it does lives in the library (`portwarden::cli`,
//! `portwarden::tui`); this file only wires them together.

use std::process::ExitCode;

use clap::Parser;
use portwarden::cli::{self, Cli};

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let args = Cli::parse();
    if let Err(e) = color_eyre::install() {
        eprintln!("portwarden: cannot install error reporting: {e}");
    }
    let result = match args.command {
        Some(cmd) => cli::run(cmd),
        None => cli::run_tui(args.interval, args.no_color),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("portwarden: {report:?}");
            ExitCode::from(cli::exit::ERROR)
        }
    }
}
