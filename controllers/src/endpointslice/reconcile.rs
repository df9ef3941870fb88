//! Which EndpointSlices to create, update and delete so a Service's slices hold the desired
//! endpoints (upstream `reconciler.go`, in its strategy): an endpoint stays in the slice it is
//! in; slices losing all endpoints go; new endpoints fill slices being updated anyway before
//! new slices are made; a create and a delete pair up into an update; with no endpoints at
//! all one empty placeholder slice remains. Nothing is written when nothing changed.

use super::desired::{PortKey, port_key};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use std::collections::BTreeMap;

/// What to write.
#[derive(Debug, Default)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<EndpointSlice>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Identity of an endpoint across syncs: its addresses and the pod it stands for.
fn identity(e: &Endpoint) -> (Vec<String>, Option<String>, Option<String>) {
    let target = e.target_ref.as_ref();
    (
        e.addresses.clone(),
        target.and_then(|t| t.namespace.clone()),
        target.and_then(|t| t.name.clone()),
    )
}

fn ports_of(slice: &EndpointSlice) -> Vec<EndpointPort> {
    slice.ports.clone().unwrap_or_default()
}

/// Plans the writes. `new_slice` builds an empty slice with the Service's metadata (labels,
/// owner, generated name) for `ports`; `labels` are the labels every slice must carry.
pub fn plan(
    existing: Vec<EndpointSlice>,
    desired: BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)>,
    max: usize,
    labels: &BTreeMap<String, String>,
    new_slice: &dyn Fn(Vec<EndpointPort>) -> EndpointSlice,
) -> Plan {
    let mut out = Plan::default();
    let mut by_key: BTreeMap<PortKey, Vec<EndpointSlice>> = BTreeMap::new();
    for slice in existing {
        by_key
            .entry(port_key(&ports_of(&slice)))
            .or_default()
            .push(slice);
    }
    let no_endpoints = desired.values().all(|(_, e)| e.is_empty());
    for (key, (ports, endpoints)) in &desired {
        let mut wanted: BTreeMap<_, &Endpoint> =
            endpoints.iter().map(|e| (identity(e), e)).collect();
        let mut updated = Vec::new();
        let mut unchanged = Vec::new();
        for mut slice in by_key.remove(key).unwrap_or_default() {
            let before = slice.endpoints.clone();
            let kept: Vec<Endpoint> = before
                .iter()
                .filter_map(|e| wanted.remove(&identity(e)).cloned())
                .collect();
            if kept.is_empty() {
                out.delete.push(slice);
                continue;
            }
            let labels_changed = slice.metadata.labels.as_ref() != Some(labels);
            if kept != before || labels_changed {
                slice.endpoints = kept;
                slice.metadata.labels = Some(labels.clone());
                updated.push(slice);
            } else {
                unchanged.push(slice);
            }
        }
        let mut rest: Vec<Endpoint> = wanted.into_values().cloned().collect();
        rest.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        let mut rest = rest.into_iter().peekable();
        // Fill slices being written anyway, fullest first; then slices that were unchanged.
        updated.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
        for slice in updated.iter_mut() {
            while slice.endpoints.len() < max && rest.peek().is_some() {
                slice.endpoints.extend(rest.next());
            }
        }
        unchanged.sort_by_key(|s| std::cmp::Reverse(s.endpoints.len()));
        for mut slice in unchanged {
            if rest.peek().is_none() {
                break;
            }
            if slice.endpoints.len() < max {
                while slice.endpoints.len() < max && rest.peek().is_some() {
                    slice.endpoints.extend(rest.next());
                }
                updated.push(slice);
            }
        }
        let rest: Vec<Endpoint> = rest.collect();
        for chunk in rest.chunks(max.max(1)) {
            let mut slice = new_slice(ports.clone());
            slice.endpoints = chunk.to_vec();
            out.create.push(slice);
        }
        out.update.extend(updated);
    }
    // Port sets no longer served.
    out.delete.extend(by_key.into_values().flatten());

    if no_endpoints {
        let placeholder = new_slice(Vec::new());
        let keep = out.delete.iter().position(|s| {
            s.endpoints.is_empty()
                && s.ports.as_ref().is_none_or(Vec::is_empty)
                && s.metadata.labels == placeholder.metadata.labels
                && s.address_type == placeholder.address_type
        });
        match keep {
            Some(i) => {
                out.delete.remove(i);
            }
            None if out.create.is_empty() => out.create.push(placeholder),
            None => {}
        }
    }

    // A create and a delete of the same address type make one update of the deleted slice.
    let mut creates = std::mem::take(&mut out.create);
    let mut unpaired = Vec::new();
    for mut slice in creates.drain(..) {
        match out
            .delete
            .iter()
            .position(|d| d.address_type == slice.address_type)
        {
            Some(i) => {
                let old = out.delete.remove(i);
                slice.metadata.name = old.metadata.name;
                slice.metadata.generate_name = old.metadata.generate_name;
                slice.metadata.resource_version = old.metadata.resource_version;
                slice.metadata.uid = old.metadata.uid;
                slice.metadata.creation_timestamp = old.metadata.creation_timestamp;
                out.update.push(slice);
            }
            None => unpaired.push(slice),
        }
    }
    out.create = unpaired;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn ep(ip: &str) -> Endpoint {
        Endpoint {
            addresses: vec![ip.to_string()],
            ..Default::default()
        }
    }

    fn port(p: i32) -> Vec<EndpointPort> {
        vec![EndpointPort {
            name: Some(String::new()),
            port: Some(p),
            protocol: Some("TCP".to_string()),
            app_protocol: None,
        }]
    }

    fn labels() -> BTreeMap<String, String> {
        BTreeMap::from([("kubernetes.io/service-name".to_string(), "web".to_string())])
    }

    fn fresh(ports: Vec<EndpointPort>) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                generate_name: Some("web-".to_string()),
                labels: Some(labels()),
                ..Default::default()
            },
            address_type: "IPv4".to_string(),
            endpoints: Vec::new(),
            ports: (!ports.is_empty()).then_some(ports),
        }
    }

    fn existing(name: &str, p: i32, ips: &[&str]) -> EndpointSlice {
        let mut s = fresh(port(p));
        s.metadata.name = Some(name.to_string());
        s.endpoints = ips.iter().map(|ip| ep(ip)).collect();
        s
    }

    fn desired(p: i32, ips: &[&str]) -> BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)> {
        let ports = port(p);
        BTreeMap::from([(
            port_key(&ports),
            (ports, ips.iter().map(|ip| ep(ip)).collect()),
        )])
    }

    #[test]
    fn unchanged_slices_are_not_written() {
        let p = plan(
            vec![existing("web-a", 80, &["10.0.0.1"])],
            desired(80, &["10.0.0.1"]),
            100,
            &labels(),
            &fresh,
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn endpoints_stay_put_and_new_ones_fill_slices_then_new_slices() {
        let p = plan(
            vec![existing("web-a", 80, &["10.0.0.1", "10.0.0.2"])],
            desired(80, &["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.5"]),
            3,
            &labels(),
            &fresh,
        );
        assert_eq!(p.update.len(), 1);
        let ips: Vec<&str> = p.update[0]
            .endpoints
            .iter()
            .map(|e| e.addresses[0].as_str())
            .collect();
        assert_eq!(ips, vec!["10.0.0.1", "10.0.0.3", "10.0.0.4"]);
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0].endpoints[0].addresses[0], "10.0.0.5");
        assert!(p.delete.is_empty());
    }

    #[test]
    fn a_changed_port_set_reuses_the_old_slice() {
        let p = plan(
            vec![existing("web-a", 80, &["10.0.0.1"])],
            desired(8080, &["10.0.0.1"]),
            100,
            &labels(),
            &fresh,
        );
        assert!(p.create.is_empty() && p.delete.is_empty(), "{p:?}");
        assert_eq!(p.update[0].metadata.name.as_deref(), Some("web-a"));
        assert_eq!(p.update[0].ports.as_ref().unwrap()[0].port, Some(8080));
    }

    #[test]
    fn without_endpoints_one_placeholder_remains() {
        let p = plan(Vec::new(), BTreeMap::new(), 100, &labels(), &fresh);
        assert_eq!(p.create.len(), 1);
        assert!(p.create[0].endpoints.is_empty() && p.create[0].ports.is_none());
        // The placeholder that exists is kept as it is; the emptied slice becomes it.
        let mut placeholder = fresh(Vec::new());
        placeholder.metadata.name = Some("web-p".to_string());
        let p = plan(vec![placeholder], BTreeMap::new(), 100, &labels(), &fresh);
        assert!(p.is_empty(), "{p:?}");
        let p = plan(
            vec![existing("web-a", 80, &["10.0.0.1"])],
            BTreeMap::new(),
            100,
            &labels(),
            &fresh,
        );
        assert_eq!((p.create.len(), p.delete.len(), p.update.len()), (0, 0, 1));
        assert!(p.update[0].endpoints.is_empty() && p.update[0].ports.is_none());
    }
}
