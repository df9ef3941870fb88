//! ClusterIP and NodePort allocation for Services, as upstream 1.33 keeps them:
//!
//! - every ClusterIP is a `networking.k8s.io/v1` IPAddress object named after the address,
//!   labelled with its family and `ipaddress.kubernetes.io/managed-by: ipallocator.k8s.io`,
//!   whose `spec.parentRef` points at the Service; creating it is the allocation, and its
//!   `AlreadyExists` is "provided IP is already allocated";
//! - NodePorts are a bitmap in a `RangeAllocation` at `<prefix>/ranges/servicenodeports`
//!   (bit `n` is port `base + n`, stored as the big-endian bytes of that big integer), changed
//!   with compare-and-swap transactions.
//!
//! Dynamic picks prefer the upper part of each range and start at a random offset, as
//! upstream's allocators do, leaving the lower part for static requests.

use super::{needs_cluster_ip, needs_health_check, needs_node_ports};
use crate::authn::user::UserInfo;
use crate::errors::{ApiError, Result};
use crate::registry::resources::core::common::{
    array_at, go_string_slice, int_at, invalid_raw, str_at, strings_at,
};
use crate::registry::store::{Allocation, DeleteOptions, OpContext, Store, WriteHooks};
use crate::storage::{ListRequest, ReadAt};
use apimachinery::field_errors::{FieldError, FieldErrors};
use base64::Engine;
use etcd_client::{Compare, CompareOp, Txn, TxnOp};
use rand::Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::sync::Arc;

/// The `managed-by` value upstream's allocator puts on its IPAddresses.
pub const CONTROLLER_NAME: &str = "ipallocator.k8s.io";
pub const LABEL_IP_FAMILY: &str = "ipaddress.kubernetes.io/ip-family";
pub const LABEL_MANAGED_BY: &str = "ipaddress.kubernetes.io/managed-by";
const PORT_ALLOCATED: &str = "provided port is already allocated";
const IP_ALLOCATED: &str = "provided IP is already allocated";
const MAX_CAS_TRIES: usize = 16;

fn invalid(name: &str, errs: FieldErrors) -> ApiError {
    ApiError::invalid("", "Service", name, &errs)
}

fn family_of(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(v))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(v).unwrap_or(u32::MAX)))
    }
}

/// The usable addresses of a service CIDR and where its dynamic band starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub first: u128,
    pub last: u128,
    /// Addresses below `first + offset` are left for static requests when possible.
    pub offset: u128,
    pub v6: bool,
}

impl IpRange {
    pub fn new(net: &ipnet::IpNet) -> Self {
        let v6 = matches!(net, ipnet::IpNet::V6(_));
        let network = to_u128(net.network());
        let broadcast = to_u128(net.broadcast());
        // The network address is never handed out; IPv4 also skips its broadcast address.
        let first = network + 1;
        let last = if v6 {
            broadcast
        } else {
            broadcast.saturating_sub(1)
        };
        let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
        let cidr_size = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
        let offset = if cidr_size <= 16 {
            0
        } else {
            (cidr_size / 16).clamp(16, 256)
        };
        Self {
            first,
            last: last.max(first),
            offset,
            v6,
        }
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
        ip.is_ipv6() == self.v6 && (self.first..=self.last).contains(&to_u128(*ip))
    }

    /// Candidates in upstream's order: the upper band from a random start (wrapping), then
    /// the lower band from a random start.
    pub fn candidates(&self, rng: &mut impl Rng) -> impl Iterator<Item = u128> {
        let split = (self.first + self.offset).min(self.last + 1);
        let band = |lo: u128, hi_excl: u128, start: u128| {
            let len = hi_excl.saturating_sub(lo);
            (0..len).map(move |i| lo + (start + i) % len)
        };
        let upper_len = (self.last + 1).saturating_sub(split);
        let lower_len = split.saturating_sub(self.first);
        let us = if upper_len > 0 {
            rng.random_range(0..upper_len.min(u128::from(u64::MAX)))
        } else {
            0
        };
        let ls = if lower_len > 0 {
            rng.random_range(0..lower_len.min(u128::from(u64::MAX)))
        } else {
            0
        };
        band(split, self.last + 1, us).chain(band(self.first, split, ls))
    }
}

