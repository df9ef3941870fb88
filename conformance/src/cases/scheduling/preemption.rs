//! `[sig-scheduling] SchedulerPreemption [Serial]` (upstream `test/e2e/scheduling/preemption.go`):
//! a higher-priority (or system-critical) pod preempts the lowest-priority pod where no node
//! has room, the victim gets the `DisruptionTarget` condition, ReplicaSets' pods are preempted
//! no more than needed, and the PriorityClass API refuses changes to `value`. Room is counted
//! in extended resources the cases advertise on nodes through `status.capacity` and
//! `status.allocatable`, as upstream's do.
//!
//! Every case runs the outer Describe's BeforeEach (three PriorityClasses, the ready
//! schedulable nodes) and, deferred, its AfterEach (classes deleted, the extended resource
//! taken off the nodes), as ginkgo runs them for the nested Contexts too.

use super::pause_pods::{
    PausePodConfig, create_pause_pod, get_node_that_can_run_pod, init_pause_pod, node_affinity,
    requests_and_limits, resource_list, run_pause_pod,
};
use crate::case_fn;
use crate::cases::{Case, Describe};
use crate::framework::pod::{
    POD_DELETE_TIMEOUT, POD_GET_TIMEOUT, POD_START_TIMEOUT, POLL, POLL_SHORT_TIMEOUT,
    remove_finalizer, verify_has_condition, wait_running, wait_terminating,
};
use crate::framework::wait::poll;
use crate::framework::{Framework, PodSecurityLevel, api, new_uuid, node};
use anyhow::{Context, Result, bail, ensure};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const D: Describe = Describe::new("sched-preemption").with_pod_security(PodSecurityLevel::Baseline);
/// The PreemptionExecutionPath Context's own framework.
const PATH: Describe =
    Describe::new("sched-preemption-path").with_pod_security(PodSecurityLevel::Baseline);
/// The PriorityClass endpoints Context's own framework.
const ENDPOINTS: Describe =
    Describe::new("sched-preemption-path").with_pod_security(PodSecurityLevel::Privileged);

/// Upstream's `testExtendedResource`.
const TEST_EXTENDED_RESOURCE: &str = "scheduling.k8s.io/foo";
/// Upstream's `testFinalizer`.
const TEST_FINALIZER: &str = "example.com/test-finalizer";
/// The outer framework's base name, which names the three PriorityClasses.
const BASE_NAME: &str = "sched-preemption";

pub fn cases() -> Vec<Case> {
    vec![
        D.case(
            "[sig-scheduling] SchedulerPreemption [Serial] validates basic preemption works [Conformance]",
            case_fn!(basic_preemption),
        ),
        D.case(
            "[sig-scheduling] SchedulerPreemption [Serial] validates lower priority pod preemption by critical pod [Conformance]",
            case_fn!(critical_pod_preemption),
        ),
        D.case(
            "[sig-scheduling] SchedulerPreemption [Serial] validates pod disruption condition is added to the preempted pod [Conformance]",
            case_fn!(disruption_condition),
        ),
        PATH.case(
            "[sig-scheduling] SchedulerPreemption [Serial] PreemptionExecutionPath runs ReplicaSets to verify preemption running path [Conformance]",
            case_fn!(preemption_execution_path),
        ),
        ENDPOINTS.case(
            "[sig-scheduling] SchedulerPreemption [Serial] PriorityClass endpoints verify PriorityClass endpoints can be operated with different HTTP methods [Conformance]",
            case_fn!(priority_class_endpoints),
        ),
    ]
}

fn low() -> String {
    format!("{BASE_NAME}-low-priority")
}
fn medium() -> String {
    format!("{BASE_NAME}-medium-priority")
}
fn high() -> String {
    format!("{BASE_NAME}-high-priority")
}

fn priority_class(
    name: &str,
    value: i32,
    labels: Option<BTreeMap<String, String>>,
) -> PriorityClass {
    PriorityClass {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels,
            ..Default::default()
        },
        value,
        ..Default::default()
    }
}

