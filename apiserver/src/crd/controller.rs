//! The controllers upstream's apiextensions-apiserver runs beside the API, in one loop here:
//!
//! - naming: accepts a CRD's names unless another CRD of the group holds them
//!   (`NamesAccepted`), and records them in `status.acceptedNames`;
//! - serving: the versions of every CRD whose names were accepted are served (REST, watch,
//!   discovery, OpenAPI), each custom resource with a watch cache registered while the hub
//!   runs;
//! - establishing: a served CRD becomes `Established`, so a client that waits for the
//!   condition finds the API there;
//! - finalizing: a deleted CRD (held by the `customresourcecleanup.apiextensions.k8s.io`
//!   finalizer) has its objects deleted, then the finalizer removed, then stops being served.
//!
//! Timeline of one pass: list the CRDs from the cache, write changed name statuses, rebuild
//! the served set (dropping the caches of custom resources no CRD serves any more), mark the
//! newly served CRDs established, and finalize deleted CRDs; status writes bring another
//! pass through the watch. A pass runs on every change to a
//! CRD and every few seconds while a deletion waits for objects with finalizers.

use super::served::{condition_true, served_versions, storage_path};
use crate::admission;
use crate::authn::user::UserInfo;
use crate::clock;
use crate::errors::{ApiError, Result};
use crate::registry::catalog::{CustomSet, Endpoint, attrs_of};
use crate::registry::resources::shared::{s, strs};
use crate::registry::store::{DeleteOptions, OpContext, Store};
use crate::server::State;
use crate::storage::cacher::Cacher;
use crate::storage::etcd::EtcdStorage;
use crate::storage::{ListRequest, ReadAt, Storage, WatchFrom, WatchItem, WatchRequest};
use crate::webhook_client::Resolver;
use apimachinery::meta;
use futures::{FutureExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The finalizer that holds a deleted CRD until its objects are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// How often a pass runs while some deletion waits.
const RETRY: Duration = Duration::from_secs(2);

/// A custom resource's watch cache and the selectable fields it indexes.
type Cache = (Arc<dyn Storage>, &'static [&'static str]);

pub struct Controller {
    state: Arc<State>,
    /// The etcd prefix without its trailing slash (`/registry`).
    prefix: String,
    /// The watch cache of each served custom resource, by storage path, with the selectable
    /// fields its entries were indexed by.
    caches: tokio::sync::Mutex<HashMap<String, Cache>>,
    /// What the served set was built from (CRD name to resourceVersion), to rebuild
    /// discovery only when it changes.
    served_from: Mutex<BTreeMap<String, String>>,
}

fn context() -> OpContext {
    OpContext {
        namespace: String::new(),
        user: UserInfo::system_apiserver(),
        dry_run: false,
        field_manager: "kube-apiserver".to_string(),
        api_version: "apiextensions.k8s.io/v1".to_string(),
        admission: admission::Chain::default(),
        applied: false,
        schemas: None,
        warnings: Default::default(),
        annotations: Default::default(),
    }
}

/// Sets a condition, moving `lastTransitionTime` only when the status changes.
fn set_condition(obj: &mut Value, type_: &str, status: &str, reason: &str, message: &str) {
    let conditions = meta::nested_mut(obj, &["status", "conditions"]);
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let new = |time: Value| {
        json!({
            "type": type_,
            "status": status,
            "lastTransitionTime": time,
            "reason": reason,
            "message": message,
        })
    };
    match list.iter_mut().find(|c| s(c, "/type") == type_) {
        Some(c) => {
            let time = if s(c, "/status") == status {
                c.get("lastTransitionTime").cloned().unwrap_or(Value::Null)
            } else {
                json!(clock::now())
            };
            *c = new(time);
        }
        None => list.push(new(json!(clock::now()))),
    }
}

/// The names other CRDs of the group have been granted: resource names (plurals, singulars,
/// short names) and kind names (kinds and list kinds), each one namespace as upstream.
struct Taken<'a> {
    resources: Vec<&'a str>,
    kinds: Vec<&'a str>,
}

