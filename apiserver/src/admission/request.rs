//! What policies and webhooks see of a request: `request` (upstream's AdmissionRequest, also
//! the core of the AdmissionReview webhooks get) and a policy's `namespaceObject` (the
//! request's Namespace, stripped as upstream strips it).

use crate::admission::{Attributes, Operation};
use crate::cel::dynamic::RequestResource;
use serde_json::{Map, Value, json};

/// The kind a request's subresource carries, where it is not the resource's own.
fn subresource_kind(
    resource: &str,
    subresource: Option<&str>,
) -> Option<(&'static str, &'static str, &'static str)> {
    match (resource, subresource?) {
        ("pods", "eviction") => Some(("policy", "v1", "Eviction")),
        ("pods", "binding") => Some(("", "v1", "Binding")),
        ("serviceaccounts", "token") => Some(("authentication.k8s.io", "v1", "TokenRequest")),
        (_, "scale") => Some(("autoscaling", "v1", "Scale")),
        _ => None,
    }
}

/// The options object upstream passes with each operation.
fn options(attrs: &Attributes<'_>) -> Value {
    let kind = match attrs.operation {
        Operation::Create => "CreateOptions",
        Operation::Update => "UpdateOptions",
        Operation::Delete => "DeleteOptions",
        Operation::Connect => return Value::Null,
    };
    let mut options = json!({"kind": kind, "apiVersion": "meta.k8s.io/v1"});
    if attrs.dry_run {
        options["dryRun"] = json!(["All"]);
    }
    options
}

/// What `authorizer.requestResource` checks: the request's resource.
pub fn resource(attrs: &Attributes<'_>) -> RequestResource {
    RequestResource {
        group: attrs.info.group.to_string(),
        resource: attrs.info.resource.to_string(),
        subresource: attrs.subresource.unwrap_or_default().to_string(),
        namespace: attrs.namespace.to_string(),
        name: attrs.name.to_string(),
    }
}

pub fn request(attrs: &Attributes<'_>) -> Value {
    let info = attrs.info;
    let (group, version, kind) = subresource_kind(info.resource, attrs.subresource).unwrap_or((
        info.group,
        info.version,
        info.kind,
    ));
    let kind = json!({"group": group, "version": version, "kind": kind});
    let resource = json!({"group": info.group, "version": info.version, "resource": info.resource});
    let subresource = attrs.subresource.unwrap_or_default();
    let user = attrs.user;
    json!({
        "kind": kind,
        "resource": resource,
        "subResource": subresource,
        "requestKind": kind,
        "requestResource": resource,
        "requestSubResource": subresource,
        "name": attrs.name,
        "namespace": attrs.namespace,
        "operation": attrs.operation.name(),
        "userInfo": {
            "username": user.name,
            "uid": user.uid,
            "groups": user.groups,
            "extra": user.extra,
        },
        "dryRun": attrs.dry_run,
        "options": options(attrs),
    })
}

/// The Namespace as `namespaceObject`: its spec, status and the metadata upstream keeps.
pub fn namespace_object(namespace: &Value) -> Value {
    const KEPT: [&str; 12] = [
        "name",
        "generateName",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "finalizers",
    ];
    let metadata: Map<String, Value> = namespace
        .get("metadata")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| KEPT.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut out = json!({"metadata": metadata});
    for field in ["spec", "status"] {
        if let Some(v) = namespace.get(field) {
            out[field] = v.clone();
        }
    }
    out
}
