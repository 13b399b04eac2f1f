//! With the `serde` feature, stats, tick reports and the inspect view
//! serialise to JSON a pipeline can log. Run: `cargo test --features serde --test suite json`.

use observer_manager::{Metadata, ObserverManager};
use serde_json::Value;

#[test]
fn reports_serialise_to_json_with_their_fields() {
    let mut manager = ObserverManager::<i32>::new();
    let owner = manager.owner();
    let id = manager
        .observe("hp", &owner)
        .callback(|_| {})
        .add()
        .unwrap();
    manager.notify("hp", 1, 2, Metadata::new("test")).unwrap();
    let report = manager.tick();

    let json: Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["tick"], 1);
    assert_eq!(json["notifications"], 1);
    assert!(json["timings"]["dispatch"]["nanos"].is_u64());

    let stats: Value = serde_json::to_value(manager.stats()).unwrap();
    assert_eq!(stats["observers_added"], 1);
    assert_eq!(stats["notifications_sent"], 1);

    let view: Value = serde_json::to_value(manager.inspect_variable("hp").unwrap()).unwrap();
    assert_eq!(view["name"], "hp");
    assert_eq!(view["observers"][0]["id"], id.to_bits());
    assert_eq!(view["observers"][0]["deliveries"], 1);
    assert_eq!(view["observers"][0]["owner"], owner.id().to_bits());
}
