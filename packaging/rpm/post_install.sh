# %post: $1 is 1 on a new installation, 2 on an upgrade.
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

install -d -m 0750 -o root -g root /var/lib/auditwatch
chmod 0750 /var/lib/auditwatch

if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    # Works offline too (image builds, chroots): it only creates the WantedBy symlink.
    systemctl --no-reload enable auditwatch.service >/dev/null 2>&1 || true
fi
# Starting beside auditd is fine: socket_type = auto joins the multicast group when auditd owns
# the unicast stream. Upgrades restart in %postun, once the old files are gone.
if [ "$1" -eq 1 ] && [ -d /run/systemd/system ] && in_system_root; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    systemctl start auditwatch.service >/dev/null 2>&1 || true
fi
exit 0
