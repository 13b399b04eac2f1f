//! The engine's `tracing` output: a span per tick and per system, with
//! structured fields, and events for sweeps, dispatches and panics.

use std::sync::{Arc, Mutex};

use crate::common;

use observer_manager::{Config, Metadata, ObserverManager, TRACE_TARGET};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

/// What the layer saw: span names with their fields, and events.
#[derive(Default)]
struct Seen {
    spans: Vec<(String, Vec<(String, String)>)>,
    events: Vec<Vec<(String, String)>>,
}

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
}

struct Recorder(Arc<Mutex<Seen>>);

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        assert_eq!(attrs.metadata().target(), TRACE_TARGET);
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        let name = attrs.metadata().name().to_string();
        self.0.lock().unwrap().spans.push((name, fields.0));
    }

    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        values.record(&mut fields);
        let mut seen = self.0.lock().unwrap();
        if let Some(tick) = seen.spans.iter_mut().rev().find(|(n, _)| n == "tick") {
            tick.1.extend(fields.0);
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        self.0.lock().unwrap().events.push(fields.0);
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_tick_opens_a_span_per_system_and_reports_in_fields() {
    let _serial = common::serial();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let subscriber = Registry::default().with(Recorder(Arc::clone(&seen)));
    tracing::subscriber::with_default(subscriber, || {
        let mut manager = ObserverManager::<u32>::new();
        let owner = manager.owner();
        let dying = manager.owner();
        manager.observe("x", &owner).callback(|_| {}).add().unwrap();
        manager
            .observe("x", &owner)
            .callback(|_| panic!("fault"))
            .add()
            .unwrap();
        manager.observe("x", &dying).callback(|_| {}).add().unwrap();
        drop(dying);
        manager.notify("x", 1, 2, Metadata::default()).unwrap();
        manager.tick();
    });
    let seen = seen.lock().unwrap();
    let names: Vec<&str> = seen.spans.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["tick", "apply", "sweep", "collect", "dispatch", "account"],
        "no variable is due for reclaiming: no reclaim span"
    );
    let tick = &seen.spans[0].1;
    assert_eq!(field(tick, "tick"), Some("1"));
    assert_eq!(field(tick, "notifications"), Some("2"));
    assert_eq!(field(tick, "swept"), Some("1"));
    assert_eq!(field(tick, "panics"), Some("1"));

    let message = |e: &Vec<(String, String)>| field(e, "message").unwrap_or("").to_string();
    let sweep = seen.events.iter().find(|e| message(e) == "sweep").unwrap();
    assert_eq!(field(sweep, "swept"), Some("1"));
    let dispatch = seen
        .events
        .iter()
        .find(|e| message(e) == "dispatch")
        .unwrap();
    assert_eq!(field(dispatch, "variables"), Some("1"));
    assert_eq!(field(dispatch, "notifications"), Some("2"));
    let panic = seen
        .events
        .iter()
        .find(|e| message(e) == "callback panicked")
        .unwrap();
    assert_eq!(field(panic, "variable"), Some("\"x\""));
    assert_eq!(field(panic, "panic"), Some("\"fault\""));
    assert!(field(panic, "observer").unwrap().starts_with("observer "));
}

#[test]
fn a_tick_with_variables_due_for_reclaiming_opens_a_reclaim_span() {
    let _serial = common::serial();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let subscriber = Registry::default().with(Recorder(Arc::clone(&seen)));
    tracing::subscriber::with_default(subscriber, || {
        let config = Config::default().reclaim_idle_variables(Some(2));
        let mut manager = ObserverManager::<u32>::with_config(config).unwrap();
        manager.variable("unused").unwrap();
        for _ in 0..3 {
            manager.tick();
        }
    });
    let seen = seen.lock().unwrap();
    let reclaims: Vec<&Vec<(String, String)>> = seen
        .spans
        .iter()
        .filter(|(n, _)| n == "reclaim")
        .map(|(_, fields)| fields)
        .collect();
    assert_eq!(reclaims.len(), 1, "only the tick the variable is due");
    let message = |e: &Vec<(String, String)>| field(e, "message").unwrap_or("").to_string();
    let event = seen
        .events
        .iter()
        .find(|e| message(e) == "reclaim")
        .unwrap();
    assert_eq!(field(event, "reclaimed"), Some("1"));
}
