//! The controller table: every controller's canonical name (upstream's
//! `cmd/kube-controller-manager/names`), its old aliases, whether `*` enables it, and how it
//! starts. Also the `--controllers` selection and starting the selected ones side by side.

use crate::informer::Informers;
use crate::{
    Error, Result, bootstrap, client, clusterroleaggregation, cronjob, csrapproving, csrcleaner,
    csrsigning, daemonset, deployment, disruption, endpoint, endpointslice, endpointslicemirroring,
    ephemeral, garbagecollector, job, legacytokencleaner, namespace, nodeipam, nodelifecycle,
    podautoscaler, podgc, pvbinder, pvcprotection, pvprotection, replicaset, resourcequota,
    root_ca_cert_publisher, serviceaccount, statefulset, tainteviction, ttl, ttlafterfinished,
};
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ReplicationController;
use std::sync::Arc;

/// What controllers need besides a client.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The CA bundle (PEM) to publish in every namespace.
    pub root_ca: Option<Vec<u8>>,
    /// `--service-account-private-key-file`: what signs legacy service account tokens.
    pub service_account_key: Option<Arc<apimachinery::keys::SigningKey>>,
    /// How many namespaces the namespace controller empties at once.
    pub concurrent_namespace_syncs: u16,
    /// How many ReplicaSets the replicaset controller syncs at once.
    pub concurrent_replicaset_syncs: u16,
    /// How many ReplicationControllers their controller syncs at once.
    pub concurrent_rc_syncs: u16,
    /// How many workers the garbage collector runs.
    pub concurrent_gc_syncs: u16,
    /// How many Deployments the deployment controller syncs at once.
    pub concurrent_deployment_syncs: u16,
    /// How many DaemonSets their controller syncs at once.
    pub concurrent_daemonset_syncs: u16,
    /// How many StatefulSets their controller syncs at once.
    pub concurrent_statefulset_syncs: u16,
    /// How many Jobs the job controller syncs at once.
    pub concurrent_job_syncs: u16,
    /// How many CronJobs the cronjob controller syncs at once.
    pub concurrent_cron_job_syncs: u16,
    /// How many finished Jobs the TTL controller deletes at once.
    pub concurrent_ttl_after_finished_syncs: u16,
    /// How many Services the endpoints controller syncs at once.
    pub concurrent_endpoint_syncs: u16,
    /// How many Services the endpointslice controller syncs at once.
    pub concurrent_service_endpoint_syncs: u16,
    /// The most endpoints in one EndpointSlice.
    pub max_endpoints_per_slice: u16,
    /// How many Endpoints the mirroring controller syncs at once.
    pub mirroring_syncs: u16,
    /// How many ResourceQuotas the quota controller syncs at once.
    pub concurrent_resource_quota_syncs: u16,
    /// How often every quota's usage is recalculated.
    pub resource_quota_sync_period: std::time::Duration,
    /// Finished pods kept before the pod collector deletes the oldest (0: all kept).
    pub terminated_pod_gc_threshold: usize,
    /// How long a legacy service account token goes unused before it is invalidated, and
    /// then before it is deleted.
    pub legacy_token_clean_up_period: std::time::Duration,
    /// The CA that signs CertificateSigningRequests, if any.
    pub csr_signing: csrsigning::Settings,
    /// The node lifecycle controller's timing and pace.
    pub node_lifecycle: nodelifecycle::Settings,
    /// Where node pod CIDRs come from.
    pub node_ipam: nodeipam::Settings,
    /// The horizontal pod autoscaler's sync period, windows and tolerance.
    pub horizontal_pod_autoscaling: podautoscaler::Settings,
}

/// Why a controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The controller needs a CA bundle and none is known.
    #[error("no CA bundle to publish; pass --root-ca-file")]
    NoRootCa,
    /// The token controller has no key to sign with.
    #[error("no key to sign service account tokens with; pass --service-account-private-key-file")]
    NoServiceAccountKey,
}

/// Starts a controller with its own client, the settings, and the process's shared informers.
type Start =
    fn(kube::Client, &Settings, &Arc<Informers>) -> Result<BoxFuture<'static, ()>, StartError>;

