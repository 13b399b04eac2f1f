//! Errors, one enum per operation.

use std::fmt;

use crate::wire::EncodeError;

/// Why a [`Layout`](crate::Layout) or zenoh configuration was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A layout needs at least one shard.
    ZeroShards,
    /// The namespace does not make valid zenoh keys, or has wildcards.
    Namespace(String),
    /// Zenoh refused a configuration key.
    Zenoh(zenoh::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroShards => f.write_str("a layout needs at least one shard"),
            ConfigError::Namespace(ns) => write!(f, "invalid namespace {ns:?}"),
            ConfigError::Zenoh(e) => write!(f, "zenoh configuration refused: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Zenoh(e) => Some(&**e),
            _ => None,
        }
    }
}

/// Why a [`Publisher`](crate::Publisher) or
/// [`Subscriber`](crate::Subscriber) could not start, or a subscriber could
/// not follow its manager's registrations.
#[derive(Debug)]
#[non_exhaustive]
pub enum DeclareError {
    /// Zenoh refused to declare a publisher, subscriber or liveliness token.
    Zenoh(zenoh::Error),
}

impl fmt::Display for DeclareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeclareError::Zenoh(e) => write!(f, "zenoh declaration failed: {e}"),
        }
    }
}

impl std::error::Error for DeclareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DeclareError::Zenoh(e) => Some(&**e),
        }
    }
}

/// Why a [`Publisher`](crate::Publisher) refused a change or could not send.
#[derive(Debug)]
#[non_exhaustive]
pub enum PublishError {
    /// The change could not be encoded: bad name, value that does not
    /// serialize, or a single change over the message size limit. Nothing
    /// of it is buffered.
    Encode(EncodeError),
    /// Zenoh failed to send a message. Its changes are lost, and consumers
    /// count the missing sequence number as a gap.
    Zenoh(zenoh::Error),
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::Encode(e) => write!(f, "change refused: {e}"),
            PublishError::Zenoh(e) => write!(f, "zenoh put failed: {e}"),
        }
    }
}

impl std::error::Error for PublishError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PublishError::Encode(e) => Some(e),
            PublishError::Zenoh(e) => Some(&**e),
        }
    }
}

impl From<EncodeError> for PublishError {
    fn from(e: EncodeError) -> Self {
        PublishError::Encode(e)
    }
}
