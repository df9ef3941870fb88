//! The `audit.k8s.io/v1` `Event`, serialized field for field as upstream's log backend writes
//! it, so that tools reading upstream's audit logs read ours.
//!
//! ```
//! use apiserver::audit::event::{Event, Level, Stage};
//! let mut event = Event::new(Level::Metadata, "d9d7c8b6-0000-4000-8000-000000000000".into());
//! event.stage = Stage::RequestReceived;
//! let line = event.to_line();
//! assert!(line.starts_with(br#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata""#));
//! assert!(line.ends_with(b"\n"));
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// How much of a request is recorded. Ordered: each level records what the one before does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Level {
    /// Not recorded at all.
    None,
    /// Who asked for what, and the answer's status; no bodies.
    Metadata,
    /// Metadata and the request body (resource requests only).
    Request,
    /// Request and the response body (resource requests only).
    RequestResponse,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "None",
            Level::Metadata => "Metadata",
            Level::Request => "Request",
            Level::RequestResponse => "RequestResponse",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "None" => Level::None,
            "Metadata" => Level::Metadata,
            "Request" => Level::Request,
            "RequestResponse" => Level::RequestResponse,
            _ => return None,
        })
    }
}

/// Where in handling a request an event was written.
///
/// Timeline of one request: `RequestReceived` (once authenticated) → for long-running requests
/// (watches, logs, exec, proxy) `ResponseStarted` when the headers go out → `ResponseComplete`
/// when the last byte has been handed over; or `Panic` instead of the response stages when a
/// handler panicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::RequestReceived,
        Stage::ResponseStarted,
        Stage::ResponseComplete,
        Stage::Panic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseStarted => "ResponseStarted",
            Stage::ResponseComplete => "ResponseComplete",
            Stage::Panic => "Panic",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Stage::ALL.into_iter().find(|stage| stage.as_str() == s)
    }
}

/// A `metav1.MicroTime`: RFC 3339 in UTC with six fractional digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroTime(pub DateTime<Utc>);

impl MicroTime {
    pub fn now() -> Self {
        Self(Utc::now())
    }
}

impl Serialize for MicroTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Micros, true))
    }
}

/// `authentication.k8s.io/v1` `UserInfo`; every field is left out when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl From<&crate::authn::user::UserInfo> for UserInfo {
    fn from(u: &crate::authn::user::UserInfo) -> Self {
        Self {
            username: u.name.clone(),
            uid: u.uid.clone(),
            groups: u.groups.clone(),
            extra: u.extra.clone(),
        }
    }
}

/// What a resource request is about (`audit.k8s.io/v1` `ObjectReference`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

/// The answer's `metav1.Status`: only the code for successes, the whole status (less kind
/// and apiVersion) when the answer was a `Status`. `metadata` is always there, empty, as Go
/// writes a `ListMeta` that is not a pointer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseStatus {
    pub metadata: BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(skip_serializing_if = "is_zero")]
    pub code: u16,
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

impl ResponseStatus {
    pub fn code(code: u16) -> Self {
        Self {
            code,
            ..Default::default()
        }
    }

    /// The status fields of a `Status` object as an answer carried it; the code stays the
    /// HTTP one, as upstream overwrites it when the header is written.
    pub fn from_status_object(status: &Value, code: u16) -> Self {
        let text = |k: &str| {
            status
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            metadata: BTreeMap::new(),
            status: text("status"),
            message: text("message"),
            reason: text("reason"),
            details: status
                .get("details")
                .filter(|d| d.as_object().is_some_and(|m| !m.is_empty()))
                .cloned(),
            code,
        }
    }
}

/// One audit event, as `audit.k8s.io/v1` `Event`. Field order is upstream's.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub level: Level,
    #[serde(rename = "auditID")]
    pub audit_id: String,
    pub stage: Stage,
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    pub verb: String,
    pub user: UserInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    #[serde(rename = "sourceIPs", skip_serializing_if = "Vec::is_empty")]
    pub source_ips: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectReference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    pub request_received_timestamp: MicroTime,
    pub stage_timestamp: MicroTime,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Event {
    /// An event at `level` received now, with everything else to fill in.
    pub fn new(level: Level, audit_id: String) -> Self {
        let now = MicroTime::now();
        Self {
            kind: "Event",
            api_version: "audit.k8s.io/v1",
            level,
            audit_id,
            stage: Stage::RequestReceived,
            request_uri: String::new(),
            verb: String::new(),
            user: UserInfo::default(),
            impersonated_user: None,
            source_ips: Vec::new(),
            user_agent: String::new(),
            object_ref: None,
            response_status: None,
            request_object: None,
            response_object: None,
            request_received_timestamp: now,
            stage_timestamp: now,
            annotations: BTreeMap::new(),
        }
    }

    /// One line of the JSON log: the event and a newline, as upstream's encoder ends it.
    pub fn to_line(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail; an empty line would be dropped.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }
}

