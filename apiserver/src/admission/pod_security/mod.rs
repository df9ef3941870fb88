//! PodSecurity: the Pod Security Standards (privileged, baseline, restricted) applied per
//! namespace, as upstream's built-in Pod Security Admission (v1.33) with its default
//! configuration (every mode `privileged:latest`, no exemptions).
//!
//! A namespace chooses, by its `pod-security.kubernetes.io/*` labels, a level and policy
//! version to **enforce** (pods that violate it are refused), to **warn** about (the client
//! gets a `Warning` header) and to **audit** (upstream annotates the audit event; ferrokube
//! does not yet). Pods are judged on create, on updates that change what the checks read
//! (images, containers) and when ephemeral containers are added. Workload resources with a
//! pod template (deployments, jobs, ...) are judged for warnings only: their pods are
//! enforced when created. A namespace write with labels that do not parse is invalid, and
//! one that tightens the enforce level warns about the existing pods that would not be
//! admitted any more.
//!
//! `level` parses the labels, `checks` holds one file per check of the standards, `policy`
//! runs the checks of a level at a version and aggregates what they say, and `namespace`
//! judges namespace writes.

mod checks;
mod level;
mod namespace;
mod policy;

use super::{Attributes, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use async_trait::async_trait;
use checks::Pod;
use level::{Policy, policy_to_evaluate};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct PodSecurity {
    namespaces: Source,
    /// The existing pods a namespace label change is checked against.
    pods: Source,
}

/// Pod subresources that cannot change what the checks read.
const IGNORED_POD_SUBRESOURCES: &[&str] = &[
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

/// Where a workload resource keeps its pod template; `None` for other resources.
fn template_path(group: &str, resource: &str) -> Option<&'static str> {
    match (group, resource) {
        ("", "replicationcontrollers") => Some("/spec/template"),
        ("", "podtemplates") => Some("/template"),
        ("apps", "replicasets" | "deployments" | "statefulsets" | "daemonsets")
        | ("batch", "jobs") => Some("/spec/template"),
        ("batch", "cronjobs") => Some("/spec/jobTemplate/spec/template"),
        _ => None,
    }
}

/// The labels of an object, string values only.
fn labels(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}

fn string_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// Whether an update changes anything the checks read. As upstream, only what pod
/// validation lets change is compared: the number of (init) containers, their images, and
/// the ephemeral containers (added, or with a new image).
fn is_significant_pod_update(pod: &Value, old: &Value) -> bool {
    let list = |v: &Value, key: &str| -> Vec<Value> {
        v.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for key in ["containers", "initContainers"] {
        let (new, old) = (list(pod, key), list(old, key));
        if new.len() != old.len()
            || new
                .iter()
                .zip(&old)
                .any(|(n, o)| string_at(n, "/image") != string_at(o, "/image"))
        {
            return true;
        }
    }
    let old_ephemeral = list(old, "ephemeralContainers");
    list(pod, "ephemeralContainers").iter().any(|c| {
        let name = string_at(c, "/name");
        match old_ephemeral.iter().find(|o| string_at(o, "/name") == name) {
            None => true,
            Some(o) => string_at(c, "/image") != string_at(o, "/image"),
        }
    })
}

impl PodSecurity {
    pub fn new(namespaces: Source, pods: Source) -> Self {
        Self { namespaces, pods }
    }

    /// The labels of a namespace; `None` when it cannot be read.
    async fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        #[derive(serde::Deserialize, Default)]
        struct Meta {
            #[serde(default)]
            labels: BTreeMap<String, String>,
        }
        #[derive(serde::Deserialize)]
        struct Namespace {
            #[serde(default)]
            metadata: Meta,
        }
        let obj = self.namespaces.read_recent("", name).await.ok()??;
        let ns: Namespace = serde_json::from_slice(&obj.json).ok()?;
        Some(ns.metadata.labels)
    }

    async fn validate_pod(&self, attrs: &Attributes<'_>) -> Result<()> {
        if attrs
            .subresource
            .is_some_and(|s| IGNORED_POD_SUBRESOURCES.contains(&s))
        {
            return Ok(());
        }
        let Some(labels) = self.namespace_labels(attrs.namespace).await else {
            return Err(ApiError::internal(format!(
                "failed to lookup namespace {:?}",
                attrs.namespace
            )));
        };
        let (policy, errs) = policy_to_evaluate(&labels, Policy::PRIVILEGED);
        if errs.is_empty() && policy.fully_privileged() {
            return Ok(());
        }
        let Some(pod) = attrs.object else {
            return Ok(());
        };
        if attrs.operation == Operation::Update
            && let Some(old) = attrs.old
            && !is_significant_pod_update(pod, old)
        {
            return Ok(());
        }
        let view = Pod::new(&pod["metadata"], &pod["spec"]);
        evaluate(attrs, &policy, &view, true)
    }

    async fn validate_pod_controller(&self, attrs: &Attributes<'_>, template: &str) -> Result<()> {
        if attrs.subresource.is_some() {
            return Ok(());
        }
        // A workload is never refused by this plugin: when its namespace cannot be read,
        // upstream only notes it in the audit event.
        let Some(labels) = self.namespace_labels(attrs.namespace).await else {
            return Ok(());
        };
        let (policy, errs) = policy_to_evaluate(&labels, Policy::PRIVILEGED);
        if errs.is_empty()
            && policy.warn.level == level::Level::Privileged
            && policy.audit.level == level::Level::Privileged
        {
            return Ok(());
        }
        let Some(obj) = attrs.object else {
            return Ok(());
        };
        let Some(template) = obj.pointer(template).filter(|t| !t.is_null()) else {
            // Only a replication controller may come without a template.
            return Ok(());
        };
        let view = Pod::new(&template["metadata"], &template["spec"]);
        evaluate(attrs, &policy, &view, false)
    }
}

/// Judges a pod (or template) against the namespace's policy: refuses it when `enforce`
/// and it violates the enforce level, else warns when it violates the warn level. The
/// audit level would only annotate the audit event, which is not done yet.
fn evaluate(attrs: &Attributes<'_>, policy: &Policy, pod: &Pod<'_>, enforce: bool) -> Result<()> {
    let mut enforced = None;
    if enforce {
        let result = policy::evaluate(policy.enforce, pod);
        if !result.allowed() {
            return Err(ApiError::forbidden(
                &GroupResource::new("", "pods"),
                attrs.name,
                &format!(
                    "violates PodSecurity {:?}: {}",
                    policy.enforce.to_string(),
                    result.forbidden_detail()
                ),
            ));
        }
        enforced = Some(result);
    }
    let warned = match enforced {
        Some(result) if policy.warn == policy.enforce => result,
        _ => policy::evaluate(policy.warn, pod),
    };
    if !warned.allowed() {
        attrs.warnings.add(format!(
            "would violate PodSecurity {:?}: {}",
            policy.warn.to_string(),
            warned.forbidden_detail()
        ));
    }
    Ok(())
}

#[async_trait]
impl Validator for PodSecurity {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        if !matches!(attrs.operation, Operation::Create | Operation::Update) {
            return Ok(());
        }
        match (attrs.info.group, attrs.info.resource) {
            ("", "namespaces") => namespace::validate(self, attrs).await,
            ("", "pods") => self.validate_pod(attrs).await,
            (group, resource) => match template_path(group, resource) {
                Some(template) => self.validate_pod_controller(attrs, template).await,
                None => Ok(()),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::admission::Warnings;
    use crate::authn::user::UserInfo;
    use crate::registry::ResourceInfo;
    use crate::storage::{
        Error as StorageError, ListPage, ListRequest, Object, ReadAt, Result as StorageResult,
        Storage, WatchRequest, WatchStream,
    };
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    /// An in-memory store: enough of [`Storage`] for the plugin's reads.
    #[derive(Default)]
    pub struct Memory(Mutex<BTreeMap<String, Value>>);

    impl Memory {
        pub fn put(&self, key: &str, v: Value) {
            if let Ok(mut m) = self.0.lock() {
                m.insert(key.to_string(), v);
            }
        }

        fn object(key: &str, v: &Value) -> Object {
            Object {
                key: key.into(),
                rv: 1,
                json: serde_json::to_vec(v).unwrap_or_default().into(),
                stale: false,
            }
        }
    }

    #[async_trait]
    impl Storage for Memory {
        async fn create(&self, key: &str, obj: &Value) -> StorageResult<Object> {
            self.put(key, obj.clone());
            Ok(Self::object(key, obj))
        }

        async fn get(&self, key: &str, _: ReadAt) -> StorageResult<Object> {
            let m = self
                .0
                .lock()
                .map_err(|e| StorageError::Internal(e.to_string()))?;
            m.get(key)
                .map(|v| Self::object(key, v))
                .ok_or(StorageError::NotFound { key: key.into() })
        }

        async fn update(&self, key: &str, _: i64, obj: &Value) -> StorageResult<Object> {
            self.create(key, obj).await
        }

        async fn delete(&self, key: &str, _: i64) -> StorageResult<Object> {
            Err(StorageError::Internal(format!("delete {key}")))
        }

        async fn list(&self, req: &ListRequest) -> StorageResult<ListPage> {
            let m = self
                .0
                .lock()
                .map_err(|e| StorageError::Internal(e.to_string()))?;
            Ok(ListPage {
                items: m
                    .iter()
                    .filter(|(k, _)| k.starts_with(&req.prefix))
                    .map(|(k, v)| Self::object(k, v))
                    .collect(),
                rv: 1,
                ..Default::default()
            })
        }

        async fn watch(&self, _: &WatchRequest) -> StorageResult<WatchStream> {
            Err(StorageError::Internal("watch".into()))
        }

        async fn current_revision(&self) -> StorageResult<i64> {
            Ok(1)
        }
    }

    pub const NAMESPACES: ResourceInfo =
        ResourceInfo::new("", "v1", "namespaces", "Namespace", "namespace", false);
    pub const PODS: ResourceInfo = ResourceInfo::new("", "v1", "pods", "Pod", "pod", true);
    const DEPLOYMENTS: ResourceInfo = ResourceInfo::new(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        "deployment",
        true,
    );
    const CRONJOBS: ResourceInfo =
        ResourceInfo::new("batch", "v1", "cronjobs", "CronJob", "cronjob", true);
    const CONFIGMAPS: ResourceInfo =
        ResourceInfo::new("", "v1", "configmaps", "ConfigMap", "configmap", true);

    /// The plugin over in-memory stores, with namespaces and pods to read.
    pub fn plugin(namespaces: &[Value], pods: &[Value]) -> PodSecurity {
        let ns = Arc::new(Memory::default());
        for n in namespaces {
            ns.put(
                &format!("/ns/{}", string_at(n, "/metadata/name")),
                n.clone(),
            );
        }
        let ps = Arc::new(Memory::default());
        for p in pods {
            ps.put(
                &format!(
                    "/pods/{}/{}",
                    string_at(p, "/metadata/namespace"),
                    string_at(p, "/metadata/name")
                ),
                p.clone(),
            );
        }
        PodSecurity::new(Source::new(ns, "/ns/"), Source::new(ps, "/pods/"))
    }

    pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| (format!("pod-security.kubernetes.io/{k}"), json!(v)))
            .collect();
        json!({"metadata": {"name": name, "labels": labels}})
    }

    pub struct Request<'a> {
        pub operation: Operation,
        pub info: &'a ResourceInfo,
        pub subresource: Option<&'a str>,
        pub name: &'a str,
        pub namespace: &'a str,
        pub object: Option<&'a Value>,
        pub old: Option<&'a Value>,
    }

    /// Runs the plugin; the result and the warnings it gave.
    pub async fn admit(p: &PodSecurity, r: Request<'_>) -> (Result<()>, Vec<String>) {
        let user = UserInfo::default();
        let warnings = Warnings::default();
        let attrs = Attributes {
            operation: r.operation,
            info: r.info,
            subresource: r.subresource,
            namespace: r.namespace,
            name: r.name,
            object: r.object,
            old: r.old,
            user: &user,
            dry_run: false,
            warnings: &warnings,
            annotations: &Default::default(),
        };
        let result = p.validate(&attrs).await;
        (result, warnings.take())
    }

    fn create<'a>(info: &'a ResourceInfo, name: &'a str, obj: &'a Value) -> Request<'a> {
        Request {
            operation: Operation::Create,
            info,
            subresource: None,
            name,
            namespace: "ns",
            object: Some(obj),
            old: None,
        }
    }

    pub fn privileged_pod(name: &str, namespace: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{
                "name": "c",
                "image": "busybox",
                "securityContext": {"privileged": true}
            }]}
        })
    }

    const RESTRICTED_DETAIL: &str = concat!(
        r#"privileged (container "c" must not set securityContext.privileged=true), "#,
        r#"allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), "#,
        r#"unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), "#,
        r#"runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), "#,
        r#"seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#
    );

    #[tokio::test]
    async fn enforce_refuses_with_upstreams_message() {
        let p = plugin(&[namespace("ns", &[("enforce", "restricted")])], &[]);
        let pod = privileged_pod("p", "ns");
        let (result, warnings) = admit(&p, create(&PODS, "p", &pod)).await;
        let e = result.unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(e.reason, "Forbidden");
        assert_eq!(
            e.message,
            format!(
                r#"pods "p" is forbidden: violates PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )
        );
        // A refused request gets no warnings.
        assert!(warnings.is_empty());

        let p = plugin(
            &[namespace(
                "ns",
                &[("enforce", "baseline"), ("enforce-version", "v1.20")],
            )],
            &[],
        );
        let e = admit(&p, create(&PODS, "p", &pod)).await.0.unwrap_err();
        assert_eq!(
            e.message,
            r#"pods "p" is forbidden: violates PodSecurity "baseline:v1.20": privileged (container "c" must not set securityContext.privileged=true)"#
        );
    }

    #[tokio::test]
    async fn compliant_pods_and_privileged_namespaces_pass() {
        let pod = json!({"metadata": {"name": "ok", "namespace": "ns"}, "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "busybox", "securityContext": {
                "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
        }});
        let p = plugin(&[namespace("ns", &[("enforce", "restricted")])], &[]);
        assert_eq!(admit(&p, create(&PODS, "ok", &pod)).await, (Ok(()), vec![]));
        // No labels: privileged, nothing is checked.
        let p = plugin(&[namespace("ns", &[])], &[]);
        let bad = privileged_pod("p", "ns");
        assert_eq!(admit(&p, create(&PODS, "p", &bad)).await, (Ok(()), vec![]));
        // Deletes and connects are not judged.
        let p = plugin(&[namespace("ns", &[("enforce", "restricted")])], &[]);
        let mut r = create(&PODS, "p", &bad);
        r.operation = Operation::Delete;
        assert_eq!(admit(&p, r).await, (Ok(()), vec![]));
    }

    #[tokio::test]
    async fn warn_mode_warns_and_admits() {
        let p = plugin(&[namespace("ns", &[("warn", "baseline")])], &[]);
        let pod = privileged_pod("p", "ns");
        assert_eq!(
            admit(&p, create(&PODS, "p", &pod)).await,
            (
                Ok(()),
                vec![
                    r#"would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)"#
                        .to_string()
                ]
            )
        );
        // Enforcing baseline and warning about restricted: admitted with the restricted
        // warning.
        let p = plugin(
            &[namespace(
                "ns",
                &[("enforce", "baseline"), ("warn", "restricted")],
            )],
            &[],
        );
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        let (result, warnings) = admit(&p, create(&PODS, "p", &pod)).await;
        assert_eq!(result, Ok(()));
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                r#"would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false"#
            ),
            "{warnings:?}"
        );
    }

    #[tokio::test]
    async fn bad_labels_fail_closed_for_enforce_and_open_for_warn() {
        let pod = privileged_pod("p", "ns");
        let p = plugin(&[namespace("ns", &[("enforce", "strict")])], &[]);
        let e = admit(&p, create(&PODS, "p", &pod)).await.0.unwrap_err();
        assert!(
            e.message
                .starts_with(r#"pods "p" is forbidden: violates PodSecurity "restricted:latest""#),
            "{}",
            e.message
        );
        let p = plugin(&[namespace("ns", &[("warn", "strict")])], &[]);
        assert_eq!(admit(&p, create(&PODS, "p", &pod)).await, (Ok(()), vec![]));
    }

    #[tokio::test]
    async fn a_missing_namespace_is_an_internal_error() {
        let p = plugin(&[], &[]);
        let pod = privileged_pod("p", "ns");
        let e = admit(&p, create(&PODS, "p", &pod)).await.0.unwrap_err();
        assert_eq!(e.code, 500);
        assert_eq!(
            e.message,
            r#"Internal error occurred: failed to lookup namespace "ns""#
        );
    }

    fn update<'a>(new: &'a Value, old: &'a Value, sub: Option<&'a str>) -> Request<'a> {
        Request {
            operation: Operation::Update,
            info: &PODS,
            subresource: sub,
            name: "p",
            namespace: "ns",
            object: Some(new),
            old: Some(old),
        }
    }

    #[tokio::test]
    async fn updates_are_judged_when_they_matter() {
        let p = plugin(&[namespace("ns", &[("enforce", "baseline")])], &[]);
        let old = privileged_pod("p", "ns");
        // Labels only: allowed although the pod violates the level.
        let mut relabelled = old.clone();
        relabelled["metadata"]["labels"] = json!({"a": "b"});
        assert_eq!(admit(&p, update(&relabelled, &old, None)).await.0, Ok(()));
        // A new image: judged.
        let mut reimaged = old.clone();
        reimaged["spec"]["containers"][0]["image"] = json!("busybox:2");
        assert!(admit(&p, update(&reimaged, &old, None)).await.0.is_err());
        // Status updates are never judged.
        assert_eq!(
            admit(&p, update(&reimaged, &old, Some("status"))).await.0,
            Ok(())
        );
        // An ephemeral container added through its subresource: judged.
        let mut debugged = old.clone();
        debugged["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
        assert!(
            admit(&p, update(&debugged, &old, Some("ephemeralcontainers")))
                .await
                .0
                .is_err()
        );
    }

    #[test]
    fn significant_updates_are_upstreams() {
        let pod = |spec: Value| json!({ "metadata": {"name": "p"}, "spec": spec });
        let base = pod(json!({
            "initContainers": [{"name": "i", "image": "a"}],
            "containers": [{"name": "c", "image": "a"}],
            "ephemeralContainers": [{"name": "e", "image": "a"}]
        }));
        let changed = |f: &dyn Fn(&mut Value)| {
            let mut v = base.clone();
            f(&mut v);
            is_significant_pod_update(&v, &base)
        };
        assert!(!changed(&|_| {}));
        assert!(!changed(
            &|v| v["metadata"]["annotations"] = json!({"x": "y"})
        ));
        assert!(!changed(&|v| {
            v["spec"]["containers"][0]["securityContext"] = json!({"privileged": true})
        }));
        assert!(!changed(&|v| v["spec"]["activeDeadlineSeconds"] = json!(5)));
        assert!(changed(
            &|v| v["spec"]["containers"][0]["image"] = json!("b")
        ));
        assert!(changed(
            &|v| v["spec"]["initContainers"][0]["image"] = json!("b")
        ));
        assert!(changed(&|v| v["spec"]["containers"] = json!([])));
        assert!(changed(&|v| {
            v["spec"]["initContainers"] = json!([{"name": "i", "image": "a"}, {"name": "j"}])
        }));
        assert!(changed(
            &|v| v["spec"]["ephemeralContainers"][0]["image"] = json!("b")
        ));
        assert!(changed(&|v| {
            v["spec"]["ephemeralContainers"] =
                json!([{"name": "e", "image": "a"}, {"name": "f", "image": "a"}])
        }));
        // Ephemeral containers are matched by name, not position.
        assert!(!changed(&|v| {
            v["spec"]["ephemeralContainers"] = json!([{"name": "e", "image": "a"}])
        }));
    }

    #[tokio::test]
    async fn workloads_are_warned_about_never_refused() {
        let p = plugin(&[namespace("ns", &[("enforce", "restricted")])], &[]);
        let deployment = json!({
            "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"template": privileged_pod("", "")}
        });
        let (result, warnings) = admit(&p, create(&DEPLOYMENTS, "d", &deployment)).await;
        assert_eq!(result, Ok(()));
        assert_eq!(
            warnings,
            [format!(
                r#"would violate PodSecurity "restricted:latest": {RESTRICTED_DETAIL}"#
            )]
        );
        let cronjob = json!({
            "metadata": {"name": "cj", "namespace": "ns"},
            "spec": {"jobTemplate": {"spec": {"template": privileged_pod("", "")}}}
        });
        let (result, warnings) = admit(&p, create(&CRONJOBS, "cj", &cronjob)).await;
        assert_eq!(result, Ok(()));
        assert_eq!(warnings.len(), 1);
        // Their subresources (scale, status) are not judged.
        let mut r = create(&DEPLOYMENTS, "d", &deployment);
        r.subresource = Some("scale");
        assert_eq!(admit(&p, r).await, (Ok(()), vec![]));
        // Other resources are not either.
        assert_eq!(
            admit(&p, create(&CONFIGMAPS, "cm", &deployment)).await,
            (Ok(()), vec![])
        );
        // Enforce-only namespaces warn at the enforce level; an explicit privileged warn
        // level silences workloads.
        let p = plugin(
            &[namespace(
                "ns",
                &[("enforce", "restricted"), ("warn", "privileged")],
            )],
            &[],
        );
        assert_eq!(
            admit(&p, create(&DEPLOYMENTS, "d", &deployment)).await,
            (Ok(()), vec![])
        );
    }
}
