//! The byte interface: layouts pinned against gcc, and every rule of UPLOAD, GET,
//! LIST, ACTION and BUILD_ID, privilege and header checks.

mod common;

use std::process::Command;

use common::*;
use runtime_sim::hypercall::{self, GuestMemory, SYSCTL_SIZE, off};
use runtime_sim::policy::Policy;
use runtime_sim::*;

/// Our own transcription of the design's sysctl.h structures (plus BUILD_ID); gcc
/// must agree with every offset the simulator uses.
const C_LAYOUT: &str = r#"
#include <stdint.h>
#include <stddef.h>
#define uint64_aligned_t uint64_t __attribute__((aligned(8)))
#define HANDLE_64(t) union { t *p; uint64_aligned_t q; }
struct upload { char id[40]; uint64_t size; HANDLE_64(uint8_t) payload; };
struct summary { char id[40]; int32_t status; };
struct list { uint32_t version; uint32_t idx; uint32_t nr; HANDLE_64(struct summary) summary; };
struct action { char id[40]; uint32_t cmd; uint64_aligned_t time; };
struct build_id { uint32_t len; uint32_t pad; HANDLE_64(uint8_t) val; };
struct xsplice_op { uint32_t cmd; union { struct upload upload; struct list list;
    struct summary get; struct action action; struct build_id build_id; } u; };
struct xen_sysctl { uint32_t cmd; uint32_t interface_version;
    union { struct xsplice_op xsplice; uint8_t pad[128]; } u; };
#define AT(f, v) _Static_assert(offsetof(struct xen_sysctl, f) == v, #f);
"#;

#[test]
fn layouts_match_the_c_compiler() {
    let checks = [
        ("cmd", off::CMD),
        ("interface_version", off::INTERFACE_VERSION),
        ("u.xsplice.cmd", off::OP_CMD),
        ("u.xsplice.u", off::OP_U),
        ("u.xsplice.u.upload.id", off::UPLOAD_ID),
        ("u.xsplice.u.upload.size", off::UPLOAD_SIZE),
        ("u.xsplice.u.upload.payload", off::UPLOAD_PAYLOAD),
        ("u.xsplice.u.get.id", off::GET_ID),
        ("u.xsplice.u.get.status", off::GET_STATUS),
        ("u.xsplice.u.list.version", off::LIST_VERSION),
        ("u.xsplice.u.list.idx", off::LIST_IDX),
        ("u.xsplice.u.list.nr", off::LIST_NR),
        ("u.xsplice.u.list.summary", off::LIST_SUMMARY),
        ("u.xsplice.u.action.id", off::ACTION_ID),
        ("u.xsplice.u.action.cmd", off::ACTION_CMD),
        ("u.xsplice.u.action.time", off::ACTION_TIME),
        ("u.xsplice.u.build_id.len", off::BUILD_ID_LEN),
        ("u.xsplice.u.build_id.pad", off::BUILD_ID_PAD),
        ("u.xsplice.u.build_id.val", off::BUILD_ID_VAL),
    ];
    let mut src = C_LAYOUT.to_string();
    for (f, v) in checks {
        src += &format!("AT({f}, {v})\n");
    }
    src += &format!(
        "_Static_assert(sizeof(struct xen_sysctl) == {SYSCTL_SIZE}, \"size\");\n\
         _Static_assert(sizeof(struct summary) == {}, \"summary\");\n\
         _Static_assert(offsetof(struct summary, status) == {}, \"status\");\n\
         _Static_assert(sizeof(struct xsplice_op) == 64, \"op\");\n",
        hypercall::SUMMARY_SIZE,
        hypercall::SUMMARY_STATUS
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("l.c"), src).unwrap();
    let out = Command::new("gcc")
        .current_dir(dir.path())
        .args(["-c", "l.c", "-o", "l.o"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn header(sub: u32) -> [u8; SYSCTL_SIZE] {
    let mut op = [0u8; SYSCTL_SIZE];
    op[0..4].copy_from_slice(&24u32.to_le_bytes());
    op[4..8].copy_from_slice(&0xcu32.to_le_bytes());
    op[8..12].copy_from_slice(&sub.to_le_bytes());
    op
}

fn id40(s: &str) -> [u8; 40] {
    let mut id = [0u8; 40];
    id[..s.len()].copy_from_slice(s.as_bytes());
    id
}

fn call(
    hv: &mut Hypervisor,
    dom: u16,
    guest: &mut GuestMemory,
    op: [u8; SYSCTL_SIZE],
) -> (i64, [u8; SYSCTL_SIZE]) {
    let at = guest.alloc(&op);
    let r = hypercall::do_sysctl(hv, dom, guest, at);
    (
        r,
        guest
            .read(at, SYSCTL_SIZE as u64)
            .unwrap()
            .try_into()
            .unwrap(),
    )
}

fn upload_op(id: [u8; 40], size: u64, handle: u64) -> [u8; SYSCTL_SIZE] {
    let mut op = header(0);
    op[16..56].copy_from_slice(&id);
    op[56..64].copy_from_slice(&size.to_le_bytes());
    op[64..72].copy_from_slice(&handle.to_le_bytes());
    op
}

fn get_status(hv: &mut Hypervisor, guest: &mut GuestMemory, id: &str) -> (i64, i32) {
    let mut op = header(1);
    op[16..56].copy_from_slice(&id40(id));
    let (r, out) = call(hv, 0, guest, op);
    (r, i32::from_le_bytes(out[56..60].try_into().unwrap()))
}

const EINVAL: i64 = -22;

#[test]
fn upload_rules() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let mut g = GuestMemory::new();
    let payload = bytes(&replace(&image, "p", &[("do_version", ret_const(1))]));
    let h = g.alloc(&payload);
    let n = payload.len() as u64;
    let before = hv.memory().clone();
    let v0 = hv.version();

    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op([0; 40], n, h)).0,
        EINVAL,
        "empty id"
    );
    let mut junk = id40("p");
    junk[3] = b'x';
    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op(junk, n, h)).0,
        EINVAL,
        "bytes after NUL"
    );
    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op(id40("p"), 0, h)).0,
        EINVAL,
        "size 0"
    );
    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op(id40("p"), (2 << 20) + 1, h)).0,
        -7,
        "E2BIG"
    );
    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op(id40("p"), n, 0)).0,
        -14,
        "NULL handle"
    );
    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op(id40("p"), n + 1, h)).0,
        -14,
        "past the buffer"
    );
    assert_eq!(
        call(&mut hv, 3, &mut g, upload_op(id40("p"), n, h)).0,
        -1,
        "EPERM"
    );
    assert_eq!(hv.version(), v0);
    assert_eq!(hv.memory().first_difference(&before), None);

    assert_eq!(call(&mut hv, 0, &mut g, upload_op(id40("p"), n, h)).0, 0);
    assert_eq!(get_status(&mut hv, &mut g, "p"), (0, 1));
    assert_eq!(
        call(&mut hv, 0, &mut g, upload_op(id40("p"), n, h)).0,
        -17,
        "EEXIST"
    );
    // A full 40-byte id without NUL is accepted.
    let other = bytes(&replace(&image, "q", &[("do_version", ret_const(2))]));
    let h2 = g.alloc(&other);
    let long = "a".repeat(40);
    assert_eq!(
        call(
            &mut hv,
            0,
            &mut g,
            upload_op(id40(&long), other.len() as u64, h2)
        )
        .0,
        0
    );
    assert_eq!(get_status(&mut hv, &mut g, &long).1, 1);
}

