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

/// The Kubernetes extensions of one property, and its enum.
pub struct Property {
    pub name: &'static str,
    pub list_type: Option<&'static str>,
    pub list_map_keys: &'static [&'static str],
    pub patch_strategy: Option<&'static str>,
    pub patch_merge_key: Option<&'static str>,
    pub map_type: Option<&'static str>,
    /// The values of the property's `+enum` type, as a running v1.33 apiserver publishes them
    /// (upstream's checked-in snapshot, and so k8s-openapi, leaves them out).
    pub enumeration: Option<Enum>,
}

/// The values an enum-typed property (or its items, or its map values) takes.
pub struct Enum {
    pub at: EnumAt,
    /// Sorted, as upstream lists them.
    pub values: &'static [&'static str],
    /// The paragraph upstream appends to the property's description after a blank line:
    /// `Possible enum values:`, then one `` - `"Value"` meaning`` line per value. Lists and
    /// maps of enums have none.
    pub description: Option<&'static str>,
}

/// Which schema of a property carries its `enum`.
pub enum EnumAt {
    /// The property's own (a string).
    Value,
    /// Its `items` (a list of enum values).
    Items,
    /// Its `additionalProperties` (a map to enum values).
    MapValues,
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

    fn enumeration(definition: &str, property: &str) -> &'static Enum {
        let d = super::definition(definition).unwrap();
        let p = d.properties.iter().find(|p| p.name == property).unwrap();
        p.enumeration.as_ref().unwrap()
    }

    #[test]
    fn enum_typed_properties_carry_their_values_and_paragraph() {
        let dns = enumeration("io.k8s.api.core.v1.PodSpec", "dnsPolicy");
        assert!(matches!(dns.at, EnumAt::Value));
        assert_eq!(
            dns.values,
            ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
        );
        let paragraph = dns.description.unwrap();
        assert!(
            paragraph.starts_with("Possible enum values:\n - `\"ClusterFirst\"` indicates that"),
            "{paragraph}"
        );
        let modes = enumeration(
            "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
            "accessModes",
        );
        assert!(matches!(modes.at, EnumAt::Items));
        assert!(modes.description.is_none());
        let resizes = enumeration(
            "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
            "allocatedResourceStatuses",
        );
        assert!(matches!(resizes.at, EnumAt::MapValues));
    }
}
