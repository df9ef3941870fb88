//! `[sig-api-machinery] CustomResourcePublishOpenAPI` (upstream
//! `test/e2e/apimachinery/crd_publish_openapi.go`): a CRD's schemas show up in `/openapi/v2`
//! under `<reversed group>.<version>.<Kind>` for every served version, follow renames and
//! unserved versions, and drive kubectl's validation and `explain`.

use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::crd::{self, TestCrd};
use crate::framework::{Framework, PodSecurityLevel, api, compare};
use anyhow::{Context, Result, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, CustomResourceValidation,
    JSONSchemaProps,
};
use kube::Client;
use kube::api::PostParams;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};

const D: Describe =
    Describe::new("crd-publish-openapi").with_pod_security(PodSecurityLevel::Privileged);

/// `metaPattern`: kind, group, version, name.
fn meta(crd: &CustomResourceDefinition, name: &str) -> String {
    format!(
        r#""kind":"{}","apiVersion":"{}/{}","metadata":{{"name":"{name}"}}"#,
        crd.spec.names.kind, crd.spec.group, crd.spec.versions[0].name
    )
}

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD with validation schema [Conformance]",
            case_fn!(with_validation_schema),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD without validation schema [Conformance]",
            case_fn!(without_validation_schema),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD preserving unknown fields at the schema root [Conformance]",
            case_fn!(preserving_unknown_fields_at_root),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for CRD preserving unknown fields in an embedded object [Conformance]",
            case_fn!(preserving_unknown_fields_in_embedded_object),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for multiple CRDs of different groups [Conformance]",
            case_fn!(multiple_crds_of_different_groups),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for multiple CRDs of same group but different versions [Conformance]",
            case_fn!(multiple_crds_of_same_group_different_versions),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] works for multiple CRDs of same group and version but different kinds [Conformance]",
            case_fn!(multiple_crds_of_same_group_version_different_kinds),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] updates the published spec when one version gets renamed [Conformance]",
            case_fn!(version_renamed),
        ),
        D.case(
            "[sig-api-machinery] CustomResourcePublishOpenAPI [Privileged:ClusterAdmin] removes definition from spec when one version gets changed to not be served [Conformance]",
            case_fn!(version_not_served),
        ),
    ]
}

// The schemas upstream writes in YAML, here as the equivalent JSON.

