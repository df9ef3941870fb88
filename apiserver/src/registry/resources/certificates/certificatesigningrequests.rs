//! CertificateSigningRequests. The requester's identity is recorded from the authenticated
//! user on create; the spec never changes afterwards. Approval conditions change only through
//! the `approval` subresource, the issued certificate only through `status`.

use crate::authn::user::UserInfo;
use crate::registry::resources::shared::{arr, object_at, s};
use crate::registry::table::{self, AGE, Column, NAME};
use crate::registry::{
    Resource, ResourceInfo, SUBRESOURCE_VERBS, SubresourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use apimachinery::field_errors::{child, index};
use apimachinery::validation::{is_dns1123_label, is_dns1123_subdomain};
use apimachinery::{FieldError, FieldErrors};
use base64::Engine;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde_json::{Value, json};

const GROUP: &str = "certificates.k8s.io";
const LEGACY_UNKNOWN_SIGNER: &str = "kubernetes.io/legacy-unknown";
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// Upstream's `allValidUsages`, sorted as `sets.String.List()` prints them.
const USAGES: &[&str] = &[
    "any",
    "cert sign",
    "client auth",
    "code signing",
    "content commitment",
    "crl sign",
    "data encipherment",
    "decipher only",
    "digital signature",
    "email protection",
    "encipher only",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "key agreement",
    "key encipherment",
    "microsoft sgc",
    "netscape sgc",
    "ocsp signing",
    "s/mime",
    "server auth",
    "signing",
    "timestamping",
];
const ALL_STATUS: &[&str] = &["False", "True", "Unknown"];
const TRUE_ONLY: &[&str] = &["True"];

const SUBRESOURCES: &[SubresourceInfo] = &[
    SubresourceInfo {
        name: "approval",
        group: GROUP,
        version: "v1",
        kind: "CertificateSigningRequest",
        verbs: SUBRESOURCE_VERBS,
    },
    SubresourceInfo::status(GROUP, "v1", "CertificateSigningRequest"),
];

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            GROUP,
            "v1",
            "certificatesigningrequests",
            "CertificateSigningRequest",
            "certificatesigningrequest",
            false,
        )
        .short_names(&["csr"])
        .subresources(SUBRESOURCES),
        CertificateSigningRequests,
    )
}

pub struct CertificateSigningRequests;

const COLUMNS: &[Column] = &[
    NAME,
    AGE,
    Column::new(
        "SignerName",
        "string",
        "Requested signer for the request. It is a qualified name in the form: `scope-hostname.io/name`. If empty, it will be defaulted:\n 1. If it's a kubelet client certificate, it is assigned\n    \"kubernetes.io/kube-apiserver-client-kubelet\".\n 2. If it's a kubelet serving certificate, it is assigned\n    \"kubernetes.io/kubelet-serving\".\n 3. Otherwise, it is assigned \"kubernetes.io/legacy-unknown\".\nDistribution of trust for signers happens out of band. You can select on this field using `spec.signerName`.",
    ),
    Column::new("Requestor", "string", "Base64-encoded PKCS#10 CSR data"),
    Column::new(
        "RequestedDuration",
        "string",
        "expirationSeconds is the requested duration of validity of the issued certificate. The certificate signer may issue a certificate with a different validity duration so a client must check the delta between the notBefore and and notAfter fields in the issued certificate to determine the actual duration.\n\nThe v1.22+ in-tree implementations of the well-known Kubernetes signers will honor this field as long as the requested duration is not greater than the maximum duration they will honor per the --cluster-signing-duration CLI flag to the Kubernetes controller manager.\n\nCertificate signers may not honor this field for various reasons:\n\n  1. Old signer that is unaware of the field (such as the in-tree\n     implementations prior to v1.22)\n  2. Signer whose configured maximum is shorter than the requested duration\n  3. Signer whose configured minimum is longer than the requested duration\n\nThe minimum valid value for expirationSeconds is 600, i.e. 10 minutes.\n\nAs of v1.22, this field is beta and is controlled via the CSRDuration feature gate.",
    ),
    Column::new(
        "Condition",
        "string",
        "Conditions applied to the request, such as approval or denial.",
    ),
];

/// Go's `%#v` of a `[]byte`, which upstream prints as the bad value of `spec.request`.
fn go_bytes(bytes: &[u8]) -> String {
    let items: Vec<String> = bytes.iter().map(|b| format!("0x{b:x}")).collect();
    format!("[]byte{{{}}}", items.join(", "))
}

