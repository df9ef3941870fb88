//! Admission: what every write goes through before storage. Mutating plugins may change the
//! object of a create or update before the strategy prepares and validates it; validating
//! plugins then accept or refuse it. The chain holds the built-in plugins; webhooks come later.

mod default_storage_class;
mod limit_ranger;
mod namespace_lifecycle;
mod priority;
mod runtime_class;

pub use default_storage_class::DefaultStorageClass;
pub use limit_ranger::LimitRanger;
pub use namespace_lifecycle::NamespaceLifecycle;
pub use priority::Priority;
pub use runtime_class::RuntimeClass;

use crate::authn::user::UserInfo;
use crate::authz::Authorizer;
use crate::authz::escalation_check::EscalationCheck;
use crate::errors::Result;
use crate::registry::ResourceInfo;
use crate::registry::catalog::Catalog;
use crate::storage::cacher::Hub;
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

/// What admission sees of a request.
pub struct Attributes<'a> {
    pub operation: Operation,
    pub info: &'a ResourceInfo,
    pub subresource: Option<&'a str>,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old: Option<&'a Value>,
    pub user: &'a UserInfo,
    pub dry_run: bool,
}

/// A validating admission plugin: it may refuse a request, never change it.
#[async_trait]
pub trait Validator: Send + Sync {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()>;
}

/// A mutating admission plugin: it may change the object of a create or update (passed
/// beside the attributes, whose `object` is then unset), or refuse the request.
#[async_trait]
pub trait Mutator: Send + Sync {
    async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()>;
}

/// The plugins in order; the first refusal wins.
#[derive(Clone, Default)]
pub struct Chain {
    mutators: Vec<Arc<dyn Mutator>>,
    validators: Vec<Arc<dyn Validator>>,
}

impl Chain {
    pub fn new(mutators: Vec<Arc<dyn Mutator>>, validators: Vec<Arc<dyn Validator>>) -> Self {
        Self {
            mutators,
            validators,
        }
    }

    pub async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()> {
        for m in &self.mutators {
            m.admit(attrs, object).await?;
        }
        Ok(())
    }

    pub async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        for v in &self.validators {
            v.validate(attrs).await?;
        }
        Ok(())
    }
}

/// The built-in plugins in upstream's order, less those `--disable-admission-plugins` names
/// (all of these are on by default upstream); with RBAC, its escalation checks run among the
/// validators.
pub fn built_in(
    catalog: &Catalog,
    hub: &Arc<Hub>,
    disabled: &[String],
    authorizer: &Authorizer,
) -> Chain {
    let mut mutators: Vec<Arc<dyn Mutator>> = Vec::new();
    let mut validators: Vec<Arc<dyn Validator>> = Vec::new();
    let enabled = |name: &str| !disabled.iter().any(|p| p == name);
    if let Some(ns) = catalog.store("namespaces")
        && enabled("NamespaceLifecycle")
    {
        let lifecycle = Arc::new(NamespaceLifecycle::new(
            ns.storage.clone(),
            ns.prefix.clone(),
            hub.clone(),
        ));
        mutators.push(lifecycle.clone());
        validators.push(lifecycle);
    }
    if let Some(ranges) = catalog.store("limitranges")
        && enabled("LimitRanger")
    {
        let limit_ranger = Arc::new(LimitRanger::new(
            ranges.storage.clone(),
            ranges.prefix.clone(),
        ));
        mutators.push(limit_ranger.clone());
        validators.push(limit_ranger);
    }
    if authorizer.uses_rbac() {
        validators.push(Arc::new(EscalationCheck::new(authorizer.clone())));
    }
    if let Some(classes) = catalog.store("priorityclasses")
        && enabled("Priority")
    {
        let priority = Arc::new(Priority::new(
            classes.storage.clone(),
            classes.prefix.clone(),
        ));
        mutators.push(priority.clone());
        validators.push(priority);
    }
    if let Some(classes) = catalog.store("storageclasses")
        && enabled("DefaultStorageClass")
    {
        mutators.push(Arc::new(DefaultStorageClass::new(
            classes.storage.clone(),
            classes.prefix.clone(),
        )));
    }
    // Upstream's order: RuntimeClass comes after Priority.
    if let Some(classes) = catalog.store("runtimeclasses")
        && enabled("RuntimeClass")
    {
        let runtime_class = Arc::new(RuntimeClass::new(
            classes.storage.clone(),
            classes.prefix.clone(),
        ));
        mutators.push(runtime_class.clone());
        validators.push(runtime_class);
    }
    Chain::new(mutators, validators)
}
