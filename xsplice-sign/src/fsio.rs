//! Atomic file replacement: write a temporary file in the destination's directory,
//! give it the right mode, flush it to disk, rename it over the destination.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A failed write; the destination is untouched.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {what}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub what: &'static str,
    #[source]
    pub source: std::io::Error,
}

/// Replace `dest` with `bytes` atomically. The new file gets the mode of the file it
/// replaces, or `mode_from`'s mode when `dest` does not exist yet (typically the
/// input file), or the temporary file's default (0600) when neither exists.
/// A symbolic link at `dest` is followed: its target is replaced.
pub fn write_atomic(dest: &Path, bytes: &[u8], mode_from: Option<&Path>) -> Result<(), WriteError> {
    let err = |what, source| WriteError {
        path: dest.to_path_buf(),
        what,
        source,
    };
    let target = match fs::canonicalize(dest) {
        Ok(real) => real,
        Err(_) => dest.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let perms = fs::metadata(&target)
        .or_else(|e| match mode_from {
            Some(p) => fs::metadata(p),
            None => Err(e),
        })
        .map(|m| m.permissions())
        .ok();
    let mut tmp = tempfile::Builder::new()
        .prefix(".xsplice-sign.")
        .tempfile_in(&dir)
        .map_err(|e| err("creating a temporary file in its directory", e))?;
    tmp.write_all(bytes)
        .map_err(|e| err("writing the temporary file", e))?;
    if let Some(perms) = perms {
        fs::set_permissions(tmp.path(), perms).map_err(|e| err("setting the file mode", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| err("flushing the temporary file", e))?;
    tmp.persist(&target)
        .map_err(|e| err("renaming the temporary file into place", e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn modes_are_kept_and_links_followed() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        fs::write(&input, b"old").unwrap();
        fs::set_permissions(&input, fs::Permissions::from_mode(0o751)).unwrap();
        // Replacing a file keeps its mode.
        write_atomic(&input, b"new", None).unwrap();
        assert_eq!(
            (fs::read(&input).unwrap(), mode(&input)),
            (b"new".to_vec(), 0o751)
        );
        // A new file takes the mode of `mode_from`.
        let out = dir.path().join("out");
        write_atomic(&out, b"x", Some(&input)).unwrap();
        assert_eq!(mode(&out), 0o751);
        // A symbolic link's target is replaced; the link stays a link.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        write_atomic(&link, b"via link", None).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&input).unwrap(), b"via link");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["in", "link", "out"]);
        // A directory that does not exist: an error naming the path, nothing created.
        let err = write_atomic(&dir.path().join("no/such/file"), b"x", None).unwrap_err();
        assert!(err.to_string().contains("no/such/file"), "{err}");
    }
}
