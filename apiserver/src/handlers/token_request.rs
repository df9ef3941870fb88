//! `serviceaccounts/<name>/token` (TokenRequest, what `kubectl create token` calls): a signed
//! token for the service account, for the requested audiences and lifetime, optionally bound
//! to a pod, secret or node so it dies with that object.

use super::Scope;
use super::params::dry_run;
use super::reviews::{answer, decode};
use crate::authn::service_account::{self, ObjectRef};
use crate::errors::{ApiError, GroupResource, Result};
use crate::storage::ReadAt;
use apimachinery::FieldError;
use apimachinery::meta;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequestSpec {
    audiences: Option<Vec<String>>,
    expiration_seconds: Option<i64>,
    bound_object_ref: Option<BoundObjectRef>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoundObjectRef {
    kind: Option<String>,
    api_version: Option<String>,
    name: Option<String>,
    uid: Option<String>,
}

const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
const MIN_EXPIRATION_SECONDS: i64 = 600;
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// An object of the core group, read consistently (a pod created a moment ago counts).
async fn get(scope: &Scope, resource: &str, namespace: &str, name: &str) -> Result<Value> {
    let store = scope
        .state
        .catalog
        .store(resource)
        .ok_or_else(ApiError::not_found_path)?;
    store
        .get(namespace, name, ReadAt::Latest)
        .await?
        .value()
        .map_err(ApiError::internal)
}

fn reference(obj: &Value) -> ObjectRef {
    ObjectRef {
        name: meta::name(obj).to_string(),
        uid: meta::uid(obj).to_string(),
    }
}

pub async fn create(scope: &Scope, bytes: Bytes) -> Result<Response> {
    let tokens = scope.state.authn.service_accounts.clone();
    // Without a signing key upstream does not serve the subresource at all.
    if !tokens.can_issue() {
        return Err(ApiError::not_found_path());
    }
    let dry = dry_run(&scope.params, "CreateOptions")?;
    let (mut request, spec): (Value, TokenRequestSpec) = decode(scope, &bytes, "TokenRequest")?;
    let expiration = spec
        .expiration_seconds
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let mut errs = Vec::new();
    if expiration < MIN_EXPIRATION_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration less than 10 minutes",
        ));
    } else if expiration > MAX_EXPIRATION_SECONDS {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            expiration,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            "",
            &errs,
        ));
    }
    let namespace = scope.info.namespace.clone();
    let name = scope.name().to_string();
    let account = get(scope, "serviceaccounts", &namespace, &name).await?;
    // As upstream, the validating plugins see the request once the account is known and
    // before the bound object is looked up (NodeRestriction: a kubelet's tokens bind to its
    // own pods).
    let ctx = scope.op_context(dry, None);
    ctx.admission
        .validate(&crate::admission::Attributes {
            operation: crate::admission::Operation::Create,
            info: &scope.endpoint.info,
            subresource: Some("token"),
            namespace: &namespace,
            name: &name,
            object: Some(&request),
            old: None,
            user: &scope.user,
            dry_run: dry,
            warnings: &ctx.warnings,
            annotations: &ctx.annotations,
        })
        .await?;
    let (mut pod, mut secret, mut node) = (None, None, None);
    if let Some(bound) = &spec.bound_object_ref {
        let kind = bound.kind.as_deref().unwrap_or_default();
        let api_version = bound.api_version.as_deref().unwrap_or_default();
        let bound_name = bound.name.as_deref().unwrap_or_default();
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        let object = match (group, kind) {
            ("", "Pod") => {
                let p = get(scope, "pods", &namespace, bound_name).await?;
                let account_of_pod =
                    meta::nested_str(&p, &["spec", "serviceAccountName"]).unwrap_or_default();
                if account_of_pod != name {
                    return Err(ApiError::bad_request(format!(
                        "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                    )));
                }
                // The pod's node goes into the token too, when it still exists.
                if let Some(node_name) =
                    meta::nested_str(&p, &["spec", "nodeName"]).filter(|n| !n.is_empty())
                {
                    node = get(scope, "nodes", "", node_name)
                        .await
                        .ok()
                        .map(|n| reference(&n));
                }
                pod = Some(reference(&p));
                p
            }
            ("", "Secret") => {
                let s = get(scope, "secrets", &namespace, bound_name).await?;
                secret = Some(reference(&s));
                s
            }
            ("", "Node") => {
                let n = get(scope, "nodes", "", bound_name).await?;
                node = Some(reference(&n));
                n
            }
            _ => {
                let gvk = if group.is_empty() {
                    format!("/{api_version}, Kind={kind}")
                } else {
                    format!("{api_version}, Kind={kind}")
                };
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {gvk}"
                )));
            }
        };
        if let Some(uid) = bound.uid.as_deref().filter(|u| !u.is_empty())
            && uid != meta::uid(&object)
        {
            return Err(ApiError::conflict(
                &GroupResource::new(group, kind),
                bound_name,
                &format!(
                    "the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
    }
    let audiences = spec
        .audiences
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| tokens.api_audiences.clone());
    let answered = &mut request["spec"];
    if !answered.is_object() {
        *answered = json!({});
    }
    answered["audiences"] = json!(audiences);
    answered["expirationSeconds"] = json!(expiration);
    let meta = meta::nested_mut(&mut request, &["metadata"]);
    meta["name"] = json!(name);
    meta["namespace"] = json!(namespace);
    meta["creationTimestamp"] = json!(crate::clock::now());
    if dry {
        return answer(
            scope,
            &request,
            "TokenRequest",
            json!({"token": "", "expirationTimestamp": null}),
        );
    }
    let now = chrono::Utc::now().timestamp();
    let (token, exp) = tokens
        .issue(
            &service_account::Request {
                namespace: &namespace,
                service_account: reference(&account),
                pod,
                secret,
                node,
                audiences: &audiences,
                expiration_seconds: expiration,
            },
            now,
        )
        .map_err(|e| ApiError::internal(format!("failed to generate token: {e}")))?;
    let expires = chrono::DateTime::from_timestamp(exp, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    answer(
        scope,
        &request,
        "TokenRequest",
        json!({"token": token, "expirationTimestamp": expires}),
    )
}
