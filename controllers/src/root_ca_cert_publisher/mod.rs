//! The root CA certificate publisher (upstream `pkg/controller/certificates/rootcacertpublisher`):
//! every namespace holds a ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA, so pods
//! can verify the apiserver. A ConfigMap that is deleted is created again; one whose data or
//! description annotation was changed is put back.

use crate::client::{self, NAMESPACE_TERMINATING_CAUSE, has_cause, is_not_found};
use crate::queue::{self, Backoff};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

/// The controller's name (upstream `names.RootCACertificatePublisherController`).
pub const NAME: &str = "root-ca-certificate-publisher-controller";

/// The ConfigMap published in every namespace.
pub const CONFIG_MAP_NAME: &str = "kube-root-ca.crt";
/// Its one data key.
pub const CA_KEY: &str = "ca.crt";
/// The annotation describing what the ConfigMap is for, and upstream's text for it.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the \
     kube-apiserver when using internal endpoints such as the internal service IP or \
     kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes \
     clusters.";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{verb} ConfigMap {namespace}/{CONFIG_MAP_NAME}: {}", client::message(.source))]
    Api {
        verb: &'static str,
        namespace: String,
        #[source]
        source: kube::Error,
    },
}

struct Context {
    client: kube::Client,
    /// Reads go through the watch identity, as upstream's read listers: the controller's
    /// own role only lets it write.
    reader: kube::Client,
    /// The CA bundle, as text (PEM).
    ca: String,
    backoff: Backoff,
}

/// Runs the controller until the process stops, publishing `ca` (PEM); it writes through
/// `client` and watches through `watch`.
pub async fn run(client: kube::Client, watch: kube::Client, ca: Vec<u8>) {
    let ctx = Arc::new(Context {
        client,
        reader: watch.clone(),
        ca: String::from_utf8_lossy(&ca).into_owned(),
        backoff: Backoff::default(),
    });
    let ours = watcher::Config::default().fields(&format!("metadata.name={CONFIG_MAP_NAME}"));
    let stream = Controller::new(
        Api::<Namespace>::all(watch.clone()),
        watcher::Config::default(),
    )
    // A changed or deleted ConfigMap brings its namespace back for a sync.
    .watches(Api::<ConfigMap>::all(watch), ours, |cm| {
        cm.metadata.namespace.as_deref().map(ObjectRef::new)
    })
    .with_config(controller::Config::default().concurrency(1))
    .run(reconcile, error_policy, ctx);
    queue::drive(NAME, stream).await;
}

/// What the ConfigMap in a namespace needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// It is as it should be.
    None,
    /// It is missing; create this.
    Create(ConfigMap),
    /// It differs; replace it with this (the existing object, corrected).
    Update(ConfigMap),
}

fn wanted_data(ca: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(CA_KEY.to_string(), ca.to_string())])
}

/// Compares the ConfigMap in `namespace` (if any) with what it should hold. As upstream, the
/// data must be exactly `ca.crt` and the description annotation must be present (any text);
/// other metadata is left alone.
pub fn plan(namespace: &str, existing: Option<&ConfigMap>, ca: &str) -> Change {
    let data = wanted_data(ca);
    let Some(cm) = existing else {
        return Change::Create(ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP_NAME.to_string()),
                namespace: Some(namespace.to_string()),
                annotations: Some(BTreeMap::from([(
                    DESCRIPTION_ANNOTATION.to_string(),
                    DESCRIPTION.to_string(),
                )])),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        });
    };
    let described = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
        .is_some_and(|d| !d.is_empty());
    if cm.data.as_ref() == Some(&data) && described {
        return Change::None;
    }
    let mut fixed = cm.clone();
    fixed.data = Some(data);
    fixed
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string());
    Change::Update(fixed)
}

