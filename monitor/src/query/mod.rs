//! What both faces (the JSON API and the dashboard) ask of the monitor's
//! data, answered once: today the time-range rule. Handlers parse their
//! parameters into these types and map the errors to their own answers; the
//! rule itself lives only here.

pub mod range;

pub use range::{RangeError, TimeRange};
