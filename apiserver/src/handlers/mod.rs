//! Handlers: one per verb (and per special subresource). They speak HTTP and query parameters
//! and know nothing about particular kinds; the endpoint's strategy and store do the rest.

mod access_reviews;
mod apply_yaml;
mod binding;
pub mod body;
mod create;
mod delete;
mod eviction;
mod get;
mod list;
pub mod negotiate;
pub mod params;
mod patch;
pub mod request_info;
pub mod response;
mod reviews;
mod scale;
mod token_request;
mod update;
mod watch;

use crate::admission::AuditAnnotations;
use crate::authn::user::UserInfo;
use crate::errors::{ApiError, Result};
use crate::registry::catalog::Endpoint;
use crate::registry::managed_fields::manager_from_user_agent;
use crate::registry::store::OpContext;
use crate::server::State;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Method, Request};
use params::Params;
use request_info::{RequestInfo, Verb};
use serde_json::Value;
use std::sync::Arc;

/// Everything a verb handler needs about one request.
pub struct Scope {
    pub state: Arc<State>,
    pub info: RequestInfo,
    pub endpoint: Arc<Endpoint>,
    pub params: Params,
    pub headers: HeaderMap,
    pub user: UserInfo,
    /// The audit annotations admission adds, for the request's audit event.
    pub annotations: AuditAnnotations,
}

