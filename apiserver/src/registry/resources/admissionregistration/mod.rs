//! `admissionregistration.k8s.io/v1`: webhook configurations and validating admission
//! policies with their bindings, stored and validated (enforcement is elsewhere). Holds the
//! rule, selector, client-config and match-condition checks the kinds share.

pub mod mutatingwebhookconfigurations;
pub mod validatingadmissionpolicies;
pub mod validatingadmissionpolicybindings;
pub mod validatingwebhookconfigurations;

use super::shared::{arr, go_slice, has, invalid_rendered, s, validate_label_selector};
use crate::cel::dynamic::{Declarations, Expect};
use crate::registry::Resource;
use crate::registry::table::{self, AGE, Column, NAME};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{
    is_dns1035_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_num,
};
use apimachinery::{FieldError, FieldErrors};
use serde_json::{Value, json};

pub const GROUP: &str = "admissionregistration.k8s.io";
const CATEGORIES: &[&str] = &["api-extensions"];
const FAILURE_POLICIES: &[&str] = &["Fail", "Ignore"];
const MATCH_POLICIES: &[&str] = &["Equivalent", "Exact"];
const NO_SIDE_EFFECTS: &[&str] = &["None", "NoneOnDryRun"];
const OPERATIONS: &[&str] = &["*", "CONNECT", "CREATE", "DELETE", "UPDATE"];
const SCOPES: &[&str] = &["*", "Cluster", "Namespaced"];
const ADMISSION_REVIEW_VERSIONS: &[&str] = &["v1", "v1beta1"];
const MAX_MATCH_CONDITIONS: usize = 64;
const URL_FORM: &str = "; desired format: https://host[/path]";

pub fn resources() -> Vec<Resource> {
    vec![
        mutatingwebhookconfigurations::resource(),
        validatingadmissionpolicies::resource(),
        validatingadmissionpolicybindings::resource(),
        validatingwebhookconfigurations::resource(),
    ]
}

const WEBHOOK_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

fn webhook_row(obj: &Value) -> Vec<Value> {
    vec![
        table::name(obj),
        json!(arr(obj, "/webhooks").len()),
        table::age(obj),
    ]
}

/// `SetDefaults_Rule`: rules apply to every scope unless they say otherwise.
fn default_rules(rules: Option<&mut Value>) {
    let Some(rules) = rules.and_then(Value::as_array_mut) else {
        return;
    };
    for r in rules.iter_mut().filter_map(Value::as_object_mut) {
        r.entry("scope").or_insert(json!("*"));
    }
}

/// `SetDefaults_MatchResources` (policies and bindings).
fn default_match_resources(m: &mut Value) {
    let Some(map) = m.as_object_mut() else {
        return;
    };
    map.entry("matchPolicy").or_insert(json!("Equivalent"));
    map.entry("namespaceSelector").or_insert(json!({}));
    map.entry("objectSelector").or_insert(json!({}));
    default_rules(map.get_mut("resourceRules"));
    default_rules(map.get_mut("excludeResourceRules"));
}

/// v1 defaulting of each webhook of a configuration.
fn default_webhooks(obj: &mut Value, mutating: bool) {
    let Some(hooks) = obj.get_mut("webhooks").and_then(Value::as_array_mut) else {
        return;
    };
    for hook in hooks.iter_mut().filter_map(Value::as_object_mut) {
        hook.entry("failurePolicy").or_insert(json!("Fail"));
        hook.entry("matchPolicy").or_insert(json!("Equivalent"));
        hook.entry("namespaceSelector").or_insert(json!({}));
        hook.entry("objectSelector").or_insert(json!({}));
        hook.entry("timeoutSeconds").or_insert(json!(10));
        if mutating {
            hook.entry("reinvocationPolicy").or_insert(json!("Never"));
        }
        default_rules(hook.get_mut("rules"));
        if let Some(svc) = hook
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
            .and_then(Value::as_object_mut)
        {
            svc.entry("port").or_insert(json!(443));
        }
    }
}

fn wildcard_with_others(items: &[Value]) -> bool {
    items.len() > 1 && items.iter().any(|v| v == "*")
}

