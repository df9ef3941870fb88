//! FlowSchemas: classify requests by subject and target into a priority level. Spec changes
//! bump the generation; the APF controller reports through `status`. Printed rows carry the
//! `Dangling` condition as MISSINGPL (`?` until a controller has looked).

use super::GROUP;
use crate::registry::resources::shared::{arr, go_slice, has, invalid_rendered, object_at, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_dns1123_label, name_is_dns_subdomain};
use apimachinery::{FieldError, FieldErrorKind, FieldErrors, meta};
use k8s_openapi::api::flowcontrol::v1::FlowSchema;
use serde_json::{Value, json};

/// The highest matching precedence.
pub const MAX_MATCHING_PRECEDENCE: i64 = 10000;
const DEFAULT_MATCHING_PRECEDENCE: i64 = 1000;
const DISTINGUISHERS: &[&str] = &["ByNamespace", "ByUser"];
const SUBJECT_KINDS: &[&str] = &["Group", "ServiceAccount", "User"];
const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "proxy",
    "update",
    "watch",
];
const NS_INTRO: &str = "each member of this list must be '*' or a DNS-1123 label; ";

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(GROUP, "v1", "FlowSchema")];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "flowschemas",
            "FlowSchema",
            "flowschema",
            false,
        )
        .subresources(SUBRESOURCES),
        FlowSchemas,
    )
}

pub struct FlowSchemas;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "PriorityLevel",
        "string",
        "`name` is the name of the priority level configuration being referenced Required.",
    ),
    Column::new(
        "MatchingPrecedence",
        "string",
        "`matchingPrecedence` is used to choose among the FlowSchemas that match a given request. The chosen FlowSchema is among those with the numerically lowest (which we take to be logically highest) MatchingPrecedence.  Each MatchingPrecedence value must be ranged in [1,10000]. Note that if the precedence is not specified, it will be set to 1000 as default.",
    ),
    Column::new(
        "DistinguisherMethod",
        "string",
        "`distinguisherMethod` defines how to compute the flow distinguisher for requests that match this schema. `nil` specifies that the distinguisher is disabled and thus will always be the empty string.",
    ),
    AGE,
    Column::new(
        "MissingPL",
        "string",
        "references a broken or non-existent PriorityLevelConfiguration",
    ),
];

fn validate_verbs(rule: &Value, path: &str, errs: &mut FieldErrors) {
    let verbs = arr(rule, "/verbs");
    let vp = child(path, "verbs");
    if verbs.is_empty() {
        errs.push(FieldError::required(
            vp,
            "verbs must contain at least one value",
        ));
    } else if verbs.iter().any(|v| v == "*") {
        if verbs.len() > 1 {
            errs.push(invalid_rendered(
                &vp,
                &go_slice("string", verbs),
                "if '*' is present, must not specify other verbs",
            ));
        }
    } else if verbs
        .iter()
        .any(|v| !VERBS.contains(&v.as_str().unwrap_or_default()))
    {
        let quoted: Vec<String> = VERBS.iter().map(|v| format!("{v:?}")).collect();
        errs.push(FieldError::new(
            FieldErrorKind::NotSupported,
            vp,
            format!(
                "{}: supported values: {}",
                go_slice("string", verbs),
                quoted.join(", ")
            ),
        ));
    }
}

