//! The scheduler's task-slot book, kept honest.
//!
//! Ballista 55's push scheduler reserves an executor's vcores when it binds a task and gives
//! them back when the task's status comes in. When an executor is lost mid-job, Ballista rolls
//! back the running stage and cancels that stage's tasks on the *surviving* executors; their
//! statuses then arrive for a stage (or a job) the scheduler no longer tracks, and their vcores
//! are never given back. With one task slot per executor the next job waits for ever (seen in
//! tests/cluster.rs: the query re-run after a lost executor hung the CI run).
//!
//! [`SlotLedger`] wraps Ballista's in-memory cluster state and keeps its own copy of every
//! executor's free vcores. Whenever vcores are given back it compares, executor by executor,
//! what is free with what the tasks still running on it hold (read from the jobs' execution
//! graphs) and returns what nobody holds any more. Every moment at which the two are briefly
//! out of step (a task bound but not yet counted, a task finished but not yet marked so) shows
//! more free than held, never less, so only a real leak is refunded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use ballista_core::JobId;
use ballista_core::error::Result;
use ballista_core::serde::protobuf::ExecutorHeartbeat;
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::state::task_manager::JobInfoCache;

/// The jobs whose running tasks hold vcores (the scheduler's running-job cache).
pub(crate) type RunningJobs = Arc<dyn Fn() -> Arc<HashMap<JobId, JobInfoCache>> + Send + Sync>;

/// One executor's vcores as the scheduler sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Book {
    /// All its vcores.
    pub total: u32,
    /// Those not reserved by a bound task.
    pub free: u32,
}

/// The vcores to give back: for each executor, what is neither free nor held by a running
/// task. Executors with more free than expected (a refund not yet matched by the graph) are
/// left alone.
pub(crate) fn leaked(
    books: &HashMap<String, Book>,
    held: &HashMap<String, u32>,
) -> Vec<ExecutorSlot> {
    let mut out: Vec<ExecutorSlot> = books
        .iter()
        .filter_map(|(id, b)| {
            let expected = b.total.saturating_sub(held.get(id).copied().unwrap_or(0));
            (b.free < expected).then(|| (id.clone(), expected - b.free))
        })
        .collect();
    out.sort();
    out
}

/// Ballista's cluster state with a checked book of free vcores, see the module docs.
pub(crate) struct SlotLedger {
    inner: Arc<dyn ClusterState>,
    books: Mutex<HashMap<String, Book>>,
    running: OnceLock<RunningJobs>,
}

impl SlotLedger {
    pub(crate) fn new(inner: Arc<dyn ClusterState>) -> SlotLedger {
        SlotLedger {
            inner,
            books: Mutex::new(HashMap::new()),
            running: OnceLock::new(),
        }
    }

    /// Where the running jobs are read from (the scheduler, once it exists).
    pub(crate) fn watch(&self, running: RunningJobs) {
        let _ = self.running.set(running);
    }

    fn with_books<R>(&self, f: impl FnOnce(&mut HashMap<String, Book>) -> R) -> R {
        let mut guard = match self.books.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// The vcores each executor's running tasks hold, from the jobs' execution graphs.
    async fn held(&self) -> Option<HashMap<String, u32>> {
        let jobs = (self.running.get()?)();
        let mut held: HashMap<String, u32> = HashMap::new();
        for job in jobs.values() {
            let graph = job.execution_graph.read().await;
            for t in graph.running_tasks() {
                let vcores = graph.task_vcores(t.stage_id, t.task_id).unwrap_or(1);
                *held.entry(t.executor_id).or_default() += vcores;
            }
        }
        Some(held)
    }

    /// Gives back vcores that no running task holds.
    async fn reconcile(&self) -> Result<()> {
        let Some(held) = self.held().await else {
            return Ok(());
        };
        let refunds = self.with_books(|books| leaked(books, &held));
        if refunds.is_empty() {
            return Ok(());
        }
        for (id, n) in &refunds {
            log::warn!(
                "executor {id}: {n} task slot(s) held by no running task (a task cancelled when another executor was lost); giving them back"
            );
        }
        self.inner.unbind_tasks(refunds.clone()).await?;
        self.with_books(|books| {
            for (id, n) in refunds {
                if let Some(b) = books.get_mut(&id) {
                    b.free = b.free.saturating_add(n);
                }
            }
        });
        Ok(())
    }
}

#[async_trait::async_trait]
impl ClusterState for SlotLedger {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        let bound = self
            .inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await?;
        self.with_books(|books| {
            for (id, task) in &bound {
                if let Some(b) = books.get_mut(id) {
                    b.free = b.free.saturating_sub(task.vcores_consumed);
                }
            }
        });
        Ok(bound)
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots.clone()).await?;
        self.with_books(|books| {
            for (id, n) in &executor_slots {
                if let Some(b) = books.get_mut(id) {
                    b.free = b.free.saturating_add(*n);
                }
            }
        });
        self.reconcile().await
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        let id = metadata.id.clone();
        let book = Book {
            total: spec.total_vcores,
            free: spec.available_vcores,
        };
        self.inner.register_executor(metadata, spec).await?;
        self.with_books(|books| books.insert(id, book));
        Ok(())
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        self.with_books(|books| books.remove(executor_id));
        self.inner.remove_executor(executor_id).await
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(rows: &[(&str, u32, u32)]) -> HashMap<String, Book> {
        rows.iter()
            .map(|(id, total, free)| {
                (
                    id.to_string(),
                    Book {
                        total: *total,
                        free: *free,
                    },
                )
            })
            .collect()
    }

    fn held(rows: &[(&str, u32)]) -> HashMap<String, u32> {
        rows.iter().map(|(id, n)| (id.to_string(), *n)).collect()
    }

    #[test]
    fn a_slot_no_running_task_holds_is_given_back() {
        // The case seen: one slot, reserved, its task cancelled and gone from the graph.
        assert_eq!(
            leaked(&books(&[("a", 1, 0)]), &held(&[])),
            vec![("a".to_string(), 1)]
        );
        // Four slots, one running task holding two, none free: two leaked.
        assert_eq!(
            leaked(&books(&[("a", 4, 0), ("b", 2, 2)]), &held(&[("a", 2)])),
            vec![("a".to_string(), 2)]
        );
    }

    #[test]
    fn slots_in_step_or_ahead_are_left_alone() {
        // Busy and counted.
        assert!(leaked(&books(&[("a", 2, 0)]), &held(&[("a", 2)])).is_empty());
        // Given back before the graph marks the task finished: more free than expected.
        assert!(leaked(&books(&[("a", 2, 2)]), &held(&[("a", 2)])).is_empty());
        // A task on an executor the book no longer knows (removed): nothing to refund.
        assert!(leaked(&books(&[("a", 1, 1)]), &held(&[("gone", 3)])).is_empty());
        // More held than the executor has (an oversubscribed moment): nothing, no underflow.
        assert!(leaked(&books(&[("a", 1, 0)]), &held(&[("a", 5)])).is_empty());
    }
}
