//! `[sig-node] Pods Extended` API case (upstream `test/e2e/node/pods.go`): the API server
//! computes a pod's QoS class at creation. The other cases there need a kubelet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, new_uuid};
use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{ObjectMeta, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("pods").with_pod_security(PodSecurityLevel::Baseline);

/// Upstream's `imageutils.GetE2EImage(imageutils.Agnhost)`.
const AGNHOST_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-node] Pods Extended Pods Set QOS Class should be set on Pods with matching resource requests and limits for memory and cpu [Conformance]",
        case_fn!(qos_class_guaranteed),
    )]
}

async fn qos_class_guaranteed(f: &Framework) -> Result<()> {
    let pods = f.api::<Pod>();
    f.step("creating the pod");
    let name = format!("pod-qos-class-{}", new_uuid());
    let resources = BTreeMap::from([
        ("cpu".to_string(), Quantity("100m".into())),
        ("memory".to_string(), Quantity("100Mi".into())),
    ]);
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([("name".into(), name.clone())])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "agnhost".into(),
                image: Some(AGNHOST_IMAGE.into()),
                args: Some(vec!["pause".into()]),
                resources: Some(ResourceRequirements {
                    limits: Some(resources.clone()),
                    requests: Some(resources),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };

    f.step("submitting the pod to kubernetes");
    pods.create(&PostParams::default(), &pod)
        .await
        .context("creating the pod")?;

    f.step("verifying QOS class is set on the pod");
    let pod = pods.get(&name).await.context("failed to query for pod")?;
    let qos = pod.status.and_then(|s| s.qos_class);
    ensure!(
        qos.as_deref() == Some("Guaranteed"),
        "expected QOS class Guaranteed, got {qos:?}"
    );
    Ok(())
}
