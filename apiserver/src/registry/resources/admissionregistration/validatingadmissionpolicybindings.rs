//! ValidatingAdmissionPolicyBindings: apply a policy, with parameters and an action
//! (Deny, Warn, Audit), to matching resources. Spec changes bump the generation.

use super::{CATEGORIES, GROUP, default_match_resources, validate_match_resources};
use crate::registry::resources::shared::{
    arr, go_slice, has, invalid_rendered, s, validate_label_selector,
};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::index;
use apimachinery::validation::{is_path_segment_name, name_is_dns_subdomain};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicyBinding;
use serde_json::{Value, json};

const ACTIONS: &[&str] = &["Audit", "Deny", "Warn"];
const NOT_FOUND_ACTIONS: &[&str] = &["Deny", "Allow"];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "validatingadmissionpolicybindings",
            "ValidatingAdmissionPolicyBinding",
            "validatingadmissionpolicybinding",
            false,
        )
        .categories(CATEGORIES),
        ValidatingAdmissionPolicyBindings,
    )
}

pub struct ValidatingAdmissionPolicyBindings;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "PolicyName",
        "string",
        "PolicyName indicates the policy definition which the policy binding binded to",
    ),
    Column::new(
        "ParamRef",
        "string",
        "ParamRef indicates the param resource which sets the configration param",
    ),
    AGE,
];

fn validate_param_ref(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(pr) = obj.pointer("/spec/paramRef").filter(|v| !v.is_null()) else {
        return errs;
    };
    let path = "spec.paramRef";
    let name = s(pr, "/name");
    let has_selector = has(pr, "/selector");
    if !name.is_empty() {
        for m in is_path_segment_name(name) {
            errs.push(FieldError::invalid(format!("{path}.name"), name, m));
        }
        if has_selector {
            errs.push(FieldError::forbidden(
                format!("{path}.name"),
                "name and selector are mutually exclusive",
            ));
        }
    }
    let ns = s(pr, "/namespace");
    if !ns.is_empty() {
        for m in is_path_segment_name(ns) {
            errs.push(FieldError::invalid(format!("{path}.namespace"), ns, m));
        }
    }
    if has_selector {
        errs.extend(validate_label_selector(
            pr.get("selector"),
            &format!("{path}.selector"),
        ));
        if !name.is_empty() {
            errs.push(FieldError::forbidden(
                format!("{path}.selector"),
                "name and selector are mutually exclusive",
            ));
        }
    }
    if name.is_empty() && !has_selector {
        errs.push(FieldError::required(
            path,
            "one of name or selector must be specified",
        ));
    }
    match pr.get("parameterNotFoundAction").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(
            format!("{path}.parameterNotFoundAction"),
            "",
        )),
        Some(a) if !NOT_FOUND_ACTIONS.contains(&a) => errs.push(FieldError::not_supported(
            format!("{path}.parameterNotFoundAction"),
            a,
            NOT_FOUND_ACTIONS,
        )),
        Some(_) => {}
    }
    errs
}

fn validate_actions(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let path = "spec.validationActions";
    let actions = arr(obj, "/spec/validationActions");
    let mut seen = std::collections::HashSet::new();
    for (i, a) in actions.iter().enumerate() {
        let a = a.as_str().unwrap_or_default();
        if !ACTIONS.contains(&a) {
            errs.push(FieldError::not_supported(index(path, i), a, ACTIONS));
        }
        if !seen.insert(a) {
            errs.push(FieldError::duplicate(index(path, i), a));
        }
    }
    if seen.contains("Deny") && seen.contains("Warn") {
        errs.push(invalid_rendered(
            path,
            &go_slice("admissionregistration.ValidationAction", actions),
            "must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
        ));
    }
    if seen.is_empty() {
        errs.push(FieldError::required(
            path,
            "at least one validation action is required",
        ));
    }
    errs
}

/// Upstream prints a selector-only paramRef with the protobuf `String()` of the selector.
fn selector_string(sel: &Value) -> String {
    let mut labels: Vec<(&String, &Value)> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    labels.sort_by(|a, b| a.0.cmp(b.0));
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}: {},", v.as_str().unwrap_or_default()))
        .collect();
    let exprs: Vec<String> = arr(sel, "/matchExpressions")
        .iter()
        .map(|e| {
            let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
            format!(
                "LabelSelectorRequirement{{Key:{},Operator:{},Values:[{}],}}",
                s(e, "/key"),
                s(e, "/operator"),
                values.join(" ")
            )
        })
        .collect();
    format!(
        "&LabelSelector{{MatchLabels:map[string]string{{{}}},MatchExpressions:[]LabelSelectorRequirement{{{}}},}}",
        labels.join(""),
        exprs.join(",")
    )
}

impl Strategy for ValidatingAdmissionPolicyBindings {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ValidatingAdmissionPolicyBinding>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        if let Some(m) = obj.pointer_mut("/spec/matchResources") {
            default_match_resources(m);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let policy = s(obj, "/spec/policyName");
        if policy.is_empty() {
            errs.push(FieldError::required("spec.policyName", ""));
        } else {
            for m in name_is_dns_subdomain(policy, false) {
                errs.push(FieldError::invalid("spec.policyName", policy, m));
            }
        }
        errs.extend(validate_param_ref(obj));
        // Upstream's path carries this spelling.
        errs.extend(validate_match_resources(
            obj.pointer("/spec/matchResources"),
            "spec.matchResouces",
        ));
        errs.extend(validate_actions(obj));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let param = match obj.pointer("/spec/paramRef").filter(|v| !v.is_null()) {
            None => "<unset>".to_string(),
            Some(pr) => match (s(pr, "/name"), s(pr, "/namespace")) {
                ("", _) => pr
                    .get("selector")
                    .filter(|v| !v.is_null())
                    .map_or_else(|| "<unset>".to_string(), selector_string),
                (name, "") => format!("*/{name}"),
                (name, ns) => format!("{ns}/{name}"),
            },
        };
        vec![
            table::name(obj),
            json!(s(obj, "/spec/policyName")),
            json!(param),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(obj: &Value) -> Vec<String> {
        ValidatingAdmissionPolicyBindings
            .validate(obj)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn actions_and_param_ref() {
        assert_eq!(
            messages(&json!({"spec": {"policyName": "p"}})),
            vec![
                "spec.validationActions: Required value: at least one validation action is required"
            ]
        );
        assert_eq!(
            messages(
                &json!({"spec": {"policyName": "p", "validationActions": ["Deny", "Warn"], "paramRef": {"name": "x"}}})
            ),
            vec![
                "spec.paramRef.parameterNotFoundAction: Required value",
                "spec.validationActions: Invalid value: []admissionregistration.ValidationAction{\"Deny\", \"Warn\"}: must not contain both Deny and Warn (repeating the same validation failure information in the API response and headers serves no purpose)",
            ]
        );
        let b = json!({"metadata": {"name": "b"}, "spec": {"policyName": "p", "validationActions": ["Deny"], "paramRef": {"name": "cfg", "namespace": "ns", "parameterNotFoundAction": "Deny"}}});
        assert!(messages(&b).is_empty());
        assert_eq!(ValidatingAdmissionPolicyBindings.table_row(&b)[2], "ns/cfg");
    }
}
