//! Real Xen and runtime-sim on the same livepatch corpus: Debian's Xen 4.17 booted
//! under QEMU (`xen-testbed`) runs every case's `xen-livepatch` commands in one boot;
//! the simulator, booted from the same hypervisor's xen-syms, runs them through the
//! same sysctl ABI with the tool's logic (`differential/tool.rs`). Each command must
//! end with the same exit code and errno on both, except where the simulator is
//! stricter on purpose (`STRICTER`, each case cited in specs/livepatch-format.md).
//! The agreement figure is printed.

#[path = "differential/cases.rs"]
mod cases;
#[path = "differential/tool.rs"]
mod tool;

use runtime_sim::{Hypervisor, LivepatchClient, Policy, SimConfig, Trust};
use xen_testbed::Testbed;
use xsplice_image::Image;

use tool::Outcome;

/// Cases where the simulator refuses what Xen accepts, on purpose.
const STRICTER: &[&str] = &["longexpect", "nop"];

#[test]
fn runtime_sim_agrees_with_real_xen() {
    let bed = Testbed::prepare_default().expect("the Xen test bed (see xen-testbed/README.md)");
    let image = Image::from_path(bed.xen_syms()).unwrap();
    let corpus = cases::corpus(&image);
    assert!(corpus.cases.len() >= 30, "{} cases", corpus.cases.len());

    // The simulator: one hypervisor, the cases in order.
    let mut hv = Hypervisor::boot(
        image,
        SimConfig::default(),
        Policy::default(),
        Trust::none(),
    )
    .unwrap();
    assert_eq!(hv.interface(), runtime_sim::Interface::Livepatch);
    let mut client = LivepatchClient::new(0);
    let mut sim: Vec<Outcome> = Vec::new();
    let mut shell: Vec<String> = Vec::new();
    for case in &corpus.cases {
        for cmd in &case.commands {
            sim.push(tool::run(&mut hv, &mut client, cmd, &corpus.files));
            shell.push(cmd.shell());
        }
    }

    // Real Xen: the same commands in one boot.
    let files: Vec<(String, &[u8])> = corpus
        .files
        .iter()
        .map(|(n, b)| (format!("/tmp/corpus/{n}"), &b[..]))
        .collect();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), *b)).collect();
    let commands: Vec<&str> = shell.iter().map(String::as_str).collect();
    let mut bed = bed;
    bed.options_mut().timeout = std::time::Duration::from_secs(900);
    let t = bed.run_commands(&files, &commands).expect("boot");
    assert_eq!(t.commands.len(), commands.len(), "{}", t.tail(80));

    let mut k = 0;
    let mut agree = 0;
    let mut rows = Vec::new();
    let mut disagreements = Vec::new();
    for case in &corpus.cases {
        for _ in &case.commands {
            let real = &t.commands[k];
            let xen = Outcome {
                exit: real.rc,
                errno: real.reported_errno(),
            };
            let s = sim[k];
            let same = xen == s;
            agree += usize::from(same);
            let show = |o: &Outcome| match o.errno {
                Some(e) => format!("exit {} errno {e}", o.exit),
                None => format!("exit {}", o.exit),
            };
            rows.push(format!(
                "{:<12} {:<52} xen: {:<18} sim: {:<18} {}",
                case.name,
                commands[k],
                show(&xen),
                show(&s),
                if same { "=" } else { "DIFFERS" }
            ));
            if !same && !STRICTER.contains(&case.name.as_str()) {
                disagreements.push(format!(
                    "{} ({}): `{}`: xen {:?}, sim {:?}\n  xen said: {:?} {:?}",
                    case.name,
                    case.rule,
                    commands[k],
                    xen,
                    s,
                    real.stderr.trim(),
                    real.xen_messages()
                ));
            }
            k += 1;
        }
    }
    println!("{}", rows.join("\n"));
    println!(
        "\n{} cases, {} commands: runtime-sim agrees with Xen 4.17 on {agree}/{} ({} stricter on purpose)",
        corpus.cases.len(),
        commands.len(),
        commands.len(),
        commands.len() - agree - disagreements.len()
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // The stricter cases really are stricter: Xen accepts their upload, the simulator
    // refuses it with EINVAL.
    let mut k = 0;
    for case in &corpus.cases {
        if STRICTER.contains(&case.name.as_str()) {
            assert_eq!(t.commands[k].rc, 0, "{}: Xen accepts", case.name);
            assert_eq!(
                sim[k].errno,
                Some(22),
                "{}: the simulator refuses",
                case.name
            );
        }
        k += case.commands.len();
    }
}