/// Creates a PriorityClass; one that exists already is fine (upstream's
/// `expected 'alreadyExists' as error`). Returns the class as stored.
async fn create_priority_class(
    f: &Framework,
    name: &str,
    value: i32,
    labels: Option<BTreeMap<String, String>>,
) -> Result<PriorityClass> {
    let api = f.api_all::<PriorityClass>();
    match api
        .create(&PostParams::default(), &priority_class(name, value, labels))
        .await
    {
        Ok(pc) => Ok(pc),
        Err(e) if api::is_already_exists(&e) => {
            f.log(format!(
                "Failed to create priority '{name}/{value}'. Reason: AlreadyExists. Msg: {}",
                api::describe(&e)
            ));
            api.get(name)
                .await
                .with_context(|| format!("getting PriorityClass {name}"))
        }
        Err(e) => Err(e).with_context(|| {
            format!("expected 'alreadyExists' as error creating PriorityClass {name}")
        }),
    }
}

/// Deletes PriorityClasses after the case (grace period 0, errors ignored, as upstream does).
fn defer_delete_classes(f: &Framework, names: Vec<String>) {
    let api = f.api_all::<PriorityClass>();
    f.defer(format!("deleting PriorityClasses {names:?}"), async move {
        for n in names {
            let _ = api
                .delete(&n, &DeleteParams::default().grace_period(0))
                .await;
        }
    });
}

/// Takes `resource` off the nodes' capacity and allocatable after the case.
fn defer_remove_resource(f: &Framework, nodes: Vec<String>, resource: &'static str) {
    let client = f.client.clone();
    f.defer(format!("removing {resource} from {nodes:?}"), async move {
        for n in nodes {
            let _ = node::set_extended_resource(&client, &n, resource, None).await;
        }
    });
}

/// The outer BeforeEach (and, deferred, AfterEach): the low, medium and high classes, and
/// the ready schedulable nodes.
async fn before_each(f: &Framework) -> Result<Vec<Node>> {
    let classes = [(low(), 1), (medium(), 100), (high(), 1000)];
    for (name, value) in &classes {
        create_priority_class(f, name, *value, None).await?;
    }
    node::all_ready(&f.client, Duration::from_secs(60)).await?;
    let nodes = node::ready_schedulable(&f.client).await?;
    let names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    defer_remove_resource(f, names, TEST_EXTENDED_RESOURCE);
    defer_delete_classes(f, classes.into_iter().map(|(n, _)| n).collect());
    Ok(nodes)
}

fn name_of(n: &Node) -> String {
    n.metadata.name.clone().unwrap_or_default()
}

/// Whether the pod is gone or terminating (upstream's `podPreempted`).
async fn preempted(pods: &Api<Pod>, name: &str) -> Result<bool> {
    match pods.get(name).await {
        Ok(p) => Ok(p.metadata.deletion_timestamp.is_some()),
        Err(e) if api::is_not_found(&e) => Ok(true),
        Err(e) => Err(e).with_context(|| format!("getting pod {name}")),
    }
}

/// Two pods per node use 4/5 of an extended resource each node advertises; the first pod
/// has low priority, the others medium. Returns the pods' names once they run.
async fn fill_nodes(f: &Framework, nodes: &[Node]) -> Result<Vec<String>> {
    f.step("Create pods that use 4/5 of node resources.");
    let mut pods = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let node_name = name_of(n);
        // Update each node to advertise 5 available extended resources.
        node::set_extended_resource(&f.client, &node_name, TEST_EXTENDED_RESOURCE, Some("5"))
            .await?;
        for j in 0..2 {
            // Request 2 of the available resources for the victim pods; the first pod low
            // priority and the rest medium priority.
            let priority = if pods.is_empty() { low() } else { medium() };
            let conf = PausePodConfig {
                name: format!("pod{i}-{j}-{priority}"),
                priority_class_name: Some(priority),
                resources: Some(requests_and_limits(resource_list(&[(
                    TEST_EXTENDED_RESOURCE,
                    "2",
                )]))),
                affinity: Some(node_affinity(true, "metadata.name", "In", &[&node_name])),
                ..Default::default()
            };
            create_pause_pod(f, &conf).await?;
            f.log(format!("Created pod: {}", conf.name));
            pods.push(conf.name);
        }
    }
    if pods.len() < 2 {
        bail!(
            "We need at least two pods to be created but all nodes are already heavily utilized, so preemption tests cannot be run"
        );
    }
    f.step("Wait for pods to be scheduled.");
    let api = f.api::<Pod>();
    for p in &pods {
        wait_running(&api, p, POD_START_TIMEOUT).await?;
    }
    Ok(pods)
}

