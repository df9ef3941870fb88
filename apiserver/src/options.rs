//! kube-apiserver's command-line flags. The common upstream flags are accepted under their
//! upstream names; flags ferrokube does not implement yet are accepted with a warning naming
//! them, so an upstream manifest still starts.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct Options {
    /// etcd servers to connect to, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd_servers: Vec<String>,
    /// The prefix of every key in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// CA bundle to verify etcd's serving certificate.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate for etcd.
    #[arg(long)]
    pub etcd_certfile: Option<PathBuf>,
    /// Client key for etcd.
    #[arg(long)]
    pub etcd_keyfile: Option<PathBuf>,
    /// How often etcd history is compacted (Go duration, e.g. 5m0s); 0 disables compaction.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub etcd_compaction_interval: std::time::Duration,
    /// How long Events are kept after their last write (Go duration); 0 keeps them.
    #[arg(long, default_value = "1h0m0s", value_parser = parse_duration)]
    pub event_ttl: std::time::Duration,
    /// The HTTPS port.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: std::net::IpAddr,
    /// The address advertised to the cluster (the `kubernetes` Service's endpoint).
    #[arg(long)]
    pub advertise_address: Option<std::net::IpAddr>,
    /// Serving certificate (PEM).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA that signs client certificates; enables x509 client authentication.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// A CSV file of static bearer tokens: token,user,uid,"group1,group2".
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// Issuer of service account tokens (`iss`); repeat to accept tokens of earlier issuers,
    /// the first one issues.
    #[arg(long = "service-account-issuer", action = clap::ArgAction::Append)]
    pub service_account_issuer: Vec<String>,
    /// PEM file of public keys (or certificates, or private keys) that verify service account
    /// tokens; repeatable. Defaults to the signing key's public half.
    #[arg(long = "service-account-key-file", action = clap::ArgAction::Append)]
    pub service_account_key_file: Vec<PathBuf>,
    /// PEM private key (RSA or ECDSA) that signs service account tokens.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// The most a requested token lifetime is granted (Go duration); 0 for no cap.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub service_account_max_token_expiration: std::time::Duration,
    /// Give the kubelet's pod-bound 3607 s tokens a year, with a warning time, as upstream.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub service_account_extend_token_expiration: bool,
    /// The `jwks_uri` the OpenID discovery document names, instead of this server's.
    #[arg(long)]
    pub service_account_jwks_uri: Option<String>,
    /// Audiences a token must name to be accepted here; defaults to the issuers.
    #[arg(long, value_delimiter = ',')]
    pub api_audiences: Vec<String>,
    /// Serve requests without credentials as `system:anonymous` (group
    /// `system:unauthenticated`), for the authorizers to judge; off with AlwaysAllow, as
    /// upstream turns it off there.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub anonymous_auth: bool,
    /// Accept bootstrap tokens (Secrets of type bootstrap.kubernetes.io/token in kube-system).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub enable_bootstrap_token_auth: bool,
    /// The range ClusterIPs are allocated from.
    #[arg(long, default_value = "10.0.0.0/24")]
    pub service_cluster_ip_range: String,
    /// The range NodePorts are allocated from.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// Authorization modes in order, comma separated (AlwaysAllow, AlwaysDeny, Node, RBAC).
    /// The Node authorizer has no opinion yet; RBAC decides.
    #[arg(long, value_delimiter = ',', default_value = "Node,RBAC")]
    pub authorization_mode: Vec<String>,
    /// Admission plugins to enable besides the defaults.
    #[arg(long, value_delimiter = ',')]
    pub enable_admission_plugins: Vec<String>,
    /// Admission plugins to disable.
    #[arg(long, value_delimiter = ',')]
    pub disable_admission_plugins: Vec<String>,
    /// The minimum timeout of long-running requests (watches), in seconds.
    #[arg(long, default_value_t = 1800)]
    pub min_request_timeout: u64,
    /// The timeout of every other request (Go duration).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: std::time::Duration,
    /// The most non-mutating requests in flight at once.
    #[arg(long, default_value_t = 400)]
    pub max_requests_inflight: usize,
    /// The most mutating requests in flight at once.
    #[arg(long, default_value_t = 200)]
    pub max_mutating_requests_inflight: usize,
    /// An EncryptionConfiguration file (apiserver.config.k8s.io/v1) saying how resources are
    /// encrypted in etcd; read once at startup, and an invalid file stops the apiserver.
    #[arg(long)]
    pub encryption_provider_config: Option<PathBuf>,
    /// The audit policy (`audit.k8s.io/v1` `Policy`, YAML or JSON); with `--audit-log-path`
    /// it turns audit logging on. An invalid policy stops the apiserver.
    #[arg(long)]
    pub audit_policy_file: Option<PathBuf>,
    /// Where audit events are written, one JSON object a line; `-` is standard output.
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// Days to keep rotated audit logs, by the time in their names; 0 keeps them.
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxage: u32,
    /// Rotated audit logs to keep; 0 keeps them all.
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxbackup: u32,
    /// Megabytes an audit log grows to before it is rotated; 0 means 100.
    #[arg(long, default_value_t = 0)]
    pub audit_log_maxsize: u32,
    /// The audit log format: `json` (`legacy` is refused).
    #[arg(long, default_value = "json")]
    pub audit_log_format: String,
    /// `blocking` (requests wait for their events to be written), `blocking-strict` (and
    /// fail when the first cannot be), or `batch` (written in the background).
    #[arg(long, default_value = "blocking")]
    pub audit_log_mode: String,
    /// Events `batch` mode queues before it drops them.
    #[arg(long, default_value_t = 10000)]
    pub audit_log_batch_buffer_size: usize,
    /// The group and version events are written in (only `audit.k8s.io/v1`).
    #[arg(long, default_value = "audit.k8s.io/v1")]
    pub audit_log_version: String,
}

