//! # marmot-cluster
//!
//! Owns Marmot's scale-out processes: a Ballista scheduler and Ballista executors built on the
//! `ballista-scheduler` and `ballista-executor` crates (the same DataFusion as the rest of
//! Marmot), which differ from the stock binaries in two ways:
//! - they know Marmot's own SQL functions (`wilson_lower`, `dsr_value`, `sii`, ... from
//!   [`marmot_engine::functions`]): the scheduler needs them to plan a query, the executors to
//!   run it;
//! - they resolve `s3://` paths through [`marmot_lake::remote::LakeStoreRegistry`], configured
//!   by the process's own `AWS_*` environment, so a lake on an S3-compatible server reads the
//!   same on every executor as it does locally.
//!
//! ```text
//! marmot --engine ballista://HOST:PORT ...   (client: plans SQL, tables = Parquet listings of
//!        │                                    Delta snapshots, see marmot_engine::EngineKind)
//!        ▼
//! marmot cluster scheduler --addr HOST:PORT   (stages, task assignment, retries)
//!        ▼
//! marmot cluster executor --scheduler HOST:PORT [--addr HOST:PORT]   (x N: scans, shuffles)
//! ```
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::{BallistaCluster, ClusterStateEvent};
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{FunctionRegistry as _, SessionStateBuilder};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use marmot_lake::remote::LakeStoreRegistry;
use thiserror::Error;

mod slots;

/// Errors of the cluster processes.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// Bad arguments (an address that does not parse).
    #[error("{0}")]
    Config(String),
    /// Ballista stopped with an error.
    #[error("ballista: {0}")]
    Ballista(String),
}

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to listen on (gRPC for clients and executors).
    pub addr: SocketAddr,
    /// Seconds without a heartbeat after which an executor is declared lost and its tasks
    /// are run again elsewhere.
    pub executor_timeout_seconds: u64,
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// Address for the executor's Arrow Flight service (shuffle data); its gRPC service
    /// listens on `grpc_port`.
    pub addr: SocketAddr,
    /// The executor's gRPC port (tasks pushed by the scheduler).
    pub grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    pub concurrent_tasks: Option<usize>,
    /// Directory for shuffle files (default: a temporary directory).
    pub work_dir: Option<String>,
    /// Memory budget in bytes for the executor's queries (operators spill where they can).
    pub memory_limit: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
}

/// A runtime whose object store registry knows the lake's stores (S3 settings from this
/// process's `AWS_*` environment).
fn runtime(memory_limit: Option<u64>) -> datafusion::error::Result<Arc<RuntimeEnv>> {
    let mut b = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(
        LakeStoreRegistry::new(marmot_lake::remote::options_from_env()),
    ));
    if let Some(bytes) = memory_limit {
        b = b.with_memory_limit(usize::try_from(bytes).unwrap_or(usize::MAX), 1.0);
    }
    b.build_arc()
}

/// The scheduler's planning state: DataFusion's defaults plus Marmot's functions and stores.
fn scheduler_state(
    config: SessionConfig,
) -> datafusion::error::Result<datafusion::execution::SessionState> {
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime(None)?)
        .with_default_features()
        .build();
    for f in marmot_engine::functions::scalar_functions() {
        state.register_udf(Arc::new(f))?;
    }
    for f in marmot_engine::functions::aggregate_functions() {
        state.register_udaf(Arc::new(f))?;
    }
    Ok(state)
}

/// The executors' function registry: Ballista's defaults plus Marmot's functions.
pub fn function_registry() -> BallistaFunctionRegistry {
    let mut reg = BallistaFunctionRegistry::default();
    for f in marmot_engine::functions::scalar_functions() {
        reg.scalar_functions
            .insert(f.name().to_string(), Arc::new(f));
    }
    for f in marmot_engine::functions::aggregate_functions() {
        reg.aggregate_functions
            .insert(f.name().to_string(), Arc::new(f));
    }
    reg
}

