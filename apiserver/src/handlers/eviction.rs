//! `pods/<name>/eviction`: a deletion that respects the pod's PodDisruptionBudget. The budget's
//! `status.disruptionsAllowed` (kept by the disruption controller) is checked and decremented,
//! the pod is recorded in the budget's `disruptedPods`, marked with the `DisruptionTarget`
//! condition and deleted; with no disruption left the answer is 429 so clients such as
//! `kubectl drain` retry. Finished, pending and terminating pods go without a look at budgets.

use super::body;
use super::negotiate::body_format;
use super::params::{Params, delete_options, dry_run};
use super::{Scope, response};
use crate::admission::{Attributes, Operation, Warnings};
use crate::errors::{ApiError, Cause, Details, GroupResource, Result};
use crate::registry::store::{DeleteOptions, OpContext, Store};
use crate::storage::{ListRequest, ReadAt};
use apimachinery::labels::Selector;
use apimachinery::meta;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Upstream's `MaxDisruptedPodSize`: more unconfirmed evictions than this and a budget refuses.
const MAX_DISRUPTED_PODS: usize = 2000;
/// Upstream's `EvictionsRetry`: conflicts with other writers are retried this often, this far
/// apart.
const TRIES: usize = 20;
const PAUSE: Duration = Duration::from_millis(500);

const EVICTION_VERSIONS: &[&str] = &["policy/v1", "policy/v1beta1"];

fn too_many_requests(message: String, retry_after: u32) -> ApiError {
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: "Cannot evict pod as it would violate the pod's disruption budget.".to_string(),
        details: Some(Box::new(Details {
            causes: vec![Cause {
                reason: "DisruptionBudget".to_string(),
                message,
                field: String::new(),
            }],
            // Go leaves a zero out.
            retry_after_seconds: (retry_after > 0).then_some(retry_after),
            ..Default::default()
        })),
        list_continue: None,
    }
}

/// The budget has not caught up with a change to its spec.
fn still_processing(pdb: &str) -> ApiError {
    too_many_requests(
        format!("The disruption budget {pdb} is still being processed by the server."),
        10,
    )
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Pods whose eviction disrupts nothing: finished, not started, or already going.
fn can_ignore_budgets(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending")
        || meta::deletion_timestamp(pod).is_some()
}

/// Whether the delete must be pinned to the pod as read, so it cannot have turned ready (and
/// counted by a budget) meanwhile.
fn pins_resource_version(pod: &Value) -> bool {
    !matches!(phase(pod), "Succeeded" | "Failed") && meta::deletion_timestamp(pod).is_none()
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

fn int(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

/// The budgets of the pod's namespace whose selector matches it (no selector or a broken one
/// matches nothing).
async fn budgets_of(pdbs: &Store, pod: &Value) -> Result<Vec<Value>> {
    let page = pdbs
        .list(&ListRequest {
            prefix: pdbs.list_prefix(meta::namespace(pod)),
            read: ReadAt::Latest,
            limit: None,
            continue_from: None,
            predicate: Default::default(),
        })
        .await?;
    let labels = pod.pointer("/metadata/labels");
    let mut matching = Vec::new();
    for item in page.items {
        let pdb = item.value().map_err(ApiError::internal)?;
        let Some(selector) = pdb.pointer("/spec/selector") else {
            continue;
        };
        if Selector::from_label_selector(selector).is_ok_and(|s| s.matches_json(labels)) {
            matching.push(pdb);
        }
    }
    Ok(matching)
}

/// Upstream's `checkAndDecrement` on the budget as stored now: refuses when it allows no
/// disruption, else takes one and records the pod as disrupted (unless a dry run).
fn decrement(pdb: &Value, pod: &str, gr: &GroupResource) -> Result<Value> {
    let name = meta::name(pdb);
    if int(pdb, "/status/observedGeneration") < int(pdb, "/metadata/generation") {
        return Err(still_processing(name));
    }
    let allowed = int(pdb, "/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(ApiError::forbidden(
            gr,
            name,
            "pdb disruptions allowed is negative",
        ));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object)
        .map_or(0, serde_json::Map::len);
    if disrupted > MAX_DISRUPTED_PODS {
        return Err(ApiError::forbidden(
            gr,
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                int(pdb, "/status/desiredHealthy"),
                int(pdb, "/status/currentHealthy")
            ),
            0,
        ));
    }
    let mut new = pdb.clone();
    let status = meta::nested_mut(&mut new, &["status"]);
    status["disruptionsAllowed"] = json!(allowed - 1);
    if allowed == 1 {
        set_insufficient(status);
    }
    let pods = meta::nested_mut(status, &["disruptedPods"]);
    if !pods.is_object() {
        *pods = json!({});
    }
    pods[pod] = json!(crate::clock::now());
    Ok(new)
}

