//! Bad and borderline input through the public API: each case answers with
//! a typed error or a documented behaviour, leaves nothing half-done, and
//! drops every value it was handed exactly once. `docs/reliability.md`
//! tabulates the cases and names the test behind each (some rows are pinned
//! by the older test files and not repeated here).

use std::collections::HashSet;
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use observer_manager::{
    AddObserverError, Config, MAX_VARIABLE_NAME_LEN, Metadata, Notification, Notifier, NotifyError,
    NotifyOutcome, ObserverManager, RemoveObserverError, VariableError,
};

type TestResult = Result<(), Box<dyn Error>>;

/// The `(old, new)` pairs one callback received.
type Log<V> = Arc<Mutex<Vec<(V, V)>>>;

fn meta() -> Metadata {
    Metadata::new("test")
}

/// A callback that records `(old, new)` pairs.
fn recorder<V: Clone + Send + 'static>(
    log: &Log<V>,
) -> impl Fn(&Notification<'_, V>) + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |n| log.lock().unwrap().push((n.old.clone(), n.new.clone()))
}

#[test]
fn notify_to_a_never_observed_variable_is_accepted_and_reaches_nobody() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    assert_eq!(
        manager.notify("ghost", 0, 1, meta())?,
        NotifyOutcome::Queued
    );
    assert_eq!(manager.stats().variables, 1, "notify interns the name");
    let report = manager.tick();
    assert_eq!(report.changes_delivered, 1);
    assert_eq!(report.variables_changed, 1);
    assert_eq!(report.notifications, 0);
    let ghost = manager.inspect_variable("ghost")?;
    assert_eq!(ghost.changes_dispatched, 1);
    assert!(ghost.observers.is_empty());

    // An observer added later does not receive what was dispatched before.
    let owner = manager.owner();
    let log = Arc::default();
    manager
        .observe("ghost", &owner)
        .callback(recorder(&log))
        .add()?;
    manager.tick();
    assert!(log.lock().unwrap().is_empty());
    manager.notify("ghost", 1, 2, meta())?;
    manager.tick();
    assert_eq!(*log.lock().unwrap(), vec![(1, 2)]);
    Ok(())
}

#[test]
fn empty_variable_name_is_refused_everywhere_and_nothing_is_queued() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let owner = manager.owner();
    let shared = manager.register_callback(|_| {});
    let empty = VariableError::EmptyName;
    assert_eq!(manager.variable(""), Err(empty.clone()));
    assert_eq!(notifier.variable(""), Err(empty.clone()));
    assert_eq!(
        manager.notify("", 0, 1, meta()),
        Err(NotifyError::Variable(empty.clone()))
    );
    assert_eq!(
        notifier.notify("", 0, 1, meta()),
        Err(NotifyError::Variable(empty.clone()))
    );
    let refused = AddObserverError::Variable(empty.clone());
    let direct = manager.observe("", &owner).callback(|_| {}).add();
    assert_eq!(direct.err(), Some(refused.clone()));
    let direct = manager.observe("", &owner).shared(shared).add();
    assert_eq!(direct.err(), Some(refused.clone()));
    assert_eq!(
        notifier.observe("", &owner).callback(|_| {}).defer(),
        Err(refused.clone())
    );
    assert_eq!(
        notifier.observe("", &owner).shared(shared).defer(),
        Err(refused)
    );
    assert_eq!(manager.inspect_variable(""), Err(empty));
    assert_eq!(manager.observer_count(""), 0);

    let stats = manager.stats();
    assert_eq!(stats.variables, 0);
    assert_eq!(stats.changes_received, 0);
    assert_eq!(
        stats.changes_skipped, 0,
        "a refused change is not a skipped one"
    );
    assert_eq!(manager.pending_changes(), 0);
    let report = manager.tick();
    assert_eq!(report.commands_applied + report.commands_skipped, 0);
    assert_eq!(manager.total_observers(), 0);
    Ok(())
}