#[test]
fn header_checks_and_unknown_operations() {
    let fx = Fixture::new();
    let mut hv = fx.boot();
    let mut g = GuestMemory::new();
    let mut op = header(1);
    op[4..8].copy_from_slice(&0xbu32.to_le_bytes());
    assert_eq!(call(&mut hv, 0, &mut g, op).0, -13, "interface version");
    let mut op = header(1);
    op[0..4].copy_from_slice(&23u32.to_le_bytes());
    assert_eq!(call(&mut hv, 0, &mut g, op).0, -38, "other sysctl");
    assert_eq!(call(&mut hv, 0, &mut g, header(9)).0, -38, "unknown sub-op");
    assert_eq!(call(&mut hv, 5, &mut g, header(9)).0, -1, "privilege first");
    // The structure itself must be readable guest memory.
    assert_eq!(hypercall::do_sysctl(&mut hv, 0, &mut g, 0xdead_0000), -14);
}

#[test]
fn get_rules() {
    let fx = Fixture::new();
    let mut hv = fx.boot();
    let mut g = GuestMemory::new();
    assert_eq!(get_status(&mut hv, &mut g, "nope"), (-2, 0));
    let mut op = header(1);
    op[16..56].copy_from_slice(&id40("nope"));
    op[56..60].copy_from_slice(&1i32.to_le_bytes());
    let (r, out) = call(&mut hv, 0, &mut g, op);
    assert_eq!(r, EINVAL, "status must be 0 on input");
    assert_eq!(&out[56..60], &1i32.to_le_bytes(), "left alone");
}

