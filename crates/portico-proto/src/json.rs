//! JSON strings written by hand, escaped exactly as serde_json escapes them: for the few
//! packets whose JSON is fixed in shape and written for every session (the handshake).

/// Appends `s` as a JSON string, quotes included: `"` and `\` escaped with a backslash,
/// the control characters as `\b`, `\f`, `\n`, `\r`, `\t` or `\u00xx` (lowercase hex), every
/// other character as it is (serde_json's output, byte for byte).
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // The usual string (a session id, a transport's name) needs no escape: told by one look
    // at every byte, with no branch per byte (the compiler runs it over many bytes at once),
    // and copied whole.
    let plain = !bytes.iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xF)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
    #[test]
    fn escapes_as_serde_json_does() {
        let every: String = (0u8..0x80).map(char::from).chain("é✓😀".chars()).collect();
        // Each special byte alone and in a long plain string too (the whole-string look).
        let long = "x".repeat(100);
        let mut cases = vec![
            String::new(),
            "plain".into(),
            "a\"b\\c".into(),
            every.clone(),
        ];
        for b in (0u8..0x20).chain([b'"', b'\\', 0x7f]) {
            cases.push(char::from(b).to_string());
            cases.push(format!("{long}{}{long}", char::from(b)));
        }
        for s in &cases {
            let mut out = Vec::new();
            super::put_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }
}
