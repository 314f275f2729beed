//! The normalisation table: what an audit event means, keyed by syscall name or record type.
//!
//! Our own Rust rendering of the vocabulary of go-libaudit's `aucoalesce/normalizations.yaml`
//! (the table Auditbeat's `event.action`, `event.category`, `event.type` and
//! `auditd.summary.*` come from), checked against the upstream golden files in
//! `tests/aucoalesce_golden.rs`. Where the golden files show a newer upstream table than the
//! stored yaml (`USER_START`/`USER_END` in category `session`, `TIME_ADJNTPVAL`, anomaly
//! records as `kind: alert`) the golden files win.

/// Where an ECS user/group entity takes its value from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    SubjectPrimary,
    SubjectSecondary,
    ObjectPrimary,
    /// One of the event's user ids (`uid.uid`).
    Id(&'static str),
}

/// Which ECS entity a mapping sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum To {
    User,
    UserEffective,
    UserTarget,
    UserChanges,
    Group,
}

/// One normalisation. Empty lists mean "not set by this entry".
#[derive(Debug)]
pub struct Norm {
    pub action: &'static str,
    /// `auditd.summary.object.type` (`file`, `socket`, `user-session`, ...).
    pub what: &'static str,
    pub object_primary: &'static [&'static str],
    pub object_secondary: &'static [&'static str],
    pub subject_primary: &'static [&'static str],
    pub subject_secondary: &'static [&'static str],
    pub how: &'static [&'static str],
    /// For file objects: which PATH record names the object (a hint; PARENT records are skipped).
    pub path_index: usize,
    pub source_ip: &'static [&'static str],
    /// For record types with several entries: this one applies when all these fields exist.
    pub has_fields: &'static [&'static str],
    pub kind: &'static str,
    pub category: &'static [&'static str],
    pub etype: &'static [&'static str],
    pub mappings: &'static [(From, To)],
}

const N: Norm = Norm {
    action: "",
    what: "",
    object_primary: &[],
    object_secondary: &[],
    subject_primary: &[],
    subject_secondary: &[],
    how: &[],
    path_index: 0,
    source_ip: &[],
    has_fields: &[],
    kind: "",
    category: &[],
    etype: &[],
    mappings: &[],
};

const PROCESS: &[&str] = &["process"];
const FILE: &[&str] = &["file"];
const NETWORK: &[&str] = &["network"];
const HOST: &[&str] = &["host"];
const IAM: &[&str] = &["iam"];
const AUTH: &[&str] = &["authentication"];
const SESSION: &[&str] = &["session"];
const CONFIGURATION: &[&str] = &["configuration"];
const PROCESS_CONFIGURATION: &[&str] = &["process", "configuration"];
const DRIVER: &[&str] = &["driver"];
const ANOMALY: &[&str] = &["intrusion_detection"];

const INFO: &[&str] = &["info"];
const CHANGE: &[&str] = &["change"];
const CREATION: &[&str] = &["creation"];
const DELETION: &[&str] = &["deletion"];
const START: &[&str] = &["start"];
const END: &[&str] = &["end"];
const STOP: &[&str] = &["stop"];
const ACCESS: &[&str] = &["access"];
const CONNECTION_INFO: &[&str] = &["connection", "info"];
const CONNECTION_START: &[&str] = &["connection", "start"];

const AUTH_MAPPINGS: &[(From, To)] = &[
    (From::SubjectPrimary, To::User),
    (From::SubjectSecondary, To::UserEffective),
];
const USER_MOD_MAPPINGS: &[(From, To)] = &[
    (From::SubjectPrimary, To::User),
    (From::SubjectSecondary, To::UserEffective),
    (From::ObjectPrimary, To::UserTarget),
];
const GROUP_MOD_MAPPINGS: &[(From, To)] = &[
    (From::SubjectPrimary, To::User),
    (From::SubjectSecondary, To::UserEffective),
    (From::ObjectPrimary, To::Group),
];

/// The `macro-user-session` fields.
const SESSION_N: Norm = Norm {
    subject_primary: &["auid"],
    subject_secondary: &["acct", "id", "uid"],
    object_primary: &["terminal"],
    object_secondary: &["addr", "hostname"],
    what: "user-session",
    how: &["exe", "terminal"],
    ..N
};
const ACCOUNT_OBJECT: &[&str] = &["id", "acct"];

