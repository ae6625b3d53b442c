//! The provisioner behind `aerie env`: a spec ([`spec`]), the resources it
//! asks for ([`model`]), what AWS has ([`aws`]), the pure plan between the
//! two ([`plan`]) and its execution ([`apply`]).

pub mod apply;
pub mod aws;
pub mod backup;
pub mod check;
pub mod clock;
pub mod dr;
pub mod fuzz;
pub mod handover;
pub mod history;
pub mod model;
pub mod plan;
pub mod progress;
pub mod render;
pub mod repair;
pub mod rollout;
pub mod rule;
pub mod spec;
pub mod topology;
