//! The scheduling queue, as upstream's `PriorityQueue`: three places a pending pod can be.
//!
//! - **activeQ**: ready to be tried, ordered by the QueueSort plugin; the scheduling loop pops
//!   from it.
//! - **backoffQ**: failed recently; waits `podInitialBackoffSeconds * 2^(attempts-1)` (at most
//!   `podMaxBackoffSeconds`) from its last failure, then moves to activeQ (checked every
//!   second).
//! - **unschedulable**: turned down by plugins; waits for a cluster event one of those plugins
//!   registered (and whose queueing hint agrees), then moves to backoffQ if still backing off
//!   or activeQ; pods left there for 5 minutes are moved anyway (checked every 30 seconds).
//!   Pods a PreEnqueue plugin keeps out (scheduling gates) also wait here, marked gated, until
//!   their own update lets them in.
//!
//! The queue also keeps the [`Nominator`]: pending pods with a nominated node, so that Filter
//! keeps room for them.
//!
//! Timeline of a pod: add -> activeQ (or gated) -> pop (attempts += 1, in flight) -> scheduled
//! and bound (done) | failed -> backoffQ (an error, or an event arrived while it was in
//! flight) or unschedulable -> ... -> activeQ again.

use crate::framework::cluster_event::{self, Change, EventResource, action};
use crate::framework::{Framework, Status};
use crate::node_info::pod_uid;
use crate::nominator::{Nominating, Nominator};
use k8s_openapi::api::core::v1::Pod;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a pod may stay unschedulable before it is tried again regardless of events.
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);
/// How often pods whose backoff is over move to activeQ.
pub const BACKOFF_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often pods left unschedulable too long are moved.
pub const LEFTOVER_FLUSH_INTERVAL: Duration = Duration::from_secs(30);

/// A pod in the queue with its scheduling history.
#[derive(Debug, Clone)]
pub struct QueuedPodInfo {
    pub pod: Arc<Pod>,
    /// When the pod was last added to a queue (or last failed).
    pub timestamp: Instant,
    /// When it was first popped, for latency metrics.
    pub initial_attempt: Option<Instant>,
    pub attempts: u32,
    /// The plugins that turned it down in the last attempt.
    pub unschedulable_plugins: BTreeSet<&'static str>,
    /// The PreEnqueue plugin keeping it out of activeQ, if any.
    pub gated_by: Option<&'static str>,
}

impl QueuedPodInfo {
    pub fn new(pod: Arc<Pod>, now: Instant) -> Self {
        Self {
            pod,
            timestamp: now,
            initial_attempt: None,
            attempts: 0,
            unschedulable_plugins: BTreeSet::new(),
            gated_by: None,
        }
    }

    pub fn uid(&self) -> &str {
        pod_uid(&self.pod)
    }
}

/// The profiles the queue serves, by `schedulerName`.
#[derive(Debug, Clone)]
pub struct Profiles {
    by_name: HashMap<String, Arc<Framework>>,
    /// The first profile: its QueueSort orders the queue (all profiles must agree).
    first: Arc<Framework>,
}

impl Profiles {
    /// At least one profile.
    pub fn new(first: Arc<Framework>, rest: Vec<Arc<Framework>>) -> Self {
        let mut by_name = HashMap::new();
        for fw in std::iter::once(first.clone()).chain(rest) {
            by_name.insert(fw.profile_name.clone(), fw);
        }
        Self { by_name, first }
    }

    /// The profile for the pod's `spec.schedulerName` (`default-scheduler` when unset).
    pub fn for_pod(&self, pod: &Pod) -> Option<&Arc<Framework>> {
        let name = pod
            .spec
            .as_ref()
            .and_then(|s| s.scheduler_name.as_deref())
            .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME);
        self.by_name.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

/// A binary heap over keyed items, ordered by a comparison given per call, that can update and
/// remove items by key (upstream's `heap.Heap`).
#[derive(Debug)]
struct KeyedHeap<T> {
    items: Vec<(String, T)>,
    index: HashMap<String, usize>,
}

impl<T> Default for KeyedHeap<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T> KeyedHeap<T> {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        let i = *self.index.get(key)?;
        self.items.get_mut(i).map(|(_, t)| t)
    }

