//! The configuration file, `/etc/auditwatch/auditwatch.toml`. Every key is documented in
//! `packaging/auditwatch.toml`; [`Config::default`] is what `auditwatch run` uses without one.
//!
//! Parsed with `toml_edit`, which keeps the position of every key and value, so all problems
//! are reported at once, each with line and column: syntax errors, unknown keys (with a "did
//! you mean"), wrong types, values out of range, bad syslog URLs.

use crate::output::syslog::{parse_facility, Framing, SyslogConfig, SyslogFormat, SyslogTarget};
use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml_edit::{Item, TableLike};

pub const DEFAULT_PATH: &str = "/etc/auditwatch/auditwatch.toml";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/auditwatch";

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub rules: RulesConfig,
    pub audit_rules: AuditRulesConfig,
    pub kernel: KernelConfig,
    pub state: StateConfig,
    pub output: OutputConfig,
    pub host: HostConfig,
    pub reassembler: ReassemblerConfig,
    pub detection: DetectionConfig,
    pub logging: LoggingConfig,
}

/// `[rules]`: detection rules (files or directories of them).
#[derive(Clone, Debug, PartialEq)]
pub struct RulesConfig {
    pub paths: Vec<PathBuf>,
}

/// `[audit_rules]`: kernel audit rules (auditctl syntax) loaded at start.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditRulesConfig {
    pub paths: Vec<PathBuf>,
    /// Delete the kernel's existing rules before loading ours.
    pub replace_existing: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketType {
    /// Multicast when the kernel has it (3.16+) and another audit daemon owns unicast.
    Auto,
    Unicast,
    Multicast,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureMode {
    Silent,
    Printk,
    Panic,
}

impl FailureMode {
    /// The kernel's `failure` value (`auditctl -f`).
    pub fn as_kernel(self) -> u32 {
        match self {
            FailureMode::Silent => 0,
            FailureMode::Printk => 1,
            FailureMode::Panic => 2,
        }
    }
}

/// `[kernel]`: the audit netlink socket and kernel audit settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelConfig {
    pub socket_type: SocketType,
    /// Turn auditing on at start (`auditctl -e 1`); an immutable (`-e 2`) kernel is left alone.
    pub enabled: bool,
    pub backlog_limit: u32,
    /// Messages per second, 0 = unlimited.
    pub rate_limit: u32,
    pub failure_mode: FailureMode,
    /// Kernel ticks to wait when the backlog is full; `None` leaves the kernel's value.
    pub backlog_wait_time: Option<u32>,
    pub receive_buffer_bytes: usize,
    /// Events queued between the reader and the pipeline.
    pub channel_capacity: usize,
    /// How long the reader waits for room in a full queue before it drops (and counts).
    pub block_ms: u64,
}

/// `[state]`: where auditwatch keeps what must survive a restart (the syslog spool, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct StateConfig {
    /// `None` (`dir = ""`): keep nothing on disk; the syslog spool is then in memory.
    pub dir: Option<PathBuf>,
}

impl StateConfig {
    /// The syslog spool directory.
    pub fn spool_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("spool"))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutputConfig {
    pub alerts: AlertsOutput,
    pub events: EventsOutput,
}

/// `[output.alerts]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertsOutput {
    /// NDJSON file, or `-` for stdout.
    pub path: Option<String>,
    pub syslog: Option<SyslogConfig>,
}

/// `[output.events]`: every ECS event, as NDJSON.
#[derive(Clone, Debug, PartialEq)]
pub struct EventsOutput {
    /// File, `-` for stdout, `None` for no event output.
    pub path: Option<String>,
    pub max_size_bytes: u64,
    /// Rotated files kept besides the current one (`auditwatch.ndjson.1` ...).
    pub keep_files: u32,
    pub permissions: u32,
    pub exclude_kinds: Vec<String>,
    pub exclude_actions: Vec<String>,
    /// Empty: all categories.
    pub include_categories: Vec<String>,
}

/// `[host]`: overrides of what the host reports about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostConfig {
    pub name: Option<String>,
    pub id: Option<String>,
}

