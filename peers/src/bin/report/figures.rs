//! Reading one peer's figure on one line, and comparing it with the engine's.

use crate::lines::{Line, Rule, Target};
use crate::results::{Estimate, Results};

/// A peer's measurement on a line.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub(crate) estimate: Estimate,
    /// Set when the peer ran at another size than the line's (scaled down).
    pub(crate) scaled_from: Option<String>,
}

/// The measurement of `peer` on `line`, or `None` if it did not run.
pub(crate) fn cell(results: &Results, line: &Line, peer: &str) -> Option<Cell> {
    if let Some(e) = results.get(line.group, peer, line.param) {
        return Some(Cell {
            estimate: e.clone(),
            scaled_from: None,
        });
    }
    if !line.scaled {
        return None;
    }
    let e = results.any_size(line.group, peer)?;
    Some(Cell {
        scaled_from: Some(e.param.clone()),
        estimate: e.clone(),
    })
}

/// The figure lines compare on: ns per element (per notification, removal,
/// add), ns per tick where there are no elements, bytes per observer for M1.
pub(crate) fn comparable(results: &Results, line: &Line, peer: &str) -> Option<f64> {
    if line.group == "m1" {
        return results.memory(peer).map(|m| m.per_observer());
    }
    let cell = cell(results, line, peer)?;
    let e = &cell.estimate;
    e.per_element_ns().or(Some(e.median_ns))
}

/// engine ÷ peer on `line` (time or bytes): below 1, the engine is ahead.
pub(crate) fn ratio(results: &Results, line: &Line, peer: &str) -> Option<f64> {
    Some(comparable(results, line, "engine")? / comparable(results, line, peer)?)
}

/// A target's verdict.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// The measured figure, as the target states it.
    pub(crate) measured: String,
    pub(crate) met: bool,
    /// How far from the limit: headroom if met, shortfall if missed.
    pub(crate) margin: String,
}

/// Judges `target` against the results; `None` if a figure is missing.
pub(crate) fn judge(results: &Results, lines: &[Line], target: &Target) -> Option<Verdict> {
    match target.rule {
        Rule::TimeAtMost { line, peer, limit } => {
            let r = ratio(results, &lines[line], peer)?;
            Some(verdict(format!("{r:.2}× {peer}"), r <= limit, r / limit))
        }
        Rule::SpeedAtLeast { line, peer, limit } => {
            let speed = 1.0 / ratio(results, &lines[line], peer)?;
            Some(verdict(
                format!("{speed:.2}× {peer}"),
                speed >= limit,
                limit / speed,
            ))
        }
        Rule::Below { line, limit_ns } => {
            let ns = cell(results, &lines[line], "engine")?.estimate.median_ns;
            Some(verdict(
                crate::markdown::time(ns),
                ns < limit_ns,
                ns / limit_ns,
            ))
        }
        Rule::BytesAtMost { limit } => {
            let bytes = results.memory("engine")?.per_observer();
            Some(verdict(
                format!("{bytes:.1} B"),
                bytes <= limit,
                bytes / limit,
            ))
        }
        Rule::HeapBackWithin { limit } => {
            let heap = results.memory("engine")?.w4?;
            let growth = heap.growth();
            Some(verdict(
                format!(
                    "{:+.2}% ({:+} B)",
                    growth * 100.0,
                    heap.after as i64 - heap.baseline as i64
                ),
                growth <= limit,
                (1.0 + growth) / (1.0 + limit),
            ))
        }
    }
}

/// `over` is measured ÷ limit in the direction where above 1 is worse.
fn verdict(measured: String, met: bool, over: f64) -> Verdict {
    let margin = if met {
        format!("{:.0}% to spare", (1.0 - over) * 100.0)
    } else {
        format!("{:.0}% over", (over - 1.0) * 100.0)
    };
    Verdict {
        measured,
        met,
        margin,
    }
}