/// One entry of the controller table.
pub struct Descriptor {
    /// The canonical name, used in `--controllers` and in logs.
    pub name: &'static str,
    /// Older names `--controllers` still accepts.
    pub aliases: &'static [&'static str],
    /// Whether `*` enables it.
    pub enabled_by_default: bool,
    start: Start,
}

impl std::fmt::Debug for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every controller ferrokube has, in upstream's start order.
pub const CONTROLLERS: &[Descriptor] = &[
    // Upstream starts the token controller before all others.
    Descriptor {
        name: serviceaccount::tokens::NAME,
        aliases: &["serviceaccount-token"],
        enabled_by_default: true,
        start: |client, settings, _| {
            let key = settings
                .service_account_key
                .clone()
                .ok_or(StartError::NoServiceAccountKey)?;
            let ca = settings.root_ca.clone().ok_or(StartError::NoRootCa)?;
            Ok(Box::pin(serviceaccount::tokens::run(client, key, ca)))
        },
    },
    Descriptor {
        name: serviceaccount::NAME,
        aliases: &["serviceaccount"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(serviceaccount::run(client, informers.client()))),
    },
    Descriptor {
        name: namespace::NAME,
        aliases: &["namespace"],
        enabled_by_default: true,
        start: |client, settings, _| {
            Ok(Box::pin(namespace::run(
                client,
                settings.concurrent_namespace_syncs,
            )))
        },
    },
    Descriptor {
        name: root_ca_cert_publisher::NAME,
        aliases: &["root-ca-cert-publisher"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            let ca = settings.root_ca.clone().ok_or(StartError::NoRootCa)?;
            Ok(Box::pin(root_ca_cert_publisher::run(
                client,
                informers.client(),
                ca,
            )))
        },
    },
    Descriptor {
        name: replicaset::NAME,
        aliases: &["replicaset"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(replicaset::run::<ReplicaSet>(
                client,
                informers.clone(),
                settings.concurrent_replicaset_syncs,
            )))
        },
    },
    Descriptor {
        name: replicaset::RC_NAME,
        aliases: &["replicationcontroller"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(replicaset::run::<ReplicationController>(
                client,
                informers.clone(),
                settings.concurrent_rc_syncs,
            )))
        },
    },
    Descriptor {
        name: deployment::NAME,
        aliases: &["deployment"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(deployment::run(
                client,
                informers.clone(),
                settings.concurrent_deployment_syncs,
            )))
        },
    },
    Descriptor {
        name: endpoint::NAME,
        aliases: &["endpoint"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(endpoint::run(
                client,
                informers.clone(),
                settings.concurrent_endpoint_syncs,
            )))
        },
    },
    Descriptor {
        name: endpointslice::NAME,
        aliases: &["endpointslice"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(endpointslice::run(
                client,
                informers.clone(),
                settings.concurrent_service_endpoint_syncs,
                settings.max_endpoints_per_slice,
            )))
        },
    },
    Descriptor {
        name: endpointslicemirroring::NAME,
        aliases: &["endpointslicemirroring"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(endpointslicemirroring::run(
                client,
                informers.clone(),
                settings.mirroring_syncs,
            )))
        },
    },
    Descriptor {
        name: resourcequota::NAME,
        aliases: &["resourcequota"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(resourcequota::run(
                client,
                informers.clone(),
                settings.concurrent_resource_quota_syncs,
                settings.resource_quota_sync_period,
            )))
        },
    },
    Descriptor {
        name: podgc::NAME,
        aliases: &["podgc"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(podgc::run(
                client,
                informers.clone(),
                settings.terminated_pod_gc_threshold,
            )))
        },
    },
    Descriptor {
        name: garbagecollector::NAME,
        aliases: &["garbagecollector"],
        enabled_by_default: true,
        start: |client, settings, _| {
            Ok(Box::pin(garbagecollector::run(
                client,
                settings.concurrent_gc_syncs,
            )))
        },
    },
    Descriptor {
        name: clusterroleaggregation::NAME,
        aliases: &["clusterrole-aggregation"],
        enabled_by_default: true,
        start: |client, _, informers| {
            Ok(Box::pin(clusterroleaggregation::run(
                client,
                informers.clone(),
            )))
        },
    },
    Descriptor {
        name: bootstrap::signer::NAME,
        aliases: &["bootstrapsigner"],
        enabled_by_default: false,
        start: |client, _, informers| {
            Ok(Box::pin(bootstrap::signer::run(client, informers.clone())))
        },
    },
    Descriptor {
        name: bootstrap::cleaner::NAME,
        aliases: &["tokencleaner"],
        enabled_by_default: false,
        start: |client, _, informers| {
            Ok(Box::pin(bootstrap::cleaner::run(client, informers.clone())))
        },
    },
    Descriptor {
        name: csrsigning::NAME,
        aliases: &["csrsigning"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(csrsigning::run(
                client,
                informers.clone(),
                settings.csr_signing.clone(),
            )))
        },
    },
    Descriptor {
        name: csrapproving::NAME,
        aliases: &["csrapproving"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(csrapproving::run(client, informers.clone()))),
    },
    Descriptor {
        name: csrcleaner::NAME,
        aliases: &["csrcleaner"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(csrcleaner::run(client, informers.clone()))),
    },
    Descriptor {
        name: legacytokencleaner::NAME,
        aliases: &["legacy-service-account-token-cleaner"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(legacytokencleaner::run(
                client,
                informers.clone(),
                settings.legacy_token_clean_up_period,
            )))
        },
    },
    Descriptor {
        name: ttl::NAME,
        aliases: &["ttl"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(ttl::run(client, informers.clone()))),
    },
    Descriptor {
        name: nodeipam::NAME,
        aliases: &["nodeipam"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(nodeipam::run(
                client,
                informers.clone(),
                settings.node_ipam.clone(),
            )))
        },
    },
    Descriptor {
        name: nodelifecycle::NAME,
        aliases: &["nodelifecycle"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(nodelifecycle::run(
                client,
                informers.clone(),
                settings.node_lifecycle.clone(),
            )))
        },
    },
    Descriptor {
        name: tainteviction::NAME,
        aliases: &[],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(tainteviction::run(client, informers.clone()))),
    },
    Descriptor {
        name: ephemeral::NAME,
        aliases: &["ephemeral-volume"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(ephemeral::run(client, informers.clone()))),
    },
    Descriptor {
        name: pvcprotection::NAME,
        aliases: &["pvc-protection"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(pvcprotection::run(client, informers.clone()))),
    },
    Descriptor {
        name: pvprotection::NAME,
        aliases: &["pv-protection"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(pvprotection::run(client, informers.clone()))),
    },
    Descriptor {
        name: pvbinder::NAME,
        aliases: &["persistentvolume-binder"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(pvbinder::run(client, informers.clone()))),
    },
    Descriptor {
        name: daemonset::NAME,
        aliases: &["daemonset"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(daemonset::run(
                client,
                informers.clone(),
                settings.concurrent_daemonset_syncs,
            )))
        },
    },
    Descriptor {
        name: statefulset::NAME,
        aliases: &["statefulset"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(statefulset::run(
                client,
                informers.clone(),
                settings.concurrent_statefulset_syncs,
            )))
        },
    },
    Descriptor {
        name: job::NAME,
        aliases: &["job"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(job::run(
                client,
                informers.clone(),
                settings.concurrent_job_syncs,
            )))
        },
    },
    Descriptor {
        name: cronjob::NAME,
        aliases: &["cronjob"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(cronjob::run(
                client,
                informers.clone(),
                settings.concurrent_cron_job_syncs,
            )))
        },
    },
    Descriptor {
        name: ttlafterfinished::NAME,
        aliases: &["ttl-after-finished"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(ttlafterfinished::run(
                client,
                informers.clone(),
                settings.concurrent_ttl_after_finished_syncs,
            )))
        },
    },
    Descriptor {
        name: disruption::NAME,
        aliases: &["disruption"],
        enabled_by_default: true,
        start: |client, _, informers| Ok(Box::pin(disruption::run(client, informers.clone()))),
    },
    Descriptor {
        name: podautoscaler::NAME,
        aliases: &["horizontalpodautoscaling"],
        enabled_by_default: true,
        start: |client, settings, informers| {
            Ok(Box::pin(podautoscaler::run(
                client,
                informers.clone(),
                settings.horizontal_pod_autoscaling.clone(),
            )))
        },
    },
];

