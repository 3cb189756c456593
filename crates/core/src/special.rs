//! Special (and HF "added") tokens: found in text with Aho-Corasick automata rather than one giant
//! regex alternation, so 256 Llama-3 specials cost the same as one.

use aho_corasick::{AhoCorasick, Input, MatchKind};
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};

/// Which special tokens a call treats as specials (indices into the table).
#[derive(Debug, Clone)]
pub enum SpecialSet {
    All,
    Nothing,
    Only(Vec<bool>),
}

impl SpecialSet {
    #[inline]
    fn contains(&self, index: usize) -> bool {
        match self {
            SpecialSet::All => true,
            SpecialSet::Nothing => false,
            SpecialSet::Only(mask) => mask.get(index).copied().unwrap_or(false),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            SpecialSet::All => false,
            SpecialSet::Nothing => true,
            SpecialSet::Only(mask) => !mask.iter().any(|&b| b),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SpecialTokens {
    tokens: Vec<(String, u32)>,
    by_id: FxHashMap<u32, usize>,
    /// Leftmost-longest: where two specials overlap, the longer one at the earlier position wins
    /// (HF's added-vocabulary rule).
    leftmost: Option<AhoCorasick>,
    /// Every occurrence, for the disallowed-special check, so no occurrence can hide inside another.
    overlapping: Option<AhoCorasick>,
}

/// A segment of text between special tokens, or a special token with the bytes of the text it
/// was matched on.
pub enum Segment<'t> {
    Text(&'t str),
    Special { id: u32, span: std::ops::Range<usize> },
}

impl SpecialTokens {
    pub fn new(tokens: Vec<(String, u32)>) -> Result<Self> {
        let mut by_id = FxHashMap::default();
        let mut seen = std::collections::HashSet::new();
        for (i, (text, id)) in tokens.iter().enumerate() {
            if text.is_empty() {
                return Err(Error::InvalidVocabulary(format!(
                    "special token with id {id} is empty"
                )));
            }
            if !seen.insert(text.as_str()) {
                return Err(Error::InvalidVocabulary(format!(
                    "special token {text:?} is listed twice"
                )));
            }
            // Two names may share an id (tiktoken's o200k_harmony has <|endofprompt|> and
            // <|reserved_200018|> on 200018); the first one listed is what the id decodes to.
            by_id.entry(*id).or_insert(i);
        }
        let build = |kind| {
            AhoCorasick::builder()
                .match_kind(kind)
                .build(tokens.iter().map(|(t, _)| t.as_bytes()))
                .map_err(|e| Error::InvalidVocabulary(format!("special tokens: {e}")))
        };
        let (leftmost, overlapping) = if tokens.is_empty() {
            (None, None)
        } else {
            (
                Some(build(MatchKind::LeftmostLongest)?),
                Some(build(MatchKind::Standard)?),
            )
        };
        Ok(SpecialTokens {
            tokens,
            by_id,
            leftmost,
            overlapping,
        })
    }

    pub fn tokens(&self) -> &[(String, u32)] {
        &self.tokens
    }

    pub fn bytes_of(&self, id: u32) -> Option<&[u8]> {
        self.by_id.get(&id).map(|&i| self.tokens[i].0.as_bytes())
    }

    /// The first occurrence (by start position) of a special in `set`, as `(position, token)`.
    pub fn find(&self, text: &str, set: &SpecialSet) -> Option<(usize, &str)> {
        if set.is_empty() {
            return None;
        }
        let ac = self.overlapping.as_ref()?;
        ac.find_overlapping_iter(text)
            .find(|m| set.contains(m.pattern().as_usize()))
            .map(|m| (m.start(), self.tokens[m.pattern().as_usize()].0.as_str()))
    }

    /// Fails with `DisallowedSpecial` if `text` contains a special of `disallowed`.
    pub fn check(&self, text: &str, disallowed: &SpecialSet) -> Result<()> {
        match self.find(text, disallowed) {
            Some((position, token)) => Err(Error::DisallowedSpecial {
                token: token.to_string(),
                position,
            }),
            None => Ok(()),
        }
    }

    /// Calls `f` on the text segments and allowed specials of `text`, in order.
    pub fn split<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        let ac = match &self.leftmost {
            Some(ac) if !allowed.is_empty() => ac,
            _ => {
                return if text.is_empty() {
                    Ok(())
                } else {
                    f(Segment::Text(text))
                }
            }
        };
        let mut emitted = 0;
        let mut search = 0;
        while search < text.len() {
            let Some(m) = ac.find(Input::new(text).span(search..text.len())) else {
                break;
            };
            let index = m.pattern().as_usize();
            if allowed.contains(index) {
                if m.start() > emitted {
                    f(Segment::Text(&text[emitted..m.start()]))?;
                }
                f(Segment::Special {
                    id: self.tokens[index].1,
                    span: m.range(),
                })?;
                emitted = m.end();
                search = m.end();
            } else {
                // Not allowed here: it is ordinary text; look for specials starting further on.
                search = m.start() + 1;
            }
        }
        if emitted < text.len() {
            f(Segment::Text(&text[emitted..]))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SpecialTokens {
        SpecialTokens::new(vec![
            ("<|end|>".into(), 10),
            ("<|endoftext|>".into(), 11),
            ("<|x|>".into(), 12),
        ])
        .unwrap()
    }

    fn segments(t: &SpecialTokens, text: &str, allowed: &SpecialSet) -> Vec<String> {
        let mut v = Vec::new();
        t.split(text, allowed, &mut |s| {
            v.push(match s {
                Segment::Text(t) => t.to_string(),
                Segment::Special { id, .. } => format!("#{id}"),
            });
            Ok(())
        })
        .unwrap();
        v
    }

    #[test]
    fn longest_wins_and_mask_applies() {
        let t = table();
        assert_eq!(
            segments(&t, "a<|endoftext|>b<|end|>", &SpecialSet::All),
            ["a", "#11", "b", "#10"]
        );
        let only_x = SpecialSet::Only(vec![false, false, true]);
        assert_eq!(
            segments(&t, "a<|endoftext|><|x|>", &only_x),
            ["a<|endoftext|>", "#12"]
        );
        assert_eq!(segments(&t, "<|x|>", &SpecialSet::Nothing), ["<|x|>"]);
    }

    #[test]
    fn check_finds_hidden_occurrences() {
        let t = table();
        let only_end = SpecialSet::Only(vec![true, false, false]);
        // "<|end|>" does not occur inside "<|endoftext|>", so this passes...
        assert!(t.check("<|endoftext|>", &only_end).is_ok());
        // ...and this fails at the right position.
        assert_eq!(
            t.check("ab<|end|>", &only_end),
            Err(Error::DisallowedSpecial {
                token: "<|end|>".into(),
                position: 2
            })
        );
    }

    #[test]
    fn two_names_on_one_id_decode_to_the_first() {
        let t = SpecialTokens::new(vec![("<|a|>".into(), 7), ("<|b|>".into(), 7)]).unwrap();
        assert_eq!(t.bytes_of(7), Some(&b"<|a|>"[..]));
        assert_eq!(segments(&t, "<|b|>x<|a|>", &SpecialSet::All), ["#7", "x", "#7"]);
    }

    #[test]
    fn rejects_duplicates() {
        assert!(SpecialTokens::new(vec![("a".into(), 1), ("a".into(), 2)]).is_err());
        assert!(SpecialTokens::new(vec![("".into(), 1)]).is_err());
    }
}
