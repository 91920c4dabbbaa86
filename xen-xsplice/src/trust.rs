//! Which certificates a payload's signature must verify against, and the check
//! itself (xsplice-sign's `verify`; no second copy of the verification code).
//!
//! Sources, in order:
//! 1. `--trust CERT` (repeatable; a PEM file may hold several certificates): when
//!    given, only these count.
//! 2. Otherwise the keyring directory named by the configuration file: every
//!    `*.pem`, `*.crt`, `*.cer` and `*.der` file in it. The configuration file is
//!    `--config FILE`, else `$XEN_XSPLICE_CONFIG`, else
//!    `/etc/xsplice/xen-xsplice.toml` if it exists; its `keyring` key (a path
//!    relative to the file's directory, or absolute) defaults to
//!    `/etc/xsplice/trusted.d/`.
//!
//! `--insecure-unsigned` skips the check (with a warning on every use).

use std::fmt;
use std::path::{Path, PathBuf};

use xsplice_sign::{Certificate, Verified, VerifyError};

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/xsplice/xen-xsplice.toml";
/// The default keyring directory.
pub const DEFAULT_KEYRING: &str = "/etc/xsplice/trusted.d";
/// The environment variable naming the configuration file.
pub const ENV_CONFIG: &str = "XEN_XSPLICE_CONFIG";
/// File names a keyring directory's certificates may have.
pub const KEYRING_EXTENSIONS: &[&str] = &["pem", "crt", "cer", "der"];

/// Where trusted certificates come from (plain data from the command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustSources {
    /// `--trust CERT`.
    pub certificates: Vec<PathBuf>,
    /// `--config FILE` or `$XEN_XSPLICE_CONFIG`; `None`: [`DEFAULT_CONFIG`] if it
    /// exists.
    pub config_file: Option<PathBuf>,
    /// `--insecure-unsigned`.
    pub insecure_unsigned: bool,
}

/// The configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The keyring directory.
    pub keyring: Option<PathBuf>,
}

/// What signatures are checked against.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Certificates and where each came from.
    Certificates(Vec<(Certificate, PathBuf)>),
    /// `--insecure-unsigned`: nothing is checked.
    InsecureUnsigned,
}

/// The trust configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TrustError(pub String);

/// A payload refused before anything reached the hypervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub file: PathBuf,
    pub reason: VerifyError,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            VerifyError::Unsigned => "unsigned payload",
            VerifyError::WrongKeyId { .. } | VerifyError::UnknownSigner { .. } => {
                "signed by an unknown key"
            }
            VerifyError::BadSignature { .. } => "bad signature",
            _ => "unusable signature",
        };
        write!(
            f,
            "{}: {what}: {}; refused, nothing was sent to the hypervisor",
            self.file.display(),
            self.reason
        )
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|e| TrustError(format!("{what} {}: {e}", path.display())))
}

fn load_certs(path: &Path) -> Result<Vec<(Certificate, PathBuf)>, TrustError> {
    let bytes = read(path, "certificate")?;
    let certs = Certificate::all_from_pem_or_der(&bytes)
        .map_err(|e| TrustError(format!("certificate {}: {e}", path.display())))?;
    Ok(certs.into_iter().map(|c| (c, path.to_path_buf())).collect())
}

impl TrustSources {
    /// The configuration file to read, if any: the given one (which must exist), or
    /// the default one when it exists.
    fn config_path(&self) -> Option<PathBuf> {
        match &self.config_file {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
        }
    }

    /// The keyring directory the configuration names (or the default one).
    pub fn keyring(&self) -> Result<PathBuf, TrustError> {
        let Some(path) = self.config_path() else {
            return Ok(PathBuf::from(DEFAULT_KEYRING));
        };
        let text = String::from_utf8(read(&path, "configuration file")?)
            .map_err(|_| TrustError(format!("configuration file {}: not UTF-8", path.display())))?;
        let cfg: ConfigFile = toml::from_str(&text)
            .map_err(|e| TrustError(format!("configuration file {}: {e}", path.display())))?;
        Ok(match cfg.keyring {
            None => PathBuf::from(DEFAULT_KEYRING),
            Some(k) if k.is_absolute() => k,
            Some(k) => path.parent().unwrap_or(Path::new(".")).join(k),
        })
    }

    /// Loads the certificates (see the module documentation for the order).
    pub fn load(&self) -> Result<Trust, TrustError> {
        if self.insecure_unsigned {
            return Ok(Trust::InsecureUnsigned);
        }
        let mut certs = Vec::new();
        if !self.certificates.is_empty() {
            for p in &self.certificates {
                certs.extend(load_certs(p)?);
            }
            return Ok(Trust::Certificates(certs));
        }
        let dir = self.keyring()?;
        let entries = std::fs::read_dir(&dir).map_err(|e| {
            TrustError(format!(
                "no trusted certificates: keyring directory {}: {e} (give --trust CERT, \
                 put certificates there, or name another keyring in {DEFAULT_CONFIG})",
                dir.display()
            ))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                        KEYRING_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                    })
            })
            .collect();
        files.sort();
        for f in &files {
            certs.extend(load_certs(f)?);
        }
        if certs.is_empty() {
            return Err(TrustError(format!(
                "no trusted certificates: keyring directory {} holds no certificate \
                 (*.pem, *.crt, *.cer, *.der); give --trust CERT",
                dir.display()
            )));
        }
        Ok(Trust::Certificates(certs))
    }
}

impl Trust {
    /// Checks `bytes` (the payload file `file`) against the trusted certificates.
    /// `Ok(None)` under `--insecure-unsigned`.
    pub fn check(&self, file: &Path, bytes: &[u8]) -> Result<Option<Verified>, Refusal> {
        match self {
            Trust::InsecureUnsigned => Ok(None),
            Trust::Certificates(certs) => {
                let plain: Vec<Certificate> = certs.iter().map(|(c, _)| c.clone()).collect();
                xsplice_sign::verify(bytes, &plain)
                    .map(Some)
                    .map_err(|reason| Refusal {
                        file: file.to_path_buf(),
                        reason,
                    })
            }
        }
    }

    /// Where the certificate that verified a signature came from.
    pub fn origin(&self, v: &Verified) -> Option<&Path> {
        match self {
            Trust::Certificates(c) => c.get(v.certificate).map(|(_, p)| p.as_path()),
            Trust::InsecureUnsigned => None,
        }
    }
}
