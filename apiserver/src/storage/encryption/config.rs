//! The `EncryptionConfiguration` file (`apiserver.config.k8s.io/v1`, YAML or JSON): decoding,
//! upstream's validation, and building [`ResourceTransformers`].
//!
//! ```yaml
//! apiVersion: apiserver.config.k8s.io/v1
//! kind: EncryptionConfiguration
//! resources:
//!   - resources: [secrets, configmaps, "*.apps"]
//!     providers:
//!       - aescbc:
//!           keys:
//!             - name: key1
//!               secret: <base64 of 16, 24 or 32 bytes>
//!       - identity: {}
//! ```
//!
//! A file that does not decode strictly (unknown fields are errors, as upstream's strict
//! decoder), or that upstream's validation refuses, stops the apiserver from starting; the
//! error lists every problem with its field path, in upstream's words. `kms` providers are
//! refused: ferrokube does not talk to KMS plugins.

use super::{GroupResource, Key, Kind, Provider, ResourceTransformers, Transformer};
use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

const API_VERSION: &str = "apiserver.config.k8s.io/v1";
const KIND: &str = "EncryptionConfiguration";

/// Why an encryption configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("error reading encryption provider configuration file {path:?}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("encryption provider configuration file {path:?} is empty")]
    Empty { path: String },
    /// The file is not an `EncryptionConfiguration`, or has fields it does not know.
    #[error("error decoding encryption provider configuration file {path:?}: {reason}")]
    Decode { path: String, reason: String },
    /// Upstream's validation refused it.
    #[error("error validating encryption provider configuration file {path:?}: {errors}")]
    Invalid { path: String, errors: FieldErrors },
    /// A rule is masked by an earlier wildcard rule.
    #[error("error while building transformers from {path:?}: {reason}")]
    Build { path: String, reason: String },
}

/// Validation errors, shown as upstream's `field.ErrorList.ToAggregate()` does.
#[derive(Debug, Default)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                let parts: Vec<String> = all.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

/// One validation error: where, what kind, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub kind: FieldErrorKind,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    /// The offending value, as upstream prints it.
    Invalid(String),
    Forbidden,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FieldErrorKind::Required => write!(f, "{}: Required value: {}", self.path, self.detail),
            FieldErrorKind::Invalid(v) => {
                write!(f, "{}: Invalid value: {v}: {}", self.path, self.detail)
            }
            FieldErrorKind::Forbidden => write!(f, "{}: Forbidden: {}", self.path, self.detail),
        }
    }
}

impl FieldError {
    fn required(path: String, detail: String) -> Self {
        Self {
            path,
            kind: FieldErrorKind::Required,
            detail,
        }
    }

