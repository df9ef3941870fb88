//! What each built-in signer signs (upstream's per-signer checks): client certificates for
//! anyone (`kube-apiserver-client`), kubelet client certificates (`kube-apiserver-client-kubelet`:
//! `O=system:nodes`, `CN=system:node:<name>`, no alternative names) and kubelet serving
//! certificates (`kubelet-serving`: the same subject, DNS names or IP addresses only), each with
//! its own usages; `legacy-unknown` signs what it is given. Usages become the certificate's key
//! usages and extended key usages.

use rcgen::{
    CertificateParams, DnType, DnValue, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    Client,
    KubeletClient,
    KubeletServing,
    LegacyUnknown,
}

impl Signer {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "kubernetes.io/kube-apiserver-client" => Self::Client,
            "kubernetes.io/kube-apiserver-client-kubelet" => Self::KubeletClient,
            "kubernetes.io/kubelet-serving" => Self::KubeletServing,
            "kubernetes.io/legacy-unknown" => Self::LegacyUnknown,
            _ => return None,
        })
    }
}

fn text(value: &DnValue) -> &str {
    match value {
        DnValue::Utf8String(s) => s,
        DnValue::PrintableString(s) => s.as_str(),
        DnValue::Ia5String(s) => s.as_str(),
        _ => "",
    }
}

fn node_subject(params: &CertificateParams) -> bool {
    let dn = &params.distinguished_name;
    let org = dn.get(&DnType::OrganizationName).map(text);
    let cn = dn.get(&DnType::CommonName).map(text).unwrap_or_default();
    org == Some("system:nodes") && cn.starts_with("system:node:") && cn.len() > "system:node:".len()
}

/// Checks a request against the signer's rules; the error is the reason given in the
/// request's `Failed` condition.
pub fn check(signer: Signer, params: &CertificateParams, usages: &[String]) -> Result<(), String> {
    let (allowed, required): (&[&str], &str) = match signer {
        Signer::LegacyUnknown => return Ok(()),
        Signer::Client | Signer::KubeletClient => (
            &["digital signature", "key encipherment", "client auth"],
            "client auth",
        ),
        Signer::KubeletServing => (
            &["digital signature", "key encipherment", "server auth"],
            "server auth",
        ),
    };
    if let Some(bad) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        let kind = if signer == Signer::KubeletServing {
            "serving"
        } else {
            "client"
        };
        return Err(format!("invalid usage for {kind} certificate: {bad}"));
    }
    if !usages.iter().any(|u| u == required) {
        return Err(format!("missing required usage: {required}"));
    }
    match signer {
        Signer::KubeletClient => {
            if !node_subject(params) {
                return Err("subject must be O=system:nodes, CN=system:node:<name>".to_string());
            }
            if !params.subject_alt_names.is_empty() {
                return Err(
                    "kubelet client certificates may not have subject alternative names"
                        .to_string(),
                );
            }
        }
        Signer::KubeletServing => {
            if !node_subject(params) {
                return Err("subject must be O=system:nodes, CN=system:node:<name>".to_string());
            }
            let names = &params.subject_alt_names;
            if names.is_empty()
                || names
                    .iter()
                    .any(|n| !matches!(n, SanType::DnsName(_) | SanType::IpAddress(_)))
            {
                return Err(
                    "kubelet serving certificates need DNS or IP subject alternative names, and only those"
                        .to_string(),
                );
            }
        }
        _ => {}
    }
    Ok(())
}

/// The key usages and extended key usages the usages of a request stand for.
pub fn key_usages(usages: &[String]) -> (Vec<KeyUsagePurpose>, Vec<ExtendedKeyUsagePurpose>) {
    let mut keys = Vec::new();
    let mut extended = Vec::new();
    for usage in usages {
        match usage.as_str() {
            "digital signature" => keys.push(KeyUsagePurpose::DigitalSignature),
            "content commitment" => keys.push(KeyUsagePurpose::ContentCommitment),
            "key encipherment" => keys.push(KeyUsagePurpose::KeyEncipherment),
            "key agreement" => keys.push(KeyUsagePurpose::KeyAgreement),
            "data encipherment" => keys.push(KeyUsagePurpose::DataEncipherment),
            "cert sign" => keys.push(KeyUsagePurpose::KeyCertSign),
            "crl sign" => keys.push(KeyUsagePurpose::CrlSign),
            "encipher only" => keys.push(KeyUsagePurpose::EncipherOnly),
            "decipher only" => keys.push(KeyUsagePurpose::DecipherOnly),
            "any" => extended.push(ExtendedKeyUsagePurpose::Any),
            "server auth" => extended.push(ExtendedKeyUsagePurpose::ServerAuth),
            "client auth" => extended.push(ExtendedKeyUsagePurpose::ClientAuth),
            "code signing" => extended.push(ExtendedKeyUsagePurpose::CodeSigning),
            "email protection" => extended.push(ExtendedKeyUsagePurpose::EmailProtection),
            "timestamping" => extended.push(ExtendedKeyUsagePurpose::TimeStamping),
            "ocsp signing" => extended.push(ExtendedKeyUsagePurpose::OcspSigning),
            _ => {}
        }
    }
    (keys, extended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(cn: &str, org: Option<&str>, dns: &[&str]) -> CertificateParams {
        let mut p =
            CertificateParams::new(dns.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        if let Some(o) = org {
            p.distinguished_name.push(DnType::OrganizationName, o);
        }
        p
    }

    fn u(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn client_certificates_need_client_usages() {
        let p = params("alice", None, &[]);
        assert_eq!(check(Signer::Client, &p, &u(&["client auth"])), Ok(()));
        assert_eq!(
            check(Signer::Client, &p, &u(&["client auth", "server auth"])),
            Err("invalid usage for client certificate: server auth".to_string())
        );
        assert!(check(Signer::Client, &p, &u(&["digital signature"])).is_err());
        assert_eq!(
            check(Signer::LegacyUnknown, &p, &u(&["server auth"])),
            Ok(())
        );
    }

    #[test]
    fn kubelet_certificates_need_a_node_subject() {
        let node = params("system:node:n1", Some("system:nodes"), &[]);
        let alice = params("alice", Some("system:nodes"), &[]);
        let client = u(&["digital signature", "client auth"]);
        assert_eq!(check(Signer::KubeletClient, &node, &client), Ok(()));
        assert!(check(Signer::KubeletClient, &alice, &client).is_err());
        let serving = u(&["digital signature", "server auth"]);
        assert!(check(Signer::KubeletServing, &node, &serving).is_err());
        let named = params("system:node:n1", Some("system:nodes"), &["n1.example"]);
        assert_eq!(check(Signer::KubeletServing, &named, &serving), Ok(()));
        assert!(check(Signer::KubeletClient, &named, &client).is_err());
    }

    #[test]
    fn usages_map_to_key_usages() {
        let (keys, extended) = key_usages(&u(&[
            "digital signature",
            "key encipherment",
            "client auth",
        ]));
        assert_eq!(
            keys,
            [
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment
            ]
        );
        assert_eq!(extended, [ExtendedKeyUsagePurpose::ClientAuth]);
    }
}
