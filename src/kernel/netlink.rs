//! The audit control protocol over a `NETLINK_AUDIT` socket: status, settings, rules.
//!
//! Every request asks for an ACK and replies are matched by netlink sequence number, so a late
//! ACK or reply of an earlier request is never mistaken for the current one. The kernel answers
//! `AUDIT_GET` and `AUDIT_LIST_RULES` from a kernel thread, so the data and the ACK may come in
//! either order; both orders are handled.
//!
//! On the socket that registered the audit pid the kernel also sends events. Events that arrive
//! while a request waits for its reply are queued (`pending`), never dropped; the reader takes
//! them over with the socket (`into_parts`).
//!
//! Raw rules are `struct audit_rule_data` bytes (`crate::kernel::rules` builds them).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use netlink_sys::{protocols::NETLINK_AUDIT, Socket, SocketAddr};
use nix::errno::Errno;

use super::status::{AuditStatus, StatusUpdate};

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;

pub const AUDIT_GET: u16 = 1000;
pub const AUDIT_SET: u16 = 1001;
pub const AUDIT_ADD_RULE: u16 = 1011;
pub const AUDIT_DEL_RULE: u16 = 1012;
pub const AUDIT_LIST_RULES: u16 = 1013;
/// Sent by the kernel to the registered pid to check it is alive; binary, not an event.
pub const AUDIT_REPLACE: u16 = 1329;
/// Multicast group of read-only log listeners (needs CAP_AUDIT_READ).
pub const AUDIT_NLGRP_READLOG: u32 = 1;

/// Events kept while waiting for a reply; beyond this they are counted and dropped.
const MAX_PENDING: usize = 65_536;

/// Largest datagram we expect: rule replies can carry several PATH_MAX strings.
const RECV_BUF: usize = 64 * 1024;

/// Audit records (user 1100–2999, kernel 1300+, AVC 1400, …), as opposed to control replies.
pub fn is_event_type(msg_type: u16) -> bool {
    (1100..=2999).contains(&msg_type) && msg_type != AUDIT_REPLACE
}

/// One netlink message: its type and payload (header stripped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    pub msg_type: u16,
    pub seq: u32,
    pub payload: Vec<u8>,
}

#[derive(Debug)]
pub enum AuditError {
    /// The kernel answered with NLMSG_ERROR.
    Kernel {
        op: &'static str,
        errno: Errno,
    },
    Io {
        op: &'static str,
        source: io::Error,
    },
    Timeout {
        op: &'static str,
        after: Duration,
    },
    Protocol {
        op: &'static str,
        detail: String,
    },
    /// A refusal of ours (mode, lock, pid held by another process), already explained.
    Refused(String),
}

impl AuditError {
    pub fn errno(&self) -> Option<Errno> {
        match self {
            AuditError::Kernel { errno, .. } => Some(*errno),
            AuditError::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            _ => None,
        }
    }
}

