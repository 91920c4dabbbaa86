//! Boots the real Xen once and checks what the hypervisor and Xen's own tools say.

use std::sync::OnceLock;
use std::time::Instant;

use object::write::{Object, Relocation, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationEncoding, RelocationFlags, RelocationKind,
    SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};
use xen_testbed::{CommandResult, Testbed, Transcript, hex, parse_list};

/// A GNU build-id note (`namesz`, `descsz`, `type` 3, "GNU\0", the id).
fn build_id_note(id: &[u8]) -> Vec<u8> {
    let mut n = Vec::new();
    for v in [4u32, u32::try_from(id.len()).unwrap(), 3] {
        n.extend_from_slice(&v.to_le_bytes());
    }
    n.extend_from_slice(b"GNU\0");
    n.extend_from_slice(id);
    n.resize(n.len().next_multiple_of(4), 0);
    n
}

/// The smallest payload Xen 4.17 accepts, written from its loader's rules: the three
/// build-id notes it requires (`.livepatch.depends` and `.livepatch.xen_depends` on the
/// running hypervisor, the payload's own `.note.gnu.build-id`) and one patching
/// section, a load hook (`endbr64; ret`) that APPLY calls. It patches no function.
fn hook_only_payload(xen_build_id: &[u8]) -> Vec<u8> {
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text = obj.add_section(vec![], b".text".to_vec(), SectionKind::Text);
    obj.append_section_data(text, &[0xf3, 0x0f, 0x1e, 0xfa, 0xc3], 16);
    let hook = obj.add_symbol(Symbol {
        name: b"xtb_load_hook".to_vec(),
        value: 0,
        size: 5,
        kind: SymbolKind::Text,
        scope: SymbolScope::Compilation,
        weak: false,
        section: SymbolSection::Section(text),
        flags: SymbolFlags::None,
    });
    let hooks = obj.add_section(
        vec![],
        b".livepatch.hooks.load".to_vec(),
        SectionKind::ReadOnlyData,
    );
    obj.append_section_data(hooks, &[0; 8], 8);
    obj.add_relocation(
        hooks,
        Relocation {
            offset: 0,
            symbol: hook,
            addend: 0,
            flags: RelocationFlags::Generic {
                kind: RelocationKind::Absolute,
                encoding: RelocationEncoding::Generic,
                size: 64,
            },
        },
    )
    .unwrap();
    let own_id: Vec<u8> = b"xen-testbed:hook-only".iter().copied().take(20).collect();
    for (name, id) in [
        (&b".livepatch.depends"[..], xen_build_id),
        (b".livepatch.xen_depends", xen_build_id),
        (b".note.gnu.build-id", &own_id),
    ] {
        let sec = obj.add_section(vec![], name.to_vec(), SectionKind::ReadOnlyData);
        obj.append_section_data(sec, &build_id_note(id), 4);
    }
    obj.write().unwrap()
}

struct Booted {
    bed: Testbed,
    t: Transcript,
}

const COMMANDS: &[&str] = &[
    "xen-livepatch list",
    "cat /sys/hypervisor/version/major /sys/hypervisor/version/minor",
    "cat /sys/hypervisor/version/extra",
    "od -An -v -tx1 /sys/hypervisor/properties/buildid",
    "xen-livepatch upload bad /tmp/garbage",
    "echo out; echo err >&2; exit 3",
    "xen-livepatch list",
    "wc -c < /tmp/garbage; od -An -tx1 -N4 /tmp/garbage",
    "xen-livepatch upload smoke /tmp/smoke.livepatch",
    "xen-livepatch list",
    "xen-livepatch apply smoke",
    "xen-livepatch list",
    "xen-livepatch revert smoke",
    "xen-livepatch unload smoke",
    "xen-livepatch list",
];
const LIST: usize = 0;
const VERSION: usize = 1;
const EXTRA: usize = 2;
const BUILD_ID: usize = 3;
const UPLOAD: usize = 4;
const STREAMS: usize = 5;
const LIST_AGAIN: usize = 6;
const FILE: usize = 7;
const SMOKE: usize = 8;

