//! The `portwarden` binary: parse arguments, install color-eyre, dispatch.
//! Everything it does lives in the library (`portwarden::cli`, `portwarden::tui`).
//!
//! For now (on the `tui` branch) it only opens the TUI; the real argument
//! parsing is on `main`.

fn main() -> color_eyre::Result<()> {
    color_eyre::install()?;
    portwarden::tui::run(portwarden::tui::Options::default())
}
