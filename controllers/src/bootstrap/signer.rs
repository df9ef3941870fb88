//! The bootstrap signer (upstream "bootstrap-signer-controller"): keeps one
//! `jws-kubeconfig-<token id>` entry in `kube-public/cluster-info` per unexpired bootstrap token
//! meant for signing, a detached signature of the ConfigMap's `kubeconfig`, and removes the
//! entries of tokens that went. It signs an existing ConfigMap; it does not make one.

use super::{Token, detached_signature, token};
use crate::client;
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, feed, process};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The controller's name (upstream `names.BootstrapSignerController`).
pub const NAME: &str = "bootstrap-signer-controller";

/// The prefix of the signature entries.
pub const SIGNATURE_PREFIX: &str = "jws-kubeconfig-";

/// The data `cluster-info` should have: its own entries, and a signature per signing token.
pub fn signed(
    data: &BTreeMap<String, String>,
    tokens: &[Token],
    now: Timestamp,
) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = data
        .iter()
        .filter(|(k, _)| !k.starts_with(SIGNATURE_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let Some(kubeconfig) = data.get("kubeconfig") else {
        return out;
    };
    for t in tokens {
        if t.signing && t.expiration.is_none_or(|e| e > now) {
            out.insert(
                format!("{SIGNATURE_PREFIX}{}", t.id),
                detached_signature(kubeconfig, t),
            );
        }
    }
    out
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>) {
    let secret_informer = informers.get::<Secret>();
    let map_informer = informers.get::<ConfigMap>();
    let (secret_changes, map_changes) = (secret_informer.changes(), map_informer.changes());
    secret_informer.ready().await;
    map_informer.ready().await;
    let (secrets, maps) = (secret_informer.store(), map_informer.store());
    let queue = WorkQueue::new("bootstrap_signer_queue");
    tracing::info!("Starting {NAME}.");
    const KEY: &str = "kube-public/cluster-info";
    queue.add(KEY.to_string());
    feed(&queue, secret_changes, |change| match change {
        Change::Applied { new, .. } | Change::Deleted(new) if token(&new).is_some() => {
            vec![KEY.to_string()]
        }
        Change::Relisted => vec![KEY.to_string()],
        _ => Vec::new(),
    });
    feed(&queue, map_changes, |change| match change {
        Change::Applied { new, .. } if crate::workqueue::key_of(&new.metadata) == KEY => {
            vec![KEY.to_string()]
        }
        _ => Vec::new(),
    });
    let ctx = Arc::new((client, secrets, maps));
    process(queue, 1, "the cluster-info ConfigMap", move |_| {
        let ctx = ctx.clone();
        async move {
            let (client, secrets, maps) = &*ctx;
            sync(client, secrets, maps).await
        }
    })
    .await;
}

async fn sync(
    client: &kube::Client,
    secrets: &Store<Secret>,
    maps: &Store<ConfigMap>,
) -> Result<(), String> {
    let Some(map) = maps.get(&ObjectRef::new("cluster-info").within("kube-public")) else {
        return Ok(());
    };
    let tokens: Vec<Token> = secrets.state().iter().filter_map(|s| token(s)).collect();
    let data = map.data.clone().unwrap_or_default();
    let wanted = signed(&data, &tokens, Timestamp::now());
    if wanted == data {
        return Ok(());
    }
    let mut updated = (*map).clone();
    updated.data = Some(wanted);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    match api
        .replace("cluster-info", &PostParams::default(), &updated)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if client::is_not_found(&e) => Ok(()),
        Err(e) => Err(format!(
            "updating kube-public/cluster-info: {}",
            client::message(&e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(id: &str, signing: bool, expiration: Option<&str>) -> Token {
        Token {
            id: id.to_string(),
            secret: "0123456789abcdef".to_string(),
            expiration: expiration.map(|e| e.parse().unwrap()),
            signing,
        }
    }

    #[test]
    fn signing_tokens_that_have_not_expired_sign_and_stale_entries_go() {
        let now: Timestamp = "2026-11-28T00:00:00Z".parse().unwrap();
        let data = BTreeMap::from([
            ("kubeconfig".to_string(), "apiVersion: v1".to_string()),
            ("jws-kubeconfig-gone00".to_string(), "old".to_string()),
        ]);
        let tokens = [
            tok("abcdef", true, None),
            tok("zzzzzz", false, None),
            tok("expire", true, Some("2026-01-01T00:00:00Z")),
        ];
        let out = signed(&data, &tokens, now);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(keys, ["jws-kubeconfig-abcdef", "kubeconfig"]);
        assert_eq!(signed(&BTreeMap::new(), &tokens, now), BTreeMap::new());
    }
}
