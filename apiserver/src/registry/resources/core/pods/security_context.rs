//! Upstream's validation of pod and container security contexts
//! (`validatePodSpecSecurityContext`, `validateSysctls`, `ValidateSecurityContext` in
//! `pkg/apis/core/validation`): user and group id ranges, sysctl names (dots or slashes as
//! separators, no duplicates, none of the host's namespaced ones when the pod shares that
//! namespace with the host), and the enums of fsGroupChangePolicy, supplementalGroupsPolicy,
//! procMount, seccomp and AppArmor profiles.
//!
//! Left out: Windows options (`windowsOptions`, host-process pods), seLinuxChangePolicy (its
//! allowed values depend on feature gates), and `privileged` against `--allow-privileged`.

use super::validation::local_descending_path;
use crate::registry::resources::core::common::{array_at, bool_at, int_at, invalid_raw, str_at};
use apimachinery::field_errors::{FieldError, FieldErrors, child, index};
use apimachinery::validation::inclusive_range_error;
use serde_json::Value;
use std::collections::HashSet;

/// Upstream's `SysctlMaxLength`.
const SYSCTL_MAX_LENGTH: usize = 253;
/// Upstream's `sysctlContainSlashRegexp` as its error message prints it.
const SYSCTL_REGEX: &str =
    r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";

const FS_GROUP_CHANGE_POLICIES: &[&str] = &["Always", "OnRootMismatch"];
const SUPPLEMENTAL_GROUPS_POLICIES: &[&str] = &["Merge", "Strict"];
const PROC_MOUNT_TYPES: &[&str] = &["Default", "Unmasked"];
const PROFILE_TYPES: &[&str] = &["Localhost", "RuntimeDefault", "Unconfined"];
/// Upstream's limit on an AppArmor localhost profile name (PATH_MAX - 1).
const MAX_LOCALHOST_PROFILE_LENGTH: usize = 4095;

/// Upstream's `IsValidUserID`/`IsValidGroupID`: 0 to 2^31-1.
fn id_errors(id: Option<i64>, path: &str) -> FieldErrors {
    match id {
        Some(v) if !(0..=i64::from(i32::MAX)).contains(&v) => vec![FieldError::invalid(
            path,
            v,
            inclusive_range_error(0, i64::from(i32::MAX)),
        )],
        _ => Vec::new(),
    }
}

/// Upstream's `IsValidSysctlName`: segments of `[a-z0-9]([-_a-z0-9]*[a-z0-9])?` joined by `.`
/// or `/`.
pub fn is_valid_sysctl_name(name: &str) -> bool {
    let segment_ok = |s: &str| {
        let b = s.as_bytes();
        let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        let inner = |c: &u8| edge(c) || *c == b'-' || *c == b'_';
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => edge(first) && edge(last) && b.iter().all(inner),
            _ => false,
        }
    };
    name.len() <= SYSCTL_MAX_LENGTH && name.split(['.', '/']).all(segment_ok)
}

/// The kernel namespace a sysctl belongs to (upstream's `utilsysctl.GetNamespace`), after
/// normalizing the slash-separated form.
#[derive(Debug, PartialEq, Eq)]
enum SysctlNamespace {
    Ipc,
    Net,
    Unknown,
}

/// Upstream's `NormalizeName`: a name whose first separator is `/` uses slashes between
/// segments and dots inside them, so the two are swapped.
fn normalize_sysctl_name(name: &str) -> String {
    match name.find(['.', '/']) {
        Some(i) if name.as_bytes()[i] == b'/' => name
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '.',
                other => other,
            })
            .collect(),
        _ => name.to_string(),
    }
}

fn sysctl_namespace(name: &str) -> SysctlNamespace {
    let mut name = normalize_sysctl_name(name);
    if let Some(star) = name.find('*') {
        name.truncate(star);
    }
    const IPC_NAMES: &[&str] = &[
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
        "kernel.shm",
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.msg",
    ];
    if IPC_NAMES.contains(&name.as_str()) || name.starts_with("fs.mqueue.") {
        SysctlNamespace::Ipc
    } else if name.starts_with("net.") {
        SysctlNamespace::Net
    } else {
        SysctlNamespace::Unknown
    }
}

