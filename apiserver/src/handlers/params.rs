//! Query parameters: list, watch, write and delete options, validated as upstream validates
//! `ListOptions`, `CreateOptions` and `DeleteOptions`.

use crate::errors::{ApiError, Result};
use crate::registry::store::DeleteOptions;
use crate::storage::{Preconditions, Predicate, ReadAt, WatchFrom};
use apimachinery::{FieldError, fields, labels};
use serde_json::Value;

/// The decoded query string.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(query: Option<&str>) -> Self {
        Self {
            pairs: form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean as Go's `strconv.ParseBool` reads it; absent is `None`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False" | "") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid boolean value for {key}: {other:?}"
            ))),
        }
    }

    pub fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value for {key}: {v:?}: must be an integer"
                ))
            }),
        }
    }

    /// The same parameters without `keys`.
    pub fn without(mut self, keys: &[&str]) -> Self {
        self.pairs.retain(|(k, _)| !keys.contains(&k.as_str()));
        self
    }

    pub fn is_watch(&self) -> bool {
        matches!(self.bool("watch"), Ok(Some(true)))
    }
}

fn invalid_options(kind: &str, errs: Vec<FieldError>) -> ApiError {
    ApiError::invalid("meta.k8s.io", kind, "", &errs)
}

/// A parsed `resourceVersion`.
pub fn parse_rv(rv: &str) -> Result<i64> {
    rv.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

/// Label and field selectors; `field_names` are the fields the kind can be selected by.
pub fn predicate(params: &Params, field_names: &[&str]) -> Result<Predicate> {
    let label = match params.get("labelSelector") {
        Some(s) if !s.is_empty() => {
            labels::Selector::parse(s).map_err(|e| ApiError::bad_request(e.0))?
        }
        _ => labels::Selector::default(),
    };
    let field = match params.get("fieldSelector") {
        Some(s) if !s.is_empty() => {
            fields::Selector::parse(s).map_err(|e| ApiError::bad_request(e.0))?
        }
        _ => fields::Selector::default(),
    };
    for r in &field.requirements {
        let known = matches!(r.field.as_str(), "metadata.name" | "metadata.namespace")
            || field_names.contains(&r.field.as_str());
        if !known {
            // Kinds with their own field labels say so; the rest get the generic answer.
            return Err(ApiError::bad_request(if field_names.is_empty() {
                format!(
                    "{:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                    r.field
                )
            } else {
                format!("field label not supported: {}", r.field)
            }));
        }
    }
    Ok(Predicate { label, field })
}

/// The read a list asks for.
pub struct ListParams {
    pub read: ReadAt,
    pub limit: Option<i64>,
    pub continue_token: Option<String>,
}

pub fn list_params(params: &Params) -> Result<ListParams> {
    let rv = params.get("resourceVersion").unwrap_or_default();
    let rv_match = params.get("resourceVersionMatch").unwrap_or_default();
    let limit = params.int("limit")?.filter(|l| *l > 0);
    let continue_token = params
        .get("continue")
        .filter(|c| !c.is_empty())
        .map(String::from);
    let mut errs = Vec::new();
    match rv_match {
        "" | "Exact" | "NotOlderThan" => {}
        other => errs.push(FieldError::not_supported(
            "resourceVersionMatch",
            other,
            &["Exact", "NotOlderThan", ""],
        )),
    }
    if !rv_match.is_empty() && rv.is_empty() {
        errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if !rv_match.is_empty() && continue_token.is_some() {
        errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden when continue is provided",
        ));
    }
    if rv_match == "Exact" && rv == "0" {
        errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ));
    }
    if params.get("sendInitialEvents").is_some() {
        errs.push(FieldError::forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if !errs.is_empty() {
        return Err(invalid_options("ListOptions", errs));
    }
    if continue_token.is_some() && !rv.is_empty() && rv != "0" {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    let read = match (rv, rv_match) {
        ("", _) => ReadAt::Latest,
        ("0", _) => ReadAt::NotOlderThan(0),
        (rv, "Exact") => ReadAt::Exact(parse_rv(rv)?),
        (rv, "") if limit.is_some() => ReadAt::Exact(parse_rv(rv)?),
        (rv, _) => ReadAt::NotOlderThan(parse_rv(rv)?),
    };
    Ok(ListParams {
        read,
        limit,
        continue_token,
    })
}

/// Where a watch starts, and what it asks for.
pub struct WatchParams {
    pub from: WatchFrom,
    pub allow_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub timeout_seconds: Option<i64>,
}

pub fn watch_params(params: &Params) -> Result<WatchParams> {
    let rv = params.get("resourceVersion").unwrap_or_default();
    let rv_match = params.get("resourceVersionMatch").unwrap_or_default();
    let allow_bookmarks = params.bool("allowWatchBookmarks")?.unwrap_or(false);
    let send_initial_events = params.bool("sendInitialEvents")?;
    let mut errs = Vec::new();
    match (send_initial_events.is_some(), rv_match) {
        (true, "NotOlderThan") => {}
        (true, _) => errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        )),
        (false, "") => {}
        (false, _) => errs.push(FieldError::forbidden(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        )),
    }
    if send_initial_events == Some(true) && !allow_bookmarks {
        errs.push(FieldError::forbidden(
            "allowWatchBookmarks",
            "sendInitialEvents requires setting allowWatchBookmarks to true",
        ));
    }
    if !errs.is_empty() {
        return Err(invalid_options("ListOptions", errs));
    }
    let from = match rv {
        "" => WatchFrom::Latest,
        "0" => WatchFrom::Any,
        rv => WatchFrom::After(parse_rv(rv)?),
    };
    Ok(WatchParams {
        from,
        allow_bookmarks,
        send_initial_events,
        timeout_seconds: params.int("timeoutSeconds")?,
    })
}

