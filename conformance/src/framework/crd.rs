//! CustomResourceDefinition fixtures and helpers, after upstream's
//! `apiextensions-apiserver/test/integration/fixtures` (random and "noxu" definitions, creating
//! one and waiting for discovery to serve it, priming the watch cache, deleting and waiting for
//! discovery to drop it) and `test/utils/crd` (a per-test CRD named after the test namespace).
//!
//! CRDs are cluster-scoped and outlive the case's namespace, so every helper that creates one
//! also registers a deferred delete with the [`Framework`]: a case that fails half-way never
//! leaves a definition behind.

use super::{Framework, api, rand_string, random_suffix, wait, watch};
use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionNames, CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion, CustomResourceSubresourceStatus, CustomResourceSubresources,
    CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, PostParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};
use std::time::Duration;

/// `apiextensionsv1.ClusterScoped`.
pub const CLUSTER_SCOPED: &str = "Cluster";
/// `apiextensionsv1.NamespaceScoped`.
pub const NAMESPACE_SCOPED: &str = "Namespaced";

/// How often and how long the fixtures poll discovery (upstream's 500ms / 30s).
const DISCOVERY_POLL: Duration = Duration::from_millis(500);
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// The typed client for CustomResourceDefinitions.
pub fn crd_api(client: &Client) -> Api<CustomResourceDefinition> {
    Api::all(client.clone())
}

/// `fixtures.AllowAllSchema`: an object that keeps whatever it is given.
pub fn allow_all_schema() -> CustomResourceValidation {
    CustomResourceValidation {
        open_api_v3_schema: Some(JSONSchemaProps {
            x_kubernetes_preserve_unknown_fields: Some(true),
            type_: Some("object".into()),
            ..Default::default()
        }),
    }
}

/// Parses a schema written as JSON (upstream writes them as YAML or JSON literals).
pub fn schema_props(v: Value) -> Result<JSONSchemaProps> {
    serde_json::from_value(v).context("parsing a JSONSchemaProps literal")
}

fn version(name: &str, served: bool, storage: bool) -> CustomResourceDefinitionVersion {
    CustomResourceDefinitionVersion {
        name: name.into(),
        served,
        storage,
        schema: Some(allow_all_schema()),
        ..Default::default()
    }
}

fn with_status(mut v: CustomResourceDefinitionVersion) -> CustomResourceDefinitionVersion {
    v.subresources = Some(CustomResourceSubresources {
        status: Some(CustomResourceSubresourceStatus(json!({}))),
        ..Default::default()
    });
    v
}

fn random_definition(
    scope: &str,
    versions: Vec<CustomResourceDefinitionVersion>,
) -> CustomResourceDefinition {
    // "ensure the singular doesn't end in an s for now": names.SimpleNameGenerator plus "a".
    let g_name = format!("foo{}a", rand_string(5));
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{g_name}s.mygroup.example.com")),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: "mygroup.example.com".into(),
            versions,
            names: CustomResourceDefinitionNames {
                plural: format!("{g_name}s"),
                singular: Some(g_name.clone()),
                kind: g_name.clone(),
                list_kind: Some(format!("{g_name}List")),
                ..Default::default()
            },
            scope: scope.into(),
            ..Default::default()
        },
        status: None,
    }
}

/// `fixtures.NewRandomNameV1CustomResourceDefinition`: one served and stored `v1beta1`.
pub fn random_name_crd(scope: &str) -> CustomResourceDefinition {
    random_definition(scope, vec![version("v1beta1", true, true)])
}

/// `fixtures.NewRandomNameMultipleVersionCustomResourceDefinition`: `v1beta1` (served) and `v1`
/// (served and stored), both with the status subresource.
pub fn random_name_multiple_version_crd(scope: &str) -> CustomResourceDefinition {
    random_definition(
        scope,
        vec![
            with_status(version("v1beta1", true, false)),
            with_status(version("v1", true, true)),
        ],
    )
}

