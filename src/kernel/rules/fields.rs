//! Kernel audit rule constants (linux/audit.h) and their auditctl names.

/// `AUDIT_BITMASK_SIZE`: 64 words of syscall bits.
pub const BITMASK_WORDS: usize = 64;
/// `AUDIT_MAX_FIELDS`.
pub const MAX_FIELDS: usize = 64;
/// `AUDIT_MAX_KEY_LEN`: all keys of one rule, separators included.
pub const MAX_KEY_LEN: usize = 256;
/// `PATH_MAX`.
pub const PATH_MAX: usize = 4096;
/// `AUDIT_KEY_SEPARATOR`: keys of one rule are stored as one string joined by this byte.
pub const KEY_SEPARATOR: u8 = 0x01;
/// `AUDIT_FILTER_PREPEND`: flag bit of `-A` (insert at the head of the list).
pub const FILTER_PREPEND: u32 = 0x10;
/// The top 16 bits of the mask are syscall-class bits (`AUDIT_SYSCALL_CLASSES`); the kernel folds
/// them into real syscall bits and clears them, so rules list back with the last word `0xffff`.
pub const ALL_SYSCALLS_LAST_WORD: u32 = 0x0000_ffff;
/// Highest syscall number a rule may name (bits above are the class bits).
pub const MAX_SYSCALL: u32 = (BITMASK_WORDS as u32) * 32 - 16 - 1;

/// `__AUDIT_ARCH_64BIT`.
pub const ARCH_64BIT: u32 = 0x8000_0000;

/// Filter lists (`AUDIT_FILTER_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum List {
    User,
    Task,
    Exit,
    Exclude,
    Filesystem,
    IoUring,
}

impl List {
    pub fn code(self) -> u32 {
        match self {
            List::User => 0,
            List::Task => 1,
            List::Exit => 4,
            List::Exclude => 5,
            List::Filesystem => 6,
            List::IoUring => 7,
        }
    }
    pub fn from_code(code: u32) -> Option<List> {
        Some(match code {
            0 => List::User,
            1 => List::Task,
            4 => List::Exit,
            5 => List::Exclude,
            6 => List::Filesystem,
            7 => List::IoUring,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            List::User => "user",
            List::Task => "task",
            List::Exit => "exit",
            List::Exclude => "exclude",
            List::Filesystem => "filesystem",
            List::IoUring => "io_uring",
        }
    }
    pub fn from_name(name: &str) -> Option<List> {
        Some(match name {
            "user" => List::User,
            "task" => List::Task,
            "exit" => List::Exit,
            "exclude" => List::Exclude,
            "filesystem" => List::Filesystem,
            "io_uring" => List::IoUring,
            _ => return None,
        })
    }
}

/// Rule actions (`AUDIT_NEVER`, `AUDIT_POSSIBLE`, `AUDIT_ALWAYS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Never,
    Possible,
    Always,
}

impl Action {
    pub fn code(self) -> u32 {
        match self {
            Action::Never => 0,
            Action::Possible => 1,
            Action::Always => 2,
        }
    }
    pub fn from_code(code: u32) -> Option<Action> {
        Some(match code {
            0 => Action::Never,
            1 => Action::Possible,
            2 => Action::Always,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Action::Never => "never",
            Action::Possible => "possible",
            Action::Always => "always",
        }
    }
    pub fn from_name(name: &str) -> Option<Action> {
        Some(match name {
            "never" => Action::Never,
            "possible" => Action::Possible,
            "always" => Action::Always,
            _ => return None,
        })
    }
}

/// Comparison operators as stored in `fieldflags`.
pub mod op {
    pub const BIT_MASK: u32 = 0x0800_0000;
    pub const LESS_THAN: u32 = 0x1000_0000;
    pub const GREATER_THAN: u32 = 0x2000_0000;
    pub const NOT_EQUAL: u32 = 0x3000_0000;
    pub const EQUAL: u32 = 0x4000_0000;
    pub const BIT_TEST: u32 = BIT_MASK | EQUAL;
    pub const LESS_THAN_OR_EQUAL: u32 = LESS_THAN | EQUAL;
    pub const GREATER_THAN_OR_EQUAL: u32 = GREATER_THAN | EQUAL;
    /// `AUDIT_OPERATORS`: the bits an operator may use.
    pub const MASK: u32 = EQUAL | NOT_EQUAL | BIT_MASK;

    /// Operator spellings, searched in auditctl's order (two-character ones first).
    pub const SEARCH_ORDER: [(&str, u32); 8] = [
        ("!=", NOT_EQUAL),
        (">=", GREATER_THAN_OR_EQUAL),
        ("<=", LESS_THAN_OR_EQUAL),
        ("&=", BIT_TEST),
        ("=", EQUAL),
        (">", GREATER_THAN),
        ("<", LESS_THAN),
        ("&", BIT_MASK),
    ];

