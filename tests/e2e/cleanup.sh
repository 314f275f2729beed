#!/usr/bin/env bash
# Removes what scenarios.sh created.
rm -f /dev/shm/aw-e2e-*.so /usr/lib/aw-e2e-py.so /etc/cron.d/aw-e2e-job /etc/cron.d/aw-e2e-moved \
  /etc/cron.d/.aw-e2e-job.swp /etc/aw-e2e-staged
dpkg -s aw-e2e-cron >/dev/null 2>&1 && dpkg --purge aw-e2e-cron >/dev/null 2>&1
exit 0
