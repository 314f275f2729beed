//! Where events and alerts go: NDJSON files/stdout, syslog.

pub mod json;
pub mod ndjson;
pub mod spool;
pub mod syslog;