/// Whether a failed create needs no retry: the namespace is gone or being deleted.
pub fn create_error_is_final(err: &kube::Error) -> bool {
    is_not_found(err) || has_cause(err, NAMESPACE_TERMINATING_CAUSE)
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = crate::metrics::WorkTimer::start("root_ca_cert_publisher");
    let namespace = ns.metadata.name.clone().unwrap_or_default();
    let span = tracing::info_span!(
        "reconcile",
        controller = NAME,
        namespace = %namespace,
        name = %CONFIG_MAP_NAME,
    );
    async move {
        // Nothing new may be created in a namespace being deleted, and its content is going.
        if ns.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &namespace);
        let err = |verb| {
            let namespace = namespace.clone();
            move |source| Error::Api {
                verb,
                namespace,
                source,
            }
        };
        let existing = Api::<ConfigMap>::namespaced(ctx.reader.clone(), &namespace)
            .get_opt(CONFIG_MAP_NAME)
            .await
            .map_err(err("reading"))?;
        match plan(&namespace, existing.as_ref(), &ctx.ca) {
            Change::None => {}
            Change::Create(cm) => match api.create(&PostParams::default(), &cm).await {
                Ok(_) => tracing::info!("Published ConfigMap {namespace}/{CONFIG_MAP_NAME}."),
                Err(e) if create_error_is_final(&e) => {}
                Err(e) => return Err(err("creating")(e)),
            },
            Change::Update(cm) => {
                api.replace(CONFIG_MAP_NAME, &PostParams::default(), &cm)
                    .await
                    .map_err(err("updating"))?;
                tracing::info!("Restored ConfigMap {namespace}/{CONFIG_MAP_NAME}.");
            }
        }
        ctx.backoff.forget(&namespace);
        Ok(Action::await_change())
    }
    .instrument(span)
    .await
}

fn error_policy(ns: Arc<Namespace>, err: &Error, ctx: Arc<Context>) -> Action {
    let namespace = ns.metadata.name.as_deref().unwrap_or_default();
    let delay = ctx.backoff.next_delay(namespace);
    tracing::warn!("Syncing namespace {namespace} failed: {err}. Retrying in {delay:?}.");
    Action::requeue(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::testing::{api_error, not_found, terminating};

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn published() -> ConfigMap {
        match plan("x", None, CA) {
            Change::Create(cm) => cm,
            other => panic!("expected a create, got {other:?}"),
        }
    }

    #[test]
    fn creates_the_config_map_with_upstreams_annotation() {
        let cm = published();
        assert_eq!(cm.metadata.name.as_deref(), Some("kube-root-ca.crt"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("x"));
        assert_eq!(cm.data.as_ref().unwrap()["ca.crt"], CA);
        assert_eq!(
            cm.metadata.annotations.as_ref().unwrap()["kubernetes.io/description"],
            "Contains a CA bundle that can be used to verify the kube-apiserver when using \
             internal endpoints such as the internal service IP or kubernetes.default.svc. No \
             other usage is guaranteed across distributions of Kubernetes clusters."
        );
    }

    #[test]
    fn leaves_a_correct_config_map_alone() {
        let mut cm = published();
        // Other metadata and a reworded description are the user's business.
        cm.metadata.labels = Some(BTreeMap::from([("a".to_string(), "b".to_string())]));
        cm.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(DESCRIPTION_ANNOTATION.to_string(), "mine".to_string());
        assert_eq!(plan("x", Some(&cm), CA), Change::None);
    }

    #[test]
    fn restores_changed_data_and_a_missing_annotation() {
        let mut cm = published();
        cm.metadata.resource_version = Some("7".to_string());
        cm.data
            .as_mut()
            .unwrap()
            .insert("extra".to_string(), "x".to_string());
        cm.metadata.annotations = None;
        let Change::Update(fixed) = plan("x", Some(&cm), CA) else {
            panic!("expected an update");
        };
        assert_eq!(fixed.data, Some(wanted_data(CA)));
        assert_eq!(
            fixed.metadata.annotations.as_ref().unwrap()[DESCRIPTION_ANNOTATION],
            DESCRIPTION
        );
        // The update is conditional on the version read.
        assert_eq!(fixed.metadata.resource_version.as_deref(), Some("7"));

        let mut stale = published();
        stale
            .data
            .as_mut()
            .unwrap()
            .insert(CA_KEY.to_string(), "old".to_string());
        assert!(matches!(plan("x", Some(&stale), CA), Change::Update(_)));
    }

    #[test]
    fn gone_or_terminating_namespaces_are_not_retried() {
        assert!(create_error_is_final(&not_found("namespaces \"x\"")));
        assert!(create_error_is_final(&terminating("x")));
        assert!(!create_error_is_final(&api_error(
            500,
            "InternalError",
            "etcd"
        )));
    }
}
