use super::*;
use crate::framework::Code;
use crate::node_info::PodInfo;
use crate::node_info::testing::{node, on_node, pod};
use crate::volumes::testing::{claim, class, listers, volume, with_claims};
use k8s_openapi::api::core::v1::{AWSElasticBlockStoreVolumeSource, CSIPersistentVolumeSource};
use k8s_openapi::api::storage::v1::{CSINodeDriver, CSINodeSpec, VolumeNodeResources};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn csi_volume(name: &str, driver: &str) -> PersistentVolume {
    let mut v = volume(name, "", "1Gi", &[]);
    v.spec.as_mut().unwrap().csi = Some(CSIPersistentVolumeSource {
        driver: driver.into(),
        volume_handle: format!("handle-{name}"),
        ..Default::default()
    });
    v
}

fn csi_node(name: &str, drivers: &[(&str, i32)], migrated: &str) -> CSINode {
    CSINode {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: (!migrated.is_empty())
                .then(|| BTreeMap::from([(MIGRATED_PLUGINS.to_string(), migrated.to_string())])),
            ..Default::default()
        },
        spec: CSINodeSpec {
            drivers: drivers
                .iter()
                .map(|(d, n)| CSINodeDriver {
                    name: d.to_string(),
                    node_id: name.into(),
                    allocatable: Some(VolumeNodeResources { count: Some(*n) }),
                    topology_keys: None,
                })
                .collect(),
        },
    }
}

fn plugin() -> NodeVolumeLimits {
    NodeVolumeLimits {
        listers: listers(
            vec![
                claim("c1", "", "pv1", &["ReadWriteOnce"]),
                claim("c2", "", "pv2", &["ReadWriteOnce"]),
                claim("c3", "", "pv3", &["ReadWriteOnce"]),
                claim("other", "", "pv-other", &["ReadWriteOnce"]),
                claim("unbound", "csi", "", &["ReadWriteOnce"]),
            ],
            vec![
                csi_volume("pv1", "csi.example.com"),
                csi_volume("pv2", "csi.example.com"),
                csi_volume("pv3", "csi.example.com"),
                csi_volume("pv-other", "other.example.com"),
            ],
            vec![class("csi", "csi.example.com", "WaitForFirstConsumer")],
            vec![
                csi_node("n", &[("csi.example.com", 2), ("other.example.com", 0)], ""),
                csi_node(
                    "migrated",
                    &[("ebs.csi.aws.com", 1)],
                    "kubernetes.io/aws-ebs",
                ),
            ],
        ),
        random_prefix: "rnd".into(),
    }
}

fn node_with(name: &str, pods: &[Pod]) -> NodeInfo {
    let mut info = NodeInfo::new(Arc::new(node(name, "4", "8Gi")));
    for p in pods {
        info.add_pod(PodInfo::new(Arc::new(on_node(p.clone(), name))));
    }
    info
}

fn ebs_pod(name: &str, id: &str) -> Pod {
    let mut p = pod(name, &[&[]]);
    p.spec.as_mut().unwrap().volumes = Some(vec![Volume {
        name: "ebs".into(),
        aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
            volume_id: id.into(),
            ..Default::default()
        }),
        ..Default::default()
    }]);
    p
}

#[test]
fn unique_csi_volumes_are_counted_per_driver_against_the_csinode() {
    let pl = plugin();
    let filter = |p: &Pod, n: &NodeInfo| pl.filter(&CycleState::new(), p, n);
    let running = with_claims(pod("running", &[&[]]), &["c1"]);
    let n = node_with("n", &[running]);
    // One attached + one new = 2: fits.
    assert!(filter(&with_claims(pod("p", &[&[]]), &["c2"]), &n).is_success());
    // The same volume again is not a new attachment.
    assert!(filter(&with_claims(pod("p", &[&[]]), &["c1", "c2"]), &n).is_success());
    // One attached + two new = 3 > 2.
    let s = filter(&with_claims(pod("p", &[&[]]), &["c2", "c3"]), &n);
    assert_eq!(s.code(), Code::Unschedulable);
    assert_eq!(s.message(), REASON);
    // An unbound claim counts for its class's provisioner.
    let s = filter(&with_claims(pod("p", &[&[]]), &["c2", "unbound"]), &n);
    assert_eq!(s.code(), Code::Unschedulable);
    // Another driver with a limit of 0.
    let s = filter(&with_claims(pod("p", &[&[]]), &["other"]), &n);
    assert_eq!(s.code(), Code::Unschedulable);
    // A node without a CSINode has no limits.
    let free = node_with("free", &[]);
    assert!(
        filter(
            &with_claims(pod("p", &[&[]]), &["c2", "c3", "other"]),
            &free
        )
        .is_success()
    );
    // A missing claim: unresolvable, upstream's words.
    let s = filter(&with_claims(pod("p", &[&[]]), &["nope"]), &n);
    assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
    assert_eq!(
        s.message(),
        "looking up PVC default/nope: persistentvolumeclaim \"nope\" not found"
    );
    // PreFilter skips pods without claims or migratable volumes.
    let (_, s) = pl.pre_filter(&mut CycleState::new(), &pod("p", &[&[]]), &[]);
    assert!(s.is_skip());
}

#[test]
fn migrated_in_tree_volumes_count_for_their_csi_driver() {
    let pl = plugin();
    let filter = |p: &Pod, n: &NodeInfo| pl.filter(&CycleState::new(), p, n);
    let migrated = node_with("migrated", &[ebs_pod("a", "aws://us-east-1a/vol-1")]);
    // `aws://zone/vol-1` and `vol-1` are one volume.
    assert!(filter(&ebs_pod("b", "vol-1"), &migrated).is_success());
    let s = filter(&ebs_pod("b", "vol-2"), &migrated);
    assert_eq!(s.code(), Code::Unschedulable);
    // Where the plugin is not migrated, the volumes are not CSI volumes.
    let n = node_with("n", &[ebs_pod("a", "vol-1")]);
    assert!(filter(&ebs_pod("b", "vol-2"), &n).is_success());
    let (_, s) = pl.pre_filter(&mut CycleState::new(), &ebs_pod("b", "vol-2"), &[]);
    assert!(s.is_success());
}
