//! What one request would charge a quota (upstream's quota evaluators as admission uses them):
//! which quotas an object falls under, the constraints pods must meet under compute quotas,
//! and the usage an object adds (an update, what it adds over its old state).

use crate::registry::ResourceInfo;
use apimachinery::quantity::Quantity;
use apimachinery::quota::{self, Namespace};
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaim, Pod, ResourceQuotaSpec, Service,
};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The kinds quota knows how to measure; everything else is only counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Service,
    Claim,
    /// Counted as `count/<resource>[.<group>]` (and the legacy names of a few core kinds).
    Counted(String),
}

impl Kind {
    pub fn of(info: &ResourceInfo) -> Kind {
        match (info.group, info.resource) {
            ("", "pods") => Kind::Pod,
            ("", "services") => Kind::Service,
            ("", "persistentvolumeclaims") => Kind::Claim,
            ("", r) => Kind::Counted(r.to_string()),
            (g, r) => Kind::Counted(format!("{r}.{g}")),
        }
    }

    /// Whether quota measures `key` for this kind (upstream's `MatchingResources`).
    pub fn measures(&self, key: &str) -> bool {
        match self {
            Kind::Pod => matches!(key, "pods" | "count/pods") || quota::compute_key(key).is_some(),
            Kind::Service => matches!(
                key,
                "services" | "count/services" | "services.loadbalancers" | "services.nodeports"
            ),
            Kind::Claim => {
                matches!(
                    key,
                    "persistentvolumeclaims" | "count/persistentvolumeclaims" | "requests.storage"
                ) || key.ends_with(".storageclass.storage.k8s.io/requests.storage")
                    || key.ends_with(".storageclass.storage.k8s.io/persistentvolumeclaims")
            }
            Kind::Counted(resource) => quota::counted_resource(key) == Some(resource.as_str()),
        }
    }
}

/// A quota as admission reads it.
pub struct Quota {
    pub name: String,
    pub spec: ResourceQuotaSpec,
    pub hard: BTreeMap<String, Quantity>,
    pub used: BTreeMap<String, Quantity>,
}

fn quantities(v: Option<&Value>) -> BTreeMap<String, Quantity> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), Quantity::from_json(v).ok()?)))
        .collect()
}

impl Quota {
    pub fn from_json(q: &Value) -> Quota {
        Quota {
            name: q
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            spec: q
                .get("spec")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default(),
            hard: quantities(q.pointer("/status/hard")),
            used: quantities(q.pointer("/status/used")),
        }
    }

    /// The keys of `status.hard` quota measures for the kind.
    pub fn restricted(&self, kind: &Kind) -> Vec<String> {
        self.hard
            .keys()
            .filter(|k| kind.measures(k))
            .cloned()
            .collect()
    }

    fn scoped(&self) -> bool {
        self.spec.scopes.as_ref().is_some_and(|s| !s.is_empty())
            || self.spec.scope_selector.is_some()
    }

    /// Whether the object falls under the quota: the quota limits something the kind uses,
    /// and its scopes (which only pods can meet) select the object.
    pub fn covers(&self, object: &Object) -> bool {
        if self.restricted(&object.kind()).is_empty() {
            return false;
        }
        match object {
            Object::Pod(pod) => quota::pod_in_scope(&self.spec, pod),
            _ => !self.scoped(),
        }
    }

    /// Whether the controller has measured what the quota limits for this kind.
    pub fn has_usage_for(&self, restricted: &[String]) -> bool {
        restricted.iter().all(|k| self.used.contains_key(k))
    }
}

/// A typed object quota measures.
pub enum Object {
    Pod(Box<Pod>),
    Service(Box<Service>),
    Claim(Box<PersistentVolumeClaim>),
    Counted(String),
}

impl Object {
    pub fn parse(kind: &Kind, obj: &Value) -> serde_json::Result<Object> {
        Ok(match kind {
            Kind::Pod => Object::Pod(Box::new(serde_json::from_value(obj.clone())?)),
            Kind::Service => Object::Service(Box::new(serde_json::from_value(obj.clone())?)),
            Kind::Claim => Object::Claim(Box::new(serde_json::from_value(obj.clone())?)),
            Kind::Counted(r) => Object::Counted(r.clone()),
        })
    }

    fn kind(&self) -> Kind {
        match self {
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::Claim(_) => Kind::Claim,
            Object::Counted(r) => Kind::Counted(r.clone()),
        }
    }

    /// What the object uses of `keys`, zero uses left out.
    pub fn usage(&self, keys: &[String]) -> BTreeMap<String, Quantity> {
        let spec = ResourceQuotaSpec {
            hard: Some(
                keys.iter()
                    .map(|k| {
                        (
                            k.clone(),
                            k8s_openapi::apimachinery::pkg::api::resource::Quantity("0".into()),
                        )
                    })
                    .collect(),
            ),
            ..Default::default()
        };
        let mut ns = Namespace {
            pods: Vec::new(),
            services: Vec::new(),
            claims: Vec::new(),
            counts: BTreeMap::new(),
        };
        let counted = match self {
            Object::Pod(p) => {
                ns.pods.push(p);
                "pods"
            }
            Object::Service(s) => {
                ns.services.push(s);
                "services"
            }
            Object::Claim(c) => {
                ns.claims.push(c);
                "persistentvolumeclaims"
            }
            Object::Counted(r) => r.as_str(),
        };
        ns.counts.insert(counted.to_string(), 1);
        let kind = self.kind();
        quota::calculate(&spec, &ns, now())
            .into_iter()
            .filter(|(k, v)| kind.measures(k) && !v.is_zero())
            .collect()
    }
}

