//! The `scale` subresource of any kind, as upstream's REST mapper and scale client reach it:
//! a kind (with its `apiVersion`) is resolved to a resource through discovery, and its
//! `autoscaling/v1` Scale is read and written under `.../{name}/scale`. The disruption
//! controller reads the scale of pods' controllers; the horizontal pod autoscaler reads and
//! writes the scale of its target.

use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{Api, DynamicObject, GroupVersionKind, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource};

/// A resource found for a kind: what to call it and what it serves.
pub type Found = (ApiResource, ApiCapabilities);

/// The group and version of an `apiVersion` (`apps/v1` -> (`apps`, `v1`), `v1` -> the core
/// group).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// `resource.group`, as Go prints a GroupResource (`replicationcontrollers` in the core group).
pub fn group_resource(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

/// Whether discovery lists a `scale` subresource (of kind Scale) for the resource.
pub fn has_scale(caps: &ApiCapabilities) -> bool {
    caps.subresources
        .iter()
        .any(|(sub, _)| sub.plural == "scale" && sub.kind == "Scale")
}

/// Whether a discovery error means the group or version is not served.
fn not_served(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Discovery(_)) || crate::client::is_not_found(err)
}

/// The resource serving `kind` at exactly `api_version`, or `None` if nothing does.
pub async fn pinned(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
) -> Result<Option<Found>, kube::Error> {
    let (group, version) = split_api_version(api_version);
    let gvk = GroupVersionKind::gvk(group, version, kind);
    match kube::discovery::pinned_kind(client, &gvk).await {
        Ok(found) => Ok(Some(found)),
        Err(e) if not_served(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The resource serving `kind` in `group` at any version, the group's preferred version first
/// (upstream's `RESTMappings` for a GroupKind), or `None` if nothing does.
pub async fn by_group_kind(
    client: &kube::Client,
    group: &str,
    kind: &str,
) -> Result<Option<Found>, kube::Error> {
    let api_group = match kube::discovery::group(client, group).await {
        Ok(g) => g,
        Err(e) if not_served(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let preferred = api_group.preferred_version_or_latest().to_string();
    let versions = std::iter::once(preferred.clone()).chain(
        api_group
            .versions()
            .filter(|v| *v != preferred)
            .map(String::from)
            .collect::<Vec<_>>(),
    );
    for version in versions {
        let found = api_group
            .versioned_resources(&version)
            .into_iter()
            .find(|(ar, _)| ar.kind == kind);
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Reads the object's scale.
pub async fn get(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: &str,
    name: &str,
) -> Result<Scale, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    api.get_scale(name).await
}

/// Writes the object's scale (an update: a scale read before a change conflicts).
pub async fn update(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: &str,
    scale: &Scale,
) -> Result<Scale, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let name = scale.metadata.name.clone().unwrap_or_default();
    api.replace_scale(&name, &PostParams::default(), scale)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_resources_print_as_go_prints_them() {
        assert_eq!(group_resource("jobs", "batch"), "jobs.batch");
        assert_eq!(group_resource("pods", ""), "pods");
    }

    #[test]
    fn api_versions_split_into_group_and_version() {
        assert_eq!(split_api_version("apps/v1"), ("apps", "v1"));
        assert_eq!(split_api_version("v1"), ("", "v1"));
    }
}
