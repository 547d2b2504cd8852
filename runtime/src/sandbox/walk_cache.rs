//! Searches of the workspace remembered between runs.
//!
//! Finding the denied paths and the repositories of a workspace means
//! listing every directory in it: seconds for a big `node_modules`. A
//! directory's entries change only together with its modification and
//! change times, so [`WalkCache`] keeps, for every directory below the
//! workspace, its identity (device, inode, mtime, ctime), its
//! subdirectories and, for each query, what matched among its entries.
//! The next run stats every remembered directory (on all cores) and lists
//! again only those whose identity changed; what a query found in the
//! others is reused without matching one name. One `stat` per directory
//! is the least any search that notices every change can do.
//!
//! Two things could make an identity lie, and neither is trusted:
//! - a directory changed within the timestamp tick in which it was listed
//!   keeps its times, so a directory whose times are less than
//!   [`RACY_SECONDS`] old when it is listed is listed again next time;
//! - setting mtime back (`touch -d`) changes ctime, which user space
//!   cannot set.
//!
//! The cache lives in vtpolicy's state directory, which the run's mounts
//! keep read-only for the command. A cache that cannot be read is
//! ignored (the run lists everything); one that cannot be written costs
//! only time.

// Node indices are positions in `Tree::nodes` that the tree itself hands
// out (children, subtree ends); a loaded file's are checked to nest before
// any is used.
#![allow(clippy::indexing_slicing)]

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use vtpolicy_compiler::profile::landlock::{FileKind, FileSystem, FindQuery, find_by_walking, join};

use super::fs::{HostFileSystem, host_path};

/// Directories whose times are younger than this when listed are listed
/// again by the next run.
const RACY_SECONDS: i64 = 2;

/// Queries remembered per directory (one bit each); more are answered by
/// walking.
const MAX_KEYS: usize = 8;

const MAGIC: &[u8] = b"vtpolicy walk cache 3\n";

/// The host file system, with [`FileSystem::find`] below one root
/// answered from, and saved to, a cache file.
pub struct WalkCache {
    /// The workspace, as the compiler spells paths.
    root: String,
    file: Option<PathBuf>,
    tree: Mutex<Tree>,
}

/// A directory's identity: when it changes, its entries may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DirId {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl DirId {
    fn of(meta: &std::fs::Metadata) -> DirId {
        DirId {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }

    /// Old enough, at `now` (seconds), that a change would have moved it.
    fn settled(&self, now: i64) -> bool {
        self.mtime.0 < now - RACY_SECONDS && self.ctime.0 < now - RACY_SECONDS
    }
}

type Entries = Vec<(String, Option<FileKind>)>;

/// One directory, in a tree kept in preorder: the subtree of node `i` is
/// `i..end`, its first child (if any) is `i + 1`, the next sibling of a
/// child `c` is `nodes[c].end`.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Start and length in `Tree::names`.
    name: (u32, u32),
    id: DirId,
    /// The identity may be trusted by the next run.
    settled: bool,
    end: u32,
    /// Bit `k`: the matches of query key `k` among the entries are known
    /// (in `Tree::matches`, absent when none).
    known: u8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Match {
    key: u8,
    name: String,
    kind: FileKind,
}

#[derive(Debug, Default)]
struct Tree {
    /// The nodes were checked against the file system in this process.
    validated: bool,
    /// Differs from the cache file.
    changed: bool,
    /// Directories listed by this process.
    listed: usize,
    keys: Vec<String>,
    /// When each key was last asked for (seconds since the epoch): the
    /// least recent one makes room for a new key.
    last_used: Vec<i64>,
    names: String,
    nodes: Vec<Node>,
    matches: HashMap<u32, Vec<Match>>,
    /// This process's listings, by node, until the queries have read them.
    listings: HashMap<u32, Entries>,
}

impl Tree {
    fn name(&self, index: usize) -> &str {
        let (start, len) = self.nodes[index].name;
        &self.names[start as usize..(start + len) as usize]
    }