/// `validateResources` (subresources allowed).
fn validate_resources(resources: &[Value], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if resources.is_empty() {
        errs.push(FieldError::required(path, ""));
    }
    let mut wildcard_sub = std::collections::HashSet::new();
    let mut wildcard_res = std::collections::HashSet::new();
    let (mut double, mut single, mut plain) = (false, false, false);
    for (i, r) in resources.iter().enumerate() {
        let r = r.as_str().unwrap_or_default();
        if r.is_empty() {
            errs.push(FieldError::required(index(path, i), ""));
            continue;
        }
        double |= r == "*/*";
        single |= r == "*";
        let Some((res, sub)) = r.split_once('/') else {
            plain = r != "*";
            continue;
        };
        if wildcard_sub.contains(res) {
            errs.push(FieldError::invalid(
                index(path, i),
                r,
                format!("if '{res}/*' is present, must not specify {r}"),
            ));
        }
        if wildcard_res.contains(sub) {
            errs.push(FieldError::invalid(
                index(path, i),
                r,
                format!("if '*/{sub}' is present, must not specify {r}"),
            ));
        }
        if sub == "*" {
            wildcard_sub.insert(res.to_string());
        }
        if res == "*" {
            wildcard_res.insert(sub.to_string());
        }
    }
    if resources.len() > 1 && double {
        errs.push(invalid_rendered(
            path,
            &go_slice("string", resources),
            "if '*/*' is present, must not specify other resources",
        ));
    }
    if single && plain {
        errs.push(invalid_rendered(
            path,
            &go_slice("string", resources),
            "if '*' is present, must not specify other resources without subresources",
        ));
    }
    errs
}

/// `validateRuleWithOperations` for a rule at `path`.
fn validate_rule_with_operations(rule: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let ops = arr(rule, "/operations");
    let op_path = child(path, "operations");
    if ops.is_empty() {
        errs.push(FieldError::required(op_path.clone(), ""));
    }
    if wildcard_with_others(ops) {
        errs.push(invalid_rendered(
            &op_path,
            &go_slice("admissionregistration.OperationType", ops),
            "if '*' is present, must not specify other operations",
        ));
    }
    for (i, op) in ops.iter().enumerate() {
        let op = op.as_str().unwrap_or_default();
        if !OPERATIONS.contains(&op) {
            errs.push(FieldError::not_supported(
                index(&op_path, i),
                op,
                OPERATIONS,
            ));
        }
    }
    let groups = arr(rule, "/apiGroups");
    if groups.is_empty() {
        errs.push(FieldError::required(child(path, "apiGroups"), ""));
    }
    if wildcard_with_others(groups) {
        errs.push(invalid_rendered(
            &child(path, "apiGroups"),
            &go_slice("string", groups),
            "if '*' is present, must not specify other API groups",
        ));
    }
    let versions = arr(rule, "/apiVersions");
    if versions.is_empty() {
        errs.push(FieldError::required(child(path, "apiVersions"), ""));
    }
    if wildcard_with_others(versions) {
        errs.push(invalid_rendered(
            &child(path, "apiVersions"),
            &go_slice("string", versions),
            "if '*' is present, must not specify other API versions",
        ));
    }
    for (i, v) in versions.iter().enumerate() {
        if v.as_str().unwrap_or_default().is_empty() {
            errs.push(FieldError::required(
                index(&child(path, "apiVersions"), i),
                "",
            ));
        }
    }
    errs.extend(validate_resources(
        arr(rule, "/resources"),
        &child(path, "resources"),
    ));
    if let Some(scope) = rule.get("scope").and_then(Value::as_str)
        && !SCOPES.contains(&scope)
    {
        errs.push(FieldError::not_supported(
            child(path, "scope"),
            scope,
            SCOPES,
        ));
    }
    errs
}

/// A webhook's `clientConfig` (admission and CRD conversion webhooks): a URL or a Service.
pub(in crate::registry::resources) fn validate_client_config(cc: &Value, cp: &str) -> FieldErrors {
    let mut errs = Vec::new();
    match (has(cc, "/url"), has(cc, "/service")) {
        (true, false) => errs.extend(validate_webhook_url(s(cc, "/url"), &child(cp, "url"))),
        (false, true) => errs.extend(validate_webhook_service(
            cc.get("service").unwrap_or(&Value::Null),
            &child(cp, "service"),
        )),
        _ => errs.push(FieldError::required(
            cp.to_string(),
            "exactly one of url or service is required",
        )),
    }
    errs
}