/// Upstream's `validateSysctls` (with `ValidateHostSysctl`, as for a new object).
fn validate_sysctls(sysctls: &[Value], spec: &Value, path: &str) -> FieldErrors {
    let mut errs = Vec::new();
    let mut names = HashSet::new();
    let host_network = bool_at(spec, "/hostNetwork");
    let host_ipc = bool_at(spec, "/hostIPC");
    for (i, s) in sysctls.iter().enumerate() {
        let p = child(&index(path, i), "name");
        let name = str_at(s, "/name");
        if name.is_empty() {
            errs.push(FieldError::required(&p, ""));
        } else if !is_valid_sysctl_name(name) {
            errs.push(FieldError::invalid(
                &p,
                name,
                format!(
                    "must have at most {SYSCTL_MAX_LENGTH} characters and match regex {SYSCTL_REGEX}"
                ),
            ));
        } else if names.contains(name) {
            errs.push(FieldError::duplicate(&p, name));
        }
        match sysctl_namespace(name) {
            SysctlNamespace::Net if host_network => errs.push(FieldError::invalid(
                &p,
                name,
                "may not be specified when 'hostNetwork' is true",
            )),
            SysctlNamespace::Ipc if host_ipc => errs.push(FieldError::invalid(
                &p,
                name,
                "may not be specified when 'hostIPC' is true",
            )),
            _ => {}
        }
        names.insert(name);
    }
    errs
}

/// Upstream's `validateSeccompProfileField`.
fn validate_seccomp_profile(sp: Option<&Value>, path: &str) -> FieldErrors {
    let Some(sp) = sp.filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let kind = str_at(sp, "/type");
    let type_path = child(path, "type");
    match kind {
        "" => errs.push(FieldError::required(
            &type_path,
            "type is required when seccompProfile is set",
        )),
        k if PROFILE_TYPES.contains(&k) => {}
        k => errs.push(FieldError::not_supported(&type_path, k, PROFILE_TYPES)),
    }
    let localhost = sp.get("localhostProfile").filter(|v| !v.is_null());
    let lp_path = child(path, "localhostProfile");
    match (kind, localhost) {
        ("Localhost", None) => errs.push(FieldError::required(
            &lp_path,
            "must be set when seccomp type is Localhost",
        )),
        ("Localhost", Some(p)) => {
            errs.extend(local_descending_path(
                p.as_str().unwrap_or_default(),
                &lp_path,
            ));
        }
        (_, Some(p)) => errs.push(invalid_raw(
            &lp_path,
            // Upstream prints the profile struct with Go's %#v (and a pointer address).
            &format!(
                "core.SeccompProfile{{Type:{kind:?}, LocalhostProfile:(*string)({:?})}}",
                p.as_str().unwrap_or_default()
            ),
            "can only be set when seccomp type is Localhost",
        )),
        (_, None) => {}
    }
    errs
}

/// Upstream's `ValidateAppArmorProfileField`.
fn validate_app_armor_profile(profile: Option<&Value>, path: &str) -> FieldErrors {
    let Some(profile) = profile.filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    let lp_path = child(path, "localhostProfile");
    let localhost = profile.get("localhostProfile").filter(|v| !v.is_null());
    match str_at(profile, "/type") {
        "Localhost" => match localhost.map(|v| v.as_str().unwrap_or_default()) {
            None => errs.push(FieldError::required(
                &lp_path,
                "must be set when AppArmor type is Localhost",
            )),
            Some(lp) => {
                if lp.trim() != lp {
                    errs.push(FieldError::invalid(
                        &lp_path,
                        lp,
                        "must not be padded with whitespace",
                    ));
                } else if lp.is_empty() {
                    errs.push(FieldError::required(
                        &lp_path,
                        "must be set when AppArmor type is Localhost",
                    ));
                }
                if lp.len() > MAX_LOCALHOST_PROFILE_LENGTH {
                    errs.push(FieldError::too_long(&lp_path, MAX_LOCALHOST_PROFILE_LENGTH));
                }
            }
        },
        "RuntimeDefault" | "Unconfined" => {
            if let Some(lp) = localhost {
                errs.push(FieldError::invalid(
                    &lp_path,
                    lp.as_str().unwrap_or_default(),
                    "can only be set when AppArmor type is Localhost",
                ));
            }
        }
        "" => errs.push(FieldError::required(
            child(path, "type"),
            "type is required when appArmorProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            child(path, "type"),
            other,
            PROFILE_TYPES,
        )),
    }
    errs
}

fn enum_value(obj: &Value, field: &str, path: &str, supported: &[&str]) -> FieldErrors {
    match obj.get(field).and_then(Value::as_str) {
        Some(v) if !supported.contains(&v) => {
            vec![FieldError::not_supported(child(path, field), v, supported)]
        }
        _ => Vec::new(),
    }
}