/// The time pods' deletion grace is measured against (jiff's own clock needs its `std`
/// feature, which this crate does not ask for).
fn now() -> Timestamp {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::new(since.as_secs() as i64, since.subsec_nanos() as i32).unwrap_or_default()
}

/// `new - old` per key, never below zero, zeros left out.
pub fn increase(
    new: &BTreeMap<String, Quantity>,
    old: &BTreeMap<String, Quantity>,
) -> BTreeMap<String, Quantity> {
    new.iter()
        .filter_map(|(k, v)| {
            let d = match old.get(k) {
                Some(o) => v.add(&o.neg()),
                None => *v,
            };
            (!d.is_zero() && !d.is_negative()).then(|| (k.clone(), d))
        })
        .collect()
}

/// The compute resources a container names, as quota keys.
fn container_keys(c: &Container) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let Some(r) = &c.resources else {
        return keys;
    };
    for name in r.requests.iter().flatten().map(|(k, _)| k) {
        if name == "cpu" || name == "memory" {
            keys.insert(name.clone());
        }
        keys.insert(format!("requests.{name}"));
    }
    for name in r.limits.iter().flatten().map(|(k, _)| k) {
        keys.insert(format!("limits.{name}"));
    }
    keys
}

/// Quotas on cpu or memory require every container to state them (a backward-compatible
/// rule upstream keeps): the message names what each container misses.
pub fn constraints(restricted: &[String], pod: &Pod) -> Result<(), String> {
    const VALIDATED: [&str; 6] = [
        "cpu",
        "memory",
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
    ];
    let required: BTreeSet<&str> = restricted
        .iter()
        .map(String::as_str)
        .filter(|k| VALIDATED.contains(k))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let mut missing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let containers = pod.spec.iter().flat_map(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
    });
    for c in containers {
        let has = container_keys(c);
        for r in &required {
            if !has.contains(*r) {
                missing.entry(r).or_default().insert(&c.name);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().copied().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

/// `a=1,b=2Gi`, sorted by key, as upstream prints usage in its messages.
pub fn pretty(usage: &BTreeMap<String, Quantity>) -> String {
    usage
        .iter()
        .map(|(k, v)| format!("{k}={}", v.canonical()))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    fn pod(containers: Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "p"}, "spec": {"containers": containers}}),
        )
        .unwrap()
    }

    #[test]
    fn a_pod_uses_its_count_and_its_requests() {
        let p = Object::Pod(Box::new(pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "1Gi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m"}}}
        ]))));
        let usage = p.usage(&keys(&[
            "pods",
            "requests.cpu",
            "memory",
            "services",
            "limits.cpu",
        ]));
        assert_eq!(pretty(&usage), "memory=1Gi,pods=1,requests.cpu=500m");
    }

    #[test]
    fn counted_kinds_count_under_both_names() {
        let cm = Object::Counted("configmaps".into());
        assert_eq!(
            pretty(&cm.usage(&keys(&["configmaps", "count/configmaps", "pods"]))),
            "configmaps=1,count/configmaps=1"
        );
        let rs = Kind::Counted("replicasets.apps".into());
        assert!(rs.measures("count/replicasets.apps"));
        assert!(!rs.measures("replicasets"));
    }

    #[test]
    fn an_update_charges_only_what_grows() {
        let old = BTreeMap::from([("requests.storage".to_string(), q("1Gi"))]);
        let new = BTreeMap::from([
            ("requests.storage".to_string(), q("3Gi")),
            ("persistentvolumeclaims".to_string(), q("1")),
        ]);
        assert_eq!(
            pretty(&increase(&new, &old)),
            "persistentvolumeclaims=1,requests.storage=2Gi"
        );
        assert!(increase(&old, &new).is_empty());
    }

    #[test]
    fn compute_quotas_need_every_container_to_state_them() {
        let p = pod(json!([
            {"name": "b", "resources": {"requests": {"cpu": "1"}}},
            {"name": "a"}
        ]));
        assert_eq!(
            constraints(&keys(&["requests.cpu", "limits.memory", "pods"]), &p).unwrap_err(),
            "must specify limits.memory for: a,b; requests.cpu for: a"
        );
        assert!(constraints(&keys(&["pods", "requests.storage"]), &p).is_ok());
    }

    #[test]
    fn scoped_quotas_cover_only_the_pods_they_select() {
        let quota = Quota::from_json(&json!({
            "metadata": {"name": "q"},
            "spec": {"hard": {"pods": "1", "services": "1"}, "scopes": ["BestEffort"]},
            "status": {"hard": {"pods": "1", "services": "1"}, "used": {"pods": "0"}}
        }));
        let best_effort = Object::Pod(Box::new(pod(json!([{"name": "a"}]))));
        let burstable = Object::Pod(Box::new(pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "1"}}}
        ]))));
        assert!(quota.covers(&best_effort));
        assert!(!quota.covers(&burstable));
        assert!(!quota.covers(&Object::Counted("configmaps".into())));
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": "s"}})).unwrap();
        assert!(!quota.covers(&Object::Service(Box::new(svc))));
        assert!(!quota.has_usage_for(&quota.restricted(&Kind::Service)));
    }
}
