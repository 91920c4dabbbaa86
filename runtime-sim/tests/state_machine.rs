//! Property test of the hypercall state machine against a reference model written
//! here, independently of the simulator, from `specs/hypercall.md` and the design's
//! state table.
//!
//! Random sequences of operations — valid and invalid: unknown and malformed ids,
//! actions from every state, bad `cmd` values, non-zero GET status, LIST paging with
//! any `idx`/`nr`, oversize `nr`, NULL and too-small buffers, unprivileged and
//! read-only callers, time bounds with slow or absent CPUs, bad `interface_version`,
//! unknown sub-ops — are sent as raw `struct xen_sysctl` bytes through
//! `hypercall::do_sysctl`. After every step the return value, the bytes copied back,
//! every status, the list order, the applied stack, the version counter (bumped
//! exactly when the list or a status changes) and a hash of every mapped page of the
//! simulated memory must agree with the model.
//!
//! Default: 2,000 sequences of 50 operations (100,000 steps). `XSPLICE_SM_SEQUENCES=N`
//! runs N sequences (the issue asks for 100,000 once: see `fuzz/README.md`);
//! `XSPLICE_SM_SEED=S` replays sequence S alone, printing every step.

use std::collections::BTreeMap;

use runtime_sim::fuzz::{seed_payloads, small_config, tiny_image};
use runtime_sim::hypercall::{GuestMemory, do_sysctl};
use runtime_sim::memory::{Memory, Owner, Perm};
use runtime_sim::*;
use xsplice_payload::write::to_bytes;

#[path = "state_machine/model.rs"]
mod model;

use model::*;

// ---- Memory hashing: additive over pages, so parts of memory combine. ----

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn page_hash(base: u64, perm: Perm, owner: Owner, data: &[u8]) -> u64 {
    let owner = match owner {
        Owner::Image => 1,
        Owner::Payload(s) => 2 | s << 8,
        Owner::Stack(c) => 3 | (c as u64) << 8,
        Owner::Scratch(c) => 4 | (c as u64) << 8,
    };
    let perm = u64::from(perm.read) | u64::from(perm.write) << 1 | u64::from(perm.exec) << 2;
    let mut h = mix(base ^ mix(owner ^ perm << 56));
    for w in data.chunks_exact(8) {
        h = (h ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(0x100_0000_01b3);
    }
    mix(h)
}

/// Hash of the pages `keep` selects.
fn hash_where(mem: &Memory, keep: impl Fn(Owner) -> bool) -> u64 {
    let mut sum = 0u64;
    for run in mem.runs() {
        if !keep(run.owner) {
            continue;
        }
        for k in 0..run.len / 4096 {
            let base = run.base + k * 4096;
            sum = sum.wrapping_add(page_hash(
                base,
                run.perm,
                run.owner,
                mem.page(base).unwrap(),
            ));
        }
    }
    sum
}

// ---- The world: simulator, guest memory, prepared payloads. ----

struct World {
    hv: Hypervisor,
    guest: GuestMemory,
    op_addr: u64,
    /// Kind → guest address and size of its bytes.
    payloads: BTreeMap<&'static str, (u64, u64)>,
    big_buf: u64,
    small_buf: u64,
    /// Memory at boot.
    boot: Memory,
    /// Hash of the pages not owned by the image or a payload (stacks, buffers).
    fixed_hash: u64,
    /// Hash of the image pages with the applied stack written, for each stack seen.
    image_hash: BTreeMap<Vec<Sites>, u64>,
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Provider => "provider",
        Kind::Provider2 => "provider2",
        Kind::Inline => "inline",
        Kind::InlineBadOld => "inline-bad-old",
        Kind::User => "user",
        Kind::Garbage => "garbage",
        Kind::WrongTarget => "wrong-target",
    }
}

