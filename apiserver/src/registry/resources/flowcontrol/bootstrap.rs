//! The mandatory and suggested APF configuration upstream's apiserver ensures on start
//! (`k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap`), as v1 objects. Each carries the
//! annotation that lets the apiserver keep its spec up to date.

use serde_json::{Value, json};

/// Marks objects whose spec the apiserver maintains.
pub const AUTO_UPDATE_ANNOTATION: &str = "apf.kubernetes.io/autoupdate-spec";

fn metadata(name: &str) -> Value {
    json!({"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}})
}

fn limited(name: &str, shares: i32, lendable: i32, queuing: Option<(i32, i32, i32)>) -> Value {
    let limit_response = match queuing {
        Some((queues, hand_size, queue_length_limit)) => json!({
            "type": "Queue",
            "queuing": {"queues": queues, "handSize": hand_size, "queueLengthLimit": queue_length_limit},
        }),
        None => json!({"type": "Reject"}),
    };
    json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "PriorityLevelConfiguration",
        "metadata": metadata(name),
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": shares,
                "lendablePercent": lendable,
                "limitResponse": limit_response,
            },
        },
    })
}

/// Every bootstrap PriorityLevelConfiguration, mandatory ones first.
pub fn priority_levels() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "PriorityLevelConfiguration",
            "metadata": metadata("exempt"),
            "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}},
        }),
        limited("catch-all", 5, 0, None),
        limited("system", 30, 33, Some((64, 6, 50))),
        limited("node-high", 40, 25, Some((64, 6, 50))),
        limited("leader-election", 10, 0, Some((16, 4, 50))),
        limited("workload-high", 40, 50, Some((128, 6, 50))),
        limited("workload-low", 100, 90, Some((128, 6, 50))),
        limited("global-default", 20, 50, Some((128, 6, 50))),
    ]
}

fn groups(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "Group", "group": {"name": n}}))
        .collect()
}

fn users(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "User", "user": {"name": n}}))
        .collect()
}

fn kube_system_service_accounts(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"kind": "ServiceAccount", "serviceAccount": {"name": n, "namespace": "kube-system"}}))
        .collect()
}

fn resource_rule(
    verbs: &[&str],
    groups: &[&str],
    resources: &[&str],
    namespaces: &[&str],
    cluster: bool,
) -> Value {
    let mut rule = json!({"verbs": verbs, "apiGroups": groups, "resources": resources, "namespaces": namespaces});
    if cluster {
        rule["clusterScope"] = json!(true);
    }
    rule
}

fn everything() -> (Vec<Value>, Vec<Value>) {
    (
        vec![resource_rule(&["*"], &["*"], &["*"], &["*"], true)],
        vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
    )
}

fn flow_schema(
    name: &str,
    priority_level: &str,
    precedence: i32,
    distinguisher: Option<&str>,
    subjects: Vec<Value>,
    resource_rules: Vec<Value>,
    non_resource_rules: Vec<Value>,
) -> Value {
    let mut rule = json!({"subjects": subjects});
    if !resource_rules.is_empty() {
        rule["resourceRules"] = json!(resource_rules);
    }
    if !non_resource_rules.is_empty() {
        rule["nonResourceRules"] = json!(non_resource_rules);
    }
    let mut spec = json!({
        "priorityLevelConfiguration": {"name": priority_level},
        "matchingPrecedence": precedence,
        "rules": [rule],
    });
    if let Some(d) = distinguisher {
        spec["distinguisherMethod"] = json!({"type": d});
    }
    json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": metadata(name),
        "spec": spec,
    })
}

