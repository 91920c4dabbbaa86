//! Every command against runtime-sim speaking Xen 4.17's livepatch interface (the
//! test double of the privcmd transport): what it prints, how it ends, and what the
//! hypervisor holds afterwards.

mod common;

use common::*;
use runtime_sim::Arg;
use xen_xsplice::client::Client;
use xen_xsplice::run::{Command, exit};

fn version(sim: &mut Sim) -> u64 {
    sim.hv.call(0, "tiny_version", &[Arg::Int(0)]).unwrap().ret & 0xffff_ffff
}

/// A directory holding `fix.livepatch` and `sum.livepatch` signed with a fresh key,
/// the certificate, and an unsigned copy.
struct Files {
    dir: tempfile::TempDir,
    cert: std::path::PathBuf,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = keypair(dir.path(), "xen-xsplice test");
        for (name, bytes) in [("fix", fix_version()), ("sum", fix_sum())] {
            std::fs::write(
                dir.path().join(format!("{name}.livepatch")),
                sign(&bytes, &key, &cert),
            )
            .unwrap();
            std::fs::write(dir.path().join(format!("{name}.unsigned")), &bytes).unwrap();
        }
        Files { dir, cert }
    }
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
}

fn upload(f: &Files, id: &str, file: &str) -> xen_xsplice::Config {
    config(
        Command::Upload {
            id: id.into(),
            file: f.path(file),
        },
        &[&f.cert],
    )
}

fn cmd(c: Command) -> xen_xsplice::Config {
    config(c, &[])
}

#[test]
fn upload_apply_revert_unload() {
    let f = Files::new();
    let mut sim = Sim::boot();
    assert_eq!(version(&mut sim), 0x406);

    let o = exec(&mut sim, &upload(&f, "fix", "fix.livepatch"));
    assert_eq!(o.code(), 0, "{}", o.message());
    let first = o.out.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("{}: valid ", f.path("fix.livepatch").display())),
        "{first}"
    );
    assert!(
        first.contains(" signature by \"CN=xen-xsplice test\" (trusted certificate "),
        "{first}"
    );
    assert!(o.out.ends_with("fix: CHECKED\n"), "{}", o.out);
    assert_eq!(sim.loaded(), [("fix".into(), "CHECKED".into())]);

    let o = exec(&mut sim, &cmd(Command::Check { id: "fix".into() }));
    assert_eq!(o.code(), 0, "{}", o.message());

    let o = exec(
        &mut sim,
        &cmd(Command::Apply {
            id: "fix".into(),
            nodeps: false,
        }),
    );
    assert_eq!(o.code(), 0, "{}", o.message());
    assert_eq!(
        o.out,
        "fix: CHECKED\nfix: apply requested (timeout 30 ms)\nfix: APPLIED\n"
    );
    assert_eq!(version(&mut sim), 0x407);

    let o = exec(&mut sim, &cmd(Command::Check { id: "fix".into() }));
    assert_eq!(o.code(), exit::REFUSED);
    assert_eq!(o.message(), "fix is APPLIED, not CHECKED");

    let o = exec(
        &mut sim,
        &cmd(Command::Apply {
            id: "fix".into(),
            nodeps: false,
        }),
    );
    assert_eq!(o.code(), 0);
    assert!(
        o.out.contains("fix: already APPLIED, nothing to do"),
        "{}",
        o.out
    );

    let o = exec(&mut sim, &cmd(Command::Unload { id: "fix".into() }));
    assert_eq!(o.code(), exit::REFUSED);
    assert_eq!(o.message(), "fix is APPLIED: revert it before unloading it");

    let o = exec(&mut sim, &cmd(Command::Revert { id: "fix".into() }));
    assert_eq!(o.code(), 0, "{}", o.message());
    assert_eq!(version(&mut sim), 0x406);

    let o = exec(&mut sim, &cmd(Command::Unload { id: "fix".into() }));
    assert_eq!(o.code(), 0, "{}", o.message());
    assert_eq!(
        o.out,
        "fix: CHECKED\nfix: unload requested (timeout 30 ms)\nfix: unloaded\n"
    );
    assert!(sim.loaded().is_empty());
}

