//! The `pod-template-hash` that names a Deployment's ReplicaSets and keeps their pods apart:
//! FNV-32a over the pod template (and the collision count, if any), written in the
//! consonant-and-digit alphabet upstream uses for generated names, so names read like
//! upstream's (`web-7d9c5b8f4`). Upstream hashes the Go structure's printed form, which only
//! Go can reproduce; this hashes the template's JSON, so the same template gets a different
//! (but just as stable) hash than on an upstream cluster.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// The label (on ReplicaSets, their selectors and their pods) holding the hash.
pub const LABEL: &str = "pod-template-hash";

/// Upstream's alphabet for generated names: no vowels, no confusable characters.
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv32a(bytes: impl IntoIterator<Item = u8>, mut hash: u32) -> u32 {
    for b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Upstream's `SafeEncodeString`: each byte mapped into [`ALPHABET`].
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// The hash of `template` with `collision_count` (upstream `ComputeHash`).
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv32a(json, 0x811c_9dc5);
    if let Some(n) = collision_count {
        // As upstream: the count as 4 little-endian bytes in an 8-byte buffer.
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(n as u32).to_le_bytes());
        hash = fnv32a(buf, hash);
    }
    safe_encode(&hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv32a(*b"", 0x811c_9dc5), 0x811c_9dc5);
        assert_eq!(fnv32a(*b"a", 0x811c_9dc5), 0xe40c_292c);
        assert_eq!(fnv32a(*b"foobar", 0x811c_9dc5), 0xbf9c_f968);
    }

    #[test]
    fn hashes_are_stable_distinct_and_safe() {
        let t = PodTemplateSpec::default();
        let mut other = t.clone();
        other.metadata = Some(ObjectMeta {
            labels: Some([("app".to_string(), "x".to_string())].into()),
            ..Default::default()
        });
        assert_eq!(compute(&t, None), compute(&t, None));
        assert_ne!(compute(&t, None), compute(&other, None));
        assert_ne!(compute(&t, None), compute(&t, Some(1)));
        let h = compute(&other, Some(3));
        assert!(!h.is_empty() && h.len() <= 10, "{h}");
        assert!(h.bytes().all(|b| ALPHABET.contains(&b)), "{h}");
        assert_eq!(safe_encode("0123"), "4567");
    }
}
