//! Path helpers on absolute, `/`-separated strings.

use super::*;

/// The leading directory of `glob` that holds no wildcard: `/` for an
/// absolute glob whose first segment already has one (`/x*`), but not for
/// one starting with a wildcard (`/**`, `/*.rs`), which names no
/// directory to carve from.
pub(super) fn literal_prefix(glob: &str) -> String {
    match vtpolicy_engine::glob_literal_dir(glob) {
        _ if !glob.starts_with('/') => String::new(),
        "" if !glob.starts_with("/*") => "/".to_owned(),
        dir => dir.to_owned(),
    }
}

/// `path` equals `dir` or lies below it.
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

pub(super) fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let (parent, _) = path.rsplit_once('/')?;
    Some(if parent.is_empty() { "/" } else { parent })
}

/// The closest ancestor of `path` (itself included) that exists.
pub(super) fn nearest_existing(fs: &dyn FileSystem, path: &str) -> Option<String> {
    let mut current = path;
    loop {
        if fs.kind(current).is_some() {
            return Some(current.to_owned());
        }
        current = parent_of(current)?;
        if current == "/" {
            return Some("/".to_owned());
        }
    }
}

/// `name` in directory `dir`, as the compiler spells paths.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") }
}
