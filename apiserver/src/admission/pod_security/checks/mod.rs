//! The checks of the Pod Security Standards, one file per upstream `policy/check_*.go`, and
//! the read-only view of a pod (or pod template) they judge. [`CHECKS`] lists them in the
//! order upstream reports them: baseline checks by ID, then restricted checks by ID.
//!
//! Checks read the pod as JSON, as stored. A field that is absent or `null` is unset, as a
//! nil pointer upstream.

mod allow_privilege_escalation;
mod app_armor;
mod capabilities_baseline;
mod capabilities_restricted;
mod host_namespaces;
mod host_path_volumes;
mod host_ports;
mod privileged;
mod proc_mount;
mod restricted_volumes;
mod run_as_non_root;
mod run_as_user;
mod seccomp_baseline;
mod seccomp_restricted;
mod selinux;
mod sysctls;
mod windows_host_process;

use super::policy::Check;
use serde_json::{Map, Value};

/// Every check, in upstream's order.
pub const CHECKS: &[&Check] = &[
    // Baseline.
    &app_armor::CHECK,
    &capabilities_baseline::CHECK,
    &host_namespaces::CHECK,
    &host_path_volumes::CHECK,
    &host_ports::CHECK,
    &privileged::CHECK,
    &proc_mount::CHECK,
    &selinux::CHECK,
    &seccomp_baseline::CHECK,
    &sysctls::CHECK,
    &windows_host_process::CHECK,
    // Restricted.
    &allow_privilege_escalation::CHECK,
    &capabilities_restricted::CHECK,
    &restricted_volumes::CHECK,
    &run_as_non_root::CHECK,
    &run_as_user::CHECK,
    &seccomp_restricted::CHECK,
];

/// A field of an object, `None` when absent or `null`.
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|f| !f.is_null())
}

/// A pod's metadata and spec (or a pod template's).
pub struct Pod<'a> {
    metadata: &'a Value,
    spec: &'a Value,
}

impl<'a> Pod<'a> {
    pub fn new(metadata: &'a Value, spec: &'a Value) -> Self {
        Self { metadata, spec }
    }

    pub fn annotations(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        field(self.metadata, "annotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }

    pub fn annotation(&self, key: &str) -> Option<&'a str> {
        field(self.metadata, "annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }

    /// A top-level spec field.
    pub fn spec(&self, key: &str) -> Option<&'a Value> {
        field(self.spec, key)
    }

    /// A field of `spec.securityContext`.
    pub fn security_context(&self, key: &str) -> Option<&'a Value> {
        self.spec("securityContext").and_then(|sc| field(sc, key))
    }

    /// Init containers, then containers, then ephemeral containers: upstream's visiting order,
    /// which is the order names appear in details.
    pub fn containers(&self) -> impl Iterator<Item = Container<'a>> {
        ["initContainers", "containers", "ephemeralContainers"]
            .into_iter()
            .filter_map(|key| field(self.spec, key).and_then(Value::as_array))
            .flatten()
            .map(Container)
    }

    pub fn volumes(&self) -> impl Iterator<Item = &'a Map<String, Value>> {
        self.spec("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    }

    /// `spec.os.name` is `windows`: Linux-only fields cannot be set, so restricted checks on
    /// them exempt the pod from v1.25.
    pub fn is_windows(&self) -> bool {
        self.spec("os")
            .and_then(|os| field(os, "name"))
            .and_then(Value::as_str)
            == Some("windows")
    }
}

/// A container, init container or ephemeral container.
pub struct Container<'a>(&'a Value);

impl<'a> Container<'a> {
    pub fn name(&self) -> &'a str {
        field(self.0, "name").and_then(Value::as_str).unwrap_or("")
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        field(self.0, key)
    }

    /// The container's `securityContext`, when set.
    pub fn security_context(&self) -> Option<&'a Value> {
        self.get("securityContext")
    }

    /// A field of the container's `securityContext`.
    pub fn sc(&self, key: &str) -> Option<&'a Value> {
        self.security_context().and_then(|sc| field(sc, key))
    }
}

/// A nested field under an optional object, `None` when any step is unset.
pub fn path<'a>(v: Option<&'a Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v?, |v, k| field(v, k))
}

pub fn pluralize<'s>(singular: &'s str, plural: &'s str, count: usize) -> &'s str {
    if count == 1 { singular } else { plural }
}

/// `"a", "b"`: upstream's `joinQuote`, which quotes without escaping.
pub fn join_quote<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let inner: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("\"{}\"", inner.join("\", \""))
}

/// `container "a"` / `containers "a", "b"`.
pub fn containers_phrase<S: AsRef<str>>(names: &[S]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

/// Go's `%q` for the strings these checks print (annotation values): quoted, with quotes
/// and backslashes escaped.
pub fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
pub mod testing {
    //! Helpers for the checks' tests.
    use super::super::policy::{CheckFn, Violation};
    use super::Pod;
    use serde_json::Value;

    /// Runs a check on a pod given as `{"metadata": .., "spec": ..}`.
    pub fn run(check: CheckFn, pod: &Value) -> Option<Violation> {
        check(&Pod::new(&pod["metadata"], &pod["spec"]))
    }

    /// Runs a check on a pod with only a spec.
    pub fn run_spec(check: CheckFn, spec: Value) -> Option<Violation> {
        let pod = serde_json::json!({ "spec": spec });
        run(check, &pod)
    }

    /// Asserts the check refuses with this reason and detail.
    pub fn refuses(got: Option<Violation>, reason: &str, detail: &str) {
        let v = got.unwrap_or_else(|| panic!("expected a refusal: {reason} ({detail})"));
        assert_eq!(v.reason, reason);
        assert_eq!(v.detail, detail);
    }

    /// A container named `name` with this security context (none when `Null`).
    pub fn container(name: &str, sc: Value) -> Value {
        if sc.is_null() {
            serde_json::json!({ "name": name })
        } else {
            serde_json::json!({ "name": name, "securityContext": sc })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_are_visited_init_first_then_ephemeral_last() {
        let spec = json!({
            "ephemeralContainers": [{"name": "e"}],
            "containers": [{"name": "c1"}, {"name": "c2"}],
            "initContainers": [{"name": "i"}]
        });
        let pod = Pod::new(&Value::Null, &spec);
        let names: Vec<&str> = pod.containers().map(|c| c.name()).collect();
        assert_eq!(names, ["i", "c1", "c2", "e"]);
    }

    #[test]
    fn quoting_is_upstreams() {
        assert_eq!(join_quote::<&str>(&[]), "");
        assert_eq!(join_quote(&["a"]), r#""a""#);
        assert_eq!(join_quote(&["a", "b=\"c\""]), r#""a", "b="c"""#);
        assert_eq!(containers_phrase(&["a", "b"]), r#"containers "a", "b""#);
        assert_eq!(go_quote("x\"y"), r#""x\"y""#);
        assert_eq!(path(Some(&json!({"a": {"b": null}})), &["a", "b"]), None);
    }
}
