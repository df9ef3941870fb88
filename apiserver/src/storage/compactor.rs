//! Periodic compaction of etcd history, as upstream's apiserver does: every interval, compact to
//! the revision seen one interval earlier, coordinating apiservers through `compact_rev_key` so
//! only one of them compacts each round.

use super::cacher::Hub;
use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use std::sync::Arc;
use std::time::Duration;

/// The key upstream apiservers use to agree on compactions.
const COMPACT_KEY: &str = "compact_rev_key";

/// Runs forever, compacting every `interval`.
pub async fn run(client: Client, hub: Arc<Hub>, interval: Duration) {
    let mut version = 0i64;
    let mut last_rev = 0i64;
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match compact_once(&client, version, last_rev).await {
            Ok((v, rev, compacted)) => {
                if let Some(c) = compacted {
                    hub.compacted(c);
                    tracing::debug!(revision = c, "Compacted etcd.");
                }
                version = v;
                last_rev = rev;
            }
            Err(e) => tracing::warn!(error = %e, "Compacting etcd failed."),
        }
    }
}

/// One round: claim the round by bumping `compact_rev_key` from the version we saw last time;
/// if that succeeds, compact to the revision recorded then. Returns the new version, the current
/// revision, and the revision compacted (if this apiserver did it).
pub async fn compact_once(
    client: &Client,
    version: i64,
    last_rev: i64,
) -> Result<(i64, i64, Option<i64>), etcd_client::Error> {
    let txn = Txn::new()
        .when([Compare::version(COMPACT_KEY, CompareOp::Equal, version)])
        .and_then([TxnOp::put(COMPACT_KEY, last_rev.to_string(), None)])
        .or_else([TxnOp::get(COMPACT_KEY, None)]);
    let resp = client.kv_client().txn(txn).await?;
    let rev = resp.header().map(|h| h.revision()).unwrap_or_default();
    if !resp.succeeded() {
        let seen = resp
            .op_responses()
            .into_iter()
            .find_map(|r| match r {
                etcd_client::TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.version()),
                _ => None,
            })
            .unwrap_or_default();
        return Ok((seen, rev, None));
    }
    if last_rev > 0 {
        let mut kv = client.kv_client();
        match kv.compact(last_rev, None).await {
            Ok(_) => return Ok((version + 1, rev, Some(last_rev))),
            Err(e) if e.to_string().contains("compacted") => {
                return Ok((version + 1, rev, Some(last_rev)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((version + 1, rev, None))
}
