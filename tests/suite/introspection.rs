//! Reading the engine's state: counts, `inspect_variable`, live stats and
//! `Debug` output.

use std::error::Error;

use observer_manager::{
    Config, Metadata, ObserverId, ObserverManager, ObserverReport, VariableError,
};

type TestResult = Result<(), Box<dyn Error>>;

fn meta() -> Metadata {
    Metadata::new("test")
}

fn find(observers: &[ObserverReport], id: ObserverId) -> &ObserverReport {
    observers
        .iter()
        .find(|o| o.id == id)
        .unwrap_or_else(|| panic!("{id:?} not in the report"))
}

#[test]
fn observer_counts_follow_adds_removals_and_sweeps() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let other = manager.owner();
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(manager.observer_count("never-named"), 0);
    let a = manager.observe("a", &owner).callback(|_| {}).add()?;
    manager.observe("a", &other).callback(|_| {}).add()?;
    manager.observe("b", &other).callback(|_| {}).add()?;
    assert_eq!(manager.observer_count("a"), 2);
    assert_eq!(manager.observer_count(manager.variable("a")?), 2, "by id");
    let b = String::from("b");
    assert_eq!(manager.observer_count(&b), 1, "by &String");
    assert_eq!(manager.observer_count(b), 1, "by String");
    assert_eq!(manager.total_observers(), 3);

    manager.remove_observer(a)?;
    assert_eq!(manager.observer_count("a"), 1);
    drop(other);
    assert_eq!(manager.total_observers(), 2, "swept only at the tick");
    manager.tick();
    assert_eq!(manager.total_observers(), 0);
    assert_eq!(manager.observer_count("a"), 0);
    assert_eq!(manager.observer_count("b"), 0);
    Ok(())
}

#[test]
fn inspect_variable_reports_owner_age_and_deliveries() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let first_owner = manager.owner();
    let second_owner = manager.owner();
    let first = manager.observe("hp", &first_owner).callback(|_| {}).add()?;
    manager.tick();
    manager.tick();
    let second = manager
        .observe("hp", &second_owner)
        .callback(|_| {})
        .add()?;
    manager.notify("hp", 100, 90, meta())?;
    manager.tick();
    let third = manager.observe("hp", &first_owner).callback(|_| {}).add()?;

    let report = manager.inspect_variable("hp")?;
    assert_eq!(report.name, "hp");
    assert_eq!(report.id, manager.variable("hp")?);
    assert_eq!(report.changes_dispatched, 1);
    assert_eq!(report.notifications, 2);
    assert_eq!(report.last_dispatch_tick, Some(3));
    assert_eq!(report.observers.len(), 3);

    let o = find(&report.observers, first);
    assert_eq!(o.owner, first_owner.id());
    assert!(o.owner_alive);
    assert_eq!(o.age_ticks, 3);
    assert_eq!(o.deliveries, 1);
    assert_eq!(o.panics, 0);
    assert_eq!(o.last_delivery_tick, Some(3));

    let o = find(&report.observers, second);
    assert_eq!(o.owner, second_owner.id());
    assert_eq!(o.age_ticks, 1);
    assert_eq!(o.deliveries, 1);
    assert_eq!(o.last_delivery_tick, Some(3));

    let o = find(&report.observers, third);
    assert_eq!(o.owner, first_owner.id());
    assert_eq!(o.age_ticks, 0);
    assert_eq!(o.deliveries, 0, "registered after the only dispatch");
    assert_eq!(o.last_delivery_tick, None);
    assert!(o.age <= find(&report.observers, first).age);

    // Two more changes at tick 5: everyone has them.
    manager.tick();
    manager.notify("hp", 90, 80, meta())?;
    manager.notify("hp", 80, 70, meta())?;
    manager.tick();
    let report = manager.inspect_variable("hp")?;
    assert_eq!(report.changes_dispatched, 3);
    assert_eq!(report.notifications, 2 + 2 * 3);
    assert_eq!(report.last_dispatch_tick, Some(5));
    assert_eq!(find(&report.observers, first).deliveries, 3);
    assert_eq!(find(&report.observers, third).deliveries, 2);
    assert_eq!(find(&report.observers, third).last_delivery_tick, Some(5));
    assert_eq!(find(&report.observers, first).age_ticks, 5);
    drop(second_owner);
    Ok(())
}

#[test]
fn inspect_variable_shows_dead_owner_until_the_sweep() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let keeper = manager.owner();
    let doomed = manager.owner();
    let doomed_id = doomed.id();
    let kept = manager.observe("x", &keeper).callback(|_| {}).add()?;
    let gone = manager.observe("x", &doomed).callback(|_| {}).add()?;
    assert_ne!(keeper.id(), doomed_id);
    drop(doomed);

    let report = manager.inspect_variable("x")?;
    assert_eq!(report.observers.len(), 2, "listed until the tick sweeps it");
    let o = find(&report.observers, gone);
    assert_eq!(o.owner, doomed_id);
    assert!(!o.owner_alive);
    assert!(find(&report.observers, kept).owner_alive);

    manager.tick();
    let report = manager.inspect_variable("x")?;
    assert_eq!(report.observers.len(), 1);
    assert_eq!(report.observers[0].id, kept);
    Ok(())
}

