//! Which calling domains may use the xSplice operations.
//!
//! Default: only domain 0. A policy file (TOML) may allow more:
//!
//! ```toml
//! # domains that may use every operation
//! privileged = [0, 3]
//! # domains that may only query (GET, LIST, BUILD_ID)
//! read_only = [7]
//! ```
//!
//! Every other domain gets `EPERM`.

use std::collections::BTreeSet;

use serde::Deserialize;

/// A Xen domain id.
pub type DomId = u16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub privileged: BTreeSet<DomId>,
    pub read_only: BTreeSet<DomId>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            privileged: [0].into(),
            read_only: BTreeSet::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    privileged: Vec<DomId>,
    #[serde(default)]
    read_only: Vec<DomId>,
}

#[derive(Debug, thiserror::Error)]
#[error("policy: {0}")]
pub struct PolicyError(String);

/// What an operation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// GET, LIST, BUILD_ID.
    Query,
    /// UPLOAD, ACTION.
    Control,
}

impl Policy {
    /// Parses a policy file's text. A file replaces the default: list domain 0 if
    /// it should stay privileged.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let f: PolicyFile = toml::from_str(text).map_err(|e| PolicyError(e.to_string()))?;
        let privileged: BTreeSet<DomId> = f.privileged.into_iter().collect();
        let read_only: BTreeSet<DomId> = f.read_only.into_iter().collect();
        if let Some(d) = privileged.intersection(&read_only).next() {
            return Err(PolicyError(format!(
                "domain {d} is listed as both privileged and read_only"
            )));
        }
        Ok(Policy {
            privileged,
            read_only,
        })
    }

    pub fn allows(&self, dom: DomId, need: Need) -> bool {
        self.privileged.contains(&dom) || (need == Need::Query && self.read_only.contains(&dom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_dom0_only_and_files_extend_it() {
        let p = Policy::default();
        assert!(p.allows(0, Need::Control));
        assert!(!p.allows(1, Need::Query));
        let p = Policy::parse("privileged = [0, 3]\nread_only = [7]\n").unwrap();
        assert!(p.allows(3, Need::Control));
        assert!(p.allows(7, Need::Query));
        assert!(!p.allows(7, Need::Control));
        assert!(!p.allows(1, Need::Query));
        assert!(Policy::parse("privileged = [1]\nread_only = [1]").is_err());
        let e = Policy::parse("admins = [1]").unwrap_err();
        assert!(e.to_string().contains("admins"), "{e}");
    }
}