// ---- syscalls ----

/// The catch-all for syscalls without an entry: categorised, but no action.
pub static SYSCALL_DEFAULT: Norm = Norm {
    category: PROCESS,
    etype: INFO,
    ..N
};

macro_rules! sys {
    ($name:ident, $action:expr, $what:expr, $cat:expr, $typ:expr) => {
        static $name: Norm = Norm { action: $action, what: $what, category: $cat, etype: $typ, ..N };
    };
    ($name:ident, $action:expr, $what:expr, $cat:expr, $typ:expr, $($rest:tt)*) => {
        static $name: Norm = Norm { action: $action, what: $what, category: $cat, etype: $typ, $($rest)* ..N };
    };
}

sys!(OPEN_CREATE, "opened-file", "file", FILE, CREATION);
sys!(OPEN_CHANGE, "opened-file", "file", FILE, CHANGE);
sys!(OPEN, "opened-file", "file", FILE, INFO);
sys!(READ, "read-file", "file", FILE, INFO);
sys!(WRITE, "wrote-to-file", "file", FILE, CHANGE);
sys!(XATTR, "changed-file-attributes-of", "file", FILE, CHANGE);
sys!(CHMOD, "changed-file-permissions-of", "file", FILE, CHANGE);
sys!(CHOWN, "changed-file-ownership-of", "file", FILE, CHANGE);
sys!(MODULE_LOAD, "loaded-kernel-module", "file", DRIVER, START, object_primary: &["name"],);
sys!(MODULE_UNLOAD, "unloaded-kernel-module", "file", DRIVER, END);
sys!(MKDIR, "created-directory", "file", FILE, CREATION, path_index: 1,);
sys!(MOUNT, "mounted", "filesystem", FILE, CREATION, path_index: 1,);
sys!(RENAME, "renamed", "file", FILE, CHANGE, path_index: 2,);
sys!(STAT, "checked-metadata-of", "file", FILE, INFO);
sys!(
    STATFS,
    "checked-filesystem-metadata-of",
    "filesystem",
    FILE,
    INFO
);
sys!(SYMLINK, "symlinked", "file", FILE, CREATION);
sys!(UMOUNT, "unmounted", "filesystem", FILE, DELETION);
sys!(DELETE, "deleted", "file", FILE, DELETION);
sys!(UTIME, "changed-timestamp-of", "file", FILE, INFO);
sys!(EXEC, "executed", "file", PROCESS, START);
sys!(LISTEN, "listen-for-connections", "socket", NETWORK, START);
sys!(
    ACCEPT,
    "accepted-connection-from",
    "socket",
    NETWORK,
    CONNECTION_START
);
sys!(BIND, "bound-socket", "socket", NETWORK, START);
sys!(CONNECT, "connected-to", "socket", NETWORK, CONNECTION_START);
sys!(RECV, "received-from", "socket", NETWORK, CONNECTION_INFO);
sys!(SEND, "sent-to", "socket", NETWORK, CONNECTION_INFO);
sys!(KILL, "killed-pid", "process", PROCESS, END);
sys!(SETID, "changed-identity-of", "process", PROCESS, CHANGE, how: &["syscall"],);
sys!(SETTIME, "changed-system-time", "system", HOST, CHANGE);
sys!(MKNOD, "make-device", "file", FILE, CREATION);
sys!(SETHOSTNAME, "changed-system-name", "system", HOST, CHANGE);
sys!(MMAP, "allocated-memory", "memory", PROCESS, INFO);
sys!(SCHED, "adjusted-scheduling-policy-of", "process", PROCESS, CHANGE, how: &["syscall"],);

