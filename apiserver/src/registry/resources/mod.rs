//! Every built-in resource, group by group. Each group's module lists its resources in one
//! table; each resource's strategy lives in its own file.

pub mod core;
pub mod networking;

use super::Resource;

/// All built-in resources of every served group and version.
pub fn all() -> Vec<Resource> {
    let mut out = Vec::new();
    out.extend(core::resources());
    out.extend(networking::resources());
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
        ipaddresses: catalog.store("ipaddresses").cloned(),
        ports: PortStore::new(client.clone(), prefix, config.node_port_range.clone()),
    };
    let hooks = ServiceHooks {
        alloc: std::sync::Arc::new(alloc),
    };
    if services.hooks.set(std::sync::Arc::new(hooks)).is_err() {
        tracing::warn!("Service allocation hooks were already installed.");
    }
}
