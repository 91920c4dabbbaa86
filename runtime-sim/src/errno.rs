//! Error numbers as the hypercall interface reports them (Linux/Xen values).
//!
//! A hypercall returns `-errno`; a payload's `status` holds `-errno` after a failed
//! action. [`Failure`] pairs the number with a sentence for humans (shown by the
//! debug dump and the CLI, never part of the byte interface).

use std::fmt;

/// An error number of the Xen public ABI (`xen/include/public/errno.h`, equal to
/// Linux's on x86).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno($val);)*
            const TABLE: &'static [(&'static str, i32)] = &[$((stringify!($name), $val)),*];
        }
    };
}

errnos! {
    EPERM = 1,
    ENOENT = 2,
    E2BIG = 7,
    ENOEXEC = 8,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EINVAL = 22,
    ENOSPC = 28,
    ERANGE = 34,
    ENOSYS = 38,
    ENODATA = 61,
    EOVERFLOW = 75,
    EOPNOTSUPP = 95,
    ENOBUFS = 105,
}

impl Errno {
    /// `EINVAL` for 22; `E<n>` for numbers this crate never produces.
    pub fn name(self) -> String {
        Self::TABLE
            .iter()
            .find(|(_, v)| *v == self.0)
            .map(|(n, _)| (*n).to_string())
            .unwrap_or_else(|| format!("E{}", self.0))
    }

    /// The errno called `name` (`"EINVAL"`, also accepted with a leading `-`).
    pub fn from_name(name: &str) -> Option<Errno> {
        let name = name.strip_prefix('-').unwrap_or(name);
        Self::TABLE
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| Errno(*v))
    }

    /// The value a hypercall returns or a status holds: `-errno`.
    pub fn negative(self) -> i32 {
        -self.0
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A refused operation: the number the interface reports and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {why}")]
pub struct Failure {
    pub errno: Errno,
    pub why: String,
}

impl Failure {
    pub fn new(errno: Errno, why: impl Into<String>) -> Failure {
        Failure {
            errno,
            why: why.into(),
        }
    }
}

/// Shorthand constructors used throughout the crate.
pub(crate) fn fail(errno: Errno, why: impl Into<String>) -> Failure {
    Failure::new(errno, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_values_are_linux_xen() {
        assert_eq!(Errno::EINVAL.0, 22);
        assert_eq!(Errno::EOVERFLOW.0, 75);
        assert_eq!(Errno::EOPNOTSUPP.0, 95);
        assert_eq!(Errno::from_name("-EBUSY"), Some(Errno(16)));
        assert_eq!(Errno::from_name("E2BIG"), Some(Errno(7)));
        assert_eq!(Errno(16).name(), "EBUSY");
        assert_eq!(Errno(200).name(), "E200");
        assert_eq!(Errno::from_name("EWHAT"), None);
    }
}
