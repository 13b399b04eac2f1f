//! `cargo run --release -p peers --bin report`: turns the last
//! `cargo bench -p peers` run into docs/peers.md and docs/peers.svg.
//!
//! Reads `target/criterion/**/new/{benchmark,estimates}.json` (medians) and
//! `target/peers/m1.tsv` (the M1 table); appends `peers/analysis.md`, the
//! hand-written reading of the figures, if present. Also replaces what lies
//! between `docs/performance.md`'s peers markers with the chart, the
//! medians and the targets.

mod chart;
mod figures;
mod lines;
mod machine;
mod markdown;
mod results;

use std::fs;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let criterion = peers::target_dir().join("criterion");
    let results = results::Results::load(&criterion, &peers::m1_table_path())?;
    if results.estimates.is_empty() {
        return Err(format!(
            "no estimates under {}; run `cargo bench -p peers`",
            criterion.display()
        ));
    }
    let docs = peers::workspace_dir().join("docs");
    let notes = fs::read_to_string(peers::workspace_dir().join("peers/analysis.md")).ok();
    let machine = machine::Machine::probe();
    let page = markdown::render(&results, &machine, notes.as_deref());
    let md = docs.join("peers.md");
    fs::write(&md, page).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = docs.join("peers.svg");
    chart::draw(&results, &svg)?;
    splice(
        &docs.join("performance.md"),
        &markdown::summary(&results, &machine),
    )?;
    println!(
        "{} estimates, {} M1 rows -> {} and {}",
        results.estimates.len(),
        results.memory.len(),
        md.display(),
        svg.display()
    );
    Ok(())
}

/// Where `docs/performance.md` takes the report's summary.
const SUMMARY_START: &str = "<!-- peers summary: start -->";
const SUMMARY_END: &str = "<!-- peers summary: end -->";

/// Replaces what lies between the summary markers of the file at `path`.
fn splice(path: &std::path::Path, summary: &str) -> Result<(), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let missing = || {
        format!(
            "{}: no `{SUMMARY_START}` ... `{SUMMARY_END}` markers",
            path.display()
        )
    };
    let start = text.find(SUMMARY_START).ok_or_else(missing)? + SUMMARY_START.len();
    let end = start + text[start..].find(SUMMARY_END).ok_or_else(missing)?;
    let spliced = format!("{}{summary}\n{}", &text[..start], &text[end..]);
    fs::write(path, spliced).map_err(|e| format!("{}: {e}", path.display()))
}
