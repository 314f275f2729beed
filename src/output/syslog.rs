//! Alerts to syslog: RFC 5424 or RFC 3164 over `/dev/log`, UDP, TCP (RFC 6587 octet counting,
//! or LF framing) or TLS, with a bounded spool so that no alert is lost quietly while the
//! collector is down.
//!
//! Shape: [`SyslogSink::send`] formats the alert at once (so the syslog timestamp is the time
//! the alert was raised, not the time it was delivered) and appends the frame to a bounded
//! in-memory queue; a sender thread delivers it. One ordered queue: `spool` (oldest) then
//! `mem` (newest). When `mem` is full its oldest frame moves to the spool tail, which keeps the
//! order; while the collector is down (and during each reconnect backoff: 200 ms doubling to
//! 30 s) the sender moves all of `mem` to the spool, so a restart or crash of auditwatch keeps
//! them too. Only the sender removes frames, always the head, and only after the write
//! succeeded. When the spool is full its oldest frames are dropped and counted.
//!
//! MSG is the alert as compact JSON with every control character escaped, so argv and paths
//! cannot break framing or start a new line; an alert larger than `max_message_bytes` has its
//! long strings and arrays cut (and `"auditwatch.truncated": true` added) so it still arrives
//! as one valid message.
//!
//! Formatting uses the `syslog` crate's RFC 3164 formatter and its RFC 5424 structured-data
//! escaping; the transports are our own (the crate has no octet counting, TLS or reconnect).
//!
//! Delivery is at-least-once up to the transport: plain TCP has no acknowledgements, so before
//! each write the sender checks whether the peer has closed the connection (a FIN or RST already
//! received) and reconnects instead; a frame written in the instant before a peer dies can still
//! be lost in its kernel buffers. Over UDP a datagram sent to a dead collector is lost (the next
//! send reports the ICMP error and is retried).

use super::spool::Spool;
use crate::event::format_rfc3339_ms;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use syslog::{Facility, Formatter3164, LogFormat, Severity};

/// Structured-data ID. 32473 is the private enterprise number RFC 5612 sets aside for
/// documentation; a site with its own number can filter on the `auditwatch@` prefix.
pub const SD_ID: &str = "auditwatch@32473";
pub const APP_NAME: &str = "auditwatch";
pub const DEFAULT_URL: &str = "unix:///dev/log";
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Where syslog messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyslogTarget {
    Unix(PathBuf),
    Udp { host: String, port: u16 },
    Tcp { host: String, port: u16 },
    Tls { host: String, port: u16 },
}