    pub fn symbol(op: u32) -> Option<&'static str> {
        SEARCH_ORDER
            .iter()
            .find(|(_, code)| *code == op)
            .map(|(s, _)| *s)
    }
}

/// Field numbers (`AUDIT_*` in linux/audit.h).
pub mod id {
    pub const PID: u32 = 0;
    pub const UID: u32 = 1;
    pub const EUID: u32 = 2;
    pub const SUID: u32 = 3;
    pub const FSUID: u32 = 4;
    pub const GID: u32 = 5;
    pub const EGID: u32 = 6;
    pub const SGID: u32 = 7;
    pub const FSGID: u32 = 8;
    pub const LOGINUID: u32 = 9;
    pub const PERS: u32 = 10;
    pub const ARCH: u32 = 11;
    pub const MSGTYPE: u32 = 12;
    pub const SUBJ_USER: u32 = 13;
    pub const SUBJ_ROLE: u32 = 14;
    pub const SUBJ_TYPE: u32 = 15;
    pub const SUBJ_SEN: u32 = 16;
    pub const SUBJ_CLR: u32 = 17;
    pub const PPID: u32 = 18;
    pub const OBJ_USER: u32 = 19;
    pub const OBJ_ROLE: u32 = 20;
    pub const OBJ_TYPE: u32 = 21;
    pub const OBJ_LEV_LOW: u32 = 22;
    pub const OBJ_LEV_HIGH: u32 = 23;
    pub const LOGINUID_SET: u32 = 24;
    pub const SESSIONID: u32 = 25;
    pub const FSTYPE: u32 = 26;
    pub const DEVMAJOR: u32 = 100;
    pub const DEVMINOR: u32 = 101;
    pub const INODE: u32 = 102;
    pub const EXIT: u32 = 103;
    pub const SUCCESS: u32 = 104;
    pub const WATCH: u32 = 105;
    pub const PERM: u32 = 106;
    pub const DIR: u32 = 107;
    pub const FILETYPE: u32 = 108;
    pub const OBJ_UID: u32 = 109;
    pub const OBJ_GID: u32 = 110;
    pub const FIELD_COMPARE: u32 = 111;
    pub const EXE: u32 = 112;
    pub const SADDR_FAM: u32 = 113;
    pub const ARG0: u32 = 200;
    pub const ARG1: u32 = 201;
    pub const ARG2: u32 = 202;
    pub const ARG3: u32 = 203;
    pub const FILTERKEY: u32 = 210;
}

/// auditctl field names; the first name of a number is the one `auditctl -l` prints.
const FIELD_NAMES: &[(&str, u32)] = &[
    ("pid", id::PID),
    ("uid", id::UID),
    ("euid", id::EUID),
    ("suid", id::SUID),
    ("fsuid", id::FSUID),
    ("gid", id::GID),
    ("egid", id::EGID),
    ("sgid", id::SGID),
    ("fsgid", id::FSGID),
    ("auid", id::LOGINUID),
    ("loginuid", id::LOGINUID),
    ("pers", id::PERS),
    ("arch", id::ARCH),
    ("msgtype", id::MSGTYPE),
    ("subj_user", id::SUBJ_USER),
    ("subj_role", id::SUBJ_ROLE),
    ("subj_type", id::SUBJ_TYPE),
    ("subj_sen", id::SUBJ_SEN),
    ("subj_clr", id::SUBJ_CLR),
    ("ppid", id::PPID),
    ("obj_user", id::OBJ_USER),
    ("obj_role", id::OBJ_ROLE),
    ("obj_type", id::OBJ_TYPE),
    ("obj_lev_low", id::OBJ_LEV_LOW),
    ("obj_lev_high", id::OBJ_LEV_HIGH),
    ("loginuid_set", id::LOGINUID_SET),
    ("sessionid", id::SESSIONID),
    ("fstype", id::FSTYPE),
    ("devmajor", id::DEVMAJOR),
    ("devminor", id::DEVMINOR),
    ("inode", id::INODE),
    ("exit", id::EXIT),
    ("success", id::SUCCESS),
    ("path", id::WATCH),
    ("perm", id::PERM),
    ("dir", id::DIR),
    ("filetype", id::FILETYPE),
    ("obj_uid", id::OBJ_UID),
    ("obj_gid", id::OBJ_GID),
    ("field_compare", id::FIELD_COMPARE),
    ("exe", id::EXE),
    ("saddr_fam", id::SADDR_FAM),
    ("a0", id::ARG0),
    ("a1", id::ARG1),
    ("a2", id::ARG2),
    ("a3", id::ARG3),
    ("key", id::FILTERKEY),
];

