//! `xsplice-sign`: sign, verify or strip an xSplice payload. Thin glue over the
//! `xsplice_sign` library: parse arguments, load files, call, print, exit code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgAction, Parser, ValueEnum};
use xsplice_sign::{
    Certificate, Format, HashAlgo, PASSPHRASE_ENV, SignOptions, SignerIdKind, SigningKey, split,
    strip, verify, write_atomic,
};

const AFTER_HELP: &str = "\
Modes:
  xsplice-sign --key KEY [--cert CERT] [--format legacy|pkcs7] [--hash H] [--skid] PAYLOAD [-o OUT]
  xsplice-sign --verify --cert CERT [--cert CERT...] PAYLOAD
  xsplice-sign --strip PAYLOAD [-o OUT]

Without -o the payload is rewritten in place; every write is atomic (temporary file
in the same directory, then rename) and keeps the file mode. A payload that is
already signed is re-signed: its old trailer is stripped first.

KEY may be PEM or DER, PKCS#1 or PKCS#8, a PEM file holding both the key and its
certificate (then --cert may be omitted), or an encrypted key (PKCS#8, or
OpenSSL's traditional PEM encryption) whose passphrase is read from the environment
variable XSPLICE_SIGN_PASSPHRASE.

Exit status: 0 success (--verify: the signature is valid); 1 the payload was
rejected (--verify: invalid or missing signature, with the reason; signing: not an
ELF, key does not match the certificate...); 2 usage error or a file that cannot be
read or loaded.

Examples:
  xsplice-sign --key signing.pem --cert signing.crt --format pkcs7 fix.livepatch
  xsplice-sign --verify --cert signing.crt fix.livepatch

Shell completions and the man page: xsplice-sign --generate bash|zsh|fish|man";

#[derive(Parser, Debug)]
#[command(
    name = "xsplice-sign",
    version,
    about = "Sign, verify or strip the Linux-module-style signature of an xSplice payload",
    after_help = AFTER_HELP
)]
struct Args {
    /// The payload (an ELF64 relocatable object).
    payload: PathBuf,

    /// Private key to sign with (PEM/DER, PKCS#1/PKCS#8, key+certificate PEM; an
    /// encrypted key is unlocked with the passphrase in $XSPLICE_SIGN_PASSPHRASE).
    #[arg(long, value_name = "KEY", conflicts_with_all = ["verify", "strip"])]
    key: Option<PathBuf>,

    /// Certificate (PEM or DER). Signing: the signer's certificate (default: the one in
    /// KEY). --verify: a trusted certificate; repeat it or use a PEM file with several.
    #[arg(long, value_name = "CERT", action = ArgAction::Append, conflicts_with = "strip")]
    cert: Vec<PathBuf>,

    /// Trailer format.
    #[arg(long, value_enum, default_value_t = FormatArg::Legacy, conflicts_with_all = ["verify", "strip"])]
    format: FormatArg,

    /// Digest algorithm.
    #[arg(long, value_enum, default_value_t = HashArg::Sha256, conflicts_with_all = ["verify", "strip"])]
    hash: HashArg,

    /// pkcs7: identify the signer by subjectKeyIdentifier instead of issuer and serial
    /// (like `sign-file -k`).
    #[arg(long, conflicts_with_all = ["verify", "strip"])]
    skid: bool,

    /// Verify the signature against the --cert certificates instead of signing.
    #[arg(long, conflicts_with = "strip", requires = "cert")]
    verify: bool,

    /// Remove the signature, restoring the exact unsigned bytes.
    #[arg(long)]
    strip: bool,

    /// Write the result here instead of rewriting PAYLOAD.
    #[arg(short, long, value_name = "OUT", conflicts_with = "verify")]
    output: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Legacy,
    Pkcs7,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum HashArg {
    Sha256,
    Sha384,
    Sha512,
}

/// The validated request.
enum Config {
    Sign {
        key: PathBuf,
        cert: Option<PathBuf>,
        opts: SignOptions,
        payload: PathBuf,
        output: Option<PathBuf>,
        passphrase: Option<Vec<u8>>,
    },
    Verify {
        certs: Vec<PathBuf>,
        payload: PathBuf,
    },
    Strip {
        payload: PathBuf,
        output: Option<PathBuf>,
    },
}

/// A failure: message and exit status.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: String) -> Failure {
    Failure { code: 2, message }
}

fn rejected(message: String) -> Failure {
    Failure { code: 1, message }
}

