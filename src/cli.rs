//! The commands behind `auditwatch`'s command line (argument parsing lives in main.rs).

use crate::assemble::Limits as AssembleLimits;
use crate::ecs::{host::HostInfo, Normalizer};
use crate::event::Event;
use crate::output::ndjson::NdjsonWriter;
use crate::pipeline::{AlertSink, Front, Worker, WorkerStats, BATCH};
use crate::ratelimit::RateLimited;
use crate::record::Record;
use crate::source::log::{Line, LineReader};
use anyhow::Context;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Flags `replay` and `run` share.
#[derive(Clone, Debug, Default)]
pub struct CommonOpts {
    pub rules: Vec<PathBuf>,
    pub events: Option<String>,
    pub alerts: Option<String>,
    pub state_dir: Option<PathBuf>,
    pub syslog: Option<String>,
}

pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("AUDITWATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// The alert sinks: NDJSON to `opts.alerts` (`-` = stdout) and syslog when `--syslog` (or the
/// config's `[output.alerts] syslog_url`) names a collector. With neither an NDJSON target nor
/// syslog, alerts go to stdout. The syslog spool lives under the state directory, in memory
/// without one.
pub fn alert_sinks_for(
    opts: &CommonOpts,
    configured: Option<crate::output::syslog::SyslogConfig>,
) -> anyhow::Result<Vec<Box<dyn AlertSink>>> {
    use crate::output::syslog::{SyslogConfig, SyslogSink, SyslogTarget};
    let syslog = match &opts.syslog {
        Some(url) => Some(SyslogConfig::new(
            SyslogTarget::parse(url).map_err(|e| anyhow::anyhow!("--syslog {url}: {e}"))?,
        )),
        None => configured,
    };
    let ndjson = opts
        .alerts
        .as_deref()
        .or(if syslog.is_none() { Some("-") } else { None });
    let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
    if let Some(target) = ndjson {
        sinks.push(Box::new(
            NdjsonWriter::open(target)
                .with_context(|| format!("opening alerts output {target}"))?,
        ));
    }
    if let Some(cfg) = syslog {
        let spool = opts.state_dir.as_ref().map(|d| d.join("spool"));
        sinks.push(Box::new(
            SyslogSink::new(cfg, spool).context("starting the syslog output")?,
        ));
    }
    Ok(sinks)
}

fn alert_sinks(opts: &CommonOpts) -> anyhow::Result<Vec<Box<dyn AlertSink>>> {
    alert_sinks_for(opts, None)
}

/// Compiles the detection rules (the bundled ones when no path is given). A rule that does not
/// load is reported with its file:line:col and skipped; the others run.
pub fn load_rules(paths: &[PathBuf]) -> Vec<crate::detect::rule::Rule> {
    use crate::detect::rule::{load_bundled, load_paths, Status};
    let loaded = if paths.is_empty() {
        load_bundled()
    } else {
        load_paths(paths)
    };
    let mut rules = Vec::with_capacity(loaded.len());
    for l in loaded {
        match l.status {
            Status::Ok => rules.extend(l.rule),
            Status::Unsupported => {
                tracing::info!(
                    "{}:{}:{}: rule not run: {}",
                    l.file,
                    l.line,
                    l.col,
                    l.message
                )
            }
            Status::Error => tracing::error!(
                "{}:{}:{}: rule skipped: {}",
                l.file,
                l.line,
                l.col,
                l.message
            ),
        }
    }
    rules
}

fn events_out(opts: &CommonOpts) -> anyhow::Result<Option<NdjsonWriter>> {
    opts.events
        .as_deref()
        .map(|t| NdjsonWriter::open(t).with_context(|| format!("opening events output {t}")))
        .transpose()
}

/// Loads the rules (bundled ones when no path is given); rules that fail are reported and skipped.
fn engine(opts: &CommonOpts) -> anyhow::Result<crate::detect::engine::Engine> {
    use crate::detect::engine::{Engine, EngineConfig};
    if let Some(dir) = &opts.state_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating state directory {}", dir.display()))?;
    }
    let config = EngineConfig {
        state_dir: opts.state_dir.clone(),
        ..EngineConfig::default()
    };
    Engine::new(load_rules(&opts.rules), config).context("opening the detection state")
}

/// Shows progress on stderr for large inputs read from a terminal session.
struct Progress {
    total: u64,
    last: Instant,
    on: bool,
}

