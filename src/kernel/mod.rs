//! The kernel's audit subsystem over netlink: status, settings, rules, the event stream.
pub mod netlink;
pub mod rules;
pub mod session;
pub mod status;