    /// The slot of query key `text`, made if new (in place of the least
    /// recently used key when all are taken).
    fn key(&mut self, text: String) -> usize {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        if let Some(key) = self.keys.iter().position(|k| *k == text) {
            self.last_used[key] = now;
            return key;
        }
        if self.keys.len() < MAX_KEYS {
            self.keys.push(text);
            self.last_used.push(now);
            self.changed = true;
            return self.keys.len() - 1;
        }
        let oldest = (0..self.keys.len()).min_by_key(|&k| self.last_used[k]).unwrap_or(0);
        for node in &mut self.nodes {
            node.known &= !(1 << oldest);
        }
        for matches in self.matches.values_mut() {
            matches.retain(|m| usize::from(m.key) != oldest);
        }
        self.matches.retain(|_, matches| !matches.is_empty());
        self.keys[oldest] = text;
        self.last_used[oldest] = now;
        self.changed = true;
        oldest
    }

    fn push_name(&mut self, name: &str) -> (u32, u32) {
        let start = self.names.len() as u32;
        self.names.push_str(name);
        (start, name.len() as u32)
    }

    /// The children of `index`, in order.
    fn children(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.nodes[index].end as usize;
        let mut next = index + 1;
        std::iter::from_fn(move || {
            let child = next;
            (child < end).then(|| {
                next = self.nodes[child].end as usize;
                child
            })
        })
    }

    /// Every node's path, in one buffer: `(start, len)` per node.
    fn paths(&self, root: &str) -> (String, Vec<(u32, u32)>) {
        let mut buffer = String::with_capacity(self.names.len() * 4);
        let mut spans = Vec::with_capacity(self.nodes.len());
        let mut parents: Vec<usize> = Vec::new();
        for index in 0..self.nodes.len() {
            while parents.last().is_some_and(|&p| self.nodes[p].end as usize <= index) {
                parents.pop();
            }
            let start = buffer.len();
            match parents.last() {
                None => buffer.push_str(root),
                Some(&parent) => {
                    let (parent_start, parent_len) = spans[parent];
                    buffer.extend_from_within(parent_start as usize..(parent_start + parent_len) as usize);
                    if !buffer.ends_with('/') {
                        buffer.push('/');
                    }
                    buffer.push_str(self.name(index));
                }
            }
            spans.push((start as u32, (buffer.len() - start) as u32));
            parents.push(index);
        }
        (buffer, spans)
    }
}

/// A step of the rebuilding walk.
enum Step {
    /// Visit a directory: its node in the old tree, if it had one.
    Enter { old: Option<usize>, name: String },
    /// Its subtree is done.
    Leave { index: usize, path_len: usize },
}

impl WalkCache {
    /// A cache of searches below `workspace`, kept in `state_dir` when
    /// given. Loads nothing yet.
    pub fn open(state_dir: Option<&Path>, workspace: &Path) -> WalkCache {
        let root = super::fs::encode(workspace.as_os_str());
        let file = state_dir.map(|dir| dir.join("walks").join(format!("{:016x}", fnv1a(root.as_bytes()))));
        WalkCache { root, file, tree: Mutex::new(Tree::default()) }
    }

