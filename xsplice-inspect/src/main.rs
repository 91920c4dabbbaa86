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

#[cfg(test)]
mod tests {
    #[test]
    fn man_page_completion_and_help_document_the_tool() {
        use clap::CommandFactory;
        xsplice_cli::check_documents(
            super::Args::command,
            &[
                ".TH xsplice-inspect 1",
                "\\-\\-json",
                "\\-\\-cert",
                "PAYLOAD",
            ],
            &["complete -F _xsplice__inspect", "--json", "--cert"],
        )
        .unwrap();
    }
}
