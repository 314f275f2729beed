//! SOCKADDR `saddr=` decoding: the hex dump of the `struct sockaddr` a process passed to
//! connect/bind/sendto/accept. The family is in host byte order (little-endian here, as on
//! every arch auditwatch targets), ports and IPv4/IPv6 addresses in network order.

use super::hex;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const AF_NETLINK: u16 = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    Inet {
        addr: Ipv4Addr,
        port: u16,
    },
    Inet6 {
        addr: Ipv6Addr,
        port: u16,
        flowinfo: u32,
        scope_id: u32,
    },
    /// `path` is empty for an unnamed socket and starts with `@` for an abstract one (the
    /// leading NUL; further NULs in an abstract name are shown as `@` too, as `ss` does).
    Unix {
        path: String,
    },
    Netlink {
        pid: u32,
        groups: u32,
    },
    /// A family without a decoder (reported by number; `family_name` may name it).
    Other {
        family: u16,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockAddrError(pub String);

impl fmt::Display for SockAddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SockAddrError {}

impl SockAddr {
    pub fn family(&self) -> u16 {
        match self {
            SockAddr::Inet { .. } => AF_INET,
            SockAddr::Inet6 { .. } => AF_INET6,
            SockAddr::Unix { .. } => AF_UNIX,
            SockAddr::Netlink { .. } => AF_NETLINK,
            SockAddr::Other { family } => *family,
        }
    }
    /// The address as text (`10.0.0.1`, `::1`, the unix path), if the family has one.
    pub fn address(&self) -> Option<String> {
        match self {
            SockAddr::Inet { addr, .. } => Some(ipv4_text(*addr)),
            SockAddr::Inet6 { addr, .. } => Some(addr.to_string()),
            SockAddr::Unix { path } => Some(path.clone()),
            _ => None,
        }
    }
    pub fn port(&self) -> Option<u16> {
        match self {
            SockAddr::Inet { port, .. } | SockAddr::Inet6 { port, .. } => Some(*port),
            _ => None,
        }
    }
}

/// `Ipv4Addr`'s `Display` text without `fmt` (its padding support costs ten times this, and
/// every connect event has an address).
fn ipv4_text(addr: Ipv4Addr) -> String {
    let mut s = String::with_capacity(15);
    for (i, o) in addr.octets().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        if o >= 100 {
            s.push(char::from(b'0' + o / 100));
        }
        if o >= 10 {
            s.push(char::from(b'0' + o / 10 % 10));
        }
        s.push(char::from(b'0' + o % 10));
    }
    s
}

