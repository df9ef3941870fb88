//! The audit policy (`audit.k8s.io/v1` `Policy`, `--audit-policy-file`): which requests are
//! recorded and at what level. Parsed, validated and evaluated as upstream's policy checker
//! does: rules in order, the first that matches decides, no match means `None`.
//!
//! ```
//! use apiserver::audit::event::Level;
//! use apiserver::audit::policy::Policy;
//! use apiserver::authn::user::UserInfo;
//! use apiserver::authz::Attributes;
//! let policy = Policy::parse(br#"
//! apiVersion: audit.k8s.io/v1
//! kind: Policy
//! rules:
//!   - level: Metadata
//!     resources: [{group: "", resources: ["secrets"]}]
//! "#).unwrap();
//! let get_secret = Attributes {
//!     verb: "get".into(),
//!     resource_request: true,
//!     namespace: "default".into(),
//!     resource: "secrets".into(),
//!     ..Default::default()
//! };
//! assert_eq!(policy.evaluate(Some(&UserInfo::default()), &get_secret).level, Level::Metadata);
//! ```

use super::event::{Level, Stage};
use crate::authn::user::UserInfo;
use crate::authz::Attributes;
use serde::Deserialize;
use serde_json::Value;

/// Why a policy file was refused, in upstream's words where it has them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read file path {path:?}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Not YAML or JSON, or a field of the wrong type.
    #[error("failed decoding: {0}")]
    Decode(String),
    /// Not an `audit.k8s.io/v1` `Policy`.
    #[error("{0}")]
    Kind(String),
    /// Upstream's validation errors, each with its field path.
    #[error("{}", format_invalid(.0))]
    Invalid(Vec<String>),
    #[error("loaded illegal policy with 0 rules")]
    NoRules,
}

/// As upstream's aggregate: one error alone, several in brackets.
fn format_invalid(errs: &[String]) -> String {
    match errs {
        [one] => one.clone(),
        _ => format!("[{}]", errs.join(", ")),
    }
}

/// A set of stages (omitStages).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages(u8);

impl Stages {
    fn bit(stage: Stage) -> u8 {
        match stage {
            Stage::RequestReceived => 1,
            Stage::ResponseStarted => 2,
            Stage::ResponseComplete => 4,
            Stage::Panic => 8,
        }
    }

    pub fn insert(&mut self, stage: Stage) {
        self.0 |= Self::bit(stage);
    }

    pub fn contains(self, stage: Stage) -> bool {
        self.0 & Self::bit(stage) != 0
    }

    fn union(self, other: Stages) -> Stages {
        Stages(self.0 | other.0)
    }
}

impl FromIterator<Stage> for Stages {
    fn from_iter<I: IntoIterator<Item = Stage>>(iter: I) -> Self {
        let mut s = Stages::default();
        for stage in iter {
            s.insert(stage);
        }
        s
    }
}

/// What the policy decided for one request (upstream's `RequestAuditConfig` and level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: Stages,
    pub omit_managed_fields: bool,
}

/// Resources of one API group a rule names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupResources {
    pub group: String,
    /// `pods`, `pods/log`, `*`, `pods/*`, `*/scale`; empty means every resource of the group.
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
}

/// One rule: every field it sets must match (an empty list matches everything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub level: Level,
    pub users: Vec<String>,
    pub user_groups: Vec<String>,
    pub verbs: Vec<String>,
    pub resources: Vec<GroupResources>,
    pub namespaces: Vec<String>,
    pub non_resource_urls: Vec<String>,
    /// The rule's own stages joined with the policy's, as upstream's checker joins them.
    pub omit_stages: Stages,
    pub omit_managed_fields: Option<bool>,
}

/// A loaded, valid policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub omit_stages: Stages,
    pub omit_managed_fields: bool,
}

