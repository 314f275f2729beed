//! The kernel's audit subsystem over netlink: status, settings, rules, the event stream.
