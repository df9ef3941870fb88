//! Admission: what every write goes through before storage. Mutating plugins may change the
//! object of a create or update before the strategy prepares and validates it; validating
//! plugins then accept or refuse it. The chain holds the built-in plugins; webhooks come later.

mod certificates;
mod default_ingress_class;
mod default_storage_class;
mod default_toleration_seconds;
mod limit_ranger;
mod matching;
mod namespace_lifecycle;
mod node_restriction;
mod persistent_volume_claim_resize;
mod pod_security;
mod priority;
mod request;
mod resource_quota;
mod runtime_class;
mod service_account;
mod source;
mod storage_object_in_use_protection;
mod taint_nodes_by_condition;
mod validating_admission_policy;
mod webhook;

pub use certificates::{CertificateApproval, CertificateSigning, CertificateSubjectRestriction};
pub use default_ingress_class::DefaultIngressClass;
pub use default_storage_class::DefaultStorageClass;
pub use default_toleration_seconds::DefaultTolerationSeconds;
pub use limit_ranger::LimitRanger;
pub use namespace_lifecycle::NamespaceLifecycle;
pub use node_restriction::NodeRestriction;
pub use persistent_volume_claim_resize::PersistentVolumeClaimResize;
pub use pod_security::PodSecurity;
pub use priority::Priority;
pub use resource_quota::ResourceQuota;
pub use runtime_class::RuntimeClass;
pub use service_account::ServiceAccount;
pub use source::Source;
pub use storage_object_in_use_protection::StorageObjectInUseProtection;
pub use taint_nodes_by_condition::TaintNodesByCondition;
pub use validating_admission_policy::ValidatingAdmissionPolicy;
pub use webhook::{MutatingWebhooks, ValidatingWebhooks};

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

impl Operation {
    /// As admission rules and reviews spell it.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
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
    /// Where plugins leave warnings for the client.
    pub warnings: &'a Warnings,
    /// Where plugins leave annotations for the request's audit event.
    pub annotations: &'a AuditAnnotations,
}

/// Warnings admission gives the client as `Warning` headers (shared by the request's steps).
#[derive(Clone, Default, Debug)]
pub struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

impl Warnings {
    pub fn add(&self, warning: impl Into<String>) {
        if let Ok(mut w) = self.0.lock() {
            w.push(warning.into());
        }
    }

    /// The warnings given so far, leaving none.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
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

/// Annotations admission adds to the request's audit event (shared by the request's steps).
/// As upstream, a key once set keeps its value.
#[derive(Clone, Default, Debug)]
pub struct AuditAnnotations(Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>);

impl AuditAnnotations {
    pub fn add(&self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if let Ok(mut a) = self.0.lock() {
            match a.get(&key) {
                Some(existing) if *existing != value => {
                    tracing::warn!(
                        key,
                        "admission annotations are not allowed to be overwritten"
                    );
                }
                _ => {
                    a.insert(key, value);
                }
            }
        }
    }

