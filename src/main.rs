use auditwatch::cli;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

// An ECS event is ~100 small strings: mimalloc's thread-local free lists make the per-event
// allocations markedly cheaper than glibc malloc (measured with benches/pipeline.rs).
#[global_allocator]
static GLOBAL: auditwatch::alloc::Alloc = auditwatch::alloc::Alloc;

/// Linux host security sensor: kernel audit stream → ECS events → on-host detections → alerts.
#[derive(Parser)]
#[command(name = "auditwatch", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run auditd log files (RAW or ENRICHED) through the detection pipeline.
    Replay {
        #[command(flatten)]
        common: Common,
        /// auditd log files; `-` reads standard input.
        #[arg(required = true, value_name = "LOG")]
        logs: Vec<String>,
    },
    /// Run the live sensor on the kernel audit stream.
    Run {
        #[command(flatten)]
        common: Common,
        /// Configuration file.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "/etc/auditwatch/auditwatch.toml"
        )]
        config: PathBuf,
        /// Kernel audit rule files or directories (auditctl syntax); repeatable.
        #[arg(long = "audit-rules", value_name = "PATH")]
        audit_rules: Vec<PathBuf>,
        /// How to read the kernel stream: auto, unicast or multicast.
        #[arg(long = "socket-type", value_name = "MODE")]
        socket_type: Option<String>,
    },
    /// Detection rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Kernel audit rules (auditctl syntax).
    #[command(name = "audit-rules")]
    AuditRules {
        #[command(subcommand)]
        command: AuditRulesCommand,
    },
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Counters of the running sensor and the kernel's audit status.
    Status {
        /// State directory of the running sensor.
        #[arg(
            long = "state-dir",
            value_name = "DIR",
            default_value = "/var/lib/auditwatch"
        )]
        state_dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct Common {
    /// Detection rule files or directories (Elastic detection-rules TOML); repeatable.
    /// Default: the bundled rules.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Write every ECS event as NDJSON to FILE (`-` = stdout).
    #[arg(long, value_name = "FILE|-")]
    events: Option<String>,
    /// Write alerts as NDJSON to FILE (`-` = stdout, the default).
    #[arg(long, value_name = "FILE|-")]
    alerts: Option<String>,
    /// Keep detection state (new_terms history, spool) in DIR.
    #[arg(long = "state-dir", value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Also send alerts to syslog: unix:///dev/log, udp://host:port, tcp://host:port, tls://host:port.
    #[arg(long, value_name = "URL")]
    syslog: Option<String>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile rules and report one line per rule; exit status 1 on any error.
    Check {
        /// Machine-readable report.
        #[arg(long)]
        json: bool,
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditRulesCommand {
    /// Parse and compile kernel rules; report errors.
    Check { paths: Vec<PathBuf> },
    /// Print each rule with its kernel bytes (hex).
    Compile { paths: Vec<PathBuf> },
    /// List the rules loaded in the kernel.
    List,
    /// Load rules into the kernel (bundled rules when no PATH is given).
    Load { paths: Vec<PathBuf> },
    /// Delete the given rules (the bundled ones when no PATH is given) from the kernel; `auditctl -D` deletes all.
    Delete { paths: Vec<PathBuf> },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file (default /etc/auditwatch/auditwatch.toml).
    Check { file: Option<PathBuf> },
}

impl From<Common> for cli::CommonOpts {
    fn from(c: Common) -> Self {
        cli::CommonOpts {
            rules: c.rules,
            events: c.events,
            alerts: c.alerts,
            state_dir: c.state_dir,
            syslog: c.syslog,
        }
    }
}

fn main() -> ExitCode {
    cli::init_logging();
    let args = Cli::parse();
    let result = match args.command {
        Command::Replay { common, logs } => cli::replay(common.into(), logs),
        Command::Run {
            common,
            config,
            audit_rules,
            socket_type,
        } => cli::run(common.into(), config, audit_rules, socket_type),
        Command::Rules {
            command: RulesCommand::Check { json, paths },
        } => cli::rules_check(&paths, json),
        Command::AuditRules { command } => match command {
            AuditRulesCommand::Check { paths } => {
                cli::audit_rules(cli::AuditRulesOp::Check, &paths)
            }
            AuditRulesCommand::Compile { paths } => {
                cli::audit_rules(cli::AuditRulesOp::Compile, &paths)
            }
            AuditRulesCommand::List => cli::audit_rules(cli::AuditRulesOp::List, &[]),
            AuditRulesCommand::Load { paths } => cli::audit_rules(cli::AuditRulesOp::Load, &paths),
            AuditRulesCommand::Delete { paths } => {
                cli::audit_rules(cli::AuditRulesOp::Delete, &paths)
            }
        },
        Command::Config {
            command: ConfigCommand::Check { file },
        } => cli::config_check(file),
        Command::Status { state_dir, json } => cli::status(&state_dir, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("auditwatch: {e:#}");
            ExitCode::from(2)
        }
    }
}
