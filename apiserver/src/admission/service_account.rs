//! ServiceAccount: a new pod runs as a service account that exists (`default` when it names
//! none), gets the account's image pull secrets when it has none, and, unless the pod or the
//! account opts out, a projected `kube-api-access-*` volume (a bound token, the cluster's CA
//! bundle and the namespace) mounted read-only in every container at
//! `/var/run/secrets/kubernetes.io/serviceaccount`. Accounts annotated
//! `kubernetes.io/enforce-mountable-secrets=true` limit the secrets their pods may reference.
//! Mirror pods may reference no service account, secret or token.

use super::{Attributes, Mutator, Operation, Source, Validator};
use crate::errors::{ApiError, GroupResource, Result};
use crate::registry::store::generate_name;
use async_trait::async_trait;
use serde_json::{Value, json};
use std::time::Duration;

const DEFAULT_ACCOUNT: &str = "default";
const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const VOLUME_PREFIX: &str = "kube-api-access-";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";
const ENFORCE_MOUNTABLE_SECRETS: &str = "kubernetes.io/enforce-mountable-secrets";
/// The bound token's lifetime upstream asks for: the kubelet's 3607 s, which the token issuer
/// extends (with a warning after 3607 s) for clients that do not yet reload tokens.
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;
/// The default account is made by a controller just after its namespace, so a pod racing it
/// is given a couple of seconds, as upstream's 10 looks 100-200 ms apart.
const DEFAULT_ACCOUNT_ATTEMPTS: usize = 10;

pub struct ServiceAccount {
    accounts: Source,
}

/// Pods, and updates of their ephemeral containers.
fn applies(attrs: &Attributes<'_>) -> bool {
    attrs.info.group.is_empty()
        && attrs.info.resource == "pods"
        && matches!(attrs.subresource, None | Some("ephemeralcontainers"))
}

fn forbidden(attrs: &Attributes<'_>, why: &str) -> ApiError {
    ApiError::forbidden(&GroupResource::new("", "pods"), attrs.name, why)
}

fn is_mirror(pod: &Value) -> bool {
    pod.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION))
}

fn account_name(pod: &Value) -> &str {
    pod.pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn array<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

impl ServiceAccount {
    pub fn new(accounts: Source) -> Self {
        Self { accounts }
    }

    /// The account, looked for again a few times when it is the default one.
    async fn account(&self, attrs: &Attributes<'_>, name: &str) -> Result<Value> {
        let lookup_failed = |e: String| {
            forbidden(
                attrs,
                &format!(
                    "error looking up service account {}/{name}: {e}",
                    attrs.namespace
                ),
            )
        };
        if let Some(o) = self
            .accounts
            .read_recent(attrs.namespace, name)
            .await
            .map_err(|e| lookup_failed(e.to_string()))?
        {
            return o.value().map_err(ApiError::internal);
        }
        let attempts = if name == DEFAULT_ACCOUNT {
            DEFAULT_ACCOUNT_ATTEMPTS
        } else {
            1
        };
        let pause = Duration::from_millis(100 + rand::random_range(0..100));
        for _ in 1..attempts {
            tokio::time::sleep(pause).await;
            if let Some(o) = self
                .accounts
                .read_latest(attrs.namespace, name)
                .await
                .map_err(|e| lookup_failed(e.to_string()))?
            {
                return o.value().map_err(ApiError::internal);
            }
        }
        Err(lookup_failed(format!("serviceaccount {name:?} not found")))
    }
}

/// The pod's preference, then the account's; mounting is the default.
fn automounts(account: &Value, pod: &Value) -> bool {
    pod.pointer("/spec/automountServiceAccountToken")
        .and_then(Value::as_bool)
        .or_else(|| {
            account
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true)
}

/// The projected volume upstream gives every pod that mounts its account's token.
fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
            "defaultMode": 0o644,
        }
    })
}

