//! `[sig-api-machinery] API priority and fairness` API cases (upstream
//! `test/e2e/apimachinery/flowcontrol.go`): the flowcontrol.apiserver.k8s.io FlowSchema and
//! PriorityLevelConfiguration APIs with their `status` subresources. The cases that measure
//! request isolation need a working APF filter and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, api, discovery, rand_string};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::flowcontrol::v1::{
    FlowDistinguisherMethod, FlowSchema, FlowSchemaCondition, FlowSchemaSpec, LimitResponse,
    LimitedPriorityLevelConfiguration, NonResourcePolicyRule, PolicyRulesWithSubjects,
    PriorityLevelConfiguration, PriorityLevelConfigurationCondition,
    PriorityLevelConfigurationReference, PriorityLevelConfigurationSpec, Subject, UserSubject,
};
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

const D: Describe = Describe::new("apf");
const GROUP: &str = "flowcontrol.apiserver.k8s.io";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] API priority and fairness should support FlowSchema API operations [Conformance]",
            case_fn!(flow_schema_api),
        ),
        D.case(
            "[sig-api-machinery] API priority and fairness should support PriorityLevelConfiguration API operations [Conformance]",
            case_fn!(priority_level_api),
        ),
    ]
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

/// The steps both cases share around their kind-specific checks.
struct Flow<'a, K> {
    f: &'a Framework,
    api: Api<K>,
    label: String,
    resource: &'static str,
    kind: &'static str,
}

impl<K> Flow<'_, K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + 'static,
{
    async fn create_three(&self, template: &K) -> Result<K> {
        self.f.step("creating");
        let pp = PostParams::default();
        self.api.create(&pp, template).await.context("creating 1")?;
        self.api.create(&pp, template).await.context("creating 2")?;
        let created = self.api.create(&pp, template).await.context("creating 3")?;

        self.f.step("getting");
        let name = created.meta().name.clone().unwrap_or_default();
        let read = self.api.get(&name).await.context("getting")?;
        ensure!(read.meta().uid == created.meta().uid, "got a different uid");
        api::expect_valid_resource_version(read.meta())?;
        Ok(created)
    }

    async fn list_and_watch(&self) -> Result<Watch<K>> {
        self.f.step("listing");
        let list = self
            .api
            .list(&ListParams::default().labels(&self.label))
            .await?;
        ensure!(
            list.items.len() == 3,
            "filtered list should have 3 items, got {}",
            list.items.len()
        );
        self.f.step("watching");
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        Watch::start(&self.api, &rv, Some(&self.label), None).await
    }

    async fn wait_for_patched(&self, w: &mut Watch<K>) -> Result<()> {
        self.f
            .log("waiting for watch events with expected annotations");
        w.until(Duration::from_secs(30), |e| {
            ensure!(
                e.kind == EventType::Modified,
                "expected a MODIFIED event, got {:?}",
                e.kind
            );
            Ok(e.object
                .as_ref()
                .is_some_and(|o| annotation(o.meta(), "patched").as_deref() == Some("true")))
        })
        .await
        .context("timed out waiting for watch event")?;
        Ok(())
    }

    async fn get_status(&self, created: &K) -> Result<()> {
        self.f.step("getting /status");
        let name = created.meta().name.clone().unwrap_or_default();
        let path = format!("/apis/{GROUP}/v1/{}/{name}/status", self.resource);
        api::expect_subresource_object(
            &self.f.client,
            &path,
            &format!("{GROUP}/v1"),
            self.kind,
            created.meta().uid.as_deref(),
        )
        .await
    }

    async fn delete_and_collection(&self, created: &K) -> Result<()> {
        let name = created.meta().name.clone().unwrap_or_default();
        self.f.step("deleting");
        self.api
            .delete(&name, &DeleteParams::default())
            .await
            .context("deleting")?;
        api::expect_not_found(self.api.get(&name).await, "the deleted object")?;
        let list = self
            .api
            .list(&ListParams::default().labels(&self.label))
            .await?;
        ensure!(
            list.items.len() == 2,
            "filtered list should have 2 items, got {}",
            list.items.len()
        );

        self.f.step("deleting a collection");
        self.api
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&self.label),
            )
            .await
            .context("deleting the collection")?;
        let list = self
            .api
            .list(&ListParams::default().labels(&self.label))
            .await?;
        ensure!(
            list.items.is_empty(),
            "filtered list should have 0 items, got {}",
            list.items.len()
        );
        Ok(())
    }
}

