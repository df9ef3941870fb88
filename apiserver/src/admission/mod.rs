//! Admission: checks every write goes through after validation and before storage. The chain
//! holds the built-in plugins enabled by `--enable-admission-plugins`; webhooks come later.

mod namespace_lifecycle;

pub use namespace_lifecycle::NamespaceLifecycle;

use crate::authn::user::UserInfo;
use crate::errors::Result;
use crate::registry::ResourceInfo;
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

/// The plugins in order; the first refusal wins.
#[derive(Clone, Default)]
pub struct Chain {
    validators: Vec<Arc<dyn Validator>>,
}

impl Chain {
    pub fn new(validators: Vec<Arc<dyn Validator>>) -> Self {
        Self { validators }
    }

    pub async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        for v in &self.validators {
            v.validate(attrs).await?;
        }
        Ok(())
    }
}
