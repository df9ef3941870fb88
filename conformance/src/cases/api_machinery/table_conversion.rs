//! `[sig-api-machinery] Servers with support for Table transformation` (upstream
//! `test/e2e/apimachinery/table_conversion.go`): asking for a Table from a resource that has no
//! object metadata (a SelfSubjectAccessReview) is refused with 406.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Result, ensure};

const D: Describe = Describe::new("tables").with_pod_security(PodSecurityLevel::Privileged);

pub fn cases() -> Vec<Case> {
    vec![D.case(
        "[sig-api-machinery] Servers with support for Table transformation should return a 406 for a backend which does not implement metadata [Conformance]",
        case_fn!(not_acceptable_without_metadata),
    )]
}

async fn not_acceptable_without_metadata(f: &Framework) -> Result<()> {
    let sar = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/", "verb": "get"}},
    });
    let res = api::raw(
        &f.client,
        http::Method::POST,
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &[
            ("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"),
            ("Content-Type", "application/json"),
        ],
        Some(serde_json::to_vec(&sar)?),
    )
    .await?;
    ensure!(
        !res.status.is_success(),
        "failed to return error when posting self subject access review {sar} to a backend that does not implement metadata: got {}",
        res.status
    );
    // client-go takes the code from a Status body when there is one, else from the HTTP status.
    let body_code = res
        .json()
        .ok()
        .filter(|v| v["kind"] == "Status")
        .and_then(|v| v["code"].as_u64())
        .filter(|c| *c != 0);
    let code = body_code.unwrap_or(u64::from(res.status.as_u16()));
    ensure!(
        code == 406,
        "expected status code 406, got {code} ({})",
        res.text().trim()
    );
    Ok(())
}
