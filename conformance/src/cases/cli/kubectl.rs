//! `[sig-cli] Kubectl client` cases (upstream `test/e2e/kubectl/kubectl.go`) that need only the
//! API server: discovery, version and cluster-info output, `diff`, and a server-side dry run.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel};
use anyhow::{Result, bail, ensure};
use k8s_openapi::api::core::v1::Pod;

const D: Describe = Describe::new("kubectl").with_pod_security(PodSecurityLevel::Baseline);

/// The images upstream's tests name (only their names matter here: nothing runs them).
const HTTPD_IMAGE: &str = "registry.k8s.io/e2e-test-images/httpd:2.4.38-4";
const BUSYBOX_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.37.0-1";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-cli] Kubectl client Kubectl api-versions should check if v1 is in available api versions [Conformance]",
            case_fn!(api_versions),
        ),
        D.case(
            "[sig-cli] Kubectl client Kubectl cluster-info should check if Kubernetes control plane services is included in cluster-info [Conformance]",
            case_fn!(cluster_info),
        ),
        D.case(
            "[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]",
            case_fn!(version),
        ),
        D.case(
            "[sig-cli] Kubectl client Kubectl diff should check if kubectl diff finds a difference for Deployments [Conformance]",
            case_fn!(diff_deployment),
        ),
        D.case(
            "[sig-cli] Kubectl client Kubectl server-side dry-run should check if kubectl can dry-run update Pods [Conformance]",
            case_fn!(dry_run_update_pod),
        ),
    ]
}

async fn api_versions(f: &Framework) -> Result<()> {
    f.step("validating api versions");
    let out = f.kubectl(&["api-versions"], None).await?;
    ensure!(
        out.lines().any(|l| l == "v1"),
        "no v1 in api-versions:\n{out}"
    );
    Ok(())
}

async fn cluster_info(f: &Framework) -> Result<()> {
    f.step("validating cluster-info");
    let out = f.kubectl(&["cluster-info"], None).await?;
    for item in ["Kubernetes control plane", "is running at"] {
        ensure!(
            out.contains(item),
            "missing {item:?} in cluster-info:\n{out}"
        );
    }
    Ok(())
}

async fn version(f: &Framework) -> Result<()> {
    let out = f.kubectl(&["version"], None).await?;
    for item in ["Client Version: ", "Server Version: "] {
        let re = regex::Regex::new(&format!(r"{item}v\d\.\d+\.[\d\w\-\.\+]+"))?;
        ensure!(re.is_match(&out), "missing {item:?}<version> in:\n{out}");
    }
    Ok(())
}

fn httpd_deployment() -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpd-deployment
  labels:
    app: httpd
spec:
  replicas: 3
  selector:
    matchLabels:
      app: httpd
  template:
    metadata:
      labels:
        app: httpd
    spec:
      containers:
      - name: httpd
        image: {HTTPD_IMAGE}
        ports:
        - containerPort: 80
"
    )
}

async fn diff_deployment(f: &Framework) -> Result<()> {
    f.step("create deployment with httpd image");
    let deployment = httpd_deployment();
    f.kubectl(&["create", "-f", "-"], Some(&deployment)).await?;
    f.step("verify diff finds difference between live and declared image");
    let declared = deployment.replacen(HTTPD_IMAGE, BUSYBOX_IMAGE, 1);
    // kubectl diff exits 1 when it finds differences; the output is what counts.
    let (_, out, err) = f.kubectl_run(&["diff", "-f", "-"], Some(&declared)).await?;
    for item in [HTTPD_IMAGE, BUSYBOX_IMAGE] {
        ensure!(
            out.contains(item),
            "missing {item} in kubectl diff output:\n{out}\n{err}"
        );
    }
    f.kubectl(&["delete", "-f", "-"], Some(&declared)).await?;
    Ok(())
}

async fn dry_run_update_pod(f: &Framework) -> Result<()> {
    let name = "e2e-test-httpd-pod";
    f.step(format!("running the image {HTTPD_IMAGE}"));
    f.kubectl(
        &[
            "run",
            name,
            &format!("--image={HTTPD_IMAGE}"),
            "--pod-running-timeout=2m",
            &format!("--labels=run={name}"),
        ],
        None,
    )
    .await?;
    f.step("replace the image in the pod with server-side dry-run");
    let patch =
        format!(r#"{{"spec":{{"containers":[{{"name": "{name}","image": "{BUSYBOX_IMAGE}"}}]}}}}"#);
    f.kubectl(
        &["patch", "pod", name, "-p", &patch, "--dry-run=server"],
        None,
    )
    .await?;
    f.step(format!(
        "verifying the pod {name} has the right image {HTTPD_IMAGE}"
    ));
    let pod = f.api::<Pod>().get(name).await?;
    let images: Vec<String> = pod
        .spec
        .map(|s| s.containers.into_iter().filter_map(|c| c.image).collect())
        .unwrap_or_default();
    if images.iter().any(|i| i != HTTPD_IMAGE) {
        bail!("the dry run changed the pod's image: {images:?}");
    }
    f.kubectl(&["delete", "pods", name], None).await?;
    Ok(())
}
