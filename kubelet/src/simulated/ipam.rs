//! Fake addresses for simulated nodes and their pods. Nothing is routed: the addresses only have
//! to be unique and plausible, as a CNI plugin's would be.
//!
//! A node's InternalIP is the `index`-th host of `--node-ip-range`. A pod's IP comes from its
//! node's `spec.podCIDR` (set by the node IPAM controller), or, while the node has none, from the
//! `index`-th /24 of `--pod-ip-range`. Like host-local IPAM, the network address and the gateway
//! (`.1`) are never handed out, and an address freed by a deleted pod is reused.

use ipnet::Ipv4Net;
use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

/// The `index`-th usable host address of `range` (wrapping around when the range is smaller than
/// the number of nodes: the addresses are never routed, so a repeat only looks odd).
pub fn node_ip(range: Ipv4Net, index: u32) -> Ipv4Addr {
    let hosts = host_count(range).max(1);
    Ipv4Addr::from(u32::from(range.network()) + 1 + index % hosts)
}

/// The `index`-th /24 of `range` (or `range` itself when it is a /24 or smaller), wrapping around.
pub fn fallback_pod_cidr(range: Ipv4Net, index: u32) -> Ipv4Net {
    if range.prefix_len() >= 24 {
        return range;
    }
    let subnets = 1u32 << (24 - range.prefix_len());
    let base = u32::from(range.network()) + (index % subnets) * 256;
    Ipv4Net::new(Ipv4Addr::from(base), 24).unwrap_or(range)
}

/// Usable hosts of `range`: all but the network and broadcast addresses.
fn host_count(range: Ipv4Net) -> u32 {
    let size = 1u64 << (32 - u32::from(range.prefix_len()));
    size.saturating_sub(2).min(u64::from(u32::MAX)) as u32
}

/// The pod addresses of one node, by pod uid.
#[derive(Debug, Default)]
pub struct PodIps {
    by_uid: HashMap<String, Ipv4Addr>,
    used: BTreeSet<Ipv4Addr>,
}

impl PodIps {
    /// The address of pod `uid`: the one it has already, or the lowest free one of `cidr` from
    /// `.2` on. `None` when `cidr` is full.
    pub fn assign(&mut self, uid: &str, cidr: Ipv4Net) -> Option<Ipv4Addr> {
        if let Some(ip) = self.by_uid.get(uid) {
            return Some(*ip);
        }
        let first = u32::from(cidr.network()).saturating_add(2);
        let last = u32::from(cidr.broadcast()).saturating_sub(1);
        let ip = (first..=last)
            .map(Ipv4Addr::from)
            .find(|ip| !self.used.contains(ip))?;
        self.claim(uid, ip);
        Some(ip)
    }

    /// Records an address a pod already has (after a restart of the simulator).
    pub fn claim(&mut self, uid: &str, ip: Ipv4Addr) {
        self.used.insert(ip);
        if let Some(old) = self.by_uid.insert(uid.to_string(), ip)
            && old != ip
        {
            self.used.remove(&old);
        }
    }

    /// Frees the address of a pod that is gone.
    pub fn release(&mut self, uid: &str) {
        if let Some(ip) = self.by_uid.remove(uid) {
            self.used.remove(&ip);
        }
    }

    /// The uids holding an address.
    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.by_uid.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn node_ips_skip_the_network_address_and_wrap() {
        let range = net("10.250.0.0/16");
        assert_eq!(node_ip(range, 0), Ipv4Addr::new(10, 250, 0, 1));
        assert_eq!(node_ip(range, 300), Ipv4Addr::new(10, 250, 1, 45));
        let small = net("192.168.0.0/30");
        assert_eq!(node_ip(small, 0), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(node_ip(small, 2), Ipv4Addr::new(192, 168, 0, 1));
    }

    #[test]
    fn fallback_cidrs_are_consecutive_slash_24s() {
        let range = net("10.128.0.0/10");
        assert_eq!(fallback_pod_cidr(range, 0), net("10.128.0.0/24"));
        assert_eq!(fallback_pod_cidr(range, 257), net("10.129.1.0/24"));
        assert_eq!(fallback_pod_cidr(net("10.1.2.0/24"), 7), net("10.1.2.0/24"));
    }

    #[test]
    fn pod_ips_are_stable_per_uid_and_reused_after_release() {
        let cidr = net("10.244.3.0/24");
        let mut ips = PodIps::default();
        let a = ips.assign("a", cidr).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 244, 3, 2));
        assert_eq!(ips.assign("a", cidr), Some(a));
        let b = ips.assign("b", cidr).unwrap();
        assert_eq!(b, Ipv4Addr::new(10, 244, 3, 3));
        ips.release("a");
        assert_eq!(ips.assign("c", cidr), Some(a));
        ips.claim("d", Ipv4Addr::new(10, 244, 3, 4));
        assert_eq!(
            ips.assign("e", cidr),
            Some(Ipv4Addr::new(10, 244, 3, 5)),
            "claimed addresses are not handed out again"
        );
    }

    #[test]
    fn a_full_cidr_hands_out_nothing() {
        let cidr = net("10.0.0.0/30"); // .2 is the only pod address
        let mut ips = PodIps::default();
        assert_eq!(ips.assign("a", cidr), Some(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(ips.assign("b", cidr), None);
    }
}
