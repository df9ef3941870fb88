//! The deleter against a fake cluster that behaves as the apiserver does for the calls it makes.

use super::*;
use crate::client::testing::{api_error, not_found};
use crate::namespace::cluster::{Discovery, Gvr, NamespacedResource};
use crate::namespace::conditions;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{NamespaceStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

const NS: &str = "x";

#[derive(Default)]
struct State {
    namespace: Option<Namespace>,
    /// (resource, name) -> metadata
    objects: BTreeMap<(String, String), ObjectMeta>,
    /// `None` makes discovery fail.
    discovery: Option<Discovery>,
    pods: Vec<Pod>,
    /// Resources whose objects only get a deletionTimestamp when deleted (graceful deletion).
    graceful: BTreeSet<String>,
    /// Resources answering 405 to deletecollection.
    no_delete_collection: BTreeSet<String>,
    conflicts_on_finalize: usize,
    calls: Vec<String>,
}

#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    fn delete_object(st: &mut State, resource: &str, name: &str) {
        let key = (resource.to_string(), name.to_string());
        let Some(meta) = st.objects.get_mut(&key) else {
            return;
        };
        if meta.finalizers.as_ref().is_some_and(|f| !f.is_empty()) || st.graceful.contains(resource)
        {
            meta.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        } else {
            st.objects.remove(&key);
        }
    }
}

#[async_trait]
impl Cluster for Fake {
    async fn get_namespace(&self, name: &str) -> kube::Result<Option<Namespace>> {
        let mut st = self.state();
        st.calls.push(format!("get {name}"));
        Ok(st.namespace.clone())
    }

    async fn update_namespace_status(&self, ns: &Namespace) -> kube::Result<Namespace> {
        let mut st = self.state();
        st.calls.push("update status".to_string());
        let stored = st
            .namespace
            .as_mut()
            .ok_or_else(|| not_found("namespace"))?;
        stored.status = ns.status.clone();
        Ok(stored.clone())
    }

    async fn finalize_namespace(&self, ns: &Namespace) -> kube::Result<Namespace> {
        let mut st = self.state();
        st.calls.push(format!(
            "finalize {:?}",
            ns.spec.as_ref().and_then(|s| s.finalizers.clone())
        ));
        if st.conflicts_on_finalize > 0 {
            st.conflicts_on_finalize -= 1;
            return Err(api_error(409, "Conflict", "the object has been modified"));
        }
        let stored = st
            .namespace
            .as_mut()
            .ok_or_else(|| not_found("namespace"))?;
        stored.spec = ns.spec.clone();
        let out = stored.clone();
        if spec_finalizers(&out).is_empty() {
            st.namespace = None;
        }
        Ok(out)
    }

    async fn discover(&self) -> kube::Result<Discovery> {
        let mut st = self.state();
        st.calls.push("discover".to_string());
        st.discovery
            .clone()
            .ok_or_else(|| api_error(503, "ServiceUnavailable", "the server is shutting down"))
    }

    async fn delete_collection(&self, r: &NamespacedResource, _: &str) -> kube::Result<()> {
        let mut st = self.state();
        st.calls
            .push(format!("deletecollection {}", r.gvr.resource));
        if st.no_delete_collection.contains(&r.gvr.resource) {
            return Err(api_error(405, "MethodNotAllowed", "not allowed"));
        }
        let names: Vec<String> = st
            .objects
            .keys()
            .filter(|(res, _)| *res == r.gvr.resource)
            .map(|(_, n)| n.clone())
            .collect();
        for n in names {
            Self::delete_object(&mut st, &r.gvr.resource, &n);
        }
        Ok(())
    }

    async fn list(&self, r: &NamespacedResource, _: &str) -> kube::Result<Vec<ObjectMeta>> {
        let mut st = self.state();
        st.calls.push(format!("list {}", r.gvr.resource));
        Ok(st
            .objects
            .iter()
            .filter(|((res, _), _)| *res == r.gvr.resource)
            .map(|(_, m)| m.clone())
            .collect())
    }

    async fn delete(&self, r: &NamespacedResource, _: &str, name: &str) -> kube::Result<()> {
        let mut st = self.state();
        st.calls.push(format!("delete {} {name}", r.gvr.resource));
        Self::delete_object(&mut st, &r.gvr.resource, name);
        Ok(())
    }

    async fn list_pods(&self, _: &str) -> kube::Result<Vec<Pod>> {
        Ok(self.state().pods.clone())
    }
}

fn resource(name: &str, verbs: &[&str]) -> NamespacedResource {
    NamespacedResource {
        gvr: Gvr::new("", "v1", name),
        kind: String::new(),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
    }
}

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list"];