#[test]
fn names_of_max_len_bytes_are_accepted_and_one_more_byte_is_refused() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    // The limit counts bytes, not characters: "é" is two bytes.
    let longest = [
        "x".repeat(MAX_VARIABLE_NAME_LEN),
        "é".repeat(MAX_VARIABLE_NAME_LEN / 2),
    ];
    let too_long = [
        "x".repeat(MAX_VARIABLE_NAME_LEN + 1),
        longest[1].clone() + "x",
    ];
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    for name in &longest {
        let sink = Arc::clone(&names);
        manager
            .observe(name, &owner)
            .callback(move |n| sink.lock().unwrap().push(n.name.to_owned()))
            .add()?;
        manager.notify(name, 0, 1, meta())?;
        assert_eq!(manager.inspect_variable(name)?.name, *name);
    }
    for name in &too_long {
        let error = VariableError::NameTooLong {
            len: MAX_VARIABLE_NAME_LEN + 1,
        };
        assert_eq!(name.len(), MAX_VARIABLE_NAME_LEN + 1);
        assert_eq!(manager.variable(name), Err(error.clone()));
        assert_eq!(
            manager.notify(name, 0, 1, meta()),
            Err(NotifyError::Variable(error.clone()))
        );
        assert_eq!(
            manager.observe(name, &owner).callback(|_| {}).add(),
            Err(AddObserverError::Variable(error.clone()))
        );
        assert_eq!(manager.inspect_variable(name), Err(error));
    }
    manager.tick();
    let mut seen = names.lock().unwrap().clone();
    seen.sort();
    let mut expected = longest.to_vec();
    expected.sort();
    assert_eq!(seen, expected, "the callbacks see the full names");
    assert_eq!(manager.stats().variables, 2);
    Ok(())
}

#[test]
fn any_nonempty_string_is_a_name_and_names_compare_as_exact_bytes() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let names = [
        "a", "A", " a", "a ", "\0", "\n", "名前", "a\u{301}", "\u{e1}",
    ];
    let logs: Vec<Log<i64>> = names.iter().map(|_| Arc::default()).collect();
    for (i, name) in names.iter().enumerate() {
        manager
            .observe(*name, &owner)
            .callback(recorder(&logs[i]))
            .add()?;
        manager.notify(*name, 0, i as i64 + 1, meta())?;
    }
    assert_eq!(
        manager.stats().variables,
        names.len() as u64,
        "all distinct"
    );
    manager.tick();
    for (i, log) in logs.iter().enumerate() {
        assert_eq!(
            *log.lock().unwrap(),
            vec![(0, i as i64 + 1)],
            "{:?}",
            names[i]
        );
    }
    Ok(())
}

#[test]
fn stale_and_foreign_ids_are_refused_or_skipped_never_misapplied() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let doomed = manager.owner();
    let owner = manager.owner();
    let swept = manager.observe("x", &doomed).callback(|_| {}).add()?;
    let kept = manager.observe("x", &owner).callback(|_| {}).add()?;
    drop(doomed);
    manager.tick();
    // Swept with its owner: the id is stale, like a removed one.
    assert!(!manager.contains_observer(swept));
    assert_eq!(
        manager.remove_observer(swept),
        Err(RemoveObserverError::NotFound)
    );
    notifier.remove_observer(swept)?;
    let report = manager.tick();
    assert_eq!((report.commands_applied, report.commands_skipped), (0, 1));
    assert!(manager.contains_observer(kept));

    // Ids of a dropped manager stay foreign to every later one.
    let gone_id;
    let gone_var;
    {
        let mut gone = ObserverManager::<i64>::new();
        let gone_owner = gone.owner();
        gone_id = gone.observe("x", &gone_owner).callback(|_| {}).add()?;
        gone_var = gone.variable("x")?;
    }
    assert_eq!(
        manager.remove_observer(gone_id),
        Err(RemoveObserverError::ForeignManager)
    );
    assert_eq!(
        notifier.remove_observer(gone_id),
        Err(RemoveObserverError::ForeignManager)
    );
    let foreign = VariableError::ForeignManager;
    assert_eq!(
        notifier.notify(gone_var, 0, 1, meta()),
        Err(NotifyError::Variable(foreign.clone()))
    );
    assert_eq!(
        notifier.observe(gone_var, &owner).callback(|_| {}).defer(),
        Err(AddObserverError::Variable(foreign))
    );
    assert_eq!(manager.observer_count(gone_var), 0);
    let report = manager.tick();
    assert_eq!(
        report.commands_applied + report.commands_skipped,
        0,
        "nothing queued"
    );
    assert_eq!(report.changes_received, 0);
    assert_eq!(manager.total_observers(), 1);
    Ok(())
}