/// The payload bytes of every kind (built once).
fn payload_bytes() -> BTreeMap<&'static str, Vec<u8>> {
    let image = tiny_image();
    let seeds = seed_payloads(&image);
    let mut p2 = seeds[0].clone();
    p2.name = "provider2".into();
    let mut bad = seeds[1].clone();
    bad.name = "inline-bad-old".into();
    let old = bad.old.as_ref().unwrap()[0].patch.content.section;
    bad.sections[old].data[0] ^= 0xff;
    let mut wrong = seeds[0].clone();
    wrong.target_build_id = vec![0xee; 20];
    let mut out = BTreeMap::new();
    for (k, p) in [
        (Kind::Provider, &seeds[0]),
        (Kind::Provider2, &p2),
        (Kind::Inline, &seeds[1]),
        (Kind::InlineBadOld, &bad),
        (Kind::User, &seeds[2]),
        (Kind::WrongTarget, &wrong),
    ] {
        out.insert(
            kind_name(k),
            to_bytes(p, xsplice_payload::Flavour::Xsplice).unwrap(),
        );
    }
    out.insert(
        kind_name(Kind::Garbage),
        b"this is not an ELF payload".to_vec(),
    );
    out
}

impl World {
    fn new(bytes: &BTreeMap<&'static str, Vec<u8>>) -> World {
        let config = SimConfig {
            site_write_us: SITE_WRITE_US,
            ..small_config()
        };
        let policy = Policy {
            privileged: [PRIVILEGED].into(),
            read_only: [READ_ONLY].into(),
        };
        let hv = Hypervisor::boot(tiny_image(), config, policy, Trust::none()).unwrap();
        let mut guest = GuestMemory::new();
        let op_addr = guest.alloc(&[0; 136]);
        let payloads = bytes
            .iter()
            .map(|(k, b)| (*k, (guest.alloc(b), b.len() as u64)))
            .collect();
        let big_buf = guest.alloc(&[0; SUMMARY * 64]);
        let small_buf = guest.alloc(&[0; SUMMARY * 2]);
        let boot = hv.memory().clone();
        let fixed_hash = hash_where(&boot, |o| !matches!(o, Owner::Image | Owner::Payload(_)));
        World {
            hv,
            guest,
            op_addr,
            payloads,
            big_buf,
            small_buf,
            boot,
            fixed_hash,
            image_hash: BTreeMap::new(),
        }
    }

    /// Sends one `struct xen_sysctl`; returns the hypercall value and the bytes
    /// copied back.
    fn call(&mut self, caller: u16, op: [u8; 136]) -> (i64, [u8; 136]) {
        assert!(self.guest.write(self.op_addr, &op));
        let r = do_sysctl(&mut self.hv, caller, &mut self.guest, self.op_addr);
        let back = self
            .guest
            .read(self.op_addr, 136)
            .unwrap()
            .try_into()
            .unwrap();
        (r, back)
    }

    /// The image pages as the applied stack leaves them.
    fn predicted_image_hash(&mut self, m: &Model) -> u64 {
        let writes: Vec<Sites> = m
            .stack
            .iter()
            .map(|id| m.list[m.find(id).unwrap()].sites.clone())
            .collect();
        if let Some(h) = self.image_hash.get(&writes) {
            return *h;
        }
        let mut mem = self.boot.clone();
        for sites in &writes {
            for (addr, bytes) in sites {
                mem.write(*addr, bytes).unwrap();
            }
        }
        let h = hash_where(&mem, |o| o == Owner::Image);
        self.image_hash.insert(writes, h);
        h
    }

    fn predicted_hash(&mut self, m: &Model) -> u64 {
        let mut h = self.fixed_hash.wrapping_add(self.predicted_image_hash(m));
        for p in &m.list {
            h = h.wrapping_add(p.pages);
        }
        h
    }
}

// ---- Operations. ----

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// An id as an operation carries it (printed as text in replay logs).
#[derive(Clone, Copy)]
struct Pid(Id);

impl std::fmt::Debug for Pid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

