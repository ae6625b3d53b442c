//! The composition root: opens the store, builds the notification channels,
//! the alert engine, the usage ledger and the jobs, mounts both faces (the
//! JSON API and the dashboard) on one router, and serves it until told to
//! stop, finishing the requests under way.
//!
//! This is the one place that knows every part; the parts know only what
//! they are given.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;

use crate::alerting::{AlertError, Engine};
use crate::api::ApiError;
use crate::auth::Sessions;
use crate::config::{ChannelConfig, Config, StoreConfig};
use crate::jobs::throttle::Throttle;
use crate::jobs::usage::Ledger;
use crate::notify::Channel;
use crate::state::AppState;
use crate::store::elasticsearch::ElasticsearchStore;
use crate::store::embedded::EmbeddedStore;
use crate::store::shared::SharedState;
use crate::store::{Store, StoreError};

/// Why the monitor could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the store did not open")]
    Store(#[from] StoreError),
    #[error("{}: cannot create the data directory", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the usage ledger did not open")]
    Ledger(#[source] crate::jobs::usage::LedgerError),
    #[error("the throttling decisions did not open")]
    Throttle(#[source] crate::jobs::throttle::ThrottleError),
    #[error("the alert mail channel could not be set up")]
    Channel(#[source] ChannelError),
    #[error("alerting did not start")]
    Alerting(#[from] AlertError),
    #[error("cannot handle SIGHUP")]
    Signal(#[source] std::io::Error),
    #[error("the server stopped")]
    Serve(#[source] std::io::Error),
    #[error("HTTPS cannot start")]
    Tls(#[from] crate::tls::TlsError),
}

/// The store the config names, and the state monitor replicas share
/// through it (dashboard sessions, the login limiter, the alert engine's
/// state and history): the cluster's when the store is Elasticsearch, one
/// client serving both; `None` with the embedded store, whose one monitor
/// keeps that state in memory and in its data directory.
pub async fn open_store(config: &Config) -> Result<(Arc<dyn Store>, Shared), ServerError> {
    Ok(match elasticsearch(config).await? {
        Some(store) => {
            let store = Arc::new(store);
            let shared: Arc<dyn SharedState> = Arc::clone(&store) as _;
            (store, Some(shared))
        }
        None => (
            Arc::new(EmbeddedStore::open_with(
                &config.data_dir.join("embedded"),
                config.store.log_memory(),
            )?),
            None,
        ),
    })
}

/// The state monitor replicas share, when they share a store.
pub type Shared = Option<Arc<dyn SharedState>>;

/// A client of the Elasticsearch cluster the config names, if it names one.
async fn elasticsearch(config: &Config) -> Result<Option<ElasticsearchStore>, ServerError> {
    let StoreConfig::Elasticsearch {
        urls,
        username,
        password,
        index_prefix,
    } = &config.store
    else {
        return Ok(None);
    };
    let store = ElasticsearchStore::connect_nodes(
        urls,
        username.as_deref(),
        password.as_ref(),
        index_prefix,
    );
    Ok(Some(store.await?))
}

/// The state of a running monitor: the usage ledger under the data
/// directory, the alert engine when `[alerting]` is configured, and the
/// periodic jobs started.
pub async fn build(
    config: Config,
    store: Arc<dyn Store>,
    shared: Shared,
) -> Result<AppState, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let (ledger, throttle) = match &shared {
        Some(shared) => (
            Ledger::shared(Arc::clone(shared)),
            Throttle::shared(Arc::clone(shared)),
        ),
        None => (
            Ledger::open(config.data_dir.join("usage.json")).map_err(ServerError::Ledger)?,
            Throttle::open(config.data_dir.join("throttle.json")).map_err(ServerError::Throttle)?,
        ),
    };
    let (ledger, throttle) = (Arc::new(ledger), Arc::new(throttle));
    let config = Arc::new(config);
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let store: Arc<dyn Store> =
        Arc::new(crate::metrics::TimedStore::new(store, Arc::clone(&metrics)));
    let counted = |channel: Arc<dyn Channel>| -> Arc<dyn Channel> {
        Arc::new(crate::metrics::CountedChannel::new(
            channel,
            Arc::clone(&metrics),
        ))
    };
    let alerts = match &config.alerting {
        Some(alerting) => {
            let primary = counted(
                channel(&alerting.channel)
                    .await
                    .map_err(ServerError::Channel)?,
            );
            let fallback = match &alerting.fallback {
                Some(fallback) => Some(counted(
                    channel(fallback).await.map_err(ServerError::Channel)?,
                )),
                None => None,
            };
            let engine = Engine::new(
                Arc::clone(&config),
                Arc::clone(&store),
                primary,
                fallback,
                webhooks(&config),
                chrono::Utc::now(),
            )?;
            Some(Arc::new(match &shared {
                Some(shared) => engine.shared_in(Arc::clone(shared)),
                None => engine,
            }))
        }
        None => None,
    };
    let leadership =
        crate::jobs::leader::Leadership::start(Arc::clone(&store), crate::jobs::leader::LEASE)
            .await;
    let jobs = Arc::new(crate::jobs::start(
        &config,
        Arc::clone(&store),
        shared.clone(),
        leadership,
        Arc::clone(&ledger),
        Arc::clone(&throttle),
        alerts.clone(),
    ));
    let sessions = Arc::new(match &shared {
        Some(shared) => Sessions::shared(Arc::clone(shared)),
        None => Sessions::new(),
    });
    Ok(AppState {
        config,
        store,
        ledger,
        throttle,
        jobs,
        alerts,
        sessions,
        bodies: Arc::new(tokio::sync::Semaphore::new(crate::state::BODIES_IN_FLIGHT)),
        metrics,
    })
}

/// The most a form or a JSON API request may send (the login form, a
/// silence): anything larger is refused with 413 at this many bytes.
pub const SMALL_BODY: usize = 64 * 1024;

/// Both faces on one router: the API (and the Elasticsearch-compatible
/// ingest at the root) and the dashboard.
pub fn app(state: AppState) -> Router {
    crate::api::routes()
        .merge(crate::dashboard::routes())
        .route("/metrics", axum::routing::get(crate::metrics::scrape))
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
        })
        // Forms and the JSON API take small bodies; the ingest routes read
        // theirs themselves, after authenticating, up to the batch limit
        // (`api::body`).
        .layer(axum::extract::DefaultBodyLimit::max(SMALL_BODY))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

/// Opens the store, builds the monitor and serves it on `listener` (HTTPS
/// when the config has `[tls]`) until `stop` completes; SIGHUP reloads the
/// alert rules and the TLS files.
pub async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let (store, shared) = open_store(&config).await?;
    let address = listener.local_addr().map_err(ServerError::Serve)?;
    let tls = config.tls.clone();
    tracing::info!(
        %address,
        https = tls.is_some(),
        environments = config.environments.len(),
        "monitor listening"
    );
    let state = build(config, store, shared).await?;
    let https = match &tls {
        Some(files) => Some(RustlsConfig::from_config(crate::tls::server_config(files)?)),
        None => None,
    };
    reload_on_hangup(&state, tls.zip(https.clone()))?;
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let Some(https) = https else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(async {
                stop.await;
                tracing::info!("monitor stopping");
            })
            .await
            .map_err(ServerError::Serve);
    };
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("monitor stopping");
        stopping.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    let listener = listener.into_std().map_err(ServerError::Serve)?;
    axum_server::from_tcp_rustls(listener, https)
        .map_err(ServerError::Serve)?
        .handle(handle)
        .serve(app)
        .await
        .map_err(ServerError::Serve)
}

/// SIGHUP, as daemons take it: the alert rules and the TLS files read
/// again; a bad file keeps what is in use (and says so). Connections open
/// keep their session; new ones get the new certificate.
fn reload_on_hangup(
    state: &AppState,
    tls: Option<(crate::tls::TlsConfig, RustlsConfig)>,
) -> Result<(), ServerError> {
    let engine = state.alerts.clone();
    if engine.is_none() && tls.is_none() {
        return Ok(());
    }
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(ServerError::Signal)?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            if let Some(engine) = &engine {
                let _ = engine.reload();
            }
            if let Some((files, https)) = &tls {
                match crate::tls::server_config(files) {
                    Ok(config) => {
                        https.reload_from_config(config);
                        tracing::info!(cert = %files.cert_file.display(), "TLS certificate reloaded");
                    }
                    Err(error) => tracing::error!(
                        error = %aerie_common::error_chain(&error),
                        "TLS files not reloaded; the certificate in use stays"
                    ),
                }
            }
        }
    });
    Ok(())
}