/// The `DisruptionAllowed` condition once no disruption is left (upstream's
/// `UpdateDisruptionAllowedCondition`).
fn set_insufficient(status: &mut Value) {
    let observed = status
        .get("observedGeneration")
        .cloned()
        .unwrap_or(json!(0));
    let conditions = meta::nested_mut(status, &["conditions"]);
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let existing = list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionAllowed"));
    match existing {
        Some(c) => {
            if c.get("status").and_then(Value::as_str) != Some("False") {
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(crate::clock::now());
            }
            c["reason"] = json!("InsufficientPods");
            c["message"] = json!("");
            c["observedGeneration"] = observed;
        }
        None => list.push(json!({
            "type": "DisruptionAllowed",
            "status": "False",
            "reason": "InsufficientPods",
            "message": "",
            "observedGeneration": observed,
            "lastTransitionTime": crate::clock::now(),
        })),
    }
}

/// Marks the pod a `DisruptionTarget` (through its status, against the pod as stored and the
/// delete's preconditions), then deletes it.
async fn mark_and_delete(
    pods: &Store,
    ctx: &OpContext,
    name: &str,
    mut opts: DeleteOptions,
) -> Result<()> {
    if !ctx.dry_run {
        let gr = GroupResource {
            group: String::new(),
            resource: "Pod".to_string(),
        };
        let pre = opts.preconditions.clone();
        let written = pods
            .update(ctx, name, Some("status"), false, |old| {
                let Some(old) = old else {
                    return Err(ApiError::not_found(&pods.group_resource(), name));
                };
                if let Some(uid) = pre.uid.as_deref().filter(|u| !u.is_empty())
                    && uid != meta::uid(old)
                {
                    return Err(ApiError::conflict(&gr, name, &format!(
                        "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
                        meta::uid(old)
                    )));
                }
                if let Some(rv) = pre.resource_version.as_deref().filter(|r| !r.is_empty())
                    && rv != meta::resource_version(old)
                {
                    return Err(ApiError::conflict(&gr, name, &format!(
                        "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                        meta::resource_version(old)
                    )));
                }
                let mut new = old.clone();
                set_disruption_target(&mut new);
                Ok(new)
            })
            .await?;
        if opts.preconditions.resource_version.is_some() {
            // The status write moved the version on; the delete is pinned to that write.
            opts.preconditions.resource_version =
                Some(meta::resource_version(&written.object).to_string());
        }
    }
    pods.delete(ctx, name, &opts).await.map(|_| ())
}

fn set_disruption_target(pod: &mut Value) {
    let conditions = meta::nested_mut(pod, &["status", "conditions"]);
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let now = crate::clock::now();
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("DisruptionTarget"))
    {
        Some(c) => {
            if c.get("status").and_then(Value::as_str) != Some("True") {
                c["status"] = json!("True");
                c["lastTransitionTime"] = json!(now);
            }
            c["reason"] = json!("EvictionByEvictionAPI");
            c["message"] = json!("Eviction API: evicting");
        }
        None => list.push(json!({
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": null,
            "lastTransitionTime": now,
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        })),
    }
}

fn created(warnings: &Warnings) -> Result<Response> {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    let mut resp = response::raw_json(
        StatusCode::CREATED,
        Bytes::from(serde_json::to_vec(&status).map_err(ApiError::internal)?),
    );
    response::add_warnings(&mut resp, &warnings.take());
    Ok(resp)
}

/// The eviction's delete options, with the request's dry run.
fn options(scope: &Scope, eviction: &Value) -> Result<(DeleteOptions, bool)> {
    let create_dry = dry_run(&scope.params, "CreateOptions")?;
    let (opts, delete_dry) = delete_options(&Params::default(), eviction.get("deleteOptions"))?;
    Ok((opts, create_dry || delete_dry))
}

