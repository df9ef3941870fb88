//! `[sig-node] Sysctls` API case (upstream `test/e2e/common/node/sysctl.go`): pod validation
//! rejects malformed sysctl names, and only those. The cases that run sysctls need a kubelet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid};
use anyhow::{Result, bail, ensure};
use k8s_openapi::api::core::v1::{Container, Pod, PodSecurityContext, PodSpec, Sysctl};
use kube::api::{ObjectMeta, PostParams};
use std::collections::BTreeMap;

const D: Describe = Describe::new("sysctl").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `imageutils.GetE2EImage(imageutils.BusyBox)`; nothing runs it here.
const BUSYBOX_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1";

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-node] Sysctls [LinuxOnly] [NodeConformance] should reject invalid sysctls [MinimumKubeletVersion:1.21] [Conformance]",
        case_fn!(reject_invalid_sysctls),
    )]
}

async fn reject_invalid_sysctls(f: &Framework) -> Result<()> {
    let sysctl = |name: &str, value: &str| Sysctl {
        name: name.into(),
        value: value.into(),
    };
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(format!("sysctl-{}", new_uuid())),
            annotations: Some(BTreeMap::new()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "test-container".into(),
                image: Some(BUSYBOX_IMAGE.into()),
                ..Default::default()
            }],
            restart_policy: Some("Never".into()),
            security_context: Some(PodSecurityContext {
                sysctls: Some(vec![
                    sysctl("foo-", "bar"),
                    sysctl("kernel.shmmax", "100000000"),
                    sysctl("safe-and-unsafe", "100000000"),
                    sysctl("bar..", "42"),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };

    f.step("Creating a pod with one valid and two invalid sysctls");
    let message = match f.api::<Pod>().create(&PostParams::default(), &pod).await {
        Ok(_) => bail!("the pod with invalid sysctls was created"),
        Err(kube::Error::Api(s)) => s.message.clone(),
        Err(e) => bail!(
            "creating the pod failed without an API error: {}",
            api::describe(&e)
        ),
    };
    for want in [r#"Invalid value: "foo-""#, r#"Invalid value: "bar..""#] {
        ensure!(
            message.contains(want),
            "expected {want:?} in the error, got: {message}"
        );
    }
    for unwanted in ["safe-and-unsafe", "kernel.shmmax"] {
        ensure!(
            !message.contains(unwanted),
            "did not expect {unwanted:?} in the error, got: {message}"
        );
    }
    Ok(())
}