fn request_bytes(obj: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s(obj, "/spec/request"))
        .unwrap_or_default()
}

/// `certificates.ParseCSR`: the first PEM block must be a parseable CERTIFICATE REQUEST.
fn parse_csr(pem: &[u8]) -> Result<(), String> {
    use x509_parser::prelude::FromDer;
    let block = x509_parser::pem::parse_x509_pem(pem)
        .ok()
        .map(|(_, p)| p)
        .filter(|p| p.label == "CERTIFICATE REQUEST")
        .ok_or("PEM block type must be CERTIFICATE REQUEST")?;
    x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents)
        .map(|_| ())
        .map_err(|e| format!("x509: malformed certificate request: {e}"))
}

/// `validateCertificate`: empty, or only parseable CERTIFICATE blocks.
fn validate_certificate(pem: &[u8]) -> Result<(), String> {
    if pem.is_empty() {
        return Ok(());
    }
    let mut rest = pem;
    let mut blocks = 0;
    while let Ok((next, block)) = x509_parser::pem::parse_x509_pem(rest) {
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "only CERTIFICATE PEM blocks are allowed, found {:?}",
                block.label
            ));
        }
        x509_parser::parse_x509_certificate(&block.contents).map_err(|e| e.to_string())?;
        blocks += 1;
        rest = next;
    }
    if blocks == 0 {
        return Err("must contain at least one CERTIFICATE PEM block".to_string());
    }
    Ok(())
}

/// `ValidateSignerName`: `example.com/signer-name`.
fn validate_signer_name(name: &str, path: &str) -> FieldErrors {
    if name.is_empty() {
        return vec![FieldError::required(path, "")];
    }
    let Some((domain, rest)) = name.split_once('/').filter(|(_, r)| !r.contains('/')) else {
        return vec![FieldError::invalid(
            path,
            name,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )];
    };
    let mut errs = Vec::new();
    if domain.len() > 253 {
        errs.push(FieldError::too_long(path, 253));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for label in &labels {
        let msgs = is_dns1123_label(label);
        if !msgs.is_empty() {
            for m in msgs {
                errs.push(FieldError::invalid(
                    path,
                    domain,
                    format!("validating label {label:?}: {m}"),
                ));
            }
            break;
        }
    }
    if labels.len() < 2 {
        errs.push(FieldError::invalid(
            path,
            domain,
            "should be a domain with at least two segments separated by dots",
        ));
    }
    for label in rest.split('.') {
        let msgs = is_dns1123_subdomain(label);
        if !msgs.is_empty() {
            for m in msgs {
                errs.push(FieldError::invalid(
                    path,
                    rest,
                    format!("validating label {label:?}: {m}"),
                ));
            }
            break;
        }
    }
    errs
}

fn conditions(obj: &Value) -> &[Value] {
    arr(obj, "/status/conditions")
}

fn conditions_of<'a>(obj: &'a Value, kind: &str) -> Vec<&'a Value> {
    conditions(obj)
        .iter()
        .filter(|c| s(c, "/type") == kind)
        .collect()
}

fn validate_conditions(obj: &Value) -> FieldErrors {
    let mut errs = Vec::new();
    let path = "status.conditions";
    let mut seen = std::collections::HashSet::new();
    let (mut approved, mut denied) = (false, false);
    for (i, c) in conditions(obj).iter().enumerate() {
        let p = index(path, i);
        let kind = s(c, "/type");
        if kind.is_empty() {
            errs.push(FieldError::required(child(&p, "type"), ""));
        }
        let allowed = if matches!(kind, "Approved" | "Denied") {
            TRUE_ONLY
        } else {
            ALL_STATUS
        };
        let status = s(c, "/status");
        if status.is_empty() {
            errs.push(FieldError::required(child(&p, "status"), ""));
        } else if !allowed.contains(&status) {
            errs.push(FieldError::not_supported(
                child(&p, "status"),
                status,
                allowed,
            ));
        }
        match kind {
            "Approved" => {
                approved = true;
                if denied {
                    errs.push(FieldError::invalid(
                        path,
                        kind,
                        "Approved and Denied conditions are mutually exclusive",
                    ));
                }
            }
            "Denied" => {
                denied = true;
                if approved {
                    errs.push(FieldError::invalid(
                        path,
                        kind,
                        "Approved and Denied conditions are mutually exclusive",
                    ));
                }
            }
            _ => {}
        }
        if !seen.insert(kind) {
            errs.push(FieldError::duplicate(child(&p, "type"), kind));
        }
    }
    errs
}

