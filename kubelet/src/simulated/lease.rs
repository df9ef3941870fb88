//! Node Leases in `kube-node-lease`, renewed as the kubelet's node lease controller
//! (pkg/kubelet/nodelease) does: the holder is the node, the Node owns the Lease, and a renewal
//! updates the last Lease seen (optimistic concurrency), falling back to reading it (or creating
//! it) when that fails. The node lifecycle controller reads `renewTime` to decide the node is
//! alive.

use super::{Error, Result};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;

/// Where node Leases live.
pub const NAMESPACE: &str = "kube-node-lease";

/// The Lease of `node` (uid `node_uid`), renewed at `now`.
pub fn lease(node: &str, node_uid: &str, duration_seconds: i32, now: Timestamp) -> Lease {
    let mut lease = Lease {
        metadata: ObjectMeta {
            name: Some(node.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..Default::default()
        },
        spec: None,
    };
    renewed(&mut lease, node, node_uid, duration_seconds, now);
    lease
}

/// Sets what a renewal writes: the holder, the duration, `renewTime` and (when missing) the
/// Node as owner, so the garbage collector removes the Lease with its Node.
fn renewed(lease: &mut Lease, node: &str, node_uid: &str, duration_seconds: i32, now: Timestamp) {
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(node.to_string());
    spec.lease_duration_seconds = Some(duration_seconds);
    spec.renew_time = Some(MicroTime(now));
    let owners = lease.metadata.owner_references.get_or_insert_with(Vec::new);
    if owners.is_empty() {
        owners.push(OwnerReference {
            api_version: "v1".to_string(),
            kind: "Node".to_string(),
            name: node.to_string(),
            uid: node_uid.to_string(),
            ..Default::default()
        });
    }
}

/// Renews one node's Lease, remembering the last one written.
#[derive(Debug, Default)]
pub struct Renewer {
    latest: Option<Lease>,
}

impl Renewer {
    /// Renews the Lease of `node` (uid `node_uid`) at `now`: an update of the last Lease
    /// written; on a conflict, or with no Lease known yet, the Lease is read and updated, or
    /// created when missing.
    pub async fn renew(
        &mut self,
        api: &Api<Lease>,
        node: &str,
        node_uid: &str,
        duration_seconds: i32,
        now: Timestamp,
    ) -> Result<()> {
        let pp = PostParams::default();
        if let Some(mut latest) = self.latest.take() {
            renewed(&mut latest, node, node_uid, duration_seconds, now);
            match api.replace(node, &pp, &latest).await {
                Ok(written) => {
                    self.latest = Some(written);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => {}
                Err(e) => return Err(Error::api(format!("renewing the Lease of node {node}"))(e)),
            }
        }
        let current = api
            .get_opt(node)
            .await
            .map_err(Error::api(format!("reading the Lease of node {node}")))?;
        let written = match current {
            Some(mut current) => {
                renewed(&mut current, node, node_uid, duration_seconds, now);
                api.replace(node, &pp, &current)
                    .await
                    .map_err(Error::api(format!("renewing the Lease of node {node}")))?
            }
            None => api
                .create(&pp, &lease(node, node_uid, duration_seconds, now))
                .await
                .map_err(Error::api(format!("creating the Lease of node {node}")))?,
        };
        self.latest = Some(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_as_the_kubelet_writes_it() {
        let now: Timestamp = "2025-05-01T10:00:00.123456Z".parse().unwrap();
        let l = lease("sim-0", "u-1", 40, now);
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": "sim-0",
                    "namespace": "kube-node-lease",
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": "sim-0", "uid": "u-1"}
                    ],
                },
                "spec": {
                    "holderIdentity": "sim-0",
                    "leaseDurationSeconds": 40,
                    "renewTime": "2025-05-01T10:00:00.123456Z",
                },
            })
        );
    }

    #[test]
    fn a_renewal_keeps_existing_owners() {
        let t0: Timestamp = "2025-05-01T10:00:00Z".parse().unwrap();
        let t1: Timestamp = "2025-05-01T10:00:10Z".parse().unwrap();
        let mut l = lease("sim-0", "old", 40, t0);
        renewed(&mut l, "sim-0", "new", 40, t1);
        let owners = l.metadata.owner_references.as_ref().unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].uid, "old");
        assert_eq!(l.spec.unwrap().renew_time, Some(MicroTime(t1)));
    }
}
