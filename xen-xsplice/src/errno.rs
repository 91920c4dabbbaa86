//! Errno values as Xen (x86) and Linux number them, with their names and a short
//! description: what the tool prints instead of a bare number.

use std::fmt;

/// A positive errno value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// `(value, name, description)`: the codes Xen's livepatch paths and Linux's
/// privcmd driver return.
const TABLE: &[(i32, &str, &str)] = &[
    (1, "EPERM", "operation not permitted"),
    (2, "ENOENT", "no such entry"),
    (3, "ESRCH", "no such process"),
    (4, "EINTR", "interrupted"),
    (5, "EIO", "input/output error"),
    (6, "ENXIO", "no such device or address"),
    (7, "E2BIG", "argument list too long"),
    (8, "ENOEXEC", "exec format error"),
    (9, "EBADF", "bad file descriptor"),
    (11, "EAGAIN", "try again (in progress)"),
    (12, "ENOMEM", "out of memory"),
    (13, "EACCES", "permission denied"),
    (14, "EFAULT", "bad address"),
    (16, "EBUSY", "device or resource busy"),
    (17, "EEXIST", "already exists"),
    (19, "ENODEV", "no such device"),
    (22, "EINVAL", "invalid argument"),
    (25, "ENOTTY", "inappropriate ioctl for device"),
    (28, "ENOSPC", "no space left"),
    (34, "ERANGE", "result out of range"),
    (38, "ENOSYS", "function not implemented"),
    (61, "ENODATA", "no data available"),
    (75, "EOVERFLOW", "value too large"),
    (84, "EILSEQ", "illegal byte sequence"),
    (95, "EOPNOTSUPP", "operation not supported"),
    (105, "ENOBUFS", "no buffer space available"),
    (110, "ETIMEDOUT", "timed out"),
];

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const E2BIG: Errno = Errno(7);
    pub const EAGAIN: Errno = Errno(11);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const EFAULT: Errno = Errno(14);
    pub const EBUSY: Errno = Errno(16);
    pub const EEXIST: Errno = Errno(17);
    pub const EINVAL: Errno = Errno(22);
    pub const ERANGE: Errno = Errno(34);
    pub const ENOSYS: Errno = Errno(38);
    pub const ENODATA: Errno = Errno(61);
    pub const EOVERFLOW: Errno = Errno(75);
    pub const EOPNOTSUPP: Errno = Errno(95);
    pub const ENOBUFS: Errno = Errno(105);

    /// From a hypercall's negative return value or a status `rc` (`-errno`).
    pub fn from_negative(v: i64) -> Errno {
        Errno(i32::try_from(-v).unwrap_or(i32::MAX))
    }

    /// The symbolic name (`EEXIST`), or `errno N` for a value not in the table.
    pub fn name(self) -> String {
        TABLE
            .iter()
            .find(|(v, ..)| *v == self.0)
            .map_or_else(|| format!("errno {}", self.0), |(_, n, _)| (*n).to_string())
    }

    /// A short description (`already exists`).
    pub fn description(self) -> &'static str {
        TABLE
            .iter()
            .find(|(v, ..)| *v == self.0)
            .map_or("unknown error", |(.., d)| d)
    }

    /// The value of a name (`EEXIST` → 17); tests compare with `xen-livepatch`'s
    /// numbers through it.
    pub fn from_name(name: &str) -> Option<Errno> {
        TABLE
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(v, ..)| Errno(*v))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values() {
        assert_eq!(Errno::EEXIST.name(), "EEXIST");
        assert_eq!(Errno::from_name("EOPNOTSUPP"), Some(Errno(95)));
        assert_eq!(Errno::from_negative(-11), Errno::EAGAIN);
        assert_eq!(Errno(4000).name(), "errno 4000");
        for (v, n, _) in TABLE {
            assert_eq!(Errno::from_name(n), Some(Errno(*v)));
        }
    }
}
