//! `[sig-api-machinery] AggregatedDiscovery` for built-in resources (upstream
//! `test/e2e/apimachinery/aggregated_discovery.go`): `/api` and `/apis` served as
//! `apidiscovery.k8s.io/v2` APIGroupDiscoveryLists. The CRD cases need apiextensions.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Result, bail, ensure};
use serde_json::Value;

const D: Describe =
    Describe::new("aggregateddiscovery").with_pod_security(PodSecurityLevel::Privileged);

const AGGREGATED_ACCEPT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// What client-go's discovery client asks for: aggregated v2, then v2beta1, then plain JSON.
const CLIENT_GO_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

const EXPECTED_LEGACY: &[(&str, &str, &str)] = &[("", "v1", "namespaces")];

const EXPECTED: &[(&str, &str, &str)] = &[
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    ),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
    ("apiregistration.k8s.io", "v1", "apiservices"),
    ("apps", "v1", "deployments"),
    ("authentication.k8s.io", "v1", "tokenreviews"),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews"),
    ("autoscaling", "v1", "horizontalpodautoscalers"),
    ("autoscaling", "v2", "horizontalpodautoscalers"),
    ("batch", "v1", "jobs"),
    ("certificates.k8s.io", "v1", "certificatesigningrequests"),
    ("coordination.k8s.io", "v1", "leases"),
    ("discovery.k8s.io", "v1", "endpointslices"),
    ("events.k8s.io", "v1", "events"),
    ("networking.k8s.io", "v1", "ingresses"),
    ("node.k8s.io", "v1", "runtimeclasses"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("scheduling.k8s.io", "v1", "priorityclasses"),
    ("storage.k8s.io", "v1", "csinodes"),
];

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] AggregatedDiscovery should support raw aggregated discovery endpoint Accept headers [Conformance]",
            case_fn!(raw_accept_headers),
        ),
        D.case(
            "[sig-api-machinery] AggregatedDiscovery should support aggregated discovery interface [Conformance]",
            case_fn!(aggregated_interface),
        ),
    ]
}

/// Upstream's `isGVRPresentAPIDiscovery` on an APIGroupDiscoveryList.
fn gvr_present(list: &Value, (group, version, resource): (&str, &str, &str)) -> bool {
    let items = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    items.iter().any(|g| {
        g["metadata"]["name"].as_str().unwrap_or_default() == group
            && g["versions"].as_array().is_some_and(|vs| {
                vs.iter().any(|v| {
                    v["version"] == version
                        && v["resources"]
                            .as_array()
                            .is_some_and(|rs| rs.iter().any(|r| r["resource"] == resource))
                })
            })
    })
}

/// Whether a group list names `group/version` (upstream's `isGVPresent`).
fn gv_present(list: &Value, group: &str, version: &str) -> bool {
    let items = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    items.iter().any(|g| {
        g["metadata"]["name"].as_str().unwrap_or_default() == group
            && g["versions"]
                .as_array()
                .is_some_and(|vs| vs.iter().any(|v| v["version"] == version))
    })
}

async fn get_with_accept(f: &Framework, path: &str, accept: &str) -> Result<api::RawResponse> {
    let res = api::raw(
        &f.client,
        http::Method::GET,
        path,
        &[("Accept", accept)],
        None,
    )
    .await?;
    if !res.status.is_success() {
        bail!(
            "Failed to get raw aggregated discovery document {path}: {} {}",
            res.status,
            res.text()
        );
    }
    Ok(res)
}

async fn raw_accept_headers(f: &Framework) -> Result<()> {
    let groups = get_with_accept(f, "/apis", AGGREGATED_ACCEPT)
        .await?
        .json()?;
    for gvr in EXPECTED {
        ensure!(
            gvr_present(&groups, *gvr),
            "Expected gvr {} {} {} to exist in discovery",
            gvr.0,
            gvr.1,
            gvr.2
        );
    }
    let legacy = get_with_accept(f, "/api", AGGREGATED_ACCEPT)
        .await?
        .json()?;
    for gvr in EXPECTED_LEGACY {
        ensure!(
            gvr_present(&legacy, *gvr),
            "Expected legacy gvr api {} {} to exist in discovery",
            gvr.1,
            gvr.2
        );
    }
    Ok(())
}

/// client-go's `GroupsAndMaybeResources`: the server must answer the aggregated media type,
/// or there are no resources to look at and the case fails as upstream's does.
async fn fetch_as_client_go(f: &Framework, path: &str) -> Result<Value> {
    let res = get_with_accept(f, path, CLIENT_GO_ACCEPT).await?;
    let content_type = res.header("Content-Type").unwrap_or_default().to_string();
    if !content_type.contains("as=APIGroupDiscoveryList") {
        bail!("Expected client to support aggregated discovery: {path} answered {content_type:?}");
    }
    res.json()
}

async fn aggregated_interface(f: &Framework) -> Result<()> {
    let mut all = fetch_as_client_go(f, "/api").await?;
    let apis = fetch_as_client_go(f, "/apis").await?;
    if let (Some(a), Some(b)) = (all["items"].as_array_mut(), apis["items"].as_array()) {
        a.extend(b.iter().cloned());
    }
    for gvr in EXPECTED.iter().chain(EXPECTED_LEGACY) {
        ensure!(gvr_present(&all, *gvr), "Expected {gvr:?} to be present");
    }
    for (group, version, _) in EXPECTED.iter().chain(EXPECTED_LEGACY) {
        ensure!(
            gv_present(&all, group, version),
            "Expected {group}/{version} to be present"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_resources_in_a_discovery_list() {
        let list = json!({"items": [
            {"metadata": {"name": "apps"}, "versions": [
                {"version": "v1", "resources": [{"resource": "deployments"}]}]},
            {"metadata": {}, "versions": [
                {"version": "v1", "resources": [{"resource": "namespaces"}]}]},
        ]});
        assert!(gvr_present(&list, ("apps", "v1", "deployments")));
        assert!(gvr_present(&list, ("", "v1", "namespaces")));
        assert!(!gvr_present(&list, ("apps", "v2", "deployments")));
        assert!(gv_present(&list, "apps", "v1"));
        assert!(!gv_present(&list, "batch", "v1"));
    }
}
