//! Detection engine: Elastic detection-rules files, EQL and KQL, rule types.

pub mod eql;
pub mod expr;
pub mod kql;