pub fn field_from_name(name: &str) -> Option<u32> {
    FIELD_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

pub fn field_name(field: u32) -> Option<&'static str> {
    FIELD_NAMES
        .iter()
        .find(|(_, f)| *f == field)
        .map(|(n, _)| *n)
}

/// Fields whose value is a string in the rule's buffer (the kernel's list, `audit_krule_to_data`).
pub fn is_string_field(field: u32) -> bool {
    matches!(
        field,
        id::SUBJ_USER..=id::SUBJ_CLR | id::OBJ_USER..=id::OBJ_LEV_HIGH | id::WATCH | id::DIR | id::FILTERKEY | id::EXE
    )
}

pub fn is_uid_field(field: u32) -> bool {
    matches!(
        field,
        id::UID | id::EUID | id::SUID | id::FSUID | id::LOGINUID | id::OBJ_UID
    )
}

pub fn is_gid_field(field: u32) -> bool {
    matches!(
        field,
        id::GID | id::EGID | id::SGID | id::FSGID | id::OBJ_GID
    )
}

/// `-C` comparisons: (left, right, `AUDIT_COMPARE_*`), either order accepted when parsing;
/// `auditctl -l` prints the pair as listed here.
pub const COMPARISONS: &[(&str, &str, u32)] = &[
    ("uid", "obj_uid", 1),
    ("gid", "obj_gid", 2),
    ("euid", "obj_uid", 3),
    ("egid", "obj_gid", 4),
    ("auid", "obj_uid", 5),
    ("suid", "obj_uid", 6),
    ("sgid", "obj_gid", 7),
    ("fsuid", "obj_uid", 8),
    ("fsgid", "obj_gid", 9),
    ("uid", "auid", 10),
    ("uid", "euid", 11),
    ("uid", "fsuid", 12),
    ("uid", "suid", 13),
    ("auid", "fsuid", 14),
    ("auid", "suid", 15),
    ("auid", "euid", 16),
    ("euid", "suid", 17),
    ("euid", "fsuid", 18),
    ("suid", "fsuid", 19),
    ("gid", "egid", 20),
    ("gid", "fsgid", 21),
    ("gid", "sgid", 22),
    ("egid", "fsgid", 23),
    ("egid", "sgid", 24),
    ("sgid", "fsgid", 25),
];

/// The comparison code for two field numbers, in either order.
pub fn comparison_code(a: u32, b: u32) -> Option<u32> {
    let canon = |n: &str| field_from_name(n);
    COMPARISONS
        .iter()
        .find(|(l, r, _)| {
            let (l, r) = (canon(l), canon(r));
            (l == Some(a) && r == Some(b)) || (l == Some(b) && r == Some(a))
        })
        .map(|(_, _, c)| *c)
}

pub fn comparison_names(code: u32) -> Option<(&'static str, &'static str)> {
    COMPARISONS
        .iter()
        .find(|(_, _, c)| *c == code)
        .map(|(l, r, _)| (*l, *r))
}

/// `-F filetype=` names (libaudit's ftypetab) → `S_IF*` values.
pub const FILE_TYPES: &[(&str, u32)] = &[
    ("block", 0o060000),
    ("character", 0o020000),
    ("dir", 0o040000),
    ("fifo", 0o010000),
    ("file", 0o100000),
    ("link", 0o120000),
    ("socket", 0o140000),
];

/// `AUDIT_PERM_*` bits and their letters, in the order auditctl prints them.
pub const PERMS: [(char, u32); 4] = [('r', 4), ('w', 2), ('x', 1), ('a', 8)];

pub fn perm_letters(value: u32) -> String {
    PERMS
        .iter()
        .filter(|(_, bit)| value & bit != 0)
        .map(|(c, _)| *c)
        .collect()
}

pub fn arch_is_known(code: u32) -> bool {
    crate::record::tables::arch_name(code).is_some()
}

/// The running kernel's architecture (from `uname -m`, like auditctl's `audit_detect_machine`).
pub fn host_arch() -> Option<u32> {
    static HOST: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *HOST.get_or_init(|| {
        // uname, not the build target: a 32-bit build on a 64-bit kernel still audits b64.
        // SAFETY: uname fills the zeroed struct we own; `machine` is NUL-terminated by the kernel.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        if unsafe { libc::uname(&mut uts) } != 0 {
            return None;
        }
        let machine = unsafe { std::ffi::CStr::from_ptr(uts.machine.as_ptr()) };
        crate::record::tables::arch_from_name(machine.to_str().ok()?)
    })
}
