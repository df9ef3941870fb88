//! [`Storage`] on etcd: one [`EtcdStorage`] per resource. Values are the object's JSON without
//! `metadata.resourceVersion`, which is filled from the key's mod revision on every read, and
//! encrypted by the resource's [`Transformer`] when `--encryption-provider-config` names it:
//! every put goes through [`encryption::write`], every value read (get, list, the old state a
//! delete returns, watch events and their previous values) through [`encryption::read`].

use super::encryption::{self, Transformer};
use super::leases::LeaseManager;
use super::{
    Attrs, AttrsFn, Error, EventType, ListPage, ListRequest, Object, ReadAt, Result, Storage,
    WatchEvent, WatchFrom, WatchItem, WatchRequest, WatchStream, codec, continue_token,
};
use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare, CompareOp, EventType as EtcdEventType, GetOptions, KeyValue, PutOptions, Txn,
    TxnOp, TxnOpResponse, WatchOptions,
};
use futures::StreamExt;
use serde_json::Value;
use std::sync::Arc;

/// Storage for one resource on an etcd client shared by all resources.
#[derive(Clone)]
pub struct EtcdStorage {
    client: Client,
    attrs: AttrsFn,
    /// The resource, for the `type` label of `etcd_request_duration_seconds`.
    resource: Arc<str>,
    /// How values are encrypted at rest; `None` stores plaintext with no extra work.
    transformer: Option<Arc<Transformer>>,
    /// For resources whose objects expire (Events): the leases every create and update
    /// attaches the object to, so each write lives the TTL from then.
    leases: Option<Arc<LeaseManager>>,
}

impl EtcdStorage {
    pub fn new(client: Client, attrs: AttrsFn) -> Self {
        Self::for_resource(client, attrs, "")
    }

    pub fn for_resource(client: Client, attrs: AttrsFn, resource: &str) -> Self {
        Self {
            client,
            attrs,
            resource: Arc::from(resource),
            transformer: None,
            leases: None,
        }
    }

    /// Objects written through this storage expire `ttl` after their last write (upstream's
    /// `--event-ttl` for Events).
    pub fn with_ttl(mut self, ttl: Option<std::time::Duration>) -> Self {
        self.leases = ttl.map(|ttl| Arc::new(LeaseManager::new(self.client.clone(), ttl)));
        self
    }

    /// Encrypts this resource's values at rest with `transformer` (see
    /// [`crate::storage::cacher::Hub::transformer_for`]).
    pub fn with_transformer(mut self, transformer: Option<Arc<Transformer>>) -> Self {
        self.transformer = transformer;
        self
    }

    /// The transformer values are stored with, which the watch cache reads them with too.
    pub fn transformer(&self) -> Option<&Arc<Transformer>> {
        self.transformer.as_ref()
    }

    fn observe(&self, operation: &str, started: std::time::Instant) {
        crate::metrics::METRICS.observe_etcd(operation, &self.resource, started.elapsed());
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The smallest key greater than every key with this prefix.
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A stored (decrypted) value as clients see it, without parsing it when it is in the stored
/// form.
pub fn stored_object(key: &str, raw: &[u8], rv: i64) -> Result<Object> {
    let json = codec::stored_with_rv(raw, rv).map_err(|e| Error::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Object {
        key: Arc::from(key),
        rv,
        json,
        stale: false,
    })
}

/// Sets `metadata.resourceVersion` on `value` and serializes it.
pub fn with_rv(key: &str, value: &mut Value, rv: i64) -> Result<Object> {
    apimachinery::meta::set(
        value,
        "resourceVersion",
        Some(Value::String(rv.to_string())),
    );
    let json =
        serde_json::to_vec(value).map_err(|e| Error::Internal(format!("encoding object: {e}")))?;
    Ok(Object {
        key: Arc::from(key),
        rv,
        json: Bytes::from(json),
        stale: false,
    })
}

fn kv_key(kv: &KeyValue) -> String {
    String::from_utf8_lossy(kv.key()).into_owned()
}

fn revision_of<T>(header: Option<&etcd_client::ResponseHeader>, _: &T) -> i64 {
    header.map(|h| h.revision()).unwrap_or_default()
}

/// Reads an object's state out of the "else" branch of a failed compare-and-swap.
fn failed_txn_state(responses: Vec<TxnOpResponse>) -> Option<KeyValue> {
    responses.into_iter().find_map(|r| match r {
        TxnOpResponse::Get(mut g) => g.take_kvs().into_iter().next(),
        _ => None,
    })
}

impl EtcdStorage {
    /// The plaintext of a value read under `key`.
    fn plain<'a>(&self, key: &[u8], raw: &'a [u8]) -> Result<encryption::Plain<'a>> {
        encryption::read(self.transformer.as_deref(), key, raw)
    }

