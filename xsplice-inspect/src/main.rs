//! `xsplice-inspect PAYLOAD [--json] [--cert CERT]...`: glue over the `xsplice_inspect` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

const AFTER_HELP: &str = "\
Examples:
  xsplice-inspect fix.livepatch
  xsplice-inspect fix.livepatch --json --cert signing.crt

Shell completions and the man page: xsplice-inspect --generate bash|zsh|fish|man";

/// Show everything in an xSplice payload, its signature included.
///
/// Exit status: 0 shown; 1 the file cannot be read or is malformed (nothing is
/// shown), or `--cert` was given and the signature does not verify (everything is
/// shown, with the reason).
#[derive(Parser)]
#[command(version, about, after_help = AFTER_HELP)]
struct Args {
    /// The payload file (signed or not).
    payload: PathBuf,
    /// Print a stable JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Verify the signature against this X.509 certificate (PEM or DER; repeatable).
    #[arg(long = "cert", value_name = "CERT")]
    certs: Vec<PathBuf>,
}

fn fail(what: &std::path::Path, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("xsplice-inspect: {}: {e}", what.display());
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    if let Some(code) = xsplice_cli::generate_hook(<Args as clap::CommandFactory>::command, 2) {
        return code;
    }
    let args = Args::parse();
    let mut trusted = Vec::new();
    for path in &args.certs {
        let loaded = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                xsplice_inspect::Certificate::all_from_pem_or_der(&b).map_err(|e| e.to_string())
            });
        match loaded {
            Ok(c) => trusted.extend(c),
            Err(e) => return fail(path, e),
        }
    }
    let bytes = match std::fs::read(&args.payload) {
        Ok(b) => b,
        Err(e) => return fail(&args.payload, e),
    };
    let report = match xsplice_inspect::inspect_with(&bytes, &trusted) {
        Ok(r) => r,
        Err(e) => return fail(&args.payload, e),
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&args.payload, e),
        }
    } else {
        print!("{}", xsplice_inspect::render_text(&report));
    }
    if report.signature_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--generate bash|zsh|fish|elvish|powershell|man` as the first argument (hidden;
/// `install.sh` calls it): a completion script or the man page on stdout.
#[cfg(test)]
fn generate(what: &str, out: &mut dyn std::io::Write) -> Result<(), String> {
    use clap::CommandFactory;
    xsplice_cli::generate(Args::command(), what, out)
}

#[cfg(test)]
mod tests {
    use super::generate;

    #[test]
    fn man_page_and_bash_completion_name_the_main_flags() {
        for (what, needles) in [
            (
                "man",
                &[
                    ".TH xsplice-inspect 1",
                    "\\-\\-json",
                    "\\-\\-cert",
                    "PAYLOAD",
                ][..],
            ),
            (
                "bash",
                &["complete -F _xsplice__inspect", "--json", "--cert"][..],
            ),
        ] {
            let mut out = Vec::new();
            generate(what, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            for n in needles {
                assert!(text.contains(n), "{what} lacks {n}:\n{text}");
            }
        }
        assert!(generate("tcsh", &mut Vec::new()).is_err());
    }

    #[test]
    fn help_has_an_example() {
        use clap::CommandFactory;
        let help = super::Args::command().render_long_help().to_string();
        assert!(help.contains("Example"), "{help}");
    }
}
