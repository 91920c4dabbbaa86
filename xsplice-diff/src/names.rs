//! What compilers encode in symbol names: static-local suffixes, clones, specials.

/// Statics the compiler creates per use site: never matched between builds, always
/// carried as a fresh copy (or compared by content when read-only).
const SPECIAL_PREFIXES: &[&str] = &[
    "__func__.",
    "__FUNCTION__.",
    "__PRETTY_FUNCTION__.",
    "__warned.",
    "__already_done.",
    "__key.",
    "_rs.",
    "CSWTCH.",
    "__print_once.",
    ".LC",
    ".Lubsan",
];

/// True for compiler-made statics such as `__func__.3`, `__warned.12`, `CSWTCH.45`, `.LC0`.
pub fn is_special_static(name: &str) -> bool {
    SPECIAL_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// `__warned.12` → `__warned`.
pub fn special_base(name: &str) -> &str {
    strip_number(name).unwrap_or(name)
}

/// The name without a trailing `.<digits>` (`counter.1234` → `counter`).
pub fn strip_number(name: &str) -> Option<&str> {
    let (base, num) = name.rsplit_once('.')?;
    (!base.is_empty() && !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit())).then_some(base)
}

const CLONE_MARKERS: &[&str] = &[
    ".isra",
    ".constprop",
    ".part",
    ".cold",
    ".lto_priv",
    ".localalias",
];

/// A compiler clone of a function: `foo.isra.0`, `foo.constprop.3`, `foo.part.1`,
/// `foo.cold`, and combinations (`foo.constprop.0.isra.0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clone<'a> {
    /// The function the clone was made from (`foo`).
    pub origin: &'a str,
    /// The name with clone numbers removed (`foo.constprop.isra`): stable across builds.
    pub key: String,
    /// Only `.cold` parts: code split out of one function, never an entry point.
    pub cold: bool,
}

/// Parses a clone name; `None` for ordinary names.
pub fn clone_of(name: &str) -> Option<Clone<'_>> {
    let first = CLONE_MARKERS
        .iter()
        .filter_map(|m| find_marker(name, m))
        .min()?;
    let origin = &name[..first];
    if origin.is_empty() {
        return None;
    }
    let mut key = origin.to_string();
    for part in name[first + 1..].split('.') {
        if !part.bytes().all(|b| b.is_ascii_digit()) {
            key.push('.');
            key.push_str(part);
        }
    }
    let cold = name[first..].split('.').any(|p| p == "cold");
    Some(Clone { origin, key, cold })
}

/// Position of `.marker` followed by `.` or the end of the name.
fn find_marker(name: &str, marker: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = name[from..].find(marker) {
        let at = from + i;
        let after = at + marker.len();
        if after == name.len() || name.as_bytes()[after] == b'.' {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A function-scope static (`counter.1234`): a local object whose name ends in a number.
pub fn static_local_base(name: &str) -> Option<&str> {
    if is_special_static(name) {
        return None;
    }
    strip_number(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_parse() {
        let c = clone_of("foo.constprop.0.isra.0").unwrap();
        assert_eq!(
            (c.origin, c.key.as_str(), c.cold),
            ("foo", "foo.constprop.isra", false)
        );
        let c = clone_of("do_it.part.3.cold").unwrap();
        assert_eq!(
            (c.origin, c.key.as_str(), c.cold),
            ("do_it", "do_it.part.cold", true)
        );
        assert_eq!(clone_of("bar.cold.17").unwrap().key, "bar.cold");
        assert!(clone_of("partial.x").is_none());
        assert!(clone_of("my.isradar").is_none());
        assert!(clone_of("plain").is_none());
    }

    #[test]
    fn statics() {
        assert_eq!(static_local_base("counter.1234"), Some("counter"));
        assert_eq!(static_local_base("counter"), None);
        assert_eq!(static_local_base("__func__.3"), None);
        assert!(is_special_static("__func__.3"));
        assert!(is_special_static("CSWTCH.45"));
        assert!(is_special_static(".LC12"));
        assert!(!is_special_static("func"));
        assert_eq!(special_base("__warned.12"), "__warned");
    }
}