fn hint(op: &str, errno: Errno) -> &'static str {
    match (op, errno) {
        (_, Errno::EPERM) => " (needs root: CAP_AUDIT_CONTROL, or CAP_AUDIT_READ for multicast; audit may be locked with enabled=2)",
        ("AUDIT_ADD_RULE", Errno::EEXIST) => " (the rule is already loaded)",
        ("AUDIT_DEL_RULE", Errno::ENOENT) => " (no such rule is loaded)",
        ("AUDIT_SET pid", Errno::EEXIST) => " (another process holds the audit pid)",
        (_, Errno::EINVAL) => " (the kernel rejected the request as invalid)",
        (_, Errno::EPROTONOSUPPORT) => " (kernel built without audit support)",
        _ => "",
    }
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Kernel { op, errno } => {
                write!(
                    f,
                    "{op}: kernel replied {errno:?} ({}){}",
                    errno.desc(),
                    hint(op, *errno)
                )
            }
            AuditError::Io { op, source } => write!(f, "{op}: {source}"),
            AuditError::Timeout { op, after } => {
                write!(f, "{op}: no reply from the kernel within {after:?}")
            }
            AuditError::Protocol { op, detail } => write!(f, "{op}: unexpected reply: {detail}"),
            AuditError::Refused(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, AuditError>;

fn io_err(op: &'static str) -> impl FnOnce(io::Error) -> AuditError {
    move |source| AuditError::Io { op, source }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Splits a datagram into messages. Audit events are one per datagram and their `nlmsg_len`
/// is unreliable (unicast events carry the payload length without the header, a kernel quirk
/// kept for compatibility), so an event takes the rest of the datagram, trailing NULs trimmed.
pub fn split_datagram(buf: &[u8], mut each: impl FnMut(u16, u32, &[u8])) -> usize {
    let mut off = 0;
    let mut count = 0;
    while buf.len() - off >= NLMSG_HDRLEN {
        let len = u32_at(buf, off) as usize;
        let msg_type = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
        let seq = u32_at(buf, off + 8);
        let body_start = off + NLMSG_HDRLEN;
        count += 1;
        if is_event_type(msg_type) || len < NLMSG_HDRLEN || off + len > buf.len() {
            let mut body = &buf[body_start..];
            while let [rest @ .., 0] = body {
                body = rest;
            }
            each(msg_type, seq, body);
            break;
        }
        each(msg_type, seq, &buf[body_start..off + len]);
        off += (len + 3) & !3;
    }
    count
}

/// What ends a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// NLMSG_ERROR with errno 0.
    Ack,
    /// A message of this type (the ACK may come before or after it).
    Reply(u16),
    /// Messages of this type up to NLMSG_DONE.
    Done(u16),
}

struct Reply {
    messages: Vec<RawMessage>,
    /// The ACK's non-negative code (0, or the old counter value for resets).
    ack_value: u32,
}

/// A control connection to the kernel's audit subsystem.
pub struct AuditClient {
    sock: Socket,
    seq: u32,
    pending: VecDeque<RawMessage>,
    pending_dropped: u64,
    buf: Vec<u8>,
    timeout: Duration,
}

impl AuditClient {
    /// Opens and binds a `NETLINK_AUDIT` socket (the kernel picks the port id).
    pub fn open() -> Result<AuditClient> {
        let mut sock = Socket::new(NETLINK_AUDIT).map_err(io_err("open NETLINK_AUDIT socket"))?;
        sock.bind_auto()
            .map_err(io_err("bind NETLINK_AUDIT socket"))?;
        Ok(AuditClient {
            sock,
            seq: 0,
            pending: VecDeque::new(),
            pending_dropped: 0,
            buf: vec![0; RECV_BUF],
            timeout: Duration::from_secs(5),
        })
    }

    /// How long a request waits for its reply (default 5 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    /// Events dropped because more than `MAX_PENDING` arrived while waiting for replies.
    pub fn pending_dropped(&self) -> u64 {
        self.pending_dropped
    }

    /// Events received while waiting for replies, oldest first.
    pub fn take_pending(&mut self) -> VecDeque<RawMessage> {
        std::mem::take(&mut self.pending)
    }

    /// The socket (for the reader) and the events that arrived on it during requests.
    pub fn into_parts(self) -> (Socket, VecDeque<RawMessage>) {
        (self.sock, self.pending)
    }

    pub fn get_status(&mut self) -> Result<AuditStatus> {
        let mut replies = self.request("AUDIT_GET", AUDIT_GET, &[], Until::Reply(AUDIT_GET))?;
        let reply = replies.messages.pop().ok_or(AuditError::Protocol {
            op: "AUDIT_GET",
            detail: "no status".into(),
        })?;
        AuditStatus::parse(&reply.payload).ok_or_else(|| AuditError::Protocol {
            op: "AUDIT_GET",
            detail: format!("status of {} bytes is too short", reply.payload.len()),
        })
    }

    /// Applies `update`: one `AUDIT_SET` for the settings (each with its mask bit), then one per
    /// counter reset (the kernel stops processing an `AUDIT_SET` after a reset).
    pub fn set_status(&mut self, update: &StatusUpdate) -> Result<()> {
        let settings = StatusUpdate {
            reset_lost: false,
            reset_backlog_wait_time_actual: false,
            ..update.clone()
        };
        if !settings.is_empty() {
            let op = if update.pid.is_some() {
                "AUDIT_SET pid"
            } else {
                "AUDIT_SET"
            };
            self.request(op, AUDIT_SET, &settings.encode(), Until::Ack)?;
        }
        if update.reset_lost {
            self.reset_lost()?;
        }
        if update.reset_backlog_wait_time_actual {
            self.reset_backlog_wait_time_actual()?;
        }
        Ok(())
    }

    /// Zeroes the kernel's `lost` counter; returns its old value.
    pub fn reset_lost(&mut self) -> Result<u32> {
        let only = StatusUpdate {
            reset_lost: true,
            ..Default::default()
        };
        let reply = self.request("AUDIT_SET lost", AUDIT_SET, &only.encode(), Until::Ack)?;
        Ok(reply.ack_value)
    }

    /// Zeroes `backlog_wait_time_actual`; returns its old value.
    pub fn reset_backlog_wait_time_actual(&mut self) -> Result<u32> {
        let only = StatusUpdate {
            reset_backlog_wait_time_actual: true,
            ..Default::default()
        };
        let reply = self.request(
            "AUDIT_SET backlog_wait_time_actual",
            AUDIT_SET,
            &only.encode(),
            Until::Ack,
        )?;
        Ok(reply.ack_value)
    }

    pub fn set_enabled(&mut self, enabled: u32) -> Result<()> {
        self.set_status(&StatusUpdate {
            enabled: Some(enabled),
            ..Default::default()
        })
    }
    pub fn set_failure(&mut self, failure: u32) -> Result<()> {
        self.set_status(&StatusUpdate {
            failure: Some(failure),
            ..Default::default()
        })
    }
    pub fn set_rate_limit(&mut self, rate_limit: u32) -> Result<()> {
        self.set_status(&StatusUpdate {
            rate_limit: Some(rate_limit),
            ..Default::default()
        })
    }
    pub fn set_backlog_limit(&mut self, backlog_limit: u32) -> Result<()> {
        self.set_status(&StatusUpdate {
            backlog_limit: Some(backlog_limit),
            ..Default::default()
        })
    }
    pub fn set_backlog_wait_time(&mut self, wait: u32) -> Result<()> {
        self.set_status(&StatusUpdate {
            backlog_wait_time: Some(wait),
            ..Default::default()
        })
    }
    /// `pid` must be our own process id (the kernel checks) or 0 to unregister.
    pub fn set_pid(&mut self, pid: u32) -> Result<()> {
        self.set_status(&StatusUpdate {
            pid: Some(pid),
            ..Default::default()
        })
    }
    /// Makes the kernel send every event to this socket (unicast mode).
    pub fn register_self(&mut self) -> Result<()> {
        self.set_pid(std::process::id())
    }

    /// The loaded rules as raw `audit_rule_data`, in kernel order.
    pub fn list_rules(&mut self) -> Result<Vec<Vec<u8>>> {
        let replies = self.request(
            "AUDIT_LIST_RULES",
            AUDIT_LIST_RULES,
            &[],
            Until::Done(AUDIT_LIST_RULES),
        )?;
        Ok(replies.messages.into_iter().map(|m| m.payload).collect())
    }

    pub fn add_rule(&mut self, rule: &[u8]) -> Result<()> {
        self.request("AUDIT_ADD_RULE", AUDIT_ADD_RULE, rule, Until::Ack)
            .map(drop)
    }

    pub fn delete_rule(&mut self, rule: &[u8]) -> Result<()> {
        self.request("AUDIT_DEL_RULE", AUDIT_DEL_RULE, rule, Until::Ack)
            .map(drop)
    }

    /// Deletes every loaded rule (like `auditctl -D`); returns how many.
    pub fn delete_all_rules(&mut self) -> Result<usize> {
        let rules = self.list_rules()?;
        for r in &rules {
            self.delete_rule(r)?;
        }
        Ok(rules.len())
    }

    fn send(&mut self, op: &'static str, msg_type: u16, payload: &[u8]) -> Result<u32> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let len = NLMSG_HDRLEN + payload.len();
        let mut msg = Vec::with_capacity((len + 3) & !3);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&msg_type.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        msg.resize((len + 3) & !3, 0);
        self.sock
            .send_to(&msg, &SocketAddr::new(0, 0), 0)
            .map_err(io_err(op))?;
        Ok(self.seq)
    }

    /// Receives one datagram, waiting until `deadline`.
    fn recv_datagram(&mut self, op: &'static str, deadline: Instant) -> Result<usize> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AuditError::Timeout {
                    op,
                    after: self.timeout,
                });
            }
            let mut pfd = libc::pollfd {
                fd: self.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd for the duration of the call.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(AuditError::Io { op, source: e });
            }
            if rc == 0 {
                continue;
            }
            // SAFETY: recv into our buffer, bounded by its length.
            let n = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                // Our socket overflowed with events: some are lost, the reply may still come.
                Some(libc::ENOBUFS) => {
                    tracing::warn!(
                        op,
                        "audit socket overflowed (ENOBUFS) while waiting for a reply"
                    );
                    continue;
                }
                _ => return Err(AuditError::Io { op, source: e }),
            }
        }
    }

    fn request(
        &mut self,
        op: &'static str,
        msg_type: u16,
        payload: &[u8],
        until: Until,
    ) -> Result<Reply> {
        let seq = self.send(op, msg_type, payload)?;
        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::new();
        let mut ack_value = 0;
        loop {
            let n = self.recv_datagram(op, deadline)?;
            let mut msgs = Vec::new();
            split_datagram(&self.buf[..n], |t, s, p| {
                msgs.push(RawMessage {
                    msg_type: t,
                    seq: s,
                    payload: p.to_vec(),
                })
            });
            let mut finished = false;
            for m in msgs {
                if is_event_type(m.msg_type) {
                    if self.pending.len() >= MAX_PENDING {
                        self.pending_dropped += 1;
                        tracing::warn!(
                            total = self.pending_dropped,
                            "{op}: too many events while waiting; dropped one"
                        );
                    } else {
                        self.pending.push_back(m);
                    }
                    continue;
                }
                if m.seq != seq || finished {
                    continue; // a late reply to an earlier request, or kernel noise
                }
                match m.msg_type {
                    NLMSG_ERROR => {
                        if m.payload.len() < 4 {
                            return Err(AuditError::Protocol {
                                op,
                                detail: "short NLMSG_ERROR".into(),
                            });
                        }
                        let code = i32::from_ne_bytes([
                            m.payload[0],
                            m.payload[1],
                            m.payload[2],
                            m.payload[3],
                        ]);
                        // Negative: an errno. Positive: a value (the counter a reset cleared).
                        if code < 0 {
                            return Err(AuditError::Kernel {
                                op,
                                errno: Errno::from_raw(-code),
                            });
                        }
                        ack_value = code as u32;
                        finished = until == Until::Ack;
                    }
                    NLMSG_DONE => finished = matches!(until, Until::Done(_)),
                    NLMSG_NOOP => {}
                    t => match until {
                        Until::Reply(want) if t == want => {
                            out.push(m);
                            finished = true;
                        }
                        Until::Done(want) if t == want => out.push(m),
                        _ => {
                            return Err(AuditError::Protocol {
                                op,
                                detail: format!("message type {t} in reply"),
                            })
                        }
                    },
                }
            }
            if finished {
                // A late ACK for this seq is skipped by the next request.
                return Ok(Reply {
                    messages: out,
                    ack_value,
                });
            }
        }
    }
}