/// The first (low priority) pod must be preempted, the others untouched.
async fn expect_only_first_preempted(f: &Framework, pods: &[String]) -> Result<()> {
    let api = f.api::<Pod>();
    let first_preempted = preempted(&api, &pods[0]).await?;
    for p in &pods[1..] {
        let live = api
            .get(p)
            .await
            .with_context(|| format!("getting pod {p}"))?;
        ensure!(
            live.metadata.deletion_timestamp.is_none(),
            "pod {p} should not be deleted, it has deletionTimestamp {:?}",
            live.metadata.deletion_timestamp
        );
    }
    ensure!(first_preempted, "expected pod {} to be preempted", pods[0]);
    Ok(())
}

async fn basic_preemption(f: &Framework) -> Result<()> {
    let nodes = before_each(f).await?;
    let pods = fill_nodes(f, &nodes).await?;
    f.step("Run a high priority pod that has same requirements as that of lower priority pod");
    // It must be scheduled on the node of the low priority pod.
    run_pause_pod(
        f,
        &PausePodConfig {
            name: "preemptor-pod".into(),
            priority_class_name: Some(high()),
            resources: Some(requests_and_limits(resource_list(&[(
                TEST_EXTENDED_RESOURCE,
                "2",
            )]))),
            ..Default::default()
        },
    )
    .await?;
    expect_only_first_preempted(f, &pods).await
}

async fn critical_pod_preemption(f: &Framework) -> Result<()> {
    let nodes = before_each(f).await?;
    let pods = fill_nodes(f, &nodes).await?;
    f.step("Run a critical pod that use same resources as that of a lower priority pod");
    let system: Api<Pod> = f.api_in("kube-system");
    {
        // Clean up the critical pod whatever happens.
        let system = system.clone();
        f.defer("deleting kube-system/critical-pod", async move {
            let _ = system
                .delete("critical-pod", &DeleteParams::default().grace_period(0))
                .await;
        });
    }
    run_pause_pod(
        f,
        &PausePodConfig {
            name: "critical-pod".into(),
            namespace: Some("kube-system".into()),
            priority_class_name: Some("system-cluster-critical".into()),
            resources: Some(requests_and_limits(resource_list(&[(
                TEST_EXTENDED_RESOURCE,
                "2",
            )]))),
            ..Default::default()
        },
    )
    .await?;
    // Make sure that the lowest priority pod is deleted.
    expect_only_first_preempted(f, &pods).await
}

async fn disruption_condition(f: &Framework) -> Result<()> {
    let nodes = before_each(f).await?;
    let pod_res = requests_and_limits(resource_list(&[(TEST_EXTENDED_RESOURCE, "1")]));

    f.step("Select a node to run the lower and higher priority pods");
    let Some(first) = nodes.first() else {
        bail!("We need at least one node for the test to run");
    };
    let node_name = name_of(first);
    node::set_extended_resource(&f.client, &node_name, TEST_EXTENDED_RESOURCE, Some("1")).await?;
    // Both pods go to the same node.
    let affinity = node_affinity(true, "metadata.name", "In", &[&node_name]);

    f.step("Create a low priority pod that consumes 1/1 of node resources");
    let victim = PausePodConfig {
        name: "victim-pod".into(),
        priority_class_name: Some(low()),
        resources: Some(pod_res.clone()),
        finalizers: vec![TEST_FINALIZER.into()],
        affinity: Some(affinity.clone()),
        ..Default::default()
    };
    create_pause_pod(f, &victim).await?;
    f.log("Created pod: victim-pod");

    f.step("Wait for the victim pod to be scheduled");
    let pods = f.api::<Pod>();
    wait_running(&pods, "victim-pod", POD_START_TIMEOUT).await?;
    {
        // Remove the finalizer so that the victim pod can be deleted.
        let pods = pods.clone();
        f.defer("removing the victim pod's finalizer", async move {
            let _ = remove_finalizer(&pods, "victim-pod", TEST_FINALIZER).await;
        });
    }

    f.step("Create a high priority pod to trigger preemption of the lower priority pod");
    create_pause_pod(
        f,
        &PausePodConfig {
            name: "preemptor-pod".into(),
            priority_class_name: Some(high()),
            resources: Some(pod_res),
            affinity: Some(affinity),
            ..Default::default()
        },
    )
    .await?;
    f.log("Created pod: preemptor-pod");

    f.step("Waiting for the victim pod to be terminating");
    wait_terminating(&pods, "victim-pod", POD_DELETE_TIMEOUT).await?;

    f.step("Verifying the pod has the pod disruption condition");
    verify_has_condition(&pods, "victim-pod", "DisruptionTarget").await
}

