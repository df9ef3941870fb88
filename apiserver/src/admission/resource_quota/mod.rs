//! ResourceQuota: a create or update that would take a namespace past one of its quotas is
//! refused, and what an admitted one uses is charged to the quotas' `status.used` before the
//! object is written (guarded by the quotas' resourceVersions, so concurrent requests cannot
//! both take the last unit). The quota controller recomputes usage later, returning what
//! refused or deleted objects were charged. As upstream: a quota the controller has not
//! measured yet refuses what it limits ("status unknown"), cpu and memory quotas require
//! every container to state them, and pods are charged on create only.

mod usage;

use super::{Attributes, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use crate::storage::{self, ListRequest, ReadAt};
use apimachinery::quantity::Quantity;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use usage::{Kind, Object, Quota, increase, pretty};

/// How often a charge is retried against quotas another request changed meanwhile.
const MAX_TRIES: usize = 10;

pub struct ResourceQuota {
    quotas: Source,
}

/// A quota read with the revision its charge must be written against.
struct Stored {
    key: String,
    rv: i64,
    json: Value,
    quota: Quota,
}

/// Whether quota looks at this request at all (upstream's `Handles` and ignored resources).
fn handled(attrs: &Attributes<'_>, kind: &Kind) -> bool {
    if attrs.subresource.is_some() || attrs.namespace.is_empty() {
        return false;
    }
    let ignored = matches!(
        (attrs.info.group, attrs.info.resource),
        ("", "events") | ("events.k8s.io", "events")
    );
    match attrs.operation {
        Operation::Create => !ignored,
        // Counts and pods' resources cannot change on update; services and claims can.
        Operation::Update => matches!(kind, Kind::Service | Kind::Claim),
        Operation::Delete | Operation::Connect => false,
    }
}

impl ResourceQuota {
    pub fn new(quotas: Source) -> Self {
        Self { quotas }
    }

    /// The namespace's quotas: from the watch cache first, then (after a lost race) from etcd.
    async fn quotas(&self, namespace: &str, latest: bool) -> Result<Vec<Stored>> {
        let page = self
            .quotas
            .storage()
            .list(&ListRequest {
                prefix: self.quotas.namespace_prefix(namespace),
                read: if latest {
                    ReadAt::Latest
                } else {
                    ReadAt::NotOlderThan(0)
                },
                limit: None,
                continue_from: None,
                predicate: Default::default(),
            })
            .await
            .map_err(ApiError::internal)?;
        page.items
            .iter()
            .map(|o| {
                let json = o.value().map_err(ApiError::internal)?;
                Ok(Stored {
                    key: o.key.to_string(),
                    rv: o.rv,
                    quota: Quota::from_json(&json),
                    json,
                })
            })
            .collect()
    }

    /// One try: checks the request against the quotas and charges them, noting each quota
    /// charged in `charged`. `Ok(Some(lost))` means a quota changed or went away since it was
    /// read: `lost` is the error of that write, what upstream answers when its retries run out.
    async fn charge(
        &self,
        attrs: &Attributes<'_>,
        new: &Object,
        old: Option<&Object>,
        quotas: Vec<Stored>,
        charged: &mut HashSet<String>,
    ) -> Result<Option<ApiError>> {
        let kind = Kind::of(attrs.info);
        let forbidden = |why: String| {
            ApiError::forbidden(
                &GroupResource::new(attrs.info.group, attrs.info.resource),
                attrs.name,
                &why,
            )
        };
        let mut charges = Vec::new();
        for stored in quotas {
            let quota = &stored.quota;
            if charged.contains(&stored.key) {
                continue;
            }
            if !quota.covers(new) {
                continue;
            }
            let restricted = quota.restricted(&kind);
            if let Object::Pod(pod) = new
                && let Err(e) = usage::constraints(&restricted, pod)
            {
                return Err(forbidden(format!("failed quota: {}: {e}", quota.name)));
            }
            if !quota.has_usage_for(&restricted) {
                return Err(forbidden(format!(
                    "status unknown for quota: {}, resources: {}",
                    quota.name,
                    restricted.join(",")
                )));
            }
            let keys: Vec<String> = quota.hard.keys().cloned().collect();
            let mut requested = new.usage(&keys);
            if let Some(old) = old.filter(|o| quota.covers(o)) {
                requested = increase(&requested, &old.usage(&keys));
            }
            if requested.is_empty() {
                continue;
            }
            let total =
                |k: &str, v: &Quantity| quota.used.get(k).copied().unwrap_or(Quantity::ZERO).add(v);
            let exceeded: Vec<&String> = requested
                .iter()
                .filter(|(k, v)| quota.hard.get(*k).is_some_and(|h| total(k, v) > *h))
                .map(|(k, _)| k)
                .collect();
            if !exceeded.is_empty() {
                let only = |m: &BTreeMap<String, Quantity>| {
                    m.iter()
                        .filter(|(k, _)| exceeded.contains(k))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect::<BTreeMap<_, _>>()
                };
                return Err(forbidden(format!(
                    "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                    quota.name,
                    pretty(&only(&requested)),
                    pretty(&only(&quota.used)),
                    pretty(&only(&quota.hard)),
                )));
            }
            let mut used = quota.used.clone();
            for (k, v) in &requested {
                used.insert(k.clone(), total(k, v));
            }
            charges.push((stored, used));
        }
        if attrs.dry_run {
            return Ok(None);
        }
        let gr = GroupResource::new("", "resourcequotas");
        for (stored, used) in charges {
            let mut json = stored.json;
            let used: serde_json::Map<String, Value> = used
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.canonical())))
                .collect();
            if let Some(status) = json.get_mut("status").and_then(Value::as_object_mut) {
                status.insert("used".into(), Value::Object(used));
            }
            match self
                .quotas
                .storage()
                .update(&stored.key, stored.rv, &json)
                .await
            {
                Ok(_) => {
                    charged.insert(stored.key);
                }
                Err(storage::Error::Conflict { .. }) => {
                    return Ok(Some(ApiError::modified(&gr, &stored.quota.name)));
                }
                Err(storage::Error::NotFound { .. }) => {
                    return Ok(Some(ApiError::not_found(&gr, &stored.quota.name)));
                }
                Err(e) => return Err(ApiError::internal(e)),
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Validator for ResourceQuota {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let kind = Kind::of(attrs.info);
        let Some(object) = attrs.object.filter(|_| handled(attrs, &kind)) else {
            return Ok(());
        };
        let mut quotas = self.quotas(attrs.namespace, false).await?;
        if quotas.is_empty() {
            return Ok(());
        }
        let new = Object::parse(&kind, object).map_err(ApiError::internal)?;
        let old = match attrs.old {
            Some(o) => Some(Object::parse(&kind, o).map_err(ApiError::internal)?),
            None => None,
        };
        // A retry charges only the quotas not charged yet.
        let mut charged = HashSet::new();
        let mut tries = 1;
        loop {
            let Some(lost) = self
                .charge(attrs, &new, old.as_ref(), quotas, &mut charged)
                .await?
            else {
                return Ok(());
            };
            if tries == MAX_TRIES {
                return Err(lost);
            }
            tries += 1;
            quotas = self.quotas(attrs.namespace, true).await?;
        }
    }
}
