#!/usr/bin/env bash
# How examples/attack.log was made (run as root on a test machine): Debian's auditd writes a RAW
# log while the bundled kernel rules are loaded and tests/e2e/scenarios.sh performs the attacks
# and near misses of the four bundled detections. Only the events of the scenario's processes
# and files are kept (the machine's other activity is dropped) so the example stays small.
set -euo pipefail
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
"$bin" audit-rules load >/dev/null
bash tests/e2e/scenarios.sh "$work"
sleep 2
# Keep the events of the scenario's process trees: everything whose records name our markers,
# plus every event of those pids and their parents.
python3 - "$work/audit.log" examples/attack.log <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
ev = {}
for l in lines:
    m = re.search(r"audit\(([\d.]+:\d+)\)", l)
    if m: ev.setdefault(m.group(1), []).append(l)
marks = ("aw-e2e", "2F6465762F756470", "2F6465762F746370", "/dev/udp", "/dev/tcp", "1.1.1.1", "01010101")
pids = set()
for recs in ev.values():
    text = " ".join(recs)
    if any(k in text for k in marks) or "apt" in text and "comm=\"apt\"" in text:
        for r in recs:
            for k in ("pid", "ppid"):
                m = re.search(r"\b%s=(\d+)" % k, r)
                if m and m.group(1) not in ("0", "1"): pids.add(m.group(1))
keep = []
for recs in ev.values():
    text = " ".join(recs)
    if any(re.search(r"\bpid=%s\b" % p, text) for p in pids):
        keep.extend(recs)
open(sys.argv[2], "w").write("\n".join(keep) + "\n")
print(len(keep), "records kept of", len(lines))
PY
