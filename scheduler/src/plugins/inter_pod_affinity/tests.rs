//! Tables of upstream semantics: Filter verdicts and reasons, scores, args and hints.

use super::*;
use crate::affinity::testing::*;
use crate::framework::Code;
use crate::framework::cluster_event::{ASSIGNED_POD_ADD, ASSIGNED_POD_DELETE, NODE_ADD};
use crate::node_info::testing::{node, on_node, pod, with_labels as node_labels};
use k8s_openapi::api::core::v1::PodAffinityTerm;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

const ZONE: &str = "zone";
const HOST: &str = "kubernetes.io/hostname";

/// Nodes `(name, zone)` ("" for none), each with the given pods.
fn cluster(nodes: Vec<(&str, &str, Vec<Pod>)>) -> Vec<Arc<NodeInfo>> {
    nodes
        .into_iter()
        .map(|(name, zone, pods)| {
            let mut labels = vec![(HOST, name)];
            if !zone.is_empty() {
                labels.push((ZONE, zone));
            }
            let mut info = NodeInfo::new(Arc::new(node_labels(node(name, "4", "4Gi"), &labels)));
            for p in pods {
                info.add_pod(PodInfo::new(Arc::new(on_node(p, name))));
            }
            Arc::new(info)
        })
        .collect()
}

fn labelled(name: &str, app: &str) -> Pod {
    with_labels(pod(name, &[&[]]), &[("app", app)])
}

fn plugin() -> Arc<dyn Plugin> {
    new(None, None).unwrap()
}

fn filter_all(pl: &Arc<dyn Plugin>, p: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<String> {
    let mut state = CycleState::new();
    let (_, s) = pl.as_pre_filter().unwrap().pre_filter(&mut state, p, nodes);
    assert!(s.is_success(), "{s}");
    nodes
        .iter()
        .map(|n| pl.as_filter().unwrap().filter(&state, p, n).message())
        .collect()
}

fn affinity(p: Pod, required: Vec<PodAffinityTerm>) -> Pod {
    with_pod_affinity(p, required, vec![], vec![], vec![])
}

fn anti_affinity(p: Pod, required: Vec<PodAffinityTerm>) -> Pod {
    with_pod_affinity(p, vec![], vec![], required, vec![])
}

#[test]
fn required_affinity() {
    let pl = plugin();
    let nodes = cluster(vec![
        ("a", "z1", vec![labelled("db", "db")]),
        ("b", "z1", vec![]),
        ("c", "z2", vec![]),
        ("d", "", vec![]),
    ]);
    let web = affinity(labelled("web", "web"), vec![term("app", "db", ZONE)]);
    assert_eq!(
        filter_all(&pl, &web, &nodes),
        vec!["", "", REASON_AFFINITY, REASON_AFFINITY]
    );
    let mut state = CycleState::new();
    pl.as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &web, &nodes);
    assert_eq!(
        pl.as_filter()
            .unwrap()
            .filter(&state, &web, &nodes[2])
            .code(),
        Code::UnschedulableAndUnresolvable
    );
    // Pods of other namespaces do not count unless the term names the namespace.
    let mut elsewhere = labelled("db", "db");
    elsewhere.metadata.namespace = Some("other".into());
    let nodes = cluster(vec![("a", "z1", vec![elsewhere]), ("c", "z2", vec![])]);
    assert_eq!(
        filter_all(&pl, &web, &nodes),
        vec![REASON_AFFINITY, REASON_AFFINITY]
    );
    let mut named = term("app", "db", ZONE);
    named.namespaces = Some(vec!["other".into()]);
    let web_other = affinity(labelled("web", "web"), vec![named]);
    assert_eq!(
        filter_all(&pl, &web_other, &nodes),
        vec!["", REASON_AFFINITY]
    );
}

#[test]
fn the_first_pod_of_a_self_affine_group_goes_anywhere_with_the_topology() {
    let pl = plugin();
    let nodes = cluster(vec![
        ("a", "z1", vec![]),
        ("b", "z2", vec![]),
        ("d", "", vec![]),
    ]);
    let first = affinity(labelled("db-0", "db"), vec![term("app", "db", ZONE)]);
    assert_eq!(
        filter_all(&pl, &first, &nodes),
        vec!["", "", REASON_AFFINITY]
    );
    // A pod that does not match its own terms has no exception.
    let web = affinity(labelled("web", "web"), vec![term("app", "db", ZONE)]);
    assert_eq!(
        filter_all(&pl, &web, &nodes),
        vec![REASON_AFFINITY, REASON_AFFINITY, REASON_AFFINITY]
    );
    // Once a member is placed, the others follow it.
    let nodes = cluster(vec![
        ("a", "z1", vec![labelled("db-0", "db")]),
        ("b", "z2", vec![]),
    ]);
    assert_eq!(filter_all(&pl, &first, &nodes), vec!["", REASON_AFFINITY]);
}

