//! `[sig-api-machinery] Discovery` (upstream `test/e2e/apimachinery/discovery.go`): the
//! unaggregated discovery documents under `/api` and `/apis`.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Result, bail, ensure};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, APIGroupList, APIResourceList};

const D: Describe = Describe::new("discovery").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] Discovery should validate PreferredVersion for each APIGroup [Conformance]",
            case_fn!(preferred_version_for_each_group),
        ),
        D.case(
            "[sig-api-machinery] Discovery should locate the groupVersion and a resource within each APIGroup [Conformance]",
            case_fn!(locate_group_version_and_resource),
        ),
    ]
}

async fn preferred_version_for_each_group(f: &Framework) -> Result<()> {
    let list: APIGroupList = api::get_json(&f.client, "/apis/").await?;
    ensure!(!list.groups.is_empty(), "Missing APIGroups");
    for group in &list.groups {
        // Example groups come and go while other tests run.
        if group.name.ends_with(".example.com") {
            continue;
        }
        f.log(format!("Checking APIGroup: {}", group.name));
        let path = format!("/apis/{}/", group.name);
        let check: APIGroup = api::get_json(&f.client, &path).await?;
        ensure!(
            !check.versions.is_empty(),
            "No version found for {}",
            group.name
        );
        let preferred = check
            .preferred_version
            .as_ref()
            .map(|p| p.group_version.as_str())
            .unwrap_or_default();
        if !check.versions.iter().any(|v| v.group_version == preferred) {
            bail!(
                "Failed to find a valid version for PreferredVersion {preferred:?} in versions: {:?}",
                check
                    .versions
                    .iter()
                    .map(|v| &v.group_version)
                    .collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

/// The group versions upstream checks, with one resource each must serve.
const EXPECTED: &[(&str, &str, &str, &str)] = &[
    ("/api", "", "v1", "namespaces"),
    (
        "/apis",
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
    ),
    (
        "/apis",
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
    ),
    ("/apis", "apiregistration.k8s.io", "v1", "apiservices"),
    ("/apis", "apps", "v1", "deployments"),
    ("/apis", "authentication.k8s.io", "v1", "tokenreviews"),
    (
        "/apis",
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
    ),
    ("/apis", "autoscaling", "v1", "horizontalpodautoscalers"),
    ("/apis", "autoscaling", "v2", "horizontalpodautoscalers"),
    ("/apis", "batch", "v1", "jobs"),
    (
        "/apis",
        "certificates.k8s.io",
        "v1",
        "certificatesigningrequests",
    ),
    ("/apis", "coordination.k8s.io", "v1", "leases"),
    ("/apis", "discovery.k8s.io", "v1", "endpointslices"),
    ("/apis", "events.k8s.io", "v1", "events"),
    ("/apis", "networking.k8s.io", "v1", "ingresses"),
    ("/apis", "node.k8s.io", "v1", "runtimeclasses"),
    ("/apis", "policy", "v1", "poddisruptionbudgets"),
    ("/apis", "scheduling.k8s.io", "v1", "priorityclasses"),
    ("/apis", "storage.k8s.io", "v1", "csinodes"),
];

async fn locate_group_version_and_resource(f: &Framework) -> Result<()> {
    for (base, group, version, resource) in EXPECTED {
        let (path, group_version) = if group.is_empty() {
            (format!("{base}/{version}"), version.to_string())
        } else {
            (
                format!("{base}/{group}/{version}"),
                format!("{group}/{version}"),
            )
        };
        f.step(format!("Requesting APIResourceList from {path:?}"));
        let list: APIResourceList = api::get_json(&f.client, &path).await?;
        ensure!(
            list.group_version == group_version,
            "{path}: expected groupVersion {group_version:?}, got {:?}",
            list.group_version
        );
        ensure!(
            list.resources.iter().any(|r| r.name == *resource),
            "Resource {resource:?} was not found inside of resourceList {:?}",
            list.resources.iter().map(|r| &r.name).collect::<Vec<_>>()
        );
    }
    Ok(())
}