/// `fixtures.NewNoxuV1CustomResourceDefinition`: the fixed `noxus.mygroup.example.com`.
pub fn noxu_crd(scope: &str) -> CustomResourceDefinition {
    CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some("noxus.mygroup.example.com".into()),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: "mygroup.example.com".into(),
            versions: vec![version("v1beta1", true, true)],
            names: CustomResourceDefinitionNames {
                plural: "noxus".into(),
                singular: Some("nonenglishnoxu".into()),
                kind: "WishIHadChosenNoxu".into(),
                short_names: Some(vec!["foo".into(), "bar".into(), "abc".into(), "def".into()]),
                list_kind: Some("NoxuItemList".into()),
                categories: Some(vec!["all".into()]),
            },
            scope: scope.into(),
            ..Default::default()
        },
        status: None,
    }
}

/// `fixtures.NewNoxuInstance`: a `WishIHadChosenNoxu` in `v1beta1`.
pub fn noxu_instance(namespace: &str, name: &str) -> DynamicObject {
    let mut o = DynamicObject::new(
        name,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "mygroup.example.com",
            "v1beta1",
            "WishIHadChosenNoxu",
        )),
    );
    if !namespace.is_empty() {
        o.metadata.namespace = Some(namespace.into());
    }
    o.data = json!({
        "content": {"key": "value"},
        "num": {"num1": i64::MAX, "num2": 1_000_000},
    });
    o
}

/// The names of the versions `crd` serves.
pub fn served_versions(crd: &CustomResourceDefinition) -> Vec<String> {
    crd.spec
        .versions
        .iter()
        .filter(|v| v.served)
        .map(|v| v.name.clone())
        .collect()
}

/// The dynamic-client resource for `crd` in `version`.
pub fn api_resource(crd: &CustomResourceDefinition, version: &str) -> ApiResource {
    let group = &crd.spec.group;
    ApiResource {
        group: group.clone(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: crd.spec.names.kind.clone(),
        plural: crd.spec.names.plural.clone(),
    }
}

/// A dynamic client for `crd`'s objects in `version`: in `namespace` when the definition is
/// namespaced, cluster-wide otherwise (`fixtures.resourceClientForVersion`).
pub fn resource_api(
    client: &Client,
    crd: &CustomResourceDefinition,
    version: &str,
    namespace: &str,
) -> Api<DynamicObject> {
    let ar = api_resource(crd, version);
    if crd.spec.scope == CLUSTER_SCOPED {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), namespace, &ar)
    }
}

