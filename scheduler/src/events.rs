//! Events about pods, written as upstream's scheduler writes them: through the
//! `events.k8s.io/v1` API (client-go's new event recorder), with `reportingController` set to
//! the profile's scheduler name (`default-scheduler`), `reportingInstance`
//! `<scheduler name>-<hostname>`, an `action` (`Scheduling`, `Binding`) and the note
//! truncated to the API's 1 KiB. A repeat of an event (same pod, reason, action and note) bumps
//! its `series` instead of adding another.
//!
//! Recording never blocks scheduling: events are written in the background, several at once
//! as upstream's recorder writes each from its own goroutine (at most [`IN_FLIGHT`] here,
//! where upstream's client throttles), and a failed write is logged.

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many distinct events are remembered for counting repeats.
const REMEMBERED: usize = 4096;
/// The longest note the events API accepts.
pub const MAX_NOTE: usize = 1024;
/// How many event writes may be in flight at once.
pub const IN_FLIGHT: usize = 16;

/// An event recorder for one profile.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    controller: String,
    instance: String,
    /// Events written, by what makes two the same: (namespace, name, count). An event is
    /// remembered before it is created, so a repeat recorded meanwhile counts on it.
    seen: Mutex<HashMap<String, (String, String, i32)>>,
    writing: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder({})", self.inner.controller)
    }
}

/// Upstream's `truncateMessage`: at most [`MAX_NOTE`] bytes, ending in `...` when cut.
pub fn truncate(message: &str) -> String {
    if message.len() <= MAX_NOTE {
        return message.to_string();
    }
    let mut end = MAX_NOTE - 3;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// The reference to `pod` an event carries.
pub fn regarding(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("Pod".to_string()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// What happened: the event's type, reason, action and note.
#[derive(Debug, Clone, Copy)]
pub struct Occurrence<'a> {
    pub kind: &'a str,
    pub reason: &'a str,
    pub action: &'a str,
    pub note: &'a str,
}

/// The event as first written.
pub fn event(
    regarding: ObjectReference,
    controller: &str,
    instance: &str,
    what: Occurrence<'_>,
    now: Timestamp,
) -> Event {
    let Occurrence {
        kind,
        reason,
        action,
        note,
    } = what;
    let name = regarding.name.clone().unwrap_or_default();
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.{:x}", now.as_nanosecond())),
            namespace: regarding.namespace.clone(),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some(action.to_string()),
        reason: Some(reason.to_string()),
        note: Some(truncate(note)),
        type_: Some(kind.to_string()),
        reporting_controller: Some(controller.to_string()),
        reporting_instance: Some(instance.to_string()),
        regarding: Some(regarding),
        ..Default::default()
    }
}

impl Recorder {
    /// A recorder reporting as `controller` (the profile's scheduler name).
    pub fn new(client: kube::Client, controller: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                controller: controller.to_string(),
                instance: format!("{controller}-{}", controllers::leaderelection::hostname()),
                seen: Mutex::new(HashMap::new()),
                writing: tokio::sync::Semaphore::new(IN_FLIGHT),
            }),
        }
    }

    /// Records an event about `pod` in the background.
    pub fn record(
        &self,
        pod: &Pod,
        kind: &'static str,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        self.record_related(pod, None, kind, reason, action, note);
    }

    /// Records an event about `pod` with a `related` pod (a preemption victim and its
    /// preemptor) in the background.
    pub fn record_related(
        &self,
        pod: &Pod,
        related: Option<&Pod>,
        kind: &'static str,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        let inner = self.inner.clone();
        let reference = regarding(pod);
        let related = related.map(regarding);
        tokio::spawn(async move {
            if let Err(e) = inner
                .write(reference.clone(), related, kind, reason, action, &note)
                .await
            {
                tracing::warn!(
                    "Could not record the event {reason} ({note}) for {}/{}: {}.",
                    reference.namespace.as_deref().unwrap_or_default(),
                    reference.name.as_deref().unwrap_or_default(),
                    controllers::client::message(&e)
                );
            }
        });
    }
}

impl Inner {
    async fn write(
        &self,
        reference: ObjectReference,
        related: Option<ObjectReference>,
        kind: &str,
        reason: &str,
        action: &str,
        note: &str,
    ) -> Result<(), kube::Error> {
        // The semaphore is never closed.
        let _permit = self.writing.acquire().await;
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let key = format!(
            "{namespace}/{}/{}/{kind}/{reason}/{action}/{note}",
            reference.name.as_deref().unwrap_or_default(),
            reference.uid.as_deref().unwrap_or_default(),
        );
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let now = Timestamp::now();
        // Counted at once, so repeats written side by side each raise the count.
        let repeat = self.lock().get_mut(&key).map(|(ns, name, count)| {
            *count += 1;
            (ns.clone(), name.clone(), *count)
        });
        if let Some((ns, name, count)) = repeat {
            let series = EventSeries {
                count,
                last_observed_time: MicroTime(now),
            };
            let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
            match api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({ "series": series })),
                )
                .await
            {
                Ok(_) => return Ok(()),
                // Gone (or its creation failed): write it anew.
                Err(e) if controllers::client::is_not_found(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let what = Occurrence {
            kind,
            reason,
            action,
            note,
        };
        let mut ev = event(reference, &self.controller, &self.instance, what, now);
        ev.related = related;
        let name = ev.metadata.name.clone().unwrap_or_default();
        {
            let mut seen = self.lock();
            if seen.len() >= REMEMBERED {
                seen.clear();
            }
            seen.insert(key.clone(), (namespace, name.clone(), 1));
        }
        if let Err(e) = self.create(&api, &ev).await {
            let mut seen = self.lock();
            if seen.get(&key).is_some_and(|(_, n, _)| *n == name) {
                seen.remove(&key);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Creates `ev` without decoding the created Event the apiserver answers with: nothing reads
    /// it, and decoding it cost more CPU than writing the request.
    async fn create(&self, api: &Api<Event>, ev: &Event) -> Result<(), kube::Error> {
        let body = serde_json::to_vec(ev).map_err(kube::Error::SerdeError)?;
        let request = kube::core::Request::new(api.resource_url())
            .create(&PostParams::default(), body)
            .map_err(kube::Error::BuildRequest)?;
        self.client.request_text(request).await.map(drop)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, String, i32)>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;

    #[test]
    fn events_are_filled_as_the_new_recorder_writes_them() {
        let now = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        let ev = event(
            regarding(&pod("web", &[&[]])),
            "default-scheduler",
            "default-scheduler-host",
            Occurrence {
                kind: "Normal",
                reason: "Scheduled",
                action: "Binding",
                note: "Successfully assigned default/web to n1",
            },
            now,
        );
        assert_eq!(ev.metadata.name.as_deref(), Some("web.17979cfe3d85cd15"));
        assert_eq!(ev.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(
            ev.reporting_controller.as_deref(),
            Some("default-scheduler")
        );
        assert_eq!(ev.action.as_deref(), Some("Binding"));
        assert_eq!(ev.regarding.unwrap().kind.as_deref(), Some("Pod"));
    }

    #[test]
    fn long_notes_are_truncated() {
        let long = "x".repeat(2000);
        let t = truncate(&long);
        assert_eq!(t.len(), MAX_NOTE);
        assert!(t.ends_with("..."));
        assert_eq!(truncate("short"), "short");
    }
}
