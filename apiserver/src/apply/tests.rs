use super::*;
use crate::schema::Schemas;
use serde_json::json;
use std::sync::OnceLock;

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| Schemas::build(&|_, _, _| true))
}

fn req<'a>(manager: &'a str, force: bool) -> Request<'a> {
    Request {
        manager,
        api_version: "apps/v1",
        force,
        subresource: None,
        now: "2026-11-27T00:00:00Z",
        schema: Node::kind(schemas(), "apps", "v1", "Deployment"),
    }
}

fn config(replicas: i64, labels: Value, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
}

fn entry<'v>(obj: &'v Value, manager: &str) -> Option<&'v Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
}

#[test]
fn apply_owns_what_it_applied() {
    let out = apply(
        None,
        &config(1, json!({"a": "1"}), "nginx"),
        &req("alice", false),
    )
    .unwrap();
    let e = entry(&out, "alice").unwrap();
    assert_eq!(e["operation"], "Apply");
    assert_eq!(
        e["fieldsV1"],
        json!({
            "f:metadata": {"f:labels": {"f:a": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
        })
    );
    assert_eq!(out["spec"]["replicas"], 1);
}

#[test]
fn another_manager_changing_a_field_conflicts_unless_forced() {
    let live = apply(
        None,
        &config(1, json!({"a": "1"}), "nginx"),
        &req("alice", false),
    )
    .unwrap();
    let err = apply(
        Some(&live),
        &config(2, json!({"a": "1"}), "nginx"),
        &req("bob", false),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas"
    );
    assert_eq!(
        err.causes,
        [(
            ".spec.replicas".to_string(),
            "conflict with \"alice\"".to_string()
        )]
    );

    // Agreeing on a value is no conflict: both own it.
    let shared = apply(
        Some(&live),
        &config(1, json!({"a": "1"}), "nginx"),
        &req("bob", false),
    )
    .unwrap();
    assert!(entry(&shared, "alice").is_some() && entry(&shared, "bob").is_some());

    let forced = apply(
        Some(&live),
        &config(2, json!({"a": "1"}), "nginx:2"),
        &req("bob", true),
    )
    .unwrap();
    assert_eq!(forced["spec"]["replicas"], 2);
    let alice = &entry(&forced, "alice").unwrap()["fieldsV1"];
    assert!(alice["f:spec"].get("f:replicas").is_none(), "{alice}");
    assert!(
        alice["f:metadata"]["f:labels"].get("f:a").is_some(),
        "{alice}"
    );
}

#[test]
fn fields_no_longer_applied_are_removed_unless_someone_else_owns_them() {
    let live = apply(
        None,
        &config(1, json!({"a": "1", "b": "2"}), "nginx"),
        &req("alice", false),
    )
    .unwrap();
    let live = apply(
        Some(&live),
        &config(1, json!({"b": "2"}), "nginx"),
        &req("bob", false),
    )
    .unwrap();
    let out = apply(
        Some(&live),
        &config(1, json!({}), "nginx"),
        &req("alice", false),
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["labels"],
        json!({"b": "2"}),
        "a goes, bob still owns b"
    );
}

#[test]
fn conflicts_with_several_fields_list_them_per_manager() {
    let live = apply(
        None,
        &config(1, json!({"a": "1"}), "nginx"),
        &req("alice", false),
    )
    .unwrap();
    let err = apply(
        Some(&live),
        &config(2, json!({"a": "1"}), "other"),
        &req("bob", false),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image"
    );
}

#[test]
fn an_update_owns_new_atomic_lists_and_maps() {
    let schema = Node::kind(schemas(), "apps", "v1", "Deployment");
    let old = json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}});
    let new = json!({"spec": {"selector": {"matchLabels": {"a": "b"}},
        "template": {"spec": {"containers": [{"name": "app", "args": ["x"]}]}}}});
    let changed = typed::changes(&old, &new, schema).changed.to_fields_v1();
    assert_eq!(changed["f:spec"]["f:selector"], json!({}), "{changed}");
    assert_eq!(
        changed["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"]["f:args"],
        json!({}),
        "{changed}"
    );
}