/// `ipv4`, `ipv6`, `unix`, `netlink` (the names Auditbeat uses), a few more for families
/// seen in audit logs, `None` for the rest.
pub fn family_name(family: u16) -> Option<&'static str> {
    Some(match family {
        AF_UNIX => "unix",
        AF_INET => "ipv4",
        AF_INET6 => "ipv6",
        AF_NETLINK => "netlink",
        0 => "unspec",
        4 => "ipx",
        5 => "appletalk",
        15 => "key",
        17 => "packet",
        31 => "bluetooth",
        38 => "alg",
        40 => "vsock",
        44 => "xdp",
        _ => return None,
    })
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}
fn u32_be(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes a `saddr=` value.
pub fn parse(saddr_hex: &str) -> Result<SockAddr, SockAddrError> {
    let b = hex::decode(saddr_hex.as_bytes())
        .ok_or_else(|| SockAddrError(format!("saddr is not hex: {:.40}", saddr_hex)))?;
    parse_bytes(&b)
}

/// Decodes the raw bytes of a `struct sockaddr`.
pub fn parse_bytes(b: &[u8]) -> Result<SockAddr, SockAddrError> {
    if b.len() < 2 {
        return Err(SockAddrError(format!(
            "saddr of {} bytes has no family",
            b.len()
        )));
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    let short = |need: usize, what: &str| {
        SockAddrError(format!(
            "saddr of {} bytes is too short for {what} ({need})",
            b.len()
        ))
    };
    Ok(match family {
        AF_INET => {
            if b.len() < 8 {
                return Err(short(8, "AF_INET"));
            }
            let port = u16::from_be_bytes([b[2], b[3]]);
            SockAddr::Inet {
                addr: Ipv4Addr::new(b[4], b[5], b[6], b[7]),
                port,
            }
        }
        AF_INET6 => {
            if b.len() < 24 {
                return Err(short(24, "AF_INET6"));
            }
            let port = u16::from_be_bytes([b[2], b[3]]);
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let scope_id = if b.len() >= 28 { u32_le(&b[24..28]) } else { 0 };
            SockAddr::Inet6 {
                addr: Ipv6Addr::from(a),
                port,
                flowinfo: u32_be(&b[4..8]),
                scope_id,
            }
        }
        AF_UNIX => {
            let p = &b[2..];
            let path = match p.first() {
                None => String::new(),
                Some(0) => {
                    let name: Vec<u8> = p[1..]
                        .iter()
                        .map(|&c| if c == 0 { b'@' } else { c })
                        .collect();
                    if name.iter().all(|&c| c == b'@') {
                        // sun_path all NUL: an unnamed socket padded by the caller.
                        String::new()
                    } else {
                        format!("@{}", String::from_utf8_lossy(&name))
                    }
                }
                Some(_) => {
                    let end = memchr::memchr(0, p).unwrap_or(p.len());
                    String::from_utf8_lossy(&p[..end]).into_owned()
                }
            };
            SockAddr::Unix { path }
        }
        AF_NETLINK => {
            if b.len() < 12 {
                return Err(short(12, "AF_NETLINK"));
            }
            SockAddr::Netlink {
                pid: u32_le(&b[4..8]),
                groups: u32_le(&b[8..12]),
            }
        }
        family => SockAddr::Other { family },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every octet value in every position, against `Ipv4Addr`'s `Display`.
    #[test]
    fn ipv4_text_like_display() {
        for o in 0..=255u8 {
            for addr in [
                Ipv4Addr::new(o, 0, 0, 0),
                Ipv4Addr::new(1, o, 10, 255),
                Ipv4Addr::new(100, 99, o, 9),
                Ipv4Addr::new(255, 255, 255, o),
            ] {
                assert_eq!(ipv4_text(addr), addr.to_string());
            }
        }
    }

    #[test]
    fn inet() {
        let s = parse("02000050A9FEA9FE0000000000000000").unwrap();
        assert_eq!(
            s,
            SockAddr::Inet {
                addr: Ipv4Addr::new(169, 254, 169, 254),
                port: 80
            }
        );
        assert_eq!(
            (s.address().unwrap().as_str(), s.port()),
            ("169.254.169.254", Some(80))
        );
        assert_eq!(family_name(s.family()), Some("ipv4"));
    }

    #[test]
    fn inet6() {
        let s = parse("0A000016000000000000000000000000000000000000000000000000").unwrap();
        assert_eq!(s.address().unwrap(), "::");
        assert_eq!(s.port(), Some(22));
        let hex = format!(
            "0A0001BB00000000{}{}",
            "FE800000000000000000000000000001", "02000000"
        );
        let s = parse(&hex).unwrap();
        let SockAddr::Inet6 {
            addr,
            port,
            scope_id,
            ..
        } = s
        else {
            panic!()
        };
        assert_eq!(
            (addr.to_string().as_str(), port, scope_id),
            ("fe80::1", 443, 2)
        );
        assert!(parse("0A000016").is_err());
    }

    #[test]
    fn unix_paths() {
        let s = parse("01002F7661722F72756E2F6E7363642F736F636B65740000603B7B47").unwrap();
        assert_eq!(
            s,
            SockAddr::Unix {
                path: "/var/run/nscd/socket".into()
            }
        );
        // Abstract: leading NUL.
        let s = parse("0100006D792D6162737472616374").unwrap();
        assert_eq!(
            s,
            SockAddr::Unix {
                path: "@my-abstract".into()
            }
        );
        assert_eq!(
            parse("0100").unwrap(),
            SockAddr::Unix {
                path: String::new()
            }
        );
        assert_eq!(
            parse("01000000").unwrap(),
            SockAddr::Unix {
                path: String::new()
            }
        );
    }

    #[test]
    fn netlink_and_others() {
        let s = parse("100000000000000000000000").unwrap();
        assert_eq!(s, SockAddr::Netlink { pid: 0, groups: 0 });
        let s = parse("10000000D20400000100000000").unwrap();
        assert_eq!(
            s,
            SockAddr::Netlink {
                pid: 1234,
                groups: 1
            }
        );
        assert_eq!(parse("00000000").unwrap(), SockAddr::Other { family: 0 });
        assert_eq!(parse("1100000000").unwrap().family(), 17);
        assert_eq!(family_name(17), Some("packet"));
        assert_eq!(family_name(999), None);
    }

    #[test]
    fn bad_input() {
        assert!(parse("").is_err());
        assert!(parse("02").is_err());
        assert!(parse("0200zz").is_err());
        assert!(parse("020000").unwrap_err().0.contains("AF_INET"));
        assert!(parse("1000").unwrap_err().0.contains("AF_NETLINK"));
    }
}