    /// The put of a create or update: attached to a lease when objects expire.
    async fn put(&self, key: &str, encoded: &codec::Encoded) -> Result<TxnOp> {
        let options = match &self.leases {
            Some(leases) => Some(PutOptions::new().with_lease(leases.lease().await?)),
            None => None,
        };
        Ok(TxnOp::put(key, self.to_store(key, encoded)?, options))
    }

    /// The bytes to put for an encoded object.
    fn to_store(&self, key: &str, encoded: &codec::Encoded) -> Result<Vec<u8>> {
        encryption::write(self.transformer.as_deref(), key.as_bytes(), &encoded.bytes)
            .map(std::borrow::Cow::into_owned)
    }

    fn attrs_of(&self, key: &str, raw: &[u8]) -> Result<Attrs> {
        (self.attrs)(raw).map_err(|reason| Error::Corrupt {
            key: key.to_string(),
            reason,
        })
    }

    async fn list_from_etcd(&self, req: &ListRequest) -> Result<ListPage> {
        let mut kv = self.client.kv_client();
        let (mut revision, mut start) = match &req.continue_from {
            // A token at LATEST continues an expired list at the current revision.
            Some(t) => (
                t.rv.max(0),
                format!("{}{}", req.prefix, t.start).into_bytes(),
            ),
            None => match req.read {
                ReadAt::Exact(rv) => (rv, req.prefix.clone().into_bytes()),
                ReadAt::Latest | ReadAt::NotOlderThan(_) => (0, req.prefix.clone().into_bytes()),
            },
        };
        let end = prefix_end(&req.prefix);
        let limit = req.limit.filter(|l| *l > 0);
        let filtered = !req.predicate.is_everything();
        // Without a selector one etcd page is the answer; with one, fetch until enough items
        // matched, growing the page as upstream does.
        let mut page_size = limit.map(|l| if filtered { l.max(64) } else { l });
        let mut items = Vec::new();
        let mut remaining = None;
        let mut next_start: Option<String> = None;
        loop {
            let mut opts = GetOptions::new().with_range(end.clone());
            if let Some(n) = page_size {
                opts = opts.with_limit(n);
            }
            if revision > 0 {
                opts = opts.with_revision(revision);
            }
            let resp = match kv.get(start.clone(), Some(opts)).await {
                Ok(r) => r,
                Err(e) => {
                    let err = Error::from(e);
                    if matches!(err, Error::TooOldResourceVersion { .. }) {
                        return Err(if let Some(t) = &req.continue_from {
                            Error::ContinueExpired {
                                inconsistent_continue: Some(continue_token::encode(
                                    continue_token::LATEST,
                                    &t.start,
                                )),
                            }
                        } else {
                            Error::TooOldResourceVersion {
                                requested: revision,
                                oldest: 0,
                            }
                        });
                    }
                    return Err(err);
                }
            };
            if revision == 0 {
                revision = revision_of(resp.header(), &resp);
            }
            let kvs = resp.kvs();
            let mut consumed = 0;
            let mut full = false;
            for kv in kvs {
                consumed += 1;
                let key = kv_key(kv);
                let plain = self.plain(kv.key(), kv.value())?;
                if filtered && !req.predicate.matches(&self.attrs_of(&key, &plain.bytes)?) {
                    continue;
                }
                let mut object = stored_object(&key, &plain.bytes, kv.mod_revision())?;
                object.stale = plain.stale;
                items.push(object);
                if limit.is_some_and(|l| items.len() as i64 >= l) {
                    full = true;
                    break;
                }
            }
            let more_in_etcd = resp.more() || consumed < kvs.len();
            if full {
                if more_in_etcd {
                    let last = items.last().map(|o| o.key.to_string()).unwrap_or_default();
                    next_start = Some(format!("{}\u{0}", &last[req.prefix.len()..]));
                    if !filtered {
                        remaining = Some(resp.count() - kvs.len() as i64);
                    }
                }
                break;
            }
            if !resp.more() {
                break;
            }
            let Some(last) = kvs.last() else { break };
            start = last.key().to_vec();
            start.push(0);
            page_size = page_size.map(|n| (n * 2).min(10_000));
        }
        Ok(ListPage {
            items,
            rv: revision,
            continue_token: next_start.map(|s| continue_token::encode(revision, &s)),
            remaining,
        })
    }
}