impl Progress {
    fn new(logs: &[String]) -> Self {
        let total: u64 = logs
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Progress {
            total,
            last: Instant::now(),
            on: std::io::stderr().is_terminal() && total > 64 << 20,
        }
    }
    fn update(&mut self, done: u64, records: u64) {
        if self.on && self.last.elapsed() > Duration::from_millis(200) {
            self.last = Instant::now();
            let pct = done as f64 * 100.0 / self.total.max(1) as f64;
            eprint!("\r{pct:5.1}%  {records} records");
        }
    }
    fn finish(&self) {
        if self.on {
            eprintln!();
        }
    }
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ReplaySummary {
    pub lines: u64,
    pub parse_errors: u64,
    pub overlong_lines: u64,
    pub assemble: crate::assemble::Stats,
    pub worker: WorkerStats,
}

pub fn replay(opts: CommonOpts, logs: Vec<String>) -> anyhow::Result<ExitCode> {
    let engine = engine(&opts)?;
    let mut worker = Worker::new(Some(engine), events_out(&opts)?, alert_sinks(&opts)?);
    let (tx, rx) = crossbeam_channel::bounded::<Vec<std::sync::Arc<Event>>>(64);
    // Handled events go back here to be freed where they were built (`Reaper`); when the
    // queue is full the worker frees them.
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Vec<std::sync::Arc<Event>>>(16);
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            for batch in rx {
                // Stream time is the newest event's time.
                let newest = batch.iter().map(|e| e.timestamp_ms).max();
                let _ = done_tx.try_send(worker.handle(batch));
                if let Some(t) = newest {
                    worker.tick(t);
                }
                worker.flush();
            }
            worker.finish();
            worker.stats()
        })?;

    let mut front = Front::new(
        Normalizer::new(HostInfo::detect()),
        AssembleLimits::default(),
    );
    let mut summary = ReplaySummary::default();
    let mut warn = RateLimited::new(Duration::from_secs(5));
    let mut progress = Progress::new(&logs);
    let mut batch = Vec::with_capacity(BATCH);
    let mut reaper = crate::pipeline::Reaper::new();
    let mut done_before = 0;
    for log in &logs {
        let mut reader = LineReader::open(log).with_context(|| format!("opening {log}"))?;
        while let Some(line) = reader
            .next_line()
            .with_context(|| format!("reading {log}"))?
        {
            summary.lines += 1;
            match line {
                Line::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Line::Text(t) => match Record::parse_log_line(t) {
                    Ok(rec) => front.push(rec, &mut batch),
                    Err(e) => {
                        summary.parse_errors += 1;
                        let at = reader.line_no();
                        warn.warn(|| format!("{log}:{at}: skipped: {e}"));
                    }
                },
                Line::TooLong { len } => {
                    summary.overlong_lines += 1;
                    let at = reader.line_no();
                    warn.warn(|| format!("{log}:{at}: skipped a line of {len} bytes (longer than any audit record)"));
                }
            }
            if batch.len() >= BATCH {
                if tx.send(crate::pipeline::share(&mut batch)).is_err() {
                    break;
                }
                while let Ok(done) = done_rx.try_recv() {
                    reaper.take(done);
                }
                progress.update(
                    done_before + reader.bytes_read(),
                    front.assemble_stats().records,
                );
            }
        }
        done_before += reader.bytes_read();
    }
    front.flush(&mut batch);
    let _ = tx.send(crate::pipeline::share(&mut batch));
    drop(tx);
    progress.finish();
    summary.worker = worker
        .join()
        .map_err(|_| anyhow::anyhow!("worker thread panicked"))?;
    summary.assemble = front.assemble_stats();
    let s = &summary;
    tracing::info!(
        "replayed {} lines: {} records, {} events, {} alerts; {} unparsable lines, {} overlong lines, {} lost (sequence gaps), {} late records; rule state peaked at {} KiB of events held, {} states dropped by bounds",
        s.lines,
        s.assemble.records,
        s.assemble.events,
        s.worker.alerts,
        s.parse_errors,
        s.overlong_lines,
        s.assemble.lost,
        s.assemble.late_records,
        s.worker.rule_state.held_peak_bytes >> 10,
        s.worker.rule_state.dropped
    );
    std::io::stdout().flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(
    opts: CommonOpts,
    config: PathBuf,
    audit_rules: Vec<PathBuf>,
    socket_type: Option<String>,
) -> anyhow::Result<ExitCode> {
    crate::daemon::run(crate::daemon::RunOpts {
        common: opts,
        config,
        audit_rules,
        socket_type,
    })
}

