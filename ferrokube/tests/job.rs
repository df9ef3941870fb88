//! The job, cronjob and ttl-after-finished controllers inside `ferrokube up`, driven with both
//! kubectl binaries. No kubelet runs: the tests write pod phases themselves, as a kubelet would
//! report them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod common;

use common::{Cluster, Kubectl, kubectls, table};
use std::time::Duration;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::eventually(what, Duration::from_secs(60), f)
}

/// The Job's pods that are neither finished nor being deleted.
fn active_pods(k: &Kubectl, ns: &str, job: &str) -> Vec<String> {
    let out = k.ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("batch.kubernetes.io/job-name={job}"),
        "-o",
        "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let name = parts.next()?.to_string();
            let phase = parts.next().unwrap_or_default();
            let deleting = parts.next().is_some_and(|d| !d.is_empty());
            (!deleting && phase != "Succeeded" && phase != "Failed").then_some(name)
        })
        .collect()
}

/// Reports a pod finished, as its kubelet would.
fn finish(k: &Kubectl, ns: &str, pod: &str, phase: &str) {
    k.ok(&[
        "patch",
        "pod",
        pod,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{{"phase":"{phase}"}}}}"#),
    ]);
}

fn job_field(k: &Kubectl, ns: &str, job: &str, path: &str) -> String {
    k.ok(&[
        "get",
        "job",
        job,
        "-n",
        ns,
        "-o",
        &format!("jsonpath={path}"),
    ])
}

fn condition(k: &Kubectl, ns: &str, job: &str, type_: &str) -> String {
    job_field(
        k,
        ns,
        job,
        &format!(
            "{{.status.conditions[?(@.type==\"{type_}\")].status}} {{.status.conditions[?(@.type==\"{type_}\")].reason}}"
        ),
    )
}

const WORK: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: work
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox, command: [sh, -c, "exit 0"]}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: indexed
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox}
"#;

#[test]
fn jobs_run_their_pods_to_completion() {
    let cluster = Cluster::up();
    for (i, bin) in kubectls().iter().enumerate() {
        let k = cluster.kubectl(bin);
        let ns = format!("jobs-{i}");
        k.ok(&["create", "namespace", &ns]);
        k.ok_stdin(&["apply", "-n", &ns, "-f", "-"], WORK);

        // NonIndexed: parallelism bounds the active pods until the completions are reached.
        let first = eventually("two pods of the work Job", || {
            let pods = active_pods(&k, &ns, "work");
            (pods.len() == 2).then_some(pods)
        });
        let finalizers = k.ok(&[
            "get",
            "pod",
            &first[0],
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.finalizers}",
        ]);
        assert!(
            finalizers.contains("batch.kubernetes.io/job-tracking"),
            "{finalizers}"
        );
        for pod in &first {
            finish(&k, &ns, pod, "Succeeded");
        }
        let last = eventually("the third pod", || {
            let pods = active_pods(&k, &ns, "work");
            (pods.len() == 1 && !first.contains(&pods[0])).then_some(pods)
        });
        finish(&k, &ns, &last[0], "Succeeded");
        k.ok(&[
            "wait",
            "-n",
            &ns,
            "--for=condition=complete",
            "job/work",
            "--timeout=60s",
        ]);
        let rows = table(&k.ok(&["get", "job", "work", "-n", &ns]));
        assert_eq!(rows[1][1], "Complete", "{rows:?}");
        assert_eq!(rows[1][2], "3/3", "{rows:?}");
        assert_eq!(
            condition(&k, &ns, "work", "SuccessCriteriaMet"),
            "True CompletionsReached"
        );
        assert_eq!(
            job_field(
                &k,
                &ns,
                "work",
                "{.status.succeeded} {.status.uncountedTerminatedPods}"
            ),
            "3 {}"
        );
        // Counted pods keep no finalizer, so they can be deleted.
        let held = k.ok(&[
            "get",
            "pods",
            "-n",
            &ns,
            "-l",
            "batch.kubernetes.io/job-name=work",
            "-o",
            "jsonpath={.items[*].metadata.finalizers}",
        ]);
        assert_eq!(held.trim(), "", "finalizers left: {held}");
        let described = k.ok(&["describe", "job", "work", "-n", &ns]);
        assert!(described.contains("SuccessfulCreate"), "{described}");
        assert!(described.contains("Created pod: work-"), "{described}");
        assert!(described.contains("Job completed"), "{described}");

        // Indexed: one pod per index, each knowing its index; a failed index gets a new pod.
        let pods = eventually("a pod per index", || {
            let pods = active_pods(&k, &ns, "indexed");
            (pods.len() == 3).then_some(pods)
        });
        let index_of = |pod: &str| {
            k.ok(&[
                "get",
                "pod",
                pod,
                "-n",
                &ns,
                "-o",
                "jsonpath={.metadata.annotations.batch\\.kubernetes\\.io/job-completion-index} {.metadata.labels.batch\\.kubernetes\\.io/job-completion-index} {.spec.hostname} {.spec.containers[0].env[0].name}",
            ])
        };
        let mut seen: Vec<String> = pods.iter().map(|p| index_of(p)).collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                "0 0 indexed-0 JOB_COMPLETION_INDEX",
                "1 1 indexed-1 JOB_COMPLETION_INDEX",
                "2 2 indexed-2 JOB_COMPLETION_INDEX",
            ]
        );
        let by_index = |want: &str| {
            active_pods(&k, &ns, "indexed")
                .into_iter()
                .find(|p| index_of(p).starts_with(&format!("{want} ")))
        };
        let one = by_index("1").unwrap();
        finish(&k, &ns, &one, "Failed");
        for index in ["0", "2"] {
            finish(&k, &ns, &by_index(index).unwrap(), "Succeeded");
        }
        // The replacement waits out the failure backoff (10 s).
        let again = eventually("index 1 recreated", || by_index("1").filter(|p| *p != one));
        assert!(again.starts_with("indexed-1-"), "{again}");
        assert_eq!(
            job_field(&k, &ns, "indexed", "{.status.completedIndexes}"),
            "0,2"
        );
        finish(&k, &ns, &again, "Succeeded");
        k.ok(&[
            "wait",
            "-n",
            &ns,
            "--for=condition=complete",
            "job/indexed",
            "--timeout=60s",
        ]);
        assert_eq!(
            job_field(
                &k,
                &ns,
                "indexed",
                "{.status.completedIndexes} {.status.succeeded} {.status.failed}"
            ),
            "0-2 3 1"
        );
    }
}

