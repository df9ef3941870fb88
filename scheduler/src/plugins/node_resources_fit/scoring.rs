//! Scoring a node by its resources after placing the pod, shared by NodeResourcesFit
//! (LeastAllocated, MostAllocated, RequestedToCapacityRatio) and
//! NodeResourcesBalancedAllocation, as upstream's `resourceAllocationScorer`.

use crate::framework::MAX_NODE_SCORE;
use crate::node_info::{CPU, MEMORY, NodeInfo, Resource, is_scalar_resource};
use serde::Deserialize;

/// A resource and its weight in a score.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResourceSpec {
    pub name: String,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

/// CPU and memory, weight 1 each: upstream's default for every scorer.
pub fn default_resources() -> Vec<ResourceSpec> {
    [CPU, MEMORY]
        .iter()
        .map(|n| ResourceSpec {
            name: n.to_string(),
            weight: 1,
        })
        .collect()
}

/// A point of RequestedToCapacityRatio's shape: utilization 0..=100 -> score 0..=10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ShapePoint {
    pub utilization: i64,
    pub score: i64,
}

/// How requested and allocatable amounts become a score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio(Vec<ShapePoint>),
    Balanced,
}

/// The scorer of one plugin: a strategy over weighted resources.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub strategy: Strategy,
    pub resources: Vec<ResourceSpec>,
    /// Use actual requests (Balanced); otherwise containers without requests count upstream's
    /// non-zero defaults.
    pub use_requested: bool,
    /// What each of `resources` is, worked out once: the score runs for every node of every
    /// cycle, and matching the names there cost more than the arithmetic.
    kinds: Vec<Kind>,
}

/// Where a scored resource's amounts are kept in a [`NodeInfo`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Cpu,
    Memory,
    EphemeralStorage,
    /// Any other name; `scalar` when it is an extended resource, hugepages or the like
    /// (scored only for pods that request it).
    Other {
        scalar: bool,
    },
}

impl Kind {
    fn of(name: &str) -> Self {
        match name {
            CPU => Kind::Cpu,
            MEMORY => Kind::Memory,
            crate::node_info::EPHEMERAL_STORAGE => Kind::EphemeralStorage,
            _ => Kind::Other {
                scalar: is_scalar_resource(name),
            },
        }
    }
}

/// The pod's request of each scored resource, in the order of `resources`.
pub fn pod_request_list(
    requests: &Resource,
    non_zero: &Resource,
    resources: &[ResourceSpec],
    use_requested: bool,
) -> Vec<i64> {
    resources
        .iter()
        .map(|r| match r.name.as_str() {
            CPU if !use_requested => non_zero.milli_cpu,
            MEMORY if !use_requested => non_zero.memory,
            name => requests.get(name),
        })
        .collect()
}

impl Scorer {
    pub fn new(strategy: Strategy, resources: Vec<ResourceSpec>, use_requested: bool) -> Self {
        let kinds = resources.iter().map(|r| Kind::of(&r.name)).collect();
        Scorer {
            strategy,
            resources,
            use_requested,
            kinds,
        }
    }

    /// The node's score with the pod (whose requests `pod_requests` gives, one per resource).
    pub fn score(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        // On the stack for the usual few resources: this runs for every node of every cycle.
        const INLINE: usize = 4;
        let n = self.resources.len();
        let (mut requested_inline, mut allocatable_inline) = ([0; INLINE], [0; INLINE]);
        let (mut requested_heap, mut allocatable_heap);
        let (requested, allocatable): (&mut [i64], &mut [i64]) = if n <= INLINE {
            (&mut requested_inline[..n], &mut allocatable_inline[..n])
        } else {
            requested_heap = vec![0; n];
            allocatable_heap = vec![0; n];
            (&mut requested_heap, &mut allocatable_heap)
        };
        for (i, (r, kind)) in self.resources.iter().zip(&self.kinds).enumerate() {
            let pod = pod_requests.get(i).copied().unwrap_or(0);
            let (alloc, req) = self.allocatable_and_requested(node, &r.name, kind, pod);
            if alloc == 0 {
                continue;
            }
            allocatable[i] = alloc;
            requested[i] = req;
        }
        match &self.strategy {
            Strategy::LeastAllocated => self.weighted(requested, allocatable, least_requested),
            Strategy::MostAllocated => self.weighted(requested, allocatable, most_requested),
            Strategy::RequestedToCapacityRatio(shape) => {
                requested_to_capacity_ratio(&self.resources, shape, requested, allocatable)
            }
            Strategy::Balanced => balanced(requested, allocatable),
        }
    }

    fn allocatable_and_requested(
        &self,
        node: &NodeInfo,
        name: &str,
        kind: &Kind,
        pod: i64,
    ) -> (i64, i64) {
        let requested = if self.use_requested {
            &node.requested
        } else {
            &node.non_zero_requested
        };
        match kind {
            Kind::Cpu => (node.allocatable.milli_cpu, requested.milli_cpu + pod),
            Kind::Memory => (node.allocatable.memory, requested.memory + pod),
            Kind::EphemeralStorage => (
                node.allocatable.ephemeral_storage,
                node.requested.ephemeral_storage + pod,
            ),
            // An extended resource the pod does not request is not scored.
            Kind::Other { scalar: true } if pod == 0 => (0, 0),
            Kind::Other { .. } => match node.allocatable.scalar.get(name) {
                Some(alloc) => (*alloc, node.requested.get(name) + pod),
                None => (0, 0),
            },
        }
    }

