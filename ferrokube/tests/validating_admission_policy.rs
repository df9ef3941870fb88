//! ValidatingAdmissionPolicy end to end with kubectl: policies and bindings refuse, warn
//! about or let through the requests they match, with upstream's messages and status codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls};

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n"
    )
}

fn replica_set(name: &str, replicas: u32) -> String {
    deployment(name, replicas).replace("kind: Deployment", "kind: ReplicaSet")
}

/// Creates `manifest` in namespace `ns`; the run's stderr and whether it worked.
fn create(k: &Kubectl<'_>, ns: &str, manifest: &str) -> (bool, String) {
    let r = k.run_stdin(&["create", "-n", ns, "-f", "-"], Some(manifest));
    (r.ok, r.stderr)
}

fn namespace(k: &Kubectl<'_>, ns: &str) {
    k.ok(&["create", "namespace", ns]);
    k.ok(&["label", "namespace", ns, &format!("{ns}=true")]);
}

fn policy_and_binding(k: &Kubectl<'_>, ns: &str, spec: &str, actions: &str) {
    k.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {ns}.policy.example.com\nspec:\n  matchConstraints:\n    namespaceSelector:\n      matchLabels: {{{ns}: \"true\"}}\n    resourceRules:\n    - apiGroups: [apps]\n      apiVersions: [v1]\n      operations: [CREATE, UPDATE]\n      resources: [deployments]\n{spec}---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {ns}.binding.example.com\nspec:\n  policyName: {ns}.policy.example.com\n  validationActions: [{actions}]\n  matchResources:\n    namespaceSelector:\n      matchLabels: {{{ns}: \"true\"}}\n"
        ),
    );
}

/// The conformance scenario: a Deployment with one replica is refused (422 Invalid, the
/// messageExpression failing at run time falls back to the expression), two replicas and
/// other kinds pass; `namespaceObject` is the request's namespace.
#[test]
fn policies_refuse_what_their_validations_fail() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("vap-deploy-{i}");
        namespace(&k, &ns);
        policy_and_binding(
            &k,
            &ns,
            &format!(
                "  validations:\n  - expression: object.spec.replicas > 1\n    messageExpression: \"'wants replicas > 1, got ' + object.spec.replicas\"\n  - expression: namespaceObject.metadata.name == '{ns}'\n    message: Internal error! Other namespace should not be allowed.\n"
            ),
            "Deny",
        );
        let (ok, stderr) = create(&k, &ns, &deployment("marker", 1));
        assert!(!ok);
        assert!(
            stderr.contains(&format!(
                "The deployments \"marker\" is invalid: : ValidatingAdmissionPolicy '{ns}.policy.example.com' with binding '{ns}.binding.example.com' denied request: failed expression: object.spec.replicas > 1"
            )),
            "{stderr}"
        );
        let (ok, stderr) = create(&k, &ns, &deployment("replicated", 2));
        assert!(ok, "{stderr}");
        let (ok, stderr) = create(&k, &ns, &replica_set("non-replicated", 1));
        assert!(ok, "{stderr}");
        // A rule for `deployments` does not select their scale subresource.
        k.ok(&["scale", "-n", &ns, "deployment/replicated", "--replicas=3"]);
        // Updates are matched too, and other namespaces are not.
        let refused = k.fails(&[
            "patch",
            "-n",
            &ns,
            "deployment/replicated",
            "-p",
            "{\"spec\":{\"replicas\":1}}",
        ]);
        assert!(refused.contains("denied request"), "{refused}");
        let (ok, stderr) = create(&k, "default", &deployment(&format!("free-{i}"), 1));
        assert!(ok, "{stderr}");
        let stored = k.ok(&[
            "get",
            "-n",
            &ns,
            "deployment/replicated",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        assert_eq!(stored, "3");
        assert!(!k.run(&["get", "-n", &ns, "deployment/marker"]).ok);
    }
}

