//! Number → name tables: message types, architectures, syscalls per arch, errno.

pub fn msg_type_name(t: u16) -> Option<&'static str> {
    let _ = t;
    todo!("tables")
}
pub fn msg_type_from_name(name: &str) -> Option<u16> {
    let _ = name;
    todo!("tables")
}
/// `c000003e` → `x86_64`.
pub fn arch_name(arch: u32) -> Option<&'static str> {
    let _ = arch;
    todo!("tables")
}
pub fn syscall_name(arch: u32, nr: u64) -> Option<&'static str> {
    let _ = (arch, nr);
    todo!("tables")
}
/// `-2` → `ENOENT`.
pub fn errno_name(code: i64) -> Option<&'static str> {
    let _ = code;
    todo!("tables")
}
