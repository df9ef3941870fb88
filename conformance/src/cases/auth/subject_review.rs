//! `[sig-auth] SubjectReview` (upstream `test/e2e/auth/subjectreviews.go`): SubjectAccessReview
//! and LocalSubjectAccessReview answers agree with what an impersonated request may do.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, api};
use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{ObjectMeta, PostParams};

const D: Describe = Describe::new("subjectreview");

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-auth] SubjectReview should support SubjectReview API operations [Conformance]",
        case_fn!(subject_review),
    )]
}

fn spec(user: &str, groups: &[String], uid: &str, ns: &str) -> SubjectAccessReviewSpec {
    SubjectAccessReviewSpec {
        resource_attributes: Some(ResourceAttributes {
            verb: Some("list".into()),
            resource: Some("configmaps".into()),
            namespace: Some(ns.into()),
            version: Some("v1".into()),
            ..Default::default()
        }),
        user: Some(user.into()),
        groups: Some(groups.to_vec()),
        uid: Some(uid.into()),
        ..Default::default()
    }
}

async fn subject_review(f: &Framework) -> Result<()> {
    let ns = f.ns();
    let sa_name = "e2e";
    f.step(format!(
        "Creating a Serviceaccount {sa_name:?} in namespace {ns:?}"
    ));
    let sa = f
        .api::<ServiceAccount>()
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(sa_name.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("Unable to create serviceaccount {sa_name:?}"))?;
    let username = format!("system:serviceaccount:{ns}:{sa_name}");
    let groups = vec![
        "system:authenticated".to_string(),
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{ns}"),
    ];
    let uid = sa.metadata.uid.clone().unwrap_or_default();

    f.step(format!("Creating SubjectAccessReview for {username:?}"));
    let sar = f
        .api_all::<SubjectAccessReview>()
        .create(
            &PostParams::default(),
            &SubjectAccessReview {
                spec: spec(&username, &groups, &uid, ns),
                ..Default::default()
            },
        )
        .await
        .context("Unable to create a SubjectAccessReview")?;
    let expected = sar.status.map(|s| s.allowed).unwrap_or(false);

    f.step(format!(
        "Verifying as {username:?} api 'list' configmaps in {ns:?} namespace"
    ));
    // Impersonation headers on the admin client, as client-go's ImpersonationConfig sends them.
    let mut headers = vec![
        ("Impersonate-User", username.as_str()),
        ("Impersonate-Uid", uid.as_str()),
    ];
    headers.extend(groups.iter().map(|g| ("Impersonate-Group", g.as_str())));
    let res = api::raw(
        &f.client,
        http::Method::GET,
        &format!("/api/v1/namespaces/{ns}/configmaps"),
        &headers,
        None,
    )
    .await?;
    let actually_allowed = match res.status.as_u16() {
        403 => false,
        200..=299 => true,
        code => bail!("Unexpected error: {code} {}", res.text()),
    };
    ensure!(
        actually_allowed == expected,
        "Could not verify SubjectAccessReview for {username:?} in namespace {ns:?}: SubjectAccessReview allowed: {expected}, request allowed: {actually_allowed}"
    );

    f.step(format!(
        "Creating a LocalSubjectAccessReview for {username:?}"
    ));
    // Upstream names the bare service account here, not its user name.
    let lsar = f
        .api::<LocalSubjectAccessReview>()
        .create(
            &PostParams::default(),
            &LocalSubjectAccessReview {
                metadata: ObjectMeta {
                    namespace: Some(ns.into()),
                    ..Default::default()
                },
                spec: spec(sa_name, &groups, &uid, ns),
                ..Default::default()
            },
        )
        .await
        .context("Unable to create a LocalSubjectAccessReview")?;
    let expected = lsar.status.map(|s| s.allowed).unwrap_or(false);
    ensure!(
        actually_allowed == expected,
        "Could not verify LocalSubjectAccessReview for {username:?} in namespace {ns:?}: LocalSubjectAccessReview allowed: {expected}, request allowed: {actually_allowed}"
    );
    Ok(())
}
