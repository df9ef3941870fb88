//! TaintNodesByCondition: a new Node starts tainted `node.kubernetes.io/not-ready:NoSchedule`,
//! so nothing is scheduled to it before its kubelet reports it Ready (the node lifecycle
//! controller then removes the taint).

use super::{Attributes, Mutator, Operation};
use crate::errors::Result;
use async_trait::async_trait;
use serde_json::{Value, json};

const NOT_READY: &str = "node.kubernetes.io/not-ready";

pub struct TaintNodesByCondition;

fn add_taint(node: &mut Value) {
    let Some(node) = node.as_object_mut() else {
        return;
    };
    let spec = node.entry("spec").or_insert_with(|| json!({}));
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let taints = spec.entry("taints").or_insert_with(|| json!([]));
    if !taints.is_array() {
        *taints = json!([]);
    }
    let Some(list) = taints.as_array_mut() else {
        return;
    };
    let tainted = list.iter().any(|t| {
        t.get("key").and_then(Value::as_str) == Some(NOT_READY)
            && t.get("effect").and_then(Value::as_str) == Some("NoSchedule")
    });
    if !tainted {
        list.push(json!({"key": NOT_READY, "effect": "NoSchedule"}));
    }
}

#[async_trait]
impl Mutator for TaintNodesByCondition {
    async fn admit(&self, attrs: &Attributes<'_>, node: &mut Value) -> Result<()> {
        if attrs.info.group.is_empty()
            && attrs.info.resource == "nodes"
            && attrs.subresource.is_none()
            && attrs.operation == Operation::Create
        {
            add_taint(node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_node_is_tainted_once() {
        let mut node = json!({"metadata": {"name": "n"}});
        add_taint(&mut node);
        add_taint(&mut node);
        assert_eq!(
            node["spec"]["taints"],
            json!([{"key": NOT_READY, "effect": "NoSchedule"}])
        );
    }
}
