//! The two encodings of one payload model (`specs/payload-format.md`,
//! `specs/livepatch-format.md`).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which structures carry the model in the ELF file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// The design's `.xsplice` structures (the bundled example hypervisor).
    Xsplice,
    /// Xen's `.livepatch.funcs` (payload version 2, Xen 4.14 onward; tested on 4.17).
    Livepatch,
}

impl Flavour {
    pub const ALL: [Flavour; 2] = [Flavour::Xsplice, Flavour::Livepatch];

    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::Xsplice => "xsplice",
            Flavour::Livepatch => "livepatch",
        }
    }

    /// Longest payload name, in bytes without the NUL. xSplice stores it in the
    /// 40-byte id; Xen's upload takes up to 128 bytes including the NUL.
    pub fn max_name_len(self) -> usize {
        match self {
            Flavour::Xsplice => crate::layout::MAX_NAME_LEN,
            Flavour::Livepatch => crate::livepatch::layout::MAX_NAME_LEN,
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Flavour {
    type Err = String;
    fn from_str(s: &str) -> Result<Flavour, String> {
        Flavour::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown payload format `{s}` (xsplice or livepatch)"))
    }
}
