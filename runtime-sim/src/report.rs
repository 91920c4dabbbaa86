//! Text renderings: the payload table of `xen-xsplice list`, the debug-key dump of
//! every payload, and value formatting. Deterministic: no times, no host paths.

use std::fmt::Write as _;

use crate::client::Summary;
use crate::hypervisor::Hypervisor;
use crate::memory::Owner;
use crate::state::Status;

/// The `xen-xsplice list` table.
pub fn list_table(entries: &[Summary]) -> String {
    let mut s = String::new();
    s += " ID                                     | status\n";
    s += "----------------------------------------+------------\n";
    for e in entries {
        let _ = writeln!(s, "{:<40}| {}", e.id.to_string(), e.status.name());
    }
    s
}

fn hexbytes(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything about the payloads and CPUs, as the design's debug key handler prints
/// (`id=... status=...(code,old=...)`), plus what the simulator knows.
pub fn dump(hv: &Hypervisor) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "xsplice: hypervisor build-id {} | {} payload(s) | version {} | simulated patching time {} us",
        hex::encode(hv.build_id()),
        hv.payloads().len(),
        hv.version(),
        hv.clock_us()
    );
    for r in hv.payloads() {
        let st = r.status();
        let _ = writeln!(
            s,
            " id={} status={}({},old={}) name={} build-id={} size={}",
            r.id,
            st.name(),
            st.code(),
            r.old_status.code(),
            r.loaded.model.name,
            hex::encode(&r.loaded.build_id),
            r.loaded.size
        );
        if let Some(f) = &r.error {
            let _ = writeln!(s, "   last error: -{}: {}", f.errno, f.why);
        }
        for (b, l, p) in &r.loaded.regions {
            let _ = writeln!(s, "   memory {b:#x}+{l:#x} {p}");
        }
        for (i, e) in r.loaded.model.new.iter().enumerate() {
            let site = &r.loaded.sites[i];
            let _ = writeln!(
                s,
                "   patch {} -> {} at {:#x} ({} bytes)",
                if e.symbol.label.is_empty() {
                    &e.symbol.name
                } else {
                    &e.symbol.label
                },
                site.name,
                site.addr,
                site.size
            );
        }
        for w in &r.saved {
            let _ = writeln!(
                s,
                "   wrote {:#x}: {} (was {})",
                w.addr,
                hexbytes(&w.new),
                hexbytes(&w.old)
            );
        }
        for d in &r.loaded.model.depends {
            let _ = writeln!(s, "   depends on {}", hex::encode(d));
        }
    }
    let stack: Vec<String> = hv.applied_stack().iter().map(|i| i.to_string()).collect();
    let _ = writeln!(s, " applied (oldest first): {}", stack.join(" "));
    if let Some(p) = hv.pending() {
        let id = hv
            .payloads()
            .iter()
            .find(|r| r.loaded.serial == p.serial)
            .map_or_else(String::new, |r| r.id.to_string());
        let _ = writeln!(
            s,
            " pending: {} {id} (time {} ms)",
            p.action.name(),
            p.time_ms
        );
    }
    for c in hv.cpus() {
        let rv = c
            .rendezvous_ms
            .map_or("never joins".to_string(), |m| format!("joins in {m} ms"));
        match &c.paused {
            None => {
                let _ = writeln!(s, " cpu{}: idle, {rv}", c.id);
            }
            Some(p) => {
                let owner = hv.memory().owner(p.regs.rip);
                let at = match owner {
                    Some(Owner::Payload(serial)) => hv
                        .payloads()
                        .iter()
                        .find(|r| r.loaded.serial == serial)
                        .map_or("a payload".to_string(), |r| format!("payload {}", r.id)),
                    _ => "the hypervisor".to_string(),
                };
                let _ = writeln!(
                    s,
                    " cpu{}: paused in call of {} at rip {:#x} ({at}), {rv}",
                    c.id, p.function, p.regs.rip
                );
            }
        }
    }
    s
}

/// A return value as scenario files and probes compare it: the full `rax`, or its
/// low 32 bits when the expected value fits an `int` (which leaves the upper half
/// undefined).
pub fn ret_matches(rax: u64, want: i64) -> bool {
    rax == want as u64 || (i32::try_from(want).is_ok() && rax as u32 == want as i32 as u32)
}

/// `rax` shown as a signed number (32-bit when the upper half is zero).
pub fn show_ret(rax: u64) -> String {
    if rax >> 32 == 0 {
        (rax as u32 as i32).to_string()
    } else {
        (rax as i64).to_string()
    }
}

/// `LOADED` etc., or `gone` for a payload GET no longer finds.
pub fn status_or_gone(s: Option<Status>) -> String {
    s.map_or("gone".to_string(), |s| s.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_compare_as_int_or_long() {
        assert!(ret_matches(0xffff_ffda, -38));
        assert!(ret_matches(u64::MAX, -1));
        assert!(ret_matches(263, 263));
        assert!(!ret_matches(264, 263));
        assert!(!ret_matches(0x1_0000_0107, 0x2_0000_0107));
        assert_eq!(show_ret(0xffff_ffda), "-38");
        assert_eq!(show_ret(u64::MAX), "-1");
    }
}
