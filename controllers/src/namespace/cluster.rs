//! The namespace deleter's view of the cluster: the few API calls it makes, as a trait so the
//! deletion logic is tested against a fake, and [`KubeCluster`], the real thing over kube-rs,
//! which reads aggregated discovery (`/api` and `/apis`, `apidiscovery.k8s.io/v2`).

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::discovery::v2::APIGroupDiscoveryList;
use kube::discovery::ApiResource;
use std::collections::BTreeMap;
use std::fmt;

/// A group, version and resource, printed as client-go prints `schema.GroupVersionResource`
/// (`apps/v1, Resource=deployments`, `/v1, Resource=configmaps`) since that text reaches
/// namespace conditions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gvr {
    pub group: String,
    pub version: String,
    pub resource: String,
}

impl Gvr {
    pub fn new(group: &str, version: &str, resource: &str) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl fmt::Display for Gvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}, Resource={}",
            self.group, self.version, self.resource
        )
    }
}

/// A namespaced resource the server serves, at the version discovery prefers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacedResource {
    pub gvr: Gvr,
    pub kind: String,
    pub verbs: Vec<String>,
}

impl NamespacedResource {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// What discovery found, and what it could not find.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub resources: Vec<NamespacedResource>,
    /// Group versions discovery failed for (`apps/v1`, or `v1` for the core group), with why.
    pub failed: BTreeMap<String, String>,
    /// Group version strings that do not parse, as client-go reports them.
    pub unparsable: Vec<String>,
}

/// The API calls the namespace deleter makes. Errors are the client's, so callers can tell a
/// `Status` (not found, conflict, method not allowed) from a transport failure.
#[async_trait]
pub trait Cluster: Send + Sync + 'static {
    /// The namespace, or `None` when it does not exist.
    async fn get_namespace(&self, name: &str) -> kube::Result<Option<Namespace>>;
    /// PUT `namespaces/<name>/status`.
    async fn update_namespace_status(&self, ns: &Namespace) -> kube::Result<Namespace>;
    /// PUT `namespaces/<name>/finalize`.
    async fn finalize_namespace(&self, ns: &Namespace) -> kube::Result<Namespace>;
    /// The namespaced resources the server serves.
    async fn discover(&self) -> kube::Result<Discovery>;
    /// DELETE the collection of `resource` in `namespace`, propagating in the background.
    async fn delete_collection(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
    ) -> kube::Result<()>;
    /// The metadata of every object of `resource` in `namespace`.
    async fn list(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
    ) -> kube::Result<Vec<ObjectMeta>>;
    /// DELETE one object, propagating in the background.
    async fn delete(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
        name: &str,
    ) -> kube::Result<()>;
    /// The pods of `namespace` (for their grace periods).
    async fn list_pods(&self, namespace: &str) -> kube::Result<Vec<Pod>>;
}

/// [`Cluster`] over a kube-rs client.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
}

impl KubeCluster {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    fn namespaces(&self) -> Api<Namespace> {
        Api::all(self.client.clone())
    }

    fn dynamic(&self, resource: &NamespacedResource, namespace: &str) -> Api<DynamicObject> {
        let gvr = &resource.gvr;
        let api_version = if gvr.group.is_empty() {
            gvr.version.clone()
        } else {
            format!("{}/{}", gvr.group, gvr.version)
        };
        let ar = ApiResource {
            group: gvr.group.clone(),
            version: gvr.version.clone(),
            api_version,
            kind: resource.kind.clone(),
            plural: gvr.resource.clone(),
        };
        Api::namespaced_with(self.client.clone(), namespace, &ar)
    }
}

fn name_of(ns: &Namespace) -> &str {
    ns.metadata.name.as_deref().unwrap_or_default()
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn get_namespace(&self, name: &str) -> kube::Result<Option<Namespace>> {
        self.namespaces().get_opt(name).await
    }

    async fn update_namespace_status(&self, ns: &Namespace) -> kube::Result<Namespace> {
        self.namespaces()
            .replace_status(name_of(ns), &PostParams::default(), ns)
            .await
    }

    async fn finalize_namespace(&self, ns: &Namespace) -> kube::Result<Namespace> {
        self.namespaces()
            .replace_subresource("finalize", name_of(ns), &PostParams::default(), ns)
            .await
    }

    async fn discover(&self) -> kube::Result<Discovery> {
        let core = self.client.list_core_api_versions_aggregated().await?;
        let groups = self.client.list_api_groups_aggregated().await?;
        Ok(parse_discovery(&[core, groups]))
    }

    async fn delete_collection(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
    ) -> kube::Result<()> {
        self.dynamic(resource, namespace)
            .delete_collection(&DeleteParams::background(), &ListParams::default())
            .await
            .map(|_| ())
    }

    async fn list(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
    ) -> kube::Result<Vec<ObjectMeta>> {
        let list = self
            .dynamic(resource, namespace)
            .list_metadata(&ListParams::default())
            .await?;
        Ok(list.items.into_iter().map(|o| o.metadata).collect())
    }

    async fn delete(
        &self,
        resource: &NamespacedResource,
        namespace: &str,
        name: &str,
    ) -> kube::Result<()> {
        self.dynamic(resource, namespace)
            .delete(name, &DeleteParams::background())
            .await
            .map(|_| ())
    }

    async fn list_pods(&self, namespace: &str) -> kube::Result<Vec<Pod>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        Ok(pods.list(&ListParams::default()).await?.items)
    }
}

