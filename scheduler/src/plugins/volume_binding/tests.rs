use super::binder::*;
use super::*;
use crate::framework::Code;
use crate::node_info::testing::{node, pod, with_labels};
use crate::volumes::testing::{claim, class, listers, pinned, volume, with_claims};
use k8s_openapi::api::core::v1::{
    EphemeralVolumeSource, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    TopologySelectorLabelRequirement, TopologySelectorTerm, Volume,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector;

const HOST: &str = "kubernetes.io/hostname";
const WAIT: &str = "WaitForFirstConsumer";

fn plugin(
    claims: Vec<PersistentVolumeClaim>,
    volumes: Vec<PersistentVolume>,
    classes: Vec<StorageClass>,
) -> VolumeBinding {
    VolumeBinding {
        binder: Binder::new(
            listers(claims, volumes, classes, vec![]),
            None,
            None,
            None,
            Duration::from_secs(600),
        ),
    }
}

fn node_info(name: &str, labels: &[(&str, &str)]) -> NodeInfo {
    let mut all = vec![(HOST, name)];
    all.extend_from_slice(labels);
    NodeInfo::new(Arc::new(with_labels(node(name, "4", "8Gi"), &all)))
}

/// PreFilter, then Filter on each node: the statuses.
fn run(pl: &VolumeBinding, p: &Pod, nodes: &[&NodeInfo]) -> (CycleState, Vec<Status>) {
    let mut state = CycleState::new();
    let (_, s) = pl.pre_filter(&mut state, p, &[]);
    if !s.is_success() {
        return (state, vec![s]);
    }
    let statuses = nodes.iter().map(|n| pl.filter(&state, p, n)).collect();
    (state, statuses)
}

fn with_phase(mut c: PersistentVolumeClaim, phase: &str) -> PersistentVolumeClaim {
    c.status = Some(PersistentVolumeClaimStatus {
        phase: Some(phase.into()),
        ..Default::default()
    });
    c
}

#[test]
fn pre_filter_rejects_missing_lost_and_unbound_immediate_claims() {
    let pl = plugin(
        vec![
            claim("now", "fast", "", &["ReadWriteOnce"]),
            with_phase(claim("lost", "", "gone", &[]), "Lost"),
        ],
        vec![],
        vec![class("fast", "example.com/p", "Immediate")],
    );
    let cases = [
        (
            vec!["missing"],
            "persistentvolumeclaim \"missing\" not found",
        ),
        (
            vec!["lost"],
            "persistentvolumeclaim \"lost\" bound to non-existent persistentvolume \"gone\"",
        ),
        (vec!["now"], REASON_UNBOUND_IMMEDIATE),
    ];
    for (claims, why) in cases {
        let p = with_claims(pod("p", &[&[]]), &claims);
        let (_, s) = run(&pl, &p, &[]);
        assert_eq!(
            s[0].code(),
            Code::UnschedulableAndUnresolvable,
            "{claims:?}"
        );
        assert_eq!(s[0].message(), why);
    }
    let mut eph = pod("p", &[&[]]);
    eph.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "scratch".into(),
        ephemeral: Some(EphemeralVolumeSource::default()),
        ..Default::default()
    }]);
    let (_, s) = run(&pl, &eph, &[]);
    assert_eq!(
        s[0].message(),
        "waiting for ephemeral volume controller to create the persistentvolumeclaim \"p-scratch\""
    );
    let (state, s) = run(&pl, &pod("plain", &[&[]]), &[]);
    assert!(s[0].is_skip());
    // Reserve and PreBind of a pod without claims have nothing to do.
    let mut state = state;
    assert!(
        pl.reserve(&mut state, &pod("plain", &[&[]]), "a")
            .is_success()
    );
}

#[test]
fn bound_volumes_must_fit_the_node() {
    let pl = plugin(
        vec![
            claim("data", "", "pv-b", &[]),
            claim("orphan", "", "gone", &[]),
        ],
        vec![pinned(volume("pv-b", "", "1Gi", &[]), HOST, &["b"])],
        vec![],
    );
    let (a, b) = (node_info("a", &[]), node_info("b", &[]));
    let p = with_claims(pod("p", &[&[]]), &["data"]);
    let (_, s) = run(&pl, &p, &[&a, &b]);
    assert_eq!(s[0].code(), Code::UnschedulableAndUnresolvable);
    assert_eq!(s[0].message(), REASON_NODE_CONFLICT);
    assert!(s[1].is_success(), "{}", s[1]);
    let p = with_claims(pod("p", &[&[]]), &["orphan"]);
    let (_, s) = run(&pl, &p, &[&a]);
    assert_eq!(s[0].message(), REASON_PV_NOT_EXIST);
}

