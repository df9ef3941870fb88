//! `[sig-api-machinery] AggregatedDiscovery` (upstream
//! `test/e2e/apimachinery/aggregated_discovery.go`): `/api` and `/apis` served as
//! `apidiscovery.k8s.io/v2` APIGroupDiscoveryLists, listing the built-in resources and, soon
//! after one is created, a CustomResourceDefinition's resource.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::crd::{self, NAMESPACE_SCOPED};
use crate::framework::wait::poll;
use crate::framework::{Framework, PodSecurityLevel, api, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion,
};
use kube::api::ObjectMeta;
use serde_json::Value;
use std::time::Duration;

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
        D.case(
            "[sig-api-machinery] AggregatedDiscovery should support raw aggregated discovery request for CRDs [Conformance]",
            case_fn!(raw_request_for_crds),
        ),
        D.case(
            "[sig-api-machinery] AggregatedDiscovery should support aggregated discovery interface for CRDs [Conformance]",
            case_fn!(aggregated_interface_for_crds),
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

/// The CRD both CRD cases create: `testcrds` in a random group, so that parallel runs never
/// share a group.
fn test_crd() -> CustomResourceDefinition {
    let resource_name = "testcrd";
    let group_name = format!("group{}.example.com", rand_string(5));
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{resource_name}s.{group_name}")),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: group_name,
            versions: vec![CustomResourceDefinitionVersion {
                name: "v1".into(),
                served: true,
                storage: true,
                schema: Some(crd::allow_all_schema()),
                ..Default::default()
            }],
            names: CustomResourceDefinitionNames {
                plural: format!("{resource_name}s"),
                singular: Some(resource_name.into()),
                kind: resource_name.into(),
                list_kind: Some(format!("{resource_name}List")),
                ..Default::default()
            },
            scope: NAMESPACE_SCOPED.into(),
            ..Default::default()
        },
        status: None,
    }
}

/// How the CRD cases poll discovery: every second for `wait.ForeverTestTimeout`.
const CRD_POLL: Duration = Duration::from_secs(1);
const CRD_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates the CRD (deleted after the case, as upstream defers it) and returns its
/// group, version and resource.
async fn create_test_crd(f: &Framework) -> Result<(String, String, String)> {
    let created = crd::create(f, &test_crd()).await?;
    let gvr = (
        created.spec.group.clone(),
        created.spec.versions[0].name.clone(),
        created.spec.names.plural.clone(),
    );
    let client = f.client.clone();
    f.defer(
        format!("deleting CustomResourceDefinition {}", gvr.2),
        async move {
            let _ = crd::delete(&client, &created).await;
        },
    );
    Ok(gvr)
}

async fn raw_request_for_crds(f: &Framework) -> Result<()> {
    let (group, version, resource) = create_test_crd(f).await?;
    poll(CRD_POLL, CRD_TIMEOUT, async || {
        let groups = get_with_accept(f, "/apis", AGGREGATED_ACCEPT)
            .await?
            .json()
            .context("Failed to parse discovery")?;
        Ok(gvr_present(&groups, (&group, &version, &resource)))
    })
    .await
    .context("timed out waiting for CustomResourceDefinition GVR to appear in Discovery")
}

/// client-go's `GroupsAndMaybeResources` for `path`: the aggregated list, or `None` when the
/// server answered with the unaggregated document (which carries no resources).
async fn groups_and_maybe_resources(f: &Framework, path: &str) -> Result<Option<Value>> {
    let res = get_with_accept(f, path, CLIENT_GO_ACCEPT)
        .await
        .context("Failed to get api groups and resources")?;
    let content_type = res.header("Content-Type").unwrap_or_default();
    if !content_type.contains("as=APIGroupDiscoveryList") {
        return Ok(None);
    }
    Ok(Some(res.json()?))
}

async fn aggregated_interface_for_crds(f: &Framework) -> Result<()> {
    let (group, version, resource) = create_test_crd(f).await?;
    poll(CRD_POLL, CRD_TIMEOUT, async || {
        let legacy = groups_and_maybe_resources(f, "/api").await?;
        let apis = groups_and_maybe_resources(f, "/apis").await?;
        let present = |l: &Option<Value>| {
            l.as_ref()
                .is_some_and(|l| gvr_present(l, (&group, &version, &resource)))
        };
        Ok(present(&legacy) || present(&apis))
    })
    .await
    .context("timed out waiting for CustomResourceDefinition GVR to appear in Discovery")
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