/// Mounts the token volume in every container that has nothing at the mount path, adding the
/// volume (or reusing a `kube-api-access-*` one the pod already has) when any does.
fn mount_token(pod: &mut Value) {
    let existing = array(pod, "/spec/volumes")
        .iter()
        .map(|v| str_at(v, "/name"))
        .find(|n| n.starts_with(VOLUME_PREFIX))
        .map(str::to_string);
    let name = existing
        .clone()
        .unwrap_or_else(|| generate_name(VOLUME_PREFIX));
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let mut mounted = false;
    for field in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(field).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers.iter_mut() {
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            if !mounts.is_array() {
                *mounts = json!([]);
            }
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            if mounts.iter().any(|m| str_at(m, "/mountPath") == MOUNT_PATH) {
                continue;
            }
            mounts.push(json!({"name": name, "readOnly": true, "mountPath": MOUNT_PATH}));
            mounted = true;
        }
    }
    if mounted && existing.is_none() {
        let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
        if !volumes.is_array() {
            *volumes = json!([]);
        }
        if let Some(volumes) = volumes.as_array_mut() {
            volumes.push(token_volume(&name));
        }
    }
}

fn enforces_mountable_secrets(account: &Value) -> bool {
    account
        .pointer(&format!(
            "/metadata/annotations/{}",
            ENFORCE_MOUNTABLE_SECRETS.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .is_some_and(|v| matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

fn names<'a>(account: &'a Value, field: &str) -> Vec<&'a str> {
    array(account, &format!("/{field}"))
        .iter()
        .map(|r| str_at(r, "/name"))
        .collect()
}

/// The first secret a container's environment takes that the account does not list.
fn env_secret_violation(kind: &str, container: &Value, account: &Value) -> Option<String> {
    let allowed = names(account, "secrets");
    let account_name = str_at(account, "/metadata/name");
    let cname = str_at(container, "/name");
    for env in array(container, "/env") {
        let secret = str_at(env, "/valueFrom/secretKeyRef/name");
        if env.pointer("/valueFrom/secretKeyRef").is_some() && !allowed.contains(&secret) {
            return Some(format!(
                "{kind} {cname} with envVar {} referencing secret.secretName=\"{secret}\" is not allowed because service account {account_name} does not reference that secret",
                str_at(env, "/name")
            ));
        }
    }
    for from in array(container, "/envFrom") {
        let secret = str_at(from, "/secretRef/name");
        if from.get("secretRef").is_some() && !allowed.contains(&secret) {
            return Some(format!(
                "{kind} {cname} with envFrom referencing secret.secretName=\"{secret}\" is not allowed because service account {account_name} does not reference that secret"
            ));
        }
    }
    None
}

/// The first secret the pod references that an enforcing account does not allow.
fn secret_violation(pod: &Value, account: &Value) -> Option<String> {
    let allowed = names(account, "secrets");
    let account_name = str_at(account, "/metadata/name");
    for volume in array(pod, "/spec/volumes") {
        if let Some(secret) = volume.pointer("/secret/secretName").and_then(Value::as_str)
            && !allowed.contains(&secret)
        {
            return Some(format!(
                "volume with secret.secretName=\"{secret}\" is not allowed because service account {account_name} does not reference that secret"
            ));
        }
        for source in array(volume, "/projected/sources") {
            if let Some(secret) = source.pointer("/secret/name").and_then(Value::as_str)
                && !allowed.contains(&secret)
            {
                return Some(format!(
                    "projected volume with secret.name=\"{secret}\" is not allowed because service account {account_name} does not reference that secret"
                ));
            }
        }
    }
    for (field, kind) in [
        ("initContainers", "init container"),
        ("containers", "container"),
        ("ephemeralContainers", "ephemeral container"),
    ] {
        for c in array(pod, &format!("/spec/{field}")) {
            if let Some(v) = env_secret_violation(kind, c, account) {
                return Some(v);
            }
        }
    }
    let pull = names(account, "imagePullSecrets");
    for (i, r) in array(pod, "/spec/imagePullSecrets").iter().enumerate() {
        let name = str_at(r, "/name");
        if !pull.contains(&name) {
            return Some(format!(
                "imagePullSecrets[{i}].name=\"{name}\" is not allowed because service account {account_name} does not reference that imagePullSecret"
            ));
        }
    }
    None
}

/// Where volume sources name secrets.
const SECRET_REFERENCES: [&str; 10] = [
    "/azureFile/secretName",
    "/cephfs/secretRef",
    "/cinder/secretRef",
    "/flexVolume/secretRef",
    "/rbd/secretRef",
    "/scaleIO/secretRef",
    "/iscsi/secretRef",
    "/storageos/secretRef",
    "/csi/nodePublishSecretRef",
    "/secret/secretName",
];

/// Whether a mirror pod references a secret anywhere (volumes, projections, environment,
/// pull secrets).
fn references_secrets(pod: &Value) -> bool {
    let volumes = array(pod, "/spec/volumes");
    let in_volume = volumes.iter().any(|v| {
        v.get("secret").is_some()
            || array(v, "/projected/sources")
                .iter()
                .any(|s| s.get("secret").is_some())
            || SECRET_REFERENCES
                .iter()
                .any(|pointer| v.pointer(pointer).is_some())
    });
    let in_containers = ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|f| array(pod, &format!("/spec/{f}")))
        .any(|c| {
            array(c, "/env")
                .iter()
                .any(|e| e.pointer("/valueFrom/secretKeyRef").is_some())
                || array(c, "/envFrom")
                    .iter()
                    .any(|e| e.get("secretRef").is_some())
        });
    in_volume || in_containers || !array(pod, "/spec/imagePullSecrets").is_empty()
}

fn mirror_violation(pod: &Value) -> Option<&'static str> {
    if !account_name(pod).is_empty() {
        return Some("a mirror pod may not reference service accounts");
    }
    if references_secrets(pod) {
        return Some("a mirror pod may not reference secrets");
    }
    let projects_token = array(pod, "/spec/volumes").iter().any(|v| {
        array(v, "/projected/sources")
            .iter()
            .any(|s| s.get("serviceAccountToken").is_some())
    });
    projects_token.then_some("a mirror pod may not use ServiceAccountToken volume projections")
}

