//! M1: heap bytes per observer, 1M observers over 10k variables (100 per
//! variable, 10k owners of 100 observers each, W4's layout), counted by a
//! global allocator that only this bench installs. Not a criterion group:
//! it prints a table and writes it to `target/peers/m1.tsv` for the report.
//!
//! "Live" is what the built peer holds (requested sizes, including `Vec`
//! slack from growth); "peak" is the most held at once while building.

use std::fs;
use std::io::Write;

use peers::{
    Bevy, Counters, CountingAlloc, Engine, Floor, Naive, Peer, TokioWatch, m1_table_path, populate,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const VARS: usize = 10_000;
const PER_VAR: usize = 100;
const OWNERS: usize = 10_000;

/// One line of the table.
struct Row {
    peer: &'static str,
    observers: usize,
    live: usize,
    peak: usize,
}

/// Builds `P` with M1's layout and counts what it holds.
fn measure<P: Peer>() -> Row {
    let counters = Counters::new();
    let before = ALLOC.live();
    ALLOC.reset_peak();
    let mut peer = P::new(VARS, OWNERS, &counters);
    populate(&mut peer, VARS, PER_VAR, OWNERS, drop);
    let live = ALLOC.live() - before;
    let peak = ALLOC.peak() - before;
    let observers = peer.observers();
    assert_eq!(observers, VARS * PER_VAR, "{} lost observers", P::NAME);
    drop(peer);
    Row {
        peer: P::NAME,
        observers,
        live,
        peak,
    }
}

fn main() {
    // Start the thread pools first, so they are not counted against a peer.
    drop(TokioWatch::new(1, 1, &Counters::new()));
    let rows = [
        measure::<Floor>(),
        measure::<Naive>(),
        measure::<TokioWatch>(),
        measure::<Bevy>(),
        measure::<Engine>(),
    ];
    let mut table = String::from("peer\tobservers\tlive_bytes\tpeak_bytes\tbytes_per_observer\n");
    println!("M1: heap bytes per observer ({VARS} variables x {PER_VAR}, {OWNERS} owners)");
    println!(
        "{:<12} {:>10} {:>14} {:>14} {:>10}",
        "peer", "observers", "live B", "peak B", "B/obs"
    );
    for row in &rows {
        let per = row.live as f64 / row.observers as f64;
        println!(
            "{:<12} {:>10} {:>14} {:>14} {:>10.1}",
            row.peer, row.observers, row.live, row.peak, per
        );
        table += &format!(
            "{}\t{}\t{}\t{}\t{per:.1}\n",
            row.peer, row.observers, row.live, row.peak
        );
    }
    let path = m1_table_path();
    fs::create_dir_all(path.parent().expect("has a parent")).expect("create target/peers");
    fs::File::create(&path)
        .and_then(|mut f| f.write_all(table.as_bytes()))
        .expect("write m1.tsv");
    println!("written to {}", path.display());
}
