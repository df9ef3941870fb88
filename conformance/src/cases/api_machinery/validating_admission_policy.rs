//! `[sig-api-machinery] ValidatingAdmissionPolicy` cases (upstream
//! `test/e2e/apimachinery/validatingadmissionpolicy.go`): the ValidatingAdmissionPolicy admission
//! plugin denying Deployments in the case's namespace through a policy and its binding (CEL
//! validations, `namespaceObject`, composited variables), and the admissionregistration.k8s.io/v1
//! ValidatingAdmissionPolicy (with `status`) and ValidatingAdmissionPolicyBinding APIs. The type
//! checking cases are not [Conformance] upstream and are not here.
//!
//! Every case first labels its namespace `<namespace>: "true"`; the policies and bindings it
//! creates select that label, so they never touch other cases' objects although they are
//! cluster-scoped.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::{poll, retry_on_conflict};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api, discovery, rand_string};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Duration;

const D: Describe =
    Describe::new("validating-admission-policy").with_pod_security(PodSecurityLevel::Baseline);
const GROUP: &str = "admissionregistration.k8s.io";
/// Upstream's `wait.ForeverTestTimeout`, how long it waits for the watch event.
const WATCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Upstream polls for the marker's denial until the test's own deadline; policies take effect
/// within a second or two, so this is generous.
const MARKER_TIMEOUT: Duration = Duration::from_secs(60);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should validate against a Deployment [Conformance]",
            case_fn!(validate_deployment),
        ),
        D.case(
            "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should allow expressions to refer variables. [Conformance]",
            case_fn!(refer_variables),
        ),
        D.case(
            "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should support ValidatingAdmissionPolicy API operations [Conformance]",
            case_fn!(policy_api),
        ),
        D.case(
            "[sig-api-machinery] ValidatingAdmissionPolicy [Privileged:ClusterAdmin] should support ValidatingAdmissionPolicyBinding API operations [Conformance]",
            case_fn!(binding_api),
        ),
    ]
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

/// Upstream's `labelNamespace`: labels the namespace `<namespace>: "true"` (the namespace name
/// is upstream's `f.UniqueName`) with a strategic merge patch.
async fn label_namespace(f: &Framework) -> Result<()> {
    let patch = json!({"metadata": {"labels": {f.ns(): "true"}}});
    f.api_all::<Namespace>()
        .patch(f.ns(), &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .with_context(|| format!("error labeling namespace {}", f.ns()))?;
    Ok(())
}

/// A selector for the namespace label [`label_namespace`] sets.
fn unique_namespace_selector(f: &Framework) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(f.ns().to_string(), "true".to_string())])),
        match_expressions: None,
    }
}

/// Upstream's policy builder with `MatchUniqueNamespace` and one resource rule: CREATE and
/// UPDATE of apps/v1 deployments in the case's namespace.
fn deployment_policy(
    f: &Framework,
    variables: Vec<Variable>,
    validations: Vec<Validation>,
) -> ValidatingAdmissionPolicy {
    ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            name: Some(format!("{}.policy.example.com", f.ns())),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            match_constraints: Some(MatchResources {
                namespace_selector: Some(unique_namespace_selector(f)),
                resource_rules: Some(vec![NamedRuleWithOperations {
                    operations: strings(&["CREATE", "UPDATE"]),
                    api_groups: strings(&["apps"]),
                    api_versions: strings(&["v1"]),
                    resources: strings(&["deployments"]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            variables: (!variables.is_empty()).then_some(variables),
            validations: Some(validations),
            ..Default::default()
        }),
        status: None,
    }
}

/// Upstream's `createBinding`: binds `policy` with Deny in the case's namespace.
fn deny_binding(f: &Framework, policy: &str) -> ValidatingAdmissionPolicyBinding {
    ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            name: Some(format!("{}.binding.example.com", f.ns())),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some(policy.into()),
            match_resources: Some(MatchResources {
                namespace_selector: Some(unique_namespace_selector(f)),
                ..Default::default()
            }),
            validation_actions: strings(&["Deny"]),
            param_ref: None,
        }),
    }
}