#[test]
fn inspect_unknown_variable_is_an_error_and_interns_nothing() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let unknown = VariableError::Unknown {
        name: "nope".into(),
    };
    assert_eq!(unknown.to_string(), "no variable is named \"nope\"");
    assert_eq!(manager.inspect_variable("nope"), Err(unknown));
    assert_eq!(manager.observer_count("nope"), 0);
    assert!(
        matches!(
            manager.inspect_variable("nope"),
            Err(VariableError::Unknown { .. })
        ),
        "lookups never intern"
    );
    assert_eq!(manager.stats().variables, 0);
    assert_eq!(manager.inspect_variable(""), Err(VariableError::EmptyName));
    let long = "x".repeat(observer_manager::MAX_VARIABLE_NAME_LEN + 1);
    assert_eq!(
        manager.inspect_variable(&long),
        Err(VariableError::NameTooLong { len: long.len() })
    );
    let other = ObserverManager::<i64>::new();
    assert_eq!(
        manager.inspect_variable(other.variable("x")?),
        Err(VariableError::ForeignManager)
    );

    // A variable named by a notifier but never observed is known and empty.
    manager.notifier().notify("quiet", 0, 1, meta())?;
    let report = manager.inspect_variable("quiet")?;
    assert_eq!(report.name, "quiet");
    assert!(report.observers.is_empty());
    assert_eq!(report.changes_dispatched, 0);
    manager.tick();
    let report = manager.inspect_variable("quiet")?;
    assert!(report.observers.is_empty());
    assert_eq!(report.changes_dispatched, 1);
    assert_eq!(report.notifications, 0);
    Ok(())
}

#[test]
fn variable_ids_are_dense_and_shared_with_notifiers() -> TestResult {
    let manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let a = manager.variable("a")?;
    let b = notifier.variable("b")?;
    assert_eq!((a.index(), b.index()), (0, 1));
    assert_eq!(manager.variable("b")?, b);
    assert_eq!(notifier.variable("a")?, a);
    assert_eq!(manager.variable(""), Err(VariableError::EmptyName));
    assert_eq!(manager.stats().variables, 2);
    Ok(())
}

#[test]
fn stats_report_live_owners_and_pending_changes() -> TestResult {
    let manager = ObserverManager::<i64>::new();
    let owners: Vec<_> = (0..3).map(|_| manager.owner()).collect();
    let from_notifier = manager.notifier().owner();
    assert_eq!(manager.stats().live_owners, 4);
    drop(owners);
    assert_eq!(manager.stats().live_owners, 1);
    manager.notify("a", 0, 1, meta())?;
    manager.notify("b", 0, 1, meta())?;
    assert_eq!(manager.pending_changes(), 2);
    assert_eq!(manager.stats().changes_pending, 2);
    from_notifier.kill();
    assert_eq!(manager.stats().live_owners, 0);
    Ok(())
}

#[test]
fn stats_add_up_between_ticks() -> TestResult {
    let manager = ObserverManager::<i64>::with_config(Config::default().inbox_capacity(1))?;
    manager.notify("a", 0, 1, meta())?;
    manager.notify("a", 1, 2, meta())?; // coalesced
    manager.notify("a", 2, 3, meta())?; // merged into the coalesced change
    manager.notify("a", 3, 3, meta())?; // unchanged
    let stats = manager.stats();
    assert_eq!(stats.changes_pending, 2);
    assert_eq!(
        stats.changes_received,
        stats.changes_delivered + stats.changes_coalesced + stats.changes_pending,
        "documented invariant on Stats: {stats:?}"
    );
    assert_eq!(stats.changes_received, 3, "changes accepted by notify");
    assert_eq!(stats.changes_coalesced, 1);
    assert_eq!(stats.changes_skipped, 1, "changes refused by notify");
    Ok(())
}

#[test]
fn tick_report_timings_sum_to_total() {
    let mut manager = ObserverManager::<i64>::new();
    let report = manager.tick();
    let t = report.timings;
    assert_eq!(
        t.total(),
        t.apply + t.sweep + t.collect + t.dispatch + t.account
    );
}

#[test]
fn debug_output_is_present_and_short_for_ids() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let observer = manager.observe("x", &owner).callback(|_| {}).add()?;
    let callback = manager.register_callback(|_| {});
    let variable = manager.variable("x")?;

    let text = format!("{manager:?}");
    assert!(text.starts_with("ObserverManager"), "{text}");
    assert!(text.contains("observers: 1"), "{text}");

    let short = [
        (
            "ObserverId { index: 0, generation: 1 }",
            format!("{observer:?}"),
        ),
        (
            "OwnerId { index: 1, generation: 1 }",
            format!("{:?}", owner.id()),
        ),
        (
            "CallbackId { index: 0, generation: 1 }",
            format!("{callback:?}"),
        ),
        (
            "VariableId { index: 0, generation: 0 }",
            format!("{variable:?}"),
        ),
        ("Owner(OwnerId {", format!("{owner:?}")),
        ("observer 0.1", observer.to_string()),
        ("owner 1.1", owner.id().to_string()),
        ("callback 0.1", callback.to_string()),
        ("variable 0", variable.to_string()),
    ];
    for (prefix, text) in short {
        assert!(
            text.starts_with(prefix),
            "{text} should start with {prefix}"
        );
        assert!(text.len() <= 48, "{text} is not short");
    }
    assert!(!format!("{:?}", manager.notifier()).is_empty());
    assert!(!format!("{:?}", manager.config()).is_empty());
    assert!(!format!("{:?}", manager.stats()).is_empty());
    let summary = manager.stats().to_string();
    assert!(summary.contains("1 observers (1 added"), "{summary}");
    let report = manager.tick().to_string();
    assert!(report.starts_with("tick 1: 0 notifications"), "{report}");
    assert!(report.contains(" us (apply "), "{report}");
    Ok(())
}
