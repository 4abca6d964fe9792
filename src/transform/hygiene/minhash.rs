//! MinHash signatures over word 5-gram shingles, and the LSH banding `datasketch` would choose.
//!
//! - shingles: the words of the normalised text (split on whitespace), every run of 5
//!   consecutive words; a text of fewer than 5 words is one shingle;
//! - each word is hashed once (8 bytes at a time: `word_hash`); a shingle's hash is its words' hashes
//!   combined in order and mixed (murmur3's 64-bit finaliser);
//! - one-permutation hashing with optimal densification (Shrivastava, ICML 2017) instead of
//!   `NUM_PERM` separate permutations: a shingle's hash picks one of `NUM_PERM` bins (its top 7
//!   bits) and competes for that bin's minimum (its low 32 bits); a bin no shingle fell in takes
//!   the value of the first filled bin on a fixed pseudo-random probe sequence of its own (the
//!   same for every text, so two texts agree on a bin with probability their Jaccard
//!   similarity, as with `NUM_PERM` permutations, for O(shingles + NUM_PERM) work instead of
//!   O(shingles · NUM_PERM));
//! - bands × rows: [`optimal_param`] minimises the false-positive plus false-negative
//!   probability mass, weights 0.5 each, as `datasketch.lsh._optimal_param` does;
//! - two texts are near-duplicates when their signatures agree on at least `threshold` of the
//!   positions (the estimated Jaccard similarity).

use twox_hash::XxHash64;

/// Signature length (datasketch's default `num_perm`): bins of the one permutation.
pub const NUM_PERM: usize = 128;
const BIN_SHIFT: u32 = 64 - NUM_PERM.trailing_zeros();