const FAILING: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: fragile
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: slow
spec:
  activeDeadlineSeconds: 3
  parallelism: 2
  completions: 4
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox}
"#;

#[test]
fn failing_jobs_stop_at_their_limits() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(&["apply", "-f", "-"], FAILING);

    let pod = eventually("the fragile Job's pod", || {
        active_pods(&k, "default", "fragile").pop()
    });
    finish(&k, "default", &pod, "Failed");
    k.ok(&[
        "wait",
        "--for=condition=failed",
        "job/fragile",
        "--timeout=60s",
    ]);
    assert_eq!(
        condition(&k, "default", "fragile", "FailureTarget"),
        "True BackoffLimitExceeded"
    );
    assert_eq!(
        job_field(
            &k,
            "default",
            "fragile",
            "{.status.conditions[?(@.type==\"Failed\")].message}"
        ),
        "Job has reached the specified backoff limit"
    );
    let rows = table(&k.ok(&["get", "job", "fragile"]));
    assert_eq!(rows[1][1], "Failed", "{rows:?}");
    let described = k.ok(&["describe", "job", "fragile"]);
    assert!(described.contains("BackoffLimitExceeded"), "{described}");
    assert_eq!(active_pods(&k, "default", "fragile"), Vec::<String>::new());

    // The deadline fails the Job and deletes its running pods.
    k.ok(&[
        "wait",
        "--for=condition=failed",
        "job/slow",
        "--timeout=60s",
    ]);
    assert_eq!(
        condition(&k, "default", "slow", "Failed"),
        "True DeadlineExceeded"
    );
    eventually("the slow Job's pods deleted", || {
        active_pods(&k, "default", "slow").is_empty().then_some(())
    });
    assert_eq!(job_field(&k, "default", "slow", "{.status.failed}"), "2");
}

const SUSPENDED: &str = r#"
apiVersion: batch/v1
kind: Job
metadata:
  name: later
spec:
  suspend: true
  parallelism: 2
  completions: 2
  ttlSecondsAfterFinished: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: c, image: busybox}
"#;

