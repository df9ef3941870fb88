//! ImageLocality (Score, default weight 1): prefers nodes that already have the pod's images
//! (`node.status.images`). Each image present counts its size times the share of nodes that
//! have it (so one big image on one node does not pull every pod there); the sum, between 23
//! MiB and 1000 MiB per container (init containers included), maps to 0..=100.
//!
//! Images are looked up by upstream's `normalizedImageName`: a name without a tag gets
//! `:latest`; names are otherwise compared as written (upstream does not expand `nginx` to
//! `docker.io/library/nginx` either).
//!
//! As upstream, the snapshot keeps how many nodes have each image; PreScore notes the pod's
//! images with those counts once, for Score to look up on each node (Score works them out
//! itself when PreScore did not run).

use crate::cache::Snapshot;
use crate::framework::{CycleState, MAX_NODE_SCORE, Plugin, PreScorePlugin, ScorePlugin, Status};
use crate::node_info::NodeInfo;
use k8s_openapi::api::core::v1::Pod;
use std::sync::Arc;

pub const NAME: &str = "ImageLocality";
const PRE_SCORE_KEY: &str = "PreScoreImageLocality";

const MB: i64 = 1024 * 1024;
/// Below this (summed, spread-scaled) size a node scores 0.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Per container: at this size a node scores 100.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub fn new() -> Arc<dyn Plugin> {
    Arc::new(ImageLocality)
}

struct ImageLocality;

/// The pod's images, each with how many of the cycle's nodes have it.
#[derive(Debug, Clone, Default)]
struct Spread {
    total_nodes: usize,
    images: Vec<(String, usize)>,
}

/// The name a node reports an image under (upstream's `normalizedImageName`).
pub fn normalized_image_name(name: &str) -> String {
    let last_colon = name.rfind(':');
    let last_slash = name.rfind('/');
    // No tag when there is no ':' after the last '/' (a ':' before it is a registry port).
    if last_colon.map(|c| c as isize).unwrap_or(-1) <= last_slash.map(|s| s as isize).unwrap_or(-1)
    {
        format!("{name}:latest")
    } else {
        name.to_string()
    }
}

/// The pod's images, init containers first, normalized.
fn images(pod: &Pod) -> Vec<String> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| normalized_image_name(c.image.as_deref().unwrap_or_default()))
        .collect()
}

fn spread(pod: &Pod, snapshot: Option<&Snapshot>) -> Spread {
    let Some(snapshot) = snapshot else {
        return Spread::default();
    };
    Spread {
        total_nodes: snapshot.nodes.len(),
        images: images(pod)
            .into_iter()
            .map(|i| {
                let n = snapshot.nodes_with_image(&i);
                (i, n)
            })
            .collect(),
    }
}