/// `[reassembler]`: bounds on records waiting for the rest of their event.
#[derive(Clone, Debug, PartialEq)]
pub struct ReassemblerConfig {
    pub timeout_ms: u64,
    pub max_in_flight: usize,
    pub max_gap_records: u64,
}

impl ReassemblerConfig {
    pub fn limits(&self) -> crate::assemble::Limits {
        crate::assemble::Limits {
            timeout_ms: self.timeout_ms as i64,
            max_in_flight: self.max_in_flight,
            max_gap_records: self.max_gap_records,
        }
    }
}

/// `[detection]`: bounds on the state rules keep between events.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectionConfig {
    /// Partial sequences / sample keys per rule.
    pub max_states: usize,
    /// Events all rules together hold (sequences, samples, thresholds), in MiB.
    pub max_held_mib: usize,
}

impl DetectionConfig {
    /// The engine's settings (`state_dir`: where new_terms history lives).
    pub fn engine(&self, state_dir: Option<PathBuf>) -> crate::detect::engine::EngineConfig {
        let mut c = crate::detect::engine::EngineConfig {
            state_dir,
            max_held_bytes: self.max_held_mib << 20,
            ..Default::default()
        };
        c.eql_limits.max_states = self.max_states;
        c
    }
}

/// `[logging]`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingConfig {
    /// error, warn, info, debug or trace.
    pub level: String,
    /// Seconds between stats log lines; 0 = never.
    pub stats_interval_s: u64,
}

impl Default for Config {
    fn default() -> Self {
        let limits = crate::assemble::Limits::default();
        Config {
            // No paths: the detections and kernel rules embedded in the binary.
            rules: RulesConfig { paths: Vec::new() },
            audit_rules: AuditRulesConfig {
                paths: Vec::new(),
                replace_existing: false,
            },
            kernel: KernelConfig {
                socket_type: SocketType::Auto,
                enabled: true,
                backlog_limit: 8192,
                rate_limit: 0,
                failure_mode: FailureMode::Silent,
                backlog_wait_time: None,
                receive_buffer_bytes: 8 << 20,
                channel_capacity: 8192,
                block_ms: 200,
            },
            state: StateConfig {
                dir: Some(PathBuf::from(DEFAULT_STATE_DIR)),
            },
            output: OutputConfig {
                alerts: AlertsOutput {
                    path: Some("-".into()),
                    syslog: None,
                },
                events: EventsOutput {
                    path: None,
                    max_size_bytes: 10 << 20,
                    keep_files: 7,
                    permissions: 0o600,
                    exclude_kinds: Vec::new(),
                    exclude_actions: Vec::new(),
                    include_categories: Vec::new(),
                },
            },
            host: HostConfig::default(),
            reassembler: ReassemblerConfig {
                timeout_ms: limits.timeout_ms.max(1) as u64,
                max_in_flight: limits.max_in_flight,
                max_gap_records: limits.max_gap_records,
            },
            detection: DetectionConfig {
                max_states: crate::detect::eql::Limits::default().max_states,
                max_held_mib: crate::detect::engine::DEFAULT_MAX_HELD_BYTES >> 20,
            },
            logging: LoggingConfig {
                level: "info".into(),
                stats_interval_s: 60,
            },
        }
    }
}

/// One problem in a config file; `line`/`column` are 1-based, 0 when it concerns the whole file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        }
    }
}

impl Config {
    /// Reads and checks a config file. Keys left out keep their defaults.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                line: 0,
                column: 0,
                message: format!("cannot read {}: {e}", path.display()),
            }]
        })?;
        Config::parse(&text)
    }

    /// The default file if it exists, else the defaults.
    pub fn load_default() -> Result<Config, Vec<ConfigError>> {
        let p = Path::new(DEFAULT_PATH);
        if p.exists() {
            Config::load(p)
        } else {
            Ok(Config::default())
        }
    }

    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let mut cx = Ctx {
            src: text,
            errors: Vec::new(),
        };
        let doc = match toml_edit::ImDocument::parse(text) {
            Ok(d) => d,
            Err(e) => {
                let msg = e.message().trim().to_owned();
                cx.error(e.span(), format!("TOML syntax: {msg}"));
                return Err(cx.errors);
            }
        };
        let mut cfg = Config::default();
        cx.walk(doc.as_table(), &mut cfg);
        if cx.errors.is_empty() {
            Ok(cfg)
        } else {
            cx.errors.sort_by_key(|e| (e.line, e.column));
            Err(cx.errors)
        }
    }
}

