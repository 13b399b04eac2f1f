//! The peer comparison harness of `observer-manager`: one set of workloads,
//! run against this crate (`engine`) and its peers side by side.
//!
//! Every peer implements [`Peer`] (build, notify, tick) and, where the
//! workload applies to it, [`Churn`] (remove one observer) and [`Owners`]
//! (end an owner's life), so one bench body runs against all of them. Every
//! callback does the same work: it bumps the calling thread's own
//! cache-padded slot in [`Counters`], and the benches check the total after
//! each measured batch. The workloads are defined in `peers/README.md`.
//!
//! | peer | what it is |
//! |---|---|
//! | `floor` | a `Vec` of `(fn pointer, data)` per variable, called in a tight loop on one thread |
//! | `floor-par` | the same, rayon over chunks of each variable's observers |
//! | `naive` | `HashMap<String, Vec<(u64, Box<dyn Fn>)>>`, every callback on one thread |
//! | `naive-rayon` | the same over `par_iter` |
//! | `tokio-watch` | a `tokio::sync::watch` channel per variable, a task per observer |
//! | `bevy` | a `bevy_ecs` entity per variable, an entity-targeted observer per observer |
//! | `engine` | `observer_manager::ObserverManager` with one shared callback |

// Modules are private; the names the benches and the report use are
// re-exported flat below.
mod bevy;
mod engine;
mod floor;
mod naive;
mod peer;
mod watch;

pub use bevy::Bevy;
pub use engine::Engine;
pub use floor::{Floor, FloorPar};
pub use naive::{Naive, NaiveRayon};
pub use observer_manager_support::{Counters, CountingAlloc, SplitMix64};
pub use peer::{Churn, Owners, Peer, populate, population};
pub use watch::TokioWatch;

use std::path::PathBuf;
use std::process::Command;

/// Where cargo puts build output: `CARGO_TARGET_DIR`, or the workspace's
/// `target/`. Criterion writes `criterion/` there, the M1 bench `peers/m1.tsv`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_dir().join("target"),
    }
}

/// The workspace root (the parent of this crate).
pub fn workspace_dir() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The file the M1 bench writes and the report reads.
pub fn m1_table_path() -> PathBuf {
    target_dir().join("peers").join("m1.tsv")
}

/// The file where the peers bench records, as it starts, which engine it
/// built ([`engine_source`]); the report reads it, so a commit made between
/// the bench and the report does not take the bench's credit.
pub fn source_path() -> PathBuf {
    target_dir().join("peers").join("source.txt")
}

/// `commit <hash> (<subject>)` of the workspace's `HEAD`, noting uncommitted
/// changes in the engine's `src/`; `None` outside a git checkout.
pub fn engine_source() -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(workspace_dir())
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["log", "-1", "--format=%h (%s)"])?;
    let dirty = git(&["status", "--porcelain", "--", "src"])?;
    Some(if dirty.is_empty() {
        format!("commit {commit}")
    } else {
        format!("commit {commit} with uncommitted changes in src/")
    })
}
