//! DefaultTolerationSeconds: a pod that does not tolerate the `not-ready` and `unreachable`
//! NoExecute taints tolerates them for five minutes, so a node's short outage does not evict
//! it at once but a long one does.

use super::{Attributes, Mutator, Operation};
use crate::errors::Result;
use async_trait::async_trait;
use serde_json::{Value, json};

const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Upstream's `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`.
const SECONDS: i64 = 300;

pub struct DefaultTolerationSeconds;

/// Whether a toleration covers the NoExecute taint `key` (an empty key or effect matches all).
fn covers(toleration: &Value, key: &str) -> bool {
    let field = |f: &str| {
        toleration
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    (field("key") == key || field("key").is_empty())
        && (field("effect") == "NoExecute" || field("effect").is_empty())
}

fn add_defaults(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
    if !tolerations.is_array() {
        *tolerations = json!([]);
    }
    let Some(list) = tolerations.as_array_mut() else {
        return;
    };
    for key in [NOT_READY, UNREACHABLE] {
        if !list.iter().any(|t| covers(t, key)) {
            list.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": SECONDS,
            }));
        }
    }
}

#[async_trait]
impl Mutator for DefaultTolerationSeconds {
    async fn admit(&self, attrs: &Attributes<'_>, pod: &mut Value) -> Result<()> {
        let applies = attrs.info.group.is_empty()
            && attrs.info.resource == "pods"
            && attrs.subresource.is_none()
            && matches!(attrs.operation, Operation::Create | Operation::Update);
        if applies {
            add_defaults(pod);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tolerations_are_added_with_five_minutes() {
        let mut pod = json!({"spec": {"containers": []}});
        add_defaults(&mut pod);
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ])
        );
    }

    #[test]
    fn a_pod_tolerating_them_keeps_its_own() {
        let own = json!([
            {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
        ]);
        let mut pod = json!({"spec": {"tolerations": own.clone()}});
        add_defaults(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert_eq!(pod["spec"]["tolerations"][0], own[0]);

        let mut everything = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add_defaults(&mut everything);
        assert_eq!(
            everything["spec"]["tolerations"].as_array().unwrap().len(),
            1
        );

        let mut no_schedule = json!({"spec": {"tolerations": [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}]}});
        add_defaults(&mut no_schedule);
        assert_eq!(
            no_schedule["spec"]["tolerations"].as_array().unwrap().len(),
            3
        );
    }
}