/// The entry for a syscall name (`SYSCALL_DEFAULT` when it has none).
pub fn syscall_norm(name: &str) -> &'static Norm {
    match name {
        "creat" => &OPEN_CREATE,
        "fallocate" | "truncate" | "ftruncate" => &OPEN_CHANGE,
        "open" | "openat" | "readlink" | "readlinkat" => &OPEN,
        "read" => &READ,
        "write" => &WRITE,
        "setxattr" | "fsetxattr" | "lsetxattr" | "removexattr" | "fremovexattr"
        | "lremovexattr" => &XATTR,
        "chmod" | "fchmod" | "fchmodat" => &CHMOD,
        "chown" | "fchown" | "fchownat" | "lchown" => &CHOWN,
        "finit_module" | "init_module" => &MODULE_LOAD,
        "delete_module" => &MODULE_UNLOAD,
        "mkdir" | "mkdirat" => &MKDIR,
        "mount" => &MOUNT,
        "rename" | "renameat" | "renameat2" => &RENAME,
        "access" | "faccessat" | "fstatat" | "newfstatat" | "stat" | "stat64" | "fstat"
        | "lstat" | "getxattr" | "lgetxattr" | "fgetxattr" => &STAT,
        "statfs" | "fstatfs" => &STATFS,
        "symlink" | "symlinkat" => &SYMLINK,
        "umount" | "umount2" => &UMOUNT,
        "rmdir" | "unlink" | "unlinkat" => &DELETE,
        "utime" | "utimes" | "futimesat" | "futimens" | "utimensat" => &UTIME,
        "execve" | "execveat" => &EXEC,
        "listen" => &LISTEN,
        "accept" | "accept4" => &ACCEPT,
        "bind" => &BIND,
        "connect" => &CONNECT,
        "recv" | "recvfrom" | "recvmsg" | "recvmmsg" => &RECV,
        "send" | "sendto" | "sendmsg" | "sendmmsg" => &SEND,
        "kill" | "tkill" | "tgkill" => &KILL,
        "setuid" | "seteuid" | "setfsuid" | "setreuid" | "setgid" | "setegid" | "setfsgid"
        | "setregid" | "setresuid" | "setresgid" => &SETID,
        "settimeofday" | "clock_settime" | "stime" | "adjtimex" | "clock_adjtime" => &SETTIME,
        "mknod" | "mknodat" => &MKNOD,
        "sethostname" | "setdomainname" => &SETHOSTNAME,
        "mmap" | "mmap2" | "brk" => &MMAP,
        "sched_setparam" | "sched_setscheduler" | "sched_setattr" => &SCHED,
        _ => &SYSCALL_DEFAULT,
    }
}

// ---- record types ----

macro_rules! rec {
    ($name:ident, $($body:tt)*) => {
        static $name: [Norm; 1] = [Norm { $($body)* }];
    };
}

rec!(ACCT_LOCK, action: "locked-account", category: IAM, etype: &["user", "info"], ..N);
rec!(ACCT_UNLOCK, action: "unlocked-account", category: IAM, etype: &["user", "info"], ..N);
rec!(ADD_GROUP, action: "added-group-account-to", object_primary: ACCOUNT_OBJECT, what: "account", category: IAM,
    etype: &["group", "creation"], mappings: GROUP_MOD_MAPPINGS, ..N);
rec!(ADD_USER, action: "added-user-account", object_primary: ACCOUNT_OBJECT, what: "account", category: IAM,
    etype: &["user", "creation"], mappings: USER_MOD_MAPPINGS, ..N);
rec!(DEL_GROUP, action: "deleted-group-account-from", object_primary: ACCOUNT_OBJECT, what: "account",
    category: IAM, etype: &["group", "deletion"], mappings: GROUP_MOD_MAPPINGS, ..N);
rec!(DEL_USER, action: "deleted-user-account", object_primary: ACCOUNT_OBJECT, what: "account", category: IAM,
    etype: &["user", "deletion"], mappings: USER_MOD_MAPPINGS, ..N);
rec!(GRP_MGMT, action: "modified-group-account", object_primary: ACCOUNT_OBJECT, what: "account", category: IAM,
    etype: &["group", "change"],
    mappings: &[(From::SubjectPrimary, To::User), (From::SubjectSecondary, To::Group), (From::Id("uid"), To::UserEffective)],
    ..N);
rec!(ROLE_ASSIGN, action: "assigned-user-role-to", object_primary: ACCOUNT_OBJECT, what: "account", category: IAM,
    etype: &["user", "change"], ..N);
rec!(ROLE_MODIFY, action: "modified-role", category: IAM, etype: CHANGE, ..N);
rec!(ROLE_REMOVE, action: "removed-user-role-from", object_primary: ACCOUNT_OBJECT, what: "account",
    category: IAM, etype: &["user", "change"], ..N);
