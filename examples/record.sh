#!/usr/bin/env bash
# How examples/attack.log was made (run as root on a test machine): Debian's auditd writes a RAW
# log while the bundled kernel rules are loaded and tests/e2e/scenarios.sh performs the attacks
# and near misses of the four bundled detections. Only the events of the scenario's processes
# and files are kept (the machine's other activity is dropped) so the example stays small.
set -euo pipefail
# Hold the lock the kernel tests use, so nothing else changes the audit state meanwhile.
exec 9>/run/lock/auditwatch-kernel-test.lock; flock 9
cd "$(dirname "$0")/.."
bin=${AUDITWATCH:-target/release/auditwatch}
work=$(mktemp -d)
trap 'auditctl -D >/dev/null; kill "$auditd_pid" 2>/dev/null || true; bash tests/e2e/cleanup.sh; rm -rf "$work"' EXIT
cc -O1 -o "$work/apt" tests/e2e/apt.c
mkdir -p "$work/pkg/DEBIAN" "$work/pkg/etc/cron.d" /etc/cron.d
printf 'Package: aw-e2e-cron\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test\n' >"$work/pkg/DEBIAN/control"
echo '* * * * * root true' >"$work/pkg/etc/cron.d/aw-e2e-cron"
dpkg-deb --root-owner-group --build "$work/pkg" "$work/aw-e2e-cron.deb" >/dev/null
mkdir -p "$work/conf/plugins"
cat >"$work/conf/auditd.conf" <<CONF
log_file = $work/audit.log
log_format = RAW
flush = DATA
write_logs = yes
space_left = 2
admin_space_left = 1
plugin_dir = $work/conf/plugins
CONF
auditd -n -s enable -c "$work/conf" & auditd_pid=$!
sleep 1
"$bin" audit-rules load | tail -n 1
bash tests/e2e/scenarios.sh "$work"
sleep 2
kill "$auditd_pid"; wait "$auditd_pid" || true # auditd flushes its log on the way out
[ -n "${KEEP_RAW:-}" ] && cp "$work/audit.log" "$KEEP_RAW"
# Keep the events of the scenario's process trees: the processes whose records name our markers
# (plain or hex-encoded), then, to a fixpoint, their children. The machine's other activity is
# dropped, so the example's sequence numbers have gaps (replay counts them as lost).
python3 - "$work/audit.log" examples/attack.log <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
events = {}
for l in lines:
    m = re.search(r"audit\(([\d.]+:\d+)\)", l)
    if m:
        events.setdefault(m.group(1), []).append(l)
plain = ["aw-e2e", "1.1.1.1", "127.0.0.1", "/dev/udp", "/dev/tcp"]
marks = plain + [p.encode().hex().upper() for p in plain] + ['comm="apt"']
def ids(recs):
    text = " ".join(recs)
    pid = re.search(r"\bpid=(\d+)", text)
    ppid = re.search(r"\bppid=(\d+)", text)
    return (pid.group(1) if pid else None, ppid.group(1) if ppid else None, text)
info = [ids(r) for r in events.values()]
pids = {p for p, _, t in info if p and any(k in t for k in marks)}
while True:
    more = {p for p, pp, _ in info if p and pp in pids} - pids
    if not more:
        break
    pids |= more
keep = [l for recs, (p, _, _) in zip(events.values(), info) if p in pids for l in recs]
open(sys.argv[2], "w").write("\n".join(keep) + "\n")
print(len(keep), "records kept of", len(lines))
PY
