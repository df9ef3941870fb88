//! Which pods a Service's endpoints list, and on which ports (upstream
//! `endpointutil.ShouldPodBeInEndpoints` and `podutil.FindPort`): pods with an IP that have not
//! finished for good (by their restart policy), optionally not terminating; a Service port's
//! `targetPort` resolved against the pod's container ports when it is a name.

use k8s_openapi::api::core::v1::{Pod, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The pod's IP, if it has one.
pub fn pod_ip(pod: &Pod) -> Option<&str> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .filter(|ip| !ip.is_empty())
}

/// Whether `pod` belongs in a Service's endpoints; terminating pods only when
/// `include_terminating` (EndpointSlices list them, Endpoints do not).
pub fn should_be_in_endpoints(pod: &Pod, include_terminating: bool) -> bool {
    if pod_ip(pod).is_none() {
        return false;
    }
    if !include_terminating && pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let phase = crate::pods::phase(pod);
    match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
        Some("Never") => phase != "Failed" && phase != "Succeeded",
        Some("OnFailure") => phase != "Succeeded",
        _ => true,
    }
}

/// The container port a Service port reaches on `pod`; `None` when a named target port is
/// not declared by any container with the Service port's protocol.
pub fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| {
                p.name.as_deref() == Some(name)
                    && p.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .map(|p| p.container_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodStatus};

    fn pod(ip: Option<&str>, restart: &str, phase: &str) -> Pod {
        Pod {
            spec: Some(PodSpec {
                restart_policy: Some(restart.to_string()),
                containers: vec![Container {
                    name: "c".to_string(),
                    ports: Some(vec![ContainerPort {
                        name: Some("http".to_string()),
                        container_port: 8080,
                        protocol: Some("TCP".to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                pod_ip: ip.map(str::to_string),
                phase: Some(phase.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pods_need_an_ip_and_must_not_be_done() {
        assert!(should_be_in_endpoints(
            &pod(Some("10.0.0.1"), "Always", "Running"),
            false
        ));
        assert!(!should_be_in_endpoints(
            &pod(None, "Always", "Running"),
            false
        ));
        assert!(!should_be_in_endpoints(
            &pod(Some("10.0.0.1"), "Never", "Succeeded"),
            false
        ));
        assert!(!should_be_in_endpoints(
            &pod(Some("10.0.0.1"), "OnFailure", "Succeeded"),
            false
        ));
        assert!(should_be_in_endpoints(
            &pod(Some("10.0.0.1"), "OnFailure", "Failed"),
            false
        ));
        let mut leaving = pod(Some("10.0.0.1"), "Always", "Running");
        leaving.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert!(!should_be_in_endpoints(&leaving, false));
        assert!(should_be_in_endpoints(&leaving, true));
    }

    #[test]
    fn named_target_ports_resolve_by_name_and_protocol() {
        let p = pod(Some("10.0.0.1"), "Always", "Running");
        let mut port = ServicePort {
            port: 80,
            target_port: Some(IntOrString::String("http".to_string())),
            ..Default::default()
        };
        assert_eq!(find_port(&p, &port), Some(8080));
        port.protocol = Some("UDP".to_string());
        assert_eq!(find_port(&p, &port), None);
        port.target_port = Some(IntOrString::Int(9000));
        assert_eq!(find_port(&p, &port), Some(9000));
        port.target_port = None;
        assert_eq!(find_port(&p, &port), Some(80));
    }
}
