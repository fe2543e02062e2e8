//! The `portwarden` binary: parse arguments, install color-eyre, dispatch.
//! Everything it does lives in the library (`portwarden::cli`, `portwarden::tui`).

fn main() {
    let snap = portwarden::discover::discover(&Default::default());
    println!("{snap:#?}");
}
