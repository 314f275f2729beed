//! Number ↔ name tables: message types, architectures, syscalls per arch, errno.
//!
//! The big tables live in `generated.rs` (written by `tools/gen-tables.sh` from the installed
//! audit userspace and the kernel UAPI header); this file only looks them up.

use super::generated::{
    ERRNOS, MSG_TYPES, MSG_TYPES_BY_NAME, SYSCALLS_AARCH64, SYSCALLS_ARMEB, SYSCALLS_I386,
    SYSCALLS_PPC, SYSCALLS_S390, SYSCALLS_S390X, SYSCALLS_X86_64,
};

// Record types the interpretation helpers dispatch on.
pub const AUDIT_LOGIN: u16 = 1006;
pub const AUDIT_USER_LOGIN: u16 = 1112;
pub const AUDIT_USER_CMD: u16 = 1123;
pub const AUDIT_USER_TTY: u16 = 1124;
pub const AUDIT_SYSCALL: u16 = 1300;
pub const AUDIT_PATH: u16 = 1302;
pub const AUDIT_SOCKADDR: u16 = 1306;
pub const AUDIT_CWD: u16 = 1307;
pub const AUDIT_EXECVE: u16 = 1309;
pub const AUDIT_TTY: u16 = 1319;
pub const AUDIT_EOE: u16 = 1320;
pub const AUDIT_SECCOMP: u16 = 1326;
pub const AUDIT_PROCTITLE: u16 = 1327;
pub const AUDIT_AVC: u16 = 1400;

/// `1300` → `SYSCALL`. Types without a name give `None` (see `Record::type_name`).
pub fn msg_type_name(t: u16) -> Option<&'static str> {
    MSG_TYPES
        .binary_search_by_key(&t, |&(n, _)| n)
        .ok()
        .map(|i| MSG_TYPES[i].1)
}

/// The types of nearly every line, without a table search (nor a UTF-8 check of the name).
pub fn common_msg_type(name: &[u8]) -> Option<u16> {
    match name {
        b"SYSCALL" => Some(AUDIT_SYSCALL),
        b"EXECVE" => Some(AUDIT_EXECVE),
        b"PATH" => Some(AUDIT_PATH),
        b"CWD" => Some(AUDIT_CWD),
        b"PROCTITLE" => Some(AUDIT_PROCTITLE),
        b"EOE" => Some(AUDIT_EOE),
        b"SOCKADDR" => Some(AUDIT_SOCKADDR),
        _ => None,
    }
}

/// `SYSCALL` → `1300`; also accepts `UNKNOWN[1334]` and a bare number, as auditd writes
/// types it has no name for. Case-sensitive, as auditd writes them.
pub fn msg_type_from_name(name: &str) -> Option<u16> {
    if let Some(num) = name
        .strip_prefix("UNKNOWN[")
        .and_then(|r| r.strip_suffix(']'))
    {
        return parse_decimal_u16(num);
    }
    if let Some(t) = common_msg_type(name.as_bytes()) {
        return Some(t);
    }
    if let Some(t) = parse_decimal_u16(name) {
        return Some(t);
    }
    let i = MSG_TYPES_BY_NAME
        .binary_search_by_key(&name, |&(n, _)| n)
        .ok()?;
    Some(MSG_TYPES_BY_NAME[i].1)
}

