//! A small seeded generator (SplitMix64): a run is reproduced from its seed alone, and the
//! fuzzer needs no random-number crate.

/// SplitMix64: fast, statistically sound for choosing mutations, and fully determined by its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Reads structured choices from a fuzz input, so that targets which build values (frames,
/// workflow edits) are mutated by the same byte mutator: once the bytes run out, every choice
/// is 0, so short inputs still give a complete value.
pub struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        (self.u32() as u64) << 32 | self.u32() as u64
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.u32() as usize) % n }
    }

    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[(self.byte() as usize) % items.len()]
    }

    /// A size: mostly small, sometimes an edge (0, 1, odd), sometimes absurd (near `usize::MAX`).
    pub fn size(&mut self) -> usize {
        match self.byte() % 8 {
            0 => *self.pick(&[0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 33]),
            1 => *self.pick(&[
                usize::MAX,
                usize::MAX / 2,
                usize::MAX / 3 + 1,
                1 << 32,
                (1 << 31) + 1,
                1 << 16,
                65535,
                46341,
                1 << 62,
            ]),
            _ => self.byte() as usize % 64,
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