/// A read-only socket in the audit log multicast group (beside auditd or journald).
pub fn open_multicast_socket() -> Result<Socket> {
    let mut sock = Socket::new(NETLINK_AUDIT).map_err(io_err("open NETLINK_AUDIT socket"))?;
    sock.bind(&SocketAddr::new(0, AUDIT_NLGRP_READLOG)).map_err(|e| match e.raw_os_error() {
        Some(code) if code == libc::EPERM || code == libc::EACCES => AuditError::Refused(format!(
            "joining the audit multicast group failed ({}): multicast needs CAP_AUDIT_READ (run as root)",
            Errno::from_raw(code).desc()
        )),
        _ => AuditError::Io { op: "bind audit multicast group", source: e },
    })?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nlmsg(len: u32, t: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&t.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn event_takes_whole_datagram_despite_quirky_len() {
        let text = b"audit(1.2:3): pid=1 comm=\"x\"";
        // Unicast quirk: nlmsg_len is the payload length only.
        let mut d = nlmsg(text.len() as u32, 1300, 0, text);
        d.extend_from_slice(&[0, 0]);
        let mut got = Vec::new();
        assert_eq!(
            split_datagram(&d, |t, s, p| got.push((t, s, p.to_vec()))),
            1
        );
        assert_eq!(got, vec![(1300, 0, text.to_vec())]);
    }

    #[test]
    fn control_messages_split_by_len() {
        let mut d = nlmsg(20, NLMSG_ERROR, 7, &0i32.to_ne_bytes());
        d.extend(nlmsg(17, AUDIT_LIST_RULES, 7, b"a"));
        d.extend_from_slice(&[0, 0, 0]);
        d.extend(nlmsg(16, NLMSG_DONE, 7, b""));
        let mut got = Vec::new();
        split_datagram(&d, |t, s, p| got.push((t, s, p.to_vec())));
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (AUDIT_LIST_RULES, 7, b"a".to_vec()));
        assert_eq!(got[2].0, NLMSG_DONE);
    }

    #[test]
    fn hostile_datagrams_never_panic() {
        for d in [
            vec![],
            vec![1, 2, 3],
            nlmsg(0, 5, 0, b""),
            nlmsg(u32::MAX, 5, 0, b"zz"),
            nlmsg(3, 2, 0, b""),
        ] {
            split_datagram(&d, |_, _, _| {});
        }
    }

    #[test]
    fn event_type_ranges() {
        assert!(
            is_event_type(1300)
                && is_event_type(1100)
                && is_event_type(1400)
                && is_event_type(2999)
        );
        assert!(
            !is_event_type(AUDIT_GET)
                && !is_event_type(AUDIT_REPLACE)
                && !is_event_type(NLMSG_ERROR)
        );
    }

    #[test]
    fn errors_name_the_errno() {
        let e = AuditError::Kernel {
            op: "AUDIT_ADD_RULE",
            errno: Errno::EEXIST,
        };
        let s = e.to_string();
        assert!(s.contains("EEXIST") && s.contains("already loaded"), "{s}");
        assert_eq!(e.errno(), Some(Errno::EEXIST));
    }
}
