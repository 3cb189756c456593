//! Special (and HF "added") tokens: found in text with Aho-Corasick automata rather than one giant
//! regex alternation, so 256 Llama-3 specials cost the same as one.
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

/// A leftmost-longest automaton over some of the tokens.
#[derive(Debug, Clone)]
struct Table {
    /// Leftmost-longest: where two tokens overlap, the longer one at the earlier position wins
    /// (HF's added-vocabulary rule).
    ac: AhoCorasick,
    /// Token index of each pattern.
    index: Vec<usize>,
}

impl Table {
    fn build(patterns: Vec<(String, usize)>) -> Result<Option<Table>> {
        if patterns.is_empty() {
            return Ok(None);
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(patterns.iter().map(|(p, _)| p.as_bytes()))
            .map_err(|e| Error::InvalidVocabulary(format!("special tokens: {e}")))?;
        Ok(Some(Table {
            ac,
            index: patterns.into_iter().map(|(_, i)| i).collect(),
        }))
    }
}

#[derive(Debug, Clone)]
pub struct SpecialTokens {
    tokens: Vec<(String, u32)>,
    flags: Vec<MatchFlags>,
    /// What each token decodes to: its content, or for a `normalized` token its normalized form
    /// (HF's `simple_id_to_token`, which its `decode` uses).
    decoded: Vec<String>,
    by_id: FxHashMap<u32, usize>,
    /// Tokens matched in the raw text.
    raw: Option<Table>,
    /// `normalized` tokens, by their normalized text, matched in normalized text.
    normalized: Option<Table>,
    /// Every occurrence, for the disallowed-special check, so no occurrence can hide inside another.
    overlapping: Option<AhoCorasick>,
}

/// A segment of text between special tokens, or a special token.
pub enum Segment<'t> {
    Text(&'t str),
    Special(u32),
}

impl SpecialTokens {
    /// Tokens matched verbatim in the raw text.
    pub fn new(tokens: Vec<(String, u32)>) -> Result<Self> {
        let flags = vec![MatchFlags::default(); tokens.len()];
        Self::with_flags(tokens, flags, &|s| s.to_string())
    }

    /// Tokens with HF matching flags (one per token); `normalize` is the tokenizer's normalizer,
    /// which gives the text a `normalized` token is matched by and decodes to.
    pub fn with_flags(
        tokens: Vec<(String, u32)>,
        flags: Vec<MatchFlags>,
        normalize: &dyn Fn(&str) -> String,
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
        let overlapping = if tokens.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(tokens.iter().map(|(t, _)| t.as_bytes()))
                    .map_err(|e| Error::InvalidVocabulary(format!("special tokens: {e}")))?,
            )
        };
        let (mut raw, mut normalized) = (Vec::new(), Vec::new());
        let mut decoded = Vec::with_capacity(tokens.len());
        for (i, ((text, _), flag)) in tokens.iter().zip(&flags).enumerate() {
            if flag.normalized {
                let pattern = normalize(text);
                decoded.push(pattern.clone());
                // A token whose normalized form is empty can never be found.
                if !pattern.is_empty() {
                    normalized.push((pattern, i));
                }
            } else {
                decoded.push(text.clone());
                raw.push((text.clone(), i));
            }
        }
        Ok(SpecialTokens {
            tokens,
            flags,
            decoded,
            by_id,
            raw: Table::build(raw)?,
            normalized: Table::build(normalized)?,
            overlapping,
        })
    }

    /// Whether some token is matched in normalized text ([`SpecialTokens::split_normalized`]).
    pub fn has_normalized(&self) -> bool {
        self.normalized.is_some()
    }

    pub fn flags(&self) -> &[MatchFlags] {
        &self.flags
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

    /// Calls `f` on the text segments and allowed specials of the raw `text`, in order (tokens
    /// with the `normalized` flag are left in the text segments).
    pub fn split<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        self.split_by(self.raw.as_ref(), text, allowed, f)
    }

    /// [`SpecialTokens::split`] for the `normalized` tokens, on a normalized text segment.
    pub fn split_normalized<'t>(
        &self,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        self.split_by(self.normalized.as_ref(), text, allowed, f)
    }

    fn split_by<'t>(
        &self,
        table: Option<&Table>,
        text: &'t str,
        allowed: &SpecialSet,
        f: &mut dyn FnMut(Segment<'t>) -> Result<()>,
    ) -> Result<()> {
        let table = match table {
            Some(table) if !allowed.is_empty() => table,
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
            let Some(m) = table.ac.find(Input::new(text).span(search..text.len())) else {
                break;
            };
            let index = table.index[m.pattern().as_usize()];
            if !allowed.contains(index) {
                // Not allowed here: it is ordinary text; look for specials starting further on.
                search = m.start() + 1;
                continue;
            }
            let flags = self.flags[index];
            let (mut start, mut stop) = (m.start(), m.end());
            let touches_word = || {
                is_word_char(text[..start].chars().next_back()) || is_word_char(text[stop..].chars().next())
            };
            if flags.single_word && touches_word() {
                // HF's matcher goes on after the rejected match, not inside it.
                search = stop;
                continue;
            }
            if flags.lstrip {
                let before = &text[..start];
                start = (before.trim_end_matches(char::is_whitespace).len()).max(emitted);
            }
            if flags.rstrip {
                let after = &text[stop..];
                stop += after.len() - after.trim_start_matches(char::is_whitespace).len();
            }
            if start > emitted {
                f(Segment::Text(&text[emitted..start]))?;
            }
            f(Segment::Special(self.tokens[index].1))?;
            emitted = stop;
            // As HF's matcher: the search goes on after the match itself, so a token may start in
            // the whitespace an `rstrip` token took (" x " after "[END] x": both are emitted).
            search = m.end();
        }
        if emitted < text.len() {
            f(Segment::Text(&text[emitted..]))?;
        }
        Ok(())
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
                Segment::Special(id) => format!("#{id}"),
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

    fn flagged(flags: &[(&str, u32, MatchFlags)]) -> SpecialTokens {
        let tokens = flags.iter().map(|(t, id, _)| (t.to_string(), *id)).collect();
        SpecialTokens::with_flags(tokens, flags.iter().map(|f| f.2).collect(), &|s| s.to_lowercase()).unwrap()
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
                Segment::Special(id) => format!("#{id}"),
            });
            Ok(())
        })
        .unwrap();
        assert_eq!(parts, ["x", "#1", "y"]);
        assert_eq!(t.bytes_of(1), Some(&b"ab"[..]));
        assert!(SpecialTokens::with_flags(vec![("a".into(), 1)], vec![], &|s| s.into()).is_err());
    }
}
