//! Every built-in resource, group by group. Each group's module lists its resources in one
//! table; each resource's strategy lives in its own file.

pub mod admissionregistration;
pub mod apiextensions;
pub mod apiregistration;
pub mod apps;
pub mod authentication;
pub mod authorization;
pub mod autoscaling;
pub mod batch;
pub mod certificates;
pub mod coordination;
pub mod core;
pub mod discovery;
pub mod events;
pub mod flowcontrol;
pub mod networking;
pub mod node;
pub mod policy;
pub mod rbac;
pub mod review;
pub mod scheduling;
pub mod shared;
pub mod storage;

use super::Resource;

/// Every built-in resource as `opts` configure them: Events expire `--event-ttl` after their
/// last write (as upstream's, through etcd leases; 0 keeps them).
pub fn configured(opts: &Options) -> Vec<Resource> {
    let mut resources = all();
    if !opts.event_ttl.is_zero() {
        for r in &mut resources {
            if r.info.storage_path == "events" && r.conversion.is_none() {
                r.ttl = Some(opts.event_ttl);
            }
        }
    }
    resources
}

/// All built-in resources of every served group and version.
pub fn all() -> Vec<Resource> {
    let mut out = Vec::new();
    out.extend(core::resources());
    out.extend(apiregistration::resources());
    out.extend(apps::resources());
    out.extend(authentication::resources());
    out.extend(authorization::resources());
    out.extend(batch::resources());
    out.extend(autoscaling::resources());
    out.extend(policy::resources());
    out.extend(rbac::resources());
    out.extend(coordination::resources());
    out.extend(discovery::resources());
    out.extend(networking::resources());
    out.extend(storage::resources());
    out.extend(scheduling::resources());
    out.extend(node::resources());
    out.extend(certificates::resources());
    out.extend(events::resources());
    out.extend(admissionregistration::resources());
    out.extend(apiextensions::resources());
    out.extend(flowcontrol::resources());
    out
}

use super::catalog::Catalog;
use crate::options::Options;

/// Service address allocation settings, from `--service-cluster-ip-range` and
/// `--service-node-port-range`.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub cluster_ip_range: ipnet::IpNet,
    pub node_port_range: std::ops::RangeInclusive<u16>,
}

impl ServiceConfig {
    pub fn from_options(opts: &Options) -> Result<Self, String> {
        let cluster_ip_range: ipnet::IpNet = opts
            .service_cluster_ip_range
            .split(',')
            .next()
            .unwrap_or_default()
            .trim()
            .parse()
            .map_err(|e| {
                format!(
                    "--service-cluster-ip-range {:?}: {e}",
                    opts.service_cluster_ip_range
                )
            })?;
        let (lo, hi) = opts
            .service_node_port_range
            .split_once('-')
            .ok_or_else(|| {
                format!(
                    "--service-node-port-range {:?}: expected FROM-TO",
                    opts.service_node_port_range
                )
            })?;
        let parse = |s: &str| {
            s.trim().parse::<u16>().map_err(|e| {
                format!(
                    "--service-node-port-range {:?}: {e}",
                    opts.service_node_port_range
                )
            })
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(format!(
                "--service-node-port-range {:?}: empty range",
                opts.service_node_port_range
            ));
        }
        Ok(Self {
            cluster_ip_range,
            node_port_range: lo..=hi,
        })
    }

    /// The first usable address of the range: the `kubernetes` Service's ClusterIP.
    pub fn first_ip(&self) -> std::net::IpAddr {
        self.cluster_ip_range
            .hosts()
            .next()
            .unwrap_or(self.cluster_ip_range.addr())
    }
}

/// Installs the write hooks of kinds that allocate from shared pools (Service ClusterIPs and
/// NodePorts). `client` and `prefix` reach etcd for allocation state that is not an object.
pub fn install_hooks(
    catalog: &Catalog,
    config: &ServiceConfig,
    client: &etcd_client::Client,
    prefix: &str,
) {
    use core::services::allocator::{IpRange, PortStore, ServiceAllocator, ServiceHooks};
    let Some(services) = catalog.store("services/specs") else {
        return;
    };
    let alloc = ServiceAllocator {
        cidr: config.cluster_ip_range,
        range: IpRange::new(&config.cluster_ip_range),
        ipaddresses: catalog.store("ipaddresses"),
        ports: PortStore::new(client.clone(), prefix, config.node_port_range.clone()),
    };
    let hooks = ServiceHooks {
        alloc: std::sync::Arc::new(alloc),
    };
    if services.hooks.set(std::sync::Arc::new(hooks)).is_err() {
        tracing::warn!("Service allocation hooks were already installed.");
    }
}