/// `dryRun`: only `All` exists.
pub fn dry_run(params: &Params, options_kind: &str) -> Result<bool> {
    let values = params.all("dryRun");
    let mut errs = Vec::new();
    for v in &values {
        if *v != "All" {
            errs.push(FieldError::not_supported("dryRun", *v, &["All"]));
        }
    }
    if !errs.is_empty() {
        return Err(invalid_options(options_kind, errs));
    }
    Ok(!values.is_empty())
}

/// `fieldManager`, checked as upstream checks it.
pub fn field_manager(params: &Params, options_kind: &str) -> Result<Option<String>> {
    let Some(m) = params.get("fieldManager") else {
        return Ok(None);
    };
    let mut errs = Vec::new();
    if m.len() > 128 {
        errs.push(FieldError::too_long("fieldManager", 128));
    }
    if m.chars().any(|c| c.is_control()) {
        errs.push(FieldError::invalid(
            "fieldManager",
            m,
            "must only contain printable characters",
        ));
    }
    if !errs.is_empty() {
        return Err(invalid_options(options_kind, errs));
    }
    Ok(Some(m.to_string()))
}

/// `force` of a PATCH: only an apply may say it (even `force=false`, as upstream checks), and an
/// apply must name its manager.
pub fn apply_options(params: &Params, apply: bool, manager: Option<&str>) -> Result<bool> {
    let force = params.bool("force")?;
    if force.is_some() && !apply {
        return Err(invalid_options(
            "PatchOptions",
            vec![FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
        ));
    }
    if apply && manager.is_none() {
        return Err(invalid_options(
            "PatchOptions",
            vec![FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    Ok(force.unwrap_or(false))
}

/// How unknown and duplicate fields in a body are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

pub fn field_validation(params: &Params) -> Result<FieldValidation> {
    match params.get("fieldValidation").unwrap_or_default() {
        "" | "Warn" => Ok(FieldValidation::Warn),
        "Strict" => Ok(FieldValidation::Strict),
        "Ignore" => Ok(FieldValidation::Ignore),
        other => Err(ApiError::bad_request(format!(
            "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
        ))),
    }
}

/// Delete options from the query and an optional `DeleteOptions` body (which wins).
pub fn delete_options(params: &Params, body: Option<&Value>) -> Result<(DeleteOptions, bool)> {
    let mut opts = DeleteOptions {
        grace_period_seconds: params.int("gracePeriodSeconds")?,
        preconditions: Preconditions::default(),
        propagation_policy: params.get("propagationPolicy").map(String::from),
        orphan_dependents: params.bool("orphanDependents")?,
    };
    let mut dry = dry_run(params, "DeleteOptions")?;
    if let Some(b) = body {
        if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace_period_seconds = Some(g);
        }
        if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation_policy = Some(p.to_string());
        }
        if let Some(o) = b.get("orphanDependents").and_then(Value::as_bool) {
            opts.orphan_dependents = Some(o);
        }
        if let Some(pre) = b.get("preconditions") {
            opts.preconditions.uid = pre.get("uid").and_then(Value::as_str).map(String::from);
            opts.preconditions.resource_version = pre
                .get("resourceVersion")
                .and_then(Value::as_str)
                .map(String::from);
        }
        if let Some(d) = b.get("dryRun").and_then(Value::as_array) {
            let mut errs = Vec::new();
            for v in d {
                if v.as_str() != Some("All") {
                    errs.push(FieldError::not_supported("dryRun", v.clone(), &["All"]));
                }
            }
            if !errs.is_empty() {
                return Err(invalid_options("DeleteOptions", errs));
            }
            dry = dry || !d.is_empty();
        }
    }
    let mut errs = Vec::new();
    if let Some(p) = &opts.propagation_policy {
        if !matches!(p.as_str(), "Foreground" | "Background" | "Orphan") {
            errs.push(FieldError::not_supported(
                "propagationPolicy",
                p.as_str(),
                &["Foreground", "Background", "Orphan"],
            ));
        } else if opts.orphan_dependents.is_some() {
            errs.push(FieldError::invalid(
                "propagationPolicy",
                p.as_str(),
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(invalid_options("DeleteOptions", errs));
    }
    if opts.grace_period_seconds.is_some_and(|g| g < 0) {
        // Upstream treats a negative grace period as the shortest graceful one.
        opts.grace_period_seconds = Some(1);
    }
    Ok((opts, dry))
}
