//! Hex decoding as the kernel encodes untrusted strings (`audit_log_n_hex`: two uppercase
//! digits per byte). Linear time, one allocation.

/// Value of an uppercase hex digit, or 0xff.
const fn digit_table() -> [u8; 256] {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
}
static DIGIT: [u8; 256] = digit_table();

/// True when `s` is a non-empty, even-length run of uppercase hex digits, i.e. what the
/// kernel prints for a hex-encoded string.
pub fn is_kernel_hex(s: &[u8]) -> bool {
    !s.is_empty() && s.len() % 2 == 0 && s.iter().all(|&b| DIGIT[b as usize] != 0xff)
}

/// Appends the bytes `s` encodes to `out`; `None` (and `out` unchanged) if `s` is not
/// kernel hex (odd length, lowercase or other characters).
pub fn decode_into(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    if s.len() % 2 != 0 {
        return None;
    }
    let start = out.len();
    out.resize(start + s.len() / 2, 0);
    // Branch-free loop; an invalid digit (0xff) shows in the high nibble of `bad`.
    let mut bad = 0u8;
    for (dst, pair) in out[start..].iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (DIGIT[pair[0] as usize], DIGIT[pair[1] as usize]);
        bad |= hi | lo;
        *dst = hi << 4 | lo;
    }
    if bad & 0xf0 != 0 {
        out.truncate(start);
        return None;
    }
    Some(())
}

/// Decodes kernel hex to bytes, `None` if `s` is not kernel hex.
pub fn decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_into(s, &mut out).map(|_| out)
}

/// `bytes_to_text(decode(s)?)` in one pass, without the second walk over the bytes or the
/// UTF-8 check when they are ASCII (names, paths and titles nearly always are).
pub fn decode_text(s: &[u8]) -> Option<String> {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut out = Vec::with_capacity(s.len() / 2);
    decode_into(s, &mut out)?;
    while out.last() == Some(&0) {
        out.pop();
    }
    // A word at a time: NULs (argv separators) become spaces, and the high bits are kept
    // to tell ASCII from the rest.
    let mut high = 0u64;
    let mut words = out.chunks_exact_mut(8);
    for word in words.by_ref() {
        let w = u64::from_le_bytes((&*word).try_into().expect("8 bytes"));
        high |= w;
        // The high bit of each byte that is zero, exactly (no borrow between bytes).
        let zero = !(((w & LOW7) + LOW7) | w | LOW7);
        if zero != 0 {
            word.copy_from_slice(&(w | (zero >> 2)).to_le_bytes());
        }
    }
    for b in words.into_remainder() {
        high |= u64::from(*b);
        if *b == 0 {
            *b = b' ';
        }
    }
    if high & HIGH == 0 {
        // SAFETY: every byte is below 0x80, and ASCII is UTF-8.
        return Some(unsafe { String::from_utf8_unchecked(out) });
    }
    Some(match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// Bytes to text: trailing NULs dropped, inner NULs (argv separators) shown as spaces,
/// invalid UTF-8 replaced.
pub fn bytes_to_text(mut bytes: Vec<u8>) -> String {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    if memchr::memchr(0, &bytes).is_some() {
        for b in bytes.iter_mut() {
            if *b == 0 {
                *b = b' ';
            }
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_uppercase_only() {
        assert_eq!(decode(b"2F746D70"), Some(b"/tmp".to_vec()));
        assert_eq!(decode(b""), Some(vec![]));
        assert_eq!(decode(b"2f"), None);
        assert_eq!(decode(b"2F7"), None);
        assert_eq!(decode(b"ZZ"), None);
        assert!(is_kernel_hex(b"00FF"));
        assert!(!is_kernel_hex(b""));
        assert!(!is_kernel_hex(b"abc"));
    }

    /// `decode_text` agrees with `decode` then `bytes_to_text` on hostile hex: NULs first,
    /// inside and last, non-UTF-8 and high bytes, spaces, lowercase and odd lengths.
    #[test]
    fn decode_text_is_decode_then_bytes_to_text() {
        let bytes = [0x00u8, 0x20, 0x41, 0x7f, 0x80, 0xc3, 0xa9, 0xff, 0x01];
        let mut inputs: Vec<String> = vec![String::new(), "0".into(), "2f".into(), "ZZ".into()];
        let hex = |v: &[u8]| v.iter().map(|b| format!("{b:02X}")).collect::<String>();
        for a in bytes {
            for b in bytes {
                for c in bytes {
                    inputs.push(hex(&[a, b, c]));
                    inputs.push(hex(&[a, b, c, 0, a]));
                    // Across the word boundary, and a whole word of each.
                    for len in [7, 8, 9, 15, 16, 17] {
                        let mut v = vec![b'x'; len];
                        v[len - 1] = a;
                        v[len / 2] = b;
                        v[0] = c;
                        inputs.push(hex(&v));
                        inputs.push(hex(&vec![a; len]));
                    }
                }
            }
        }
        for s in &inputs {
            let want = decode(s.as_bytes()).map(bytes_to_text);
            assert_eq!(decode_text(s.as_bytes()), want, "{s}");
        }
    }

    #[test]
    fn text_conversion() {
        assert_eq!(bytes_to_text(b"a\0b\0\0".to_vec()), "a b");
        assert_eq!(bytes_to_text(vec![0xff, b'x']), "\u{fffd}x");
    }
}