fn terminating(finalizers: &[&str], deleted_at: i64) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(NS.to_string()),
            uid: Some("u1".to_string()),
            deletion_timestamp: Some(Time(Timestamp::from_second(deleted_at).unwrap())),
            ..Default::default()
        },
        spec: Some(NamespaceSpec {
            finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
        }),
        status: Some(NamespaceStatus {
            phase: Some("Terminating".to_string()),
            conditions: None,
        }),
    }
}

fn object(name: &str, finalizers: &[&str]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(NS.to_string()),
        finalizers: (!finalizers.is_empty())
            .then(|| finalizers.iter().map(|f| f.to_string()).collect()),
        ..Default::default()
    }
}

/// A fake holding namespace `x` being deleted at t=100, with configmaps `a` and `b`.
fn with_configmaps() -> Fake {
    let fake = Fake::default();
    {
        let mut st = fake.state();
        st.namespace = Some(terminating(&["kubernetes"], 100));
        st.discovery = Some(Discovery {
            resources: vec![resource("configmaps", ALL_VERBS)],
            ..Default::default()
        });
        for n in ["a", "b"] {
            st.objects
                .insert(("configmaps".into(), n.into()), object(n, &[]));
        }
    }
    fake
}

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn condition(fake: &Fake, kind: &str) -> (String, String) {
    let st = fake.state();
    let ns = st.namespace.as_ref().expect("namespace still exists");
    let c = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind))
        .expect("condition is set");
    (c.status.clone(), c.message.clone().unwrap_or_default())
}

#[tokio::test]
async fn leaves_namespaces_that_are_not_being_deleted_alone() {
    let fake = with_configmaps();
    fake.state()
        .namespace
        .as_mut()
        .unwrap()
        .metadata
        .deletion_timestamp = None;
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(fake.state().calls, vec!["get x"]);
    assert_eq!(fake.state().objects.len(), 2);
}

#[tokio::test]
async fn a_missing_namespace_is_done() {
    let fake = Fake::default();
    let outcome = Deleter::new(fake).delete(NS, at(200)).await.unwrap();
    assert_eq!(outcome, Outcome::Done);
}

#[tokio::test]
async fn empties_the_namespace_then_finalizes_it() {
    let fake = with_configmaps();
    fake.state().namespace.as_mut().unwrap().status = Some(NamespaceStatus {
        phase: Some("Active".to_string()),
        conditions: None,
    });
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finalized);
    let st = fake.state();
    assert!(st.objects.is_empty());
    assert!(st.namespace.is_none(), "the apiserver deleted it");
    assert_eq!(
        st.calls,
        vec![
            "get x",
            // The phase said Active: it is made Terminating first.
            "update status",
            "discover",
            "deletecollection configmaps",
            "list configmaps",
            // The conditions.
            "update status",
            "finalize Some([])",
        ]
    );
}

#[tokio::test]
async fn conditions_say_all_is_well_after_a_clean_pass() {
    let fake = with_configmaps();
    // Another finalizer keeps the namespace around after ours is removed.
    fake.state().namespace = Some(terminating(&["kubernetes", "example.com/other"], 100));
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finalized);
    assert_eq!(
        spec_finalizers(fake.state().namespace.as_ref().unwrap()),
        ["example.com/other".to_string()]
    );
    for kind in [
        conditions::DISCOVERY_FAILURE,
        conditions::GROUP_VERSION_PARSING_FAILURE,
        conditions::CONTENT_FAILURE,
        conditions::CONTENT_REMAINING,
        conditions::FINALIZERS_REMAINING,
    ] {
        assert_eq!(condition(&fake, kind).0, "False", "{kind}");
    }
    assert_eq!(
        condition(&fake, conditions::CONTENT_REMAINING).1,
        "All content successfully removed"
    );
}

#[tokio::test]
async fn objects_held_by_finalizers_are_waited_for() {
    let fake = with_configmaps();
    fake.state().objects.insert(
        ("configmaps".into(), "held".into()),
        object("held", &["example.com/hold"]),
    );
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Remaining {
            estimate_seconds: 15
        }
    );
    assert_eq!(
        condition(&fake, conditions::CONTENT_REMAINING),
        (
            "True".to_string(),
            "Some resources are remaining: configmaps. has 1 resource instances".to_string()
        )
    );
    assert_eq!(
        condition(&fake, conditions::FINALIZERS_REMAINING),
        (
            "True".to_string(),
            "Some finalizers are remaining: example.com/hold in 1 resource instances".to_string()
        )
    );
    assert!(
        !fake.state().calls.iter().any(|c| c.starts_with("finalize")),
        "not finalized while content remains"
    );
}

#[tokio::test]
async fn objects_that_survive_without_reason_are_an_error() {
    let fake = with_configmaps();
    fake.state().graceful.insert("configmaps".to_string());
    let err = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap_err();
    let expected =
        "unexpected items still remain in namespace: x for gvr: /v1, Resource=configmaps";
    assert_eq!(err.to_string(), expected);
    assert_eq!(
        condition(&fake, conditions::CONTENT_FAILURE),
        (
            "True".to_string(),
            format!("Failed to delete all resource types, 1 remaining: {expected}")
        )
    );
}