#[test]
fn each_state_change_is_reported_while_polling() {
    let f = Files::new();
    let mut sim = Sim::boot();
    assert_eq!(
        exec(&mut sim, &upload(&f, "fix", "fix.livepatch")).code(),
        0
    );
    sim.lag = 3;
    let o = exec(
        &mut sim,
        &cmd(Command::Apply {
            id: "fix".into(),
            nodeps: false,
        }),
    );
    assert_eq!(o.code(), 0, "{}", o.message());
    assert_eq!(
        o.out,
        "fix: CHECKED\nfix: apply requested (timeout 30 ms)\nfix: CHECKED, action in progress\nfix: APPLIED\n"
    );
}

#[test]
fn an_action_that_never_finishes_is_bounded() {
    let f = Files::new();
    let mut sim = Sim::boot();
    assert_eq!(
        exec(&mut sim, &upload(&f, "fix", "fix.livepatch")).code(),
        0
    );
    sim.stuck = true;
    let mut c = cmd(Command::Apply {
        id: "fix".into(),
        nodeps: false,
    });
    c.action.wait = std::time::Duration::from_millis(50);
    let calls = sim.calls;
    let o = exec(&mut sim, &c);
    assert_eq!(o.code(), exit::STILL_RUNNING, "{}", o.message());
    assert!(
        o.message()
            .starts_with("fix: the apply was still in progress after"),
        "{}",
        o.message()
    );
    assert!(
        sim.calls - calls < 20,
        "polls back off: {} calls",
        sim.calls - calls
    );
    // A second action while it is pending: refused before any ACTION.
    let o = exec(&mut sim, &cmd(Command::Revert { id: "fix".into() }));
    assert_eq!(o.code(), exit::BUSY);
    assert_eq!(o.errno().as_deref(), Some("EAGAIN"));
}

#[test]
fn a_second_upload_of_a_name_is_eexist() {
    let f = Files::new();
    let mut sim = Sim::boot();
    assert_eq!(
        exec(&mut sim, &upload(&f, "fix", "fix.livepatch")).code(),
        0
    );
    let o = exec(&mut sim, &upload(&f, "fix", "sum.livepatch"));
    assert_eq!(o.code(), exit::REFUSED);
    assert_eq!(o.message(), "EEXIST: a payload named fix is already loaded");
    // The same payload under another name: its build-id is taken.
    let o = exec(&mut sim, &upload(&f, "again", "fix.livepatch"));
    assert_eq!(o.errno().as_deref(), Some("EEXIST"));
    assert!(
        o.message()
            .contains("again's build-id or one of its global symbols"),
        "{}",
        o.message()
    );
    assert_eq!(sim.loaded().len(), 1);
}

#[test]
fn unknown_ids_are_enoent() {
    let mut sim = Sim::boot();
    for c in [
        Command::Status {
            id: "nope".into(),
            json: false,
        },
        Command::Apply {
            id: "nope".into(),
            nodeps: false,
        },
        Command::Unload { id: "nope".into() },
    ] {
        let o = exec(&mut sim, &cmd(c));
        assert_eq!(o.code(), exit::REFUSED);
        assert_eq!(o.message(), "ENOENT: no payload named nope is loaded");
    }
}

#[test]
fn unsigned_tampered_and_unknown_keys_never_reach_the_hypervisor() {
    let f = Files::new();
    let mut tampered = std::fs::read(f.path("fix.livepatch")).unwrap();
    tampered[100] ^= 1;
    std::fs::write(f.path("tampered.livepatch"), &tampered).unwrap();
    let (_, other) = keypair(f.dir.path(), "someone else");
    let mut sim = Sim::boot();
    let cases: [(&str, &std::path::Path, &str); 3] = [
        ("fix.unsigned", &f.cert, "unsigned payload: not signed"),
        ("tampered.livepatch", &f.cert, "bad signature"),
        ("fix.livepatch", &other, "signed by an unknown key"),
    ];
    for (file, cert, why) in cases {
        for c in [
            Command::Upload {
                id: "fix".into(),
                file: f.path(file),
            },
            Command::Load {
                file: f.path(file),
                id: None,
                nodeps: false,
            },
        ] {
            let o = exec(&mut sim, &config(c, &[cert]));
            assert_eq!(o.code(), exit::SIGNATURE, "{file}: {}", o.message());
            assert!(!o.connected, "{file}: the hypervisor was not even opened");
            assert!(o.message().contains(why), "{file}: {}", o.message());
            assert!(
                o.message()
                    .ends_with("refused, nothing was sent to the hypervisor")
            );
        }
    }
    assert_eq!(sim.calls, 0);
    assert!(sim.loaded().is_empty());
}

