//! The library's error type: only failures a caller can act on. A process
//! vanishing mid-scan is not one of them (see [`crate::os::procfs`]).

use std::fmt;
use std::io;

/// Something portwarden could not do at all.
#[derive(Debug)]
pub enum Error {
    /// `/proc` is missing or unreadable: no process can be seen.
    Proc(io::Error),
    /// The kernel's socket table (netlink sock_diag) could not be read.
    SockDiag(io::Error),
    /// A kill plan was refused by policy; nothing was signalled.
    Refused(String),
    /// A kill ran but the port was not observed free (the summary says why).
    NotFreed(String),
    /// Any other I/O failure, with what we were doing.
    Io(String, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Proc(e) => write!(
                f,
                "cannot read /proc ({e}): portwarden needs a mounted procfs to see processes"
            ),
            Error::SockDiag(e) => write!(
                f,
                "cannot read the kernel socket table over netlink sock_diag ({e})"
            ),
            Error::Refused(why) => write!(f, "refused: {why}"),
            Error::NotFreed(why) => write!(f, "not freed: {why}"),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Proc(e) | Error::SockDiag(e) | Error::Io(_, e) => Some(e),
            Error::Refused(_) | Error::NotFreed(_) => None,
        }
    }
}

/// Shorthand for library results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
