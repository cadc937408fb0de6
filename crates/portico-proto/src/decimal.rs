//! The decimal digits of an unsigned integer, written without `fmt`'s machinery: the lengths,
//! ids and counts of the hot paths (a packet's ack id, an HTTP answer's `content-length`).

use bytes::BufMut;

/// Appends the decimal digits of `n` to `out` (what `write!(out, "{n}")` writes).
///
/// ```
/// let mut out = Vec::new();
/// portico_proto::decimal::put(&mut out, 1_234);
/// assert_eq!(out, b"1234");
/// ```
pub fn put<B: BufMut + ?Sized>(out: &mut B, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_what_display_writes() {
        for n in [0, 7, 10, 99, 100, 1_234_567, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            super::put(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes(), "{n}");
        }
    }
}