fn schema_foo() -> Value {
    json!({
        "description": "Foo CRD for Testing",
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "description": "Specification of Foo",
                "properties": {
                    "bars": {
                        "description": "List of Bars and their specs.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {
                                "name": {"description": "Name of Bar.", "type": "string"},
                                "age": {"description": "Age of Bar.", "type": "string"},
                                "feeling": {
                                    "description": "Whether Bar is feeling great.",
                                    "type": "string",
                                    "enum": ["Great", "Down"]
                                },
                                "bazs": {
                                    "description": "List of Bazs.",
                                    "items": {"type": "string"},
                                    "type": "array"
                                }
                            }
                        }
                    }
                }
            },
            "status": {
                "description": "Status of Foo",
                "type": "object",
                "properties": {
                    "bars": {
                        "description": "List of Bars and their statuses.",
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "name": {"description": "Name of Bar.", "type": "string"},
                                "available": {
                                    "description": "Whether the Bar is installed.",
                                    "type": "boolean"
                                },
                                "quxType": {
                                    "description": "Indicates to external qux type.",
                                    "pattern": "in-tree|out-of-tree",
                                    "type": "string"
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The `spec`/`status` pair the Waldo and preserve-unknown-fields schemas share.
fn waldo_properties(preserve_spec: bool) -> Value {
    let mut spec = json!({
        "description": "Specification of Waldo",
        "type": "object",
        "properties": {
            "dummy": {"description": "Dummy property.", "type": "object"}
        }
    });
    if preserve_spec {
        spec["x-kubernetes-preserve-unknown-fields"] = json!(true);
    }
    json!({
        "spec": spec,
        "status": {
            "description": "Status of Waldo",
            "type": "object",
            "properties": {
                "bars": {
                    "description": "List of Bars and their statuses.",
                    "type": "array",
                    "items": {"type": "object"}
                }
            }
        }
    })
}

fn schema_waldo() -> Value {
    json!({
        "description": "Waldo CRD for Testing",
        "type": "object",
        "properties": waldo_properties(false),
    })
}

fn schema_preserve_root() -> Value {
    json!({
        "description": "preserve-unknown-properties at root for Testing",
        "x-kubernetes-preserve-unknown-fields": true,
        "type": "object",
        "properties": waldo_properties(false),
    })
}

fn schema_preserve_nested() -> Value {
    json!({
        "description": "preserve-unknown-properties in nested field for Testing",
        "type": "object",
        "properties": waldo_properties(true),
    })
}

/// `setupCRD`: a CRD without a schema is published as a bare object.
async fn setup_crd(
    f: &Framework,
    schema: Option<Value>,
    group_suffix: &str,
    versions: &[&str],
) -> Result<TestCrd> {
    let expect = Some(schema.clone().unwrap_or_else(|| json!({"type": "object"})));
    setup_crd_and_verify_schema(f, schema, expect, group_suffix, versions).await
}

/// `setupCRDAndVerifySchema`: creates a CRD in `<base>-test-<suffix>.example.com` serving
/// `versions` (the first stored) with `schema` (or an allow-all one), and waits until every
/// version's definition is published as `expect` (or merely published, for `None`).
async fn setup_crd_and_verify_schema(
    f: &Framework,
    schema: Option<Value>,
    expect: Option<Value>,
    group_suffix: &str,
    versions: &[&str],
) -> Result<TestCrd> {
    let group = format!("{}-test-{group_suffix}.example.com", f.base_name);
    if versions.is_empty() {
        bail!("require at least one version for CRD");
    }
    let props: Option<JSONSchemaProps> = schema.map(crd::schema_props).transpose()?;
    let set_versions = |c: &mut CustomResourceDefinition| {
        c.spec.versions = versions
            .iter()
            .enumerate()
            .map(|(i, v)| CustomResourceDefinitionVersion {
                name: (*v).into(),
                served: true,
                storage: i == 0,
                schema: Some(match &props {
                    Some(p) => CustomResourceValidation {
                        open_api_v3_schema: Some(p.clone()),
                    },
                    None => crd::allow_all_schema(),
                }),
                ..Default::default()
            })
            .collect();
    };
    let test_crd = crd::create_multi_version_test_crd(f, &group, &set_versions)
        .await
        .context("failed to create CRD")?;
    for v in &test_crd.crd.spec.versions {
        wait_for_definition(f, &definition_name(&test_crd.crd, &v.name), expect.as_ref()).await?;
    }
    Ok(test_crd)
}

/// `cleanupCRD`: deletes the CRD and waits until none of its definitions is published.
async fn cleanup_crd(f: &Framework, test_crd: &TestCrd) -> Result<()> {
    test_crd.clean_up(&f.client).await?;
    for v in &test_crd.crd.spec.versions {
        wait_for_definition_cleanup(f, &definition_name(&test_crd.crd, &v.name)).await?;
    }
    Ok(())
}

/// `definitionName`: `openapiutil.ToRESTFriendlyName("<group>/<version>/<kind>")`.
fn definition_name(crd: &CustomResourceDefinition, version: &str) -> String {
    to_rest_friendly_name(&format!(
        "{}/{version}/{}",
        crd.spec.group, crd.spec.names.kind
    ))
}

/// kube-openapi's `ToRESTFriendlyName`: the first path part, if dotted, is reversed
/// (`k8s.io` becomes `io.k8s`), and the parts are joined with dots.
fn to_rest_friendly_name(name: &str) -> String {
    let mut parts: Vec<String> = name.split('/').map(str::to_string).collect();
    if let Some(first) = parts.first_mut()
        && first.contains('.')
    {
        *first = first.split('.').rev().collect::<Vec<_>>().join(".");
    }
    parts.join(".")
}

/// Upstream's `waitSuccessThreshold`: a condition must hold this many fetches in a row, so
/// that one lagging API server of several cannot make the test flake.
const WAIT_SUCCESS_THRESHOLD: usize = 10;

/// The published `/openapi/v2` definitions, fetched with ETag caching as upstream does.
struct OpenApiV2 {
    etag: String,
    definitions: Map<String, Value>,
}

impl OpenApiV2 {
    async fn refresh(&mut self, client: &Client) -> Result<()> {
        let quoted = format!("\"{}\"", self.etag);
        let mut headers = vec![("Accept", "application/json")];
        if !self.etag.is_empty() {
            headers.push(("If-None-Match", quoted.as_str()));
        }
        let res = api::raw(client, http::Method::GET, "/openapi/v2", &headers, None).await?;
        if res.status == http::StatusCode::NOT_MODIFIED {
            return Ok(());
        }
        if res.status != http::StatusCode::OK {
            bail!("unexpected response: {}", res.status.as_u16());
        }
        #[derive(serde::Deserialize)]
        struct Swagger {
            #[serde(default)]
            definitions: Map<String, Value>,
        }
        let spec: Swagger = serde_json::from_slice(&res.body).context("decoding /openapi/v2")?;
        self.etag = res
            .header("ETag")
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        self.definitions = spec.definitions;
        Ok(())
    }
}

/// `waitForOpenAPISchema`: polls `/openapi/v2` every 500ms for a minute until `pred` holds
/// [`WAIT_SUCCESS_THRESHOLD`] fetches in a row; `pred` says why it does not hold.
async fn wait_for_openapi_schema(
    f: &Framework,
    pred: impl Fn(&Map<String, Value>) -> Result<(), String>,
) -> Result<()> {
    let mut spec = OpenApiV2 {
        etag: String::new(),
        definitions: Map::new(),
    };
    let mut last_msg = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        // wait.Poll: the first try comes after one interval.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut ok = true;
        for _ in 0..WAIT_SUCCESS_THRESHOLD {
            spec.refresh(&f.client)
                .await
                .context("failed to wait for OpenAPI spec validating condition")?;
            if let Err(msg) = pred(&spec.definitions) {
                last_msg = msg;
                ok = false;
                break;
            }
            last_msg.clear();
        }
        if ok {
            return Ok(());
        }
        if Instant::now() + Duration::from_millis(500) > deadline {
            bail!(
                "failed to wait for OpenAPI spec validating condition: timed out waiting for the condition; lastMsg: {last_msg}"
            );
        }
    }
}

/// `waitForDefinition`: waits for `name` to be published, and (given `schema`) to equal it
/// once the properties and extensions the server adds are dropped.
async fn wait_for_definition(f: &Framework, name: &str, schema: Option<&Value>) -> Result<()> {
    let expect = schema.map(normalize_schema);
    wait_for_openapi_schema(f, |definitions| {
        let Some(d) = definitions.get(name) else {
            return Err(format!(
                "spec.SwaggerProps.Definitions[\"{name}\"] not found"
            ));
        };
        if let Some(expect) = &expect {
            let actual = normalize_schema(&drop_defaults(d.clone()));
            if !compare::semantic_eq(expect, &actual) {
                return Err(format!(
                    "spec.SwaggerProps.Definitions[\"{name}\"] not match; expect: {expect}, actual: {actual} (first difference: {})",
                    compare::diff(expect, &actual)
                ));
            }
        }
        Ok(())
    })
    .await
    .with_context(|| {
        format!("failed to wait for definition {name:?} to be served with the right OpenAPI schema")
    })
}

/// `waitForDefinitionCleanup`: waits for `name` to be gone from the published spec.
async fn wait_for_definition_cleanup(f: &Framework, name: &str) -> Result<()> {
    wait_for_openapi_schema(f, |definitions| {
        if definitions.contains_key(name) {
            return Err(format!(
                "spec.SwaggerProps.Definitions[\"{name}\"] still exists"
            ));
        }
        Ok(())
    })
    .await
    .with_context(|| format!("failed to wait for definition {name:?} not to be served anymore"))
}

/// `dropDefaults`: the properties and extensions the server adds to every CRD definition.
fn drop_defaults(mut d: Value) -> Value {
    if let Some(props) = d.get_mut("properties").and_then(Value::as_object_mut) {
        for p in ["metadata", "apiVersion", "kind"] {
            props.shift_remove(p);
        }
    }
    if let Some(o) = d.as_object_mut() {
        for e in [
            "x-kubernetes-group-version-kind",
            "x-kubernetes-selectable-fields",
        ] {
            o.shift_remove(e);
        }
    }
    d
}

/// Brings a schema to the form a Go `spec.Schema` decodes it into, so that comparing two of
/// them is `apiequality.Semantic.DeepEqual` on the decoded structs: a one-element `type` array
/// is the plain string, and `false` in the plain boolean fields is their zero value.
fn normalize_schema(v: &Value) -> Value {
    const PLAIN_BOOLS: &[&str] = &[
        "exclusiveMaximum",
        "exclusiveMinimum",
        "uniqueItems",
        "nullable",
        "readOnly",
    ];
    let Value::Object(o) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in o {
        let val = match k.as_str() {
            "type" => match val {
                Value::Array(a) if a.len() == 1 => a[0].clone(),
                other => other.clone(),
            },
            _ if PLAIN_BOOLS.contains(&k.as_str()) && *val == json!(false) => continue,
            "properties" | "patternProperties" | "definitions" => match val {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .map(|(name, s)| (name.clone(), normalize_schema(s)))
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" | "allOf" | "anyOf" | "oneOf" => match val {
                Value::Array(a) => Value::Array(a.iter().map(normalize_schema).collect()),
                other => normalize_schema(other),
            },
            "additionalProperties" | "additionalItems" | "not" => normalize_schema(val),
            _ => val.clone(),
        };
        out.insert(k.clone(), val);
    }
    Value::Object(out)
}

/// Runs kubectl; `None` when it succeeded, otherwise its stdout and stderr, which is what
/// upstream's kubectl error text carries.
async fn kubectl_failure(
    f: &Framework,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<Option<String>> {
    let (ok, stdout, stderr) = f.kubectl_run(args, stdin).await?;
    Ok((!ok).then(|| format!("Command stdout:\n{stdout}\nstderr:\n{stderr}")))
}

/// `verifyKubectlExplain`: `kubectl explain <name>` must match `pattern`.
async fn verify_kubectl_explain(f: &Framework, name: &str, pattern: &str) -> Result<()> {
    let result = f
        .kubectl(&["explain", name], None)
        .await
        .with_context(|| format!("failed to explain {name}"))?;
    let r = regex::Regex::new(pattern)?;
    if !r.is_match(&result) {
        bail!("kubectl explain {name} result {{{result}}} doesn't match pattern {{{pattern}}}");
    }
    Ok(())
}

/// Creates `cr` with `kubectl create` and deletes it, then the same with `kubectl apply`. The
/// failure messages name the CR where they say `{cr}`.
async fn create_and_apply(
    f: &Framework,
    plural: &str,
    name: &str,
    cr: &str,
    create_failed: &str,
    apply_failed: &str,
    delete_failed: &str,
) -> Result<()> {
    for (verb, failed) in [("create", create_failed), ("apply", apply_failed)] {
        if let Some(e) = kubectl_failure(f, &[verb, "-f", "-"], Some(cr)).await? {
            bail!("{}: {e}", failed.replace("{cr}", cr));
        }
        if let Some(e) = kubectl_failure(f, &["delete", plural, name], None).await? {
            bail!("{delete_failed}: {e}");
        }
    }
    Ok(())
}

async fn with_validation_schema(f: &Framework) -> Result<()> {
    let test_crd = setup_crd(f, Some(schema_foo()), "foo", &["v1"]).await?;
    let crd = &test_crd.crd;
    let plural = crd.spec.names.plural.as_str();
    let meta = meta(crd, "test-foo");

    f.step("kubectl validation (kubectl create and apply) allows request with known and required properties");
    let valid_cr = format!(r#"{{{meta},"spec":{{"bars":[{{"name":"test-bar"}}]}}}}"#);
    create_and_apply(
        f,
        plural,
        "test-foo",
        &valid_cr,
        "failed to create valid CR {cr}",
        "failed to apply valid CR {cr}",
        "failed to delete valid CR",
    )
    .await?;

    f.step("kubectl validation (kubectl create and apply) rejects request with value outside defined enum values");
    let bad_enum_cr = format!(
        r#"{{{meta},"spec":{{"bars":[{{"name":"test-bar", "feeling":"NonExistentValue"}}]}}}}"#
    );
    match kubectl_failure(f, &["create", "-f", "-"], Some(&bad_enum_cr)).await? {
        Some(e) if e.contains(r#"Unsupported value: "NonExistentValue""#) => {}
        e => bail!(
            "unexpected no error when creating CR with unknown enum value: {}",
            e.unwrap_or_else(|| "<nil>".into())
        ),
    }

    f.step("kubectl validation (kubectl create and apply) rejects request with unknown properties when disallowed by the schema");
    let unknown_cr = format!(r#"{{{meta},"spec":{{"foo":true}}}}"#);
    for (verb, what) in [("create", "creating"), ("apply", "applying")] {
        match kubectl_failure(f, &[verb, "-f", "-"], Some(&unknown_cr)).await? {
            Some(e)
                if e.contains(r#"unknown field "foo""#)
                    || e.contains(r#"unknown field "spec.foo""#) => {}
            e => bail!(
                "unexpected no error when {what} CR with unknown field: {}",
                e.unwrap_or_else(|| "<nil>".into())
            ),
        }
    }

    f.step(
        "kubectl validation (kubectl create and apply) rejects request without required properties",
    );
    let no_require_cr = format!(r#"{{{meta},"spec":{{"bars":[{{"age":"10"}}]}}}}"#);
    for (verb, what) in [("create", "creating"), ("apply", "applying")] {
        match kubectl_failure(f, &[verb, "-f", "-"], Some(&no_require_cr)).await? {
            Some(e)
                if e.contains(r#"missing required field "name""#)
                    || e.contains("spec.bars[0].name: Required value") => {}
            e => bail!(
                "unexpected no error when {what} CR without required field: {}",
                e.unwrap_or_else(|| "<nil>".into())
            ),
        }
    }

    f.step("kubectl explain works to explain CR properties");
    verify_kubectl_explain(
        f,
        plural,
        r"(?s)DESCRIPTION:.*Foo CRD for Testing.*FIELDS:.*apiVersion.*<string>.*APIVersion defines.*spec.*<Object>.*Specification of Foo",
    )
    .await?;

    f.step("kubectl explain works to explain CR properties recursively");
    verify_kubectl_explain(
        f,
        &format!("{plural}.metadata"),
        r"(?s)DESCRIPTION:.*Standard object's metadata.*FIELDS:.*creationTimestamp.*<string>.*CreationTimestamp is a timestamp",
    )
    .await?;
    verify_kubectl_explain(
        f,
        &format!("{plural}.spec"),
        r"(?s)DESCRIPTION:.*Specification of Foo.*FIELDS:.*bars.*<\[\]Object>.*List of Bars and their specs",
    )
    .await?;
    verify_kubectl_explain(
        f,
        &format!("{plural}.spec.bars"),
        r"(?s)(FIELD|RESOURCE):.*bars.*<\[\]Object>.*DESCRIPTION:.*List of Bars and their specs.*FIELDS:.*bazs.*<\[\]string>.*List of Bazs.*name.*<string>.*Name of Bar",
    )
    .await?;

    f.step("kubectl explain works to return error when explain is called on property that doesn't exist");
    match kubectl_failure(f, &["explain", &format!("{plural}.spec.bars2")], None).await? {
        Some(e) if e.contains(r#"field "bars2" does not exist"#) => {}
        e => bail!(
            "unexpected no error when explaining property that doesn't exist: {}",
            e.unwrap_or_else(|| "<nil>".into())
        ),
    }

    cleanup_crd(f, &test_crd).await
}

/// The shared body of the three "accepts any unknown property" cases: `kubectl create` and
/// `apply` of `cr` succeed, then `kubectl explain` matches `pattern`.
async fn unknown_properties_allowed(
    f: &Framework,
    test_crd: &TestCrd,
    cr: &str,
    create_failed: &str,
    explain_step: &str,
    pattern: &str,
) -> Result<()> {
    f.step(
        "kubectl validation (kubectl create and apply) allows request with any unknown properties",
    );
    create_and_apply(
        f,
        &test_crd.crd.spec.names.plural,
        "test-cr",
        cr,
        create_failed,
        "failed to apply random CR {cr} for CRD without schema",
        "failed to delete random CR",
    )
    .await?;

    f.step(explain_step);
    verify_kubectl_explain(f, &test_crd.crd.spec.names.plural, pattern).await?;
    cleanup_crd(f, test_crd).await
}

async fn without_validation_schema(f: &Framework) -> Result<()> {
    let test_crd = setup_crd(f, None, "empty", &["v1"]).await?;
    let cr = format!(
        r#"{{{},"a":{{"b":[{{"c":"d"}}]}}}}"#,
        meta(&test_crd.crd, "test-cr")
    );
    unknown_properties_allowed(
        f,
        &test_crd,
        &cr,
        "failed to create random CR {cr} for CRD without schema",
        "kubectl explain works to explain CR without validation schema",
        r"(?s)DESCRIPTION:.*<empty>",
    )
    .await
}

async fn preserving_unknown_fields_at_root(f: &Framework) -> Result<()> {
    let test_crd = setup_crd_and_verify_schema(
        f,
        Some(schema_preserve_root()),
        None,
        "unknown-at-root",
        &["v1"],
    )
    .await?;
    let cr = format!(
        r#"{{{},"a":{{"b":[{{"c":"d"}}]}}}}"#,
        meta(&test_crd.crd, "test-cr")
    );
    let pattern = format!(
        "(?s)KIND:.*{}",
        regex::escape(&test_crd.crd.spec.names.kind)
    );
    unknown_properties_allowed(
        f,
        &test_crd,
        &cr,
        "failed to create random CR {cr} for CRD that allows unknown properties at the root",
        "kubectl explain works to explain CR",
        &pattern,
    )
    .await
}

async fn preserving_unknown_fields_in_embedded_object(f: &Framework) -> Result<()> {
    let test_crd = setup_crd_and_verify_schema(
        f,
        Some(schema_preserve_nested()),
        None,
        "unknown-in-nested",
        &["v1"],
    )
    .await?;
    let cr = format!(
        r#"{{{},"spec":{{"a":null,"b":[{{"c":"d"}}]}}}}"#,
        meta(&test_crd.crd, "test-cr")
    );
    unknown_properties_allowed(
        f,
        &test_crd,
        &cr,
        "failed to create random CR {cr} for CRD that allows unknown properties in a nested object",
        "kubectl explain works to explain CR",
        r"(?s)DESCRIPTION:.*preserve-unknown-properties in nested field for Testing",
    )
    .await
}

async fn multiple_crds_of_different_groups(f: &Framework) -> Result<()> {
    f.step("CRs in different groups (two CRDs) show up in OpenAPI documentation");
    let crd_foo = setup_crd(f, Some(schema_foo()), "foo", &["v1"]).await?;
    let crd_waldo = setup_crd(f, Some(schema_waldo()), "waldo", &["v1beta1"]).await?;
    if crd_foo.crd.spec.group == crd_waldo.crd.spec.group {
        bail!(
            "unexpected: CRDs should be of different group {}, {}",
            crd_foo.crd.spec.group,
            crd_waldo.crd.spec.group
        );
    }
    wait_for_definition(
        f,
        &definition_name(&crd_waldo.crd, "v1beta1"),
        Some(&schema_waldo()),
    )
    .await?;
    wait_for_definition(f, &definition_name(&crd_foo.crd, "v1"), Some(&schema_foo())).await?;
    cleanup_crd(f, &crd_foo).await?;
    cleanup_crd(f, &crd_waldo).await
}

/// Two CRDs in one group (`common-group`), Foo in `foo_version` and Waldo in `waldo_version`,
/// both published.
async fn two_crds_in_common_group(
    f: &Framework,
    foo_version: &str,
    waldo_version: &str,
) -> Result<()> {
    let crd_foo = setup_crd(f, Some(schema_foo()), "common-group", &[foo_version]).await?;
    let crd_waldo = setup_crd(f, Some(schema_waldo()), "common-group", &[waldo_version]).await?;
    if crd_foo.crd.spec.group != crd_waldo.crd.spec.group {
        bail!(
            "unexpected: CRDs should be of the same group {}, {}",
            crd_foo.crd.spec.group,
            crd_waldo.crd.spec.group
        );
    }
    wait_for_definition(
        f,
        &definition_name(&crd_waldo.crd, waldo_version),
        Some(&schema_waldo()),
    )
    .await?;
    wait_for_definition(
        f,
        &definition_name(&crd_foo.crd, foo_version),
        Some(&schema_foo()),
    )
    .await?;
    cleanup_crd(f, &crd_foo).await?;
    cleanup_crd(f, &crd_waldo).await
}

async fn multiple_crds_of_same_group_different_versions(f: &Framework) -> Result<()> {
    f.step("CRs in the same group but different versions (one multiversion CRD) show up in OpenAPI documentation");
    let crd_multi_ver = setup_crd(f, Some(schema_foo()), "multi-ver", &["v2", "v3"]).await?;
    for v in ["v3", "v2"] {
        wait_for_definition(
            f,
            &definition_name(&crd_multi_ver.crd, v),
            Some(&schema_foo()),
        )
        .await?;
    }
    cleanup_crd(f, &crd_multi_ver).await?;

    f.step(
        "CRs in the same group but different versions (two CRDs) show up in OpenAPI documentation",
    );
    two_crds_in_common_group(f, "v4", "v5").await
}

async fn multiple_crds_of_same_group_version_different_kinds(f: &Framework) -> Result<()> {
    f.step("CRs in the same group and version but different kinds (two CRDs) show up in OpenAPI documentation");
    two_crds_in_common_group(f, "v6", "v6").await
}

async fn version_renamed(f: &Framework) -> Result<()> {
    f.step("set up a multi version CRD");
    let mut crd_multi_ver = setup_crd(f, Some(schema_foo()), "multi-ver", &["v2", "v3"]).await?;
    for v in ["v3", "v2"] {
        wait_for_definition(
            f,
            &definition_name(&crd_multi_ver.crd, v),
            Some(&schema_foo()),
        )
        .await?;
    }

    f.step("rename a version");
    let name = crd_multi_ver.crd.metadata.name.clone().unwrap_or_default();
    crd_multi_ver.crd = api::json_patch(
        &f.client,
        &format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"),
        r#"[
			{"op":"test","path":"/spec/versions/1/name","value":"v3"},
			{"op": "replace", "path": "/spec/versions/1/name", "value": "v4"}
		]"#,
    )
    .await?;

    f.step("check the new version name is served");
    wait_for_definition(
        f,
        &definition_name(&crd_multi_ver.crd, "v4"),
        Some(&schema_foo()),
    )
    .await?;
    f.step("check the old version name is removed");
    wait_for_definition_cleanup(f, &definition_name(&crd_multi_ver.crd, "v3")).await?;
    f.step("check the other version is not changed");
    wait_for_definition(
        f,
        &definition_name(&crd_multi_ver.crd, "v2"),
        Some(&schema_foo()),
    )
    .await?;

    // Upstream renames the version in its copy too, for cleanupCRD.
    crd_multi_ver.crd.spec.versions[1].name = "v4".into();
    cleanup_crd(f, &crd_multi_ver).await
}

async fn version_not_served(f: &Framework) -> Result<()> {
    f.step("set up a multi version CRD");
    let mut test_crd = setup_crd(
        f,
        Some(schema_foo()),
        "multi-to-single-ver",
        &["v5", "v6alpha1"],
    )
    .await?;
    // Just double check: setup_crd checked this already.
    for v in ["v6alpha1", "v5"] {
        wait_for_definition(f, &definition_name(&test_crd.crd, v), Some(&schema_foo())).await?;
    }

    f.step("mark a version not serverd");
    let name = test_crd.crd.metadata.name.clone().unwrap_or_default();
    let api = crd::crd_api(&f.client);
    let mut current = api.get(&name).await?;
    current.spec.versions[1].served = false;
    test_crd.crd = api.replace(&name, &PostParams::default(), &current).await?;

    f.step("check the unserved version gets removed");
    wait_for_definition_cleanup(f, &definition_name(&test_crd.crd, "v6alpha1")).await?;
    f.step("check the other version is not changed");
    wait_for_definition(
        f,
        &definition_name(&test_crd.crd, "v5"),
        Some(&schema_foo()),
    )
    .await?;

    cleanup_crd(f, &test_crd).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_names_reverse_the_group() {
        assert_eq!(
            to_rest_friendly_name("crd-publish-openapi-test-foo.example.com/v1/e2e-test-x-crd"),
            "com.example.crd-publish-openapi-test-foo.v1.e2e-test-x-crd"
        );
        assert_eq!(to_rest_friendly_name("v1/Pod"), "v1.Pod");
    }

    #[test]
    fn published_defaults_are_dropped_before_comparing() {
        let published = json!({
            "description": "Waldo CRD for Testing",
            "type": ["object"],
            "nullable": false,
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
                "spec": waldo_properties(false)["spec"].clone(),
                "status": waldo_properties(false)["status"].clone(),
            },
            "x-kubernetes-group-version-kind": [{"group": "g", "kind": "K", "version": "v1"}],
        });
        let expect = normalize_schema(&schema_waldo());
        let actual = normalize_schema(&drop_defaults(published));
        assert!(
            compare::semantic_eq(&expect, &actual),
            "{}",
            compare::diff(&expect, &actual)
        );
        let changed = normalize_schema(&json!({"type": "object", "nullable": true}));
        assert!(!compare::semantic_eq(
            &normalize_schema(&json!({"type": "object"})),
            &changed
        ));
    }

    #[test]
    fn schemas_parse_as_json_schema_props() {
        for s in [
            schema_foo(),
            schema_waldo(),
            schema_preserve_root(),
            schema_preserve_nested(),
        ] {
            crd::schema_props(s).unwrap();
        }
    }
}
