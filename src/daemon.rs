//! `auditwatch run`: the live sensor.
//!
//! ```text
//! netlink reader thread ──records──▶ this thread: Front ──events──▶ worker thread: Worker
//! ```
//!
//! Back-pressure policy, end to end: the worker's channel is bounded, so a slow worker makes
//! this thread block; then the reader's channel fills, and the reader blocks for at most
//! `[kernel] block_ms` before it drops the batch and counts it (`dropped_channel_full`). Nothing
//! queues without bound, and nothing is dropped without a counter and a log line.
//!
//! Stop (SIGTERM/SIGINT): the reader stops, what it read is drained through the pipeline, the
//! outputs are flushed, and the kernel session puts back the audit pid, the settings and the rule
//! list as they were before start. SIGHUP reloads the detection rules; rule state (sequences in
//! progress, new_terms history) carries over for rules that did not change.

use crate::cli::{alert_sinks_for, load_rules, CommonOpts};
use crate::config::{Config, SocketType};
use crate::detect::engine::{Engine, EngineConfig};
use crate::ecs::{host::HostInfo, Normalizer};
use crate::event::Event;
use crate::kernel::rules::{self as krules, Origin, SelfId};
use crate::kernel::session::{KernelSession, KernelSettings, SocketMode, DEFAULT_LOCK_PATH};
use crate::output::ndjson::NdjsonWriter;
use crate::pipeline::{Front, Worker, WorkerStats};
use crate::record::Record;
use crate::service::{sd_notify, Signals};
use crate::source::netlink::{NetlinkReader, ReaderConfig};
use anyhow::{bail, Context};
use crossbeam_channel::{bounded, RecvTimeoutError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the worker thread is asked to do.
enum Job {
    Events(Vec<std::sync::Arc<Event>>),
    /// New rules after SIGHUP.
    Reload(Vec<crate::detect::rule::Rule>, EngineConfig),
}

pub struct RunOpts {
    pub common: CommonOpts,
    pub config: PathBuf,
    pub audit_rules: Vec<PathBuf>,
    pub socket_type: Option<String>,
}

/// The status file `auditwatch status` reads.
pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The effective settings: flags over the config file over the defaults. Without a config file
/// the bundled detections and kernel rules are used.
struct Effective {
    cfg: Config,
    rules: Vec<PathBuf>,
    audit_rules: Vec<PathBuf>,
    state_dir: Option<PathBuf>,
    mode: SocketMode,
}

fn effective(opts: &RunOpts) -> anyhow::Result<Effective> {
    let cfg = if opts.config.exists() {
        Config::load(&opts.config).map_err(|errs| {
            let lines: Vec<String> = errs
                .iter()
                .map(|e| format!("{}: {e}", opts.config.display()))
                .collect();
            anyhow::anyhow!("invalid configuration:\n{}", lines.join("\n"))
        })?
    } else {
        Config::default()
    };
    // No paths anywhere: the bundled rules.
    let pick = |flag: &Vec<PathBuf>, conf: &Vec<PathBuf>| {
        if flag.is_empty() {
            conf.clone()
        } else {
            flag.clone()
        }
    };
    let mode = match &opts.socket_type {
        Some(s) => s.parse::<SocketMode>().map_err(anyhow::Error::msg)?,
        None => match cfg.kernel.socket_type {
            SocketType::Auto => SocketMode::Auto,
            SocketType::Unicast => SocketMode::Unicast,
            SocketType::Multicast => SocketMode::Multicast,
        },
    };
    Ok(Effective {
        rules: pick(&opts.common.rules, &cfg.rules.paths),
        audit_rules: pick(&opts.audit_rules, &cfg.audit_rules.paths),
        state_dir: opts
            .common
            .state_dir
            .clone()
            .or_else(|| cfg.state.dir.clone()),
        mode,
        cfg,
    })
}

/// The kernel rules to load and the settings their files ask for (`-b`, `-f`, `-r`, `-e`,
/// `--backlog_wait_time`, `-D`, as augenrules would apply them).
struct KernelRules {
    rules: Vec<Vec<u8>>,
    controls: Vec<krules::Control>,
}

/// Kernel rules (bundled ones without paths), the sensor's own syscalls excluded first.
fn kernel_rules(paths: &[PathBuf]) -> anyhow::Result<KernelRules> {
    let (mut set, errors) = if paths.is_empty() {
        krules::bundled()
    } else {
        krules::load_dirs(paths)
    };
    for e in &errors {
        tracing::error!("kernel rule skipped: {e}");
    }
    for origin in set.dedup_rules() {
        tracing::info!("{origin}: kernel rule repeats an earlier one; loaded once");
    }
    for e in &set.entries {
        if let krules::Directive::Delete(r) = &e.directive {
            tracing::warn!(
                "{}: ignored: deleting rules ({r}) is for `auditwatch audit-rules delete`",
                e.origin
            );
        }
    }
    if set.rules().next().is_none() {
        bail!(
            "no kernel audit rules could be loaded ({} errors)",
            errors.len()
        );
    }
    set.insert_first(
        self_exclusion_rule(),
        Origin {
            file: "auditwatch".into(),
            line: 0,
        },
    );
    Ok(KernelRules {
        rules: set.rules().map(|r| r.to_bytes()).collect(),
        controls: set.controls().cloned().collect(),
    })
}

/// The key on the sensor's self-exclusion rule. After a SIGKILL that rule stays loaded, naming a
/// dead pid; the key finds it (`auditctl -D -k auditwatch-self`), and the next start removes it.
pub const SELF_RULE_KEY: &str = "auditwatch-self";

/// `-A never,exit -S all -F pid=OUR_PID -k auditwatch-self`. Prepended (`-A`): the exit list is
/// first-match and our rules go after those already loaded (auditd's), which would otherwise
/// still match our own syscalls.
fn self_exclusion_rule() -> krules::Rule {
    use krules::fields::{id, op};
    let mut rule = krules::self_exclusion(SelfId::Pid(std::process::id()));
    rule.prepend = true;
    rule.fields.push(krules::Field {
        id: id::FILTERKEY,
        op: op::EQUAL,
        value: krules::Value::Str(SELF_RULE_KEY.as_bytes().to_vec()),
    });
    rule
}

/// Deletes the self-exclusion rules of killed instances. Only stale ones can be loaded: we hold
/// the single-instance lock. Left in place, each would hide a recycled pid from the audit trail.
fn remove_stale_self_rules() {
    let result = crate::kernel::netlink::AuditClient::open().and_then(|mut c| {
        let mut removed = 0;
        for bytes in c.list_rules()? {
            let ours = krules::Rule::from_bytes(&bytes)
                .is_ok_and(|r| r.keys().iter().any(|k| k == SELF_RULE_KEY));
            if ours {
                c.delete_rule(&bytes)?;
                removed += 1;
            }
        }
        Ok(removed)
    });
    match result {
        Ok(0) => {}
        Ok(n) => tracing::warn!("removed {n} self-exclusion rule(s) (key {SELF_RULE_KEY}) left by an auditwatch that was killed"),
        Err(e) => tracing::warn!("could not check for rules left by a killed auditwatch: {e}"),
    }
}

/// Applies the rule files' control lines over the configured kernel settings.
fn apply_controls(settings: &mut KernelSettings, controls: &[krules::Control]) {
    use krules::Control as C;
    for c in controls {
        match c {
            C::DeleteAll { key: None } => settings.replace_rules = true,
            C::DeleteAll { key: Some(k) } => {
                tracing::warn!("ignored `-D -k {k}`: only `-D` (replace all) is applied at start")
            }
            C::BacklogLimit(n) => settings.backlog_limit = Some(*n),
            C::Failure(n) => settings.failure = Some(*n),
            C::RateLimit(n) => settings.rate_limit = Some(*n),
            C::BacklogWaitTime(n) => settings.backlog_wait_time = Some(*n),
            C::Enabled(2) => tracing::warn!(
                "ignored `-e 2`: a locked audit configuration could not be restored at stop"
            ),
            C::Enabled(n) => settings.enabled = Some(*n),
            C::ResetLost | C::LoginuidImmutable | C::IgnoreErrors | C::ContinueOnError => {
                tracing::debug!("kernel rule control {c:?} has no effect here")
            }
        }
    }
}

fn build_engine(rules: &[PathBuf], config: EngineConfig) -> anyhow::Result<Engine> {
    let rules = load_rules(rules);
    Engine::new(rules, config).context("opening the detection state")
}

pub fn run(opts: RunOpts) -> anyhow::Result<ExitCode> {
    let eff = effective(&opts)?;
    // One `auditwatch run` per host, checked before anything (the detection state database, the
    // kernel) is touched, so a second instance fails at once, naming the first.
    let _lock = crate::kernel::session::take_lock(Path::new(DEFAULT_LOCK_PATH))?;
    let signals = Signals::install()?;
    if let Some(dir) = &eff.state_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating state directory {}", dir.display()))?;
    }
    let engine = build_engine(&eff.rules, eff.cfg.detection.engine(eff.state_dir.clone()))?;
    let kernel = kernel_rules(&eff.audit_rules)?;

    let mut host = HostInfo::detect();
    if let Some(n) = &eff.cfg.host.name {
        host.name = n.clone();
    }
    if let Some(id) = &eff.cfg.host.id {
        host.id = id.clone();
    }

    let events_target = opts
        .common
        .events
        .clone()
        .or_else(|| eff.cfg.output.events.path.clone());
    let events_out = events_target
        .as_deref()
        .map(|t| {
            NdjsonWriter::open_events(&eff.cfg.output.events, t)
                .with_context(|| format!("opening events output {t}"))
        })
        .transpose()?;
    let mut common = opts.common.clone();
    if common.alerts.is_none() {
        common.alerts = eff.cfg.output.alerts.path.clone();
    }
    common.state_dir = eff.state_dir.clone();
    let sinks = alert_sinks_for(&common, eff.cfg.output.alerts.syslog.clone())?;

    let k = &eff.cfg.kernel;
    let mut settings = KernelSettings {
        mode: eff.mode,
        enabled: k.enabled.then_some(1),
        failure: Some(k.failure_mode.as_kernel()),
        rate_limit: Some(k.rate_limit),
        backlog_limit: Some(k.backlog_limit),
        backlog_wait_time: k.backlog_wait_time,
        rules: kernel.rules,
        replace_rules: eff.cfg.audit_rules.replace_existing,
        // Held above, for the whole run.
        lock_path: None,
    };
    apply_controls(&mut settings, &kernel.controls);
    remove_stale_self_rules();
    let mut session = KernelSession::start(settings).context("taking the kernel audit stream")?;
    let stream = session
        .take_events()
        .context("the kernel session has no event stream")?;
    let mode = session.mode();

    let (rec_tx, rec_rx) = bounded::<Vec<Record>>((k.channel_capacity / 256).max(4));
    let reader_cfg = ReaderConfig {
        rcvbuf_bytes: k.receive_buffer_bytes,
        channel_block: Duration::from_millis(k.block_ms),
        ..ReaderConfig::default()
    };
    let reader =
        NetlinkReader::spawn(stream, reader_cfg, rec_tx).context("starting the netlink reader")?;
    let reader_stats = reader.stats();

    let (job_tx, job_rx) = bounded::<Job>(64);
    // Handled events go back to the front thread that allocated them, to be freed there
    // (`Reaper`; cross-thread frees cost the allocator more); when this queue is full they are
    // freed here.
    let (done_tx, done_rx) = bounded::<Vec<std::sync::Arc<Event>>>(16);
    let mut worker = Worker::new(Some(engine), events_out, sinks);
    let worker_stats = std::sync::Arc::new(std::sync::Mutex::new(WorkerStats::default()));
    let shared = worker_stats.clone();
    let worker = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || {
            loop {
                let job = match job_rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(job) => job,
                    // Idle: let time-driven rules see the clock.
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        worker.tick(now_ms());
                        continue;
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                };
                match job {
                    Job::Events(batch) => {
                        let _ = done_tx.try_send(worker.handle(batch));
                        worker.flush();
                    }
                    Job::Reload(rules, config) => worker.reload_rules(rules, config),
                }
                if let Ok(mut s) = shared.lock() {
                    *s = worker.stats();
                }
            }
            worker.finish();
            worker.stats()
        })?;

    let normalizer = Normalizer::live(host);
    let mut front = Front::new(normalizer, eff.cfg.reassembler.limits());
    if session.status_before().enabled == 0 && !audit_on_at_boot() {
        // The kernel gives a task its audit context at fork, and only once audit has ever
        // been enabled: what was already running may stay unaudited until it forks.
        tracing::warn!(
            "audit was off when auditwatch started: if it had never been on since boot, processes \
             already running are not audited (their children are); boot with audit=1 to audit \
             every process"
        );
    }
    tracing::info!(mode = %mode, "auditwatch running: {}", session.mode_note());
    sd_notify("READY=1");

    let stats_every = Duration::from_secs(eff.cfg.logging.stats_interval_s.max(1));
    let status_every = Duration::from_secs(2);
    let (mut last_stats, mut last_status) = (Instant::now(), Instant::now());
    let mut events = Vec::new();
    let mut reaper = crate::pipeline::Reaper::new();
    let write_status = |front: &Front, worker: &WorkerStats, final_: bool| {
        let Some(dir) = &eff.state_dir else { return };
        let doc = serde_json::json!({
            "pid": std::process::id(),
            "running": !final_,
            "updated": crate::event::format_rfc3339_ms(now_ms()),
            "mode": mode.to_string(),
            "reader": reader_stats.snapshot(),
            "reassembler": front.assemble_stats(),
            "worker": worker,
        });
        let tmp = dir.join("status.json.tmp");
        if std::fs::write(&tmp, doc.to_string())
            .and_then(|_| std::fs::rename(&tmp, status_path(dir)))
            .is_err()
        {
            tracing::debug!("could not write {}", status_path(dir).display());
        }
    };

    let mut reader_died = false;
    while !signals.stopping() {
        if signals.take_reload() {
            sd_notify("RELOADING=1");
            match effective(&opts) {
                Ok(e) => {
                    let rules = load_rules(&e.rules);
                    tracing::info!("SIGHUP: reloading {} rules", rules.len());
                    let config = e.cfg.detection.engine(e.state_dir.clone());
                    let _ = job_tx.send(Job::Reload(rules, config));
                }
                Err(e) => {
                    tracing::error!("SIGHUP: reload failed, keeping the running rules: {e:#}")
                }
            }
            sd_notify("READY=1");
        }
        while let Ok(done) = done_rx.try_recv() {
            reaper.take(done);
        }
        match rec_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => {
                for rec in batch {
                    front.push(rec, &mut events);
                }
            }
            // Quiet for 100 ms: the wall clock stands in for stream time, so an event that
            // never got its EOE leaves. Not while records flow: then they are behind the wall
            // clock (kernel backlog, our queue), and ticking would cut open events in pieces.
            Err(RecvTimeoutError::Timeout) => front.tick(now_ms(), &mut events),
            Err(RecvTimeoutError::Disconnected) => {
                reader_died = true;
                break;
            }
        }
        if !events.is_empty()
            && job_tx
                .send(Job::Events(crate::pipeline::share(&mut events)))
                .is_err()
        {
            break;
        }
        if last_status.elapsed() >= status_every {
            last_status = Instant::now();
            let ws = worker_stats.lock().map(|s| *s).unwrap_or_default();
            write_status(&front, &ws, false);
        }
        if last_stats.elapsed() >= stats_every {
            last_stats = Instant::now();
            let ws = worker_stats.lock().map(|s| *s).unwrap_or_default();
            let r = reader_stats.snapshot();
            let a = front.assemble_stats();
            tracing::info!(
                "stats: received {} records, {} events, {} alerts; lost: kernel {}, sequence gaps {}, enobufs {}, dropped (queue full) {}; rule state: {} KiB of events held (peak {} KiB), {} states dropped by bounds",
                r.received,
                a.events,
                ws.alerts,
                r.kernel_lost,
                a.lost,
                r.enobufs,
                r.dropped_channel_full,
                ws.rule_state.held_bytes >> 10,
                ws.rule_state.held_peak_bytes >> 10,
                ws.rule_state.dropped
            );
        }
    }

    sd_notify("STOPPING=1");
    reader.stop();
    while let Ok(batch) = rec_rx.try_recv() {
        for rec in batch {
            front.push(rec, &mut events);
        }
    }
    front.flush(&mut events);
    let _ = job_tx.send(Job::Events(crate::pipeline::share(&mut events)));
    drop(job_tx);
    let ws = worker
        .join()
        .map_err(|_| anyhow::anyhow!("worker thread panicked"))?;
    write_status(&front, &ws, true);
    let restored = session.restore();
    let r = reader_stats.snapshot();
    tracing::info!(
        "stopped: {} records, {} events, {} alerts; kernel state restored: {}",
        r.received,
        front.assemble_stats().events,
        ws.alerts,
        if restored.is_ok() { "yes" } else { "NO" }
    );
    restored.context("restoring the kernel audit state")?;
    if reader_died {
        bail!("the netlink reader stopped unexpectedly");
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether the kernel was booted with `audit=1` (every task then has an audit context).
fn audit_on_at_boot() -> bool {
    std::fs::read_to_string("/proc/cmdline")
        .is_ok_and(|c| c.split_whitespace().any(|w| w == "audit=1"))
}