    fn weighted(&self, requested: &[i64], allocatable: &[i64], f: fn(i64, i64) -> i64) -> i64 {
        let (mut score, mut weights) = (0, 0);
        for (i, r) in self.resources.iter().enumerate() {
            if allocatable[i] == 0 {
                continue;
            }
            score += f(requested[i], allocatable[i]) * r.weight;
            weights += r.weight;
        }
        if weights == 0 { 0 } else { score / weights }
    }
}

/// Free share of the capacity, 0..=100.
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// Used share of the capacity, 0..=100 (requests over capacity count as full).
fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// The score of the broken line through `shape` (scores already scaled to 0..=100) at `p`.
fn broken_linear(shape: &[ShapePoint], p: i64) -> i64 {
    for (i, point) in shape.iter().enumerate() {
        if p <= point.utilization {
            if i == 0 {
                return point.score;
            }
            let prev = shape[i - 1];
            return prev.score
                + (point.score - prev.score) * (p - prev.utilization)
                    / (point.utilization - prev.utilization);
        }
    }
    shape.last().map_or(0, |p| p.score)
}

/// Upstream's maximum score of a shape point; scores are scaled to [`MAX_NODE_SCORE`].
pub const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;

fn requested_to_capacity_ratio(
    resources: &[ResourceSpec],
    shape: &[ShapePoint],
    requested: &[i64],
    allocatable: &[i64],
) -> i64 {
    let scaled: Vec<ShapePoint> = shape
        .iter()
        .map(|p| ShapePoint {
            utilization: p.utilization,
            score: p.score * (MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE),
        })
        .collect();
    let resource_score = |requested: i64, capacity: i64| {
        if capacity == 0 || requested > capacity {
            broken_linear(&scaled, 100)
        } else {
            broken_linear(&scaled, requested * 100 / capacity)
        }
    };
    let (mut score, mut weights) = (0i64, 0i64);
    for (i, r) in resources.iter().enumerate() {
        if allocatable[i] == 0 {
            continue;
        }
        let s = resource_score(requested[i], allocatable[i]);
        if s > 0 {
            score += s * r.weight;
            weights += r.weight;
        }
    }
    if weights == 0 {
        0
    } else {
        (score as f64 / weights as f64).round() as i64
    }
}

/// 100 when the shares of every resource are equal, less the more they spread (one minus
/// their standard deviation).
fn balanced(requested: &[i64], allocatable: &[i64]) -> i64 {
    // No list of the shares: this runs for every node of every cycle.
    let fractions = || {
        requested
            .iter()
            .zip(allocatable)
            .filter(|(_, a)| **a != 0)
            .map(|(r, a)| (*r as f64 / *a as f64).min(1.0))
    };
    let n = fractions().count();
    let std = match n {
        0 | 1 => 0.0,
        2 => {
            let mut two = fractions();
            let (a, b) = (two.next().unwrap_or(0.0), two.next().unwrap_or(0.0));
            ((a - b) / 2.0).abs()
        }
        n => {
            let mean = fractions().sum::<f64>() / n as f64;
            (fractions().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_and_most_requested() {
        assert_eq!(least_requested(3000, 4000), 25);
        assert_eq!(least_requested(5000, 4000), 0);
        assert_eq!(most_requested(3000, 4000), 75);
        assert_eq!(most_requested(5000, 4000), 100);
    }

    #[test]
    fn broken_line_interpolates() {
        let shape = [
            ShapePoint {
                utilization: 0,
                score: 0,
            },
            ShapePoint {
                utilization: 100,
                score: 100,
            },
        ];
        assert_eq!(broken_linear(&shape, 50), 50);
        assert_eq!(broken_linear(&shape, 150), 100);
        assert_eq!(broken_linear(&shape, -1), 0);
    }

    #[test]
    fn balanced_is_one_minus_deviation() {
        assert_eq!(balanced(&[50, 50], &[100, 100]), 100);
        assert_eq!(balanced(&[100, 0], &[100, 100]), 50);
        assert_eq!(balanced(&[60, 20], &[100, 100]), 80);
        // Three shares 0.2, 0.4, 0.6: deviation 0.163.
        assert_eq!(balanced(&[20, 40, 60], &[100, 100, 100]), 83);
        // A resource the node lacks is left out.
        assert_eq!(balanced(&[20, 7, 60], &[100, 0, 100]), 80);
    }

    #[test]
    fn extended_resources_count_only_for_pods_requesting_them() {
        use crate::node_info::testing::{list, node};
        use std::sync::Arc;
        let mut n = node("n", "4", "10000");
        if let Some(s) = n.status.as_mut() {
            s.allocatable = Some(list(&[("cpu", "4"), ("example.com/gpu", "4")]));
        }
        let info = NodeInfo::new(Arc::new(n));
        let resources = ["cpu", "example.com/gpu"]
            .iter()
            .map(|n| ResourceSpec {
                name: n.to_string(),
                weight: 1,
            })
            .collect();
        let scorer = Scorer::new(Strategy::LeastAllocated, resources, false);
        // 3 of 4 CPUs: 25; the GPU the pod does not ask for is not scored.
        assert_eq!(scorer.score(&info, &[3000, 0]), 25);
        // With 1 of 4 GPUs: (25 + 75) / 2.
        assert_eq!(scorer.score(&info, &[3000, 1]), 50);
    }
}