/// A fake CPU resource the cases advertise, so that no kubelet corrects it back.
const FAKE_CPU: &str = "example.com/fakecpu";

/// Upstream's `initPauseRS`: a ReplicaSet `rs-<pod name>` of pause pods.
fn pause_rs(conf: &PausePodConfig, replicas: i32) -> ReplicaSet {
    let pod = init_pause_pod(conf);
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("rs-{}", conf.name)),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(conf.labels.clone()),
                ..Default::default()
            },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(conf.labels.clone()),
                    ..Default::default()
                }),
                spec: pod.spec,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Upstream's `runPauseRS`: creates the ReplicaSet and waits `PodGetTimeout` for all its
/// replicas to be available (`WaitForReplicaSetTargetAvailableReplicasWithTimeout`).
async fn run_pause_rs(f: &Framework, conf: &PausePodConfig, replicas: i32) -> Result<()> {
    let api = f.api::<ReplicaSet>();
    let rs = pause_rs(conf, replicas);
    let name = rs.metadata.name.clone().unwrap_or_default();
    api.create(&PostParams::default(), &rs)
        .await
        .with_context(|| format!("creating ReplicaSet {name}"))?;
    poll(POLL, POD_GET_TIMEOUT, async || {
        let rs = api.get(&name).await?;
        let status = rs.status.unwrap_or_default();
        Ok(
            rs.metadata.generation.unwrap_or(0) <= status.observed_generation.unwrap_or(0)
                && status.available_replicas.unwrap_or(0) == replicas,
        )
    })
    .await
    .with_context(|| format!("waiting for ReplicaSet {name} to have {replicas} available replicas"))
}

/// Counts the pods of `rs-pod1`, `rs-pod2` and `rs-pod3` ever seen in the namespace (by uid),
/// as upstream's informer counts its add notifications. Stops when dropped.
struct PodCounter {
    seen: Arc<Mutex<[BTreeSet<String>; 3]>>,
    task: tokio::task::JoinHandle<()>,
}

impl PodCounter {
    fn start(pods: Api<Pod>) -> Self {
        let seen: Arc<Mutex<[BTreeSet<String>; 3]>> = Arc::default();
        let counts = seen.clone();
        let task = tokio::spawn(async move {
            let stream = watcher::watcher(pods, watcher::Config::default());
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let (Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p))) = event
                else {
                    continue;
                };
                let name = p.metadata.name.as_deref().unwrap_or_default();
                let Some(i) = ["rs-pod1", "rs-pod2", "rs-pod3"]
                    .iter()
                    .position(|prefix| name.starts_with(prefix))
                else {
                    continue;
                };
                let uid = p.metadata.uid.clone().unwrap_or_default();
                counts.lock().unwrap_or_else(|e| e.into_inner())[i].insert(uid);
            }
        });
        PodCounter { seen, task }
    }

    fn counts(&self) -> [usize; 3] {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        [seen[0].len(), seen[1].len(), seen[2].len()]
    }
}

