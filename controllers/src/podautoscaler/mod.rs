//! The horizontal pod autoscaler controller (upstream `pkg/controller/podautoscaler`): sets
//! the replica count of each HorizontalPodAutoscaler's target, any kind with a `scale`
//! subresource, from its pods' metrics.
//!
//! Timeline of one sync ([`reconcile`]): the target's kind resolved through discovery and its
//! Scale read ([`crate::scale`]; `AbleToScale`) -> a target at zero replicas is left alone
//! (autoscaling disabled), one outside `minReplicas`..`maxReplicas` is brought back inside ->
//! otherwise each metric proposes a count ([`compute`], from [`metrics`] through the
//! [`replicas`] calculator; `ScalingActive`) and the highest wins -> stabilized and limited
//! ([`behavior`]; `ScalingLimited`) -> the Scale written if the count changed -> the status
//! written if it changed ([`status`]).
//!
//! As upstream, every autoscaler is synced once per `--horizontal-pod-autoscaler-sync-period`:
//! a change to it (or a finished sync) queues it after that period, unless it is waiting
//! already. Failed syncs are not retried sooner. Recommendations and scale events live in
//! memory ([`behavior::History`]).

pub mod behavior;
pub mod compute;
pub mod metrics;
pub mod replicas;
pub mod status;

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informers};
use crate::workqueue::{WorkQueue, key_of};
use crate::{client, scale};
use apimachinery::labels::Selector;
use behavior::{History, Rules};
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, HorizontalPodAutoscalerStatus,
    MetricSpec, MetricStatus, MetricTarget, ResourceMetricSource,
};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tracing::Instrument;

/// The controller's name (upstream `names.HorizontalPodAutoscalerController`).
pub const NAME: &str = "horizontal-pod-autoscaler-controller";

/// The component upstream's autoscaler records its events as.
pub const EVENT_SOURCE: &str = "horizontal-pod-autoscaler";

/// The name of the queue (and of its metrics), upstream's.
const QUEUE: &str = "horizontalpodautoscaler";

/// The controller's flags.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often each autoscaler is synced.
    pub sync_period: Duration,
    /// How long scale-down recommendations are remembered (without `spec.behavior`, and as
    /// the default scale-down window with it).
    pub downscale_stabilization: Duration,
    /// The minimum change of the usage ratio (from 1.0) that changes the count.
    pub tolerance: f64,
    /// How long after a pod's start its CPU samples may be skipped.
    pub cpu_initialization_period: Duration,
    /// How long after a pod's start a readiness change counts as the initial one.
    pub initial_readiness_delay: Duration,
    /// How many autoscalers are synced at once.
    pub workers: u16,
}

impl Default for Settings {
    /// Upstream's defaults.
    fn default() -> Self {
        Self {
            sync_period: Duration::from_secs(15),
            downscale_stabilization: Duration::from_secs(300),
            tolerance: 0.1,
            cpu_initialization_period: Duration::from_secs(300),
            initial_readiness_delay: Duration::from_secs(30),
            workers: 5,
        }
    }
}

/// Why a sync failed. The messages are upstream's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `scaleTargetRef.apiVersion` does not parse.
    #[error("invalid API version in scale target reference: {0}")]
    InvalidApiVersion(String),
    /// Discovery knows no resource for the target's kind.
    #[error("unable to determine resource for scale target reference: {0}")]
    NoMapping(String),
    /// The target's Scale could not be read.
    #[error("failed to query scale subresource for {reference}: {message}")]
    GetScale { reference: String, message: String },
    /// No metric gave a usable count.
    #[error(
        "failed to compute desired number of replicas based on listed metrics for {reference}: {message}"
    )]
    ComputeReplicas { reference: String, message: String },
    /// Some metrics failed; the others were used.
    #[error("{0}")]
    InvalidMetrics(String),
    /// The target's Scale could not be written.
    #[error("failed to rescale {reference}: {message}")]
    Rescale { reference: String, message: String },
    /// The autoscaler's status could not be written.
    #[error("failed to update status for {name}: {}", client::message(.source))]
    Status {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Queues autoscalers after the sync period, each at most once at a time (client-go's
/// delaying queue keeps one entry per item).
struct Resync {
    queue: Arc<WorkQueue<String>>,
    period: Duration,
    waiting: Mutex<HashSet<String>>,
}

impl Resync {
    fn waiting(&self) -> MutexGuard<'_, HashSet<String>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn schedule(self: &Arc<Self>, key: String) {
        if !self.waiting().insert(key.clone()) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(me.period).await;
            me.waiting().remove(&key);
            me.queue.add(key);
        });
    }
}

