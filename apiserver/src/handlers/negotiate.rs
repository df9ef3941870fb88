//! Content negotiation: which representation a client accepts (JSON, YAML, a Table, partial
//! metadata) and which body formats it may send.

use super::params::Params;
use crate::errors::{ApiError, Result};
use http::HeaderMap;

/// The media types responses can be encoded in.
pub const ACCEPTED_OUTPUT: &[&str] = &["application/json", "application/yaml"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// What to send back instead of the object itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Object,
    /// `as=Table`: server-side printing.
    Table,
    /// `as=PartialObjectMetadata` or `PartialObjectMetadataList`.
    Metadata,
}

/// What a Table row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub target: Target,
    pub pretty: bool,
    pub include_object: IncludeObject,
    /// The `v` of `meta.k8s.io` the client asked for (`v1` or `v1beta1`).
    pub meta_version: &'static str,
}

impl Output {
    pub fn json() -> Self {
        Self {
            format: Format::Json,
            target: Target::Object,
            pretty: false,
            include_object: IncludeObject::Metadata,
            meta_version: "v1",
        }
    }

    /// The Content-Type of a response in this representation: the plain media type, as
    /// upstream answers even for Tables and partial metadata.
    pub fn content_type(&self) -> String {
        match self.format {
            Format::Json => "application/json",
            Format::Yaml => "application/yaml",
        }
        .to_string()
    }
}

/// One entry of an Accept header.
struct MediaRange<'a> {
    mime: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl MediaRange<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

fn parse_accept(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';').map(str::trim);
            let mime = pieces.next().filter(|m| !m.is_empty())?;
            let params = pieces
                .filter_map(|p| {
                    p.split_once('=')
                        .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
                })
                .collect();
            Some(MediaRange { mime, params })
        })
        .collect()
}

/// Whether the user agent is one upstream pretty-prints for (people at a terminal).
fn pretty_agent(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| {
            ua.starts_with("curl") || ua.starts_with("Wget") || ua.starts_with("Mozilla/5.0")
        })
}

/// Picks the representation for a response; `is_list` decides which partial-metadata form fits.
pub fn negotiate(headers: &HeaderMap, params: &Params, is_list: bool) -> Result<Output> {
    let pretty = params
        .bool("pretty")?
        .unwrap_or_else(|| pretty_agent(headers));
    let include_object = match params.get("includeObject") {
        None | Some("") | Some("Metadata") => IncludeObject::Metadata,
        Some("None") => IncludeObject::None,
        Some("Object") => IncludeObject::Object,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unrecognized includeObject value: {other:?}"
            )));
        }
    };
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let base = Output {
        pretty,
        include_object,
        ..Output::json()
    };
    if accept.trim().is_empty() {
        return Ok(base);
    }
    for range in parse_accept(accept) {
        let format = match range.mime {
            "application/json" | "*/*" | "application/*" => Format::Json,
            "application/yaml" => Format::Yaml,
            _ => continue,
        };
        let target = match (range.param("as"), range.param("g"), range.param("v")) {
            (None, _, _) => Target::Object,
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => Target::Table,
            (Some("PartialObjectMetadata"), Some("meta.k8s.io"), Some("v1" | "v1beta1"))
                if !is_list =>
            {
                Target::Metadata
            }
            (Some("PartialObjectMetadataList"), Some("meta.k8s.io"), Some("v1" | "v1beta1"))
                if is_list =>
            {
                Target::Metadata
            }
            _ => continue,
        };
        let meta_version = if range.param("v") == Some("v1beta1") {
            "v1beta1"
        } else {
            "v1"
        };
        return Ok(Output {
            format,
            target,
            meta_version,
            ..base
        });
    }
    Err(ApiError::not_acceptable(ACCEPTED_OUTPUT))
}

/// Request body formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
    JsonPatch,
    MergePatch,
    StrategicMergePatch,
    ApplyPatch,
}

/// The format of a request body from its Content-Type; `patch` selects the patch types.
pub fn body_format(headers: &HeaderMap, patch: bool) -> Result<BodyFormat> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if patch {
        return match mime.as_str() {
            "application/json-patch+json" => Ok(BodyFormat::JsonPatch),
            "application/merge-patch+json" => Ok(BodyFormat::MergePatch),
            "application/strategic-merge-patch+json" => Ok(BodyFormat::StrategicMergePatch),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Ok(BodyFormat::ApplyPatch)
            }
            _ => Err(ApiError::unsupported_media_type(
                ct,
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            )),
        };
    }
    match mime.as_str() {
        "" | "application/json" => Ok(BodyFormat::Json),
        "application/yaml" => Ok(BodyFormat::Yaml),
        _ => Err(ApiError::unsupported_media_type(
            ct,
            &["application/json", "application/yaml"],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT, accept.parse().unwrap());
        h
    }

    #[test]
    fn kubectl_get_gets_a_table() {
        let h = headers(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json",
        );
        let o = negotiate(&h, &Params::default(), true).unwrap();
        assert_eq!(o.target, Target::Table);
        let o = negotiate(&headers("application/yaml"), &Params::default(), false).unwrap();
        assert_eq!(o.format, Format::Yaml);
        assert!(
            negotiate(
                &headers("application/vnd.kubernetes.protobuf"),
                &Params::default(),
                false
            )
            .is_err()
        );
        let o = negotiate(
            &headers("application/vnd.kubernetes.protobuf, */*"),
            &Params::default(),
            false,
        )
        .unwrap();
        assert_eq!(o.format, Format::Json);
        let o = negotiate(
            &headers("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            &Params::default(),
            true,
        )
        .unwrap();
        assert_eq!(o.target, Target::Metadata);
    }
}
