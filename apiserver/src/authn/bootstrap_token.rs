//! Bootstrap tokens (`--enable-bootstrap-token-auth`): `<id>.<secret>` bearer tokens backed by
//! `kube-system/bootstrap-token-<id>` Secrets of type `bootstrap.kubernetes.io/token`, which
//! kubeadm-style joins use before a node has a certificate. The user is
//! `system:bootstrap:<id>` in `system:bootstrappers` plus the Secret's extra groups.

use super::user::UserInfo;
use base64::Engine;
use serde_json::Value;

pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
pub const NAMESPACE: &str = "kube-system";
const GROUP: &str = "system:bootstrappers";

/// The token ID and secret of a well-formed bootstrap token (`[a-z0-9]{6}.[a-z0-9]{16}`).
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

/// The name of the Secret holding token `id`.
pub fn secret_name(id: &str) -> String {
    format!("bootstrap-token-{id}")
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret.get("data")?.get(key)?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The user `token` authenticates as, given its Secret; `Err` with the reason when the
/// Secret does not vouch for it. `now` is RFC 3339.
pub fn user(secret: &Value, id: &str, token_secret: &str, now: &str) -> Result<UserInfo, String> {
    let refuse = |why: &str| Err(format!("bootstrap token {id}: {why}"));
    if secret.get("type").and_then(Value::as_str) != Some(SECRET_TYPE) {
        return refuse("secret has the wrong type");
    }
    if apimachinery::meta::deletion_timestamp(secret).is_some() {
        return refuse("secret is being deleted");
    }
    let stored = data(secret, "token-secret").unwrap_or_default();
    // Compare without an early exit so timing does not reveal how much matched.
    let same = stored.len() == token_secret.len()
        && stored
            .bytes()
            .zip(token_secret.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same || data(secret, "token-id").as_deref() != Some(id) {
        return refuse("token does not match its secret");
    }
    if let Some(expiration) = data(secret, "expiration") {
        let (Ok(exp), Ok(now)) = (
            chrono::DateTime::parse_from_rfc3339(&expiration),
            chrono::DateTime::parse_from_rfc3339(now),
        ) else {
            return refuse("expiration is not an RFC 3339 time");
        };
        if exp <= now {
            return refuse("token has expired");
        }
    }
    if data(secret, "usage-bootstrap-authentication").as_deref() != Some("true") {
        return refuse("token may not be used for authentication");
    }
    let mut groups = vec![GROUP.to_string()];
    for g in data(secret, "auth-extra-groups")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        if !g.starts_with("system:bootstrappers:") {
            return refuse(&format!(
                "group {g:?} does not start with \"system:bootstrappers:\""
            ));
        }
        if !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    Ok(UserInfo {
        name: format!("system:bootstrap:{id}"),
        groups,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn secret(expiration: Option<&str>) -> Value {
        let mut data = json!({
            "token-id": b64("abcdef"),
            "token-secret": b64("0123456789abcdef"),
            "usage-bootstrap-authentication": b64("true"),
            "auth-extra-groups": b64("system:bootstrappers:kubeadm:default-node-token"),
        });
        if let Some(e) = expiration {
            data["expiration"] = json!(b64(e));
        }
        json!({"type": SECRET_TYPE, "data": data})
    }

    const NOW: &str = "2026-01-01T00:00:00Z";

    #[test]
    fn tokens_have_a_fixed_shape() {
        assert_eq!(
            split("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        assert_eq!(split("ABCDEF.0123456789abcdef"), None);
        assert_eq!(split("abcdef.0123456789abcde"), None);
        assert_eq!(split("eyJhbGciOi.xyz.abc"), None);
    }

    #[test]
    fn a_matching_secret_names_the_user_and_groups() {
        let user = user(&secret(None), "abcdef", "0123456789abcdef", NOW).unwrap();
        assert_eq!(user.name, "system:bootstrap:abcdef");
        assert_eq!(
            user.groups,
            [
                "system:bootstrappers",
                "system:bootstrappers:kubeadm:default-node-token"
            ]
        );
    }

    #[test]
    fn wrong_secret_expired_or_unusable_tokens_are_refused() {
        assert!(user(&secret(None), "abcdef", "0123456789abcdee", NOW).is_err());
        assert!(
            user(
                &secret(Some("2025-12-31T00:00:00Z")),
                "abcdef",
                "0123456789abcdef",
                NOW
            )
            .is_err()
        );
        assert!(
            user(
                &secret(Some("2026-12-31T00:00:00Z")),
                "abcdef",
                "0123456789abcdef",
                NOW
            )
            .is_ok()
        );
        let mut s = secret(None);
        s["data"]["usage-bootstrap-authentication"] = json!(b64("false"));
        assert!(user(&s, "abcdef", "0123456789abcdef", NOW).is_err());
        let mut s = secret(None);
        s["data"]["auth-extra-groups"] = json!(b64("system:masters"));
        assert!(user(&s, "abcdef", "0123456789abcdef", NOW).is_err());
        let mut s = secret(None);
        s["type"] = json!("Opaque");
        assert!(user(&s, "abcdef", "0123456789abcdef", NOW).is_err());
    }
}
