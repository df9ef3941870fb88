//! The authorizer library (`k8s.io/apiserver/pkg/cel/library/authz.go`): admission
//! expressions ask the cluster's authorizers about the requesting user, as
//! `authorizer.group('apps').resource('deployments').namespace('ns').check('delete').allowed()`,
//! `authorizer.path('/healthz').check('get')`, `authorizer.serviceAccount(ns, name)...` or
//! `authorizer.requestResource.check('update')`.

use super::{library_type, owned, str_arg, typed_arg};
use crate::authn::user::UserInfo;
use crate::authz::{self, Authorizer, Decision};
use cel::common::types::{CelBool, CelString, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};
use std::sync::Arc;

/// Who the checks are about, and who answers them.
pub(in crate::cel) struct Principal {
    authorizer: Authorizer,
    user: UserInfo,
}

/// Values compare by identity: two checks are the same only if they are one.
#[derive(Clone)]
pub(in crate::cel) struct Shared(Arc<Principal>);

impl PartialEq for Shared {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "authorizer for {:?}", self.0.user.name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(in crate::cel) struct AuthorizerVal(Shared);

#[derive(Clone, Debug, PartialEq)]
pub(in crate::cel) struct PathCheck {
    who: Shared,
    path: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(in crate::cel) struct GroupCheck {
    who: Shared,
    group: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(in crate::cel) struct ResourceCheck {
    who: Shared,
    group: String,
    resource: String,
    subresource: String,
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(in crate::cel) struct DecisionVal {
    allowed: bool,
    reason: String,
}

library_type!(
    AuthorizerVal,
    AUTHORIZER_TYPE,
    "kubernetes.authorization.Authorizer"
);
library_type!(
    PathCheck,
    PATH_CHECK_TYPE,
    "kubernetes.authorization.PathCheck"
);
library_type!(
    GroupCheck,
    GROUP_CHECK_TYPE,
    "kubernetes.authorization.GroupCheck"
);
library_type!(
    ResourceCheck,
    RESOURCE_CHECK_TYPE,
    "kubernetes.authorization.ResourceCheck"
);
library_type!(
    DecisionVal,
    DECISION_TYPE,
    "kubernetes.authorization.Decision"
);

/// The resource a request is for, as `authorizer.requestResource` checks it.
pub struct RequestResource {
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
}

/// `authorizer` and `authorizer.requestResource` for a request by `user`.
pub(in crate::cel) fn values(
    authorizer: Authorizer,
    user: UserInfo,
    request: RequestResource,
) -> (Box<dyn Val>, Box<dyn Val>) {
    let who = Shared(Arc::new(Principal { authorizer, user }));
    let request = ResourceCheck {
        who: who.clone(),
        group: request.group,
        resource: request.resource,
        subresource: request.subresource,
        namespace: request.namespace,
        name: request.name,
    };
    (Box::new(AuthorizerVal(who)), Box::new(request))
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    let authorizer = || AUTHORIZER_TYPE.to_owned();
    let resource = || RESOURCE_CHECK_TYPE.to_owned();
    env.add_member_overload(
        "path",
        "authorizer_path",
        authorizer(),
        vec![STRING_TYPE],
        path,
    )?;
    env.add_member_overload(
        "group",
        "authorizer_group",
        authorizer(),
        vec![STRING_TYPE],
        group,
    )?;
    env.add_member_overload(
        "serviceAccount",
        "authorizer_serviceaccount",
        authorizer(),
        vec![STRING_TYPE, STRING_TYPE],
        service_account,
    )?;
    env.add_member_overload(
        "resource",
        "groupcheck_resource",
        GROUP_CHECK_TYPE.to_owned(),
        vec![STRING_TYPE],
        group_resource,
    )?;
    env.add_member_overload(
        "subresource",
        "resourcecheck_subresource",
        resource(),
        vec![STRING_TYPE],
        |args| with_field(args, "subresource", |c, v| c.subresource = v),
    )?;
    env.add_member_overload(
        "namespace",
        "resourcecheck_namespace",
        resource(),
        vec![STRING_TYPE],
        |args| with_field(args, "namespace", |c, v| c.namespace = v),
    )?;
    env.add_member_overload(
        "name",
        "resourcecheck_name",
        resource(),
        vec![STRING_TYPE],
        |args| with_field(args, "name", |c, v| c.name = v),
    )?;
    env.add_member_overload(
        "check",
        "resourcecheck_check",
        resource(),
        vec![STRING_TYPE],
        resource_check,
    )?;
    env.add_member_overload(
        "check",
        "pathcheck_check",
        PATH_CHECK_TYPE.to_owned(),
        vec![STRING_TYPE],
        path_check,
    )?;
    let decision = || DECISION_TYPE.to_owned();
    env.add_member_overload("allowed", "decision_allowed", decision(), vec![], |args| {
        let d = typed_arg::<DecisionVal>(&args, 0, "allowed")?;
        owned(CelBool::from(d.allowed))
    })?;
    env.add_member_overload("reason", "decision_reason", decision(), vec![], |args| {
        let d = typed_arg::<DecisionVal>(&args, 0, "reason")?;
        owned(CelString::from(d.reason.clone()))
    })?;
    // The authorizers here answer without errors.
    env.add_member_overload("errored", "decision_errored", decision(), vec![], |_| {
        owned(CelBool::from(false))
    })?;
    env.add_member_overload("error", "decision_error", decision(), vec![], |_| {
        owned(CelString::from(String::new()))
    })?;
    Ok(())
}

fn path<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = typed_arg::<AuthorizerVal>(&args, 0, "path")?;
    let path = str_arg(&args, 1, "path")?.to_string();
    owned(PathCheck {
        who: a.0.clone(),
        path,
    })
}

fn group<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = typed_arg::<AuthorizerVal>(&args, 0, "group")?;
    let group = str_arg(&args, 1, "group")?.to_string();
    owned(GroupCheck {
        who: a.0.clone(),
        group,
    })
}

/// The same authorizer, about a service account instead of the requesting user.
fn service_account<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let a = typed_arg::<AuthorizerVal>(&args, 0, "serviceAccount")?;
    let namespace = str_arg(&args, 1, "serviceAccount")?;
    let name = str_arg(&args, 2, "serviceAccount")?;
    let user = UserInfo {
        name: format!("system:serviceaccount:{namespace}:{name}"),
        uid: String::new(),
        groups: vec![
            "system:serviceaccounts".to_string(),
            format!("system:serviceaccounts:{namespace}"),
        ],
        extra: Default::default(),
    };
    owned(AuthorizerVal(Shared(Arc::new(Principal {
        authorizer: a.0.0.authorizer.clone(),
        user,
    }))))
}

fn group_resource<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let g = typed_arg::<GroupCheck>(&args, 0, "resource")?;
    let resource = str_arg(&args, 1, "resource")?.to_string();
    owned(ResourceCheck {
        who: g.who.clone(),
        group: g.group.clone(),
        resource,
        subresource: String::new(),
        namespace: String::new(),
        name: String::new(),
    })
}