/// `auditwatch config check [FILE]`: prints `FILE: OK` or each error as `FILE:LINE:COL: msg`
/// with the line and a caret under the column. True if the file is good.
pub fn check(path: &Path, out: &mut dyn Write) -> bool {
    match Config::load(path) {
        Ok(_) => {
            let _ = writeln!(out, "{}: OK", path.display());
            true
        }
        Err(errors) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            for e in &errors {
                let _ = writeln!(out, "{}:{e}", path.display());
                if let Some(line) = text.lines().nth(e.line.wrapping_sub(1)) {
                    let _ = writeln!(out, "    {line}");
                    let _ = writeln!(out, "    {}^", " ".repeat(e.column.saturating_sub(1)));
                }
            }
            let _ = writeln!(out, "{}: {} error(s)", path.display(), errors.len());
            false
        }
    }
}

const SECTIONS: &[&str] = &[
    "rules",
    "audit_rules",
    "kernel",
    "state",
    "output",
    "host",
    "reassembler",
    "detection",
    "logging",
];

struct Ctx<'a> {
    src: &'a str,
    errors: Vec<ConfigError>,
}

type Table<'t> = &'t dyn TableLike;

impl Ctx<'_> {
    fn error(&mut self, span: Option<Range<usize>>, message: String) {
        let (line, column) = match span {
            Some(r) => line_col(self.src, r.start),
            None => (1, 1),
        };
        self.errors.push(ConfigError {
            line,
            column,
            message,
        });
    }

    fn walk(&mut self, root: Table<'_>, cfg: &mut Config) {
        self.unknown_keys(root, "", SECTIONS);
        if let Some(t) = self.section(root, "rules") {
            self.unknown_keys(t, "[rules]", &["paths"]);
            if let Some(p) = self.paths(t, "paths") {
                cfg.rules.paths = p;
            }
        }
        if let Some(t) = self.section(root, "audit_rules") {
            self.unknown_keys(t, "[audit_rules]", &["paths", "replace_existing"]);
            if let Some(p) = self.paths(t, "paths") {
                cfg.audit_rules.paths = p;
            }
            self.set_bool(t, "replace_existing", &mut cfg.audit_rules.replace_existing);
        }
        if let Some(t) = self.section(root, "kernel") {
            self.kernel(t, &mut cfg.kernel);
        }
        if let Some(t) = self.section(root, "state") {
            self.unknown_keys(t, "[state]", &["dir"]);
            if let Some(d) = self.string(t, "dir") {
                cfg.state.dir = (!d.is_empty()).then(|| PathBuf::from(d));
            }
        }
        if let Some(t) = self.section(root, "host") {
            self.unknown_keys(t, "[host]", &["name", "id"]);
            cfg.host.name = self.nonempty_string(t, "name");
            cfg.host.id = self.nonempty_string(t, "id");
        }
        if let Some(t) = self.section(root, "reassembler") {
            self.unknown_keys(
                t,
                "[reassembler]",
                &["timeout_ms", "max_in_flight", "max_gap_records"],
            );
            let r = &mut cfg.reassembler;
            self.set_int(t, "timeout_ms", 1, 600_000, &mut r.timeout_ms);
            self.set_int(t, "max_in_flight", 1, 10_000_000, &mut r.max_in_flight);
            self.set_int(t, "max_gap_records", 1, 100_000_000, &mut r.max_gap_records);
        }
        if let Some(t) = self.section(root, "detection") {
            self.unknown_keys(t, "[detection]", &["max_states", "max_held_mib"]);
            let d = &mut cfg.detection;
            self.set_int(t, "max_states", 1, 10_000_000, &mut d.max_states);
            self.set_int(t, "max_held_mib", 1, 1 << 20, &mut d.max_held_mib);
        }
        if let Some(t) = self.section(root, "logging") {
            self.unknown_keys(t, "[logging]", &["level", "stats_interval_s"]);
            if let Some(l) = self.choice(t, "level", &["error", "warn", "info", "debug", "trace"]) {
                cfg.logging.level = l;
            }
            self.set_int(
                t,
                "stats_interval_s",
                0,
                86_400,
                &mut cfg.logging.stats_interval_s,
            );
        }
        if let Some(out) = self.section(root, "output") {
            self.unknown_keys(out, "[output]", &["alerts", "events"]);
            if let Some(t) = self.section(out, "alerts") {
                self.alerts(t, &cfg.host, &mut cfg.output.alerts);
            }
            if let Some(t) = self.section(out, "events") {
                self.events(t, &mut cfg.output.events);
            }
        }
        // The host name override also names the host in syslog headers.
        if let (Some(s), Some(h)) = (&mut cfg.output.alerts.syslog, &cfg.host.name) {
            s.hostname.get_or_insert_with(|| h.clone());
        }
    }

    fn kernel(&mut self, t: Table<'_>, k: &mut KernelConfig) {
        self.unknown_keys(
            t,
            "[kernel]",
            &[
                "socket_type",
                "enabled",
                "backlog_limit",
                "rate_limit",
                "failure_mode",
                "backlog_wait_time",
                "receive_buffer_bytes",
                "channel_capacity",
                "block_ms",
            ],
        );
        if let Some(s) = self.choice(t, "socket_type", &["auto", "unicast", "multicast"]) {
            k.socket_type = match s.as_str() {
                "unicast" => SocketType::Unicast,
                "multicast" => SocketType::Multicast,
                _ => SocketType::Auto,
            };
        }
        self.set_bool(t, "enabled", &mut k.enabled);
        self.set_int(t, "backlog_limit", 1, u32::MAX as i64, &mut k.backlog_limit);
        self.set_int(t, "rate_limit", 0, u32::MAX as i64, &mut k.rate_limit);
        if let Some(s) = self.choice(t, "failure_mode", &["silent", "printk", "panic"]) {
            k.failure_mode = match s.as_str() {
                "printk" => FailureMode::Printk,
                "panic" => FailureMode::Panic,
                _ => FailureMode::Silent,
            };
        }
        let mut wait = 0u32;
        if self.set_int(t, "backlog_wait_time", 0, 600_000, &mut wait) {
            k.backlog_wait_time = Some(wait);
        }
        self.set_int(
            t,
            "receive_buffer_bytes",
            65_536,
            1 << 30,
            &mut k.receive_buffer_bytes,
        );
        self.set_int(
            t,
            "channel_capacity",
            1,
            10_000_000,
            &mut k.channel_capacity,
        );
        self.set_int(t, "block_ms", 0, 60_000, &mut k.block_ms);
    }

    fn alerts(&mut self, t: Table<'_>, host: &HostConfig, a: &mut AlertsOutput) {
        const SYSLOG_KEYS: &[&str] = &[
            "syslog_format",
            "syslog_facility",
            "syslog_hostname",
            "tls_ca_file",
            "spool_max_mb",
            "queue_capacity",
            "syslog_max_message_bytes",
            "syslog_framing",
        ];
        let mut known = vec!["path", "syslog_url"];
        known.extend_from_slice(SYSLOG_KEYS);
        self.unknown_keys(t, "[output.alerts]", &known);
        let path = self.string(t, "path");
        let url = self
            .string(t, "syslog_url")
            .and_then(|u| match SyslogTarget::parse(&u) {
                Ok(target) => Some(target),
                Err(e) => {
                    self.error(t.get("syslog_url").and_then(Item::span), e);
                    None
                }
            });
        // Naming a syslog target alone sends alerts there only; `path` adds a file or stdout.
        a.path = match (&path, t.contains_key("syslog_url")) {
            (Some(p), _) if p.is_empty() => None,
            (Some(p), _) => Some(p.clone()),
            (None, true) => None,
            (None, false) => a.path.take(),
        };
        let Some(target) = url else {
            if !t.contains_key("syslog_url") {
                for k in SYSLOG_KEYS {
                    if let Some((key, _)) = t.get_key_value(k) {
                        self.error(
                            key.span(),
                            format!("`{k}` needs `syslog_url` in [output.alerts]"),
                        );
                    }
                }
            }
            return;
        };
        let is_tls = matches!(target, SyslogTarget::Tls { .. });
        let mut s = SyslogConfig::new(target);
        if let Some(f) = self.choice(t, "syslog_format", &["rfc5424", "rfc3164"]) {
            s.format = SyslogFormat::parse(&f).expect("checked by choice");
        }
        if let Some(f) = self.choice(t, "syslog_framing", &["octet-counting", "lf"]) {
            s.framing = Framing::parse(&f).expect("checked by choice");
        }
        if let Some(f) = self.string(t, "syslog_facility") {
            match parse_facility(&f) {
                Some(fac) => s.facility = fac,
                None => self.error(
                    t.get("syslog_facility").and_then(Item::span),
                    format!("unknown syslog facility `{f}` (kern, user, daemon, auth, authpriv, syslog, local0 ... local7, ...)"),
                ),
            }
        }
        s.hostname = self
            .nonempty_string(t, "syslog_hostname")
            .or_else(|| host.name.clone());
        if let Some(ca) = self.nonempty_string(t, "tls_ca_file") {
            let span = t.get("tls_ca_file").and_then(Item::span);
            // Ignored for other targets, so switching tls:// off and on is one line.
            if let (true, Err(e)) = (is_tls, std::fs::metadata(&ca)) {
                self.error(span, format!("cannot read TLS CA file {ca}: {e}"));
            }
            s.tls_ca_file = Some(PathBuf::from(ca));
        }
        let mut mb = s.spool_max_bytes >> 20;
        self.set_int(t, "spool_max_mb", 1, 102_400, &mut mb);
        s.spool_max_bytes = mb << 20;
        self.set_int(t, "queue_capacity", 1, 1_000_000, &mut s.queue_capacity);
        self.set_int(
            t,
            "syslog_max_message_bytes",
            1024,
            1 << 20,
            &mut s.max_message_bytes,
        );
        a.syslog = Some(s);
    }

    fn events(&mut self, t: Table<'_>, e: &mut EventsOutput) {
        self.unknown_keys(
            t,
            "[output.events]",
            &[
                "path",
                "max_size_mb",
                "keep_files",
                "permissions",
                "exclude_kinds",
                "exclude_actions",
                "include_categories",
            ],
        );
        if let Some(p) = self.string(t, "path") {
            e.path = (!p.is_empty()).then_some(p);
        }
        let mut mb = e.max_size_bytes >> 20;
        self.set_int(t, "max_size_mb", 1, 1 << 20, &mut mb);
        e.max_size_bytes = mb << 20;
        self.set_int(t, "keep_files", 0, 1024, &mut e.keep_files);
        if let Some(item) = t.get("permissions") {
            let mode = match item.as_integer() {
                Some(i) => Some(i),
                None => item
                    .as_str()
                    .and_then(|s| i64::from_str_radix(s.trim_start_matches("0o"), 8).ok()),
            };
            match mode {
                Some(m) if (0..=0o777).contains(&m) && m & 0o600 == 0o600 => e.permissions = m as u32,
                _ => self.error(
                    item.span(),
                    "`permissions` must be a file mode like 0o600 or \"0640\" (owner read/write, nothing beyond 0o777)"
                        .into(),
                ),
            }
        }
        for (key, slot) in [
            ("exclude_kinds", &mut e.exclude_kinds),
            ("exclude_actions", &mut e.exclude_actions),
            ("include_categories", &mut e.include_categories),
        ] {
            if let Some(v) = self.strings(t, key) {
                *slot = v;
            }
        }
    }

    /// A sub-table; an error if the key holds something else.
    fn section<'t>(&mut self, t: Table<'t>, key: &str) -> Option<Table<'t>> {
        let item = t.get(key)?;
        match item.as_table_like() {
            Some(s) => Some(s),
            None => {
                self.error(
                    item.span(),
                    format!(
                        "`{key}` must be a table ([{key}]), found {}",
                        item.type_name()
                    ),
                );
                None
            }
        }
    }

    fn unknown_keys(&mut self, t: Table<'_>, section: &str, known: &[&str]) {
        for (k, _) in t.iter() {
            if known.contains(&k) {
                continue;
            }
            let span = t.get_key_value(k).and_then(|(key, _)| key.span());
            let hint = known
                .iter()
                .map(|c| (edit_distance(k, c), c))
                .filter(|(d, _)| *d <= 2.max(k.len() / 3))
                .min()
                .map(|(_, c)| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            let place = if section.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in {section}")
            };
            self.error(span, format!("unknown key `{k}` {place}{hint}"));
        }
    }

    fn expect(&mut self, item: &Item, key: &str, what: &str) {
        self.error(
            item.span(),
            format!("`{key}` must be {what}, found {}", item.type_name()),
        );
    }

    fn set_bool(&mut self, t: Table<'_>, key: &str, slot: &mut bool) {
        let Some(item) = t.get(key) else { return };
        match item.as_bool() {
            Some(b) => *slot = b,
            None => self.expect(item, key, "true or false"),
        }
    }

    /// Sets `slot` from an integer in `min..=max`; true if it did.
    fn set_int<T: TryFrom<i64>>(
        &mut self,
        t: Table<'_>,
        key: &str,
        min: i64,
        max: i64,
        slot: &mut T,
    ) -> bool {
        let Some(item) = t.get(key) else { return false };
        let Some(i) = item.as_integer() else {
            self.expect(item, key, "an integer");
            return false;
        };
        match T::try_from(i) {
            Ok(v) if (min..=max).contains(&i) => {
                *slot = v;
                true
            }
            _ => {
                self.error(
                    item.span(),
                    format!("`{key}` = {i} is out of range ({min} to {max})"),
                );
                false
            }
        }
    }

    fn string(&mut self, t: Table<'_>, key: &str) -> Option<String> {
        let item = t.get(key)?;
        match item.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.expect(item, key, "a string");
                None
            }
        }
    }

    fn nonempty_string(&mut self, t: Table<'_>, key: &str) -> Option<String> {
        self.string(t, key).filter(|s| !s.is_empty())
    }

    fn choice(&mut self, t: Table<'_>, key: &str, options: &[&str]) -> Option<String> {
        let s = self.string(t, key)?;
        if options.contains(&s.as_str()) {
            return Some(s);
        }
        let list = options
            .iter()
            .map(|o| format!("\"{o}\""))
            .collect::<Vec<_>>()
            .join(", ");
        self.error(
            t.get(key).and_then(Item::span),
            format!("`{key}` = \"{s}\" is not one of {list}"),
        );
        None
    }

    /// An array of strings; a lone string is taken as a list of one.
    fn strings(&mut self, t: Table<'_>, key: &str) -> Option<Vec<String>> {
        let item = t.get(key)?;
        if let Some(s) = item.as_str() {
            return Some(vec![s.to_owned()]);
        }
        let Some(arr) = item.as_array() else {
            self.expect(item, key, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(arr.len());
        for v in arr.iter() {
            match v.as_str() {
                Some(s) if !s.is_empty() => out.push(s.to_owned()),
                Some(_) => self.error(v.span(), format!("`{key}`: empty string")),
                None => self.error(
                    v.span(),
                    format!("`{key}` must hold strings, found {}", v.type_name()),
                ),
            }
        }
        Some(out)
    }

    fn paths(&mut self, t: Table<'_>, key: &str) -> Option<Vec<PathBuf>> {
        self.strings(t, key)
            .map(|v| v.into_iter().map(PathBuf::from).collect())
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(src.len());
    while !src.is_char_boundary(end) {
        end -= 1;
    }
    let before = &src[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(line_col("a\nbé c", 6), (2, 4));
        assert_eq!(line_col("abc", 0), (1, 1));
        assert_eq!(edit_distance("backlog_limt", "backlog_limit"), 1);
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        assert_eq!(Config::parse("# nothing\n\n").unwrap(), Config::default());
    }
}