impl Drop for PodCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks the counts against the expected `[2, 2, 1]`: `Ok(false)` while some are short,
/// an error as soon as one is over.
fn check_counts(f: &Framework, got: [usize; 3], expected: [usize; 3]) -> Result<bool> {
    for i in 0..3 {
        if got[i] > expected[i] {
            bail!(
                "rs{} had more than {} pods created: {}",
                i + 1,
                expected[i],
                got[i]
            );
        }
    }
    for i in 0..3 {
        if got[i] < expected[i] {
            f.log(format!(
                "waiting for rs{} to observe {} pod creations, got {}",
                i + 1,
                expected[i],
                got[i]
            ));
            return Ok(false);
        }
    }
    Ok(true)
}

async fn preemption_execution_path(f: &Framework) -> Result<()> {
    before_each(f).await?;
    // The Context's BeforeEach: a node with 1000 fake CPUs and four classes p1..p4.
    f.step("Finding an available node");
    let node_name = get_node_that_can_run_pod(f).await?;
    f.log(format!("found a healthy node: {node_name}"));
    let node_obj = f
        .api_all::<Node>()
        .get(&node_name)
        .await
        .with_context(|| format!("error getting node {node_name:?}"))?;
    let Some(hostname) = node_obj
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/hostname"))
        .cloned()
    else {
        bail!("error getting kubernetes.io/hostname label on node {node_name}");
    };
    node::set_extended_resource(&f.client, &node_name, FAKE_CPU, Some("1000")).await?;
    let mut classes = Vec::new();
    for i in 1..=4 {
        let name = format!("p{i}");
        create_priority_class(f, &name, i, None).await?;
        classes.push(name);
    }
    // The Context's AfterEach, which ginkgo runs before the outer one.
    defer_delete_classes(f, classes);
    defer_remove_resource(f, vec![node_name.clone()], FAKE_CPU);

    // An informer of the namespace's pods, counting the ReplicaSets' pod creations.
    let counter = PodCounter::start(f.api::<Pod>());

    let conf = |i: u32, fake_cpu: &str| PausePodConfig {
        name: format!("pod{i}"),
        namespace: Some(f.ns().to_string()),
        labels: BTreeMap::from([("name".into(), format!("pod{i}"))]),
        priority_class_name: Some(format!("p{i}")),
        node_selector: Some(BTreeMap::from([(
            "kubernetes.io/hostname".into(),
            hostname.clone(),
        )])),
        resources: Some(requests_and_limits(resource_list(&[(FAKE_CPU, fake_cpu)]))),
        ..Default::default()
    };
    // ReplicaSets 1, 2 and 3 occupy 950 of the 1000 fake CPUs.
    for (i, fake_cpu) in [(1, "200"), (2, "300"), (3, "450")] {
        run_pause_rs(f, &conf(i, fake_cpu), 1).await?;
    }
    f.log(format!("pods created so far: {:?}", counter.counts()));

    // The preemptor.
    let preemptor = conf(4, "500");
    create_pause_pod(f, &preemptor).await?;
    // Upstream's `waitForPreemptingWithTimeout`: the preemptor gets a node.
    let pods = f.api::<Pod>();
    tokio::time::sleep(POLL).await;
    poll(POLL, POD_GET_TIMEOUT, async || {
        let p = pods.get("pod4").await?;
        Ok(p.spec
            .and_then(|s| s.node_name)
            .is_some_and(|n| !n.is_empty()))
    })
    .await
    .context("pod pod4 failed to preempt other pods")?;
    f.log(format!("pods created so far: {:?}", counter.counts()));

    // More pods than expected means over-preemption, fewer under-preemption; the pods of
    // ReplicaSets 1 and 2 are expected to be preempted once.
    let expected = [2, 2, 1];
    tokio::time::sleep(POLL).await;
    let observed = poll(POLL, POLL_SHORT_TIMEOUT, async || {
        check_counts(f, counter.counts(), expected)
    })
    .await;
    if let Err(e) = observed {
        f.log(format!("pods created so far: {:?}", counter.counts()));
        return Err(e.context("failed pod observation expectations"));
    }
    // The state must hold for a while; otherwise pods may be over-preempted.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = counter.counts();
    for i in 0..3 {
        if got[i] < expected[i] {
            bail!(
                "pods of ReplicaSet{} have been under-preempted: expect {} pod names, but got {}",
                i + 1,
                expected[i],
                got[i]
            );
        }
        if got[i] > expected[i] {
            bail!(
                "pods of ReplicaSet{} have been over-preempted: expect {} pod names, but got {}",
                i + 1,
                expected[i],
                got[i]
            );
        }
    }
    Ok(())
}

