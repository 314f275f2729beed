# %preun: $1 is 0 when the package is erased, 1 on an upgrade.
in_system_root() {
    if init_root_id=$(stat -c %d:%i /proc/1/root/. 2>/dev/null); then
        [ "$(stat -c %d:%i /)" = "$init_root_id" ]
        return
    fi
    # /proc/1/root unreadable (some containers): a chroot's / is no mount point of its own, so
    # mountinfo, which lists only mounts below our root, then has no "/" entry.
    [ -r /proc/self/mountinfo ] || return 1
    while read -r _ _ _ _ mount_point _; do
        [ "$mount_point" = / ] && return 0
    done </proc/self/mountinfo
    return 1
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