struct Context {
    client: kube::Client,
    hpas: Store<HorizontalPodAutoscaler>,
    pods: Store<Pod>,
    recorder: Recorder,
    settings: Settings,
    histories: Mutex<HashMap<String, History>>,
    /// The pod selector each autoscaler last used, to find pods two of them scale.
    selectors: Mutex<HashMap<String, Selector>>,
    resync: Arc<Resync>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs the controller until the process stops.
pub async fn run(client: kube::Client, informers: Arc<Informers>, settings: Settings) {
    let hpa_informer = informers.get::<HorizontalPodAutoscaler>();
    let pod_informer = informers.get::<Pod>();
    let changes = hpa_informer.changes();
    hpa_informer.ready().await;
    pod_informer.ready().await;
    tracing::info!("Starting {NAME}.");

    let queue = WorkQueue::<String>::new(QUEUE);
    let resync = Arc::new(Resync {
        queue: queue.clone(),
        period: settings.sync_period,
        waiting: Mutex::new(HashSet::new()),
    });
    let ctx = Arc::new(Context {
        client: client.clone(),
        hpas: hpa_informer.store(),
        pods: pod_informer.store(),
        recorder: Recorder::new(client, EVENT_SOURCE),
        settings,
        histories: Mutex::new(HashMap::new()),
        selectors: Mutex::new(HashMap::new()),
        resync,
    });
    for hpa in ctx.hpas.state() {
        ctx.resync.schedule(key_of(&hpa.metadata));
    }
    let c = ctx.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        let mut changes = std::pin::pin!(changes);
        while let Some(change) = changes.next().await {
            match change {
                Change::Applied { new, .. } => c.resync.schedule(key_of(&new.metadata)),
                // Forgotten at its next sync, which finds it gone.
                Change::Deleted(_) => {}
                Change::Relisted => {
                    for hpa in c.hpas.state() {
                        c.resync.schedule(key_of(&hpa.metadata));
                    }
                }
            }
        }
    });

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..ctx.settings.workers.max(1) {
        let (ctx, queue) = (ctx.clone(), queue.clone());
        workers.spawn(async move {
            loop {
                let key = queue.take().await;
                if !sync(&ctx, &key).await {
                    ctx.resync.schedule(key.clone());
                }
                queue.done(&key);
            }
        });
    }
    while workers.join_next().await.is_some() {}
}

/// Syncs one autoscaler; true if it is gone.
async fn sync(ctx: &Arc<Context>, key: &str) -> bool {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    let Some(hpa) = ctx.hpas.get(&ObjectRef::new(name).within(namespace)) else {
        tracing::info!("Horizontal Pod Autoscaler {key} has been deleted.");
        lock(&ctx.histories).remove(key);
        lock(&ctx.selectors).remove(key);
        return true;
    };
    let span = crate::workqueue::reconcile_span(NAME, &hpa.metadata);
    let result = reconcile(ctx, &hpa, key).instrument(span).await;
    crate::metrics::global().sync(QUEUE, result.is_ok());
    if let Err(e) = result {
        tracing::warn!("Syncing HorizontalPodAutoscaler {key} failed: {e}.");
    }
    false
}

/// The status being built for one sync.
struct Draft {
    conditions: Vec<HorizontalPodAutoscalerCondition>,
    now: Timestamp,
}

impl Draft {
    fn set(&mut self, type_: &str, status: bool, reason: &str, message: impl Into<String>) {
        status::set_condition(
            &mut self.conditions,
            type_,
            status,
            reason,
            message.into(),
            self.now,
        );
    }
}

/// What the metrics came to.
struct Computed {
    replicas: i32,
    metric: String,
    statuses: Vec<MetricStatus>,
    /// Some metrics failed (the others were used).
    partial: Option<String>,
}