    fn invalid(path: String, value: String, detail: impl Into<String>) -> Self {
        Self {
            path,
            kind: FieldErrorKind::Invalid(value),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EncryptionConfiguration {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceConfiguration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceConfiguration {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<ProviderConfiguration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderConfiguration {
    aesgcm: Option<KeysConfiguration>,
    aescbc: Option<KeysConfiguration>,
    secretbox: Option<KeysConfiguration>,
    identity: Option<IdentityConfiguration>,
    /// Accepted in any shape, so the error says "not supported" rather than "unknown field".
    kms: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysConfiguration {
    #[serde(default)]
    keys: Vec<KeyConfiguration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyConfiguration {
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityConfiguration {}

impl ProviderConfiguration {
    /// The providers this list element sets, by their file names.
    fn present(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kms.is_some() {
            out.push("kms");
        }
        if self.aesgcm.is_some() {
            out.push("aesgcm");
        }
        if self.aescbc.is_some() {
            out.push("aescbc");
        }
        if self.secretbox.is_some() {
            out.push("secretbox");
        }
        if self.identity.is_some() {
            out.push("identity");
        }
        out
    }

    fn keyed(&self) -> Option<(Kind, &KeysConfiguration)> {
        if let Some(c) = &self.aesgcm {
            return Some((Kind::AesGcm, c));
        }
        if let Some(c) = &self.aescbc {
            return Some((Kind::AesCbc, c));
        }
        self.secretbox.as_ref().map(|c| (Kind::Secretbox, c))
    }
}

/// Reads, validates and builds the file of `--encryption-provider-config`.
pub fn load(path: &Path) -> Result<ResourceTransformers, ConfigError> {
    let origin = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: origin.clone(),
        source,
    })?;
    parse(&data, &origin)
}

/// Decodes, validates and builds a configuration; `origin` names it in errors.
pub fn parse(data: &[u8], origin: &str) -> Result<ResourceTransformers, ConfigError> {
    let path = origin.to_string();
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(ConfigError::Empty { path });
    }
    // YAML is a superset of JSON: one decoder reads both, as upstream's universal decoder.
    let config: EncryptionConfiguration =
        serde_yaml::from_slice(data).map_err(|e| ConfigError::Decode {
            path: path.clone(),
            reason: format!("strict decoding error: {e}"),
        })?;
    check_type(&config).map_err(|reason| ConfigError::Decode {
        path: path.clone(),
        reason,
    })?;
    let errors = validate(&config);
    if !errors.0.is_empty() {
        return Err(ConfigError::Invalid { path, errors });
    }
    build(&config).map_err(|reason| ConfigError::Build { path, reason })
}

fn check_type(config: &EncryptionConfiguration) -> Result<(), String> {
    match (config.api_version.as_deref(), config.kind.as_deref()) {
        (None, _) | (_, None) => Err(format!(
            "apiVersion and kind must be set (apiVersion: {API_VERSION}, kind: {KIND})"
        )),
        (Some(v), _) if v != API_VERSION => Err(format!(
            "apiVersion {v:?} is not supported; use {API_VERSION}"
        )),
        (_, Some(k)) if k != KIND => Err(format!(
            "kind {k:?} is not registered for version {API_VERSION}; use {KIND}"
        )),
        _ => Ok(()),
    }
}

/// Upstream's `ValidateEncryptionConfiguration`, plus the refusal of `kms`.
fn validate(config: &EncryptionConfiguration) -> FieldErrors {
    let mut errs = Vec::new();
    if config.resources.is_empty() {
        errs.push(FieldError::required(
            "resources".into(),
            "at least one resources is required".into(),
        ));
        return FieldErrors(errs);
    }
    for (i, rule) in config.resources.iter().enumerate() {
        let r = format!("resources[{i}].resources");
        let p = format!("resources[{i}].providers");
        if rule.resources.is_empty() {
            errs.push(FieldError::required(
                r.clone(),
                format!("at least one {r} is required"),
            ));
        }
        errs.extend(validate_overlap(&rule.resources, &r));
        errs.extend(validate_names(&rule.resources, &r));
        if rule.providers.is_empty() {
            errs.push(FieldError::required(
                p.clone(),
                format!("at least one {p} is required"),
            ));
        }
        for (j, provider) in rule.providers.iter().enumerate() {
            let path = format!("{p}[{j}]");
            let present = provider.present();
            match present.len() {
                0 => {
                    errs.push(FieldError::invalid(
                        path,
                        "{}".into(),
                        "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
                    ));
                    continue;
                }
                1 => {}
                _ => {
                    errs.push(FieldError::invalid(
                        path,
                        format!("{{{}}}", present.join(", ")),
                        "more than one provider specified in a single element, should split into different list elements",
                    ));
                    continue;
                }
            }
            if provider.kms.is_some() {
                errs.push(FieldError {
                    path: format!("{path}.kms"),
                    kind: FieldErrorKind::Forbidden,
                    detail: "KMS providers are not supported by ferrokube; use aescbc, aesgcm or secretbox".into(),
                });
            } else if let Some((kind, keys)) = provider.keyed() {
                errs.extend(validate_keys(
                    &keys.keys,
                    &format!("{path}.{}.keys", kind.name()),
                    kind.key_sizes(),
                ));
            }
        }
    }
    FieldErrors(errs)
}

/// Go's `%#v` of a `[]string`, as upstream prints an invalid resource list.
fn go_strings(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// The same resource twice in one list, or a wildcard beside resources it covers.
fn validate_overlap(resources: &[String], path: &str) -> Vec<FieldError> {
    if resources.len() < 2 {
        return Vec::new();
    }
    let parsed: Vec<GroupResource> = resources.iter().map(|r| GroupResource::parse(r)).collect();
    let any = GroupResource::new("*", "*");
    let (mut duplicate, mut overlap) = (false, false);
    // Upstream's pairwise scan, kept exactly: only the first equal pair counts as the
    // duplicate, later equal pairs are judged for overlap like any other.
    for (i, a) in parsed.iter().enumerate() {
        for (j, b) in parsed.iter().enumerate() {
            if i == j {
                continue;
            }
            if a == b && !duplicate {
                duplicate = true;
                continue;
            }
            if *a == any || (a.group == b.group && (a.resource == "*" || b.resource == "*")) {
                overlap = true;
            }
        }
    }
    let mut errs = Vec::new();
    if duplicate {
        errs.push(FieldError::invalid(
            path.to_string(),
            go_strings(resources),
            "the same resource cannot be specified multiple times",
        ));
    }
    if overlap {
        errs.push(FieldError::invalid(
            path.to_string(),
            go_strings(resources),
            "using overlapping resources such as 'secrets' and '*.' in the same resource list is not allowed as they will be masked",
        ));
    }
    errs
}

fn validate_names(resources: &[String], path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (j, res) in resources.iter().enumerate() {
        let detail = if res.to_lowercase() != *res {
            "resource name should not contain capital letters"
        } else if res == "*" {
            "use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources"
        } else if matches!(
            res.as_str(),
            "apiserveripinfo" | "serviceipallocations" | "servicenodeportallocations"
        ) {
            "resources which do not have REST API/s cannot be encrypted"
        } else {
            let gr = GroupResource::parse(res);
            if gr.group == "events.k8s.io" {
                "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. Use 'events' instead in the config file"
            } else if gr.group == "extensions" {
                "'extensions' group has been removed and cannot be used for encryption"
            } else if gr.group == "*" && gr.resource != "*" {
                "encrypting the same resource across groups is not supported"
            } else {
                continue;
            }
        };
        errs.push(FieldError::invalid(
            format!("{path}[{j}]"),
            format!("{res:?}"),
            detail,
        ));
    }
    errs
}

fn validate_keys(keys: &[KeyConfiguration], path: &str, sizes: &[usize]) -> Vec<FieldError> {
    if keys.is_empty() {
        return vec![FieldError::required(
            path.to_string(),
            "at least one keys is required".into(),
        )];
    }
    let mut errs = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let at = format!("{path}[{i}]");
        if key.name.is_empty() {
            errs.push(FieldError::required(
                format!("{at}.name"),
                "name is a mandatory field for a key".into(),
            ));
        }
        if key.secret.is_empty() {
            errs.push(FieldError::required(
                format!("{at}.secret"),
                "secret is a mandatory field for a key".into(),
            ));
            continue;
        }
        // The secret never appears in an error, only its length.
        let redacted = "\"REDACTED\"".to_string();
        match decode_secret(&key.secret) {
            None => errs.push(FieldError::invalid(
                format!("{at}.secret"),
                redacted,
                "secrets must be base64 encoded",
            )),
            Some(secret) if !sizes.contains(&secret.len()) => {
                let sizes: Vec<String> = sizes.iter().map(ToString::to_string).collect();
                errs.push(FieldError::invalid(
                    format!("{at}.secret"),
                    redacted,
                    format!(
                        "secret is not of the expected length, got {}, expected one of [{}]",
                        secret.len(),
                        sizes.join(" ")
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    errs
}

/// Standard base64 with padding; like Go's decoder, line breaks inside are ignored.
fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let compact: String = secret
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Builds each resource's provider list: rules naming the same resource add their providers
/// in file order; a rule after `*.<group>` or `*.*` that they already cover is refused, as
/// upstream refuses it (it could never apply).
fn build(config: &EncryptionConfiguration) -> Result<ResourceTransformers, String> {
    let mut lists: HashMap<GroupResource, Vec<Arc<Provider>>> = HashMap::new();
    for rule in &config.resources {
        let mut providers = Vec::with_capacity(rule.providers.len());
        for provider in &rule.providers {
            providers.push(Arc::new(build_provider(provider)?));
        }
        for resource in &rule.resources {
            let gr = GroupResource::parse(resource);
            for wildcard in [
                GroupResource::new(&gr.group, "*"),
                GroupResource::new("*", "*"),
            ] {
                if lists.contains_key(&wildcard) {
                    return Err(format!(
                        "resource \"{gr}\" is masked by earlier rule \"{wildcard}\""
                    ));
                }
            }
            lists
                .entry(gr)
                .or_default()
                .extend(providers.iter().cloned());
        }
    }
    Ok(ResourceTransformers {
        by_resource: lists
            .into_iter()
            .map(|(gr, providers)| (gr, Arc::new(Transformer::new(providers))))
            .collect(),
    })
}

fn build_provider(provider: &ProviderConfiguration) -> Result<Provider, String> {
    if provider.identity.is_some() {
        return Ok(Provider::Identity);
    }
    let Some((kind, config)) = provider.keyed() else {
        // Validation has refused kms and empty elements already.
        return Err("provider does not contain any of the expected providers".into());
    };
    let mut keys = Vec::with_capacity(config.keys.len());
    for key in &config.keys {
        let secret = decode_secret(&key.secret)
            .ok_or_else(|| format!("could not obtain secret for named key {}", key.name))?;
        keys.push(Key::new(kind, &key.name, &secret).map_err(|e| {
            format!(
                "error while creating cipher for named key {}: {e}",
                key.name
            )
        })?);
    }
    Ok(Provider::Keyed { kind, keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 bytes, 16 bytes and 8 bytes, base64.
    const K32: &str = "c2VjcmV0IGlzIHNlY3VyZSwgSSB0aGluayBzbyEhISE=";
    const K16: &str = "MDEyMzQ1Njc4OWFiY2RlZg==";
    const K8: &str = "MDEyMzQ1Njc=";

    fn parse_yaml(yaml: &str) -> Result<ResourceTransformers, ConfigError> {
        parse(yaml.as_bytes(), "enc.yaml")
    }

    fn error_of(yaml: &str) -> String {
        match parse_yaml(yaml) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    }

    fn header(rules: &str) -> String {
        format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n{rules}"
        )
    }

    #[test]
    fn parses_every_provider_and_resolves_wildcards() {
        let t = parse_yaml(&header(&format!(
            r#"
  - resources: [secrets]
    providers:
      - aescbc: {{keys: [{{name: key1, secret: "{K32}"}}, {{name: key0, secret: "{K16}"}}]}}
      - identity: {{}}
  - resources: [configmaps, "deployments.apps"]
    providers:
      - aesgcm: {{keys: [{{name: g, secret: "{K16}"}}]}}
  - resources: ["*.batch"]
    providers:
      - secretbox: {{keys: [{{name: s, secret: "{K32}"}}]}}
  - resources: ["*.*"]
    providers:
      - identity: {{}}
"#
        )))
        .unwrap();
        let described = t.describe();
        assert!(
            described.contains("secrets: [aescbc[\"key1\", \"key0\"], identity]"),
            "{described}"
        );
        let key = b"/registry/jobs/ns/j";
        let jobs = t.transformer_for("batch", "jobs").unwrap();
        assert!(
            jobs.to_storage(key, b"{}")
                .unwrap()
                .starts_with(b"k8s:enc:secretbox:v1:s:")
        );
        let deployments = t.transformer_for("apps", "deployments").unwrap();
        assert!(
            deployments
                .to_storage(key, b"{}")
                .unwrap()
                .starts_with(b"k8s:enc:aesgcm:v1:g:")
        );
        // Everything else falls to `*.*`: identity.
        let pods = t.transformer_for("", "pods").unwrap();
        assert_eq!(&*pods.to_storage(key, b"{}").unwrap(), b"{}");
    }

    #[test]
    fn json_works_too_and_unconfigured_resources_get_no_transformer() {
        let json = format!(
            r#"{{"apiVersion":"apiserver.config.k8s.io/v1","kind":"EncryptionConfiguration",
               "resources":[{{"resources":["secrets"],"providers":[{{"aesgcm":{{"keys":[{{"name":"k","secret":"{K16}"}}]}}}}]}}]}}"#
        );
        let t = parse(json.as_bytes(), "enc.json").unwrap();
        assert!(t.transformer_for("", "secrets").is_some());
        assert!(t.transformer_for("", "configmaps").is_none());
        assert!(t.transformer_for("apps", "secrets").is_none());
    }

    #[test]
    fn rules_for_the_same_resource_add_up_in_order() {
        let t = parse_yaml(&header(&format!(
            r#"
  - resources: [secrets]
    providers: [{{aescbc: {{keys: [{{name: new, secret: "{K32}"}}]}}}}]
  - resources: [secrets]
    providers: [{{identity: {{}}}}]
"#
        )))
        .unwrap();
        let s = t.transformer_for("", "secrets").unwrap();
        let read = s.from_storage(b"/k", br#"{"a":1}"#).unwrap();
        assert!(read.stale, "plaintext read by the second rule's identity");
    }

    #[test]
    fn key_sizes_are_checked_per_provider() {
        let e = error_of(&header(&format!(
            "  - resources: [secrets]\n    providers: [{{aescbc: {{keys: [{{name: k, secret: \"{K8}\"}}]}}}}]\n"
        )));
        assert_eq!(
            e,
            "error validating encryption provider configuration file \"enc.yaml\": resources[0].providers[0].aescbc.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 8, expected one of [16 24 32]"
        );
        let e = error_of(&header(&format!(
            "  - resources: [secrets]\n    providers: [{{secretbox: {{keys: [{{name: k, secret: \"{K16}\"}}]}}}}]\n"
        )));
        assert!(
            e.ends_with("resources[0].providers[0].secretbox.keys[0].secret: Invalid value: \"REDACTED\": secret is not of the expected length, got 16, expected one of [32]"),
            "{e}"
        );
        let e = error_of(&header(
            "  - resources: [secrets]\n    providers: [{aesgcm: {keys: [{name: k, secret: \"not base64!\"}]}}]\n",
        ));
        assert!(e.contains("secrets must be base64 encoded"), "{e}");
        assert!(
            !e.contains("not base64!"),
            "secrets stay out of errors: {e}"
        );
    }

    #[test]
    fn upstream_validation_errors_are_all_reported() {
        let e = error_of(&header(
            r#"
  - resources: [secrets, secrets, "*"]
    providers:
      - {}
      - aescbc: {keys: []}
        identity: {}
      - aesgcm: {keys: [{name: "", secret: ""}]}
  - resources: []
    providers: []
"#,
        ));
        for part in [
            r#"resources[0].resources: Invalid value: []string{"secrets", "secrets", "*"}: the same resource cannot be specified multiple times"#,
            "resources[0].resources[2]: Invalid value: \"*\": use '*.' to encrypt all the resources from core API group or *.* to encrypt all resources",
            "resources[0].providers[0]: Invalid value: {}: provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, Identity",
            "resources[0].providers[1]: Invalid value: {aescbc, identity}: more than one provider specified in a single element, should split into different list elements",
            "resources[0].providers[2].aesgcm.keys[0].name: Required value: name is a mandatory field for a key",
            "resources[0].providers[2].aesgcm.keys[0].secret: Required value: secret is a mandatory field for a key",
            "resources[1].resources: Required value: at least one resources[1].resources is required",
            "resources[1].providers: Required value: at least one resources[1].providers is required",
        ] {
            assert!(e.contains(part), "missing {part:?} in {e}");
        }
        assert!(e.contains(": [") && e.ends_with(']'), "an aggregate: {e}");
    }

    #[test]
    fn resource_names_follow_upstream_rules() {
        for (name, detail) in [
            (
                "Secrets",
                "resource name should not contain capital letters",
            ),
            (
                "serviceipallocations",
                "resources which do not have REST API/s cannot be encrypted",
            ),
            (
                "events.events.k8s.io",
                "Use 'events' instead in the config file",
            ),
            (
                "deployments.extensions",
                "'extensions' group has been removed",
            ),
            (
                "secrets.*",
                "encrypting the same resource across groups is not supported",
            ),
        ] {
            let e = error_of(&header(&format!(
                "  - resources: [\"{name}\"]\n    providers: [{{identity: {{}}}}]\n"
            )));
            assert!(e.contains(detail), "{name}: {e}");
        }
        let e = error_of(&header(
            "  - resources: [secrets, \"*.\"]\n    providers: [{identity: {}}]\n",
        ));
        assert!(e.contains("overlapping resources"), "{e}");
        let e = error_of(&header(
            "  - resources: [\"*.apps\", \"deployments.apps\"]\n    providers: [{identity: {}}]\n",
        ));
        assert!(e.contains("overlapping resources"), "{e}");
    }

    #[test]
    fn rules_masked_by_earlier_wildcards_are_refused() {
        let e = error_of(&header(
            r#"
  - resources: ["*."]
    providers: [{identity: {}}]
  - resources: [secrets]
    providers: [{identity: {}}]
"#,
        ));
        assert_eq!(
            e,
            "error while building transformers from \"enc.yaml\": resource \"secrets\" is masked by earlier rule \"*.\""
        );
        let e = error_of(&header(
            r#"
  - resources: ["*.*"]
    providers: [{identity: {}}]
  - resources: ["deployments.apps"]
    providers: [{identity: {}}]
"#,
        ));
        assert!(
            e.ends_with("resource \"deployments.apps\" is masked by earlier rule \"*.*\""),
            "{e}"
        );
        // The other way round is fine: the specific rule wins.
        parse_yaml(&header(
            r#"
  - resources: [secrets]
    providers: [{identity: {}}]
  - resources: ["*."]
    providers: [{identity: {}}]
"#,
        ))
        .unwrap();
    }

    #[test]
    fn kms_is_refused_clearly() {
        let e = error_of(&header(
            r#"
  - resources: [secrets]
    providers:
      - kms: {apiVersion: v2, name: myKms, endpoint: "unix:///tmp/kms.sock"}
"#,
        ));
        assert!(
            e.contains("resources[0].providers[0].kms: Forbidden: KMS providers are not supported by ferrokube"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_unknown_fields_and_empty_files_are_refused() {
        let e = error_of("apiVersion: v1\nkind: EncryptionConfig\nresources: []\n");
        assert!(e.contains("apiVersion \"v1\" is not supported"), "{e}");
        let e = error_of("apiVersion: apiserver.config.k8s.io/v1\nkind: Config\nresources: []\n");
        assert!(e.contains("kind \"Config\""), "{e}");
        let e = error_of("resources: []\n");
        assert!(e.contains("apiVersion and kind must be set"), "{e}");
        let e = error_of(&header(
            "  - resources: [secrets]\n    providers: [{aescbc: {keys: [], extra: 1}}]\n",
        ));
        assert!(
            e.contains("strict decoding error") && e.contains("extra"),
            "{e}"
        );
        let e = error_of(&header(
            "  - resources: [secrets]\n    providers: [{aes: {}}]\n",
        ));
        assert!(e.contains("unknown field `aes`"), "{e}");
        let e = error_of("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n");
        assert!(
            e.contains("resources: Required value: at least one resources is required"),
            "{e}"
        );
        assert_eq!(
            error_of("  \n"),
            "encryption provider configuration file \"enc.yaml\" is empty"
        );
        let missing = load(Path::new("/nonexistent/enc.yaml"))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with(
                "error reading encryption provider configuration file \"/nonexistent/enc.yaml\""
            ),
            "{missing}"
        );
    }
}
