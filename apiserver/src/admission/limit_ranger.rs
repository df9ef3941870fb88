//! LimitRanger: the LimitRanges of a namespace fill in a new pod's missing container requests
//! and limits (`defaultRequest`, `default`, recorded in the `kubernetes.io/limit-ranger`
//! annotation), then hold containers, pods and PersistentVolumeClaims to their `min`, `max`
//! and `maxLimitRequestRatio`, with upstream's messages. Pods are judged on create only (their
//! resources cannot change afterwards); claims on create and update.

use super::{Attributes, Mutator, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use apimachinery::quantity::Quantity;
use async_trait::async_trait;
use serde_json::{Map, Value, json};

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

pub struct LimitRanger {
    ranges: Source,
}

/// What the plugin looks at: pods (on create) and claims.
fn kind(attrs: &Attributes<'_>) -> Option<&'static str> {
    if !attrs.info.group.is_empty() || attrs.subresource.is_some() {
        return None;
    }
    match (attrs.info.resource, attrs.operation) {
        ("pods", Operation::Create) => Some("pods"),
        ("persistentvolumeclaims", Operation::Create | Operation::Update) => {
            Some("persistentvolumeclaims")
        }
        _ => None,
    }
}

impl LimitRanger {
    pub fn new(ranges: Source) -> Self {
        Self { ranges }
    }

    /// The `spec.limits` items of every LimitRange in the namespace.
    async fn items(&self, namespace: &str) -> Result<Vec<Value>> {
        let ranges = self.ranges.list_in(namespace).await?;
        let mut items = Vec::new();
        for range in &ranges {
            if let Some(limits) = range.pointer("/spec/limits").and_then(Value::as_array) {
                items.extend(limits.iter().cloned());
            }
        }
        Ok(items)
    }
}

fn list<'a>(v: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(pointer).and_then(Value::as_object)
}

/// Every container of the pod with the word the annotation uses for it.
fn containers_mut(pod: &mut Value) -> Vec<(&'static str, &mut Value)> {
    let mut out = Vec::new();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return out;
    };
    let (mut containers, mut init) = (None, None);
    for (k, v) in spec.iter_mut() {
        match k.as_str() {
            "containers" => containers = v.as_array_mut(),
            "initContainers" => init = v.as_array_mut(),
            _ => {}
        }
    }
    for c in containers.into_iter().flatten() {
        out.push(("container", c));
    }
    for c in init.into_iter().flatten() {
        out.push(("init container", c));
    }
    out
}

/// Fills a container's missing requests and limits from the defaults; returns what was set
/// as the annotation's phrases.
fn merge_defaults(
    container: &mut Value,
    prefix: &str,
    requests: &Map<String, Value>,
    limits: &Map<String, Value>,
) -> Vec<String> {
    let name = container
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let resources = apimachinery::meta::nested_mut(container, &["resources"]);
    if !resources.is_object() {
        *resources = json!({});
    }
    let mut phrases = Vec::new();
    // The annotation names requests before limits, as upstream's.
    for (field, defaults, word) in [
        ("requests", requests, "request"),
        ("limits", limits, "limit"),
    ] {
        let target = &mut resources[field];
        if !target.is_object() {
            *target = json!({});
        }
        let Some(target) = target.as_object_mut() else {
            continue;
        };
        let mut set: Vec<&str> = Vec::new();
        for (k, v) in defaults {
            if !target.contains_key(k) {
                target.insert(k.clone(), v.clone());
                set.push(k);
            }
        }
        if !set.is_empty() {
            set.sort_unstable();
            phrases.push(format!("{} {word} for {prefix} {name}", set.join(", ")));
        }
    }
    phrases
}