/// Upstream's `schema.ParseGroupVersion`: group and version, or the message of its error.
fn parse_group_version(api_version: &str) -> Result<(&str, &str), String> {
    if api_version.is_empty() {
        return Ok(("", ""));
    }
    match api_version.matches('/').count() {
        0 => Ok(("", api_version)),
        1 => Ok(scale::split_api_version(api_version)),
        _ => Err(format!("unexpected GroupVersion string: {api_version}")),
    }
}

async fn reconcile(
    ctx: &Arc<Context>,
    shared: &Arc<HorizontalPodAutoscaler>,
    key: &str,
) -> Result<(), Error> {
    let hpa = &**shared;
    let namespace = hpa.metadata.namespace.clone().unwrap_or_default();
    let spec = hpa.spec.clone().unwrap_or_default();
    let target = &spec.scale_target_ref;
    let reference = format!("{}/{}/{}", target.kind, namespace, target.name);
    let original = hpa.status.clone().unwrap_or_default();
    let mut draft = Draft {
        conditions: original.conditions.clone().unwrap_or_default(),
        now: Timestamp::now(),
    };

    // The target's Scale.
    let failed_get_scale = |draft: &mut Draft, message: &str| {
        ctx.recorder.record(
            hpa,
            EventType::Warning,
            "FailedGetScale",
            message.to_string(),
        );
        draft.set(
            status::ABLE_TO_SCALE,
            false,
            "FailedGetScale",
            format!("the HPA controller was unable to get the target's current scale: {message}"),
        );
    };
    let api_version = target.api_version.clone().unwrap_or_default();
    let (group, _) = match parse_group_version(&api_version) {
        Ok(gv) => gv,
        Err(message) => {
            failed_get_scale(&mut draft, &message);
            let new = with_conditions(&original, draft.conditions);
            update_status_if_needed(ctx, hpa, &original, new).await?;
            return Err(Error::InvalidApiVersion(message));
        }
    };
    let resource = match scale::by_group_kind(&ctx.client, group, &target.kind).await {
        Ok(Some((resource, _))) => resource,
        other => {
            let message = match other {
                Err(e) => client::message(&e),
                _ => format!("no matches for kind {:?} in group {group:?}", target.kind),
            };
            failed_get_scale(&mut draft, &message);
            let new = with_conditions(&original, draft.conditions);
            update_status_if_needed(ctx, hpa, &original, new).await?;
            return Err(Error::NoMapping(message));
        }
    };
    let mut target_scale = match scale::get(&ctx.client, &resource, &namespace, &target.name).await
    {
        Ok(s) => s,
        Err(e) => {
            let message = client::message(&e);
            failed_get_scale(&mut draft, &message);
            let new = with_conditions(&original, draft.conditions);
            update_status_if_needed(ctx, hpa, &original, new).await?;
            return Err(Error::GetScale { reference, message });
        }
    };
    draft.set(
        status::ABLE_TO_SCALE,
        true,
        "SucceededGetScale",
        "the HPA controller was able to get the target's current scale",
    );
    let current = target_scale
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    lock(&ctx.histories)
        .entry(key.to_string())
        .or_default()
        .record_initial(current, draft.now);

    let min = spec.min_replicas.unwrap_or(1);
    let max = spec.max_replicas;
    let mut statuses = Vec::new();
    let mut partial = None;
    let mut rescale_reason = String::new();
    let desired;
    let mut rescale = true;
    if current == 0 && min != 0 {
        desired = 0;
        rescale = false;
        draft.set(
            status::SCALING_ACTIVE,
            false,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
        );
    } else if current > max {
        rescale_reason = "Current number of replicas above Spec.MaxReplicas".to_string();
        desired = max;
    } else if current < min {
        rescale_reason = "Current number of replicas below Spec.MinReplicas".to_string();
        desired = min;
    } else {
        let computed =
            match compute_replicas(ctx, hpa, &mut draft, &target_scale, &spec.metrics).await {
                Ok(c) => c,
                Err((statuses, message)) => {
                    let new = current_and_metrics(&original, draft.conditions, current, statuses);
                    update_status_if_needed(ctx, hpa, &original, new).await?;
                    ctx.recorder.record(
                        hpa,
                        EventType::Warning,
                        "FailedComputeMetricsReplicas",
                        message.clone(),
                    );
                    return Err(Error::ComputeReplicas { reference, message });
                }
            };
        statuses = computed.statuses;
        partial = computed.partial;
        tracing::debug!(
            "Proposing {} desired replicas for {reference} from {}.",
            computed.replicas,
            computed.metric
        );
        let wanted = computed.replicas.max(0);
        if wanted > current {
            rescale_reason = format!("{} above target", computed.metric);
        }
        if wanted < current {
            rescale_reason = "All metrics below target".to_string();
        }
        let outcome = {
            let mut histories = lock(&ctx.histories);
            let history = histories.entry(key.to_string()).or_default();
            match &spec.behavior {
                None => history.normalize(
                    current,
                    wanted,
                    min,
                    max,
                    ctx.settings.downscale_stabilization,
                    draft.now,
                ),
                Some(b) => history.normalize_with_behaviors(
                    &Rules::scale_up(b.scale_up.as_ref()),
                    &Rules::scale_down(b.scale_down.as_ref(), ctx.settings.downscale_stabilization),
                    current,
                    wanted,
                    min,
                    max,
                    draft.now,
                ),
            }
        };
        draft.set(status::ABLE_TO_SCALE, true, outcome.able.0, outcome.able.1);
        draft.set(
            status::SCALING_LIMITED,
            outcome.limited.0,
            outcome.limited.1,
            outcome.limited.2,
        );
        desired = outcome.replicas;
        rescale = desired != current;
    }

    let desired = if rescale {
        target_scale
            .spec
            .get_or_insert_with(Default::default)
            .replicas = Some(desired);
        if let Err(e) = scale::update(&ctx.client, &resource, &namespace, &target_scale).await {
            let message = client::message(&e);
            ctx.recorder.record(
                hpa,
                EventType::Warning,
                "FailedRescale",
                format!("New size: {desired}; reason: {rescale_reason}; error: {message}"),
            );
            draft.set(
                status::ABLE_TO_SCALE,
                false,
                "FailedUpdateScale",
                format!("the HPA controller was unable to update the target scale: {message}"),
            );
            let new = current_and_metrics(&original, draft.conditions, current, statuses);
            update_status_if_needed(ctx, hpa, &original, new).await?;
            return Err(Error::Rescale { reference, message });
        }
        draft.set(
            status::ABLE_TO_SCALE,
            true,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
        );
        ctx.recorder.record(
            hpa,
            EventType::Normal,
            "SuccessfulRescale",
            format!("New size: {desired}; reason: {rescale_reason}"),
        );
        if let Some(b) = &spec.behavior {
            let mut histories = lock(&ctx.histories);
            histories
                .entry(key.to_string())
                .or_default()
                .store_scale_event(
                    &Rules::scale_up(b.scale_up.as_ref()),
                    &Rules::scale_down(b.scale_down.as_ref(), ctx.settings.downscale_stabilization),
                    current,
                    desired,
                    draft.now,
                );
        }
        tracing::info!(
            "Rescaled {reference} from {current} to {desired} replicas: {rescale_reason}."
        );
        desired
    } else {
        current
    };

    let new = HorizontalPodAutoscalerStatus {
        current_replicas: Some(current),
        desired_replicas: desired,
        last_scale_time: if rescale {
            Some(Time(draft.now))
        } else {
            original.last_scale_time.clone()
        },
        current_metrics: (!statuses.is_empty()).then_some(statuses),
        conditions: Some(draft.conditions),
        observed_generation: None,
    };
    update_status_if_needed(ctx, hpa, &original, new).await?;
    match partial {
        Some(message) => Err(Error::InvalidMetrics(message)),
        None => Ok(()),
    }
}

