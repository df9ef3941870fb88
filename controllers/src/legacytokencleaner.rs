//! The legacy service account token cleaner (upstream
//! "legacy-serviceaccount-token-cleaner-controller"): once a day, labels the auto-generated
//! token Secrets of service accounts that nobody used for a clean-up period (and no pod
//! mounts) with `kubernetes.io/legacy-token-invalid-since`, and deletes those labelled that
//! long ago. Usage is what the apiserver records in `kubernetes.io/legacy-token-last-used`;
//! nothing is cleaned until the apiserver has tracked usage for a whole period (since the
//! date in `kube-system/kube-apiserver-legacy-service-account-token-tracking`).

use crate::client;
use crate::informer::Informers;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, PodSpec, Secret, ServiceAccount};
use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::{SignedDuration, Timestamp, tz::TimeZone};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// The controller's name (upstream `names.LegacyServiceAccountTokenCleanerController`).
pub const NAME: &str = "legacy-serviceaccount-token-cleaner-controller";

/// The label the apiserver keeps with the day a legacy token was last used.
pub const LAST_USED: &str = "kubernetes.io/legacy-token-last-used";
/// The label this controller sets on tokens it has invalidated.
pub const INVALID_SINCE: &str = "kubernetes.io/legacy-token-invalid-since";
/// The ConfigMap (in kube-system) with the day the apiserver began tracking usage.
pub const TRACKING_CONFIG_MAP: &str = "kube-apiserver-legacy-service-account-token-tracking";

/// How often the tokens are looked at (upstream `DefaultCleanerSyncInterval`).
const SYNC_INTERVAL: Duration = Duration::from_secs(24 * 3600);

const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

/// Runs the controller until the process stops; `period` is
/// `--legacy-service-account-token-clean-up-period`.
pub async fn run(client: kube::Client, informers: Arc<Informers>, period: Duration) {
    let (accounts, secrets, pods) = (
        informers.get::<ServiceAccount>(),
        informers.get::<Secret>(),
        informers.get::<Pod>(),
    );
    accounts.ready().await;
    secrets.ready().await;
    pods.ready().await;
    tracing::info!("Starting {NAME}.");
    let stores = Stores {
        accounts: accounts.store(),
        secrets: secrets.store(),
        pods: pods.store(),
    };
    if period.is_zero() {
        tracing::error!("The {NAME} cannot start: the clean-up period must be positive.");
        return;
    }
    let period = SignedDuration::try_from(period).unwrap_or(SignedDuration::MAX);
    loop {
        if let Err(e) = evaluate(&client, &stores, period).await {
            tracing::warn!("The {NAME} could not look at legacy tokens: {e}.");
        }
        tokio::time::sleep(SYNC_INTERVAL).await;
    }
}

struct Stores {
    accounts: Store<ServiceAccount>,
    secrets: Store<Secret>,
    pods: Store<Pod>,
}

/// What to do with one token Secret.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Label it invalid since this day.
    Invalidate(String),
    Delete,
}

fn day(t: Timestamp) -> String {
    t.to_zoned(TimeZone::UTC).date().to_string()
}

/// The verdict on `secret` at `now`, upstream's rules in order: only tokens created and last
/// used before the period began, listed in their (existing, same-uid) ServiceAccount's
/// `secrets` and mounted by no pod are invalidated, and deleted once invalid for the period.
pub fn verdict(
    secret: &Secret,
    account: Option<&ServiceAccount>,
    mounted: bool,
    now: Timestamp,
    period: SignedDuration,
) -> Verdict {
    let Some(cutoff) = now.checked_sub(period).ok() else {
        return Verdict::Keep;
    };
    let cutoff_day = day(cutoff);
    let meta = &secret.metadata;
    let created_before = meta
        .creation_timestamp
        .as_ref()
        .is_some_and(|t| t.0 < cutoff);
    if secret.type_.as_deref() != Some(TOKEN_TYPE)
        || !created_before
        || meta.deletion_timestamp.is_some()
    {
        return Verdict::Keep;
    }
    let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key));
    if let Some(used) = label(LAST_USED) {
        // A malformed day cannot be judged; a recent one means in use.
        if used.parse::<Date>().is_err() || *used >= cutoff_day {
            return Verdict::Keep;
        }
    }
    let listed = account.is_some_and(|sa| {
        sa.secrets
            .iter()
            .flatten()
            .any(|s| s.name.as_deref() == meta.name.as_deref())
    });
    if !listed || mounted {
        return Verdict::Keep;
    }
    match label(INVALID_SINCE).filter(|d| d.parse::<Date>().is_ok()) {
        None => Verdict::Invalidate(day(now)),
        Some(since) if *since >= cutoff_day => Verdict::Keep,
        Some(_) => Verdict::Delete,
    }
}