/// murmur3's 64-bit finaliser.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The hash of a shingle from its words' hashes, in order.
fn shingle_hash(words: &[u64]) -> u64 {
    let mut h: u64 = 0x6465_6c74_612d_6866 ^ words.len() as u64; // "delta-hf"
    for w in words {
        h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
    fmix64(h)
}

/// Bin `j`'s `attempt`-th probe (densification): the same sequence for every text.
fn probe(j: usize, attempt: u64) -> usize {
    (fmix64(((j as u64) << 40) ^ attempt ^ 0x5bd1_e995_0000_0000) >> BIN_SHIFT) as usize
}

/// The signature of `text` (already normalised) into `sig`, or `false` for a text without words
/// (`sig` is then left as it was). `words` is scratch space.
pub fn signature_into(text: &str, words: &mut Vec<u64>, sig: &mut [u32]) -> bool {
    words.clear();
    if text.is_ascii() {
        for w in text.as_bytes().split(|c| matches!(c, b'\t'..=b'\r' | b' ')) {
            if !w.is_empty() {
                words.push(word_hash(w));
            }
        }
    } else {
        words.extend(text.split_whitespace().map(|w| word_hash(w.as_bytes())));
    }
    bins(words, sig)
}

/// [`signature_into`] for text whose words are separated by single spaces (what the NFKC
/// normalisation writes): the same words and signature, split on the space alone.
pub fn signature_of_spaced(text: &[u8], words: &mut Vec<u64>, sig: &mut [u32]) -> bool {
    words.clear();
    words.extend(text.split(|c| *c == b' ').filter(|w| !w.is_empty()).map(word_hash));
    bins(words, sig)
}

/// A word's hash: its UTF-8 taken 8 bytes at a time (little-endian, the last zero-padded), each
/// folded in by a multiply and a rotation, from a start that depends on the length (words are
/// short: one or two steps; the shingle's hash mixes the result fully).
fn word_hash(w: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let step = |h: u64, v: u64| (h ^ v).wrapping_mul(K).rotate_left(27);
    let mut h = (w.len() as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f) ^ 0x7768_6173_6800_0000;
    let mut chunks = w.chunks_exact(8);
    for c in &mut chunks {
        h = step(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = step(h, u64::from_le_bytes(b));
    }
    h
}

/// The signature from the words' hashes (see the module's documentation).
fn bins(words: &[u64], sig: &mut [u32]) -> bool {
    debug_assert_eq!(sig.len(), NUM_PERM);
    if words.is_empty() {
        return false;
    }
    sig.fill(u32::MAX);
    let mut filled = [0u64; NUM_PERM / 64];
    let mut add = |h: u64| {
        let bin = (h >> BIN_SHIFT) as usize;
        filled[bin / 64] |= 1 << (bin % 64);
        sig[bin] = sig[bin].min(h as u32);
    };
    if words.len() < 5 {
        add(shingle_hash(words));
    } else {
        for w in words.windows(5) {
            add(shingle_hash(w));
        }
    }
    let is_filled = |b: usize| filled[b / 64] & (1 << (b % 64)) != 0;
    if filled.iter().map(|f| f.count_ones()).sum::<u32>() as usize == NUM_PERM {
        return true;
    }
    for j in 0..NUM_PERM {
        if is_filled(j) {
            continue;
        }
        let mut attempt = 1;
        let from = loop {
            let c = probe(j, attempt);
            if is_filled(c) {
                break c;
            }
            attempt += 1;
        };
        sig[j] = sig[from];
    }
    true
}

/// The signature of `text` (already normalised), or `None` for a text without words.
pub fn signature(text: &str) -> Option<Vec<u32>> {
    let mut sig = vec![0u32; NUM_PERM];
    signature_into(text, &mut Vec::new(), &mut sig).then_some(sig)
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
            // Integer powers by multiplication (`powf` made this a sixth of a small export).
            let (bi, ri) = (b as i32, r as i32);
            let fp = integrate(|s| 1.0 - (1.0 - s.powi(ri)).powi(bi), 0.0, threshold);
            let fnp = integrate(|s| 1.0 - (1.0 - (1.0 - s.powi(ri)).powi(bi)), threshold, 1.0);
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
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let a = words.join(" ");
        let mut changed = words.clone();
        changed[50] = "other".into();
        let b = changed.join(" ");
        let (sa, sb) = (signature(&a).unwrap(), signature(&b).unwrap());
        // One changed word of 100: 5 of 96 shingles differ, Jaccard 91/101 ≈ 0.90.
        let j = jaccard(&sa, &sb);
        assert!((0.8..=1.0).contains(&j), "{j}");
        let c: String = (0..100).map(|i| format!("z{i} ")).collect();
        assert!(jaccard(&sa, &signature(&c).unwrap()) < 0.1);
        assert_eq!(signature("   "), None);
        // Whitespace of any kind splits words; the same words give the same signature.
        assert_eq!(signature("a b\tc\nd  e f"), signature("a b c d e f"));
        assert_eq!(signature("ça\u{3000}va bien à toi"), signature("ça va bien à toi"));
        // Fewer shingles than bins: densified, every bin filled from a real one.
        let short = signature("one two three four five six").unwrap();
        assert!(short.iter().all(|v| *v != u32::MAX));
        assert_eq!(jaccard(&short, &signature("one two three four five six").unwrap()), 1.0);
    }

    #[test]
    fn spaced_texts_sign_as_any_text() {
        let mut words = Vec::new();
        for text in
            ["", "one", "a b c d", "one two three four five six seven", "ça va bien à toi ce soir", "x  y"]
        {
            let mut a = vec![0u32; NUM_PERM];
            let mut b = vec![0u32; NUM_PERM];
            let general = signature_into(text, &mut words, &mut a);
            let spaced = signature_of_spaced(text.as_bytes(), &mut words, &mut b);
            assert_eq!((general, a), (spaced, b), "{text:?}");
        }
    }

    /// The estimate is unbiased: over many pairs of known Jaccard similarity, the mean estimate
    /// is within a few hundredths of it, short texts (mostly empty bins) and long ones alike.
    #[test]
    fn estimates_are_unbiased() {
        for (len, change) in [(12usize, 2usize), (40, 5), (300, 30), (1000, 60)] {
            let mut sum = 0.0;
            let mut truth = 0.0;
            let runs = 60;
            for r in 0..runs {
                let a: Vec<String> = (0..len).map(|i| format!("t{r}x{i}")).collect();
                let mut b = a.clone();
                for k in 0..change {
                    b[(k * 7919 + r) % len] = format!("changed{r}_{k}");
                }
                let shingles = |w: &[String]| -> std::collections::HashSet<String> {
                    w.windows(5).map(|s| s.join(" ")).collect()
                };
                let (sa, sb) = (shingles(&a), shingles(&b));
                truth += sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64;
                sum += jaccard(&signature(&a.join(" ")).unwrap(), &signature(&b.join(" ")).unwrap());
            }
            let (mean, want) = (sum / runs as f64, truth / runs as f64);
            assert!((mean - want).abs() < 0.03, "{len} words: mean estimate {mean}, Jaccard {want}");
        }
    }
}