/// The old status with new conditions.
fn with_conditions(
    original: &HorizontalPodAutoscalerStatus,
    conditions: Vec<HorizontalPodAutoscalerCondition>,
) -> HorizontalPodAutoscalerStatus {
    HorizontalPodAutoscalerStatus {
        conditions: Some(conditions),
        ..original.clone()
    }
}

/// The old status with the current count, these metrics and new conditions (upstream's
/// `setCurrentReplicasAndMetricsInStatus`).
fn current_and_metrics(
    original: &HorizontalPodAutoscalerStatus,
    conditions: Vec<HorizontalPodAutoscalerCondition>,
    current: i32,
    statuses: Vec<MetricStatus>,
) -> HorizontalPodAutoscalerStatus {
    HorizontalPodAutoscalerStatus {
        current_replicas: Some(current),
        desired_replicas: original.desired_replicas,
        last_scale_time: original.last_scale_time.clone(),
        current_metrics: (!statuses.is_empty()).then_some(statuses),
        conditions: Some(conditions),
        observed_generation: None,
    }
}

/// Writes the status (an update, so a stale autoscaler conflicts) unless it is unchanged.
async fn update_status_if_needed(
    ctx: &Context,
    hpa: &HorizontalPodAutoscaler,
    original: &HorizontalPodAutoscalerStatus,
    new: HorizontalPodAutoscalerStatus,
) -> Result<(), Error> {
    if normalized(original) == normalized(&new) {
        return Ok(());
    }
    let namespace = hpa.metadata.namespace.clone().unwrap_or_default();
    let name = hpa.metadata.name.clone().unwrap_or_default();
    let mut updated = hpa.clone();
    updated.status = Some(new);
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &namespace);
    match api
        .replace_status(&name, &PostParams::default(), &updated)
        .await
    {
        Ok(_) => Ok(()),
        Err(source) => {
            ctx.recorder.record(
                hpa,
                EventType::Warning,
                "FailedUpdateStatus",
                client::message(&source),
            );
            Err(Error::Status { name, source })
        }
    }
}

