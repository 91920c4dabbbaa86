//! What the diff needs from the running hypervisor image, behind a small trait so
//! the phases can be tested and reused with any image reader.

use xsplice_payload::Machine;

/// A symbol of the image found by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSym {
    /// `file#name` for locals, `name` for globals.
    pub qualified: String,
    pub addr: u64,
    pub size: u64,
}

/// The answer to a name lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(ImageSym),
    Missing,
    /// Every candidate, as `file#name`.
    Ambiguous(Vec<String>),
}

/// Read access to the running hypervisor's ELF image.
pub trait ImageView {
    fn machine(&self) -> Machine;
    fn build_id(&self) -> &[u8];
    /// `name` (a global, else the unique local) or `file#name`.
    fn find(&self, name: &str) -> Lookup;
    /// File-backed bytes at a virtual address.
    fn read(&self, addr: u64, len: u64) -> Option<&[u8]>;
}