/// The context of the eviction's writes to the pod (its condition, its delete): as upstream,
/// they pass no admission (the eviction did).
fn server_context(scope: &Scope, warnings: Warnings) -> OpContext {
    OpContext {
        admission: Default::default(),
        warnings,
        ..scope.op_context(false, None)
    }
}

/// The admission chain on the Eviction as a create of `pods/eviction`.
async fn admit(scope: &Scope, ctx: &OpContext, eviction: &mut Value) -> Result<()> {
    let name = scope.name();
    let attrs = Attributes {
        operation: Operation::Create,
        info: &scope.endpoint.info,
        subresource: Some("eviction"),
        namespace: &ctx.namespace,
        name,
        object: None,
        old: None,
        user: &ctx.user,
        dry_run: ctx.dry_run,
        warnings: &ctx.warnings,
        annotations: &ctx.annotations,
    };
    ctx.admission.admit(&attrs, eviction).await?;
    ctx.admission
        .validate(&Attributes {
            object: Some(eviction),
            ..attrs
        })
        .await
}

pub async fn evict(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let mut eviction = body::parse(&bytes, body_format(&scope.headers, false)?)?;
    let api_version = eviction
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = eviction
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "Eviction" || !EVICTION_VERSIONS.contains(&api_version) {
        return Err(ApiError::bad_request(format!(
            "not a Eviction object: {api_version}, Kind={kind}"
        )));
    }
    let name = scope.name().to_string();
    if meta::name(&eviction) != name {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let (_, dry) = options(scope, &eviction)?;
    let ctx = scope.op_context(dry, None);
    admit(scope, &ctx, &mut eviction).await?;
    let (opts, dry) = options(scope, &eviction)?;
    let ctx = OpContext {
        dry_run: dry,
        ..server_context(scope, ctx.warnings)
    };
    let client_pinned = opts.preconditions.resource_version.is_some();
    let catalog = &scope.state.catalog;
    let pods: Arc<Store> = catalog.store("pods").ok_or_else(ApiError::not_found_path)?;

    // Pods whose eviction disrupts nothing are deleted at once (retrying races with writers).
    let mut pod = Value::Null;
    for attempt in 1..=TRIES {
        pod = pods
            .get(&ctx.namespace, &name, ReadAt::Latest)
            .await?
            .value()
            .map_err(ApiError::internal)?;
        if !can_ignore_budgets(&pod) {
            break;
        }
        let mut delete = opts.clone();
        if pins_resource_version(&pod) && !client_pinned {
            delete.preconditions.resource_version = Some(meta::resource_version(&pod).to_string());
        }
        match mark_and_delete(&pods, &ctx, &name, delete).await {
            Ok(()) => return created(&ctx.warnings),
            Err(e) if e.code == 409 && !client_pinned && attempt < TRIES => {
                tokio::time::sleep(PAUSE).await;
            }
            Err(e) => return Err(e),
        }
    }
    if can_ignore_budgets(&pod) {
        return Err(ApiError::timeout(
            format!("couldn't evict pod {name:?} due to conflicts"),
            10,
        ));
    }

    let pdbs = catalog
        .store("poddisruptionbudgets")
        .ok_or_else(ApiError::not_found_path)?;
    let budgets = budgets_of(&pdbs, &pod).await?;
    if budgets.len() > 1 {
        return Err(ApiError::unknown(
            500,
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let mut pinned = false;
    let mut budget_name = String::new();
    if let Some(pdb) = budgets.first() {
        budget_name = meta::name(pdb).to_string();
        let unhealthy_allowed = !ready(&pod)
            && (pdb
                .pointer("/spec/unhealthyPodEvictionPolicy")
                .and_then(Value::as_str)
                == Some("AlwaysAllow")
                || (int(pdb, "/status/currentHealthy") >= int(pdb, "/status/desiredHealthy")
                    && int(pdb, "/status/desiredHealthy") > 0));
        if unhealthy_allowed {
            // An unready pod counts toward no budget: its eviction takes nothing from it.
            pinned = true;
        } else {
            let gr = GroupResource {
                group: "policy".to_string(),
                resource: "poddisruptionbudget".to_string(),
            };
            if dry {
                let current = pdbs
                    .get(&ctx.namespace, &budget_name, ReadAt::Latest)
                    .await?
                    .value()
                    .map_err(ApiError::internal)?;
                decrement(&current, &name, &gr)?;
            } else {
                // Upstream writes the budget through its loopback client: admitted, as the
                // apiserver's own request.
                let status_ctx = OpContext {
                    api_version: pdbs.info.group_version(),
                    user: crate::authn::user::UserInfo::system_apiserver(),
                    warnings: ctx.warnings.clone(),
                    ..scope.op_context(false, None)
                };
                pdbs.update(&status_ctx, &budget_name, Some("status"), false, |old| {
                    let Some(old) = old else {
                        return Err(ApiError::not_found(&pdbs.group_resource(), &budget_name));
                    };
                    decrement(old, &name, &gr)
                })
                .await?;
            }
        }
    }

    let mut delete = opts.clone();
    if pinned {
        delete.preconditions.resource_version = Some(meta::resource_version(&pod).to_string());
    }
    match mark_and_delete(&pods, &ctx, &name, delete).await {
        Ok(()) => created(&ctx.warnings),
        Err(e) if e.code == 409 && pinned && !client_pinned => Err(still_processing(&budget_name)),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdb(allowed: i64, generation: i64, observed: i64) -> Value {
        json!({
            "metadata": {"name": "web", "generation": generation},
            "status": {
                "observedGeneration": observed,
                "disruptionsAllowed": allowed,
                "desiredHealthy": 2,
                "currentHealthy": 2,
            },
        })
    }

    fn gr() -> GroupResource {
        GroupResource {
            group: "policy".to_string(),
            resource: "poddisruptionbudget".to_string(),
        }
    }

    #[test]
    fn a_budget_with_room_takes_one_disruption_and_records_the_pod() {
        let new = decrement(&pdb(1, 1, 1), "web-0", &gr()).unwrap();
        assert_eq!(new["status"]["disruptionsAllowed"], 0);
        assert!(new["status"]["disruptedPods"]["web-0"].is_string());
        let c = &new["status"]["conditions"][0];
        assert_eq!(
            (&c["type"], &c["status"], &c["reason"]),
            (
                &json!("DisruptionAllowed"),
                &json!("False"),
                &json!("InsufficientPods")
            )
        );
        let more = decrement(&pdb(3, 1, 1), "web-0", &gr()).unwrap();
        assert_eq!(more["status"]["disruptionsAllowed"], 2);
        assert!(more["status"].get("conditions").is_none());
    }

    #[test]
    fn a_budget_without_room_or_not_caught_up_answers_429() {
        let full = decrement(&pdb(0, 1, 1), "web-0", &gr()).unwrap_err();
        assert_eq!(full.code, 429);
        let status = full.to_status();
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "DisruptionBudget", "message": "The disruption budget web needs 2 healthy pods and has 2 currently"})
        );
        assert!(status["details"].get("retryAfterSeconds").is_none());
        let stale = decrement(&pdb(1, 2, 1), "web-0", &gr()).unwrap_err();
        assert_eq!(stale.code, 429);
        assert_eq!(stale.to_status()["details"]["retryAfterSeconds"], 10);
        let negative = decrement(&pdb(-1, 1, 1), "web-0", &gr()).unwrap_err();
        assert_eq!(
            negative.message,
            "poddisruptionbudget.policy \"web\" is forbidden: pdb disruptions allowed is negative"
        );
    }

    #[test]
    fn finished_pending_and_terminating_pods_skip_budgets() {
        for p in ["Succeeded", "Failed", "Pending"] {
            assert!(can_ignore_budgets(&json!({"status": {"phase": p}})), "{p}");
        }
        assert!(!can_ignore_budgets(
            &json!({"status": {"phase": "Running"}})
        ));
        assert!(can_ignore_budgets(
            &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}})
        ));
        assert!(pins_resource_version(
            &json!({"status": {"phase": "Pending"}})
        ));
        assert!(!pins_resource_version(
            &json!({"status": {"phase": "Failed"}})
        ));
    }
}
