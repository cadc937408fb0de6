//! A tiny deterministic PRNG for property-style tests (no `rand` dependency).

/// xorshift64*: fast, deterministic, good enough to generate test inputs.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a non-zero-ized seed.
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `1/n`.
    pub(crate) fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random element of `items` (non-empty).
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Mutate `bytes` in place: flip, insert, delete or truncate a few times.
    pub(crate) fn mutate(&mut self, bytes: &mut Vec<u8>, interesting: &[u8]) {
        for _ in 0..=self.below(3) {
            let len = bytes.len();
            match self.below(5) {
                0 if len > 0 => bytes[self.below(len)] = self.next_u64() as u8,
                1 => {
                    let b = if self.one_in(2) {
                        *self.pick(interesting)
                    } else {
                        self.next_u64() as u8
                    };
                    bytes.insert(self.below(len + 1), b);
                }
                2 if len > 0 => {
                    bytes.remove(self.below(len));
                }
                3 => bytes.truncate(self.below(len + 1)),
                _ if len > 0 => bytes[self.below(len)] = *self.pick(interesting),
                _ => {}
            }
        }
    }
}
