//! Tables after upstream's `default_preemption_test.go` and `preemption_test.go`: victims per
//! node, the node picked, and the messages.

use super::*;
use crate::cache::Snapshot;
use crate::config::Config;
use crate::node_info::testing::*;
use crate::schedule_one::{Algorithm, ScheduleError};
use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

fn framework() -> Framework {
    crate::config::framework_for_tests(&Config::default().profiles[0])
}

/// A pod asking for `cpu` with `priority`, started at second `start` (0: not started).
fn prio(name: &str, cpu: &str, priority: i32, start: i64) -> Pod {
    let mut p = pod(name, &[&[("cpu", cpu)]]);
    p.spec.as_mut().unwrap().priority = Some(priority);
    if start > 0 {
        p.status = Some(k8s_openapi::api::core::v1::PodStatus {
            start_time: Some(Time(Timestamp::from_second(start).unwrap())),
            ..Default::default()
        });
    }
    p
}

fn labelled(mut p: Pod, app: &str) -> Pod {
    p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
    p
}

fn node_with(name: &str, cpu: &str, pods: Vec<Pod>) -> Arc<NodeInfo> {
    let mut info = NodeInfo::new(Arc::new(node(name, cpu, "100Gi")));
    for p in pods {
        info.add_pod(PodInfo::new(Arc::new(on_node(p, name))));
    }
    Arc::new(info)
}

fn pdb(app: &str, allowed: i32) -> Arc<PodDisruptionBudget> {
    Arc::new(PodDisruptionBudget {
        metadata: ObjectMeta {
            name: Some(format!("pdb-{app}")),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), app.to_string())].into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: Some(PodDisruptionBudgetStatus {
            disruptions_allowed: allowed,
            ..Default::default()
        }),
    })
}

fn names(pods: &[Arc<Pod>]) -> Vec<String> {
    pods.iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect()
}

