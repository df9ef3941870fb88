//! Nodes (stored under `minions`, as upstream does). A node is created with its status (the
//! kubelet registers with it); later status changes go through the status subresource.

use super::common::{array_at, bool_at, one_of, qualified_name, str_at, strings_at};
use super::docs;
use super::quantity;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{FieldError, FieldErrors, index};
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status("", "v1", "Node")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new("", "v1", "nodes", "Node", "node", false)
            .short_names(&["no"])
            .subresources(SUBRESOURCES)
            .storage_path("minions"),
        Nodes,
    )
}

pub struct Nodes;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    AGE,
    Column::new("Version", "string", docs::NODE_KUBELET_VERSION),
    Column::new("Internal-IP", "string", docs::NODE_ADDRESSES).wide(),
    Column::new("External-IP", "string", docs::NODE_ADDRESSES).wide(),
    Column::new("OS-Image", "string", docs::NODE_OS_IMAGE).wide(),
    Column::new("Kernel-Version", "string", docs::NODE_KERNEL_VERSION).wide(),
    Column::new(
        "Container-Runtime",
        "string",
        docs::NODE_CONTAINER_RUNTIME_VERSION,
    )
    .wide(),
];

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

/// Upstream's `findNodeRoles`: `node-role.kubernetes.io/<role>` labels and
/// `kubernetes.io/role=<role>`, sorted.
fn roles(obj: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, v) in obj
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(role) = k.strip_prefix(ROLE_PREFIX).filter(|r| !r.is_empty()) {
            out.push(role.to_string());
        } else if k == ROLE_LABEL
            && let Some(v) = v.as_str().filter(|v| !v.is_empty())
        {
            out.push(v.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn address(obj: &Value, kind: &str) -> String {
    array_at(obj, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == kind)
        .map(|a| str_at(a, "/address").to_string())
        .unwrap_or_else(|| "<none>".to_string())
}

fn status_cell(obj: &Value) -> String {
    let mut status = Vec::new();
    if let Some(ready) = array_at(obj, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        status.push(if str_at(ready, "/status") == "True" {
            "Ready".to_string()
        } else {
            "NotReady".to_string()
        });
    }
    if status.is_empty() {
        status.push("Unknown".to_string());
    }
    if bool_at(obj, "/spec/unschedulable") {
        status.push("SchedulingDisabled".to_string());
    }
    status.join(",")
}

fn validate_node(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, c) in strings_at(obj, "/spec/podCIDRs").iter().enumerate() {
        if c.parse::<ipnet::IpNet>().is_err() {
            errs.push(FieldError::invalid(
                index("spec.podCIDRs", i),
                c.as_str(),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    let cidrs = strings_at(obj, "/spec/podCIDRs");
    if cidrs.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.podCIDRs",
            json!(cidrs),
            "may specify no more than one CIDR for each IP family",
        ));
    }
    let pod_cidr = str_at(obj, "/spec/podCIDR");
    if !pod_cidr.is_empty() && cidrs.first().map(String::as_str) != Some(pod_cidr) {
        errs.push(FieldError::invalid(
            "spec.podCIDRs",
            json!(cidrs),
            "must be equal to podCIDR",
        ));
    }
    for (i, t) in array_at(obj, "/spec/taints").iter().enumerate() {
        let p = index("spec.taints", i);
        errs.extend(qualified_name(str_at(t, "/key"), &format!("{p}.key")));
        errs.extend(one_of(
            t.get("effect").and_then(Value::as_str),
            &format!("{p}.effect"),
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            true,
        ));
    }
    for field in ["capacity", "allocatable"] {
        errs.extend(super::common::validate_resource_list(
            obj.pointer(&format!("/status/{field}")),
            &format!("status.{field}"),
        ));
    }
    errs
}

impl Strategy for Nodes {
    fn decode(&self, mut body: Value) -> Result<Decoded, String> {
        quantity::canonicalize_at(&mut body, &["/status/capacity", "/status/allocatable"])?;
        typed::round_trip::<Node>(body)
    }

    fn keeps_status_on_create(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        // Allocatable defaults to capacity.
        if obj.pointer("/status/allocatable").is_none()
            && let Some(cap) = obj.pointer("/status/capacity").cloned()
        {
            obj["status"]["allocatable"] = cap;
        }
        // podCIDR and podCIDRs mirror each other.
        let pod_cidr = str_at(obj, "/spec/podCIDR").to_string();
        if !pod_cidr.is_empty() && array_at(obj, "/spec/podCIDRs").is_empty() {
            obj["spec"]["podCIDRs"] = json!([pod_cidr]);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_node(obj)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = validate_node(new);
        let (np, op) = (
            strings_at(new, "/spec/podCIDRs"),
            strings_at(old, "/spec/podCIDRs"),
        );
        if !op.is_empty() && np != op {
            errs.push(FieldError::forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let (ni, oi) = (
            str_at(new, "/spec/providerID"),
            str_at(old, "/spec/providerID"),
        );
        if !oi.is_empty() && ni != oi {
            errs.push(FieldError::forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        validate_node(new)
    }

    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![(
            "spec.unschedulable",
            bool_at(obj, "/spec/unschedulable").to_string(),
        )]
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let roles = roles(obj);
        let unknown = |s: &str| {
            if s.is_empty() {
                "<unknown>".to_string()
            } else {
                s.to_string()
            }
        };
        vec![
            table::name(obj),
            json!(status_cell(obj)),
            json!(if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            }),
            table::age(obj),
            json!(str_at(obj, "/status/nodeInfo/kubeletVersion")),
            json!(address(obj, "InternalIP")),
            json!(address(obj, "ExternalIP")),
            json!(unknown(str_at(obj, "/status/nodeInfo/osImage"))),
            json!(unknown(str_at(obj, "/status/nodeInfo/kernelVersion"))),
            json!(unknown(str_at(
                obj,
                "/status/nodeInfo/containerRuntimeVersion"
            ))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_like_kubectl() {
        let n = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": "10.1.1.1"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"}}});
        let row = Nodes.table_row(&n);
        assert_eq!(row[1], "Ready,SchedulingDisabled");
        assert_eq!(row[2], "control-plane,worker");
        assert_eq!(row[4], "v1.33.0");
        assert_eq!(row[5], "10.1.1.1");
        assert_eq!(row[6], "<none>");
        assert_eq!(row[8], "<unknown>");
        let bare = Nodes.table_row(&json!({"metadata": {"name": "x"}}));
        assert_eq!(bare[1], "Unknown");
        assert_eq!(bare[2], "<none>");
    }

    #[test]
    fn defaults_and_fields() {
        let mut n =
            json!({"spec": {"podCIDR": "10.244.0.0/24"}, "status": {"capacity": {"cpu": "2"}}});
        Nodes.default(&mut n);
        assert_eq!(n["status"]["allocatable"]["cpu"], "2");
        assert_eq!(n["spec"]["podCIDRs"], json!(["10.244.0.0/24"]));
        assert_eq!(
            Nodes.selectable_fields(&n),
            vec![("spec.unschedulable", "false".to_string())]
        );
        assert!(validate_node(&n).is_empty());
    }
}
