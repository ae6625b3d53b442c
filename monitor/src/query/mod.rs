//! What both faces (the JSON API and the dashboard) ask of the monitor's
//! data, answered once: the time-range rule and which hosts are up. Handlers parse their
//! parameters into these types and map the errors to their own answers; the
//! rule itself lives only here.

pub mod hosts;
pub mod range;

pub use hosts::{HostStatus, host_status};
pub use range::{RangeError, TimeRange};
