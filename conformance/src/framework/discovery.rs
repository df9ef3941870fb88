//! The discovery checks that open upstream's "API operations" tests: the group is listed in
//! `/apis`, the version in `/apis/<group>`, and the resources in `/apis/<group>/<version>`.

use super::{Framework, api};
use anyhow::{Result, bail};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroup, APIGroupList, APIResourceList};

/// Checks that `group/version` is served with every one of `resources`.
pub async fn expect_served(
    f: &Framework,
    group: &str,
    version: &str,
    resources: &[&str],
) -> Result<()> {
    f.step("getting /apis");
    let groups: APIGroupList = api::get_json(&f.client, "/apis").await?;
    let listed = groups
        .groups
        .iter()
        .any(|g| g.name == group && g.versions.iter().any(|v| v.version == version));
    if !listed {
        bail!(
            "expected {group}/{version} API group/version in /apis, got groups {:?}",
            groups.groups.iter().map(|g| &g.name).collect::<Vec<_>>()
        );
    }

    f.step(format!("getting /apis/{group}"));
    let g: APIGroup = api::get_json(&f.client, &format!("/apis/{group}")).await?;
    if !g.versions.iter().any(|v| v.version == version) {
        bail!(
            "expected {group} API version {version}, got {:?}",
            g.versions.iter().map(|v| &v.version).collect::<Vec<_>>()
        );
    }

    f.step(format!("getting /apis/{group}/{version}"));
    let list: APIResourceList =
        api::get_json(&f.client, &format!("/apis/{group}/{version}")).await?;
    for r in resources {
        if !list.resources.iter().any(|x| x.name == *r) {
            bail!(
                "expected {r}, got {:?}",
                list.resources.iter().map(|x| &x.name).collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}