fn with_field<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    function: &str,
    set: impl FnOnce(&mut ResourceCheck, String),
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let mut check = typed_arg::<ResourceCheck>(&args, 0, function)?.clone();
    set(&mut check, str_arg(&args, 1, function)?.to_string());
    owned(check)
}

fn decide<'b, 'v>(
    who: &Shared,
    attrs: authz::Attributes,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (decision, reason) = who.0.authorizer.authorize(&attrs);
    owned(DecisionVal {
        allowed: decision == Decision::Allow,
        reason,
    })
}

fn resource_check<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<ResourceCheck>(&args, 0, "check")?;
    let verb = str_arg(&args, 1, "check")?;
    decide(
        &c.who,
        authz::Attributes {
            user: c.who.0.user.clone(),
            verb: verb.to_string(),
            resource_request: true,
            namespace: c.namespace.clone(),
            api_group: c.group.clone(),
            api_version: "*".to_string(),
            resource: c.resource.clone(),
            subresource: c.subresource.clone(),
            name: c.name.clone(),
            ..Default::default()
        },
    )
}

fn path_check<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<PathCheck>(&args, 0, "check")?;
    let verb = str_arg(&args, 1, "check")?;
    decide(
        &c.who,
        authz::Attributes {
            user: c.who.0.user.clone(),
            verb: verb.to_string(),
            resource_request: false,
            path: c.path.clone(),
            ..Default::default()
        },
    )
}
