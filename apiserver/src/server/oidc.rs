//! OpenID Connect discovery for the service account issuer: `/.well-known/openid-configuration`
//! and the key set at `/openid/v1/jwks`, so other systems can verify this cluster's service
//! account tokens. Served, as upstream, only when the issuer is an `https` URL.

use super::{State, json_response};
use axum::response::Response;
use http::StatusCode;
use serde_json::json;

pub const CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
pub const JWKS_PATH: &str = "/openid/v1/jwks";

pub fn serve(state: &State, path: &str) -> Option<Response> {
    if path != CONFIGURATION_PATH && path != JWKS_PATH {
        return None;
    }
    let tokens = &state.authn.service_accounts;
    let issuer = tokens.issuer().filter(|i| i.starts_with("https://"))?;
    let keys = tokens.public_keys();
    let mut resp = if path == JWKS_PATH {
        let jwks = json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
        json_response(StatusCode::OK, &jwks, "application/jwk-set+json")
    } else {
        let jwks_uri = state
            .jwks_uri
            .clone()
            .unwrap_or_else(|| format!("https://{}{JWKS_PATH}", state.server_address));
        let mut algs: Vec<&str> = keys.iter().map(|k| k.alg).collect();
        algs.sort_unstable();
        algs.dedup();
        let doc = json!({
            "issuer": issuer,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
        });
        json_response(StatusCode::OK, &doc, "application/json")
    };
    resp.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=3600"),
    );
    Some(resp)
}
