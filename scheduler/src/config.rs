//! The scheduler's configuration: a `KubeSchedulerConfiguration` (kubescheduler.config.k8s.io/v1)
//! read from `--config`, with upstream's defaults, and each profile's plugin set resolved per
//! extension point the way upstream merges it (defaults enabled through `multiPoint`; a
//! profile's `enabled` entries re-configure or add plugins, `disabled` entries, or `*`, remove
//! defaults; a plugin named at a specific extension point comes before the `multiPoint` ones).

use crate::framework::Framework;
use crate::plugins::{self, Handle};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
pub const KIND: &str = "KubeSchedulerConfiguration";
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// What can be wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("decoding {path}: {message}")]
    Decode { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("profile {profile:?}: {message}")]
    Profile { profile: String, message: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The file as written (fields upstream has that ferrokube ignores are kept in `other`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSchedulerConfiguration {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    #[serde(default)]
    pub client_connection: ClientConnection,
    #[serde(default)]
    pub leader_election: LeaderElectionFile,
    pub percentage_of_nodes_to_score: Option<i32>,
    pub pod_initial_backoff_seconds: Option<i64>,
    pub pod_max_backoff_seconds: Option<i64>,
    #[serde(default)]
    pub profiles: Vec<ProfileFile>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConnection {
    pub kubeconfig: Option<String>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaderElectionFile {
    pub leader_elect: Option<bool>,
    pub lease_duration: Option<String>,
    pub renew_deadline: Option<String>,
    pub retry_period: Option<String>,
    pub resource_lock: Option<String>,
    pub resource_name: Option<String>,
    pub resource_namespace: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileFile {
    pub scheduler_name: Option<String>,
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub plugins: Plugins,
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

/// Plugin sets per extension point.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugins {
    #[serde(default)]
    pub multi_point: PluginSet,
    #[serde(default)]
    pub pre_enqueue: PluginSet,
    #[serde(default)]
    pub queue_sort: PluginSet,
    #[serde(default)]
    pub pre_filter: PluginSet,
    #[serde(default)]
    pub filter: PluginSet,
    #[serde(default)]
    pub post_filter: PluginSet,
    #[serde(default)]
    pub pre_score: PluginSet,
    #[serde(default)]
    pub score: PluginSet,
    #[serde(default)]
    pub reserve: PluginSet,
    #[serde(default)]
    pub permit: PluginSet,
    #[serde(default)]
    pub pre_bind: PluginSet,
    #[serde(default)]
    pub bind: PluginSet,
    #[serde(default)]
    pub post_bind: PluginSet,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginSet {
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct PluginRef {
    pub name: String,
    #[serde(default)]
    pub weight: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginConfig {
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
}

/// Leader election settings after defaults and flags.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaderElection {
    pub leader_elect: bool,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
    pub resource_name: String,
    pub resource_namespace: String,
}

impl Default for LeaderElection {
    fn default() -> Self {
        Self {
            leader_elect: true,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            resource_name: "kube-scheduler".to_string(),
            resource_namespace: "kube-system".to_string(),
        }
    }
}

/// The configuration the scheduler runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub kubeconfig: Option<PathBuf>,
    pub leader_election: LeaderElection,
    /// 0 means upstream's adaptive percentage.
    pub percentage_of_nodes_to_score: i32,
    pub pod_initial_backoff: Duration,
    pub pod_max_backoff: Duration,
    pub profiles: Vec<ProfileFile>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            leader_election: LeaderElection::default(),
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff: Duration::from_secs(1),
            pod_max_backoff: Duration::from_secs(10),
            profiles: vec![ProfileFile {
                scheduler_name: Some(DEFAULT_SCHEDULER_NAME.to_string()),
                ..Default::default()
            }],
        }
    }
}

/// Parses a Go duration (`15s`, `1m30s`, `500ms`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("time: invalid duration {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(bad()),
        };
        total += value * factor;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

impl Config {
    /// Reads and defaults a configuration file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and defaults a configuration (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Config> {
        let invalid = |message: String| Error::Invalid {
            path: path.to_string(),
            message,
        };
        let file: KubeSchedulerConfiguration =
            serde_yaml::from_str(text).map_err(|e| Error::Decode {
                path: path.to_string(),
                message: e.to_string(),
            })?;
        match (file.api_version.as_deref(), file.kind.as_deref()) {
            (Some(API_VERSION), Some(KIND)) => {}
            (v, k) => {
                return Err(invalid(format!(
                    "no kind {:?} is registered for version {:?}; expected {KIND} in {API_VERSION}",
                    k.unwrap_or_default(),
                    v.unwrap_or_default()
                )));
            }
        }
        for key in file.other.keys() {
            tracing::warn!(
                "The scheduler configuration field {key:?} is not supported yet; ignoring it."
            );
        }
        let mut cfg = Config {
            kubeconfig: file
                .client_connection
                .kubeconfig
                .filter(|k| !k.is_empty())
                .map(PathBuf::from),
            ..Config::default()
        };
        let le = &file.leader_election;
        let duration = |field: &str, v: &Option<String>, default: Duration| {
            v.as_deref()
                .map(parse_duration)
                .transpose()
                .map_err(|e| invalid(format!("leaderElection.{field}: {e}")))
                .map(|d| d.unwrap_or(default))
        };
        let defaults = LeaderElection::default();
        cfg.leader_election = LeaderElection {
            leader_elect: le.leader_elect.unwrap_or(true),
            lease_duration: duration("leaseDuration", &le.lease_duration, defaults.lease_duration)?,
            renew_deadline: duration("renewDeadline", &le.renew_deadline, defaults.renew_deadline)?,
            retry_period: duration("retryPeriod", &le.retry_period, defaults.retry_period)?,
            resource_name: le
                .resource_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or(defaults.resource_name),
            resource_namespace: le
                .resource_namespace
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or(defaults.resource_namespace),
        };
        if let Some(lock) = le.resource_lock.as_deref()
            && lock != "leases"
        {
            return Err(invalid(format!(
                "leaderElection.resourceLock: Unsupported value: {lock:?}: supported values: \"leases\""
            )));
        }
        if let Some(p) = file.percentage_of_nodes_to_score {
            if !(0..=100).contains(&p) {
                return Err(invalid(format!(
                    "percentageOfNodesToScore: Invalid value: {p}: not in valid range [0-100]"
                )));
            }
            cfg.percentage_of_nodes_to_score = p;
        }
        let initial = file.pod_initial_backoff_seconds.unwrap_or(1);
        let max = file.pod_max_backoff_seconds.unwrap_or(10);
        if initial <= 0 {
            return Err(invalid(format!(
                "podInitialBackoffSeconds: Invalid value: {initial}: must be greater than 0"
            )));
        }
        if max < initial {
            return Err(invalid(format!(
                "podMaxBackoffSeconds: Invalid value: {max}: must be greater than or equal to PodInitialBackoffSeconds"
            )));
        }
        cfg.pod_initial_backoff = Duration::from_secs(initial as u64);
        cfg.pod_max_backoff = Duration::from_secs(max as u64);
        if !file.profiles.is_empty() {
            cfg.profiles = file.profiles;
        }
        let mut names = HashSet::new();
        for p in &mut cfg.profiles {
            let name = p
                .scheduler_name
                .get_or_insert_with(|| DEFAULT_SCHEDULER_NAME.to_string());
            if !names.insert(name.clone()) {
                return Err(invalid(format!(
                    "profiles[].schedulerName: Duplicate value: {name:?}"
                )));
            }
            if let Some(p) = p.percentage_of_nodes_to_score
                && !(0..=100).contains(&p)
            {
                return Err(invalid(format!(
                    "profiles[].percentageOfNodesToScore: Invalid value: {p}: not in valid range [0-100]"
                )));
            }
        }
        Ok(cfg)
    }
}

/// A plugin set after merging the defaults with a profile's (upstream's `mergePluginSet`).
fn merge(default: &PluginSet, custom: &PluginSet) -> PluginSet {
    let disabled: Vec<PluginRef> = custom
        .disabled
        .iter()
        .chain(&default.disabled)
        .map(|p| PluginRef {
            name: p.name.clone(),
            weight: None,
        })
        .collect();
    let off: HashSet<&str> = disabled.iter().map(|p| p.name.as_str()).collect();
    let mut replaced = HashSet::new();
    let mut enabled = Vec::new();
    if !off.contains("*") {
        for d in &default.enabled {
            if off.contains(d.name.as_str()) {
                continue;
            }
            match custom.enabled.iter().position(|c| c.name == d.name) {
                Some(i) => {
                    replaced.insert(i);
                    enabled.push(custom.enabled[i].clone());
                }
                None => enabled.push(d.clone()),
            }
        }
    }
    for (i, c) in custom.enabled.iter().enumerate() {
        if !replaced.contains(&i) {
            enabled.push(c.clone());
        }
    }
    PluginSet { enabled, disabled }
}

/// The extension points, each with how to tell whether a plugin implements it.
type Implements = fn(&dyn crate::framework::Plugin) -> bool;

fn points(plugins: &Plugins) -> [(&'static str, &PluginSet, Implements); 12] {
    [
        ("preEnqueue", &plugins.pre_enqueue, |p| {
            p.as_pre_enqueue().is_some()
        }),
        ("queueSort", &plugins.queue_sort, |p| {
            p.as_queue_sort().is_some()
        }),
        ("preFilter", &plugins.pre_filter, |p| {
            p.as_pre_filter().is_some()
        }),
        ("filter", &plugins.filter, |p| p.as_filter().is_some()),
        ("postFilter", &plugins.post_filter, |p| {
            p.as_post_filter().is_some()
        }),
        ("preScore", &plugins.pre_score, |p| {
            p.as_pre_score().is_some()
        }),
        ("score", &plugins.score, |p| p.as_score().is_some()),
        ("reserve", &plugins.reserve, |p| p.as_reserve().is_some()),
        ("permit", &plugins.permit, |p| p.as_permit().is_some()),
        ("preBind", &plugins.pre_bind, |p| p.as_pre_bind().is_some()),
        ("bind", &plugins.bind, |p| p.as_bind().is_some()),
        ("postBind", &plugins.post_bind, |p| {
            p.as_post_bind().is_some()
        }),
    ]
}

/// Builds a profile's framework.
pub fn framework(profile: &ProfileFile, handle: &Handle) -> Result<Framework> {
    let fw = framework_unchecked(profile, handle)?;
    let fail = |message: &str| Error::Profile {
        profile: fw.profile_name.clone(),
        message: message.to_string(),
    };
    if fw.queue_sort.is_none() {
        return Err(fail("no queue sort plugin is enabled"));
    }
    if fw.bind.is_empty() {
        return Err(fail("at least one bind plugin is needed"));
    }
    Ok(fw)
}

/// Resolves a profile's plugins without checking that it can sort and bind.
fn framework_unchecked(profile: &ProfileFile, handle: &Handle) -> Result<Framework> {
    let name = profile
        .scheduler_name
        .clone()
        .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
    let fail = |message: String| Error::Profile {
        profile: name.clone(),
        message,
    };
    let defaults = PluginSet {
        enabled: plugins::default_plugins()
            .into_iter()
            .map(|(n, w)| PluginRef {
                name: n.to_string(),
                weight: (w > 0).then_some(w as i32),
            })
            .collect(),
        disabled: Vec::new(),
    };
    let custom = &profile.plugins;
    let merged = Plugins {
        multi_point: merge(&defaults, &custom.multi_point),
        pre_enqueue: merge(&PluginSet::default(), &custom.pre_enqueue),
        queue_sort: merge(&PluginSet::default(), &custom.queue_sort),
        pre_filter: merge(&PluginSet::default(), &custom.pre_filter),
        filter: merge(&PluginSet::default(), &custom.filter),
        post_filter: merge(&PluginSet::default(), &custom.post_filter),
        pre_score: merge(&PluginSet::default(), &custom.pre_score),
        score: merge(&PluginSet::default(), &custom.score),
        reserve: merge(&PluginSet::default(), &custom.reserve),
        permit: merge(&PluginSet::default(), &custom.permit),
        pre_bind: merge(&PluginSet::default(), &custom.pre_bind),
        bind: merge(&PluginSet::default(), &custom.bind),
        post_bind: merge(&PluginSet::default(), &custom.post_bind),
    };
    let args: HashMap<&str, &Value> = profile
        .plugin_config
        .iter()
        .filter_map(|c| c.args.as_ref().map(|a| (c.name.as_str(), a)))
        .collect();
    // Every plugin enabled anywhere, built once.
    let mut built: HashMap<String, Arc<dyn crate::framework::Plugin>> = HashMap::new();
    let wanted = merged.multi_point.enabled.iter().chain(
        points(&merged)
            .into_iter()
            .flat_map(|(_, set, _)| set.enabled.iter()),
    );
    for p in wanted {
        if !built.contains_key(&p.name) {
            let plugin = plugins::build(&p.name, args.get(p.name.as_str()).copied(), handle)
                .map_err(&fail)?;
            built.insert(p.name.clone(), plugin);
        }
    }
    let mut fw = Framework {
        profile_name: name.clone(),
        percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
        queue_sort: None,
        pre_enqueue: Vec::new(),
        pre_filter: Vec::new(),
        filter: Vec::new(),
        post_filter: Vec::new(),
        pre_score: Vec::new(),
        score: Vec::new(),
        reserve: Vec::new(),
        permit: Vec::new(),
        pre_bind: Vec::new(),
        bind: Vec::new(),
        post_bind: Vec::new(),
        events: Vec::new(),
    };
    // Score weights: the multiPoint weight unless the score point sets one; 0 means 1.
    let mut weights: HashMap<&str, i64> = HashMap::new();
    for p in &merged.multi_point.enabled {
        weights.insert(&p.name, i64::from(p.weight.unwrap_or(0)));
    }
    for p in &merged.score.enabled {
        if let Some(w) = p.weight {
            weights.insert(&p.name, i64::from(w));
        }
    }
    for (point, set, implements) in points(&merged) {
        let specific: Vec<&str> = set.enabled.iter().map(|p| p.name.as_str()).collect();
        for n in &specific {
            if built.get(*n).is_some_and(|p| !implements(p.as_ref())) {
                return Err(fail(format!("plugin {n:?} does not extend {point} plugin")));
            }
        }
        let off: HashSet<&str> = set.disabled.iter().map(|p| p.name.as_str()).collect();
        let mut overrides = Vec::new();
        let mut multi = Vec::new();
        if !off.contains("*") {
            for p in &merged.multi_point.enabled {
                let Some(plugin) = built.get(&p.name) else {
                    continue;
                };
                if !implements(plugin.as_ref()) || off.contains(p.name.as_str()) {
                    continue;
                }
                if specific.contains(&p.name.as_str()) {
                    overrides.push(p.name.as_str());
                } else if multi.contains(&p.name.as_str()) {
                    return Err(fail(format!(
                        "plugin {:?} already registered as {point}",
                        p.name
                    )));
                } else {
                    multi.push(p.name.as_str());
                }
            }
        }
        let mut order: Vec<&str> = overrides;
        for n in multi.into_iter().chain(specific) {
            if !order.contains(&n) {
                order.push(n);
            }
        }
        let list: Vec<Arc<dyn crate::framework::Plugin>> = order
            .iter()
            .filter_map(|n| built.get(*n).cloned())
            .collect();
        match point {
            "preEnqueue" => fw.pre_enqueue = list,
            "queueSort" => {
                if list.len() > 1 {
                    return Err(fail(
                        "only one queue sort plugin can be enabled".to_string(),
                    ));
                }
                fw.queue_sort = list.into_iter().next();
            }
            "preFilter" => fw.pre_filter = list,
            "filter" => fw.filter = list,
            "postFilter" => fw.post_filter = list,
            "preScore" => fw.pre_score = list,
            "score" => {
                fw.score = list
                    .into_iter()
                    .map(|p| {
                        let w = weights.get(p.name()).copied().unwrap_or(0);
                        (p, if w == 0 { 1 } else { w })
                    })
                    .collect();
            }
            "reserve" => fw.reserve = list,
            "permit" => fw.permit = list,
            "preBind" => fw.pre_bind = list,
            "bind" => fw.bind = list,
            _ => fw.post_bind = list,
        }
    }
    let mut seen = HashSet::new();
    for plugin in built.values() {
        if seen.insert(plugin.name()) {
            for reg in plugin.events_to_register() {
                fw.events.push((plugin.name(), reg));
            }
        }
    }
    Ok(fw)
}

/// The profile's framework without the client-needing DefaultBinder, for unit tests.
#[cfg(test)]
pub(crate) fn framework_for_tests(profile: &ProfileFile) -> Framework {
    let mut p = profile.clone();
    p.plugins.multi_point.disabled.push(PluginRef {
        name: "DefaultBinder".into(),
        weight: None,
    });
    match framework_unchecked(&p, &Handle::default()) {
        Ok(fw) => fw,
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ps: &[Arc<dyn crate::framework::Plugin>]) -> Vec<&'static str> {
        ps.iter().map(|p| p.name()).collect()
    }

    #[test]
    fn the_default_profile_has_upstream_plugins_and_weights() {
        let cfg = Config::default();
        let fw = framework(&cfg.profiles[0], &Handle::default());
        // DefaultBinder needs a client.
        assert!(fw.is_err());
        let mut p = cfg.profiles[0].clone();
        p.plugins.multi_point.disabled.push(PluginRef {
            name: "DefaultBinder".into(),
            weight: None,
        });
        let err = framework(&p, &Handle::default()).unwrap_err().to_string();
        assert!(err.contains("at least one bind plugin is needed"), "{err}");
    }

    fn parse_profile(yaml: &str) -> ProfileFile {
        let cfg = Config::parse(yaml, "test").unwrap();
        cfg.profiles[0].clone()
    }

    /// The profile's framework with the client-needing binder disabled.
    fn build(profile: &ProfileFile) -> Result<Framework> {
        let mut p = profile.clone();
        p.plugins.multi_point.disabled.push(PluginRef {
            name: "DefaultBinder".into(),
            weight: None,
        });
        framework_unchecked(&p, &Handle::default())
    }

    #[test]
    fn multi_point_defaults_with_disables_and_weights() {
        let p = parse_profile(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: custom
  plugins:
    filter:
      disabled: [{name: NodePorts}]
    score:
      enabled: [{name: NodeResourcesFit, weight: 5}]
      disabled: [{name: TaintToleration}]
"#,
        );
        let fw = build(&p).unwrap();
        assert_eq!(fw.profile_name, "custom");
        assert_eq!(
            names(&fw.filter),
            vec![
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodeResourcesFit",
                "VolumeRestrictions",
                "NodeVolumeLimits",
                "VolumeBinding",
                "VolumeZone",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        let score: Vec<(&str, i64)> = fw.score.iter().map(|(p, w)| (p.name(), *w)).collect();
        assert_eq!(
            score,
            vec![
                ("NodeResourcesFit", 5),
                ("NodeAffinity", 2),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1)
            ]
        );
        assert_eq!(
            names(&fw.pre_enqueue),
            vec!["SchedulingGates", "DefaultPreemption"]
        );
        assert_eq!(names(&fw.post_filter), vec!["DefaultPreemption"]);
    }

    #[test]
    fn star_disables_every_default_at_a_point() {
        let p = parse_profile(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    score:
      disabled: [{name: "*"}]
      enabled: [{name: NodeResourcesBalancedAllocation, weight: 3}]
"#,
        );
        let fw = build(&p).unwrap();
        let score: Vec<(&str, i64)> = fw.score.iter().map(|(p, w)| (p.name(), *w)).collect();
        assert_eq!(score, vec![("NodeResourcesBalancedAllocation", 3)]);
        assert_eq!(fw.profile_name, "default-scheduler");
    }

    #[test]
    fn unknown_and_unbuilt_plugins_are_errors() {
        let p = parse_profile(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    score:
      enabled: [{name: DynamicResources}]
"#,
        );
        let err = build(&p).unwrap_err().to_string();
        assert!(err.contains("not built yet"), "{err}");
        // Disabling one is fine.
        let p = parse_profile(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    multiPoint:
      disabled: [{name: VolumeZone}]
"#,
        );
        assert!(build(&p).is_ok());
    }

    #[test]
    fn top_level_fields_and_validation() {
        let cfg = Config::parse(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: /etc/k.conf, qps: 100}
leaderElection: {leaderElect: false, leaseDuration: 30s, resourceName: other}
percentageOfNodesToScore: 30
podInitialBackoffSeconds: 2
podMaxBackoffSeconds: 20
parallelism: 8
"#,
            "test",
        )
        .unwrap();
        assert_eq!(cfg.kubeconfig, Some(PathBuf::from("/etc/k.conf")));
        assert!(!cfg.leader_election.leader_elect);
        assert_eq!(cfg.leader_election.lease_duration, Duration::from_secs(30));
        assert_eq!(cfg.leader_election.renew_deadline, Duration::from_secs(10));
        assert_eq!(cfg.leader_election.resource_name, "other");
        assert_eq!(cfg.percentage_of_nodes_to_score, 30);
        assert_eq!(cfg.pod_initial_backoff, Duration::from_secs(2));
        assert_eq!(cfg.pod_max_backoff, Duration::from_secs(20));
        assert_eq!(
            cfg.profiles[0].scheduler_name.as_deref(),
            Some("default-scheduler")
        );
        let bad = Config::parse("apiVersion: v1\nkind: Pod\n", "x").unwrap_err();
        assert!(bad.to_string().contains("no kind \"Pod\""), "{bad}");
        let bad = Config::parse(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npodInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n",
            "x",
        )
        .unwrap_err();
        assert!(bad.to_string().contains("podMaxBackoffSeconds"), "{bad}");
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("5").is_err());
    }
}