    /// Writes what this process learnt, if anything, for the next run;
    /// drops its listings.
    pub fn save(&self) -> Result<(), String> {
        let mut tree = self.tree.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tree.listings = HashMap::new();
        let Some(file) = &self.file else { return Ok(()) };
        if !tree.changed || tree.nodes.is_empty() {
            return Ok(());
        }
        let bytes = encode_tree(&self.root, &tree);
        let dir = file.parent().unwrap_or(Path::new("/"));
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let temporary = dir.join(format!(".{}.{:016x}", std::process::id(), fnv1a(&bytes)));
        let written = std::fs::File::create(&temporary)
            .and_then(|mut out| out.write_all(&bytes))
            .and_then(|()| std::fs::rename(&temporary, file));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(format!("cannot write `{}`: {error}", file.display()));
        }
        tree.changed = false;
        Ok(())
    }

    /// How many directories this process has listed so far.
    pub fn listed(&self) -> usize {
        self.tree.lock().unwrap_or_else(std::sync::PoisonError::into_inner).listed
    }

    fn load(&self) -> Option<Tree> {
        let mut bytes = Vec::new();
        std::fs::File::open(self.file.as_ref()?).ok()?.read_to_end(&mut bytes).ok()?;
        decode_tree(&self.root, &bytes)
    }

    /// Brings the remembered tree up to date with the file system.
    fn validate(&self, tree: &mut Tree) -> Result<(), String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let mut old = self.load().unwrap_or_default();
        let (buffer, spans) = old.paths(&self.root);
        let current = stat_all(&buffer, &spans);
        drop(buffer);
        let mut new = Tree {
            validated: true,
            keys: std::mem::take(&mut old.keys),
            last_used: std::mem::take(&mut old.last_used),
            ..Tree::default()
        };
        let mut path = self.root.clone();
        let mut steps = vec![Step::Enter { old: (!old.nodes.is_empty()).then_some(0), name: String::new() }];
        while let Some(step) = steps.pop() {
            let (old_index, name) = match step {
                Step::Leave { index, path_len } => {
                    new.nodes[index].end = new.nodes.len() as u32;
                    path.truncate(path_len);
                    continue;
                }
                Step::Enter { old, name } => (old, name),
            };
            let path_len = path.len();
            let is_root = new.nodes.is_empty();
            if !is_root {
                if !path.ends_with('/') {
                    path.push('/');
                }
                path.push_str(&name);
            }
            let index = new.nodes.len();
            let fresh = old_index.filter(|&i| old.nodes[i].settled && current[i] == Some(old.nodes[i].id));
            let mut children: Vec<(Option<usize>, String)> = Vec::new();
            match fresh {
                Some(i) => {
                    let mut node = old.nodes[i];
                    node.name = new.push_name(&name);
                    new.nodes.push(node);
                    if let Some(matches) = old.matches.remove(&(i as u32)) {
                        new.matches.insert(index as u32, matches);
                    }
                    children.extend(old.children(i).map(|c| (Some(c), old.name(c).to_owned())));
                }
                None => {
                    new.changed = true;
                    // Stat before listing: a change after the stat moves
                    // the identity the next run compares.
                    let meta = match std::fs::symlink_metadata(host_path(&path)) {
                        Ok(meta) if meta.is_dir() => meta,
                        // Gone, or no longer a directory, since its parent
                        // was listed: the parent's identity moved too.
                        _ if !is_root => {
                            path.truncate(path_len);
                            continue;
                        }
                        Ok(_) => return Err(format!("`{path}` is not a directory")),
                        Err(error) => return Err(format!("cannot read `{path}`: {error}")),
                    };
                    let id = DirId::of(&meta);
                    let listing = HostFileSystem.entries_with_kinds(&path)?;
                    new.listed += 1;
                    let by_name: HashMap<&str, usize> =
                        old_index.map(|i| old.children(i).map(|c| (old.name(c), c)).collect()).unwrap_or_default();
                    children.extend(
                        listing
                            .iter()
                            .filter(|(_, kind)| *kind == Some(FileKind::Dir))
                            .map(|(child, _)| (by_name.get(child.as_str()).copied(), child.clone())),
                    );
                    let name = new.push_name(&name);
                    new.nodes.push(Node { name, id, settled: id.settled(now), end: 0, known: 0 });
                    new.listings.insert(index as u32, listing);
                }
            }
            steps.push(Step::Leave { index, path_len });
            for (old, name) in children.into_iter().rev() {
                steps.push(Step::Enter { old, name });
            }
        }
        if new.nodes.len() != old.nodes.len() {
            new.changed = true;
        }
        *tree = new;
        Ok(())
    }

    /// The node of `path`, if it lies at or below the root and was seen.
    fn locate(&self, tree: &Tree, path: &str) -> Option<usize> {
        let rest = if path == self.root { "" } else { path.strip_prefix(&self.root)?.strip_prefix('/')? };
        let mut index = 0;
        for name in rest.split('/').filter(|n| !n.is_empty()) {
            index = tree.children(index).find(|&c| tree.name(c) == name)?;
        }
        Some(index)
    }
}