fn validate_subject(subject: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let kind = s(subject, "/kind");
    let forbid = |errs: &mut FieldErrors, field: &str, kind_name: &str| {
        if has(subject, &format!("/{field}")) {
            errs.push(FieldError::forbidden(
                child(path, field),
                format!("{field} is forbidden when subject kind is not '{kind_name}'"),
            ));
        }
    };
    match kind {
        "ServiceAccount" => {
            let sp = child(path, "serviceAccount");
            match subject.get("serviceAccount").filter(|v| !v.is_null()) {
                None => errs.push(FieldError::required(
                    sp,
                    "serviceAccount is required when subject kind is 'ServiceAccount'",
                )),
                Some(sa) => {
                    let name = s(sa, "/name");
                    if name.is_empty() {
                        errs.push(FieldError::required(child(&sp, "name"), ""));
                    } else if name != "*" {
                        for m in name_is_dns_subdomain(name, false) {
                            errs.push(FieldError::invalid(child(&sp, "name"), name, m));
                        }
                    }
                    let ns = s(sa, "/namespace");
                    if ns.is_empty() {
                        errs.push(FieldError::required(
                            child(&sp, "namespace"),
                            "must specify namespace for service account",
                        ));
                    } else {
                        for m in is_dns1123_label(ns) {
                            errs.push(FieldError::invalid(child(&sp, "namespace"), ns, m));
                        }
                    }
                }
            }
            forbid(&mut errs, "user", "User");
            forbid(&mut errs, "group", "Group");
        }
        "User" | "Group" => {
            let field = if kind == "User" { "user" } else { "group" };
            let fp = child(path, field);
            match subject.get(field).filter(|v| !v.is_null()) {
                None => errs.push(FieldError::required(
                    fp,
                    format!("{field} is required when subject kind is '{kind}'"),
                )),
                Some(v) => {
                    if s(v, "/name").is_empty() {
                        errs.push(FieldError::required(child(&fp, "name"), ""));
                    }
                }
            }
            forbid(&mut errs, "serviceAccount", "ServiceAccount");
            if kind == "User" {
                forbid(&mut errs, "group", "Group");
            } else {
                forbid(&mut errs, "user", "User");
            }
        }
        other => errs.push(FieldError::not_supported(
            child(path, "kind"),
            other,
            SUBJECT_KINDS,
        )),
    }
    errs
}

fn validate_resource_rule(rule: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    validate_verbs(rule, path, &mut errs);
    for (field, what) in [("apiGroups", "api group"), ("resources", "resource")] {
        let items = arr(rule, &format!("/{field}"));
        if items.is_empty() {
            errs.push(FieldError::required(
                child(path, field),
                format!("resource rules must supply at least one {what}"),
            ));
        } else if items.len() > 1 && items.iter().any(|v| v == "*") {
            let plural = if field == "apiGroups" {
                "api groups"
            } else {
                "resources"
            };
            errs.push(invalid_rendered(
                &child(path, field),
                &go_slice("string", items),
                &format!("if '*' is present, must not specify other {plural}"),
            ));
        }
    }
    let namespaces = arr(rule, "/namespaces");
    let cluster = rule
        .get("clusterScope")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if namespaces.is_empty() && !cluster {
        errs.push(FieldError::required(
            child(path, "namespaces"),
            "resource rules that are not cluster scoped must supply at least one namespace",
        ));
    } else if namespaces.iter().any(|v| v == "*") {
        if namespaces.len() > 1 {
            errs.push(invalid_rendered(
                &child(path, "namespaces"),
                &go_slice("string", namespaces),
                "if '*' is present, must not specify other namespaces",
            ));
        }
    } else {
        for (i, ns) in namespaces.iter().enumerate() {
            let ns = ns.as_str().unwrap_or_default();
            for m in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(
                    index(&child(path, "namespaces"), i),
                    ns,
                    format!("{NS_INTRO}{m}"),
                ));
            }
        }
    }
    errs
}

fn validate_non_resource_rule(rule: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    validate_verbs(rule, path, &mut errs);
    let urls = arr(rule, "/nonResourceURLs");
    let up = child(path, "nonResourceURLs");
    if urls.is_empty() {
        errs.push(FieldError::required(
            up,
            "nonResourceURLs must contain at least one value",
        ));
    } else if urls.iter().any(|v| v == "*") {
        if urls.len() > 1 {
            errs.push(invalid_rendered(
                &up,
                &go_slice("string", urls),
                "if '*' is present, must not specify other non-resource URLs",
            ));
        }
    } else {
        for (i, u) in urls.iter().enumerate() {
            let u = u.as_str().unwrap_or_default();
            if let Some(why) = non_resource_url_problem(u) {
                errs.push(FieldError::invalid(index(&up, i), u, why));
            }
        }
    }
    errs
}

/// `ValidateNonResourceURLPath`.
fn non_resource_url_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("must not be empty");
    }
    if path == "/" {
        return None;
    }
    if !path.starts_with('/') {
        return Some("must start with slash");
    }
    if path.contains(' ') {
        return Some("must not contain white-space");
    }
    if path.contains("//") {
        return Some("must not contain double slash");
    }
    let wildcards = path.matches('*').count();
    if wildcards > 1 || (wildcards == 1 && !path.ends_with("/*")) {
        return Some("wildcard can only do suffix glob matching");
    }
    None
}