#[derive(Clone, Debug)]
enum Op {
    Upload {
        caller: u16,
        id: Pid,
        kind: Kind,
        size: u64,
        handle: u64,
    },
    Get {
        caller: u16,
        id: Pid,
        status_in: u32,
    },
    List {
        caller: u16,
        idx: u32,
        nr: u32,
        buf: u8,
    },
    Action {
        caller: u16,
        id: Pid,
        cmd: u32,
        time: u64,
    },
    BuildId {
        caller: u16,
        len: u32,
        pad: u32,
        buf: u8,
    },
    /// A malformed `xen_sysctl`: wrong interface version (0), wrong `cmd` (1), unknown
    /// sub-op (2), structure outside guest memory (3).
    BadSysctl {
        caller: u16,
        which: u8,
    },
    Rendezvous {
        cpu: usize,
        ms: Option<u64>,
    },
    Settle,
}

fn random_id(r: &mut Rng) -> Pid {
    Pid(match r.below(20) {
        0 => [0; 40],
        1 => {
            let mut id = id_of("a");
            id[7] = b'x';
            id
        }
        2 => [b'z'; 40],
        _ => id_of(r.pick(&["a", "b", "c", "d", "e"])),
    })
}

fn random_caller(r: &mut Rng) -> u16 {
    match r.below(12) {
        0 => READ_ONLY,
        1 => NOBODY,
        _ => PRIVILEGED,
    }
}

/// A valid next action from a state (what a toolstack would ask).
fn sensible(s: MState) -> u32 {
    match s {
        MState::Loaded => CHECK,
        MState::Checked => APPLY,
        MState::Applied => REVERT,
        MState::Reverted => UNLOAD,
    }
}

fn random_op(r: &mut Rng, w: &World, m: &Model) -> Op {
    let caller = random_caller(r);
    let roll = r.below(100);
    if roll < 15 {
        // A CPU that never joins blocks every action: let it come back soon.
        if let Some(cpu) = m.rendezvous.iter().position(|c| c.is_none())
            && r.below(3) == 0
        {
            return Op::Rendezvous { cpu, ms: Some(0) };
        }
        return Op::Settle;
    }
    if roll < 30 {
        let kind = r.pick(&[Kind::Provider, Kind::Inline, Kind::User]);
        let (addr, len) = w.payloads[kind_name(kind)];
        let free = ["a", "b", "c", "d", "e"]
            .into_iter()
            .map(id_of)
            .find(|id| m.find(id).is_none());
        return Op::Upload {
            caller: PRIVILEGED,
            id: Pid(free.unwrap_or_else(|| id_of("a"))),
            kind,
            size: len,
            handle: addr,
        };
    }
    if !m.list.is_empty() && roll < 65 {
        // Bias towards actions that move a loaded payload along its life cycle.
        let hopeful: Vec<&MPayload> = m
            .list
            .iter()
            .filter(|p| p.kind != Kind::InlineBadOld && p.status > 0)
            .collect();
        let p = if !hopeful.is_empty() && r.below(5) != 0 {
            hopeful[r.below(hopeful.len() as u64) as usize]
        } else {
            &m.list[r.below(m.list.len() as u64) as usize]
        };
        let cmd = if r.below(4) == 0 {
            r.pick(&[CHECK, APPLY, REVERT, UNLOAD])
        } else {
            sensible(p.state)
        };
        return Op::Action {
            caller: if r.below(10) == 0 { caller } else { PRIVILEGED },
            id: Pid(p.id),
            cmd,
            time: r.pick(&[0, 0, 0, 0, 2, 3, 10]),
        };
    }
    match r.below(100) {
        0..=17 => {
            let kind = r.pick(&KINDS);
            let (addr, len) = w.payloads[kind_name(kind)];
            let (size, handle) = match r.below(16) {
                0 => (0, addr),
                1 => (MAX_PAYLOAD + 1, addr),
                2 => (len + 4096, addr),
                3 => (len, 0),
                _ => (len, addr),
            };
            Op::Upload {
                caller,
                id: random_id(r),
                kind,
                size,
                handle,
            }
        }
        18..=27 => Op::Get {
            caller,
            id: random_id(r),
            status_in: if r.below(8) == 0 { 1 } else { 0 },
        },
        28..=37 => Op::List {
            caller,
            idx: r.pick(&[0, 0, 1, 2, 3, 5, 6, u32::MAX]),
            nr: r.pick(&[0, 1, 2, 3, 64, 64, 65, u32::MAX]),
            buf: r.below(6) as u8,
        },
        38..=77 => Op::Action {
            caller,
            id: random_id(r),
            cmd: r.pick(&[CHECK, CHECK, APPLY, APPLY, REVERT, UNLOAD, 0, 5, u32::MAX]),
            time: r.pick(&[0, 0, 0, 1, 2, 3, 5, 10, u64::MAX]),
        },
        78..=81 => Op::BuildId {
            caller,
            len: r.pick(&[0, 19, 20, 64]),
            pad: if r.below(8) == 0 { 1 } else { 0 },
            buf: r.below(6) as u8,
        },
        82..=84 => Op::BadSysctl {
            caller,
            which: r.below(4) as u8,
        },
        85..=92 => Op::Rendezvous {
            cpu: r.below(2) as usize,
            ms: r.pick(&[Some(0), Some(0), Some(0), Some(1), Some(3), None]),
        },
        _ => Op::Settle,
    }
}