impl FileSystem for WalkCache {
    fn kind(&self, path: &str) -> Option<FileKind> {
        HostFileSystem.kind(path)
    }

    fn entries(&self, path: &str) -> Result<Vec<String>, String> {
        HostFileSystem.entries(path)
    }

    fn entries_with_kinds(&self, path: &str) -> Result<Entries, String> {
        HostFileSystem.entries_with_kinds(path)
    }

    fn canonical(&self, path: &str) -> Option<String> {
        HostFileSystem.canonical(path)
    }

    fn find(&self, root: &str, query: &dyn FindQuery) -> Result<Vec<(String, FileKind)>, String> {
        if !(root == self.root || root.strip_prefix(&self.root).is_some_and(|rest| rest.starts_with('/'))) {
            return find_by_walking(&HostFileSystem, root, query);
        }
        let mut tree = self.tree.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !tree.validated {
            self.validate(&mut tree)?;
        }
        let Some(start) = self.locate(&tree, root) else {
            return find_by_walking(&HostFileSystem, root, query);
        };
        let key = tree.key(query.key(root));
        let every_directory = query.reaches_all_below(root);
        let mut found = Vec::new();
        let mut path = root.to_owned();
        // The directories being searched, innermost last: (node, path
        // length before its name, it has matches for this key).
        let mut open: Vec<(usize, usize, bool)> = Vec::new();
        let end = tree.nodes[start].end as usize;
        let mut index = start;
        while index < end {
            while let Some(&(node, path_len, _)) = open.last()
                && tree.nodes[node].end as usize <= index
            {
                open.pop();
                path.truncate(path_len);
            }
            let path_len = path.len();
            if let Some(&(parent, _, parent_matched)) = open.last() {
                let name = tree.name(index);
                // A matched directory is not searched below.
                let matched = parent_matched
                    && tree
                        .matches
                        .get(&(parent as u32))
                        .is_some_and(|matches| matches.iter().any(|m| usize::from(m.key) == key && m.name == name));
                if matched {
                    index = tree.nodes[index].end as usize;
                    continue;
                }
                if !path.ends_with('/') {
                    path.push('/');
                }
                path.push_str(name);
            }
            if !every_directory && !query.reaches(&path) {
                path.truncate(path_len);
                index = tree.nodes[index].end as usize;
                continue;
            }
            if tree.nodes[index].known & (1 << key) == 0 {
                let listing = match tree.listings.remove(&(index as u32)) {
                    Some(listing) => listing,
                    None => {
                        tree.listed += 1;
                        HostFileSystem.entries_with_kinds(&path)?
                    }
                };
                let matched: Vec<Match> = listing
                    .iter()
                    .filter_map(|(name, kind)| Some((name, (*kind)?)))
                    .filter(|(name, _)| query.matches(&join(&path, name)))
                    .map(|(name, kind)| Match { key: key as u8, name: name.clone(), kind })
                    .collect();
                if !matched.is_empty() {
                    tree.matches.entry(index as u32).or_default().extend(matched);
                }
                tree.nodes[index].known |= 1 << key;
                tree.listings.insert(index as u32, listing);
                tree.changed = true;
            }
            let mut has_matches = false;
            if let Some(matches) = tree.matches.get(&(index as u32)) {
                for m in matches.iter().filter(|m| usize::from(m.key) == key) {
                    has_matches = true;
                    found.push((join(&path, &m.name), m.kind));
                }
            }
            open.push((index, path_len, has_matches));
            index += 1;
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found)
    }
}