#[test]
fn deferred_removal_of_an_observer_removed_directly_meanwhile_is_skipped() -> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = manager.owner();
    let id = manager.observe("x", &owner).callback(|_| {}).add()?;
    let other = manager.observe("x", &owner).callback(|_| {}).add()?;
    manager.notifier().remove_observer(id)?;
    manager.remove_observer(id)?;
    let report = manager.tick();
    assert_eq!((report.commands_applied, report.commands_skipped), (0, 1));
    assert!(
        manager.contains_observer(other),
        "the skipped removal hit nothing else"
    );
    let stats = manager.stats();
    assert_eq!(stats.observers_removed, 1);
    assert_eq!(stats.active_observers, 1);
    Ok(())
}

#[test]
fn deferred_shared_registration_for_dead_owner_is_skipped_and_holds_no_callback_use() -> TestResult
{
    let mut manager = ObserverManager::<i64>::new();
    let notifier = manager.notifier();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let shared = manager.register_callback(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    let owner = notifier.owner();
    notifier.observe("x", &owner).shared(shared).defer()?;
    notifier.observe("x", &owner).shared(shared).defer()?;
    owner.kill();
    notifier.notify("x", 0, 1, meta())?;
    let report = manager.tick();
    assert_eq!((report.commands_applied, report.commands_skipped), (0, 2));
    assert_eq!(report.notifications, 0);
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    // Had a skipped registration counted as a user, this would be `InUse`.
    manager.unregister_callback(shared)?;
    assert_eq!(Arc::strong_count(&calls), 1, "the callback is dropped");
    Ok(())
}

#[test]
fn nan_to_nan_is_a_change_and_is_delivered_but_equal_floats_are_not() -> TestResult {
    let mut manager = ObserverManager::<f64>::new();
    let owner = manager.owner();
    let log: Log<f64> = Arc::default();
    manager
        .observe("t", &owner)
        .callback(recorder(&log))
        .add()?;
    let nan = f64::NAN;
    // `notify` compares with `PartialEq`: NaN != NaN, and 0.0 == -0.0.
    assert_eq!(
        manager.notify("t", nan, nan, meta())?,
        NotifyOutcome::Queued
    );
    assert_eq!(
        manager.notify("t", nan, 1.0, meta())?,
        NotifyOutcome::Queued
    );
    assert_eq!(
        manager.notify("t", 1.0, 1.0, meta())?,
        NotifyOutcome::Unchanged
    );
    assert_eq!(
        manager.notify("t", 0.0, -0.0, meta())?,
        NotifyOutcome::Unchanged
    );
    let inf = f64::INFINITY;
    assert_eq!(
        manager.notify("t", inf, inf, meta())?,
        NotifyOutcome::Unchanged
    );
    let report = manager.tick();
    assert_eq!((report.changes_delivered, report.changes_skipped), (2, 3));
    let seen = std::mem::take(&mut *log.lock().unwrap());
    assert_eq!(seen.len(), 2);
    assert!(seen[0].0.is_nan() && seen[0].1.is_nan(), "{seen:?}");
    assert!(seen[1].0.is_nan() && seen[1].1 == 1.0, "{seen:?}");
    Ok(())
}

#[test]
fn coalescing_back_to_nan_is_still_a_change_but_back_to_a_number_is_absorbed() -> TestResult {
    let config = Config::default().inbox_capacity(1);
    let mut manager = ObserverManager::<f64>::with_config(config)?;
    let owner = manager.owner();
    let log: Log<f64> = Arc::default();
    manager
        .observe("a", &owner)
        .callback(recorder(&log))
        .add()?;
    manager
        .observe("b", &owner)
        .callback(recorder(&log))
        .add()?;
    manager.notify("filler", 0.0, 1.0, meta())?; // fills the queue
    // "a": 1 -> NaN -> 1 coalesces to 1 -> 1: absorbed, not delivered.
    manager.notify("a", 1.0, f64::NAN, meta())?;
    manager.notify("a", f64::NAN, 1.0, meta())?;
    // "b": NaN -> 2 -> NaN coalesces to NaN -> NaN: delivered.
    manager.notify("b", f64::NAN, 2.0, meta())?;
    manager.notify("b", 2.0, f64::NAN, meta())?;
    let report = manager.tick();
    assert_eq!(report.changes_received, 5);
    assert_eq!(report.changes_delivered, 2, "the filler and b's NaN -> NaN");
    assert_eq!(
        report.changes_coalesced, 3,
        "both merges and a's absorbed run"
    );
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].0.is_nan() && seen[0].1.is_nan(), "{seen:?}");
    Ok(())
}

