//! The failpoints of this crate (docs/format.md, 4): I/O errors injected at each durability step, exactly as
//! the storage crate injects them.

/// The error a failpoint injects: `enospc` gives "no space left on device", anything else EIO.
#[cfg(feature = "failpoints")]
pub(crate) fn io_err_from(arg: Option<String>) -> std::io::Error {
    match arg.as_deref() {
        Some("enospc") => std::io::Error::from_raw_os_error(28),
        _ => std::io::Error::from_raw_os_error(5),
    }
}

/// Evaluates an I/O failpoint inside a function returning `io::Result`.
macro_rules! io_failpoint {
    ($name:literal) => {
        fail::fail_point!($name, |arg| Err($crate::failpoint::io_err_from(arg)))
    };
}
pub(crate) use io_failpoint;
