//! Byte-level mutations, the kinds that find parser bugs in file formats: bit flips, random and
//! "interesting" values written into headers (lengths of 0, -1, 2^31...), arithmetic on length
//! fields, insertions, deletions, duplicated runs, truncation, splices of two inputs, and the
//! format's own magic tokens. Several are stacked per input.

use crate::rng::Rng;

const INTERESTING_8: &[u8] = &[0, 1, 2, 0x10, 0x20, 0x40, 0x7F, 0x80, 0x81, 0xFE, 0xFF];
const INTERESTING_16: &[u16] = &[
    0, 1, 0x80, 0xFF, 0x100, 0x3FF, 0x400, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF,
];
const INTERESTING_32: &[u32] = &[
    0,
    1,
    0xFF,
    0xFFFF,
    0x1_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
    100_000_000,
    46341,
];

/// One input changed by 1 to 16 stacked mutations; `other` is a second input for splices and
/// `dictionary` the target's tokens. The result is at most `max_len` bytes.
pub fn mutate(
    rng: &mut Rng,
    input: &[u8],
    other: &[u8],
    dictionary: &[&[u8]],
    max_len: usize,
) -> Vec<u8> {
    let mut d = input.to_vec();
    let rounds = 1 << rng.below(4);
    for _ in 0..rounds {
        mutate_once(rng, &mut d, other, dictionary);
    }
    d.truncate(max_len);
    d
}

fn mutate_once(rng: &mut Rng, d: &mut Vec<u8>, other: &[u8], dictionary: &[&[u8]]) {
    let len = d.len();
    let at = |rng: &mut Rng| rng.below(len.max(1));
    match rng.below(14) {
        0 if len > 0 => {
            let i = at(rng);
            d[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = at(rng);
            d[i] = rng.next_u64() as u8;
        }
        2 if len > 0 => {
            let i = at(rng);
            d[i] = *rng.pick(INTERESTING_8);
        }
        3 if len >= 2 => {
            let i = rng.below(len - 1);
            let v = *rng.pick(INTERESTING_16);
            let b = if rng.chance(2) {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            d[i..i + 2].copy_from_slice(&b);
        }
        4 if len >= 4 => {
            let i = rng.below(len - 3);
            let v = *rng.pick(INTERESTING_32);
            let b = if rng.chance(2) {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            d[i..i + 4].copy_from_slice(&b);
        }
        5 if len >= 2 => {
            // Arithmetic on a length field, either byte order.
            let i = rng.below(len - 1);
            let delta = rng.below(33) as i32 - 16;
            let be = rng.chance(2);
            let v = if be {
                u16::from_be_bytes([d[i], d[i + 1]])
            } else {
                u16::from_le_bytes([d[i], d[i + 1]])
            };
            let v = (v as i32).wrapping_add(delta) as u16;
            let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
            d[i..i + 2].copy_from_slice(&b);
        }
        6 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            d.splice(i..i, bytes);
        }
        7 => {
            let i = rng.below(len + 1);
            let most = if rng.chance(8) { 4096 } else { 64 };
            let n = 1 + rng.below(most);
            let b = *rng.pick(INTERESTING_8);
            d.splice(i..i, std::iter::repeat_n(b, n));
        }
        8 if len > 0 => {
            let i = at(rng);
            let most = if rng.chance(4) { len } else { 16 };
            let n = 1 + rng.below((len - i).min(most));
            d.drain(i..(i + n).min(len));
        }
        9 if len > 0 => {
            // A copy of one part of the input elsewhere (repeated segments, chunks, tags).
            let from = at(rng);
            let n = 1 + rng.below((len - from).min(256));
            let chunk = d[from..from + n].to_vec();
            let to = rng.below(len + 1);
            d.splice(to..to, chunk);
        }
        // Truncation ends most inputs' interest early: a quarter of its share.
        10 if len > 0 && rng.chance(4) => {
            let keep = rng.below(len);
            d.truncate(keep);
        }
        11 if !other.is_empty() => {
            // Splice: a prefix of this input and a suffix of another.
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            d.truncate(cut);
            d.extend_from_slice(&other[from..]);
        }
        12 if !dictionary.is_empty() => {
            let token = *rng.pick(dictionary);
            let i = rng.below(len + 1);
            d.splice(i..i, token.iter().copied());
        }
        13 if !dictionary.is_empty() && len > 0 => {
            let token = *rng.pick(dictionary);
            let i = at(rng);
            let end = (i + token.len()).min(len);
            d.splice(i..end, token.iter().copied());
        }
        _ => {
            let i = rng.below(len + 1);
            d.insert(i, rng.next_u64() as u8);
        }
    }
}
