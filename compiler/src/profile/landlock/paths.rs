//! Path helpers on absolute, `/`-separated strings.

use super::*;

/// The leading directory of `glob` that holds no wildcard.
pub(super) fn literal_prefix(glob: &str) -> String {
    let mut prefix = String::new();
    if !glob.starts_with('/') {
        return prefix;
    }
    for segment in glob.split('/').skip(1) {
        if segment.contains(['*', '?', '[', '{', '\\']) {
            break;
        }
        prefix.push('/');
        prefix.push_str(segment);
    }
    if prefix.is_empty() && glob.starts_with('/') && !glob.starts_with("/**") && !glob.starts_with("/*") {
        prefix.push('/');
    }
    prefix
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
