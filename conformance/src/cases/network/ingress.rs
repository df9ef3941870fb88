//! `[sig-network] Ingress API` and `[sig-network] IngressClass API` (upstream
//! `test/e2e/network/ingress.go` and `ingressclass.go`): the networking.k8s.io Ingress and
//! IngressClass APIs, including the Ingress `status` subresource.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::wait::retry_on_conflict;
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, PodSecurityLevel, api, compare, discovery};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressClass, IngressClassSpec,
    IngressLoadBalancerIngress, IngressLoadBalancerStatus, IngressRule, IngressServiceBackend,
    IngressSpec, ServiceBackendPort,
};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const INGRESS: Describe = Describe::new("ingress").with_pod_security(PodSecurityLevel::Privileged);
const INGRESS_CLASS: Describe =
    Describe::new("ingressclass").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn cases() -> Vec<Case> {
    vec![
        INGRESS.case(
            "[sig-network] Ingress API should support creating Ingress API operations [Conformance]",
            case_fn!(ingress_api),
        ),
        INGRESS_CLASS.case(
            "[sig-network] IngressClass API should support creating IngressClass API operations [Conformance]",
            case_fn!(ingress_class_api),
        ),
    ]
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

fn backend(name: &str) -> IngressBackend {
    IngressBackend {
        service: Some(IngressServiceBackend {
            name: name.into(),
            port: Some(ServiceBackendPort {
                number: Some(8080),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

fn ingress_for(host: &str, unique: &str) -> Ingress {
    Ingress {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-ing".into()),
            labels: Some(BTreeMap::from([("special-label".into(), unique.into())])),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            default_backend: Some(backend("default-backend")),
            rules: Some(vec![IngressRule {
                host: Some(host.into()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "ImplementationSpecific".into(),
                        backend: backend("test-backend"),
                    }],
                }),
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// After a delete, an Ingress either is gone or waits on finalizers with a deletion
/// timestamp (ingress controllers may add finalizers).
fn expect_finalizer(ing: &Ingress, step: &str) -> Result<()> {
    ensure!(
        ing.metadata.deletion_timestamp.is_some(),
        "expected deletionTimestamp, got nil on step: {step:?}"
    );
    ensure!(
        ing.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty()),
        "expected finalizers on ingress, got none on step: {step:?}"
    );
    Ok(())
}

/// Upstream's watch loop: every event must be MODIFIED, until one carries `patched=true`.
async fn wait_for_patched<K>(w: &mut Watch<K>) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    w.until(FOREVER_TEST_TIMEOUT, |e| {
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

async fn ingress_api(f: &Framework) -> Result<()> {
    let unique = f.ns();
    let ings = f.api::<Ingress>();
    let selector = format!("special-label={unique}");
    let pp = PostParams::default();

    discovery::expect_served(f, "networking.k8s.io", "v1", &["ingresses"]).await?;

    f.step("creating");
    ings.create(&pp, &ingress_for("host1.bar.com", unique))
        .await
        .context("creating ingress 1")?;
    ings.create(&pp, &ingress_for("host2.bar.com", unique))
        .await
        .context("creating ingress 2")?;
    let created = ings
        .create(&pp, &ingress_for("host3.bar.com", unique))
        .await
        .context("creating ingress 3")?;
    let name = created.metadata.name.clone().unwrap_or_default();

    f.step("getting");
    let got = ings.get(&name).await.context("getting the ingress")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );

    f.step("listing");
    let list = ings.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );
    let list_rv = list.metadata.resource_version.clone().unwrap_or_default();

    f.step("watching");
    let mut w = Watch::start(&ings, &list_rv, Some(&selector), None).await?;

    let all = f.api_all::<Ingress>();
    f.step("cluster-wide listing");
    let cluster = all.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        cluster.items.len() == 3,
        "filtered list should have 3 items, got {}",
        cluster.items.len()
    );
    f.step("cluster-wide watching");
    let _cluster_watch = Watch::start(&all, &list_rv, Some(&selector), None).await?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = ings
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the ingress")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let updated = retry_on_conflict(async || {
        let mut ing = ings.get(&name).await?;
        ing.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert("updated".into(), "true".into());
        Ok(ings.replace(&name, &pp, &ing).await?)
    })
    .await
    .context("updating the ingress")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    wait_for_patched(&mut w).await?;
    drop(w);

    f.step("patching /status");
    let lb = IngressLoadBalancerStatus {
        ingress: Some(vec![IngressLoadBalancerIngress {
            ip: Some("169.1.1.1".into()),
            ..Default::default()
        }]),
    };
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patchedstatus": "true"}},
        "status": {"loadBalancer": lb},
    });
    let patched = ings
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching /status")?;
    let got_lb = patched
        .status
        .clone()
        .and_then(|s| s.load_balancer)
        .unwrap_or_default();
    ensure!(
        compare::semantic_eq(&got_lb, &lb),
        "patched object should have the applied loadBalancer status: {}",
        compare::diff(&lb, &got_lb)
    );
    ensure!(
        annotation(&patched.metadata, "patchedstatus").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating /status");
    let want_lb = IngressLoadBalancerStatus {
        ingress: Some(vec![IngressLoadBalancerIngress {
            ip: Some("169.1.1.2".into()),
            ..Default::default()
        }]),
    };
    let updated = retry_on_conflict(async || {
        let mut ing = ings.get(&name).await?;
        ing.status
            .get_or_insert_with(Default::default)
            .load_balancer = Some(want_lb.clone());
        Ok(ings.replace_status(&name, &pp, &ing).await?)
    })
    .await
    .context("updating /status")?;
    let got_lb = updated
        .status
        .and_then(|s| s.load_balancer)
        .unwrap_or_default();
    ensure!(
        compare::semantic_eq(&got_lb, &want_lb),
        "updated object expected to have updated loadbalancer status: {}",
        compare::diff(&want_lb, &got_lb)
    );

    f.step("get /status");
    let status = ings.get_status(&name).await.context("getting /status")?;
    ensure!(
        status.metadata.uid == created.metadata.uid,
        "createdIngress.UID: {:?} expected to match statusUID: {:?}",
        created.metadata.uid,
        status.metadata.uid
    );

    f.step("deleting");
    ings.delete(&name, &DeleteParams::default())
        .await
        .context("deleting the ingress")?;
    match ings.get(&name).await {
        Ok(ing) => expect_finalizer(&ing, "deleting createdIngress")?,
        Err(e) if api::is_not_found(&e) => {}
        Err(e) => bail!("expected 404, got {}", api::describe(&e)),
    }
    let list = ings.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() <= 3,
        "filtered list should have <= 3 items"
    );
    for ing in list
        .items
        .iter()
        .filter(|i| i.metadata.name.as_deref() == Some(name.as_str()))
    {
        expect_finalizer(ing, "listing after deleting createdIngress")?;
    }

    f.step("deleting a collection");
    ings.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .context("deleting the collection")?;
    let list = ings.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() <= 3,
        "filtered list should have <= 3 items"
    );
    for ing in &list.items {
        expect_finalizer(ing, "deleting ingress collection")?;
    }
    Ok(())
}

fn ingress_class(name: &str, unique: &str) -> IngressClass {
    IngressClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([
                ("ingressclass".into(), unique.into()),
                ("special-label".into(), "generic".into()),
            ])),
            ..Default::default()
        },
        spec: Some(IngressClassSpec {
            controller: Some("example.com/controller".into()),
            ..Default::default()
        }),
    }
}

