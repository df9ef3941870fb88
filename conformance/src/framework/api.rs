//! API helpers cases share: upstream's `apierrors.IsNotFound`-style predicates, resource version
//! comparison, raw HTTP requests for what typed clients cannot express (duplicate JSON keys,
//! custom `Accept` headers, status codes), and the [`Skip`] marker.

use anyhow::{Context, Result, anyhow};
use kube::Client;
use std::cmp::Ordering;

/// Returned (inside an `anyhow::Error`) by a case that cannot run on this cluster, like
/// upstream's `e2eskipper.Skipf`.
#[derive(Debug)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skip {}

/// Ends a case as skipped.
pub fn skip(reason: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Skip(reason.into()))
}

/// The HTTP status code of an API error, if `err` is one.
pub fn status_code(err: &kube::Error) -> Option<u16> {
    match err {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// The API status reason (`NotFound`, `Invalid`, ...) of an API error.
pub fn status_reason(err: &kube::Error) -> Option<&str> {
    match err {
        kube::Error::Api(s) => Some(s.reason.as_str()),
        _ => None,
    }
}

pub fn is_not_found(err: &kube::Error) -> bool {
    status_code(err) == Some(404)
}

pub fn is_already_exists(err: &kube::Error) -> bool {
    status_code(err) == Some(409) && status_reason(err) == Some("AlreadyExists")
}

pub fn is_conflict(err: &kube::Error) -> bool {
    status_code(err) == Some(409)
}

pub fn is_invalid(err: &kube::Error) -> bool {
    status_code(err) == Some(422)
}

pub fn is_forbidden(err: &kube::Error) -> bool {
    status_code(err) == Some(403)
}

pub fn is_resource_expired(err: &kube::Error) -> bool {
    status_code(err) == Some(410)
}

/// A kube error in one short line: for API errors the server's message, reason and code,
/// without the debug dump of the whole Status that kube's own `Display` appends.
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        e => e.to_string(),
    }
}

/// An error chain in one line, `context: context: cause`, with API errors described by
/// [`describe`] and their (repetitive) sources left out.
pub fn format_chain(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        if let Some(k) = cause.downcast_ref::<kube::Error>() {
            parts.push(describe(k));
            break;
        }
        parts.push(cause.to_string());
    }
    parts.join(": ")
}

/// Whether an `anyhow` error wraps a kube API error matching `pred`.
pub fn anyhow_is(err: &anyhow::Error, pred: fn(&kube::Error) -> bool) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<kube::Error>().is_some_and(pred))
}

/// Expects `result` to have failed with NotFound, like upstream's
/// `if !apierrors.IsNotFound(err) { Failf("Expected not found error, got: %v") }`.
pub fn expect_not_found<T: std::fmt::Debug>(
    result: Result<T, kube::Error>,
    what: &str,
) -> Result<()> {
    match result {
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(anyhow!(
            "expected a NotFound error for {what}, got: {}",
            describe(&e)
        )),
        Ok(v) => Err(anyhow!("expected a NotFound error for {what}, got: {v:?}")),
    }
}

/// Expects `result` to have failed with Invalid (422), like upstream's
/// `if !apierrors.IsInvalid(err) { Failf("expected 'invalid' as error, got instead: %v") }`.
pub fn expect_invalid<T>(result: Result<T, kube::Error>, what: &str) -> Result<()> {
    match result {
        Err(e) if is_invalid(&e) => Ok(()),
        Err(e) => Err(anyhow!(
            "expected 'invalid' as error {what}, got instead: {}",
            describe(&e)
        )),
        Ok(_) => Err(anyhow!(
            "expected 'invalid' as error {what}, got instead: success"
        )),
    }
}

/// Parses a resource version as upstream's `resourceversion.CompareResourceVersion` does
/// (an unsigned decimal integer of at most 128 bits).
pub fn parse_resource_version(rv: &str) -> Result<u128> {
    if rv.is_empty() || !rv.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("resource version {rv:?} is not a valid unsigned integer");
    }
    rv.parse::<u128>()
        .with_context(|| format!("resource version {rv:?} does not fit in 128 bits"))
}

/// Upstream's `HaveValidResourceVersion` matcher.
pub fn expect_valid_resource_version(meta: &kube::api::ObjectMeta) -> Result<()> {
    parse_resource_version(meta.resource_version.as_deref().unwrap_or_default()).map(|_| ())
}

