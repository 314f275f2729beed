//! auditwatch: kernel audit records → ECS events → on-host detections → alerts.
//!
//! The modules follow the pipeline: `source` (netlink, log files) → `record` (parse one
//! record) → `assemble` (records → events) → `ecs` (normalise, process table) → `detect`
//! (rules) → `output` (NDJSON, syslog). `kernel` talks to the kernel's audit subsystem.

pub mod alloc;
pub mod assemble;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod decimal;
pub mod detect;
pub mod ecs;
pub mod event;
pub mod kernel;
pub mod output;
pub mod pipeline;
pub mod ratelimit;
pub mod record;
pub mod service;
pub mod source;
