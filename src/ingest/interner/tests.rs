//! The interner: ids, generations, refusals and batch resolution.

use super::*;

#[test]
fn a_reclaimed_id_is_stale_and_its_slot_is_reused_with_a_new_generation() {
    let interner = Interner::new(ManagerTag::fresh());
    let a = interner.intern(Var::Name("a")).unwrap();
    assert!(interner.write().reclaim(a.index, a.generation));
    assert_eq!(interner.intern(Var::Id(a)), Err(VariableError::Reclaimed));
    assert_eq!(
        interner.find(Var::Name("a")),
        Err(VariableError::Unknown { name: "a".into() })
    );
    let b = interner.intern(Var::Name("b")).unwrap();
    assert_eq!(b.index, a.index, "the slot is reused");
    assert_ne!(b, a, "under another generation");
    assert_eq!(interner.name(b).as_deref(), Some("b"));
    assert_eq!(interner.name(a), None);
    assert_eq!(interner.live(), 1);
}

#[test]
fn a_slot_whose_generations_are_exhausted_is_retired_not_reused() {
    let interner = Interner::new(ManagerTag::fresh());
    let a = interner.intern(Var::Name("a")).unwrap();
    let last = u32::MAX;
    {
        // As if reclaimed and reinterned until its last generation.
        let mut table = interner.write();
        table.slots[a.index as usize].generation = last;
        table.reused = vec![1 << a.index];
    }
    let a = VariableId {
        generation: last,
        ..a
    };
    assert_eq!(interner.intern(Var::Id(a)), Ok(a));
    assert!(interner.write().reclaim(a.index, last));
    assert_eq!(interner.intern(Var::Id(a)), Err(VariableError::Reclaimed));
    let b = interner.intern(Var::Name("b")).unwrap();
    assert_ne!(b.index, a.index, "the exhausted slot is not reused");
}

#[test]
fn a_pinned_variable_is_not_reclaimed_until_unpinned() {
    let interner = Interner::new(ManagerTag::fresh());
    let a = interner.pin("a").unwrap();
    assert!(!interner.write().reclaim(a.index, a.generation));
    interner.unpin(a);
    assert!(interner.write().reclaim(a.index, a.generation));
    assert!(!interner.write().reclaim(a.index, a.generation), "once");
}

#[test]
fn resolve_stops_at_the_first_refusal_and_interns_the_rest_before_it() {
    let interner = Interner::new(ManagerTag::fresh());
    let mut out = Vec::new();
    let mut vars = Pending::new();
    for name in ["x", "", "y"] {
        vars.push(crate::ingest::names::VariableRef::Name(name));
    }
    let (held, resolved, refused) = interner.resolve(&vars, |at, id| out.push((at, id)));
    drop(held);
    assert_eq!(refused, Some(VariableError::EmptyName));
    assert_eq!(resolved, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 0);
    assert!(interner.find(Var::Name("x")).is_ok());
    assert_eq!(
        interner.find(Var::Name("y")),
        Err(VariableError::Unknown { name: "y".into() })
    );
}

#[test]
fn fresh_names_are_reported_once() {
    let interner = Interner::new(ManagerTag::fresh());
    interner.intern(Var::Name("a")).unwrap();
    assert!(interner.has_fresh());
    let mut fresh = Vec::new();
    interner.take_fresh(&mut fresh);
    assert_eq!(fresh.len(), 1);
    assert_eq!(&*fresh[0].name, "a");
    assert!(!interner.has_fresh());
    fresh.clear();
    interner.take_fresh(&mut fresh);
    assert!(fresh.is_empty());
}