fn lookup(name: &str) -> Option<&'static Descriptor> {
    CONTROLLERS
        .iter()
        .find(|d| d.name == name || d.aliases.contains(&name))
}

/// The controllers `--controllers` selects. As upstream, the first entry naming a controller
/// (`foo` or `-foo`) decides for it; otherwise `*` enables those on by default. Aliases count as
/// their controller's name.
pub fn enabled(flags: &[String]) -> Result<Vec<&'static Descriptor>> {
    let mut choices: Vec<(&'static str, bool)> = Vec::new();
    let mut star = false;
    for flag in flags.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
        if flag == "*" {
            star = true;
            continue;
        }
        let (name, on) = match flag.strip_prefix('-') {
            Some(rest) => (rest, false),
            None => (flag, true),
        };
        let d = lookup(name).ok_or_else(|| Error::UnknownController(name.to_string()))?;
        if !choices.iter().any(|(n, _)| *n == d.name) {
            choices.push((d.name, on));
        }
    }
    Ok(CONTROLLERS
        .iter()
        .filter(|d| match choices.iter().find(|(n, _)| *n == d.name) {
            Some((_, on)) => *on,
            None => star && d.enabled_by_default,
        })
        .collect())
}

/// The service account a controller runs as with `--use-service-account-credentials`:
/// upstream's client name for it, to which its bootstrap policy binds
/// `system:controller:<account>`.
pub fn service_account(controller: &str) -> Option<&'static str> {
    Some(match controller {
        serviceaccount::NAME => "service-account-controller",
        namespace::NAME => "namespace-controller",
        root_ca_cert_publisher::NAME => "root-ca-cert-publisher",
        replicaset::NAME => "replicaset-controller",
        replicaset::RC_NAME => "replication-controller",
        deployment::NAME => "deployment-controller",
        endpoint::NAME => "endpoint-controller",
        endpointslice::NAME => "endpointslice-controller",
        endpointslicemirroring::NAME => "endpointslicemirroring-controller",
        resourcequota::NAME => "resourcequota-controller",
        podgc::NAME => "pod-garbage-collector",
        garbagecollector::NAME => "generic-garbage-collector",
        clusterroleaggregation::NAME => "clusterrole-aggregation-controller",
        bootstrap::signer::NAME => "bootstrap-signer",
        bootstrap::cleaner::NAME => "token-cleaner",
        csrsigning::NAME | csrapproving::NAME | csrcleaner::NAME => "certificate-controller",
        legacytokencleaner::NAME => "legacy-service-account-token-cleaner",
        ttl::NAME => "ttl-controller",
        // Upstream's taint eviction controller uses the node controller's role.
        nodeipam::NAME | nodelifecycle::NAME | tainteviction::NAME => "node-controller",
        ephemeral::NAME => "ephemeral-volume-controller",
        pvcprotection::NAME => "pvc-protection-controller",
        pvprotection::NAME => "pv-protection-controller",
        pvbinder::NAME => "persistent-volume-binder",
        daemonset::NAME => "daemon-set-controller",
        statefulset::NAME => "statefulset-controller",
        job::NAME => "job-controller",
        cronjob::NAME => "cronjob-controller",
        ttlafterfinished::NAME => "ttl-after-finished-controller",
        disruption::NAME => "disruption-controller",
        podautoscaler::NAME => "horizontal-pod-autoscaler",
        _ => return None,
    })
}

