//! The objects of one kind as plugins read them: a store's storage (the watch cache) and key
//! prefix, so plugins need not spell keys out themselves.

use crate::errors::{ApiError, Result};
use crate::registry::store::Store;
use crate::storage::{self, Object, Storage, list_recent, read_latest, read_recent};
use serde_json::Value;
use std::sync::Arc;

#[derive(Clone)]
pub struct Source {
    storage: Arc<dyn Storage>,
    prefix: String,
}

impl Source {
    /// `prefix` ends in `/`, as a store's.
    pub fn new(storage: Arc<dyn Storage>, prefix: impl Into<String>) -> Self {
        Self {
            storage,
            prefix: prefix.into(),
        }
    }

    pub fn of(store: &Store) -> Self {
        Self::new(store.storage.clone(), store.prefix.clone())
    }

    /// For reads and writes the helpers below do not cover (compare-and-swap writes).
    pub fn storage(&self) -> &dyn Storage {
        &*self.storage
    }

    /// An object's key; an empty namespace means a cluster-scoped object.
    fn key(&self, namespace: &str, name: &str) -> String {
        if namespace.is_empty() {
            format!("{}{name}", self.prefix)
        } else {
            format!("{}{namespace}/{name}", self.prefix)
        }
    }

    /// The key prefix of one namespace's objects.
    pub fn namespace_prefix(&self, namespace: &str) -> String {
        format!("{}{namespace}/", self.prefix)
    }

    /// See [`read_recent`].
    pub async fn read_recent(
        &self,
        namespace: &str,
        name: &str,
    ) -> storage::Result<Option<Object>> {
        read_recent(self.storage(), &self.key(namespace, name)).await
    }

    /// See [`read_latest`].
    pub async fn read_latest(
        &self,
        namespace: &str,
        name: &str,
    ) -> storage::Result<Option<Object>> {
        read_latest(self.storage(), &self.key(namespace, name)).await
    }

    /// [`Source::read_recent`], parsed; a failure is an internal error.
    pub async fn value(&self, namespace: &str, name: &str) -> Result<Option<Value>> {
        match self
            .read_recent(namespace, name)
            .await
            .map_err(ApiError::internal)?
        {
            Some(o) => Ok(Some(o.value().map_err(ApiError::internal)?)),
            None => Ok(None),
        }
    }

    /// Every object, from the watch cache; a failure is an internal error.
    pub async fn list_all(&self) -> Result<Vec<Value>> {
        list_recent(self.storage(), &self.prefix)
            .await
            .map_err(ApiError::internal)
    }

    /// The objects of one namespace, as [`Source::list_all`].
    pub async fn list_in(&self, namespace: &str) -> Result<Vec<Value>> {
        list_recent(self.storage(), &self.namespace_prefix(namespace))
            .await
            .map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::pod_security::tests::Memory;

    #[test]
    fn keys_are_formatted_as_stores_do() {
        let s = Source::new(Arc::new(Memory::default()), "/registry/pods/");
        assert_eq!(s.key("", "n1"), "/registry/pods/n1");
        assert_eq!(s.key("ns", "p"), "/registry/pods/ns/p");
        assert_eq!(s.namespace_prefix("ns"), "/registry/pods/ns/");
    }
}
