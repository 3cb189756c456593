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
//!
//! HF's matching flags are honoured as its `AddedVocabulary` does: `normalized` tokens are matched
//! (by their normalized text) in the normalized segments between the other tokens, `single_word`
//! tokens only between non-word characters, and `lstrip`/`rstrip` tokens swallow the whitespace
//! before/after them.

use std::sync::OnceLock;

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

/// HF's `AddedToken` matching flags (all false: the token is matched verbatim in the raw text).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchFlags {
    /// Also take the whitespace right before the token.
    pub lstrip: bool,
    /// Also take the whitespace right after the token.
    pub rstrip: bool,
    /// Match only where no word character (regex `\w`) touches either end.
    pub single_word: bool,
    /// Match the token's normalized form in normalized text (instead of its content in raw text).
    pub normalized: bool,
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
    flags: Vec<MatchFlags>,
    /// What each token decodes to: its content, or for a `normalized` token its normalized form
    /// (HF's `simple_id_to_token`, which its `decode` uses).
    decoded: Vec<String>,
    by_id: FxHashMap<u32, usize>,
    rule: SpecialRule,
    /// The splitting automaton: leftmost-longest for [`SpecialRule::LongestFirst`], leftmost-first
    /// over `order` for [`SpecialRule::Tiktoken`].
    leftmost: Option<AhoCorasick>,
    /// Token index of each pattern of `leftmost` (`normalized` tokens are not in it).
    order: Vec<usize>,
    /// `normalized` tokens by their normalized text (leftmost-longest), with their token indices.
    normalized: Option<(AhoCorasick, Vec<usize>)>,
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
        let flags = vec![MatchFlags::default(); tokens.len()];
        Self::build(tokens, rule, flags, &|s| Ok(s.to_string()))
    }

    /// HF added tokens with their matching flags (one per token); `normalize` is the tokenizer's
    /// normalizer, which gives the text a `normalized` token is matched by and decodes to.
    pub fn with_flags(
        tokens: Vec<(String, u32)>,
        flags: Vec<MatchFlags>,
        normalize: &dyn Fn(&str) -> Result<String>,
    ) -> Result<Self> {
        Self::build(tokens, SpecialRule::LongestFirst, flags, normalize)
    }

    fn build(
        tokens: Vec<(String, u32)>,
        rule: SpecialRule,
        flags: Vec<MatchFlags>,
        normalize: &dyn Fn(&str) -> Result<String>,
    ) -> Result<Self> {
        if flags.len() != tokens.len() {
            return Err(Error::InvalidArgument(format!(
                "{} matching flags for {} special tokens",
                flags.len(),
                tokens.len()
            )));
        }
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
        let mut decoded = Vec::with_capacity(tokens.len());
        let mut normalized = (Vec::new(), Vec::new());
        for (i, ((text, _), flag)) in tokens.iter().zip(&flags).enumerate() {
            if flag.normalized {
                let pattern = normalize(text)?;
                // A token whose normalized form is empty can never be found.
                if !pattern.is_empty() {
                    normalized.0.push(pattern.clone());
                    normalized.1.push(i);
                }
                decoded.push(pattern);
            } else {
                decoded.push(text.clone());
            }
        }
        let order: Vec<usize> = match rule {
            SpecialRule::LongestFirst => (0..tokens.len()).filter(|&i| !flags[i].normalized).collect(),
            SpecialRule::Tiktoken => tiktoken_order(&tokens),
        };
        let build_over = |kind, patterns: &mut dyn Iterator<Item = &str>| {
            AhoCorasick::builder()
                .match_kind(kind)
                .build(patterns)
                .map_err(|e| Error::InvalidVocabulary(format!("special tokens: {e}")))
        };
        let build =
            |kind, order: &[usize]| build_over(kind, &mut order.iter().map(|&i| tokens[i].0.as_str()));
        let normalized = if normalized.0.is_empty() {
            None
        } else {
            let ac = build_over(
                MatchKind::LeftmostLongest,
                &mut normalized.0.iter().map(String::as_str),
            )?;
            Some((ac, normalized.1))
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
            flags,
            decoded,
            by_id,
            rule,
            leftmost,
            order,
            normalized,
            overlapping,
        })
    }

    /// Whether some token is matched in normalized text ([`SpecialTokens::split_normalized`]).
    pub fn has_normalized(&self) -> bool {
        self.normalized.is_some()
    }

    pub fn tokens(&self) -> &[(String, u32)] {
        &self.tokens
    }

    /// What `id` decodes to (see [`SpecialTokens::with_flags`] for `normalized` tokens).
    pub fn bytes_of(&self, id: u32) -> Option<&[u8]> {
        self.by_id.get(&id).map(|&i| self.decoded[i].as_bytes())
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

    /// Calls `f` on the text segments and allowed specials of `text`, in order (`normalized`
    /// tokens are left in the text segments).
    pub fn split<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        self.split_by(self.leftmost.as_ref(), &self.order, text, allowed, f)
    }

    /// [`SpecialTokens::split`] for the `normalized` tokens, on a normalized text segment.
    pub fn split_normalized<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        match &self.normalized {
            Some((ac, index)) => self.split_by(Some(ac), index, text, allowed, f),
            None => self.split_by(None, &[], text, allowed, f),
        }
    }

    fn split_by<'t>(
        &self,
        leftmost: Option<&AhoCorasick>,
        order: &[usize],
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        let ac = match leftmost {
            Some(ac) if !allowed.is_empty() => ac,
            _ => {
                return if text.is_empty() {
                    Ok(())
                } else {
                    f(Segment::Text(text))
                }
            }
        };
        // (Only some specials allowed: the raw tokens by HF's rule among the allowed ones; the
        // normalized ones, rarely special, by the loop below.)
        let raw = std::ptr::eq(order, self.order.as_slice());
        if raw && self.rule == SpecialRule::LongestFirst && !matches!(allowed, SpecialSet::All) {
            return self.split_longest_allowed(text, allowed, f);
        }
        let mut emitted = 0;
        let mut search = 0;
        while search < text.len() {
            let Some(m) = ac.find(Input::new(text).span(search..text.len())) else {
                break;
            };
            let index = order[m.pattern().as_usize()];
            if allowed.contains(index) {
                // A match `single_word` rejects is skipped whole, as HF's matcher does.
                if let Some(stop) = self.emit(text, index, m.start(), m.end(), emitted, f)? {
                    emitted = stop;
                }
                // As HF's matcher: the search goes on after the match itself, so a token may start
                // in the whitespace an `rstrip` token took (" x" after "[END] x": both emitted).
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
        let (mut emitted, mut searched) = (0, 0);
        for (start, inverted_end, index) in found {
            if start < searched || self.flags[index].normalized {
                continue;
            }
            let end = usize::MAX - inverted_end;
            if let Some(stop) = self.emit(text, index, start, end, emitted, f)? {
                emitted = stop;
            }
            searched = end;
        }
        if emitted < text.len() {
            f(Segment::Text(&text[emitted..]))?;
        }
        Ok(())
    }
}