#[async_trait]
impl Storage for EtcdStorage {
    async fn create(&self, key: &str, obj: &Value) -> Result<Object> {
        let encoded = codec::encode(obj)?;
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([self.put(key, &encoded).await?]);
        let started = std::time::Instant::now();
        let resp = self.client.kv_client().txn(txn).await?;
        self.observe("create", started);
        if !resp.succeeded() {
            return Err(Error::AlreadyExists {
                key: key.to_string(),
            });
        }
        let rv = revision_of(resp.header(), &resp);
        Ok(Object {
            key: Arc::from(key),
            rv,
            json: encoded.with_rv(rv)?,
            stale: false,
        })
    }

    async fn get(&self, key: &str, read: ReadAt) -> Result<Object> {
        let opts = match read {
            ReadAt::Exact(rv) => Some(GetOptions::new().with_revision(rv)),
            _ => None,
        };
        let started = std::time::Instant::now();
        let resp = self.client.kv_client().get(key, opts).await?;
        self.observe("get", started);
        let kv = resp.kvs().first().ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })?;
        let plain = self.plain(kv.key(), kv.value())?;
        let mut object = stored_object(key, &plain.bytes, kv.mod_revision())?;
        object.stale = plain.stale;
        Ok(object)
    }

    async fn update(&self, key: &str, expected_rv: i64, obj: &Value) -> Result<Object> {
        let encoded = codec::encode(obj)?;
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected_rv)])
            .and_then([self.put(key, &encoded).await?])
            .or_else([TxnOp::get(key, None)]);
        let started = std::time::Instant::now();
        let resp = self.client.kv_client().txn(txn).await?;
        self.observe("update", started);
        if !resp.succeeded() {
            return Err(match failed_txn_state(resp.op_responses()) {
                Some(_) => Error::Conflict {
                    key: key.to_string(),
                },
                None => Error::NotFound {
                    key: key.to_string(),
                },
            });
        }
        let rv = revision_of(resp.header(), &resp);
        Ok(Object {
            key: Arc::from(key),
            rv,
            json: encoded.with_rv(rv)?,
            stale: false,
        })
    }

    async fn delete(&self, key: &str, expected_rv: i64) -> Result<Object> {
        let txn = Txn::new()
            .when([Compare::mod_revision(key, CompareOp::Equal, expected_rv)])
            .and_then([TxnOp::delete(
                key,
                Some(etcd_client::DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let started = std::time::Instant::now();
        let resp = self.client.kv_client().txn(txn).await?;
        self.observe("delete", started);
        let rv = revision_of(resp.header(), &resp);
        let responses = resp.op_responses();
        if !resp.succeeded() {
            return Err(match failed_txn_state(responses) {
                Some(_) => Error::Conflict {
                    key: key.to_string(),
                },
                None => Error::NotFound {
                    key: key.to_string(),
                },
            });
        }
        let prev = responses.into_iter().find_map(|r| match r {
            TxnOpResponse::Delete(mut d) => d.take_prev_kvs().into_iter().next(),
            _ => None,
        });
        let prev = prev.ok_or_else(|| Error::NotFound {
            key: key.to_string(),
        })?;
        stored_object(key, &self.plain(prev.key(), prev.value())?.bytes, rv)
    }

    async fn list(&self, req: &ListRequest) -> Result<ListPage> {
        let started = std::time::Instant::now();
        let page = self.list_from_etcd(req).await;
        self.observe("list", started);
        page
    }

    async fn watch(&self, req: &WatchRequest) -> Result<WatchStream> {
        // The uncached watch: list the state when asked for it, then follow etcd from there.
        let mut initial = Vec::new();
        let start_after = match req.from {
            WatchFrom::After(rv) => rv,
            WatchFrom::Latest | WatchFrom::Any => {
                let page = self
                    .list_from_etcd(&ListRequest {
                        prefix: req.prefix.clone(),
                        read: ReadAt::Latest,
                        limit: None,
                        continue_from: None,
                        predicate: req.predicate.clone(),
                    })
                    .await?;
                initial = page.items;
                page.rv
            }
        };
        let opts = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_start_revision(start_after + 1);
        let mut stream = self
            .client
            .watch_client()
            .watch(req.prefix.clone(), Some(opts))
            .await?;
        let predicate = req.predicate.clone();
        let attrs = self.attrs.clone();
        let transformer = self.transformer.clone();
        let send_end = req.send_initial_events == Some(true) && req.allow_bookmarks;
        let initial_items = initial
            .into_iter()
            .map(|o| {
                Ok(WatchItem::Event(Arc::new(WatchEvent::new(
                    EventType::Added,
                    o,
                ))))
            })
            .chain(send_end.then_some(Ok(WatchItem::InitialEventsEnd(start_after))));
        let changes = async_stream_from(move |tx| async move {
            loop {
                let msg = match stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(Error::from(e))).await;
                        return;
                    }
                };
                if msg.canceled() {
                    let compacted = msg.compact_revision();
                    let _ = tx
                        .send(Err(Error::TooOldResourceVersion {
                            requested: start_after,
                            oldest: compacted,
                        }))
                        .await;
                    return;
                }
                for ev in msg.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let key = kv_key(kv);
                    let t = transformer.as_deref();
                    let item = match ev.event_type() {
                        EtcdEventType::Put => {
                            let Some(value) = event_plain(t, &key, kv.value()) else {
                                continue;
                            };
                            let Ok(obj) = stored_object(&key, &value, kv.mod_revision()) else {
                                continue;
                            };
                            let matches =
                                |raw: &[u8]| attrs(raw).is_ok_and(|a| predicate.matches(&a));
                            let now = matches(&value);
                            let before = ev.prev_kv().map(|p| {
                                event_plain(t, &key, p.value()).is_some_and(|v| matches(&v))
                            });
                            match (before == Some(true), now) {
                                (false, true) => WatchItem::Event(Arc::new(WatchEvent::new(
                                    EventType::Added,
                                    obj,
                                ))),
                                (true, true) => WatchItem::Event(Arc::new(WatchEvent::new(
                                    EventType::Modified,
                                    obj,
                                ))),
                                (true, false) => WatchItem::Event(Arc::new(WatchEvent::new(
                                    EventType::Deleted,
                                    obj,
                                ))),
                                (false, false) => continue,
                            }
                        }
                        EtcdEventType::Delete => {
                            let Some(prev) = ev.prev_kv() else { continue };
                            let Some(value) = event_plain(t, &key, prev.value()) else {
                                continue;
                            };
                            let Ok(obj) = stored_object(&key, &value, kv.mod_revision()) else {
                                continue;
                            };
                            if !attrs(&value).is_ok_and(|a| predicate.matches(&a)) {
                                continue;
                            }
                            WatchItem::Event(Arc::new(WatchEvent::new(EventType::Deleted, obj)))
                        }
                    };
                    if tx.send(Ok(item)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(futures::stream::iter(initial_items).chain(changes).boxed())
    }

    async fn current_revision(&self) -> Result<i64> {
        let resp = self.client.kv_client().get("compact_rev_key", None).await?;
        Ok(revision_of(resp.header(), &resp))
    }
}

/// The plaintext of a value in a watch event; `None` (logged) when it does not decrypt, so the
/// event is skipped like one whose value does not decode.
fn event_plain<'a>(
    transformer: Option<&Transformer>,
    key: &str,
    raw: &'a [u8],
) -> Option<std::borrow::Cow<'a, [u8]>> {
    match encryption::read(transformer, key.as_bytes(), raw) {
        Ok(plain) => Some(plain.bytes),
        Err(e) => {
            tracing::warn!(
                %key,
                error = %e,
                "Skipping a watch event whose value does not decrypt."
            );
            None
        }
    }
}

/// A stream fed by a spawned task through a bounded channel; the task stops when the stream is
/// dropped (its sends fail).
pub fn async_stream_from<T, F, Fut>(f: F) -> futures::stream::BoxStream<'static, T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(f(tx));
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}
