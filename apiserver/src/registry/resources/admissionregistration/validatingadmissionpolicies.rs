//! ValidatingAdmissionPolicies: CEL validations with match constraints; the type checker
//! reports through `status`. Spec changes bump the generation. Expressions are stored but not
//! compiled here.

use super::{
    CATEGORIES, FAILURE_POLICIES, GROUP, compile_error, default_match_resources,
    validate_match_conditions, validate_match_resources,
};
use crate::cel::dynamic::{Declarations, Expect, is_identifier};
use crate::registry::resources::shared::{arr, has, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::is_dns1035_label;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::admissionregistration::v1::ValidatingAdmissionPolicy;
use serde_json::{Value, json};

const REASONS: &[&str] = &["Forbidden", "Invalid", "RequestEntityTooLarge"];

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(
    GROUP,
    "v1",
    "ValidatingAdmissionPolicy",
)];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "validatingadmissionpolicies",
            "ValidatingAdmissionPolicy",
            "validatingadmissionpolicy",
            false,
        )
        .categories(CATEGORIES)
        .subresources(SUBRESOURCES),
        ValidatingAdmissionPolicies,
    )
}

pub struct ValidatingAdmissionPolicies;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Validations",
        "integer",
        "Validations indicates the number of validation rules defined in this configuration",
    ),
    Column::new(
        "ParamKind",
        "string",
        "ParamKind specifies the kind of resources used to parameterize this policy",
    ),
    AGE,
];

fn validate_param_kind(pk: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let api_version = s(pk, "/apiVersion");
    if api_version.is_empty() {
        errs.push(FieldError::required(child(path, "apiVersion"), ""));
    } else if api_version.matches('/').count() > 1 {
        errs.push(FieldError::invalid(
            child(path, "apiVersion"),
            api_version,
            format!("unexpected GroupVersion string: {api_version}"),
        ));
    }
    let kind = s(pk, "/kind");
    if kind.is_empty() {
        errs.push(FieldError::required(child(path, "kind"), ""));
    } else {
        let msgs = is_dns1035_label(&kind.to_lowercase());
        if !msgs.is_empty() {
            errs.push(FieldError::invalid(
                child(path, "kind"),
                kind,
                format!("kind is invalid: {}", msgs.join("; ")),
            ));
        }
    }
    errs
}

fn validate_validation(v: &Value, path: &str, decls: &Declarations) -> FieldErrors {
    let mut errs = Vec::new();
    let expression = s(v, "/expression");
    if expression.trim().is_empty() {
        errs.push(FieldError::required(
            child(path, "expression"),
            "expression is not specified",
        ));
    } else {
        errs.extend(compile_error(
            decls,
            expression,
            Expect::Bool,
            child(path, "expression"),
        ));
    }
    let message = s(v, "/message");
    let trimmed = message.trim();
    if !message.is_empty() && trimmed.is_empty() {
        errs.push(FieldError::invalid(
            child(path, "message"),
            message,
            "message must be non-empty if specified",
        ));
    } else if trimmed.contains('\n') {
        errs.push(FieldError::invalid(
            child(path, "message"),
            message,
            "message must not contain line breaks",
        ));
    }
    if let Some(source) = v.get("messageExpression").and_then(Value::as_str) {
        if source.trim().is_empty() {
            errs.push(FieldError::required(
                child(path, "messageExpression"),
                "must be non-empty if specified",
            ));
        } else {
            errs.extend(compile_error(
                decls,
                source,
                Expect::String,
                child(path, "messageExpression"),
            ));
        }
    }
    if let Some(reason) = v.get("reason").and_then(Value::as_str)
        && !REASONS.contains(&reason)
    {
        errs.push(FieldError::not_supported(
            child(path, "reason"),
            reason,
            REASONS,
        ));
    }
    errs
}