    fn peek(&self) -> Option<&T> {
        self.items.first().map(|(_, t)| t)
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.items.swap(a, b);
        self.index.insert(self.items[a].0.clone(), a);
        self.index.insert(self.items[b].0.clone(), b);
    }

    fn up(&mut self, mut i: usize, less: &dyn Fn(&T, &T) -> bool) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if !less(&self.items[i].1, &self.items[parent].1) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn down(&mut self, mut i: usize, less: &dyn Fn(&T, &T) -> bool) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < self.items.len() && less(&self.items[l].1, &self.items[best].1) {
                best = l;
            }
            if r < self.items.len() && less(&self.items[r].1, &self.items[best].1) {
                best = r;
            }
            if best == i {
                return;
            }
            self.swap(i, best);
            i = best;
        }
    }

    /// Adds or replaces the item under `key`.
    fn push(&mut self, key: String, item: T, less: &dyn Fn(&T, &T) -> bool) {
        if let Some(&i) = self.index.get(&key) {
            self.items[i].1 = item;
            self.up(i, less);
            self.down(i, less);
            return;
        }
        self.items.push((key.clone(), item));
        let i = self.items.len() - 1;
        self.index.insert(key, i);
        self.up(i, less);
    }

    fn remove(&mut self, key: &str, less: &dyn Fn(&T, &T) -> bool) -> Option<T> {
        let i = self.index.remove(key)?;
        let last = self.items.len() - 1;
        if i != last {
            self.items.swap(i, last);
            self.index.insert(self.items[i].0.clone(), i);
        }
        let (_, item) = self.items.pop()?;
        if i < self.items.len() {
            self.up(i, less);
            self.down(i, less);
        }
        Some(item)
    }

    fn pop(&mut self, less: &dyn Fn(&T, &T) -> bool) -> Option<T> {
        let key = self.items.first()?.0.clone();
        self.remove(&key, less)
    }
}

#[derive(Debug, Default)]
struct State {
    active: KeyedHeap<QueuedPodInfo>,
    backoff: KeyedHeap<QueuedPodInfo>,
    unschedulable: HashMap<String, QueuedPodInfo>,
    /// Pods popped and not yet done, with the cycle they were popped in.
    in_flight: HashMap<String, u64>,
    scheduling_cycle: u64,
    /// The cycle in which the last move request (a cluster event) came.
    move_request_cycle: u64,
    closed: bool,
}

/// Sizes of the queue's parts, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub gated: usize,
}

/// The queue shared by the event handlers and the scheduling loop.
pub struct SchedulingQueue {
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    profiles: Profiles,
    initial_backoff: Duration,
    max_backoff: Duration,
    /// The pending pods nominated to nodes.
    pub nominator: Nominator,
}

impl std::fmt::Debug for SchedulingQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulingQueue")
            .field("pending", &self.pending())
            .finish()
    }
}

