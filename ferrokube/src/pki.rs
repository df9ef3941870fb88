//! The PKI `ferrokube up` keeps in its state directory: a CA, the apiserver's serving
//! certificate, etcd's serving certificate, and client certificates for the admin, the
//! apiserver (to etcd), the controller manager and the node simulator. Created once; reused on
//! every restart (a certificate added since is created then).

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Where one certificate and its key live.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pair {
    fn at(dir: &Path, name: &str) -> Self {
        Self {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        }
    }

    fn exists(&self) -> bool {
        self.cert.exists() && self.key.exists()
    }
}

/// The files of the cluster's PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: Pair,
    pub apiserver: Pair,
    pub etcd_server: Pair,
    pub apiserver_etcd_client: Pair,
    pub admin: Pair,
    pub controller_manager: Pair,
    pub scheduler: Pair,
    /// The identity of `--simulated-nodes` (one for all simulated nodes, as kwok has one).
    pub node_simulator: Pair,
    /// The key pair that signs and verifies service account tokens (kubeadm's `sa.key` and
    /// `sa.pub`; ECDSA P-256 here, so tokens are ES256).
    pub service_account_key: PathBuf,
    pub service_account_pub: PathBuf,
}

fn validity(params: &mut CertificateParams, years: i32) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    params.not_before = rcgen::date_time_ymd(today.year(), today.month() as u8, today.day() as u8);
    params.not_after = rcgen::date_time_ymd(
        today.year() + years,
        today.month() as u8,
        today.day().min(28) as u8,
    );
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// What a leaf certificate is for.
struct Leaf<'a> {
    name: &'a str,
    common_name: &'a str,
    organization: Option<&'a str>,
    server: bool,
    client: bool,
    dns: Vec<String>,
    ips: Vec<IpAddr>,
}

impl Pki {
    /// Loads the PKI under `dir`, creating whatever is missing. `ips` and `dns` are the
    /// apiserver's extra subject alternative names (its addresses, the `kubernetes` Service IP).
    pub fn ensure(dir: &Path, ips: &[IpAddr], dns: &[String]) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let pki = Self {
            ca: Pair::at(dir, "ca"),
            apiserver: Pair::at(dir, "apiserver"),
            etcd_server: Pair::at(dir, "etcd-server"),
            apiserver_etcd_client: Pair::at(dir, "apiserver-etcd-client"),
            admin: Pair::at(dir, "admin"),
            controller_manager: Pair::at(dir, "controller-manager"),
            scheduler: Pair::at(dir, "scheduler"),
            node_simulator: Pair::at(dir, "node-simulator"),
            service_account_key: dir.join("sa.key"),
            service_account_pub: dir.join("sa.pub"),
        };
        if !pki.service_account_key.exists() || !pki.service_account_pub.exists() {
            let key = KeyPair::generate()?;
            write_private(&pki.service_account_key, &key.serialize_pem())?;
            std::fs::write(&pki.service_account_pub, key.public_key_pem())?;
        }
        if !pki.ca.exists() {
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params
                .distinguished_name
                .push(DnType::CommonName, "ferrokube-ca");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            validity(&mut params, 10);
            let key = KeyPair::generate()?;
            let cert = params.self_signed(&key)?;
            std::fs::write(&pki.ca.cert, cert.pem())?;
            write_private(&pki.ca.key, &key.serialize_pem())?;
        }
        let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&pki.ca.key)?)?;
        let ca_params =
            CertificateParams::from_ca_cert_pem(&std::fs::read_to_string(&pki.ca.cert)?)?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let mut apiserver_dns: Vec<String> = [
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        apiserver_dns.extend(dns.iter().cloned());
        let mut apiserver_ips = vec![IpAddr::from([127, 0, 0, 1])];
        apiserver_ips.extend(ips.iter().copied());
        let leaves = [
            (
                &pki.apiserver,
                Leaf {
                    name: "apiserver",
                    common_name: "kube-apiserver",
                    organization: None,
                    server: true,
                    client: false,
                    dns: apiserver_dns,
                    ips: apiserver_ips,
                },
            ),
            (
                &pki.etcd_server,
                Leaf {
                    name: "etcd-server",
                    common_name: "etcd",
                    organization: None,
                    server: true,
                    client: true,
                    dns: vec!["localhost".into()],
                    ips: vec![IpAddr::from([127, 0, 0, 1])],
                },
            ),
            (
                &pki.apiserver_etcd_client,
                Leaf {
                    name: "apiserver-etcd-client",
                    common_name: "kube-apiserver-etcd-client",
                    organization: None,
                    server: false,
                    client: true,
                    dns: vec![],
                    ips: vec![],
                },
            ),
            (
                &pki.admin,
                Leaf {
                    name: "admin",
                    common_name: "kubernetes-admin",
                    organization: Some("system:masters"),
                    server: false,
                    client: true,
                    dns: vec![],
                    ips: vec![],
                },
            ),
            (
                &pki.controller_manager,
                Leaf {
                    name: "controller-manager",
                    common_name: "system:kube-controller-manager",
                    organization: None,
                    server: false,
                    client: true,
                    dns: vec![],
                    ips: vec![],
                },
            ),
            (
                &pki.scheduler,
                Leaf {
                    name: "scheduler",
                    common_name: "system:kube-scheduler",
                    organization: None,
                    server: false,
                    client: true,
                    dns: vec![],
                    ips: vec![],
                },
            ),
            (
                &pki.node_simulator,
                Leaf {
                    name: "node-simulator",
                    common_name: "system:node-simulator",
                    organization: None,
                    server: false,
                    client: true,
                    dns: vec![],
                    ips: vec![],
                },
            ),
        ];
        for (pair, leaf) in leaves {
            if pair.exists() {
                continue;
            }
            let mut params = CertificateParams::new(leaf.dns.clone())?;
            params
                .distinguished_name
                .push(DnType::CommonName, leaf.common_name);
            if let Some(o) = leaf.organization {
                params.distinguished_name.push(DnType::OrganizationName, o);
            }
            params
                .subject_alt_names
                .extend(leaf.ips.iter().map(|ip| SanType::IpAddress(*ip)));
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ];
            if leaf.server {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth);
            }
            if leaf.client {
                params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth);
            }
            validity(&mut params, 1);
            let key = KeyPair::generate()?;
            let cert = params
                .signed_by(&key, &ca_cert, &ca_key)
                .with_context(|| format!("signing the {} certificate", leaf.name))?;
            std::fs::write(&pair.cert, cert.pem())?;
            write_private(&pair.key, &key.serialize_pem())?;
        }
        Ok(pki)
    }
}
