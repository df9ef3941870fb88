//! IPAddresses (`networking.k8s.io/v1`): one object per allocated Service IP, named after the
//! address in canonical form, pointing at its Service through `spec.parentRef`.

use crate::registry::resources::core::common::{dns_label, dns_subdomain, str_at};
use crate::registry::resources::core::docs;
use crate::registry::table::{self, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::networking::v1::IPAddress;
use serde_json::{Value, json};

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "networking.k8s.io",
            "v1",
            "ipaddresses",
            "IPAddress",
            "ipaddress",
            false,
        )
        .short_names(&["ip"]),
        IpAddresses,
    )
}

pub struct IpAddresses;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("ParentRef", "string", docs::IP_ADDRESS_PARENT_REF),
];

/// Upstream's `ValidateIPAddressName`: an IP address written canonically.
pub fn ip_address_name(name: &str, _prefix: bool) -> Vec<String> {
    match name.parse::<std::net::IpAddr>() {
        Err(_) => vec![format!("ParseAddr({name:?}): unable to parse IP")],
        Ok(ip) if ip.to_string() != name => {
            vec!["must be a canonical format IP address".to_string()]
        }
        Ok(_) => Vec::new(),
    }
}

impl Strategy for IpAddresses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<IPAddress>(body)
    }

    fn name_validator(&self) -> apimachinery::validation::NameValidator {
        ip_address_name
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let Some(p) = obj.pointer("/spec/parentRef").filter(|p| p.is_object()) else {
            errs.push(FieldError::required("spec.parentRef", ""));
            return errs;
        };
        let group = str_at(p, "/group");
        if !group.is_empty() {
            errs.extend(dns_subdomain(group, "spec.parentRef.group"));
        }
        let resource = str_at(p, "/resource");
        if resource.is_empty() {
            errs.push(FieldError::required("spec.parentRef.resource", ""));
        } else {
            errs.extend(
                apimachinery::validation::is_path_segment_name(resource)
                    .into_iter()
                    .map(|m| FieldError::invalid("spec.parentRef.resource", resource, m)),
            );
        }
        let name = str_at(p, "/name");
        if name.is_empty() {
            errs.push(FieldError::required("spec.parentRef.name", ""));
        } else {
            errs.extend(
                apimachinery::validation::is_path_segment_name(name)
                    .into_iter()
                    .map(|m| FieldError::invalid("spec.parentRef.name", name, m)),
            );
        }
        let ns = str_at(p, "/namespace");
        if !ns.is_empty() {
            errs.extend(dns_label(ns, "spec.parentRef.namespace"));
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        if new.pointer("/spec/parentRef") != old.pointer("/spec/parentRef") {
            errs.push(FieldError::invalid(
                "spec.parentRef",
                new.pointer("/spec/parentRef")
                    .cloned()
                    .unwrap_or(Value::Null),
                crate::registry::resources::core::common::IMMUTABLE,
            ));
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let parent = match obj.pointer("/spec/parentRef").filter(|p| p.is_object()) {
            None => "<none>".to_string(),
            Some(p) => {
                let group = str_at(p, "/group");
                let resource = str_at(p, "/resource");
                let mut s = if group.is_empty() {
                    resource.to_lowercase()
                } else {
                    format!("{resource}.{group}").to_lowercase()
                };
                let ns = str_at(p, "/namespace");
                if !ns.is_empty() {
                    s.push('/');
                    s.push_str(ns);
                }
                s.push('/');
                s.push_str(str_at(p, "/name"));
                s
            }
        };
        vec![table::name(obj), json!(parent)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical_ips() {
        assert!(ip_address_name("10.0.0.1", false).is_empty());
        assert_eq!(
            ip_address_name("10.0.0.01", false),
            vec!["ParseAddr(\"10.0.0.01\"): unable to parse IP"]
        );
        assert_eq!(
            ip_address_name("2001:db8:0::1", false),
            vec!["must be a canonical format IP address"]
        );
    }

    #[test]
    fn rows_and_validation() {
        let obj = json!({"metadata": {"name": "10.0.0.1"}, "spec": {"parentRef": {"resource": "services", "namespace": "default", "name": "kubernetes"}}});
        assert!(IpAddresses.validate(&obj).is_empty());
        assert_eq!(
            IpAddresses.table_row(&obj)[1],
            "services/default/kubernetes"
        );
        let bad = json!({"metadata": {"name": "10.0.0.1"}, "spec": {}});
        assert_eq!(
            IpAddresses.validate(&bad)[0].to_string(),
            "spec.parentRef: Required value"
        );
    }
}