/// The mandatory FlowSchemas (`exempt`, `catch-all`) keep their bootstrap spec.
fn validate_mandatory(obj: &Value) -> Option<FieldError> {
    let name = meta::name(obj);
    if !matches!(name, "exempt" | "catch-all") {
        return None;
    }
    let fixed = super::bootstrap::flow_schemas()
        .into_iter()
        .find(|fs| fs["metadata"]["name"] == name)?;
    (obj.get("spec") != fixed.get("spec")).then(|| {
        FieldError::invalid(
            "spec",
            obj.get("spec").cloned().unwrap_or(Value::Null),
            format!("spec of '{name}' must equal the fixed value"),
        )
    })
}

/// `ValidateFlowSchemaSpec` (without the fixed-spec check of the mandatory schemas).
fn validate_spec(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let name = meta::name(obj);
    let precedence = obj
        .pointer("/spec/matchingPrecedence")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let pp = "spec.matchingPrecedence";
    if precedence <= 0 {
        errs.push(FieldError::invalid(
            pp,
            precedence,
            "must be a positive value",
        ));
    }
    if precedence > MAX_MATCHING_PRECEDENCE {
        errs.push(FieldError::invalid(
            pp,
            precedence,
            format!("must not be greater than {MAX_MATCHING_PRECEDENCE}"),
        ));
    }
    if precedence == 1 && name != "exempt" {
        errs.push(FieldError::invalid(
            pp,
            precedence,
            "only the schema named 'exempt' may have matchingPrecedence 1",
        ));
    }
    if let Some(dm) = obj
        .pointer("/spec/distinguisherMethod")
        .filter(|v| !v.is_null())
    {
        let t = s(dm, "/type");
        if !DISTINGUISHERS.contains(&t) {
            let quoted: Vec<String> = DISTINGUISHERS.iter().map(|v| format!("{v:?}")).collect();
            errs.push(FieldError::new(
                FieldErrorKind::NotSupported,
                "spec.distinguisherMethod.type",
                format!(
                    "flowcontrol.FlowDistinguisherMethod{{Type:{t:?}}}: supported values: {}",
                    quoted.join(", ")
                ),
            ));
        }
    }
    let pl = s(obj, "/spec/priorityLevelConfiguration/name");
    if pl.is_empty() {
        errs.push(FieldError::required(
            "spec.priorityLevelConfiguration.name",
            "must reference a priority level",
        ));
    } else {
        for m in name_is_dns_subdomain(pl, false) {
            errs.push(FieldError::invalid(
                "spec.priorityLevelConfiguration.name",
                pl,
                m,
            ));
        }
    }
    for (i, rule) in arr(obj, "/spec/rules").iter().enumerate() {
        let rp = index("spec.rules", i);
        let subjects = arr(rule, "/subjects");
        if subjects.is_empty() {
            errs.push(FieldError::required(
                child(&rp, "subjects"),
                "subjects must contain at least one value",
            ));
        }
        for (j, subject) in subjects.iter().enumerate() {
            errs.extend(validate_subject(
                subject,
                &index(&child(&rp, "subjects"), j),
            ));
        }
        let resource_rules = arr(rule, "/resourceRules");
        let non_resource_rules = arr(rule, "/nonResourceRules");
        if resource_rules.is_empty() && non_resource_rules.is_empty() {
            errs.push(FieldError::required(
                rp.clone(),
                "at least one of resourceRules and nonResourceRules has to be non-empty",
            ));
        }
        for (j, r) in resource_rules.iter().enumerate() {
            errs.extend(validate_resource_rule(
                r,
                &index(&child(&rp, "resourceRules"), j),
            ));
        }
        for (j, r) in non_resource_rules.iter().enumerate() {
            errs.extend(validate_non_resource_rule(
                r,
                &index(&child(&rp, "nonResourceRules"), j),
            ));
        }
    }
    errs
}

impl Strategy for FlowSchemas {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<FlowSchema>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let spec = object_at(obj, &["spec"]);
        let precedence = spec.get("matchingPrecedence").and_then(Value::as_i64);
        if precedence.unwrap_or(0) == 0 {
            spec.insert(
                "matchingPrecedence".into(),
                json!(DEFAULT_MATCHING_PRECEDENCE),
            );
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = validate_spec(obj);
        errs.extend(validate_mandatory(obj));
        errs
    }