/// Creates the policy and its binding, both deleted after the case (the binding first).
async fn create_policy_and_binding(f: &Framework, policy: ValidatingAdmissionPolicy) -> Result<()> {
    let policies = f.api_all::<ValidatingAdmissionPolicy>();
    let policy = policies
        .create(&PostParams::default(), &policy)
        .await
        .context("create policy")?;
    let policy_name = policy.metadata.name.unwrap_or_default();
    f.defer_delete(policies, &policy_name);

    let bindings = f.api_all::<ValidatingAdmissionPolicyBinding>();
    let binding = bindings
        .create(&PostParams::default(), &deny_binding(f, &policy_name))
        .await
        .context("create policy binding")?;
    f.defer_delete(bindings, &binding.metadata.name.unwrap_or_default());
    Ok(())
}

fn app_nginx() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), "nginx".to_string())])
}

/// The pod template of upstream's `basicDeployment` and `basicReplicaSet`.
fn nginx_template() -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(app_nginx()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "nginx".into(),
                image: Some("nginx:latest".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

fn nginx_selector() -> LabelSelector {
    LabelSelector {
        match_labels: Some(app_nginx()),
        match_expressions: None,
    }
}

/// Upstream's `basicDeployment`.
fn basic_deployment(name: &str, replicas: i32) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(app_nginx()),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: nginx_selector(),
            template: nginx_template(),
            ..Default::default()
        }),
        status: None,
    }
}

/// Upstream's `basicReplicaSet`.
fn basic_replica_set(name: &str, replicas: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(app_nginx()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: nginx_selector(),
            template: Some(nginx_template()),
            ..Default::default()
        }),
        status: None,
    }
}

/// Creates a one-replica `marker-deployment` (deleting it again whatever happened) every 100ms
/// until the policy denies it as Invalid. Policies are loaded asynchronously, so the first
/// tries may be admitted; any other error fails.
async fn wait_for_marker_denied(f: &Framework) -> Result<()> {
    f.step("waiting until the marker is denied");
    let deployments = f.api::<Deployment>();
    let marker = basic_deployment("marker-deployment", 1);
    poll(Duration::from_millis(100), MARKER_TIMEOUT, async || {
        let created = deployments.create(&PostParams::default(), &marker).await;
        let _ = deployments
            .delete("marker-deployment", &DeleteParams::default())
            .await;
        match created {
            Ok(_) => Ok(false),
            Err(e) if api::is_invalid(&e) => {
                f.log(format!("the marker was denied: {}", api::describe(&e)));
                Ok(true)
            }
            Err(e) => Err(anyhow::Error::new(e).context("creating the marker deployment")),
        }
    })
    .await
    .context("wait for marker")
}

/// The steps after the marker is denied: a Deployment with `replicas` replicas is admitted,
/// and a one-replica ReplicaSet (which the policy does not match) is too.
async fn expect_allowed(f: &Framework, replicas: i32) -> Result<()> {
    f.step("testing a replicated Deployment to be allowed");
    let deployments = f.api::<Deployment>();
    let created = deployments
        .create(
            &PostParams::default(),
            &basic_deployment("replicated", replicas),
        )
        .await;
    let _ = deployments
        .delete("replicated", &DeleteParams::default())
        .await;
    created.context("create replicated Deployment")?;

    f.step("testing a non-replicated ReplicaSet not to be denied");
    let replica_sets = f.api::<ReplicaSet>();
    let created = replica_sets
        .create(
            &PostParams::default(),
            &basic_replica_set("non-replicated", 1),
        )
        .await;
    let _ = replica_sets
        .delete("non-replicated", &DeleteParams::default())
        .await;
    created.context("create non-replicated ReplicaSet")?;
    Ok(())
}

