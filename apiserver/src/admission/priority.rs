//! Priority: a new pod gets `spec.priority` (and `spec.preemptionPolicy`) from its
//! PriorityClass, or from the global default class when it names none (which it then names),
//! or 0 and `PreemptLowerPriority` when there is no default. A pod naming a class that does
//! not exist, or carrying a priority or policy other than its class gives, is refused. An
//! update keeps the priority and policy the pod was created with when the new object leaves
//! them out (they are immutable, so a client replacing the pod from an old manifest would
//! otherwise fail validation). On PriorityClasses it refuses a second global default.

use super::{Attributes, Mutator, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use async_trait::async_trait;
use serde_json::{Value, json};

/// Upstream's `DefaultPriorityWhenNoDefaultClassExists`.
const DEFAULT_PRIORITY: i64 = 0;
const PREEMPT_LOWER_PRIORITY: &str = "PreemptLowerPriority";

/// What the plugin reads of a PriorityClass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub name: String,
    pub value: i64,
    pub global_default: bool,
    pub preemption_policy: Option<String>,
}

impl Class {
    fn of(obj: &Value) -> Self {
        Self {
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            value: obj.get("value").and_then(Value::as_i64).unwrap_or(0),
            global_default: obj
                .get("globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            preemption_policy: obj
                .get("preemptionPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }
}

/// The global default class: of several (a race can make more than one), the lowest-valued.
pub fn global_default(classes: &[Class]) -> Option<&Class> {
    classes
        .iter()
        .filter(|c| c.global_default)
        .min_by_key(|c| c.value)
}

/// Sets a new pod's priority fields from `class` (the one it names, or the global default
/// when it names none); `Err` is why the pod is refused.
pub fn admit_new_pod(pod: &mut Value, class: Option<&Class>) -> std::result::Result<(), String> {
    let spec = pod.get("spec").cloned().unwrap_or(Value::Null);
    let (name, priority, policy) = match class {
        Some(c) => (c.name.as_str(), c.value, c.preemption_policy.as_deref()),
        None => ("", DEFAULT_PRIORITY, Some(PREEMPT_LOWER_PRIORITY)),
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64)
        && given != priority
    {
        return Err(format!(
            "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"
        ));
    }
    if let (Some(given), Some(policy)) =
        (spec.get("preemptionPolicy").and_then(Value::as_str), policy)
        && given != policy
    {
        return Err(format!(
            "the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"
        ));
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if !name.is_empty() {
        spec.insert("priorityClassName".into(), json!(name));
    }
    spec.insert("priority".into(), json!(priority));
    if let Some(policy) = policy {
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    Ok(())
}

/// Keeps the priority fields of `old` that an updated pod leaves out.
pub fn keep_on_update(pod: &mut Value, old: &Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["priority", "preemptionPolicy"] {
        if spec.get(field).is_none_or(Value::is_null)
            && let Some(v) = old
                .pointer(&format!("/spec/{field}"))
                .filter(|v| !v.is_null())
        {
            spec.insert(field.into(), v.clone());
        }
    }
}

/// The plugin. Like upstream's (which reads an informer), it reads the watch cache and does
/// not wait for it to catch up: every pod create looks the classes up.
pub struct Priority {
    classes: Source,
}

impl Priority {
    pub fn new(classes: Source) -> Self {
        Self { classes }
    }

    /// The class named `name`, from the cache, else etcd (it may have been created a moment
    /// ago).
    async fn class(&self, name: &str) -> Result<Option<Class>> {
        Ok(self.classes.value("", name).await?.as_ref().map(Class::of))
    }

    /// Every class the cache holds.
    async fn all(&self) -> Result<Vec<Class>> {
        let classes = self.classes.list_all().await?;
        Ok(classes.iter().map(Class::of).collect())
    }
}

fn is_pod(attrs: &Attributes<'_>) -> bool {
    attrs.info.group.is_empty() && attrs.info.resource == "pods" && attrs.subresource.is_none()
}

#[async_trait]
impl Mutator for Priority {
    async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()> {
        if !is_pod(attrs) {
            return Ok(());
        }
        match attrs.operation {
            Operation::Create => {}
            Operation::Update => {
                if let Some(old) = attrs.old {
                    keep_on_update(object, old);
                }
                return Ok(());
            }
            Operation::Delete | Operation::Connect => return Ok(()),
        }
        let named = object
            .pointer("/spec/priorityClassName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let forbidden =
            |why: &str| ApiError::forbidden(&GroupResource::new("", "pods"), attrs.name, why);
        let class = match named {
            Some(name) => match self.class(&name).await? {
                Some(c) => Some(c),
                None => {
                    return Err(forbidden(&format!(
                        "no PriorityClass with name {name} was found"
                    )));
                }
            },
            None => global_default(&self.all().await?).cloned(),
        };
        admit_new_pod(object, class.as_ref()).map_err(|why| forbidden(&why))
    }
}

#[async_trait]
impl Validator for Priority {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let is_class = attrs.info.group == "scheduling.k8s.io"
            && attrs.info.resource == "priorityclasses"
            && attrs.subresource.is_none();
        if !is_class || !matches!(attrs.operation, Operation::Create | Operation::Update) {
            return Ok(());
        }
        let Some(new) = attrs.object.map(Class::of) else {
            return Ok(());
        };
        if !new.global_default {
            return Ok(());
        }
        let classes = self.all().await?;
        match global_default(&classes) {
            Some(current) if attrs.operation == Operation::Create || current.name != new.name => {
                Err(ApiError::forbidden(
                    &GroupResource::new("scheduling.k8s.io", "priorityclasses"),
                    attrs.name,
                    &format!(
                        "PriorityClass {} is already marked as default. Only one default can exist",
                        current.name
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, global: bool, policy: Option<&str>) -> Class {
        Class {
            name: name.into(),
            value,
            global_default: global,
            preemption_policy: policy.map(str::to_string),
        }
    }

    #[test]
    fn pods_get_their_class_or_the_default_or_zero() {
        let mut pod = json!({"spec": {"containers": []}});
        admit_new_pod(&mut pod, None).unwrap();
        assert_eq!(pod["spec"]["priority"], 0);
        assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
        assert!(pod["spec"].get("priorityClassName").is_none());

        let high = class("high", 1000, false, Some("Never"));
        let mut pod = json!({"spec": {"priorityClassName": "high"}});
        admit_new_pod(&mut pod, Some(&high)).unwrap();
        assert_eq!(pod["spec"]["priority"], 1000);
        assert_eq!(pod["spec"]["preemptionPolicy"], "Never");

        // The global default is named on the pod.
        let classes = [
            class("b", 7, true, Some("PreemptLowerPriority")),
            class("a", 5, true, Some("PreemptLowerPriority")),
            high.clone(),
        ];
        let mut pod = json!({"spec": {}});
        admit_new_pod(&mut pod, global_default(&classes)).unwrap();
        assert_eq!(pod["spec"]["priorityClassName"], "a");
        assert_eq!(pod["spec"]["priority"], 5);
    }

    #[test]
    fn pods_may_not_bring_their_own_priority_or_policy() {
        let high = class("high", 1000, false, Some("Never"));
        let mut pod = json!({"spec": {"priorityClassName": "high", "priority": 7}});
        assert_eq!(
            admit_new_pod(&mut pod, Some(&high)).unwrap_err(),
            "the integer value of priority (7) must not be provided in pod spec; priority \
             admission controller computed 1000 from the given PriorityClass name"
        );
        let mut pod = json!({"spec": {"preemptionPolicy": "Never"}});
        assert_eq!(
            admit_new_pod(&mut pod, None).unwrap_err(),
            "the string value of PreemptionPolicy (Never) must not be provided in pod spec; \
             priority admission controller computed PreemptLowerPriority from the given \
             PriorityClass name"
        );
        // The values the class gives are accepted.
        let mut pod = json!({"spec": {"priority": 1000, "preemptionPolicy": "Never"}});
        admit_new_pod(&mut pod, Some(&high)).unwrap();
    }

    #[test]
    fn updates_keep_what_the_pod_was_created_with() {
        let old = json!({"spec": {"priority": 5, "preemptionPolicy": "Never"}});
        let mut pod = json!({"spec": {"containers": []}});
        keep_on_update(&mut pod, &old);
        assert_eq!(pod["spec"]["priority"], 5);
        assert_eq!(pod["spec"]["preemptionPolicy"], "Never");
        // A changed value stays, for validation to refuse.
        let mut pod = json!({"spec": {"priority": 9}});
        keep_on_update(&mut pod, &old);
        assert_eq!(pod["spec"]["priority"], 9);
    }
}
