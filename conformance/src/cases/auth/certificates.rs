//! `[sig-auth] Certificates API` API case (upstream `test/e2e/auth/certificates.go`): the
//! certificates.k8s.io CertificateSigningRequest API with its `approval` and `status`
//! subresources. The kubelet client certificate case needs a signer and is not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::watch::{EventType, Watch};
use crate::framework::{Framework, api, discovery};
use anyhow::{Context, Result, ensure};
use k8s_openapi::ByteString;
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestSpec,
};
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::time::Duration;

const D: Describe = Describe::new("certificates");

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-auth] Certificates API [Privileged:ClusterAdmin] should support CSR API operations [Conformance]",
        case_fn!(api_operations),
    )]
}

/// A PEM certificate request and a PEM self-signed certificate for `e2e.example.com`, as
/// upstream makes with `cert.MakeCSR` and `cert.GenerateSelfSignedCertKey`.
fn make_csr_and_certificate() -> Result<(String, String)> {
    let key = rcgen::KeyPair::generate().context("generating a key")?;
    let mut params = rcgen::CertificateParams::new(vec!["e2e.example.com".to_string()])
        .context("building certificate parameters")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "e2e.example.com");
    let csr = params
        .serialize_request(&key)
        .context("building a certificate request")?
        .pem()
        .context("encoding the certificate request")?;
    let cert = params
        .self_signed(&key)
        .context("self-signing a certificate")?
        .pem();
    Ok((csr, cert))
}

fn annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations.as_ref()?.get(key).cloned()
}