#[test]
fn victims_on_a_node() {
    let fw = framework();
    struct Case {
        name: &'static str,
        pods: Vec<Pod>,
        preemptor: Pod,
        pdbs: Vec<Arc<PodDisruptionBudget>>,
        want: Result<(Vec<&'static str>, usize), (Code, &'static str)>,
    }
    let cases = vec![
        Case {
            name: "the least important lower-priority pod goes",
            pods: vec![prio("p1", "1", 10, 100), prio("p2", "1", 10, 200)],
            preemptor: prio("hi", "1", 100, 0),
            pdbs: vec![],
            // p2 started later: less important.
            want: Ok((vec!["p2"], 0)),
        },
        Case {
            name: "lower priority goes before a later start",
            pods: vec![prio("p1", "1", 5, 100), prio("p2", "1", 10, 200)],
            preemptor: prio("hi", "1", 100, 0),
            pdbs: vec![],
            want: Ok((vec!["p1"], 0)),
        },
        Case {
            name: "both go when the pod needs the whole node, most important first",
            pods: vec![prio("p1", "1", 5, 100), prio("p2", "1", 10, 200)],
            preemptor: prio("hi", "2", 100, 0),
            pdbs: vec![],
            want: Ok((vec!["p2", "p1"], 0)),
        },
        Case {
            name: "pods of equal or higher priority stay: evicting the others is not enough",
            pods: vec![prio("p1", "1", 100, 100), prio("p2", "1", 10, 200)],
            preemptor: prio("hi", "2", 100, 0),
            pdbs: vec![],
            want: Err((Code::Unschedulable, "Insufficient cpu")),
        },
        Case {
            name: "no lower-priority pod",
            pods: vec![prio("p1", "2", 100, 100)],
            preemptor: prio("hi", "1", 100, 0),
            pdbs: vec![],
            want: Err((Code::UnschedulableAndUnresolvable, NO_VICTIMS)),
        },
        Case {
            name: "a pod a PDB protects is reprieved first",
            pods: vec![
                labelled(prio("p1", "1", 10, 100), "db"),
                prio("p2", "1", 10, 100),
            ],
            preemptor: prio("hi", "1", 100, 0),
            pdbs: vec![pdb("db", 0)],
            want: Ok((vec!["p2"], 0)),
        },
        Case {
            name: "a PDB violation counted when there is no other way",
            pods: vec![
                labelled(prio("p1", "1", 10, 100), "db"),
                prio("p2", "1", 10, 100),
            ],
            preemptor: prio("hi", "2", 100, 0),
            pdbs: vec![pdb("db", 0)],
            want: Ok((vec!["p1", "p2"], 1)),
        },
        Case {
            name: "a budget with room is no violation",
            pods: vec![labelled(prio("p1", "2", 10, 100), "db")],
            preemptor: prio("hi", "2", 100, 0),
            pdbs: vec![pdb("db", 1)],
            want: Ok((vec!["p1"], 0)),
        },
    ];
    for c in cases {
        let mut node = (*node_with("n", "2", c.pods)).clone();
        let mut state = CycleState::new();
        let (_, s) = fw.run_pre_filter(&mut state, &c.preemptor, &Snapshot::default());
        assert!(s.is_success(), "{}: {s}", c.name);
        let got = select_victims_on_node(
            &fw,
            &mut state,
            &c.preemptor,
            &mut node,
            &c.pdbs,
            &NominatedPods::default(),
        );
        match (got, c.want) {
            (Ok((victims, violations)), Ok((want, want_violations))) => {
                assert_eq!(names(&victims), want, "{}", c.name);
                assert_eq!(violations, want_violations, "{}", c.name);
            }
            (Err(s), Err((code, msg))) => {
                assert_eq!(s.code(), code, "{}", c.name);
                assert_eq!(s.message(), msg, "{}", c.name);
            }
            (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
        }
    }
}

fn candidate(node: &str, victims: Vec<Pod>, violations: usize) -> Candidate {
    Candidate {
        node: node.to_string(),
        victims: victims.into_iter().map(Arc::new).collect(),
        num_pdb_violations: violations,
    }
}

#[test]
fn the_node_picked_for_preemption() {
    let now = Timestamp::from_second(10_000).unwrap().as_nanosecond();
    let cases: Vec<(&str, Vec<Candidate>, &str)> = vec![
        (
            "fewest PDB violations",
            vec![
                candidate("a", vec![prio("x", "1", 1, 100)], 1),
                candidate("b", vec![prio("y", "1", 50, 100)], 0),
            ],
            "b",
        ),
        (
            "lowest highest-priority victim",
            vec![
                candidate("a", vec![prio("x", "1", 20, 100)], 0),
                candidate(
                    "b",
                    vec![prio("y", "1", 10, 100), prio("z", "1", 10, 100)],
                    0,
                ),
            ],
            "b",
        ),
        (
            "smallest sum of priorities",
            vec![
                candidate(
                    "a",
                    vec![prio("x", "1", 10, 100), prio("w", "1", 9, 100)],
                    0,
                ),
                candidate(
                    "b",
                    vec![prio("y", "1", 10, 100), prio("z", "1", 5, 100)],
                    0,
                ),
            ],
            "b",
        ),
        (
            "negative priorities do not favour more victims",
            vec![
                candidate(
                    "a",
                    vec![prio("x", "1", -10, 100), prio("w", "1", -10, 100)],
                    0,
                ),
                candidate("b", vec![prio("y", "1", -10, 100)], 0),
            ],
            "b",
        ),
        (
            "fewest victims",
            vec![
                candidate("a", vec![prio("x", "1", 0, 100), prio("w", "1", 0, 100)], 0),
                candidate("b", vec![prio("y", "1", 0, 100)], 0),
                candidate("c", vec![prio("z", "1", 0, 100), prio("v", "1", 0, 100)], 0),
            ],
            "b",
        ),
        (
            "latest start of the highest-priority victims",
            vec![
                candidate(
                    "a",
                    vec![prio("x", "1", 10, 100), prio("w", "1", 5, 900)],
                    0,
                ),
                candidate("b", vec![prio("y", "1", 10, 300), prio("z", "1", 5, 50)], 0),
            ],
            "b",
        ),
        (
            "a victim not started counts as starting now",
            vec![
                candidate("a", vec![prio("x", "1", 10, 100)], 0),
                candidate("b", vec![prio("y", "1", 10, 0)], 0),
            ],
            "b",
        ),
        (
            "ties: the first",
            vec![
                candidate("a", vec![prio("x", "1", 10, 100)], 0),
                candidate("b", vec![prio("y", "1", 10, 100)], 0),
            ],
            "a",
        ),
    ];
    for (name, candidates, want) in cases {
        let got = pick_one_node_for_preemption(&candidates, now).unwrap();
        assert_eq!(got.node, want, "{name}");
    }
    assert!(pick_one_node_for_preemption(&[], now).is_none());
}

#[test]
fn args_defaults_validation_and_candidate_counts() {
    let a = Args::default();
    assert_eq!(a.num_candidates(10), 10);
    assert_eq!(a.num_candidates(5000), 500);
    assert_eq!(a.num_candidates(600), 100);
    let a: Args = serde_json::from_value(json!({"minCandidateNodesPercentage": 50})).unwrap();
    assert_eq!(a.min_candidate_nodes_absolute, 100);
    let a = Args {
        min_candidate_nodes_percentage: 50,
        min_candidate_nodes_absolute: 1,
    };
    assert_eq!(a.num_candidates(10), 5);
    let bad = new(
        Some(&json!({"minCandidateNodesPercentage": 101})),
        None,
        None,
    );
    assert!(bad.err().unwrap().contains("not in valid range [0, 100]"));
    let bad = new(
        Some(&json!({"minCandidateNodesPercentage": 0, "minCandidateNodesAbsolute": 0})),
        None,
        None,
    );
    assert!(
        bad.err()
            .unwrap()
            .contains("cannot be zero at the same time")
    );
}

/// Schedules `pod` on `nodes` and, as the scheduling cycle does, runs PostFilter: the
/// nomination and the failure message.
fn attempt(
    fw: &Framework,
    nodes: Vec<Arc<NodeInfo>>,
    pod: &Pod,
    nominated: &NominatedPods,
) -> (Option<PostFilterResult>, String) {
    let snapshot = Snapshot::new(nodes);
    let mut state = CycleState::new();
    let err = Algorithm::default()
        .schedule_pod_with_nominated(fw, &mut state, pod, &snapshot, 0, nominated)
        .unwrap_err();
    let ScheduleError::Fit {
        num_all_nodes,
        mut diagnosis,
    } = err
    else {
        panic!("{err:?}");
    };
    let input = PostFilterInput {
        framework: fw,
        snapshot: &snapshot,
        node_to_status: &diagnosis.node_to_status,
        absent_status: diagnosis.absent_status.as_ref(),
        nominated,
        recorder: None,
    };
    let (result, status) = fw.run_post_filter(&state, pod, &input);
    diagnosis.post_filter_msg = status.message();
    (result, fit_error_message(num_all_nodes, &diagnosis))
}

#[test]
fn post_filter_nominates_or_explains() {
    let fw = framework();
    let full_of_high = || {
        vec![
            node_with("a", "2", vec![prio("a1", "2", 1000, 100)]),
            node_with("b", "2", vec![prio("b1", "2", 1000, 100)]),
            node_with("c", "2", vec![prio("c1", "2", 1000, 100)]),
        ]
    };
    let hi = prio("hi", "1", 100, 0);
    let (result, msg) = attempt(&fw, full_of_high(), &hi, &NominatedPods::default());
    // The double period is upstream's: the inner message ends in one and the separator adds
    // another.
    assert_eq!(
        msg,
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.."
    );
    // The nomination is cleared.
    assert_eq!(result.unwrap().nominated_node_name, "");

    // A node preemption cannot help (a taint) is not tried.
    let mut nodes = full_of_high();
    nodes[0] = Arc::new(NodeInfo::new(Arc::new(with_taints(
        node("a", "8", "100Gi"),
        &[("k", "v", "NoSchedule")],
    ))));
    let (_, msg) = attempt(&fw, nodes, &hi, &NominatedPods::default());
    assert_eq!(
        msg,
        "0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.."
    );

    // preemptionPolicy: Never.
    let mut never = hi.clone();
    never.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
    let nodes = vec![node_with("a", "2", vec![prio("low", "2", 1, 100)])];
    let (result, msg) = attempt(&fw, nodes, &never, &NominatedPods::default());
    assert!(result.is_none());
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.."
    );

    // The happy path: the node with the cheapest victims, and no message.
    let nodes = vec![
        node_with("a", "2", vec![prio("a1", "2", 50, 100)]),
        node_with(
            "b",
            "2",
            vec![prio("b1", "1", 10, 100), prio("b2", "1", 1000, 100)],
        ),
        node_with("c", "2", vec![prio("c1", "2", 1000, 100)]),
    ];
    let (result, msg) = attempt(&fw, nodes, &hi, &NominatedPods::default());
    assert_eq!(result.unwrap().nominated_node_name, "b");
    assert_eq!(msg, "0/3 nodes are available: 3 Insufficient cpu.");
}