/// Runs a scheduler until the process is stopped.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<(), ClusterError> {
    let mut config = SchedulerConfig {
        bind_host: options.addr.ip().to_string(),
        external_host: options.addr.ip().to_string(),
        bind_port: options.addr.port(),
        executor_timeout_seconds: options.executor_timeout_seconds,
        no_executors_grace_period_seconds: options.executor_timeout_seconds,
        expire_dead_executor_interval_seconds: options.executor_timeout_seconds.clamp(1, 15),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(scheduler_state));
    config.scheduler_id = format!("marmot-scheduler-{}", options.addr);
    let memory = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    let ledger = Arc::new(slots::SlotLedger::new(memory.cluster_state()));
    let cluster = BallistaCluster::new(ledger.clone(), memory.job_state());
    let config = Arc::new(config);
    config
        .validate()
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    let state = scheduler.state.clone();
    ledger.watch(Arc::new(move || state.task_manager.get_running_job_cache()));
    fail_jobs_on_executor_loss(&scheduler)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))?;
    start_grpc_service(options.addr, scheduler)
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
}

/// When an executor is lost, every job in flight is cancelled (its client gets a clear error
/// and Marmot's client runs the query once more on the executors left) instead of being
/// repaired stage by stage: Ballista 55's repair re-ran lost shuffle stages but could count
/// some of their rows twice (seen in tests/cluster.rs: a join count came back 1.5x too big),
/// and a wrong number is worse than no number.
///
/// The removal event comes before Ballista's own repair event, so the cancellation lands while
/// the lost tasks are being re-run, before any result could be returned.
async fn fail_jobs_on_executor_loss(
    scheduler: &SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
) -> ballista_core::error::Result<()> {
    use futures::StreamExt as _;
    let mut events = scheduler
        .state
        .executor_manager
        .cluster_state_events()
        .await?;
    let scheduler = scheduler.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            let ClusterStateEvent::RemovedExecutor { executor_id } = event else {
                continue;
            };
            let jobs = scheduler.state.task_manager.get_running_job_cache();
            for job_id in jobs.keys() {
                log::warn!(
                    "executor {executor_id} lost: cancelling job {job_id} (its answer could be incomplete or double-counted)"
                );
                if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
                    log::error!("cannot cancel job {job_id}: {e}");
                }
            }
        }
    });
    Ok(())
}

/// Runs an executor until the process is stopped (or the scheduler tells it to stop).
pub async fn run_executor(options: ExecutorOptions) -> Result<(), ClusterError> {
    let memory = options.memory_limit;
    let mut config = ExecutorProcessConfig {
        bind_host: options.addr.ip().to_string(),
        external_host: Some(options.addr.ip().to_string()),
        port: options.addr.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        work_dir: options.work_dir.clone(),
        executor_heartbeat_interval_seconds: options.heartbeat_seconds.max(1),
        print_thread_info: false,
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some(Arc::new(move |_cfg: &SessionConfig| runtime(memory))),
        ..ExecutorProcessConfig::default()
    };
    if let Some(n) = options.concurrent_tasks {
        config.vcores = n.max(1);
    }
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ClusterError::Ballista(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_and_the_scheduler_know_marmots_functions() {
        let reg = function_registry();
        for f in marmot_engine::functions::catalogue() {
            let name = f.signature.split('(').next().unwrap_or_default();
            assert!(
                reg.scalar_functions.contains_key(name)
                    || reg.aggregate_functions.contains_key(name),
                "{name} missing from the executors' registry"
            );
        }
        let state = scheduler_state(SessionConfig::new()).expect("state");
        assert!(state.scalar_functions().contains_key("wilson_lower"));
        assert!(state.aggregate_functions().contains_key("dsr_value"));
        // Ballista's own defaults are still there.
        assert!(reg.scalar_functions.contains_key("abs"));
    }
}
