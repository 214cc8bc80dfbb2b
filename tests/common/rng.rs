//! A small xorshift generator for tests that want varied but reproducible input (print
//! the seed on failure to replay it).

/// Xorshift64; the seed must not be zero.
pub struct Rng(pub u64);

impl Rng {
    /// A number below `below`.
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}