#[test]
fn nominated_pods_keep_their_room() {
    let fw = framework();
    let node = || vec![node_with("a", "2", vec![prio("x", "1", 0, 100)])];
    let p = prio("p", "1", 10, 0);
    // A higher-priority pod nominated to the node takes the free CPU.
    let mut nominated = NominatedPods::default();
    nominated.insert("a", Arc::new(prio("nom", "1", 100, 0)));
    let snapshot = Snapshot::new(node());
    let got = Algorithm::default().schedule_pod_with_nominated(
        &fw,
        &mut CycleState::new(),
        &p,
        &snapshot,
        0,
        &nominated,
    );
    assert!(matches!(got, Err(ScheduleError::Fit { .. })), "{got:?}");
    // One of lower priority does not.
    let mut lower = NominatedPods::default();
    lower.insert("a", Arc::new(prio("nom", "1", 1, 0)));
    let got = Algorithm::default()
        .schedule_pod_with_nominated(&fw, &mut CycleState::new(), &p, &snapshot, 0, &lower)
        .unwrap();
    assert_eq!(got.node, "a");
}

#[test]
fn a_preemptor_waits_for_its_victims_on_the_nominated_node() {
    let fw = framework();
    let mut victim = prio("low", "2", 1, 100);
    victim.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(200).unwrap()));
    victim.status.get_or_insert_default().conditions =
        Some(vec![k8s_openapi::api::core::v1::PodCondition {
            type_: DISRUPTION_TARGET.into(),
            status: "True".into(),
            reason: Some(PREEMPTION_BY_SCHEDULER.into()),
            ..Default::default()
        }]);
    let mut hi = prio("hi", "2", 100, 0);
    hi.status.get_or_insert_default().nominated_node_name = Some("a".into());
    let nodes = vec![node_with("a", "2", vec![victim])];
    let (result, msg) = attempt(&fw, nodes, &hi, &NominatedPods::default());
    assert!(result.is_none());
    assert_eq!(
        msg,
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to a terminating pod on the nominated node.."
    );
}

