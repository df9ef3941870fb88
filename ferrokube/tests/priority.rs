//! The Priority admission plugin as kubectl (1.32 and 1.33) sees it: a new pod gets
//! `spec.priority` and `spec.preemptionPolicy` from its PriorityClass, from the global default
//! class (which it then names), or 0 and PreemptLowerPriority; unknown classes and
//! hand-written priorities are refused with upstream's messages; replacing a pod from a
//! manifest without them keeps them; a second global default class is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls};

fn pod(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec}  containers:\n  - {{name: c, image: nginx}}\n"
    )
}

fn priority_of(k: &Kubectl, pod: &str) -> String {
    k.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.spec.priorityClassName},{.spec.priority},{.spec.preemptionPolicy}",
    ])
}

fn refused(k: &Kubectl, manifest: &str) -> String {
    let r = k.run_stdin(&["create", "-f", "-"], Some(manifest));
    assert!(!r.ok, "{} should have refused:\n{manifest}", k.version());
    r.stderr
}

#[test]
fn pods_get_their_priority_from_their_class() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let n = |name: &str| format!("{name}-{i}");
        let create = |name: &str, spec: &str| k.ok_stdin(&["create", "-f", "-"], &pod(name, spec));

        create(&n("plain"), "");
        assert_eq!(priority_of(&k, &n("plain")), ",0,PreemptLowerPriority");

        let class = n("high");
        k.ok(&[
            "create",
            "priorityclass",
            &class,
            "--value=1000",
            "--preemption-policy=Never",
        ]);
        create(&n("high"), &format!("  priorityClassName: {class}\n"));
        assert_eq!(priority_of(&k, &n("high")), format!("{class},1000,Never"));

        let prefix = "Error from server (Forbidden): error when creating \"STDIN\": pods";
        assert_eq!(
            refused(&k, &pod(&n("ghost"), "  priorityClassName: nope\n")).trim(),
            format!(
                "{prefix} \"ghost-{i}\" is forbidden: no PriorityClass with name nope was found"
            )
        );
        assert_eq!(
            refused(&k, &pod(&n("own"), "  priority: 5\n")).trim(),
            format!(
                "{prefix} \"own-{i}\" is forbidden: the integer value of priority (5) must not be \
                 provided in pod spec; priority admission controller computed 0 from the given \
                 PriorityClass name"
            )
        );
        let spec =
            format!("  priorityClassName: {class}\n  preemptionPolicy: PreemptLowerPriority\n");
        assert_eq!(
            refused(&k, &pod(&n("policy"), &spec)).trim(),
            format!(
                "{prefix} \"policy-{i}\" is forbidden: the string value of PreemptionPolicy \
                 (PreemptLowerPriority) must not be provided in pod spec; priority admission \
                 controller computed Never from the given PriorityClass name"
            )
        );
        // As upstream, admission sees a generated name's object before it has the name.
        let generated =
            pod("x", "  priorityClassName: nope\n").replace("name: x", "generateName: gen-");
        assert_eq!(
            refused(&k, &generated).trim(),
            format!("{prefix} is forbidden: no PriorityClass with name nope was found")
        );
        for name in ["ghost", "own", "policy"] {
            k.fails(&["get", "pod", &n(name)]);
        }

        // Replacing a pod with a copy that leaves its priority out keeps the priority. (The
        // original manifest would not do: admission gave the pod a service account volume,
        // which an update may not take away.)
        let mut live: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "pod", &n("high"), "-o", "json"])).unwrap();
        let spec = live["spec"].as_object_mut().unwrap();
        spec.remove("priority");
        spec.remove("preemptionPolicy");
        live["metadata"]["labels"] = serde_json::json!({"replaced": "yes"});
        k.ok_stdin(&["replace", "-f", "-"], &live.to_string());
        assert_eq!(priority_of(&k, &n("high")), format!("{class},1000,Never"));
        let label = k.ok(&[
            "get",
            "pod",
            &n("high"),
            "-o",
            "jsonpath={.metadata.labels.replaced}",
        ]);
        assert_eq!(label, "yes");
    }

    // The global default class is named on new pods; a second default is refused.
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok(&[
        "create",
        "priorityclass",
        "everyday",
        "--value=7",
        "--global-default",
    ]);
    k.ok_stdin(&["create", "-f", "-"], &pod("defaulted", ""));
    assert_eq!(
        priority_of(&k, "defaulted"),
        "everyday,7,PreemptLowerPriority"
    );
    assert_eq!(
        k.fails(&[
            "create",
            "priorityclass",
            "another",
            "--value=8",
            "--global-default"
        ])
        .trim(),
        "error: failed to create priorityclass: priorityclasses.scheduling.k8s.io \"another\" is \
         forbidden: PriorityClass everyday is already marked as default. Only one default can \
         exist"
    );
    // Making another class the default is refused too; the default itself may be updated.
    k.ok(&["create", "priorityclass", "another", "--value=8"]);
    let patched = k.run(&[
        "patch",
        "priorityclass",
        "another",
        "-p",
        r#"{"globalDefault":true}"#,
    ]);
    assert!(!patched.ok);
    assert!(
        patched
            .stderr
            .contains("PriorityClass everyday is already marked as default"),
        "{}",
        patched.stderr
    );
    k.ok(&["label", "priorityclass", "everyday", "team=a"]);
}
