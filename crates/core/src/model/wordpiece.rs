//! WordPiece (BERT): greedy longest match from the left, non-initial pieces looked up with the
//! continuing-subword prefix (`##`); a word with an unmatched rest, or longer than
//! `max_input_chars_per_word` characters, is the single unknown token.

use rustc_hash::FxHashMap;

use super::Vocab;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: Vocab,
    /// Tokens that start with the prefix, keyed without it, so a lookup needs no allocation.
    continuing: FxHashMap<Box<str>, u32>,
    unk_token: String,
    unk: Option<u32>,
    prefix: String,
    max_input_chars_per_word: usize,
    /// Longest token in bytes (without prefix): no longer candidate can match.
    max_len: usize,
}

impl WordPiece {
    pub fn new(vocab: Vocab, unk_token: String, prefix: String, max_input_chars_per_word: usize) -> Self {
        let mut continuing = FxHashMap::default();
        let mut max_len = 0;
        for (token, id) in vocab.entries() {
            max_len = max_len.max(token.len());
            if let Some(rest) = token.strip_prefix(prefix.as_str()) {
                continuing.insert(rest.into(), id);
            }
        }
        let unk = vocab.id(&unk_token);
        WordPiece {
            vocab,
            continuing,
            unk_token,
            unk,
            prefix,
            max_input_chars_per_word,
            max_len,
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn unk_token(&self) -> &str {
        &self.unk_token
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn max_input_chars_per_word(&self) -> usize {
        self.max_input_chars_per_word
    }

    fn unk(&self) -> Result<u32> {
        self.unk.ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the WordPiece unk_token {:?} is not in the vocabulary",
                self.unk_token
            ))
        })
    }

    pub fn encode(&self, word: &str, out: &mut Vec<u32>) -> Result<()> {
        self.encode_impl(word, out, None)
    }

    /// [`WordPiece::encode`], also pushing each token's byte span in `word` onto `spans` (the
    /// match without its `##`; the unknown token spans the word).
    pub fn encode_with_spans(
        &self,
        word: &str,
        out: &mut Vec<u32>,
        spans: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        self.encode_impl(word, out, Some(spans))
    }

    fn encode_impl(
        &self,
        word: &str,
        out: &mut Vec<u32>,
        mut spans: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        // Byte length bounds the char count from above: most words skip the count.
        if word.len() > self.max_input_chars_per_word && word.chars().count() > self.max_input_chars_per_word
        {
            out.push(self.unk()?);
            if let Some(spans) = spans {
                spans.push((0, word.len()));
            }
            return Ok(());
        }
        let mark = out.len();
        let span_mark = spans.as_deref().map_or(0, Vec::len);
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len().min(start + self.max_len);
            while !word.is_char_boundary(end) {
                end -= 1;
            }
            let mut found = None;
            while end > start {
                let candidate = &word[start..end];
                let id = if start == 0 {
                    self.vocab.id(candidate)
                } else {
                    self.continuing.get(candidate).copied()
                };
                if id.is_some() {
                    found = id;
                    break;
                }
                end -= candidate.chars().next_back().map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => {
                    out.push(id);
                    if let Some(spans) = spans.as_deref_mut() {
                        spans.push((start, end));
                    }
                }
                None => {
                    out.truncate(mark);
                    out.push(self.unk()?);
                    if let Some(spans) = spans {
                        spans.truncate(span_mark);
                        spans.push((0, word.len()));
                    }
                    return Ok(());
                }
            }
            start = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_longest_match_with_prefix() {
        let vocab: Vec<(String, u32)> = ["[UNK]", "un", "##aff", "##able", "aff", "##a"]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let m = WordPiece::new(Vocab::new(vocab).unwrap(), "[UNK]".into(), "##".into(), 8);
        let enc = |s: &str| {
            let mut out = vec![];
            m.encode(s, &mut out).unwrap();
            out
        };
        assert_eq!(enc("unaffable"), [0], "longer than 8 chars");
        assert_eq!(enc("unaff"), [1, 2]);
        assert_eq!(enc("unaffx"), [0]);
        assert_eq!(enc("affa"), [4, 5]);
    }
}