/// Applies each Container item's defaults to every container, as upstream's
/// `PodMutateLimitFunc`.
fn apply_defaults(pod: &mut Value, items: &[Value]) {
    let (mut requests, mut limits) = (Map::new(), Map::new());
    for item in items.iter().filter(|i| i["type"] == "Container") {
        if let Some(r) = list(item, "/defaultRequest") {
            requests.extend(r.clone());
        }
        if let Some(l) = list(item, "/default") {
            limits.extend(l.clone());
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return;
    }
    let mut phrases = Vec::new();
    for (prefix, c) in containers_mut(pod) {
        phrases.extend(merge_defaults(c, prefix, &requests, &limits));
    }
    if !phrases.is_empty() {
        let annotations = apimachinery::meta::nested_mut(pod, &["metadata", "annotations"]);
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[ANNOTATION] = json!(format!("LimitRanger plugin set: {}", phrases.join("; ")));
    }
}

fn quantity(v: &Value) -> Option<Quantity> {
    Quantity::from_json(v).ok()
}

/// Upstream's min/max/ratio checks of one resource against observed requests and limits
/// (`requests`, `limits`), for `what` (Container, Pod, PersistentVolumeClaim).
struct Check<'a> {
    what: &'a str,
    requests: &'a Map<String, Value>,
    limits: &'a Map<String, Value>,
}

impl Check<'_> {
    fn observed(&self, resource: &str) -> (Option<Quantity>, Option<Quantity>) {
        (
            self.requests.get(resource).and_then(quantity),
            self.limits.get(resource).and_then(quantity),
        )
    }

    fn min(&self, resource: &str, enforced: &Quantity) -> Option<String> {
        let what = self.what;
        let e = enforced.canonical();
        let (req, lim) = self.observed(resource);
        let Some(req) = req else {
            return Some(format!(
                "minimum {resource} usage per {what} is {e}.  No request is specified"
            ));
        };
        if req.nanos() < enforced.nanos() {
            return Some(format!(
                "minimum {resource} usage per {what} is {e}, but request is {}",
                req.canonical()
            ));
        }
        match lim {
            Some(lim) if lim.nanos() < enforced.nanos() => Some(format!(
                "minimum {resource} usage per {what} is {e}, but limit is {}",
                lim.canonical()
            )),
            _ => None,
        }
    }

    fn max(&self, resource: &str, enforced: &Quantity) -> Option<String> {
        let what = self.what;
        let e = enforced.canonical();
        let (req, lim) = self.observed(resource);
        let Some(lim) = lim else {
            return Some(format!(
                "maximum {resource} usage per {what} is {e}.  No limit is specified"
            ));
        };
        if lim.nanos() > enforced.nanos() {
            return Some(format!(
                "maximum {resource} usage per {what} is {e}, but limit is {}",
                lim.canonical()
            ));
        }
        match req {
            Some(req) if req.nanos() > enforced.nanos() => Some(format!(
                "maximum {resource} usage per {what} is {e}, but request is {}",
                req.canonical()
            )),
            _ => None,
        }
    }

    /// Claims have requests only: the maximum applies to the request.
    fn max_request(&self, resource: &str, enforced: &Quantity) -> Option<String> {
        let what = self.what;
        let e = enforced.canonical();
        match self.observed(resource).0 {
            None => Some(format!(
                "maximum {resource} usage per {what} is {e}.  No request is specified"
            )),
            Some(req) if req.nanos() > enforced.nanos() => Some(format!(
                "maximum {resource} usage per {what} is {e}, but request is {}",
                req.canonical()
            )),
            Some(_) => None,
        }
    }

    fn ratio(&self, resource: &str, enforced: &Quantity) -> Option<String> {
        let what = self.what;
        let e = enforced.canonical();
        let (req, lim) = self.observed(resource);
        let req = req.filter(|r| !r.is_zero());
        let Some(req) = req else {
            return Some(format!(
                "{resource} max limit to request ratio per {what} is {e}, but no request is specified or request is 0"
            ));
        };
        let Some(lim) = lim.filter(|l| !l.is_zero()) else {
            return Some(format!(
                "{resource} max limit to request ratio per {what} is {e}, but no limit is specified or limit is 0"
            ));
        };
        let observed = lim.nanos() as f64 / req.nanos() as f64;
        // Upstream compares in thousandths, the enforced ratio rounded up to one.
        let enforced_milli = (enforced.nanos() as f64 / 1e6).ceil();
        (observed * 1000.0 > enforced_milli).then(|| {
            format!("{resource} max limit to request ratio per {what} is {e}, but provided ratio is {observed:.6}")
        })
    }

    /// Every violation of `item` (min, max, maxLimitRequestRatio) in upstream's order.
    fn item(&self, item: &Value, errs: &mut Vec<String>) {
        for (field, check) in [
            (
                "/min",
                Self::min as fn(&Self, &str, &Quantity) -> Option<String>,
            ),
            ("/max", Self::max),
            ("/maxLimitRequestRatio", Self::ratio),
        ] {
            for (resource, v) in list(item, field).into_iter().flatten() {
                if let Some(q) = quantity(v)
                    && let Some(e) = check(self, resource, &q)
                {
                    errs.push(e);
                }
            }
        }
    }
}

