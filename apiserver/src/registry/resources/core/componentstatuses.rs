//! ComponentStatuses (deprecated upstream since v1.19, still served): the health of etcd and
//! of the scheduler and controller manager on this host, computed on every read rather than
//! stored. Reads only; every answer carries upstream's deprecation warning.

use crate::registry::table::{Column, NAME};
use crate::registry::{
    Resource, ResourceInfo,
    strategy::{Decoded, Strategy},
    typed,
};
use crate::storage::{
    self, ListPage, ListRequest, Object, ReadAt, Storage, WatchRequest, WatchStream,
};
use async_trait::async_trait;
use bytes::Bytes;
use k8s_openapi::api::core::v1::ComponentStatus;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The components upstream reports, with the health endpoints it probes on this host.
const PROBED: &[(&str, &str)] = &[
    ("controller-manager", "https://127.0.0.1:10257/healthz"),
    ("scheduler", "https://127.0.0.1:10259/healthz"),
];
const ETCD: &str = "etcd-0";

pub fn resource() -> Resource {
    Resource::new(
        ResourceInfo::new(
            "",
            "v1",
            "componentstatuses",
            "ComponentStatus",
            "componentstatus",
            false,
        )
        .short_names(&["cs"])
        .verbs(&["get", "list"])
        .deprecated("v1 ComponentStatus is deprecated in v1.19+"),
        ComponentStatuses,
    )
    .with_storage(Arc::new(|client| {
        Arc::new(ComponentStatusStorage {
            etcd: client.clone(),
        }) as Arc<dyn Storage>
    }))
}

pub struct ComponentStatuses;

const COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "Status of the component conditions"),
    Column::new("Message", "string", "Message of the component conditions"),
    Column::new("Error", "string", "Error of the component conditions"),
];

impl Strategy for ComponentStatuses {
    fn decode(&self, body: Value) -> Result<Decoded, String> {
        typed::round_trip::<ComponentStatus>(body)
    }

    fn table_columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn table_row(&self, obj: &Value) -> Vec<Value> {
        // Upstream prints the Healthy condition: "Healthy" when True, else "Unhealthy".
        let healthy = obj
            .get("conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "Healthy"));
        let field = |f: &str| {
            healthy
                .and_then(|c| c.get(f))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let status = match healthy.map(|c| c["status"].as_str().unwrap_or_default()) {
            Some("True") => "Healthy",
            Some(_) => "Unhealthy",
            None => "Unknown",
        };
        vec![
            crate::registry::table::name(obj),
            json!(status),
            json!(field("message")),
            json!(field("error")),
        ]
    }
}

/// Computes the statuses on each read.
struct ComponentStatusStorage {
    etcd: etcd_client::Client,
}

fn status(name: &str, healthy: bool, message: &str, error: &str) -> Value {
    let mut condition =
        json!({"type": "Healthy", "status": if healthy { "True" } else { "False" }});
    if !message.is_empty() {
        condition["message"] = json!(message);
    }
    if !error.is_empty() {
        condition["error"] = json!(error);
    }
    json!({
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name},
        "conditions": [condition],
    })
}

impl ComponentStatusStorage {
    async fn probe(&self, name: &str) -> Option<Value> {
        if name == ETCD {
            let mut maintenance = self.etcd.maintenance_client();
            return Some(
                match tokio::time::timeout(Duration::from_secs(2), maintenance.status()).await {
                    Ok(Ok(_)) => status(ETCD, true, "ok", ""),
                    Ok(Err(e)) => status(ETCD, false, "", &e.to_string()),
                    Err(_) => status(ETCD, false, "", "etcd did not answer within 2s"),
                },
            );
        }
        let (_, url) = PROBED.iter().find(|(n, _)| *n == name)?;
        // Upstream probes these endpoints without verifying their self-signed certificates.
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        Some(match client.get(*url).send().await {
            Ok(r) if r.status().is_success() => {
                let body = r.text().await.unwrap_or_default();
                status(name, body.trim() == "ok", body.trim(), "")
            }
            Ok(r) => status(
                name,
                false,
                "",
                &format!("unhealthy: {} from {url}", r.status()),
            ),
            Err(e) => status(name, false, "", &format!("Get {url:?}: {}", root_cause(&e))),
        })
    }

    fn object(key: &str, value: &Value) -> storage::Result<Object> {
        Ok(Object {
            key: Arc::from(key),
            rv: 0,
            json: Bytes::from(
                serde_json::to_vec(value).map_err(|e| storage::Error::Internal(e.to_string()))?,
            ),
            stale: false,
        })
    }

    fn unsupported() -> storage::Error {
        storage::Error::Internal("componentstatuses are computed, not stored".to_string())
    }
}

/// The innermost cause of a failed probe, worded as Go's dialer words a refused connection.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    match cause.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            let addr = e
                .url()
                .and_then(|u| u.socket_addrs(|| None).ok())
                .and_then(|a| a.first().copied());
            match addr {
                Some(a) => format!("dial tcp {a}: connect: connection refused"),
                None => "connect: connection refused".to_string(),
            }
        }
        _ => cause.to_string(),
    }
}

#[async_trait]
impl Storage for ComponentStatusStorage {
    async fn create(&self, _key: &str, _obj: &Value) -> storage::Result<Object> {
        Err(Self::unsupported())
    }

    async fn get(&self, key: &str, _read: ReadAt) -> storage::Result<Object> {
        let name = key.rsplit('/').next().unwrap_or_default();
        match self.probe(name).await {
            Some(v) => Self::object(key, &v),
            None => Err(storage::Error::NotFound {
                key: key.to_string(),
            }),
        }
    }

    async fn update(&self, _key: &str, _rv: i64, _obj: &Value) -> storage::Result<Object> {
        Err(Self::unsupported())
    }

    async fn delete(&self, _key: &str, _rv: i64) -> storage::Result<Object> {
        Err(Self::unsupported())
    }

    async fn list(&self, req: &ListRequest) -> storage::Result<ListPage> {
        let mut items = Vec::new();
        for name in PROBED.iter().map(|(n, _)| *n).chain([ETCD]) {
            if let Some(v) = self.probe(name).await {
                let attrs = crate::storage::predicate::metadata_attrs(
                    &serde_json::to_vec(&v).unwrap_or_default(),
                )
                .unwrap_or_default();
                if req.predicate.matches(&attrs) {
                    items.push(Self::object(&format!("{}{name}", req.prefix), &v)?);
                }
            }
        }
        Ok(ListPage {
            items,
            ..Default::default()
        })
    }

    async fn watch(&self, _req: &WatchRequest) -> storage::Result<WatchStream> {
        Err(Self::unsupported())
    }

    async fn current_revision(&self) -> storage::Result<i64> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_health_like_upstream() {
        let healthy = status(ETCD, true, "ok", "");
        assert_eq!(
            ComponentStatuses.table_row(&healthy),
            vec![json!("etcd-0"), json!("Healthy"), json!("ok"), json!("")]
        );
        let down = status(
            "scheduler",
            false,
            "",
            "Get \"https://127.0.0.1:10259/healthz\": refused",
        );
        let row = ComponentStatuses.table_row(&down);
        assert_eq!(row[1], "Unhealthy");
        assert!(row[3].as_str().unwrap().contains("10259"));
    }
}
