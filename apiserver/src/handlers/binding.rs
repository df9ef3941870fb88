//! `pods/<name>/binding` and the older `bindings` collection (`POST
//! /api/v1/namespaces/<ns>/bindings` naming the pod in the body): assign a pod to a node, once.

use super::body::{self};
use super::negotiate::body_format;
use super::params::dry_run;
use super::{Scope, response};
use crate::admission::{Attributes, Operation};
use crate::errors::{ApiError, Result};
use apimachinery::meta;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

/// Sets the pod's `PodScheduled` condition to True, as upstream's binding does.
fn set_scheduled(pod: &mut Value) {
    let conditions = meta::nested_mut(pod, &["status", "conditions"]);
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let scheduled = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": crate::clock::now(),
    });
    if let Some(list) = conditions.as_array_mut() {
        match list
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled"))
        {
            Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {}
            Some(c) => *c = scheduled,
            None => list.push(scheduled),
        }
    }
}

/// Binds the pod; the pods strategy takes the bound object as is for the `binding`
/// subresource.
pub async fn bind(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let dry = dry_run(&scope.params, "CreateOptions")?;
    let mut binding = body::parse(&bytes, body_format(&scope.headers, false)?)?;
    let typed: k8s_openapi::api::core::v1::Binding = serde_json::from_value(binding.clone())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "Binding in version \"v1\" cannot be handled as a Binding: {e}"
            ))
        })?;
    let node = typed.target.name.clone().unwrap_or_default();
    let binding_name = typed.metadata.name.clone().unwrap_or_default();
    // Through the `bindings` collection the pod is named by the body.
    let name = if scope.info.subresource.is_empty() {
        binding_name.clone()
    } else {
        scope.name().to_string()
    };
    if !binding_name.is_empty() && binding_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({binding_name}) does not match the name on the URL ({name})"
        )));
    }
    if node.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            &name,
            &vec![apimachinery::FieldError::required("target.name", "")],
        ));
    }
    let pods = scope
        .state
        .catalog
        .store("pods")
        .ok_or_else(ApiError::not_found_path)?;
    let gr = pods.info.group_resource();
    if name.is_empty() {
        return Err(ApiError::invalid(
            "",
            "Binding",
            "",
            &vec![apimachinery::FieldError::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    let mut ctx = scope.op_context(dry, None);
    // As upstream, admission judges the Binding (a create of `pods/binding`, or of
    // `bindings`); the pod's update that carries it out is the server's.
    let subresource = (!scope.info.subresource.is_empty()).then_some("binding");
    let attrs = Attributes {
        operation: Operation::Create,
        info: &scope.endpoint.info,
        subresource,
        namespace: &scope.info.namespace,
        name: &name,
        object: None,
        old: None,
        user: &ctx.user,
        dry_run: dry,
        warnings: &ctx.warnings,
        annotations: &ctx.annotations,
    };
    ctx.admission.admit(&attrs, &mut binding).await?;
    ctx.admission
        .validate(&Attributes {
            object: Some(&binding),
            ..attrs
        })
        .await?;
    ctx.admission = Default::default();
    // What mutating admission left is what is carried out.
    let typed: k8s_openapi::api::core::v1::Binding =
        serde_json::from_value(binding).map_err(ApiError::internal)?;
    let node = typed.target.name.clone().unwrap_or_default();
    pods.update(&ctx, &name, Some("binding"), false, |old| {
        let Some(old) = old else {
            return Err(ApiError::not_found(&gr, &name));
        };
        if let Some(uid) = typed.metadata.uid.as_deref()
            && uid != meta::uid(old)
        {
            return Err(ApiError::conflict(
                &gr,
                &name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta::uid(old)
                ),
            ));
        }
        if meta::deletion_timestamp(old).is_some() {
            return Err(ApiError::conflict(
                &gr,
                &name,
                "pod is being deleted, cannot be assigned to a host",
            ));
        }
        let current = old
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !current.is_empty() {
            return Err(ApiError::conflict(
                &gr,
                &name,
                &format!("pod {name} is already assigned to node {current:?}"),
            ));
        }
        let mut new = old.clone();
        meta::nested_mut(&mut new, &["spec"])["nodeName"] = json!(node);
        for (k, v) in typed.metadata.annotations.iter().flatten() {
            meta::nested_mut(&mut new, &["metadata", "annotations"])[k.as_str()] = json!(v);
        }
        set_scheduled(&mut new);
        Ok(new)
    })
    .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(response::raw_json(
        StatusCode::CREATED,
        Bytes::from(serde_json::to_vec(&status).map_err(ApiError::internal)?),
    ))
}