/// Variables are evaluated on use and may use earlier ones.
#[test]
fn expressions_refer_to_variables() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    namespace(&k, "vap-vars");
    policy_and_binding(
        &k,
        "vap-vars",
        "  variables:\n  - name: replicas\n    expression: object.spec.replicas\n  - name: oddReplicas\n    expression: variables.replicas % 2 == 1\n  validations:\n  - expression: variables.replicas > 1\n  - expression: variables.oddReplicas\n    message: odd replicas only\n    reason: Forbidden\n",
        "Deny",
    );
    let (ok, stderr) = create(&k, "vap-vars", &deployment("marker", 1));
    assert!(!ok);
    assert!(
        stderr.contains("The deployments \"marker\" is invalid: : ValidatingAdmissionPolicy 'vap-vars.policy.example.com' with binding 'vap-vars.binding.example.com' denied request: failed expression: variables.replicas > 1"),
        "{stderr}"
    );
    let (ok, stderr) = create(&k, "vap-vars", &deployment("even", 2));
    assert!(!ok);
    assert!(
        stderr.contains("Error from server (Forbidden): error when creating \"STDIN\": deployments.apps \"even\" is forbidden: ValidatingAdmissionPolicy 'vap-vars.policy.example.com' with binding 'vap-vars.binding.example.com' denied request: odd replicas only"),
        "{stderr}"
    );
    let (ok, stderr) = create(&k, "vap-vars", &deployment("three", 3));
    assert!(ok, "{stderr}");
}

/// Warn turns failures into `Warning` headers; failurePolicy decides about expressions that
/// cannot be evaluated; parameters come from the object the binding names.
#[test]
fn actions_failure_policies_and_params() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());

    namespace(&k, "vap-warn");
    policy_and_binding(
        &k,
        "vap-warn",
        "  validations:\n  - expression: object.spec.replicas > 1\n    messageExpression: \"'wants replicas > 1, got ' + string(object.spec.replicas)\"\n",
        "Warn",
    );
    let (ok, stderr) = create(&k, "vap-warn", &deployment("warned", 1));
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(
            "Warning: Validation failed for ValidatingAdmissionPolicy 'vap-warn.policy.example.com' with binding 'vap-warn.binding.example.com': wants replicas > 1, got 1"
        ),
        "{stderr}"
    );

    // An expression that fails: refused under Fail, let through under Ignore.
    namespace(&k, "vap-fail");
    let broken = "  validations:\n  - expression: object.spec.missing == 1\n";
    policy_and_binding(&k, "vap-fail", broken, "Deny");
    let (ok, stderr) = create(&k, "vap-fail", &deployment("broken", 1));
    assert!(!ok);
    assert!(
        stderr.contains(
            "denied request: expression 'object.spec.missing == 1' resulted in error: no such key: missing"
        ),
        "{stderr}"
    );
    policy_and_binding(
        &k,
        "vap-fail",
        &format!("  failurePolicy: Ignore\n{broken}"),
        "Deny",
    );
    let (ok, stderr) = create(&k, "vap-fail", &deployment("ignored", 1));
    assert!(ok, "{stderr}");

    // Parameters: the limit comes from a ConfigMap in the request's namespace.
    namespace(&k, "vap-params");
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: replica-limit\nspec:\n  paramKind:\n    apiVersion: v1\n    kind: ConfigMap\n  matchConstraints:\n    resourceRules:\n    - apiGroups: [apps]\n      apiVersions: [v1]\n      operations: [CREATE]\n      resources: [deployments]\n  validations:\n  - expression: object.spec.replicas <= int(params.data.maxReplicas)\n    messageExpression: \"'at most ' + params.data.maxReplicas + ' replicas'\"\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: replica-limit\nspec:\n  policyName: replica-limit\n  validationActions: [Deny]\n  paramRef:\n    name: limits\n    parameterNotFoundAction: Deny\n  matchResources:\n    namespaceSelector:\n      matchLabels: {vap-params: \"true\"}\n",
    );
    let (ok, stderr) = create(&k, "vap-params", &deployment("unlimited", 1));
    assert!(!ok);
    assert!(
        stderr.contains(
            "ValidatingAdmissionPolicy 'replica-limit' with binding 'replica-limit' denied request: failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction"
        ),
        "{stderr}"
    );
    k.ok(&[
        "create",
        "configmap",
        "limits",
        "-n",
        "vap-params",
        "--from-literal=maxReplicas=3",
    ]);
    let (ok, stderr) = create(&k, "vap-params", &deployment("four", 4));
    assert!(!ok);
    assert!(
        stderr.contains("denied request: at most 3 replicas"),
        "{stderr}"
    );
    let (ok, stderr) = create(&k, "vap-params", &deployment("three", 3));
    assert!(ok, "{stderr}");
}

