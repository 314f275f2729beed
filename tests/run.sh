#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (run as root): installs what the tests
# need, then runs them. README.md and .ci/run both call exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in auditd rsyslog; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's auditd package starts the daemon only under systemd; tests start it when they need it.

cargo test --all-targets 2>&1