#[test]
fn insecure_unsigned_uploads_with_a_warning() {
    let f = Files::new();
    let mut sim = Sim::boot();
    let mut c = cmd(Command::Upload {
        id: "fix".into(),
        file: f.path("fix.unsigned"),
    });
    c.trust.insecure_unsigned = true;
    let o = exec(&mut sim, &c);
    assert_eq!(o.code(), 0, "{}", o.message());
    assert!(o.err.contains("warning: --insecure-unsigned"), "{}", o.err);
    assert_eq!(sim.loaded().len(), 1);
}

#[test]
fn keyring_from_the_configuration_file() {
    let f = Files::new();
    let ring = f.dir.path().join("ring");
    std::fs::create_dir(&ring).unwrap();
    std::fs::copy(&f.cert, ring.join("ours.pem")).unwrap();
    std::fs::write(ring.join("README"), "not a certificate").unwrap();
    let conf = f.dir.path().join("xen-xsplice.toml");
    std::fs::write(&conf, "keyring = \"ring\"\n").unwrap();
    let mut sim = Sim::boot();
    let mut c = cmd(Command::Load {
        file: f.path("fix.livepatch"),
        id: None,
        nodeps: false,
    });
    c.trust.config_file = Some(conf.clone());
    let o = exec(&mut sim, &c);
    assert_eq!(o.code(), 0, "{}", o.message());
    assert!(o.out.contains("(trusted certificate "), "{}", o.out);
    assert_eq!(sim.loaded(), [("fix".into(), "APPLIED".into())]);

    // An empty keyring: a usage error, nothing sent.
    std::fs::remove_file(ring.join("ours.pem")).unwrap();
    let mut c = cmd(Command::Upload {
        id: "sum".into(),
        file: f.path("sum.livepatch"),
    });
    c.trust.config_file = Some(conf.clone());
    let o = exec(&mut sim, &c);
    assert_eq!(o.code(), exit::USAGE);
    assert!(
        o.message().contains("holds no certificate"),
        "{}",
        o.message()
    );
    assert!(!o.connected);
    std::fs::write(&conf, "keyrings = 1\n").unwrap();
    let o = exec(&mut sim, &c);
    assert_eq!(o.code(), exit::USAGE);
    assert!(o.message().contains("unknown field"), "{}", o.message());
}

#[test]
fn load_unloads_again_when_the_apply_fails() {
    let dir = tempfile::tempdir().unwrap();
    // Depends on a build-id nobody has: APPLY is refused with EINVAL.
    let p = payload(
        "orphan",
        "tiny_version",
        vec![0xb8, 1, 0, 0, 0, 0xc3],
        Some(vec![0xab; 20]),
    );
    std::fs::write(dir.path().join("orphan.livepatch"), &p).unwrap();
    let mut sim = Sim::boot();
    let mut c = cmd(Command::Load {
        file: dir.path().join("orphan.livepatch"),
        id: None,
        nodeps: false,
    });
    c.trust.insecure_unsigned = true;
    let o = exec(&mut sim, &c);
    assert_eq!(o.errno().as_deref(), Some("EINVAL"), "{}", o.message());
    assert!(
        o.message().contains("its .livepatch.depends names neither"),
        "{}",
        o.message()
    );
    assert!(o.out.contains("orphan: the apply failed"), "{}", o.out);
    assert!(o.out.ends_with("orphan: unloaded\n"), "{}", o.out);
    assert!(sim.loaded().is_empty());
    // --nodeps applies it.
    let mut c = cmd(Command::Load {
        file: dir.path().join("orphan.livepatch"),
        id: Some("o2".into()),
        nodeps: true,
    });
    c.trust.insecure_unsigned = true;
    let o = exec(&mut sim, &c);
    assert_eq!(o.code(), 0, "{}", o.message());
    assert!(
        o.out
            .contains("o2: apply requested (timeout 30 ms, nodeps)"),
        "{}",
        o.out
    );
    assert_eq!(sim.loaded(), [("o2".into(), "APPLIED".into())]);
}