#[test]
fn anti_affinity_both_ways() {
    let pl = plugin();
    let nodes = cluster(vec![
        ("a", "z1", vec![labelled("web-0", "web")]),
        ("b", "z1", vec![]),
        ("c", "z2", vec![]),
    ]);
    let web = anti_affinity(labelled("web-1", "web"), vec![term("app", "web", HOST)]);
    assert_eq!(
        filter_all(&pl, &web, &nodes),
        vec![REASON_ANTI_AFFINITY, "", ""]
    );
    // The placed pod keeps web pods out of its zone; the incoming pod has no terms.
    let guard = anti_affinity(labelled("guard", "guard"), vec![term("app", "web", ZONE)]);
    let nodes = cluster(vec![
        ("a", "z1", vec![guard]),
        ("b", "z1", vec![]),
        ("c", "z2", vec![]),
    ]);
    let plain = labelled("web-2", "web");
    assert_eq!(
        filter_all(&pl, &plain, &nodes),
        vec![
            REASON_EXISTING_ANTI_AFFINITY,
            REASON_EXISTING_ANTI_AFFINITY,
            ""
        ]
    );
    let mut state = CycleState::new();
    pl.as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &plain, &nodes);
    assert_eq!(
        pl.as_filter()
            .unwrap()
            .filter(&state, &plain, &nodes[0])
            .code(),
        Code::Unschedulable
    );
    // Nothing to check: skipped.
    let (_, s) = pl
        .as_pre_filter()
        .unwrap()
        .pre_filter(&mut state, &labelled("db", "db"), &nodes);
    assert!(s.is_skip());
}