/// Upstream's `resourceversion.CompareResourceVersion`.
pub fn compare_resource_versions(a: &str, b: &str) -> Result<Ordering> {
    Ok(parse_resource_version(a)?.cmp(&parse_resource_version(b)?))
}

/// Expects `newer` to be a strictly larger resource version than `older`.
pub fn expect_newer_resource_version(
    older: &kube::api::ObjectMeta,
    newer: &kube::api::ObjectMeta,
) -> Result<()> {
    let (a, b) = (
        older.resource_version.as_deref().unwrap_or_default(),
        newer.resource_version.as_deref().unwrap_or_default(),
    );
    anyhow::ensure!(
        compare_resource_versions(a, b)? == Ordering::Less,
        "the updated object should have a larger resource version: {a} then {b}"
    );
    Ok(())
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("the response body is not JSON: {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request and returns whatever came back, error statuses included.
pub async fn raw(
    client: &Client,
    method: http::Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<RawResponse> {
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(path_and_query);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(kube::client::Body::from(body.unwrap_or_default()))
        .with_context(|| format!("building {method} {path_and_query}"))?;
    let res = client
        .send(req)
        .await
        .with_context(|| format!("{method} {path_and_query}"))?;
    let (parts, body) = res.into_parts();
    let body = body
        .collect_bytes()
        .await
        .with_context(|| format!("reading the response to {method} {path_and_query}"))?;
    Ok(RawResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.to_vec(),
    })
}

/// GETs `path` and decodes the JSON answer, failing on an error status.
pub async fn get_json<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> Result<T> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .with_context(|| format!("building GET {path}"))?;
    client
        .request::<T>(req)
        .await
        .with_context(|| format!("Fail to access: {path}"))
}

/// PATCHes `path` with a JSON patch (`application/json-patch+json`), sent as written (typed
/// clients here cannot build one), and decodes the answer; API errors stay `kube::Error`s
/// inside the `anyhow::Error`, for [`anyhow_is`].
pub async fn json_patch<T: serde::de::DeserializeOwned>(
    client: &Client,
    path: &str,
    patch: &str,
) -> Result<T> {
    let req = http::Request::patch(path)
        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
        .body(patch.as_bytes().to_vec())
        .with_context(|| format!("building PATCH {path}"))?;
    client
        .request::<T>(req)
        .await
        .with_context(|| format!("PATCH {path}"))
}

/// GETs a subresource (`status`, `approval`, ...) the way a dynamic client does and checks it
/// returns the whole object: the expected `apiVersion` and `kind`, and the object's uid.
pub async fn expect_subresource_object(
    client: &Client,
    path: &str,
    api_version: &str,
    kind: &str,
    uid: Option<&str>,
) -> Result<()> {
    let obj: serde_json::Value = get_json(client, path).await?;
    anyhow::ensure!(
        obj["apiVersion"] == api_version && obj["kind"] == kind,
        "{path}: expected {api_version} {kind}, got {} {}",
        obj["apiVersion"],
        obj["kind"]
    );
    anyhow::ensure!(
        obj["metadata"]["uid"].as_str() == uid,
        "{path}: uid {} does not match {uid:?}",
        obj["metadata"]["uid"]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_versions_compare_as_integers() {
        assert_eq!(
            compare_resource_versions("9", "10").unwrap(),
            Ordering::Less
        );
        assert_eq!(
            compare_resource_versions("10", "10").unwrap(),
            Ordering::Equal
        );
        assert!(compare_resource_versions("", "1").is_err());
        assert!(compare_resource_versions("-1", "1").is_err());
        assert!(compare_resource_versions("1a", "1").is_err());
    }

    #[test]
    fn chains_are_short() {
        let status =
            kube::core::Status::failure("configmaps \"x\" not found", "NotFound").with_code(404);
        let e = anyhow::Error::new(kube::Error::Api(Box::new(status))).context("getting x");
        assert_eq!(
            format_chain(&e),
            "getting x: configmaps \"x\" not found (404 NotFound)"
        );
        let e = anyhow!("boom").context("outer");
        assert_eq!(format_chain(&e), "outer: boom");
    }

    #[test]
    fn skip_survives_context() {
        let e = skip("no kubelet").context("running the case");
        assert!(e.chain().any(|c| c.downcast_ref::<Skip>().is_some()));
    }
}
