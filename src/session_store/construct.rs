//! Making a [`SessionStore`], and the parts it is made of: its source and
//! its notifier.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::SessionStore;
use super::table::Inner;
use crate::notifier::Notifier;

impl<V: Clone + PartialEq + Send + Sync + 'static> SessionStore<V> {
    /// The source written into the metadata of every change, unless the
    /// store is made with [`with_source`](Self::with_source).
    pub const DEFAULT_SOURCE: &'static str = "store";

    /// An empty store that reports through `notifier`, with source
    /// [`DEFAULT_SOURCE`](Self::DEFAULT_SOURCE).
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<String>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// assert_eq!(store.source(), "store");
    /// assert!(store.sessions().is_empty());
    /// ```
    pub fn new(notifier: Notifier<Option<V>>) -> Self {
        Self::with_source(notifier, Self::DEFAULT_SOURCE)
    }

    /// An empty store whose changes carry `source` in their metadata. A
    /// borrowed `&'static str` keeps `set` free of allocation; an owned
    /// string is cloned into every change.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::with_source(manager.notifier(), "profile-store");
    /// assert_eq!(store.source(), "profile-store");
    /// ```
    pub fn with_source(
        notifier: Notifier<Option<V>>,
        source: impl Into<Cow<'static, str>>,
    ) -> Self {
        let cleaner = Arc::new(notifier.owner());
        SessionStore {
            inner: Arc::new(Inner {
                notifier,
                source: source.into(),
                cleaner,
                sessions: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The source written into the metadata of this store's changes.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// assert_eq!(SessionStore::new(manager.notifier()).source(), "store");
    /// ```
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The notifier this store reports through.
    ///
    /// # Examples
    ///
    /// ```
    /// use observer_manager::{ObserverManager, SessionId, SessionStore};
    ///
    /// let manager = ObserverManager::<Option<u8>>::new();
    /// let store = SessionStore::new(manager.notifier());
    /// let id = store.variable(SessionId(1), "x")?;
    /// assert_eq!(store.notifier().variable("1/x")?, id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notifier(&self) -> &Notifier<Option<V>> {
        &self.inner.notifier
    }
}