/// Upstream's `calculatePriority`.
pub fn calculate_priority(sum: i64, containers: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD * containers as i64;
    if max <= MIN_THRESHOLD {
        return 0;
    }
    let sum = sum.clamp(MIN_THRESHOLD, max);
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &Pod, nodes: &[Arc<NodeInfo>]) -> Status {
        let s = match state.snapshot() {
            Some(snapshot) => spread(pod, Some(snapshot)),
            None => spread(pod, Some(&Snapshot::new(nodes.to_vec()))),
        };
        state.write(PRE_SCORE_KEY, s);
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Result<i64, Status> {
        let computed;
        let s = match state.read::<Spread>(PRE_SCORE_KEY) {
            Some(s) => s,
            None => {
                computed = spread(pod, state.snapshot());
                &computed
            }
        };
        let mut sum = 0;
        for (image, with) in &s.images {
            let Some(size) = node.image_sizes.get(image) else {
                continue;
            };
            let share = (*with).max(1) as f64 / s.total_nodes.max(1) as f64;
            sum += (*size as f64 * share) as i64;
        }
        Ok(calculate_priority(sum, s.images.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_info::testing::{node, pod};
    use k8s_openapi::api::core::v1::{Container, ContainerImage};

    fn with_images(name: &str, images: &[(&[&str], i64)]) -> Arc<NodeInfo> {
        let mut n = node(name, "1", "1Gi");
        n.status.get_or_insert_default().images = Some(
            images
                .iter()
                .map(|(names, size)| ContainerImage {
                    names: Some(names.iter().map(|s| s.to_string()).collect()),
                    size_bytes: Some(*size),
                })
                .collect(),
        );
        Arc::new(NodeInfo::new(Arc::new(n)))
    }

    fn using(images: &[&str]) -> Pod {
        let mut p = pod("p", &[]);
        p.spec.as_mut().unwrap().containers = images
            .iter()
            .enumerate()
            .map(|(i, image)| Container {
                name: format!("c{i}"),
                image: Some(image.to_string()),
                ..Default::default()
            })
            .collect();
        p
    }

    fn scores(p: &Pod, nodes: &[Arc<NodeInfo>]) -> Vec<i64> {
        let mut state = CycleState::new();
        state.set_all_nodes(nodes);
        assert!(ImageLocality.pre_score(&mut state, p, nodes).is_success());
        nodes
            .iter()
            .map(|n| ImageLocality.score(&state, p, n).unwrap())
            .collect()
    }

    #[test]
    fn image_names_as_upstream() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("gcr.io/foo"), "gcr.io/foo:latest");
        assert_eq!(
            normalized_image_name("localhost:5000/foo"),
            "localhost:5000/foo:latest"
        );
        assert_eq!(normalized_image_name("nginx:1.27"), "nginx:1.27");
        assert_eq!(
            normalized_image_name("docker.io/library/nginx:1.27"),
            "docker.io/library/nginx:1.27"
        );
    }

    #[test]
    fn priorities_between_the_thresholds() {
        assert_eq!(calculate_priority(0, 1), 0);
        assert_eq!(calculate_priority(MIN_THRESHOLD, 1), 0);
        assert_eq!(calculate_priority(2000 * MB, 1), 100);
        // Upstream's table: 250 MB on a node, one container: 100 * (250 - 23) / (1000 - 23).
        assert_eq!(calculate_priority(250 * MB, 1), 23);
        assert_eq!(calculate_priority(1000 * MB, 2), 49);
    }

    #[test]
    fn score_table() {
        // Upstream's "two images spread on two/three nodes" style cases, 3 nodes.
        let nodes = [
            with_images(
                "a",
                &[
                    (&["gcr.io/40:latest", "gcr.io/40:v1"], 40 * MB),
                    (&["gcr.io/250:latest"], 250 * MB),
                ],
            ),
            with_images(
                "b",
                &[
                    (&["gcr.io/250:latest"], 250 * MB),
                    (&["gcr.io/10:v1"], 10 * MB),
                ],
            ),
            with_images("c", &[]),
        ];
        // gcr.io/40 (1 of 3 nodes): 13.3 MB, below the minimum -> 0 on a.
        // gcr.io/250 (2 of 3): 166.7 MB -> 100 * (166.7 - 23) / (1000 - 23) = 14.
        assert_eq!(scores(&using(&["gcr.io/40"]), &nodes), vec![0, 0, 0]);
        assert_eq!(scores(&using(&["gcr.io/250"]), &nodes), vec![14, 14, 0]);
        // Two containers: the maximum is 2000 MB; a has both (13.3 + 166.7 = 180 MB).
        assert_eq!(
            scores(&using(&["gcr.io/40", "gcr.io/250"]), &nodes),
            vec![7, 7, 0]
        );
        // Names are compared as written, with the default tag added.
        assert_eq!(scores(&using(&["gcr.io/10"]), &nodes), vec![0, 0, 0]);
        // Score without PreScore counts the spread itself.
        let mut state = CycleState::new();
        state.set_all_nodes(nodes.as_slice());
        assert_eq!(
            ImageLocality
                .score(&state, &using(&["gcr.io/250"]), &nodes[0])
                .unwrap(),
            14
        );
    }
}