fn taken<'a>(crd: &Value, all: &'a [Value]) -> Taken<'a> {
    let mut t = Taken {
        resources: Vec::new(),
        kinds: Vec::new(),
    };
    for other in all {
        if meta::name(other) == meta::name(crd) || s(other, "/spec/group") != s(crd, "/spec/group")
        {
            continue;
        }
        let names = other
            .pointer("/status/acceptedNames")
            .unwrap_or(&Value::Null);
        t.resources.push(s(names, "/plural"));
        t.resources.push(s(names, "/singular"));
        t.resources.extend(strs(names, "/shortNames"));
        t.kinds.push(s(names, "/kind"));
        t.kinds.push(s(names, "/listKind"));
    }
    t
}

/// The status the naming controller wants for `crd`: each requested name is accepted unless
/// another CRD of the group holds it (the last conflict names the reason); `Established`
/// starts `False` (`Installing` once the names are accepted) and only the establishing step,
/// after the CRD is served, makes it `True`.
fn desired_status(crd: &Value, all: &[Value]) -> Value {
    let mut next = crd.clone();
    let t = taken(crd, all);
    let requested = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let mut accepted = crd
        .pointer("/status/acceptedNames")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut conflict: Option<(&str, String)> = None;
    let in_use = |v: &str, list: &[&str]| list.contains(&v);
    for (field, list, reason) in [
        ("plural", &t.resources, "PluralConflict"),
        ("singular", &t.resources, "SingularConflict"),
    ] {
        let want = s(&requested, &format!("/{field}"));
        if want == s(&accepted, &format!("/{field}")) {
            continue;
        }
        if in_use(want, list) {
            conflict = Some((reason, format!("{want:?} is already in use")));
        } else {
            accepted[field] = json!(want);
        }
    }
    let short_names = strs(&requested, "/shortNames");
    if short_names != strs(&accepted, "/shortNames") {
        let errors: Vec<String> = short_names
            .iter()
            .filter(|n| in_use(n, &t.resources))
            .map(|n| format!("{n:?} is already in use"))
            .collect();
        if errors.is_empty() {
            accepted["shortNames"] = requested.get("shortNames").cloned().unwrap_or(Value::Null);
        } else {
            conflict = Some(("ShortNamesConflict", errors.join(", ")));
        }
    }
    for (field, reason) in [("kind", "KindConflict"), ("listKind", "ListKindConflict")] {
        let want = s(&requested, &format!("/{field}"));
        if want == s(&accepted, &format!("/{field}")) {
            continue;
        }
        if in_use(want, &t.kinds) {
            conflict = Some((reason, format!("{want:?} is already in use")));
        } else {
            accepted[field] = json!(want);
        }
    }
    // Categories never conflict.
    match requested.get("categories") {
        Some(c) => accepted["categories"] = c.clone(),
        None => {
            if let Some(m) = accepted.as_object_mut() {
                m.remove("categories");
            }
        }
    }
    if let Some(m) = accepted.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    meta::nested_mut(&mut next, &["status"])["acceptedNames"] = accepted;
    let names_ok = conflict.is_none();
    match conflict {
        None => set_condition(
            &mut next,
            "NamesAccepted",
            "True",
            "NoConflicts",
            "no conflicts found",
        ),
        Some((reason, message)) => {
            set_condition(&mut next, "NamesAccepted", "False", reason, &message)
        }
    }
    if !condition_true(crd, "Established") {
        if names_ok {
            set_condition(
                &mut next,
                "Established",
                "False",
                "Installing",
                "the initial names have been accepted",
            );
        } else {
            set_condition(
                &mut next,
                "Established",
                "False",
                "NotAccepted",
                "not all names are accepted",
            );
        }
    }
    next
}

/// Whether the CRD's resources are served: its names were accepted (or it was established
/// before a later names update).
fn servable(crd: &Value) -> bool {
    condition_true(crd, "NamesAccepted") || condition_true(crd, "Established")
}

fn terminating(crd: &Value) -> bool {
    meta::deletion_timestamp(crd).is_some()
}