fn local_setup() -> VolumeBinding {
    let mut big = claim("big", "local", "", &["ReadWriteOnce"]);
    big.spec
        .as_mut()
        .unwrap()
        .resources
        .as_mut()
        .unwrap()
        .requests = Some(
        [(
            "storage".to_string(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("5Gi".into()),
        )]
        .into(),
    );
    plugin(
        vec![
            claim("data", "local", "", &["ReadWriteOnce"]),
            claim("other", "local", "", &["ReadWriteOnce"]),
            claim("many", "local", "", &["ReadWriteMany"]),
            big,
        ],
        vec![
            pinned(volume("pv-a", "local", "1Gi", &[]), HOST, &["a"]),
            pinned(volume("pv-a-big", "local", "10Gi", &[]), HOST, &["a"]),
            pinned(volume("pv-b", "local", "2Gi", &[]), HOST, &["b"]),
            pinned(volume("pv-other-class", "slow", "1Gi", &[]), HOST, &["c"]),
        ],
        vec![class("local", volumes::NO_PROVISIONER, WAIT)],
    )
}

#[test]
fn wait_for_first_consumer_claims_find_volumes_on_the_node() {
    let pl = local_setup();
    let (a, b, c) = (
        node_info("a", &[]),
        node_info("b", &[]),
        node_info("c", &[]),
    );
    let p = with_claims(pod("p", &[&[]]), &["data"]);
    let (state, s) = run(&pl, &p, &[&a, &b, &c]);
    assert!(s[0].is_success() && s[1].is_success(), "{s:?}");
    assert_eq!(s[2].code(), Code::UnschedulableAndUnresolvable);
    assert_eq!(s[2].message(), REASON_BIND_CONFLICT);
    // The smallest volume that fits on each node.
    let data = state_data(&state).unwrap();
    let chosen = |n: &str| {
        data.inner().by_node[n].static_bindings[0]
            .pv
            .metadata
            .name
            .clone()
            .unwrap()
    };
    assert_eq!(chosen("a"), "pv-a");
    assert_eq!(chosen("b"), "pv-b");
    // Access modes and size count: nothing offers ReadWriteMany; only pv-a-big holds 5Gi.
    let (_, s) = run(&pl, &with_claims(pod("q", &[&[]]), &["many"]), &[&a]);
    assert_eq!(s[0].message(), REASON_BIND_CONFLICT);
    let (_, s) = run(&pl, &with_claims(pod("q", &[&[]]), &["big"]), &[&a, &b]);
    assert!(s[0].is_success());
    assert_eq!(s[1].message(), REASON_BIND_CONFLICT);
    // Two claims take two volumes: node b has one.
    let (_, s) = run(
        &pl,
        &with_claims(pod("q", &[&[]]), &["data", "other"]),
        &[&a, &b],
    );
    assert!(s[0].is_success());
    assert_eq!(s[1].message(), REASON_BIND_CONFLICT);
}

#[test]
fn reserve_assumes_the_volume_and_unreserve_gives_it_back() {
    let pl = local_setup();
    let b = node_info("b", &[]);
    let assumed_pod = |name: &str, claim: &str| {
        let mut p = with_claims(pod(name, &[&[]]), &[claim]);
        p.spec.as_mut().unwrap().node_name = Some("b".into());
        p
    };
    let p = assumed_pod("p", "data");
    let (mut state, s) = run(&pl, &p, &[&b]);
    assert!(s[0].is_success());
    assert!(pl.reserve(&mut state, &p, "b").is_success());
    let data = state_data(&state).unwrap();
    let assumed = data.inner().by_node["b"].static_bindings[0].pv.clone();
    let r = assumed.spec.as_ref().unwrap().claim_ref.as_ref().unwrap();
    assert_eq!(r.name.as_deref(), Some("data"));
    assert_eq!(r.uid.as_deref(), Some("uid-data"));
    assert_eq!(
        volumes::annotation(&assumed.metadata, volumes::BOUND_BY_CONTROLLER),
        Some("yes")
    );
    assert!(!data.inner().all_bound);
    // The next pod's claim finds node b's only volume taken.
    let q = assumed_pod("q", "other");
    let (_, s) = run(&pl, &q, &[&b]);
    assert_eq!(s[0].message(), REASON_BIND_CONFLICT);
    pl.unreserve(&mut state, &p, "b");
    let (_, s) = run(&pl, &q, &[&b]);
    assert!(s[0].is_success(), "{}", s[0]);
}

#[test]
fn provisioning_follows_the_class_and_the_selected_node() {
    let zone = |values: &[&str]| TopologySelectorTerm {
        match_label_expressions: Some(vec![TopologySelectorLabelRequirement {
            key: "zone".into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }]),
    };
    let mut zonal = class("zonal", "csi.example.com", WAIT);
    zonal.allowed_topologies = Some(vec![zone(&["z1"])]);
    let mut elsewhere = claim("elsewhere", "zonal", "", &["ReadWriteOnce"]);
    elsewhere
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(volumes::SELECTED_NODE.into(), "b".into());
    let pl = plugin(
        vec![claim("new", "zonal", "", &["ReadWriteOnce"]), elsewhere],
        vec![],
        vec![zonal],
    );
    let (a, b) = (
        node_info("a", &[("zone", "z1")]),
        node_info("b", &[("zone", "z2")]),
    );
    let p = with_claims(pod("p", &[&[]]), &["new"]);
    let (mut state, s) = run(&pl, &p, &[&a, &b]);
    assert!(s[0].is_success());
    assert_eq!(s[1].message(), REASON_BIND_CONFLICT);
    assert!(pl.reserve(&mut state, &p, "a").is_success());
    let data = state_data(&state).unwrap();
    let claim = data.inner().by_node["a"].dynamic_provisions[0].clone();
    assert_eq!(
        volumes::annotation(&claim.metadata, volumes::SELECTED_NODE),
        Some("a")
    );
    // A claim being provisioned for node b fits nowhere else.
    let p = with_claims(pod("q", &[&[]]), &["elsewhere"]);
    let (_, s) = run(&pl, &p, &[&a, &b]);
    assert_eq!(s[0].message(), REASON_BIND_CONFLICT);
}

#[test]
fn bindings_are_checked_against_what_the_api_says() {
    let mut bound_claim = claim("data", "local", "pv-a", &[]);
    bound_claim.metadata.resource_version = Some("5".into());
    let (pending_claim, bound_claim) = (claim("data", "local", "", &[]), bound_claim);
    let target = pinned(volume("pv-a", "local", "1Gi", &[]), HOST, &["a"]);
    let (written, _) = bind_volume_to_claim(&target, &pending_claim);
    let nodes = {
        let (store, mut writer) = reflector::store::<Node>();
        let n = node_info("a", &[]).node.unwrap();
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply((*n).clone()));
        store
    };
    let binder_with = |claims: Vec<PersistentVolumeClaim>, volumes: Vec<PersistentVolume>| {
        Binder::new(
            listers(claims, volumes, vec![], vec![]),
            None,
            Some(nodes.clone()),
            None,
            Duration::from_secs(1),
        )
    };
    let p = pod("p", &[&[]]);
    let binding = BindingInfo {
        pvc: Arc::new(pending_claim.clone()),
        pv: Arc::new(written.clone()),
    };
    // Written, not bound yet.
    let b = binder_with(vec![pending_claim.clone()], vec![written.clone()]);
    assert_eq!(
        b.check_bindings(&p, "a", std::slice::from_ref(&binding), &[]),
        Ok(false)
    );
    // Bound.
    let b = binder_with(vec![bound_claim], vec![written.clone()]);
    assert_eq!(
        b.check_bindings(&p, "a", std::slice::from_ref(&binding), &[]),
        Ok(true)
    );
    // The PV binder took the claimRef away: scheduling starts over.
    let b = binder_with(vec![pending_claim.clone()], vec![target]);
    let err = b.check_bindings(&p, "a", &[binding], &[]).unwrap_err();
    assert_eq!(err, "ClaimRef got reset for pv \"pv-a\"");
}

#[test]
fn args_are_validated() {
    let deps = || Deps {
        listers: Listers::new(None),
        pods: None,
        nodes: None,
        client: None,
    };
    assert!(new(Some(&serde_json::json!({"bindTimeoutSeconds": 30})), deps()).is_ok());
    let err = new(Some(&serde_json::json!({"bindTimeoutSeconds": -1})), deps())
        .err()
        .unwrap();
    assert!(err.contains("should not be a negative value"), "{err}");
}
