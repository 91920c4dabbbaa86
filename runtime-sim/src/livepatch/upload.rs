//! UPLOAD under Xen 4.17's rules, in its order: name and size, ELF checks, special
//! and patching sections, functions (static fields), the strict reader (the one
//! place the simulator is stricter than Xen, each case listed in
//! `specs/livepatch-format.md`), placement, resolution and relocation, then the
//! checks that need addresses: each function's `old_addr`, room for the jump after an
//! ENDBR64, ±2 GiB reach, a duplicate build-id, the hypervisor build-id.

use super::{elf, sections};
use crate::errno::{Errno, Failure, fail};
use crate::hypervisor::{Hypervisor, Record};
use crate::loader::{self, LoadContext, Rules};
use crate::memory::Owner;
use crate::state::{PayloadId, State, Status};

/// Largest upload (`EINVAL` above, as Xen).
pub const MAX_UPLOAD: u64 = xsplice_abi::livepatch::MAX_PAYLOAD_SIZE;

impl Hypervisor {
    /// Xen's UPLOAD: on success the payload is CHECKED. Nothing changes on failure.
    pub fn livepatch_upload(&mut self, id: PayloadId, bytes: &[u8]) -> Result<(), Failure> {
        let name = id.to_string();
        if bytes.is_empty() {
            return Err(fail(Errno::EINVAL, format!("{name}: payload size is 0")));
        }
        if bytes.len() as u64 > MAX_UPLOAD {
            return Err(fail(
                Errno::EINVAL,
                format!(
                    "{name}: payload of {} bytes exceeds Xen's {MAX_UPLOAD}",
                    bytes.len()
                ),
            ));
        }
        if self.payloads.iter().any(|r| r.id == id) {
            return Err(fail(
                Errno::EEXIST,
                format!("a payload named {name} is already loaded"),
            ));
        }
        // Xen reads the upload as one ELF file (bytes after it, such as a signature
        // trailer, are never looked at); with trusted certificates the signature is
        // enforced first and only the signed part is read.
        let file = if self.trust.enforcing() {
            self.trust.signed_part(bytes)?
        } else {
            bytes
        };
        let xen = elf::check(&name, file)?;
        let prepared = sections::check(&name, &xen)?;
        let read = xsplice_payload::read::read(file).map_err(|e| {
            fail(
                Errno::EINVAL,
                format!("{name}: refused by this simulator (stricter than Xen): {e}"),
            )
        })?;
        let serial = self.next_serial;
        let ctx = LoadContext {
            image: &self.image,
            arena: self.layout.arena,
            others: self.payloads.iter().map(|r| &r.loaded).collect(),
            rules: Rules::Livepatch,
        };
        let loaded = loader::load(&ctx, &mut self.mem, serial, read, bytes.len() as u64)
            .map_err(|f| fail(f.errno, format!("{name}: {}", f.why)))?;
        let undo = |hv: &mut Hypervisor, f: Failure| {
            hv.mem.unmap_owner(Owner::Payload(serial));
            Err(f)
        };
        // Per function: room for the jump, reach.
        for (i, e) in loaded.model.new.iter().enumerate() {
            let site = &loaded.sites[i];
            let head = match self.mem.read(site.addr, 4) {
                Ok(h) => h,
                Err(m) => {
                    return undo(
                        self,
                        fail(
                            Errno::EINVAL,
                            format!(
                                "{name}: old_addr {:#x} of {} is not mapped ({m}): Xen would take a fatal page fault; refused (stricter than Xen)",
                                site.addr, e.symbol.name
                            ),
                        ),
                    );
                }
            };
            let endbr = loaded.model.machine.arch().entry_landing_pad(&head) > 0;
            let min = if endbr { 9 } else { 5 };
            if e.section.size < min {
                return undo(
                    self,
                    fail(
                        Errno::EINVAL,
                        format!(
                            "{name}: {} is {} bytes, a jump needs {min}{}",
                            e.symbol.name,
                            e.section.size,
                            if endbr { " after its ENDBR64" } else { "" }
                        ),
                    ),
                );
            }
            let new_addr = loaded.content_addr(e.patch.content.section, e.patch.content.offset);
            let delta = (site.addr as i64).wrapping_sub(new_addr as i64);
            if i32::try_from(delta).is_err() {
                return undo(
                    self,
                    fail(
                        Errno::EOVERFLOW,
                        format!(
                            "{name}: {} at {:#x} is out of jump range of its new code at {new_addr:#x}",
                            e.symbol.name, site.addr
                        ),
                    ),
                );
            }
        }
        if prepared.xen_depends != self.image.build_id() {
            return undo(
                self,
                fail(
                    Errno::EINVAL,
                    format!(
                        "{name}: check against hypervisor build-id failed (payload {}, hypervisor {})",
                        hex::encode(&prepared.xen_depends),
                        hex::encode(self.image.build_id())
                    ),
                ),
            );
        }
        self.next_serial += 1;
        self.payloads.push(Record {
            id,
            loaded,
            state: State::Checked,
            progress: false,
            error: None,
            old_status: Status::Checked,
            saved: Vec::new(),
            guards: Vec::new(),
            metadata: prepared.metadata,
        });
        self.list_version = self.list_version.wrapping_add(1);
        self.bump();
        Ok(())
    }
}
