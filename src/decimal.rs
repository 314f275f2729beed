//! Decimal text of integers without `fmt`: ids, ports, pids and counts are written for most
//! events (JSON output, ECS fields, the dispatcher's look-ups of numbers as text).

const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// `i` as decimal text, written at the end of `buf` (20 bytes hold every `i64`, sign
/// included).
pub fn decimal(i: i64, buf: &mut [u8; 20]) -> &str {
    // Only ASCII digits and `-` are written.
    std::str::from_utf8(digits(i, buf)).unwrap_or_default()
}

/// [`decimal`]'s bytes, two digits at a time (for writers of bytes: no UTF-8 check).
pub fn digits(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut n = i.unsigned_abs();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        buf[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        buf[at] = b'0' + n as u8;
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_to_string() {
        let mut edges = vec![0, 1, -1, 9, 10, 99, 100, 101, 65535, i64::MAX, i64::MIN];
        for p in 1..19 {
            let t = 10i64.pow(p);
            edges.extend([t - 1, t, t + 1, -t, 1 - t]);
        }
        for i in edges {
            assert_eq!(decimal(i, &mut [0; 20]), i.to_string());
        }
    }
}
