//! Detection engine: Elastic detection-rules files, EQL and KQL, rule types.

pub mod alert;
pub mod check;
mod dispatch;
pub mod engine;
pub mod eql;
pub mod expr;
pub mod kql;
mod memo;
mod new_terms;
pub mod rule;
mod threshold;
