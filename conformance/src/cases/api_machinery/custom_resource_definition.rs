//! `[sig-api-machinery] CustomResourceDefinition resources` (upstream
//! `test/e2e/apimachinery/custom_resource_definition.go`): creating, listing and deleting
//! CRDs, their status subresource, the apiextensions discovery documents, and defaulting of
//! custom resources on requests and when read back from storage.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::crd::{self, CLUSTER_SCOPED};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::{Framework, api, compare, new_uuid, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionCondition, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, APIGroupList, APIResourceList};
use kube::api::{DynamicObject, PostParams};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("custom-resource-definition");

const GROUP: &str = "apiextensions.k8s.io";
const VERSION: &str = "v1";

/// `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition creating/deleting custom resource definition objects works [Conformance]",
            case_fn!(create_delete),
        ),
        D.case(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition listing custom resource definition objects works [Conformance]",
            case_fn!(list),
        ),
        D.case(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] Simple CustomResourceDefinition getting/updating/patching custom resource definition status sub-resource works [Conformance]",
            case_fn!(status_subresource),
        ),
        D.case(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] should include custom resource definition resources in discovery documents [Conformance]",
            case_fn!(discovery_documents),
        ),
        D.case(
            "[sig-api-machinery] CustomResourceDefinition resources [Privileged:ClusterAdmin] custom resource defaulting for requests and from storage works [Conformance]",
            case_fn!(defaulting),
        ),
    ]
}

async fn create_delete(f: &Framework) -> Result<()> {
    let random = crd::random_name_crd(CLUSTER_SCOPED);
    let created = crd::create_watch_unsafe(f, &random)
        .await
        .context("creating CustomResourceDefinition")?;
    crd::delete(&f.client, &created)
        .await
        .context("deleting CustomResourceDefinition")
}

async fn list(f: &Framework) -> Result<()> {
    const TEST_LIST_SIZE: usize = 10;
    // Label the CRDs so that only they are listed, although they are cluster-scoped.
    let test_uuid = new_uuid();
    let mut created = Vec::new();
    for _ in 0..TEST_LIST_SIZE {
        let mut c = crd::random_name_crd(CLUSTER_SCOPED);
        c.metadata.labels = Some(BTreeMap::from([(
            "e2e-list-test-uuid".to_string(),
            test_uuid.clone(),
        )]));
        created.push(
            crd::create_watch_unsafe(f, &c)
                .await
                .context("creating CustomResourceDefinition")?,
        );
    }
    // One without the label shows that the selector matches correctly.
    let unlabeled = crd::create_watch_unsafe(f, &crd::random_name_crd(CLUSTER_SCOPED))
        .await
        .context("creating CustomResourceDefinition")?;

    let selector = format!("e2e-list-test-uuid={test_uuid}");
    let api = crd::crd_api(&f.client);
    let list = api
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .context("listing CustomResourceDefinitions")?;
    ensure!(
        list.items.len() == TEST_LIST_SIZE,
        "listing CustomResourceDefinitions: expected {TEST_LIST_SIZE} items, got {}: {:?}",
        list.items.len(),
        list.items
            .iter()
            .map(|c| c.metadata.name.as_deref().unwrap_or_default())
            .collect::<Vec<_>>()
    );
    for actual in &list.items {
        let name = actual.metadata.name.as_deref().unwrap_or_default();
        let Some(expected) = created.iter().find(|e| {
            e.metadata.name == actual.metadata.name
                && e.metadata.namespace == actual.metadata.namespace
        }) else {
            bail!("the list holds {name}, which this test did not create");
        };
        if !compare::semantic_eq(&actual.spec, &expected.spec) {
            bail!(
                "Expected CustomResourceDefinition in list with name {name} to match crd created with same name, but got different specs:\n{}",
                compare::diff(&expected.spec, &actual.spec)
            );
        }
    }

    // DeleteCollection removes the labelled CRDs and only them.
    crd::delete_collection(&f.client, &selector)
        .await
        .context("deleting CustomResourceDefinitions")?;
    let unlabeled_name = unlabeled.metadata.name.clone().unwrap_or_default();
    api.get(&unlabeled_name)
        .await
        .context("getting remaining CustomResourceDefinition")?;
    crd::delete(&f.client, &unlabeled)
        .await
        .context("deleting CustomResourceDefinition")
}

