//! `xsplice-inspect PAYLOAD [--json]`: glue over the `xsplice_inspect` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Show everything in an xSplice payload.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The payload file.
    payload: PathBuf,
    /// Print a stable JSON document instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let bytes = match std::fs::read(&args.payload) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xsplice-inspect: {}: {e}", args.payload.display());
            return ExitCode::FAILURE;
        }
    };
    let report = match xsplice_inspect::inspect(&bytes) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xsplice-inspect: {}: {e}", args.payload.display());
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("xsplice-inspect: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", xsplice_inspect::render_text(&report));
    }
    ExitCode::SUCCESS
}
