//! The one registration API, `observe(var, owner)`: every name form, every
//! combination of policy, priming and callback, finished by `add` (at once)
//! or `defer` (next tick) on the manager and by `defer` on a notifier, with
//! the same deliveries and the same errors.

use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use observer_manager::{
    AddObserverError, Metadata, ObserverManager, Policy, VariableError, VariableRef,
};

type TestResult = Result<(), Box<dyn Error>>;

/// How an observer is added.
#[derive(Clone, Copy, Debug)]
enum Finish {
    ManagerAdd,
    ManagerDefer,
    NotifierDefer,
}

const FINISHES: [Finish; 3] = [
    Finish::ManagerAdd,
    Finish::ManagerDefer,
    Finish::NotifierDefer,
];

#[test]
fn every_name_form_names_one_variable() -> TestResult {
    let mut manager = ObserverManager::<u32>::new();
    let owner = manager.owner();
    let calls = Arc::new(AtomicUsize::new(0));
    let id = manager.variable("cell7")?;
    let owned = String::from("cell7");
    let shared: Arc<str> = Arc::from("cell7");
    let forms: [VariableRef<'_>; 6] = [
        "cell7".into(),
        format!("cell{}", 7).into(),
        (&owned).into(),
        Arc::clone(&shared).into(),
        (&shared).into(),
        id.into(),
    ];
    for form in forms {
        let calls = Arc::clone(&calls);
        manager
            .observe(form, &owner)
            .callback(move |_| {
                calls.fetch_add(1, Ordering::Relaxed);
            })
            .add()?;
    }
    assert_eq!(manager.observer_count(id), 6);
    assert_eq!(manager.stats().variables, 1);
    // Notify by an owned name too: one change, six deliveries.
    manager.notify(format!("cell{}", 7), 0, 1, Metadata::default())?;
    assert_eq!(manager.tick().notifications, 6);
    assert_eq!(calls.load(Ordering::Relaxed), 6);
    Ok(())
}

/// Adds one observer of "v" in each combination on a fresh manager,
/// reports two changes over two ticks and returns the deliveries.
fn deliveries(finish: Finish, shared: bool, once: bool, primed: bool) -> usize {
    let mut manager = ObserverManager::<u32>::new();
    let owner = manager.owner();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let count = move |_: &observer_manager::Notification<'_, u32>| {
        counter.fetch_add(1, Ordering::Relaxed);
    };
    let callback = shared.then(|| manager.register_callback(count.clone()));
    let policy = if once {
        Policy::new().once()
    } else {
        Policy::new()
    };
    let notifier = manager.notifier();
    macro_rules! build {
        ($start:expr) => {{
            let mut builder = $start.policy(policy);
            if primed {
                builder = builder.primed(9, Metadata::new("primed"));
            }
            match callback {
                Some(id) => builder.shared(id),
                None => builder.callback(count),
            }
        }};
    }
    match finish {
        Finish::ManagerAdd => build!(manager.observe("v", &owner)).add().map(|_| ()),
        Finish::ManagerDefer => build!(manager.observe("v", &owner)).defer(),
        Finish::NotifierDefer => build!(notifier.observe("v", &owner)).defer(),
    }
    .expect("a valid registration");
    for value in 1..=2 {
        manager.notify("v", 0, value, Metadata::default()).unwrap();
        manager.tick();
    }
    calls.load(Ordering::Relaxed)
}

#[test]
fn add_and_defer_deliver_the_same_for_every_combination() {
    for finish in FINISHES {
        for shared in [false, true] {
            for once in [false, true] {
                for primed in [false, true] {
                    // Two changes, the first only under `once`; the primed
                    // value comes first and bypasses the policy.
                    let changes = if once { 1 } else { 2 };
                    let expected = changes + usize::from(primed);
                    assert_eq!(
                        deliveries(finish, shared, once, primed),
                        expected,
                        "{finish:?}, shared {shared}, once {once}, primed {primed}"
                    );
                }
            }
        }
    }
}

/// The error each finish gives for one bad registration, in `FINISHES` order.
fn errors_of(
    bad: impl Fn(&mut ObserverManager<u32>, Finish) -> Result<(), AddObserverError>,
) -> Vec<AddObserverError> {
    FINISHES
        .into_iter()
        .map(|finish| {
            let mut manager = ObserverManager::<u32>::new();
            let error = bad(&mut manager, finish).expect_err("refused");
            assert_eq!(
                manager.tick().commands_applied,
                0,
                "{finish:?} queued nothing"
            );
            assert_eq!(manager.total_observers(), 0, "{finish:?} added nothing");
            error
        })
        .collect()
}

/// Finishes `observe(var, owner)` with `finish`, giving it a policy and
/// either the shared `callback` or a private closure.
fn finish_with(
    manager: &mut ObserverManager<u32>,
    finish: Finish,
    var: &str,
    owner: &observer_manager::Owner,
    policy: Policy<u32>,
    callback: Option<observer_manager::CallbackId>,
) -> Result<(), AddObserverError> {
    let notifier = manager.notifier();
    macro_rules! chosen {
        ($start:expr) => {{
            let builder = $start.policy(policy);
            match callback {
                Some(id) => builder.shared(id),
                None => builder.callback(|_| {}),
            }
        }};
    }
    match finish {
        Finish::ManagerAdd => chosen!(manager.observe(var, owner)).add().map(|_| ()),
        Finish::ManagerDefer => chosen!(manager.observe(var, owner)).defer(),
        Finish::NotifierDefer => chosen!(notifier.observe(var, owner)).defer(),
    }
}

#[test]
fn add_and_defer_refuse_the_same_registrations_with_the_same_errors() {
    let all = |error| vec![error; FINISHES.len()];
    let empty = errors_of(|m, f| {
        let owner = m.owner();
        finish_with(m, f, "", &owner, Policy::new(), None)
    });
    assert_eq!(
        empty,
        all(AddObserverError::Variable(VariableError::EmptyName))
    );

    let foreign_owner = errors_of(|m, f| {
        let owner = ObserverManager::<u32>::new().owner();
        finish_with(m, f, "v", &owner, Policy::new(), None)
    });
    assert_eq!(foreign_owner, all(AddObserverError::ForeignOwner));

    let zero_rate = errors_of(|m, f| {
        let owner = m.owner();
        finish_with(m, f, "v", &owner, Policy::new().every(0), None)
    });
    assert_eq!(zero_rate, all(AddObserverError::ZeroRateLimit));

    let foreign_callback = errors_of(|m, f| {
        let owner = m.owner();
        let other = ObserverManager::<u32>::new().register_callback(|_| {});
        finish_with(m, f, "v", &owner, Policy::new(), Some(other))
    });
    assert_eq!(foreign_callback, all(AddObserverError::UnknownCallback));
}

#[test]
fn an_unfinished_builder_registers_and_interns_nothing() {
    let mut manager = ObserverManager::<u32>::new();
    let owner = manager.owner();
    let builder = manager.observe("never", &owner).callback(|_| {});
    assert!(format!("{builder:?}").starts_with("Observe"));
    drop(builder);
    let report = manager.tick();
    assert_eq!((report.commands_applied, manager.total_observers()), (0, 0));
    assert_eq!(manager.stats().variables, 0);
}
