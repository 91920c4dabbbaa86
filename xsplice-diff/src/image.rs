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

impl ImageView for xsplice_image::Image {
    fn machine(&self) -> Machine {
        xsplice_image::Image::machine(self)
    }
    fn build_id(&self) -> &[u8] {
        xsplice_image::Image::build_id(self)
    }
    fn find(&self, name: &str) -> Lookup {
        match self.lookup(name) {
            Ok(s) => Lookup::Found(ImageSym {
                qualified: s.qualified(),
                addr: s.addr,
                size: s.size,
            }),
            Err(xsplice_image::LookupError::NotFound(_)) => Lookup::Missing,
            Err(xsplice_image::LookupError::Ambiguous { candidates, .. }) => {
                Lookup::Ambiguous(candidates)
            }
        }
    }
    fn read(&self, addr: u64, len: u64) -> Option<&[u8]> {
        xsplice_image::Image::read(self, addr, len)
    }
}