/// A status compared as upstream's semantic equality does: an empty list is no list.
fn normalized(s: &HorizontalPodAutoscalerStatus) -> HorizontalPodAutoscalerStatus {
    let mut s = s.clone();
    if s.current_metrics.as_ref().is_some_and(Vec::is_empty) {
        s.current_metrics = None;
    }
    if s.conditions.as_ref().is_some_and(Vec::is_empty) {
        s.conditions = None;
    }
    s
}

/// The metric the apiserver defaults an autoscaler without metrics to (80% CPU).
fn default_metrics() -> Vec<MetricSpec> {
    vec![MetricSpec {
        type_: "Resource".to_string(),
        resource: Some(ResourceMetricSource {
            name: "cpu".to_string(),
            target: MetricTarget {
                type_: "Utilization".to_string(),
                average_utilization: Some(80),
                ..Default::default()
            },
        }),
        ..Default::default()
    }]
}

/// The highest count the metrics propose (upstream's `computeReplicasForMetrics`). Fails,
/// with the metrics' statuses and the message, when the selector is unusable, when every
/// metric failed, or when some failed and the rest would scale down.
async fn compute_replicas(
    ctx: &Arc<Context>,
    hpa: &HorizontalPodAutoscaler,
    draft: &mut Draft,
    target_scale: &k8s_openapi::api::autoscaling::v1::Scale,
    specs: &Option<Vec<MetricSpec>>,
) -> Result<Computed, (Vec<MetricStatus>, String)> {
    let namespace = hpa.metadata.namespace.clone().unwrap_or_default();
    let key = key_of(&hpa.metadata);
    let selector_text = target_scale
        .status
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    let pods = match validate_selector(ctx, hpa, draft, &key, &namespace, &selector_text) {
        Ok(pods) => pods,
        Err(message) => return Err((Vec::new(), message)),
    };
    let specs = match specs {
        Some(s) if !s.is_empty() => s.clone(),
        _ => default_metrics(),
    };
    let spec_replicas = target_scale
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    let inputs = compute::Inputs {
        client: &ctx.client,
        calculator: replicas::Calculator {
            tolerance: ctx.settings.tolerance,
            cpu_initialization_period: ctx.settings.cpu_initialization_period,
            initial_readiness_delay: ctx.settings.initial_readiness_delay,
        },
        namespace: &namespace,
        selector: &selector_text,
        pods: &pods,
        spec_replicas,
        now: draft.now,
    };
    let mut statuses = Vec::with_capacity(specs.len());
    let (mut replicas, mut metric) = (0, String::new());
    let mut failures: Vec<compute::Failure> = Vec::new();
    for spec in &specs {
        match compute::for_metric(&inputs, spec).await {
            Ok(p) => {
                if replicas == 0 || p.replicas > replicas {
                    replicas = p.replicas;
                    metric = p.name;
                }
                statuses.push(p.status);
            }
            Err(f) => {
                ctx.recorder
                    .record(hpa, EventType::Warning, f.reason, f.message.clone());
                failures.push(f);
                // Upstream keeps an empty entry for a metric it could not read.
                statuses.push(MetricStatus::default());
            }
        }
    }
    let partial = failures.first().map(|first| {
        format!(
            "invalid metrics ({} invalid out of {}), first error is: {}",
            failures.len(),
            specs.len(),
            first.error
        )
    });
    if let Some(first) = failures.first()
        && (failures.len() >= specs.len() || replicas < spec_replicas)
    {
        draft.set(
            status::SCALING_ACTIVE,
            false,
            first.reason,
            format!(
                "the HPA was unable to compute the replica count: {}",
                first.message
            ),
        );
        return Err((statuses, partial.unwrap_or_default()));
    }
    draft.set(
        status::SCALING_ACTIVE,
        true,
        "ValidMetricFound",
        format!("the HPA was able to successfully calculate a replica count from {metric}"),
    );
    Ok(Computed {
        replicas,
        metric,
        statuses,
        partial,
    })
}

