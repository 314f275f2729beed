//! The dispatcher only skips rules an event cannot match: with every fixture rule loaded, the
//! alerts are the same with dispatch on and off, over events built from the rules' own
//! literals, some upper-cased (so that many rules fire, case folding included), three seeds.

use auditwatch::detect::engine::{Engine, EngineConfig};
use auditwatch::detect::rule::{load_bundled, load_paths, Rule};
use auditwatch::event::{Event, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A literal of the rules, sometimes upper-cased (case-insensitive operators and the
    /// dispatcher's case folding must agree).
    fn pick(&mut self, items: &[String]) -> String {
        let s = &items[(self.next() % items.len() as u64) as usize];
        if self.next() % 5 == 0 {
            s.to_uppercase()
        } else {
            s.clone()
        }
    }
}

fn literals(rules: &[Rule]) -> Vec<String> {
    let re = regex::Regex::new(r#""([^"\\]{1,60})"|[:(]\s*([A-Za-z0-9_./*-]{2,40})"#).unwrap();
    let mut set = BTreeSet::new();
    for r in rules {
        for c in re.captures_iter(&r.query) {
            let s = c.get(1).or(c.get(2)).unwrap().as_str();
            set.insert(s.replace('*', "x").replace('?', "y"));
        }
    }
    set.into_iter().collect()
}

fn events(lits: &[String], n: usize, seed: u64) -> Vec<Arc<Event>> {
    let mut rng = Rng(seed);
    let actions = [
        ("executed", "execve", "process"),
        ("connected-to", "connect", "network"),
        ("renamed", "rename", "file"),
        ("opened-file", "openat", "file"),
    ];
    (0..n)
        .map(|i| {
            let ts = 1_764_560_000_000 + i as i64 * 50;
            let mut e = Event::new(ts);
            e.arrival = i as u64;
            let (action, syscall, cat) = actions[(rng.next() % 4) as usize];
            e.push("event.action", action);
            e.push("event.category", Value::List(vec![cat.into()]));
            e.push(
                "event.type",
                Value::List(vec![if cat == "file" { "change" } else { "start" }.into()]),
            );
            e.push("event.outcome", "success");
            e.push("auditd.data.syscall", syscall);
            e.push("auditd.data.a2", "241");
            e.push("host.id", "h1");
            e.push("host.os.type", "linux");
            let name = rng.pick(lits);
            e.push("process.name", name.clone());
            e.push(
                "process.executable",
                if rng.next() % 2 == 0 {
                    format!("/usr/bin/{name}")
                } else {
                    rng.pick(lits)
                },
            );
            e.push("process.pid", (100 + rng.next() % 5) as i64);
            e.push("process.entity_id", format!("p{}", rng.next() % 5));
            e.push("process.parent.pid", 99i64);
            e.push("process.parent.name", rng.pick(lits));
            e.push("process.parent.entity_id", format!("p{}", rng.next() % 5));
            e.push("process.parent.executable", rng.pick(lits));
            let args: Vec<Value> = (0..1 + rng.next() % 3)
                .map(|_| rng.pick(lits).into())
                .collect();
            e.push("process.args_count", args.len() as i64);
            e.push(
                "process.command_line",
                args.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            e.push("process.args", Value::List(args));
            e.push("process.working_directory", rng.pick(lits));
            e.push("user.name", rng.pick(lits));
            e.push("user.id", if rng.next() % 2 == 0 { "0" } else { "1000" });
            let path = rng.pick(lits);
            e.push("file.path", path.clone());
            e.push(
                "auditd.paths.name",
                Value::List(vec!["/tmp/old".into(), path.into()]),
            );
            e.push(
                "auditd.paths.nametype",
                Value::List(vec!["DELETE".into(), "CREATE".into()]),
            );
            e.push(
                "destination.ip",
                ["8.8.8.8", "10.0.0.1", "127.0.0.1"][(rng.next() % 3) as usize],
            );
            e.push(
                "destination.port",
                [22i64, 443, 4444][(rng.next() % 3) as usize],
            );
            e.push("network.direction", "egress");
            Arc::new(e)
        })
        .collect()
}

fn alerts(
    rules: &[Rule],
    events: &[Arc<Event>],
    no_dispatch: bool,
) -> (BTreeSet<(String, Vec<u64>)>, u64) {
    let config = EngineConfig {
        no_dispatch,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(rules.to_vec(), config).unwrap();
    let mut out = Vec::new();
    for e in events {
        engine.on_event(Arc::clone(e), &mut out);
    }
    let set = out
        .iter()
        .map(|a| {
            (
                a.rule.rule_id.clone(),
                a.events.iter().map(|e| e.arrival).collect(),
            )
        })
        .collect();
    (set, engine.stats().rule_evals)
}

#[test]
fn dispatch_loses_no_alert() {
    let mut rules: Vec<Rule> =
        load_paths(&[PathBuf::from("../shared/fixtures/detection-rules/rules")])
            .into_iter()
            .filter_map(|l| l.rule)
            .collect();
    rules.extend(load_bundled().into_iter().filter_map(|l| l.rule));
    // max_signals would make the two runs cap different alerts only if they differed.
    for r in &mut rules {
        r.max_signals = usize::MAX;
    }
    let lits = literals(&rules);
    let (mut fired_total, mut evals) = (BTreeSet::new(), (0, 0));
    for seed in [
        0x2545_f491_4f6c_dd1d,
        0x9e37_79b9_7f4a_7c15,
        0xd1b5_4a32_d192_ed03,
    ] {
        let evs = events(&lits, 1500, seed);
        let (with, evals_with) = alerts(&rules, &evs, false);
        let (without, evals_without) = alerts(&rules, &evs, true);
        println!(
            "seed {seed:x}: {} alerts; rules tried {evals_with} with dispatch, {evals_without} without",
            without.len()
        );
        let missing: Vec<_> = without.difference(&with).collect();
        assert!(missing.is_empty(), "dispatch lost alerts: {missing:?}");
        assert_eq!(with, without);
        fired_total.extend(without.into_iter().map(|(id, _)| id));
        evals = (evals.0 + evals_with, evals.1 + evals_without);
    }
    let (evals_with, evals_without) = evals;
    assert!(
        fired_total.len() >= 20,
        "the events exercise many rules ({})",
        fired_total.len()
    );
    // These events are made of the rules' own literals, so they meet many keys; on
    // realistic traffic far fewer rules are tried (see benches/engine.rs).
    assert!(evals_with * 2 < evals_without, "dispatch skips rules");
}