async fn ingress_class_api(f: &Framework) -> Result<()> {
    let unique = f.ns();
    let ics = f.api_all::<IngressClass>();
    let selector = format!("ingressclass={unique}");
    let pp = PostParams::default();

    discovery::expect_served(f, "networking.k8s.io", "v1", &["ingressclasses"]).await?;

    f.step("creating");
    for name in ["ingressclass1", "ingressclass2", "ingressclass3"] {
        f.defer_delete(ics.clone(), name);
    }
    let ic1 = ics
        .create(&pp, &ingress_class("ingressclass1", unique))
        .await
        .context("creating ingressclass1")?;
    ics.create(&pp, &ingress_class("ingressclass2", unique))
        .await
        .context("creating ingressclass2")?;
    ics.create(&pp, &ingress_class("ingressclass3", unique))
        .await
        .context("creating ingressclass3")?;

    f.step("getting");
    let got = ics
        .get("ingressclass1")
        .await
        .context("getting ingressclass1")?;
    ensure!(got.metadata.uid == ic1.metadata.uid, "got a different uid");

    f.step("listing");
    let list = ics
        .list(&ListParams::default().labels("special-label=generic"))
        .await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );

    f.step("watching");
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut w = Watch::start(&ics, &rv, Some(&selector), None).await?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = ics
        .patch(
            "ingressclass1",
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .context("patching ingressclass1")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let mut to_update = patched.clone();
    to_update
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert("updated".into(), "true".into());
    let updated = ics
        .replace("ingressclass1", &pp, &to_update)
        .await
        .context("updating ingressclass1")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    wait_for_patched(&mut w).await?;
    drop(w);

    f.step("deleting");
    ics.delete("ingressclass1", &DeleteParams::default())
        .await
        .context("deleting ingressclass1")?;
    api::expect_not_found(ics.get("ingressclass1").await, "the deleted IngressClass")?;
    let list = ics.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.len() == 2,
        "filtered list should have 2 items, got {}",
        list.items.len()
    );

    f.step("deleting a collection");
    ics.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels(&selector),
    )
    .await
    .context("deleting the collection")?;
    let list = ics.list(&ListParams::default().labels(&selector)).await?;
    ensure!(
        list.items.is_empty(),
        "filtered list should have 0 items, got {}",
        list.items.len()
    );
    Ok(())
}
