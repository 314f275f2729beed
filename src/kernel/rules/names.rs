//! Name ↔ number look-ups the rules need, over the shared tables in `crate::record::tables`.

use crate::record::tables;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

pub fn syscall_name(arch: u32, nr: u32) -> Option<&'static str> {
    tables::syscall_name(arch, u64::from(nr))
}

/// Syscall name → number for one architecture (the inverse of `syscall_name`, built once per arch).
pub fn syscall_number(arch: u32, name: &str) -> Option<u32> {
    static BY_ARCH: OnceLock<Mutex<HashMap<u32, HashMap<&'static str, u32>>>> = OnceLock::new();
    let mut all = BY_ARCH
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let table = all.entry(arch).or_insert_with(|| {
        (0..=super::fields::MAX_SYSCALL)
            .filter_map(|nr| syscall_name(arch, nr).map(|n| (n, nr)))
            .collect()
    });
    table.get(name).copied()
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
    static BY_NAME: OnceLock<HashMap<&'static str, u32>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            (1..=4095u32)
                .filter_map(|n| errno_name(-i64::from(n)).map(|e| (e, n)))
                .collect()
        })
        .get(name)
        .copied()
}