/// Removes `metadata.managedFields` from an object, the items of a list and the objects of a
/// Table's rows (the policy's `omitManagedFields`).
pub fn omit_managed_fields(value: &mut Value) {
    fn strip(obj: &mut Value) {
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    strip(value);
    if let Some(items) = value.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(strip);
    }
    if let Some(rows) = value.get_mut("rows").and_then(Value::as_array_mut) {
        for row in rows {
            if let Some(obj) = row.get_mut("object") {
                strip(obj);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(micros: i64) -> MicroTime {
        MicroTime(Utc.timestamp_micros(micros).single().unwrap())
    }

    #[test]
    fn serializes_as_upstream() {
        let mut ev = Event::new(
            Level::RequestResponse,
            "8ac3a6b0-5b8c-4a4e-9a43-8f7b4e1b2c3d".into(),
        );
        ev.stage = Stage::ResponseComplete;
        ev.request_uri = "/api/v1/namespaces/default/configmaps?fieldManager=kubectl".into();
        ev.verb = "create".into();
        ev.user = UserInfo {
            username: "admin".into(),
            uid: "1".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            extra: BTreeMap::new(),
        };
        ev.source_ips = vec!["127.0.0.1".into()];
        ev.user_agent = "kubectl/v1.33.0".into();
        ev.object_ref = Some(ObjectReference {
            resource: "configmaps".into(),
            namespace: "default".into(),
            name: "cm".into(),
            api_version: "v1".into(),
            ..Default::default()
        });
        ev.response_status = Some(ResponseStatus::code(201));
        ev.request_object = Some(json!({"kind": "ConfigMap"}));
        ev.response_object = Some(json!({"kind": "ConfigMap"}));
        ev.request_received_timestamp = at(1_700_000_000_123_456);
        ev.stage_timestamp = at(1_700_000_000_234_567);
        ev.annotations
            .insert("authorization.k8s.io/reason".into(), String::new());
        ev.annotations
            .insert("authorization.k8s.io/decision".into(), "allow".into());
        let line = String::from_utf8(ev.to_line()).unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","#,
                r#""auditID":"8ac3a6b0-5b8c-4a4e-9a43-8f7b4e1b2c3d","stage":"ResponseComplete","#,
                r#""requestURI":"/api/v1/namespaces/default/configmaps?fieldManager=kubectl","#,
                r#""verb":"create","user":{"username":"admin","uid":"1","groups":["system:masters","system:authenticated"]},"#,
                r#""sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.33.0","#,
                r#""objectRef":{"resource":"configmaps","namespace":"default","name":"cm","apiVersion":"v1"},"#,
                r#""responseStatus":{"metadata":{},"code":201},"#,
                r#""requestObject":{"kind":"ConfigMap"},"responseObject":{"kind":"ConfigMap"},"#,
                r#""requestReceivedTimestamp":"2023-11-14T22:13:20.123456Z","#,
                r#""stageTimestamp":"2023-11-14T22:13:20.234567Z","#,
                r#""annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}"#,
                "\n"
            )
        );
    }

    #[test]
    fn error_status_keeps_upstream_fields() {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "secrets \"s\" is forbidden: User \"jane\" cannot get resource \"secrets\"",
            "reason": "Forbidden", "details": {"name": "s", "kind": "secrets"}, "code": 403,
        });
        let rs = ResponseStatus::from_status_object(&status, 403);
        assert_eq!(
            serde_json::to_value(&rs).unwrap(),
            json!({
                "metadata": {}, "status": "Failure",
                "message": "secrets \"s\" is forbidden: User \"jane\" cannot get resource \"secrets\"",
                "reason": "Forbidden", "details": {"name": "s", "kind": "secrets"}, "code": 403,
            })
        );
        // Upstream's key order: metadata, status, message, reason, details, code.
        let text = serde_json::to_string(&rs).unwrap();
        let order: Vec<usize> = ["metadata", "status", "message", "reason", "details", "code"]
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn empty_user_and_optional_fields_are_left_out() {
        let ev = Event::new(Level::Metadata, "id".into());
        let v: Value = serde_json::from_slice(&ev.to_line()).unwrap();
        assert_eq!(v["user"], json!({}));
        for absent in [
            "impersonatedUser",
            "sourceIPs",
            "userAgent",
            "objectRef",
            "responseStatus",
            "requestObject",
            "responseObject",
            "annotations",
        ] {
            assert!(v.get(absent).is_none(), "{absent} should be omitted");
        }
        let ts = v["requestReceivedTimestamp"].as_str().unwrap();
        // 2006-01-02T15:04:05.000000Z
        assert_eq!(ts.len(), 27, "{ts}");
        assert!(ts.ends_with('Z'));
    }

    #[test]
    fn managed_fields_are_omitted_everywhere() {
        let mut list = json!({
            "metadata": {"managedFields": [1]},
            "items": [{"metadata": {"name": "a", "managedFields": [1]}}],
            "rows": [{"object": {"metadata": {"name": "b", "managedFields": [1]}}}],
        });
        omit_managed_fields(&mut list);
        assert_eq!(
            list,
            json!({
                "metadata": {},
                "items": [{"metadata": {"name": "a"}}],
                "rows": [{"object": {"metadata": {"name": "b"}}}],
            })
        );
    }

    #[test]
    fn levels_are_ordered() {
        assert!(Level::None < Level::Metadata);
        assert!(Level::Metadata < Level::Request);
        assert!(Level::Request < Level::RequestResponse);
        assert_eq!(
            Level::parse("RequestResponse"),
            Some(Level::RequestResponse)
        );
        assert_eq!(Stage::parse("Panic"), Some(Stage::Panic));
        assert_eq!(Stage::parse("panic"), None);
    }
}
