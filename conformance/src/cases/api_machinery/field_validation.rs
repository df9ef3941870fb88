//! `[sig-api-machinery] FieldValidation` (upstream `test/e2e/apimachinery/field_validation.go`):
//! `fieldValidation=Strict` rejects unknown and duplicate fields of typed objects, and
//! server-side applies of custom resources keep what a schema allows, reject what it does not
//! declare (in the root and in embedded objects' metadata), and reject duplicate keys even
//! where unknown fields are preserved.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::crd::{self, CLUSTER_SCOPED};
use crate::framework::{Framework, PodSecurityLevel, api};
use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceValidation,
};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

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
        D.case(
            "[sig-api-machinery] FieldValidation should create/apply a valid CR for CRD with validation schema [Conformance]",
            case_fn!(valid_cr_with_schema),
        ),
        D.case(
            "[sig-api-machinery] FieldValidation should create/apply a CR with unknown fields for CRD with no validation schema [Conformance]",
            case_fn!(unknown_fields_cr_without_schema),
        ),
        D.case(
            "[sig-api-machinery] FieldValidation should create/apply an invalid CR with extra properties for CRD with validation schema [Conformance]",
            case_fn!(invalid_cr_with_extra_properties),
        ),
        D.case(
            "[sig-api-machinery] FieldValidation should detect unknown metadata fields in both the root and embedded object of a CR [Conformance]",
            case_fn!(unknown_metadata_fields_of_cr),
        ),
        D.case(
            "[sig-api-machinery] FieldValidation should detect duplicates in a CR when preserving unknown fields [Conformance]",
            case_fn!(duplicates_in_cr_preserving_unknown_fields),
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

/// The name of the custom resource every CR case applies.
const CR_NAME: &str = "mytest";

/// The `spec` properties the CR cases' schemas share.
fn spec_properties() -> Value {
    json!({
        "foo": {"type": "string"},
        "cronSpec": {
            "type": "string",
            "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$"
        },
        "ports": {
            "type": "array",
            "x-kubernetes-list-map-keys": ["containerPort", "protocol"],
            "x-kubernetes-list-type": "map",
            "items": {
                "properties": {
                    "containerPort": {"format": "int32", "type": "integer"},
                    "hostIP": {"type": "string"},
                    "hostPort": {"format": "int32", "type": "integer"},
                    "name": {"type": "string"},
                    "protocol": {"type": "string"}
                },
                "required": ["containerPort", "protocol"],
                "type": "object"
            }
        }
    })
}

/// The schema of the valid and extra-properties cases: a closed `spec`.
fn closed_spec_schema() -> Value {
    json!({"openAPIV3Schema": {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": spec_properties()}}
    }})
}

/// A `spec` that keeps unknown fields besides the declared ones (and `extra`).
fn preserving_spec_schema(extra: Value) -> Value {
    let mut props = spec_properties();
    if let (Some(p), Value::Object(extra)) = (props.as_object_mut(), extra) {
        p.extend(extra);
    }
    json!({"openAPIV3Schema": {
        "type": "object",
        "properties": {"spec": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": props
        }}
    }})
}

/// `fixtures.NewRandomNameMultipleVersionCustomResourceDefinition` with `validation` (if any)
/// on every version, created and primed by `fixtures.CreateNewV1CustomResourceDefinition`.
/// The applied CR carries a finalizer that nothing else removes, so a deferred cleanup drops
/// it before the CRD (and with it the CR) is deleted.
async fn create_noxu(f: &Framework, validation: Option<Value>) -> Result<CustomResourceDefinition> {
    let mut def = crd::random_name_multiple_version_crd(CLUSTER_SCOPED);
    if let Some(v) = validation {
        let c: CustomResourceValidation =
            serde_json::from_value(v).context("parsing the CustomResourceValidation")?;
        for version in &mut def.spec.versions {
            version.schema = Some(c.clone());
        }
    }
    let created = crd::create(f, &def).await.context("cannot create crd")?;
    let cr_api = crd::resource_api(&f.client, &created, &created.spec.versions[0].name, "");
    f.defer(format!("removing the finalizer of {CR_NAME}"), async move {
        let patch = Patch::Merge(json!({"metadata": {"finalizers": null}}));
        let _ = cr_api.patch(CR_NAME, &PatchParams::default(), &patch).await;
    });
    Ok(created)
}

/// A server-side apply of the YAML `body` to `mytest` with strict field validation, as
/// upstream's REST client sends it; returns the raw answer, error or not.
async fn apply_strict(
    f: &Framework,
    crd: &CustomResourceDefinition,
    body: &str,
) -> Result<api::RawResponse> {
    let path = format!(
        "/apis/{}/{}/{}/{CR_NAME}?fieldManager=field_validation_mgr&fieldValidation=Strict",
        crd.spec.group, crd.spec.versions[0].name, crd.spec.names.plural
    );
    api::raw(
        &f.client,
        http::Method::PATCH,
        &path,
        &[("Content-Type", "application/apply-patch+yaml")],
        Some(body.as_bytes().to_vec()),
    )
    .await
}