/// The identity of each path that is a directory, on every core.
fn stat_all(buffer: &str, spans: &[(u32, u32)]) -> Vec<Option<DirId>> {
    let stat = |&(start, len): &(u32, u32)| {
        let path = &buffer[start as usize..(start + len) as usize];
        std::fs::symlink_metadata(host_path(path)).ok().filter(|m| m.is_dir()).map(|m| DirId::of(&m))
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    if spans.len() < 4096 || threads == 1 {
        return spans.iter().map(stat).collect();
    }
    let chunk = spans.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            spans.chunks(chunk).map(|part| scope.spawn(move || part.iter().map(stat).collect::<Vec<_>>())).collect();
        // A thread that panicked leaves its directories unknown: listed.
        let mut out = Vec::with_capacity(spans.len());
        for (handle, part) in handles.into_iter().zip(spans.chunks(chunk)) {
            out.extend(handle.join().unwrap_or_else(|_| vec![None; part.len()]));
        }
        out
    })
}

/// A stable hash for file names (the standard hasher may change).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn kind_code(kind: FileKind) -> u8 {
    match kind {
        FileKind::Dir => 0,
        FileKind::File => 1,
        FileKind::CharDevice => 2,
        FileKind::Symlink => 3,
        FileKind::Other => 4,
    }
}

fn code_kind(code: u8) -> Option<FileKind> {
    Some(match code {
        0 => FileKind::Dir,
        1 => FileKind::File,
        2 => FileKind::CharDevice,
        3 => FileKind::Symlink,
        4 => FileKind::Other,
        _ => return None,
    })
}

/// The cache file: the magic line, the root, the query keys with when
/// they were last used, the nodes in preorder, then the matches.
fn encode_tree(root: &str, tree: &Tree) -> Vec<u8> {
    let mut out = Writer(MAGIC.to_vec());
    out.text(root);
    out.u32(tree.keys.len() as u32);
    for (key, used) in tree.keys.iter().zip(&tree.last_used) {
        out.text(key);
        out.u64(*used as u64);
    }
    out.u32(tree.nodes.len() as u32);
    for (index, node) in tree.nodes.iter().enumerate() {
        out.text(tree.name(index));
        for value in [node.id.dev, node.id.ino] {
            out.u64(value);
        }
        for value in [node.id.mtime.0, node.id.mtime.1, node.id.ctime.0, node.id.ctime.1] {
            out.u64(value as u64);
        }
        out.0.push(u8::from(node.settled));
        out.u32(node.end);
        out.0.push(node.known);
    }
    let mut matches: Vec<(u32, &Match)> =
        tree.matches.iter().flat_map(|(node, list)| list.iter().map(move |m| (*node, m))).collect();
    matches.sort_by(|a, b| (a.0, a.1.key, &a.1.name).cmp(&(b.0, b.1.key, &b.1.name)));
    out.u32(matches.len() as u32);
    for (node, m) in matches {
        out.u32(node);
        out.0.push(m.key);
        out.text(&m.name);
        out.0.push(kind_code(m.kind));
    }
    out.0
}

