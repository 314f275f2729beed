# %postun: $1 is 0 when the package is erased, 1 on an upgrade.
in_system_root() {
    root_id=$(stat -c %d:%i / 2>/dev/null) || return 1
    init_root_id=$(stat -c %d:%i /proc/1/root/. 2>/dev/null) || return 1
    [ "$root_id" = "$init_root_id" ]
}

if [ -d /run/systemd/system ] && in_system_root; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if [ "$1" -ge 1 ]; then
        systemctl try-restart auditwatch.service >/dev/null 2>&1 || true
    fi
fi
exit 0
