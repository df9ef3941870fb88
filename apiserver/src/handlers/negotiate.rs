//! Content negotiation: which representation a client accepts (JSON, YAML, Kubernetes
//! protobuf, a Table, partial metadata) and which body formats it may send.

use super::params::Params;
use crate::errors::{ApiError, Result};
use crate::protobuf;
use http::HeaderMap;

/// The media types responses can be encoded in.
pub const ACCEPTED_OUTPUT: &[&str] =
    &["application/json", "application/yaml", protobuf::MEDIA_TYPE];
/// The media types responses of kinds without a protobuf form can be encoded in.
pub const ACCEPTED_OUTPUT_NO_PROTOBUF: &[&str] = &["application/json", "application/yaml"];
/// The media types request bodies may be in.
pub const ACCEPTED_BODIES: &[&str] =
    &["application/json", "application/yaml", protobuf::MEDIA_TYPE];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
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
        self.format.content_type().to_string()
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Yaml => "application/yaml",
            Format::Protobuf => protobuf::MEDIA_TYPE,
        }
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

/// Picks the representation for a response of a built-in kind; `is_list` decides which
/// partial-metadata form fits.
pub fn negotiate(headers: &HeaderMap, params: &Params, is_list: bool) -> Result<Output> {
    negotiate_with(headers, params, is_list, true)
}

/// [`negotiate`], for kinds that may have no protobuf form (`protobuf` false: custom
/// resources), which upstream then serves as JSON or YAML only.
pub fn negotiate_with(
    headers: &HeaderMap,
    params: &Params,
    is_list: bool,
    protobuf: bool,
) -> Result<Output> {
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
            protobuf::MEDIA_TYPE if protobuf => Format::Protobuf,
            _ => continue,
        };
        let target = match (range.param("as"), range.param("g"), range.param("v")) {
            (None, _, _) => Target::Object,
            // Tables have no protobuf form.
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1"))
                if format != Format::Protobuf =>
            {
                Target::Table
            }
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
    Err(ApiError::not_acceptable(if protobuf {
        ACCEPTED_OUTPUT
    } else {
        ACCEPTED_OUTPUT_NO_PROTOBUF
    }))
}

/// The format of an error answered to a request with these headers: the negotiated one when
/// negotiation succeeds, else JSON.
pub fn error_format(headers: &HeaderMap, protobuf: bool) -> Format {
    negotiate_with(headers, &Params::default(), false, protobuf)
        .map(|o| o.format)
        .unwrap_or(Format::Json)
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
    /// `application/vnd.kubernetes.protobuf`.
    Protobuf,
}

/// The format of a request body from its Content-Type; `patch` selects the patch types.
/// The Content-Type header as sent, and its media type lower-cased without parameters.
pub fn content_type(headers: &HeaderMap) -> (&str, String) {
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
    (ct, mime)
}

pub fn body_format(headers: &HeaderMap, patch: bool) -> Result<BodyFormat> {
    let (ct, mime) = content_type(headers);
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
        protobuf::MEDIA_TYPE => Ok(BodyFormat::Protobuf),
        _ => Err(ApiError::unsupported_media_type(ct, ACCEPTED_BODIES)),
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
        let o = negotiate(
            &headers("application/vnd.kubernetes.protobuf, */*"),
            &Params::default(),
            false,
        )
        .unwrap();
        assert_eq!(o.format, Format::Protobuf);
        assert_eq!(o.content_type(), "application/vnd.kubernetes.protobuf");
        let o = negotiate(
            &headers("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
            &Params::default(),
            true,
        )
        .unwrap();
        assert_eq!(o.target, Target::Metadata);
    }

    #[test]
    fn protobuf_only_for_built_in_kinds() {
        let client_go = headers("application/vnd.kubernetes.protobuf,application/json");
        let o = negotiate_with(&client_go, &Params::default(), false, false).unwrap();
        assert_eq!(o.format, Format::Json);
        let err = negotiate_with(
            &headers("application/vnd.kubernetes.protobuf"),
            &Params::default(),
            false,
            false,
        )
        .unwrap_err();
        assert_eq!(err.code, 406);
        // A protobuf Table is not offered; the next acceptable range wins.
        let o = negotiate(
            &headers(
                "application/vnd.kubernetes.protobuf;as=Table;g=meta.k8s.io;v=v1,application/json",
            ),
            &Params::default(),
            true,
        )
        .unwrap();
        assert_eq!((o.format, o.target), (Format::Json, Target::Object));
        assert_eq!(error_format(&client_go, true), Format::Protobuf);
        assert_eq!(error_format(&headers("text/html"), true), Format::Json);
    }

    #[test]
    fn body_formats() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::CONTENT_TYPE,
            "application/vnd.kubernetes.protobuf".parse().unwrap(),
        );
        assert_eq!(body_format(&h, false).unwrap(), BodyFormat::Protobuf);
        h.insert(http::header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(
            body_format(&h, false).unwrap_err().message,
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
        );
    }
}