/// `fix`, then `sum` stacked on it (its .livepatch.depends is fix's build-id), both
/// applied.
fn stack(sim: &mut Sim, dir: &std::path::Path) {
    let fix = fix_version();
    let sum = payload(
        "sum",
        "tiny_sum",
        vec![0xb8, 5, 0, 0, 0, 0xc3],
        Some(build_id(&fix)),
    );
    for (name, bytes) in [("fix", fix), ("sum", sum)] {
        let file = dir.join(format!("{name}.livepatch"));
        std::fs::write(&file, bytes).unwrap();
        let mut c = cmd(Command::Load {
            file,
            id: None,
            nodeps: false,
        });
        c.trust.insecure_unsigned = true;
        let o = exec(sim, &c);
        assert_eq!(o.code(), 0, "{name}: {}", o.message());
    }
}

#[test]
fn revert_out_of_order_is_ebusy_and_unload_all_clears_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::boot();
    stack(&mut sim, dir.path());
    let o = exec(&mut sim, &cmd(Command::Revert { id: "fix".into() }));
    assert_eq!(o.code(), exit::BUSY);
    assert!(
        o.message()
            .starts_with("EBUSY: fix is not the most recently applied payload"),
        "{}",
        o.message()
    );

    let o = exec(&mut sim, &cmd(Command::List { json: false }));
    assert_eq!(
        o.out,
        " ID                                     | status     | metadata\n\
         ----------------------------------------+------------+---------------\n\
         fix                                     | APPLIED    | name=fix\n\
         sum                                     | APPLIED    | name=sum\n"
    );

    let o = exec(&mut sim, &cmd(Command::UnloadAll));
    assert_eq!(o.code(), 0, "{}", o.message());
    assert!(
        o.out
            .ends_with("reverted 2, unloaded 2: nothing is loaded now\n"),
        "{}",
        o.out
    );
    assert!(sim.loaded().is_empty());
    assert_eq!(version(&mut sim), 0x406);
    let o = exec(&mut sim, &cmd(Command::UnloadAll));
    assert_eq!(o.out, "nothing loaded\n");
    let o = exec(&mut sim, &cmd(Command::List { json: false }));
    assert_eq!(o.out, "Nothing to list\n");
}

#[test]
fn unload_all_reverts_in_whatever_order_xen_needs() {
    // sum applied first (nodeps), then fix: LIST shows fix first, but sum is not
    // the top... fix is; unload-all finds the order by itself.
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::boot();
    for (name, bytes) in [("sum", fix_sum()), ("fix", fix_version())] {
        let file = dir.path().join(format!("{name}.livepatch"));
        std::fs::write(&file, bytes).unwrap();
        let mut c = cmd(Command::Upload {
            id: name.into(),
            file,
        });
        c.trust.insecure_unsigned = true;
        assert_eq!(exec(&mut sim, &c).code(), 0);
    }
    for name in ["fix", "sum"] {
        let o = exec(
            &mut sim,
            &cmd(Command::Apply {
                id: name.into(),
                nodeps: true,
            }),
        );
        assert_eq!(o.code(), 0, "{}", o.message());
    }
    let o = exec(&mut sim, &cmd(Command::UnloadAll));
    assert_eq!(o.code(), 0, "{}", o.message());
    assert!(
        o.out
            .contains("fix: not the most recently applied; trying the next one"),
        "{}",
        o.out
    );
    assert!(sim.loaded().is_empty());
}