fn header(sub: u32) -> [u8; 136] {
    let mut op = [0u8; 136];
    op[0..4].copy_from_slice(&SYSCTL_XSPLICE_OP.to_le_bytes());
    op[4..8].copy_from_slice(&INTERFACE_VERSION.to_le_bytes());
    op[8..12].copy_from_slice(&sub.to_le_bytes());
    op
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn perm_query(caller: u16) -> bool {
    caller == PRIVILEGED || caller == READ_ONLY
}

/// Applies one op to the simulator and the model; panics on any disagreement.
fn step(w: &mut World, m: &mut Model, op: &Op) {
    match *op {
        Op::Upload {
            caller,
            id: Pid(id),
            kind,
            size,
            handle,
        } => {
            let mut o = header(UPLOAD);
            o[16..56].copy_from_slice(&id);
            o[56..64].copy_from_slice(&size.to_le_bytes());
            o[64..72].copy_from_slice(&handle.to_le_bytes());
            let want = if caller != PRIVILEGED {
                Err(EPERM)
            } else {
                m.upload(
                    &id,
                    kind,
                    size,
                    handle != 0 && size <= w.payloads[kind_name(kind)].1,
                )
            };
            let (r, back) = w.call(caller, o);
            assert_eq!(back, o, "UPLOAD writes nothing back");
            expect(r, want, "UPLOAD");
            if want.is_ok() {
                m.version += 1;
                let (pages, sites) = observe_upload(w, &id, kind);
                let provider = (kind == Kind::User).then(|| {
                    m.list
                        .iter()
                        .find(|p| p.kind.exports())
                        .expect("a provider")
                        .id
                });
                m.list.push(MPayload {
                    id,
                    kind,
                    state: MState::Loaded,
                    status: LOADED,
                    provider,
                    pages,
                    sites,
                });
            }
        }
        Op::Get {
            caller,
            id: Pid(id),
            status_in,
        } => {
            let mut o = header(GET);
            o[16..56].copy_from_slice(&id);
            o[56..60].copy_from_slice(&status_in.to_le_bytes());
            let want = if !perm_query(caller) {
                Err(EPERM)
            } else if status_in != 0 || !id_valid(&id) {
                Err(EINVAL)
            } else {
                m.find(&id).map(|_| ()).ok_or(ENOENT)
            };
            let (r, back) = w.call(caller, o);
            expect(r, want, "GET");
            let status = match want {
                Ok(()) => m.list[m.find(&id).unwrap()].status,
                Err(_) => status_in as i32,
            };
            assert_eq!(u32_at(&back, 56) as i32, status, "GET status");
        }
        Op::List {
            caller,
            idx,
            nr,
            buf,
        } => {
            let (handle, cap) = match buf {
                0 => (0, 0),
                1 => (w.small_buf, 2),
                _ => (w.big_buf, 64),
            };
            let mut o = header(LIST);
            o[16..20].copy_from_slice(&0xdead_beefu32.to_le_bytes());
            o[20..24].copy_from_slice(&idx.to_le_bytes());
            o[24..28].copy_from_slice(&nr.to_le_bytes());
            o[32..40].copy_from_slice(&handle.to_le_bytes());
            let count = m.list.len() as u32;
            let n = if idx <= count { nr.min(count - idx) } else { 0 };
            let want = if !perm_query(caller) {
                Err(EPERM)
            } else if nr > LIST_MAX {
                Err(E2BIG)
            } else if handle == 0 || idx > count {
                Err(EINVAL)
            } else if n > cap {
                Err(EFAULT)
            } else {
                Ok(())
            };
            let (r, back) = w.call(caller, o);
            match want {
                Ok(()) => {
                    assert_eq!(r, i64::from(n), "LIST returns the number written");
                    assert_eq!(u32_at(&back, 16), m.version, "LIST version");
                    assert_eq!(u32_at(&back, 20), n, "LIST idx OUT");
                    assert_eq!(u32_at(&back, 24), count - idx - n, "LIST nr OUT");
                    let got = w.guest.read(handle, u64::from(n) * SUMMARY as u64).unwrap();
                    for (k, s) in got.chunks(SUMMARY).enumerate() {
                        let p = &m.list[idx as usize + k];
                        assert_eq!(s[..40], p.id, "LIST summary {k} id");
                        assert_eq!(u32_at(s, 40) as i32, p.status, "LIST summary {k} status");
                    }
                }
                Err(e) => {
                    assert_eq!(r, -e, "LIST");
                    assert_eq!(back, o, "a refused LIST writes nothing back");
                }
            }
        }
        Op::Action {
            caller,
            id: Pid(id),
            cmd,
            time,
        } => {
            let mut o = header(ACTION);
            o[16..56].copy_from_slice(&id);
            o[56..60].copy_from_slice(&cmd.to_le_bytes());
            o[64..72].copy_from_slice(&time.to_le_bytes());
            let want = if caller != PRIVILEGED {
                Err(EPERM)
            } else {
                m.action(&id, cmd)
            };
            let (r, back) = w.call(caller, o);
            assert_eq!(back, o, "ACTION writes nothing back");
            expect(r, want, "ACTION");
            if want.is_ok() {
                let i = m.find(&id).unwrap();
                m.list[i].status = PROGRESS;
                m.pending = Some((id, cmd, time));
                m.version += 1;
            }
        }
        Op::BuildId {
            caller,
            len,
            pad,
            buf,
        } => {
            let handle = match buf {
                0 => 0,
                1 => 0xdead_0000,
                _ => w.big_buf,
            };
            let mut o = header(BUILD_ID);
            o[16..20].copy_from_slice(&len.to_le_bytes());
            o[20..24].copy_from_slice(&pad.to_le_bytes());
            o[24..32].copy_from_slice(&handle.to_le_bytes());
            let want = if !perm_query(caller) {
                Err(EPERM)
            } else if pad != 0 {
                Err(EINVAL)
            } else if handle == 0 {
                Ok(())
            } else if len < 20 {
                Err(ENOBUFS)
            } else if handle == 0xdead_0000 {
                Err(EFAULT)
            } else {
                Ok(())
            };
            let (r, back) = w.call(caller, o);
            expect(r, want, "BUILD_ID");
            let len_out = if matches!(want, Err(EPERM) | Err(EINVAL)) {
                len
            } else {
                20
            };
            assert_eq!(u32_at(&back, 16), len_out, "BUILD_ID len OUT");
            if want.is_ok() && handle != 0 {
                assert_eq!(w.guest.read(handle, 20).unwrap(), b"tiny-hv-fixture-0001");
            }
        }
        Op::BadSysctl { caller, which } => {
            let mut o = header(GET);
            let (addr, want) = match which {
                0 => {
                    o[4..8].copy_from_slice(&0x0bu32.to_le_bytes());
                    (w.op_addr, EACCES)
                }
                1 => {
                    o[0..4].copy_from_slice(&23u32.to_le_bytes());
                    (w.op_addr, ENOSYS)
                }
                2 => {
                    o[8..12].copy_from_slice(&5u32.to_le_bytes());
                    let e = if caller == PRIVILEGED { ENOSYS } else { EPERM };
                    (w.op_addr, e)
                }
                _ => (0x7777_0000, EFAULT),
            };
            assert!(w.guest.write(w.op_addr, &o));
            let r = do_sysctl(&mut w.hv, caller, &mut w.guest, addr);
            assert_eq!(r, -want, "bad sysctl {which}");
        }
        Op::Rendezvous { cpu, ms } => {
            w.hv.set_rendezvous(cpu, ms).unwrap();
            m.rendezvous[cpu] = ms;
        }
        Op::Settle => {
            let want = m.complete();
            w.hv.settle();
            if let (Some(outcome), Some((id, cmd, _))) = (want, m.pending) {
                m.pending = None;
                m.version += 1;
                let i = m.find(&id).unwrap();
                match outcome {
                    Err(e) => m.list[i].status = -(e as i32),
                    Ok(()) => {
                        let next = match cmd {
                            CHECK => MState::Checked,
                            APPLY => {
                                m.stack.push(id);
                                MState::Applied
                            }
                            REVERT => {
                                assert_eq!(m.stack.pop(), Some(id));
                                MState::Reverted
                            }
                            _ => {
                                m.list.remove(i);
                                return;
                            }
                        };
                        m.list[i].state = next;
                        m.list[i].status = state_code(next);
                    }
                }
            }
        }
    }
}

fn expect(r: i64, want: Outcome, what: &str) {
    match want {
        Ok(()) => assert_eq!(r, 0, "{what} should succeed"),
        Err(e) => assert_eq!(r, -e, "{what} should fail with errno {e}"),
    }
}

/// After a successful upload: the payload's pages (hash), and where its APPLY will
/// write what — trampolines computed here from the new code's address.
fn observe_upload(w: &World, id: &Id, kind: Kind) -> (u64, Sites) {
    let r = w.hv.payload(&PayloadId::from_raw(*id).unwrap()).unwrap();
    let serial = r.loaded.serial;
    let pages = hash_where(w.hv.memory(), |o| o == Owner::Payload(serial));
    for &(base, len, perm) in &r.loaded.regions {
        let a = w.hv.layout().arena;
        assert!(base >= a.0 && base + len <= a.1, "placed in the arena");
        assert!(!(perm.write && perm.exec), "never W+X");
        assert!(!w.boot.is_mapped(base), "fresh pages");
    }
    let image = w.hv.image();
    let sym = |n: &str| image.lookup(n).unwrap().addr;
    let jmp = |site: u64, section: usize| -> (u64, Vec<u8>) {
        let to = r.loaded.section_addrs[section];
        let rel = to.wrapping_sub(site + 5) as i64;
        let mut b = vec![0xe9];
        b.extend_from_slice(&i32::try_from(rel).unwrap().to_le_bytes());
        (site, b)
    };
    let sites = match kind {
        Kind::Provider | Kind::Provider2 => {
            // Its first section is exactly `mov eax, 0x407; ret`.
            let code = w.hv.memory().read(r.loaded.section_addrs[0], 6).unwrap();
            assert_eq!(code, [0xb8, 0x07, 0x04, 0, 0, 0xc3]);
            vec![jmp(sym("tiny_version"), 0), jmp(sym("tiny_add"), 1)]
        }
        Kind::User => vec![jmp(sym("tiny_sum"), 0)],
        Kind::Inline => vec![
            (sym("tiny_lookup"), vec![0xb8, 0x2a, 0, 0, 0, 0xc3]),
            (sym("table") + 4, vec![99, 0, 0, 0]),
            (sym("banner"), b"TINY".to_vec()),
        ],
        _ => vec![],
    };
    (pages, sites)
}

/// Everything observable agrees with the model.
fn compare(w: &mut World, m: &Model, what: &str) {
    let hv = &w.hv;
    let list: Vec<(Id, i32)> = hv
        .payloads()
        .iter()
        .map(|r| (r.id.raw(), r.status().code()))
        .collect();
    let want: Vec<(Id, i32)> = m.list.iter().map(|p| (p.id, p.status)).collect();
    assert_eq!(list, want, "{what}: list and statuses");
    let states: Vec<i32> = hv
        .payloads()
        .iter()
        .map(|r| match r.state {
            State::Loaded => LOADED,
            State::Checked => CHECKED,
            State::Applied => APPLIED,
            State::Reverted => REVERTED,
        })
        .collect();
    let want: Vec<i32> = m.list.iter().map(|p| state_code(p.state)).collect();
    assert_eq!(states, want, "{what}: states");
    assert_eq!(hv.version(), m.version, "{what}: version");
    let stack: Vec<Id> = hv.applied_stack().iter().map(|i| i.raw()).collect();
    assert_eq!(stack, m.stack, "{what}: applied stack");
    assert_eq!(
        hv.pending().is_some(),
        m.pending.is_some(),
        "{what}: pending"
    );
    let actual = hash_where(hv.memory(), |_| true);
    let predicted = w.predicted_hash(m);
    if actual != predicted {
        let mut expected = w.boot.clone();
        for id in &m.stack {
            for (a, b) in &m.list[m.find(id).unwrap()].sites {
                expected.write(*a, b).unwrap();
            }
        }
        let image_now = hash_where(w.hv.memory(), |o| o == Owner::Image);
        panic!(
            "{what}: memory hash {actual:#x} != model {predicted:#x}; image pages {} ({:?})",
            if image_now == w.predicted_image_hash(m) {
                "agree"
            } else {
                "differ"
            },
            expected.first_difference(w.hv.memory())
        );
    }
}

fn run_sequence(seed: u64, ops: usize, bytes: &BTreeMap<&'static str, Vec<u8>>, verbose: bool) {
    let mut w = World::new(bytes);
    let mut m = Model {
        list: Vec::new(),
        stack: Vec::new(),
        pending: None,
        version: 1,
        rendezvous: [Some(0), Some(0)],
    };
    let mut r = Rng(seed);
    let mut log = Vec::new();
    for n in 0..ops {
        let op = random_op(&mut r, &w, &m);
        if verbose {
            eprintln!("step {n}: {op:?}");
        }
        log.push(format!("{op:?}"));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            step(&mut w, &mut m, &op);
            compare(&mut w, &m, &format!("step {n}"));
        }));
        if let Err(e) = outcome {
            eprintln!(
                "sequence {seed} failed at step {n}; replay with XSPLICE_SM_SEED={seed}\n{}",
                log.join("\n")
            );
            std::panic::resume_unwind(e);
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.parse().unwrap())
}

