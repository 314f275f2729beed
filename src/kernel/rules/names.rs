//! Name ↔ number look-ups the rules need, over the shared tables in `crate::record::tables`.

use crate::record::tables;

pub fn syscall_name(arch: u32, nr: u32) -> Option<&'static str> {
    tables::syscall_name(arch, u64::from(nr))
}

pub fn syscall_number(arch: u32, name: &str) -> Option<u32> {
    tables::syscall_number(arch, name)
}

pub fn msg_type_name(t: u16) -> Option<&'static str> {
    tables::msg_type_name(t)
}

pub fn msg_type_from_name(name: &str) -> Option<u16> {
    tables::msg_type_from_name(name)
}

/// `-2` → `ENOENT`.
pub fn errno_name(code: i64) -> Option<&'static str> {
    tables::errno_name(code)
}

/// `EACCES` → 13 (the positive errno).
pub fn errno_number(name: &str) -> Option<u32> {
    tables::errno_number(name).and_then(|n| u32::try_from(n).ok())
}

/// Architecture name → `AUDIT_ARCH_*` (`x86_64`, `i386`, `aarch64`, ...).
pub fn arch_code(name: &str) -> Option<u32> {
    tables::arch_from_name(name).filter(|_| !matches!(name, "b64" | "b32"))
}

pub fn arch_name(code: u32) -> Option<&'static str> {
    tables::arch_name(code)
}

/// The 32-bit compat architecture of a 64-bit one (`-F arch=b32`).
pub fn compat32(arch64: u32) -> Option<u32> {
    tables::compat_arch(arch64)
}
