//! Reading what Xen 4.17's `xen-livepatch list` prints.
//!
//! With payloads loaded it prints a header, a rule and one row per payload:
//!
//! ```text
//!  ID                                     | status     | metadata
//! ----------------------------------------+------------+---------------
//! smoke                                   | CHECKED    |
//! ```
//!
//! (the name padded to 40 columns; a failed action adds ` (errno, message)` to the
//! status); with none it prints `Nothing to list`.

/// One row of `xen-livepatch list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The payload's name (the `<name>` given to `upload`).
    pub name: String,
    /// The status column, trimmed: `CHECKED`, `APPLIED`, possibly followed by the
    /// error of the last action.
    pub status: String,
    /// The metadata column, trimmed (empty for payloads without metadata).
    pub metadata: String,
}

impl ListEntry {
    /// The state word of the status column (`CHECKED`, `APPLIED`, ...).
    pub fn state(&self) -> &str {
        self.status.split_whitespace().next().unwrap_or("")
    }
}

/// The rows of `xen-livepatch list` output (empty for `Nothing to list`), or `None`
/// if `stdout` is neither a table nor that line.
pub fn parse_list(stdout: &str) -> Option<Vec<ListEntry>> {
    let mut lines = stdout.lines();
    let first = lines.next()?;
    if first.trim() == "Nothing to list" {
        return Some(Vec::new());
    }
    let header: Vec<&str> = first.split('|').map(str::trim).collect();
    if header.first() != Some(&"ID") || header.get(1) != Some(&"status") {
        return None;
    }
    if !lines.next()?.starts_with("---") {
        return None;
    }
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.splitn(3, '|');
            let name = cols.next()?.trim().to_owned();
            let status = cols.next()?.trim().to_owned();
            let metadata = cols.next().unwrap_or("").trim().to_owned();
            Some(ListEntry {
                name,
                status,
                metadata,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let out = " ID                                     | status     | metadata\n\
            ----------------------------------------+------------+---------------\n\
            smoke                                   | CHECKED    | \n\
            other                                   | APPLIED (22, Invalid argument)    | a=b\n";
        let rows = parse_list(out).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].name.as_str(),
                rows[0].state(),
                rows[0].metadata.as_str()
            ),
            ("smoke", "CHECKED", "")
        );
        assert_eq!(rows[1].status, "APPLIED (22, Invalid argument)");
        assert_eq!(rows[1].metadata, "a=b");
    }

    #[test]
    fn empty_and_other() {
        assert_eq!(parse_list("Nothing to list\n"), Some(vec![]));
        assert_eq!(parse_list("Uploading x... failed\n"), None);
        assert_eq!(parse_list(""), None);
    }
}
