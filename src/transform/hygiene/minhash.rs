//! MinHash signatures over word 5-gram shingles, and the LSH banding `datasketch` would choose.
//!
//! - shingles: the words of the normalised text (split on whitespace), every run of 5
//!   consecutive words joined by one space; a text of fewer than 5 words is one shingle;
//! - each shingle is hashed with xxh64 (seed 0), then permuted by `NUM_PERM` affine maps
//!   `(a·h + b) mod (2^61 − 1)` kept to 32 bits (datasketch's scheme, with our own fixed
//!   `a`, `b`); the signature is the minimum of each;
//! - bands × rows: [`optimal_param`] minimises the false-positive plus false-negative
//!   probability mass, weights 0.5 each, as `datasketch.lsh._optimal_param` does;
//! - two texts are near-duplicates when their signatures agree on at least `threshold` of the
//!   positions (the estimated Jaccard similarity).

use twox_hash::XxHash64;

/// Permutations per signature (datasketch's default `num_perm`).
pub const NUM_PERM: usize = 128;
const MERSENNE_61: u64 = (1 << 61) - 1;

/// The affine permutations, the same on every run and machine.
pub struct Permutations {
    a: Vec<u64>,
    b: Vec<u64>,
}

impl Default for Permutations {
    fn default() -> Self {
        // splitmix64 from a fixed seed.
        let mut state: u64 = 0x6465_6c74_612d_6866; // "delta-hf"
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut a = Vec::with_capacity(NUM_PERM);
        let mut b = Vec::with_capacity(NUM_PERM);
        for _ in 0..NUM_PERM {
            a.push(1 + next() % (MERSENNE_61 - 1));
            b.push(next() % MERSENNE_61);
        }
        Permutations { a, b }
    }
}

fn mod_mersenne(x: u128) -> u64 {
    let p = MERSENNE_61 as u128;
    let mut y = (x & p) + (x >> 61);
    y = (y & p) + (y >> 61);
    let y = y as u64;
    if y >= MERSENNE_61 { y - MERSENNE_61 } else { y }
}

impl Permutations {
    /// The signature of `text` (already normalised), or `None` for a text without words.
    pub fn signature(&self, text: &str) -> Option<Vec<u32>> {
        let words: Vec<(usize, usize)> = word_spans(text);
        if words.is_empty() {
            return None;
        }
        let mut sig = vec![u32::MAX; NUM_PERM];
        let mut add = |shingle: &str| {
            let h = XxHash64::oneshot(0, shingle.as_bytes());
            for (k, s) in sig.iter_mut().enumerate() {
                let v =
                    (mod_mersenne(self.a[k] as u128 * h as u128 + self.b[k] as u128) & 0xffff_ffff) as u32;
                if v < *s {
                    *s = v;
                }
            }
        };
        if words.len() < 5 {
            add(&text[words[0].0..words[words.len() - 1].1]);
        } else {
            for w in words.windows(5) {
                add(&text[w[0].0..w[4].1]);
            }
        }
        Some(sig)
    }
}

/// Byte spans of the whitespace-separated words.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

/// The estimated Jaccard similarity of two signatures.
pub fn jaccard(a: &[u32], b: &[u32]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

/// `∫ f` over `[lo, hi]` by composite Simpson (the integrands are smooth polynomials in s).
fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    const N: usize = 4096;
    let h = (hi - lo) / N as f64;
    let mut s = f(lo) + f(hi);
    for i in 1..N {
        s += f(lo + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

/// Bands and rows per band for `threshold` over `num_perm` permutations, as datasketch's
/// `_optimal_param(threshold, num_perm, 0.5, 0.5)` chooses them.
pub fn optimal_param(threshold: f64, num_perm: usize) -> (usize, usize) {
    let mut best = (f64::INFINITY, (0, 0));
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            let (bf, rf) = (b as f64, r as f64);
            let fp = integrate(|s| 1.0 - (1.0 - s.powf(rf)).powf(bf), 0.0, threshold);
            let fnp = integrate(|s| 1.0 - (1.0 - (1.0 - s.powf(rf)).powf(bf)), threshold, 1.0);
            let err = 0.5 * fp + 0.5 * fnp;
            if err < best.0 {
                best = (err, (b, r));
            }
        }
    }
    best.1
}

/// The key of band `band` of a signature (`rows` values from `band · rows`).
pub fn band_key(sig: &[u32], band: usize, rows: usize) -> u64 {
    let mut bytes = [0u8; 4 * NUM_PERM];
    let part = &sig[band * rows..(band + 1) * rows];
    for (i, v) in part.iter().enumerate() {
        bytes[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    XxHash64::oneshot(band as u64, &bytes[..4 * rows])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banding_as_datasketch_chooses() {
        // datasketch 2.0: `_optimal_param(t, 128, 0.5, 0.5)`.
        for (t, want) in
            [(0.5, (25, 5)), (0.7, (14, 9)), (0.8, (9, 13)), (0.85, (8, 16)), (0.9, (5, 25)), (0.95, (3, 42))]
        {
            assert_eq!(optimal_param(t, NUM_PERM), want, "threshold {t}");
        }
    }

    #[test]
    fn signatures_estimate_jaccard() {
        let p = Permutations::default();
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let a = words.join(" ");
        let mut changed = words.clone();
        changed[50] = "other".into();
        let b = changed.join(" ");
        let (sa, sb) = (p.signature(&a).unwrap(), p.signature(&b).unwrap());
        // One changed word of 100: 5 of 96 shingles differ, Jaccard 91/101 ≈ 0.90.
        let j = jaccard(&sa, &sb);
        assert!((0.8..=1.0).contains(&j), "{j}");
        let c: String = (0..100).map(|i| format!("z{i} ")).collect();
        assert!(jaccard(&sa, &p.signature(&c).unwrap()) < 0.1);
        assert_eq!(p.signature("   "), None);
        assert_eq!(word_spans(" a  bc d"), vec![(1, 2), (4, 6), (7, 8)]);
    }
}