fn parse_decimal_u16(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
pub const AUDIT_ARCH_PPC64LE: u32 = 0xc000_0015;
pub const AUDIT_ARCH_S390X: u32 = 0x8000_0016;
pub const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;

/// AUDIT_ARCH_* codes (ELF machine | 64-bit | little-endian flags) and their names, the
/// names being those auditd and go-libaudit print.
static ARCHES: &[(u32, &str)] = &[
    (AUDIT_ARCH_X86_64, "x86_64"),
    (AUDIT_ARCH_I386, "i386"),
    (AUDIT_ARCH_AARCH64, "aarch64"),
    (AUDIT_ARCH_ARM, "arm"),
    (0x0000_0028, "armeb"),
    (0x0000_0014, "ppc"),
    (0x8000_0015, "ppc64"),
    (AUDIT_ARCH_PPC64LE, "ppc64le"),
    (0x0000_0016, "s390"),
    (AUDIT_ARCH_S390X, "s390x"),
    (0x4000_00f3, "riscv32"),
    (AUDIT_ARCH_RISCV64, "riscv64"),
    (0xc000_0102, "loongarch64"),
    (0xc000_0032, "ia64"),
    (0x0000_0008, "mips"),
    (0x4000_0008, "mipsel"),
    (0x8000_0008, "mips64"),
    (0xc000_0008, "mipsel64"),
    (0xa000_0008, "mips64n32"),
    (0xe000_0008, "mipsel64n32"),
    (0x0000_0002, "sparc"),
    (0x8000_002b, "sparc64"),
    (0x0000_000f, "parisc"),
    (0x8000_000f, "parisc64"),
    (0x0000_002a, "sh"),
    (0x4000_002a, "shel"),
    (0x8000_002a, "sh64"),
    (0xc000_002a, "shel64"),
    (0xc000_9026, "alpha"),
    (0x0000_0004, "m68k"),
];

/// `c000003e` → `x86_64`.
pub fn arch_name(arch: u32) -> Option<&'static str> {
    ARCHES.iter().find(|&&(c, _)| c == arch).map(|&(_, n)| n)
}

/// Parses the hex `arch=` field of a SYSCALL record (`c000003e`) and names it.
pub fn arch_name_hex(hex: &str) -> Option<&'static str> {
    u32::from_str_radix(hex, 16).ok().and_then(arch_name)
}

/// The arch this binary runs on, as the kernel reports it in `arch=`.
pub fn native_arch() -> u32 {
    if cfg!(target_arch = "x86_64") {
        AUDIT_ARCH_X86_64
    } else if cfg!(target_arch = "x86") {
        AUDIT_ARCH_I386
    } else if cfg!(target_arch = "aarch64") {
        AUDIT_ARCH_AARCH64
    } else if cfg!(target_arch = "arm") {
        AUDIT_ARCH_ARM
    } else if cfg!(target_arch = "powerpc64") {
        AUDIT_ARCH_PPC64LE
    } else if cfg!(target_arch = "s390x") {
        AUDIT_ARCH_S390X
    } else if cfg!(target_arch = "riscv64") {
        AUDIT_ARCH_RISCV64
    } else {
        AUDIT_ARCH_X86_64
    }
}

/// The 32-bit compat arch of a 64-bit arch (what auditctl means by `b32` there).
pub fn compat_arch(arch64: u32) -> Option<u32> {
    match arch64 {
        AUDIT_ARCH_X86_64 => Some(AUDIT_ARCH_I386),
        AUDIT_ARCH_AARCH64 => Some(AUDIT_ARCH_ARM),
        0x8000_0015 | AUDIT_ARCH_PPC64LE => Some(0x0000_0014),
        AUDIT_ARCH_S390X => Some(0x0000_0016),
        AUDIT_ARCH_RISCV64 => Some(0x4000_00f3),
        _ => None,
    }
}

/// Arch name → code: `x86_64`, `i386`, `aarch64`, ... and auditctl's `b64` / `b32`, which mean
/// the native arch and its compat arch. Also accepts the aliases `i686`, `x86-64`, `arm64`.
pub fn arch_from_name(name: &str) -> Option<u32> {
    arch_from_name_on(name, native_arch())
}

/// Like `arch_from_name`, with `b64`/`b32` resolved for the given native (64-bit) arch.
pub fn arch_from_name_on(name: &str, native: u32) -> Option<u32> {
    match name {
        "b64" => return Some(native),
        "b32" => return compat_arch(native).or(Some(native)),
        "i486" | "i586" | "i686" => return Some(AUDIT_ARCH_I386),
        "x86-64" | "amd64" => return Some(AUDIT_ARCH_X86_64),
        "arm64" => return Some(AUDIT_ARCH_AARCH64),
        _ => {}
    }
    ARCHES.iter().find(|&&(_, n)| n == name).map(|&(c, _)| c)
}

