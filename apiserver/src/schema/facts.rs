//! Upstream facts about definitions that k8s-openapi's schemas do not carry; the table itself
//! is generated (see `hack/openapi-schema/gen.py`).

use super::facts_table::DEFINITIONS;

/// One definition's facts.
pub struct Definition {
    pub name: &'static str,
    pub required: &'static [&'static str],
    pub map_type: Option<&'static str>,
    /// `(group, version, kind)` of each `x-kubernetes-group-version-kind` entry.
    pub gvks: &'static [(&'static str, &'static str, &'static str)],
    pub properties: &'static [Property],
}

/// The Kubernetes extensions of one property.
pub struct Property {
    pub name: &'static str,
    pub list_type: Option<&'static str>,
    pub list_map_keys: &'static [&'static str],
    pub patch_strategy: Option<&'static str>,
    pub patch_merge_key: Option<&'static str>,
    pub map_type: Option<&'static str>,
}

/// The facts of the definition named `name`, if upstream publishes it.
pub fn definition(name: &str) -> Option<&'static Definition> {
    DEFINITIONS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .and_then(|i| DEFINITIONS.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(DEFINITIONS.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn container_ports_merge_by_container_port_and_own_by_port_and_protocol() {
        let c = definition("io.k8s.api.core.v1.Container").unwrap();
        assert_eq!(c.required, ["name"]);
        let ports = c.properties.iter().find(|p| p.name == "ports").unwrap();
        assert_eq!(ports.patch_strategy, Some("merge"));
        assert_eq!(ports.patch_merge_key, Some("containerPort"));
        assert_eq!(ports.list_type, Some("map"));
        assert_eq!(ports.list_map_keys, ["containerPort", "protocol"]);
    }
}
