//! Cross-component system tests: the real binaries (`aerie`, `aerie-agent`,
//! `aerie-monitor`) against the real services testkit starts. One test binary
//! for the crate, so the test build links once.

/// Each scenario of a module, once with the embedded store and once with
/// the Elasticsearch store on a real OpenSearch node; the module imports
/// `OpenSearch` and `StoreKind`.
macro_rules! with_both_stores {
    ($($scenario:ident),*) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::StoreKind::Embedded).await;
                }
            )*
        }
        mod elasticsearch {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let node = super::OpenSearch::start().await.unwrap();
                    super::$scenario(super::StoreKind::Elasticsearch(node.url().to_owned())).await;
                }
            )*
        }
    };
}

mod agent_to_monitor;
mod alerting;
mod back_pressure;
mod backups;
mod browser;
mod dashboard;
mod dr;
mod env_check;
mod handover;
mod history;
mod hostile_input;
mod leadership;
mod log_export;
mod monitor_tls;
mod packages;
mod product_database;
mod product_nodes;
mod provisioner;
mod quickstart;
mod replicas;
mod rollout;
mod rsyslog_to_monitor;
mod self_metrics;
mod throttle;
mod versions;
mod webhook;