fn config(args: Args, passphrase: Option<OsString>) -> Result<Config, Failure> {
    if args.verify {
        return Ok(Config::Verify {
            certs: args.cert,
            payload: args.payload,
        });
    }
    if args.strip {
        return Ok(Config::Strip {
            payload: args.payload,
            output: args.output,
        });
    }
    let Some(key) = args.key else {
        return Err(usage(
            "signing needs --key KEY (or use --verify or --strip)".to_string(),
        ));
    };
    if args.cert.len() > 1 {
        return Err(usage("signing takes at most one --cert".to_string()));
    }
    let format = match args.format {
        FormatArg::Legacy => Format::Legacy,
        FormatArg::Pkcs7 => Format::Pkcs7,
    };
    if args.skid && format != Format::Pkcs7 {
        return Err(usage(
            "--skid only applies to --format pkcs7 (the legacy format always uses the key id)"
                .to_string(),
        ));
    }
    let hash = match args.hash {
        HashArg::Sha256 => HashAlgo::Sha256,
        HashArg::Sha384 => HashAlgo::Sha384,
        HashArg::Sha512 => HashAlgo::Sha512,
    };
    Ok(Config::Sign {
        key,
        cert: args.cert.into_iter().next(),
        opts: SignOptions {
            format,
            hash,
            signer_id: if args.skid {
                SignerIdKind::SubjectKeyId
            } else {
                SignerIdKind::IssuerSerial
            },
        },
        payload: args.payload,
        output: args.output,
        passphrase: passphrase.map(os_bytes),
    })
}

#[cfg(unix)]
fn os_bytes(s: OsString) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt;
    s.into_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: OsString) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {what} {}: {e}", path.display())))
}

fn load_certs(path: &Path) -> Result<Vec<Certificate>, Failure> {
    Certificate::all_from_pem_or_der(&read(path, "certificate")?)
        .map_err(|e| usage(format!("{}: {e}", path.display())))
}

fn run(config: Config) -> Result<String, Failure> {
    match config {
        Config::Sign {
            key,
            cert,
            opts,
            payload,
            output,
            passphrase,
        } => {
            let signing_key =
                SigningKey::from_pem_or_der(&read(&key, "key")?, passphrase.as_deref()).map_err(
                    |e| {
                        let hint = if matches!(e, xsplice_sign::KeyError::NeedPassphrase) {
                            format!(": put it in the environment variable {PASSPHRASE_ENV}")
                        } else {
                            String::new()
                        };
                        usage(format!("{}: {e}{hint}", key.display()))
                    },
                )?;
            let certificate = match &cert {
                Some(path) => Certificate::from_pem_or_der(&read(path, "certificate")?)
                    .map_err(|e| usage(format!("{}: {e}", path.display())))?,
                None => signing_key.embedded_certificate().cloned().ok_or_else(|| {
                    usage(format!(
                        "{} holds no certificate: give the signer's certificate with --cert",
                        key.display()
                    ))
                })?,
            };
            let input = read(&payload, "payload")?;
            let signed = xsplice_sign::sign(&input, &signing_key, &certificate, &opts)
                .map_err(|e| rejected(format!("cannot sign {}: {e}", payload.display())))?;
            let dest = output.as_deref().unwrap_or(&payload);
            write_atomic(dest, &signed, Some(&payload)).map_err(|e| usage(e.to_string()))?;
            let unsigned_len = strip(&input).map(<[u8]>::len).unwrap_or(input.len());
            Ok(format!(
                "{}: signed ({} {}, {}-byte trailer) by \"{}\"",
                dest.display(),
                opts.format,
                opts.hash,
                signed.len() - unsigned_len,
                certificate.subject()
            ))
        }
        Config::Verify { certs, payload } => {
            let mut trusted = Vec::new();
            let mut origin = Vec::new();
            for path in &certs {
                for c in load_certs(path)? {
                    trusted.push(c);
                    origin.push(path.clone());
                }
            }
            let input = read(&payload, "payload")?;
            let ok = verify(&input, &trusted)
                .map_err(|e| rejected(format!("{}: invalid signature: {e}", payload.display())))?;
            Ok(format!(
                "{}: {} (certificate from {})",
                payload.display(),
                ok,
                origin[ok.certificate].display()
            ))
        }
        Config::Strip { payload, output } => {
            let input = read(&payload, "payload")?;
            let unsigned = strip(&input)
                .map_err(|e| rejected(format!("cannot strip {}: {e}", payload.display())))?;
            let removed = input.len() - unsigned.len();
            let signed = matches!(split(&input), Ok((_, Some(_))));
            match (&output, signed) {
                (None, false) => {
                    return Ok(format!("{}: not signed; left unchanged", payload.display()));
                }
                (Some(out), _) => {
                    write_atomic(out, unsigned, Some(&payload)).map_err(|e| usage(e.to_string()))?
                }
                (None, true) => {
                    write_atomic(&payload, unsigned, None).map_err(|e| usage(e.to_string()))?
                }
            }
            let dest = output.as_deref().unwrap_or(&payload);
            Ok(if signed {
                format!("{}: removed {removed} bytes of signature", dest.display())
            } else {
                format!("{}: not signed; copied unchanged", dest.display())
            })
        }
    }
}

fn main() -> ExitCode {
    if let Some(code) = xsplice_cli::generate_hook(<Args as clap::CommandFactory>::command, 2) {
        return code;
    }
    let args = Args::parse();
    let outcome = config(args, std::env::var_os(PASSPHRASE_ENV)).and_then(run);
    match outcome {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("xsplice-sign: {}", f.message);
            ExitCode::from(f.code)
        }
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
                ".TH xsplice-sign 1",
                "\\-\\-key",
                "\\-\\-cert",
                "\\-\\-verify",
                "\\-\\-strip",
            ],
            &[
                "complete -F _xsplice__sign",
                "--key",
                "--cert",
                "--verify",
                "--strip",
            ],
        )
        .unwrap();
    }
}