#[test]
fn namespace_selectors_use_the_namespace_lister() {
    let (store, mut writer) = kube::runtime::reflector::store::<Namespace>();
    for (name, team) in [("other", "x"), ("third", "y")] {
        writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply(Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some([("team".to_string(), team.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }));
    }
    let pl = new(None, Some(store)).unwrap();
    let mut db_x = labelled("db-x", "db");
    db_x.metadata.namespace = Some("other".into());
    let mut db_y = labelled("db-y", "db");
    db_y.metadata.namespace = Some("third".into());
    let nodes = cluster(vec![("a", "z1", vec![db_x]), ("b", "z2", vec![db_y])]);
    let mut t = term("app", "db", ZONE);
    t.namespace_selector = Some(LabelSelector {
        match_labels: Some([("team".to_string(), "x".to_string())].into()),
        ..Default::default()
    });
    let web = affinity(labelled("web", "web"), vec![t]);
    assert_eq!(filter_all(&pl, &web, &nodes), vec!["", REASON_AFFINITY]);
}

fn scores(pl: &Arc<dyn Plugin>, p: &Pod, nodes: &[Arc<NodeInfo>]) -> Option<(Vec<i64>, Vec<i64>)> {
    let mut state = CycleState::new();
    state.set_all_nodes(nodes);
    let s = pl.as_pre_score().unwrap().pre_score(&mut state, p, nodes);
    if s.is_skip() {
        return None;
    }
    assert!(s.is_success(), "{s}");
    let sp = pl.as_score().unwrap();
    let mut out: Vec<NodeScore> = nodes
        .iter()
        .map(|n| NodeScore {
            name: n.name(),
            score: sp.score(&state, p, n).unwrap(),
        })
        .collect();
    let raw = out.iter().map(|s| s.score).collect();
    assert!(sp.normalize(&state, p, &mut out).is_success());
    Some((raw, out.iter().map(|s| s.score).collect()))
}

#[test]
fn score_table() {
    let pl = plugin();
    let nodes = cluster(vec![
        ("a", "z1", vec![labelled("db", "db")]),
        ("b", "z1", vec![]),
        ("c", "z2", vec![labelled("cache", "cache")]),
    ]);
    let prefer = with_pod_affinity(
        labelled("web", "web"),
        vec![],
        vec![weighted(5, term("app", "db", ZONE))],
        vec![],
        vec![],
    );
    assert_eq!(
        scores(&pl, &prefer, &nodes),
        Some((vec![5, 5, 0], vec![100, 100, 0]))
    );
    let avoid = with_pod_affinity(
        labelled("web", "web"),
        vec![],
        vec![weighted(3, term("app", "cache", HOST))],
        vec![],
        vec![weighted(5, term("app", "db", ZONE))],
    );
    // a, b: -5; c: +3.
    assert_eq!(
        scores(&pl, &avoid, &nodes),
        Some((vec![-5, -5, 3], vec![0, 0, 100]))
    );
    // No preferences anywhere: skipped.
    assert_eq!(scores(&pl, &labelled("web", "web"), &nodes), None);
}

#[test]
fn placed_pods_terms_count_unless_ignored() {
    let friend = with_pod_affinity(
        labelled("friend", "friend"),
        vec![term("app", "web", ZONE)],
        vec![weighted(4, term("app", "web", HOST))],
        vec![],
        vec![weighted(2, term("app", "web", ZONE))],
    );
    let nodes = cluster(vec![
        ("a", "z1", vec![friend]),
        ("b", "z1", vec![]),
        ("c", "z2", vec![]),
    ]);
    let web = labelled("web", "web");
    // a: hard 1 (zone) + 4 (host) - 2 (zone) = 3; b: 1 - 2 = -1; c: 0.
    assert_eq!(
        scores(&plugin(), &web, &nodes),
        Some((vec![3, -1, 0], vec![100, 0, 25]))
    );
    let heavy = new(
        Some(&serde_json::json!({"hardPodAffinityWeight": 10})),
        None,
    )
    .unwrap();
    assert_eq!(scores(&heavy, &web, &nodes).unwrap().0, vec![12, 8, 0]);
    let ignoring = new(
        Some(&serde_json::json!({"ignorePreferredTermsOfExistingPods": true})),
        None,
    )
    .unwrap();
    assert_eq!(scores(&ignoring, &web, &nodes), None);
    let err = new(
        Some(&serde_json::json!({"hardPodAffinityWeight": 101})),
        None,
    )
    .err()
    .unwrap();
    assert!(err.contains("not in valid range [0, 100]"), "{err}");
}

#[test]
fn queueing_hints() {
    let pl = plugin();
    let regs = pl.events_to_register();
    let web = with_pod_affinity(
        labelled("web", "web"),
        vec![term("app", "db", ZONE)],
        vec![],
        vec![term("app", "web", HOST)],
        vec![],
    );
    let placed = |app: &str| Object::Pod(Arc::new(on_node(labelled("x", app), "n")));
    let add = |app: &str| Change {
        event: ASSIGNED_POD_ADD,
        old: None,
        new: Some(placed(app)),
    };
    assert!(regs[0].requeues(&web, &add("db")));
    assert!(!regs[0].requeues(&web, &add("cache")));
    let delete = |app: &str| Change {
        event: ASSIGNED_POD_DELETE,
        old: Some(placed(app)),
        new: None,
    };
    assert!(regs[0].requeues(&web, &delete("web")));
    assert!(!regs[0].requeues(&web, &delete("db")));
    let node_add = |labels: &[(&str, &str)]| Change {
        event: NODE_ADD,
        old: None,
        new: Some(Object::Node(Arc::new(node_labels(
            node("n", "1", "1Gi"),
            labels,
        )))),
    };
    assert!(regs[1].requeues(&web, &node_add(&[(ZONE, "z9")])));
    assert!(!regs[1].requeues(&web, &node_add(&[("other", "x")])));
}

#[test]
fn add_and_remove_pod_adjust_a_copy() {
    let pl = plugin();
    let nodes = cluster(vec![
        ("a", "z1", vec![labelled("web-0", "web")]),
        ("b", "z2", vec![]),
    ]);
    let web = anti_affinity(labelled("web-1", "web"), vec![term("app", "web", ZONE)]);
    let mut state = CycleState::new();
    let pf = pl.as_pre_filter().unwrap();
    pf.pre_filter(&mut state, &web, &nodes);
    let f = pl.as_filter().unwrap();
    assert_eq!(
        f.filter(&state, &web, &nodes[0]).message(),
        REASON_ANTI_AFFINITY
    );
    let mut copy = state.clone();
    let victim = nodes[0].pods[0].clone();
    assert!(
        pf.remove_pod(&mut copy, &web, &victim, &nodes[0])
            .is_success()
    );
    assert!(f.filter(&copy, &web, &nodes[0]).is_success());
    assert!(!f.filter(&state, &web, &nodes[0]).is_success());
    assert!(pf.add_pod(&mut copy, &web, &victim, &nodes[1]).is_success());
    assert_eq!(
        f.filter(&copy, &web, &nodes[1]).message(),
        REASON_ANTI_AFFINITY
    );
}