/// The ServiceAccount a token Secret names, if it exists with the uid the Secret records.
fn account_of(accounts: &Store<ServiceAccount>, secret: &Secret) -> Option<Arc<ServiceAccount>> {
    let annotations = secret.metadata.annotations.as_ref()?;
    let name = annotations.get("kubernetes.io/service-account.name")?;
    let namespace = secret.metadata.namespace.as_deref().unwrap_or_default();
    let account = accounts.get(&ObjectRef::new(name).within(namespace))?;
    match annotations.get("kubernetes.io/service-account.uid") {
        Some(uid) if !uid.is_empty() && account.metadata.uid.as_ref() != Some(uid) => None,
        _ => Some(account),
    }
}

/// Every Secret a pod refers to (upstream `VisitPodSecretNames`): pull secrets, environment
/// of all its containers, and volumes.
pub fn pod_secret_names(spec: &PodSpec) -> HashSet<String> {
    let mut names = HashSet::new();
    names.extend(
        spec.image_pull_secrets
            .iter()
            .flatten()
            .map(|r| r.name.clone()),
    );
    let mut environments = Vec::new();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        environments.push((c.env.as_deref(), c.env_from.as_deref()));
    }
    for c in spec.ephemeral_containers.iter().flatten() {
        environments.push((c.env.as_deref(), c.env_from.as_deref()));
    }
    for (env, env_from) in environments {
        names.extend(
            env_from
                .unwrap_or_default()
                .iter()
                .filter_map(|e| Some(e.secret_ref.as_ref()?.name.clone())),
        );
        names.extend(env.unwrap_or_default().iter().filter_map(|e| {
            let key = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
            Some(key.name.clone())
        }));
    }
    for v in spec.volumes.iter().flatten() {
        let refs = [
            v.cephfs
                .as_ref()
                .and_then(|s| Some(s.secret_ref.as_ref()?.name.clone())),
            v.cinder
                .as_ref()
                .and_then(|s| Some(s.secret_ref.as_ref()?.name.clone())),
            v.flex_volume
                .as_ref()
                .and_then(|s| Some(s.secret_ref.as_ref()?.name.clone())),
            v.rbd
                .as_ref()
                .and_then(|s| Some(s.secret_ref.as_ref()?.name.clone())),
            v.scale_io.as_ref().map(|s| s.secret_ref.name.clone()),
            v.iscsi
                .as_ref()
                .and_then(|s| Some(s.secret_ref.as_ref()?.name.clone())),
            v.storageos
                .as_ref()
                .and_then(|s| Some(s.secret_ref.as_ref()?.name.clone())),
            v.azure_file.as_ref().map(|s| s.secret_name.clone()),
            v.secret.as_ref().and_then(|s| s.secret_name.clone()),
            v.csi
                .as_ref()
                .and_then(|s| Some(s.node_publish_secret_ref.as_ref()?.name.clone())),
        ];
        names.extend(refs.into_iter().flatten());
        if let Some(projected) = &v.projected {
            names.extend(
                projected
                    .sources
                    .iter()
                    .flatten()
                    .filter_map(|s| Some(s.secret.as_ref()?.name.clone())),
            );
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// The first day after the one usage tracking began: upstream waits for a whole day.
async fn tracked_since(client: &kube::Client) -> Result<Timestamp, String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let map = api
        .get(TRACKING_CONFIG_MAP)
        .await
        .map_err(|e| format!("reading {TRACKING_CONFIG_MAP}: {}", client::message(&e)))?;
    let since = map
        .data
        .as_ref()
        .and_then(|d| d.get("since"))
        .ok_or_else(|| format!("{TRACKING_CONFIG_MAP} has no since date"))?;
    let date: Date = since
        .parse()
        .map_err(|e| format!("{TRACKING_CONFIG_MAP}'s since date {since:?}: {e}"))?;
    date.tomorrow()
        .and_then(|d| d.to_zoned(TimeZone::UTC))
        .map(|z| z.timestamp())
        .map_err(|e| format!("{TRACKING_CONFIG_MAP}'s since date {since:?}: {e}"))
}

async fn evaluate(
    client: &kube::Client,
    stores: &Stores,
    period: SignedDuration,
) -> Result<(), String> {
    let now = Timestamp::now();
    let since = tracked_since(client).await?;
    if since.checked_add(period).is_ok_and(|end| now < end) {
        // Usage has not been tracked for a whole period yet.
        return Ok(());
    }
    let mut mounted: HashMap<String, HashSet<String>> = HashMap::new();
    for secret in stores.secrets.state() {
        if secret.type_.as_deref() != Some(TOKEN_TYPE) {
            continue;
        }
        let namespace = secret.metadata.namespace.clone().unwrap_or_default();
        let name = secret.metadata.name.clone().unwrap_or_default();
        let account = account_of(&stores.accounts, &secret);
        let used = mounted.entry(namespace.clone()).or_insert_with(|| {
            stores
                .pods
                .state()
                .iter()
                .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
                .filter_map(|p| p.spec.as_ref())
                .flat_map(pod_secret_names)
                .collect()
        });
        let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        match verdict(
            &secret,
            account.as_deref(),
            used.contains(&name),
            now,
            period,
        ) {
            Verdict::Keep => {}
            Verdict::Invalidate(day) => {
                tracing::info!(
                    "The {NAME} marks the auto-generated token {namespace}/{name} invalid since {day}."
                );
                let patch = serde_json::json!({"metadata": {
                    "uid": secret.metadata.uid,
                    "labels": {INVALID_SINCE: day},
                }});
                if let Err(e) = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    tracing::warn!(
                        "The {NAME} could not label {namespace}/{name}: {}.",
                        client::message(&e)
                    );
                }
            }
            Verdict::Delete => {
                tracing::info!("The {NAME} deletes the auto-generated token {namespace}/{name}.");
                let params = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: None,
                        resource_version: secret.metadata.resource_version.clone(),
                    }),
                    ..Default::default()
                };
                match api.delete(&name, &params).await {
                    Ok(_) => {}
                    Err(e) if client::is_not_found(&e) || client::is_conflict(&e) => {}
                    Err(e) => tracing::warn!(
                        "The {NAME} could not delete {namespace}/{name}: {}.",
                        client::message(&e)
                    ),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    const YEAR: SignedDuration = SignedDuration::from_hours(365 * 24);

    fn now() -> Timestamp {
        "2026-06-01T12:00:00Z".parse().unwrap()
    }

    fn token(created: &str, labels: &[(&str, &str)]) -> Secret {
        let mut s = Secret {
            type_: Some(TOKEN_TYPE.to_string()),
            ..Default::default()
        };
        s.metadata.name = Some("sa-token".to_string());
        s.metadata.creation_timestamp = Some(Time(created.parse().unwrap()));
        s.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        s
    }

    fn account(listing: bool) -> ServiceAccount {
        let mut sa = ServiceAccount::default();
        if listing {
            sa.secrets = Some(vec![ObjectReference {
                name: Some("sa-token".to_string()),
                ..Default::default()
            }]);
        }
        sa
    }

    #[test]
    fn unused_listed_tokens_are_invalidated_then_deleted() {
        let old = token("2024-01-01T00:00:00Z", &[(LAST_USED, "2025-01-01")]);
        assert_eq!(
            verdict(&old, Some(&account(true)), false, now(), YEAR),
            Verdict::Invalidate("2026-06-01".to_string())
        );
        let recently_invalid = token("2024-01-01T00:00:00Z", &[(INVALID_SINCE, "2026-01-01")]);
        assert_eq!(
            verdict(&recently_invalid, Some(&account(true)), false, now(), YEAR),
            Verdict::Keep
        );
        let long_invalid = token("2024-01-01T00:00:00Z", &[(INVALID_SINCE, "2025-05-31")]);
        assert_eq!(
            verdict(&long_invalid, Some(&account(true)), false, now(), YEAR),
            Verdict::Delete
        );
    }

    #[test]
    fn used_young_mounted_or_unlisted_tokens_are_kept() {
        let sa = account(true);
        let used = token("2024-01-01T00:00:00Z", &[(LAST_USED, "2025-06-01")]);
        assert_eq!(verdict(&used, Some(&sa), false, now(), YEAR), Verdict::Keep);
        let young = token("2025-12-01T00:00:00Z", &[]);
        assert_eq!(
            verdict(&young, Some(&sa), false, now(), YEAR),
            Verdict::Keep
        );
        let old = token("2024-01-01T00:00:00Z", &[]);
        assert_eq!(verdict(&old, Some(&sa), true, now(), YEAR), Verdict::Keep);
        assert_eq!(
            verdict(&old, Some(&account(false)), false, now(), YEAR),
            Verdict::Keep
        );
        assert_eq!(verdict(&old, None, false, now(), YEAR), Verdict::Keep);
        let garbled = token("2024-01-01T00:00:00Z", &[(LAST_USED, "yesterday")]);
        assert_eq!(
            verdict(&garbled, Some(&sa), false, now(), YEAR),
            Verdict::Keep
        );
    }

    #[test]
    fn pods_refer_to_secrets_in_many_places() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "imagePullSecrets": [{"name": "pull"}],
                "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "env-from"}}],
                    "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "env", "key": "k"}}}]}],
                "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "init"}}]}],
                "volumes": [
                    {"name": "a", "secret": {"secretName": "volume"}},
                    {"name": "b", "projected": {"sources": [{"secret": {"name": "projected"}}]}},
                    {"name": "c", "csi": {"driver": "d", "nodePublishSecretRef": {"name": "csi"}}},
                ],
            },
        }))
        .unwrap();
        let mut names: Vec<String> = pod_secret_names(pod.spec.as_ref().unwrap())
            .into_iter()
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "csi",
                "env",
                "env-from",
                "init",
                "projected",
                "pull",
                "volume"
            ]
        );
    }
}