/// The NodePort bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBitmap {
    pub range: RangeInclusive<u16>,
    bits: Vec<bool>,
}

impl PortBitmap {
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let n = usize::from(*range.end() - *range.start()) + 1;
        Self {
            range,
            bits: vec![false; n],
        }
    }

    /// `30000-32767`, upstream's `PortRange.String()`.
    pub fn range_spec(&self) -> String {
        format!("{}-{}", self.range.start(), self.range.end())
    }

    /// Restores from the big-endian bytes of the bitmap's integer.
    pub fn restore(range: RangeInclusive<u16>, data: &[u8]) -> Self {
        let mut b = Self::new(range);
        let n = data.len();
        for (i, slot) in b.bits.iter_mut().enumerate() {
            let byte = i / 8;
            if byte < n {
                *slot = data[n - 1 - byte] & (1 << (i % 8)) != 0;
            }
        }
        b
    }

    /// The big-endian bytes of the bitmap's integer, without leading zeros (`big.Int.Bytes`).
    pub fn snapshot(&self) -> Vec<u8> {
        let len = self.bits.len().div_ceil(8);
        let mut out = vec![0u8; len];
        for (i, set) in self.bits.iter().enumerate() {
            if *set {
                out[len - 1 - i / 8] |= 1 << (i % 8);
            }
        }
        let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
        out.split_off(first)
    }

    fn offset(&self, port: i64) -> Option<usize> {
        let p = u16::try_from(port).ok()?;
        self.range
            .contains(&p)
            .then(|| usize::from(p - *self.range.start()))
    }

    pub fn has(&self, port: i64) -> bool {
        self.offset(port).is_some_and(|o| self.bits[o])
    }

    /// Marks a requested port, with upstream's errors.
    pub fn allocate(&mut self, port: i64) -> std::result::Result<(), String> {
        let Some(o) = self.offset(port) else {
            return Err(format!(
                "provided port is not in the valid range. The range of valid ports is {}",
                self.range_spec()
            ));
        };
        if self.bits[o] {
            return Err(PORT_ALLOCATED.to_string());
        }
        self.bits[o] = true;
        Ok(())
    }

    /// Picks a free port: the upper band first (from a random start), then the lower one.
    pub fn allocate_next(&mut self, rng: &mut impl Rng) -> Option<i64> {
        let size = self.bits.len();
        let offset = (size / 32).clamp(16, 128).min(size);
        let scan = |lo: usize, hi: usize, start: usize| {
            let len = hi - lo;
            (0..len).map(move |i| lo + (start + i) % len)
        };
        let us = if size > offset {
            rng.random_range(0..size - offset)
        } else {
            0
        };
        let ls = if offset > 0 {
            rng.random_range(0..offset)
        } else {
            0
        };
        let pick = scan(offset, size, us)
            .chain(scan(0, offset, ls))
            .find(|o| !self.bits[*o])?;
        self.bits[pick] = true;
        Some(i64::from(*self.range.start()) + pick as i64)
    }

    pub fn release(&mut self, port: i64) {
        if let Some(o) = self.offset(port) {
            self.bits[o] = false;
        }
    }
}

/// The NodePort bitmap in etcd.
#[derive(Clone)]
pub struct PortStore {
    client: etcd_client::Client,
    key: String,
    range: RangeInclusive<u16>,
}

impl PortStore {
    pub fn new(client: etcd_client::Client, prefix: &str, range: RangeInclusive<u16>) -> Self {
        Self {
            client,
            key: format!("{}/ranges/servicenodeports", prefix.trim_end_matches('/')),
            range,
        }
    }

