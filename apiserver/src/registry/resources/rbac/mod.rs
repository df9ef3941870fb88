//! `rbac.authorization.k8s.io/v1`: Roles, RoleBindings, ClusterRoles and ClusterRoleBindings,
//! with the policy-rule, role-ref and subject checks their strategies share.

pub mod clusterrolebindings;
pub mod clusterroles;
pub mod rolebindings;
pub mod roles;

use super::shared::{arr, go_slice, invalid_rendered, s};
use crate::registry::Resource;
use crate::registry::table::{self, AGE, Column, NAME};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_path_segment_name, name_is_dns_subdomain};
use apimachinery::{FieldError, FieldErrors};
use serde_json::{Value, json};

pub const GROUP: &str = "rbac.authorization.k8s.io";

pub fn resources() -> Vec<Resource> {
    vec![
        clusterrolebindings::resource(),
        clusterroles::resource(),
        rolebindings::resource(),
        roles::resource(),
    ]
}

/// `ValidatePolicyRule`: `rules[i]` of a Role or ClusterRole.
fn validate_policy_rule(rule: &Value, namespaced: bool, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let len = |k: &str| rule.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    if len("verbs") == 0 {
        errs.push(FieldError::required(
            child(path, "verbs"),
            "verbs must contain at least one value",
        ));
    }
    if len("nonResourceURLs") > 0 {
        let urls = go_slice("string", arr(rule, "/nonResourceURLs"));
        if namespaced {
            errs.push(invalid_rendered(
                &child(path, "nonResourceURLs"),
                &urls,
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if len("apiGroups") > 0 || len("resources") > 0 || len("resourceNames") > 0 {
            errs.push(invalid_rendered(
                &child(path, "nonResourceURLs"),
                &urls,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errs;
    }
    if len("apiGroups") == 0 {
        errs.push(FieldError::required(
            child(path, "apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if len("resources") == 0 {
        errs.push(FieldError::required(
            child(path, "resources"),
            "resource rules must supply at least one resource",
        ));
    }
    errs
}

fn validate_rules(obj: &Value, namespaced: bool) -> FieldErrors {
    arr(obj, "/rules")
        .iter()
        .enumerate()
        .flat_map(|(i, r)| validate_policy_rule(r, namespaced, &index("rules", i)))
        .collect()
}

/// The roleRef and subjects checks of `ValidateRoleBinding`/`ValidateClusterRoleBinding`.
fn validate_binding(obj: &Value, namespaced: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let api_group = s(obj, "/roleRef/apiGroup");
    if api_group != GROUP {
        errs.push(FieldError::not_supported(
            "roleRef.apiGroup",
            api_group,
            &[GROUP],
        ));
    }
    let kind = s(obj, "/roleRef/kind");
    if namespaced {
        if !matches!(kind, "Role" | "ClusterRole") {
            errs.push(FieldError::not_supported(
                "roleRef.kind",
                kind,
                &["Role", "ClusterRole"],
            ));
        }
    } else if kind != "ClusterRole" {
        errs.push(FieldError::not_supported(
            "roleRef.kind",
            kind,
            &["ClusterRole"],
        ));
    }
    let name = s(obj, "/roleRef/name");
    if name.is_empty() {
        errs.push(FieldError::required("roleRef.name", ""));
    } else {
        for msg in is_path_segment_name(name) {
            errs.push(FieldError::invalid("roleRef.name", name, msg));
        }
    }
    for (i, subject) in arr(obj, "/subjects").iter().enumerate() {
        errs.extend(validate_subject(subject, namespaced, &index("subjects", i)));
    }
    errs
}

/// `ValidateRoleBindingSubject`.
fn validate_subject(subject: &Value, namespaced: bool, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let get = |k: &str| subject.get(k).and_then(Value::as_str).unwrap_or_default();
    let name = get("name");
    if name.is_empty() {
        errs.push(FieldError::required(child(path, "name"), ""));
    }
    match get("kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                for msg in name_is_dns_subdomain(name, false) {
                    errs.push(FieldError::invalid(child(path, "name"), name, msg));
                }
            }
            if !get("apiGroup").is_empty() {
                errs.push(FieldError::not_supported(
                    child(path, "apiGroup"),
                    get("apiGroup"),
                    &[""],
                ));
            }
            if !namespaced && get("namespace").is_empty() {
                errs.push(FieldError::required(child(path, "namespace"), ""));
            }
        }
        "User" | "Group" => {
            if get("apiGroup") != GROUP {
                errs.push(FieldError::not_supported(
                    child(path, "apiGroup"),
                    get("apiGroup"),
                    &[GROUP],
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            child(path, "kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
    }
    errs
}

/// `ValidateRoleBindingUpdate`: the role a binding grants never changes.
fn validate_role_ref_unchanged(new: &Value, old: &Value) -> FieldErrors {
    if new.get("roleRef") == old.get("roleRef") {
        return Vec::new();
    }
    let rendered = format!(
        "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
        s(new, "/roleRef/apiGroup"),
        s(new, "/roleRef/kind"),
        s(new, "/roleRef/name"),
    );
    vec![invalid_rendered(
        "roleRef",
        &rendered,
        "cannot change roleRef",
    )]
}

/// v1 defaulting: roleRef.apiGroup and the apiGroup of User and Group subjects.
fn default_binding(obj: &mut Value) {
    if let Some(r) = obj.get_mut("roleRef").and_then(Value::as_object_mut)
        && r.get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .is_empty()
    {
        r.insert("apiGroup".into(), json!(GROUP));
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for sub in subjects {
            // ServiceAccounts default to the core group, which v1 leaves out of the JSON.
            let kind = sub.get("kind").and_then(Value::as_str).unwrap_or_default();
            if matches!(kind, "User" | "Group")
                && let Some(m) = sub.as_object_mut()
                && m.get("apiGroup")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .is_empty()
            {
                m.insert("apiGroup".into(), json!(GROUP));
            }
        }
    }
}

const BINDING_ROLE_DESCRIPTION: &str = "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";
const CLUSTER_BINDING_ROLE_DESCRIPTION: &str = "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error.";

const BINDING_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Role", "string", BINDING_ROLE_DESCRIPTION),
    AGE,
    Column::new("Users", "string", "Users in the roleBinding").wide(),
    Column::new("Groups", "string", "Groups in the roleBinding").wide(),
    Column::new(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    )
    .wide(),
];

const CLUSTER_BINDING_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Role", "string", CLUSTER_BINDING_ROLE_DESCRIPTION),
    AGE,
    Column::new("Users", "string", "Users in the clusterRoleBinding").wide(),
    Column::new("Groups", "string", "Groups in the clusterRoleBinding").wide(),
    Column::new(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    )
    .wide(),
];

/// A binding's row: name, `Kind/name` of its role, age, then users, groups and
/// `namespace/name` service accounts as `rbac.SubjectsStrings` splits them.
fn binding_row(obj: &Value) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for sub in arr(obj, "/subjects") {
        let get = |k: &str| sub.get(k).and_then(Value::as_str).unwrap_or_default();
        match get("kind") {
            "ServiceAccount" => sas.push(format!("{}/{}", get("namespace"), get("name"))),
            "User" => users.push(get("name").to_string()),
            "Group" => groups.push(get("name").to_string()),
            _ => {}
        }
    }
    vec![
        table::name(obj),
        json!(format!(
            "{}/{}",
            s(obj, "/roleRef/kind"),
            s(obj, "/roleRef/name")
        )),
        table::age(obj),
        json!(users.join(", ")),
        json!(groups.join(", ")),
        json!(sas.join(", ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn policy_rules() {
        let role = json!({"rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": []},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]},
        ]});
        assert_eq!(
            messages(&validate_rules(&role, true)),
            vec![
                "rules[1].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[1].resources: Required value: resource rules must supply at least one resource",
                "rules[2].nonResourceURLs: Invalid value: []string{\"/healthz\"}: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        assert_eq!(validate_rules(&role, false).len(), 3);
    }

    #[test]
    fn bindings_default_and_validate() {
        let mut rb = json!({
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "default"},
                {"kind": "Robot", "name": "x"},
            ],
        });
        default_binding(&mut rb);
        assert_eq!(rb["roleRef"]["apiGroup"], GROUP);
        assert_eq!(rb["subjects"][0]["apiGroup"], GROUP);
        assert!(rb["subjects"][1].get("apiGroup").is_none());
        assert_eq!(
            messages(&validate_binding(&rb, true)),
            vec![
                "subjects[2].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\""
            ]
        );
        let errs = messages(&validate_binding(&rb, false));
        assert!(
            errs.contains(
                &"roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""
                    .to_string()
            )
        );
        assert!(errs.contains(&"subjects[1].namespace: Required value".to_string()));
    }

    #[test]
    fn role_ref_is_immutable() {
        let old = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "a"}});
        let new = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "b"}});
        assert_eq!(
            messages(&validate_role_ref_unchanged(&new, &old)),
            vec![
                "roleRef: Invalid value: rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"Role\", Name:\"b\"}: cannot change roleRef"
            ]
        );
    }

    #[test]
    fn binding_rows() {
        let rb = json!({
            "metadata": {"name": "rb"},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": "view"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "User", "name": "bob"},
                {"kind": "ServiceAccount", "name": "default", "namespace": "ns"},
            ],
        });
        let row = binding_row(&rb);
        assert_eq!(row[1], "ClusterRole/view");
        assert_eq!(row[3], "alice, bob");
        assert_eq!(row[4], "");
        assert_eq!(row[5], "ns/default");
    }
}
