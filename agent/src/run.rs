//! Runs the agent: the disk queue, one thread per file source (file reads
//! block), a task for metrics, and the sink. Stops cleanly when told: what
//! was read but not queued is read again next time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aerie_wire::Event;

use crate::config::{Config, SinkConfig};
use crate::counters::Counters;
use crate::queue::{DiskQueue, QueueError, SharedQueue};
use crate::sinks::elasticsearch::ElasticsearchSink;
use crate::sinks::monitor::MonitorSink;
use crate::sources::context::SourceContext;
use crate::sources::host::{HostMetrics, clock_offset};
use crate::sources::jvm::JvmMetrics;
use crate::sources::{api_stats, file, metric};

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another aerie-agent is running with data directory {0}")]
    Locked(std::path::PathBuf),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the sink has no HTTP client")]
    Sink(#[from] crate::sinks::http::ClientError),
    #[error("[metrics] listen = \"{address}\" cannot be served: pick a free local port")]
    Metrics {
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Runs until `shutdown` turns true.
pub async fn run(
    config: Config,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(), StartError> {
    let data_dir = config.data_dir.clone();
    let dir_error = |source| StartError::DataDir {
        path: data_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&data_dir).map_err(dir_error)?;
    let lock = std::fs::File::create(data_dir.join("lock")).map_err(dir_error)?;
    if lock.try_lock().is_err() {
        return Err(StartError::Locked(data_dir));
    }

    let counters = Counters::default();
    if let Some(metrics) = &config.metrics {
        crate::metrics::serve(metrics.listen, counters.clone())
            .await
            .map_err(|source| StartError::Metrics {
                address: metrics.listen,
                source,
            })?;
    }
    let queue = Arc::new(SharedQueue::new(
        DiskQueue::open(&data_dir.join("queue"), config.queue.max_bytes.as_u64())?,
        counters.clone(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let context = SourceContext {
        host: config.host.clone(),
        data_dir: data_dir.clone(),
        queue: Arc::clone(&queue),
        counters: counters.clone(),
        stop: Arc::clone(&stop),
    };

    let sink = match config.sink.clone() {
        SinkConfig::Monitor(monitor) => {
            let sink =
                MonitorSink::new(monitor, &config.environment, &config.host, counters.clone())
                    .map_err(StartError::Sink)?;
            tokio::spawn(sink.run(Arc::clone(&queue), shutdown.clone()))
        }
        SinkConfig::Elasticsearch(es) => {
            let sink =
                ElasticsearchSink::new(es, &config.environment, &config.host, counters.clone())
                    .map_err(StartError::Sink)?;
            tokio::spawn(sink.run(Arc::clone(&queue), shutdown.clone()))
        }
    };

    let mut threads = Vec::new();
    for logs in config.logs.clone() {
        let context = context.clone();
        threads.push(std::thread::spawn(move || {
            if let Err(error) = file::run(&logs, &context) {
                let error = aerie_common::error_chain(&error);
                tracing::error!(%error, "log source stopped");
            }
        }));
    }
    if let Some(access_log) = config.access_log.clone() {
        let context = context.clone();
        threads.push(std::thread::spawn(move || {
            if let Err(error) = api_stats::run(&access_log, &context) {
                let error = aerie_common::error_chain(&error);
                tracing::error!(%error, "access log source stopped");
            }
        }));
    }
    let metrics = tokio::spawn(collect_metrics(
        config.clone(),
        context.clone(),
        shutdown.clone(),
    ));

    tracing::info!(environment = %config.environment, host = %config.host, logs = config.logs.len(), "agent started");
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    tracing::info!("agent stopping");
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
    let _ = metrics.await;
    let _ = sink.await;
    drop(lock);
    Ok(())
}

/// Every interval: host, JVM, process and health metrics, the clock offset
/// and the agent's own counters.
async fn collect_metrics(
    config: Config,
    context: SourceContext,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut host = match HostMetrics::new(&config.host) {
        Ok(host) => Some(host),
        Err(error) => {
            tracing::error!(%error, "cannot read host metrics; collecting JVM and health metrics only");
            None
        }
    };
    let mut jvm = JvmMetrics::new(&config.host, &config.jvm, context.counters.clone());
    let client = reqwest::Client::new();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // CPU usage is a difference between two readings: the first is one interval in.
    ticker.tick().await;
    loop {
        let mut stop = shutdown.clone();
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let mut events: Vec<Event> = Vec::new();
        if let Some(host) = &mut host {
            events.extend(host.collect());
            events.extend(host.processes(&config.process));
        }
        if config.jvm.enabled {
            events.extend(jvm.collect());
        }
        for check in &config.health {
            events.extend(check.run(&client, &config.host).await);
        }
        if let Some(ntp) = &config.ntp {
            let server = ntp.server.clone();
            match tokio::task::spawn_blocking(move || clock_offset(&server, Duration::from_secs(2)))
                .await
            {
                Ok(Ok(offset)) => events.push(metric(
                    &config.host,
                    chrono::Utc::now(),
                    "system.clock.offset.ms",
                    offset,
                    &[],
                )),
                Ok(Err(error)) => {
                    tracing::warn!(server = %ntp.server, %error, "cannot measure the clock offset")
                }
                Err(_) => {}
            }
        }
        let now = chrono::Utc::now();
        for (name, value) in context.counters.snapshot() {
            events.push(metric(&config.host, now, name, value, &[]));
        }
        let context = context.clone();
        let queued = tokio::task::spawn_blocking(move || context.queue_events(&events)).await;
        if let Ok(Err(error)) = queued {
            tracing::warn!(%error, "metrics not queued");
        }
    }
}