impl Default for Options {
    /// Every flag at its default, as `kube-apiserver` with no arguments.
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            options: Options,
        }
        use clap::Parser;
        match Defaults::try_parse_from(["kube-apiserver"]) {
            Ok(d) => d.options,
            // Every flag has a default; failing here is a bug in the declarations above.
            Err(e) => unreachable!("kube-apiserver defaults do not parse: {e}"),
        }
    }
}

/// Flags ferrokube recognises; anything else upstream accepts is dropped with a warning.
const KNOWN: &[&str] = &[
    "etcd-servers",
    "etcd-prefix",
    "etcd-cafile",
    "etcd-certfile",
    "etcd-keyfile",
    "etcd-compaction-interval",
    "event-ttl",
    "secure-port",
    "bind-address",
    "advertise-address",
    "tls-cert-file",
    "tls-private-key-file",
    "client-ca-file",
    "token-auth-file",
    "service-account-issuer",
    "service-account-key-file",
    "service-account-signing-key-file",
    "service-account-max-token-expiration",
    "service-account-extend-token-expiration",
    "service-account-jwks-uri",
    "api-audiences",
    "enable-bootstrap-token-auth",
    "anonymous-auth",
    "service-cluster-ip-range",
    "service-node-port-range",
    "authorization-mode",
    "enable-admission-plugins",
    "disable-admission-plugins",
    "min-request-timeout",
    "request-timeout",
    "max-requests-inflight",
    "max-mutating-requests-inflight",
    "encryption-provider-config",
    "audit-policy-file",
    "audit-log-path",
    "audit-log-maxage",
    "audit-log-maxbackup",
    "audit-log-maxsize",
    "audit-log-format",
    "audit-log-mode",
    "audit-log-batch-buffer-size",
    "audit-log-version",
    "help",
];

/// Splits `args` into those clap should parse and the names of unimplemented flags.
/// Unknown `--flag value` pairs drop the value too (kube-apiserver takes no positionals).
pub fn split_unknown(args: &[String]) -> (Vec<String>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(flag) = arg.strip_prefix("--") else {
            known.push(arg.clone());
            i += 1;
            continue;
        };
        let name = flag.split('=').next().unwrap_or_default();
        if KNOWN.contains(&name) {
            known.push(arg.clone());
        } else {
            unknown.push(name.to_string());
            if !flag.contains('=') && args.get(i + 1).is_some_and(|n| !n.starts_with('-')) {
                i += 1;
            }
        }
        i += 1;
    }
    (known, unknown)
}

/// Parses Go-style durations: `5m`, `1h30m`, `90s`, `0`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
    }
    if !num.is_empty() {
        return Err(format!("invalid duration {s:?}: missing unit"));
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_unknown_flags() {
        let args: Vec<String> = [
            "--secure-port=6443",
            "--audit-webhook-config-file",
            "/x",
            "--v=2",
            "--etcd-servers",
            "http://a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (known, unknown) = split_unknown(&args);
        assert_eq!(
            known,
            vec!["--secure-port=6443", "--etcd-servers", "http://a"]
        );
        assert_eq!(unknown, vec!["audit-webhook-config-file", "v"]);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("5m0s").unwrap().as_secs(), 300);
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert!(parse_duration("5").is_err());
    }
}
