//! M1: heap bytes per observer, 1M observers over 10k variables (100 per
//! variable, 10k owners of 100 observers each, W4's layout), counted by a
//! global allocator that only this bench installs. Not a criterion group:
//! it prints a table and writes it to `target/peers/m1.tsv` for the report.
//!
//! "Live" is what the built peer holds (requested sizes, including `Vec`
//! slack from growth); "peak" is the most held at once while building.
//!
//! W4's heap target, for the peers whose owners can die: a peer made with
//! twice the owners first goes through a W4 cycle a tenth the size on the
//! second half of them (10 observers per variable, their owners killed a
//! tenth per tick), which leaves it as a peer in use stands between
//! populations: every variable seen, the thread pool and the tick's scratch
//! warmed. What it holds then is its empty baseline. Then W4 itself: M1's
//! population on the first half of the owners, every owner killed a tenth
//! per tick in a fixed shuffled order, and what it holds at the end.

use std::fs;
use std::io::Write;

use peers::{
    Bevy, Counters, CountingAlloc, Engine, Floor, Naive, Owners, Peer, SplitMix64, TokioWatch,
    m1_table_path, populate,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const VARS: usize = 10_000;
const PER_VAR: usize = 100;
const OWNERS: usize = 10_000;
/// W4's ticks: each kills a tenth of the owners.
const ROUNDS: usize = 10;
/// Observers per variable in the warm-up cycle before the heap baseline.
const WARM_PER_VAR: usize = 10;

/// One line of the table.
struct Row {
    peer: &'static str,
    observers: usize,
    live: usize,
    peak: usize,
    /// W4's heap, for peers whose owners can die.
    w4: Option<HeapW4>,
}

/// Bytes a peer holds, relative to the heap before it was made.
#[derive(Clone, Copy)]
struct HeapW4 {
    /// Made, before any observer.
    made: usize,
    /// After the warm-up cycle: the empty baseline.
    baseline: usize,
    /// After W4 swept every observer.
    after: usize,
}

/// Kills every owner in `owners`, a tenth per tick, in a fixed shuffled
/// order, as W4 does.
fn sweep_all<P: Owners>(peer: &mut P, owners: std::ops::Range<usize>) {
    let mut order: Vec<usize> = owners.collect();
    SplitMix64::new(1).shuffle(&mut order);
    for round in order.chunks(order.len().div_ceil(ROUNDS)) {
        round.iter().for_each(|&owner| peer.kill(owner));
        peer.tick();
    }
    assert_eq!(peer.observers(), 0, "{} kept observers", P::NAME);
}

/// W4's heap (see the module docs).
fn heap_w4<P: Owners>() -> HeapW4 {
    let counters = Counters::new();
    let before = ALLOC.live();
    let mut peer = P::new(VARS, 2 * OWNERS, &counters);
    let made = ALLOC.live() - before;
    let warm = VARS * WARM_PER_VAR;
    for j in 0..warm {
        peer.add(j % VARS, OWNERS + j * OWNERS / warm);
    }
    sweep_all(&mut peer, OWNERS..2 * OWNERS);
    let baseline = ALLOC.live() - before;
    populate(&mut peer, VARS, PER_VAR, OWNERS, drop);
    assert_eq!(
        peer.observers(),
        VARS * PER_VAR,
        "{} lost observers",
        P::NAME
    );
    sweep_all(&mut peer, 0..OWNERS);
    let after = ALLOC.live() - before;
    drop(peer);
    HeapW4 {
        made,
        baseline,
        after,
    }
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
        w4: None,
    }
}

/// `measure`, and W4's heap.
fn measure_swept<P: Owners>() -> Row {
    Row {
        w4: Some(heap_w4::<P>()),
        ..measure::<P>()
    }
}

fn main() {
    // Start the thread pools first, so they are not counted against a peer.
    drop(TokioWatch::new(1, 1, &Counters::new()));
    rayon::join(|| (), || ());
    let rows = [
        measure_swept::<Floor>(),
        measure_swept::<Naive>(),
        measure::<TokioWatch>(),
        measure_swept::<Bevy>(),
        measure_swept::<Engine>(),
    ];
    let mut table = String::from(
        "peer\tobservers\tlive_bytes\tpeak_bytes\tbytes_per_observer\
         \tmade_bytes\tbaseline_bytes\tafter_w4_bytes\n",
    );
    println!("M1: heap bytes per observer ({VARS} variables x {PER_VAR}, {OWNERS} owners)");
    println!(
        "{:<12} {:>10} {:>12} {:>12} {:>7} {:>10} {:>10} {:>12}",
        "peer", "observers", "live B", "peak B", "B/obs", "made B", "empty B", "after W4 B"
    );
    for row in &rows {
        let per = row.live as f64 / row.observers as f64;
        let [made, baseline, after] = match row.w4 {
            Some(w4) => [w4.made, w4.baseline, w4.after].map(|b| b.to_string()),
            None => Default::default(),
        };
        println!(
            "{:<12} {:>10} {:>12} {:>12} {per:>7.1} {made:>10} {baseline:>10} {after:>12}",
            row.peer, row.observers, row.live, row.peak
        );
        table += &format!(
            "{}\t{}\t{}\t{}\t{per:.1}\t{made}\t{baseline}\t{after}\n",
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
