//! Network tests run inside a fresh network namespace (`unshare -n`), so nothing they send can
//! leave the machine: the test binary re-executes itself there for the one test.
#![allow(dead_code)]

use std::process::Command;

const NETNS_ENV: &str = "AUDITWATCH_TEST_IN_NETNS";

/// Runs `body` in a new network namespace: re-executes this test binary for the one test.
pub fn in_netns(test: &str, body: impl FnOnce()) {
    if std::env::var_os(NETNS_ENV).is_some() {
        loopback_up();
        body();
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new("unshare")
        .args(["-n", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(NETNS_ENV, "1")
        .output()
        .expect("run unshare -n");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{test} in a network namespace failed:\n{text}"
    );
    assert!(text.contains("1 passed"), "{test} did not run:\n{text}");
}

/// A new network namespace has `lo` down.
pub fn loopback_up() {
    // SAFETY: plain ioctls on a socket we own, with a zeroed ifreq naming "lo".
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        assert!(fd >= 0);
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        assert_eq!(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr), 0);
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        assert_eq!(libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr), 0);
        libc::close(fd);
    }
}
