//! Objects every cluster has, created on start when missing: the system namespaces, the
//! system PriorityClasses, the API Priority and Fairness FlowSchemas and priority levels, the
//! local APIServices of the served group-versions, the `default/kubernetes` Service with its
//! Endpoints and EndpointSlice pointing at this apiserver, and the ConfigMap recording since
//! when legacy service account token usage is tracked.

use super::State;
use crate::admission;
use crate::authn::user::UserInfo;
use crate::errors::{ApiError, Result};
use crate::registry::resources::ServiceConfig;
use crate::registry::resources::apiregistration::{self, local as local_apiservices};
use crate::registry::resources::flowcontrol::bootstrap as apf;
use crate::registry::store::OpContext;
use serde_json::{Value, json};
use std::net::IpAddr;

pub(super) fn context(namespace: &str) -> OpContext {
    OpContext {
        namespace: namespace.to_string(),
        user: UserInfo::system_apiserver(),
        dry_run: false,
        field_manager: "kube-apiserver".to_string(),
        api_version: String::new(),
        // Bootstrap runs before admission applies: the namespaces may not exist yet.
        admission: admission::Chain::default(),
        applied: false,
        schemas: None,
        warnings: Default::default(),
        annotations: Default::default(),
    }
}

/// Decodes `obj` as the endpoint would a request body and prepares it for the store.
pub(super) fn prepare(
    state: &State,
    group: &str,
    version: &str,
    resource: &str,
    obj: Value,
) -> Result<Option<(std::sync::Arc<crate::registry::catalog::Endpoint>, Value)>> {
    let Some(endpoint) = state.catalog.endpoint(group, version, resource) else {
        return Ok(None);
    };
    let decoded = endpoint.strategy.decode(obj).map_err(ApiError::internal)?;
    let mut value = decoded.value;
    endpoint.strategy.default(&mut value);
    Ok(Some((endpoint, value)))
}