/// What differs between updates through the main resource, `status` and `approval`.
#[derive(Clone, Copy)]
struct UpdateRules {
    may_set_certificate: bool,
    may_change_approval: bool,
}

fn validate_update_with(new: &Value, old: &Value, rules: UpdateRules) -> FieldErrors {
    let mut errs = validate_csr(new, Some(old));
    for kind in ["Approved", "Denied", "Failed"] {
        if conditions_of(new, kind).len() < conditions_of(old, kind).len() {
            errs.push(FieldError::forbidden(
                "status.conditions",
                format!("updates may not remove a condition of type {kind:?}"),
            ));
        }
    }
    if !rules.may_change_approval {
        for kind in ["Approved", "Denied"] {
            let (n, o) = (conditions_of(new, kind), conditions_of(old, kind));
            if n.len() > o.len() {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    format!("updates may not add a condition of type {kind:?}"),
                ));
            } else if n.len() == o.len() && n != o {
                errs.push(FieldError::forbidden(
                    "status.conditions",
                    format!("updates may not modify a condition of type {kind:?}"),
                ));
            }
        }
    }
    let (nc, oc) = (s(new, "/status/certificate"), s(old, "/status/certificate"));
    if nc != oc {
        if !rules.may_set_certificate {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not set certificate content",
            ));
        } else if !oc.is_empty() {
            errs.push(FieldError::forbidden(
                "status.certificate",
                "updates may not modify existing certificate content",
            ));
        }
    }
    errs
}

/// `validateCertificateSigningRequest`; `old` relaxes rules for data that already exists.
fn validate_csr(obj: &Value, old: Option<&Value>) -> FieldErrors {
    let mut errs = Vec::new();
    let request = request_bytes(obj);
    if let Err(why) = parse_csr(&request) {
        errs.push(FieldError::new(
            apimachinery::FieldErrorKind::Invalid,
            "spec.request",
            format!("{}: {why}", go_bytes(&request)),
        ));
    }
    let usages = arr(obj, "/spec/usages");
    if usages.is_empty() {
        errs.push(FieldError::required("spec.usages", ""));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, u) in usages.iter().enumerate() {
        let u = u.as_str().unwrap_or_default();
        if !USAGES.contains(&u) {
            errs.push(FieldError::not_supported(
                index("spec.usages", i),
                u,
                USAGES,
            ));
        }
        if !seen.insert(u) {
            errs.push(FieldError::duplicate(index("spec.usages", i), u));
        }
    }
    let signer = s(obj, "/spec/signerName");
    let legacy_ok = old.is_some_and(|o| s(o, "/spec/signerName") == LEGACY_UNKNOWN_SIGNER);
    if signer == LEGACY_UNKNOWN_SIGNER && !legacy_ok {
        errs.push(FieldError::invalid(
            "spec.signerName",
            signer,
            "the legacy signerName is not allowed via this API version",
        ));
    } else {
        errs.extend(validate_signer_name(signer, "spec.signerName"));
    }
    if let Some(secs) = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        && secs < MIN_EXPIRATION_SECONDS
    {
        errs.push(FieldError::invalid(
            "spec.expirationSeconds",
            secs,
            "may not specify a duration less than 600 seconds (10 minutes)",
        ));
    }
    errs.extend(validate_conditions(obj));
    let untouched =
        old.is_some_and(|o| o.pointer("/status/certificate") == obj.pointer("/status/certificate"));
    if !untouched {
        let cert = base64::engine::general_purpose::STANDARD
            .decode(s(obj, "/status/certificate"))
            .unwrap_or_default();
        if let Err(why) = validate_certificate(&cert) {
            errs.push(FieldError::invalid(
                "status.certificate",
                "<certificate data>",
                why,
            ));
        }
    }
    errs
}

/// `populateConditionTimestamps`: new conditions get the current time; a transition time
/// carries over while the status of that condition type stays the same.
fn populate_condition_timestamps(new: &mut Value, old: &Value) {
    let now = crate::clock::now();
    let Some(conds) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for c in conds.iter_mut().filter_map(Value::as_object_mut) {
        if c.get("lastUpdateTime").is_none_or(Value::is_null) {
            c.insert("lastUpdateTime".into(), json!(now));
        }
        if c.get("lastTransitionTime").is_none_or(Value::is_null) {
            let kind = c.get("type").cloned();
            let status = c.get("status").cloned();
            let carried = conditions(old)
                .iter()
                .find(|o| o.get("type") == kind.as_ref() && o.get("status") == status.as_ref())
                .and_then(|o| o.get("lastTransitionTime"))
                .filter(|t| !t.is_null())
                .cloned();
            c.insert(
                "lastTransitionTime".into(),
                carried.unwrap_or_else(|| json!(now)),
            );
        }
    }
}

