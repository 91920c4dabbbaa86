//! The few ELF facts the test bed needs: build-id notes, dynamic dependencies and the
//! `depends=` field of a kernel module's `.modinfo`.

use goblin::elf::Elf;

const NT_GNU_BUILD_ID: u32 = 3;

/// The GNU build-id note of an ELF file (section notes first, then program-header
/// notes), or `None` if the bytes are not ELF or carry no build-id.
pub fn build_id(bytes: &[u8]) -> Option<Vec<u8>> {
    let elf = Elf::parse(bytes).ok()?;
    let from = |notes: Option<goblin::elf::note::NoteIterator<'_>>| {
        notes?.filter_map(Result::ok).find_map(|note| {
            (note.n_type == NT_GNU_BUILD_ID && note.name == "GNU").then(|| note.desc.to_vec())
        })
    };
    from(elf.iter_note_sections(bytes, None)).or_else(|| from(elf.iter_note_headers(bytes)))
}

/// What a dynamically linked executable or library needs at run time.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// `PT_INTERP`, e.g. `/lib64/ld-linux-x86-64.so.2`.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries, in order.
    pub needed: Vec<String>,
}

/// The dynamic dependencies of `bytes`, or `None` when they are not an ELF file (or
/// not a parsable one). A static executable gives an empty [`Dynamic`].
pub fn dynamic(bytes: &[u8]) -> Option<Dynamic> {
    let elf = Elf::parse(bytes).ok()?;
    Some(Dynamic {
        interpreter: elf.interpreter.map(str::to_owned),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
    })
}

/// The modules a kernel module depends on (the `depends=` entry of `.modinfo`), or
/// `None` if the file is not an ELF object with a `.modinfo` section.
pub fn module_depends(bytes: &[u8]) -> Option<Vec<String>> {
    let elf = Elf::parse(bytes).ok()?;
    let section = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".modinfo"))?;
    let start = usize::try_from(section.sh_offset).ok()?;
    let end = start.checked_add(usize::try_from(section.sh_size).ok()?)?;
    let data = bytes.get(start..end)?;
    let depends = data
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(b"depends="))
        .unwrap_or_default();
    Some(
        String::from_utf8_lossy(depends)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_elf() {
        assert_eq!(build_id(b"garbage"), None);
        assert_eq!(dynamic(b"\x7fELF garbage"), None);
        assert_eq!(module_depends(b""), None);
    }

    #[test]
    fn own_test_binary() {
        // The running test executable is a real dynamically linked ELF on Linux.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let dynamic = dynamic(&exe).unwrap();
        assert!(
            dynamic.needed.iter().any(|n| n.starts_with("libc.so")),
            "{dynamic:?}"
        );
        assert!(dynamic.interpreter.is_some());
        assert_eq!(module_depends(&exe), None);
    }
}