    /// Reads the bitmap, applies `f` and writes it back if it changed, retrying on races.
    pub async fn update<T>(&self, mut f: impl FnMut(&mut PortBitmap) -> Result<T>) -> Result<T> {
        let mut kv = self.client.kv_client();
        for _ in 0..MAX_CAS_TRIES {
            let resp = kv
                .get(self.key.as_str(), None)
                .await
                .map_err(ApiError::internal)?;
            let existing = resp.kvs().first();
            let (mut doc, rev) = match existing {
                Some(kv) => (
                    serde_json::from_slice::<Value>(kv.value()).unwrap_or_else(|_| json!({})),
                    kv.mod_revision(),
                ),
                None => (json!({}), 0),
            };
            let data = doc
                .get("data")
                .and_then(Value::as_str)
                .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
                .unwrap_or_default();
            let before = if str_at(&doc, "/range")
                == format!("{}-{}", self.range.start(), self.range.end())
            {
                PortBitmap::restore(self.range.clone(), &data)
            } else {
                // A different range (a changed flag) starts afresh, as upstream's repair loop
                // would rebuild it from the services.
                PortBitmap::new(self.range.clone())
            };
            let mut bitmap = before.clone();
            let out = f(&mut bitmap)?;
            if bitmap == before && existing.is_some() {
                return Ok(out);
            }
            doc = json!({
                "kind": "RangeAllocation",
                "apiVersion": "v1",
                "metadata": {
                    "creationTimestamp": doc.pointer("/metadata/creationTimestamp").cloned()
                        .unwrap_or_else(|| json!(crate::clock::now())),
                },
                "range": bitmap.range_spec(),
                "data": base64::engine::general_purpose::STANDARD.encode(bitmap.snapshot()),
            });
            let body = serde_json::to_vec(&doc).map_err(ApiError::internal)?;
            let cmp = if rev == 0 {
                Compare::create_revision(self.key.as_str(), CompareOp::Equal, 0)
            } else {
                Compare::mod_revision(self.key.as_str(), CompareOp::Equal, rev)
            };
            let txn = Txn::new().when(vec![cmp]).and_then(vec![TxnOp::put(
                self.key.as_str(),
                body,
                None,
            )]);
            let r = kv.txn(txn).await.map_err(ApiError::internal)?;
            if r.succeeded() {
                return Ok(out);
            }
        }
        Err(ApiError::internal(
            "too many concurrent changes of the NodePort allocations",
        ))
    }