#[test]
fn list_pages_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::boot();
    stack(&mut sim, dir.path());
    let p = payload("third", "tiny_lookup", vec![0xb8, 9, 0, 0, 0, 0xc3], None);
    let file = dir.path().join("third.livepatch");
    std::fs::write(&file, p).unwrap();
    let mut c = cmd(Command::Upload {
        id: "third".into(),
        file,
    });
    c.trust.insecure_unsigned = true;
    assert_eq!(exec(&mut sim, &c).code(), 0);

    for page in [1, 2, 64] {
        let mut client = Client::new(&mut sim);
        client.page = page;
        let all = client.list().unwrap();
        let names: Vec<_> = all
            .iter()
            .map(|e| (e.name.as_str(), e.status.state_name()))
            .collect();
        assert_eq!(
            names,
            [
                ("fix", "APPLIED".into()),
                ("sum", "APPLIED".into()),
                ("third", "CHECKED".into())
            ],
            "page {page}"
        );
    }
    let o = exec(&mut sim, &cmd(Command::List { json: true }));
    let v: serde_json::Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v[2]["name"], "third");
    assert_eq!(v[2]["state"], "CHECKED");
    assert_eq!(v[2]["rc"], 0);
    assert_eq!(v[2]["errno"], serde_json::Value::Null);

    let o = exec(
        &mut sim,
        &cmd(Command::Status {
            id: "sum".into(),
            json: true,
        }),
    );
    let v: serde_json::Value = serde_json::from_str(&o.out).unwrap();
    assert_eq!(v["state"], "APPLIED");
    let o = exec(
        &mut sim,
        &cmd(Command::Status {
            id: "third".into(),
            json: false,
        }),
    );
    assert_eq!(o.out, "third: CHECKED\n");
}

#[test]
fn replace_reverts_everything_and_applies_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::boot();
    stack(&mut sim, dir.path());
    let p = payload("all", "tiny_lookup", vec![0xb8, 9, 0, 0, 0, 0xc3], None);
    let file = dir.path().join("all.livepatch");
    std::fs::write(&file, p).unwrap();
    let mut c = cmd(Command::Upload {
        id: "all".into(),
        file,
    });
    c.trust.insecure_unsigned = true;
    assert_eq!(exec(&mut sim, &c).code(), 0);
    let o = exec(&mut sim, &cmd(Command::Replace { id: "all".into() }));
    assert_eq!(o.code(), 0, "{}", o.message());
    assert!(o.out.ends_with("all: APPLIED\n"), "{}", o.out);
    assert_eq!(
        sim.loaded(),
        [
            ("fix".into(), "CHECKED".into()),
            ("sum".into(), "CHECKED".into()),
            ("all".into(), "APPLIED".into())
        ]
    );
    assert_eq!(version(&mut sim), 0x406);
}

#[test]
fn bad_ids_are_usage_errors_before_anything() {
    let mut sim = Sim::boot();
    let o = exec(
        &mut sim,
        &cmd(Command::Status {
            id: "x".repeat(128),
            json: false,
        }),
    );
    assert_eq!(o.code(), exit::USAGE);
    assert!(!o.connected);
}

/// A Xen 4.21 (sysctl interface 0x16, LIST takes the buffer sizes): the tool's first
/// call gets EACCES with 0x15, retries with 0x16 and keeps it; every command works.
#[test]
fn speaks_xen_421_after_one_eacces() {
    let config = runtime_sim::boot::SimConfig {
        interface: Some(runtime_sim::livepatch::Interface::Livepatch),
        livepatch_interface_version: xsplice_abi::livepatch::INTERFACE_VERSION_4_21,
        ..runtime_sim::fuzz::small_config()
    };
    let mut sim = Sim::boot_image(runtime_sim::fuzz::tiny_image(), config);
    let dir = tempfile::tempdir().unwrap();
    stack(&mut sim, dir.path());
    let mut client = Client::new(&mut sim);
    let all = client.list().unwrap();
    assert_eq!(
        client.interface_version,
        xsplice_abi::livepatch::INTERFACE_VERSION_4_21
    );
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["fix", "sum"]);
    assert_eq!(all[0].metadata_text(), "name=fix");
}