fn defer_collection_delete<K>(f: &Framework, api: &Api<K>, label: &str)
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (api, label) = (api.clone(), label.to_string());
    f.defer(format!("deleting objects labelled {label}"), async move {
        let _ = api
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().labels(&label),
            )
            .await;
    });
}

async fn flow_schema_api(f: &Framework) -> Result<()> {
    discovery::expect_served(f, GROUP, "v1", &["flowschemas", "flowschemas/status"]).await?;
    let (key, value) = ("example-e2e-fs-label", rand_string(8));
    let flow = Flow {
        f,
        api: f.api_all::<FlowSchema>(),
        label: format!("{key}={value}"),
        resource: "flowschemas",
        kind: "FlowSchema",
    };
    let template = FlowSchema {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-fs-".into()),
            labels: Some(BTreeMap::from([(key.to_string(), value.clone())])),
            ..Default::default()
        },
        spec: Some(FlowSchemaSpec {
            matching_precedence: Some(10000),
            priority_level_configuration: PriorityLevelConfigurationReference {
                name: "global-default".into(),
            },
            distinguisher_method: Some(FlowDistinguisherMethod {
                type_: "ByUser".into(),
            }),
            rules: Some(vec![PolicyRulesWithSubjects {
                subjects: vec![Subject {
                    kind: "User".into(),
                    user: Some(UserSubject {
                        name: "example-e2e-non-existent-user".into(),
                    }),
                    ..Default::default()
                }],
                non_resource_rules: Some(vec![NonResourcePolicyRule {
                    verbs: vec!["*".into()],
                    non_resource_urls: vec!["*".into()],
                }]),
                ..Default::default()
            }]),
        }),
        status: None,
    };
    defer_collection_delete(f, &flow.api, &flow.label);

    let created = flow.create_three(&template).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let mut w = flow.list_and_watch().await?;

    f.step("patching");
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patched": "true"}},
        "spec": {"matchingPrecedence": 9999},
    });
    let patched = flow
        .api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );
    let precedence = |fs: &FlowSchema| fs.spec.as_ref().and_then(|s| s.matching_precedence);
    ensure!(
        precedence(&patched) == Some(9999),
        "patched object should have the applied spec"
    );
    api::expect_newer_resource_version(&created.metadata, &patched.metadata)?;

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut fs = flow
            .api
            .get(&name)
            .await
            .context("getting the FlowSchema")?;
        fs.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        fs.spec
            .get_or_insert_with(Default::default)
            .matching_precedence = Some(9000);
        Ok(flow.api.replace(&name, &PostParams::default(), &fs).await?)
    })
    .await
    .with_context(|| format!("failed to update flowschema {name:?}"))?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );
    ensure!(
        precedence(&updated) == Some(9000),
        "updated object should have the applied spec"
    );

    flow.wait_for_patched(&mut w).await?;
    drop(w);
    flow.get_status(&created).await?;

    let has_condition = |fs: &FlowSchema, t: &str| {
        fs.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_.as_deref() == Some(t)))
    };
    f.step("patching /status");
    let patch = serde_json::json!({
        "status": {"conditions": [{"type": "PatchStatusFailed", "status": "False", "reason": "e2e"}]},
    });
    let patched = flow
        .api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching /status")?;
    ensure!(
        has_condition(&patched, "PatchStatusFailed"),
        "the PatchStatusFailed condition is missing"
    );

    f.step("updating /status");
    let updated = retry_on_conflict(async || {
        let mut fs = flow
            .api
            .get(&name)
            .await
            .context("getting the FlowSchema")?;
        fs.status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(FlowSchemaCondition {
                type_: Some("StatusUpdateFailed".into()),
                status: Some("False".into()),
                reason: Some("E2E".into()),
                message: Some("Set from an e2e test".into()),
                ..Default::default()
            });
        Ok(flow
            .api
            .replace_status(&name, &PostParams::default(), &fs)
            .await?)
    })
    .await
    .with_context(|| format!("failed to update status of flowschema {name:?}"))?;
    ensure!(
        has_condition(&updated, "StatusUpdateFailed"),
        "the StatusUpdateFailed condition is missing"
    );

    flow.delete_and_collection(&created).await
}