    pub async fn release(&self, ports: &[i64]) {
        if ports.is_empty() {
            return;
        }
        let ports = ports.to_vec();
        let r = self
            .update(|b| {
                for p in &ports {
                    b.release(*p);
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "Releasing NodePorts failed.");
        }
    }

    /// Marks ports allocated again (undoing a release).
    pub async fn reclaim(&self, ports: &[i64]) {
        if ports.is_empty() {
            return;
        }
        let ports = ports.to_vec();
        let r = self
            .update(|b| {
                for p in &ports {
                    let _ = b.allocate(*p);
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "Restoring NodePorts failed.");
        }
    }
}

/// The NodePorts (and health-check port) an object holds.
pub fn node_ports_of(svc: &Value) -> Vec<i64> {
    let mut out: Vec<i64> = array_at(svc, "/spec/ports")
        .iter()
        .filter_map(|p| int_at(p, "/nodePort"))
        .filter(|p| *p != 0)
        .collect();
    if let Some(h) = int_at(svc, "/spec/healthCheckNodePort").filter(|h| *h != 0) {
        out.push(h);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn should_allocate_node_ports(svc: &Value) -> bool {
    match str_at(svc, "/spec/type") {
        "NodePort" => true,
        "LoadBalancer" => svc
            .pointer("/spec/allocateLoadBalancerNodePorts")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        _ => false,
    }
}

/// Upstream's `initNodePorts` (create) and `updateNodePorts` (update): fills in NodePorts and
/// marks them; `old_ports` are the ports the stored object already holds. Returns the ports
/// newly marked and the old ones released.
pub fn assign_node_ports(
    svc: &mut Value,
    old_ports: &[i64],
    bitmap: &mut PortBitmap,
    rng: &mut impl Rng,
) -> Result<(Vec<i64>, Vec<i64>)> {
    let name = apimachinery::meta::name(svc).to_string();
    let mut newly = Vec::new();
    if needs_node_ports(svc) {
        let should = should_allocate_node_ports(svc);
        let specs: Vec<(i64, i64)> = array_at(svc, "/spec/ports")
            .iter()
            .map(|p| {
                (
                    int_at(p, "/port").unwrap_or(0),
                    int_at(p, "/nodePort").unwrap_or(0),
                )
            })
            .collect();
        let mut by_port: BTreeMap<i64, i64> = BTreeMap::new();
        let mut assigned = vec![0i64; specs.len()];
        for (i, (port, np)) in specs.iter().enumerate() {
            if *np == 0 && !should {
                continue;
            }
            let mut mark = |wanted: i64, newly: &mut Vec<i64>| -> Result<()> {
                if old_ports.contains(&wanted) || newly.contains(&wanted) {
                    return Ok(());
                }
                bitmap.allocate(wanted).map_err(|msg| {
                    invalid(
                        &name,
                        vec![FieldError::invalid(
                            format!("spec.ports[{i}].nodePort"),
                            wanted,
                            msg,
                        )],
                    )
                })?;
                newly.push(wanted);
                Ok(())
            };
            match by_port.get(port).copied() {
                None => {
                    let requested = if *np != 0 {
                        *np
                    } else {
                        specs
                            .iter()
                            .skip(i)
                            .find(|(p, n)| p == port && *n != 0)
                            .map_or(0, |(_, n)| *n)
                    };
                    let chosen = if requested != 0 {
                        mark(requested, &mut newly)?;
                        requested
                    } else {
                        let n = bitmap.allocate_next(rng).ok_or_else(|| {
                            ApiError::internal("failed to allocate a nodePort: range is full")
                        })?;
                        newly.push(n);
                        n
                    };
                    by_port.insert(*port, chosen);
                    assigned[i] = chosen;
                }
                Some(existing) if *np == 0 || *np == existing => assigned[i] = existing,
                Some(_) => {
                    mark(*np, &mut newly)?;
                    assigned[i] = *np;
                }
            }
        }
        if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for (p, n) in ports.iter_mut().zip(&assigned) {
                if *n != 0 {
                    p["nodePort"] = json!(n);
                }
            }
        }
    }
    if needs_health_check(svc) {
        let requested = int_at(svc, "/spec/healthCheckNodePort").unwrap_or(0);
        if requested == 0 {
            let n = bitmap.allocate_next(rng).ok_or_else(|| {
                ApiError::internal("failed to allocate a nodePort: range is full")
            })?;
            newly.push(n);
            svc["spec"]["healthCheckNodePort"] = json!(n);
        } else if !old_ports.contains(&requested) && !newly.contains(&requested) {
            bitmap.allocate(requested).map_err(|msg| {
                invalid(
                    &name,
                    vec![FieldError::invalid(
                        "spec.healthCheckNodePort",
                        requested,
                        format!(
                            "failed to allocate requested HealthCheck NodePort {requested}: {msg}"
                        ),
                    )],
                )
            })?;
            newly.push(requested);
        }
    }
    let now = node_ports_of(svc);
    let released: Vec<i64> = old_ports
        .iter()
        .copied()
        .filter(|p| !now.contains(p))
        .collect();
    for p in &released {
        bitmap.release(*p);
    }
    Ok((newly, released))
}

/// Upstream's `initIPFamilyFields` for a single-stack cluster of `cluster_family`: defaults
/// `ipFamilyPolicy` and `ipFamilies` and refuses families the cluster does not serve.
pub fn init_ip_families(svc: &mut Value, cluster_family: &str) -> Result<()> {
    if !needs_cluster_ip(svc) {
        return Ok(());
    }
    let name = apimachinery::meta::name(svc).to_string();
    let headless_selectorless = str_at(svc, "/spec/clusterIP") == "None"
        && svc
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty());
    let spec = &mut svc["spec"];
    if spec.get("ipFamilyPolicy").is_none_or(Value::is_null) {
        spec["ipFamilyPolicy"] = json!(if headless_selectorless {
            "RequireDualStack"
        } else {
            "SingleStack"
        });
    }
    let policy = str_at(spec, "/ipFamilyPolicy").to_string();
    let ips = strings_at(spec, "/clusterIPs");
    let mut families = strings_at(spec, "/ipFamilies");
    let mut errs = Vec::new();
    if policy == "SingleStack" {
        if ips.len() == 2 {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                policy.as_str(),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
            ));
        }
        if families.len() == 2 {
            errs.push(FieldError::invalid(
                "spec.ipFamilyPolicy",
                policy.as_str(),
                "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified",
            ));
        }
    }
    for (i, ip) in ips.iter().enumerate() {
        if ip == "None" {
            break;
        }
        let Ok(addr) = ip.parse::<IpAddr>() else {
            continue;
        };
        let fam = family_of(&addr);
        if i >= families.len() {
            if fam != cluster_family {
                errs.push(invalid_raw(
                    &format!("spec.clusterIPs[{i}]"),
                    &go_string_slice(&ips),
                    &format!("{fam} is not configured on this cluster"),
                ));
            } else {
                families.push(fam.to_string());
            }
        }
    }
    if !errs.is_empty() {
        return Err(invalid(&name, errs));
    }
    if headless_selectorless {
        if families.is_empty() {
            families.push(cluster_family.to_string());
        }
        if families.len() < 2 && policy != "SingleStack" {
            let other = if families[0] == "IPv4" {
                "IPv6"
            } else {
                "IPv4"
            };
            families.push(other.to_string());
        }
        spec["ipFamilies"] = json!(families);
        return Ok(());
    }
    if policy == "RequireDualStack" {
        errs.push(FieldError::invalid(
            "spec.ipFamilyPolicy",
            policy.as_str(),
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, f) in families.iter().enumerate() {
        if f != cluster_family {
            errs.push(FieldError::invalid(
                format!("spec.ipFamilies[{i}]"),
                f.as_str(),
                "not configured on this cluster",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(invalid(&name, errs));
    }
    if families.is_empty() {
        families.push(cluster_family.to_string());
    }
    spec["ipFamilies"] = json!(families);
    Ok(())
}

/// Allocation settings and the stores the hooks write to.
pub struct ServiceAllocator {
    pub cidr: ipnet::IpNet,
    pub range: IpRange,
    pub ipaddresses: Option<Arc<Store>>,
    pub ports: PortStore,
}

fn system_context(api_version: &str) -> OpContext {
    OpContext {
        namespace: String::new(),
        user: UserInfo::system_apiserver(),
        dry_run: false,
        field_manager: "kube-apiserver".to_string(),
        api_version: api_version.to_string(),
        admission: crate::admission::Chain::default(),
        applied: false,
        schemas: None,
        warnings: Default::default(),
        annotations: Default::default(),
    }
}

impl ServiceAllocator {
    pub fn family(&self) -> &'static str {
        if self.range.v6 { "IPv6" } else { "IPv4" }
    }

    /// Upstream's `initIPFamilyFields` for this single-stack cluster.
    pub fn init_ip_families(&self, svc: &mut Value) -> Result<()> {
        init_ip_families(svc, self.family())
    }

    fn ip_address_object(&self, ip: &IpAddr, svc: &Value) -> Value {
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IPAddress",
            "metadata": {
                "name": ip.to_string(),
                "labels": {
                    LABEL_IP_FAMILY: family_of(ip),
                    LABEL_MANAGED_BY: CONTROLLER_NAME,
                },
            },
            "spec": {"parentRef": {
                "resource": "services",
                "namespace": apimachinery::meta::namespace(svc),
                "name": apimachinery::meta::name(svc),
            }},
        })
    }

    /// Records `ip` for `svc`; `Ok(false)` when it is taken.
    async fn claim(&self, ip: &IpAddr, svc: &Value) -> Result<bool> {
        let Some(store) = &self.ipaddresses else {
            return Ok(true);
        };
        let ctx = system_context("networking.k8s.io/v1");
        match store.create(&ctx, self.ip_address_object(ip, svc)).await {
            Ok(_) => Ok(true),
            Err(e) if e.reason == "AlreadyExists" => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the IPAddress objects of `ips`.
    pub async fn release_ips(&self, ips: &[String]) {
        let Some(store) = &self.ipaddresses else {
            return;
        };
        let ctx = system_context("networking.k8s.io/v1");
        for ip in ips {
            if let Err(e) = store.delete(&ctx, ip, &DeleteOptions::default()).await
                && e.code != 404
            {
                tracing::warn!(ip, error = %e, "Releasing a ClusterIP failed.");
            }
        }
    }

    async fn taken(&self) -> HashSet<u128> {
        let Some(store) = &self.ipaddresses else {
            return HashSet::new();
        };
        let req = ListRequest {
            prefix: store.list_prefix(""),
            read: ReadAt::NotOlderThan(0),
            limit: None,
            continue_from: None,
            predicate: Default::default(),
        };
        let Ok(page) = store.list(&req).await else {
            return HashSet::new();
        };
        page.items
            .iter()
            .filter_map(|o| o.value().ok())
            .filter_map(|v| apimachinery::meta::name(&v).parse::<IpAddr>().ok())
            .map(to_u128)
            .collect()
    }

    /// Upstream's `allocClusterIPs`: fills in `clusterIP`/`clusterIPs`, honouring a request.
    /// Returns the addresses recorded.
    pub async fn allocate_cluster_ips(
        &self,
        svc: &mut Value,
        dry_run: bool,
    ) -> Result<Vec<String>> {
        if !needs_cluster_ip(svc) || str_at(svc, "/spec/clusterIP") == "None" {
            return Ok(Vec::new());
        }
        let name = apimachinery::meta::name(svc).to_string();
        let ips = strings_at(svc, "/spec/clusterIPs");
        let chosen: IpAddr = match ips.first().filter(|s| !s.is_empty()) {
            Some(requested) => {
                let ip: IpAddr = requested.parse().map_err(|_| {
                    ApiError::internal(format!("failed to parse service IP {requested:?}"))
                })?;
                let fail = |msg: String| {
                    invalid(
                        &name,
                        vec![invalid_raw(
                            "spec.clusterIPs",
                            &go_string_slice(&ips),
                            &format!("failed to allocate IP {requested}: {msg}"),
                        )],
                    )
                };
                if !self.range.contains(&ip) {
                    return Err(fail(format!(
                        "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                        self.cidr.trunc()
                    )));
                }
                if !dry_run && !self.claim(&ip, svc).await? {
                    return Err(fail(IP_ALLOCATED.to_string()));
                }
                ip
            }
            None if dry_run => from_u128(self.range.first - 1, self.range.v6),
            None => {
                let taken = self.taken().await;
                let candidates: Vec<u128> = {
                    let mut rng = rand::rng();
                    self.range
                        .candidates(&mut rng)
                        .filter(|c| !taken.contains(c))
                        .take(64)
                        .collect()
                };
                let mut found = None;
                for c in candidates {
                    let ip = from_u128(c, self.range.v6);
                    // Another apiserver may have taken it since the list; try the next.
                    if self.claim(&ip, svc).await? {
                        found = Some(ip);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    ApiError::internal("failed to allocate a serviceIP: range is full")
                })?
            }
        };
        let s = chosen.to_string();
        svc["spec"]["clusterIP"] = json!(s);
        svc["spec"]["clusterIPs"] = json!([s]);
        Ok(if dry_run { Vec::new() } else { vec![s] })
    }
}

/// The hooks on the services store.
pub struct ServiceHooks {
    pub alloc: Arc<ServiceAllocator>,
}

impl ServiceHooks {
    async fn node_ports(
        &self,
        svc: &mut Value,
        old: &[i64],
        dry_run: bool,
    ) -> Result<(Vec<i64>, Vec<i64>)> {
        if dry_run {
            // A dry run shows plausible ports without keeping them.
            let mut bitmap = PortBitmap::new(self.alloc.ports.range.clone());
            let mut rng = rand::rng();
            assign_node_ports(svc, old, &mut bitmap, &mut rng)?;
            return Ok((Vec::new(), Vec::new()));
        }
        let template = svc.clone();
        let (obj, newly, released) = self
            .alloc
            .ports
            .update(|bitmap| {
                let mut obj = template.clone();
                let mut rng = rand::rng();
                let (n, r) = assign_node_ports(&mut obj, old, bitmap, &mut rng)?;
                Ok((obj, n, r))
            })
            .await?;
        *svc = obj;
        Ok((newly, released))
    }
}

fn rollback(
    alloc: Arc<ServiceAllocator>,
    ips: Vec<String>,
    ports: Vec<i64>,
    reclaim_ports: Vec<i64>,
    restore_ips: Option<(Vec<String>, Value)>,
) -> Allocation {
    if ips.is_empty() && ports.is_empty() && reclaim_ports.is_empty() && restore_ips.is_none() {
        return Allocation::default();
    }
    Allocation {
        rollback: Some(Box::new(move || {
            Box::pin(async move {
                alloc.release_ips(&ips).await;
                alloc.ports.release(&ports).await;
                alloc.ports.reclaim(&reclaim_ports).await;
                if let Some((ips, svc)) = restore_ips {
                    for ip in ips.iter().filter_map(|s| s.parse::<IpAddr>().ok()) {
                        let _ = alloc.claim(&ip, &svc).await;
                    }
                }
            })
        })),
    }
}

#[async_trait::async_trait]
impl WriteHooks for ServiceHooks {
    async fn before_create(&self, obj: &mut Value, dry_run: bool) -> Result<Allocation> {
        self.alloc.init_ip_families(obj)?;
        let ips = self.alloc.allocate_cluster_ips(obj, dry_run).await?;
        match self.node_ports(obj, &[], dry_run).await {
            Ok((ports, _)) => Ok(rollback(self.alloc.clone(), ips, ports, Vec::new(), None)),
            Err(e) => {
                self.alloc.release_ips(&ips).await;
                Err(e)
            }
        }
    }

    async fn before_update(
        &self,
        new: &mut Value,
        old: &Value,
        dry_run: bool,
    ) -> Result<Allocation> {
        let mut ips = Vec::new();
        let mut restore = None;
        if needs_cluster_ip(new) && !needs_cluster_ip(old) {
            self.alloc.init_ip_families(new)?;
            ips = self.alloc.allocate_cluster_ips(new, dry_run).await?;
        } else if needs_cluster_ip(old) && !needs_cluster_ip(new) && !dry_run {
            let held: Vec<String> = strings_at(old, "/spec/clusterIPs")
                .into_iter()
                .filter(|ip| ip != "None")
                .collect();
            self.alloc.release_ips(&held).await;
            restore = Some((held, old.clone()));
        }
        let old_ports = if needs_node_ports(old) || needs_health_check(old) {
            node_ports_of(old)
        } else {
            Vec::new()
        };
        match self.node_ports(new, &old_ports, dry_run).await {
            Ok((ports, released)) => {
                Ok(rollback(self.alloc.clone(), ips, ports, released, restore))
            }
            Err(e) => {
                if let Some(f) =
                    rollback(self.alloc.clone(), ips, Vec::new(), Vec::new(), restore).rollback
                {
                    f().await;
                }
                Err(e)
            }
        }
    }

    async fn after_delete(&self, obj: &Value) {
        let held: Vec<String> = strings_at(obj, "/spec/clusterIPs")
            .into_iter()
            .filter(|ip| ip != "None" && !ip.is_empty())
            .collect();
        self.alloc.release_ips(&held).await;
        self.alloc.ports.release(&node_ports_of(obj)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bitmap_round_trips_like_big_int_bytes() {
        let mut b = PortBitmap::new(30000..=32767);
        b.allocate(30000).unwrap();
        b.allocate(30009).unwrap();
        // Bit 0 and bit 9: the integer 0x201, big-endian [0x02, 0x01].
        assert_eq!(b.snapshot(), vec![0x02, 0x01]);
        let r = PortBitmap::restore(30000..=32767, &[0x02, 0x01]);
        assert!(r.has(30000) && r.has(30009) && !r.has(30001));
        assert_eq!(PortBitmap::new(30000..=32767).snapshot(), Vec::<u8>::new());
    }

    #[test]
    fn port_errors_match_upstream() {
        let mut b = PortBitmap::new(30000..=32767);
        b.allocate(30080).unwrap();
        assert_eq!(
            b.allocate(30080).unwrap_err(),
            "provided port is already allocated"
        );
        assert_eq!(
            b.allocate(80).unwrap_err(),
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
    }

    #[test]
    fn dynamic_ports_prefer_the_upper_band() {
        let mut b = PortBitmap::new(30000..=32767);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..100 {
            let p = b.allocate_next(&mut rng).unwrap();
            assert!(p >= 30000 + 86, "{p}");
        }
        let mut small = PortBitmap::new(30000..=30002);
        assert!(small.allocate_next(&mut rng).is_some());
        assert!(small.allocate_next(&mut rng).is_some());
        assert!(small.allocate_next(&mut rng).is_some());
        assert!(small.allocate_next(&mut rng).is_none());
    }

    #[test]
    fn node_ports_for_a_service() {
        let mut b = PortBitmap::new(30000..=32767);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"type": "NodePort", "ports": [
            {"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP", "nodePort": 30053}, {"port": 80}]}});
        let (newly, released) = assign_node_ports(&mut svc, &[], &mut b, &mut rng).unwrap();
        assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30053);
        assert_eq!(svc["spec"]["ports"][1]["nodePort"], 30053);
        assert!(svc["spec"]["ports"][2]["nodePort"].as_i64().unwrap() >= 30000);
        assert_eq!(newly.len(), 2);
        assert!(released.is_empty());
        let mut other = json!({"metadata": {"name": "t"}, "spec": {"type": "NodePort", "ports": [{"port": 1, "nodePort": 30053}]}});
        let err = assign_node_ports(&mut other, &[], &mut b, &mut rng).unwrap_err();
        assert_eq!(err.code, 422);
        assert!(
            err.message.contains(
                "spec.ports[0].nodePort: Invalid value: 30053: provided port is already allocated"
            ),
            "{}",
            err.message
        );
        // An update to ClusterIP releases the ports.
        let old = svc.clone();
        let mut to_cluster = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP", "ports": [{"port": 53}]}});
        let (_, released) =
            assign_node_ports(&mut to_cluster, &node_ports_of(&old), &mut b, &mut rng).unwrap();
        assert_eq!(released.len(), 2);
        assert!(!b.has(30053));
    }

    #[test]
    fn ip_ranges() {
        let r = IpRange::new(&"10.0.0.0/24".parse().unwrap());
        assert_eq!(from_u128(r.first, false).to_string(), "10.0.0.1");
        assert_eq!(from_u128(r.last, false).to_string(), "10.0.0.254");
        assert_eq!(r.offset, 16);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let c: Vec<u128> = r.candidates(&mut rng).collect();
        assert_eq!(c.len(), 254);
        assert!(c[..238].iter().all(|x| *x >= r.first + 16));
        let small = IpRange::new(&"10.0.0.0/29".parse().unwrap());
        assert_eq!(small.offset, 0);
        assert_eq!(small.candidates(&mut rng).count(), 6);
        let v6 = IpRange::new(&"fd00::/108".parse().unwrap());
        assert!(v6.contains(&"fd00::1".parse().unwrap()));
        assert!(!v6.contains(&"10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn ip_families() {
        let mut svc = json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}});
        init_ip_families(&mut svc, "IPv4").unwrap();
        assert_eq!(svc["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(svc["spec"]["ipFamilies"], json!(["IPv4"]));
        let mut headless =
            json!({"metadata": {"name": "h"}, "spec": {"type": "ClusterIP", "clusterIP": "None"}});
        init_ip_families(&mut headless, "IPv4").unwrap();
        assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let mut dual = json!({"metadata": {"name": "d"}, "spec": {"type": "ClusterIP", "ipFamilyPolicy": "RequireDualStack", "selector": {"a": "b"}}});
        let err = init_ip_families(&mut dual, "IPv4").unwrap_err();
        assert!(
            err.message
                .contains("this cluster is not configured for dual-stack services")
        );
        let mut v6 = json!({"metadata": {"name": "d"}, "spec": {"type": "ClusterIP", "clusterIP": "fd00::1", "clusterIPs": ["fd00::1"]}});
        let err = init_ip_families(&mut v6, "IPv4").unwrap_err();
        assert!(err.message.contains("spec.clusterIPs[0]: Invalid value: []string{\"fd00::1\"}: IPv6 is not configured on this cluster"), "{}", err.message);
        let mut external = json!({"metadata": {"name": "e"}, "spec": {"type": "ExternalName"}});
        init_ip_families(&mut external, "IPv4").unwrap();
        assert!(external["spec"].get("ipFamilies").is_none());
    }
}
