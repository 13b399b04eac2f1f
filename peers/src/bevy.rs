//! `bevy`: `bevy_ecs` observers, entity-targeted.
//!
//! A variable is an entity; each observer is an observer entity watching
//! that entity (`Observer::new(..).with_entity(var)`), whose system bumps
//! the counters; notify is `World::trigger` of an [`EntityEvent`] carrying
//! the old and new value, at the tick. Bevy runs observers on the
//! triggering thread, one after another. An owner's observers are despawned
//! when it is killed, so the tick has nothing left to do.

use std::sync::Arc;

use bevy_ecs::prelude::*;

use crate::Counters;
use crate::peer::{Churn, Owners, Peer};

/// The event: variable `entity` went from `old` to `new`.
#[derive(EntityEvent, Debug)]
struct Changed {
    entity: Entity,
    #[expect(
        dead_code,
        reason = "carried like the other peers' values, read by no one"
    )]
    old: u64,
    #[expect(
        dead_code,
        reason = "carried like the other peers' values, read by no one"
    )]
    new: u64,
}

/// `bevy`: a `World` of variable entities and observer entities.
pub struct Bevy {
    world: World,
    vars: Vec<Entity>,
    /// Per owner, its observer entities.
    owners: Vec<Vec<Entity>>,
    pending: Vec<(u32, u64, u64)>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Bevy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bevy")
            .field("variables", &self.vars.len())
            .finish_non_exhaustive()
    }
}

impl Peer for Bevy {
    const NAME: &'static str = "bevy";
    type Handle = Entity;

    fn new(vars: usize, owners: usize, counters: &Arc<Counters>) -> Self {
        let mut world = World::new();
        let vars = world.spawn_batch((0..vars).map(|_| ())).collect();
        Bevy {
            world,
            vars,
            owners: vec![Vec::new(); owners],
            pending: Vec::new(),
            counters: Arc::clone(counters),
        }
    }

    fn add(&mut self, var: usize, owner: usize) -> Entity {
        let sink = Arc::clone(&self.counters);
        let observer = Observer::new(move |_: On<Changed>| sink.bump()).with_entity(self.vars[var]);
        let entity = self.world.spawn(observer).id();
        self.owners[owner].push(entity);
        entity
    }

    fn notify(&mut self, var: usize, old: u64, new: u64) {
        self.pending.push((var as u32, old, new));
    }

    fn tick(&mut self) {
        for i in 0..self.pending.len() {
            let (var, old, new) = self.pending[i];
            let entity = self.vars[var as usize];
            self.world.trigger(Changed { entity, old, new });
        }
        self.pending.clear();
    }

    fn observers(&mut self) -> usize {
        self.world.query::<&Observer>().iter(&self.world).count()
    }
}

impl Churn for Bevy {
    fn remove(&mut self, entity: Entity) {
        self.world.despawn(entity);
    }
}

impl Owners for Bevy {
    fn kill(&mut self, owner: usize) {
        for entity in std::mem::take(&mut self.owners[owner]) {
            self.world.despawn(entity);
        }
    }
}