#[test]
fn victims_get_the_disruption_target_condition_once() {
    let victim = prio("low", "1", 1, 100);
    let preemptor = prio("hi", "1", 100, 0);
    let patch = disruption_target_patch(&victim, &preemptor).unwrap();
    let c = &patch["status"]["conditions"][0];
    assert_eq!(c["type"], "DisruptionTarget");
    assert_eq!(c["reason"], "PreemptionByScheduler");
    assert_eq!(
        c["message"],
        "default-scheduler: preempting to accommodate a higher priority pod"
    );
    let mut marked = victim.clone();
    marked.status.get_or_insert_default().conditions =
        Some(vec![k8s_openapi::api::core::v1::PodCondition {
            type_: DISRUPTION_TARGET.into(),
            status: "True".into(),
            reason: Some(PREEMPTION_BY_SCHEDULER.into()),
            message: Some(
                "default-scheduler: preempting to accommodate a higher priority pod".into(),
            ),
            ..Default::default()
        }]);
    assert!(disruption_target_patch(&marked, &preemptor).is_none());
}

#[test]
fn the_gate_holds_preemptors_while_evicting() {
    let plugin = DefaultPreemption {
        args: Args::default(),
        client: None,
        pdbs: None,
        preempting: Arc::new(Mutex::new(HashSet::new())),
    };
    let p = prio("hi", "1", 100, 0);
    assert!(plugin.pre_enqueue(&p).is_success());
    lock(&plugin.preempting).insert("uid-hi".into());
    assert_eq!(
        plugin.pre_enqueue(&p).message(),
        "waiting for the preemption for this pod to be finished"
    );
}
