//! ServiceCIDRs (`networking.k8s.io/v1`): the ranges Service IPs come from. The apiserver
//! creates the default one, `kubernetes`, for `--service-cluster-ip-range`.

use crate::registry::resources::core::common::{IMMUTABLE, strings_at};
use crate::registry::resources::core::docs;
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::networking::v1::ServiceCIDR;
use serde_json::{Value, json};

/// The name of the ServiceCIDR the apiserver keeps for its own flag.
pub const DEFAULT_NAME: &str = "kubernetes";

const SUBRESOURCES: &[SubresourceInfo] = &[SubresourceInfo::status(
    "networking.k8s.io",
    "v1",
    "ServiceCIDR",
)];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "networking.k8s.io",
            "v1",
            "servicecidrs",
            "ServiceCIDR",
            "servicecidr",
            false,
        )
        .subresources(SUBRESOURCES),
        ServiceCidrs,
    )
}

pub struct ServiceCidrs;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("CIDRs", "string", docs::SERVICE_CIDR_CIDRS),
    AGE,
];

fn validate_cidrs(cidrs: &[String]) -> FieldErrors {
    let mut errs = Vec::new();
    if cidrs.is_empty() {
        errs.push(FieldError::required(
            "spec.cidrs",
            "at least one CIDR required",
        ));
    }
    if cidrs.len() > 2 {
        errs.push(FieldError::too_many("spec.cidrs", cidrs.len(), 2));
        return errs;
    }
    let mut families = Vec::new();
    for (i, c) in cidrs.iter().enumerate() {
        let path = format!("spec.cidrs[{i}]");
        match c.parse::<ipnet::IpNet>() {
            Err(e) => errs.push(FieldError::invalid(path, c.as_str(), e.to_string())),
            Ok(net) if net.trunc().to_string() != *c => errs.push(FieldError::invalid(
                path,
                c.as_str(),
                format!("must be in canonical form (\"{}\")", net.trunc()),
            )),
            Ok(net) => families.push(matches!(net, ipnet::IpNet::V6(_))),
        }
    }
    if families.len() == 2 && families[0] == families[1] {
        errs.push(FieldError::invalid(
            "spec",
            json!(cidrs),
            "may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64",
        ));
    }
    errs
}

impl Strategy for ServiceCidrs {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ServiceCIDR>(body)
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_cidrs(&strings_at(obj, "/spec/cidrs"))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let (n, o) = (
            strings_at(new, "/spec/cidrs"),
            strings_at(old, "/spec/cidrs"),
        );
        // A single-stack range may become dual-stack by adding the other family; nothing
        // else changes.
        let upgrade = o.len() == 1 && n.len() == 2 && n[0] == o[0];
        if n != o && !upgrade {
            return vec![FieldError::invalid("spec.cidrs", json!(n), IMMUTABLE)];
        }
        validate_cidrs(&n)
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(strings_at(obj, "/spec/cidrs").join(",")),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate_cidrs(&["10.0.0.0/24".into()]).is_empty());
        assert_eq!(
            validate_cidrs(&["10.0.0.1/24".into()])[0].to_string(),
            "spec.cidrs[0]: Invalid value: \"10.0.0.1/24\": must be in canonical form (\"10.0.0.0/24\")"
        );
        assert_eq!(validate_cidrs(&[]).len(), 1);
    }

    #[test]
    fn row() {
        let obj = json!({"metadata": {"name": "kubernetes"}, "spec": {"cidrs": ["10.0.0.0/24"]}});
        assert_eq!(ServiceCidrs.table_row(&obj)[1], "10.0.0.0/24");
    }
}