/// Upstream's `patchPriorityClass`: the strategic merge patch from `old` to `new` (only
/// `value` or `description` differ in this case).
async fn patch_priority_class(
    client: &Client,
    old: &PriorityClass,
    new: &PriorityClass,
) -> Result<PriorityClass, kube::Error> {
    let mut patch = serde_json::Map::new();
    if old.value != new.value {
        patch.insert("value".into(), new.value.into());
    }
    if old.description != new.description {
        patch.insert("description".into(), new.description.clone().into());
    }
    let name = old.metadata.name.clone().unwrap_or_default();
    Api::<PriorityClass>::all(client.clone())
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(serde_json::Value::Object(patch)),
        )
        .await
}

async fn priority_class_endpoints(f: &Framework) -> Result<()> {
    before_each(f).await?;
    // The Context's BeforeEach: p1 and p2, labelled for the AfterEach's collection delete.
    let test_uuid = new_uuid();
    let labels = BTreeMap::from([("e2e".to_string(), test_uuid.clone())]);
    let mut pcs = Vec::new();
    for i in 1..=2 {
        pcs.push(create_priority_class(f, &format!("p{i}"), i, Some(labels.clone())).await?);
    }
    let api = f.api_all::<PriorityClass>();
    {
        let api = api.clone();
        let selector = format!("e2e={test_uuid}");
        f.defer("deleting the PriorityClasses by collection", async move {
            let _ = api
                .delete_collection(
                    &DeleteParams::default(),
                    &ListParams::default().labels(&selector),
                )
                .await;
        });
    }

    // 1. Patch/Update on immutable fields will fail.
    let mut pc_copy = pcs[0].clone();
    pc_copy.value *= 10;
    match patch_priority_class(&f.client, &pcs[0], &pc_copy).await {
        Ok(_) => bail!("expect a patch error on an immutable field"),
        Err(e) => f.log(api::describe(&e)),
    }
    let mut pc_copy = pcs[1].clone();
    pc_copy.value *= 10;
    let name1 = pcs[1].metadata.name.clone().unwrap_or_default();
    match api.replace(&name1, &PostParams::default(), &pc_copy).await {
        Ok(_) => bail!("expect an update error on an immutable field"),
        Err(e) => f.log(api::describe(&e)),
    }

    // 2. Patch/Update on mutable fields will succeed.
    let new_desc = "updated description";
    let mut pc_copy = pcs[0].clone();
    pc_copy.description = Some(new_desc.into());
    patch_priority_class(&f.client, &pcs[0], &pc_copy)
        .await
        .context("patching the description")?;
    let mut pc_copy = pcs[1].clone();
    pc_copy.description = Some(new_desc.into());
    api.replace(&name1, &PostParams::default(), &pc_copy)
        .await
        .context("updating the description")?;

    // 3. List existing PriorityClasses.
    api.list(&ListParams::default())
        .await
        .context("listing PriorityClasses")?;

    // 4. Verify fields of updated PriorityClasses.
    for pc in &pcs {
        let name = pc.metadata.name.clone().unwrap_or_default();
        let live = api
            .get(&name)
            .await
            .with_context(|| format!("getting PriorityClass {name}"))?;
        ensure!(
            live.value == pc.value,
            "PriorityClass {name}: value {} should be {}",
            live.value,
            pc.value
        );
        ensure!(
            live.description.as_deref() == Some(new_desc),
            "PriorityClass {name}: description {:?} should be {new_desc:?}",
            live.description
        );
    }
    Ok(())
}
