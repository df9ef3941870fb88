//! Pod priorities. The Priority admission plugin (upstream's, and ferrokube's apiserver's)
//! writes `spec.priority` and `spec.preemptionPolicy` from the pod's PriorityClass when the
//! pod is created, and the scheduler only reads them, as upstream's does. A [`Resolver`] with
//! a PriorityClass store fills them in for pods that were not admitted so: `spec.priority`
//! when set, else the value of `spec.priorityClassName`'s PriorityClass, else the global
//! default class's, else 0; `spec.preemptionPolicy` when set, else the class's, else
//! `PreemptLowerPriority`. The scheduler runs it without a store (its role may not read
//! PriorityClasses), which leaves priorities as the pods carry them.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::runtime::reflector::{ObjectRef, Store};
use std::sync::Arc;

/// Upstream's `DefaultPreemptionPolicy`.
pub const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";
/// The policy of pods that never preempt.
pub const PREEMPT_NEVER: &str = "Never";

/// Fills in pods' priorities from the PriorityClasses informer.
#[derive(Clone, Default)]
pub struct Resolver {
    /// None in unit tests: pods keep what they carry.
    classes: Option<Store<PriorityClass>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("priority::Resolver")
    }
}

impl Resolver {
    pub fn new(classes: Store<PriorityClass>) -> Self {
        Self {
            classes: Some(classes),
        }
    }

    /// The class a pod without a (known) class gets: the global default with the lowest value.
    fn global_default(&self, store: &Store<PriorityClass>) -> Option<Arc<PriorityClass>> {
        store
            .state()
            .into_iter()
            .filter(|c| c.global_default == Some(true))
            .min_by_key(|c| c.value)
    }

    /// `pod` with `spec.priority` and `spec.preemptionPolicy` set, as the Priority admission
    /// plugin sets them; the same pod when they already are.
    pub fn resolve(&self, pod: Arc<Pod>) -> Arc<Pod> {
        let Some(spec) = pod.spec.as_ref() else {
            return pod;
        };
        if spec.priority.is_some() && spec.preemption_policy.is_some() {
            return pod;
        }
        let class = self.classes.as_ref().and_then(|store| {
            match spec
                .priority_class_name
                .as_deref()
                .filter(|n| !n.is_empty())
            {
                Some(name) => store.get(&ObjectRef::new(name)),
                None => self.global_default(store),
            }
        });
        // Without a class the pod gets priority 0 and PreemptLowerPriority, which is how the
        // scheduler reads a pod without them: no copy of the pod (this runs for every pod event).
        if class.is_none() {
            return pod;
        }
        let mut resolved = (*pod).clone();
        let spec = resolved.spec.get_or_insert_default();
        if spec.priority.is_none() {
            spec.priority = Some(class.as_ref().map_or(0, |c| c.value));
        }
        if spec.preemption_policy.is_none() {
            spec.preemption_policy = Some(
                class
                    .as_ref()
                    .and_then(|c| c.preemption_policy.clone())
                    .unwrap_or_else(|| PREEMPT_LOWER_PRIORITY.to_string()),
            );
        }
        Arc::new(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use kube::runtime::watcher;

    fn class(name: &str, value: i32, global: bool, policy: Option<&str>) -> PriorityClass {
        PriorityClass {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..Default::default()
            },
            value,
            global_default: Some(global),
            preemption_policy: policy.map(str::to_string),
            description: None,
        }
    }

    #[test]
    fn classes_fill_in_priority_and_policy() {
        let (store, mut writer) = kube::runtime::reflector::store::<PriorityClass>();
        for c in [
            class("high", 1000, false, Some("Never")),
            class("default", 5, true, None),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(c));
        }
        let r = Resolver::new(store);
        let mut p = pod("p", &[&[]]);
        p.spec.as_mut().unwrap().priority_class_name = Some("high".into());
        let got = r.resolve(Arc::new(p));
        let spec = got.spec.as_ref().unwrap();
        assert_eq!(spec.priority, Some(1000));
        assert_eq!(spec.preemption_policy.as_deref(), Some("Never"));
        // No class: the global default.
        let got = r.resolve(Arc::new(pod("q", &[&[]])));
        let spec = got.spec.as_ref().unwrap();
        assert_eq!(spec.priority, Some(5));
        assert_eq!(
            spec.preemption_policy.as_deref(),
            Some(PREEMPT_LOWER_PRIORITY)
        );
        // What the pod carries wins.
        let mut p = pod("r", &[&[]]);
        p.spec.as_mut().unwrap().priority = Some(7);
        p.spec.as_mut().unwrap().priority_class_name = Some("high".into());
        let got = r.resolve(Arc::new(p));
        assert_eq!(got.spec.as_ref().unwrap().priority, Some(7));
        // Without an informer: as it is, read as 0.
        let p = Arc::new(pod("s", &[&[]]));
        let got = Resolver::default().resolve(p.clone());
        assert!(Arc::ptr_eq(&got, &p));
        assert_eq!(crate::plugins::priority_sort::priority(&got), 0);
    }
}