/// Upstream's `expectCondition`: a condition semantically equal to `expected` is present.
fn expect_condition(
    conditions: Option<&Vec<CustomResourceDefinitionCondition>>,
    expected: &CustomResourceDefinitionCondition,
) -> Result<()> {
    let conditions = conditions.map(Vec::as_slice).unwrap_or_default();
    if conditions.iter().any(|c| compare::semantic_eq(c, expected)) {
        return Ok(());
    }
    bail!(
        "Condition {} not found in conditions {}",
        serde_json::to_string(expected)?,
        serde_json::to_string(conditions)?
    )
}

fn conditions(crd: &CustomResourceDefinition) -> Option<&Vec<CustomResourceDefinitionCondition>> {
    crd.status.as_ref().and_then(|s| s.conditions.as_ref())
}

async fn status_subresource(f: &Framework) -> Result<()> {
    let created = crd::create_watch_unsafe(f, &crd::random_name_crd(CLUSTER_SCOPED))
        .await
        .context("creating CustomResourceDefinition")?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let api = crd::crd_api(&f.client);
    let status_path = format!("/apis/{GROUP}/{VERSION}/customresourcedefinitions/{name}/status");

    let update_condition = CustomResourceDefinitionCondition {
        message: Some("updated".into()),
        ..Default::default()
    };
    let updated = retry_on_conflict(async || {
        // The status subresource is read as the dynamic client reads it: the whole object.
        let mut status: CustomResourceDefinition = api::get_json(&f.client, &status_path)
            .await
            .context("getting CustomResourceDefinition status")?;
        if !compare::semantic_eq(&status.spec, &created.spec) {
            bail!(
                "Expected CustomResourceDefinition Spec to match status sub-resource Spec, but got:\n{}",
                compare::diff(&status.spec, &created.spec)
            );
        }
        status
            .status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(update_condition.clone());
        Ok(api
            .replace_status(&name, &PostParams::default(), &status)
            .await?)
    })
    .await
    .context("updating CustomResourceDefinition status")?;
    expect_condition(conditions(&updated), &update_condition)?;

    let patch_condition = CustomResourceDefinitionCondition {
        message: Some("patched".into()),
        ..Default::default()
    };
    let patched: CustomResourceDefinition = api::json_patch(
        &f.client,
        &status_path,
        r#"[{"op": "add", "path": "/status/conditions", "value": [{"message": "patched"}]}]"#,
    )
    .await
    .context("patching CustomResourceDefinition status")?;
    expect_condition(conditions(&updated), &update_condition)?;
    expect_condition(conditions(&patched), &patch_condition)?;

    crd::delete(&f.client, &created)
        .await
        .context("deleting CustomResourceDefinition")
}

async fn discovery_documents(f: &Framework) -> Result<()> {
    f.step("fetching the /apis discovery document");
    let groups: APIGroupList = api::get_json(&f.client, "/apis")
        .await
        .context("fetching /apis")?;

    f.step("finding the apiextensions.k8s.io API group in the /apis discovery document");
    let group = groups
        .groups
        .iter()
        .find(|g| g.name == GROUP)
        .context("apiextensions.k8s.io API group not found in /apis discovery document")?;

    f.step("finding the apiextensions.k8s.io/v1 API group/version in the /apis discovery document");
    ensure!(
        group.versions.iter().any(|v| v.version == VERSION),
        "apiextensions.k8s.io/v1 API group version not found in /apis discovery document"
    );

    f.step("fetching the /apis/apiextensions.k8s.io discovery document");
    let group: APIGroup = api::get_json(&f.client, "/apis/apiextensions.k8s.io")
        .await
        .context("fetching /apis/apiextensions.k8s.io")?;
    ensure!(
        group.name == GROUP,
        "verifying API group name in /apis/apiextensions.k8s.io discovery document: expected {GROUP:?}, got {:?}",
        group.name
    );

    f.step(
        "finding the apiextensions.k8s.io/v1 API group/version in the /apis/apiextensions.k8s.io discovery document",
    );
    ensure!(
        group.versions.iter().any(|v| v.version == VERSION),
        "apiextensions.k8s.io/v1 API group version not found in /apis/apiextensions.k8s.io discovery document"
    );

    f.step("fetching the /apis/apiextensions.k8s.io/v1 discovery document");
    let list: APIResourceList = api::get_json(&f.client, "/apis/apiextensions.k8s.io/v1")
        .await
        .context("fetching /apis/apiextensions.k8s.io/v1")?;
    ensure!(
        list.group_version == "apiextensions.k8s.io/v1",
        "verifying API group/version in /apis/apiextensions.k8s.io/v1 discovery document: expected \"apiextensions.k8s.io/v1\", got {:?}",
        list.group_version
    );

    f.step(
        "finding customresourcedefinitions resources in the /apis/apiextensions.k8s.io/v1 discovery document",
    );
    ensure!(
        list.resources
            .iter()
            .any(|r| r.name == "customresourcedefinitions"),
        "customresourcedefinitions resource not found in /apis/apiextensions.k8s.io/v1 discovery document"
    );
    Ok(())
}

