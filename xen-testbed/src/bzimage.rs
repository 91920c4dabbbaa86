//! Taking the kernel ELF out of a bzImage (`vmlinuz`).
//!
//! Xen unpacks a compressed dom0 kernel itself, which under QEMU's TCG takes about six
//! seconds for Debian's xz-compressed kernel; handing it the uncompressed ELF
//! instead skips that. The boot protocol header gives where the compressed payload
//! sits (`setup_sects` at 0x1f1, `payload_offset`/`payload_length` at 0x248, boot
//! protocol 2.08 or later); the kernel build appends the uncompressed size (32-bit
//! little-endian) to the compressed stream, so the payload's last four bytes are
//! that size.

use std::io::Write;
use std::process::{Command, Stdio};

/// The compressed payload of a bzImage and the size it should decompress to, or
/// `None` if `image` is not a bzImage with a payload description.
fn payload(image: &[u8]) -> Option<(&[u8], usize)> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(image.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(image.get(o..o + 4)?.try_into().ok()?));
    if image.get(0x202..0x206)? != b"HdrS" || u16_at(0x206)? < 0x208 {
        return None;
    }
    let setup_sects = match *image.get(0x1f1)? {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512 + usize::try_from(u32_at(0x248)?).ok()?;
    let len = usize::try_from(u32_at(0x24c)?).ok()?;
    let data = image.get(start..start.checked_add(len)?)?;
    let (stream, size) = data.split_at(data.len().checked_sub(4)?);
    Some((
        stream,
        usize::try_from(u32::from_le_bytes(size.try_into().ok()?)).ok()?,
    ))
}

/// The decompressor for a stream, by its magic number.
fn tool(stream: &[u8]) -> Option<&'static str> {
    if stream.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if stream.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if stream.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if stream.starts_with(b"BZh") {
        Some("bzip2")
    } else {
        None
    }
}

/// `TOOL -dc` with `input` on standard input.
fn pipe(tool: &str, input: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
    .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The uncompressed kernel ELF inside a bzImage, or `None` when `image` is not a
/// bzImage, its compression is not one we can undo, or the result is not the ELF of
/// the announced size (the caller then boots the bzImage as it is).
pub fn vmlinux(image: &[u8]) -> Option<Vec<u8>> {
    let (stream, size) = payload(image)?;
    let elf = pipe(tool(stream)?, stream)?;
    (elf.len() == size && elf.starts_with(b"\x7fELF")).then_some(elf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bzimage(stream: &[u8], size: u32) -> Vec<u8> {
        let mut img = vec![0u8; 0x400];
        img[0x1f1] = 1; // setup_sects: payload area starts at 1024
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x206..0x208].copy_from_slice(&0x20fu16.to_le_bytes());
        img[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        let len = u32::try_from(stream.len() + 4).unwrap();
        img[0x24c..0x250].copy_from_slice(&len.to_le_bytes());
        img.extend_from_slice(&[0; 16]);
        img.extend_from_slice(stream);
        img.extend_from_slice(&size.to_le_bytes());
        img.extend_from_slice(b"trailing");
        img
    }

    #[test]
    fn gzip_payload() {
        let elf = b"\x7fELF and the rest of a kernel".to_vec();
        let mut gz = Command::new("gzip")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        gz.stdin.take().unwrap().write_all(&elf).unwrap();
        let stream = gz.wait_with_output().unwrap().stdout;
        let size = u32::try_from(elf.len()).unwrap();
        assert_eq!(vmlinux(&fake_bzimage(&stream, size)), Some(elf));
        // A size that does not match: not trusted.
        assert_eq!(vmlinux(&fake_bzimage(&stream, size + 1)), None);
    }

    #[test]
    fn not_a_bzimage() {
        assert_eq!(vmlinux(b"\x7fELF"), None);
        assert_eq!(vmlinux(&fake_bzimage(b"unknown", 3)), None);
    }
}
