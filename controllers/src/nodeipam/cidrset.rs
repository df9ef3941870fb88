//! The pod CIDRs of one cluster CIDR (upstream `cidrset.CidrSet`): the cluster CIDR cut into
//! node-sized blocks, handed out round-robin from after the last one given (a released block
//! comes back only after the others), with blocks in use by existing nodes or the Service
//! range marked taken.

use ipnet::IpNet;
use std::net::IpAddr;

/// Why a block could not be handed out or taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error(
        "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
    )]
    Full,
    #[error("New CIDR set failed; the node CIDR size is too big")]
    TooBig,
    #[error("cidr {cidr} is out the range of cluster cidr {cluster}")]
    OutOfRange { cidr: String, cluster: String },
}

/// The blocks of one cluster CIDR.
#[derive(Debug, Clone)]
pub struct CidrSet {
    cluster: IpNet,
    node_prefix: u8,
    used: Vec<bool>,
    next: usize,
}

impl CidrSet {
    pub fn new(cluster: IpNet, node_prefix: u8) -> Result<Self, CidrError> {
        let cluster = cluster.trunc();
        let bits = node_prefix
            .checked_sub(cluster.prefix_len())
            .ok_or(CidrError::TooBig)?;
        // Upstream caps an IPv6 set at 2^16 blocks, and node masks below the cluster's.
        if node_prefix > cluster.max_prefix_len() || bits > 16 {
            return Err(CidrError::TooBig);
        }
        Ok(Self {
            cluster,
            node_prefix,
            used: vec![false; 1usize << bits],
            next: 0,
        })
    }

    pub fn cluster(&self) -> IpNet {
        self.cluster
    }

    fn block(&self, index: usize) -> IpNet {
        let shift = u32::from(self.cluster.max_prefix_len() - self.node_prefix);
        let addr = match self.cluster.network() {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) | ((index as u32) << shift)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) | ((index as u128) << shift)).into()),
        };
        IpNet::new(addr, self.node_prefix).unwrap_or(self.cluster)
    }

    /// The indexes of the blocks that `cidr` overlaps.
    fn indexes(&self, cidr: &IpNet) -> Option<std::ops::RangeInclusive<usize>> {
        if !(self.cluster.contains(&cidr.network()) || cidr.contains(&self.cluster.network())) {
            return None;
        }
        let shift = u32::from(self.cluster.max_prefix_len() - self.node_prefix);
        let offset = |addr: IpAddr| -> usize {
            match (addr, self.cluster.network()) {
                (IpAddr::V4(a), IpAddr::V4(base)) => {
                    (u32::from(a).saturating_sub(u32::from(base)) >> shift) as usize
                }
                (IpAddr::V6(a), IpAddr::V6(base)) => {
                    (u128::from(a).saturating_sub(u128::from(base)) >> shift) as usize
                }
                _ => 0,
            }
        };
        let first = if self.cluster.contains(&cidr.network()) {
            offset(cidr.network())
        } else {
            0
        };
        let last = if self.cluster.contains(&cidr.broadcast()) {
            offset(cidr.broadcast())
        } else {
            self.used.len() - 1
        };
        Some(first.min(self.used.len() - 1)..=last.min(self.used.len() - 1))
    }

    /// Hands out the next free block.
    pub fn allocate(&mut self) -> Result<IpNet, CidrError> {
        let n = self.used.len();
        for step in 0..n {
            let i = (self.next + step) % n;
            if !self.used[i] {
                self.used[i] = true;
                self.next = (i + 1) % n;
                return Ok(self.block(i));
            }
        }
        Err(CidrError::Full)
    }

    /// Marks the blocks `cidr` overlaps as taken (a node's existing podCIDR, the Service
    /// range).
    pub fn occupy(&mut self, cidr: &IpNet) -> Result<(), CidrError> {
        let range = self.indexes(cidr).ok_or_else(|| CidrError::OutOfRange {
            cidr: cidr.to_string(),
            cluster: self.cluster.to_string(),
        })?;
        for i in range {
            self.used[i] = true;
        }
        Ok(())
    }

    /// Gives a node's block back.
    pub fn release(&mut self, cidr: &IpNet) {
        if let Some(range) = self.indexes(cidr) {
            for i in range {
                self.used[i] = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_go_round_robin_skipping_taken_ones() {
        let mut set = CidrSet::new(net("10.244.0.0/22"), 24).unwrap();
        set.occupy(&net("10.244.1.0/24")).unwrap();
        assert_eq!(set.allocate().unwrap(), net("10.244.0.0/24"));
        assert_eq!(set.allocate().unwrap(), net("10.244.2.0/24"));
        set.release(&net("10.244.0.0/24"));
        assert_eq!(set.allocate().unwrap(), net("10.244.3.0/24"));
        assert_eq!(set.allocate().unwrap(), net("10.244.0.0/24"));
        assert_eq!(set.allocate(), Err(CidrError::Full));
    }

    #[test]
    fn ranges_outside_are_refused_and_big_ones_take_many_blocks() {
        let mut set = CidrSet::new(net("10.244.0.0/16"), 24).unwrap();
        assert!(matches!(
            set.occupy(&net("10.96.0.0/24")),
            Err(CidrError::OutOfRange { .. })
        ));
        set.occupy(&net("10.244.0.0/23")).unwrap();
        assert_eq!(set.allocate().unwrap(), net("10.244.2.0/24"));
        assert_eq!(
            CidrSet::new(net("10.0.0.0/24"), 16).err(),
            Some(CidrError::TooBig)
        );
        let mut v6 = CidrSet::new(net("fd00::/48"), 64).unwrap();
        assert_eq!(v6.allocate().unwrap(), net("fd00::/64"));
        assert_eq!(v6.allocate().unwrap(), net("fd00:0:0:1::/64"));
    }
}
