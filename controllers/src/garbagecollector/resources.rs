//! What the garbage collector watches and how it reaches an object from an owner reference:
//! from aggregated discovery, every resource that can be listed, watched and deleted (at its
//! group's preferred version, events excepted as upstream), and a map from apiVersion and kind
//! to the resource and its scope, for every served version.

use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope, verbs};
use std::collections::HashMap;

/// Resources upstream's collector ignores by default: Events have no dependents worth tracking
/// and are the busiest resource.
const IGNORED: &[(&str, &str)] = &[("", "events"), ("events.k8s.io", "events")];

/// One served resource.
#[derive(Debug, Clone)]
pub struct Served {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Discovery as the collector uses it.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    /// What to monitor, one version per group and resource.
    pub monitored: Vec<Served>,
    /// `(apiVersion, kind)` to resource, for every served version.
    by_kind: HashMap<(String, String), Served>,
    /// `(group, kind)` to resource at the group's preferred version, for references naming a
    /// version that is no longer served.
    by_group_kind: HashMap<(String, String), Served>,
}

fn monitorable(caps: &ApiCapabilities) -> bool {
    [verbs::LIST, verbs::WATCH, verbs::DELETE]
        .iter()
        .all(|v| caps.supports_operation(v))
}

impl Resources {
    /// Reads aggregated discovery.
    pub async fn discover(client: &kube::Client) -> kube::Result<Self> {
        let discovery = Discovery::new(client.clone()).run_aggregated().await?;
        let mut out = Self::default();
        for group in discovery.groups() {
            for version in group.versions() {
                for (ar, caps) in group.versioned_resources(version) {
                    let served = Served {
                        namespaced: caps.scope == Scope::Namespaced,
                        resource: ar.clone(),
                    };
                    out.by_kind
                        .insert((ar.api_version.clone(), ar.kind.clone()), served);
                }
            }
            for (ar, caps) in group.recommended_resources() {
                let served = Served {
                    namespaced: caps.scope == Scope::Namespaced,
                    resource: ar.clone(),
                };
                out.by_group_kind
                    .insert((ar.group.clone(), ar.kind.clone()), served.clone());
                let ignored = IGNORED
                    .iter()
                    .any(|(g, r)| *g == ar.group && *r == ar.plural);
                if monitorable(&caps) && !ignored {
                    out.monitored.push(served);
                }
            }
        }
        Ok(out)
    }

    /// The resource objects of `kind` in `api_version` belong to.
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<&Served> {
        self.by_kind
            .get(&(api_version.to_string(), kind.to_string()))
            .or_else(|| {
                let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
                self.by_group_kind
                    .get(&(group.to_string(), kind.to_string()))
            })
    }
}
