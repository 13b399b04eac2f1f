//! `cargo run --release -p peers --bin report`: turns the last
//! `cargo bench -p peers` run into docs/peers.md and docs/peers.svg.
//!
//! Reads `target/criterion/**/new/{benchmark,estimates}.json` (medians) and
//! `target/peers/m1.tsv` (the M1 table); appends `peers/analysis.md`, the
//! hand-written reading of the figures, if present.

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
    let page = markdown::render(&results, &machine::Machine::probe(), notes.as_deref());
    let md = docs.join("peers.md");
    fs::write(&md, page).map_err(|e| format!("{}: {e}", md.display()))?;
    let svg = docs.join("peers.svg");
    chart::draw(&results, &svg)?;
    println!(
        "{} estimates, {} M1 rows -> {} and {}",
        results.estimates.len(),
        results.memory.len(),
        md.display(),
        svg.display()
    );
    Ok(())
}