/// Creates the object unless it exists.
async fn ensure(
    state: &State,
    group: &str,
    version: &str,
    resource: &str,
    obj: Value,
) -> Result<()> {
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some((endpoint, value)) = prepare(state, group, version, resource, obj)? else {
        return Ok(());
    };
    let mut ctx = context(&namespace);
    ctx.api_version = endpoint.info.group_version();
    match endpoint.store.create(&ctx, value).await {
        Ok(_) => Ok(()),
        Err(e) if e.reason == "AlreadyExists" => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates the object, or replaces what differs in it (the endpoints follow the apiserver's
/// address).
async fn reconcile(
    state: &State,
    group: &str,
    version: &str,
    resource: &str,
    obj: Value,
) -> Result<()> {
    let namespace = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let Some((endpoint, value)) = prepare(state, group, version, resource, obj)? else {
        return Ok(());
    };
    let mut ctx = context(&namespace);
    ctx.api_version = endpoint.info.group_version();
    endpoint
        .store
        .update(&ctx, &name, None, true, |old| {
            let mut new = value.clone();
            if let Some(old) = old {
                // Keep the stored metadata (labels others added); take our content.
                let mut merged = old.clone();
                if let (Value::Object(m), Value::Object(n)) = (&mut merged, &mut new) {
                    for (k, v) in n.iter() {
                        if k != "metadata" {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    if let Some(labels) = n.get("metadata").and_then(|md| md.get("labels")) {
                        m["metadata"]["labels"] = labels.clone();
                    }
                }
                new = merged;
            }
            Ok(new)
        })
        .await
        .map(|_| ())
}

/// Creates the mandatory and suggested APF objects, then marks each bootstrap FlowSchema as
/// not dangling (its priority level exists), as upstream's APF controller would.
async fn ensure_flow_control(state: &State) -> Result<()> {
    const GROUP: &str = "flowcontrol.apiserver.k8s.io";
    for pl in apf::priority_levels() {
        ensure(state, GROUP, "v1", "prioritylevelconfigurations", pl).await?;
    }
    let Some(endpoint) = state.catalog.endpoint(GROUP, "v1", "flowschemas") else {
        return Ok(());
    };
    for fs in apf::flow_schemas() {
        let name = fs["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let level = fs["spec"]["priorityLevelConfiguration"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        ensure(state, GROUP, "v1", "flowschemas", fs).await?;
        let mut ctx = context("");
        ctx.api_version = endpoint.info.group_version();
        ctx.field_manager = "api-priority-and-fairness-config-consumer-v1".to_string();
        endpoint
            .store
            .update(&ctx, &name, Some("status"), false, |old| {
                let mut new = old.cloned().unwrap_or(Value::Null);
                let conditions = new
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if !conditions.iter().any(|c| c["type"] == "Dangling") {
                    let mut conditions = conditions;
                    conditions.push(apf::not_dangling(&level, &crate::clock::now()));
                    new["status"] = json!({ "conditions": conditions });
                }
                Ok(new)
            })
            .await?;
    }
    Ok(())
}

/// Creates the default ServiceCIDR for `--service-cluster-ip-range` and marks it Ready, as
/// upstream's default ServiceCIDR controller does.
async fn ensure_service_cidr(state: &State, services: &ServiceConfig) -> Result<()> {
    use crate::registry::resources::networking::servicecidrs::DEFAULT_NAME;
    let Some(endpoint) = state
        .catalog
        .endpoint("networking.k8s.io", "v1", "servicecidrs")
    else {
        return Ok(());
    };
    let cidr = services.cluster_ip_range.trunc().to_string();
    ensure(
        state,
        "networking.k8s.io",
        "v1",
        "servicecidrs",
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "ServiceCIDR",
            "metadata": {"name": DEFAULT_NAME},
            "spec": {"cidrs": [cidr]},
        }),
    )
    .await?;
    let mut ctx = context("");
    ctx.api_version = endpoint.info.group_version();
    ctx.field_manager = "kubernetes-service-cidr-controller".to_string();
    endpoint
        .store
        .update(&ctx, DEFAULT_NAME, Some("status"), false, |old| {
            let Some(old) = old else {
                return Err(ApiError::not_found(
                    &endpoint.info.group_resource(),
                    DEFAULT_NAME,
                ));
            };
            let mut new = old.clone();
            let same_config = old.pointer("/spec/cidrs") == Some(&json!([cidr]));
            let has_ready = old
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Ready")
                            && c.get("status").and_then(Value::as_str) != Some("Unknown")
                    })
                });
            if same_config && !has_ready && old.pointer("/metadata/deletionTimestamp").is_none() {
                new["status"] = json!({"conditions": [{
                    "type": "Ready",
                    "status": "True",
                    "lastTransitionTime": crate::clock::now(),
                    "reason": "",
                    "message": "Kubernetes default Service CIDR is ready",
                }]});
            }
            Ok(new)
        })
        .await
        .map(|_| ())
}