/// Expressions are compiled when a policy is written: ones that do not compile, or do not
/// give a bool, are refused with upstream's messages, and nothing is stored.
#[test]
fn policies_that_do_not_compile_are_refused() {
    let cluster = Cluster::up();
    for bin in kubectls() {
        let k = cluster.kubectl(&bin);
        let policy = |validations: &str| {
            format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: broken\nspec:\n  matchConstraints:\n    resourceRules:\n    - apiGroups: ['*']\n      apiVersions: ['*']\n      operations: [CREATE]\n      resources: ['*']\n  variables:\n  - name: foo\n    expression: object.spec\n  validations:\n{validations}"
            )
        };
        let refused = k.run_stdin(
            &["create", "-f", "-"],
            Some(&policy(
                "  - expression: 'object.x +'\n  - expression: object.spec.paused\n  - expression: variables.bar == 1\n    messageExpression: '1'\n",
            )),
        );
        assert!(!refused.ok);
        let stderr = refused.stderr;
        for want in [
            "The ValidatingAdmissionPolicy \"broken\" is invalid: \n",
            "* spec.validations[0].expression: Invalid value: \"object.x +\": compilation failed: ERROR: <input>:1:11: Syntax error: mismatched input '<EOF>'",
            "* spec.validations[1].expression: Invalid value: \"object.spec.paused\": must evaluate to bool but got dyn",
            "* spec.validations[2].expression: Invalid value: \"variables.bar == 1\": compilation failed: ERROR: <input>:1:10: undefined field 'bar'",
            "* spec.validations[2].messageExpression: Invalid value: \"1\": must evaluate to string but got int",
        ] {
            assert!(stderr.contains(want), "want {want:?} in {stderr}");
        }
        assert!(!k.run(&["get", "validatingadmissionpolicy", "broken"]).ok);
        k.ok_stdin(
            &["create", "-f", "-"],
            &policy("  - expression: variables.foo.replicas > 0\n"),
        );
        k.ok(&["delete", "validatingadmissionpolicy", "broken"]);
    }
}

/// `authorizer` asks the cluster's authorizers about the requesting user (or a service
/// account), and `authorizer.requestResource` about the request's own resource.
#[test]
fn the_authorizer_answers_about_the_requesting_user() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    namespace(&k, "vap-authz");
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: deleters-create\nspec:\n  matchConstraints:\n    resourceRules:\n    - apiGroups: ['']\n      apiVersions: [v1]\n      operations: [CREATE]\n      resources: [configmaps]\n  validations:\n  - expression: authorizer.requestResource.check('create').allowed()\n  - expression: authorizer.group('').resource('configmaps').namespace(request.namespace).check('delete').allowed()\n    messageExpression: \"'only those who may delete configmaps create them: ' + authorizer.group('').resource('configmaps').namespace(request.namespace).check('delete').reason()\"\n  - expression: \"!authorizer.serviceAccount(request.namespace, 'default').group('').resource('secrets').namespace(request.namespace).check('list').allowed()\"\n    message: the default service account may not list secrets\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: deleters-create\nspec:\n  policyName: deleters-create\n  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n      matchLabels: {vap-authz: \"true\"}\n",
    );
    k.ok(&[
        "create",
        "role",
        "creator",
        "-n",
        "vap-authz",
        "--verb=create",
        "--resource=configmaps",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "jane-creates",
        "-n",
        "vap-authz",
        "--role=creator",
        "--user=jane",
    ]);
    let refused = k.fails(&[
        "create",
        "configmap",
        "by-jane",
        "-n",
        "vap-authz",
        "--as=jane",
    ]);
    assert!(
        refused.contains("denied request: only those who may delete configmaps create them"),
        "{refused}"
    );
    k.ok(&["create", "configmap", "by-admin", "-n", "vap-authz"]);
    // Once the default account may list secrets, nobody passes the third validation.
    k.ok(&[
        "create",
        "role",
        "secret-lister",
        "-n",
        "vap-authz",
        "--verb=list",
        "--resource=secrets",
    ]);
    k.ok(&[
        "create",
        "rolebinding",
        "default-lists-secrets",
        "-n",
        "vap-authz",
        "--role=secret-lister",
        "--serviceaccount=vap-authz:default",
    ]);
    // RBAC learns of the binding from its watch: give it a moment.
    let mut refused = String::new();
    for i in 0..50 {
        let run = k.run(&[
            "create",
            "configmap",
            &format!("late-{i}"),
            "-n",
            "vap-authz",
        ]);
        if !run.ok {
            refused = run.stderr;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        refused.contains("denied request: the default service account may not list secrets"),
        "{refused}"
    );
}