async fn validate_deployment(f: &Framework) -> Result<()> {
    label_namespace(f).await?;
    f.step("creating the policy");
    let policy = deployment_policy(
        f,
        Vec::new(),
        vec![
            Validation {
                expression: "object.spec.replicas > 1".into(),
                message_expression: Some(
                    "'wants replicas > 1, got ' + object.spec.replicas".into(),
                ),
                ..Default::default()
            },
            Validation {
                expression: format!("namespaceObject.metadata.name == '{}'", f.ns()),
                message: Some("Internal error! Other namespace should not be allowed.".into()),
                ..Default::default()
            },
        ],
    );
    create_policy_and_binding(f, policy).await?;
    wait_for_marker_denied(f).await?;
    expect_allowed(f, 2).await
}

async fn refer_variables(f: &Framework) -> Result<()> {
    label_namespace(f).await?;
    f.step("creating a policy with variables");
    let variable = |name: &str, expression: &str| Variable {
        name: name.into(),
        expression: expression.into(),
    };
    let validation = |expression: &str| Validation {
        expression: expression.into(),
        ..Default::default()
    };
    let policy = deployment_policy(
        f,
        vec![
            variable("replicas", "object.spec.replicas"),
            variable("oddReplicas", "variables.replicas % 2 == 1"),
        ],
        vec![
            validation("variables.replicas > 1"),
            validation("variables.oddReplicas"),
        ],
    );
    create_policy_and_binding(f, policy).await?;
    wait_for_marker_denied(f).await?;
    expect_allowed(f, 3).await
}

/// The steps both API operations cases share around their kind-specific checks.
struct Ops<'a, K> {
    f: &'a Framework,
    api: Api<K>,
    label: String,
}

impl<K> Ops<'_, K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    /// Deletes every object carrying the case's label after the case.
    fn defer_collection_delete(&self) {
        let (api, label) = (self.api.clone(), self.label.clone());
        self.f
            .defer(format!("deleting objects labelled {label}"), async move {
                let _ = api
                    .delete_collection(
                        &DeleteParams::default(),
                        &ListParams::default().labels(&label),
                    )
                    .await;
            });
    }

    /// Creates three objects from `template`, reads the last back, lists them by label and
    /// opens a watch from the list's resource version.
    async fn create_get_list_watch(&self, template: &K) -> Result<(K, Watch<K>)> {
        self.f.step("creating");
        let pp = PostParams::default();
        self.api.create(&pp, template).await.context("creating 1")?;
        self.api.create(&pp, template).await.context("creating 2")?;
        let created = self.api.create(&pp, template).await.context("creating 3")?;

        self.f.step("getting");
        let name = created.meta().name.clone().unwrap_or_default();
        let read = self.api.get(&name).await.context("getting")?;
        ensure!(
            read.meta().uid == created.meta().uid,
            "got uid {:?}, created {:?}",
            read.meta().uid,
            created.meta().uid
        );

        self.f.step("listing");
        let list = self
            .api
            .list(&ListParams::default().labels(&self.label))
            .await
            .context("listing")?;

        self.f.step("watching");
        self.f.log("starting watch");
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        let w = Watch::start(&self.api, &rv, Some(&self.label), None).await?;
        Ok((created, w))
    }

    /// Every event until the patched object shows up must be a MODIFIED one.
    async fn wait_for_patched(&self, w: &mut Watch<K>) -> Result<()> {
        self.f
            .log("waiting for watch events with expected annotations");
        w.until(WATCH_TIMEOUT, |e| {
            ensure!(
                e.kind == EventType::Modified,
                "expected a MODIFIED event, got {:?}",
                e.kind
            );
            let patched = e
                .object
                .as_ref()
                .is_some_and(|o| annotation(o.meta(), "patched").as_deref() == Some("true"));
            if !patched {
                self.f.log(format!(
                    "missing expected annotations, waiting: {:?}",
                    e.object.as_ref().and_then(|o| o.meta().annotations.clone())
                ));
            }
            Ok(patched)
        })
        .await
        .context("timed out waiting for watch event")?;
        Ok(())
    }

    /// Deletes `created` (a deletion held by finalizers counts), expects the other two to
    /// remain, then deletes the collection and expects none left but ones held by finalizers.
    async fn delete_and_delete_collection(&self, created: &K) -> Result<()> {
        let name = created.meta().name.clone().unwrap_or_default();
        self.f.step("deleting");
        self.api
            .delete(&name, &DeleteParams::default())
            .await
            .context("deleting")?;
        match self.api.get(&name).await {
            Ok(o) if o.meta().deletion_timestamp.is_some() && has_finalizers(&o) => {}
            Ok(o) => bail!("expected deleted object, got {o:?}"),
            Err(e) if api::is_not_found(&e) => {}
            Err(e) => bail!("expected 404, got {}", api::describe(&e)),
        }
        let list = self
            .api
            .list(&ListParams::default().labels(&self.label))
            .await
            .context("listing")?;
        let without_finalizers = list.items.iter().filter(|o| !has_finalizers(*o)).count();
        ensure!(
            without_finalizers == 2,
            "filtered list should have 2 items, got {without_finalizers}"
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
            .await
            .context("listing")?;
        let left = list
            .items
            .iter()
            .filter(|o| !(o.meta().deletion_timestamp.is_some() && has_finalizers(*o)))
            .count();
        ensure!(left == 0, "filtered list should have 0 items, got {left}");
        Ok(())
    }
}

