//! NetworkPolicies: which traffic may reach or leave the selected pods. Spec changes bump the
//! generation.

use crate::registry::resources::shared::{
    arr, has, is_valid_cidr, parse_cidr, port_name_errors, s, validate_label_selector,
};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::is_valid_port_num;
use apimachinery::{FieldError, FieldErrors};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::{Value, json};

const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const POLICY_TYPES: &[&str] = &["Egress", "Ingress"];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            "networkpolicy",
            true,
        )
        .short_names(&["netpol"]),
        NetworkPolicies,
    )
}

pub struct NetworkPolicies;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Pod-Selector",
        "string",
        "Selects the pods to which this NetworkPolicy object applies. The array of ingress rules is applied to any pods selected by this field. Multiple network policies can select the same set of pods. In this case, the ingress rules for each are combined additively. This field is NOT optional and follows standard label selector semantics. An empty podSelector matches all pods in this namespace.",
    ),
    AGE,
];

fn validate_port(port: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    if let Some(proto) = port.get("protocol").and_then(Value::as_str)
        && !PROTOCOLS.contains(&proto)
    {
        errs.push(FieldError::not_supported(
            child(path, "protocol"),
            proto,
            PROTOCOLS,
        ));
    }
    match port.get("port") {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for msg in is_valid_port_num(n) {
                errs.push(FieldError::invalid(child(path, "port"), n, msg));
            }
            if let Some(end) = port.get("endPort").and_then(Value::as_i64) {
                if end < n {
                    errs.push(FieldError::invalid(
                        child(path, "endPort"),
                        end,
                        "must be greater than or equal to `port`",
                    ));
                }
                for msg in is_valid_port_num(end) {
                    errs.push(FieldError::invalid(child(path, "endPort"), end, msg));
                }
            }
        }
        Some(Value::String(name)) => {
            errs.extend(port_name_errors(name, &child(path, "port")));
            if has(port, "/endPort") {
                errs.push(FieldError::forbidden(
                    child(path, "endPort"),
                    "may not be specified when `port` is non-numeric",
                ));
            }
        }
        _ => {
            if has(port, "/endPort") {
                errs.push(FieldError::required(
                    child(path, "port"),
                    "when endPort is specified",
                ));
            }
        }
    }
    errs
}

fn validate_peer(peer: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let mut peers = 0;
    let mut ip_block = false;
    for field in ["podSelector", "namespaceSelector"] {
        if has(peer, &format!("/{field}")) {
            peers += 1;
            errs.extend(validate_label_selector(
                peer.get(field),
                &child(path, field),
            ));
        }
    }
    if let Some(block) = peer.get("ipBlock").filter(|v| !v.is_null()) {
        peers += 1;
        ip_block = true;
        let bp = child(path, "ipBlock");
        let cidr = s(block, "/cidr");
        if cidr.is_empty() {
            errs.push(FieldError::required(child(&bp, "cidr"), ""));
        } else {
            for msg in is_valid_cidr(cidr) {
                errs.push(FieldError::invalid(child(&bp, "cidr"), cidr, msg));
            }
        }
        let outer = parse_cidr(cidr).map(|c| c.trunc());
        for (i, except) in arr(block, "/except").iter().enumerate() {
            let except = except.as_str().unwrap_or_default();
            let ep = index(&child(&bp, "except"), i);
            match (parse_cidr(except).map(|c| c.trunc()), outer) {
                (None, _) => {
                    for msg in is_valid_cidr(except) {
                        errs.push(FieldError::invalid(ep.clone(), except, msg));
                    }
                }
                (Some(e), Some(o)) => {
                    if !(o.contains(&e) && e.prefix_len() > o.prefix_len()) {
                        errs.push(FieldError::invalid(
                            ep,
                            except,
                            "must be a strict subset of `cidr`",
                        ));
                    }
                }
                (Some(_), None) => {}
            }
        }
    }
    if peers == 0 {
        errs.push(FieldError::required(path, "must specify a peer"));
    } else if ip_block && peers > 1 {
        errs.push(FieldError::forbidden(
            path,
            "may not specify both ipBlock and another peer",
        ));
    }
    errs
}

fn validate_rules(obj: &Value, direction: &str, peers: &str) -> FieldErrors {
    let mut errs = Vec::new();
    for (i, rule) in arr(obj, &format!("/spec/{direction}")).iter().enumerate() {
        let rp = index(&format!("spec.{direction}"), i);
        for (j, port) in arr(rule, "/ports").iter().enumerate() {
            errs.extend(validate_port(port, &index(&child(&rp, "ports"), j)));
        }
        for (j, peer) in arr(rule, &format!("/{peers}")).iter().enumerate() {
            errs.extend(validate_peer(peer, &index(&child(&rp, peers), j)));
        }
    }
    errs
}

impl Strategy for NetworkPolicies {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<NetworkPolicy>(body)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn default(&self, obj: &mut Value) {
        let has_egress = !arr(obj, "/spec/egress").is_empty();
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        for dir in ["ingress", "egress"] {
            let rules = spec.get_mut(dir).and_then(Value::as_array_mut);
            for rule in rules.into_iter().flatten() {
                let ports = rule.get_mut("ports").and_then(Value::as_array_mut);
                for port in ports.into_iter().flatten().filter_map(Value::as_object_mut) {
                    port.entry("protocol").or_insert(json!("TCP"));
                }
            }
        }
        let empty = spec
            .get("policyTypes")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty {
            let mut types = vec![json!("Ingress")];
            if has_egress {
                types.push(json!("Egress"));
            }
            spec.insert("policyTypes".into(), Value::Array(types));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs =
            validate_label_selector(obj.pointer("/spec/podSelector"), "spec.podSelector");
        errs.extend(validate_rules(obj, "ingress", "from"));
        errs.extend(validate_rules(obj, "egress", "to"));
        let types = arr(obj, "/spec/policyTypes");
        for (i, t) in types.iter().enumerate() {
            let t = t.as_str().unwrap_or_default();
            if !POLICY_TYPES.contains(&t) {
                errs.push(FieldError::not_supported(
                    index("spec.policyTypes", i),
                    t,
                    POLICY_TYPES,
                ));
            }
        }
        if types.len() > 2 {
            errs.push(FieldError::invalid(
                "spec.policyTypes",
                Value::Array(types.to_vec()),
                "may not specify more than two policyTypes",
            ));
        }
        errs
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        vec![
            table::name(obj),
            json!(table::format_label_selector(
                obj.pointer("/spec/podSelector")
            )),
            table::age(obj),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_policy_types_and_protocols() {
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}]}]}});
        NetworkPolicies.default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(np["spec"]["egress"][0]["ports"][0]["protocol"], "TCP");
    }

    #[test]
    fn validates_peers() {
        let np = json!({"spec": {"podSelector": {}, "ingress": [{"from": [
            {},
            {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}, "podSelector": {}},
        ]}]}});
        let errs: Vec<String> = NetworkPolicies
            .validate(&np)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errs,
            vec![
                "spec.ingress[0].from[0]: Required value: must specify a peer",
                "spec.ingress[0].from[1].ipBlock.except[0]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`",
                "spec.ingress[0].from[1]: Forbidden: may not specify both ipBlock and another peer",
            ]
        );
        let row = NetworkPolicies.table_row(&json!({"metadata": {"name": "n"}, "spec": {"podSelector": {"matchLabels": {"app": "web"}}}}));
        assert_eq!(row[1], "app=web");
    }
}