/// Every bootstrap FlowSchema, mandatory ones first.
pub fn flow_schemas() -> Vec<Value> {
    let all = || everything();
    let leader_election_rules = |core_ns: &str| {
        vec![
            resource_rule(
                &["get", "create", "update"],
                &[""],
                &["endpoints", "configmaps"],
                &[core_ns],
                false,
            ),
            resource_rule(
                &["get", "create", "update"],
                &["coordination.k8s.io"],
                &["leases"],
                &["*"],
                false,
            ),
        ]
    };
    let mut out = Vec::new();
    let (r, n) = all();
    out.push(flow_schema(
        "exempt",
        "exempt",
        1,
        None,
        groups(&["system:masters"]),
        r,
        n,
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "catch-all",
        "catch-all",
        10000,
        Some("ByUser"),
        groups(&["system:unauthenticated", "system:authenticated"]),
        r,
        n,
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "system-nodes",
        "system",
        500,
        Some("ByUser"),
        groups(&["system:nodes"]),
        r,
        n,
    ));
    out.push(flow_schema(
        "system-node-high",
        "node-high",
        400,
        Some("ByUser"),
        groups(&["system:nodes"]),
        vec![
            resource_rule(&["*"], &[""], &["nodes", "nodes/status"], &["*"], true),
            resource_rule(&["*"], &["coordination.k8s.io"], &["leases"], &["*"], false),
        ],
        Vec::new(),
    ));
    out.push(flow_schema(
        "probes",
        "exempt",
        2,
        None,
        groups(&["system:unauthenticated", "system:authenticated"]),
        Vec::new(),
        vec![json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]})],
    ));
    let mut subjects = users(&["system:kube-controller-manager", "system:kube-scheduler"]);
    subjects.extend(kube_system_service_accounts(&["*"]));
    out.push(flow_schema(
        "system-leader-election",
        "leader-election",
        100,
        Some("ByUser"),
        subjects,
        leader_election_rules("kube-system"),
        Vec::new(),
    ));
    out.push(flow_schema(
        "workload-leader-election",
        "leader-election",
        200,
        Some("ByUser"),
        kube_system_service_accounts(&["*"]),
        leader_election_rules("*"),
        Vec::new(),
    ));
    let mut subjects = users(&["system:kube-controller-manager"]);
    subjects.extend(kube_system_service_accounts(&[
        "endpoint-controller",
        "endpointslicemirroring-controller",
    ]));
    out.push(flow_schema(
        "endpoint-controller",
        "workload-high",
        150,
        Some("ByUser"),
        subjects,
        vec![resource_rule(
            &["get", "create", "update"],
            &[""],
            &["endpoints"],
            &["*"],
            false,
        )],
        Vec::new(),
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "kube-controller-manager",
        "workload-high",
        800,
        Some("ByNamespace"),
        users(&["system:kube-controller-manager"]),
        r,
        n,
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "kube-scheduler",
        "workload-high",
        800,
        Some("ByNamespace"),
        users(&["system:kube-scheduler"]),
        r,
        n,
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "kube-system-service-accounts",
        "workload-high",
        900,
        Some("ByNamespace"),
        kube_system_service_accounts(&["*"]),
        r,
        n,
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "service-accounts",
        "workload-low",
        9000,
        Some("ByUser"),
        groups(&["system:serviceaccounts"]),
        r,
        n,
    ));
    let (r, n) = all();
    out.push(flow_schema(
        "global-default",
        "global-default",
        9900,
        Some("ByUser"),
        groups(&["system:unauthenticated", "system:authenticated"]),
        r,
        n,
    ));
    out
}

/// The condition upstream's APF controller sets on a FlowSchema whose priority level exists.
pub fn not_dangling(priority_level: &str, now: &str) -> Value {
    json!({
        "type": "Dangling",
        "status": "False",
        "lastTransitionTime": now,
        "reason": "Found",
        "message": format!("This FlowSchema references the PriorityLevelConfiguration object named {priority_level:?} and it exists"),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{
        flowschemas::FlowSchemas, prioritylevelconfigurations::PriorityLevelConfigurations,
    };
    use super::*;
    use crate::registry::strategy::Strategy;

    #[test]
    fn bootstrap_objects_are_valid_and_unchanged_by_defaulting() {
        for pl in priority_levels() {
            let mut d = PriorityLevelConfigurations
                .decode(pl.clone())
                .unwrap()
                .value;
            PriorityLevelConfigurations.default(&mut d);
            assert_eq!(d, pl, "{}", pl["metadata"]["name"]);
            assert!(
                PriorityLevelConfigurations.validate(&d).is_empty(),
                "{}",
                pl["metadata"]["name"]
            );
        }
        let levels: Vec<Value> = priority_levels()
            .iter()
            .map(|p| p["metadata"]["name"].clone())
            .collect();
        let schemas = flow_schemas();
        assert_eq!(schemas.len(), 13);
        for fs in schemas {
            let mut d = FlowSchemas.decode(fs.clone()).unwrap().value;
            FlowSchemas.default(&mut d);
            assert_eq!(d, fs, "{}", fs["metadata"]["name"]);
            let errs = FlowSchemas.validate(&d);
            assert!(errs.is_empty(), "{}: {errs:?}", fs["metadata"]["name"]);
            assert!(levels.contains(&fs["spec"]["priorityLevelConfiguration"]["name"]));
        }
    }
}