fn has_finalizers<K: kube::Resource>(o: &K) -> bool {
    o.meta().finalizers.as_ref().is_some_and(|f| !f.is_empty())
}

/// `metav1.Now()` as the wire format keeps it: to the second.
fn now_to_the_second() -> Result<Time> {
    Ok(Time(
        Timestamp::from_second(Timestamp::now().as_second()).context("building a timestamp")?,
    ))
}

async fn policy_api(f: &Framework) -> Result<()> {
    label_namespace(f).await?;
    discovery::expect_served(
        f,
        GROUP,
        "v1",
        &[
            "validatingadmissionpolicies",
            "validatingadmissionpolicies/status",
        ],
    )
    .await?;
    let (key, value) = ("example-e2e-vap-label", rand_string(8));
    let ops = Ops {
        f,
        api: f.api_all::<ValidatingAdmissionPolicy>(),
        label: format!("{key}={value}"),
    };
    // No failurePolicy, matchPolicy or selectors: the server must default them.
    let template = ValidatingAdmissionPolicy {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-vap-".into()),
            labels: Some(BTreeMap::from([(key.to_string(), value.clone())])),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicySpec {
            validations: Some(vec![Validation {
                expression: "object.spec.replicas <= 100".into(),
                ..Default::default()
            }]),
            match_constraints: Some(MatchResources {
                resource_rules: Some(vec![NamedRuleWithOperations {
                    operations: strings(&["CREATE"]),
                    api_groups: strings(&["apps"]),
                    api_versions: strings(&["v1"]),
                    resources: strings(&["deployments"]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    };
    ops.defer_collection_delete();

    let (created, mut w) = ops.create_get_list_watch(&template).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let failure_policy = |p: &ValidatingAdmissionPolicy| {
        p.spec
            .as_ref()
            .and_then(|s| s.failure_policy.clone())
            .unwrap_or_default()
    };

    f.step("patching");
    let patch = json!({
        "metadata": {"annotations": {"patched": "true"}},
        "spec": {"failurePolicy": "Ignore"},
    });
    let patched = ops
        .api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );
    ensure!(
        failure_policy(&patched) == "Ignore",
        "patched object should have the applied spec, got failurePolicy {:?}",
        failure_policy(&patched)
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut p = ops.api.get(&name).await.context("getting the policy")?;
        p.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        p.spec.get_or_insert_with(Default::default).failure_policy = Some("Fail".into());
        Ok(ops.api.replace(&name, &PostParams::default(), &p).await?)
    })
    .await
    .with_context(|| format!("failed to update validatingadmissionpolicy {name:?}"))?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );
    ensure!(
        failure_policy(&updated) == "Fail",
        "updated object should have the applied spec, got failurePolicy {:?}",
        failure_policy(&updated)
    );

    ops.wait_for_patched(&mut w).await?;
    drop(w);

    f.step("getting /status");
    api::expect_subresource_object(
        &f.client,
        &format!("/apis/{GROUP}/v1/validatingadmissionpolicies/{name}/status"),
        &format!("{GROUP}/v1"),
        "ValidatingAdmissionPolicy",
        created.metadata.uid.as_deref(),
    )
    .await?;

    let has_condition = |p: &ValidatingAdmissionPolicy, t: &str| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == t))
    };
    f.step("patching /status");
    let patch = json!({
        "status": {"conditions": [{
            "type": "PatchStatusFailed",
            "status": "False",
            "reason": "e2e",
            "message": "Set from an e2e test",
            "lastTransitionTime": "2024-01-01T00:00:00Z",
        }]},
    });
    let patched = ops
        .api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching /status")?;
    ensure!(
        has_condition(&patched, "PatchStatusFailed"),
        "expect the patched status exist, got {:?}",
        patched.status
    );

    f.step("updating /status");
    let updated = retry_on_conflict(async || {
        let mut p = ops.api.get(&name).await.context("getting the policy")?;
        p.status
            .get_or_insert_with(Default::default)
            .conditions
            .get_or_insert_with(Vec::new)
            .push(Condition {
                type_: "StatusUpdateFailed".into(),
                status: "False".into(),
                reason: "E2E".into(),
                message: "Set from an e2e test".into(),
                last_transition_time: now_to_the_second()?,
                observed_generation: None,
            });
        Ok(ops
            .api
            .replace_status(&name, &PostParams::default(), &p)
            .await?)
    })
    .await
    .with_context(|| format!("failed to update status of validatingadmissionpolicy {name:?}"))?;
    ensure!(
        has_condition(&updated, "StatusUpdateFailed"),
        "expect the updated status exist, got {:?}",
        updated.status
    );

    ops.delete_and_delete_collection(&created).await
}

async fn binding_api(f: &Framework) -> Result<()> {
    label_namespace(f).await?;
    discovery::expect_served(f, GROUP, "v1", &["validatingadmissionpolicybindings"]).await?;
    let (key, value) = ("example-e2e-vapb-label", rand_string(8));
    let ops = Ops {
        f,
        api: f.api_all::<ValidatingAdmissionPolicyBinding>(),
        label: format!("{key}={value}"),
    };
    // The policy does not exist; a binding may still be created.
    let template = ValidatingAdmissionPolicyBinding {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-vapb-".into()),
            labels: Some(BTreeMap::from([(key.to_string(), value.clone())])),
            ..Default::default()
        },
        spec: Some(ValidatingAdmissionPolicyBindingSpec {
            policy_name: Some("replicalimit-policy.example.com".into()),
            validation_actions: strings(&["Deny"]),
            ..Default::default()
        }),
    };
    ops.defer_collection_delete();

    let (created, mut w) = ops.create_get_list_watch(&template).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let actions = |b: &ValidatingAdmissionPolicyBinding| {
        b.spec
            .as_ref()
            .and_then(|s| s.validation_actions.clone())
            .unwrap_or_default()
    };

    f.step("patching");
    let patch = json!({
        "metadata": {"annotations": {"patched": "true"}},
        "spec": {"validationActions": ["Warn"]},
    });
    let patched = ops
        .api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );
    ensure!(
        actions(&patched) == ["Warn"],
        "patched object should have the applied spec, got validationActions {:?}",
        actions(&patched)
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut b = ops.api.get(&name).await.context("getting the binding")?;
        b.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        b.spec
            .get_or_insert_with(Default::default)
            .validation_actions = strings(&["Deny"]);
        Ok(ops.api.replace(&name, &PostParams::default(), &b).await?)
    })
    .await
    .with_context(|| format!("failed to update validatingadmissionpolicybinding {name:?}"))?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );
    ensure!(
        actions(&updated) == ["Deny"],
        "updated object should have the applied spec, got validationActions {:?}",
        actions(&updated)
    );

    ops.wait_for_patched(&mut w).await?;
    drop(w);

    ops.delete_and_delete_collection(&created).await
}
