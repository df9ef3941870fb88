//! Service account tokens: the JWTs the TokenRequest API issues, and their validation up to
//! the point where the objects they are bound to must be looked up (the [`super`] module does
//! that against the watch cache).
//!
//! Claims are upstream's: `iss`, `sub` (`system:serviceaccount:<ns>:<name>`), `aud`, `iat`,
//! `nbf`, `exp`, `jti`, and under `kubernetes.io` the namespace, the service account and the
//! pod, secret or node the token is bound to (with the pod's node), plus `warnafter` for
//! tokens whose expiry was extended.

use super::jwt;
use super::keys::{SigningKey, VerifyKey};
use super::user::UserInfo;
use serde_json::{Map, Value, json};

/// The user name prefix of service accounts.
pub const USER_PREFIX: &str = "system:serviceaccount:";
/// The lifetime the kubelet asks for; such pod-bound tokens are extended to a year and
/// carry `warnafter` instead (upstream's `--service-account-extend-token-expiration`).
pub const WARN_ONLY_EXPIRATION_SECONDS: i64 = 3607;
const EXTENDED_EXPIRATION_SECONDS: i64 = 365 * 24 * 3600;
/// Clock skew tolerated on `nbf` and `exp`, as upstream's validator.
const LEEWAY_SECONDS: i64 = 60;

pub const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
pub const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
pub const EXTRA_NODE_NAME: &str = "authentication.kubernetes.io/node-name";
pub const EXTRA_NODE_UID: &str = "authentication.kubernetes.io/node-uid";
pub const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

pub use apimachinery::jwt::LEGACY_ISSUER;

/// What a legacy token claims: the Secret it was written into and its service account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegacyClaims {
    pub namespace: String,
    pub secret: String,
    pub service_account: ObjectRef,
}

impl LegacyClaims {
    pub fn user(&self) -> UserInfo {
        UserInfo {
            name: user_name(&self.namespace, &self.service_account.name),
            uid: self.service_account.uid.clone(),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{}", self.namespace),
            ],
            extra: Default::default(),
        }
    }
}

/// An object a token names: its name and UID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

impl ObjectRef {
    fn json(&self) -> Value {
        json!({"name": self.name, "uid": self.uid})
    }

    fn of(v: Option<&Value>) -> Option<Self> {
        let v = v?;
        Some(Self {
            name: v.get("name")?.as_str()?.to_string(),
            uid: v
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }
}

/// What a token says about whom it stands for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub namespace: String,
    pub service_account: ObjectRef,
    pub pod: Option<ObjectRef>,
    pub secret: Option<ObjectRef>,
    pub node: Option<ObjectRef>,
    pub jti: Option<String>,
    /// The token's audiences that the validation accepted.
    pub audiences: Vec<String>,
}

impl Claims {
    /// The user the token authenticates, as upstream's service account authenticator: the
    /// service account's user name and UID, its groups, and what the binding adds as extra.
    pub fn user(&self) -> UserInfo {
        let mut extra = std::collections::BTreeMap::new();
        if let Some(pod) = &self.pod {
            extra.insert(EXTRA_POD_NAME.to_string(), vec![pod.name.clone()]);
            extra.insert(EXTRA_POD_UID.to_string(), vec![pod.uid.clone()]);
        }
        if let Some(node) = &self.node {
            extra.insert(EXTRA_NODE_NAME.to_string(), vec![node.name.clone()]);
            if !node.uid.is_empty() {
                extra.insert(EXTRA_NODE_UID.to_string(), vec![node.uid.clone()]);
            }
        }
        if let Some(jti) = &self.jti {
            extra.insert(EXTRA_CREDENTIAL_ID.to_string(), vec![format!("JTI={jti}")]);
        }
        UserInfo {
            name: user_name(&self.namespace, &self.service_account.name),
            uid: self.service_account.uid.clone(),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{}", self.namespace),
            ],
            extra,
        }
    }
}

pub fn user_name(namespace: &str, name: &str) -> String {
    format!("{USER_PREFIX}{namespace}:{name}")
}