impl SyslogTarget {
    /// `unix:///dev/log`, `udp://host[:514]`, `tcp://host[:514]`, `tls://host[:6514]`; IPv6 hosts
    /// in brackets (`udp://[::1]:514`).
    pub fn parse(url: &str) -> Result<SyslogTarget, String> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            format!("syslog URL `{url}` has no scheme: use unix://, udp://, tcp:// or tls://")
        })?;
        if scheme == "unix" {
            if !rest.starts_with('/') || rest.len() < 2 {
                return Err(format!("syslog URL `{url}`: unix:// needs an absolute socket path, e.g. unix:///dev/log"));
            }
            return Ok(SyslogTarget::Unix(PathBuf::from(rest)));
        }
        let default_port = match scheme {
            "udp" | "tcp" => 514,
            "tls" => 6514,
            _ => {
                return Err(format!(
                    "syslog URL `{url}`: unknown scheme `{scheme}` (use unix, udp, tcp or tls)"
                ))
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(r) = rest.strip_prefix('[') {
            let (h, after) = r
                .split_once(']')
                .ok_or_else(|| format!("syslog URL `{url}`: unclosed `[` in host"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(p.strip_prefix(':').ok_or_else(|| {
                        format!("syslog URL `{url}`: expected `:port` after `]`")
                    })?),
                ),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() || host.contains(['/', '@', '?', '#', ' ']) {
            return Err(format!("syslog URL `{url}`: bad or missing host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => {
                    return Err(format!(
                        "syslog URL `{url}`: port `{p}` is not a number in 1..65535"
                    ))
                }
            },
        };
        let host = host.to_owned();
        Ok(match scheme {
            "udp" => SyslogTarget::Udp { host, port },
            "tcp" => SyslogTarget::Tcp { host, port },
            _ => SyslogTarget::Tls { host, port },
        })
    }

    fn is_stream(&self) -> bool {
        matches!(self, SyslogTarget::Tcp { .. } | SyslogTarget::Tls { .. })
    }
}

impl std::fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hp = |h: &str, p: &u16| {
            if h.contains(':') {
                format!("[{h}]:{p}")
            } else {
                format!("{h}:{p}")
            }
        };
        match self {
            SyslogTarget::Unix(p) => write!(f, "unix://{}", p.display()),
            SyslogTarget::Udp { host, port } => write!(f, "udp://{}", hp(host, port)),
            SyslogTarget::Tcp { host, port } => write!(f, "tcp://{}", hp(host, port)),
            SyslogTarget::Tls { host, port } => write!(f, "tls://{}", hp(host, port)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

impl SyslogFormat {
    pub fn parse(s: &str) -> Option<SyslogFormat> {
        match s {
            "rfc5424" => Some(SyslogFormat::Rfc5424),
            "rfc3164" => Some(SyslogFormat::Rfc3164),
            _ => None,
        }
    }
}

/// How messages are delimited on tcp:// and tls:// (RFC 6587).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `LEN SP MSG`: rsyslog, syslog-ng and RFC 5425 TLS receivers.
    OctetCounting,
    /// `MSG LF`, for receivers that split on newlines. Safe here because a message never
    /// holds a newline (the alert JSON escapes every control character).
    Lf,
}

impl Framing {
    pub fn parse(s: &str) -> Option<Framing> {
        match s {
            "octet-counting" => Some(Framing::OctetCounting),
            "lf" => Some(Framing::Lf),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SyslogConfig {
    pub target: SyslogTarget,
    pub format: SyslogFormat,
    pub facility: Facility,
    /// HOSTNAME field; `None` = the machine's host name.
    pub hostname: Option<String>,
    /// PEM CA bundle that signs the collector's certificate (tls:// only).
    pub tls_ca_file: Option<PathBuf>,
    /// Bound of the spool (on disk under the state directory, else in memory).
    pub spool_max_bytes: u64,
    /// Frames held in memory before they overflow to the spool.
    pub queue_capacity: usize,
    /// Longest message sent; larger alerts are cut to fit. rsyslog's default limit is 8096 bytes,
    /// and it takes the rest of a longer TCP frame for a new message.
    pub max_message_bytes: usize,
    /// Stream framing (tcp:// and tls:// only).
    pub framing: Framing,
}

impl SyslogConfig {
    /// Defaults for a target: RFC 3164 (as syslog(3) writes it) on a local socket, RFC 5424
    /// on the network; facility `auth`; 64 MiB spool.
    pub fn new(target: SyslogTarget) -> SyslogConfig {
        let format = if matches!(target, SyslogTarget::Unix(_)) {
            SyslogFormat::Rfc3164
        } else {
            SyslogFormat::Rfc5424
        };
        SyslogConfig {
            target,
            format,
            facility: Facility::LOG_AUTH,
            hostname: None,
            tls_ca_file: None,
            spool_max_bytes: 64 << 20,
            queue_capacity: 1024,
            max_message_bytes: 8096,
            framing: Framing::OctetCounting,
        }
    }
}

impl PartialEq for SyslogConfig {
    fn eq(&self, o: &Self) -> bool {
        self.target == o.target
            && self.format == o.format
            && self.facility as u8 == o.facility as u8
            && self.hostname == o.hostname
            && self.tls_ca_file == o.tls_ca_file
            && self.spool_max_bytes == o.spool_max_bytes
            && self.queue_capacity == o.queue_capacity
            && self.max_message_bytes == o.max_message_bytes
            && self.framing == o.framing
    }
}

/// Parses a facility name (`auth`, `local0`, `LOG_DAEMON`, ...).
pub fn parse_facility(s: &str) -> Option<Facility> {
    s.parse().ok()
}

/// Severity from the rule's severity: critical→crit, high→err, medium→warning, low→notice.
pub fn severity_of(rule_severity: Option<&str>) -> Severity {
    match rule_severity.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => Severity::LOG_CRIT,
        Some("high") => Severity::LOG_ERR,
        Some("low") => Severity::LOG_NOTICE,
        _ => Severity::LOG_WARNING,
    }
}

/// Looks a dotted path up in a JSON document, whether it is nested (`{"a":{"b":1}}`), dotted
/// (`{"a.b":1}`) or a mix.
fn lookup<'a>(v: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let obj = v.as_object()?;
    if let Some(hit) = obj.get(path) {
        return Some(hit);
    }
    let mut split = path.len();
    while let Some(dot) = path[..split].rfind('.') {
        if let Some(inner) = obj.get(&path[..dot]) {
            if let Some(hit) = lookup(inner, &path[dot + 1..]) {
                return Some(hit);
            }
        }
        split = dot;
    }
    None
}

fn first_of<'a>(alert: &'a serde_json::Value, paths: &[&str]) -> Option<&'a serde_json::Value> {
    paths
        .iter()
        .find_map(|p| lookup(alert, p).filter(|v| !v.is_null()))
}

fn scalar_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const RULE_ID_PATHS: &[&str] = &[
    "kibana.alert.rule.rule_id",
    "rule.id",
    "kibana.alert.rule.uuid",
];
const SEVERITY_PATHS: &[&str] = &[
    "kibana.alert.severity",
    "kibana.alert.rule.severity",
    "rule.severity",
];
const RISK_PATHS: &[&str] = &[
    "kibana.alert.risk_score",
    "kibana.alert.rule.risk_score",
    "rule.risk_score",
];

/// Compact JSON with every control character escaped, plus DEL, NEL and the Unicode line and
/// paragraph separators, so no receiver sees a line break inside the message.
pub fn safe_json(alert: &serde_json::Value) -> Vec<u8> {
    let raw = serde_json::to_vec(alert).unwrap_or_else(|_| b"{}".to_vec());
    // These bytes only occur inside JSON strings, where a \u escape is equally valid.
    let needs = raw.iter().any(|&b| b == 0x7f || b == 0xc2 || b == 0xe2);
    if !needs {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let esc = match (b, raw.get(i + 1), raw.get(i + 2)) {
            (0x7f, _, _) => Some(("\\u007f", 1)),
            (0xc2, Some(0x85), _) => Some(("\\u0085", 2)),
            (0xe2, Some(0x80), Some(0xa8)) => Some(("\\u2028", 3)),
            (0xe2, Some(0x80), Some(0xa9)) => Some(("\\u2029", 3)),
            _ => None,
        };
        match esc {
            Some((s, n)) => {
                out.extend_from_slice(s.as_bytes());
                i += n;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// HOSTNAME / APP-NAME fields are PRINTUSASCII without spaces (RFC 5424 §6.2).
fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if t.is_empty() {
        "-".to_owned()
    } else {
        t
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn system_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Turns an alert into one syslog message (without transport framing) of at most
/// `max_message_bytes`: a larger alert has its long strings and arrays cut (and
/// `"auditwatch.truncated": true` added) so that the collector gets valid JSON rather than a
/// message it truncates or, worse, splits into a second, attacker-shaped one.
#[derive(Clone, Debug)]
pub struct SyslogFormatter {
    format: SyslogFormat,
    facility: Facility,
    /// `None` on local sockets in RFC 3164, as syslog(3) does.
    hostname: Option<String>,
    pid: u32,
    max_bytes: usize,
    f3164: Formatter3164,
    f5424: syslog::Formatter5424,
}

impl SyslogFormatter {
    pub fn new(cfg: &SyslogConfig) -> SyslogFormatter {
        let local = matches!(cfg.target, SyslogTarget::Unix(_));
        let hostname = match (&cfg.hostname, cfg.format, local) {
            (Some(h), _, _) => Some(header_token(h, 255)),
            (None, SyslogFormat::Rfc3164, true) => None,
            (None, _, _) => Some(header_token(&system_hostname(), 255)),
        };
        let pid = std::process::id();
        let process = APP_NAME.to_owned();
        let f3164 = Formatter3164 {
            facility: cfg.facility,
            hostname: hostname.clone(),
            process: process.clone(),
            pid,
        };
        let f5424 = syslog::Formatter5424 {
            facility: cfg.facility,
            hostname: hostname.clone(),
            process,
            pid,
        };
        SyslogFormatter {
            format: cfg.format,
            facility: cfg.facility,
            hostname,
            pid,
            max_bytes: cfg.max_message_bytes,
            f3164,
            f5424,
        }
    }

    /// Formats with the current time.
    pub fn format(&self, alert: &serde_json::Value) -> Vec<u8> {
        self.build(alert, now_ms()).0
    }

    pub fn format_at(&self, alert: &serde_json::Value, now_ms: i64) -> Vec<u8> {
        self.build(alert, now_ms).0
    }

    /// The message, and whether the alert had to be cut to fit.
    fn build(&self, alert: &serde_json::Value, now_ms: i64) -> (Vec<u8>, bool) {
        let out = self.render(alert, now_ms, &safe_json(alert));
        if out.len() <= self.max_bytes {
            return (out, false);
        }
        let mut limit = 2048;
        while limit >= 16 {
            let out = self.render(alert, now_ms, &safe_json(&shrink(alert, limit, true)));
            if out.len() <= self.max_bytes {
                return (out, true);
            }
            limit /= 2;
        }
        (
            self.render(alert, now_ms, &safe_json(&minimal(alert))),
            true,
        )
    }

    fn render(&self, alert: &serde_json::Value, now_ms: i64, msg: &[u8]) -> Vec<u8> {
        let severity = severity_of(first_of(alert, SEVERITY_PATHS).and_then(|v| v.as_str()));
        // serde_json output is valid UTF-8 and `safe_json` keeps it so.
        let msg = String::from_utf8_lossy(msg);
        let mut out = Vec::with_capacity(msg.len() + 160);
        match self.format {
            SyslogFormat::Rfc3164 => {
                let _ = self.f3164.format(&mut out, severity, &*msg);
            }
            SyslogFormat::Rfc5424 => {
                let mut params = std::collections::BTreeMap::new();
                if let Some(id) = first_of(alert, RULE_ID_PATHS) {
                    params.insert("rule_id".to_owned(), cut(&scalar_text(id), 256));
                }
                if let Some(r) = first_of(alert, RISK_PATHS) {
                    params.insert("risk_score".to_owned(), cut(&scalar_text(r), 32));
                }
                let sd = if params.is_empty() {
                    "-".to_owned()
                } else {
                    let mut data = std::collections::BTreeMap::new();
                    data.insert(SD_ID.to_owned(), params);
                    self.f5424.format_5424_structured_data(data)
                };
                let pri = self.facility as u8 | severity as u8;
                let host = self.hostname.as_deref().unwrap_or("-");
                let ts = format_rfc3339_ms(now_ms);
                let _ = write!(
                    out,
                    "<{pri}>1 {ts} {host} {APP_NAME} {} alert {sd} {msg}",
                    self.pid
                );
            }
        }
        out
    }
}

/// At most `max` characters, with `…` when cut; control characters become spaces (this is
/// for structured-data values, which are not JSON-escaped).
fn cut(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// A copy with strings cut to `limit` characters and arrays to `limit / 32` (at least 4)
/// elements, the rest noted as `"…(N more)"`.
fn shrink(v: &serde_json::Value, limit: usize, top: bool) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(s) if s.chars().count() > limit => {
            J::String(s.chars().take(limit).collect::<String>() + "…")
        }
        J::Array(items) => {
            let keep = (limit / 32).max(4);
            let mut out: Vec<J> = items
                .iter()
                .take(keep)
                .map(|i| shrink(i, limit, false))
                .collect();
            if items.len() > keep {
                out.push(J::String(format!("…({} more)", items.len() - keep)));
            }
            J::Array(out)
        }
        J::Object(m) => {
            let mut out: serde_json::Map<String, J> = m
                .iter()
                .map(|(k, v)| (k.clone(), shrink(v, limit, false)))
                .collect();
            if top {
                out.insert("auditwatch.truncated".to_owned(), J::Bool(true));
            }
            J::Object(out)
        }
        other => other.clone(),
    }
}

/// What is left of an alert when even cutting does not make it fit: who, what and which rule.
fn minimal(alert: &serde_json::Value) -> serde_json::Value {
    const KEEP: &[&str] = &[
        "@timestamp",
        "kibana.alert.uuid",
        "kibana.alert.rule.rule_id",
        "kibana.alert.rule.name",
        "kibana.alert.severity",
        "kibana.alert.risk_score",
        "rule.id",
        "rule.name",
        "host.name",
        "user.name",
        "process.pid",
        "process.executable",
    ];
    let mut out = serde_json::Map::new();
    for p in KEEP {
        if let Some(v) = lookup(alert, p) {
            out.insert((*p).to_owned(), shrink(v, 256, false));
        }
    }
    out.insert(
        "auditwatch.truncated".to_owned(),
        serde_json::Value::Bool(true),
    );
    serde_json::Value::Object(out)
}

/// Counters of one sink; `queued` + `spooled` are frames not yet delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SyslogStats {
    pub sent: u64,
    pub queued: usize,
    pub spooled: usize,
    pub spool_bytes: u64,
    pub dropped_spool_full: u64,
    /// Datagrams the transport refused as too large (EMSGSIZE); never retried.
    pub dropped_oversize: u64,
    /// Frames still in memory when the sink closed without a disk spool.
    pub dropped_at_exit: u64,
    /// Alerts cut to fit `max_message_bytes`.
    pub truncated: u64,
    pub connects: u64,
    pub connect_errors: u64,
    pub write_errors: u64,
    pub spool_errors: u64,
    pub connected: bool,
}

struct Queue {
    spool: Spool,
    mem: VecDeque<Vec<u8>>,
    mem_cap: usize,
    /// Frames removed from the head so far (delivered or dropped): names the head.
    removed: u64,
    shutdown: bool,
    stats: SyslogStats,
}

impl Queue {
    fn len(&self) -> usize {
        self.spool.len() + self.mem.len()
    }

    fn note_spool_result(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.stats.spool_errors += 1;
            tracing::error!(error = %e, "syslog spool I/O error");
        }
    }

    fn push(&mut self, frame: Vec<u8>) {
        if self.mem.len() >= self.mem_cap {
            if let Some(oldest) = self.mem.pop_front() {
                self.move_to_spool(&oldest);
            }
        }
        self.mem.push_back(frame);
    }

    /// Moves all of `mem` to the spool tail (order is kept: the spool comes first).
    fn spill(&mut self) {
        while let Some(f) = self.mem.pop_front() {
            self.move_to_spool(&f);
        }
    }

    fn move_to_spool(&mut self, frame: &[u8]) {
        let before = self.spool.dropped_full();
        let r = self.spool.push(frame);
        self.note_spool_result(r);
        let dropped = self.spool.dropped_full();
        // Drops remove the oldest frames, the head of the queue.
        self.removed += dropped - before;
        // Say so at the first drop and at each power of ten, not for every alert.
        if dropped > before && (before == 0 || dropped.ilog10() > before.ilog10()) {
            tracing::warn!(
                dropped_total = dropped,
                "syslog spool full: oldest alerts dropped"
            );
        }
    }

    fn head(&mut self) -> Option<(u64, Vec<u8>)> {
        if !self.spool.is_empty() {
            match self.spool.front() {
                Ok(Some(f)) => return Some((self.removed, f)),
                Ok(None) => {}
                Err(e) => {
                    // An unreadable record: skip it so the rest still goes out, but say so.
                    self.note_spool_result(Err(e));
                    let r = self.spool.pop_front();
                    self.note_spool_result(r);
                    self.removed += 1;
                    return None;
                }
            }
        }
        self.mem.front().map(|f| (self.removed, f.clone()))
    }

    /// Removes the head if it is still the frame `id` (it may have been dropped meanwhile).
    fn commit(&mut self, id: u64) {
        if id != self.removed {
            return;
        }
        if !self.spool.is_empty() {
            let r = self.spool.pop_front();
            self.note_spool_result(r);
        } else {
            self.mem.pop_front();
        }
        self.removed += 1;
    }

    fn refresh_stats(&mut self) -> SyslogStats {
        self.stats.queued = self.mem.len();
        self.stats.spooled = self.spool.len();
        self.stats.spool_bytes = self.spool.bytes();
        self.stats.dropped_spool_full = self.spool.dropped_full();
        self.stats
    }
}

struct Shared {
    q: Mutex<Queue>,
    /// Wakes the sender (new frame, shutdown) and flushers (queue drained).
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Alerts to one syslog collector. Cheap to call from the detection worker: `send` formats and
/// queues, a sender thread does the I/O.
pub struct SyslogSink {
    formatter: SyslogFormatter,
    shared: Arc<Shared>,
    sender: Option<JoinHandle<()>>,
    target: SyslogTarget,
}

impl SyslogSink {
    /// `spool_dir`: where undelivered frames wait on disk (created, mode 0700); `None` keeps
    /// them in memory (bounded by `spool_max_bytes`, lost at exit and counted).
    /// Fails on an unusable spool directory or CA file; never on an unreachable collector.
    pub fn new(cfg: SyslogConfig, spool_dir: Option<PathBuf>) -> io::Result<SyslogSink> {
        let tls = match &cfg.target {
            SyslogTarget::Tls { .. } => Some(tls_config(cfg.tls_ca_file.as_deref())?),
            _ => None,
        };
        let spool = match &spool_dir {
            Some(d) => Spool::open(d, cfg.spool_max_bytes)?,
            None => Spool::memory(cfg.spool_max_bytes),
        };
        if !spool.is_empty() {
            tracing::info!(frames = spool.len(), target = %cfg.target, "syslog spool has undelivered alerts from an earlier run");
        }
        let shared = Arc::new(Shared {
            q: Mutex::new(Queue {
                spool,
                mem: VecDeque::new(),
                mem_cap: cfg.queue_capacity.max(1),
                removed: 0,
                shutdown: false,
                stats: SyslogStats::default(),
            }),
            cv: Condvar::new(),
        });
        let sender = Sender {
            target: cfg.target.clone(),
            framing: cfg.framing,
            tls,
            shared: shared.clone(),
            conn: None,
        };
        let handle = std::thread::Builder::new()
            .name("syslog-sender".into())
            .spawn(move || sender.run())?;
        Ok(SyslogSink {
            formatter: SyslogFormatter::new(&cfg),
            shared,
            sender: Some(handle),
            target: cfg.target,
        })
    }

    pub fn target(&self) -> &SyslogTarget {
        &self.target
    }

    /// Queues one alert; never blocks on the network.
    pub fn send(&self, alert: &serde_json::Value) {
        let (frame, truncated) = self.formatter.build(alert, now_ms());
        let mut q = self.shared.lock();
        q.stats.truncated += u64::from(truncated);
        q.push(frame);
        drop(q);
        self.shared.cv.notify_all();
    }

    /// Waits up to `timeout` for every queued alert to be delivered, then syncs the spool to
    /// disk. True if nothing is left undelivered.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.lock();
        while q.len() > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            q = self
                .shared
                .cv
                .wait_timeout(q, deadline - now)
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let r = q.spool.sync();
        q.note_spool_result(r);
        q.len() == 0
    }

    pub fn stats(&self) -> SyslogStats {
        self.shared.lock().refresh_stats()
    }

    /// Stops the sender: it delivers what it can within `timeout`, the rest goes to the spool.
    pub fn close(mut self, timeout: Duration) -> SyslogStats {
        self.shutdown(timeout);
        self.stats()
    }

    fn shutdown(&mut self, timeout: Duration) {
        let Some(handle) = self.sender.take() else {
            return;
        };
        self.flush(timeout);
        self.shared.lock().shutdown = true;
        self.shared.cv.notify_all();
        let _ = handle.join();
        let mut q = self.shared.lock();
        q.spill();
        let r = q.spool.sync();
        q.note_spool_result(r);
        if q.spool.is_memory() && !q.spool.is_empty() {
            q.stats.dropped_at_exit += q.spool.len() as u64;
            tracing::error!(
                lost = q.spool.len(),
                "syslog: undelivered alerts lost at exit (no state directory for a disk spool)"
            );
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.shutdown(Duration::from_secs(2));
    }
}

fn tls_config(ca_file: Option<&Path>) -> io::Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let path = ca_file.unwrap_or(Path::new("/etc/ssl/certs/ca-certificates.crt"));
    let bad = |e: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS CA file {}: {e}", path.display()),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificates in it".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

enum Conn {
    Unix(UnixDatagram),
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// True for errors that retrying the same frame cannot fix.
fn is_oversize(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EMSGSIZE) || e.raw_os_error() == Some(libc::ENOBUFS)
}

impl Conn {
    fn write_frame(&mut self, frame: &[u8], framing: Framing) -> io::Result<()> {
        let short = || io::Error::new(io::ErrorKind::WriteZero, "short datagram write");
        match self {
            Conn::Unix(s) => (s.send(frame)? == frame.len())
                .then_some(())
                .ok_or_else(short),
            Conn::Udp(s) => (s.send(frame)? == frame.len())
                .then_some(())
                .ok_or_else(short),
            Conn::Tcp(s) => write_stream_frame(s, frame, framing),
            Conn::Tls(s) => write_stream_frame(&mut **s, frame, framing),
        }
    }

    /// Whether the peer has already closed or reset a stream connection.
    fn peer_closed(&mut self) -> bool {
        let fd = match self {
            Conn::Tcp(s) => s.as_raw_fd(),
            Conn::Tls(s) => s.sock.as_raw_fd(),
            Conn::Unix(_) | Conn::Udp(_) => return false,
        };
        let mut b = [0u8; 1];
        // SAFETY: recv into a valid one-byte buffer on a socket we own.
        let n = unsafe {
            libc::recv(
                fd,
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match n {
            0 => true,
            n if n < 0 => io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock,
            _ => match self {
                // TLS records from the server (session tickets, close_notify): process them.
                Conn::Tls(s) => tls_peer_closed(s),
                // A syslog server does not talk back over plain TCP; nothing to do.
                _ => false,
            },
        }
    }
}

fn tls_peer_closed(s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> bool {
    if s.sock.set_nonblocking(true).is_err() {
        return true;
    }
    let mut closed = false;
    loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {
                if s.conn.process_new_packets().is_err() {
                    closed = true;
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let mut sink = [0u8; 256];
    loop {
        match s.conn.reader().read(&mut sink) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => continue,
            Err(_) => break, // WouldBlock: no application data, still open
        }
    }
    closed || s.sock.set_nonblocking(false).is_err()
}

/// RFC 6587 framing: octet counting (`LEN SP MSG`) or non-transparent (`MSG LF`).
fn write_stream_frame<W: Write>(w: &mut W, frame: &[u8], framing: Framing) -> io::Result<()> {
    let mut buf = Vec::with_capacity(frame.len() + 8);
    if framing == Framing::OctetCounting {
        let _ = write!(buf, "{} ", frame.len());
    }
    buf.extend_from_slice(frame);
    if framing == Framing::Lf {
        buf.push(b'\n');
    }
    // One write per frame, so a frame is never interleaved or split by us.
    w.write_all(&buf)?;
    w.flush()
}

fn connect_tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, IO_TIMEOUT) {
            Ok(s) => {
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

struct Sender {
    target: SyslogTarget,
    framing: Framing,
    tls: Option<Arc<rustls::ClientConfig>>,
    shared: Arc<Shared>,
    conn: Option<Conn>,
}

impl Sender {
    fn connect(&self) -> io::Result<Conn> {
        match &self.target {
            SyslogTarget::Unix(path) => {
                let s = UnixDatagram::unbound()?;
                s.connect(path)?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::Unix(s))
            }
            SyslogTarget::Udp { host, port } => {
                let addr = (host.as_str(), *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
                    })?;
                let local = if addr.is_ipv6() {
                    "[::]:0"
                } else {
                    "0.0.0.0:0"
                };
                let s = UdpSocket::bind(local)?;
                s.connect(addr)?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                Ok(Conn::Udp(s))
            }
            SyslogTarget::Tcp { host, port } => Ok(Conn::Tcp(connect_tcp(host, *port)?)),
            SyslogTarget::Tls { host, port } => {
                let sock = connect_tcp(host, *port)?;
                let name = rustls_pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
                let cfg = self
                    .tls
                    .clone()
                    .ok_or_else(|| io::Error::other("no TLS config"))?;
                let conn = rustls::ClientConnection::new(cfg, name).map_err(io::Error::other)?;
                let mut s = rustls::StreamOwned::new(conn, sock);
                // Handshake now, so certificate errors show up as connect errors.
                while s.conn.is_handshaking() {
                    s.conn.complete_io(&mut s.sock)?;
                }
                Ok(Conn::Tls(Box::new(s)))
            }
        }
    }

    fn run(mut self) {
        let mut backoff = INITIAL_BACKOFF;
        let mut next_attempt = Instant::now();
        let mut last_sync = Instant::now();
        let mut logged_down = false;
        loop {
            let (id, frame) = {
                let mut q = self.shared.lock();
                loop {
                    if last_sync.elapsed() >= SYNC_EVERY {
                        let r = q.spool.sync();
                        q.note_spool_result(r);
                        last_sync = Instant::now();
                    }
                    if q.shutdown {
                        return;
                    }
                    let now = Instant::now();
                    if q.len() > 0 && (self.conn.is_some() || now >= next_attempt) {
                        break;
                    }
                    // Waiting out a backoff: what arrives meanwhile goes to disk at once, so
                    // even a crash of auditwatch keeps it.
                    if self.conn.is_none() && !q.mem.is_empty() && !q.spool.is_memory() {
                        q.spill();
                    }
                    let wait = if q.len() > 0 {
                        next_attempt - now
                    } else {
                        SYNC_EVERY
                    };
                    q = self
                        .shared
                        .cv
                        .wait_timeout(q, wait.min(SYNC_EVERY))
                        .map(|r| r.0)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                match q.head() {
                    Some(h) => h,
                    None => continue,
                }
            };
            if self.conn.as_mut().is_some_and(Conn::peer_closed) {
                self.conn = None;
                self.shared.lock().stats.connected = false;
            }
            if self.conn.is_none() {
                match self.connect() {
                    Ok(c) => {
                        self.conn = Some(c);
                        let mut q = self.shared.lock();
                        q.stats.connects += 1;
                        q.stats.connected = true;
                        if logged_down {
                            tracing::info!(target = %self.target, "syslog collector reachable again");
                            logged_down = false;
                        }
                    }
                    Err(e) => {
                        self.down(&mut backoff, &mut next_attempt, &mut logged_down, &e, true);
                        continue;
                    }
                }
            }
            let conn = self.conn.as_mut().expect("connected above");
            match conn.write_frame(&frame, self.framing) {
                Ok(()) => {
                    backoff = INITIAL_BACKOFF;
                    let mut q = self.shared.lock();
                    q.commit(id);
                    q.stats.sent += 1;
                    drop(q);
                    self.shared.cv.notify_all();
                }
                Err(e) if !self.target.is_stream() && is_oversize(&e) => {
                    tracing::error!(bytes = frame.len(), error = %e, "syslog: alert too large for a datagram, dropped");
                    let mut q = self.shared.lock();
                    q.commit(id);
                    q.stats.dropped_oversize += 1;
                    drop(q);
                    self.shared.cv.notify_all();
                }
                Err(e) => {
                    self.conn = None;
                    self.shared.lock().stats.write_errors += 1;
                    // A peer that just restarted is often back at once: retry now, then back off.
                    self.down(&mut backoff, &mut next_attempt, &mut logged_down, &e, false);
                    next_attempt = Instant::now();
                }
            }
        }
    }

    fn down(
        &mut self,
        backoff: &mut Duration,
        next: &mut Instant,
        logged: &mut bool,
        e: &io::Error,
        connect: bool,
    ) {
        let mut q = self.shared.lock();
        q.stats.connected = false;
        if connect {
            q.stats.connect_errors += 1;
        }
        // While the collector is down, keep what waits on disk so a restart keeps it too.
        q.spill();
        drop(q);
        if !*logged {
            tracing::warn!(target = %self.target, error = %e, "syslog collector unreachable; alerts go to the spool");
            *logged = true;
        }
        *next = Instant::now() + *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_urls() {
        assert_eq!(
            SyslogTarget::parse("unix:///dev/log"),
            Ok(SyslogTarget::Unix("/dev/log".into()))
        );
        assert_eq!(
            SyslogTarget::parse("udp://10.0.0.1"),
            Ok(SyslogTarget::Udp {
                host: "10.0.0.1".into(),
                port: 514
            })
        );
        assert_eq!(
            SyslogTarget::parse("tcp://log.example:601"),
            Ok(SyslogTarget::Tcp {
                host: "log.example".into(),
                port: 601
            })
        );
        assert_eq!(
            SyslogTarget::parse("tls://[::1]"),
            Ok(SyslogTarget::Tls {
                host: "::1".into(),
                port: 6514
            })
        );
        assert_eq!(
            SyslogTarget::parse("tls://[::1]:7000").map(|t| t.to_string()),
            Ok("tls://[::1]:7000".into())
        );
        for bad in [
            "/dev/log",
            "http://x",
            "udp://",
            "tcp://h:0",
            "tcp://h:70000",
            "unix://dev/log",
            "udp://[::1",
            "tcp://h:x",
        ] {
            assert!(SyslogTarget::parse(bad).is_err(), "{bad}");
        }
    }

    fn alert() -> serde_json::Value {
        json!({
            "@timestamp": "2024-05-01T10:00:00.000Z",
            "kibana.alert.rule.rule_id": "a\"b]c\\d",
            "kibana.alert.severity": "high",
            "kibana.alert.risk_score": 73,
            "process": {"args": ["sh", "-c", "echo\n<13>1 fake\r\u{0}\u{2028}\u{7f}"]}
        })
    }

    #[test]
    fn rfc5424_header_sd_and_safe_msg() {
        let cfg = SyslogConfig {
            hostname: Some("web 1".into()),
            ..SyslogConfig::new(SyslogTarget::parse("udp://h").unwrap())
        };
        let f = SyslogFormatter::new(&cfg);
        let out = String::from_utf8(f.format_at(&alert(), 1_714_557_600_123)).unwrap();
        let pid = std::process::id();
        let head = format!(
            "<35>1 2024-05-01T10:00:00.123Z web_1 auditwatch {pid} alert [auditwatch@32473 risk_score=\"73\" rule_id=\"a\\\"b\\]c\\\\d\"] {{"
        );
        assert!(out.starts_with(&head), "{out}");
        assert!(!out.bytes().any(|b| b < 0x20 || b == 0x7f), "{out:?}");
        let msg = &out[head.len() - 1..];
        let back: serde_json::Value = serde_json::from_str(msg).unwrap();
        assert_eq!(back, alert());
    }

    #[test]
    fn rfc3164_local_has_no_hostname() {
        let cfg = SyslogConfig {
            facility: Facility::LOG_LOCAL3,
            ..SyslogConfig::new(SyslogTarget::parse("unix:///dev/log").unwrap())
        };
        assert_eq!(cfg.format, SyslogFormat::Rfc3164);
        let out = String::from_utf8(
            SyslogFormatter::new(&cfg).format(&json!({"rule": {"severity": "critical"}})),
        )
        .unwrap();
        // local3 (19) * 8 + crit (2)
        assert!(out.starts_with("<154>"), "{out}");
        let tag = format!(
            " auditwatch[{}]: {{\"rule\":{{\"severity\":\"critical\"}}}}",
            std::process::id()
        );
        assert!(out.ends_with(&tag), "{out}");
        // `<PRI>Mmm dd hh:mm:ss` then the tag, no host name in between.
        assert_eq!(out.len(), 5 + 15 + tag.len(), "{out}");
    }

    #[test]
    fn oversized_alert_is_cut_to_valid_json() {
        let cfg = SyslogConfig::new(SyslogTarget::parse("tcp://h").unwrap());
        let f = SyslogFormatter::new(&cfg);
        let huge = "A\n".repeat(100_000);
        let many: Vec<String> = (0..5000).map(|i| format!("arg{i}")).collect();
        let a = json!({"kibana.alert.rule.rule_id": "r1", "kibana.alert.severity": "low",
                       "process": {"args": many, "title": huge, "executable": "/bin/sh"}});
        let out = f.format(&a);
        assert!(out.len() <= 8096, "{}", out.len());
        let text = String::from_utf8(out).unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
        assert_eq!(back["auditwatch.truncated"], true);
        assert_eq!(back["kibana.alert.rule.rule_id"], "r1");
        assert_eq!(back["process"]["executable"], "/bin/sh");
        assert!(back["process"]["args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .ends_with("more)"));
        // A small alert is untouched.
        let small = f.format(&json!({"a": 1}));
        assert!(String::from_utf8(small).unwrap().ends_with(" - {\"a\":1}"));
        // Even a flood of keys ends up within the bound.
        let keys: serde_json::Map<String, serde_json::Value> =
            (0..3000).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut flood = serde_json::Value::Object(keys);
        flood["process.executable"] = json!("/bin/sh");
        let out = f.format(&flood);
        assert!(out.len() <= 8096);
        let text = String::from_utf8(out).unwrap();
        let back: serde_json::Value =
            serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
        assert_eq!(back["process.executable"], "/bin/sh");
    }

    #[test]
    fn stream_framing() {
        let mut oc = Vec::new();
        write_stream_frame(&mut oc, b"<13>1 x", Framing::OctetCounting).unwrap();
        assert_eq!(oc, b"7 <13>1 x");
        let mut lf = Vec::new();
        write_stream_frame(&mut lf, b"<13>1 x", Framing::Lf).unwrap();
        assert_eq!(lf, b"<13>1 x\n");
    }

    #[test]
    fn severity_mapping() {
        assert_eq!(severity_of(Some("critical")) as u8, 2);
        assert_eq!(severity_of(Some("High")) as u8, 3);
        assert_eq!(severity_of(Some("medium")) as u8, 4);
        assert_eq!(severity_of(Some("low")) as u8, 5);
        assert_eq!(severity_of(None) as u8, 4);
    }

    #[test]
    fn lookup_mixed_paths() {
        let v = json!({"kibana": {"alert.rule": {"rule_id": "x"}}, "rule.severity": "low"});
        assert_eq!(lookup(&v, "kibana.alert.rule.rule_id"), Some(&json!("x")));
        assert_eq!(lookup(&v, "rule.severity"), Some(&json!("low")));
        assert_eq!(lookup(&v, "rule.id"), None);
    }
}
