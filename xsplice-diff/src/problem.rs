//! Problems that make a patch impossible to build safely (the refusals).

use serde::Serialize;

/// What kind of refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ProblemKind {
    /// The initial value of existing writable data changed.
    ChangedData,
    /// Init-only code or data changed (already discarded at runtime).
    InitCode,
    /// A changed function is too small to hold the trampoline.
    TooSmall,
    /// A section the tool does not know how to carry changed.
    UnknownSection,
    /// A special section (bug frames, exception tables, alternatives, per-CPU
    /// data...) that cannot be carried: malformed for its entry size, entries
    /// describing no function changed, entries the loader does not register, new
    /// per-CPU variables, metadata of another patch format.
    SpecialSection,
    /// A struct/union used by existing code or data changed layout.
    StructLayout,
    /// Symbols of the two builds cannot be paired unambiguously.
    AmbiguousMatch,
    /// A name resolves to several symbols of the image.
    AmbiguousSymbol,
    /// A symbol the payload needs is not in the image nor in the payload.
    MissingSymbol,
    /// New code uses a relocation type the payload format does not allow.
    UnsupportedReloc,
    /// A changed compiler clone no function of its object calls.
    OrphanClone,
    /// Two new global symbols have the same name.
    DuplicateSymbol,
    /// Something else the tool cannot reconcile.
    Unsupported,
}

/// One refusal, with where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// Relative path of the object pair.
    pub object: String,
    /// Function, section, symbol or type concerned.
    pub subject: String,
    /// `file:line` from DWARF when known.
    pub location: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(
        kind: ProblemKind,
        object: &str,
        subject: &str,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            kind,
            object: object.to_string(),
            subject: subject.to_string(),
            location: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, location: Option<String>) -> Problem {
        self.location = location;
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(l) => write!(
                f,
                "{l}: {} ({}): {}",
                self.subject, self.object, self.message
            ),
            None => write!(f, "{}: {}: {}", self.object, self.subject, self.message),
        }
    }
}
