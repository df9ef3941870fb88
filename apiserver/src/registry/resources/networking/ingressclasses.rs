//! IngressClasses: which controller implements a class of Ingresses, with an optional
//! reference to controller-specific parameters. The controller is fixed at creation.

use crate::registry::resources::shared::{has, immutable, s, validate_domain_prefixed_path};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::validation::{is_dns1123_label, is_dns1123_subdomain};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::networking::v1::IngressClass;
use serde_json::{Value, json};

const MAX_CONTROLLER_LEN: usize = 250;
const SCOPES: &[&str] = &["Cluster", "Namespace"];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "networking.k8s.io",
            "v1",
            "ingressclasses",
            "IngressClass",
            "ingressclass",
            false,
        ),
        IngressClasses,
    )
}

pub struct IngressClasses;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    Column::new(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

fn validate_parameters(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let Some(params) = obj.pointer("/spec/parameters").filter(|v| !v.is_null()) else {
        return errs;
    };
    let p = "spec.parameters";
    if s(params, "/kind").is_empty() {
        errs.push(FieldError::required(format!("{p}.kind"), ""));
    }
    if s(params, "/name").is_empty() {
        errs.push(FieldError::required(format!("{p}.name"), ""));
    }
    if let Some(group) = params.get("apiGroup").and_then(Value::as_str)
        && !group.is_empty()
    {
        for msg in is_dns1123_subdomain(group) {
            errs.push(FieldError::invalid(format!("{p}.apiGroup"), group, msg));
        }
    }
    match params.get("scope").and_then(Value::as_str) {
        None => errs.push(FieldError::required(format!("{p}.scope"), "")),
        Some(scope) if !SCOPES.contains(&scope) => errs.push(FieldError::not_supported(
            format!("{p}.scope"),
            scope,
            SCOPES,
        )),
        Some("Namespace") => match params.get("namespace").and_then(Value::as_str) {
            None => errs.push(FieldError::required(
                format!("{p}.namespace"),
                "`parameters.scope` is set to 'Namespace'",
            )),
            Some(ns) => {
                for msg in is_dns1123_label(ns) {
                    errs.push(FieldError::invalid(format!("{p}.namespace"), ns, msg));
                }
            }
        },
        Some(_) => {
            if has(params, "/namespace") {
                errs.push(FieldError::forbidden(
                    format!("{p}.namespace"),
                    "`parameters.scope` is set to 'Cluster'",
                ));
            }
        }
    }
    errs
}

impl Strategy for IngressClasses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<IngressClass>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let controller = s(obj, "/spec/controller");
        if controller.len() > MAX_CONTROLLER_LEN {
            errs.push(FieldError::too_long("spec.controller", MAX_CONTROLLER_LEN));
        }
        errs.extend(validate_domain_prefixed_path(controller, "spec.controller"));
        errs.extend(validate_parameters(obj));
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        errs.extend(immutable(new, old, "/spec/controller", "spec.controller"));
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let params = match obj.pointer("/spec/parameters").filter(|v| !v.is_null()) {
            None => "<none>".to_string(),
            Some(p) => {
                let mut out = s(p, "/kind").to_string();
                if let Some(g) = p.get("apiGroup").and_then(Value::as_str) {
                    out = format!("{out}.{g}");
                }
                format!("{out}/{}", s(p, "/name"))
            }
        };
        vec![
            table::name(obj),
            json!(s(obj, "/spec/controller")),
            json!(params),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_rules() {
        let errs = IngressClasses.validate(&json!({"spec": {"controller": "nginx"}}));
        assert_eq!(
            errs[0].to_string(),
            "spec.controller: Invalid value: \"nginx\": must be a domain-prefixed path (such as \"acme.io/foo\")"
        );
        let ok = json!({"metadata": {"name": "c"}, "spec": {"controller": "example.com/ingress", "parameters": {"apiGroup": "k8s.example.com", "kind": "Params", "name": "p", "scope": "Cluster"}}});
        assert!(IngressClasses.validate(&ok).is_empty());
        assert_eq!(IngressClasses.table_row(&ok)[2], "Params.k8s.example.com/p");
        let changed = json!({"spec": {"controller": "example.com/other"}});
        let errs = IngressClasses.validate_update(&changed, &ok);
        assert_eq!(
            errs.last().map(ToString::to_string).unwrap(),
            "spec.controller: Invalid value: \"example.com/other\": field is immutable"
        );
    }
}
