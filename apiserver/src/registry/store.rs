//! The generic store: create, get, list, watch, update, delete and deletecollection for any
//! kind, with the kind's [`Strategy`] supplying what differs. It owns upstream's generic rules:
//! system metadata (uid, creationTimestamp, generation, managedFields), generateName,
//! optimistic concurrency, the status/spec split of the status subresource, graceful deletion,
//! finalizers and propagation policies.
//!
//! Objects here are in the storage version; conversion happens in the handlers.

use super::ResourceInfo;
use super::managed_fields;
use super::strategy::Strategy;
use crate::admission::{self, Attributes, Operation};
use crate::authn::user::UserInfo;
use crate::clock;
use crate::errors::{ApiError, GroupResource, Result};
use crate::schema::Schemas;
use crate::schema::walk::Node;
use crate::storage::{
    self, ListPage, ListRequest, Object, Preconditions, ReadAt, Storage, UpdateAction,
    WatchRequest, WatchStream,
};
use apimachinery::{FieldErrors, meta, validation};
use serde_json::{Value, json};
use std::sync::Arc;

/// Per-request facts the store needs.
#[derive(Clone)]
pub struct OpContext {
    /// The namespace from the URL, for namespaced resources.
    pub namespace: String,
    pub user: UserInfo,
    pub dry_run: bool,
    /// The `fieldManager` (or the one derived from the User-Agent).
    pub field_manager: String,
    /// The apiVersion the client spoke, for managedFields.
    pub api_version: String,
    pub admission: admission::Chain,
    /// A server-side apply: the handler has written managedFields itself, so the store
    /// records no Update entry.
    pub applied: bool,
    /// The schemas managedFields are computed with (absent: the schema-less fallback).
    pub schemas: Option<Arc<Schemas>>,
    /// What admission warned of.
    pub warnings: admission::Warnings,
    /// What admission annotated the request's audit event with.
    pub annotations: admission::AuditAnnotations,
}

impl OpContext {
    /// The apiserver's own writes in `namespace`: no admission, no client.
    pub fn system(namespace: &str) -> Self {
        OpContext {
            namespace: namespace.to_string(),
            user: UserInfo::system_apiserver(),
            dry_run: false,
            field_manager: "kube-apiserver".to_string(),
            api_version: "v1".to_string(),
            admission: admission::Chain::default(),
            applied: false,
            schemas: None,
            warnings: Default::default(),
            annotations: Default::default(),
        }
    }
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub preconditions: Preconditions,
    /// `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    pub orphan_dependents: Option<bool>,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The object's last state (or its state now, pending deletion).
    pub object: Value,
    /// False when the object remains, waiting for finalizers or a grace period.
    pub gone: bool,
}

/// A write's result.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    /// What storage now holds, already serialized with its resourceVersion (absent for dry runs);
    /// responses send these bytes as they are when no conversion is needed.
    pub stored: Option<Object>,
    pub created: bool,
    pub warnings: Vec<String>,
}

/// Hooks for kinds whose writes touch more than their own key (Service IP and port
/// allocation). Called inside the write path; `release` undoes `allocate` when the write fails.
#[async_trait::async_trait]
pub trait WriteHooks: Send + Sync {
    /// Allocates what a new object needs, filling it in; returns a token for `release`.
    async fn before_create(&self, obj: &mut Value, dry_run: bool) -> Result<Allocation>;
    /// Allocates what an update needs (for example a new NodePort).
    async fn before_update(
        &self,
        new: &mut Value,
        old: &Value,
        dry_run: bool,
    ) -> Result<Allocation>;
    /// Releases what an object held, after it is deleted.
    async fn after_delete(&self, obj: &Value);
}

/// One try of an update: what to write, what the client sees, and what was allocated for it.
struct Step {
    action: UpdateAction,
    /// What the client sees when the step writes nothing (or deletes); `None` when it writes:
    /// the object written is its own preview, kept once.
    preview: Option<Value>,
    created: bool,
    warnings: Vec<String>,
    allocation: Allocation,
}

/// Resources a hook allocated, released again if the write does not happen.
#[derive(Default)]
pub struct Allocation {
    pub rollback: Option<Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>>,
}

impl Step {
    /// The object as the client sees it (before a write's new resourceVersion).
    fn into_preview(self) -> Value {
        match (self.preview, self.action) {
            (Some(p), _) => p,
            (None, UpdateAction::Write(v)) => v,
            (None, _) => Value::Null,
        }
    }
}