// The file as written; unknown fields are ignored, as upstream's decoder ignores them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyFile {
    #[serde(default)]
    rules: Vec<RuleFile>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    omit_managed_fields: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleFile {
    #[serde(default)]
    level: String,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResourcesFile>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<String>,
    #[serde(default)]
    omit_managed_fields: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupResourcesFile {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

const API_VERSION: &str = "audit.k8s.io/v1";

impl Policy {
    /// Reads and validates the policy at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, Error> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&bytes)
    }

    /// Parses a policy in YAML or JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let value: Value = match serde_json::from_slice(bytes) {
            Ok(v) => v,
            Err(_) => serde_yaml::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?,
        };
        let text = |k: &str| {
            value
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (api_version, kind) = (text("apiVersion"), text("kind"));
        if kind.is_empty() {
            return Err(Error::Decode("Object 'Kind' is missing".into()));
        }
        if api_version != API_VERSION || kind != "Policy" {
            return Err(Error::Kind(format!(
                "unknown group version field {api_version}, Kind={kind} in policy (want apiVersion: {API_VERSION}, kind: Policy)"
            )));
        }
        let file: PolicyFile = serde_path_to_error::deserialize(&value)
            .map_err(|e| Error::Decode(format!("{}: {}", e.path(), e.inner())))?;
        Self::validate(file)
    }

    fn validate(file: PolicyFile) -> Result<Self, Error> {
        let mut errs = Vec::new();
        // Upstream validates the rules' stages but not the policy's; an unknown stage there
        // can never match, so it is dropped with a warning rather than refused.
        let mut omit_stages = Stages::default();
        for s in &file.omit_stages {
            match Stage::parse(s) {
                Some(stage) => omit_stages.insert(stage),
                None => {
                    tracing::warn!(stage = %s, "The audit policy omits an unknown stage; ignoring it.")
                }
            }
        }
        let mut rules = Vec::with_capacity(file.rules.len());
        for (i, r) in file.rules.into_iter().enumerate() {
            let at = format!("rules[{i}]");
            let level = match Level::parse(&r.level) {
                Some(l) => l,
                None if r.level.is_empty() => {
                    errs.push(format!("{at}.level: Required value"));
                    Level::None
                }
                None => {
                    errs.push(format!(
                        "{at}.level: Unsupported value: {:?}: supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\"",
                        r.level
                    ));
                    Level::None
                }
            };
            for (j, url) in r.non_resource_urls.iter().enumerate() {
                if url == "*" {
                    continue;
                }
                if !url.starts_with('/') {
                    errs.push(format!(
                        "{at}.nonResourceURLs[{j}]: Invalid value: {url:?}: non-resource URL rules must begin with a '/' character"
                    ));
                }
                if url.len() > 1 && url[..url.len() - 1].contains('*') {
                    errs.push(format!(
                        "{at}.nonResourceURLs[{j}]: Invalid value: {url:?}: non-resource URL wildcards '*' must be the final character of the rule"
                    ));
                }
            }
            for gr in &r.resources {
                if !gr.group.is_empty() && !is_dns_subdomain(&gr.group) {
                    errs.push(format!(
                        "{at}.resources.group: Invalid value: {:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
                        gr.group
                    ));
                }
                if !gr.resource_names.is_empty() && gr.resources.is_empty() {
                    errs.push(format!(
                        "{at}.resources.resourceNames: Invalid value: {:?}: using resourceNames requires at least one resource",
                        gr.resource_names
                    ));
                }
            }
            let mut rule_stages = Stages::default();
            for (j, s) in r.omit_stages.iter().enumerate() {
                match Stage::parse(s) {
                    Some(stage) => rule_stages.insert(stage),
                    None => errs.push(format!(
                        "{at}.omitStages[{j}]: Invalid value: {s:?}: allowed stages are RequestReceived,ResponseStarted,ResponseComplete,Panic"
                    )),
                }
            }
            if !r.non_resource_urls.is_empty()
                && (!r.resources.is_empty() || !r.namespaces.is_empty())
            {
                errs.push(format!(
                    "{at}.nonResourceURLs: Invalid value: {:?}: rules cannot apply to both regular resources and non-resource URLs",
                    r.non_resource_urls
                ));
            }
            rules.push(Rule {
                level,
                users: r.users,
                user_groups: r.user_groups,
                verbs: r.verbs,
                resources: r
                    .resources
                    .into_iter()
                    .map(|g| GroupResources {
                        group: g.group,
                        resources: g.resources,
                        resource_names: g.resource_names,
                    })
                    .collect(),
                namespaces: r.namespaces,
                non_resource_urls: r.non_resource_urls,
                omit_stages: rule_stages.union(omit_stages),
                omit_managed_fields: r.omit_managed_fields,
            });
        }
        if !errs.is_empty() {
            return Err(Error::Invalid(errs));
        }
        if rules.is_empty() {
            return Err(Error::NoRules);
        }
        Ok(Self {
            rules,
            omit_stages,
            omit_managed_fields: file.omit_managed_fields,
        })
    }

    /// The level and stages for a request by `user` (`None`: authentication failed) doing
    /// `attrs` (whose own user is not looked at).
    pub fn evaluate(&self, user: Option<&UserInfo>, attrs: &Attributes) -> Decision {
        for rule in &self.rules {
            if rule.matches(user, attrs) {
                return Decision {
                    level: rule.level,
                    omit_stages: rule.omit_stages,
                    omit_managed_fields: rule
                        .omit_managed_fields
                        .unwrap_or(self.omit_managed_fields),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.omit_stages,
            omit_managed_fields: self.omit_managed_fields,
        }
    }
}

impl Rule {
    fn matches(&self, user: Option<&UserInfo>, attrs: &Attributes) -> bool {
        if !self.users.is_empty() && !user.is_some_and(|u| self.users.contains(&u.name)) {
            return false;
        }
        if !self.user_groups.is_empty()
            && !user.is_some_and(|u| u.groups.iter().any(|g| self.user_groups.contains(g)))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&attrs.verb) {
            return false;
        }
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            return self.matches_resource(attrs);
        }
        if !self.non_resource_urls.is_empty() {
            return !attrs.resource_request
                && self
                    .non_resource_urls
                    .iter()
                    .any(|spec| path_matches(&attrs.path, spec));
        }
        true
    }

    fn matches_resource(&self, attrs: &Attributes) -> bool {
        if !attrs.resource_request {
            return false;
        }
        // Cluster-scoped resources have the namespace "".
        if !self.namespaces.is_empty() && !self.namespaces.contains(&attrs.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let (resource, sub) = (attrs.resource.as_str(), attrs.subresource.as_str());
        let combined = if sub.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}/{sub}")
        };
        self.resources.iter().any(|gr| {
            if gr.group != attrs.api_group {
                return false;
            }
            if gr.resources.is_empty() {
                return true;
            }
            if !gr.resource_names.is_empty() && !gr.resource_names.contains(&attrs.name) {
                return false;
            }
            gr.resources.iter().any(|r| {
                r == "*"
                    || *r == combined
                    || (!sub.is_empty() && r.strip_prefix("*/") == Some(sub))
                    || r.strip_suffix("/*") == Some(resource)
            })
        })
    }
}