fn syscall_table(arch: u32) -> Option<&'static [(u32, &'static str)]> {
    Some(match arch {
        AUDIT_ARCH_X86_64 => SYSCALLS_X86_64,
        AUDIT_ARCH_I386 => SYSCALLS_I386,
        AUDIT_ARCH_AARCH64 => SYSCALLS_AARCH64,
        AUDIT_ARCH_ARM | 0x0000_0028 => SYSCALLS_ARMEB,
        0x0000_0014 | 0x8000_0015 | AUDIT_ARCH_PPC64LE => SYSCALLS_PPC,
        AUDIT_ARCH_S390X => SYSCALLS_S390X,
        0x0000_0016 => SYSCALLS_S390,
        _ => return None,
    })
}

/// Syscall number → name for an arch code (`syscall_name(0xc000003e, 59)` → `execve`).
pub fn syscall_name(arch: u32, nr: u64) -> Option<&'static str> {
    let table = syscall_table(arch)?;
    lookup_sorted(table, u32::try_from(nr).ok()?)
}

/// The value for `key` in a table sorted by key. The tables are mostly runs of consecutive
/// numbers (syscalls from 0, errnos from 1): the entry at `key - first key` is tried before
/// the binary search, and nearly always is the one.
fn lookup_sorted<K, V>(table: &[(K, V)], key: K) -> Option<V>
where
    K: Copy + Ord + Into<u64>,
    V: Copy,
{
    let first: u64 = table.first()?.0.into();
    let guess = usize::try_from(key.into().checked_sub(first)?).ok();
    if let Some(&(k, v)) = guess.and_then(|i| table.get(i)) {
        if k == key {
            return Some(v);
        }
    }
    table
        .binary_search_by_key(&key, |&(k, _)| k)
        .ok()
        .map(|i| table[i].1)
}

/// Syscall name → number for an arch code, for compiling kernel rules (`-S openat`).
/// A decimal number is accepted as is, as auditctl does.
pub fn syscall_number(arch: u32, name: &str) -> Option<u32> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name.parse().ok();
    }
    syscall_table(arch)?
        .iter()
        .find(|&&(_, n)| n == name)
        .map(|&(nr, _)| nr)
}

/// `-2` → `ENOENT` (a positive number is looked up the same way). `0` has no name.
pub fn errno_name(code: i64) -> Option<&'static str> {
    let e = u16::try_from(code.unsigned_abs()).ok()?;
    lookup_sorted(ERRNOS, e)
}