/// Sums (containers) and maxima (init containers) of one resource field, as upstream's
/// `podRequests`/`podLimits`.
fn pod_total(pod: &Value, field: &str) -> Map<String, Value> {
    let mut total: std::collections::BTreeMap<String, Quantity> = Default::default();
    let resources = |list: &str| -> Vec<Map<String, Value>> {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| list_owned(c, field))
            .collect()
    };
    for r in resources("containers") {
        for (k, v) in r {
            if let Some(q) = quantity(&v) {
                let sum = total.get(&k).copied().unwrap_or(Quantity::ZERO).add(&q);
                total.insert(k, sum);
            }
        }
    }
    for r in resources("initContainers") {
        for (k, v) in r {
            if let Some(q) = quantity(&v)
                && total.get(&k).is_none_or(|t| q.nanos() > t.nanos())
            {
                total.insert(k, q);
            }
        }
    }
    total
        .into_iter()
        .map(|(k, q)| (k, json!(q.canonical())))
        .collect()
}

fn list_owned(container: &Value, field: &str) -> Option<Map<String, Value>> {
    container
        .pointer(&format!("/resources/{field}"))
        .and_then(Value::as_object)
        .cloned()
}

/// Upstream's `PodValidateLimitFunc` and the claim check, every violation in order.
fn violations(kind: &str, obj: &Value, items: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    let empty = Map::new();
    for item in items {
        match (kind, item["type"].as_str().unwrap_or_default()) {
            ("pods", "Container") => {
                for list_name in ["containers", "initContainers"] {
                    for c in obj
                        .pointer(&format!("/spec/{list_name}"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        Check {
                            what: "Container",
                            requests: list(c, "/resources/requests").unwrap_or(&empty),
                            limits: list(c, "/resources/limits").unwrap_or(&empty),
                        }
                        .item(item, &mut errs);
                    }
                }
            }
            ("pods", "Pod") => {
                let (requests, limits) = (pod_total(obj, "requests"), pod_total(obj, "limits"));
                Check {
                    what: "Pod",
                    requests: &requests,
                    limits: &limits,
                }
                .item(item, &mut errs);
            }
            ("persistentvolumeclaims", "PersistentVolumeClaim") => {
                let check = Check {
                    what: "PersistentVolumeClaim",
                    requests: list(obj, "/spec/resources/requests").unwrap_or(&empty),
                    limits: &empty,
                };
                for (field, max) in [("/min", false), ("/max", true)] {
                    for (resource, v) in list(item, field).into_iter().flatten() {
                        let Some(q) = quantity(v) else { continue };
                        let e = if max {
                            check.max_request(resource, &q)
                        } else {
                            check.min(resource, &q)
                        };
                        errs.extend(e);
                    }
                }
            }
            _ => {}
        }
    }
    errs
}

/// Upstream's aggregate error text: one error as itself, several in brackets.
fn aggregate(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[async_trait]
impl Mutator for LimitRanger {
    async fn admit(&self, attrs: &Attributes<'_>, object: &mut Value) -> Result<()> {
        if kind(attrs) != Some("pods") {
            return Ok(());
        }
        let items = self.items(attrs.namespace).await?;
        apply_defaults(object, &items);
        Ok(())
    }
}

#[async_trait]
impl Validator for LimitRanger {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let (Some(kind), Some(obj)) = (kind(attrs), attrs.object) else {
            return Ok(());
        };
        let items = self.items(attrs.namespace).await?;
        let errs = violations(kind, obj, &items);
        if errs.is_empty() {
            return Ok(());
        }
        Err(ApiError::forbidden(
            &GroupResource::new("", kind),
            attrs.name,
            &aggregate(&errs),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Value {
        json!({
            "type": "Container",
            "min": {"cpu": "50m", "memory": "100Mi"},
            "max": {"cpu": "500m", "memory": "500Mi"},
            "default": {"cpu": "500m", "memory": "500Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "200Mi"},
        })
    }

    #[test]
    fn missing_requests_and_limits_come_from_the_defaults() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a"},
            {"name": "b", "resources": {"requests": {"memory": "150Mi"}, "limits": {"cpu": "300m"}}},
        ]}});
        apply_defaults(&mut pod, &[item()]);
        let c = &pod["spec"]["containers"];
        assert_eq!(
            c[0]["resources"],
            json!({
                "limits": {"cpu": "500m", "memory": "500Mi"},
                "requests": {"cpu": "100m", "memory": "200Mi"},
            })
        );
        assert_eq!(
            c[1]["resources"]["limits"],
            json!({"cpu": "300m", "memory": "500Mi"})
        );
        assert_eq!(
            c[1]["resources"]["requests"],
            json!({"memory": "150Mi", "cpu": "100m"})
        );
        assert_eq!(
            pod["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; cpu request for container b; memory limit for container b"
        );
        assert!(violations("pods", &pod, &[item()]).is_empty());
    }

    #[test]
    fn minimum_maximum_and_ratio_read_as_upstreams() {
        let pod = json!({"spec": {"containers": [{"name": "a", "resources": {
            "requests": {"cpu": "10m", "memory": "50Mi"},
            "limits": {"cpu": "600m", "memory": "500Mi"},
        }}]}});
        assert_eq!(
            violations("pods", &pod, &[item()]),
            [
                "minimum cpu usage per Container is 50m, but request is 10m",
                "minimum memory usage per Container is 100Mi, but request is 50Mi",
                "maximum cpu usage per Container is 500m, but limit is 600m",
            ]
        );
        let ratio = json!({"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}});
        assert_eq!(
            violations("pods", &pod, &[ratio]),
            ["cpu max limit to request ratio per Container is 2, but provided ratio is 60.000000"]
        );
        let bare = json!({"spec": {"containers": [{"name": "a"}]}});
        let pod_max = json!({"type": "Pod", "max": {"cpu": "1"}});
        assert_eq!(
            violations("pods", &bare, &[pod_max]),
            ["maximum cpu usage per Pod is 1.  No limit is specified"]
        );
        let claim = json!({"spec": {"resources": {"requests": {"storage": "10Gi"}}}});
        let claim_max = json!({"type": "PersistentVolumeClaim", "max": {"storage": "5Gi"}});
        assert_eq!(
            violations("persistentvolumeclaims", &claim, &[claim_max]),
            ["maximum storage usage per PersistentVolumeClaim is 5Gi, but request is 10Gi"]
        );
        assert_eq!(aggregate(&["a".into(), "b".into()]), "[a, b]");
    }
}