#[tokio::test]
async fn a_failed_discovery_blocks_finalization() {
    let fake = with_configmaps();
    fake.state().discovery = None;
    let err = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the server is shutting down");
    assert_eq!(
        condition(&fake, conditions::DISCOVERY_FAILURE),
        (
            "True".to_string(),
            "the server is shutting down".to_string()
        )
    );
    assert_eq!(fake.state().objects.len(), 2);
    assert!(fake.state().namespace.is_some());
}

#[tokio::test]
async fn stale_groups_are_reported_but_the_rest_is_deleted() {
    let fake = with_configmaps();
    if let Some(d) = fake.state().discovery.as_mut() {
        d.failed.insert(
            "metrics.k8s.io/v1beta1".to_string(),
            "stale GroupVersion discovery: metrics.k8s.io/v1beta1".to_string(),
        );
    }
    let err = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap_err();
    let expected = "unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: \
                    stale GroupVersion discovery: metrics.k8s.io/v1beta1";
    assert_eq!(err.to_string(), expected);
    assert_eq!(
        condition(&fake, conditions::DISCOVERY_FAILURE).1,
        format!("Discovery failed for some groups, 1 failing: {expected}")
    );
    assert!(fake.state().objects.is_empty());
}

#[tokio::test]
async fn falls_back_to_deleting_one_by_one() {
    let fake = with_configmaps();
    fake.state()
        .no_delete_collection
        .insert("configmaps".to_string());
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finalized);
    let calls = fake.state().calls.clone();
    assert!(calls.contains(&"delete configmaps a".to_string()));
    assert!(calls.contains(&"delete configmaps b".to_string()));
}

#[tokio::test]
async fn resources_without_deletecollection_are_deleted_one_by_one() {
    let fake = with_configmaps();
    fake.state().discovery = Some(Discovery {
        resources: vec![
            resource("configmaps", &["delete", "get", "list"]),
            // Not deletable: left alone.
            resource("bindings", &["create"]),
        ],
        ..Default::default()
    });
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finalized);
    let calls = fake.state().calls.clone();
    assert!(!calls.iter().any(|c| c.starts_with("deletecollection")));
    assert!(!calls.iter().any(|c| c.contains("bindings")));
}

fn pod(name: &str, grace: i64, phase: &str) -> Pod {
    Pod {
        metadata: object(name, &[]),
        spec: Some(PodSpec {
            termination_grace_period_seconds: Some(grace),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(phase.to_string()),
            ..Default::default()
        }),
    }
}

fn with_pods() -> Fake {
    let fake = with_configmaps();
    {
        let mut st = fake.state();
        st.discovery = Some(Discovery {
            resources: vec![
                resource("configmaps", ALL_VERBS),
                resource("pods", ALL_VERBS),
            ],
            ..Default::default()
        });
        st.graceful.insert("pods".to_string());
        st.objects
            .insert(("pods".into(), "web".into()), object("web", &[]));
        st.pods = vec![pod("web", 30, "Running"), pod("done", 600, "Succeeded")];
    }
    fake
}

#[tokio::test]
async fn pods_in_their_grace_period_are_waited_for() {
    let fake = with_pods();
    // Deleted 10s ago; the running pod has 30s (the finished one does not count).
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(110))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Remaining {
            estimate_seconds: 30
        }
    );
    assert!(fake.state().namespace.is_some());
}

#[tokio::test]
async fn pods_past_their_grace_period_are_an_error() {
    let fake = with_pods();
    let err = Deleter::new(fake.clone())
        .delete(NS, at(140))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected items still remain in namespace: x for gvr: /v1, Resource=pods"
    );
}

#[tokio::test]
async fn finalize_conflicts_are_retried_on_the_latest_namespace() {
    let fake = with_configmaps();
    fake.state().conflicts_on_finalize = 2;
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Finalized);
    let finalizes = fake
        .state()
        .calls
        .iter()
        .filter(|c| c.starts_with("finalize"))
        .count();
    assert_eq!(finalizes, 3);
}

#[tokio::test]
async fn a_finalized_namespace_is_done() {
    let fake = with_configmaps();
    fake.state().namespace = Some(terminating(&[], 100));
    let outcome = Deleter::new(fake.clone())
        .delete(NS, at(200))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(fake.state().objects.len(), 2);
}

#[test]
fn aggregates_print_like_client_go() {
    assert_eq!(aggregate(&["a".to_string()]), "a");
    assert_eq!(
        aggregate(&["a".to_string(), "b".to_string(), "a".to_string()]),
        "[a, b]"
    );
}
