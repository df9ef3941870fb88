//! Tables of upstream semantics: Filter verdicts and reasons, scores, default constraints,
//! args validation and queueing hints.

use super::*;
use crate::affinity::testing::with_labels as pod_labels;
use crate::framework::Code;
use crate::framework::cluster_event::{ClusterEvent, NODE_ADD};
use crate::node_info::testing::*;
use k8s_openapi::api::apps::v1::ReplicaSetSpec;
use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use std::collections::HashMap;

fn selector(app: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_labels: Some([("app".to_string(), app.to_string())].into()),
        ..Default::default()
    })
}

fn constraint(key: &str, max_skew: i32, when: &str) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        topology_key: key.into(),
        max_skew,
        when_unsatisfiable: when.into(),
        label_selector: selector("foo"),
        ..Default::default()
    }
}

fn incoming(constraints: Vec<TopologySpreadConstraint>) -> Pod {
    let mut p = pod_labels(pod("in", &[&[]]), &[("app", "foo")]);
    p.spec.as_mut().unwrap().topology_spread_constraints = Some(constraints);
    p
}

/// Nodes `(name, zone)` ("" for none) with `foo` pods per node.
fn cluster(nodes: &[(&str, &str, usize)]) -> Vec<Arc<NodeInfo>> {
    nodes
        .iter()
        .map(|(name, zone, pods)| {
            let mut labels = vec![(LABEL_HOSTNAME, *name)];
            if !zone.is_empty() {
                labels.push((LABEL_ZONE, *zone));
            }
            let mut info = NodeInfo::new(Arc::new(with_labels(node(name, "4", "4Gi"), &labels)));
            for i in 0..*pods {
                let p = pod_labels(pod(&format!("{name}-{i}"), &[&[]]), &[("app", "foo")]);
                info.add_pod(PodInfo::new(Arc::new(on_node(p, name))));
            }
            Arc::new(info)
        })
        .collect()
}

fn plugin() -> Arc<dyn Plugin> {
    new(None, Listers::default()).unwrap()
}

/// Filter verdicts per node: "" for success, else the reason.
/// Both ways of counting: over every node (no snapshot in the state) and from the
/// snapshot's index; they must agree.
fn filter_all(pl: &Arc<dyn Plugin>, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<String> {
    let verdicts = |mut state: CycleState| {
        let (_, s) = pl
            .as_pre_filter()
            .unwrap()
            .pre_filter(&mut state, pod, nodes);
        assert!(s.is_success(), "{s}");
        nodes
            .iter()
            .map(|n| pl.as_filter().unwrap().filter(&state, pod, n).message())
            .collect::<Vec<_>>()
    };
    let walked = verdicts(CycleState::new());
    let mut state = CycleState::new();
    state.set_snapshot(crate::cache::Snapshot::new(nodes.to_vec()));
    assert_eq!(verdicts(state), walked);
    walked
}

/// The index gives what the walk over every node gives: terminating pods and other
/// namespaces left out, nodes without a key left out of every constraint, domains without
/// pods at 0.
#[test]
fn indexed_counts_match_walked_counts() {
    let mut nodes = cluster(&[
        ("a", "z1", 2),
        ("b", "z1", 0),
        ("c", "z2", 1),
        ("d", "z3", 0),
        ("n", "", 3),
    ]);
    let extra = |info: &mut Arc<NodeInfo>, p: Pod| {
        Arc::make_mut(info).add_pod(PodInfo::new(Arc::new(p)));
    };
    let mut terminating = pod_labels(pod("gone", &[&[]]), &[("app", "foo")]);
    terminating.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
    extra(&mut nodes[2], on_node(terminating, "c"));
    let mut elsewhere = pod_labels(pod("ns2", &[&[]]), &[("app", "foo")]);
    elsewhere.metadata.namespace = Some("other".into());
    extra(&mut nodes[3], on_node(elsewhere, "d"));
    let bar = pod_labels(pod("bar", &[&[]]), &[("app", "bar")]);
    extra(&mut nodes[1], on_node(bar, "b"));
    let snapshot = crate::cache::Snapshot::new(nodes.clone());
    let p = incoming(vec![
        constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE),
        constraint(LABEL_HOSTNAME, 1, DO_NOT_SCHEDULE),
    ]);
    let constraints = filter_constraints(
        p.spec
            .as_ref()
            .unwrap()
            .topology_spread_constraints
            .as_deref()
            .unwrap(),
        p.metadata.labels.as_ref(),
        DO_NOT_SCHEDULE,
    )
    .unwrap();
    let walked = filtering::walked_counts(&p, &constraints, &nodes);
    assert_eq!(
        walked[0],
        HashMap::from([("z1".into(), 2), ("z2".into(), 1), ("z3".into(), 0)])
    );
    assert_eq!(
        filtering::indexed_counts(&snapshot, &p, &constraints),
        Some(walked)
    );
    // A node selector needs each node looked at.
    let mut selective = p.clone();
    selective.spec.as_mut().unwrap().node_selector = Some([("x".into(), "y".into())].into());
    assert_eq!(
        filtering::indexed_counts(&snapshot, &selective, &constraints),
        None
    );
}

