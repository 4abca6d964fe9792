//! Loss masks and truncation, as TRL 1.16's `SFTTrainer` builds them
//! (`trl/trainer/sft_trainer.py`, `_prepare_dataset`):
//! - the assistant mask: a token is 1 when its character span overlaps a `{% generation %}`
//!   span (transformers' `return_assistant_tokens_mask` walk over the token offsets);
//! - the completion mask: 0 for the common prefix of the prompt's ids and the full
//!   conversation's ids (`common_prefix_length`), 1 after;
//! - labels: the id where every applicable mask is 1, else -100;
//! - truncation to `max_length` keeping the start or the end.

/// The label of a token left out of the loss.
pub const IGNORE: i64 = -100;

/// 1 for every token whose `(start, end)` character offsets overlap one of `spans` (sorted).
pub fn assistant_mask(offsets: &[(usize, usize)], spans: &[(usize, usize)]) -> Vec<bool> {
    let mut mask = vec![false; offsets.len()];
    let mut s = 0;
    for (i, &(start, end)) in offsets.iter().enumerate() {
        while s < spans.len() && start >= spans[s].1 {
            s += 1;
        }
        if s == spans.len() {
            break;
        }
        if end > spans[s].0 {
            mask[i] = true;
        }
    }
    mask
}

/// The character offsets `tokenizers`' `encode_char_offsets` gives, from the byte offsets
/// `encode` gives for the same `text` (its `BytesToCharOffsetConverter`, rule for rule, without
/// a hash map per call: an offset inside a character maps to that character's index; an end at
/// the text's end is one past the last character; a start past the end stays as it was).
pub fn char_offsets(text: &str, bytes: &[(usize, usize)]) -> Vec<(usize, usize)> {
    if text.is_ascii() {
        return bytes.to_vec();
    }
    let mut char_of = vec![0u32; text.len()];
    for (i, (b, c)) in text.char_indices().enumerate() {
        char_of[b..b + c.len_utf8()].fill(i as u32);
    }
    let at = |b: usize| char_of.get(b).map(|&c| c as usize);
    bytes
        .iter()
        .map(|&(s, e)| match (at(s), at(e)) {
            (Some(s), Some(e)) => (s, e),
            (Some(s), None) => {
                let last = e.checked_sub(1).and_then(at).unwrap_or(s + 1);
                (s, last + 1)
            }
            _ => (s, e),
        })
        .collect()
}

/// How many leading ids `a` and `b` share.
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The labels of `ids`: the id where every mask given is true, else [`IGNORE`].
pub fn labels(ids: &[u32], assistant: Option<&[bool]>, completion_start: Option<usize>) -> Vec<i64> {
    ids.iter()
        .enumerate()
        .map(|(i, &id)| {
            let a = assistant.is_none_or(|m| m.get(i).copied().unwrap_or(false));
            let c = completion_start.is_none_or(|start| i >= start);
            if a && c { i64::from(id) } else { IGNORE }
        })
        .collect()
}

/// `--truncation-mode`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum TruncationMode {
    /// Keep the first `--max-length` tokens (TRL's `keep_start`).
    #[default]
    KeepStart,
    /// Keep the last `--max-length` tokens (TRL's `keep_end`).
    KeepEnd,
}

/// Cut `ids` and `labels` to `max` tokens; whether anything was cut.
pub fn truncate(ids: &mut Vec<u32>, labels: &mut Vec<i64>, max: usize, mode: TruncationMode) -> bool {
    if ids.len() <= max {
        return false;
    }
    match mode {
        TruncationMode::KeepStart => {
            ids.truncate(max);
            labels.truncate(max);
        }
        TruncationMode::KeepEnd => {
            let cut = ids.len() - max;
            ids.drain(..cut);
            labels.drain(..cut);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_rule() {
        // tokens: [0,2) [2,5) [5,7) [7,9); span [3,7)
        let m = assistant_mask(&[(0, 2), (2, 5), (5, 7), (7, 9)], &[(3, 7)]);
        assert_eq!(m, vec![false, true, true, false]);
        assert_eq!(assistant_mask(&[(0, 1)], &[]), vec![false]);
    }

    /// `char_offsets` of `encode`'s byte offsets equal `encode_char_offsets`, on a byte-level
    /// BPE trained here, over ASCII, accents, CJK, emoji, combining marks and added tokens.
    #[test]
    fn char_offsets_equal_the_tokenizers_own() {
        use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::{AddedToken, TokenizerBuilder};
        let texts = [
            "plain ascii text, with punctuation!",
            "café naïve résumé — “quotes” … ü",
            "中文的句子，还有日本語のテキスト。한국어",
            "emoji 👩‍👩‍👧 and 🎉🎉 flags 🇫🇷, e\u{301} combining",
            "<|im_start|>user\nça va? 你好<|im_end|>\n<|im_start|>assistant\n🙂 oui<|im_end|>",
            "",
            " ",
            "ẞ\u{feff}\t\r\n end 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        ];
        let mut tok =
            TokenizerBuilder::<BPE, tokenizers::NormalizerWrapper, ByteLevel, ByteLevel, ByteLevel>::new()
                .with_model(BPE::default())
                .with_pre_tokenizer(Some(ByteLevel::default()))
                .with_decoder(Some(ByteLevel::default()))
                .build()
                .unwrap();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(400)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let corpus: Vec<String> = texts.iter().map(|t| t.repeat(3)).collect();
        tok.train(&mut trainer, corpus.iter()).unwrap();
        tok.add_special_tokens([
            AddedToken::from("<|im_start|>", true),
            AddedToken::from("<|im_end|>", true),
        ])
        .unwrap();
        let tok = tokenizers::Tokenizer::from(tok);
        for t in texts {
            let want = tok.encode_char_offsets(t, false).unwrap();
            let got = tok.encode(t, false).unwrap();
            assert_eq!(got.get_ids(), want.get_ids(), "{t:?}");
            assert_eq!(char_offsets(t, got.get_offsets()), want.get_offsets(), "{t:?}");
        }
    }

    #[test]
    fn labels_and_truncation() {
        let ids = [5u32, 6, 7, 8];
        let mut l = labels(&ids, Some(&[true, true, false, true]), Some(1));
        assert_eq!(l, vec![-100, 6, -100, 8]);
        let mut i = ids.to_vec();
        assert!(truncate(&mut i, &mut l, 3, TruncationMode::KeepEnd));
        assert_eq!((i, l), (vec![6, 7, 8], vec![6, -100, 8]));
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4, 5]), 2);
    }
}