/// Keeps the stored instances of a condition type when a write carries as many of them.
fn preserve_condition_instances(new: &mut Value, old: &Value, kind: &str) {
    let olds: Vec<Value> = conditions_of(old, kind).into_iter().cloned().collect();
    let Some(conds) = new
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let count = conds
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .count();
    if count != olds.len() {
        return;
    }
    let mut olds = olds.into_iter();
    for c in conds.iter_mut() {
        if c.get("type").and_then(Value::as_str) == Some(kind)
            && let Some(o) = olds.next()
        {
            *c = o;
        }
    }
}

fn take_spec_from(new: &mut Value, old: &Value) {
    new["spec"] = old.get("spec").cloned().unwrap_or_else(|| json!({}));
}

impl Strategy for CertificateSigningRequests {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<CertificateSigningRequest>(body)
    }

    fn name_validator(&self) -> apimachinery::validation::NameValidator {
        // Upstream accepts any name for CSRs.
        |_, _| Vec::new()
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        // Users cannot create pre-approved requests.
        obj["status"] = json!({});
    }

    fn prepare_for_create_by(&self, obj: &mut Value, user: &UserInfo) {
        let m = object_at(obj, &["spec"]);
        for field in ["username", "uid", "groups", "extra"] {
            m.remove(field);
        }
        if !user.name.is_empty() {
            m.insert("username".into(), json!(user.name));
        }
        if !user.uid.is_empty() {
            m.insert("uid".into(), json!(user.uid));
        }
        if !user.groups.is_empty() {
            m.insert("groups".into(), json!(user.groups));
        }
        if !user.extra.is_empty() {
            m.insert("extra".into(), json!(user.extra));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        take_spec_from(new, old);
        new["status"] = old.get("status").cloned().unwrap_or_else(|| json!({}));
    }

    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        take_spec_from(new, old);
        preserve_condition_instances(new, old, "Approved");
        preserve_condition_instances(new, old, "Denied");
        populate_condition_timestamps(new, old);
    }

    fn prepare_for_subresource_update(&self, subresource: &str, new: &mut Value, old: &Value) {
        let requested = new.pointer("/status/conditions").cloned();
        // Upstream's approval strategy takes the request's metadata (annotations, labels)
        // and conditions; spec and the rest of status stay as stored.
        let metadata = new.get("metadata").cloned();
        *new = old.clone();
        if subresource == "approval" {
            if let Some(m) = metadata {
                new["metadata"] = m;
            }
            let status = object_at(new, &["status"]);
            match requested {
                Some(c) => status.insert("conditions".into(), c),
                None => status.remove("conditions"),
            };
            populate_condition_timestamps(new, old);
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_csr(obj, None)
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        // The main resource keeps the stored status, so only the approval subresource gets
        // here with new conditions.
        validate_update_with(
            new,
            old,
            UpdateRules {
                may_set_certificate: false,
                may_change_approval: true,
            },
        )
    }

    fn validate_status_update(&self, new: &Value, old: &Value) -> FieldErrors {
        validate_update_with(
            new,
            old,
            UpdateRules {
                may_set_certificate: true,
                may_change_approval: false,
            },
        )
    }

    /// Upstream's field label conversion for CSRs accepts `spec.signerName`.
    fn selectable_fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("spec.signerName", s(obj, "/spec/signerName").to_string())]
    }

    fn selectable_field_names(&self) -> &'static [&'static str] {
        &["spec.signerName"]
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        let has = |k: &str| !conditions_of(obj, k).is_empty();
        let mut condition = if has("Denied") {
            "Denied".to_string()
        } else if has("Approved") {
            "Approved".to_string()
        } else {
            "Pending".to_string()
        };
        if has("Failed") {
            condition.push_str(",Failed");
        }
        if !s(obj, "/status/certificate").is_empty() {
            condition.push_str(",Issued");
        }
        let signer = match s(obj, "/spec/signerName") {
            "" => "<none>",
            other => other,
        };
        let duration = obj
            .pointer("/spec/expirationSeconds")
            .and_then(Value::as_i64)
            .map_or_else(|| "<none>".to_string(), table::human_duration);
        vec![
            table::name(obj),
            table::age(obj),
            json!(signer),
            json!(s(obj, "/spec/username")),
            json!(duration),
            json!(condition),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["node1".to_string()]).unwrap();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    fn csr(request: &str) -> Value {
        json!({
            "metadata": {"name": "c"},
            "spec": {
                "request": base64::engine::general_purpose::STANDARD.encode(request),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"],
            },
        })
    }

    fn messages(errs: &FieldErrors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn valid_request_passes() {
        assert!(
            CertificateSigningRequests
                .validate(&csr(&csr_pem()))
                .is_empty()
        );
    }

    #[test]
    fn rejects_non_csr_pem_and_bad_fields() {
        let mut obj = csr("hi");
        obj["spec"]["usages"] = json!(["client auth", "client auth", "flying"]);
        obj["spec"]["signerName"] = json!("nope");
        obj["spec"]["expirationSeconds"] = json!(60);
        let errs = messages(&CertificateSigningRequests.validate(&obj));
        assert_eq!(
            errs[0],
            "spec.request: Invalid value: []byte{0x68, 0x69}: PEM block type must be CERTIFICATE REQUEST"
        );
        assert_eq!(errs[1], "spec.usages[1]: Duplicate value: \"client auth\"");
        assert!(errs[2].starts_with(
            "spec.usages[2]: Unsupported value: \"flying\": supported values: \"any\""
        ));
        assert_eq!(
            errs[3],
            "spec.signerName: Invalid value: \"nope\": must be a fully qualified domain and path of the form 'example.com/signer-name'"
        );
        assert_eq!(
            errs[4],
            "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds (10 minutes)"
        );
    }

    #[test]
    fn records_the_requesting_user() {
        let mut obj = csr("x");
        obj["spec"]["username"] = json!("mallory");
        obj["status"] = json!({"conditions": [{"type": "Approved", "status": "True"}]});
        CertificateSigningRequests.prepare_for_create(&mut obj);
        let user = UserInfo {
            name: "alice".into(),
            uid: "u1".into(),
            groups: vec!["system:authenticated".into()],
            ..Default::default()
        };
        CertificateSigningRequests.prepare_for_create_by(&mut obj, &user);
        assert_eq!(obj["spec"]["username"], "alice");
        assert_eq!(obj["spec"]["uid"], "u1");
        assert_eq!(obj["spec"]["groups"], json!(["system:authenticated"]));
        assert_eq!(obj["status"], json!({}));
    }

    #[test]
    fn approval_and_status_paths() {
        let old = csr(&csr_pem());
        let mut approved = old.clone();
        approved["status"] =
            json!({"conditions": [{"type": "Approved", "status": "True", "reason": "r"}]});
        approved["metadata"]["annotations"] = json!({"patchedapproval": "true"});
        approved["spec"]["signerName"] = json!("example.com/other");
        CertificateSigningRequests.prepare_for_subresource_update("approval", &mut approved, &old);
        assert_eq!(approved["status"]["conditions"][0]["type"], "Approved");
        // The approval keeps the request's metadata, never its spec.
        assert_eq!(
            approved["metadata"]["annotations"]["patchedapproval"],
            "true"
        );
        assert_eq!(approved["spec"], old["spec"]);
        assert!(approved["status"]["conditions"][0]["lastUpdateTime"].is_string());
        assert!(
            CertificateSigningRequests
                .validate_update(&approved, &old)
                .is_empty()
        );
        // The status subresource may not approve.
        assert_eq!(
            messages(&CertificateSigningRequests.validate_status_update(&approved, &old)),
            vec![
                "status.conditions: Forbidden: updates may not add a condition of type \"Approved\""
            ]
        );
        let mut row_obj = approved.clone();
        row_obj["spec"]["username"] = json!("alice");
        row_obj["spec"]["expirationSeconds"] = json!(3600);
        let row = CertificateSigningRequests.table_row(&row_obj);
        assert_eq!(row[2], "kubernetes.io/kube-apiserver-client");
        assert_eq!(row[3], "alice");
        assert_eq!(row[4], "60m");
        assert_eq!(row[5], "Approved");
    }

    #[test]
    fn selectable_by_signer_name() {
        let obj = json!({"spec": {"signerName": "example.com/signer"}});
        let attrs = CertificateSigningRequests.attrs(&obj);
        assert_eq!(attrs.field("spec.signerName"), Some("example.com/signer"));
        assert_eq!(
            CertificateSigningRequests.selectable_field_names(),
            &["spec.signerName"]
        );
    }
}