rec!(USER_MGMT, action: "modified-user-account", category: IAM, etype: &["user", "change"],
    mappings: &[(From::SubjectPrimary, To::User), (From::SubjectSecondary, To::UserTarget), (From::Id("uid"), To::UserEffective)],
    ..SESSION_N);
rec!(USER_CHAUTHTOK, action: "changed-password", category: IAM, etype: &["user", "change"],
    mappings: &[(From::SubjectPrimary, To::User), (From::Id("uid"), To::UserEffective), (From::SubjectSecondary, To::UserTarget)],
    ..SESSION_N);
rec!(GRP_CHAUTHTOK, action: "changed-group-password", object_primary: &["acct"], category: IAM,
    etype: &["group", "change"],
    mappings: &[(From::SubjectPrimary, To::User), (From::Id("uid"), To::UserEffective), (From::SubjectSecondary, To::Group)],
    ..SESSION_N);
rec!(CRED_ACQ, action: "acquired-credentials", category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(CRED_DISP, action: "disposed-credentials", category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(CRED_REFR, action: "refreshed-credentials", category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(GRP_AUTH, action: "authenticated-to-group", category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS, ..N);
rec!(LOGIN, action: "changed-login-id-to", subject_primary: &["old_auid", "old-auid"], subject_secondary: &["uid"],
    object_primary: &["new-auid", "new_auid", "auid"], what: "user-session", category: AUTH, etype: START,
    mappings: &[(From::SubjectPrimary, To::User), (From::ObjectPrimary, To::UserEffective)], ..N);
rec!(USER_ACCT, action: "was-authorized", category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(USER_AUTH, action: "authenticated", category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(USER_END, action: "ended-session", category: SESSION, etype: END, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(USER_ERR, action: "error", source_ip: &["addr"], category: AUTH, etype: INFO, mappings: AUTH_MAPPINGS,
    ..SESSION_N);
rec!(USER_LOGIN, action: "logged-in", source_ip: &["addr"], category: AUTH, etype: START, mappings: AUTH_MAPPINGS,
    ..SESSION_N);
rec!(USER_LOGOUT, action: "logged-out", category: AUTH, etype: END, mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(USER_ROLE_CHANGE, action: "changed-role-to", object_primary: &["selected-context"], ..SESSION_N);
rec!(USER_START, action: "started-session", source_ip: &["addr"], category: SESSION, etype: START,
    mappings: AUTH_MAPPINGS, ..SESSION_N);
rec!(VIRT_CONTROL, action: "issued-vm-control", object_primary: &["op"], object_secondary: &["vm"],
    what: "virtual-machine", category: HOST, etype: INFO, ..N);
rec!(VIRT_CREATE, action: "created-vm-image", category: HOST, etype: INFO, ..N);
rec!(VIRT_DESTROY, action: "deleted-vm-image", category: HOST, etype: INFO, ..N);
rec!(VIRT_INTEGRITY_CHECK, action: "checked-integrity-of", category: HOST, etype: INFO, ..N);
rec!(VIRT_MACHINE_ID, action: "assigned-vm-id", object_primary: &["vm"], what: "virtual-machine", category: HOST,
    etype: INFO, ..N);
rec!(VIRT_MIGRATE_IN, action: "migrated-vm-from", category: HOST, etype: INFO, ..N);
rec!(VIRT_MIGRATE_OUT, action: "migrated-vm-to", category: HOST, etype: INFO, ..N);
rec!(VIRT_RESOURCE, action: "assigned-vm-resource", object_primary: &["resrc"], object_secondary: &["vm"],
    what: "virtual-machine", category: HOST, etype: INFO, ..N);
rec!(CHGRP_ID, action: "changed-group", category: PROCESS, etype: CHANGE, ..N);
rec!(CHUSER_ID, action: "changed-user-id", category: PROCESS, etype: CHANGE, ..N);
rec!(TEST, action: "sent-test", category: PROCESS, etype: INFO, ..N);
rec!(TRUSTED_APP, action: "unknown", category: PROCESS, etype: INFO, ..N);
rec!(USER_CMD, action: "ran-command", object_primary: &["cmd"], what: "process", category: PROCESS, etype: START, ..N);
rec!(SYSTEM_BOOT, action: "booted-system", what: "system", category: HOST, etype: START, ..N);
rec!(SYSTEM_RUNLEVEL, action: "changed-to-runlevel", object_primary: &["new-level"], what: "system",
    category: HOST, etype: CHANGE, ..N);
rec!(SYSTEM_SHUTDOWN, action: "shutdown-system", what: "system", category: HOST, etype: END, ..N);
rec!(SERVICE_START, action: "started-service", object_primary: &["unit"], what: "service", category: PROCESS,
    etype: START, ..N);
rec!(SERVICE_STOP, action: "stopped-service", object_primary: &["unit"], what: "service", category: PROCESS,
    etype: STOP, ..N);
rec!(CONFIG_CHANGE, action: "changed-audit-configuration",
    object_primary: &["op", "key", "audit_enabled", "audit_pid", "audit_backlog_limit", "audit_failure"],
    what: "audit-config", category: PROCESS_CONFIGURATION, etype: CHANGE, ..N);
rec!(DAEMON_ABORT, action: "aborted-auditd-startup", what: "service", category: PROCESS, etype: STOP, ..N);
rec!(DAEMON_ACCEPT, action: "remote-audit-connected", what: "service", category: NETWORK, etype: CONNECTION_START, ..N);
rec!(DAEMON_CLOSE, action: "remote-audit-disconnected", what: "service", category: NETWORK, etype: CONNECTION_START,
    ..N);
rec!(DAEMON_CONFIG, action: "changed-auditd-configuration", what: "service", category: PROCESS_CONFIGURATION,
    etype: CHANGE, ..N);
rec!(DAEMON_END, action: "shutdown-audit", what: "service", category: PROCESS, etype: STOP, ..N);
rec!(DAEMON_ERR, action: "audit-error", what: "service", category: PROCESS, etype: INFO, ..N);
rec!(DAEMON_RECONFIG, action: "reconfigured-auditd", what: "service", category: PROCESS_CONFIGURATION, etype: INFO,
    ..N);
rec!(DAEMON_RESUME, action: "resumed-audit-logging", what: "service", category: PROCESS, etype: CHANGE, ..N);
rec!(DAEMON_ROTATE, action: "rotated-audit-logs", what: "service", category: PROCESS, etype: CHANGE, ..N);
rec!(DAEMON_START, action: "started-audit", what: "service", category: PROCESS, etype: START, ..N);
rec!(KERNEL, action: "initialized-audit-subsystem", category: PROCESS, etype: INFO, ..N);
rec!(USYS_CONFIG, action: "changed-configuration", object_primary: &["op"], what: "system", category: CONFIGURATION,
    etype: CHANGE, ..N);
rec!(NETFILTER_CFG, action: "loaded-firewall-rule-to", object_primary: &["table"], what: "firewall",
    category: CONFIGURATION, etype: CHANGE, ..N);
rec!(FEATURE_CHANGE, action: "changed-audit-feature", object_primary: &["feature"], what: "system",
    category: CONFIGURATION, etype: CHANGE, ..N);
rec!(TTY, action: "typed", object_primary: &["data"], what: "keystrokes", how: &["comm", "exe"], ..N);
static AVC: [Norm; 2] = [
    Norm {
        action: "violated-selinux-policy",
        subject_primary: &["scontext"],
        object_primary: &["tcontext"],
        object_secondary: &["tclass"],
        has_fields: &["seresult"],
        ..N
    },
    Norm {
        action: "violated-apparmor-policy",
        object_primary: &["operation"],
        object_secondary: &["requested_mask", "denied_mask", "capname"],
        what: "policy",
        has_fields: &["apparmor"],
        ..N
    },
];
rec!(FS_RELABEL, action: "relabeled-filesystem", what: "mac-config", ..N);
rec!(LABEL_LEVEL_CHANGE, action: "modified-level-of", object_primary: &["printer"], what: "printer", ..N);
rec!(LABEL_OVERRIDE, action: "overrode-label-of", what: "mac-config", ..N);
rec!(MAC_CHECK, action: "mac-permission", ..N);
rec!(MAC_CONFIG_CHANGE, action: "changed-selinux-boolean", object_primary: &["bool"], what: "mac-config",
    category: CONFIGURATION, etype: CHANGE, ..N);
rec!(MAC_POLICY_LOAD, action: "loaded-selinux-policy", what: "mac-config", category: CONFIGURATION, etype: ACCESS,
    ..N);
rec!(MAC_STATUS, action: "changed-selinux-enforcement", object_primary: &["enforcing"], what: "mac-config",
    category: CONFIGURATION, etype: CHANGE, ..N);
rec!(USER_AVC, action: "access-permission", ..N);
rec!(USER_MAC_CONFIG_CHANGE, action: "changed-mac-configuration", what: "mac-config", category: CONFIGURATION,
    etype: CHANGE, ..N);
rec!(USER_MAC_POLICY_LOAD, action: "loaded-mac-policy", what: "mac-config", category: CONFIGURATION, etype: ACCESS,
    ..N);
rec!(USER_SELINUX_ERR, action: "access-error", ..N);
rec!(SECCOMP, action: "violated-seccomp-policy", object_primary: &["syscall"], what: "process", ..N);
rec!(SELINUX_ERR, action: "caused-mac-policy-error", what: "system", ..N);
rec!(CRYPTO_KEY_USER, action: "negotiated-crypto-key", object_primary: &["fp"], object_secondary: &["addr", "hostname"],
    source_ip: &["addr"], category: PROCESS, etype: INFO, ..SESSION_N);
rec!(CRYPTO_LOGIN, action: "crypto-officer-logged-in", ..N);
rec!(CRYPTO_LOGOUT, action: "crypto-officer-logged-out", category: PROCESS, etype: INFO, ..N);
rec!(CRYPTO_SESSION, action: "started-crypto-session", object_primary: &["addr"], object_secondary: &["rport"],
    source_ip: &["addr"], category: PROCESS, etype: INFO, ..SESSION_N);
rec!(DAC_CHECK, action: "access-result", ..N);
rec!(ANOM_ABEND, action: "crashed-program", object_primary: &["comm", "exe"], object_secondary: &["pid"],
    what: "process", how: &["sig"], kind: "alert", category: ANOMALY, etype: &["info", "end"], ..N);
rec!(ANOM_EXEC, action: "attempted-execution-of-forbidden-program", object_primary: &["cmd"], what: "process",
    how: &["terminal"], kind: "alert", category: ANOMALY, etype: &["info", "start"], ..N);
rec!(ANOM_LINK, action: "used-suspicious-link", kind: "alert", category: ANOMALY, etype: INFO, ..N);
rec!(ANOM_LOGIN_FAILURES, action: "failed-log-in-too-many-times-to", kind: "alert", category: ANOMALY,
    etype: INFO, ..SESSION_N);
rec!(ANOM_LOGIN_LOCATION, action: "attempted-log-in-from-unusual-place-to", kind: "alert", category: ANOMALY,
    etype: INFO, ..SESSION_N);
rec!(ANOM_LOGIN_SESSIONS, action: "opened-too-many-sessions-to", kind: "alert", category: ANOMALY, etype: INFO,
    ..SESSION_N);
rec!(ANOM_LOGIN_TIME, action: "attempted-log-in-during-unusual-hour-to", kind: "alert", category: ANOMALY,
    etype: INFO, ..SESSION_N);
rec!(ANOM_PROMISCUOUS, action: "changed-promiscuous-mode-on-device", object_primary: &["dev"],
    what: "network-device", kind: "alert", category: ANOMALY, etype: &["info", "change"], ..N);
rec!(ANOM_RBAC_INTEGRITY_FAIL, action: "tested-file-system-integrity-of", object_primary: &["hostname"],
    what: "filesystem", kind: "alert", category: ANOMALY, etype: INFO, ..N);
rec!(USER, action: "sent-message", object_primary: &["addr"], ..N);

/// The entries for a record type name (`USER_LOGIN`); empty when it has none.
pub fn record_norms(type_name: &str) -> &'static [Norm] {
    match type_name {
        "ACCT_LOCK" => &ACCT_LOCK,
        "ACCT_UNLOCK" => &ACCT_UNLOCK,
        "ADD_GROUP" => &ADD_GROUP,
        "ADD_USER" => &ADD_USER,
        "DEL_GROUP" => &DEL_GROUP,
        "DEL_USER" => &DEL_USER,
        "GRP_MGMT" => &GRP_MGMT,
        "ROLE_ASSIGN" => &ROLE_ASSIGN,
        "ROLE_MODIFY" => &ROLE_MODIFY,
        "ROLE_REMOVE" => &ROLE_REMOVE,
        "USER_MGMT" => &USER_MGMT,
        "USER_CHAUTHTOK" => &USER_CHAUTHTOK,
        "GRP_CHAUTHTOK" => &GRP_CHAUTHTOK,
        "CRED_ACQ" => &CRED_ACQ,
        "CRED_DISP" => &CRED_DISP,
        "CRED_REFR" => &CRED_REFR,
        "GRP_AUTH" => &GRP_AUTH,
        "LOGIN" => &LOGIN,
        "USER_ACCT" => &USER_ACCT,
        "USER_AUTH" => &USER_AUTH,
        "USER_END" => &USER_END,
        "USER_ERR" => &USER_ERR,
        "USER_LOGIN" => &USER_LOGIN,
        "USER_LOGOUT" => &USER_LOGOUT,
        "USER_ROLE_CHANGE" => &USER_ROLE_CHANGE,
        "USER_START" => &USER_START,
        "VIRT_CONTROL" => &VIRT_CONTROL,
        "VIRT_CREATE" => &VIRT_CREATE,
        "VIRT_DESTROY" => &VIRT_DESTROY,
        "VIRT_INTEGRITY_CHECK" => &VIRT_INTEGRITY_CHECK,
        "VIRT_MACHINE_ID" => &VIRT_MACHINE_ID,
        "VIRT_MIGRATE_IN" => &VIRT_MIGRATE_IN,
        "VIRT_MIGRATE_OUT" => &VIRT_MIGRATE_OUT,
        "VIRT_RESOURCE" => &VIRT_RESOURCE,
        "CHGRP_ID" => &CHGRP_ID,
        "CHUSER_ID" => &CHUSER_ID,
        "TEST" => &TEST,
        "TRUSTED_APP" => &TRUSTED_APP,
        "USER_CMD" => &USER_CMD,
        "SYSTEM_BOOT" => &SYSTEM_BOOT,
        "SYSTEM_RUNLEVEL" => &SYSTEM_RUNLEVEL,
        "SYSTEM_SHUTDOWN" => &SYSTEM_SHUTDOWN,
        "SERVICE_START" => &SERVICE_START,
        "SERVICE_STOP" => &SERVICE_STOP,
        "CONFIG_CHANGE" => &CONFIG_CHANGE,
        "DAEMON_ABORT" => &DAEMON_ABORT,
        "DAEMON_ACCEPT" => &DAEMON_ACCEPT,
        "DAEMON_CLOSE" => &DAEMON_CLOSE,
        "DAEMON_CONFIG" => &DAEMON_CONFIG,
        "DAEMON_END" => &DAEMON_END,
        "DAEMON_ERR" => &DAEMON_ERR,
        "DAEMON_RECONFIG" => &DAEMON_RECONFIG,
        "DAEMON_RESUME" => &DAEMON_RESUME,
        "DAEMON_ROTATE" => &DAEMON_ROTATE,
        "DAEMON_START" => &DAEMON_START,
        "KERNEL" => &KERNEL,
        "USYS_CONFIG" => &USYS_CONFIG,
        "NETFILTER_CFG" => &NETFILTER_CFG,
        "FEATURE_CHANGE" => &FEATURE_CHANGE,
        // Shared with the syscalls (as one upstream entry), so a SYSCALL record does not add
        // its own categories again.
        "TIME_ADJNTPVAL" | "TIME_INJOFFSET" => std::slice::from_ref(&SETTIME),
        "KERN_MODULE" => std::slice::from_ref(&MODULE_LOAD),
        "TTY" | "USER_TTY" => &TTY,
        "AVC" => &AVC,
        "FS_RELABEL" => &FS_RELABEL,
        "LABEL_LEVEL_CHANGE" => &LABEL_LEVEL_CHANGE,
        "LABEL_OVERRIDE" => &LABEL_OVERRIDE,
        "MAC_CHECK" => &MAC_CHECK,
        "MAC_CONFIG_CHANGE" => &MAC_CONFIG_CHANGE,
        "MAC_POLICY_LOAD" => &MAC_POLICY_LOAD,
        "MAC_STATUS" => &MAC_STATUS,
        "USER_AVC" => &USER_AVC,
        "USER_MAC_CONFIG_CHANGE" => &USER_MAC_CONFIG_CHANGE,
        "USER_MAC_POLICY_LOAD" => &USER_MAC_POLICY_LOAD,
        "USER_SELINUX_ERR" => &USER_SELINUX_ERR,
        "SECCOMP" => &SECCOMP,
        "SELINUX_ERR" => &SELINUX_ERR,
        "CRYPTO_KEY_USER" => &CRYPTO_KEY_USER,
        "CRYPTO_LOGIN" => &CRYPTO_LOGIN,
        "CRYPTO_LOGOUT" => &CRYPTO_LOGOUT,
        "CRYPTO_SESSION" => &CRYPTO_SESSION,
        "DAC_CHECK" => &DAC_CHECK,
        "ANOM_ABEND" => &ANOM_ABEND,
        "ANOM_EXEC" => &ANOM_EXEC,
        "ANOM_LINK" => &ANOM_LINK,
        "ANOM_LOGIN_FAILURES" => &ANOM_LOGIN_FAILURES,
        "ANOM_LOGIN_LOCATION" => &ANOM_LOGIN_LOCATION,
        "ANOM_LOGIN_SESSIONS" => &ANOM_LOGIN_SESSIONS,
        "ANOM_LOGIN_TIME" => &ANOM_LOGIN_TIME,
        "ANOM_PROMISCUOUS" => &ANOM_PROMISCUOUS,
        "ANOM_RBAC_INTEGRITY_FAIL" => &ANOM_RBAC_INTEGRITY_FAIL,
        "USER" => &USER,
        _ => &[],
    }
}

/// Auditbeat's older, pre-ECS category of a record type (`user-login`, `audit-rule`, ...),
/// which it leaves in `event.category` when the table gives no ECS category.
pub fn legacy_category(rtype: u16) -> &'static str {
    match rtype {
        1100..=1106 | 1108..=1110 | 1112..=1113 | 1126 => "user-login",
        1114..=1117 | 1132..=1133 | 1135..=1136 => "user-account",
        2000 | 1127..=1131 => "system-services",
        1111 | 1305 | 1325 | 1328..=1329 => "configuration",
        1326 => "dac-decision",
        1119..=1121 | 1123 | 1125 => "user-space",
        1124 | 1319 => "TTY",
        1200..=1299 => "audit-daemon",
        1107 | 1122 | 1400..=1402 | 1502..=1503 | 1506 => "mac-decision",
        1800..=1899 | 2109 => "integrity",
        1700..=1799 | 2100..=2108 | 2110..=2199 => "anomaly",
        2200..=2299 => "anomaly-response",
        1403..=1499 | 1500..=1501 | 1504..=1505 | 2300..=2399 => "mac",
        1600..=1699 | 2400..=2499 => "crypto",
        2500..=2599 => "virt",
        1300..=1304 | 1306..=1313 | 1317..=1318 | 1321..=1324 => "audit-rule",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscalls_map_to_auditbeat_actions() {
        assert_eq!(syscall_norm("execve").action, "executed");
        assert_eq!(syscall_norm("execve").etype, &["start"]);
        assert_eq!(syscall_norm("connect").action, "connected-to");
        assert_eq!(syscall_norm("connect").category, &["network"]);
        assert_eq!(syscall_norm("bind").action, "bound-socket");
        assert_eq!(syscall_norm("openat").action, "opened-file");
        assert_eq!(syscall_norm("renameat2").path_index, 2);
        assert_eq!(syscall_norm("unlinkat").etype, &["deletion"]);
        // socket() has no entry: process/info without an action, as in Auditbeat.
        let s = syscall_norm("socket");
        assert!(std::ptr::eq(s, &SYSCALL_DEFAULT));
        assert_eq!((s.action, s.category, s.etype), ("", PROCESS, INFO));
    }

    #[test]
    fn record_types_and_has_fields() {
        assert_eq!(record_norms("USER_LOGIN")[0].action, "logged-in");
        assert_eq!(record_norms("USER_LOGIN")[0].what, "user-session");
        assert_eq!(record_norms("USER_START")[0].category, SESSION);
        assert_eq!(record_norms("AVC").len(), 2);
        assert_eq!(record_norms("AVC")[1].has_fields, &["apparmor"]);
        assert!(record_norms("PATH").is_empty());
    }
}
