//! A simulated lossy broadcast transport for the demo and the simulation tests:
//! deterministic (seeded), dropping and reordering a share of deliveries.

/// A small deterministic random generator (xorshift64*), enough for simulations.
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Broadcasts bytes between `n` participants, losing each delivery with probability
/// `drop_rate` and delivering the rest in shuffled order.
pub struct LossyBus {
    rng: Rng,
    drop_rate: f64,
    participants: usize,
    in_flight: Vec<(usize, Vec<u8>)>,
    /// Deliveries dropped so far.
    pub dropped: usize,
    /// Deliveries made so far.
    pub delivered: usize,
}

impl LossyBus {
    /// A bus between `participants` nodes.
    pub fn new(participants: usize, drop_rate: f64, seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            drop_rate,
            participants,
            in_flight: Vec::new(),
            dropped: 0,
            delivered: 0,
        }
    }

    /// Sends `bytes` from `from` to every other participant.
    pub fn broadcast(&mut self, from: usize, bytes: &[u8]) {
        for to in (0..self.participants).filter(|&to| to != from) {
            if self.rng.chance(self.drop_rate) {
                self.dropped += 1;
            } else {
                self.in_flight.push((to, bytes.to_vec()));
            }
        }
    }

    /// Everything in flight, as (recipient, bytes), in random order.
    pub fn drain(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut batch = std::mem::take(&mut self.in_flight);
        for i in (1..batch.len()).rev() {
            let j = self.rng.below(i + 1);
            batch.swap(i, j);
        }
        self.delivered += batch.len();
        batch
    }
}
