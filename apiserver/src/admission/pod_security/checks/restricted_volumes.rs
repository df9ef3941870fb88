//! `restrictedVolumes` (restricted, v1.0+): beyond hostPath, only volume types that are
//! part of the pod or defined through PersistentVolumes may be used. Replaces
//! `hostPathVolumes`. Allowed: configMap, csi, downwardAPI, emptyDir, ephemeral, image,
//! persistentVolumeClaim, projected, secret. (Upstream added `image` to its v1.0 revision in
//! v1.33, so it is allowed at every version.)

use super::super::level::Level;
use super::super::policy::{Check, VersionedCheck, Violation};
use super::{Pod, host_path_volumes, join_quote, pluralize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

pub const CHECK: Check = Check {
    id: "restrictedVolumes",
    level: Level::Restricted,
    versions: &[VersionedCheck::new(0, restricted_volumes_1_0).overriding(&[host_path_volumes::ID])],
};

const ALLOWED: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// The restricted sources upstream names, in the order it looks for them.
const RESTRICTED: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

fn has(volume: &Map<String, Value>, source: &str) -> bool {
    volume.get(source).is_some_and(|s| !s.is_null())
}

fn restricted_volumes_1_0(pod: &Pod<'_>) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for volume in pod.volumes() {
        if ALLOWED.iter().any(|s| has(volume, s)) {
            continue;
        }
        bad.push(volume.get("name").and_then(Value::as_str).unwrap_or(""));
        types.insert(
            RESTRICTED
                .iter()
                .find(|s| has(volume, s))
                .copied()
                .unwrap_or("unknown"),
        );
    }
    (!bad.is_empty()).then(|| {
        let types: Vec<&str> = types.into_iter().collect();
        Violation::new(
            "restricted volume types",
            format!(
                "{} {} {} {}",
                pluralize("volume", "volumes", bad.len()),
                join_quote(&bad),
                pluralize(
                    "uses restricted volume type",
                    "use restricted volume types",
                    bad.len()
                ),
                join_quote(&types)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refuses, run_spec};
    use super::*;
    use serde_json::json;

    /// Upstream's TestRestrictedVolumes.
    #[test]
    fn only_core_volume_types_are_allowed() {
        let mut volumes: Vec<Value> = ALLOWED
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"name": format!("a{}", i + 1), *s: {}}))
            .collect();
        volumes.extend(
            RESTRICTED
                .iter()
                .enumerate()
                .map(|(i, s)| json!({"name": format!("b{}", i + 1), *s: {}})),
        );
        volumes.push(json!({"name": "c1"}));
        refuses(
            run_spec(restricted_volumes_1_0, json!({ "volumes": volumes })),
            "restricted volume types",
            concat!(
                r#"volumes "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11", "b12", "b13", "b14", "b15", "b16", "b17", "b18", "b19", "b20", "b21", "c1""#,
                r#" use restricted volume types "#,
                r#""awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo", "glusterfs", "#,
                r#""hostPath", "iscsi", "nfs", "photonPersistentDisk", "portworxVolume", "quobyte", "rbd", "scaleIO", "storageos", "unknown", "vsphereVolume""#
            ),
        );
        refuses(
            run_spec(
                restricted_volumes_1_0,
                json!({"volumes": [{"name": "host", "hostPath": {"path": "/"}}]}),
            ),
            "restricted volume types",
            r#"volume "host" uses restricted volume type "hostPath""#,
        );
        let allowed: Vec<Value> = ALLOWED
            .iter()
            .map(|s| json!({"name": *s, *s: {}}))
            .collect();
        assert_eq!(
            run_spec(restricted_volumes_1_0, json!({ "volumes": allowed })),
            None
        );
    }
}
