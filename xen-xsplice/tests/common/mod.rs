//! A runtime-sim-backed transport (the test double for the privcmd one) and
//! payloads for runtime-sim's tiny committed image, spoken to through Xen 4.17's
//! livepatch interface.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime_sim::boot::SimConfig;
use runtime_sim::hypercall::{GuestMemory, do_sysctl};
use runtime_sim::hypervisor::Hypervisor;
use runtime_sim::livepatch::Interface;
use runtime_sim::policy::Policy;
use runtime_sim::signature::Trust as SimTrust;
use xen_xsplice::run::{self, Command, Config, Console};
use xen_xsplice::transport::{Reply, Transport, TransportError};
use xen_xsplice::trust::TrustSources;
use xsplice_abi::livepatch::SYSCTL_SIZE;
use xsplice_payload::{
    ContentKind, ContentSection, Entry, Flavour, Machine, Payload, Symbol, SymbolDef, SymbolKind,
};

/// runtime-sim as a hypervisor behind the transport: each sysctl places its
/// buffers and structure in a `GuestMemory` and goes through `do_sysctl`, the
/// byte entry (decoded with xsplice-abi).
pub struct Sim {
    pub hv: Hypervisor,
    pub guest: GuestMemory,
    /// Hypercalls made.
    pub calls: usize,
    /// Pauses before deferred work runs (0: at the first pause).
    pub lag: usize,
    /// Never run deferred work (an action that never completes).
    pub stuck: bool,
    pauses_since_action: usize,
}

impl Sim {
    /// runtime-sim's tiny committed image, speaking Xen's livepatch interface.
    pub fn boot() -> Sim {
        let config = SimConfig {
            interface: Some(Interface::Livepatch),
            ..runtime_sim::fuzz::small_config()
        };
        Sim::boot_image(runtime_sim::fuzz::tiny_image(), config)
    }

    /// Any image (a real `xen-syms` speaks livepatch by itself).
    pub fn boot_image(image: xsplice_image::Image, config: SimConfig) -> Sim {
        let hv = Hypervisor::boot(image, config, Policy::default(), SimTrust::none())
            .expect("the image boots");
        Sim {
            hv,
            guest: GuestMemory::new(),
            calls: 0,
            lag: 0,
            stuck: false,
            pauses_since_action: 0,
        }
    }

    /// (name, state) of every payload, in upload order.
    pub fn loaded(&self) -> Vec<(String, String)> {
        self.hv
            .payloads()
            .iter()
            .map(|r| (r.id.to_string(), r.livepatch_status().state_name()))
            .collect()
    }
}

impl Transport for Sim {
    fn sysctl(
        &mut self,
        buffers: &mut [Vec<u8>],
        build: &dyn Fn(&[u64]) -> [u8; SYSCTL_SIZE],
    ) -> Result<Reply, TransportError> {
        self.calls += 1;
        let addrs: Vec<u64> = buffers.iter().map(|b| self.guest.alloc(b)).collect();
        let op = build(&addrs);
        let at = self.guest.alloc(&op);
        let ret = do_sysctl(&mut self.hv, 0, &mut self.guest, at);
        let back = self
            .guest
            .read(at, SYSCTL_SIZE as u64)
            .expect("mapped")
            .try_into()
            .expect("136");
        for (b, &a) in buffers.iter_mut().zip(&addrs) {
            let n = b.len() as u64;
            b.copy_from_slice(self.guest.read(a, n).expect("mapped"));
        }
        if self.hv.pending().is_none() {
            self.pauses_since_action = 0;
        }
        Ok(Reply { ret, op: back })
    }

    fn pause(&mut self, _d: Duration) {
        if self.hv.pending().is_some() && !self.stuck {
            if self.pauses_since_action >= self.lag {
                self.hv.settle();
            }
            self.pauses_since_action += 1;
        }
    }
}

fn func(name: &str, section: usize, size: u64) -> Symbol {
    Symbol {
        name: name.into(),
        kind: SymbolKind::Func,
        global: true,
        definition: Some(SymbolDef {
            section,
            offset: 0,
            size,
        }),
    }
}

