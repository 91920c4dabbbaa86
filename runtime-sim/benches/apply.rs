//! Prints apply+revert time for payloads of 1, 10, 100 and 1000 functions, and
//! payload validation throughput. Not a test: numbers for the README.
//!
//! `cargo bench -p runtime-sim --bench apply`

use std::process::Command;
use std::time::{Duration, Instant};

use runtime_sim::*;
use xsplice_image::Image;
use xsplice_payload::layout::*;
use xsplice_payload::*;

const N: usize = 1000;

fn image(dir: &std::path::Path) -> Image {
    let mut src = String::new();
    for i in 0..N {
        src += &format!(
            "__attribute__((noipa)) int f{i}(int x) {{ return x * {} + {i} + 100000; }}\n",
            i + 3
        );
    }
    src += "void entry(void) { for (;;) ; }\n";
    std::fs::write(dir.join("many.c"), src).unwrap();
    let st = Command::new("gcc")
        .current_dir(dir)
        .args([
            "-O2",
            "-ffreestanding",
            "-fno-stack-protector",
            "-fno-pie",
            "-no-pie",
            "-nostdlib",
            "-static",
            "-fcf-protection=none",
            "-Wl,-e,entry",
            "-Wl,--build-id",
            "many.c",
            "-o",
            "many",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    Image::from_path(&dir.join("many")).unwrap()
}

fn payload(image: &Image, n: usize) -> Payload {
    let mut p = Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: format!("bench{n}"),
        target_build_id: image.build_id().to_vec(),
        depends: vec![],
        new: vec![],
        old: None,
        sections: vec![],
        symbols: vec![],
    };
    for i in 0..n {
        let s = image.lookup(&format!("f{i}")).unwrap();
        let mut code = vec![0xb8];
        code.extend_from_slice(&(i as u32).to_le_bytes());
        code.push(0xc3);
        p.sections.push(ContentSection::with_data(
            &format!(".text.f{i}"),
            ContentKind::Text,
            16,
            code,
        ));
        p.new.push(Entry {
            symbol: PatchSymbol {
                name: format!("f{i}"),
                label: format!("f{i}+<0x0>"),
            },
            section: SectionInfo {
                address: s.addr,
                size: s.size as u32,
                flags: XSPLICE_SECTION_TEXT,
            },
            reloc: Some(RelocInfo {
                addr: s.addr,
                isns_target: 0,
                isns_added: -4,
                howto: Howto::trampoline(),
            }),
            patch: Patch {
                kind: XSPLICE_PATCH_RELOC_TEXT,
                size: 6,
                addr: 0,
                content: ContentRef {
                    section: i,
                    offset: 0,
                },
            },
        });
    }
    p
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let img = image(dir.path());
    let config = SimConfig {
        max_payload_size: 64 << 20,
        ..SimConfig::default()
    };
    println!("apply+revert (simulated hypervisor, 2 CPUs, all checks):");
    for n in [1, 10, 100, 1000] {
        let bytes = write::to_bytes(&payload(&img, n), Flavour::Xsplice).unwrap();
        let mut hv = Hypervisor::boot(
            Image::parse(img.bytes().to_vec()).unwrap(),
            config.clone(),
            Policy::default(),
            Trust::none(),
        )
        .unwrap();
        let id = PayloadId::new("b").unwrap();
        hv.upload(id, &bytes).unwrap();
        hv.action(&id, Action::Check, 0).unwrap();
        hv.settle();
        let rounds = if n >= 1000 { 5 } else { 50 };
        let mut total = Duration::ZERO;
        for _ in 0..rounds {
            let t = Instant::now();
            hv.action(&id, Action::Apply, 0).unwrap();
            hv.settle();
            hv.action(&id, Action::Revert, 0).unwrap();
            hv.settle();
            total += t.elapsed();
            assert_eq!(hv.get(&id).unwrap(), Status::Reverted);
        }
        println!(
            "  {n:>5} functions: {:>10.3} ms per apply+revert",
            total.as_secs_f64() * 1e3 / rounds as f64
        );
    }
    let bytes = write::to_bytes(&payload(&img, N), Flavour::Xsplice).unwrap();
    let mb = bytes.len() as f64 / 1e6;
    let rounds = 20;
    let t = Instant::now();
    for _ in 0..rounds {
        read::read(&bytes).unwrap();
    }
    let s = t.elapsed().as_secs_f64();
    println!("validation ({} functions, {:.2} MB payload):", N, mb);
    println!(
        "  reader only:          {:>8.1} MB/s",
        mb * rounds as f64 / s
    );
    let mut hv = Hypervisor::boot(img, config, Policy::default(), Trust::none()).unwrap();
    let id = PayloadId::new("b").unwrap();
    let t = Instant::now();
    for _ in 0..rounds {
        hv.upload(id, &bytes).unwrap();
        hv.action(&id, Action::Unload, 0).unwrap();
        hv.settle();
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "  full upload + unload: {:>8.1} MB/s",
        mb * rounds as f64 / s
    );
}
