//! Path resolution: made absolute, `~` expanded, then walked component by
//! component as the kernel would, following symlinks of the part that
//! exists.
//!
//! A purely lexical `..` before symlinks are followed would judge
//! `ws/link/../x` as `ws/x` while the kernel opens `target-parent/x`; so
//! `..` is applied to the resolved prefix instead. Symlinks under `/proc`
//! are not followed: `/proc/self` would name the judge, not the child.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

const MAX_SYMLINK_HOPS: usize = 40;

/// `~`, `~/x`, `$HOME/x` and `${HOME}/x` with the home directory.
pub(crate) fn expand_home(path: &str, home: &str) -> String {
    let home = home.trim_end_matches('/');
    for prefix in ["~", "$HOME", "${HOME}"] {
        if path == prefix {
            return if home.is_empty() { "/".to_owned() } else { home.to_owned() };
        }
        if let Some(rest) = path.strip_prefix(prefix)
            && rest.starts_with('/')
        {
            return format!("{home}{rest}");
        }
    }
    path.to_owned()
}

/// Resolves a path as requests' paths are: `~` expanded, made absolute
/// against `cwd`, symlinks of the existing prefix followed.
pub fn resolve(path: &str, cwd: &Path, home: &str) -> String {
    resolve_in(path, cwd, home, &[])
}

/// [`resolve`] in a file system view with `mounts` (mount point, what it
/// shows): the path the sandboxed command would reach, on the host.
pub(crate) fn resolve_in(path: &str, cwd: &Path, home: &str, mounts: &[(PathBuf, PathBuf)]) -> String {
    resolve_absolute(&absolute(path, cwd, home), mounts).to_string_lossy().into_owned()
}

/// `path` with `~` expanded, made absolute against `cwd`, nothing resolved.
pub(crate) fn absolute(path: &str, cwd: &Path, home: &str) -> PathBuf {
    let expanded = expand_home(path, home);
    if expanded.starts_with('/') { PathBuf::from(expanded) } else { cwd.join(expanded) }
}

/// An absolute `path` walked as the kernel would: symlinks of the part that
/// exists followed, `..` applied to what they resolved to.
pub(crate) fn resolve_absolute(path: &Path, mounts: &[(PathBuf, PathBuf)]) -> PathBuf {
    walk(path, mounts, &mut Trace::default())
}

/// [`resolve_absolute`], also listing every path the walk went through:
/// `/`, each directory, each symlink, and where it ended.
pub(crate) fn resolve_recording(path: &Path, mounts: &[(PathBuf, PathBuf)]) -> (PathBuf, Vec<PathBuf>) {
    let mut trace = Trace { visited: Some(vec![PathBuf::from("/")]), links: None };
    let resolved = walk(path, mounts, &mut trace);
    (resolved, trace.visited.unwrap_or_default())
}

/// [`resolve_absolute`] on the host, also listing each symlink the walk
/// followed, with its target as written.
pub(crate) fn resolve_listing_links(path: &Path) -> (PathBuf, Vec<(PathBuf, PathBuf)>) {
    let mut trace = Trace { visited: None, links: Some(Vec::new()) };
    let resolved = walk(path, &[], &mut trace);
    (resolved, trace.links.unwrap_or_default())
}

/// What a walk records besides where it ends, when asked.
#[derive(Default)]
struct Trace {
    visited: Option<Vec<PathBuf>>,
    links: Option<Vec<(PathBuf, PathBuf)>>,
}

fn walk(path: &Path, mounts: &[(PathBuf, PathBuf)], trace: &mut Trace) -> PathBuf {
    let mut pending: VecDeque<OsString> = components(path);
    let mut resolved = PathBuf::from("/");
    let mut follow = true;
    let mut hops = 0;
    while let Some(component) = pending.pop_front() {
        if component == "." {
            continue;
        }
        if component == ".." {
            // Leaving a mount's root goes to its mount point's parent.
            if let Some((point, _)) = mounts.iter().find(|(_, shown)| *shown == resolved) {
                resolved = point.clone();
            }
            resolved.pop();
            continue;
        }
        let mut candidate = resolved.join(&component);
        if let Some((_, shown)) = mounts.iter().find(|(point, _)| *point == candidate) {
            candidate = shown.clone();
        }
        if let Some(visited) = &mut trace.visited {
            visited.push(candidate.clone());
        }
        if follow && !candidate.starts_with("/proc") {
            match std::fs::symlink_metadata(&candidate) {
                Ok(metadata) if metadata.file_type().is_symlink() && hops < MAX_SYMLINK_HOPS => {
                    hops += 1;
                    if let Ok(target) = std::fs::read_link(&candidate) {
                        if let Some(links) = &mut trace.links {
                            links.push((candidate.clone(), target.clone()));
                        }
                        if target.is_absolute() {
                            resolved = PathBuf::from("/");
                        }
                        for part in components(&target).into_iter().rev() {
                            pending.push_front(part);
                        }
                        continue;
                    }
                }
                Ok(_) => {}
                // Past the first missing component nothing can be a symlink.
                Err(_) => follow = false,
            }
        }
        resolved = candidate;
    }
    resolved
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(name.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::CurDir => Some(OsString::from(".")),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_and_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let ws = root.join("ws");
        std::fs::create_dir_all(ws.join("src")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", ws.join("etc-link")).expect("symlink");
        std::os::unix::fs::symlink("src", ws.join("rel-link")).expect("symlink");
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::os::unix::fs::symlink(root.join("a/b"), ws.join("deep")).expect("symlink");
        std::os::unix::fs::symlink("loop", ws.join("loop")).expect("symlink");

        let r = |p: &str| resolve(p, &ws, "/home/u");
        assert_eq!(r("src/../x"), format!("{}/x", ws.display()));
        assert_eq!(r("etc-link/shadow"), "/etc/shadow");
        assert_eq!(r("rel-link/main.rs"), format!("{}/src/main.rs", ws.display()));
        // `..` after a symlink leaves from where the link points, as the kernel does.
        assert_eq!(r("deep/../x"), format!("{}/a/x", root.display()));
        assert_eq!(r("~/.ssh/id_rsa"), "/home/u/.ssh/id_rsa");
        assert_eq!(r("$HOME/.aws/credentials"), "/home/u/.aws/credentials");
        assert_eq!(r("/../../etc/./passwd"), "/etc/passwd");
        assert_eq!(r("missing/../../x"), format!("{}/x", root.display()));
        // A symlink loop ends, judged at the loop.
        assert!(r("loop/x").ends_with("/x"));
        assert_eq!(r("/proc/self/environ"), "/proc/self/environ");
    }

    #[test]
    fn a_mount_view_maps_what_the_command_sees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        let private = root.join("private");
        std::fs::create_dir_all(private.join("kept")).expect("mkdir");
        let kept = root.join("real-ws");
        std::fs::create_dir_all(&kept).expect("mkdir");
        let mounts = vec![(PathBuf::from("/tmp"), private.clone()), (private.join("kept"), kept.clone())];
        let r = |p: &str| resolve_in(p, Path::new("/"), "/home/u", &mounts);
        assert_eq!(r("/tmp/notes.md"), format!("{}/notes.md", private.display()));
        assert_eq!(r("/tmp"), private.display().to_string());
        assert_eq!(r("/tmp/kept/src"), format!("{}/src", kept.display()));
        assert_eq!(r("/tmp/../etc/passwd"), "/etc/passwd");
        assert_eq!(r("/var/tmp/x"), "/var/tmp/x");
    }
}