/// Registers the local APIService of every served group-version, as upstream's autoregister
/// controller does once on start: missing ones are created, automanaged ones whose spec drifted
/// get the expected spec back, automanaged-on-start ones for group-versions no longer served
/// are deleted, and APIServices without the automanaged label are left as they are. One
/// APIService failing is logged and does not stop the apiserver.
async fn ensure_local_apiservices(state: &State) -> Result<()> {
    const GROUP: &str = apiregistration::GROUP;
    let Some(endpoint) = state.catalog.endpoint(GROUP, "v1", "apiservices") else {
        return Ok(());
    };
    let mut served: Vec<(&str, &str)> = Vec::new();
    for e in state.catalog.endpoints() {
        if !served.contains(&(e.info.group, e.info.version)) {
            served.push((e.info.group, e.info.version));
        }
    }
    let mut ctx = context("");
    ctx.api_version = endpoint.info.group_version();
    let mut wanted = Vec::new();
    for (group, version) in served {
        let Some(obj) = local_apiservices::apiservice(group, version) else {
            continue;
        };
        let name = local_apiservices::name(group, version);
        wanted.push(name.clone());
        let Some((_, desired)) = prepare(state, GROUP, "v1", "apiservices", obj)? else {
            continue;
        };
        let written = endpoint
            .store
            .update(&ctx, &name, None, true, |old| {
                Ok(match old {
                    None => desired.clone(),
                    Some(old) if !local_apiservices::is_automanaged(old) => old.clone(),
                    Some(old) => {
                        let mut new = old.clone();
                        new["spec"] = desired["spec"].clone();
                        new
                    }
                })
            })
            .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "Could not register the local APIService {name}.");
        }
    }
    let page = endpoint
        .store
        .list(&crate::storage::ListRequest {
            prefix: endpoint.store.list_prefix(""),
            read: crate::storage::ReadAt::Latest,
            limit: None,
            continue_from: None,
            predicate: Default::default(),
        })
        .await?;
    for item in page.items {
        let obj = item.value().map_err(ApiError::internal)?;
        let name = apimachinery::meta::name(&obj);
        if !local_apiservices::is_automanaged_on_start(&obj) || wanted.iter().any(|w| w == name) {
            continue;
        }
        match endpoint
            .store
            .delete(
                &ctx,
                name,
                &crate::registry::store::DeleteOptions::default(),
            )
            .await
        {
            Ok(_) => tracing::info!(
                "Deleted the APIService {name}: its group-version is no longer served."
            ),
            Err(e) if e.reason == "NotFound" => {}
            Err(e) => tracing::warn!(error = %e, "Could not delete the stale APIService {name}."),
        }
    }
    Ok(())
}

/// The endpoints of the `kubernetes` Service cannot be written when the apiserver advertises a
/// loopback address; upstream logs the rejection and keeps serving, and so do we.
fn warn_endpoints(e: &ApiError) {
    tracing::warn!(error = %e, "Could not publish this apiserver's address in default/kubernetes; pass --advertise-address with a routable address.");
}

pub async fn run(
    state: &State,
    services: &ServiceConfig,
    advertise: IpAddr,
    port: u16,
) -> Result<()> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(
            state,
            "",
            "v1",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    for (name, value, description) in [
        (
            "system-node-critical",
            2_000_001_000,
            "Used for system critical pods that must not be moved from their current node.",
        ),
        (
            "system-cluster-critical",
            2_000_000_000,
            "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        ),
    ] {
        ensure(
            state,
            "scheduling.k8s.io",
            "v1",
            "priorityclasses",
            json!({
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": value,
                "description": description,
                "preemptionPolicy": "PreemptLowerPriority",
            }),
        )
        .await?;
    }
    // Upstream's legacy token tracking controller: the legacy token cleaner waits a whole
    // clean-up period after this day before it invalidates anything.
    ensure(
        state,
        "",
        "v1",
        "configmaps",
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kube-apiserver-legacy-service-account-token-tracking",
                "namespace": "kube-system",
            },
            "data": {"since": crate::clock::today()},
        }),
    )
    .await?;
    ensure_flow_control(state).await?;
    ensure_local_apiservices(state).await?;
    ensure_service_cidr(state, services).await?;
    let cluster_ip = services.first_ip().to_string();
    // The Service's create allocates its ClusterIP, which an existing Service already holds:
    // only create it when it is missing.
    let exists = match state.catalog.endpoint("", "v1", "services") {
        Some(e) => e
            .store
            .get("default", "kubernetes", crate::storage::ReadAt::Latest)
            .await
            .is_ok(),
        None => true,
    };
    if !exists {
        ensure(
        state,
        "",
        "v1",
        "services",
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": cluster_ip,
                "clusterIPs": [cluster_ip],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                "sessionAffinity": "None",
            },
        }),
    )
    .await?;
    }
    reconcile(
        state,
        "",
        "v1",
        "endpoints",
        json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
            },
            "subsets": [{
                "addresses": [{"ip": advertise.to_string()}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            }],
        }),
    )
    .await
    .unwrap_or_else(|e| warn_endpoints(&e));
    reconcile(
        state,
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": if advertise.is_ipv4() { "IPv4" } else { "IPv6" },
            "endpoints": [{"addresses": [advertise.to_string()], "conditions": {"ready": true}}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }),
    )
    .await
    .unwrap_or_else(|e| warn_endpoints(&e));
    Ok(())
}