impl Controller {
    /// Serves what the stored CRDs define, then keeps following them.
    pub async fn start(state: Arc<State>, prefix: &str) -> Arc<Self> {
        let controller = Arc::new(Self {
            state,
            prefix: prefix.trim_end_matches('/').to_string(),
            caches: tokio::sync::Mutex::new(HashMap::new()),
            served_from: Mutex::new(BTreeMap::new()),
        });
        if let Err(e) = controller.pass().await {
            tracing::warn!(error = %e, "Serving the stored CustomResourceDefinitions failed; retrying.");
        }
        tokio::spawn(controller.clone().run());
        controller
    }

    fn crds(&self) -> Result<Arc<Store>> {
        self.state
            .catalog
            .store("apiextensions.k8s.io/customresourcedefinitions")
            .ok_or_else(|| ApiError::internal("customresourcedefinitions are not served"))
    }

    async fn run(self: Arc<Self>) {
        loop {
            let crds = match self.crds() {
                Ok(c) => c,
                Err(_) => return,
            };
            let req = WatchRequest {
                prefix: crds.prefix.clone(),
                from: WatchFrom::Latest,
                predicate: Default::default(),
                allow_bookmarks: false,
                send_initial_events: None,
            };
            let mut stream = match crds.watch(&req).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "Watching CustomResourceDefinitions failed; retrying.");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let mut waiting = false;
            loop {
                let next = if waiting {
                    match tokio::time::timeout(RETRY, stream.next()).await {
                        Ok(item) => item,
                        Err(_) => Some(Ok(WatchItem::Bookmark(0))),
                    }
                } else {
                    stream.next().await
                };
                match next {
                    None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
                // Everything already queued belongs to the same pass.
                while let Some(Some(Ok(_))) = stream.next().now_or_never() {}
                match self.pass().await {
                    Ok(w) => waiting = w,
                    Err(e) => {
                        tracing::warn!(error = %e, "Reconciling CustomResourceDefinitions failed; retrying.");
                        waiting = true;
                    }
                }
            }
        }
    }

    /// One pass over every CRD; true when a deletion is still waiting.
    async fn pass(&self) -> Result<bool> {
        let crds = self.crds()?;
        let mut all = self.list(&crds).await?;
        let ctx = context();
        let mut status_failed = false;
        for i in 0..all.len() {
            if terminating(&all[i]) {
                continue;
            }
            let want = desired_status(&all[i], &all);
            if want.get("status") == all[i].get("status") {
                continue;
            }
            let name = meta::name(&all[i]).to_string();
            let snapshot = all.clone();
            let written = crds
                .update(&ctx, &name, Some("status"), false, |old| {
                    let old = old.ok_or_else(|| ApiError::internal("the CRD is gone"))?;
                    Ok(desired_status(old, &snapshot))
                })
                .await;
            match written {
                Ok(w) => all[i] = w.object,
                Err(e) => {
                    tracing::warn!(crd = %name, error = %e, "Updating the status of a CustomResourceDefinition failed.");
                    status_failed = true;
                }
            }
        }
        self.serve(&all).await?;
        let mut waiting = status_failed;
        // The establishing step: only now that they are served.
        for crd in all.iter().filter(|c| {
            !terminating(c)
                && condition_true(c, "NamesAccepted")
                && !condition_true(c, "Established")
        }) {
            let name = meta::name(crd).to_string();
            let established = crds
                .update(&ctx, &name, Some("status"), false, |old| {
                    let mut next = old
                        .ok_or_else(|| ApiError::internal("the CRD is gone"))?
                        .clone();
                    set_condition(
                        &mut next,
                        "Established",
                        "True",
                        "InitialNamesAccepted",
                        "the initial names have been accepted",
                    );
                    Ok(next)
                })
                .await;
            if let Err(e) = established {
                tracing::warn!(crd = %name, error = %e, "Establishing a CustomResourceDefinition failed.");
                waiting = true;
            }
        }
        for crd in all.iter().filter(|c| terminating(c)) {
            if meta::finalizers(crd).iter().any(|f| f == CLEANUP_FINALIZER) {
                waiting |= !self.finalize(&crds, crd).await?;
            }
        }
        Ok(waiting)
    }