fn garbage() -> Vec<u8> {
    (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The one boot all tests look at (a failure is kept too: one failed boot, not one
/// per test).
fn booted() -> &'static Booted {
    static B: OnceLock<Result<Booted, String>> = OnceLock::new();
    let booted = B.get_or_init(|| {
        let bed = Testbed::prepare_default().map_err(|e| format!("prepare: {e}"))?;
        let garbage = garbage();
        let smoke = hook_only_payload(&bed.xen_syms_build_id().map_err(|e| e.to_string())?);
        let start = Instant::now();
        let files = [
            ("/tmp/garbage", &garbage[..]),
            ("/tmp/smoke.livepatch", &smoke[..]),
        ];
        let t = bed
            .run_commands(&files, COMMANDS)
            .map_err(|e| format!("boot: {e}"))?;
        eprintln!(
            "boot + {} commands: {:.1?}",
            COMMANDS.len(),
            start.elapsed()
        );
        eprintln!("{}", t.serial);
        Ok(Booted { bed, t })
    });
    booted.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_command_ran() {
    let b = booted();
    assert!(b.t.ready, "{}", b.t.tail(40));
    assert!(b.t.setup_failures.is_empty(), "{:?}", b.t.setup_failures);
    assert_eq!(b.t.script_rc, Some(0));
    let cmds: Vec<&str> = b.t.commands.iter().map(|c| c.cmd.as_str()).collect();
    assert_eq!(cmds, COMMANDS);
}

#[test]
fn command_output_is_split() {
    let c = &booted().t.commands[STREAMS];
    assert_eq!(
        (c.stdout.as_str(), c.stderr.as_str(), c.rc),
        ("out\n", "err\n", 3)
    );
}

#[test]
fn files_arrive_intact() {
    let c = &booted().t.commands[FILE];
    let head: String = garbage()[..4].iter().map(|b| format!(" {b:02x}")).collect();
    assert_eq!(c.stdout, format!("4096\n{head}\n"));
}

#[test]
fn livepatch_list_succeeds() {
    // With no payload loaded, Xen 4.17's tool prints no table, just this line.
    for i in [LIST, LIST_AGAIN] {
        let c = &booted().t.commands[i];
        assert_eq!(
            (c.rc, c.stdout.as_str(), c.stderr.as_str()),
            (0, "Nothing to list\n", ""),
            "{c:?}"
        );
        assert_eq!(listed(c), vec![]);
    }
}

#[test]
fn hypervisor_version() {
    let t = &booted().t;
    assert_eq!(t.commands[VERSION].stdout, "4\n17\n");
    let extra = t.commands[EXTRA].stdout.trim();
    assert_eq!(t.commands[EXTRA].rc, 0);
    assert!(!extra.is_empty());
    // Xen's boot banner carries the same version.
    let banner = format!("Xen version 4.17{extra} ");
    assert!(
        t.xen_messages().iter().any(|l| l.contains(&banner)),
        "{banner:?} not in the boot log"
    );
}

#[test]
fn running_build_id_is_the_debug_symbols_one() {
    let b = booted();
    let syms = hex(&b.bed.xen_syms_build_id().unwrap());
    assert_eq!(syms.len(), 40);
    assert_eq!(syms, hex(&b.bed.hypervisor_build_id().unwrap()));
    // What the running hypervisor reports to dom0 (XENVER_build_id, raw bytes).
    let c = &b.t.commands[BUILD_ID];
    assert_eq!(c.rc, 0, "{c:?}");
    let running: String = c.stdout.split_whitespace().collect();
    assert_eq!(running, syms);
    // And its boot banner.
    assert!(
        b.t.xen_messages()
            .iter()
            .any(|l| l.trim() == format!("build-id: {syms}")),
        "no build-id line"
    );
}

#[test]
fn garbage_upload_is_refused() {
    let c = &booted().t.commands[UPLOAD];
    // The tool exits 1 for any failure; the errno is only in its message.
    assert_eq!(c.rc, 1, "{c:?}");
    assert_eq!(c.stdout, "Uploading /tmp/garbage... failed\n");
    assert_eq!(c.reported_errno(), Some(22), "{c:?}");
    // Xen says why, on its console, while the command runs: `livepatch: <name>: ...`.
    assert!(
        c.xen_messages()
            .iter()
            .any(|l| l.starts_with("livepatch: bad: ")),
        "{c:?}"
    );
}

/// `xen-livepatch list` as (name, state) pairs.
fn listed(c: &CommandResult) -> Vec<(String, String)> {
    assert_eq!(c.rc, 0, "{c:?}");
    let rows = parse_list(&c.stdout).unwrap_or_else(|| panic!("not a list: {c:?}"));
    rows.iter()
        .map(|r| (r.name.clone(), r.state().to_owned()))
        .collect()
}

#[test]
fn hook_only_payload_goes_through_its_life_cycle() {
    let cmds = &booted().t.commands[SMOKE..];
    let ok = |c: &CommandResult, stdout: &str| {
        assert_eq!(
            (c.rc, c.stdout.as_str(), c.stderr.as_str()),
            (0, stdout, ""),
            "{c:?}"
        );
    };
    let smoke = |state: &str| vec![("smoke".to_owned(), state.to_owned())];
    ok(&cmds[0], "Uploading /tmp/smoke.livepatch... completed\n");
    assert!(cmds[1].stdout.starts_with(" ID "), "{:?}", cmds[1]);
    assert_eq!(listed(&cmds[1]), smoke("CHECKED"));
    ok(&cmds[2], "Applying smoke... completed\n");
    assert!(
        cmds[2]
            .xen_messages()
            .contains(&"livepatch: smoke finished APPLY with rc=0"),
        "{:?}",
        cmds[2]
    );
    assert_eq!(listed(&cmds[3]), smoke("APPLIED"));
    ok(&cmds[4], "Reverting smoke... completed\n");
    assert!(
        cmds[4]
            .xen_messages()
            .contains(&"livepatch: smoke finished REVERT with rc=0"),
        "{:?}",
        cmds[4]
    );
    ok(&cmds[5], "Unloading smoke... completed\n");
    assert_eq!(listed(&cmds[6]), vec![]);
}