impl Scope {
    /// The store's context for a write.
    pub fn op_context(&self, dry_run: bool, field_manager: Option<String>) -> OpContext {
        let manager = field_manager.unwrap_or_else(|| {
            manager_from_user_agent(
                self.headers
                    .get(http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
            )
        });
        OpContext {
            namespace: self.info.namespace.clone(),
            user: self.user.clone(),
            dry_run,
            field_manager: manager,
            api_version: self.endpoint.info.group_version(),
            admission: self.state.admission.clone(),
            applied: false,
            schemas: Some(self.state.openapi.schemas()),
            warnings: Default::default(),
            annotations: self.annotations.clone(),
        }
    }

    /// A stored object in the served version.
    pub fn to_served(&self, obj: Value) -> Result<Value> {
        match &self.endpoint.conversion {
            Some(c) => c.to_served(obj).map_err(ApiError::internal),
            None => Ok(obj),
        }
    }

    /// A served-version object in the storage version.
    pub fn to_storage(&self, obj: Value) -> Result<Value> {
        match &self.endpoint.conversion {
            Some(c) => c.to_storage(obj).map_err(ApiError::bad_request),
            None => Ok(obj),
        }
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }
}

/// Serves a request under `/api/v1/...` or `/apis/<group>/<version>/...`. `None` when the
/// path is not a resource path.
pub async fn serve(
    state: Arc<State>,
    req: Request<Body>,
    user: UserInfo,
) -> Option<(Response, RequestInfo)> {
    let params = Params::parse(req.uri().query());
    let info = request_info::parse(req.method(), req.uri().path(), params.is_watch())?;
    let method = req.method().clone();
    let recorder = crate::audit::filter::Recorder::of(&req);
    let (parts, body) = req.into_parts();
    let resp = match route(&state, &info, &method) {
        Ok(endpoint) => {
            let error_format = negotiate::error_format(
                &parts.headers,
                crate::protobuf::supports(&endpoint.info.group_version(), endpoint.info.kind),
            );
            let scope = Scope {
                state,
                info: info.clone(),
                endpoint,
                params,
                headers: parts.headers,
                user,
                annotations: Default::default(),
            };
            let mut resp = match dispatch(&scope, body).await {
                Ok(r) => r,
                Err(e) => response::error_as(&e, error_format),
            };
            if let Some(recorder) = &recorder {
                recorder.annotate(scope.annotations.take());
            }
            if let Some(w) = scope.endpoint.info.deprecation {
                response::add_warnings(&mut resp, &[w.to_string()]);
            }
            resp
        }
        Err(e) => response::error_as(&e, negotiate::error_format(&parts.headers, true)),
    };
    Some((resp, info))
}

/// Finds the endpoint and checks the request fits it (scope, subresource, verb).
fn route(state: &State, info: &RequestInfo, method: &Method) -> Result<Arc<Endpoint>> {
    let endpoint = state
        .catalog
        .endpoint(&info.group, &info.version, &info.resource)
        .ok_or_else(ApiError::not_found_path)?;
    let e = &endpoint.info;
    let named = !info.name.is_empty();
    if e.namespaced && info.namespace.is_empty() && named {
        return Err(ApiError::not_found_path());
    }
    if e.namespaced && info.namespace.is_empty() && !matches!(info.verb, Verb::List | Verb::Watch) {
        return Err(ApiError::not_found_path());
    }
    if !e.namespaced && !info.namespace.is_empty() {
        return Err(ApiError::not_found_path());
    }
    if !named && matches!(info.verb, Verb::Update | Verb::Patch) {
        return Err(ApiError::method_not_allowed());
    }
    let verb = info.verb.as_str();
    if endpoint.terminating && info.verb == Verb::Create && info.subresource.is_empty() {
        let mut err = ApiError::method_not_supported(&e.group_resource(), verb);
        err.message = format!("{verb} not allowed while custom resource definition is terminating");
        return Err(err);
    }
    if info.subresource.is_empty() {
        if !e.supports(verb) {
            return Err(ApiError::method_not_allowed());
        }
    } else {
        let Some(sub) = e.subresources.iter().find(|s| s.name == info.subresource) else {
            return Err(ApiError::not_found_path());
        };
        if !sub.verbs.contains(&verb) {
            let _ = method;
            return Err(ApiError::method_not_allowed());
        }
    }
    Ok(endpoint)
}

async fn dispatch(scope: &Scope, body: Body) -> Result<Response> {
    let sub = scope.info.subresource.as_str();
    // Subresources with their own representation first; every other declared subresource
    // (status, finalize, approval, ...) reads the object and writes through the store with the
    // subresource named, so its strategy decides what the write may change.
    match (scope.info.verb, sub) {
        (Verb::Get | Verb::Update | Verb::Patch, "scale") => {
            scale::scale(scope, body::read(body).await?).await
        }
        (Verb::Create, "binding") => binding::bind(scope, body::read(body).await?).await,
        (Verb::Create, "eviction") => eviction::evict(scope, body::read(body).await?).await,
        (Verb::Create, "token") => token_request::create(scope, body::read(body).await?).await,
        (Verb::Create, "") if scope.endpoint.info.kind == "TokenReview" => {
            reviews::token_review(scope, body::read(body).await?).await
        }
        (Verb::Create, "") if scope.endpoint.info.kind == "SelfSubjectReview" => {
            reviews::self_subject_review(scope, body::read(body).await?).await
        }
        (Verb::Create, "") if scope.endpoint.info.group == "authorization.k8s.io" => {
            let body = body::read(body).await?;
            match scope.endpoint.info.kind {
                "SubjectAccessReview" => access_reviews::subject_access_review(scope, body).await,
                "LocalSubjectAccessReview" => {
                    access_reviews::local_subject_access_review(scope, body).await
                }
                "SelfSubjectAccessReview" => {
                    access_reviews::self_subject_access_review(scope, body).await
                }
                _ => access_reviews::self_subject_rules_review(scope, body).await,
            }
        }
        // The legacy `bindings` collection is a way of writing pods/binding, not a store.
        (Verb::Create, "") if scope.endpoint.info.kind == "Binding" => {
            binding::bind(scope, body::read(body).await?).await
        }
        (Verb::Get, _) => get::get(scope).await,
        (Verb::List, "") => list::list(scope).await,
        (Verb::Watch, "") => watch::watch(scope).await,
        (Verb::Create, "") => create::create(scope, body::read(body).await?).await,
        (Verb::Update, _) => update::update(scope, body::read(body).await?).await,
        (Verb::Patch, _) => patch::patch(scope, body::read(body).await?).await,
        (Verb::Delete, "") => delete::delete(scope, body::read(body).await?).await,
        (Verb::DeleteCollection, "") => {
            delete::delete_collection(scope, body::read(body).await?).await
        }
        (verb, _) => Err(ApiError::method_not_supported(
            &scope.endpoint.info.group_resource(),
            verb.as_str(),
        )),
    }
}

/// The answer to a write: the stored bytes as they are when the client wants plain JSON of the
/// version they are stored in (no re-encoding on the hot path), otherwise the object converted
/// and encoded as negotiated; with the write's warnings.
pub fn written(
    scope: &Scope,
    status: http::StatusCode,
    written: crate::registry::store::Written,
    output: &negotiate::Output,
    mut warnings: Vec<String>,
) -> Result<Response> {
    warnings.extend(written.warnings);
    let plain = output.target == negotiate::Target::Object
        && output.format == negotiate::Format::Json
        && !output.pretty
        && scope.endpoint.conversion.is_none();
    let mut resp = match written.stored {
        Some(stored) if plain => response::raw_json(status, stored.json),
        _ => {
            let obj = scope.to_served(written.object)?;
            response::object(status, &scope.endpoint, &obj, output)
        }
    };
    response::add_warnings(&mut resp, &warnings);
    Ok(resp)
}

/// The subresource of a write, as the store takes it.
pub fn subresource(scope: &Scope) -> Option<&str> {
    Some(scope.info.subresource.as_str()).filter(|s| !s.is_empty())
}