    async fn list(&self, store: &Store) -> Result<Vec<Value>> {
        let page = store
            .list(&ListRequest {
                prefix: store.prefix.clone(),
                read: ReadAt::Latest,
                limit: None,
                continue_from: None,
                predicate: Default::default(),
            })
            .await?;
        page.items
            .iter()
            .map(|o| o.value().map_err(ApiError::internal))
            .collect()
    }

    /// Rebuilds the served set from the established CRDs.
    async fn serve(&self, all: &[Value]) -> Result<()> {
        let from: BTreeMap<String, String> = all
            .iter()
            .filter(|c| servable(c))
            .map(|c| {
                (
                    meta::name(c).to_string(),
                    meta::resource_version(c).to_string(),
                )
            })
            .collect();
        if *self.served_from.lock().unwrap_or_else(|p| p.into_inner()) == from {
            return Ok(());
        }
        let mut set = CustomSet::default();
        let mut caches = self.caches.lock().await;
        let mut live = Vec::new();
        let resolver = Resolver::from_catalog(&self.state.catalog);
        for crd in all.iter().filter(|c| servable(c)) {
            let versions = served_versions(crd, resolver.as_ref());
            let Some(storage) = versions.first() else {
                continue;
            };
            let path = storage_path(crd);
            let key_prefix = format!("{}/{path}/", self.prefix);
            let selectable = storage.strategy.selectable_names;
            let cache = match caches.get(&path) {
                Some((c, fields)) if *fields == selectable => c.clone(),
                existing => {
                    if existing.is_some() {
                        // The cache indexes selectable fields as it loads: start it over.
                        self.state.hub.unregister(&key_prefix).await;
                    }
                    let strategy: Arc<dyn crate::registry::strategy::Strategy> =
                        storage.strategy.clone();
                    let attrs = attrs_of(&strategy);
                    let transformer = self
                        .state
                        .hub
                        .transformer_for(storage.info.group, storage.info.resource);
                    let state = self
                        .state
                        .hub
                        .register_live(&key_prefix, attrs.clone(), transformer.clone())
                        .await
                        .map_err(|e| ApiError::internal(e.to_string()))?;
                    let etcd = EtcdStorage::for_resource(
                        self.state.etcd.clone(),
                        attrs,
                        storage.info.resource,
                    )
                    .with_transformer(transformer);
                    let cache: Arc<dyn Storage> =
                        Arc::new(Cacher::with_state(etcd, self.state.hub.clone(), state));
                    caches.insert(path.clone(), (cache.clone(), selectable));
                    cache
                }
            };
            live.push(path);
            // One store per version over the shared cache: writes through a version are
            // validated with that version's schema and subresources, as upstream does.
            for v in versions {
                let info = v.info;
                let store = Arc::new(Store::new(
                    info,
                    v.strategy.clone(),
                    cache.clone(),
                    key_prefix.clone(),
                ));
                set.add(Arc::new(Endpoint {
                    info,
                    strategy: v.strategy,
                    conversion: v
                        .conversion
                        .map(|c| c as Arc<dyn crate::registry::Conversion>),
                    store,
                    terminating: terminating(crd),
                }));
            }
        }
        let gone: Vec<String> = caches
            .keys()
            .filter(|p| !live.contains(p))
            .cloned()
            .collect();
        for path in gone {
            caches.remove(&path);
            self.state
                .hub
                .unregister(&format!("{}/{path}/", self.prefix))
                .await;
        }
        drop(caches);
        self.state.catalog.set_custom(set);
        self.state.refresh_discovery();
        *self.served_from.lock().unwrap_or_else(|p| p.into_inner()) = from;
        Ok(())
    }