pub fn rules_check(paths: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let ok = crate::detect::check::check(paths, json, &mut out)?;
    out.flush()?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn config_check(file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = file.unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_PATH));
    let mut out = std::io::stdout().lock();
    let ok = crate::config::check(&path, &mut out);
    out.flush()?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Clone, Copy, Debug)]
pub enum AuditRulesOp {
    Check,
    Compile,
    List,
    Load,
    Delete,
}

/// `auditwatch audit-rules ...`: kernel rules for the operator (bundled ones without paths).
pub fn audit_rules(op: AuditRulesOp, paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    use crate::kernel::netlink::AuditClient;
    use crate::kernel::rules as krules;
    let mut out = std::io::stdout().lock();
    if let AuditRulesOp::List = op {
        let mut client =
            AuditClient::open().context("opening the audit netlink socket (root needed)")?;
        let rules = client.list_rules().context("listing kernel audit rules")?;
        if rules.is_empty() {
            writeln!(out, "No rules")?;
        }
        for r in rules {
            match krules::decode(&r) {
                Ok(text) => writeln!(out, "{text}")?,
                Err(e) => writeln!(out, "# undecodable rule ({} bytes): {e}", r.len())?,
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (set, errors) = if paths.is_empty() {
        krules::bundled()
    } else {
        load_paths_or_files(paths)
    };
    for e in &errors {
        eprintln!("error: {e}");
    }
    let rules: Vec<&krules::Rule> = set.rules().collect();
    match op {
        AuditRulesOp::Check => {
            writeln!(out, "{} rules, {} errors", rules.len(), errors.len())?;
        }
        AuditRulesOp::Compile => {
            for r in &rules {
                let hex: String = r.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
                writeln!(out, "{r}\n  {hex}")?;
            }
        }
        AuditRulesOp::Load | AuditRulesOp::Delete => {
            let mut client =
                AuditClient::open().context("opening the audit netlink socket (root needed)")?;
            let mut failed = 0;
            for r in &rules {
                let res = if matches!(op, AuditRulesOp::Load) {
                    client.add_rule(&r.to_bytes())
                } else {
                    client.delete_rule(&r.to_bytes())
                };
                match res {
                    Ok(()) => writeln!(
                        out,
                        "{} {r}",
                        if matches!(op, AuditRulesOp::Load) {
                            "loaded"
                        } else {
                            "deleted"
                        }
                    )?,
                    Err(e) => {
                        failed += 1;
                        eprintln!("{r}: {e}");
                    }
                }
            }
            if failed > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        AuditRulesOp::List => unreachable!("handled above"),
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Directories load augenrules-style; single files load as they are.
fn load_paths_or_files(
    paths: &[PathBuf],
) -> (
    crate::kernel::rules::RuleSet,
    Vec<crate::kernel::rules::RuleError>,
) {
    use crate::kernel::rules as krules;
    let mut set = krules::RuleSet::default();
    let mut errors = Vec::new();
    for p in paths {
        let (s, e) = if p.is_dir() {
            krules::load_dirs(std::slice::from_ref(p))
        } else {
            krules::parse_file(p)
        };
        set.extend(s);
        errors.extend(e);
    }
    (set, errors)
}

/// `auditwatch status`: the running sensor's counters (its status file) and the kernel's view.
pub fn status(state_dir: &std::path::Path, json: bool) -> anyhow::Result<ExitCode> {
    let path = crate::daemon::status_path(state_dir);
    let sensor: Option<serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let kernel = crate::kernel::netlink::AuditClient::open().and_then(|mut c| c.get_status());
    let mut out = std::io::stdout().lock();
    if json {
        let k = kernel
            .as_ref()
            .ok()
            .map(|s| serde_json::to_value(s).unwrap_or_default());
        writeln!(
            out,
            "{}",
            serde_json::json!({"sensor": sensor, "kernel": k})
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    match &sensor {
        Some(s) => writeln!(
            out,
            "sensor ({}):\n{}",
            path.display(),
            serde_json::to_string_pretty(s)?
        )?,
        None => writeln!(
            out,
            "sensor: no status at {} (not running, or another --state-dir)",
            path.display()
        )?,
    }
    match kernel {
        Ok(k) => writeln!(out, "kernel:\n{}", serde_json::to_string_pretty(&k)?)?,
        Err(e) => writeln!(out, "kernel: {e}")?,
    }
    Ok(ExitCode::SUCCESS)
}