#[test]
fn filter_table() {
    let pl = plugin();
    let nodes = cluster(&[
        ("a", "z1", 1),
        ("b", "z1", 1),
        ("x", "z2", 1),
        ("y", "z2", 0),
    ]);
    // z1 has 2, z2 has 1: only z2 keeps the skew at 1.
    let p = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    assert_eq!(filter_all(&pl, &p, &nodes), vec![REASON, REASON, "", ""]);
    // maxSkew 2 allows both zones.
    let p = incoming(vec![constraint(LABEL_ZONE, 2, DO_NOT_SCHEDULE)]);
    assert_eq!(filter_all(&pl, &p, &nodes), vec!["", "", "", ""]);
    // Hostname: y has none, so only it fits with maxSkew 1.
    let p = incoming(vec![constraint(LABEL_HOSTNAME, 1, DO_NOT_SCHEDULE)]);
    assert_eq!(
        filter_all(&pl, &p, &nodes),
        vec![REASON, REASON, REASON, ""]
    );
    // A pod that does not match its own selector adds nothing.
    let mut other = p.clone();
    other.metadata.labels = None;
    assert_eq!(filter_all(&pl, &other, &nodes), vec!["", "", "", ""]);
    // Nodes without the key are unresolvable; they are no domain either.
    let nodes = cluster(&[("a", "z1", 1), ("n", "", 0)]);
    let p = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    let mut state = CycleState::new();
    pl.as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &p, &nodes);
    let s = pl.as_filter().unwrap().filter(&state, &p, &nodes[1]);
    assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
    assert_eq!(s.message(), REASON_NODE_LABEL);
    assert!(
        pl.as_filter()
            .unwrap()
            .filter(&state, &p, &nodes[0])
            .is_success()
    );
    // Pods of other namespaces and terminating pods do not count.
    let mut info = NodeInfo::new(Arc::new(with_labels(
        node("c", "4", "4Gi"),
        &[(LABEL_ZONE, "z3")],
    )));
    let mut elsewhere = pod_labels(pod("e", &[&[]]), &[("app", "foo")]);
    elsewhere.metadata.namespace = Some("other".into());
    info.add_pod(PodInfo::new(Arc::new(elsewhere)));
    let mut leaving = pod_labels(pod("l", &[&[]]), &[("app", "foo")]);
    leaving.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
    info.add_pod(PodInfo::new(Arc::new(leaving)));
    let nodes = vec![cluster(&[("a", "z1", 1)]).remove(0), Arc::new(info)];
    assert_eq!(filter_all(&pl, &p, &nodes), vec![REASON, ""]);
}

