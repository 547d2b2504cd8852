//! The run's own cgroup, to cap the number of processes (`pids`, v2 or
//! v1) and, when it is a v2 cgroup, to kill the whole tree at once
//! (`cgroup.kill`). Created under the supervisor's own cgroup when it may write
//! there (as root, or with a delegated subtree); otherwise `run` falls back
//! to the child-subreaper walk and `RLIMIT_NPROC`, and says so.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::Serialize;

const MOUNT: &str = "/sys/fs/cgroup";

/// What this machine's cgroups offer the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupSupport {
    /// A writable v2 cgroup directory with `cgroup.kill`.
    pub kill: Option<PathBuf>,
    /// A writable directory with a `pids` controller (v2 or v1).
    pub pids: Option<PathBuf>,
}

impl CgroupSupport {
    /// Where the run's cgroups would be created, if anywhere.
    pub fn detect() -> CgroupSupport {
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut kill = None;
        let mut pids = None;
        for line in own.lines() {
            let mut fields = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
                continue;
            };
            let path = path.trim_start_matches('/');
            if controllers.is_empty() {
                // v2: the unified root, or `unified/` on a hybrid system.
                for root in [Path::new(MOUNT).to_path_buf(), Path::new(MOUNT).join("unified")] {
                    let dir = root.join(path);
                    // The root cgroup has no `cgroup.kill` of its own; the
                    // run's child cgroup is checked for it when created.
                    if root.join("cgroup.controllers").exists() && dir.join("cgroup.procs").exists() && writable(&dir) {
                        let subtree = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
                        if subtree.split_whitespace().any(|c| c == "pids") {
                            pids.get_or_insert_with(|| dir.clone());
                        }
                        kill = Some(dir);
                        break;
                    }
                }
            } else if controllers.split(',').any(|c| c == "pids") {
                let dir = Path::new(MOUNT).join("pids").join(path);
                if (dir.join("pids.max").exists() || dir.join("cgroup.procs").exists()) && writable(&dir) {
                    pids = Some(dir);
                }
            }
        }
        CgroupSupport { kill, pids }
    }
}

fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// The cgroups of one run; removed when dropped, after killing what is
/// left in them.
#[derive(Debug)]
pub struct RunCgroups {
    kill: Option<PathBuf>,
    pids: Option<PathBuf>,
}

impl RunCgroups {
    /// Creates `name` under each available parent; `pids_max` is written
    /// when there is a pids cgroup.
    /// Creates the run's cgroup `name` when there is a process limit to
    /// enforce and a writable pids cgroup to enforce it with.
    pub fn create(support: &CgroupSupport, name: &str, pids_max: Option<u64>) -> Result<RunCgroups, String> {
        // Joining a cgroup costs the child milliseconds (the kernel takes
        // a global lock that waits for RCU), and the supervisor, as
        // subreaper, kills the whole tree without one: join a cgroup only
        // for a process limit, and use it to kill when it is a v2 one.
        let none = RunCgroups { kill: None, pids: None };
        let Some(max) = pids_max else { return Ok(none) };
        let Some(parent) = &support.pids else { return Ok(none) };
        let dir = parent.join(name);
        fs::create_dir(&dir).map_err(|e| format!("cannot create cgroup `{}`: {e}", dir.display()))?;
        let kill = (Some(parent.as_path()) == support.kill.as_deref() && dir.join("cgroup.kill").exists())
            .then(|| dir.clone());
        let cgroups = RunCgroups { kill, pids: Some(dir.clone()) };
        fs::write(dir.join("pids.max"), max.to_string())
            .map_err(|e| format!("cannot set `{}`: {e}", dir.join("pids.max").display()))?;
        Ok(cgroups)
    }

    /// The run's cgroup directories.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self.kill.iter().chain(self.pids.iter()).cloned().collect();
        dirs.dedup();
        dirs
    }

    pub fn limits_processes(&self) -> bool {
        self.pids.is_some()
    }

    pub fn kills_tree(&self) -> bool {
        self.kill.is_some()
    }

    /// `cgroup.procs` of every run cgroup, opened for the child to write
    /// its own pid into.
    pub fn procs_files(&self) -> Result<Vec<OwnedFd>, String> {
        let mut dirs: Vec<&PathBuf> = self.kill.iter().chain(self.pids.iter()).collect();
        dirs.dedup();
        dirs.into_iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(|e| format!("cannot open `{}`: {e}", path.display()))
            })
            .collect()
    }

    /// Kills every process in the run's cgroups.
    pub fn kill_all(&self) {
        if let Some(dir) = &self.kill {
            let _ = fs::write(dir.join("cgroup.kill"), "1");
        }
        // v1 has no `cgroup.kill`: signal what is listed until none is.
        if let Some(dir) = &self.pids {
            for _ in 0..100 {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                // Zombies stay listed until reaped: they need no signal.
                let pids: Vec<i32> = procs
                    .lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .filter(|&pid| !super::procfs::is_zombie(pid))
                    .collect();
                if pids.is_empty() {
                    break;
                }
                for pid in pids {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}

impl Drop for RunCgroups {
    fn drop(&mut self) {
        self.kill_all();
        let mut dirs: Vec<&PathBuf> = self.kill.iter().chain(self.pids.iter()).collect();
        dirs.dedup();
        for dir in dirs {
            // An emptied cgroup can be removed once its last zombie is
            // reaped; retry briefly.
            for _ in 0..50 {
                if fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}