/// A livepatch payload for the tiny image replacing `target` by `code`.
pub fn payload(name: &str, target: &str, code: Vec<u8>, depends: Option<Vec<u8>>) -> Vec<u8> {
    let image = runtime_sim::fuzz::tiny_image();
    let sym = image.lookup(target).expect("tiny image symbol");
    let len = code.len() as u32;
    let p = Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: name.into(),
        target_build_id: image.build_id().to_vec(),
        depends: depends.into_iter().collect(),
        new: vec![Entry::trampoline(
            Machine::X86_64,
            target,
            sym.addr,
            sym.size as u32,
            xsplice_payload::ContentRef {
                section: 0,
                offset: 0,
            },
            len,
        )],
        old: None,
        sections: vec![ContentSection::with_data(
            &format!(".text.{target}"),
            ContentKind::Text,
            16,
            code,
        )],
        symbols: vec![func(target, 0, u64::from(len))],
    };
    xsplice_payload::write::to_bytes(&p, Flavour::Livepatch).expect("a valid livepatch payload")
}

/// `fix`: `tiny_version` returns 0x0407 (mov eax, 0x407; ret).
pub fn fix_version() -> Vec<u8> {
    payload(
        "fix",
        "tiny_version",
        vec![0xb8, 0x07, 0x04, 0, 0, 0xc3],
        None,
    )
}

/// `sum`: `tiny_sum` returns 5.
pub fn fix_sum() -> Vec<u8> {
    payload("sum", "tiny_sum", vec![0xb8, 5, 0, 0, 0, 0xc3], None)
}

/// The payload's own build-id (`.note.gnu.build-id`).
pub fn build_id(bytes: &[u8]) -> Vec<u8> {
    use object::{Object, ObjectSection};
    let f = object::File::parse(bytes).expect("ELF");
    let s = f
        .section_by_name(".note.gnu.build-id")
        .expect("build-id note");
    let d = s.data().expect("data");
    d[16..].to_vec()
}

/// A throw-away key and certificate made with openssl in `dir`.
pub fn keypair(dir: &Path, cn: &str) -> (xsplice_sign::SigningKey, PathBuf) {
    let key = dir.join(format!("{cn}.key"));
    let cert = dir.join(format!("{cn}.pem"));
    let st = std::process::Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(["-subj", &format!("/CN={cn}")])
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let k = xsplice_sign::SigningKey::from_pem_or_der(&std::fs::read(&key).unwrap(), None).unwrap();
    (k, cert)
}

pub fn sign(bytes: &[u8], key: &xsplice_sign::SigningKey, cert: &Path) -> Vec<u8> {
    let c = xsplice_sign::Certificate::from_pem_or_der(&std::fs::read(cert).unwrap()).unwrap();
    xsplice_sign::sign(bytes, key, &c, &xsplice_sign::SignOptions::default()).unwrap()
}

/// What one command printed and how it ended.
pub struct Outcome {
    pub out: String,
    pub err: String,
    pub result: Result<(), run::Error>,
    /// Whether the transport was opened.
    pub connected: bool,
}

impl Outcome {
    pub fn code(&self) -> u8 {
        self.result.as_ref().map_or_else(|e| e.exit_code(), |_| 0)
    }
    /// The errno name the hypervisor answered, if that is how it failed.
    pub fn errno(&self) -> Option<String> {
        Some(self.result.as_ref().err()?.errno()?.name())
    }
    pub fn message(&self) -> String {
        self.result
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

pub fn config(command: Command, trust: &[&Path]) -> Config {
    Config {
        command,
        trust: TrustSources {
            certificates: trust.iter().map(|p| p.to_path_buf()).collect(),
            config_file: None,
            insecure_unsigned: false,
        },
        action: run::ActionOptions::default(),
    }
}

/// Runs `cfg` against `sim`.
pub fn exec(sim: &mut Sim, cfg: &Config) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut connected = false;
    let result = {
        let mut con = Console {
            out: &mut out,
            err: &mut err,
        };
        run::run(
            cfg,
            || {
                connected = true;
                Ok(&mut *sim)
            },
            &mut con,
        )
    };
    Outcome {
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
        result,
        connected,
    }
}