impl SchedulingQueue {
    pub fn new(profiles: Profiles, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
            profiles,
            initial_backoff,
            max_backoff,
            nominator: Nominator::default(),
        }
    }

    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn active_less(&self) -> impl Fn(&QueuedPodInfo, &QueuedPodInfo) -> bool + '_ {
        |a, b| self.profiles.first.less(a, b)
    }

    /// The backoff a pod has earned with its attempts (upstream's
    /// `calculateBackoffDuration`).
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        if attempts == 0 {
            return Duration::ZERO;
        }
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            if d > self.max_backoff.saturating_sub(d) {
                return self.max_backoff;
            }
            d += d;
        }
        d
    }

    fn backoff_expiry(&self, info: &QueuedPodInfo) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts)
    }

    fn backing_off(&self, info: &QueuedPodInfo, now: Instant) -> bool {
        self.backoff_expiry(info) > now
    }

    fn pre_enqueue(&self, pod: &Pod) -> Status {
        match self.profiles.for_pod(pod) {
            Some(fw) => fw.run_pre_enqueue(pod),
            None => Status::success(),
        }
    }

    /// Puts `info` into activeQ, or keeps it gated when a PreEnqueue plugin says so.
    fn enqueue_active(&self, st: &mut State, mut info: QueuedPodInfo) {
        let status = self.pre_enqueue(&info.pod);
        let key = info.uid().to_string();
        if !status.is_success() {
            info.gated_by = status.plugin();
            st.unschedulable.insert(key, info);
            return;
        }
        info.gated_by = None;
        let less = self.active_less();
        st.active.push(key, info, &less);
        self.wake.notify_one();
    }

    /// A new pending pod.
    pub fn add(&self, pod: Arc<Pod>, now: Instant) {
        self.nominator.add(pod.clone(), &Nominating::Noop);
        let mut st = self.lock();
        let key = pod_uid(&pod).to_string();
        if st.active.contains(&key)
            || st.backoff.contains(&key)
            || st.unschedulable.contains_key(&key)
        {
            drop(st);
            return self.update(pod, now);
        }
        if st.in_flight.contains_key(&key) {
            return;
        }
        self.enqueue_active(&mut st, QueuedPodInfo::new(pod, now));
    }

    /// A pending pod changed.
    pub fn update(&self, pod: Arc<Pod>, now: Instant) {
        self.nominator.pod_changed(pod.clone());
        let key = pod_uid(&pod).to_string();
        let mut st = self.lock();
        let less = self.active_less();
        if let Some(info) = st.active.get_mut(&key) {
            info.pod = pod;
            // The pod's priority may have changed: re-place it.
            if let Some(info) = st.active.remove(&key, &less) {
                st.active.push(key, info, &less);
            }
            return;
        }
        if let Some(info) = st.backoff.get_mut(&key) {
            info.pod = pod;
            return;
        }
        if let Some(mut info) = st.unschedulable.remove(&key) {
            let changed = spec_changed(&info.pod, &pod);
            info.pod = pod;
            if info.gated_by.is_some() {
                // Gates may be gone: ask the PreEnqueue plugins again.
                info.timestamp = now;
                self.enqueue_active(&mut st, info);
            } else if changed {
                // The pod itself changed in a way that may make it fit.
                if self.backing_off(&info, now) {
                    let bl = self.backoff_less();
                    st.backoff.push(key, info, &bl);
                } else {
                    self.enqueue_active(&mut st, info);
                }
            } else {
                st.unschedulable.insert(key, info);
            }
            return;
        }
        if st.in_flight.contains_key(&key) {
            return;
        }
        self.enqueue_active(&mut st, QueuedPodInfo::new(pod, now));
    }

    /// The pod was deleted (or bound by someone else).
    pub fn delete(&self, pod: &Pod) {
        self.nominator.delete(pod);
        let key = pod_uid(pod);
        let mut st = self.lock();
        let less = self.active_less();
        st.active.remove(key, &less);
        let bl = self.backoff_less();
        st.backoff.remove(key, &bl);
        st.unschedulable.remove(key);
    }

    fn backoff_less(&self) -> impl Fn(&QueuedPodInfo, &QueuedPodInfo) -> bool + '_ {
        |a, b| self.backoff_expiry(a) < self.backoff_expiry(b)
    }

    /// The next pod to schedule and the scheduling cycle it starts; waits while activeQ is
    /// empty. `None` once the queue is closed.
    pub async fn pop(&self) -> Option<(QueuedPodInfo, u64)> {
        loop {
            let notified = self.wake.notified();
            {
                let mut st = self.lock();
                if st.closed {
                    return None;
                }
                let less = self.active_less();
                if let Some(mut info) = st.active.pop(&less) {
                    st.scheduling_cycle += 1;
                    let cycle = st.scheduling_cycle;
                    info.attempts += 1;
                    info.initial_attempt.get_or_insert_with(Instant::now);
                    info.unschedulable_plugins.clear();
                    st.in_flight.insert(info.uid().to_string(), cycle);
                    if st.active.len() > 0 {
                        // Let another waiter (if any) see the rest.
                        self.wake.notify_one();
                    }
                    return Some((info, cycle));
                }
            }
            notified.await;
        }
    }

    /// The pod's attempt is over (bound, or requeued).
    pub fn done(&self, uid: &str) {
        self.lock().in_flight.remove(uid);
    }

    /// Stops `pop`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_waiters();
    }

    /// Requeues a pod whose attempt in `cycle` failed: to backoffQ after an error or when a
    /// cluster event arrived during the attempt, to the unschedulable pods otherwise.
    pub fn add_unschedulable(&self, mut info: QueuedPodInfo, cycle: u64, now: Instant) {
        let key = info.uid().to_string();
        let mut st = self.lock();
        st.in_flight.remove(&key);
        if st.active.contains(&key)
            || st.backoff.contains(&key)
            || st.unschedulable.contains_key(&key)
        {
            return;
        }
        info.timestamp = now;
        let errored = info.unschedulable_plugins.is_empty();
        if errored || st.move_request_cycle >= cycle {
            let bl = self.backoff_less();
            st.backoff.push(key, info, &bl);
        } else {
            st.unschedulable.insert(key, info);
        }
    }

    /// Moves the unschedulable pods `change` may help (per the rejecting plugins' registrations
    /// and hints) to backoffQ or activeQ.
    pub fn on_event(&self, change: &Change, now: Instant) {
        let mut st = self.lock();
        st.move_request_cycle = st.scheduling_cycle;
        let movable: Vec<String> = st
            .unschedulable
            .iter()
            .filter(|(_, info)| {
                if let Some(gate) = info.gated_by {
                    // Gated pods move on their own updates (and the periodic flush), and, as
                    // upstream, on the events their gating plugin registered when the plugins
                    // that rejected them agree (DefaultPreemption gates a preemptor until its
                    // victims are on their way out).
                    if change.event.resource == EventResource::Wildcard {
                        return true;
                    }
                    return self.profiles.for_pod(&info.pod).is_some_and(|fw| {
                        fw.registers(gate, change)
                            && !info.unschedulable_plugins.is_empty()
                            && fw.requeues(&info.pod, &info.unschedulable_plugins, change)
                    });
                }
                match self.profiles.for_pod(&info.pod) {
                    Some(fw) => fw.requeues(&info.pod, &info.unschedulable_plugins, change),
                    None => false,
                }
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in movable {
            if let Some(info) = st.unschedulable.remove(&key) {
                self.requeue(&mut st, info, now);
            }
        }
    }

    fn requeue(&self, st: &mut State, info: QueuedPodInfo, now: Instant) {
        if info.gated_by.is_none() && self.backing_off(&info, now) {
            let bl = self.backoff_less();
            st.backoff.push(info.uid().to_string(), info, &bl);
        } else {
            self.enqueue_active(st, info);
        }
    }

    /// Moves pods whose backoff is over to activeQ.
    pub fn flush_backoff_completed(&self, now: Instant) {
        let mut st = self.lock();
        let bl = self.backoff_less();
        loop {
            let due = st
                .backoff
                .peek()
                .is_some_and(|info| self.backoff_expiry(info) <= now);
            if !due {
                break;
            }
            if let Some(info) = st.backoff.pop(&bl) {
                self.enqueue_active(&mut st, info);
            }
        }
    }

    /// Moves pods left unschedulable longer than [`MAX_IN_UNSCHEDULABLE`].
    pub fn flush_unschedulable_leftover(&self, now: Instant) {
        let mut st = self.lock();
        let old: Vec<String> = st
            .unschedulable
            .iter()
            .filter(|(_, info)| now.duration_since(info.timestamp) > MAX_IN_UNSCHEDULABLE)
            .map(|(k, _)| k.clone())
            .collect();
        if old.is_empty() {
            return;
        }
        st.move_request_cycle = st.scheduling_cycle;
        for key in old {
            if let Some(info) = st.unschedulable.remove(&key) {
                self.requeue(&mut st, info, now);
            }
        }
    }

    /// Runs the periodic flushes until the queue is dropped.
    pub async fn run_flushes(self: Arc<Self>) {
        let mut backoff = tokio::time::interval(BACKOFF_FLUSH_INTERVAL);
        let mut leftover = tokio::time::interval(LEFTOVER_FLUSH_INTERVAL);
        loop {
            tokio::select! {
                _ = backoff.tick() => self.flush_backoff_completed(Instant::now()),
                _ = leftover.tick() => self.flush_unschedulable_leftover(Instant::now()),
            }
            let p = self.pending();
            crate::metrics::global().pending(p);
        }
    }

    pub fn pending(&self) -> Pending {
        let st = self.lock();
        let gated = st
            .unschedulable
            .values()
            .filter(|i| i.gated_by.is_some())
            .count();
        Pending {
            active: st.active.len(),
            backoff: st.backoff.len(),
            unschedulable: st.unschedulable.len() - gated,
            gated,
        }
    }

    /// Whether the pod is queued anywhere (for tests and diagnostics).
    pub fn contains(&self, uid: &str) -> bool {
        let st = self.lock();
        st.active.contains(uid) || st.backoff.contains(uid) || st.unschedulable.contains_key(uid)
    }
}

/// Whether an update to a pending pod may change where it fits: anything but its status and
/// bookkeeping metadata.
fn spec_changed(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
}

/// The event of an assigned pod's deletion, for [`SchedulingQueue::on_event`].
pub fn assigned_pod_deleted(pod: Arc<Pod>) -> Change {
    Change {
        event: cluster_event::ASSIGNED_POD_DELETE,
        old: Some(cluster_event::Object::Pod(pod)),
        new: None,
    }
}

/// Whether an update of an assigned pod lowered what it requests.
pub fn assigned_pod_scaled_down(old: &Pod, new: &Pod) -> bool {
    let (a, b) = (
        crate::node_info::pod_requests(old, false),
        crate::node_info::pod_requests(new, false),
    );
    b.milli_cpu < a.milli_cpu || b.memory < a.memory
}

/// The event for an assigned pod update that scaled it down.
pub fn assigned_pod_update(old: Arc<Pod>, new: Arc<Pod>) -> Change {
    Change {
        event: crate::framework::ClusterEvent::new(
            EventResource::AssignedPod,
            action::UPDATE_POD_SCALE_DOWN,
            "AssignedPodUpdate",
        ),
        old: Some(cluster_event::Object::Pod(old)),
        new: Some(cluster_event::Object::Pod(new)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::framework::cluster_event::{NODE_ADD, Object};
    use crate::node_info::testing::*;
    use k8s_openapi::api::core::v1::PodSchedulingGate;

    fn framework() -> Arc<Framework> {
        Arc::new(crate::config::framework_for_tests(
            &Config::default().profiles[0],
        ))
    }

    fn queue() -> SchedulingQueue {
        SchedulingQueue::new(
            Profiles::new(framework(), vec![]),
            Duration::from_secs(1),
            Duration::from_secs(10),
        )
    }

    fn with_priority(name: &str, priority: i32) -> Arc<Pod> {
        let mut p = pod(name, &[&[]]);
        p.spec.as_mut().unwrap().priority = Some(priority);
        Arc::new(p)
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let q = queue();
        let secs: Vec<u64> = (0..7).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(secs, vec![0, 1, 2, 4, 8, 10, 10]);
    }

    #[tokio::test]
    async fn pops_by_priority_then_age() {
        let q = queue();
        let t = Instant::now();
        q.add(with_priority("low", 0), t);
        q.add(with_priority("high", 100), t + Duration::from_millis(1));
        q.add(with_priority("low2", 0), t + Duration::from_millis(2));
        let order: Vec<String> = [q.pop().await, q.pop().await, q.pop().await]
            .into_iter()
            .map(|p| p.unwrap().0.pod.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(order, vec!["high", "low", "low2"]);
    }

    #[tokio::test]
    async fn unschedulable_pods_move_on_events_their_rejectors_registered() {
        let q = queue();
        let t = Instant::now();
        let p = Arc::new(pod("p", &[&[("cpu", "2")]]));
        q.add(p.clone(), t);
        let (mut info, cycle) = q.pop().await.unwrap();
        info.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(info, cycle, t);
        assert_eq!(q.pending().unschedulable, 1);
        // A node too small does not help (the hint says skip).
        let small = Change {
            event: NODE_ADD,
            old: None,
            new: Some(Object::Node(Arc::new(node("s", "1", "1Gi")))),
        };
        q.on_event(&small, t);
        assert_eq!(q.pending().unschedulable, 1);
        // A big enough node does; the pod is still backing off (1s after its first attempt).
        let big = Change {
            event: NODE_ADD,
            old: None,
            new: Some(Object::Node(Arc::new(node("b", "4", "1Gi")))),
        };
        q.on_event(&big, t);
        assert_eq!(q.pending().backoff, 1);
        q.flush_backoff_completed(t + Duration::from_millis(500));
        assert_eq!(q.pending().backoff, 1);
        q.flush_backoff_completed(t + Duration::from_secs(1));
        assert_eq!(q.pending().active, 1);
    }

    #[tokio::test]
    async fn errors_and_events_during_the_attempt_go_to_backoff() {
        let q = queue();
        let t = Instant::now();
        q.add(Arc::new(pod("p", &[&[]])), t);
        let (info, cycle) = q.pop().await.unwrap();
        // No rejecting plugin: an error.
        q.add_unschedulable(info, cycle, t);
        assert_eq!(q.pending().backoff, 1);

        q.add(Arc::new(pod("r", &[&[]])), t);
        q.flush_backoff_completed(t + Duration::from_secs(2));
        let (first, c1) = q.pop().await.unwrap();
        let (mut second, c2) = q.pop().await.unwrap();
        let _ = (first, c1);
        q.on_event(&assigned_pod_deleted(Arc::new(pod("gone", &[&[]]))), t);
        second.unschedulable_plugins.insert("NodeResourcesFit");
        q.add_unschedulable(second, c2, t);
        assert_eq!(q.pending().backoff, 1);
    }

    #[tokio::test]
    async fn gated_pods_wait_for_their_gates_to_go() {
        let q = queue();
        let t = Instant::now();
        let mut p = pod("g", &[&[]]);
        p.spec.as_mut().unwrap().scheduling_gates = Some(vec![PodSchedulingGate {
            name: "wait".into(),
        }]);
        q.add(Arc::new(p.clone()), t);
        assert_eq!(q.pending().gated, 1);
        q.on_event(
            &Change {
                event: NODE_ADD,
                old: None,
                new: Some(Object::Node(Arc::new(node("n", "1", "1Gi")))),
            },
            t,
        );
        assert_eq!(q.pending().gated, 1);
        p.spec.as_mut().unwrap().scheduling_gates = None;
        q.update(Arc::new(p), t);
        assert_eq!(q.pending().active, 1);
        assert_eq!(q.pending().gated, 0);
    }

    #[tokio::test]
    async fn leftovers_move_after_five_minutes_and_deletes_remove() {
        let q = queue();
        let t = Instant::now();
        let p = Arc::new(pod("p", &[&[]]));
        q.add(p.clone(), t);
        let (mut info, cycle) = q.pop().await.unwrap();
        info.unschedulable_plugins.insert("NodeAffinity");
        q.add_unschedulable(info, cycle, t);
        q.flush_unschedulable_leftover(t + Duration::from_secs(60));
        assert_eq!(q.pending().unschedulable, 1);
        q.flush_unschedulable_leftover(t + Duration::from_secs(301));
        assert_eq!(q.pending().active, 1);
        q.delete(&p);
        assert_eq!(q.pending(), Pending::default());
    }
}
