//! Session and socket ids: 20 characters of base64url from a CSPRNG.

use std::fmt;

use rand::RngCore;

/// An Engine.IO session id or a Socket.IO socket id.
///
/// 120 bits from the operating system's CSPRNG (through `rand`'s thread-local ChaCha
/// generator, seeded and reseeded from the OS), written as 20 base64url characters like
/// Node's `base64id`. `Copy`, no allocation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Which bytes are in [`ALPHABET`]: one lookup per character where a search of the alphabet
/// cost a scan of it (every polling request parses its `sid`).
const IS_ALPHABET: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        t[ALPHABET[i] as usize] = true;
        i += 1;
    }
    t
};

impl Sid {
    /// A fresh random id.
    pub fn new() -> Sid {
        let mut raw = [0u8; 15];
        rand::thread_rng().fill_bytes(&mut raw);
        let mut out = [0u8; 20];
        for (i, chunk) in raw.chunks(3).enumerate() {
            let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
            for j in 0..4 {
                out[i * 4 + j] = ALPHABET[((n >> (18 - 6 * j)) & 63) as usize];
            }
        }
        Sid(out)
    }

    /// Parse an id sent by a client. `None` unless it has the shape of an id we issue.
    pub fn parse(s: &str) -> Option<Sid> {
        let bytes = s.as_bytes();
        if bytes.len() != 20 || !bytes.iter().all(|&b| IS_ALPHABET[usize::from(b)]) {
            return None;
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(bytes);
        Some(Sid(out))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::hash::Hash for Sid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Ids are random: their first 8 characters (48 random bits) are hash enough, and one
        // `write_u64` is far cheaper than hashing 20 bytes and a length (rooms and broadcasts
        // hash ids several times per delivery). Equal ids still hash equally.
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

impl Default for Sid {
    fn default() -> Self {
        Sid::new()
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Hashes a [`Sid`] by its first 8 bytes. Ids are 120 random bits chosen by the server, so
/// they are already uniformly distributed and a peer cannot pick colliding ones; SipHash's
/// protection would only cost time on every room lookup of every broadcast.
#[derive(Default, Clone, Copy)]
pub(crate) struct SidHasher(u64);

impl std::hash::Hasher for SidHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, n: u64) {
        // Spread the id's bits over the whole word (hashbrown takes its control bits from
        // the top and its bucket from the bottom).
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write(&mut self, bytes: &[u8]) {
        // Sid's Hash writes its 20 bytes at once; fold anything else in too.
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(b);
        }
    }
}

/// A map keyed by [`Sid`].
pub(crate) type SidMap<V> =
    std::collections::HashMap<Sid, V, std::hash::BuildHasherDefault<SidHasher>>;
/// A set of [`Sid`]s.
pub(crate) type SidSet = std::collections::HashSet<Sid, std::hash::BuildHasherDefault<SidHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_url_safe_chars_and_distinct() {
        let a = Sid::new();
        let b = Sid::new();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        assert_eq!(Sid::parse("short"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa!"), None);
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa\u{e9}"), None);
        // Every byte outside the alphabet is refused, every byte in it accepted.
        for b in 0..=255u8 {
            let mut id = [0u8; 20];
            id.copy_from_slice(a.as_str().as_bytes());
            id[7] = b;
            let parsed = std::str::from_utf8(&id).ok().and_then(Sid::parse);
            assert_eq!(parsed.is_some(), ALPHABET.contains(&b), "byte {b}");
        }
    }
}
