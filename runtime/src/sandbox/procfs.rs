//! What `/proc/PID/stat` says about a process.

/// The fields of `/proc/PID/stat` after the command name (which may hold
/// spaces and parentheses): `[0]` the state, `[1]` the parent pid, `[19]`
/// the start time in clock ticks since boot. `None` when the process is gone.
pub fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// A zombie (or dead) process, or one that is gone.
pub fn is_zombie(pid: i32) -> bool {
    stat_fields(pid).and_then(|f| f.first().map(|s| s == "Z" || s == "X")).unwrap_or(true)
}