/// `ENOENT` → `2` (positive; the kernel reports `-2` in `exit=`).
pub fn errno_number(name: &str) -> Option<i64> {
    ERRNOS
        .iter()
        .find(|&&(_, n)| n == name)
        .map(|&(e, _)| e as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guess-then-search look-up finds what a binary search finds, for every key of
    /// every syscall table and the errno table, and the keys between and around them.
    #[test]
    fn lookup_sorted_is_binary_search() {
        fn check<K: Copy + Ord + Into<u64> + TryFrom<u64> + std::fmt::Debug>(
            table: &[(K, &'static str)],
        ) {
            let top: u64 = table.last().map_or(0, |e| e.0.into()) + 3;
            for k in (0..top).filter_map(|k| K::try_from(k).ok()) {
                let want = table
                    .binary_search_by_key(&k, |&(n, _)| n)
                    .ok()
                    .map(|i| table[i].1);
                assert_eq!(lookup_sorted(table, k), want, "{k:?}");
            }
        }
        for t in [
            SYSCALLS_X86_64,
            SYSCALLS_I386,
            SYSCALLS_AARCH64,
            SYSCALLS_ARMEB,
            SYSCALLS_PPC,
            SYSCALLS_S390X,
            SYSCALLS_S390,
        ] {
            check(t);
        }
        check(ERRNOS);
        assert_eq!(lookup_sorted::<u16, &str>(&[], 1), None);
    }

    #[test]
    fn msg_types_both_ways() {
        for (num, name) in [
            (1300, "SYSCALL"),
            (1309, "EXECVE"),
            (1327, "PROCTITLE"),
            (1400, "AVC"),
            (1112, "USER_LOGIN"),
            (2100, "ANOM_LOGIN_FAILURES"),
            (1000, "GET"),
            (1320, "EOE"),
            (1006, "LOGIN"),
        ] {
            assert_eq!(msg_type_name(num), Some(name), "{num}");
            assert_eq!(msg_type_from_name(name), Some(num), "{name}");
        }
        assert_eq!(msg_type_name(1399), None);
        assert_eq!(msg_type_from_name("UNKNOWN[1334]"), Some(1334));
        assert_eq!(msg_type_from_name("1334"), Some(1334));
        assert_eq!(msg_type_from_name("UNKNOWN[99999]"), None);
        assert_eq!(msg_type_from_name("NOPE"), None);
        // Sorted for binary search, and the two tables hold the same pairs.
        assert!(MSG_TYPES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(MSG_TYPES_BY_NAME.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(MSG_TYPES.len(), MSG_TYPES_BY_NAME.len());
        for &(num, name) in MSG_TYPES {
            assert_eq!(msg_type_from_name(name), Some(num), "{name}");
        }
    }

    #[test]
    fn arches() {
        assert_eq!(arch_name(0xc000003e), Some("x86_64"));
        assert_eq!(arch_name_hex("40000003"), Some("i386"));
        assert_eq!(arch_name_hex("c00000b7"), Some("aarch64"));
        assert_eq!(arch_name_hex("C00000B7"), Some("aarch64"));
        assert_eq!(arch_name_hex("zz"), None);
        assert_eq!(
            arch_from_name_on("b64", AUDIT_ARCH_X86_64),
            Some(AUDIT_ARCH_X86_64)
        );
        assert_eq!(
            arch_from_name_on("b32", AUDIT_ARCH_X86_64),
            Some(AUDIT_ARCH_I386)
        );
        assert_eq!(
            arch_from_name_on("b32", AUDIT_ARCH_AARCH64),
            Some(AUDIT_ARCH_ARM)
        );
        assert_eq!(arch_from_name("aarch64"), Some(AUDIT_ARCH_AARCH64));
        assert_eq!(arch_from_name("ppc64le"), Some(AUDIT_ARCH_PPC64LE));
        for &(code, name) in ARCHES {
            assert_eq!(arch_from_name(name), Some(code), "{name}");
        }
    }

    #[test]
    fn syscalls_both_ways() {
        for (arch, nr, name) in [
            (AUDIT_ARCH_X86_64, 59, "execve"),
            (AUDIT_ARCH_X86_64, 2, "open"),
            (AUDIT_ARCH_X86_64, 257, "openat"),
            (AUDIT_ARCH_I386, 11, "execve"),
            (AUDIT_ARCH_I386, 132, "getpgid"),
            (AUDIT_ARCH_AARCH64, 221, "execve"),
            (AUDIT_ARCH_AARCH64, 56, "openat"),
            (AUDIT_ARCH_ARM, 11, "execve"),
            (AUDIT_ARCH_PPC64LE, 11, "execve"),
            (AUDIT_ARCH_S390X, 11, "execve"),
        ] {
            assert_eq!(syscall_name(arch, nr), Some(name), "{arch:x} {nr}");
            assert_eq!(
                syscall_number(arch, name),
                Some(nr as u32),
                "{arch:x} {name}"
            );
        }
        assert_eq!(syscall_name(AUDIT_ARCH_X86_64, 99_999), None);
        assert_eq!(syscall_name(AUDIT_ARCH_X86_64, u64::MAX), None);
        assert_eq!(syscall_name(0x1234, 1), None);
        assert_eq!(
            syscall_number(AUDIT_ARCH_AARCH64, "open"),
            None,
            "aarch64 has only openat"
        );
        assert_eq!(syscall_number(AUDIT_ARCH_X86_64, "42"), Some(42));
        for t in [
            SYSCALLS_X86_64,
            SYSCALLS_I386,
            SYSCALLS_AARCH64,
            SYSCALLS_ARMEB,
        ] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    #[test]
    fn errnos() {
        assert_eq!(errno_name(-2), Some("ENOENT"));
        assert_eq!(errno_name(-13), Some("EACCES"));
        assert_eq!(errno_name(1), Some("EPERM"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(i64::MIN), None);
        assert_eq!(errno_number("EPERM"), Some(1));
    }
}
