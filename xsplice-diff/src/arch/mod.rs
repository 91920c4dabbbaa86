//! Machine details of the diff that `xsplice_payload::Arch` does not (yet) provide.

mod x86_64;

use xsplice_payload::Machine;

/// The name of any relocation type of `machine` (allowed or not), for messages.
pub fn reloc_type_name(machine: Machine, r_type: u32) -> String {
    match machine {
        Machine::X86_64 => x86_64::reloc_type_name(r_type),
    }
}