/// The tree of a cache file, `None` unless it is whole, consistent and
/// for `root`.
fn decode_tree(root: &str, bytes: &[u8]) -> Option<Tree> {
    let mut input = Reader(bytes.strip_prefix(MAGIC)?);
    if input.text()? != root {
        return None;
    }
    let key_count = input.u32()? as usize;
    if key_count > MAX_KEYS {
        return None;
    }
    let mut keys = Vec::with_capacity(key_count);
    let mut last_used = Vec::with_capacity(key_count);
    for _ in 0..key_count {
        keys.push(input.text()?.to_owned());
        last_used.push(input.u64()? as i64);
    }
    let count = input.u32()? as usize;
    let mut tree = Tree { keys, last_used, ..Tree::default() };
    tree.nodes.reserve(count.min(bytes.len() / 60));
    for index in 0..count {
        let name = input.text()?;
        // The root has no name; every other name is one path segment.
        let valid_name =
            if index == 0 { name.is_empty() } else { !matches!(name, "" | "." | "..") && !name.contains('/') };
        if !valid_name {
            return None;
        }
        let name = tree.push_name(name);
        let id = DirId {
            dev: input.u64()?,
            ino: input.u64()?,
            mtime: (input.u64()? as i64, input.u64()? as i64),
            ctime: (input.u64()? as i64, input.u64()? as i64),
        };
        let settled = input.byte()? == 1;
        let end = input.u32()?;
        let known = input.byte()?;
        if (end as usize) <= index || end as usize > count || u32::from(known) >> key_count != 0 {
            return None;
        }
        tree.nodes.push(Node { name, id, settled, end, known });
    }
    // Subtrees nest: each one ends within its parent's.
    let mut open: Vec<u32> = Vec::new();
    for (index, node) in tree.nodes.iter().enumerate() {
        while open.last().is_some_and(|&end| end as usize <= index) {
            open.pop();
        }
        if open.last().is_some_and(|&end| node.end > end) || (index > 0 && open.is_empty()) {
            return None;
        }
        open.push(node.end);
    }
    for _ in 0..input.u32()? {
        let node = input.u32()?;
        let key = input.byte()?;
        let name = input.text()?.to_owned();
        let kind = code_kind(input.byte()?)?;
        if node as usize >= count || usize::from(key) >= key_count {
            return None;
        }
        tree.matches.entry(node).or_default().push(Match { key, name, kind });
    }
    input.0.is_empty().then_some(tree)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, value: u32) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }

    fn text(&mut self, text: &str) {
        self.u32(text.len() as u32);
        self.0.extend_from_slice(text.as_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.0.len() < count {
            return None;
        }
        let (head, rest) = self.0.split_at(count);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn text(&mut self) -> Option<&'a str> {
        let len = self.u32()? as usize;
        std::str::from_utf8(self.take(len)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries with one name, anywhere.
    struct Named(&'static str);

    impl FindQuery for Named {
        fn key(&self, _root: &str) -> String {
            format!("test {}", self.0)
        }

        fn reaches(&self, _dir: &str) -> bool {
            true
        }

        fn matches(&self, path: &str) -> bool {
            path.rsplit('/').next() == Some(self.0)
        }
    }

    #[test]
    fn the_least_recently_used_question_makes_room() {
        let (_dir, state, workspace) = tree();
        let root = super::super::fs::encode(workspace.as_os_str());
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "index.js"];
        for name in names {
            let cache = WalkCache::open(Some(&state), &workspace);
            let walked = find_by_walking(&HostFileSystem, &root, &Named(name)).expect("walked");
            assert_eq!(cache.find(&root, &Named(name)).expect("found"), walked, "{name}");
            cache.save().expect("saved");
            std::thread::sleep(std::time::Duration::from_millis(1100));
        }
        let cache = WalkCache::open(Some(&state), &workspace);
        assert_eq!(cache.find(&root, &Named("index.js")).expect("found").len(), 20);
        assert_eq!(cache.find(&root, &Named("a")).expect("found").len(), 0);
        let tree = cache.tree.lock().expect("lock");
        assert_eq!(tree.keys.len(), MAX_KEYS);
        assert!(tree.keys.contains(&"test index.js".to_owned()) && tree.keys.contains(&"test a".to_owned()));
        assert!(!tree.keys.contains(&"test b".to_owned()), "the oldest question was dropped: {:?}", tree.keys);
    }

    fn tree() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let workspace = root.join("ws");
        for package in 0..20 {
            let lib = workspace.join(format!("node_modules/p{package}/lib/deep"));
            std::fs::create_dir_all(&lib).expect("mkdir");
            std::fs::write(lib.join("index.js"), "").expect("write");
        }
        std::fs::write(workspace.join("node_modules/p3/.env"), "SECRET").expect("write");
        (dir, root.join("state"), workspace)
    }

    fn search(state: &Path, workspace: &Path) -> (Vec<String>, usize) {
        let cache = WalkCache::open(Some(state), workspace);
        let root = super::super::fs::encode(workspace.as_os_str());
        let found = cache.find(&root, &Named(".env")).expect("found");
        let walked = find_by_walking(&HostFileSystem, &root, &Named(".env")).expect("walked");
        assert_eq!(found, walked, "the cache answers as a walk does");
        cache.save().expect("saved");
        (found.into_iter().map(|(path, _)| path).collect(), cache.listed())
    }

    #[test]
    fn a_change_in_the_tick_of_the_listing_is_not_missed() {
        let (_dir, state, workspace) = tree();
        let (found, listed) = search(&state, &workspace);
        assert_eq!(found.len(), 1);
        assert_eq!(listed, 62, "every directory is listed the first time");
        // Within the same second: the times need not have moved.
        std::fs::write(workspace.join("node_modules/p7/lib/deep/.env"), "SECRET").expect("write");
        let (found, _) = search(&state, &workspace);
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn a_settled_tree_is_not_listed_again_and_every_change_is_seen() {
        let (_dir, state, workspace) = tree();
        search(&state, &workspace);
        std::thread::sleep(std::time::Duration::from_millis(1000 * RACY_SECONDS as u64 + 1100));
        // The first search's directories were too young to trust.
        search(&state, &workspace);
        let (found, listed) = search(&state, &workspace);
        assert_eq!((found.len(), listed), (1, 0), "a settled tree is answered from the cache");
        // Another question, asked by another run, keeps the first one's answers.
        let other = WalkCache::open(Some(&state), &workspace);
        let root = super::super::fs::encode(workspace.as_os_str());
        assert_eq!(other.find(&root, &Named("index.js")).expect("found").len(), 20);
        assert_eq!(other.listed(), 62, "a new question lists every directory once");
        other.save().expect("saved");
        let (_, listed) = search(&state, &workspace);
        assert_eq!(listed, 0, "the first question's answers were kept");

        // A new match deep down: only its directory is listed again.
        let deep = workspace.join("node_modules/p9/lib/deep");
        std::fs::write(deep.join(".env"), "SECRET").expect("write");
        let (found, listed) = search(&state, &workspace);
        assert_eq!((found.len(), listed), (2, 1), "{found:?}");

        // Times set back to what the cache holds still show the change
        // (ctime moves).
        let meta = std::fs::metadata(&deep).expect("stat");
        std::thread::sleep(std::time::Duration::from_millis(1000 * RACY_SECONDS as u64 + 1100));
        search(&state, &workspace);
        std::fs::remove_file(deep.join(".env")).expect("remove");
        let old = std::fs::FileTimes::new()
            .set_modified(meta.modified().expect("mtime"))
            .set_accessed(meta.accessed().expect("atime"));
        std::fs::File::open(&deep).expect("open").set_times(old).expect("utimes");
        let (found, _) = search(&state, &workspace);
        assert_eq!(found.len(), 1, "{found:?}");

        // A directory swapped for another one with the same name.
        std::fs::rename(workspace.join("node_modules/p3"), workspace.join("p3-moved")).expect("rename");
        std::fs::create_dir_all(workspace.join("node_modules/p3/x")).expect("mkdir");
        std::fs::write(workspace.join("node_modules/p3/x/.env"), "SECRET").expect("write");
        let (found, _) = search(&state, &workspace);
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn a_matched_directory_is_not_searched_below() {
        let (_dir, state, workspace) = tree();
        std::fs::create_dir_all(workspace.join("vendor/.env/inner")).expect("mkdir");
        std::fs::write(workspace.join("vendor/.env/inner/.env"), "SECRET").expect("write");
        for _ in 0..2 {
            let (found, _) = search(&state, &workspace);
            assert_eq!(found.len(), 2, "{found:?}");
            assert!(found.iter().any(|p| p.ends_with("vendor/.env")), "{found:?}");
        }
    }

    #[test]
    fn a_damaged_or_foreign_cache_is_ignored() {
        let (_dir, state, workspace) = tree();
        search(&state, &workspace);
        let file = std::fs::read_dir(state.join("walks")).expect("walks").flatten().next().expect("file").path();
        let bytes = std::fs::read(&file).expect("read");
        for cut in [0, MAGIC.len(), bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&file, &bytes[..cut]).expect("write");
            let (found, listed) = search(&state, &workspace);
            assert_eq!((found.len(), listed), (1, 62), "cut at {cut}");
        }
        assert!(decode_tree("/elsewhere", &bytes).is_none());
        assert!(decode_tree(&super::super::fs::encode(workspace.as_os_str()), &bytes).is_some());
    }
}
