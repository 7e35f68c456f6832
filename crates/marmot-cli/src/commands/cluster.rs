//! `marmot cluster scheduler|executor`: Ballista processes that know Marmot's SQL functions.
//! They serve any lake and open none themselves.

use std::path::PathBuf;

use clap::Subcommand;
use marmot_lake::LakeError;

use super::serve::init_logging_with;
use crate::error::{CliResult, Exit};
use crate::settings::engine_options;

#[derive(Subcommand)]
pub enum ClusterAction {
    /// Run a Ballista scheduler (until stopped).
    Scheduler {
        /// Address to listen on (clients and executors connect here).
        #[arg(long, default_value = "127.0.0.1:50050")]
        addr: String,
        /// Seconds without a heartbeat before an executor is declared lost (the jobs in flight
        /// are then cancelled, and Marmot's clients run them once more on the executors left).
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// Run a Ballista executor (until stopped).
    Executor {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Address of this executor's data (Arrow Flight) service.
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: String,
        /// Port of this executor's gRPC service (default: the data port + 1).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Directory for shuffle files (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds between heartbeats to the scheduler.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
}

fn socket_addr(text: &str) -> CliResult<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| LakeError::Config(format!("'{text}' is not a HOST:PORT address")).into())
}

pub async fn run(action: ClusterAction) -> CliResult {
    // Ballista's own events (executors joining and lost, jobs, task failures) at info.
    let _log = init_logging_with(
        false,
        "warn,ballista_scheduler=info,ballista_executor=info,ballista_core=warn",
    );
    match action {
        ClusterAction::Scheduler {
            addr,
            executor_timeout,
        } => {
            let addr = socket_addr(&addr)?;
            eprintln!("marmot cluster scheduler listening on {addr}");
            marmot_cluster::run_scheduler(marmot_cluster::SchedulerOptions {
                addr,
                executor_timeout_seconds: executor_timeout,
            })
            .await?;
        }
        ClusterAction::Executor {
            scheduler,
            addr,
            grpc_port,
            concurrent_tasks,
            work_dir,
            heartbeat,
        } => {
            let sched = socket_addr(&scheduler)?;
            let addr = socket_addr(&addr)?;
            let grpc_port = match grpc_port {
                Some(p) => p,
                None => addr.port().checked_add(1).ok_or_else(|| {
                    LakeError::Config("--addr port 65535 leaves no room for --grpc-port".into())
                })?,
            };
            eprintln!(
                "marmot cluster executor on {addr} (gRPC port {grpc_port}), scheduler {sched}"
            );
            marmot_cluster::run_executor(marmot_cluster::ExecutorOptions {
                scheduler_host: sched.ip().to_string(),
                scheduler_port: sched.port(),
                addr,
                grpc_port,
                concurrent_tasks,
                work_dir: work_dir.map(|p| p.display().to_string()),
                memory_limit: engine_options().memory_limit.map(|b| b as u64),
                heartbeat_seconds: heartbeat,
            })
            .await?;
        }
    }
    Ok(Exit::Ok)
}
