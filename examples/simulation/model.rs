//! The model the reports are checked against: who watches what, and what
//! each tick must therefore do.

use observer_manager::TickReport;

/// What the simulation expects the manager to do, tracked independently.
pub(crate) struct Model {
    /// Live observers of each variable.
    pub(crate) watchers: Vec<u64>,
    /// Current value of each variable.
    pub(crate) values: Vec<u64>,
    /// Notifications the next tick must make.
    due_calls: u64,
    /// Observers the next tick must sweep (those of owners dropped since the last one).
    pub(crate) due_sweep: u64,
    /// Wrapping sum of `new` over every notification so far.
    pub(crate) value_sum: u64,
}

impl Model {
    pub(crate) fn new(variables: usize) -> Self {
        Model {
            watchers: vec![0; variables],
            values: vec![0; variables],
            due_calls: 0,
            due_sweep: 0,
            value_sum: 0,
        }
    }

    /// Records that `var` changes to `new` before the next tick.
    pub(crate) fn change(&mut self, var: usize, new: u64) {
        let watchers = self.watchers[var];
        self.values[var] = new;
        self.due_calls += watchers;
        self.value_sum = self.value_sum.wrapping_add(new.wrapping_mul(watchers));
    }

    /// Compares a tick's report with the expectation, then starts the next one.
    pub(crate) fn verify(&mut self, report: &TickReport) -> Result<(), String> {
        let checks = [
            ("notifications", report.notifications, self.due_calls),
            ("observers swept", report.observers_swept, self.due_sweep),
            ("changes coalesced", report.changes_coalesced, 0),
        ];
        for (what, got, want) in checks {
            if got != want {
                return Err(format!(
                    "tick {}: {what} was {got}, the model expects {want}",
                    report.tick
                ));
            }
        }
        self.due_calls = 0;
        self.due_sweep = 0;
        Ok(())
    }
}
