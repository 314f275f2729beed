# %postun: $1 is 0 when the package is erased, 1 on an upgrade.

if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if [ "$1" -ge 1 ]; then
        systemctl try-restart auditwatch.service >/dev/null 2>&1 || true
    fi
fi
if [ "$1" -eq 0 ]; then
    # The package cannot own directories (cargo-generate-rpm lists files only), so remove the
    # ones it created when they are empty. RPM has no purge: edited config files stay as
    # *.rpmsave, and state with data in it stays.
    for dir in /etc/auditwatch/rules /etc/auditwatch/audit-rules /etc/auditwatch \
        /usr/libexec/auditwatch /usr/share/doc/auditwatch /var/lib/auditwatch /var/log/auditwatch; do
        rmdir "$dir" 2>/dev/null || true
    done
fi
exit 0
