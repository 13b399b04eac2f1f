//! Zenoh configurations for one machine.

use zenoh::Config;

use crate::error::ConfigError;

/// A zenoh peer configuration that talks to loopback only: multicast and
/// gossip scouting off, listening on `tcp/127.0.0.1:<listen>` if given, and
/// connecting to `tcp/127.0.0.1:<port>` for each of `connect`.
///
/// For tests, examples and processes on one machine. A deployment across
/// machines builds its own [`Config`] (routers, TLS, access control; see
/// `docs/distributed.md`) and passes the session to the bridge.
///
/// # Errors
///
/// [`ConfigError::Zenoh`] if zenoh refuses a key (which would be a bug in
/// this function for the zenoh version it was built with).
///
/// # Examples
///
/// ```
/// let config = observer_manager_zenoh::loopback_config(Some(17_447), &[])?;
/// assert!(config.get_json("listen/endpoints")?.contains("127.0.0.1:17447"));
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// ```
pub fn loopback_config(listen: Option<u16>, connect: &[u16]) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    let endpoints = |ports: &mut dyn Iterator<Item = u16>| {
        let list: Vec<String> = ports.map(|p| format!("\"tcp/127.0.0.1:{p}\"")).collect();
        format!("[{}]", list.join(","))
    };
    let settings = [
        ("mode", "\"peer\"".to_owned()),
        ("scouting/multicast/enabled", "false".to_owned()),
        ("scouting/gossip/enabled", "false".to_owned()),
        ("listen/endpoints", endpoints(&mut listen.into_iter())),
        ("connect/endpoints", endpoints(&mut connect.iter().copied())),
    ];
    for (key, value) in settings {
        config
            .insert_json5(key, &value)
            .map_err(ConfigError::Zenoh)?;
    }
    Ok(config)
}
