//! Reclaim a port before binding it — what a dev server or sidecar does at
//! start-up so an orphan of its previous run cannot block it.
//!
//! ```sh
//! cargo run --example reclaim_port -- 4317 my-sidecar
//! ```
//!
//! With the default policy only orphans and daemons of the calling user are
//! ended; a live instance, another user's process or a systemd service makes
//! it refuse instead, and it says why.

use std::net::TcpListener;
use std::process::ExitCode;

use portwarden::kill::{Policy, ensure_port_free};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: reclaim_port PORT [ONLY-PATTERN]");
        return ExitCode::from(2);
    };
    let policy = Policy {
        only: args.next(),
        ..Policy::default()
    };
    match ensure_port_free(port, &policy) {
        Ok(report) => {
            if !report.outcomes.is_empty() {
                eprintln!("reclaimed: {}", report.summary());
            }
        }
        Err(e) => {
            eprintln!("cannot reclaim port {port}: {e}");
            return ExitCode::from(1);
        }
    }
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => {
            println!(
                "bound {}",
                l.local_addr().map(|a| a.to_string()).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bind failed: {e}");
            ExitCode::from(1)
        }
    }
}