/// A token to issue.
pub struct Request<'a> {
    pub namespace: &'a str,
    pub service_account: ObjectRef,
    pub pod: Option<ObjectRef>,
    pub secret: Option<ObjectRef>,
    pub node: Option<ObjectRef>,
    pub audiences: &'a [String],
    pub expiration_seconds: i64,
}

/// Issues and checks service account tokens (`--service-account-*` flags).
#[derive(Debug, Default)]
pub struct Tokens {
    signer: Option<SigningKey>,
    /// Accepted issuers; the first one issues.
    issuers: Vec<String>,
    keys: Vec<VerifyKey>,
    /// `--api-audiences`: what a token must be meant for to be accepted by this server.
    pub api_audiences: Vec<String>,
    /// `--service-account-max-token-expiration`, 0 for none.
    max_expiration_seconds: i64,
    extend_expiration: bool,
}

/// Why a token was refused. `NotOurs` means another authenticator may try it.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    NotOurs,
    Invalid(String),
}

impl Tokens {
    pub fn new(
        signer: Option<SigningKey>,
        issuers: Vec<String>,
        keys: Vec<VerifyKey>,
        api_audiences: Vec<String>,
        max_expiration_seconds: i64,
        extend_expiration: bool,
    ) -> Self {
        Self {
            signer,
            issuers,
            keys,
            api_audiences,
            max_expiration_seconds,
            extend_expiration,
        }
    }

    /// Whether this server can issue tokens (the TokenRequest API is served).
    pub fn can_issue(&self) -> bool {
        self.signer.is_some() && !self.issuers.is_empty()
    }

    pub fn issuer(&self) -> Option<&str> {
        self.issuers.first().map(String::as_str)
    }

    pub fn public_keys(&self) -> &[VerifyKey] {
        &self.keys
    }

    /// The lifetime a request gets: capped by the maximum, and a kubelet's pod-bound 3607 s
    /// token for this server's audiences extended to a year with a warning time instead.
    /// Returns (lifetime, warn after).
    fn lifetime(&self, req: &Request<'_>) -> (i64, Option<i64>) {
        let mut seconds = req.expiration_seconds;
        if self.max_expiration_seconds > 0 && seconds > self.max_expiration_seconds {
            seconds = self.max_expiration_seconds;
        }
        let for_this_server = !req.audiences.is_empty()
            && req.audiences.iter().all(|a| self.api_audiences.contains(a));
        if self.extend_expiration
            && req.pod.is_some()
            && req.expiration_seconds == WARN_ONLY_EXPIRATION_SECONDS
            && for_this_server
        {
            return (
                EXTENDED_EXPIRATION_SECONDS.max(seconds),
                Some(WARN_ONLY_EXPIRATION_SECONDS),
            );
        }
        (seconds, None)
    }

    /// Signs a token; returns it and its expiry (Unix seconds).
    pub fn issue(&self, req: &Request<'_>, now: i64) -> Result<(String, i64), String> {
        let (Some(signer), Some(issuer)) = (&self.signer, self.issuer()) else {
            return Err("no service account signing key is configured".into());
        };
        let (lifetime, warn_after) = self.lifetime(req);
        let exp = now + lifetime;
        let mut k8s = Map::new();
        k8s.insert("namespace".into(), json!(req.namespace));
        if let Some(node) = &req.node {
            k8s.insert("node".into(), node.json());
        }
        if let Some(pod) = &req.pod {
            k8s.insert("pod".into(), pod.json());
        }
        if let Some(secret) = &req.secret {
            k8s.insert("secret".into(), secret.json());
        }
        k8s.insert("serviceaccount".into(), req.service_account.json());
        if let Some(w) = warn_after {
            k8s.insert("warnafter".into(), json!(now + w));
        }
        // Keys in the order upstream's JWT library writes them (sorted).
        let claims = json!({
            "aud": req.audiences,
            "exp": exp,
            "iat": now,
            "iss": issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "nbf": now,
            "sub": user_name(req.namespace, &req.service_account.name),
        });
        Ok((jwt::sign(signer, &claims)?, exp))
    }