/// Upstream's `validatePodSpecSecurityContext`: `spec` is the pod spec, `path` the path of
/// its `securityContext`.
pub fn validate_pod_security_context(spec: &Value, path: &str) -> FieldErrors {
    let Some(sc) = spec.get("securityContext").filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    for f in ["fsGroup", "runAsUser", "runAsGroup"] {
        errs.extend(id_errors(int_at(sc, &format!("/{f}")), &child(path, f)));
    }
    for (i, gid) in array_at(sc, "/supplementalGroups").iter().enumerate() {
        errs.extend(id_errors(
            gid.as_i64(),
            &index(&child(path, "supplementalGroups"), i),
        ));
    }
    if bool_at(spec, "/shareProcessNamespace") && bool_at(spec, "/hostPID") {
        errs.push(FieldError::invalid(
            child(path, "shareProcessNamespace"),
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    let sysctls = array_at(sc, "/sysctls");
    if !sysctls.is_empty() {
        errs.extend(validate_sysctls(sysctls, spec, &child(path, "sysctls")));
    }
    errs.extend(enum_value(
        sc,
        "fsGroupChangePolicy",
        path,
        FS_GROUP_CHANGE_POLICIES,
    ));
    errs.extend(validate_seccomp_profile(
        sc.get("seccompProfile"),
        &child(path, "seccompProfile"),
    ));
    errs.extend(validate_app_armor_profile(
        sc.get("appArmorProfile"),
        &child(path, "appArmorProfile"),
    ));
    errs.extend(enum_value(
        sc,
        "supplementalGroupsPolicy",
        path,
        SUPPLEMENTAL_GROUPS_POLICIES,
    ));
    errs
}

/// Whether the pod runs in the host's user namespace (`hostUsers`, true unless set false).
pub fn host_users(spec: &Value) -> bool {
    spec.pointer("/securityContext/hostUsers")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// Upstream's `ValidateSecurityContext` for one container's `securityContext` at `path`.
pub fn validate_container_security_context(
    sc: Option<&Value>,
    path: &str,
    host_users: bool,
) -> FieldErrors {
    let Some(sc) = sc.filter(|v| v.is_object()) else {
        return Vec::new();
    };
    let mut errs = Vec::new();
    for f in ["runAsUser", "runAsGroup"] {
        errs.extend(id_errors(int_at(sc, &format!("/{f}")), &child(path, f)));
    }
    if let Some(pm) = sc.get("procMount").and_then(Value::as_str) {
        errs.extend(enum_value(sc, "procMount", path, PROC_MOUNT_TYPES));
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                child(path, "procMount"),
                pm,
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    errs.extend(validate_seccomp_profile(
        sc.get("seccompProfile"),
        &child(path, "seccompProfile"),
    ));
    if sc.get("allowPrivilegeEscalation").and_then(Value::as_bool) == Some(false) {
        // Upstream prints the whole security context with Go's %#v here.
        let rendered = "&core.SecurityContext{...}";
        if sc.get("privileged").and_then(Value::as_bool) == Some(true) {
            errs.push(invalid_raw(
                path,
                rendered,
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = array_at(sc, "/capabilities/add")
            .iter()
            .any(|c| c.as_str() == Some("CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errs.push(invalid_raw(
                path,
                rendered,
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
    errs.extend(validate_app_armor_profile(
        sc.get("appArmorProfile"),
        &child(path, "appArmorProfile"),
    ));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_errors(spec: Value) -> Vec<String> {
        validate_pod_security_context(&spec, "spec.securityContext")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn sysctl_names() {
        for ok in [
            "kernel.shmmax",
            "kernel.shm_rmid_forced",
            "net.ipv4.conf.eno2/100.rp_filter",
            "net/ipv4/conf/eno2.100/rp_filter",
            "safe-and-unsafe",
            "a",
        ] {
            assert!(is_valid_sysctl_name(ok), "{ok}");
        }
        for bad in [
            "foo-",
            "bar..",
            "-a",
            "a_",
            ".a",
            "a/",
            "A.b",
            "",
            &"a".repeat(254),
        ] {
            assert!(!is_valid_sysctl_name(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_invalid_and_duplicate_sysctls() {
        let e = pod_errors(json!({"securityContext": {"sysctls": [
            {"name": "foo-", "value": "bar"},
            {"name": "kernel.shmmax", "value": "100000000"},
            {"name": "safe-and-unsafe", "value": "100000000"},
            {"name": "bar..", "value": "42"},
            {"name": "kernel.shmmax", "value": "1"},
            {"name": "", "value": "1"},
        ]}}));
        let regex = r"^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$";
        assert_eq!(
            e,
            vec![
                format!(
                    "spec.securityContext.sysctls[0].name: Invalid value: \"foo-\": must have at most 253 characters and match regex {regex}"
                ),
                format!(
                    "spec.securityContext.sysctls[3].name: Invalid value: \"bar..\": must have at most 253 characters and match regex {regex}"
                ),
                "spec.securityContext.sysctls[4].name: Duplicate value: \"kernel.shmmax\""
                    .to_string(),
                "spec.securityContext.sysctls[5].name: Required value".to_string(),
            ]
        );
    }

    #[test]
    fn namespaced_sysctls_and_host_namespaces() {
        let e = pod_errors(
            json!({"hostNetwork": true, "hostIPC": true, "securityContext": {"sysctls": [
                {"name": "net.core.somaxconn", "value": "1"},
                {"name": "kernel/shm_rmid_forced", "value": "1"},
                {"name": "kernel.pid_max", "value": "1"},
            ]}}),
        );
        assert_eq!(
            e,
            vec![
                "spec.securityContext.sysctls[0].name: Invalid value: \"net.core.somaxconn\": may not be specified when 'hostNetwork' is true",
                "spec.securityContext.sysctls[1].name: Invalid value: \"kernel/shm_rmid_forced\": may not be specified when 'hostIPC' is true",
            ]
        );
        assert_eq!(sysctl_namespace("fs.mqueue.msg_max"), SysctlNamespace::Ipc);
        assert_eq!(sysctl_namespace("net.ipv4.*"), SysctlNamespace::Net);
        assert_eq!(sysctl_namespace("vm.swappiness"), SysctlNamespace::Unknown);
    }

    #[test]
    fn ids_and_enums() {
        let e = pod_errors(json!({"shareProcessNamespace": true, "hostPID": true,
            "securityContext": {"runAsUser": -1, "runAsGroup": 2147483648_i64, "fsGroup": 5,
            "supplementalGroups": [1, -2], "fsGroupChangePolicy": "Sometimes",
            "supplementalGroupsPolicy": "Loose",
            "seccompProfile": {"type": "Localhost"},
            "appArmorProfile": {"type": "RuntimeDefault", "localhostProfile": "p"}}}));
        assert_eq!(
            e,
            vec![
                "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.runAsGroup: Invalid value: 2147483648: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.supplementalGroups[1]: Invalid value: -2: must be between 0 and 2147483647, inclusive",
                "spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled",
                "spec.securityContext.fsGroupChangePolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnRootMismatch\"",
                "spec.securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost",
                "spec.securityContext.appArmorProfile.localhostProfile: Invalid value: \"p\": can only be set when AppArmor type is Localhost",
                "spec.securityContext.supplementalGroupsPolicy: Unsupported value: \"Loose\": supported values: \"Merge\", \"Strict\"",
            ]
        );
        assert!(pod_errors(json!({"securityContext": {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}})).is_empty());
    }

    #[test]
    fn container_security_context() {
        let errs = |sc: Value, host_users: bool| -> Vec<String> {
            validate_container_security_context(
                Some(&sc),
                "spec.containers[0].securityContext",
                host_users,
            )
            .iter()
            .map(ToString::to_string)
            .collect()
        };
        let e = errs(
            json!({"runAsUser": -5, "procMount": "Unmasked", "seccompProfile": {"type": "Bogus"},
                "allowPrivilegeEscalation": false, "privileged": true,
                "appArmorProfile": {"type": "Localhost", "localhostProfile": " p "}}),
            true,
        );
        assert_eq!(
            e,
            vec![
                "spec.containers[0].securityContext.runAsUser: Invalid value: -5: must be between 0 and 2147483647, inclusive",
                "spec.containers[0].securityContext.procMount: Invalid value: \"Unmasked\": `hostUsers` must be false to use `Unmasked`",
                "spec.containers[0].securityContext.seccompProfile.type: Unsupported value: \"Bogus\": supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\"",
                "spec.containers[0].securityContext: Invalid value: &core.SecurityContext{...}: cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
                "spec.containers[0].securityContext.appArmorProfile.localhostProfile: Invalid value: \" p \": must not be padded with whitespace",
            ]
        );
        assert!(errs(json!({"procMount": "Unmasked"}), false).is_empty());
        assert_eq!(
            errs(
                json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "../x"}}),
                true
            ),
            vec![
                "spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: \"../x\": must not contain '..'"
            ]
        );
    }
}
