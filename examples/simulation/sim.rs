//! The population: the manager, its owners and observers, and the work of
//! one tick (churn, the changes, the producers, the tick itself).

use std::sync::Arc;
use std::time::{Duration, Instant};

use observer_manager::{
    CallbackId, Config, Metadata, Notifier, NotifyOutcome, ObserverManager, Owner, SessionId,
    TickReport, VariableId,
};

use crate::args::Args;
use crate::model::Model;
use crate::rng::{Rng, shuffle_prefix};
use crate::tally::{SHARED_CALLBACKS, Tally};

/// How an owner's observers are drawn: replayable, so that when the owner
/// dies the model can take exactly its observers back out.
#[derive(Clone, Copy, Debug)]
struct Plan {
    seed: u64,
    observers: u32,
}

impl Plan {
    /// `(variable index, callback index)` of each observer.
    fn picks(self, variables: u32) -> impl Iterator<Item = (usize, usize)> {
        let mut rng = Rng::new(self.seed);
        (0..self.observers).map(move |_| {
            let var = rng.below(variables as usize);
            (var, rng.below(SHARED_CALLBACKS as usize))
        })
    }
}

/// One owner of the population.
struct Member {
    owner: Owner,
    plan: Plan,
}

/// The manager, the population and the bookkeeping around them.
pub(crate) struct Sim {
    pub(crate) manager: ObserverManager<u64>,
    notifiers: Vec<Notifier<u64>>,
    variables: Vec<VariableId>,
    callbacks: Vec<CallbackId>,
    members: Vec<Member>,
    pub(crate) model: Model,
    rng: Rng,
    /// Variable indexes, shuffled in part each tick to pick the changes.
    var_order: Vec<u32>,
    /// Member indexes, shuffled in part each tick to pick the owners that die.
    member_order: Vec<u32>,
    /// This tick's changes: `(variable, old, new)`.
    changes: Vec<(VariableId, u64, u64)>,
    pub(crate) changes_per_tick: usize,
    pub(crate) churn_per_tick: usize,
}

impl Sim {
    /// An empty manager with its callbacks, and all bookkeeping allocated.
    pub(crate) fn new(args: &Args, tally: &Arc<Tally>) -> Result<Sim, String> {
        let changes_per_tick = share(args.variables, args.change_fraction);
        let config = Config::default()
            .sweep_every(u64::from(args.sweep_every))
            .inbox_capacity(changes_per_tick.max(Config::DEFAULT_INBOX_CAPACITY));
        let mut manager = ObserverManager::with_config(config).map_err(|e| e.to_string())?;
        let callbacks = (0..SHARED_CALLBACKS)
            .map(|_| {
                let tally = Arc::clone(tally);
                manager.register_callback(move |n| tally.record(*n.new))
            })
            .collect();
        let notifiers = (0..args.producers).map(|_| manager.notifier()).collect();
        Ok(Sim {
            manager,
            notifiers,
            variables: Vec::with_capacity(args.variables as usize),
            callbacks,
            members: Vec::with_capacity(args.owners as usize),
            model: Model::new(args.variables as usize),
            rng: Rng::new(args.seed),
            var_order: (0..args.variables).collect(),
            member_order: (0..args.owners).collect(),
            changes: Vec::with_capacity(changes_per_tick),
            changes_per_tick,
            churn_per_tick: share(args.owners, args.churn_fraction),
        })
    }

    pub(crate) fn intern_variables(&mut self, count: u32) -> Result<(), String> {
        for i in 0..count {
            let id = self.manager.variable(&format!("var-{i}"));
            self.variables.push(id.map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    /// Spawns `owners` owners sharing `observers` observers as evenly as possible.
    pub(crate) fn populate(&mut self, observers: u32, owners: u32) -> Result<(), String> {
        let (base, extra) = (observers / owners, observers % owners);
        for i in 0..owners {
            let member = self.join(base + u32::from(i < extra))?;
            self.members.push(member);
        }
        Ok(())
    }

    /// A new owner with `observers` fresh observers.
    fn join(&mut self, observers: u32) -> Result<Member, String> {
        let plan = Plan {
            seed: self.rng.next_u64(),
            observers,
        };
        let owner = self.manager.owner();
        for (var, callback) in plan.picks(self.variables.len() as u32) {
            self.manager
                .observe(self.variables[var], &owner)
                .shared(self.callbacks[callback])
                .add()
                .map_err(|e| e.to_string())?;
            self.model.watchers[var] += 1;
        }
        Ok(Member { owner, plan })
    }

    /// Drops an owner: its observers hear nothing more and go at the next tick.
    fn leave(&mut self, member: Member) {
        for (var, _) in member.plan.picks(self.variables.len() as u32) {
            self.model.watchers[var] -= 1;
        }
        self.model.due_sweep += u64::from(member.plan.observers);
        member.owner.kill();
    }

    /// Replaces `churn_per_tick` distinct owners with new ones of the same size.
    pub(crate) fn churn(&mut self) -> Result<(), String> {
        let k = self.churn_per_tick;
        shuffle_prefix(&mut self.member_order, k, &mut self.rng);
        for i in 0..k {
            let slot = self.member_order[i] as usize;
            let fresh = self.join(self.members[slot].plan.observers)?;
            let gone = std::mem::replace(&mut self.members[slot], fresh);
            self.leave(gone);
        }
        Ok(())
    }

    /// Picks this tick's changes (distinct variables) and updates the model.
    pub(crate) fn plan_changes(&mut self) {
        let k = self.changes_per_tick;
        shuffle_prefix(&mut self.var_order, k, &mut self.rng);
        self.changes.clear();
        for &var in &self.var_order[..k] {
            let var = var as usize;
            let old = self.model.values[var];
            let new = old + 1 + self.rng.below(1_000) as u64;
            self.model.change(var, new);
            self.changes.push((self.variables[var], old, new));
        }
    }

    /// Reports this tick's changes from the producer threads, a share each.
    pub(crate) fn produce(&self) -> Result<(), String> {
        let share = self.changes.len().div_ceil(self.notifiers.len()).max(1);
        let queued: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (self.notifiers.iter().zip(self.changes.chunks(share)))
                .enumerate()
                .map(|(p, (notifier, chunk))| scope.spawn(move || notify_all(notifier, chunk, p)))
                .collect();
            workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
        });
        if queued != self.changes.len() {
            return Err(format!(
                "producers queued {queued} of {} changes",
                self.changes.len()
            ));
        }
        Ok(())
    }

    /// Runs one tick and checks its report against the model.
    pub(crate) fn tick(&mut self) -> Result<(TickReport, Duration), String> {
        let start = Instant::now();
        let report = self.manager.tick();
        let took = start.elapsed();
        self.model.verify(&report)?;
        Ok((report, took))
    }
}

/// `fraction` of `n`, rounded, and at least one when `fraction` is above zero.
fn share(n: u32, fraction: f64) -> usize {
    let rounded = (f64::from(n) * fraction).round() as usize;
    if fraction > 0.0 {
        rounded.max(1)
    } else {
        rounded
    }
}

/// One producer's work: notifies every change of `chunk`; returns how many were queued.
fn notify_all(
    notifier: &Notifier<u64>,
    chunk: &[(VariableId, u64, u64)],
    producer: usize,
) -> usize {
    let session = SessionId(producer as u64);
    chunk
        .iter()
        .filter(|&&(var, old, new)| {
            let meta = Metadata::new("producer").with_session(session);
            notifier.notify(var, old, new, meta) == Ok(NotifyOutcome::Queued)
        })
        .count()
}