/// The pods the target's selector picks, after checking that the selector is there, parses,
/// and picks no pod another autoscaler scales (upstream's `validateAndParseSelector`).
fn validate_selector(
    ctx: &Arc<Context>,
    hpa: &HorizontalPodAutoscaler,
    draft: &mut Draft,
    key: &str,
    namespace: &str,
    selector_text: &str,
) -> Result<Vec<Arc<Pod>>, String> {
    if selector_text.is_empty() {
        let message = "selector is required".to_string();
        ctx.recorder
            .record(hpa, EventType::Warning, "SelectorRequired", message.clone());
        draft.set(
            status::SCALING_ACTIVE,
            false,
            "InvalidSelector",
            "the HPA target's scale is missing a selector",
        );
        return Err(message);
    }
    let selector = match Selector::parse(selector_text) {
        Ok(s) => s,
        Err(e) => {
            let message = format!(
                "couldn't convert selector into a corresponding internal selector object: {}",
                e.0
            );
            ctx.recorder
                .record(hpa, EventType::Warning, "InvalidSelector", message.clone());
            draft.set(
                status::SCALING_ACTIVE,
                false,
                "InvalidSelector",
                message.clone(),
            );
            return Err(message);
        }
    };
    let empty = Default::default();
    let mut pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| selector.matches(p.metadata.labels.as_ref().unwrap_or(&empty)))
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));

    let controlling: Vec<String> = {
        let mut selectors = lock(&ctx.selectors);
        selectors.insert(key.to_string(), selector);
        let prefix = format!("{namespace}/");
        let mut keys: Vec<String> = selectors
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| {
                // Only autoscalers that still exist count.
                let name = &k[prefix.len()..];
                ctx.hpas
                    .get(&ObjectRef::new(name).within(namespace))
                    .is_some()
            })
            .filter(|(_, s)| {
                pods.iter()
                    .any(|p| s.matches(p.metadata.labels.as_ref().unwrap_or(&empty)))
            })
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    };
    if controlling.len() > 1 {
        let message = format!(
            "pods by selector {selector_text} are controlled by multiple HPAs: [{}]",
            controlling.join(" ")
        );
        ctx.recorder.record(
            hpa,
            EventType::Warning,
            "AmbiguousSelector",
            message.clone(),
        );
        draft.set(
            status::SCALING_ACTIVE,
            false,
            "AmbiguousSelector",
            message.clone(),
        );
        return Err(message);
    }
    Ok(pods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_versions_parse_as_upstream() {
        assert_eq!(parse_group_version("apps/v1"), Ok(("apps", "v1")));
        assert_eq!(parse_group_version("v1"), Ok(("", "v1")));
        assert_eq!(parse_group_version(""), Ok(("", "")));
        assert_eq!(
            parse_group_version("a/b/c"),
            Err("unexpected GroupVersion string: a/b/c".to_string())
        );
    }

    #[test]
    fn empty_lists_compare_as_absent() {
        let a = HorizontalPodAutoscalerStatus {
            current_metrics: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(
            normalized(&a),
            normalized(&HorizontalPodAutoscalerStatus::default())
        );
    }

    #[test]
    fn defaults_are_upstreams() {
        let s = Settings::default();
        assert_eq!(s.sync_period, Duration::from_secs(15));
        assert_eq!(s.downscale_stabilization, Duration::from_secs(300));
        assert_eq!(s.workers, 5);
    }
}
