# %preun: $1 is 0 when the package is erased, 1 on an upgrade.
in_system_root() {
    root_id=$(stat -c %d:%i / 2>/dev/null) || return 1
    init_root_id=$(stat -c %d:%i /proc/1/root/. 2>/dev/null) || return 1
    [ "$root_id" = "$init_root_id" ]
}

if [ "$1" -eq 0 ]; then
    # On SIGTERM the daemon deletes its kernel rules and restores the audit settings it found.
    if [ -d /run/systemd/system ] && in_system_root; then
        systemctl --no-reload disable --now auditwatch.service >/dev/null 2>&1 || true
    elif command -v systemctl >/dev/null 2>&1; then
        systemctl --no-reload disable auditwatch.service >/dev/null 2>&1 || true
    fi
    # Rules left by a daemon that died without cleaning up (key prefix "auditwatch" only).
    /usr/libexec/auditwatch/remove-kernel-rules || true
fi
exit 0
