//! Facts about the machine the report is written on (the one that benched).

use std::fs;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// What docs/peers.md records about the machine.
#[derive(Debug)]
pub(crate) struct Machine {
    pub(crate) cores: String,
    pub(crate) cpu: String,
    pub(crate) memory: String,
    pub(crate) kernel: String,
    pub(crate) rustc: String,
    pub(crate) date: String,
    /// The commit the engine was built from, and whether `src/` had edits.
    pub(crate) engine: String,
    /// `/proc/loadavg` at the start and end of the criterion run.
    pub(crate) load: String,
}

impl Machine {
    pub(crate) fn probe() -> Self {
        let unknown = || "unknown".to_owned();
        Machine {
            cores: std::thread::available_parallelism()
                .map_or_else(|_| unknown(), |n| n.to_string()),
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(unknown),
            memory: proc_field("/proc/meminfo", "MemTotal")
                .and_then(|kb| kb.trim_end_matches(" kB").parse::<f64>().ok())
                .map_or_else(unknown, |kb| format!("{:.1} GiB", kb / (1u64 << 20) as f64)),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| unknown(), |s| format!("Linux {}", s.trim())),
            rustc: Command::new("rustc")
                .arg("-V")
                .output()
                .ok()
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map_or_else(unknown, |s| s.trim().to_owned()),
            date: today(),
            engine: engine_source().unwrap_or_else(unknown),
            load: bench_load().unwrap_or_else(unknown),
        }
    }
}

/// The engine the bench built, as it recorded it; else the checkout's now.
fn engine_source() -> Option<String> {
    fs::read_to_string(peers::source_path())
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(peers::engine_source)
}

/// The load averages the peers bench recorded, one `when: 1 5 15-minute` per line.
fn bench_load() -> Option<String> {
    let text = fs::read_to_string(peers::target_dir().join("peers/load.txt")).ok()?;
    let parts: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let (when, avg) = l.split_once('\t')?;
            let three: Vec<&str> = avg.split_whitespace().take(3).collect();
            Some(format!("{when}: {}", three.join(" ")))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The value of the first `key: value` line of a /proc file.
fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// Today's UTC date, `YYYY-MM-DD` (civil-from-days, Howard Hinnant's algorithm).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