#[async_trait]
impl Mutator for ServiceAccount {
    async fn admit(&self, attrs: &Attributes<'_>, pod: &mut Value) -> Result<()> {
        if !applies(attrs)
            || attrs.operation != Operation::Create
            || attrs.subresource.is_some()
            || is_mirror(pod)
        {
            return Ok(());
        }
        if account_name(pod).is_empty()
            && let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.insert("serviceAccountName".into(), json!(DEFAULT_ACCOUNT));
        }
        let account = self.account(attrs, account_name(pod)).await?;
        if automounts(&account, pod) {
            mount_token(pod);
        }
        let pull_secrets = array(&account, "/imagePullSecrets");
        if array(pod, "/spec/imagePullSecrets").is_empty()
            && !pull_secrets.is_empty()
            && let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.insert("imagePullSecrets".into(), json!(pull_secrets));
        }
        Ok(())
    }
}

#[async_trait]
impl Validator for ServiceAccount {
    async fn validate(&self, attrs: &Attributes<'_>) -> Result<()> {
        let Some(pod) = attrs.object.filter(|_| applies(attrs)) else {
            return Ok(());
        };
        match (attrs.operation, attrs.subresource) {
            (Operation::Create, None) => {}
            (Operation::Update, Some("ephemeralcontainers")) => {
                let account = self.account(attrs, account_name(pod)).await?;
                if !enforces_mountable_secrets(&account) {
                    return Ok(());
                }
                return match array(pod, "/spec/ephemeralContainers")
                    .iter()
                    .find_map(|c| env_secret_violation("ephemeral container", c, &account))
                {
                    Some(why) => Err(forbidden(attrs, &why)),
                    None => Ok(()),
                };
            }
            _ => return Ok(()),
        }
        if is_mirror(pod) {
            return match mirror_violation(pod) {
                Some(why) => Err(forbidden(attrs, why)),
                None => Ok(()),
            };
        }
        let name = account_name(pod);
        if name.is_empty() {
            return Err(forbidden(
                attrs,
                &format!(
                    "no service account specified for pod {}/{}",
                    attrs.namespace, attrs.name
                ),
            ));
        }
        let account = self.account(attrs, name).await?;
        if enforces_mountable_secrets(&account)
            && let Some(why) = secret_violation(pod, &account)
        {
            return Err(forbidden(attrs, &why));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    #[test]
    fn every_container_mounts_one_new_projected_volume() {
        let mut p = pod(json!({
            "initContainers": [{"name": "i"}],
            "containers": [{"name": "a"}, {"name": "b", "volumeMounts": [{"name": "x", "mountPath": "/data"}]}],
        }));
        mount_token(&mut p);
        let volumes = array(&p, "/spec/volumes");
        assert_eq!(volumes.len(), 1);
        let name = str_at(&volumes[0], "/name");
        assert!(name.starts_with(VOLUME_PREFIX) && name.len() == VOLUME_PREFIX.len() + 5);
        assert_eq!(volumes[0]["projected"]["defaultMode"], 420);
        assert_eq!(
            volumes[0]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            3607
        );
        for c in [
            "/spec/initContainers/0",
            "/spec/containers/0",
            "/spec/containers/1",
        ] {
            let mounts = array(&p, &format!("{c}/volumeMounts"));
            let m = mounts.last().unwrap();
            assert_eq!(m["name"], name);
            assert_eq!(m["mountPath"], MOUNT_PATH);
            assert_eq!(m["readOnly"], true);
        }
    }

    #[test]
    fn a_container_with_its_own_mount_there_keeps_it() {
        let mut p = pod(json!({
            "containers": [{"name": "a", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]}],
            "volumes": [{"name": "mine", "emptyDir": {}}],
        }));
        mount_token(&mut p);
        assert_eq!(array(&p, "/spec/volumes").len(), 1, "{p}");
        assert_eq!(array(&p, "/spec/containers/0/volumeMounts").len(), 1);
    }

    #[test]
    fn an_existing_access_volume_is_reused() {
        let mut p = pod(json!({
            "containers": [{"name": "a"}],
            "volumes": [{"name": "kube-api-access-abcde", "emptyDir": {}}],
        }));
        mount_token(&mut p);
        assert_eq!(array(&p, "/spec/volumes").len(), 1);
        assert_eq!(
            p["spec"]["containers"][0]["volumeMounts"][0]["name"],
            "kube-api-access-abcde"
        );
    }

    #[test]
    fn the_pod_preference_wins_over_the_account() {
        let off = json!({"automountServiceAccountToken": false});
        assert!(!automounts(&off, &pod(json!({}))));
        assert!(automounts(
            &off,
            &pod(json!({"automountServiceAccountToken": true}))
        ));
        assert!(automounts(&json!({}), &pod(json!({}))));
    }

    #[test]
    fn enforcing_accounts_limit_secret_references() {
        let account = json!({
            "metadata": {"name": "sa", "annotations": {ENFORCE_MOUNTABLE_SECRETS: "true"}},
            "secrets": [{"name": "ok"}],
            "imagePullSecrets": [{"name": "pull"}],
        });
        assert!(enforces_mountable_secrets(&account));
        assert_eq!(
            secret_violation(
                &pod(json!({"volumes": [{"name": "v", "secret": {"secretName": "ok"}}]})),
                &account
            ),
            None
        );
        assert_eq!(
            secret_violation(
                &pod(json!({"volumes": [{"name": "v", "secret": {"secretName": "nope"}}]})),
                &account
            )
            .unwrap(),
            "volume with secret.secretName=\"nope\" is not allowed because service account sa does not reference that secret"
        );
        assert_eq!(
            secret_violation(
                &pod(json!({"containers": [{"name": "c", "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]}]})),
                &account
            )
            .unwrap(),
            "container c with envVar E referencing secret.secretName=\"nope\" is not allowed because service account sa does not reference that secret"
        );
        assert_eq!(
            secret_violation(
                &pod(json!({"imagePullSecrets": [{"name": "pull"}, {"name": "other"}]})),
                &account
            )
            .unwrap(),
            "imagePullSecrets[1].name=\"other\" is not allowed because service account sa does not reference that imagePullSecret"
        );
        assert!(!enforces_mountable_secrets(&json!({"metadata": {}})));
    }

    #[test]
    fn mirror_pods_reference_no_account_or_secret() {
        assert_eq!(
            mirror_violation(&pod(json!({"serviceAccountName": "x"}))),
            Some("a mirror pod may not reference service accounts")
        );
        assert_eq!(
            mirror_violation(&pod(
                json!({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]})
            )),
            Some("a mirror pod may not reference secrets")
        );
        assert_eq!(
            mirror_violation(&pod(json!({"containers": [{"name": "c"}]}))),
            None
        );
    }
}