#[test]
fn hypercall_state_machine_agrees_with_the_model() {
    let bytes = payload_bytes();
    if let Some(seed) = env_u64("XSPLICE_SM_SEED") {
        run_sequence(seed, 50, &bytes, true);
        return;
    }
    let sequences = env_u64("XSPLICE_SM_SEQUENCES").unwrap_or(2_000);
    for seed in 0..sequences {
        run_sequence(seed, 50, &bytes, false);
    }
}

/// The generator reaches every interesting situation (so the agreement above is not
/// vacuous): full cycles, failures of every kind, waiting, paging.
#[test]
fn sequences_reach_the_interesting_states() {
    let bytes = payload_bytes();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let mut w = World::new(&bytes);
        let mut m = Model {
            list: Vec::new(),
            stack: Vec::new(),
            pending: None,
            version: 1,
            rendezvous: [Some(0), Some(0)],
        };
        let mut r = Rng(seed);
        for _ in 0..50 {
            let op = random_op(&mut r, &w, &m);
            step(&mut w, &mut m, &op);
            for p in &m.list {
                seen.insert(format!("status {}", p.status));
            }
            seen.insert(format!("stack depth {}", m.stack.len().min(3)));
            seen.insert(format!("loaded {}", m.list.len().min(4)));
            if m.pending.is_some() && m.complete().is_none() {
                seen.insert("waiting".to_string());
            }
        }
    }
    for s in [
        "status 1",
        "status 2",
        "status 4",
        "status 8",
        "status 16",
        "status -2",
        "status -16",
        "status -22",
        "stack depth 2",
        "stack depth 3",
        "loaded 4",
        "waiting",
    ] {
        assert!(seen.contains(s), "never reached {s}: {seen:?}");
    }
}
