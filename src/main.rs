//! The `portwarden` binary: parse arguments, install color-eyre, dispatch.
//! The faces (the CLI in `cli/`, the TUI in `tui/`) live here, in the
//! binary; the core they share is the `portwarden` library, which knows
//! nothing of clap, ratatui or crossterm.

mod cli;
// The same test support the library's tests use (one file, two builds).
#[cfg(test)]
#[path = "testkit.rs"]
mod testkit;
mod tui;

use std::process::ExitCode;

use clap::Parser;
use cli::Cli;

fn main() -> ExitCode {
    let args = match Cli::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(e),
    };
    if let Err(e) = color_eyre::install() {
        eprintln!("portwarden: cannot install error reporting: {e}");
    }
    if args.fleet.active() {
        return cli::fleet::run(args);
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

/// `--help`/`--version` print as clap does; a usage error becomes one line
/// naming the bad value, and exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(cli::exit::OK)
        }
        _ => {
            let text = e.render().to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut msg = lines
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            // "the following required arguments were not provided:" names
            // them on the next line.
            if msg.ends_with(':')
                && let Some(next) = lines.next()
            {
                msg = format!("{msg} {next}");
            }
            // clap quotes the offending argument as given: escape it.
            eprintln!(
                "portwarden: {} (see --help)",
                portwarden::escape::escape(&msg)
            );
            ExitCode::from(cli::exit::USAGE)
        }
    }
}
