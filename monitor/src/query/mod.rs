//! What both faces (the JSON API and the dashboard) ask of the monitor's
//! data, answered once: the time-range rule, which hosts are up, metric
//! series and their step rule, the log page size rule, a day's log export
//! and API statistics.
//! Handlers parse their parameters into these types and map the errors to
//! their own answers; the rules themselves live only here.

pub mod api_stats;
pub mod export;
pub mod hosts;
pub mod logs;
pub mod metrics;
pub mod range;

pub use api_stats::api_stats;
pub use hosts::{HostStatus, host_status};
pub use metrics::MetricError;
pub use range::{RangeError, TimeRange};