#[test]
fn min_domains_and_inclusion_policies() {
    let pl = plugin();
    let nodes = cluster(&[("a", "z1", 2), ("x", "z2", 1)]);
    // Two domains, minDomains 3: the global minimum is 0, so z2 (1 + 1 - 0) fails too.
    let mut c = constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE);
    c.min_domains = Some(3);
    assert_eq!(
        filter_all(&pl, &incoming(vec![c]), &nodes),
        vec![REASON, REASON]
    );
    // Node affinity (Honor by default) leaves z2 out of the domains: z1 alone is the minimum.
    let mut p = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    p.spec.as_mut().unwrap().node_selector =
        Some([(LABEL_ZONE.to_string(), "z1".to_string())].into());
    assert_eq!(filter_all(&pl, &p, &nodes), vec!["", ""]);
    // With nodeAffinityPolicy Ignore, z2 counts again.
    let mut c = constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE);
    c.node_affinity_policy = Some("Ignore".into());
    p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![c]);
    assert_eq!(filter_all(&pl, &p, &nodes), vec![REASON, ""]);
    // Taints are ignored by default, honored on request.
    let mut tainted = (*nodes[1]).clone();
    tainted.set_node(Arc::new(with_taints(
        (**tainted.node.as_ref().unwrap()).clone(),
        &[("k", "v", "NoSchedule")],
    )));
    let nodes = vec![nodes[0].clone(), Arc::new(tainted)];
    let p = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    assert_eq!(filter_all(&pl, &p, &nodes), vec![REASON, ""]);
    let mut c = constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE);
    c.node_taints_policy = Some("Honor".into());
    assert_eq!(filter_all(&pl, &incoming(vec![c]), &nodes), vec!["", ""]);
}

#[test]
fn match_label_keys_narrow_the_selector() {
    let pl = plugin();
    let nodes = cluster(&[("a", "z1", 2), ("x", "z2", 0)]);
    let mut c = constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE);
    c.match_label_keys = Some(vec!["pod-template-hash".into()]);
    // Existing pods have no hash: none matches a pod of another revision.
    let mut p = incoming(vec![c]);
    p.metadata
        .labels
        .get_or_insert_default()
        .insert("pod-template-hash".into(), "v2".into());
    assert_eq!(filter_all(&pl, &p, &nodes), vec!["", ""]);
}

#[test]
fn pre_filter_skips_pods_without_hard_constraints() {
    let pl = plugin();
    let mut state = CycleState::new();
    let nodes = cluster(&[("a", "z1", 0)]);
    let (_, s) = pl
        .as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &pod("p", &[&[]]), &nodes);
    assert!(s.is_skip());
    let soft = incoming(vec![constraint(LABEL_ZONE, 1, SCHEDULE_ANYWAY)]);
    let (_, s) = pl
        .as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &soft, &nodes);
    assert!(s.is_skip());
}

fn scores(pl: &Arc<dyn Plugin>, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> (Vec<i64>, Vec<i64>) {
    let mut state = CycleState::new();
    state.set_all_nodes(nodes);
    let s = pl.as_pre_score().unwrap().pre_score(&mut state, pod, nodes);
    assert!(s.is_success(), "{s}");
    let sp = pl.as_score().unwrap();
    let mut out: Vec<NodeScore> = nodes
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: sp.score(&state, pod, n).unwrap(),
        })
        .collect();
    let raw = out.iter().map(|s| s.score).collect();
    assert!(sp.normalize(&state, pod, &mut out).is_success());
    (raw, out.iter().map(|s| s.score).collect())
}