/// `ValidateWebhookURL` with https required.
fn validate_webhook_url(url: &str, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let (rest, fragment) = url.split_once('#').unwrap_or((url, ""));
    let uri: http::Uri = match rest.parse() {
        Ok(u) => u,
        Err(e) => {
            return vec![FieldError::required(
                path,
                format!("url must be a valid URL: {e}{URL_FORM}"),
            )];
        }
    };
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "https" {
        errs.push(FieldError::invalid(
            path,
            scheme,
            format!("'https' is the only allowed URL scheme{URL_FORM}"),
        ));
    }
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if host.is_empty() {
        errs.push(FieldError::invalid(
            path,
            host,
            format!("host must be specified{URL_FORM}"),
        ));
    }
    if let Some(u) = user {
        errs.push(FieldError::invalid(
            path,
            u,
            "user information is not permitted in the URL",
        ));
    }
    if !fragment.is_empty() {
        errs.push(FieldError::invalid(
            path,
            fragment,
            "fragments are not permitted in the URL",
        ));
    }
    if let Some(q) = uri.query().filter(|q| !q.is_empty()) {
        errs.push(FieldError::invalid(
            path,
            q,
            "query parameters are not permitted in the URL",
        ));
    }
    errs
}

/// `ValidateWebhookService`.
fn validate_webhook_service(svc: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if s(svc, "/name").is_empty() {
        errs.push(FieldError::required(
            child(path, "name"),
            "service name is required",
        ));
    }
    if s(svc, "/namespace").is_empty() {
        errs.push(FieldError::required(
            child(path, "namespace"),
            "service namespace is required",
        ));
    }
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    let port_errs = is_valid_port_num(port);
    if !port_errs.is_empty() {
        errs.push(FieldError::invalid(
            child(path, "port"),
            port,
            format!("port is not valid: {}", port_errs.join(", ")),
        ));
    }
    let Some(url_path) = svc.get("path").and_then(Value::as_str) else {
        return errs;
    };
    let pp = child(path, "path");
    if url_path.is_empty() || url_path == "/" {
        return errs;
    }
    if url_path == "//" {
        errs.push(FieldError::invalid(
            pp,
            url_path,
            "segment[0] may not be empty",
        ));
        return errs;
    }
    if !url_path.starts_with('/') {
        errs.push(FieldError::invalid(
            pp.clone(),
            url_path,
            "must start with a '/'",
        ));
    }
    let trimmed = url_path.get(1..).unwrap_or_default();
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    for (i, step) in trimmed.split('/').enumerate() {
        if step.is_empty() {
            errs.push(FieldError::invalid(
                pp.clone(),
                url_path,
                format!("segment[{i}] may not be empty"),
            ));
            continue;
        }
        for m in is_dns1123_subdomain(step) {
            errs.push(FieldError::invalid(
                pp.clone(),
                url_path,
                format!("segment[{i}]: {m}"),
            ));
        }
    }
    errs
}

/// `validateMatchConditions` without compiling the CEL expressions.
/// The error of an expression that does not compile, at `path`.
fn compile_error(
    decls: &Declarations,
    expression: &str,
    expect: Expect,
    path: String,
) -> Option<FieldError> {
    decls
        .compile(expression, expect)
        .err()
        .map(|e| FieldError::invalid(path, expression, e))
}

/// Match conditions: named uniquely, and expressions that compile in `decls`.
fn validate_match_conditions(conds: &[Value], path: &str, decls: &Declarations) -> FieldErrors {
    let mut errs = Vec::new();
    if conds.len() > MAX_MATCH_CONDITIONS {
        errs.push(FieldError::too_many(
            path,
            conds.len(),
            MAX_MATCH_CONDITIONS,
        ));
    }
    let mut names = std::collections::HashSet::new();
    for (i, c) in conds.iter().enumerate() {
        let p = index(path, i);
        let name = s(c, "/name");
        if name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        } else {
            for m in is_qualified_name(name) {
                errs.push(FieldError::invalid(child(&p, "name"), name, m));
            }
            if !names.insert(name) {
                errs.push(FieldError::duplicate(child(&p, "name"), name));
            }
        }
        let expression = s(c, "/expression");
        if expression.trim().is_empty() {
            errs.push(FieldError::required(child(&p, "expression"), ""));
        } else {
            errs.extend(compile_error(
                decls,
                expression,
                Expect::Bool,
                child(&p, "expression"),
            ));
        }
    }
    errs
}