impl SpecialTokens {
    /// Hands `f` the text before an allowed match at `start..end` and the token, applying the
    /// token's flags; the end of what it took, or None when `single_word` rejects the match.
    fn emit<'t>(
        &self,
        text: &'t str,
        index: usize,
        start: usize,
        end: usize,
        emitted: usize,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<Option<usize>> {
        let flags = self.flags[index];
        let touches_word =
            || is_word_char(text[..start].chars().next_back()) || is_word_char(text[end..].chars().next());
        if flags.single_word && touches_word() {
            return Ok(None);
        }
        let (mut start, mut stop) = (start, end);
        if flags.lstrip {
            start = text[..start]
                .trim_end_matches(char::is_whitespace)
                .len()
                .max(emitted);
        }
        if flags.rstrip {
            let after = &text[stop..];
            stop += after.len() - after.trim_start_matches(char::is_whitespace).len();
        }
        if start > emitted {
            f(Segment::Text(&text[emitted..start]))?;
        }
        // HF's offsets of an added token cover the whitespace it strips.
        f(Segment::Special {
            id: self.tokens[index].1,
            span: start..stop,
        })?;
        Ok(Some(stop))
    }
}

/// Whether `c` is a word character as regex `\w` says (HF's `single_word` test: `\w$` on the
/// text before the token, `^\w` on the text after it).
fn is_word_char(c: Option<char>) -> bool {
    static WORD: OnceLock<fancy_regex::Regex> = OnceLock::new();
    let word = WORD.get_or_init(|| fancy_regex::Regex::new(r"^\w$").expect("valid regex"));
    c.is_some_and(|c| word.is_match(c.encode_utf8(&mut [0; 4])).unwrap_or(false))
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

    fn flagged(flags: &[(&str, u32, MatchFlags)]) -> SpecialTokens {
        let tokens = flags.iter().map(|(t, id, _)| (t.to_string(), *id)).collect();
        SpecialTokens::with_flags(tokens, flags.iter().map(|f| f.2).collect(), &|s| {
            Ok(s.to_lowercase())
        })
        .unwrap()
    }

    #[test]
    fn strip_flags_take_the_whitespace_around() {
        let (l, r) = (
            MatchFlags {
                lstrip: true,
                ..MatchFlags::default()
            },
            MatchFlags {
                rstrip: true,
                ..MatchFlags::default()
            },
        );
        let t = flagged(&[("<m>", 1, l), ("<e>", 2, r)]);
        assert_eq!(segments(&t, "a  <m> b", &SpecialSet::All), ["a", "#1", " b"]);
        assert_eq!(segments(&t, "a <e>\t b", &SpecialSet::All), ["a ", "#2", "b"]);
        // The whitespace a previous token took is not taken twice.
        assert_eq!(segments(&t, "<e>  <m>", &SpecialSet::All), ["#2", "#1"]);
        let t = flagged(&[("<e>", 2, r), (" x", 3, MatchFlags::default())]);
        assert_eq!(segments(&t, "<e> x y", &SpecialSet::All), ["#2", "#3", " y"]);
    }

    #[test]
    fn single_word_needs_non_word_neighbours() {
        let w = MatchFlags {
            single_word: true,
            ..MatchFlags::default()
        };
        let t = flagged(&[("ab", 1, w)]);
        assert_eq!(
            segments(&t, "ab ab_ xab (ab)", &SpecialSet::All),
            ["#1", " ab_ xab (", "#1", ")"]
        );
        assert_eq!(segments(&t, "ébab", &SpecialSet::All), ["ébab"]);
    }

    #[test]
    fn normalized_tokens_match_their_normalized_form_only_in_normalized_text() {
        let n = MatchFlags {
            normalized: true,
            ..MatchFlags::default()
        };
        let t = flagged(&[("AB", 1, n), ("<x>", 2, MatchFlags::default())]);
        assert!(t.has_normalized());
        assert_eq!(segments(&t, "AB<x>", &SpecialSet::All), ["AB", "#2"]);
        let mut parts = Vec::new();
        t.split_normalized("xaby", &SpecialSet::All, &mut |s| {
            parts.push(match s {
                Segment::Text(t) => t.to_string(),
                Segment::Special { id, .. } => format!("#{id}"),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(parts, ["x", "#1", "y"]);
        assert_eq!(t.bytes_of(1), Some(&b"ab"[..]));
        assert!(SpecialTokens::with_flags(vec![("a".into(), 1)], vec![], &|s| Ok(s.into())).is_err());
    }
}
