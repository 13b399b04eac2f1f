//! What the benches left behind: criterion's estimates and the M1 table.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::lines::LINES;

/// One criterion benchmark: its id and median.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    pub(crate) group: String,
    pub(crate) peer: String,
    pub(crate) param: String,
    /// Median time of one iteration (one tick, or one whole W4/W6 run), ns.
    pub(crate) median_ns: f64,
    /// Elements per iteration, if the bench declared a throughput.
    pub(crate) elements: Option<u64>,
}

impl Estimate {
    /// Nanoseconds per element (per notification, removal, add).
    pub(crate) fn per_element_ns(&self) -> Option<f64> {
        self.elements
            .filter(|&e| e > 0)
            .map(|e| self.median_ns / e as f64)
    }
}

/// One line of the M1 table.
#[derive(Debug, Clone)]
pub(crate) struct Memory {
    pub(crate) peer: String,
    pub(crate) observers: u64,
    pub(crate) live_bytes: u64,
    pub(crate) peak_bytes: u64,
    /// W4's heap, for the peers whose owners can die.
    pub(crate) w4: Option<HeapW4>,
}

/// Bytes a peer held made, at its empty baseline and after W4 (see
/// `benches/m1_memory.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeapW4 {
    pub(crate) made: u64,
    pub(crate) baseline: u64,
    pub(crate) after: u64,
}

impl HeapW4 {
    /// What W4 left over the baseline, as a fraction of it (negative if
    /// below).
    pub(crate) fn growth(&self) -> f64 {
        (self.after as f64 - self.baseline as f64) / self.baseline as f64
    }
}

impl Memory {
    pub(crate) fn per_observer(&self) -> f64 {
        self.live_bytes as f64 / self.observers as f64
    }
}

/// Everything the report shows.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) estimates: Vec<Estimate>,
    pub(crate) memory: Vec<Memory>,
}

impl Results {
    /// Reads `criterion/**/new/{benchmark,estimates}.json` and the M1 table.
    pub(crate) fn load(criterion: &Path, m1: &Path) -> Result<Self, String> {
        let mut estimates = Vec::new();
        // Only the peers' groups: other benches share `target/criterion`.
        let mut groups: Vec<&str> = LINES.iter().map(|l| l.group).collect();
        groups.dedup();
        for group in groups.into_iter().filter(|&g| g != "m1") {
            let root = criterion.join(group);
            if root.is_dir() {
                for dir in new_dirs(&root)? {
                    estimates.push(read_estimate(&dir)?);
                }
            }
        }
        estimates.sort_by(|a, b| (&a.group, &a.peer, &a.param).cmp(&(&b.group, &b.peer, &b.param)));
        let memory = match fs::read_to_string(m1) {
            Ok(text) => parse_m1(&text)?,
            Err(e) => {
                eprintln!(
                    "no M1 table at {} ({e}); run `cargo bench -p peers`",
                    m1.display()
                );
                Vec::new()
            }
        };
        Ok(Results { estimates, memory })
    }

    /// The estimate of `group/peer/param`, if it ran.
    pub(crate) fn get(&self, group: &str, peer: &str, param: &str) -> Option<&Estimate> {
        self.estimates
            .iter()
            .find(|e| e.group == group && e.peer == peer && e.param == param)
    }

    /// The estimate of `peer` in `group` at any size (for scaled-down peers).
    pub(crate) fn any_size(&self, group: &str, peer: &str) -> Option<&Estimate> {
        self.estimates
            .iter()
            .find(|e| e.group == group && e.peer == peer)
    }

    pub(crate) fn memory(&self, peer: &str) -> Option<&Memory> {
        self.memory.iter().find(|m| m.peer == peer)
    }
}

/// Every `new/` directory holding both JSON files, under `root`.
fn new_dirs(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new")
                && path.join("estimates.json").is_file()
                && path.join("benchmark.json").is_file()
            {
                found.push(path);
            } else {
                stack.push(path);
            }
        }
    }
    Ok(found)
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_estimate(dir: &Path) -> Result<Estimate, String> {
    let bench = read_json(&dir.join("benchmark.json"))?;
    let est = read_json(&dir.join("estimates.json"))?;
    let text = |v: &Value, key: &str| v[key].as_str().map(str::to_owned);
    let missing = |what: &str| format!("{}: no {what}", dir.display());
    Ok(Estimate {
        group: text(&bench, "group_id").ok_or_else(|| missing("group_id"))?,
        peer: text(&bench, "function_id").ok_or_else(|| missing("function_id"))?,
        param: text(&bench, "value_str").ok_or_else(|| missing("value_str"))?,
        median_ns: est["median"]["point_estimate"]
            .as_f64()
            .ok_or_else(|| missing("median"))?,
        elements: bench["throughput"]["Elements"].as_u64(),
    })
}

fn parse_m1(text: &str) -> Result<Vec<Memory>, String> {
    let mut rows = Vec::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cells: Vec<&str> = line.split('\t').collect();
        let number = |i: usize| -> Result<u64, String> {
            cells
                .get(i)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("m1.tsv: bad line {line:?}"))
        };
        if cells.len() != 8 {
            return Err(format!(
                "m1.tsv: {} columns in {line:?}, 8 expected (written by an older \
                 bench? run `cargo bench -p peers --bench m1_memory`)",
                cells.len()
            ));
        }
        let w4 = match cells[5].is_empty() {
            true => None,
            false => Some(HeapW4 {
                made: number(5)?,
                baseline: number(6)?,
                after: number(7)?,
            }),
        };
        rows.push(Memory {
            peer: cells[0].to_owned(),
            observers: number(1)?,
            live_bytes: number(2)?,
            peak_bytes: number(3)?,
            w4,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "peer\tobservers\tlive_bytes\tpeak_bytes\tbytes_per_observer\
                        \tmade_bytes\tbaseline_bytes\tafter_w4_bytes\n";

    #[test]
    fn the_m1_table_gives_each_swept_peer_its_heap_after_w4() {
        let text = format!(
            "{HEAD}floor\t1000\t36000\t36000\t36.0\t100\t400\t3000\n\
             tokio-watch\t1000\t90000\t90000\t90.0\t\t\t\n\
             engine\t1000\t62000\t62000\t62.0\t150\t250\t252\n"
        );
        let rows = parse_m1(&text).expect("a well-formed table");
        assert_eq!(rows.len(), 3);
        assert!(rows[1].w4.is_none(), "tokio-watch has no owners to kill");
        let engine = rows[2].w4.expect("the engine is swept");
        assert_eq!(
            (engine.made, engine.baseline, engine.after),
            (150, 250, 252)
        );
        assert!((engine.growth() - 0.008).abs() < 1e-12);
        let floor = rows[0].w4.expect("the floor is swept");
        assert!((floor.growth() - 6.5).abs() < 1e-12);
    }

    #[test]
    fn a_table_from_an_older_bench_is_refused_with_the_command_to_rerun() {
        let old = "peer\tobservers\tlive_bytes\tpeak_bytes\tbytes_per_observer\n\
                   engine\t1000\t62000\t62000\t62.0\n";
        let err = parse_m1(old).expect_err("five columns");
        assert!(
            err.contains("cargo bench -p peers --bench m1_memory"),
            "{err}"
        );
    }
}