/// `apiVersion` and `kind` for the CR of `crd` in its first version.
fn type_meta(crd: &CustomResourceDefinition) -> (String, String) {
    (
        format!("{}/{}", crd.spec.group, crd.spec.versions[0].name),
        crd.spec.names.kind.clone(),
    )
}

/// Expects the apply to have succeeded (upstream fails with the error itself).
fn expect_applied(res: &api::RawResponse) -> Result<()> {
    if !res.status.is_success() {
        bail!(
            "the server rejected the apply: {} {}",
            res.status,
            res.text()
        );
    }
    Ok(())
}

/// Expects the answer's body to contain one of `wants`; `what` names what is missing.
fn expect_body_contains(res: &api::RawResponse, wants: &[&str], what: &str) -> Result<()> {
    let body = res.text();
    if wants.iter().any(|w| body.contains(w)) {
        return Ok(());
    }
    let err = if res.status.is_success() {
        "<nil>".to_string()
    } else {
        format!("the server rejected the request ({})", res.status)
    };
    bail!("error missing {what}: {err}:\n{body}")
}

async fn valid_cr_with_schema(f: &Framework) -> Result<()> {
    let crd = create_noxu(f, Some(closed_spec_schema())).await?;
    let (api_version, kind) = type_meta(&crd);
    let body = format!(
        r#"
apiVersion: {api_version}
kind: {kind}
metadata:
  name: {CR_NAME}
  finalizers:
  - test-finalizer
spec:
  foo: foo1
  cronSpec: "* * * * */5"
  ports:
  - name: x
    containerPort: 80
    protocol: TCP"#
    );
    expect_applied(&apply_strict(f, &crd, &body).await?)
}

async fn unknown_fields_cr_without_schema(f: &Framework) -> Result<()> {
    let crd = create_noxu(f, None).await?;
    let (api_version, kind) = type_meta(&crd);
    let body = format!(
        r#"
apiVersion: {api_version}
kind: {kind}
metadata:
  name: {CR_NAME}
  finalizers:
  - test-finalizer
spec:
  unknown: uk1
  cronSpec: "* * * * */5"
  ports:
  - name: x
    containerPort: 80
    protocol: TCP"#
    );
    expect_applied(&apply_strict(f, &crd, &body).await?)
}

async fn invalid_cr_with_extra_properties(f: &Framework) -> Result<()> {
    let crd = create_noxu(f, Some(closed_spec_schema())).await?;
    let (api_version, kind) = type_meta(&crd);
    let body = format!(
        r#"
apiVersion: {api_version}
kind: {kind}
metadata:
  name: {CR_NAME}
  finalizers:
  - test-finalizer
unknownField: unknown
spec:
  foo: foo1
  cronSpec: "* * * * */5"
  ports:
  - name: x
    containerPort: 80
    protocol: TCP"#
    );
    let res = apply_strict(f, &crd, &body).await?;
    expect_body_contains(
        &res,
        &[".unknownField: field not declared in schema"],
        "unknown field",
    )
}

async fn unknown_metadata_fields_of_cr(f: &Framework) -> Result<()> {
    let template = json!({"template": {
        "type": "object",
        "x-kubernetes-embedded-resource": true,
        "properties": {
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": {"type": "object"}
        }
    }});
    let crd = create_noxu(f, Some(preserving_spec_schema(template))).await?;
    let (api_version, kind) = type_meta(&crd);
    let ns = f.ns();
    let body = format!(
        r#"
apiVersion: {api_version}
kind: {kind}
metadata:
  name: {CR_NAME}
  unknownMeta: unknown
  finalizers:
  - test-finalizer
spec:
  template:
    apiversion: foo/v1
    kind: Sub
    metadata:
        unknownSubMeta: unknown
        name: subobject
        namespace: {ns}
  foo: foo1
  cronSpec: "* * * * */5"
  ports:
  - name: x
    containerPort: 80
    protocol: TCP"#
    );
    let res = apply_strict(f, &crd, &body).await?;
    expect_body_contains(
        &res,
        &[
            ".spec.template.metadata.unknownSubMeta: field not declared in schema",
            ".metadata.unknownMeta: field not declared in schema",
        ],
        "duplicate field",
    )
}

async fn duplicates_in_cr_preserving_unknown_fields(f: &Framework) -> Result<()> {
    let crd = create_noxu(f, Some(preserving_spec_schema(json!({})))).await?;
    let (api_version, kind) = type_meta(&crd);
    let body = format!(
        r#"
apiVersion: {api_version}
kind: {kind}
metadata:
  name: {CR_NAME}
  finalizers:
  - test-finalizer
spec:
  unknown: uk1
  foo: foo1
  foo: foo2
  cronSpec: "* * * * */5"
  ports:
  - name: x
    containerPort: 80
    protocol: TCP"#
    );
    let res = apply_strict(f, &crd, &body).await?;
    // The body is the JSON Status, so the quotes in its message come escaped.
    expect_body_contains(
        &res,
        &[r#"line 11: key \"foo\" already set in map"#],
        "duplicate field",
    )
}