fn list_op(idx: u32, nr: u32, handle: u64) -> [u8; SYSCTL_SIZE] {
    let mut op = header(2);
    op[20..24].copy_from_slice(&idx.to_le_bytes());
    op[24..28].copy_from_slice(&nr.to_le_bytes());
    op[32..40].copy_from_slice(&handle.to_le_bytes());
    op
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn list_paging_version_and_limits() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let mut client = Client::new(0);
    for i in 0..5u32 {
        let p = replace(&image, &format!("p{i}"), &[("do_version", ret_const(i))]);
        client
            .upload(&mut hv, &format!("p{i}"), &bytes(&p))
            .unwrap();
    }
    let mut g = GuestMemory::new();
    let buf = g.alloc(&[0xaa; 44 * 64]);
    assert_eq!(call(&mut hv, 0, &mut g, list_op(0, 65, buf)).0, -7, "E2BIG");
    assert_eq!(
        call(&mut hv, 0, &mut g, list_op(0, 2, 0)).0,
        EINVAL,
        "NULL handle"
    );
    assert_eq!(
        call(&mut hv, 0, &mut g, list_op(6, 2, buf)).0,
        EINVAL,
        "idx past end"
    );
    // nr past the end of guest memory: EFAULT.
    let small = g.alloc(&[0; 44]);
    assert_eq!(call(&mut hv, 0, &mut g, list_op(0, 2, small)).0, -14);

    let (r, out) = call(&mut hv, 0, &mut g, list_op(0, 2, buf));
    assert_eq!(r, 2);
    assert_eq!(u32_at(&out, 20), 2, "idx: number returned");
    assert_eq!(u32_at(&out, 24), 3, "nr: remaining");
    let v = u32_at(&out, 16);
    let page = g.read(buf, 44 * 3).unwrap().to_vec();
    assert_eq!(&page[..3], b"p0\0");
    assert_eq!(i32::from_le_bytes(page[40..44].try_into().unwrap()), 1);
    assert_eq!(&page[44..47], b"p1\0");
    assert_eq!(page[88], 0xaa, "nothing written past nr entries");
    let (r, out) = call(&mut hv, 0, &mut g, list_op(4, 2, buf));
    assert_eq!((r, u32_at(&out, 24), u32_at(&out, 16)), (1, 0, v));
    let (r, out) = call(&mut hv, 0, &mut g, list_op(5, 2, buf));
    assert_eq!((r, u32_at(&out, 24)), (0, 0));
    let (r, out) = call(&mut hv, 0, &mut g, list_op(1, 0, buf));
    assert_eq!((r, u32_at(&out, 24)), (0, 4), "nr 0 only counts");

    // Every change bumps the version: upload, action start, completion, unload.
    let mut seen = vec![v];
    let ver = |hv: &mut Hypervisor, g: &mut GuestMemory| {
        u32_at(&call(hv, 0, g, list_op(0, 1, buf)).1, 16)
    };
    client.action(&mut hv, "p1", Action::Check, 0).unwrap();
    seen.push(ver(&mut hv, &mut g));
    hv.settle();
    seen.push(ver(&mut hv, &mut g));
    client.action(&mut hv, "p1", Action::Unload, 0).unwrap();
    hv.settle();
    seen.push(ver(&mut hv, &mut g));
    let p = replace(&image, "p9", &[("do_version", ret_const(9))]);
    client.upload(&mut hv, "p9", &bytes(&p)).unwrap();
    seen.push(ver(&mut hv, &mut g));
    for w in seen.windows(2) {
        assert_ne!(w[0], w[1], "{seen:?}");
    }
    // A refused call changes nothing.
    let before = ver(&mut hv, &mut g);
    assert!(client.action(&mut hv, "p0", Action::Revert, 0).is_err());
    assert_eq!(ver(&mut hv, &mut g), before);

    let all = client.list(&mut hv, 2).unwrap();
    let names: Vec<String> = all.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(names, ["p0", "p2", "p3", "p4", "p9"]);
}

