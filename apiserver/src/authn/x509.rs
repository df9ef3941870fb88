//! The user a verified client certificate names: CN is the user name, each O a group.

use super::user::UserInfo;
use x509_parser::prelude::*;

/// Reads the user from a DER certificate already verified by the TLS layer.
pub fn user_of(der: &[u8]) -> Option<UserInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject = cert.subject();
    let name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    Some(UserInfo {
        name,
        uid: String::new(),
        groups,
        ..Default::default()
    })
}
