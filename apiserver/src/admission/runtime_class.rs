//! RuntimeClass: a new pod naming a RuntimeClass must name one that exists; it gets the
//! class's `overhead` (a pod bringing a different one is refused) and the class's scheduling
//! constraints (its nodeSelector merged into the pod's, refusing conflicts, and its
//! tolerations added). A pod with an overhead but no class overhead behind it is refused.

use super::{Attributes, Mutator, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

pub struct RuntimeClass {
    classes: Source,
}

fn is_pod_create(attrs: &Attributes<'_>) -> bool {
    attrs.info.group.is_empty()
        && attrs.info.resource == "pods"
        && attrs.subresource.is_none()
        && attrs.operation == Operation::Create
}

fn forbidden(attrs: &Attributes<'_>, why: &str) -> ApiError {
    ApiError::forbidden(&GroupResource::new("", "pods"), attrs.name, why)
}

fn class_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

impl RuntimeClass {
    pub fn new(classes: Source) -> Self {
        Self { classes }
    }

    /// The class the pod names; `Ok(None)` when it names none, Forbidden when it is gone.
    async fn class_of(&self, attrs: &Attributes<'_>, pod: &Value) -> Result<Option<Value>> {
        let Some(name) = class_name(pod) else {
            return Ok(None);
        };
        match self.classes.value("", name).await? {
            Some(class) => Ok(Some(class)),
            None => Err(forbidden(
                attrs,
                &format!("pod rejected: RuntimeClass {name:?} not found"),
            )),
        }
    }
}

/// Gives the pod its class's overhead; a pod with another overhead is refused.
fn set_overhead(pod: &mut Value, class: &Value) -> std::result::Result<(), String> {
    let Some(overhead) = class.pointer("/overhead/podFixed").filter(|o| !o.is_null()) else {
        return Ok(());
    };
    let Some(spec) = spec_of(pod) else {
        return Ok(());
    };
    match spec.get("overhead").filter(|o| !o.is_null()) {
        Some(existing) if existing != overhead => {
            Err("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead".into())
        }
        _ => {
            spec.insert("overhead".into(), overhead.clone());
            Ok(())
        }
    }
}

/// Merges the class's node selector (refusing conflicts) and adds its tolerations.
fn set_scheduling(pod: &mut Value, class: &Value) -> std::result::Result<(), String> {
    let Some(scheduling) = class.get("scheduling").filter(|s| !s.is_null()) else {
        return Ok(());
    };
    let Some(spec) = spec_of(pod) else {
        return Ok(());
    };
    if let Some(selector) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        let pod_selector = spec.entry("nodeSelector").or_insert_with(|| json!({}));
        if !pod_selector.is_object() {
            *pod_selector = json!({});
        }
        if let Some(pod_selector) = pod_selector.as_object_mut() {
            for (k, v) in selector {
                match pod_selector.get(k) {
                    Some(existing) if existing != v => {
                        return Err(format!(
                            "conflict: runtimeClass.scheduling.nodeSelector[{k}] = {}; pod.spec.nodeSelector[{k}] = {}",
                            v.as_str().unwrap_or_default(),
                            existing.as_str().unwrap_or_default()
                        ));
                    }
                    _ => {
                        pod_selector.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    if let Some(tolerations) = scheduling.get("tolerations").and_then(Value::as_array) {
        let pod_tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
        if !pod_tolerations.is_array() {
            *pod_tolerations = json!([]);
        }
        if let Some(list) = pod_tolerations.as_array_mut() {
            for t in tolerations {
                if !list.contains(t) {
                    list.push(t.clone());
                }
            }
        }
    }
    Ok(())
}

/// The pod's spec, made an object if it was not one.
fn spec_of(pod: &mut Value) -> Option<&mut Map<String, Value>> {
    let spec = apimachinery::meta::nested_mut(pod, &["spec"]);
    if !spec.is_object() {
        *spec = json!({});
    }
    spec.as_object_mut()
}

#[async_trait]
impl Mutator for RuntimeClass {
    async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()> {
        if !is_pod_create(attrs) {
            return Ok(());
        }
        let Some(class) = self.class_of(attrs, object).await? else {
            return Ok(());
        };
        set_overhead(object, &class).map_err(|why| forbidden(attrs, &why))?;
        set_scheduling(object, &class).map_err(|why| forbidden(attrs, &why))
    }
}

#[async_trait]
impl Validator for RuntimeClass {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        if !is_pod_create(attrs) {
            return Ok(());
        }
        let Some(pod) = attrs.object else {
            return Ok(());
        };
        let overhead = pod.pointer("/spec/overhead").filter(|o| !o.is_null());
        let Some(overhead) = overhead else {
            return Ok(());
        };
        let class = self.class_of(attrs, pod).await?;
        match class.as_ref().and_then(|c| c.pointer("/overhead/podFixed")) {
            Some(fixed) if fixed == overhead => Ok(()),
            Some(_) => Err(forbidden(
                attrs,
                "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead",
            )),
            None => Err(forbidden(
                attrs,
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_the_class_overhead_and_scheduling() {
        let class = json!({
            "overhead": {"podFixed": {"cpu": "250m"}},
            "scheduling": {
                "nodeSelector": {"sandbox": "gvisor"},
                "tolerations": [{"key": "sandbox", "operator": "Exists"}]
            }
        });
        let mut pod =
            json!({"spec": {"runtimeClassName": "gvisor", "nodeSelector": {"zone": "a"}}});
        set_overhead(&mut pod, &class).unwrap();
        set_scheduling(&mut pod, &class).unwrap();
        assert_eq!(pod["spec"]["overhead"], json!({"cpu": "250m"}));
        assert_eq!(
            pod["spec"]["nodeSelector"],
            json!({"zone": "a", "sandbox": "gvisor"})
        );
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([{"key": "sandbox", "operator": "Exists"}])
        );
        // Admitting twice changes nothing more.
        set_scheduling(&mut pod, &class).unwrap();
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn conflicts_are_refused_with_upstreams_messages() {
        let class = json!({
            "overhead": {"podFixed": {"cpu": "250m"}},
            "scheduling": {"nodeSelector": {"sandbox": "gvisor"}}
        });
        let mut pod = json!({"spec": {"overhead": {"cpu": "1"}}});
        assert_eq!(
            set_overhead(&mut pod, &class).unwrap_err(),
            "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
        );
        let mut pod = json!({"spec": {"nodeSelector": {"sandbox": "kata"}}});
        assert_eq!(
            set_scheduling(&mut pod, &class).unwrap_err(),
            "conflict: runtimeClass.scheduling.nodeSelector[sandbox] = gvisor; pod.spec.nodeSelector[sandbox] = kata"
        );
    }
}
