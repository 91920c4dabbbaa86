//! What every binary of the workspace shares: a hidden `--generate WHAT` first
//! argument that writes a shell completion script (`bash`, `zsh`, `fish`, `elvish`,
//! `powershell`) or the man page (`man`) of the binary's clap definition to stdout.
//! `install.sh` calls it for each tool.

use std::io::Write;
use std::process::ExitCode;

/// Writes the completion script for the shell `what`, or the man page for `man`.
pub fn generate(mut cmd: clap::Command, what: &str, out: &mut dyn Write) -> Result<(), String> {
    if what == "man" {
        return clap_mangen::Man::new(cmd)
            .render(out)
            .map_err(|e| e.to_string());
    }
    let shell: clap_complete::Shell = what.parse().map_err(|_| {
        format!("--generate {what}: expected bash, zsh, fish, elvish, powershell or man")
    })?;
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

/// When the process's first argument is `--generate`: writes what the second asks
/// for to stdout and returns the exit code (`usage_exit` for an unknown one, with the
/// error on stderr). `None` otherwise: the binary goes on as usual.
pub fn generate_hook(cmd: impl FnOnce() -> clap::Command, usage_exit: u8) -> Option<ExitCode> {
    let mut argv = std::env::args().skip(1);
    if argv.next().as_deref() != Some("--generate") {
        return None;
    }
    let what = argv.next().unwrap_or_default();
    let cmd = cmd();
    let name = cmd.get_name().to_string();
    Some(match generate(cmd, &what, &mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(usage_exit)
        }
    })
}

/// For a binary's tests: its man page mentions each of `man`, its bash completion
/// each of `bash`, and its long help carries an example. `Err` says what is missing.
pub fn check_documents(
    cmd: impl Fn() -> clap::Command,
    man: &[&str],
    bash: &[&str],
) -> Result<(), String> {
    for (what, needles) in [("man", man), ("bash", bash)] {
        let mut out = Vec::new();
        generate(cmd(), what, &mut out)?;
        let text = String::from_utf8_lossy(&out);
        if let Some(n) = needles.iter().find(|n| !text.contains(**n)) {
            return Err(format!("the {what} output lacks {n}:\n{text}"));
        }
    }
    let help = cmd().render_long_help().to_string();
    if !help.contains("Example") {
        return Err(format!("--help has no example:\n{help}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> clap::Command {
        clap::Command::new("demo-tool")
            .about("a demo")
            .arg(clap::Arg::new("target").long("target").help("the image"))
    }

    #[test]
    fn man_page_and_completions_name_the_tool_and_its_flags() {
        let mut man = Vec::new();
        generate(cmd(), "man", &mut man).unwrap();
        let man = String::from_utf8(man).unwrap();
        assert!(
            man.contains(".TH demo-tool 1") && man.contains("target"),
            "{man}"
        );
        for (shell, flag) in [
            ("bash", "--target"),
            ("zsh", "--target"),
            ("fish", "-l target"),
        ] {
            let mut out = Vec::new();
            generate(cmd(), shell, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("demo-tool") && text.contains(flag),
                "{shell}: {text}"
            );
        }
        let e = generate(cmd(), "tcsh", &mut Vec::new()).unwrap_err();
        assert!(e.contains("--generate tcsh: expected bash"), "{e}");
    }
}
