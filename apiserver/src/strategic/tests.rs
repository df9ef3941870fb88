use super::*;
use crate::schema::Schemas;
use serde_json::json;
use std::sync::OnceLock;

fn schemas() -> &'static Schemas {
    static S: OnceLock<Schemas> = OnceLock::new();
    S.get_or_init(|| Schemas::build(&|_, _, _| true))
}

fn deployment_patch(original: Value, patch: Value) -> Result<Value> {
    let root = Node::kind(schemas(), "apps", "v1", "Deployment");
    apply(original, &patch, root)
}

fn deployment(containers: Value) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1", "b": "2"}},
           "spec": {"template": {"spec": {"containers": containers}}}})
}

fn containers(v: &Value) -> &Value {
    &v["spec"]["template"]["spec"]["containers"]
}

#[test]
fn containers_merge_by_name_and_env_by_name() {
    let original = deployment(json!([
        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
        {"name": "sidecar", "image": "side:1"},
    ]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "app:2", "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
    ]}}}});
    let out = deployment_patch(original, patch).unwrap();
    assert_eq!(
        containers(&out),
        &json!([
            {"name": "app", "image": "app:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
            {"name": "sidecar", "image": "side:1"},
        ])
    );
}

#[test]
fn atomic_lists_are_replaced_and_null_deletes() {
    let original = deployment(json!([{"name": "app", "image": "a", "args": ["x", "y"]}]));
    let patch = json!({"metadata": {"labels": {"a": null, "c": "3"}},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "args": ["z"]}]}}}});
    let out = deployment_patch(original, patch).unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
    assert_eq!(containers(&out)[0]["args"], json!(["z"]));
}

#[test]
fn list_directives_delete_and_replace_elements() {
    let original = deployment(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}]));
    let delete = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}}});
    let out = deployment_patch(original.clone(), delete).unwrap();
    assert_eq!(containers(&out), &json!([{"name": "b", "image": "b"}]));
    let replace = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "c", "image": "c"}]}}}});
    let out = deployment_patch(original, replace).unwrap();
    assert_eq!(containers(&out), &json!([{"name": "c", "image": "c"}]));
}

#[test]
fn map_directives_replace_and_delete() {
    let original = deployment(json!([{"name": "a", "image": "a"}]));
    let out = deployment_patch(
        original.clone(),
        json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"only": "this"}));
    let out = deployment_patch(
        original.clone(),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({}));
    let err = deployment_patch(
        original,
        json!({"metadata": {"labels": {"$patch": "bogus"}}}),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BadPatch(m) if m.starts_with("Unknown patch type: \"bogus\"")));
}

#[test]
fn primitive_merge_lists_union_and_delete_from() {
    let root = Node::kind(schemas(), "", "v1", "ConfigMap");
    let original = json!({"metadata": {"name": "c", "finalizers": ["a", "b"]}});
    let out = apply(
        original.clone(),
        &json!({"metadata": {"finalizers": ["c", "a"]}}),
        root,
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
    let out = apply(
        original,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        root,
    )
    .unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn set_element_order_orders_the_merged_list() {
    let original = deployment(json!([{"name": "a"}, {"name": "b"}]));
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
        "containers": [{"name": "c", "image": "c"}],
    }}}});
    let out = deployment_patch(original, patch).unwrap();
    let names: Vec<&str> = containers(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c", "a", "b"]);
}

#[test]
fn retain_keys_drops_unlisted_fields() {
    let original = deployment(json!([]));
    let mut original = original;
    original["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = deployment_patch(original.clone(), patch).unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    assert!(matches!(
        deployment_patch(original, bad),
        Err(Error::Unprocessable(_))
    ));
}

#[test]
fn merge_key_is_required_in_merged_elements() {
    let original = deployment(json!([{"name": "a"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}});
    let err = deployment_patch(original, patch).unwrap_err();
    assert!(
        matches!(err, Error::BadPatch(m) if m.contains("does not contain declared merge key: name"))
    );
}

#[test]
fn unknown_fields_merge_like_json_merge_patch() {
    let original = json!({"metadata": {"name": "x"}, "spec": {"custom": {"a": [1, 2]}}});
    let out = deployment_patch(original, json!({"spec": {"custom": {"a": [3], "b": 1}}})).unwrap();
    assert_eq!(out["spec"]["custom"], json!({"a": [3], "b": 1}));
}
