use super::*;
use crate::framework::Code;
use crate::node_info::testing::{node, on_node, pod};
use crate::volumes::testing::{claim, listers, with_claims};
use k8s_openapi::api::core::v1::{
    AWSElasticBlockStoreVolumeSource, GCEPersistentDiskVolumeSource, ISCSIVolumeSource,
    RBDVolumeSource,
};

fn with_volume(name: &str, v: Volume) -> Pod {
    let mut p = pod(name, &[&[]]);
    p.spec.as_mut().unwrap().volumes = Some(vec![v]);
    p
}

fn gce(pd: &str, read_only: bool) -> Volume {
    Volume {
        name: "d".into(),
        gce_persistent_disk: Some(GCEPersistentDiskVolumeSource {
            pd_name: pd.into(),
            read_only: Some(read_only),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ebs(id: &str) -> Volume {
    Volume {
        name: "d".into(),
        aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
            volume_id: id.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn rbd(monitors: &[&str], image: &str, read_only: bool) -> Volume {
    Volume {
        name: "d".into(),
        rbd: Some(RBDVolumeSource {
            monitors: monitors.iter().map(|m| m.to_string()).collect(),
            image: image.into(),
            read_only: Some(read_only),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn iscsi(iqn: &str, read_only: bool) -> Volume {
    Volume {
        name: "d".into(),
        iscsi: Some(ISCSIVolumeSource {
            iqn: iqn.into(),
            read_only: Some(read_only),
            target_portal: "127.0.0.1:3260".into(),
            lun: 0,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn disk_conflicts_as_upstream() {
    // (new volume, existing volume, conflict)
    let cases = [
        (gce("a", false), gce("a", false), true),
        (gce("a", true), gce("a", true), false),
        (gce("a", true), gce("a", false), true),
        (gce("a", false), gce("b", false), false),
        (ebs("v1"), ebs("v1"), true),
        (ebs("v1"), ebs("v2"), false),
        (
            rbd(&["m1", "m2"], "i", false),
            rbd(&["m2"], "i", false),
            true,
        ),
        (rbd(&["m1"], "i", false), rbd(&["m2"], "i", false), false),
        (rbd(&["m1"], "i", true), rbd(&["m1"], "i", true), false),
        (rbd(&["m1"], "i", false), rbd(&["m1"], "j", false), false),
        (iscsi("iqn.a", false), iscsi("iqn.a", false), true),
        (iscsi("iqn.a", true), iscsi("iqn.a", true), false),
        (iscsi("iqn.a", false), iscsi("iqn.b", false), false),
        (gce("a", false), ebs("a"), false),
    ];
    let l = listers(vec![], vec![], vec![], vec![]);
    let plugin = VolumeRestrictions { listers: l };
    for (i, (new, existing, conflict)) in cases.into_iter().enumerate() {
        let mut info = NodeInfo::new(Arc::new(node("n", "1", "1Gi")));
        info.add_pod(PodInfo::new(Arc::new(on_node(
            with_volume("old", existing),
            "n",
        ))));
        let p = with_volume("new", new);
        let mut state = CycleState::new();
        let (_, s) = plugin.pre_filter(&mut state, &p, &[Arc::new(info.clone())]);
        assert!(s.is_success(), "case {i}: {s}");
        let s = plugin.filter(&state, &p, &info);
        if conflict {
            assert_eq!(s.code(), Code::Unschedulable, "case {i}");
            assert_eq!(s.message(), REASON_DISK_CONFLICT);
        } else {
            assert!(s.is_success(), "case {i}: {s}");
        }
    }
}

#[test]
fn read_write_once_pod_claims_are_used_once_and_missing_claims_reject() {
    let l = listers(
        vec![
            claim("solo", "", "pv1", &["ReadWriteOncePod"]),
            claim("shared", "", "pv2", &["ReadWriteOnce"]),
        ],
        vec![],
        vec![],
        vec![],
    );
    let plugin = VolumeRestrictions { listers: l };
    let user = PodInfo::new(Arc::new(on_node(
        with_claims(pod("user", &[&[]]), &["solo", "shared"]),
        "a",
    )));
    let mut a = NodeInfo::new(Arc::new(node("a", "1", "1Gi")));
    a.add_pod(user.clone());
    let b = NodeInfo::new(Arc::new(node("b", "1", "1Gi")));
    let nodes = [Arc::new(a.clone()), Arc::new(b.clone())];

    // A second pod of the ReadWriteOncePod claim fits nowhere, while its user runs.
    let p = with_claims(pod("p", &[&[]]), &["solo"]);
    let mut state = CycleState::new();
    state.set_all_nodes(&nodes);
    let (_, s) = plugin.pre_filter(&mut state, &p, &nodes);
    assert!(s.is_success(), "{s}");
    for n in [&a, &b] {
        let s = plugin.filter(&state, &p, n);
        assert_eq!(s.code(), Code::Unschedulable);
        assert_eq!(s.message(), REASON_RWOP_CONFLICT);
    }
    // Preemption's dry run takes the user away: the claim is free.
    let mut without = state.clone();
    assert!(plugin.remove_pod(&mut without, &p, &user, &a).is_success());
    assert!(plugin.filter(&without, &p, &b).is_success());
    assert_eq!(
        plugin.filter(&state, &p, &b).code(),
        Code::Unschedulable,
        "the original state is left alone"
    );

    // A ReadWriteOnce claim may be shared: nothing to check.
    let q = with_claims(pod("q", &[&[]]), &["shared"]);
    let (_, s) = plugin.pre_filter(&mut CycleState::new(), &q, &nodes);
    assert!(s.is_skip());

    // A missing claim rejects the pod everywhere.
    let r = with_claims(pod("r", &[&[]]), &["nope"]);
    let (_, s) = plugin.pre_filter(&mut CycleState::new(), &r, &nodes);
    assert_eq!(s.code(), Code::UnschedulableAndUnresolvable);
    assert_eq!(s.message(), "persistentvolumeclaim \"nope\" not found");
}
