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

/// [`ImageView::find`], and when `file#name` is missing while `file` is a bare
/// file name, the single image local `<dir>/file#name`: objects whose `STT_FILE`
/// lacks the directory the image's has (Xen rewrites it to the path relative to
/// `xen/` after compiling; an object compiled without that step keeps the base
/// name). The answer's `qualified` is the image's own name.
pub fn find(image: &dyn ImageView, name: &str) -> Lookup {
    let direct = image.find(name);
    if direct != Lookup::Missing {
        return direct;
    }
    let Some((file, sym)) = name.split_once('#') else {
        return direct;
    };
    if file.contains('/') || file.is_empty() {
        return direct;
    }
    let suffix = format!("/{file}#{sym}");
    match image.find(sym) {
        Lookup::Found(s) if s.qualified.ends_with(&suffix) => Lookup::Found(s),
        Lookup::Ambiguous(candidates) => {
            let hits: Vec<String> = candidates
                .into_iter()
                .filter(|q| q.ends_with(&suffix))
                .collect();
            match hits.as_slice() {
                [] => Lookup::Missing,
                [one] => image.find(one),
                _ => Lookup::Ambiguous(hits),
            }
        }
        _ => Lookup::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Vec<ImageSym>);
    impl ImageView for Fake {
        fn machine(&self) -> Machine {
            Machine::X86_64
        }
        fn build_id(&self) -> &[u8] {
            &[]
        }
        fn find(&self, name: &str) -> Lookup {
            let hits: Vec<&ImageSym> = self
                .0
                .iter()
                .filter(|s| {
                    s.qualified == name || s.qualified.rsplit_once('#').map(|x| x.1) == Some(name)
                })
                .collect();
            match hits.as_slice() {
                [] => Lookup::Missing,
                [one] => Lookup::Found((*one).clone()),
                _ => Lookup::Ambiguous(hits.iter().map(|s| s.qualified.clone()).collect()),
            }
        }
        fn read(&self, _: u64, _: u64) -> Option<&[u8]> {
            None
        }
    }

    fn sym(q: &str, addr: u64) -> ImageSym {
        ImageSym {
            qualified: q.to_string(),
            addr,
            size: 8,
        }
    }

    #[test]
    fn bare_file_names_find_the_image_path() {
        let img = Fake(vec![
            sym("arch/x86/hvm/viridian/viridian.c#vpmask_set", 0x10),
            sym("arch/x86/mm/shadow/guest_2.c#sh_make_shadow", 0x20),
            sym("arch/x86/mm/shadow/guest_3.c#sh_make_shadow", 0x30),
            sym("a/dup.c#twin", 0x40),
            sym("b/dup.c#twin", 0x50),
        ]);
        let found = |n: &str| match find(&img, n) {
            Lookup::Found(s) => Some((s.qualified, s.addr)),
            _ => None,
        };
        assert_eq!(
            found("viridian.c#vpmask_set"),
            Some(("arch/x86/hvm/viridian/viridian.c#vpmask_set".into(), 0x10))
        );
        assert_eq!(
            found("guest_3.c#sh_make_shadow"),
            Some(("arch/x86/mm/shadow/guest_3.c#sh_make_shadow".into(), 0x30))
        );
        assert_eq!(find(&img, "other.c#vpmask_set"), Lookup::Missing);
        // A path that is wrong stays wrong: no guessing across directories.
        assert_eq!(find(&img, "x86/viridian.c#vpmask_set"), Lookup::Missing);
        assert_eq!(
            find(&img, "dup.c#twin"),
            Lookup::Ambiguous(vec!["a/dup.c#twin".into(), "b/dup.c#twin".into()])
        );
    }
}
