//! Errors of the strict reader: every one names the rule broken, the structure and
//! field being read, and the byte offset in the file.

use std::fmt;

use serde::Serialize;

/// Which rule an input broke. Each malformation has its own kind so callers (and
/// tests) can tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ReadErrorKind {
    /// The file ends inside a structure.
    Truncated,
    /// Not an ELF file.
    BadMagic,
    /// A valid ELF this format does not accept (class, byte order, type, machine, ABI).
    Unsupported,
    /// ELF header fields inconsistent with each other or the file.
    BadHeader,
    /// A section's bytes lie outside the file.
    SectionOutOfFile,
    /// A section header breaks a rule (type, flags, alignment, link, size).
    BadSection,
    /// A required section is missing or present twice.
    MissingSection,
    /// A string table breaks a rule (type, empty, first or last byte not NUL).
    BadStringTable,
    /// A name or string offset points past its table, or the string has no NUL.
    StringNotTerminated,
    /// A symbol table entry breaks a rule.
    BadSymbol,
    /// A relocation breaks a rule (offset, symbol, section).
    BadRelocation,
    /// A relocation type the machine's loader does not implement, or symbol index 0.
    UnsupportedRelocation,
    /// A relocation refers to a symbol index past the symbol table, or a pointer
    /// field's relocation refers to a symbol the payload does not define.
    MissingSymbol,
    /// A pointer field has bytes but no relocation, or a relocation hits a non-pointer field.
    UnrelocatedPointer,
    /// A pointer points into the wrong section or not at the start of an element.
    BadPointer,
    /// An array count runs past the end of its section.
    CountPastSectionEnd,
    /// A padding field is not zero.
    NonZeroPadding,
    /// A field holds a value the format does not allow.
    BadValue,
    /// An ELF note is malformed.
    BadNote,
    /// The decoded structures break a format rule (see the detail).
    InvalidModel,
}

impl ReadErrorKind {
    pub fn describe(self) -> &'static str {
        use ReadErrorKind::*;
        match self {
            Truncated => "truncated file",
            BadMagic => "not an ELF file (bad magic)",
            Unsupported => "unsupported ELF file",
            BadHeader => "bad ELF header",
            SectionOutOfFile => "section outside the file",
            BadSection => "bad section header",
            MissingSection => "missing or duplicate section",
            BadStringTable => "bad string table",
            StringNotTerminated => "string without NUL terminator",
            BadSymbol => "bad symbol",
            BadRelocation => "bad relocation",
            UnsupportedRelocation => "unsupported relocation",
            MissingSymbol => "relocation to a missing symbol",
            UnrelocatedPointer => "pointer without relocation",
            BadPointer => "bad pointer",
            CountPastSectionEnd => "count past the section end",
            NonZeroPadding => "non-zero padding",
            BadValue => "bad field value",
            BadNote => "bad ELF note",
            InvalidModel => "invalid payload",
        }
    }
}

/// A payload the reader refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReadError {
    pub kind: ReadErrorKind,
    /// The structure being read: `Elf64_Ehdr`, `Elf64_Shdr[3] .xsplice`, `xsplice_patch[1]`...
    pub structure: String,
    /// The field of that structure.
    pub field: String,
    /// Byte offset in the file where the structure or field starts.
    pub offset: u64,
    pub detail: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}.{} at file offset {:#x}: {}",
            self.kind.describe(),
            self.structure,
            self.field,
            self.offset,
            self.detail
        )
    }
}

impl std::error::Error for ReadError {}

pub(crate) fn err(
    kind: ReadErrorKind,
    structure: impl Into<String>,
    field: impl Into<String>,
    offset: u64,
    detail: impl Into<String>,
) -> ReadError {
    ReadError {
        kind,
        structure: structure.into(),
        field: field.into(),
        offset,
        detail: detail.into(),
    }
}

pub type Result<T> = std::result::Result<T, ReadError>;