fn conditions(csr: &CertificateSigningRequest) -> Vec<CertificateSigningRequestCondition> {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// The `/approval` and `/status` reads return the whole object with its type meta.
async fn expect_subresource_object(
    f: &Framework,
    name: &str,
    sub: &str,
    uid: &Option<String>,
) -> Result<()> {
    let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/{sub}");
    api::expect_subresource_object(
        &f.client,
        &path,
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        uid.as_deref(),
    )
    .await
}

async fn api_operations(f: &Framework) -> Result<()> {
    let csrs = f.api_all::<CertificateSigningRequest>();
    let pp = PostParams::default();
    let (request, certificate) = make_csr_and_certificate()?;
    let signer = format!("example.com/e2e-{}", f.ns());
    let by_signer = format!("spec.signerName={signer}");
    let template = CertificateSigningRequest {
        metadata: ObjectMeta {
            generate_name: Some("e2e-example-csr-".into()),
            ..Default::default()
        },
        spec: CertificateSigningRequestSpec {
            request: ByteString(request.into_bytes()),
            signer_name: signer.clone(),
            expiration_seconds: Some(3600),
            usages: Some(vec![
                "digital signature".into(),
                "key encipherment".into(),
                "server auth".into(),
            ]),
            ..Default::default()
        },
        status: None,
    };
    // Cluster-scoped objects outlive the namespace; remove them whatever happens.
    let cleanup = csrs.clone();
    let cleanup_selector = by_signer.clone();
    f.defer("deleting the test CSRs", async move {
        let _ = cleanup
            .delete_collection(
                &DeleteParams::default(),
                &ListParams::default().fields(&cleanup_selector),
            )
            .await;
    });

    discovery::expect_served(
        f,
        "certificates.k8s.io",
        "v1",
        &[
            "certificatesigningrequests",
            "certificatesigningrequests/approval",
            "certificatesigningrequests/status",
        ],
    )
    .await?;

    f.step("creating");
    csrs.create(&pp, &template)
        .await
        .context("creating CSR 1")?;
    csrs.create(&pp, &template)
        .await
        .context("creating CSR 2")?;
    let created = csrs
        .create(&pp, &template)
        .await
        .context("creating CSR 3")?;
    let name = created.metadata.name.clone().unwrap_or_default();

    f.step("getting");
    let got = csrs.get(&name).await.context("getting the CSR")?;
    ensure!(
        got.metadata.uid == created.metadata.uid,
        "got a different uid"
    );
    ensure!(
        got.spec.expiration_seconds == Some(3600),
        "expirationSeconds is {:?}, expected 3600",
        got.spec.expiration_seconds
    );

    f.step("listing");
    let list = csrs.list(&ListParams::default().fields(&by_signer)).await?;
    ensure!(
        list.items.len() == 3,
        "filtered list should have 3 items, got {}",
        list.items.len()
    );

    f.step("watching");
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut w = Watch::start(&csrs, &rv, None, Some(&format!("metadata.name={name}"))).await?;

    f.step("patching");
    let patch = serde_json::json!({"metadata": {"annotations": {"patched": "true"}}});
    let patched = csrs
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching the CSR")?;
    ensure!(
        annotation(&patched.metadata, "patched").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating");
    let mut to_update = patched.clone();
    to_update
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert("updated".into(), "true".into());
    let updated = csrs
        .replace(&name, &pp, &to_update)
        .await
        .context("updating the CSR")?;
    ensure!(
        annotation(&updated.metadata, "updated").as_deref() == Some("true"),
        "updated object should have the applied annotation"
    );

    f.log("waiting for watch events with expected annotations");
    w.until(Duration::from_secs(30), |e| {
        ensure!(
            e.kind == EventType::Modified,
            "expected a MODIFIED event, got {:?}",
            e.kind
        );
        Ok(e.object
            .as_ref()
            .is_some_and(|o| annotation(&o.metadata, "patched").as_deref() == Some("true")))
    })
    .await
    .context("timed out waiting for watch event")?;
    drop(w);

    f.step("getting /approval");
    expect_subresource_object(f, &name, "approval", &created.metadata.uid).await?;

    f.step("patching /approval");
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patchedapproval": "true"}},
        "status": {"conditions": [{"type": "ApprovalPatch", "status": "True", "reason": "e2e"}]},
    });
    let patched = csrs
        .patch_subresource(
            "approval",
            &name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await
        .context("patching /approval")?;
    let conds = conditions(&patched);
    ensure!(
        conds.len() == 1,
        "patched object should have the applied condition, got {conds:?}"
    );
    ensure!(
        conds[0].type_ == "ApprovalPatch",
        "patched object should have the applied condition, got {conds:?}"
    );
    ensure!(
        annotation(&patched.metadata, "patchedapproval").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating /approval");
    let mut approval = patched.clone();
    approval
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: "True".into(),
            reason: Some("E2E".into()),
            message: Some("Set from an e2e test".into()),
            ..Default::default()
        });
    let updated = csrs
        .replace_subresource("approval", &name, &pp, &approval)
        .await
        .context("updating /approval")?;
    let conds = conditions(&updated);
    ensure!(
        conds.len() == 2,
        "updated object should have the applied condition, got {conds:?}"
    );
    ensure!(
        conds[1].type_ == "Approved",
        "updated object should have the approved condition, got {conds:?}"
    );

    f.step("getting /status");
    expect_subresource_object(f, &name, "status", &created.metadata.uid).await?;

    f.step("patching /status");
    let patch = serde_json::json!({
        "metadata": {"annotations": {"patchedstatus": "true"}},
        "status": {"certificate": ByteString(certificate.clone().into_bytes())},
    });
    let patched = csrs
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .context("patching /status")?;
    let got_cert = patched.status.as_ref().and_then(|s| s.certificate.clone());
    ensure!(
        got_cert.as_ref().map(|c| c.0.as_slice()) == Some(certificate.as_bytes()),
        "patched object should have the applied certificate"
    );
    ensure!(
        annotation(&patched.metadata, "patchedstatus").as_deref() == Some("true"),
        "patched object should have the applied annotation"
    );

    f.step("updating /status");
    let mut status = patched.clone();
    status
        .status
        .get_or_insert_with(Default::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(CertificateSigningRequestCondition {
            type_: "StatusUpdate".into(),
            status: "True".into(),
            reason: Some("E2E".into()),
            message: Some("Set from an e2e test".into()),
            ..Default::default()
        });
    let want = conditions(&status).len();
    let updated = csrs
        .replace_status(&name, &pp, &status)
        .await
        .context("updating /status")?;
    let conds = conditions(&updated);
    ensure!(
        conds.len() == want,
        "updated object should have the applied condition, got {conds:?}"
    );
    ensure!(
        conds.last().is_some_and(|c| c.type_ == "StatusUpdate"),
        "updated object should have the approved condition, got {conds:?}"
    );

    f.step("deleting");
    csrs.delete(&name, &DeleteParams::default())
        .await
        .context("deleting the CSR")?;
    api::expect_not_found(csrs.get(&name).await, "the deleted CSR")?;
    let list = csrs.list(&ListParams::default().fields(&by_signer)).await?;
    ensure!(
        list.items.len() == 2,
        "filtered list should have 2 items, got {}",
        list.items.len()
    );

    f.step("deleting a collection");
    csrs.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().fields(&by_signer),
    )
    .await
    .context("deleting the collection")?;
    let list = csrs.list(&ListParams::default().fields(&by_signer)).await?;
    ensure!(
        list.items.is_empty(),
        "filtered list should have 0 items, got {}",
        list.items.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_and_certificate_are_pem() {
        let (csr, cert) = make_csr_and_certificate().unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