/// `validateAdmissionReviewVersions` (a recognized version required).
fn validate_admission_review_versions(versions: &[Value], path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if versions.is_empty() {
        errs.push(FieldError::required(
            path,
            format!(
                "must specify one of {}",
                ADMISSION_REVIEW_VERSIONS.join(", ")
            ),
        ));
        return errs;
    }
    let mut seen = std::collections::HashSet::new();
    let mut recognized = false;
    for (i, v) in versions.iter().enumerate() {
        let v = v.as_str().unwrap_or_default();
        if !seen.insert(v) {
            errs.push(FieldError::invalid(index(path, i), v, "duplicate version"));
            continue;
        }
        for m in is_dns1035_label(v) {
            errs.push(FieldError::invalid(index(path, i), v, m));
        }
        recognized |= ADMISSION_REVIEW_VERSIONS.contains(&v);
    }
    if !recognized {
        errs.push(invalid_rendered(
            path,
            &go_slice("string", versions),
            &format!(
                "must include at least one of {}",
                ADMISSION_REVIEW_VERSIONS.join(", ")
            ),
        ));
    }
    errs
}

fn validate_enum(obj: &Value, field: &str, allowed: &[&str], path: &str) -> Option<FieldError> {
    let v = obj.get(field).and_then(Value::as_str)?;
    (!allowed.contains(&v)).then(|| FieldError::not_supported(child(path, field), v, allowed))
}

/// One webhook of a configuration (`validateValidatingWebhook`/`validateMutatingWebhook`).
fn validate_webhook(hook: &Value, mutating: bool, path: &str) -> FieldErrors {
    let mut errs =
        super::shared::validate_fully_qualified_name(s(hook, "/name"), &child(path, "name"));
    for (i, rule) in arr(hook, "/rules").iter().enumerate() {
        errs.extend(validate_rule_with_operations(
            rule,
            &index(&child(path, "rules"), i),
        ));
    }
    errs.extend(validate_enum(hook, "failurePolicy", FAILURE_POLICIES, path));
    errs.extend(validate_enum(hook, "matchPolicy", MATCH_POLICIES, path));
    // The typed decode turns a missing sideEffects into "", which Go keeps as nil.
    match hook.get("sideEffects").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(
            child(path, "sideEffects"),
            format!("must specify one of {}", NO_SIDE_EFFECTS.join(", ")),
        )),
        Some(se) if !NO_SIDE_EFFECTS.contains(&se) => errs.push(FieldError::not_supported(
            child(path, "sideEffects"),
            se,
            NO_SIDE_EFFECTS,
        )),
        Some(_) => {}
    }
    if let Some(t) = hook.get("timeoutSeconds").and_then(Value::as_i64)
        && !(1..=30).contains(&t)
    {
        errs.push(FieldError::invalid(
            child(path, "timeoutSeconds"),
            t,
            "the timeout value must be between 1 and 30 seconds",
        ));
    }
    for sel in ["namespaceSelector", "objectSelector"] {
        errs.extend(validate_label_selector(hook.get(sel), &child(path, sel)));
    }
    errs.extend(validate_client_config(
        hook.get("clientConfig").unwrap_or(&Value::Null),
        &child(path, "clientConfig"),
    ));
    errs.extend(validate_match_conditions(
        arr(hook, "/matchConditions"),
        &child(path, "matchConditions"),
        &Declarations::webhook(),
    ));
    if mutating {
        errs.extend(validate_enum(
            hook,
            "reinvocationPolicy",
            &["IfNeeded", "Never"],
            path,
        ));
    }
    errs
}