    /// Deletes a deleted CRD's objects; once none is left, removes the finalizer. True when
    /// the CRD is done.
    async fn finalize(&self, crds: &Store, crd: &Value) -> Result<bool> {
        let name = meta::name(crd).to_string();
        let remaining = match self.state.catalog.store(&storage_path(crd)) {
            Some(store) => self.delete_objects(&store).await?,
            None => 0,
        };
        let ctx = context();
        if remaining > 0 {
            crds.update(&ctx, &name, Some("status"), false, |old| {
                let mut next = old
                    .ok_or_else(|| ApiError::internal("the CRD is gone"))?
                    .clone();
                set_condition(
                    &mut next,
                    "Terminating",
                    "True",
                    "InstanceDeletionInProgress",
                    "CustomResource deletion is in progress",
                );
                Ok(next)
            })
            .await?;
            return Ok(false);
        }
        crds.update(&ctx, &name, None, false, |old| {
            let mut next = old
                .ok_or_else(|| ApiError::internal("the CRD is gone"))?
                .clone();
            let finalizers: Vec<String> = meta::finalizers(&next)
                .into_iter()
                .filter(|f| f != CLEANUP_FINALIZER)
                .collect();
            meta::set(
                &mut next,
                "finalizers",
                (!finalizers.is_empty()).then(|| json!(finalizers)),
            );
            Ok(next)
        })
        .await?;
        tracing::info!(crd = %name, "Removed all instances of a deleted CustomResourceDefinition.");
        Ok(true)
    }

    /// Deletes every object of a custom resource (objects with finalizers stay until those
    /// are removed); returns how many remain.
    async fn delete_objects(&self, store: &Store) -> Result<usize> {
        let objects = self.list(store).await?;
        let mut remaining = 0;
        for obj in &objects {
            remaining += 1;
            if meta::deletion_timestamp(obj).is_some() {
                continue;
            }
            let mut ctx = context();
            ctx.namespace = meta::namespace(obj).to_string();
            match store
                .delete(&ctx, meta::name(obj), &DeleteOptions::default())
                .await
            {
                Ok(d) if d.gone => remaining -= 1,
                Ok(_) => {}
                Err(e) if e.code == 404 => remaining -= 1,
                Err(e) => return Err(e),
            }
        }
        Ok(remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::resources::shared::arr;

    fn crd(name: &str, plural: &str, kind: &str) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {"group": "example.com", "names": {"plural": plural, "singular": plural.trim_end_matches('s'), "kind": kind, "listKind": format!("{kind}List")}},
            "status": {"acceptedNames": {"plural": "", "kind": ""}},
        })
    }

    #[test]
    fn names_are_accepted_unless_another_crd_holds_them() {
        let a = crd("widgets.example.com", "widgets", "Widget");
        let all = vec![a.clone()];
        let got = desired_status(&a, &all);
        assert_eq!(got["status"]["acceptedNames"]["kind"], "Widget");
        let conds = arr(&got, "/status/conditions");
        assert_eq!(s(&conds[0], "/reason"), "NoConflicts");
        // Established waits until the CRD is served.
        assert_eq!(s(&conds[1], "/type"), "Established");
        assert_eq!(s(&conds[1], "/status"), "False");
        assert_eq!(s(&conds[1], "/reason"), "Installing");

        let accepted = got;
        // Same kind and list kind: the last conflict names the reason; the free plural is
        // still accepted.
        let b = crd("gadgets.example.com", "gadgets", "Widget");
        let got = desired_status(&b, &[accepted.clone(), b.clone()]);
        let conds = arr(&got, "/status/conditions");
        assert_eq!(s(&conds[0], "/status"), "False");
        assert_eq!(s(&conds[0], "/reason"), "ListKindConflict");
        assert_eq!(s(&conds[0], "/message"), "\"WidgetList\" is already in use");
        assert_eq!(s(&conds[1], "/reason"), "NotAccepted");
        assert_eq!(got["status"]["acceptedNames"]["kind"], "");
        assert_eq!(got["status"]["acceptedNames"]["plural"], "gadgets");

        // Plurals, singulars and short names share one namespace.
        let c = crd("widget.example.com", "widget", "Thing");
        let got = desired_status(&c, &[accepted, c.clone()]);
        let conds = arr(&got, "/status/conditions");
        assert_eq!(s(&conds[0], "/reason"), "SingularConflict");
    }
}