/// Starts `controllers`, each with its own client (under its own service account when
/// `service_accounts`), and waits until all have stopped. A controller that cannot start or
/// that stops is reported; the others keep running.
pub async fn run(
    config: &kube::Config,
    settings: &Settings,
    controllers: &[&'static Descriptor],
    service_accounts: bool,
) -> Result<()> {
    let credentials = if service_accounts {
        Some(crate::service_account_credentials::Credentials::new(
            config,
        )?)
    } else {
        None
    };
    let mut tasks = tokio::task::JoinSet::new();
    // As upstream, the informers watch under an identity of their own.
    let informers = Arc::new(Informers::new(client::for_controller(
        config,
        "shared-informers",
    )?));
    for &d in controllers {
        // A controller without an account of its own (the token controller, as upstream's:
        // the accounts whose tokens it writes may be the other controllers') runs as the
        // manager itself.
        let client = match (&credentials, service_account(d.name)) {
            (Some(c), Some(account)) => c.client(d.name, account).await?,
            _ => client::for_controller(config, d.name)?,
        };
        match (d.start)(client, settings, &informers) {
            Ok(fut) => {
                tasks.spawn(async move {
                    fut.await;
                    d.name
                });
            }
            Err(e) => tracing::error!("Not starting the {}: {e}.", d.name),
        }
    }
    if tasks.is_empty() {
        tracing::warn!("No controllers are enabled.");
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(name) => tracing::warn!("The {name} stopped."),
            Err(e) => tracing::error!("A controller failed: {e}."),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(flags: &[&str]) -> Vec<&'static str> {
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        enabled(&flags).unwrap().iter().map(|d| d.name).collect()
    }

    #[test]
    fn every_controller_has_upstreams_service_account() {
        for d in CONTROLLERS {
            assert_eq!(
                service_account(d.name).is_some(),
                d.name != serviceaccount::tokens::NAME,
                "{}",
                d.name
            );
        }
        assert_eq!(
            service_account(tainteviction::NAME),
            Some("node-controller")
        );
    }

    #[test]
    fn star_enables_the_defaults() {
        assert_eq!(
            names(&["*"]),
            vec![
                "serviceaccount-token-controller",
                "serviceaccount-controller",
                "namespace-controller",
                "root-ca-certificate-publisher-controller",
                "replicaset-controller",
                "replicationcontroller-controller",
                "deployment-controller",
                "endpoints-controller",
                "endpointslice-controller",
                "endpointslice-mirroring-controller",
                "resourcequota-controller",
                "pod-garbage-collector-controller",
                "garbage-collector-controller",
                "clusterrole-aggregation-controller",
                "certificatesigningrequest-signing-controller",
                "certificatesigningrequest-approving-controller",
                "certificatesigningrequest-cleaner-controller",
                "legacy-serviceaccount-token-cleaner-controller",
                "ttl-controller",
                "node-ipam-controller",
                "node-lifecycle-controller",
                "taint-eviction-controller",
                "ephemeral-volume-controller",
                "persistentvolumeclaim-protection-controller",
                "persistentvolume-protection-controller",
                "persistentvolume-binder-controller",
                "daemonset-controller",
                "statefulset-controller",
                "job-controller",
                "cronjob-controller",
                "ttl-after-finished-controller",
                "disruption-controller",
                "horizontal-pod-autoscaler-controller"
            ]
        );
    }

    #[test]
    fn explicit_choices_win_over_star_and_accept_aliases() {
        assert_eq!(
            names(&["*", "-namespace"]),
            vec![
                "serviceaccount-token-controller",
                "serviceaccount-controller",
                "root-ca-certificate-publisher-controller",
                "replicaset-controller",
                "replicationcontroller-controller",
                "deployment-controller",
                "endpoints-controller",
                "endpointslice-controller",
                "endpointslice-mirroring-controller",
                "resourcequota-controller",
                "pod-garbage-collector-controller",
                "garbage-collector-controller",
                "clusterrole-aggregation-controller",
                "certificatesigningrequest-signing-controller",
                "certificatesigningrequest-approving-controller",
                "certificatesigningrequest-cleaner-controller",
                "legacy-serviceaccount-token-cleaner-controller",
                "ttl-controller",
                "node-ipam-controller",
                "node-lifecycle-controller",
                "taint-eviction-controller",
                "ephemeral-volume-controller",
                "persistentvolumeclaim-protection-controller",
                "persistentvolume-protection-controller",
                "persistentvolume-binder-controller",
                "daemonset-controller",
                "statefulset-controller",
                "job-controller",
                "cronjob-controller",
                "ttl-after-finished-controller",
                "disruption-controller",
                "horizontal-pod-autoscaler-controller"
            ]
        );
        assert_eq!(
            names(&["root-ca-cert-publisher"]),
            vec!["root-ca-certificate-publisher-controller"]
        );
        // The first entry naming a controller decides.
        assert_eq!(
            names(&["namespace-controller", "-namespace"]),
            vec!["namespace-controller"]
        );
        assert!(names(&[]).is_empty());
    }

    #[test]
    fn unknown_names_are_refused() {
        let err = enabled(&["*".to_string(), "-bogus".to_string()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"bogus\" is not in the list of known controllers"
        );
    }
}