    /// The annotations added so far, leaving none.
    pub fn take(&self) -> std::collections::BTreeMap<String, String> {
        self.0
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default()
    }
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
    catalog: &Arc<Catalog>,
    hub: &Arc<Hub>,
    disabled: &[String],
    authorizer: &Authorizer,
) -> Chain {
    let mut mutators: Vec<Arc<dyn Mutator>> = Vec::new();
    let mut validators: Vec<Arc<dyn Validator>> = Vec::new();
    let enabled = |name: &str| !disabled.iter().any(|p| p == name);
    let source = |storage_path: &str| catalog.store(storage_path).map(|s| Source::of(&s));
    if let Some(ns) = source("namespaces")
        && enabled("NamespaceLifecycle")
    {
        let lifecycle = Arc::new(NamespaceLifecycle::new(ns, hub.clone()));
        mutators.push(lifecycle.clone());
        validators.push(lifecycle);
    }
    if let Some(ranges) = source("limitranges")
        && enabled("LimitRanger")
    {
        let limit_ranger = Arc::new(LimitRanger::new(ranges));
        mutators.push(limit_ranger.clone());
        validators.push(limit_ranger);
    }
    if let Some(accounts) = source("serviceaccounts")
        && enabled("ServiceAccount")
    {
        let service_account = Arc::new(ServiceAccount::new(accounts));
        mutators.push(service_account.clone());
        validators.push(service_account);
    }
    // Nodes are stored under upstream's old name for them.
    if let (Some(pods), Some(nodes)) = (source("pods"), source("minions"))
        && enabled("NodeRestriction")
    {
        validators.push(Arc::new(NodeRestriction::new(pods, nodes)));
    }
    if enabled("TaintNodesByCondition") {
        mutators.push(Arc::new(TaintNodesByCondition));
    }
    if let (Some(namespaces), Some(pods)) = (source("namespaces"), source("pods"))
        && enabled("PodSecurity")
    {
        validators.push(Arc::new(PodSecurity::new(namespaces, pods)));
    }
    if authorizer.uses_rbac() {
        validators.push(Arc::new(EscalationCheck::new(authorizer.clone())));
    }
    if let Some(classes) = source("priorityclasses")
        && enabled("Priority")
    {
        let priority = Arc::new(Priority::new(classes));
        mutators.push(priority.clone());
        validators.push(priority);
    }
    if enabled("DefaultTolerationSeconds") {
        mutators.push(Arc::new(DefaultTolerationSeconds));
    }
    if let Some(classes) = source("storageclasses")
        && enabled("DefaultStorageClass")
    {
        mutators.push(Arc::new(DefaultStorageClass::new(classes)));
    }
    if enabled("StorageObjectInUseProtection") {
        mutators.push(Arc::new(StorageObjectInUseProtection));
    }
    if let Some(classes) = source("storageclasses")
        && enabled("PersistentVolumeClaimResize")
    {
        validators.push(Arc::new(PersistentVolumeClaimResize::new(classes)));
    }
    // Upstream's order: RuntimeClass comes after Priority.
    if let Some(classes) = source("runtimeclasses")
        && enabled("RuntimeClass")
    {
        let runtime_class = Arc::new(RuntimeClass::new(classes));
        mutators.push(runtime_class.clone());
        validators.push(runtime_class);
    }
    if enabled("CertificateApproval") {
        validators.push(Arc::new(CertificateApproval::new(authorizer.clone())));
    }
    if enabled("CertificateSigning") {
        validators.push(Arc::new(CertificateSigning::new(authorizer.clone())));
    }
    if enabled("CertificateSubjectRestriction") {
        validators.push(Arc::new(CertificateSubjectRestriction));
    }
    if let Some(classes) = source("ingressclasses")
        && enabled("DefaultIngressClass")
    {
        mutators.push(Arc::new(DefaultIngressClass::new(classes)));
    }
    // Services and their EndpointSlices locate webhooks served inside the cluster.
    let resolver = match (source("services/specs"), source("endpointslices")) {
        (Some(services), Some(slices)) => Some(webhook::Resolver::new(services, slices)),
        _ => None,
    };
    if let (Some(configurations), Some(namespaces), Some(resolver)) = (
        source("mutatingwebhookconfigurations"),
        source("namespaces"),
        resolver.clone(),
    ) && enabled("MutatingAdmissionWebhook")
    {
        mutators.push(Arc::new(MutatingWebhooks {
            hooks: webhook::Hooks::new(configurations, namespaces, resolver, authorizer.clone()),
            catalog: catalog.clone(),
        }));
    }
    if let (Some(policies), Some(bindings), Some(namespaces)) = (
        source("validatingadmissionpolicies"),
        source("validatingadmissionpolicybindings"),
        source("namespaces"),
    ) && enabled("ValidatingAdmissionPolicy")
    {
        validators.push(Arc::new(ValidatingAdmissionPolicy::new(
            policies,
            bindings,
            namespaces,
            catalog.clone(),
            authorizer.clone(),
        )));
    }
    if let (Some(configurations), Some(namespaces), Some(resolver)) = (
        source("validatingwebhookconfigurations"),
        source("namespaces"),
        resolver,
    ) && enabled("ValidatingAdmissionWebhook")
    {
        validators.push(Arc::new(ValidatingWebhooks(webhook::Hooks::new(
            configurations,
            namespaces,
            resolver,
            authorizer.clone(),
        ))));
    }
    // Upstream's last plugin: only what every other plugin admitted is charged.
    if let Some(quotas) = source("resourcequotas")
        && enabled("ResourceQuota")
    {
        validators.push(Arc::new(ResourceQuota::new(quotas)));
    }
    Chain::new(mutators, validators)
}
