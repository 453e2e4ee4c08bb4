//! CPU time, memory and disk writes of a process, from `/proc` (Linux).

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    stat_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The start time of a `stat` file's process or thread (field 22), in clock ticks since boot.
fn stat_start_ticks(s: &str) -> Option<u64> {
    // As in `stat_cpu_secs`: rest starts at field 3, so field 22 is its 20th.
    s[s.rfind(')')? + 2..]
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// utime + stime of a `stat` file (a process's or a thread's), in seconds.
fn stat_cpu_secs(s: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces: the fields after it follow the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_sec())
}

pub fn self_cpu_secs() -> f64 {
    cpu_secs(std::process::id()).unwrap_or(0.0)
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Peak resident set size (VmHWM), in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_kb(pid, "VmHWM:").map(|kb| kb as f64 / 1024.0)
}

/// Current resident set size (VmRSS), in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    status_kb(pid, "VmRSS:").map(|kb| kb as f64 / 1024.0)
}

/// Bytes the process caused to be written to storage so far (`write_bytes` of `/proc/<pid>/io`:
/// page-cache pages it dirtied, so a page written twice before the kernel flushed it counts
/// once; socket writes do not count).
pub fn written_bytes(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// One thread's counters: utime + stime in seconds, and context switches (voluntary, when it
/// slept or waited, plus involuntary, when the kernel took its core).
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadCounters {
    pub cpu_secs: f64,
    pub switches: u64,
}

/// A thread: its id and start time (in clock ticks since boot), so that a thread id the kernel
/// reused for a new thread is not taken for the old one.
pub type ThreadKey = (u32, u64);

/// Every thread of a process, with its name (`comm`) and counters.
pub fn threads(pid: u32) -> std::collections::HashMap<ThreadKey, (String, ThreadCounters)> {
    let mut all = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return all;
    };
    for task in dir.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let path = task.path();
        let (Ok(stat), Ok(status)) = (
            std::fs::read_to_string(path.join("stat")),
            std::fs::read_to_string(path.join("status")),
        ) else {
            continue; // the thread exited meanwhile
        };
        let (Some(cpu_secs), Some(started)) = (stat_cpu_secs(&stat), stat_start_ticks(&stat))
        else {
            continue;
        };
        let field = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap_or("?")
            .trim()
            .to_string();
        let switches = field("voluntary_ctxt_switches:") + field("nonvoluntary_ctxt_switches:");
        all.insert(
            (tid, started),
            (name, ThreadCounters { cpu_secs, switches }),
        );
    }
    all
}

/// What each kind of thread (by name) did between the first reading of `threads` and the last
/// of `later` ones. A thread counts with its last reading: one that ended before the last
/// (the runtime ends blocking threads idle for 10 s) keeps what an earlier reading saw, and
/// only what it did after that is lost. Threads that started after the first count from 0.
pub fn threads_delta(
    before: &std::collections::HashMap<ThreadKey, (String, ThreadCounters)>,
    later: &[&std::collections::HashMap<ThreadKey, (String, ThreadCounters)>],
) -> std::collections::BTreeMap<String, ThreadCounters> {
    let mut last = std::collections::HashMap::new();
    for reading in later {
        last.extend(reading.iter());
    }
    let mut by_name = std::collections::BTreeMap::<String, ThreadCounters>::new();
    for (key, (name, now)) in last {
        let was = before.get(key).map(|(_, c)| *c).unwrap_or_default();
        let sum = by_name.entry(name.clone()).or_default();
        sum.cpu_secs += (now.cpu_secs - was.cpu_secs).max(0.0);
        sum.switches += now.switches.saturating_sub(was.switches);
    }
    by_name
}