/// `*`, an exact path, or a prefix ending in `*`.
fn path_matches(path: &str, spec: &str) -> bool {
    spec == "*"
        || spec == path
        || spec
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }

    fn resource(verb: &str, group: &str, res: &str, sub: &str, ns: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            api_version: "v1".into(),
            resource: res.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    fn path(verb: &str, p: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            path: p.into(),
            ..Default::default()
        }
    }

    fn policy(yaml: &str) -> Policy {
        Policy::parse(yaml.as_bytes()).unwrap()
    }

    fn level(p: &Policy, u: &UserInfo, a: &Attributes) -> Level {
        p.evaluate(Some(u), a).level
    }

    const EXAMPLE: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    users: ["system:kube-proxy"]
    verbs: ["watch"]
    resources:
      - group: ""
        resources: ["endpoints", "services"]
  - level: None
    userGroups: ["system:authenticated"]
    nonResourceURLs: ["/api*", "/version"]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["pods/log", "pods/status"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["configmaps"]
        resourceNames: ["controller-leader"]
  - level: Request
    resources:
      - group: apps
        resources: ["*/scale"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps"]
      - group: authentication.k8s.io
        resources: ["tokenreviews"]
    omitStages: [ResponseStarted]
  - level: RequestResponse
    resources:
      - group: ""
        resources: ["nodes/*"]
  - level: Request
    namespaces: [""]
  - level: Metadata
    resources:
      - group: batch
  - level: Metadata
    omitManagedFields: false
"#;

    #[test]
    fn first_matching_rule_wins() {
        let p = policy(EXAMPLE);
        let proxy = user("system:kube-proxy", &["system:authenticated"]);
        let jane = user("jane", &["system:authenticated"]);
        let anon = user("system:anonymous", &["system:unauthenticated"]);
        let watch_svc = resource("watch", "", "services", "", "", "");
        assert_eq!(level(&p, &proxy, &watch_svc), Level::None);
        // The same watch by someone else falls to the cluster-scoped rule.
        assert_eq!(level(&p, &jane, &watch_svc), Level::Request);
        // Non-resource URLs: prefixes with a trailing `*`, exact paths, by group.
        assert_eq!(level(&p, &jane, &path("get", "/apis/apps/v1")), Level::None);
        assert_eq!(level(&p, &jane, &path("get", "/version")), Level::None);
        assert_eq!(level(&p, &jane, &path("get", "/versions")), Level::Metadata);
        assert_eq!(level(&p, &anon, &path("get", "/version")), Level::Metadata);
        assert_eq!(level(&p, &jane, &path("get", "/healthz")), Level::Metadata);
    }

    #[test]
    fn subresources_and_wildcards() {
        let p = policy(EXAMPLE);
        let jane = user("jane", &["system:authenticated"]);
        let get = |group: &str, res: &str, sub: &str| {
            level(&p, &jane, &resource("get", group, res, sub, "ns", "x"))
        };
        assert_eq!(get("", "pods", "log"), Level::RequestResponse);
        // `pods/log` does not name pods themselves, nor other subresources.
        assert_eq!(get("", "pods", ""), Level::Metadata);
        assert_eq!(get("", "pods", "exec"), Level::Metadata);
        // `*/scale` is any resource's scale in the group.
        assert_eq!(get("apps", "deployments", "scale"), Level::Request);
        assert_eq!(get("apps", "deployments", ""), Level::Metadata);
        assert_eq!(get("", "replicationcontrollers", "scale"), Level::Metadata);
        // `nodes/*` is every subresource of nodes and, as upstream's checker has it, nodes
        // themselves.
        assert_eq!(
            level(&p, &jane, &resource("get", "", "nodes", "proxy", "", "n")),
            Level::RequestResponse
        );
        assert_eq!(
            level(&p, &jane, &resource("get", "", "nodes", "", "", "n")),
            Level::RequestResponse
        );
        assert_eq!(
            level(&p, &jane, &resource("get", "", "namespaces", "", "", "n")),
            Level::Request
        );
        // A group with no resources listed is every resource of the group.
        assert_eq!(get("batch", "jobs", "status"), Level::Metadata);
        // Groups must match exactly.
        assert_eq!(
            get("authentication.k8s.io", "tokenreviews", ""),
            Level::Metadata
        );
        let star = policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n  resources: [{group: '', resources: ['*']}]\n",
        );
        assert_eq!(
            level(&star, &jane, &resource("get", "", "pods", "log", "ns", "p")),
            Level::Request
        );
        assert_eq!(
            level(
                &star,
                &jane,
                &resource("get", "apps", "deployments", "", "ns", "d")
            ),
            Level::None
        );
    }

    #[test]
    fn resource_names_and_namespaces() {
        let p = policy(EXAMPLE);
        let jane = user("jane", &["system:authenticated"]);
        let leader = resource(
            "update",
            "",
            "configmaps",
            "",
            "kube-system",
            "controller-leader",
        );
        let d = p.evaluate(Some(&jane), &leader);
        assert_eq!(d.level, Level::Metadata);
        // The resourceNames rule has no omitStages of its own: the policy's apply.
        assert!(d.omit_stages.contains(Stage::RequestReceived));
        assert!(!d.omit_stages.contains(Stage::ResponseStarted));
        let other = resource("update", "", "configmaps", "", "kube-system", "other");
        let d = p.evaluate(Some(&jane), &other);
        assert_eq!(d.level, Level::Metadata);
        // This rule's omitStages join the policy's.
        assert!(d.omit_stages.contains(Stage::RequestReceived));
        assert!(d.omit_stages.contains(Stage::ResponseStarted));
        assert!(!d.omit_stages.contains(Stage::ResponseComplete));
        // `namespaces: [""]` is cluster-scoped resources only; non-resource requests never
        // match a rule with namespaces.
        let ns_rule = policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n  namespaces: ['']\n",
        );
        assert_eq!(
            level(&ns_rule, &jane, &resource("list", "", "nodes", "", "", "")),
            Level::Request
        );
        assert_eq!(
            level(
                &ns_rule,
                &jane,
                &resource("list", "", "pods", "", "default", "")
            ),
            Level::None
        );
        assert_eq!(
            level(&ns_rule, &jane, &path("get", "/healthz")),
            Level::None
        );
    }

    #[test]
    fn no_match_is_none_and_failed_authentication_matches_no_user_rule() {
        let p = policy(
            r#"{"apiVersion":"audit.k8s.io/v1","kind":"Policy","omitManagedFields":true,
               "rules":[{"level":"Metadata","users":["jane"]},
                        {"level":"Request","userGroups":["ops"]},
                        {"level":"RequestResponse","verbs":["delete"], "omitManagedFields": false}]}"#,
        );
        let get = resource("get", "", "pods", "", "ns", "p");
        let bob = user("bob", &[]);
        let d = p.evaluate(Some(&bob), &get);
        assert_eq!(d.level, Level::None);
        assert!(d.omit_managed_fields);
        assert_eq!(p.evaluate(None, &get).level, Level::None);
        assert_eq!(level(&p, &user("jane", &[]), &get), Level::Metadata);
        assert_eq!(level(&p, &user("x", &["ops"]), &get), Level::Request);
        let delete = resource("delete", "", "pods", "", "ns", "p");
        let d = p.evaluate(None, &delete);
        assert_eq!(d.level, Level::RequestResponse);
        assert!(
            !d.omit_managed_fields,
            "a rule's setting overrides the policy's"
        );
    }

    #[test]
    fn invalid_policies_are_refused_with_upstream_messages() {
        let err = |text: &str| Policy::parse(text.as_bytes()).unwrap_err().to_string();
        let head = "apiVersion: audit.k8s.io/v1\nkind: Policy\n";
        assert_eq!(
            err(&format!("{head}rules: []\n")),
            "loaded illegal policy with 0 rules"
        );
        assert_eq!(
            err(&format!("{head}rules:\n- level: Verbose\n")),
            "rules[0].level: Unsupported value: \"Verbose\": supported values: \"None\", \"Metadata\", \"Request\", \"RequestResponse\""
        );
        let many = err(&format!(
            "{head}rules:\n- users: [a]\n- level: None\n  nonResourceURLs: ['healthz', '/a*b']\n  namespaces: [x]\n  omitStages: [Done]\n"
        ));
        assert!(
            many.starts_with("[rules[0].level: Required value, "),
            "{many}"
        );
        assert!(many.contains("rules[1].nonResourceURLs[0]: Invalid value: \"healthz\": non-resource URL rules must begin with a '/' character"), "{many}");
        assert!(many.contains("rules[1].nonResourceURLs[1]: Invalid value: \"/a*b\": non-resource URL wildcards '*' must be the final character of the rule"), "{many}");
        assert!(
            many.contains("rules[1].omitStages[0]: Invalid value: \"Done\""),
            "{many}"
        );
        assert!(
            many.contains("rules cannot apply to both regular resources and non-resource URLs"),
            "{many}"
        );
        assert!(
            err(&format!(
                "{head}rules:\n- level: None\n  resources: [{{group: Apps/v1}}]\n"
            ))
            .starts_with("rules[0].resources.group: Invalid value: \"Apps/v1\"")
        );
        assert!(
            err(&format!(
                "{head}rules:\n- level: None\n  resources: [{{resourceNames: [x]}}]\n"
            ))
            .contains("using resourceNames requires at least one resource")
        );
        assert!(
            err("apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]\n")
                .contains("unknown group version field audit.k8s.io/v1beta1")
        );
        assert!(err("rules: [{level: None}]\n").contains("Object 'Kind' is missing"));
        assert!(err(&format!("{head}rules: {{}}\n")).starts_with("failed decoding: rules:"));
        assert!(err("{{{").starts_with("failed decoding:"));
    }

    #[test]
    fn policy_level_stages_that_do_not_exist_are_ignored() {
        let p = policy(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Bogus, Panic]\nrules: [{level: Metadata}]\n",
        );
        assert!(p.rules[0].omit_stages.contains(Stage::Panic));
    }

    #[test]
    fn path_specs() {
        assert!(path_matches("/healthz/etcd", "/healthz*"));
        assert!(path_matches("/healthz", "/healthz*"));
        assert!(!path_matches("/healthz", "/healthz/*"));
        assert!(path_matches("/anything", "*"));
        assert!(path_matches("/metrics", "/metrics"));
        assert!(!path_matches("/metrics/x", "/metrics"));
    }
}
