//! A writer for the "newc" cpio format (the one the Linux kernel unpacks as an
//! initramfs): a 110-byte ASCII header per entry, the NUL-terminated name and the data,
//! each padded to 4 bytes, and a final `TRAILER!!!` entry.

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// An archive under construction. Names are written without a leading `/`; every
/// timestamp, owner and inode number is fixed, so the same entries give the same bytes.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
    next_ino: u32,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn dir(&mut self, path: &str, perm: u32) {
        self.entry(path, S_IFDIR | (perm & 0o7777), 2, (0, 0), &[]);
    }

    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (perm & 0o7777), 1, (0, 0), data);
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) {
        self.entry(path, S_IFCHR | (perm & 0o7777), 1, (major, minor), &[]);
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        self.raw_entry("TRAILER!!!", 0, 0, 1, (0, 0), &[]);
        self.buf
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        self.next_ino += 1;
        let ino = self.next_ino;
        let name = path.trim_start_matches('/');
        self.raw_entry(name, ino, mode, nlink, rdev, data);
    }

    fn raw_entry(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) {
        let size = u32::try_from(data.len()).expect("cpio newc entries are limited to 4 GiB");
        let namesize = u32::try_from(name.len() + 1).expect("cpio name too long");
        let (uid, gid, mtime, dev_major, dev_minor, check) = (0, 0, 0, 0, 0, 0);
        // The newc header: magic, then 13 fields as 8 upper-case hex digits, in this order.
        let fields = [
            ino, mode, uid, gid, nlink, mtime, size, dev_major, dev_minor, rdev.0, rdev.1,
            namesize, check,
        ];
        self.buf.extend_from_slice(b"070701");
        for field in fields {
            let hex = format!("{field:08X}");
            self.buf.extend_from_slice(hex.as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, mode, rdev, data)
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    /// Reads the archive back, trailer excluded.
    fn parse(mut bytes: &[u8]) -> Vec<Entry> {
        let mut out = Vec::new();
        let start = bytes.as_ptr() as usize;
        loop {
            assert_eq!(&bytes[..6], b"070701");
            let field = |i: usize| {
                let s = std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap()
            };
            let (mode, size, rmaj, rmin, namesize) =
                (field(1), field(6), field(9), field(10), field(11));
            let name_end = 110 + namesize as usize;
            let name = std::str::from_utf8(&bytes[110..name_end - 1])
                .unwrap()
                .to_string();
            assert_eq!(bytes[name_end - 1], 0);
            let data_start = name_end.next_multiple_of(4);
            let data = bytes[data_start..data_start + size as usize].to_vec();
            let next = (data_start + size as usize).next_multiple_of(4);
            assert!((bytes.as_ptr() as usize - start + next).is_multiple_of(4));
            bytes = &bytes[next..];
            if name == "TRAILER!!!" {
                assert!(bytes.is_empty());
                return out;
            }
            out.push((name, mode, (rmaj, rmin), data));
        }
    }

    #[test]
    fn round_trip() {
        let mut w = Writer::new();
        w.dir("/bin", 0o755);
        w.file("/bin/a", 0o755, b"hello");
        w.symlink("/bin/sh", "busybox");
        w.char_device("/dev/console", 0o600, 5, 1);
        w.file("/empty", 0o644, b"");
        let bytes = w.finish();
        assert!(bytes.len().is_multiple_of(4));
        let entries = parse(&bytes);
        assert_eq!(
            entries,
            vec![
                ("bin".into(), 0o040755, (0, 0), vec![]),
                ("bin/a".into(), 0o100755, (0, 0), b"hello".to_vec()),
                ("bin/sh".into(), 0o120777, (0, 0), b"busybox".to_vec()),
                ("dev/console".into(), 0o020600, (5, 1), vec![]),
                ("empty".into(), 0o100644, (0, 0), vec![]),
            ]
        );
    }
}