/// A rule for `deployments/scale` judges the Scale that `kubectl scale` writes.
#[test]
fn scale_subresources_are_judged_as_scales() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("vap-scale-{i}");
        namespace(&k, &ns);
        k.ok_stdin(
            &["apply", "-f", "-"],
            &format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: {ns}\nspec:\n  matchConstraints:\n    resourceRules:\n    - apiGroups: [apps]\n      apiVersions: [v1]\n      operations: [UPDATE]\n      resources: [deployments/scale]\n  validations:\n  - expression: object.kind == 'Scale' && object.spec.replicas <= 5\n    messageExpression: \"'at most 5 replicas, not ' + string(object.spec.replicas) + ' (was ' + string(oldObject.spec.replicas) + ')'\"\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: {ns}\nspec:\n  policyName: {ns}\n  validationActions: [Deny]\n  matchResources:\n    namespaceSelector:\n      matchLabels: {{{ns}: \"true\"}}\n"
            ),
        );
        let (ok, stderr) = create(&k, &ns, &deployment("scaled", 2));
        assert!(ok, "{stderr}");
        k.ok(&["scale", "-n", &ns, "deployment/scaled", "--replicas=4"]);
        let refused = k.fails(&["scale", "-n", &ns, "deployment/scaled", "--replicas=6"]);
        assert!(
            refused.contains(&format!(
                "ValidatingAdmissionPolicy '{ns}' with binding '{ns}' denied request: at most 5 replicas, not 6 (was 4)"
            )),
            "{refused}"
        );
        let replicas = k.ok(&[
            "get",
            "-n",
            &ns,
            "deployment/scaled",
            "-o",
            "jsonpath={.spec.replicas}",
        ]);
        assert_eq!(replicas, "4");
        // The whole object's updates are not the scale subresource's.
        k.ok(&[
            "patch",
            "-n",
            &ns,
            "deployment/scaled",
            "-p",
            "{\"spec\":{\"replicas\":7}}",
        ]);
    }
}

/// Bindings are admitted as creates of `pods/binding` (or `bindings`) with the Binding.
#[test]
fn bindings_are_judged_as_bindings() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata:\n  name: no-n9\nspec:\n  matchConstraints:\n    resourceRules:\n    - apiGroups: ['']\n      apiVersions: [v1]\n      operations: [CREATE]\n      resources: [pods/binding, bindings]\n  validations:\n  - expression: object.kind == 'Binding' && object.target.name != 'n9'\n    message: nothing runs on n9\n---\napiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\nmetadata:\n  name: no-n9\nspec:\n  policyName: no-n9\n  validationActions: [Deny]\n",
    );
    for pod in ["p1", "p2", "p3"] {
        k.ok_stdin(
            &["create", "-f", "-"],
            &format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\nspec:\n  schedulerName: nobody\n  containers:\n  - name: c\n    image: nginx\n"
            ),
        );
    }
    let bind = |path: &str, pod: &str, node: &str| {
        k.run_stdin(
            &["create", "--raw", path, "-f", "-"],
            Some(&format!(
                "{{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{{\"name\":\"{pod}\"}},\"target\":{{\"kind\":\"Node\",\"name\":\"{node}\"}}}}"
            )),
        )
    };
    let refused = bind("/api/v1/namespaces/default/pods/p1/binding", "p1", "n9");
    assert!(
        refused
            .stderr
            .contains("ValidatingAdmissionPolicy 'no-n9' with binding 'no-n9' denied request: nothing runs on n9"),
        "{}",
        refused.stderr
    );
    let refused = bind("/api/v1/namespaces/default/bindings", "p2", "n9");
    assert!(
        refused.stderr.contains("nothing runs on n9"),
        "{}",
        refused.stderr
    );
    let unbound = k.ok(&["get", "pod", "p1", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(unbound, "");
    let bound = bind("/api/v1/namespaces/default/pods/p3/binding", "p3", "n1");
    assert!(bound.ok, "{}", bound.stderr);
    let node = k.ok(&["get", "pod", "p3", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(node, "n1");
}
