//! `[sig-api-machinery] FieldValidation` for typed objects (upstream
//! `test/e2e/apimachinery/field_validation.go`): `fieldValidation=Strict` rejects unknown and
//! duplicate fields. The custom resource cases need CRDs and are not here yet.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, bail};

const D: Describe = Describe::new("field-validation").with_pod_security(PodSecurityLevel::Baseline);

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] FieldValidation should detect unknown and duplicate fields of a typed object [Conformance]",
            case_fn!(unknown_and_duplicate_fields),
        ),
        D.case(
            "[sig-api-machinery] FieldValidation should detect unknown metadata fields of a typed object [Conformance]",
            case_fn!(unknown_metadata_fields),
        ),
    ]
}

/// The body is raw text: typed clients cannot send the duplicate key it carries.
const UNKNOWN_AND_DUPLICATE: &str = r#"{
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "my-dep",
        "labels": {"app": "nginx"}
    },
    "spec": {
        "unknownField": "foo",
        "replicas": 2,
        "replicas": 3,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}
        }
    }
}"#;

const UNKNOWN_METADATA: &str = r#"{
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "my-dep",
        "unknownMeta": "foo",
        "labels": {"app": "nginx"}
    },
    "spec": {
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}
        }
    }
}"#;

/// POSTs a Deployment with strict field validation; expects an API error containing `want`.
async fn post_strict(f: &Framework, body: &str, want: &str) -> Result<()> {
    let path = format!(
        "/apis/apps/v1/namespaces/{}/deployments?fieldManager=field_validation_mgr&fieldValidation=Strict",
        f.ns()
    );
    let req = http::Request::post(&path)
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec())
        .context("building the request")?;
    match f.client.request_text(req).await {
        Ok(_) => {
            // Nothing to keep: the object should never have been created.
            let _ = f
                .api::<k8s_openapi::api::apps::v1::Deployment>()
                .delete("my-dep", &Default::default())
                .await;
            bail!("the server accepted the object; expected an error containing {want:?}")
        }
        Err(kube::Error::Api(status)) if status.message.contains(want) => Ok(()),
        Err(e) => bail!(
            "error missing the expected text {want:?}, got: {}",
            api::describe(&e)
        ),
    }
}

async fn unknown_and_duplicate_fields(f: &Framework) -> Result<()> {
    f.step("apply creating a deployment");
    post_strict(
        f,
        UNKNOWN_AND_DUPLICATE,
        r#"strict decoding error: unknown field "spec.unknownField", duplicate field "spec.replicas""#,
    )
    .await
}

async fn unknown_metadata_fields(f: &Framework) -> Result<()> {
    f.step("apply creating a deployment");
    post_strict(
        f,
        UNKNOWN_METADATA,
        r#"strict decoding error: unknown field "metadata.unknownMeta""#,
    )
    .await
}
