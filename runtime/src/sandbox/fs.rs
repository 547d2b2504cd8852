//! The real file system as the Landlock compiler sees it.

use std::os::unix::fs::FileTypeExt;

use vtpolicy_compiler::profile::landlock::{FileKind, FileSystem};

/// Reads the live file system, never following a final symlink for
/// [`FileSystem::kind`].
pub struct HostFileSystem;

impl FileSystem for HostFileSystem {
    fn kind(&self, path: &str) -> Option<FileKind> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        let kind = meta.file_type();
        Some(if kind.is_symlink() {
            FileKind::Symlink
        } else if kind.is_dir() {
            FileKind::Dir
        } else if kind.is_file() {
            FileKind::File
        } else if kind.is_char_device() {
            FileKind::CharDevice
        } else {
            FileKind::Other
        })
    }

    fn entries(&self, path: &str) -> Result<Vec<String>, String> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| e.to_string())? {
            let entry = entry.map_err(|e| e.to_string())?;
            match entry.file_name().into_string() {
                Ok(name) => names.push(name),
                Err(name) => return Err(format!("entry {name:?} is not UTF-8")),
            }
        }
        names.sort();
        Ok(names)
    }

    fn canonical(&self, path: &str) -> Option<String> {
        std::fs::canonicalize(path).ok()?.into_os_string().into_string().ok()
    }
}