#[test]
fn suspended_jobs_wait_and_finished_ones_expire() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(&bins[0]);
    k.ok_stdin(&["apply", "-f", "-"], SUSPENDED);
    eventually("the Suspended condition", || {
        (condition(&k, "default", "later", "Suspended") == "True JobSuspended").then_some(())
    });
    assert_eq!(active_pods(&k, "default", "later"), Vec::<String>::new());
    assert_eq!(job_field(&k, "default", "later", "{.status.startTime}"), "");

    k.ok(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    let pods = eventually("pods once resumed", || {
        let pods = active_pods(&k, "default", "later");
        (pods.len() == 2).then_some(pods)
    });
    assert_eq!(
        condition(&k, "default", "later", "Suspended"),
        "False JobResumed"
    );
    let described = k.ok(&["describe", "job", "later"]);
    assert!(described.contains("Job suspended"), "{described}");
    assert!(described.contains("Job resumed"), "{described}");

    for pod in &pods {
        finish(&k, "default", pod, "Succeeded");
    }
    // Two seconds after it completes, the Job and its pods are deleted.
    eventually("the finished Job deleted after its TTL", || {
        let r = k.run(&["get", "job", "later"]);
        (!r.ok && r.stderr.contains("NotFound")).then_some(())
    });
    eventually("its pods deleted", || {
        let left = k.ok(&[
            "get",
            "pods",
            "-l",
            "batch.kubernetes.io/job-name=later",
            "-o",
            "name",
        ]);
        left.trim().is_empty().then_some(())
    });
}

const CRONJOB: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  concurrencyPolicy: Forbid
  jobTemplate:
    metadata:
      labels: {from: tick}
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: c, image: busybox}
"#;

#[test]
fn cronjobs_start_jobs_on_schedule() {
    let cluster = Cluster::up();
    let bins = kubectls();
    let k = cluster.kubectl(bins.last().unwrap());
    k.ok_stdin(&["apply", "-f", "-"], CRONJOB);
    // The next minute starts a Job named after it.
    let job = common::eventually("a scheduled Job", Duration::from_secs(90), || {
        let out = k.ok(&[
            "get",
            "cronjob",
            "tick",
            "-o",
            "jsonpath={.status.active[*].name}",
        ]);
        (!out.is_empty()).then_some(out)
    });
    let minutes: i64 = job.strip_prefix("tick-").unwrap().parse().unwrap();
    let scheduled = k.ok(&[
        "get",
        "job",
        &job,
        "-o",
        "jsonpath={.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp} {.metadata.labels.from} {.metadata.ownerReferences[0].kind}",
    ]);
    let parts: Vec<&str> = scheduled.split(' ').collect();
    assert_eq!(parts[1..], ["tick", "CronJob"], "{scheduled}");
    let at: k8s_openapi::jiff::Timestamp = parts[0].parse().unwrap();
    assert_eq!(at.as_second(), minutes * 60, "{scheduled}");
    let last = k.ok(&[
        "get",
        "cronjob",
        "tick",
        "-o",
        "jsonpath={.status.lastScheduleTime}",
    ]);
    assert_eq!(last.parse::<k8s_openapi::jiff::Timestamp>().unwrap(), at);
    let rows = table(&k.ok(&["get", "cronjob", "tick"]));
    assert_eq!(rows[1][4], "1", "ACTIVE: {rows:?}");
    let described = k.ok(&["describe", "cronjob", "tick"]);
    assert!(
        described.contains(&format!("Created job {job}")),
        "{described}"
    );

    // When the Job completes it leaves the active list.
    let pod = eventually("the Job's pod", || active_pods(&k, "default", &job).pop());
    finish(&k, "default", &pod, "Succeeded");
    eventually("the active list emptied", || {
        let out = k.ok(&["get", "cronjob", "tick", "-o", "jsonpath={.status.active}"]);
        out.is_empty().then_some(())
    });
    let described = k.ok(&["describe", "cronjob", "tick"]);
    assert!(
        described.contains(&format!("Saw completed job: {job}, condition: Complete")),
        "{described}"
    );
    assert!(
        !k.ok(&[
            "get",
            "cronjob",
            "tick",
            "-o",
            "jsonpath={.status.lastSuccessfulTime}"
        ])
        .is_empty()
    );

    // Deleting the CronJob deletes its Jobs.
    k.ok(&["delete", "cronjob", "tick"]);
    eventually("its Jobs deleted", || {
        let left = k.ok(&["get", "jobs", "-l", "from=tick", "-o", "name"]);
        left.trim().is_empty().then_some(())
    });
}