/// `fixtures.existsInDiscoveryV1`: whether `/apis/<group>/<version>` lists the plural.
pub async fn exists_in_discovery(
    client: &Client,
    crd: &CustomResourceDefinition,
    version: &str,
) -> Result<bool> {
    let path = format!("/apis/{}/{version}", crd.spec.group);
    match api::get_json::<APIResourceList>(client, &path).await {
        Ok(list) => Ok(list
            .resources
            .iter()
            .any(|r| r.name == crd.spec.names.plural)),
        Err(e) if api::anyhow_is(&e, api::is_not_found) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes the CRD named `name` after the case, whatever happened (it may be gone already).
pub fn defer_delete(f: &Framework, name: &str) {
    f.defer_delete(crd_api(&f.client), name);
}

/// `fixtures.CreateNewV1CustomResourceDefinitionWatchUnsafe`: creates `crd` and waits until
/// discovery lists it in every served version. Registers a deferred delete.
pub async fn create_watch_unsafe(
    f: &Framework,
    crd: &CustomResourceDefinition,
) -> Result<CustomResourceDefinition> {
    let created = crd_api(&f.client)
        .create(&PostParams::default(), crd)
        .await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    defer_delete(f, &name);
    for version in served_versions(&created) {
        wait::poll(DISCOVERY_POLL, DISCOVERY_TIMEOUT, async || {
            exists_in_discovery(&f.client, &created, &version).await
        })
        .await
        .with_context(|| {
            format!(
                "waiting for {}/{version} to list {name} in discovery",
                created.spec.group
            )
        })?;
    }
    Ok(created)
}

/// `fixtures.CreateNewV1CustomResourceDefinition`: [`create_watch_unsafe`], then waits until a
/// watch from a fresh resource version sees a setup object's deletion in every served version.
pub async fn create(
    f: &Framework,
    crd: &CustomResourceDefinition,
) -> Result<CustomResourceDefinition> {
    let created = create_watch_unsafe(f, crd).await?;
    wait::poll(DISCOVERY_POLL, DISCOVERY_TIMEOUT, async || {
        is_watch_cache_primed(&f.client, &created).await
    })
    .await
    .context("waiting for the custom resource watch cache to be primed")?;
    Ok(created)
}

/// `fixtures.isWatchCachePrimed`: creates and deletes `setup-instance`, then expects every
/// served version's watch from the creation's resource version to deliver the DELETE.
async fn is_watch_cache_primed(client: &Client, crd: &CustomResourceDefinition) -> Result<bool> {
    let ns = if crd.spec.scope == CLUSTER_SCOPED {
        ""
    } else {
        "default"
    };
    let versions = served_versions(crd);
    let Some(first) = versions.first() else {
        return Ok(true);
    };
    let resource = resource_api(client, crd, first, ns);
    let mut instance = DynamicObject::new("setup-instance", &api_resource(crd, first));
    if !ns.is_empty() {
        instance.metadata.namespace = Some(ns.into());
    }
    instance.data = json!({
        "alpha": "foo_123",
        "beta": 10,
        "gamma": "bar",
        "delta": "hello",
        "epsilon": "foobar",
        "spec": {},
    });
    let created = resource.create(&PostParams::default(), &instance).await?;
    resource
        .delete("setup-instance", &DeleteParams::default())
        .await?;
    let rv = created.metadata.resource_version.unwrap_or_default();
    for v in &versions {
        let api = resource_api(client, crd, v, ns);
        let mut w = watch::Watch::start(&api, &rv, None, None).await?;
        match w.next(Duration::from_secs(5)).await? {
            None => bail!("gave up waiting for watch event"),
            Some(e) if e.kind == watch::EventType::Error => return Ok(false),
            Some(e) if e.kind != watch::EventType::Deleted => {
                bail!("expected DELETE, but got {:?}", e.kind)
            }
            Some(_) => {}
        }
    }
    Ok(true)
}

/// `fixtures.DeleteV1CustomResourceDefinition`: deletes `crd` and waits until discovery no
/// longer lists it in any served version.
pub async fn delete(client: &Client, crd: &CustomResourceDefinition) -> Result<()> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    crd_api(client)
        .delete(&name, &DeleteParams::default())
        .await
        .with_context(|| format!("deleting CustomResourceDefinition {name}"))?;
    wait_gone_from_discovery(client, crd).await
}

async fn wait_gone_from_discovery(client: &Client, crd: &CustomResourceDefinition) -> Result<()> {
    // A plain loop rather than `wait::poll`: deferred cleanups run this, and their futures
    // must be `Send`, which async closures' futures cannot promise yet.
    for version in served_versions(crd) {
        let deadline = std::time::Instant::now() + DISCOVERY_TIMEOUT;
        while exists_in_discovery(client, crd, &version).await? {
            if std::time::Instant::now() + DISCOVERY_POLL > deadline {
                bail!(
                    "waiting for {}/{version} to stop listing {}: timed out waiting for the condition after {DISCOVERY_TIMEOUT:?}",
                    crd.spec.group,
                    crd.spec.names.plural
                );
            }
            tokio::time::sleep(DISCOVERY_POLL).await;
        }
    }
    Ok(())
}

/// `fixtures.DeleteV1CustomResourceDefinitions`: deletes every CRD matching `selector` with one
/// DeleteCollection and waits until discovery drops them all.
pub async fn delete_collection(client: &Client, selector: &str) -> Result<()> {
    let lp = ListParams::default().labels(selector);
    let api = crd_api(client);
    let list = api.list(&lp).await?;
    api.delete_collection(&DeleteParams::default(), &lp).await?;
    for crd in &list.items {
        wait_gone_from_discovery(client, crd).await?;
    }
    Ok(())
}

/// Upstream's `crd.TestCrd`: a CRD made for one test.
pub struct TestCrd {
    pub crd: CustomResourceDefinition,
}

impl TestCrd {
    /// `TestCrd.CleanUp`: deletes the CRD and waits until discovery drops it.
    pub async fn clean_up(&self, client: &Client) -> Result<()> {
        let name = self.crd.metadata.name.as_deref().unwrap_or_default();
        delete(client, &self.crd)
            .await
            .with_context(|| format!("failed to delete CustomResourceDefinition({name})"))
    }
}

/// `crd.genRandomCRD`: a namespaced CRD in `group` named after the test namespace, with an
/// allow-all `v1` unless `opts` sets versions.
fn gen_random_crd(
    f: &Framework,
    group: &str,
    opts: &dyn Fn(&mut CustomResourceDefinition),
) -> CustomResourceDefinition {
    let name = format!("e2e-test-{}-{}-crd", f.ns(), random_suffix());
    let mut crd = CustomResourceDefinition {
        metadata: ObjectMeta {
            name: Some(format!("{name}s.{group}")),
            ..Default::default()
        },
        spec: CustomResourceDefinitionSpec {
            group: group.into(),
            names: CustomResourceDefinitionNames {
                plural: format!("{name}s"),
                singular: Some(name.clone()),
                kind: name.clone(),
                list_kind: Some(format!("{name}List")),
                ..Default::default()
            },
            scope: NAMESPACE_SCOPED.into(),
            ..Default::default()
        },
        status: None,
    };
    opts(&mut crd);
    if crd.spec.versions.is_empty() {
        crd.spec.versions = vec![version("v1", true, true)];
    }
    crd
}

/// `crd.CreateMultiVersionTestCRD`: creates a [`gen_random_crd`] definition, retrying every 2s
/// for 30s (with a new name when the old one is taken), and waits for discovery to serve it.
pub async fn create_multi_version_test_crd(
    f: &Framework,
    group: &str,
    opts: &dyn Fn(&mut CustomResourceDefinition),
) -> Result<TestCrd> {
    let mut crd = gen_random_crd(f, group, opts);
    let mut got = None;
    wait::poll(Duration::from_secs(2), Duration::from_secs(30), async || {
        match create_watch_unsafe(f, &crd).await {
            Ok(c) => {
                got = Some(c);
                Ok(true)
            }
            Err(e) if api::anyhow_is(&e, api::is_already_exists) => {
                f.log(format!(
                    "CustomResourceDefinition name {:?} was already taken, generate a new name and retry",
                    crd.metadata.name.as_deref().unwrap_or_default()
                ));
                crd = gen_random_crd(f, group, opts);
                Ok(false)
            }
            Err(e) => {
                f.log(format!(
                    "Unexpected error while creating CustomResourceDefinition: {}",
                    api::format_chain(&e)
                ));
                Ok(false)
            }
        }
    })
    .await?;
    let crd = got.context("the CustomResourceDefinition was not created")?;
    Ok(TestCrd { crd })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_definitions_are_consistent() {
        let crd = random_name_crd(CLUSTER_SCOPED);
        let plural = &crd.spec.names.plural;
        assert!(
            plural.starts_with("foo") && plural.ends_with("as"),
            "{plural}"
        );
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{plural}.mygroup.example.com").as_str())
        );
        assert_eq!(served_versions(&crd), ["v1beta1"]);
        let multi = random_name_multiple_version_crd(NAMESPACE_SCOPED);
        assert_eq!(served_versions(&multi), ["v1beta1", "v1"]);
        assert!(multi.spec.versions[1].storage && !multi.spec.versions[0].storage);
    }

    #[test]
    fn noxu_instances_carry_the_big_number() {
        let o = noxu_instance("", "name1");
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["apiVersion"], "mygroup.example.com/v1beta1");
        assert_eq!(v["kind"], "WishIHadChosenNoxu");
        assert_eq!(v["num"]["num1"], json!(9_223_372_036_854_775_807_i64));
        assert!(v["metadata"].get("namespace").is_none());
    }
}