/// A bare custom resource: apiVersion, kind and name, nothing else.
fn bare_cr(crd: &CustomResourceDefinition, name: &str) -> DynamicObject {
    DynamicObject::new(name, &crd::api_resource(crd, &crd.spec.versions[0].name))
}

async fn defaulting(f: &Framework) -> Result<()> {
    // A CRD without defaults, with two string properties besides whatever else it keeps.
    let mut def = crd::random_name_crd(CLUSTER_SCOPED);
    if let Some(schema) = def.spec.versions[0]
        .schema
        .as_mut()
        .and_then(|s| s.open_api_v3_schema.as_mut())
    {
        let props = schema.properties.get_or_insert_with(BTreeMap::new);
        for p in ["a", "b"] {
            props.insert(
                p.into(),
                JSONSchemaProps {
                    type_: Some("string".into()),
                    ..Default::default()
                },
            );
        }
    }
    let created = crd::create_watch_unsafe(f, &def)
        .await
        .context("creating CustomResourceDefinition")?;
    let crd_name = created.metadata.name.clone().unwrap_or_default();
    let crd_path = format!("/apis/{GROUP}/{VERSION}/customresourcedefinitions/{crd_name}");
    let cr_client = crd::resource_api(&f.client, &created, &created.spec.versions[0].name, "");

    // A CR stored without the default.
    let name1 = format!("cr-1{}", rand_string(5));
    cr_client
        .create(&PostParams::default(), &bare_cr(&created, &name1))
        .await
        .context("creating CR")?;

    let _: Value = api::json_patch(
        &f.client,
        &crd_path,
        r#"[
			{"op":"add","path":"/spec/versions/0/schema/openAPIV3Schema/properties/a/default", "value": "A"}
		]"#,
    )
    .await
    .context("setting default for a to \"A\" in schema")?;

    // What the server last returned, for the failure message.
    let mut last = String::from("nothing");
    poll(
        Duration::from_millis(100),
        FOREVER_TEST_TIMEOUT,
        async || {
            let u1 = cr_client.get(&name1).await?;
            last = serde_json::to_string(&u1)?;
            match u1.data.get("a") {
                None => Ok(false),
                Some(a) if a == "A" => Ok(true),
                Some(a) => bail!("expected a:\"A\", but got a:{a}"),
            }
        },
    )
    .await
    .with_context(|| format!("waiting for CR to be defaulted on read (last read: {last})"))?;

    // A CR stored with the default.
    let name2 = format!("cr-2{}", rand_string(5));
    let u2 = cr_client
        .create(&PostParams::default(), &bare_cr(&created, &name2))
        .await
        .context("creating CR")?;
    let a = u2.data.get("a").context("\"a\" is defaulted")?;
    ensure!(a == "A", "\"a\" is defaulted to \"A\": got {a}");

    let _: Value = api::json_patch(
        &f.client,
        &crd_path,
        r#"[
			{"op":"remove","path":"/spec/versions/0/schema/openAPIV3Schema/properties/a/default"},
			{"op":"add","path":"/spec/versions/0/schema/openAPIV3Schema/properties/b/default", "value": "B"}
		]"#,
    )
    .await
    .context("setting default for b to \"B\" and remove default for a")?;

    let mut last = String::from("nothing");
    poll(
        Duration::from_millis(100),
        FOREVER_TEST_TIMEOUT,
        async || {
            let u2 = cr_client.get(&name2).await?;
            last = serde_json::to_string(&u2)?;
            match u2.data.get("b") {
                None => return Ok(false),
                Some(b) if b != "B" => bail!("expected b:\"B\", but got b:{b}"),
                Some(_) => {}
            }
            match u2.data.get("a") {
                None => bail!("expected a:\"A\" to be unchanged, but it was removed"),
                Some(a) if a != "A" => {
                    bail!("expected a:\"A\" to be unchanged, but it changed to {a}")
                }
                Some(_) => Ok(true),
            }
        },
    )
    .await
    .with_context(|| {
        format!(
            "waiting for CR to be defaulted on read for b and a staying the same (last read: {last})"
        )
    })?;

    crd::delete(&f.client, &created)
        .await
        .context("deleting CustomResourceDefinition")
}
