//! Takes payloads through their whole life on a real Xen under QEMU: upload, apply,
//! list, revert, unload, each with its exit code, output and the Xen console lines
//! it caused. Boots the packaged Xen 4.17, or a hypervisor you built (`--xen` and
//! `--xen-syms`, e.g. a source tree's `xen/xen` and `xen/xen-syms`; their build-ids
//! must match).
//!
//! ```sh
//! cargo run -p xen-testbed --example livepatch_cycle -- [--xen XEN --xen-syms XEN_SYMS] \
//!     [--file DEST=SRC]... [--before CMD]... [--observe CMD]... NAME=PAYLOAD...
//! ```
//!
//! `--file` puts a host file into dom0 at DEST (e.g. a static test program),
//! `--before` commands run once after boot, `--observe` ones before each upload, after
//! each apply and after each revert (e.g. `cat /sys/hypervisor/version/extra`, or a
//! program making the hypercall the payload patches). Exit code 0 when every step of
//! every payload succeeded, 1 otherwise, 2 for a boot or usage error.

use std::process::ExitCode;

use xen_testbed::{CommandResult, Testbed, hex};

fn usage() -> ExitCode {
    eprintln!(
        "usage: livepatch_cycle [--xen XEN --xen-syms XEN_SYMS] [--file DEST=SRC]... [--before CMD]... [--observe CMD]... NAME=PAYLOAD..."
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut xen, mut syms) = (None, None);
    let (mut before, mut observe, mut payloads) = (vec![], vec![], vec![]);
    let mut extra = vec![];
    while let Some(a) = args.next() {
        match a.as_str() {
            "--xen" => xen = args.next(),
            "--xen-syms" => syms = args.next(),
            "--before" => before.extend(args.next()),
            "--observe" => observe.extend(args.next()),
            "--file" => match args.next().as_deref().and_then(|f| f.split_once('=')) {
                Some((d, s)) => extra.push((d.to_owned(), s.to_owned())),
                None => return usage(),
            },
            _ => match a.split_once('=') {
                Some((n, p)) if !n.is_empty() && !a.starts_with('-') => {
                    payloads.push((n.to_owned(), p.to_owned()));
                }
                _ => return usage(),
            },
        }
    }
    if payloads.is_empty() || xen.is_some() != syms.is_some() {
        return usage();
    }
    match run(xen.zip(syms), &extra, &before, &observe, &payloads) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(
    hypervisor: Option<(String, String)>,
    extra: &[(String, String)],
    before: &[String],
    observe: &[String],
    payloads: &[(String, String)],
) -> Result<bool, Box<dyn std::error::Error>> {
    let mut bed = Testbed::prepare_default()?;
    if let Some((xen, syms)) = hypervisor {
        bed = bed.with_hypervisor(xen, syms)?;
    }
    println!(
        "hypervisor {} (build-id {})",
        bed.hypervisor().display(),
        hex(&bed.hypervisor_build_id()?)
    );
    let mut files = Vec::new();
    for (dest, src) in extra {
        files.push((dest.clone(), std::fs::read(src)?));
    }
    for (name, path) in payloads {
        files.push((format!("/tmp/{name}.livepatch"), std::fs::read(path)?));
    }
    // Which step of which payload each command is (None: an observation).
    let mut commands: Vec<(Option<&str>, String)> =
        before.iter().map(|c| (None, c.clone())).collect();
    let observed = |commands: &mut Vec<(Option<&str>, String)>| {
        commands.extend(observe.iter().map(|c| (None, c.clone())));
    };
    for (name, _) in payloads {
        observed(&mut commands);
        commands.push((
            Some("upload"),
            format!("xen-livepatch upload {name} /tmp/{name}.livepatch"),
        ));
        commands.push((None, "xen-livepatch list".into()));
        commands.push((Some("apply"), format!("xen-livepatch apply {name}")));
        commands.push((None, "xen-livepatch list".into()));
        observed(&mut commands);
        commands.push((Some("revert"), format!("xen-livepatch revert {name}")));
        observed(&mut commands);
        commands.push((Some("unload"), format!("xen-livepatch unload {name}")));
    }
    commands.push((None, "xen-livepatch list".into()));
    let file_refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(d, b)| (d.as_str(), b.as_slice()))
        .collect();
    let cmd_refs: Vec<&str> = commands.iter().map(|(_, c)| c.as_str()).collect();
    let t = bed.run_commands(&file_refs, &cmd_refs)?;
    if let Some(banner) = t
        .xen_messages()
        .into_iter()
        .find(|l| l.starts_with("Xen version"))
    {
        println!("{banner}");
    }
    let mut all_ok = true;
    for ((step, _), c) in commands.iter().zip(&t.commands) {
        show(c);
        if step.is_some() && c.rc != 0 {
            all_ok = false;
        }
    }
    println!("\nsteps:");
    for ((step, _), c) in commands.iter().zip(&t.commands) {
        if let Some(step) = step {
            let why = c
                .xen_messages()
                .into_iter()
                .filter(|l| l.starts_with("livepatch: "))
                .collect::<Vec<_>>()
                .join(" | ");
            println!(
                "  {step:7} {} rc={}{}",
                if c.rc == 0 { "ok    " } else { "FAILED" },
                c.rc,
                if why.is_empty() {
                    String::new()
                } else {
                    format!("  [{why}]")
                }
            );
        }
    }
    Ok(all_ok)
}

fn show(c: &CommandResult) {
    println!("\n$ {}  (rc={})", c.cmd, c.rc);
    for l in c.stdout.lines() {
        println!("  | {l}");
    }
    for l in c.stderr.lines() {
        println!("  ! {l}");
    }
    for l in c.xen_messages() {
        println!("  (XEN) {l}");
    }
}
