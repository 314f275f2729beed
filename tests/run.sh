#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine (run as root): installs what the tests
# need, then runs them. README.md and .ci/run both call exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# auditd: auditctl/ausearch and the daemon the real-kernel tests run beside; rsyslog: the syslog
# tests' collector; gcc/python3: the attack scenarios; rpm, systemd, debootstrap: the package test.
need=()
for pkg in auditd rsyslog gcc python3 rpm systemd debootstrap dpkg-dev man-db binutils; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's auditd package starts the daemon only under systemd; tests start it when they need it.

cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo test 2>&1