/// A value that records its drops by serial number, to catch leaks and
/// double drops.
#[derive(Debug)]
struct Tracked {
    serial: usize,
    value: i64,
    ledger: Arc<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    made: AtomicUsize,
    dropped: Mutex<HashSet<usize>>,
    dropped_twice: AtomicUsize,
}

impl Ledger {
    fn make(self: &Arc<Self>, value: i64) -> Tracked {
        Tracked {
            serial: self.made.fetch_add(1, Ordering::Relaxed),
            value,
            ledger: Arc::clone(self),
        }
    }

    fn live(&self) -> usize {
        self.made.load(Ordering::Relaxed) - self.dropped.lock().unwrap().len()
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if !self.ledger.dropped.lock().unwrap().insert(self.serial) {
            self.ledger.dropped_twice.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn dropping_the_manager_drops_pending_values_once_and_later_calls_are_refused() -> TestResult {
    let ledger = Arc::new(Ledger::default());
    let notifier: Notifier<Tracked>;
    let owner;
    let id;
    let callback_guard = Arc::new(());
    {
        let config = Config::default().inbox_capacity(2);
        let mut manager = ObserverManager::<Tracked>::with_config(config)?;
        notifier = manager.notifier();
        owner = manager.owner();
        id = manager.observe("x", &owner).callback(|_| {}).add()?;
        let l = &ledger;
        // Queued, queued, coalesced, merged into it, unchanged: all kinds.
        manager.notify("x", l.make(0), l.make(1), meta())?;
        notifier.notify("y", l.make(0), l.make(1), meta())?;
        notifier.notify("x", l.make(1), l.make(2), meta())?;
        notifier.notify("x", l.make(2), l.make(3), meta())?;
        notifier.notify("x", l.make(3), l.make(3), meta())?;
        let guard = Arc::clone(&callback_guard);
        notifier
            .observe("x", &owner)
            .callback(move |_| {
                let _ = &guard;
            })
            .defer()?;
        assert_eq!(manager.pending_changes(), 3);
        // Still held: the two queued changes, the coalesced one (first old,
        // last new); the merged-away new value and the unchanged pair went.
        assert_eq!(ledger.live(), 6);
        // The manager is dropped with all of that pending.
    }
    assert_eq!(ledger.live(), 0, "every pending value dropped");
    assert_eq!(ledger.dropped_twice.load(Ordering::Relaxed), 0);
    assert_eq!(
        Arc::strong_count(&callback_guard),
        1,
        "queued registration dropped"
    );

    let (old, new) = (ledger.make(5), ledger.make(6));
    assert_eq!(
        notifier.notify("x", old, new, meta()),
        Err(NotifyError::ManagerDropped)
    );
    assert_eq!(ledger.live(), 0, "the refused values are dropped too");
    let guard = Arc::clone(&callback_guard);
    let refused = notifier
        .observe("x", &owner)
        .callback(move |_| {
            let _ = &guard;
        })
        .defer();
    assert_eq!(refused, Err(AddObserverError::ManagerDropped));
    assert_eq!(
        Arc::strong_count(&callback_guard),
        1,
        "refused callback dropped"
    );
    assert_eq!(
        notifier.remove_observer(id),
        Err(RemoveObserverError::ManagerDropped)
    );
    assert_eq!(
        notifier.remove_observers_of("x"),
        Err(NotifyError::ManagerDropped)
    );
    // Naming variables and making owners touch no manager state: they still work.
    assert!(notifier.variable("x").is_ok());
    drop(notifier.owner());
    drop(owner);
    assert_eq!(ledger.dropped_twice.load(Ordering::Relaxed), 0);
    Ok(())
}

#[test]
fn callback_reentering_with_bad_input_gets_typed_errors_and_good_calls_apply_next_tick()
-> TestResult {
    let mut manager = ObserverManager::<i64>::new();
    let owner = Arc::new(manager.owner());
    let notifier = manager.notifier();
    let shared = manager.register_callback(|_| {});
    let foreign_id = {
        let mut other = ObserverManager::<i64>::new();
        let other_owner = other.owner();
        other.observe("x", &other_owner).callback(|_| {}).add()?
    };
    let echo: Log<i64> = Arc::default();
    manager
        .observe("echo", &owner)
        .callback(recorder(&echo))
        .add()?;
    let answers: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&answers);
    let keep = Arc::clone(&owner);
    let door = manager
        .observe("door", &owner)
        .callback(move |n| {
            let mut out = sink.lock().unwrap();
            let long = "x".repeat(MAX_VARIABLE_NAME_LEN + 1);
            out.push(format!("{:?}", notifier.notify("", 0, 1, meta())));
            out.push(format!(
                "{:?}",
                notifier.notify(&long, 0, 1, meta()).map(|_| ())
            ));
            out.push(format!(
                "{:?}",
                notifier.observe("", &keep).callback(|_| {}).defer()
            ));
            out.push(format!("{:?}", notifier.remove_observer(foreign_id)));
            // Good calls, applied at the next tick: one notify, one shared
            // registration, this observer's removal twice, and a registration
            // for an owner that is dead before the tick.
            out.push(format!("{:?}", notifier.notify("echo", 0, *n.new, meta())));
            out.push(format!(
                "{:?}",
                notifier.observe("door", &keep).shared(shared).defer()
            ));
            out.push(format!("{:?}", notifier.remove_observer(n.observer)));
            out.push(format!("{:?}", notifier.remove_observer(n.observer)));
            let brief = notifier.owner();
            out.push(format!(
                "{:?}",
                notifier.observe("door", &brief).callback(|_| {}).defer()
            ));
        })
        .add()?;
    manager.notify("door", 0, 7, meta())?;
    let report = manager.tick();
    assert_eq!(report.callback_panics, 0);
    let long = MAX_VARIABLE_NAME_LEN + 1;
    assert_eq!(
        *answers.lock().unwrap(),
        vec![
            "Err(Variable(EmptyName))".to_owned(),
            format!("Err(Variable(NameTooLong {{ len: {long} }}))"),
            "Err(Variable(EmptyName))".to_owned(),
            "Err(ForeignManager)".to_owned(),
            "Ok(Queued)".to_owned(),
            "Ok(())".to_owned(),
            "Ok(())".to_owned(),
            "Ok(())".to_owned(),
            "Ok(())".to_owned(),
        ]
    );
    let report = manager.tick();
    assert_eq!(
        report.commands_applied, 2,
        "the shared registration and one removal"
    );
    assert_eq!(
        report.commands_skipped, 2,
        "the second removal and the dead owner's"
    );
    assert_eq!(*echo.lock().unwrap(), vec![(0, 7)]);
    assert!(!manager.contains_observer(door));
    assert_eq!(manager.observer_count("door"), 1, "the shared observer");
    Ok(())
}

/// A value whose `Drop` reports to the same manager through a notifier.
struct ReportsOnDrop {
    value: u32,
    notifier: Option<Notifier<ReportsOnDrop>>,
}

impl PartialEq for ReportsOnDrop {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Drop for ReportsOnDrop {
    fn drop(&mut self) {
        if let Some(notifier) = self.notifier.take() {
            let plain = |value| ReportsOnDrop {
                value,
                notifier: None,
            };
            let _ = notifier.notify("released", plain(0), plain(1), meta());
        }
    }
}

/// Runs `f` on a thread and says whether it finished within a few seconds.
/// A deadlocked thread is left behind; the test process still exits.
fn finishes_in_time(f: impl FnOnce() + Send + 'static) -> bool {
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    finished.recv_timeout(Duration::from_secs(5)).is_ok()
}

#[test]
fn unchanged_value_whose_drop_notifies_does_not_deadlock() {
    let manager = ObserverManager::<ReportsOnDrop>::new();
    let notifier = manager.notifier();
    let finished = finishes_in_time(move || {
        let old = ReportsOnDrop {
            value: 1,
            notifier: Some(notifier.clone()),
        };
        let new = ReportsOnDrop {
            value: 1,
            notifier: None,
        };
        let outcome = notifier.notify("x", old, new, meta());
        assert_eq!(outcome, Ok(NotifyOutcome::Unchanged));
        drop(manager);
    });
    assert!(finished, "notify deadlocked dropping the unchanged value");
}

#[test]
fn coalesced_value_whose_drop_notifies_does_not_deadlock() {
    let config = Config::default().inbox_capacity(1);
    let manager = ObserverManager::<ReportsOnDrop>::with_config(config).unwrap();
    let notifier = manager.notifier();
    let finished = finishes_in_time(move || {
        let plain = |value| ReportsOnDrop {
            value,
            notifier: None,
        };
        notifier
            .notify("filler", plain(0), plain(1), meta())
            .unwrap();
        notifier.notify("x", plain(0), plain(1), meta()).unwrap();
        // The next merge replaces this pending new value, which reports on drop.
        let reporting = ReportsOnDrop {
            value: 2,
            notifier: Some(notifier.clone()),
        };
        notifier.notify("x", plain(1), reporting, meta()).unwrap();
        notifier.notify("x", plain(2), plain(3), meta()).unwrap();
        drop(manager);
    });
    assert!(finished, "notify deadlocked dropping a coalesced value");
}

#[test]
fn absorbed_run_whose_drop_notifies_does_not_deadlock_the_tick() {
    let config = Config::default().inbox_capacity(1);
    let mut manager = ObserverManager::<ReportsOnDrop>::with_config(config).unwrap();
    let notifier = manager.notifier();
    let plain = |value| ReportsOnDrop {
        value,
        notifier: None,
    };
    notifier
        .notify("filler", plain(0), plain(1), meta())
        .unwrap();
    // x runs 1 -> 2 -> 1: one coalesced change whose old value reports on drop.
    let reporting = ReportsOnDrop {
        value: 1,
        notifier: Some(notifier.clone()),
    };
    notifier.notify("x", reporting, plain(2), meta()).unwrap();
    notifier.notify("x", plain(2), plain(1), meta()).unwrap();
    let finished = finishes_in_time(move || {
        let report = manager.tick();
        assert_eq!(report.changes_delivered, 1, "only the filler");
        drop(manager);
    });
    assert!(finished, "the tick deadlocked dropping the absorbed change");
}