#[test]
fn action_rules_and_state_table() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let mut c = Client::new(0);
    let p = replace(&image, "a", &[("do_version", ret_const(7))]);
    c.upload(&mut hv, "a", &bytes(&p)).unwrap();
    let before = hv.memory().clone();
    let v = hv.version();
    let err = |r: Result<(), HypercallError>| r.unwrap_err().errno;
    assert_eq!(
        err(c.action(&mut hv, "zz", Action::Check, 0)),
        Errno::ENOENT
    );
    assert_eq!(err(c.action(&mut hv, "a", Action::Apply, 0)), Errno::EINVAL);
    assert_eq!(
        err(c.action(&mut hv, "a", Action::Revert, 0)),
        Errno::EINVAL
    );
    // Unknown command.
    let mut op = header(3);
    op[16..56].copy_from_slice(&id40("a"));
    op[56..60].copy_from_slice(&5u32.to_le_bytes());
    let (r, _) = c.raw(&mut hv, op);
    assert_eq!(r.unwrap_err().errno, Errno::EINVAL);
    assert_eq!(hv.version(), v);
    assert_eq!(hv.memory().first_difference(&before), None);
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Loaded);

    c.action(&mut hv, "a", Action::Check, 0).unwrap();
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Progress);
    assert_eq!(
        err(c.action(&mut hv, "a", Action::Apply, 0)),
        Errno::EBUSY,
        "one in flight"
    );
    hv.settle();
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Checked);
    c.action(&mut hv, "a", Action::Check, 0).unwrap();
    hv.settle();
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Checked, "CHECK again");
    c.action(&mut hv, "a", Action::Apply, 0).unwrap();
    hv.settle();
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Applied);
    for bad in [Action::Apply, Action::Check, Action::Unload] {
        assert_eq!(
            err(c.action(&mut hv, "a", bad, 0)),
            Errno::EINVAL,
            "{bad:?} from APPLIED"
        );
    }
    c.action(&mut hv, "a", Action::Revert, 0).unwrap();
    hv.settle();
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Reverted);
    assert_eq!(err(c.action(&mut hv, "a", Action::Check, 0)), Errno::EINVAL);
    assert_eq!(
        err(c.action(&mut hv, "a", Action::Revert, 0)),
        Errno::EINVAL
    );
    c.action(&mut hv, "a", Action::Apply, 0).unwrap();
    hv.settle();
    c.action(&mut hv, "a", Action::Revert, 0).unwrap();
    hv.settle();
    c.action(&mut hv, "a", Action::Unload, 0).unwrap();
    assert_eq!(c.get(&mut hv, "a").unwrap(), Status::Progress);
    hv.settle();
    assert_eq!(c.get(&mut hv, "a").unwrap_err().errno, Errno::ENOENT);
}

#[test]
fn privilege_policy() {
    let fx = Fixture::new();
    let image = fx.image();
    let policy = Policy::parse("privileged = [0, 3]\nread_only = [7]").unwrap();
    let mut hv = Hypervisor::boot(fx.image(), SimConfig::default(), policy, Trust::none()).unwrap();
    let p = bytes(&replace(&image, "a", &[("do_version", ret_const(7))]));
    let mut d3 = Client::new(3);
    let mut d7 = Client::new(7);
    let mut d1 = Client::new(1);
    assert_eq!(d1.upload(&mut hv, "a", &p).unwrap_err().errno, Errno::EPERM);
    assert_eq!(d7.upload(&mut hv, "a", &p).unwrap_err().errno, Errno::EPERM);
    d3.upload(&mut hv, "a", &p).unwrap();
    assert_eq!(d7.get(&mut hv, "a").unwrap(), Status::Loaded);
    assert_eq!(d7.list(&mut hv, 4).unwrap().len(), 1);
    assert_eq!(d7.build_id(&mut hv).unwrap(), image.build_id());
    assert_eq!(
        d7.action(&mut hv, "a", Action::Check, 0).unwrap_err().errno,
        Errno::EPERM
    );
    assert_eq!(d1.get(&mut hv, "a").unwrap_err().errno, Errno::EPERM);
    assert_eq!(d1.build_id(&mut hv).unwrap_err().errno, Errno::EPERM);
    d3.action(&mut hv, "a", Action::Check, 0).unwrap();
}

fn build_id_op(len: u32, handle: u64) -> [u8; SYSCTL_SIZE] {
    let mut op = header(4);
    op[16..20].copy_from_slice(&len.to_le_bytes());
    op[24..32].copy_from_slice(&handle.to_le_bytes());
    op
}

#[test]
fn build_id_query() {
    let fx = Fixture::new();
    let mut hv = fx.boot();
    let mut g = GuestMemory::new();
    let want = fx.build_id();
    // Size query with a NULL handle.
    let (r, out) = call(&mut hv, 0, &mut g, build_id_op(0, 0));
    assert_eq!((r, u32_at(&out, 16)), (0, 20));
    let buf = g.alloc(&[0; 20]);
    let (r, out) = call(&mut hv, 0, &mut g, build_id_op(19, buf));
    assert_eq!((r, u32_at(&out, 16)), (-105, 20), "ENOBUFS tells the size");
    let (r, _) = call(&mut hv, 0, &mut g, build_id_op(20, buf));
    assert_eq!(r, 0);
    assert_eq!(g.read(buf, 20).unwrap(), want.as_slice());
    let mut op = build_id_op(20, buf);
    op[20] = 1;
    assert_eq!(call(&mut hv, 0, &mut g, op).0, EINVAL, "pad");
}