#[test]
fn score_table() {
    let pl = plugin();
    // Hostname, maxSkew 1: weight ln(3 + 2); 2 pods -> 3.2 -> 3, 1 -> 1.6 -> 2, 0 -> 0.
    let nodes = cluster(&[("a", "z1", 2), ("b", "z1", 1), ("c", "z2", 0)]);
    let p = incoming(vec![constraint(LABEL_HOSTNAME, 1, SCHEDULE_ANYWAY)]);
    assert_eq!(scores(&pl, &p, &nodes), (vec![3, 2, 0], vec![0, 33, 100]));
    // Zone, maxSkew 2: weight ln(2 + 2); z1 has 3 -> 3 * 1.386 + 1 = 5.16 -> 5, z2 0 -> 1.
    let p = incoming(vec![constraint(LABEL_ZONE, 2, SCHEDULE_ANYWAY)]);
    assert_eq!(scores(&pl, &p, &nodes), (vec![5, 5, 1], vec![20, 20, 100]));
    // A node without the zone label is ignored: it scores 0 and is left out of min/max.
    let nodes = cluster(&[("a", "z1", 1), ("b", "z2", 0), ("n", "", 0)]);
    let p = incoming(vec![constraint(LABEL_ZONE, 1, SCHEDULE_ANYWAY)]);
    let (_, normalized) = scores(&pl, &p, &nodes);
    assert_eq!(normalized, vec![0, 100, 0]);
    // No soft constraints: skipped.
    let mut state = CycleState::new();
    let hard = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    assert!(
        pl.as_pre_score()
            .unwrap()
            .pre_score(&mut state, &hard, &nodes)
            .is_skip()
    );
}

fn replica_set_listers() -> Listers {
    let (store, mut writer) = kube::runtime::reflector::store::<ReplicaSet>();
    let rs = ReplicaSet {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("web-1".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            selector: selector("foo").unwrap_or_default(),
            ..Default::default()
        }),
        status: None,
    };
    writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(rs));
    Listers {
        replica_sets: Some(store),
        ..Default::default()
    }
}

fn owned(p: Pod) -> Pod {
    let mut p = p;
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "web-1".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    p
}

#[test]
fn system_default_constraints_spread_replica_set_pods() {
    let pl = new(None, replica_set_listers()).unwrap();
    let p = owned(pod_labels(pod("in", &[&[]]), &[("app", "foo")]));
    assert!(default_selector(&p, &replica_set_listers()).matches(p.metadata.labels.as_ref()));
    assert!(default_selector(&pod("x", &[&[]]), &replica_set_listers()).is_empty());
    // Hostname (maxSkew 3) and zone (maxSkew 5); a node without a zone still scores.
    let nodes = cluster(&[("a", "z1", 2), ("b", "z2", 0), ("n", "", 0)]);
    let (raw, normalized) = scores(&pl, &p, &nodes);
    // Zones z1, z2 and "" (n has none): both weights ln(3 + 2).
    // a: 2 * ln(5) + 2 + 2 * ln(5) + 4 = 12.4; b: 2 + 4; n: 2 (no zone label to score).
    assert_eq!(raw, vec![12, 6, 2]);
    assert_eq!(normalized, vec![16, 66, 100]);
    // Not owned and not selected: no default constraints.
    let mut state = CycleState::new();
    assert!(
        pl.as_pre_score()
            .unwrap()
            .pre_score(&mut state, &pod("x", &[&[]]), &nodes)
            .is_skip()
    );
}

