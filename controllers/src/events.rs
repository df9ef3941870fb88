//! Events about the objects controllers act on, written as client-go's legacy event recorder
//! writes them, so `kubectl describe` and `kubectl events` read the same as upstream: core v1
//! Events named `<object>.<nanoseconds in hex>` in the object's namespace, with
//! `source.component` and `reportingComponent` set to the controller's name. A repeat of an
//! event (same object, type, reason and message) bumps the first one's `count` and
//! `lastTimestamp` instead of adding another, as client-go's correlator does.
//!
//! Recording never blocks or fails a reconcile: events are written in the background and a
//! failed write is logged.

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many distinct events are remembered for counting repeats (client-go's LRU size).
const REMEMBERED: usize = 4096;

/// The `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// An event recorder for one controller.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    component: &'static str,
    /// Events already written, by what makes two of them the same: their name and count.
    seen: Mutex<HashMap<String, (String, i32)>>,
    /// Held while an event is written: one at a time, as client-go's broadcaster writes them,
    /// so a repeat recorded while the first is still being created counts instead of making
    /// a second event.
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder({})", self.inner.component)
    }
}

impl Recorder {
    /// A recorder writing as `component` (the controller's name, e.g. `replicaset-controller`).
    pub fn new(client: kube::Client, component: &'static str) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                component,
                seen: Mutex::new(HashMap::new()),
                writing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Records an event about `obj` in the background.
    pub fn record<K>(&self, obj: &K, kind: EventType, reason: &str, message: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let regarding = reference(obj);
        let inner = self.inner.clone();
        let reason = reason.to_string();
        tokio::spawn(async move {
            if let Err(e) = inner
                .write(regarding.clone(), kind, &reason, &message)
                .await
            {
                tracing::warn!(
                    "Could not record the event {reason} ({message}) for {}/{}: {e}.",
                    regarding.namespace.as_deref().unwrap_or_default(),
                    regarding.name.as_deref().unwrap_or_default()
                );
            }
        });
    }
}

/// The reference to `obj` an event carries.
pub fn reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// The event as first written.
pub fn event(
    regarding: ObjectReference,
    component: &str,
    kind: EventType,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> Event {
    let object = regarding.name.clone().unwrap_or_default();
    let time = Time(now);
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{object}.{:x}", now.as_nanosecond())),
            namespace: Some(
                regarding
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
            ),
            ..Default::default()
        },
        involved_object: regarding,
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        type_: Some(kind.as_str().to_string()),
        source: Some(EventSource {
            component: Some(component.to_string()),
            host: None,
        }),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(String::new()),
        first_timestamp: Some(time.clone()),
        last_timestamp: Some(time),
        count: Some(1),
        ..Default::default()
    }
}

impl Inner {
    async fn write(
        &self,
        regarding: ObjectReference,
        kind: EventType,
        reason: &str,
        message: &str,
    ) -> Result<(), kube::Error> {
        let _one_at_a_time = self.writing.lock().await;
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let key = format!(
            "{}/{}/{}/{}/{}/{}/{reason}/{message}",
            regarding.kind.as_deref().unwrap_or_default(),
            namespace,
            regarding.name.as_deref().unwrap_or_default(),
            regarding.uid.as_deref().unwrap_or_default(),
            regarding.api_version.as_deref().unwrap_or_default(),
            kind.as_str(),
        );
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let now = Timestamp::now();
        let repeat = self.lock().get(&key).cloned();
        if let Some((name, count)) = repeat {
            let patch = json!({
                "count": count + 1,
                "lastTimestamp": Time(now),
            });
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    self.lock().insert(key, (name, count + 1));
                    return Ok(());
                }
                // The first event expired or was deleted: write a new one.
                Err(e) if crate::client::is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let ev = event(regarding, self.component, kind, reason, message, now);
        let created = api.create(&PostParams::default(), &ev).await?;
        let mut seen = self.lock();
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(key, (created.metadata.name.unwrap_or_default(), 1));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i32)>> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    #[test]
    fn events_are_named_and_filled_as_client_go_writes_them() {
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web-5d4f".to_string()),
                namespace: Some("prod".to_string()),
                uid: Some("u1".to_string()),
                resource_version: Some("7".to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        let now = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        let ev = event(
            reference(&rs),
            "replicaset-controller",
            EventType::Normal,
            "SuccessfulCreate",
            "Created pod: web-5d4f-abcde",
            now,
        );
        assert_eq!(
            ev.metadata.name.as_deref(),
            Some("web-5d4f.17979cfe3d85cd15")
        );
        assert_eq!(ev.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(ev.involved_object.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(ev.involved_object.api_version.as_deref(), Some("apps/v1"));
        assert_eq!(ev.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(
            ev.source.and_then(|s| s.component).as_deref(),
            Some("replicaset-controller")
        );
        assert_eq!(ev.count, Some(1));
        assert_eq!(ev.type_.as_deref(), Some("Normal"));
        assert_eq!(ev.first_timestamp, ev.last_timestamp);
    }
}