    fn validate_status_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, c) in arr(new, "/status/conditions").iter().enumerate() {
            let p = index("status.conditions", i);
            let t = s(c, "/type");
            if !seen.insert(t) {
                errs.push(FieldError::duplicate(child(&p, "type"), t));
            }
            if t.is_empty() {
                errs.push(FieldError::required(child(&p, "type"), "must not be empty"));
            }
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let distinguisher = match s(obj, "/spec/distinguisherMethod/type") {
            "" => "<none>",
            t => t,
        };
        let missing = arr(obj, "/status/conditions")
            .iter()
            .find(|c| s(c, "/type") == "Dangling")
            .map_or("?", |c| s(c, "/status"));
        vec![
            table::name(obj),
            json!(s(obj, "/spec/priorityLevelConfiguration/name")),
            json!(
                obj.pointer("/spec/matchingPrecedence")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
            ),
            json!(distinguisher),
            table::age(obj),
            json!(missing),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(obj: &Value) -> Vec<String> {
        FlowSchemas
            .validate(obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults_precedence() {
        let mut fs = json!({"spec": {"priorityLevelConfiguration": {"name": "x"}}});
        FlowSchemas.default(&mut fs);
        assert_eq!(fs["spec"]["matchingPrecedence"], 1000);
    }

    #[test]
    fn validates_spec() {
        let fs = json!({"metadata": {"name": "mine"}, "spec": {
            "matchingPrecedence": 1,
            "distinguisherMethod": {"type": "ByPod"},
            "priorityLevelConfiguration": {"name": ""},
            "rules": [{"subjects": [{"kind": "User"}], "resourceRules": [{"verbs": ["get", "fly"], "apiGroups": [""], "resources": ["pods"]}]}],
        }});
        assert_eq!(
            messages(&fs),
            vec![
                "spec.matchingPrecedence: Invalid value: 1: only the schema named 'exempt' may have matchingPrecedence 1",
                "spec.distinguisherMethod.type: Unsupported value: flowcontrol.FlowDistinguisherMethod{Type:\"ByPod\"}: supported values: \"ByNamespace\", \"ByUser\"",
                "spec.priorityLevelConfiguration.name: Required value: must reference a priority level",
                "spec.rules[0].subjects[0].user: Required value: user is required when subject kind is 'User'",
                "spec.rules[0].resourceRules[0].verbs: Unsupported value: []string{\"get\", \"fly\"}: supported values: \"create\", \"delete\", \"deletecollection\", \"get\", \"list\", \"patch\", \"proxy\", \"update\", \"watch\"",
                "spec.rules[0].resourceRules[0].namespaces: Required value: resource rules that are not cluster scoped must supply at least one namespace",
            ]
        );
    }

    #[test]
    fn mandatory_schemas_are_fixed() {
        let mut exempt = super::super::bootstrap::flow_schemas().remove(0);
        assert!(FlowSchemas.validate(&exempt).is_empty());
        exempt["spec"]["matchingPrecedence"] = json!(2);
        assert_eq!(
            messages(&exempt)
                .last()
                .unwrap()
                .split(": ")
                .last()
                .unwrap(),
            "spec of 'exempt' must equal the fixed value"
        );
        let fs = json!({"metadata": {"name": "x"}, "spec": {"matchingPrecedence": 5, "priorityLevelConfiguration": {"name": "p"},
            "rules": [{"subjects": [{"kind": "Group", "group": {"name": "g"}}], "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/a/*/b"]}]}]}});
        assert_eq!(
            messages(&fs),
            vec![
                "spec.rules[0].nonResourceRules[0].nonResourceURLs[0]: Invalid value: \"/a/*/b\": wildcard can only do suffix glob matching"
            ]
        );
    }

    #[test]
    fn rows_show_dangling() {
        let mut fs = json!({"metadata": {"name": "exempt"}, "spec": {"matchingPrecedence": 1, "priorityLevelConfiguration": {"name": "exempt"}}});
        assert_eq!(FlowSchemas.table_row(&fs)[3], "<none>");
        assert_eq!(FlowSchemas.table_row(&fs)[5], "?");
        fs["status"] = json!({"conditions": [{"type": "Dangling", "status": "False"}]});
        assert_eq!(FlowSchemas.table_row(&fs)[5], "False");
    }
}
