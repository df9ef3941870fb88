//! The per-kind strategy: everything that differs between built-in kinds, so the generic
//! [`Store`](super::store::Store) and the handlers never name a kind.
//!
//! Objects reach a strategy as JSON already decoded through the kind's typed schema (see
//! [`typed`](super::typed)). Hooks run in upstream's order: decode and `default`, then
//! `prepare_for_create`/`prepare_for_update`, then `validate`/`validate_update`.

use super::table::{self, Column};
use crate::authn::user::UserInfo;
use crate::storage::{Attrs, predicate::default_attrs};
use apimachinery::FieldErrors;
use apimachinery::validation::{NameValidator, name_is_dns_subdomain};
use serde_json::Value;

/// An incoming object after the typed round trip.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub value: Value,
    /// Paths of fields the schema does not know, as `spec.foo` (for `fieldValidation`).
    pub unknown_fields: Vec<String>,
}

pub trait Strategy: Send + Sync + 'static {
    /// Decodes a request body through the kind's typed schema: wrong types fail, unknown
    /// fields are dropped and reported. Implement with `typed::round_trip::<Kind>`.
    fn decode(&self, body: Value) -> Result<Decoded, String>;

    /// How `metadata.name` is validated.
    fn name_validator(&self) -> NameValidator {
        name_is_dns_subdomain
    }

    /// Whether `metadata.generation` starts at 1 and grows with each spec change.
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Whether a delete without a propagation policy orphans the object's dependents (upstream's
    /// `DefaultGarbageCollectionPolicy` of `OrphanDependents`, which batch/v1 Jobs keep for
    /// compatibility) instead of leaving them to background collection.
    fn orphans_by_default(&self) -> bool {
        false
    }

    /// Whether an update moves `metadata.generation` on: by default when anything but
    /// metadata and status changed.
    fn generation_changes(&self, new: &Value, old: &Value) -> bool {
        spec_of(new) != spec_of(old)
    }

    /// Whether a create keeps the `status` it was sent (nodes do; most kinds reset it).
    fn keeps_status_on_create(&self) -> bool {
        false
    }

    /// Upstream's defaulting for the served version.
    fn default(&self, _obj: &mut Value) {}

    /// Normalizes a new object before validation (for example sets an initial status).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Records who asked for a new object, after `prepare_for_create` (CertificateSigningRequests
    /// take their username, uid and groups from the requesting user).
    fn prepare_for_create_by(&self, _obj: &mut Value, _user: &UserInfo) {}

    /// Normalizes an update before validation; `old` is the stored object.
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Validation of a new object beyond the metadata checks every kind gets.
    fn validate(&self, _obj: &Value) -> FieldErrors {
        Vec::new()
    }

    /// Validation of an update beyond the metadata checks; by default the create rules.
    fn validate_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        self.validate(new)
    }

    /// Normalizes a status-subresource update beyond the generic rule (everything but
    /// `status` comes from the stored object).
    fn prepare_for_status_update(&self, _new: &mut Value, _old: &Value) {}

    /// Normalizes an update through another subresource (`finalize` of namespaces): by
    /// default nothing of the request is taken.
    fn prepare_for_subresource_update(&self, _subresource: &str, new: &mut Value, old: &Value) {
        *new = old.clone();
    }

    /// Whether an update through `subresource` is, upstream, a write straight to storage
    /// (the pods' `binding`): the object is neither validated as a whole nor given a
    /// managedFields entry.
    fn writes_directly(&self, _subresource: &str) -> bool {
        false
    }

    /// Validation of a status update.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> FieldErrors {
        Vec::new()
    }

    /// Warnings to return with a successful create or update.
    fn warnings(&self, _obj: &Value) -> Vec<String> {
        Vec::new()
    }

    /// Kind-specific selectable fields (beyond `metadata.name` and `metadata.namespace`), as
    /// `(field, value)` pairs; the names listed here are the only ones field selectors accept.
    fn selectable_fields(&self, _obj: &Value) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Names of the kind-specific selectable fields.
    fn selectable_field_names(&self) -> &'static [&'static str] {
        &[]
    }

    /// Server-side printing columns (`kubectl get`).
    fn table_columns(&self) -> &[Column] {
        table::DEFAULT_COLUMNS
    }

    /// The cells of one row, matching [`Strategy::table_columns`].
    fn table_row(&self, obj: &Value) -> Vec<Value> {
        table::default_row(obj)
    }

    /// The grace period a delete should use, when this kind deletes gracefully (pods).
    /// `None` deletes at once.
    fn graceful_delete_period(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }

    /// Whether deletion must wait even without finalizers in metadata (namespaces wait for
    /// their `spec.finalizers`).
    fn holds_deletion(&self, _obj: &Value) -> bool {
        false
    }

    /// Marks an object whose deletion was just requested (namespaces become `Terminating`).
    fn prepare_for_delete(&self, _obj: &mut Value) {}

    /// Whether a delete answers with the object rather than a `Status`.
    fn returns_deleted_object(&self) -> bool {
        false
    }

    /// Whether a PUT to a missing name creates it.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// The `autoscaling/v1` Scale of an object, for kinds with a scale subresource.
    fn to_scale(&self, obj: &Value) -> Value {
        super::scale::to_scale(obj)
    }

    /// Sets the desired replicas, for a write through the scale subresource.
    fn set_replicas(&self, obj: &mut Value, replicas: i64) {
        super::scale::set_replicas(obj, replicas);
    }

    /// Whether PATCH accepts `application/strategic-merge-patch+json` (custom resources do
    /// not: their schemas carry no patch strategies).
    fn takes_strategic_merge_patch(&self) -> bool {
        true
    }

    /// The OpenAPI definitions of a kind the schema source does not know (custom resources),
    /// by definition name, the kind's first.
    fn openapi_definitions(&self, _info: &super::ResourceInfo) -> Vec<(String, Value)> {
        Vec::new()
    }

    /// The attributes selectors match on.
    fn attrs(&self, obj: &Value) -> Attrs {
        let mut attrs = default_attrs(obj);
        attrs.fields.extend(
            self.selectable_fields(obj)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        attrs
    }
}

/// Everything of an object except `metadata` and `status`: a change here is a spec change.
pub fn spec_of(obj: &Value) -> Value {
    match obj {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}