impl Strategy for ValidatingAdmissionPolicies {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ValidatingAdmissionPolicy>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        spec.entry("failurePolicy").or_insert(json!("Fail"));
        if let Some(m) = spec.get_mut("matchConstraints") {
            default_match_resources(m);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        match obj.pointer("/spec/failurePolicy").and_then(Value::as_str) {
            None => errs.push(FieldError::required("spec.failurePolicy", "")),
            Some(p) if !FAILURE_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
                "spec.failurePolicy",
                p,
                FAILURE_POLICIES,
            )),
            Some(_) => {}
        }
        if let Some(pk) = obj.pointer("/spec/paramKind").filter(|v| !v.is_null()) {
            errs.extend(validate_param_kind(pk, "spec.paramKind"));
        }
        if has(obj, "/spec/matchConstraints") {
            errs.extend(validate_match_resources(
                obj.pointer("/spec/matchConstraints"),
                "spec.matchConstraints",
            ));
            if arr(obj, "/spec/matchConstraints/resourceRules").is_empty() {
                errs.push(FieldError::required(
                    "spec.matchConstraints.resourceRules",
                    "",
                ));
            }
        } else {
            errs.push(FieldError::required("spec.matchConstraints", ""));
        }
        let mut decls = Declarations::admission(has(obj, "/spec/paramKind"));
        errs.extend(validate_match_conditions(
            arr(obj, "/spec/matchConditions"),
            "spec.matchConditions",
            &decls,
        ));
        for (i, v) in arr(obj, "/spec/variables").iter().enumerate() {
            let path = index("spec.variables", i);
            let name = s(v, "/name");
            if name.is_empty() {
                errs.push(FieldError::required(
                    child(&path, "name"),
                    "name is not specified",
                ));
            } else if !is_identifier(name) {
                errs.push(FieldError::invalid(
                    child(&path, "name"),
                    name,
                    "name is not a valid CEL identifier",
                ));
            }
            let expression = s(v, "/expression");
            let compiled = if expression.trim().is_empty() {
                errs.push(FieldError::required(
                    child(&path, "expression"),
                    "expression is not specified",
                ));
                None
            } else {
                match decls.compile(expression, Expect::Any) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        errs.push(FieldError::invalid(
                            child(&path, "expression"),
                            expression,
                            e,
                        ));
                        None
                    }
                }
            };
            decls.declare_variable(name, compiled.as_ref());
        }
        let validations = arr(obj, "/spec/validations");
        if validations.is_empty() && arr(obj, "/spec/auditAnnotations").is_empty() {
            errs.push(FieldError::required(
                "spec.validations",
                "validations or auditAnnotations must contain at least one item",
            ));
        }
        for (i, v) in validations.iter().enumerate() {
            errs.extend(validate_validation(
                v,
                &index("spec.validations", i),
                &decls,
            ));
        }
        for (i, a) in arr(obj, "/spec/auditAnnotations").iter().enumerate() {
            let expression = s(a, "/valueExpression");
            let path = child(&index("spec.auditAnnotations", i), "valueExpression");
            if expression.trim().is_empty() {
                errs.push(FieldError::required(
                    path,
                    "valueExpression is not specified",
                ));
            } else {
                errs.extend(compile_error(&decls, expression, Expect::Any, path));
            }
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let param_kind = match obj.pointer("/spec/paramKind").filter(|v| !v.is_null()) {
            Some(pk) => format!("{}/{}", s(pk, "/apiVersion"), s(pk, "/kind")),
            None => "<unset>".to_string(),
        };
        vec![
            table::name(obj),
            json!(arr(obj, "/spec/validations").len()),
            json!(param_kind),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_requirements() {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {
            "matchConstraints": {"resourceRules": [{"operations": ["CREATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"]}]},
            "validations": [{"expression": "object.spec.replicas <= 5"}],
        }});
        ValidatingAdmissionPolicies.default(&mut p);
        assert_eq!(p["spec"]["failurePolicy"], "Fail");
        assert_eq!(p["spec"]["matchConstraints"]["matchPolicy"], "Equivalent");
        assert_eq!(
            p["spec"]["matchConstraints"]["resourceRules"][0]["scope"],
            "*"
        );
        assert!(ValidatingAdmissionPolicies.validate(&p).is_empty());
        assert_eq!(ValidatingAdmissionPolicies.table_row(&p)[2], "<unset>");
        let errs: Vec<String> = ValidatingAdmissionPolicies
            .validate(&json!({"spec": {"failurePolicy": "Fail"}}))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.matchConstraints: Required value",
                "spec.validations: Required value: validations or auditAnnotations must contain at least one item",
            ]
        );
    }
}