/// A whole webhook configuration: each webhook, its review versions, unique names.
fn validate_webhook_configuration(obj: &Value, mutating: bool) -> FieldErrors {
    let mut errs = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, hook) in arr(obj, "/webhooks").iter().enumerate() {
        let p = index("webhooks", i);
        errs.extend(validate_webhook(hook, mutating, &p));
        errs.extend(validate_admission_review_versions(
            arr(hook, "/admissionReviewVersions"),
            &child(&p, "admissionReviewVersions"),
        ));
        let name = s(hook, "/name");
        if !name.is_empty() && !names.insert(name) {
            errs.push(FieldError::duplicate(child(&p, "name"), name));
        }
    }
    errs
}

/// `validateMatchResources` of policies and bindings.
fn validate_match_resources(m: Option<&Value>, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(m) = m.filter(|v| !v.is_null()) else {
        return errs;
    };
    for sel in ["namespaceSelector", "objectSelector"] {
        errs.extend(validate_label_selector(m.get(sel), &child(path, sel)));
    }
    match m.get("matchPolicy").and_then(Value::as_str) {
        None => errs.push(FieldError::required(child(path, "matchPolicy"), "")),
        Some(p) if !MATCH_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            child(path, "matchPolicy"),
            p,
            MATCH_POLICIES,
        )),
        Some(_) => {}
    }
    for field in ["resourceRules", "excludeResourceRules"] {
        for (i, rule) in arr(m, &format!("/{field}")).iter().enumerate() {
            errs.extend(validate_rule_with_operations(
                rule,
                &index(&child(path, field), i),
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn webhook_defaults() {
        let mut cfg = json!({"webhooks": [{
            "name": "a.b.c",
            "clientConfig": {"service": {"name": "s", "namespace": "ns"}},
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
        }]});
        default_webhooks(&mut cfg, true);
        let hook = &cfg["webhooks"][0];
        assert_eq!(hook["failurePolicy"], "Fail");
        assert_eq!(hook["matchPolicy"], "Equivalent");
        assert_eq!(hook["namespaceSelector"], json!({}));
        assert_eq!(hook["objectSelector"], json!({}));
        assert_eq!(hook["timeoutSeconds"], 10);
        assert_eq!(hook["reinvocationPolicy"], "Never");
        assert_eq!(hook["rules"][0]["scope"], "*");
        assert_eq!(hook["clientConfig"]["service"]["port"], 443);
        assert_eq!(
            messages(&validate_webhook_configuration(&cfg, true)),
            vec![
                "webhooks[0].sideEffects: Required value: must specify one of None, NoneOnDryRun",
                "webhooks[0].admissionReviewVersions: Required value: must specify one of v1, v1beta1",
            ]
        );
    }

    #[test]
    fn webhook_rules_and_client_config() {
        let cfg = json!({"webhooks": [
            {
                "name": "short", "sideEffects": "Some", "timeoutSeconds": 31,
                "admissionReviewVersions": ["v2"],
                "clientConfig": {"url": "http://example.com/x?y=1"},
                "rules": [{"operations": ["*", "CREATE"], "apiGroups": [], "apiVersions": ["v1"], "resources": ["*/*", "pods"]}],
            },
        ]});
        assert_eq!(
            messages(&validate_webhook_configuration(&cfg, false)),
            vec![
                "webhooks[0].name: Invalid value: \"short\": should be a domain with at least three segments separated by dots",
                "webhooks[0].rules[0].operations: Invalid value: []admissionregistration.OperationType{\"*\", \"CREATE\"}: if '*' is present, must not specify other operations",
                "webhooks[0].rules[0].apiGroups: Required value",
                "webhooks[0].rules[0].resources: Invalid value: []string{\"*/*\", \"pods\"}: if '*/*' is present, must not specify other resources",
                "webhooks[0].sideEffects: Unsupported value: \"Some\": supported values: \"None\", \"NoneOnDryRun\"",
                "webhooks[0].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds",
                "webhooks[0].clientConfig.url: Invalid value: \"http\": 'https' is the only allowed URL scheme; desired format: https://host[/path]",
                "webhooks[0].clientConfig.url: Invalid value: \"y=1\": query parameters are not permitted in the URL",
                "webhooks[0].admissionReviewVersions: Invalid value: []string{\"v2\"}: must include at least one of v1, v1beta1",
            ]
        );
    }
}
