#!/usr/bin/env bash
# The attacks and near misses of the bundled detections, performed for real (run as root while
# the kernel audits them). Network attempts run inside a fresh `unshare -n` namespace: it has no
# route, so connects to public addresses fail at once and nothing leaves the machine.
# Usage: scenarios.sh WORKDIR   (WORKDIR holds the `apt` test program and scratch files)
# Every name it creates carries "aw-e2e" so the test can find (and clean) what it made.
set -u
work=${1:?workdir}
cd "$work"
step() { echo "== $*" >&2; sleep 0.3; }

# 1. APT: a program named `apt` runs `sh -c HOOK`; the hook's background job (a child of that
# shell, as the rule's `by process.parent.entity_id` needs) connects out. bash starts in
# milliseconds, well inside the rule's 5 s maxspan even on a loaded machine.
step "apt hook connects to a public address (alert)"
unshare -n ./apt 'bash -c "exec 3<>/dev/tcp/1.1.1.1/80" 2>/dev/null & wait'
step "apt hook connects to 127.0.0.1 (no alert)"
unshare -n ./apt 'bash -c "exec 3<>/dev/tcp/127.0.0.1/9" 2>/dev/null & wait'

# 2. Reverse shell via UDP, and the TCP variant that must not match the UDP rule.
step "bash /dev/udp to a public address (alert)"
unshare -n bash -c 'exec 3<>/dev/udp/1.1.1.1/53' 2>/dev/null
step "bash /dev/tcp to a public address (no UDP alert)"
unshare -n bash -c 'exec 3<>/dev/tcp/1.1.1.1/53' 2>/dev/null

# 3. Shared objects: the same new file twice gives one alert, a new name one more; python is
# an expected writer of .so files and must not alert.
step "cp binary to /dev/shm/aw-e2e-1.so twice (one alert)"
cp /bin/true /dev/shm/aw-e2e-1.so
rm -f /dev/shm/aw-e2e-1.so
cp /bin/true /dev/shm/aw-e2e-1.so
step "cp binary to /dev/shm/aw-e2e-2.so (one more alert)"
cp /bin/true /dev/shm/aw-e2e-2.so
step "python writes /usr/lib/aw-e2e-py.so (no alert)"
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$py" -c "open('/usr/lib/aw-e2e-py.so', 'w').write('x')"

# 4. Cron: a new file and a file moved in alert; an editor swap file and a package install don't.
step "shell writes /etc/cron.d/aw-e2e-job (alert)"
sh -c 'echo "* * * * * root true" > /etc/cron.d/aw-e2e-job'
step "mv a staged file into /etc/cron.d (alert)"
echo "* * * * * root true" > /etc/aw-e2e-staged
mv /etc/aw-e2e-staged /etc/cron.d/aw-e2e-moved
step "swap file in /etc/cron.d (no alert)"
sh -c 'echo x > /etc/cron.d/.aw-e2e-job.swp'
step "dpkg -i a local package with a cron file (no alert)"
dpkg -i "$work/aw-e2e-cron.deb" >/dev/null
sleep 1