    /// Checks a legacy token's signature and claims (it has no expiry and no audience; the
    /// Secret it names is the caller's to check).
    pub fn check_legacy(&self, token: &str) -> Result<LegacyClaims, Refusal> {
        let Some(parsed) = jwt::parse(token) else {
            return Err(Refusal::NotOurs);
        };
        let c = &parsed.claims;
        // A bound token (with its `kubernetes.io` claim) is never a legacy one, even if
        // `--service-account-issuer` is the legacy issuer.
        if c.get("iss").and_then(Value::as_str) != Some(LEGACY_ISSUER)
            || c.get("kubernetes.io").is_some()
        {
            return Err(Refusal::NotOurs);
        }
        if !parsed.verified_by(&self.keys) {
            return Err(Refusal::Invalid(
                "go-jose/go-jose: error in cryptographic primitive".to_string(),
            ));
        }
        let claim = |k: &str| {
            c.get(format!("kubernetes.io/serviceaccount/{k}"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let claims = LegacyClaims {
            namespace: claim("namespace"),
            secret: claim("secret.name"),
            service_account: ObjectRef {
                name: claim("service-account.name"),
                uid: claim("service-account.uid"),
            },
        };
        let sub = c.get("sub").and_then(Value::as_str).unwrap_or_default();
        if claims.namespace.is_empty()
            || claims.secret.is_empty()
            || claims.service_account.name.is_empty()
            || sub != user_name(&claims.namespace, &claims.service_account.name)
        {
            return Err(Refusal::Invalid(
                "service account token claims do not match their subject".to_string(),
            ));
        }
        Ok(claims)
    }

    /// Checks a token's signature, issuer, times and audiences against `audiences` (the
    /// server's, or a TokenReview's). The bound objects are the caller's to check.
    pub fn check(&self, token: &str, audiences: &[String], now: i64) -> Result<Claims, Refusal> {
        let Some(parsed) = jwt::parse(token) else {
            return Err(Refusal::NotOurs);
        };
        let c = &parsed.claims;
        let iss = c.get("iss").and_then(Value::as_str).unwrap_or_default();
        if !self.issuers.iter().any(|i| i == iss) {
            return Err(Refusal::NotOurs);
        }
        let invalid = |why: &str| Err(Refusal::Invalid(why.to_string()));
        if !parsed.verified_by(&self.keys) {
            return invalid("go-jose/go-jose: error in cryptographic primitive");
        }
        let time = |k: &str| c.get(k).and_then(Value::as_i64);
        match time("exp") {
            Some(exp) if now <= exp + LEEWAY_SECONDS => {}
            Some(_) => return invalid("service account token has expired"),
            None => return invalid("service account token has no expiry"),
        }
        if time("nbf").is_some_and(|nbf| now + LEEWAY_SECONDS < nbf) {
            return invalid("service account token is not valid yet");
        }
        let token_auds: Vec<String> = match c.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => vec![],
        };
        let accepted: Vec<String> = token_auds
            .iter()
            .filter(|a| audiences.contains(a))
            .cloned()
            .collect();
        if accepted.is_empty() {
            return Err(Refusal::Invalid(format!(
                "token audiences {token_auds:?} is invalid for the target audiences {audiences:?}"
            )));
        }
        let k8s = c.get("kubernetes.io");
        let namespace = k8s
            .and_then(|k| k.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(service_account) = ObjectRef::of(k8s.and_then(|k| k.get("serviceaccount"))) else {
            return invalid("service account token claims have no service account");
        };
        let sub = c.get("sub").and_then(Value::as_str).unwrap_or_default();
        if namespace.is_empty() || sub != user_name(namespace, &service_account.name) {
            return invalid("service account token claims do not match their subject");
        }
        Ok(Claims {
            namespace: namespace.to_string(),
            service_account,
            pod: ObjectRef::of(k8s.and_then(|k| k.get("pod"))),
            secret: ObjectRef::of(k8s.and_then(|k| k.get("secret"))),
            node: ObjectRef::of(k8s.and_then(|k| k.get("node"))),
            jti: c.get("jti").and_then(Value::as_str).map(String::from),
            audiences: accepted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

    fn tokens(extend: bool) -> Tokens {
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let signer = SigningKey::from_pem(pem.as_bytes()).unwrap();
        let keys = vec![signer.public().clone()];
        Tokens::new(
            Some(signer),
            vec![ISSUER.into()],
            keys,
            vec![ISSUER.into()],
            0,
            extend,
        )
    }

    fn request<'a>(auds: &'a [String], seconds: i64, pod: bool) -> Request<'a> {
        Request {
            namespace: "ns",
            service_account: ObjectRef {
                name: "robot".into(),
                uid: "sa-uid".into(),
            },
            pod: pod.then(|| ObjectRef {
                name: "p".into(),
                uid: "pod-uid".into(),
            }),
            secret: None,
            node: pod.then(|| ObjectRef {
                name: "n1".into(),
                uid: "node-uid".into(),
            }),
            audiences: auds,
            expiration_seconds: seconds,
        }
    }

    #[test]
    fn issued_tokens_carry_upstreams_claims_and_authenticate_their_account() {
        let t = tokens(true);
        let auds = vec![ISSUER.to_string()];
        let (token, exp) = t.issue(&request(&auds, 3600, true), 1000).unwrap();
        assert_eq!(exp, 4600);
        let claims = jwt::parse(&token).unwrap().claims;
        assert_eq!(claims["sub"], "system:serviceaccount:ns:robot");
        assert_eq!(claims["iss"], ISSUER);
        assert_eq!(claims["aud"], json!([ISSUER]));
        assert_eq!(claims["kubernetes.io"]["pod"]["uid"], "pod-uid");
        assert_eq!(claims["kubernetes.io"]["node"]["name"], "n1");
        let keys: Vec<&String> = claims.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "aud",
                "exp",
                "iat",
                "iss",
                "jti",
                "kubernetes.io",
                "nbf",
                "sub"
            ]
        );

        let checked = t.check(&token, &auds, 1001).unwrap();
        let user = checked.user();
        assert_eq!(user.name, "system:serviceaccount:ns:robot");
        assert_eq!(user.uid, "sa-uid");
        assert_eq!(
            user.groups,
            ["system:serviceaccounts", "system:serviceaccounts:ns"]
        );
        assert_eq!(user.extra[EXTRA_POD_NAME], ["p"]);
        assert_eq!(user.extra[EXTRA_NODE_UID], ["node-uid"]);
        assert!(user.extra[EXTRA_CREDENTIAL_ID][0].starts_with("JTI="));
    }

    #[test]
    fn expiry_audience_and_foreign_tokens() {
        let t = tokens(true);
        let auds = vec![ISSUER.to_string()];
        let (token, _) = t.issue(&request(&auds, 600, false), 1000).unwrap();
        assert!(matches!(
            t.check(&token, &auds, 1000 + 600 + 61),
            Err(Refusal::Invalid(m)) if m == "service account token has expired"
        ));
        assert!(t.check(&token, &auds, 1000 + 600 + 59).is_ok());
        assert!(matches!(
            t.check(&token, &["vault".to_string()], 1000),
            Err(Refusal::Invalid(m)) if m.starts_with("token audiences")
        ));
        // Another server's token (another key, same issuer) is invalid; a token of another
        // issuer is left to other authenticators.
        let other = tokens(true);
        let (foreign, _) = other.issue(&request(&auds, 600, false), 1000).unwrap();
        assert!(matches!(
            t.check(&foreign, &auds, 1000),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(t.check("abc.def", &auds, 1000), Err(Refusal::NotOurs));
    }

    #[test]
    fn kubelet_tokens_are_extended_with_a_warning_time() {
        let t = tokens(true);
        let auds = vec![ISSUER.to_string()];
        let (token, exp) = t
            .issue(&request(&auds, WARN_ONLY_EXPIRATION_SECONDS, true), 0)
            .unwrap();
        assert_eq!(exp, EXTENDED_EXPIRATION_SECONDS);
        let claims = jwt::parse(&token).unwrap().claims;
        assert_eq!(claims["kubernetes.io"]["warnafter"], 3607);
        // Not for pods, or not for this server: as asked.
        let (_, exp) = t
            .issue(&request(&auds, WARN_ONLY_EXPIRATION_SECONDS, false), 0)
            .unwrap();
        assert_eq!(exp, 3607);
        let (_, exp) = tokens(false)
            .issue(&request(&auds, WARN_ONLY_EXPIRATION_SECONDS, true), 0)
            .unwrap();
        assert_eq!(exp, 3607);
    }
}
