//! Where records come from: the kernel over netlink, or auditd log files.

pub mod log;
pub mod netlink;