#[test]
fn args_are_validated_as_upstream() {
    let list = serde_json::json!({
        "defaultingType": "List",
        "defaultConstraints": [{"maxSkew": 1, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": "DoNotSchedule"}],
    });
    assert!(new(Some(&list), Listers::default()).is_ok());
    let system_with_list = serde_json::json!({
        "defaultConstraints": [{"maxSkew": 1, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": "DoNotSchedule"}],
    });
    let err = new(Some(&system_with_list), Listers::default())
        .err()
        .unwrap();
    assert!(err.contains("defaultingType"), "{err}");
    let bad = serde_json::json!({
        "defaultingType": "List",
        "defaultConstraints": [{"maxSkew": 0, "topologyKey": "", "whenUnsatisfiable": "Maybe",
            "labelSelector": {}}],
    });
    let err = new(Some(&bad), Listers::default()).err().unwrap();
    for part in [
        "maxSkew",
        "topologyKey",
        "whenUnsatisfiable",
        "labelSelector",
    ] {
        assert!(err.contains(part), "{err}");
    }
    let err = new(
        Some(&serde_json::json!({"defaultingType": "Other"})),
        Listers::default(),
    )
    .err()
    .unwrap();
    assert!(err.contains("Unsupported value"), "{err}");
}

#[test]
fn queueing_hints() {
    let pl = plugin();
    let p = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    let regs = pl.events_to_register();
    let node_change = |old: Option<Node>, new: Option<Node>, event: ClusterEvent| Change {
        event,
        old: old.map(|n| Object::Node(Arc::new(n))),
        new: new.map(|n| Object::Node(Arc::new(n))),
    };
    let zoned = with_labels(node("n", "1", "1Gi"), &[(LABEL_ZONE, "z1")]);
    let plain = node("n", "1", "1Gi");
    assert!(regs[1].requeues(&p, &node_change(None, Some(zoned.clone()), NODE_ADD)));
    assert!(!regs[1].requeues(&p, &node_change(None, Some(plain.clone()), NODE_ADD)));
    let update = crate::framework::cluster_event::node_update(&plain, &zoned).unwrap();
    assert!(regs[1].requeues(&p, &node_change(Some(plain), Some(zoned.clone()), update)));
    let mut tainted = zoned.clone();
    tainted.spec.get_or_insert_default().taints = Some(vec![Taint {
        key: "k".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    }]);
    let update = crate::framework::cluster_event::node_update(&zoned, &tainted).unwrap();
    assert!(regs[1].requeues(&p, &node_change(Some(zoned), Some(tainted), update)));

    let assigned = |labels: &[(&str, &str)]| {
        Object::Pod(Arc::new(on_node(pod_labels(pod("e", &[&[]]), labels), "n")))
    };
    let add = Change {
        event: crate::framework::cluster_event::ASSIGNED_POD_ADD,
        old: None,
        new: Some(assigned(&[("app", "foo")])),
    };
    assert!(regs[0].requeues(&p, &add));
    let unrelated = Change {
        new: Some(assigned(&[("app", "bar")])),
        ..add.clone()
    };
    assert!(!regs[0].requeues(&p, &unrelated));
    let relabel = Change {
        event: ClusterEvent::new(
            EventResource::AssignedPod,
            action::UPDATE_POD_LABEL,
            "AssignedPodUpdate",
        ),
        old: Some(assigned(&[("app", "foo")])),
        new: Some(assigned(&[("app", "bar")])),
    };
    assert!(regs[0].requeues(&p, &relabel));
}

#[test]
fn add_and_remove_pod_adjust_a_copy() {
    let pl = plugin();
    let nodes = cluster(&[("a", "z1", 1), ("x", "z2", 1)]);
    let p = incoming(vec![constraint(LABEL_ZONE, 1, DO_NOT_SCHEDULE)]);
    let mut state = CycleState::new();
    pl.as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &p, &nodes);
    let f = pl.as_filter().unwrap();
    assert!(f.filter(&state, &p, &nodes[0]).is_success());
    let mut copy = state.clone();
    let victim = nodes[1].pods[0].clone();
    let pf = pl.as_pre_filter().unwrap();
    assert!(
        pf.remove_pod(&mut copy, &p, &victim, &nodes[1])
            .is_success()
    );
    // z2 now has 0: z1 (1 + 1 - 0) breaks the skew in the copy only.
    assert_eq!(f.filter(&copy, &p, &nodes[0]).message(), REASON);
    assert!(f.filter(&state, &p, &nodes[0]).is_success());
    assert!(pf.add_pod(&mut copy, &p, &victim, &nodes[1]).is_success());
    assert!(f.filter(&copy, &p, &nodes[0]).is_success());
}