impl Allocation {
    async fn release(self) {
        if let Some(f) = self.rollback {
            f().await;
        }
    }
}

/// The store of one resource (in its storage version).
pub struct Store {
    pub info: ResourceInfo,
    pub strategy: Arc<dyn Strategy>,
    pub storage: Arc<dyn Storage>,
    /// Key prefix ending in `/`, e.g. `/registry/configmaps/`.
    pub prefix: String,
    /// Set once at startup for kinds that allocate (Services).
    pub hooks: std::sync::OnceLock<Arc<dyn WriteHooks>>,
}

/// Characters upstream's `SimpleNameGenerator` picks from (no vowels, no look-alikes).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const GENERATED_SUFFIX_LEN: usize = 5;
const MAX_GENERATED_NAME_LEN: usize = 63;

pub(crate) fn generate_name(base: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let base: String = base
        .chars()
        .take(MAX_GENERATED_NAME_LEN - GENERATED_SUFFIX_LEN)
        .collect();
    let suffix: String = (0..GENERATED_SUFFIX_LEN)
        .map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

impl Store {
    pub fn new(
        info: ResourceInfo,
        strategy: Arc<dyn Strategy>,
        storage: Arc<dyn Storage>,
        prefix: String,
    ) -> Self {
        Self {
            info,
            strategy,
            storage,
            prefix,
            hooks: std::sync::OnceLock::new(),
        }
    }

    pub fn group_resource(&self) -> GroupResource {
        self.info.group_resource()
    }

    pub fn key(&self, namespace: &str, name: &str) -> String {
        if self.info.namespaced {
            format!("{}{namespace}/{name}", self.prefix)
        } else {
            format!("{}{name}", self.prefix)
        }
    }

    /// The key prefix of a list in `namespace` (all namespaces when empty).
    pub fn list_prefix(&self, namespace: &str) -> String {
        if self.info.namespaced && !namespace.is_empty() {
            format!("{}{namespace}/", self.prefix)
        } else {
            self.prefix.clone()
        }
    }

    fn map_err(&self, name: &str) -> impl Fn(storage::Error) -> ApiError + '_ {
        let gr = self.group_resource();
        let name = name.to_string();
        move |e| ApiError::from_storage(e, &gr, &name)
    }

    fn invalid(&self, name: &str, errs: &FieldErrors) -> ApiError {
        ApiError::invalid(self.info.group, self.info.kind, name, errs)
    }

    pub async fn get(&self, namespace: &str, name: &str, read: ReadAt) -> Result<Object> {
        self.storage
            .get(&self.key(namespace, name), read)
            .await
            .map_err(self.map_err(name))
    }

    pub async fn list(&self, req: &ListRequest) -> Result<ListPage> {
        self.storage.list(req).await.map_err(self.map_err(""))
    }

    pub async fn watch(&self, req: &WatchRequest) -> Result<WatchStream> {
        self.storage.watch(req).await.map_err(self.map_err(""))
    }

    /// Fills in what the system owns on a new object and validates it.
    fn prepare_create(&self, ctx: &OpContext, obj: &mut Value) -> Result<()> {
        let name = meta::name(obj).to_string();
        if !meta::resource_version(obj).is_empty() {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        if self.info.namespaced {
            let ns = meta::namespace(obj);
            if ns.is_empty() {
                meta::set(obj, "namespace", Some(json!(ctx.namespace)));
            } else if ns != ctx.namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        } else {
            meta::set(obj, "namespace", None);
        }
        for field in [
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            meta::set(obj, field, None);
        }
        meta::set(obj, "uid", Some(json!(uuid::Uuid::new_v4().to_string())));
        let now = clock::now();
        meta::set(obj, "creationTimestamp", Some(json!(now)));
        if self.strategy.tracks_generation() {
            meta::set(obj, "generation", Some(json!(1)));
        } else {
            meta::set(obj, "generation", None);
        }
        if self.info.has_subresource("status")
            && !self.strategy.keeps_status_on_create()
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        self.strategy.prepare_for_create(obj);
        self.strategy.prepare_for_create_by(obj, &ctx.user);
        if !ctx.applied {
            managed_fields::record(obj, None, &self.updater(ctx, None, &now));
        }
        let mut errs = validation::validate_object_meta(
            obj.get("metadata").unwrap_or(&Value::Null),
            self.info.namespaced,
            self.strategy.name_validator(),
        );
        errs.extend(self.strategy.validate(obj));
        if !errs.is_empty() {
            return Err(self.invalid(&name, &errs));
        }
        Ok(())
    }

    /// Creates an object (decoded, defaulted, in the storage version).
    pub async fn create(&self, ctx: &OpContext, mut obj: Value) -> Result<Written> {
        let generate =
            meta::name(&obj).is_empty() && !meta::str_field(&obj, "generateName").is_empty();
        // Upstream retries a generated name that happens to be taken.
        let tries = if generate { 8 } else { 1 };
        // As upstream, admission sees the object before a name is generated.
        self.mutate(ctx, Operation::Create, &mut obj, None, None)
            .await?;
        let template = obj.clone();
        for attempt in 0..tries {
            if generate {
                obj = template.clone();
                let name = generate_name(meta::str_field(&obj, "generateName"));
                meta::set(&mut obj, "name", Some(json!(name)));
            }
            self.prepare_create(ctx, &mut obj)?;
            let name = meta::name(&obj).to_string();
            let namespace = meta::namespace(&obj).to_string();
            ctx.admission
                .validate(&Attributes {
                    operation: Operation::Create,
                    info: &self.info,
                    subresource: None,
                    namespace: &namespace,
                    name: &name,
                    object: Some(&obj),
                    old: None,
                    user: &ctx.user,
                    dry_run: ctx.dry_run,
                    warnings: &ctx.warnings,
                    annotations: &ctx.annotations,
                })
                .await?;
            let allocation = match self.hooks.get() {
                Some(h) => h.before_create(&mut obj, ctx.dry_run).await?,
                None => Allocation::default(),
            };
            let warnings = self.warnings(ctx, &obj);
            if ctx.dry_run {
                // A dry run must not show an existing object as creatable.
                match self
                    .storage
                    .get(&self.key(&namespace, &name), ReadAt::Latest)
                    .await
                {
                    Ok(_) => return Err(ApiError::already_exists(&self.group_resource(), &name)),
                    Err(storage::Error::NotFound { .. }) => {}
                    Err(e) => return Err(ApiError::from_storage(e, &self.group_resource(), &name)),
                }
                allocation.release().await;
                return Ok(Written {
                    object: obj,
                    stored: None,
                    created: true,
                    warnings,
                });
            }
            match self
                .storage
                .create(&self.key(&namespace, &name), &obj)
                .await
            {
                Ok(stored) => {
                    meta::set(
                        &mut obj,
                        "resourceVersion",
                        Some(json!(stored.rv.to_string())),
                    );
                    return Ok(Written {
                        object: obj,
                        stored: Some(stored),
                        created: true,
                        warnings,
                    });
                }
                Err(storage::Error::AlreadyExists { .. }) if generate && attempt + 1 < tries => {
                    allocation.release().await;
                    continue;
                }
                Err(e) => {
                    allocation.release().await;
                    return Err(ApiError::from_storage(e, &self.group_resource(), &name));
                }
            }
        }
        Err(ApiError::internal("could not find a free generated name"))
    }

    /// Who is writing, for managedFields; fields are read with the storage version's schema.
    fn updater<'a>(
        &'a self,
        ctx: &'a OpContext,
        subresource: Option<&'a str>,
        now: &'a str,
    ) -> managed_fields::Updater<'a> {
        managed_fields::Updater {
            manager: &ctx.field_manager,
            api_version: &ctx.api_version,
            subresource,
            now,
            schema: ctx
                .schemas
                .as_deref()
                .and_then(|s| Node::kind(s, self.info.group, self.info.version, self.info.kind)),
        }
    }

    /// Carries what the system owns from the stored object into an update and validates it.
    fn prepare_update(
        &self,
        ctx: &OpContext,
        new: &mut Value,
        old: &Value,
        subresource: Option<&str>,
    ) -> Result<()> {
        let name = meta::name(old).to_string();
        let gr = self.group_resource();
        if meta::name(new) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(new)
            )));
        }
        if self.info.namespaced {
            let ns = meta::namespace(new);
            if ns.is_empty() {
                meta::set(new, "namespace", Some(json!(ctx.namespace)));
            } else if ns != ctx.namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        } else {
            meta::set(new, "namespace", None);
        }
        let rv = meta::resource_version(new);
        if !rv.is_empty() && rv != meta::resource_version(old) {
            return Err(ApiError::modified(&gr, &name));
        }
        // System metadata comes from storage whatever the client sent.
        for field in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            let v = old.get("metadata").and_then(|m| m.get(field)).cloned();
            meta::set(new, field, v);
        }
        meta::set(new, "selfLink", None);
        // Clients do not write managedFields; an apply has computed them from the old ones.
        if !ctx.applied {
            meta::set(
                new,
                "managedFields",
                old.get("metadata")
                    .and_then(|m| m.get("managedFields"))
                    .cloned(),
            );
        }
        let has_status = self.info.has_subresource("status");
        match subresource {
            Some("status") => {
                // A status write changes status (and may touch metadata); the rest stays.
                if let (Value::Object(n), Value::Object(o)) = (&mut *new, old) {
                    let status = n.remove("status");
                    let metadata = n.remove("metadata");
                    *n = o.clone();
                    if let Some(m) = metadata {
                        n.insert("metadata".into(), m);
                    }
                    match status {
                        Some(s) => n.insert("status".into(), s),
                        None => n.remove("status"),
                    };
                }
                self.strategy.prepare_for_status_update(new, old);
            }
            Some(other) => self
                .strategy
                .prepare_for_subresource_update(other, new, old),
            None => {
                if has_status {
                    if let (Value::Object(n), Some(s)) = (&mut *new, old.get("status")) {
                        n.insert("status".into(), s.clone());
                    } else if let Value::Object(n) = &mut *new {
                        n.remove("status");
                    }
                }
                self.strategy.prepare_for_update(new, old);
                if self.strategy.tracks_generation() && self.strategy.generation_changes(new, old) {
                    let g = old
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    meta::set(new, "generation", Some(json!(g + 1)));
                }
            }
        }
        let mut errs = validation::validate_object_meta(
            new.get("metadata").unwrap_or(&Value::Null),
            self.info.namespaced,
            self.strategy.name_validator(),
        );
        errs.extend(validation::validate_object_meta_update(
            new.get("metadata").unwrap_or(&Value::Null),
            old.get("metadata").unwrap_or(&Value::Null),
        ));
        errs.extend(match subresource {
            Some("status") => self.strategy.validate_status_update(new, old),
            Some(s) if self.strategy.writes_directly(s) => Vec::new(),
            _ => self.strategy.validate_update(new, old),
        });
        if !errs.is_empty() {
            return Err(self.invalid(&name, &errs));
        }
        Ok(())
    }

    /// Whether an object marked for deletion can go now: no finalizers hold it.
    fn deletable(&self, obj: &Value) -> bool {
        meta::deletion_timestamp(obj).is_some()
            && meta::finalizers(obj).is_empty()
            && obj
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
            && !self.strategy.holds_deletion(obj)
    }

    /// The update path shared by PUT and PATCH: `make_new` turns the stored object into the
    /// requested one (the request body for PUT, the patched object for PATCH) and is called
    /// again when a concurrent write forces a retry. `subresource` is `Some("status")` for the
    /// status subresource.
    pub async fn update<F>(
        &self,
        ctx: &OpContext,
        name: &str,
        subresource: Option<&str>,
        force_allow_create: bool,
        mut make_new: F,
    ) -> Result<Written>
    where
        F: FnMut(Option<&Value>) -> Result<Value> + Send,
    {
        let key = self.key(&ctx.namespace, name);
        // The first try works on the watch cache's copy, sparing etcd a read. A dry run reads
        // etcd as upstream's does: it writes nothing that would catch a stale guess.
        let mut guess = if ctx.dry_run {
            None
        } else {
            self.storage.cached(&key)
        };
        for _ in 0..storage::MAX_UPDATE_TRIES {
            let (existing, guessed) = match guess.take() {
                Some(o) => (Some(o), true),
                None => {
                    let latest = storage::read_latest(&*self.storage, &key)
                        .await
                        .map_err(self.map_err(name))?;
                    (latest, false)
                }
            };
            let old = match &existing {
                Some(o) => Some(o.value().map_err(ApiError::internal)?),
                None => None,
            };
            let step = match make_new(old.as_ref()) {
                Ok(new) => match &old {
                    None => {
                        self.create_on_update(ctx, name, subresource, force_allow_create, new)
                            .await
                    }
                    Some(old) => self.update_step(ctx, subresource, new, old).await,
                },
                Err(e) => Err(e),
            };
            let mut step = match step {
                // A stale copy may be why the request was refused (a resourceVersion
                // precondition, an immutable field) or found nothing to change: only the
                // latest state answers.
                Err(_) if guessed => {
                    ctx.warnings.take();
                    continue;
                }
                Err(e) => return Err(e),
                Ok(step) if guessed && matches!(step.action, UpdateAction::Unchanged) => {
                    step.allocation.release().await;
                    continue;
                }
                Ok(step) => step,
            };
            if ctx.dry_run {
                std::mem::take(&mut step.allocation).release().await;
                let (created, warnings) = (step.created, std::mem::take(&mut step.warnings));
                return Ok(Written {
                    object: step.into_preview(),
                    stored: None,
                    created,
                    warnings,
                });
            }
            let deleting = matches!(step.action, UpdateAction::Delete);
            match storage::write_if_unchanged(&*self.storage, &key, existing.as_ref(), &step.action)
                .await
            {
                Ok(Some(stored)) => {
                    let (created, warnings) = (step.created, std::mem::take(&mut step.warnings));
                    // The object written is the one computed; only a deletion's last state comes
                    // back from storage.
                    let object = if deleting {
                        let last = stored.value().map_err(ApiError::internal)?;
                        if let Some(h) = self.hooks.get() {
                            h.after_delete(&last).await;
                        }
                        last
                    } else {
                        let mut object = step.into_preview();
                        meta::set(
                            &mut object,
                            "resourceVersion",
                            Some(json!(stored.rv.to_string())),
                        );
                        object
                    };
                    return Ok(Written {
                        object,
                        stored: Some(stored),
                        created,
                        warnings,
                    });
                }
                Ok(None) => step.allocation.release().await,
                Err(e) => {
                    step.allocation.release().await;
                    return Err(ApiError::from_storage(e, &self.group_resource(), name));
                }
            }
        }
        Err(ApiError::internal(format!(
            "too many conflicting writes updating {key}"
        )))
    }

    /// An update of a missing object: a create, where the kind (or the caller) allows it.
    async fn create_on_update(
        &self,
        ctx: &OpContext,
        name: &str,
        subresource: Option<&str>,
        force_allow_create: bool,
        mut new: Value,
    ) -> Result<Step> {
        if !(force_allow_create || self.strategy.allow_create_on_update()) || subresource.is_some()
        {
            return Err(ApiError::not_found(&self.group_resource(), name));
        }
        if meta::name(&new) != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta::name(&new)
            )));
        }
        meta::set(&mut new, "resourceVersion", None);
        self.mutate(ctx, Operation::Create, &mut new, None, None)
            .await?;
        self.prepare_create(ctx, &mut new)?;
        self.admit(ctx, Operation::Create, &new, None, None).await?;
        let allocation = match self.hooks.get() {
            Some(h) => h.before_create(&mut new, ctx.dry_run).await?,
            None => Allocation::default(),
        };
        Ok(Step {
            warnings: self.warnings(ctx, &new),
            preview: None,
            action: UpdateAction::Write(new),
            created: true,
            allocation,
        })
    }

    /// One try of an update of an existing object.
    async fn update_step(
        &self,
        ctx: &OpContext,
        subresource: Option<&str>,
        mut new: Value,
        old: &Value,
    ) -> Result<Step> {
        self.mutate(ctx, Operation::Update, &mut new, Some(old), subresource)
            .await?;
        self.prepare_update(ctx, &mut new, old, subresource)?;
        let mut allocation = Allocation::default();
        if let (Some(h), None) = (self.hooks.get(), subresource) {
            allocation = h.before_update(&mut new, old, ctx.dry_run).await?;
        }
        // Unchanged objects are not written: no new resourceVersion, no managedFields churn.
        // Compared as if carrying the old resourceVersion; swapped in place when both have one,
        // sparing a copy of the object (and keeping the order of its metadata fields).
        const RV: &str = "/metadata/resourceVersion";
        let old_rv = old.pointer(RV);
        let unchanged = match (new.pointer_mut(RV), old_rv) {
            (Some(slot), Some(old_rv)) => {
                let requested = std::mem::replace(slot, old_rv.clone());
                let same = new == *old;
                if let Some(slot) = new.pointer_mut(RV) {
                    *slot = requested;
                }
                same
            }
            (None, None) => new == *old,
            _ => {
                let mut copy = new.clone();
                meta::set(&mut copy, "resourceVersion", old_rv.cloned());
                copy == *old
            }
        };
        if unchanged {
            return Ok(Step {
                action: UpdateAction::Unchanged,
                preview: Some(old.clone()),
                created: false,
                warnings: ctx.warnings.take(),
                allocation,
            });
        }
        if let Err(e) = self
            .admit(ctx, Operation::Update, &new, Some(old), subresource)
            .await
        {
            allocation.release().await;
            return Err(e);
        }
        let direct = subresource.is_some_and(|s| self.strategy.writes_directly(s));
        if !ctx.applied && !direct {
            let now = clock::now();
            managed_fields::record(&mut new, Some(old), &self.updater(ctx, subresource, &now));
        }
        let warnings = self.warnings(ctx, &new);
        let (action, preview) = if self.deletable(&new) {
            (UpdateAction::Delete, Some(new))
        } else {
            (UpdateAction::Write(new), None)
        };
        Ok(Step {
            warnings,
            preview,
            action,
            created: false,
            allocation,
        })
    }

    /// Admission's warnings so far, then the strategy's for the object to write.
    fn warnings(&self, ctx: &OpContext, obj: &Value) -> Vec<String> {
        let mut warnings = ctx.warnings.take();
        warnings.extend(self.strategy.warnings(obj));
        warnings
    }

    /// Mutating admission, before the strategy prepares and validates the object.
    async fn mutate(
        &self,
        ctx: &OpContext,
        operation: Operation,
        obj: &mut Value,
        old: Option<&Value>,
        subresource: Option<&str>,
    ) -> Result<()> {
        let name = meta::name(obj).to_string();
        // The request's namespace: the object may not carry one yet, or a wrong one (which
        // preparing it refuses).
        let namespace = if self.info.namespaced {
            ctx.namespace.as_str()
        } else {
            ""
        };
        let attrs = Attributes {
            operation,
            info: &self.info,
            subresource,
            namespace,
            name: &name,
            object: None,
            old,
            user: &ctx.user,
            dry_run: ctx.dry_run,
            warnings: &ctx.warnings,
            annotations: &ctx.annotations,
        };
        ctx.admission.admit(&attrs, obj).await
    }

    async fn admit(
        &self,
        ctx: &OpContext,
        operation: Operation,
        obj: &Value,
        old: Option<&Value>,
        subresource: Option<&str>,
    ) -> Result<()> {
        ctx.admission
            .validate(&Attributes {
                operation,
                info: &self.info,
                subresource,
                namespace: meta::namespace(obj),
                name: meta::name(obj),
                object: Some(obj),
                old,
                user: &ctx.user,
                dry_run: ctx.dry_run,
                warnings: &ctx.warnings,
                annotations: &ctx.annotations,
            })
            .await
    }

    /// Deletes an object, honouring preconditions, graceful deletion, finalizers and the
    /// propagation policy.
    pub async fn delete(
        &self,
        ctx: &OpContext,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted> {
        let key = self.key(&ctx.namespace, name);
        for _ in 0..storage::MAX_UPDATE_TRIES {
            let existing = storage::read_latest(&*self.storage, &key)
                .await
                .map_err(self.map_err(name))?
                .ok_or_else(|| ApiError::not_found(&self.group_resource(), name))?;
            let current = existing.value().map_err(ApiError::internal)?;
            // As upstream, admission judges the object each attempt is about to delete.
            ctx.admission
                .validate(&Attributes {
                    operation: Operation::Delete,
                    info: &self.info,
                    subresource: None,
                    namespace: &ctx.namespace,
                    name,
                    object: None,
                    old: Some(&current),
                    user: &ctx.user,
                    dry_run: ctx.dry_run,
                    warnings: &ctx.warnings,
                    annotations: &ctx.annotations,
                })
                .await?;
            opts.preconditions
                .check(&key, &current)
                .map_err(self.map_err(name))?;
            let (action, preview, gone) = self.deletion_step(&current, opts);
            if ctx.dry_run {
                return Ok(Deleted {
                    object: preview,
                    gone,
                });
            }
            match storage::write_if_unchanged(&*self.storage, &key, Some(&existing), &action).await
            {
                Ok(Some(stored)) => {
                    let object = stored.value().map_err(ApiError::internal)?;
                    if gone && let Some(h) = self.hooks.get() {
                        h.after_delete(&object).await;
                    }
                    return Ok(Deleted { object, gone });
                }
                Ok(None) => continue,
                Err(e) => return Err(ApiError::from_storage(e, &self.group_resource(), name)),
            }
        }
        Err(ApiError::internal(format!(
            "too many conflicting writes deleting {key}"
        )))
    }

    /// What a delete does to the object as it is now: mark it (graceful deletion, finalizers)
    /// or remove it. Returns the action, the object as the client will see it, and whether it
    /// is gone.
    fn deletion_step(&self, current: &Value, opts: &DeleteOptions) -> (UpdateAction, Value, bool) {
        let mut next = current.clone();
        let finalizers = self.finalizers_for(current, opts);
        let pending_before = meta::deletion_timestamp(current).is_some();
        let grace = self
            .strategy
            .graceful_delete_period(current, opts.grace_period_seconds)
            .filter(|g| *g > 0);
        if let Some(g) = grace {
            // Graceful deletion: mark it; the kubelet finishes it once the containers stopped.
            let shorter = current
                .pointer("/metadata/deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .is_none_or(|old| g < old);
            if !pending_before || shorter {
                meta::set(
                    &mut next,
                    "deletionTimestamp",
                    Some(json!(clock::now_plus(g))),
                );
                meta::set(&mut next, "deletionGracePeriodSeconds", Some(json!(g)));
            }
        } else if !finalizers.is_empty() || self.strategy.holds_deletion(current) {
            if !pending_before {
                meta::set(&mut next, "deletionTimestamp", Some(json!(clock::now())));
            }
            meta::set(&mut next, "deletionGracePeriodSeconds", Some(json!(0)));
        } else {
            return (UpdateAction::Delete, current.clone(), true);
        }
        meta::set(
            &mut next,
            "finalizers",
            (!finalizers.is_empty()).then(|| json!(finalizers)),
        );
        if !pending_before {
            if self.strategy.tracks_generation() {
                let g = current
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                meta::set(&mut next, "generation", Some(json!(g + 1)));
            }
            self.strategy.prepare_for_delete(&mut next);
        }
        if next == *current {
            return (UpdateAction::Unchanged, next, false);
        }
        (UpdateAction::Write(next.clone()), next, false)
    }

    /// The finalizers an object should carry once deletion is requested with `opts`.
    fn finalizers_for(&self, obj: &Value, opts: &DeleteOptions) -> Vec<String> {
        let mut finalizers = meta::finalizers(obj);
        let policy = opts
            .propagation_policy
            .as_deref()
            .or(match opts.orphan_dependents {
                Some(true) => Some("Orphan"),
                Some(false) => Some("Background"),
                // A finalizer already asking for foreground deletion overrides the default.
                None if self.strategy.orphans_by_default()
                    && !finalizers.iter().any(|f| f == "foregroundDeletion") =>
                {
                    Some("Orphan")
                }
                None => None,
            });
        let mut set = |add: Option<&str>, remove: &str| {
            finalizers.retain(|f| f != remove);
            if let Some(a) = add
                && !finalizers.iter().any(|f| f == a)
            {
                finalizers.push(a.to_string());
            }
        };
        match policy {
            Some("Orphan") => set(Some("orphan"), "foregroundDeletion"),
            Some("Foreground") => set(Some("foregroundDeletion"), "orphan"),
            Some("Background") => {
                set(None, "orphan");
                set(None, "foregroundDeletion");
            }
            _ => {}
        }
        finalizers
    }

    /// Deletes every object a list selects, one by one, as upstream's deletecollection does.
    pub async fn delete_collection(
        &self,
        ctx: &OpContext,
        list: &ListRequest,
        opts: &DeleteOptions,
    ) -> Result<Vec<Value>> {
        let page = self.list(list).await?;
        let mut deleted = Vec::new();
        for item in page.items {
            let value = item.value().map_err(ApiError::internal)?;
            let name = meta::name(&value).to_string();
            let mut item_ctx = ctx.clone();
            item_ctx.namespace = meta::namespace(&value).to_string();
            match self.delete(&item_ctx, &name, opts).await {
                Ok(d) => deleted.push(d.object),
                // Someone else deleted it meanwhile: that is what we wanted.
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
