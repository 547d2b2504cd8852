//! The real file system as the Landlock compiler sees it.
//!
//! The compiler works on UTF-8 paths; file names need not be UTF-8. Names
//! are therefore encoded without loss: every byte that is not part of valid
//! UTF-8 becomes `U+F8FF` followed by its two hex digits, and a literal
//! `U+F8FF` is doubled. [`host_path`] turns an encoded path back into the
//! bytes the kernel knows; everything that opens or mounts a compiled path
//! goes through it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use vtpolicy_compiler::profile::landlock::{FileKind, FileSystem};

const ESCAPE: char = '\u{F8FF}';

/// `name` as a lossless UTF-8 string (see the module documentation).
pub(super) fn encode(name: &OsStr) -> String {
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == ESCAPE {
                out.push(ESCAPE);
            }
            out.push(c);
        }
        for byte in chunk.invalid() {
            out.push(ESCAPE);
            out.push_str(&format!("{byte:02x}"));
        }
    }
    out
}

/// The path on the host that `encoded` names.
pub(super) fn host_path(encoded: &str) -> PathBuf {
    if !encoded.contains(ESCAPE) {
        return PathBuf::from(encoded);
    }
    let mut bytes = Vec::new();
    let mut chars = encoded.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            let mut buffer = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            continue;
        }
        if chars.peek() == Some(&ESCAPE) {
            chars.next();
            bytes.extend_from_slice(ESCAPE.encode_utf8(&mut [0u8; 4]).as_bytes());
            continue;
        }
        let hex: String = chars.by_ref().take(2).collect();
        match u8::from_str_radix(&hex, 16) {
            Ok(byte) => bytes.push(byte),
            // Not produced by `encode`: kept as written.
            Err(_) => {
                bytes.extend_from_slice(ESCAPE.encode_utf8(&mut [0u8; 4]).as_bytes());
                bytes.extend_from_slice(hex.as_bytes());
            }
        }
    }
    PathBuf::from(OsString::from_vec(bytes))
}

/// Reads the live file system, never following a final symlink for
/// [`FileSystem::kind`].
pub struct HostFileSystem;

fn kind_of(kind: std::fs::FileType) -> FileKind {
    if kind.is_symlink() {
        FileKind::Symlink
    } else if kind.is_dir() {
        FileKind::Dir
    } else if kind.is_file() {
        FileKind::File
    } else if kind.is_char_device() {
        FileKind::CharDevice
    } else {
        FileKind::Other
    }
}

impl FileSystem for HostFileSystem {
    fn kind(&self, path: &str) -> Option<FileKind> {
        Some(kind_of(std::fs::symlink_metadata(host_path(path)).ok()?.file_type()))
    }

    fn entries(&self, path: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(host_path(path)).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            names.push(encode(&entry.file_name()));
        }
        names.sort();
        Ok(names)
    }

    fn entries_with_kinds(&self, path: &str) -> Result<Vec<(String, Option<FileKind>)>, String> {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(host_path(path)).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            // The listing's own type (d_type); a stat only where the file
            // system does not give one.
            entries.push((encode(&entry.file_name()), entry.file_type().ok().map(kind_of)));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    fn canonical(&self, path: &str) -> Option<String> {
        Some(encode(std::fs::canonicalize(host_path(path)).ok()?.as_os_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_whatever_their_bytes() {
        for raw in
            [&b"plain"[..], b"bad\xffname", b"\xf8\xff", "\u{F8FF}x".as_bytes(), "\u{F8FF}ff".as_bytes(), b"\xc3"]
        {
            let name = OsStr::from_bytes(raw);
            let encoded = encode(name);
            assert_eq!(host_path(&encoded).as_os_str(), name, "{encoded:?}");
        }
        assert_eq!(encode(OsStr::from_bytes(b"bad\xffname")), "bad\u{F8FF}ffname");
    }

    #[test]
    fn a_tree_with_non_utf8_names_is_walked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join(OsStr::from_bytes(b"bad\xffdir"));
        std::fs::create_dir_all(&bad).expect("mkdir");
        std::fs::write(bad.join(".env"), "SECRET").expect("write");
        let root = encode(dir.path().canonicalize().expect("canonical").as_os_str());
        let names = HostFileSystem.entries(&root).expect("listed");
        assert_eq!(names, vec!["bad\u{F8FF}ffdir".to_owned()]);
        let env = format!("{root}/bad\u{F8FF}ffdir/.env");
        assert_eq!(HostFileSystem.kind(&env), Some(FileKind::File));
        assert_eq!(std::fs::read_to_string(host_path(&env)).expect("read"), "SECRET");
    }
}
