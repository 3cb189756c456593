//! Special (and HF "added") tokens: found in text with Aho-Corasick automata rather than one giant
//! regex alternation, so 256 Llama-3 specials cost the same as one.
//!
//! Where specials overlap (`a` and `aa`, `<a>` and `<a><b>`), each family's own rule decides:
//! * HF `tokenizers` matches the longest added token at the leftmost position
//!   ([`SpecialRule::LongestFirst`]); when a call allows only some specials, the longest *allowed*
//!   one there wins.
//! * tiktoken searches one alternation of all specials, in the iteration order of its
//!   `FxHashMap` of them, and skips a match that is not allowed by searching again one byte after
//!   its start ([`SpecialRule::Tiktoken`]). That order is reproduced by building the same map.

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

/// How overlapping specials are resolved (see the module notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialRule {
    /// HF: the longest (allowed) token at the leftmost position.
    LongestFirst,
    /// tiktoken: its alternation order, skipping matches that are not allowed.
    Tiktoken,
}

#[derive(Debug, Clone)]
pub struct SpecialTokens {
    tokens: Vec<(String, u32)>,
    by_id: FxHashMap<u32, usize>,
    rule: SpecialRule,
    /// The splitting automaton: leftmost-longest for [`SpecialRule::LongestFirst`], leftmost-first
    /// over `order` for [`SpecialRule::Tiktoken`].
    leftmost: Option<AhoCorasick>,
    /// Token index of each pattern of `leftmost`.
    order: Vec<usize>,
    /// Every occurrence, for the disallowed-special check, so no occurrence can hide inside another.
    overlapping: Option<AhoCorasick>,
}

/// A segment of text between special tokens, or a special token with the bytes of the text it
/// was matched on.
pub enum Segment<'t> {
    Text(&'t str),
    Special { id: u32, span: std::ops::Range<usize> },
}

/// The order in which tiktoken's alternation tries `tokens`: the key order of the
/// `FxHashMap<String, Rank>` it builds from the Python dict (inserted in dict order, with the
/// dict's length as capacity), which is std's hashbrown table with rustc-hash's hasher, as here.
fn tiktoken_order(tokens: &[(String, u32)]) -> Vec<usize> {
    let mut map: std::collections::HashMap<&str, usize, rustc_hash::FxBuildHasher> =
        std::collections::HashMap::with_capacity_and_hasher(tokens.len(), Default::default());
    for (i, (text, _)) in tokens.iter().enumerate() {
        map.insert(text, i);
    }
    map.into_values().collect()
}

impl SpecialTokens {
    /// Specials matched by HF's rule (longest first).
    pub fn new(tokens: Vec<(String, u32)>) -> Result<Self> {
        Self::with_rule(tokens, SpecialRule::LongestFirst)
    }

    pub fn with_rule(tokens: Vec<(String, u32)>, rule: SpecialRule) -> Result<Self> {
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
        let order = match rule {
            SpecialRule::LongestFirst => (0..tokens.len()).collect(),
            SpecialRule::Tiktoken => tiktoken_order(&tokens),
        };
        let build = |kind, order: &[usize]| {
            AhoCorasick::builder()
                .match_kind(kind)
                .build(order.iter().map(|&i| tokens[i].0.as_bytes()))
                .map_err(|e| Error::InvalidVocabulary(format!("special tokens: {e}")))
        };
        let (leftmost, overlapping) = if tokens.is_empty() {
            (None, None)
        } else {
            let kind = match rule {
                SpecialRule::LongestFirst => MatchKind::LeftmostLongest,
                SpecialRule::Tiktoken => MatchKind::LeftmostFirst,
            };
            let identity: Vec<usize> = (0..tokens.len()).collect();
            (
                Some(build(kind, &order)?),
                Some(build(MatchKind::Standard, &identity)?),
            )
        };
        Ok(SpecialTokens {
            tokens,
            by_id,
            rule,
            leftmost,
            order,
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
        if self.rule == SpecialRule::LongestFirst && !matches!(allowed, SpecialSet::All) {
            return self.split_longest_allowed(text, allowed, f);
        }
        let mut emitted = 0;
        let mut search = 0;
        while search < text.len() {
            let Some(m) = ac.find(Input::new(text).span(search..text.len())) else {
                break;
            };
            let index = self.order[m.pattern().as_usize()];
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
                // tiktoken: not allowed here, so it is ordinary text; search again one byte on.
                search = m.start() + 1;
            }
        }
        if emitted < text.len() {
            f(Segment::Text(&text[emitted..]))?;
        }
        Ok(())
    }

    /// HF's rule restricted to the allowed specials: at each leftmost position the longest allowed
    /// token wins, as if only the allowed ones were added tokens.
    fn split_longest_allowed<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        let Some(ac) = self.overlapping.as_ref() else {
            return if text.is_empty() {
                Ok(())
            } else {
                f(Segment::Text(text))
            };
        };
        let mut found: Vec<(usize, usize, usize)> = ac
            .find_overlapping_iter(text)
            .filter(|m| allowed.contains(m.pattern().as_usize()))
            .map(|m| (m.start(), usize::MAX - m.end(), m.pattern().as_usize()))
            .collect();
        found.sort_unstable();
        let mut emitted = 0;
        for (start, inverted_end, index) in found {
            if start < emitted {
                continue;
            }
            if start > emitted {
                f(Segment::Text(&text[emitted..start]))?;
            }
            emitted = usize::MAX - inverted_end;
            f(Segment::Special {
                id: self.tokens[index].1,
                span: start..emitted,
            })?;
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

    /// Overlapping specials with only the shorter one allowed: it is still matched (it was not:
    /// the longer, disallowed match hid it and the search skipped past it).
    #[test]
    fn the_allowed_one_of_overlapping_specials_is_matched() {
        let hf = SpecialTokens::new(vec![("a".into(), 300), ("aa".into(), 301)]).unwrap();
        let only_a = SpecialSet::Only(vec![true, false]);
        assert_eq!(segments(&hf, "aaa", &only_a), ["#300", "#300", "#300"]);
        assert_eq!(segments(&hf, "aaa", &SpecialSet::All), ["#301", "#300"]);
        let tags = SpecialTokens::new(vec![("<a>".into(), 1), ("<a><b>".into(), 2)]).unwrap();
        let only_short = SpecialSet::Only(vec![true, false]);
        assert_eq!(segments(&tags, "<a><b>", &only_short), ["#1", "<b>"]);
        assert_eq!(segments(&tags, "<a><b>", &SpecialSet::All), ["#2"]);
        // tiktoken: the order of its map decides; here (as tiktoken 0.14 does) `a` before `aa`.
        let tk = SpecialTokens::with_rule(vec![("a".into(), 300), ("aa".into(), 301)], SpecialRule::Tiktoken)
            .unwrap();
        assert_eq!(segments(&tk, "aaa", &only_a), ["#300", "#300", "#300"]);
        assert_eq!(segments(&tk, "aaa", &SpecialSet::All), ["#300", "#300", "#300"]);
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