/// client-go's `ServerPreferredNamespacedResources` over aggregated discovery documents: every
/// namespaced top-level resource, at the first version of its group that serves it (discovery
/// lists the preferred version first). Stale group versions count as failed, as client-go
/// counts them.
pub fn parse_discovery(lists: &[APIGroupDiscoveryList]) -> Discovery {
    let mut out = Discovery::default();
    let mut seen = std::collections::HashSet::new();
    for group in lists.iter().flat_map(|l| &l.items) {
        let group_name = group
            .metadata
            .as_ref()
            .and_then(|m| m.name.as_deref())
            .unwrap_or_default();
        for version in &group.versions {
            let v = version.version.as_deref().unwrap_or_default();
            let gv = if group_name.is_empty() {
                v.to_string()
            } else {
                format!("{group_name}/{v}")
            };
            if v.is_empty() || v.contains('/') || group_name.contains('/') {
                out.unparsable
                    .push(format!("unexpected GroupVersion string: {gv}"));
                continue;
            }
            if version.freshness.as_deref() == Some("Stale") {
                out.failed
                    .insert(gv.clone(), format!("stale GroupVersion discovery: {gv}"));
                continue;
            }
            for r in &version.resources {
                let Some(resource) = r.resource.as_deref().filter(|r| !r.contains('/')) else {
                    continue;
                };
                if r.scope.as_deref() != Some("Namespaced")
                    || !seen.insert((group_name.to_string(), resource.to_string()))
                {
                    continue;
                }
                out.resources.push(NamespacedResource {
                    gvr: Gvr::new(group_name, v, resource),
                    kind: r
                        .response_kind
                        .as_ref()
                        .and_then(|k| k.kind.clone())
                        .unwrap_or_default(),
                    verbs: r.verbs.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(json: serde_json::Value) -> APIGroupDiscoveryList {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn prints_like_client_go() {
        assert_eq!(
            Gvr::new("", "v1", "configmaps").to_string(),
            "/v1, Resource=configmaps"
        );
        assert_eq!(
            Gvr::new("apps", "v1", "deployments").to_string(),
            "apps/v1, Resource=deployments"
        );
    }

    #[test]
    fn keeps_namespaced_resources_at_the_preferred_version() {
        let core = doc(serde_json::json!({
            "kind": "APIGroupDiscoveryList",
            "items": [{"metadata": {"creationTimestamp": null}, "versions": [{
                "version": "v1", "freshness": "Current",
                "resources": [
                    {"resource": "configmaps", "scope": "Namespaced",
                     "responseKind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                     "verbs": ["create", "delete", "deletecollection", "get", "list"]},
                    {"resource": "namespaces", "scope": "Cluster",
                     "responseKind": {"group": "", "version": "v1", "kind": "Namespace"},
                     "verbs": ["create", "delete", "get", "list"],
                     "subresources": [{"subresource": "finalize", "verbs": ["update"]}]}
                ]}]}]
        }));
        let groups = doc(serde_json::json!({
            "items": [
                {"metadata": {"name": "autoscaling"}, "versions": [
                    {"version": "v2", "resources": [
                        {"resource": "horizontalpodautoscalers", "scope": "Namespaced",
                         "responseKind": {"kind": "HorizontalPodAutoscaler"},
                         "verbs": ["delete", "list"]}]},
                    {"version": "v1", "resources": [
                        {"resource": "horizontalpodautoscalers", "scope": "Namespaced",
                         "responseKind": {"kind": "HorizontalPodAutoscaler"},
                         "verbs": ["delete", "list"]},
                        {"resource": "oldthings", "scope": "Namespaced",
                         "responseKind": {"kind": "OldThing"}, "verbs": ["delete"]}]}
                ]},
                {"metadata": {"name": "metrics.k8s.io"}, "versions": [
                    {"version": "v1beta1", "freshness": "Stale", "resources": []}
                ]}
            ]
        }));
        let d = parse_discovery(&[core, groups]);
        let gvrs: Vec<String> = d.resources.iter().map(|r| r.gvr.to_string()).collect();
        assert_eq!(
            gvrs,
            vec![
                "/v1, Resource=configmaps",
                "autoscaling/v2, Resource=horizontalpodautoscalers",
                "autoscaling/v1, Resource=oldthings",
            ]
        );
        assert_eq!(d.resources[0].kind, "ConfigMap");
        assert!(d.resources[0].supports("deletecollection"));
        assert_eq!(
            d.failed.get("metrics.k8s.io/v1beta1").map(String::as_str),
            Some("stale GroupVersion discovery: metrics.k8s.io/v1beta1")
        );
        assert!(d.unparsable.is_empty());
    }

    #[test]
    fn reports_unparsable_group_versions() {
        let groups = doc(serde_json::json!({
            "items": [{"metadata": {"name": "a/b"}, "versions": [{"version": "v1"}]}]
        }));
        let d = parse_discovery(&[groups]);
        assert_eq!(d.unparsable, vec!["unexpected GroupVersion string: a/b/v1"]);
    }
}