/// Why the mail channel `[alerting]` names could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{}: cannot read the SMTP server's CA", path.display())]
    Ca {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Smtp(#[from] crate::notify::smtp::SmtpSetupError),
}

/// The mail channel `[alerting]` names.
pub async fn channel(config: &ChannelConfig) -> Result<Arc<dyn Channel>, ChannelError> {
    use crate::notify::smtp::{SmtpChannel, SmtpSettings};
    Ok(match config {
        ChannelConfig::Smtp {
            host,
            port,
            security,
            username,
            password,
            ca_file,
            tls_name,
        } => {
            let ca_pem = match ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|source| ChannelError::Ca {
                    path: path.clone(),
                    source,
                })?),
                None => None,
            };
            Arc::new(SmtpChannel::new(&SmtpSettings {
                host: host.clone(),
                port: *port,
                security: *security,
                username: username.clone(),
                password: password.clone(),
                ca_pem,
                tls_name: tls_name.clone(),
                timeout: std::time::Duration::from_secs(30),
            })?)
        }
        ChannelConfig::Ses => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            Arc::new(crate::notify::ses::SesChannel::new(&sdk))
        }
    })
}

/// A channel for every webhook the environments name.
fn webhooks(config: &Config) -> crate::alerting::Webhooks {
    use crate::notify::webhook::WebhookChannel;
    config
        .environments
        .iter()
        .flat_map(|environment| {
            environment.webhooks.iter().map(|hook| {
                let url = hook.url.parse().expect("validated with the config");
                let channel: Arc<dyn Channel> = Arc::new(WebhookChannel::new(
                    url,
                    hook.secret.clone(),
                    std::time::Duration::from_secs(10),
                ));
                ((environment.name.clone(), hook.url.clone()), channel)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