async fn priority_level_api(f: &Framework) -> Result<()> {
    discovery::expect_served(
        f,
        GROUP,
        "v1",
        &[
            "prioritylevelconfigurations",
            "prioritylevelconfigurations/status",
        ],
    )
    .await?;
    let (key, value) = ("example-e2e-pl-label", rand_string(8));
    let flow = Flow {
        f,
        api: f.api_all::<PriorityLevelConfiguration>(),
        label: format!("{key}={value}"),
        resource: "prioritylevelconfigurations",
        kind: "PriorityLevelConfiguration",
    };
    let template = PriorityLevelConfiguration {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-pl-".into()),
            labels: Some(BTreeMap::from([(key.to_string(), value.clone())])),
            ..Default::default()
        },
        spec: Some(PriorityLevelConfigurationSpec {
            type_: "Limited".into(),
            limited: Some(LimitedPriorityLevelConfiguration {
                nominal_concurrency_shares: Some(2),
                limit_response: Some(LimitResponse {
                    type_: "Reject".into(),
                    queuing: None,
                }),
                ..Default::default()
            }),
            exempt: None,
        }),
        status: None,
    };
    defer_collection_delete(f, &flow.api, &flow.label);

    let created = flow.create_three(&template).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let mut w = flow.list_and_watch().await?;
    let shares = |pl: &PriorityLevelConfiguration| {
        pl.spec
            .as_ref()
            .and_then(|s| s.limited.as_ref())
            .and_then(|l| l.nominal_concurrency_shares)
    };

    f.step("patching");
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patched": "true"}},
        "spec": {"limited": {"nominalConcurrencyShares": 4}},
    });
    let patched = flow
        .api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );
    ensure!(
        shares(&patched) == Some(4),
        "patched object should have the applied spec"
    );
    api::expect_newer_resource_version(&created.metadata, &patched.metadata)?;

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut pl = flow
            .api
            .get(&name)
            .await
            .context("getting the priority level")?;
        pl.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        if let Some(limited) = pl.spec.as_mut().and_then(|s| s.limited.as_mut()) {
            limited.nominal_concurrency_shares = Some(6);
        }
        Ok(flow.api.replace(&name, &PostParams::default(), &pl).await?)
    })
    .await
    .with_context(|| format!("failed to update prioritylevelconfiguration {name:?}"))?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );
    ensure!(
        shares(&updated) == Some(6),
        "updated object should have the applied spec"
    );

    flow.wait_for_patched(&mut w).await?;
    drop(w);
    flow.get_status(&created).await?;

    let has_condition = |pl: &PriorityLevelConfiguration, t: &str| {
        pl.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_.as_deref() == Some(t)))
    };
    f.step("patching /status");
    let patch = serde_json::json!({
        "status": {"conditions": [{"type": "PatchStatusFailed", "status": "False", "reason": "e2e"}]},
    });
    let patched = flow
        .api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching /status")?;
    ensure!(
        has_condition(&patched, "PatchStatusFailed"),
        "the PatchStatusFailed condition is missing"
    );

    f.step("updating /status");
    let updated = retry_on_conflict(async || {
        let mut pl = flow
            .api
            .get(&name)
            .await
            .context("getting the priority level")?;
        pl.status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(PriorityLevelConfigurationCondition {
                type_: Some("StatusUpdateFailed".into()),
                status: Some("False".into()),
                reason: Some("E2E".into()),
                message: Some("Set from an e2e test".into()),
                ..Default::default()
            });
        Ok(flow
            .api
            .replace_status(&name, &PostParams::default(), &pl)
            .await?)
    })
    .await
    .with_context(|| format!("failed to update status of prioritylevelconfiguration {name:?}"))?;
    ensure!(
        has_condition(&updated, "StatusUpdateFailed"),
        "the StatusUpdateFailed condition is missing"
    );

    flow.delete_and_collection(&created).await
}
