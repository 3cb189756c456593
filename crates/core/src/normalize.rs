//! Text normalizers applied to each segment between special tokens, before pre-tokenization
//! (HF's `normalizer`), with HF `tokenizers` 0.23 semantics and Unicode tables: NFC/NFD/NFKC/NFKD
//! come from `unicode-normalization-alignments` (Unicode 9, the crate HF uses; the newer tables
//! of `unicode-normalization` changed 5-27 of 12.7k adversarial strings), general categories from
//! `unicode_categories`, graphemes from `unicode-segmentation`, as in HF.

use std::borrow::Cow;
use std::sync::Arc;

use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::char::is_combining_mark;
use unicode_normalization_alignments::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};
use crate::offsets::Aligned;
use crate::split_regex::SplitRegex as Regex;

#[derive(Debug, Clone)]
pub enum Normalizer {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
    /// Strip whitespace (`char::is_whitespace`) on the left and/or right.
    Strip {
        left: bool,
        right: bool,
    },
    /// Remove combining marks.
    StripAccents,
    /// Replace every match of a pattern (a literal is given as an escaped regex), on the same
    /// linear-time engine as split patterns: a backtracking engine gives up on long inputs.
    Replace {
        regex: Regex,
        content: String,
    },
    /// Prepend a string to non-empty text.
    Prepend(String),
    Bert(BertNormalizer),
    /// SentencePiece's precompiled character map.
    Precompiled(Arc<Precompiled>),
    /// SentencePiece's NMT normalization (control characters removed, odd spaces to spaces).
    Nmt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertNormalizer {
    pub clean_text: bool,
    pub handle_chinese_chars: bool,
    /// Resolved: HF's `strip_accents: null` means "as `lowercase`".
    pub strip_accents: bool,
    pub lowercase: bool,
}

impl Normalizer {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "nfc" => Self::Nfc,
            "nfd" => Self::Nfd,
            "nfkc" => Self::Nfkc,
            "nfkd" => Self::Nfkd,
            "lowercase" => Self::Lowercase,
            _ => return None,
        })
    }

    /// `text` normalized; only a `Replace` pattern that needs the backtracking engine can fail
    /// (on a long input), and then the error says which construct forced that engine.
    pub fn apply<'a>(&self, text: Cow<'a, str>) -> Result<Cow<'a, str>> {
        Ok(match self {
            // Most real text is already NFC: the quick check avoids a copy.
            Normalizer::Nfc if is_nfc_quick(text.chars()) == IsNormalized::Yes => text,
            Normalizer::Nfc => Cow::Owned(text.nfc().map(|(c, _)| c).collect()),
            Normalizer::Nfd => Cow::Owned(text.nfd().map(|(c, _)| c).collect()),
            Normalizer::Nfkc => Cow::Owned(text.nfkc().map(|(c, _)| c).collect()),
            Normalizer::Nfkd => Cow::Owned(text.nfkd().map(|(c, _)| c).collect()),
            Normalizer::Lowercase => lowercase(text),
            Normalizer::Strip { left, right } => {
                let mut t: &str = &text;
                if *left {
                    t = t.trim_start_matches(char::is_whitespace);
                }
                if *right {
                    t = t.trim_end_matches(char::is_whitespace);
                }
                if t.len() == text.len() {
                    text
                } else {
                    Cow::Owned(t.to_string())
                }
            }
            Normalizer::StripAccents => filter(text, |c| !is_combining_mark(c)),
            Normalizer::Replace { regex, content } => replace(text, regex, content)?,
            Normalizer::Prepend(_) if text.is_empty() => text,
            Normalizer::Prepend(prefix) => Cow::Owned(format!("{prefix}{text}")),
            Normalizer::Bert(bert) => bert.apply(text),
            Normalizer::Precompiled(map) => map.apply(text),
            Normalizer::Nmt => nmt(text),
        })
    }
}

impl Normalizer {
    /// [`Normalizer::apply`] on an aligned text, with the edits HF's normalizer makes (which
    /// decide the alignments; the text is the same).
    pub fn apply_aligned(&self, a: &mut Aligned) -> Result<()> {
        match self {
            Normalizer::Nfc => unicode_edits(a, |t| t.nfc().collect()),
            Normalizer::Nfd => unicode_edits(a, |t| t.nfd().collect()),
            Normalizer::Nfkc => unicode_edits(a, |t| t.nfkc().collect()),
            Normalizer::Nfkd => unicode_edits(a, |t| t.nfkd().collect()),
            Normalizer::Lowercase => lowercase_aligned(a),
            Normalizer::Strip { left, right } => a.strip(*left, *right),
            Normalizer::StripAccents => a.filter(|c| !is_combining_mark(c)),
            Normalizer::Replace { regex, content } => {
                let mut matches = Vec::new();
                regex.for_each_match(&a.text, &mut |start, end| matches.push(start..end))?;
                a.replace_ranges(matches, content);
            }
            Normalizer::Prepend(prefix) => a.prepend(prefix),
            Normalizer::Bert(bert) => bert.apply_aligned(a),
            Normalizer::Precompiled(map) => map.apply_aligned(a),
            Normalizer::Nmt => {
                a.filter(|c| !nmt_removed(c));
                a.map(|c| if nmt_spaced(c) { ' ' } else { c });
            }
        }
        Ok(())
    }
}

fn unicode_edits(a: &mut Aligned, edits: impl Fn(&str) -> Vec<(char, isize)>) {
    let edits = edits(&a.text);
    a.transform(edits, 0);
}

fn lowercase_aligned(a: &mut Aligned) {
    let edits: Vec<(char, isize)> = a
        .text
        .chars()
        .flat_map(|c| c.to_lowercase().enumerate().map(|(i, l)| (l, isize::from(i > 0))))
        .collect();
    a.transform(edits, 0);
}

/// Char by char, as HF does (no context-dependent final sigma).
fn lowercase(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c.is_uppercase() || (!c.is_ascii() && c.to_lowercase().ne(Some(c))))
    {
        return text;
    }
    Cow::Owned(text.chars().flat_map(char::to_lowercase).collect())
}

fn filter(text: Cow<'_, str>, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().all(&keep) {
        text
    } else {
        Cow::Owned(text.chars().filter(|&c| keep(c)).collect())
    }
}

/// Every match of `regex` in `text` replaced by `content`.
pub(crate) fn replace<'a>(text: Cow<'a, str>, regex: &Regex, content: &str) -> Result<Cow<'a, str>> {
    let mut out = String::new();
    let (mut last, mut matched) = (0, false);
    regex.for_each_match(&text, &mut |start, end| {
        out.push_str(&text[last..start]);
        out.push_str(content);
        (last, matched) = (end, true);
    })?;
    if !matched {
        return Ok(text);
    }
    out.push_str(&text[last..]);
    Ok(Cow::Owned(out))
}

/// SentencePiece NMT: control characters removed.
fn nmt_removed(c: char) -> bool {
    matches!(c as u32, 0x0001..=0x0008 | 0x000B | 0x000E..=0x001F | 0x007F | 0x008F | 0x009F)
}

/// SentencePiece NMT: odd spaces that become a space.
fn nmt_spaced(c: char) -> bool {
    matches!(
        c as u32,
        0x0009 | 0x000A | 0x000C | 0x000D | 0x1680 | 0x200B
            ..=0x200F | 0x2028 | 0x2029 | 0x2581 | 0xFEFF | 0xFFFD
    )
}

fn nmt(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.chars().any(|c| nmt_removed(c) || nmt_spaced(c)) {
        return text;
    }
    Cow::Owned(
        text.chars()
            .filter(|&c| !nmt_removed(c))
            .map(|c| if nmt_spaced(c) { ' ' } else { c })
            .collect(),
    )
}

impl BertNormalizer {
    fn apply<'a>(&self, text: Cow<'a, str>) -> Cow<'a, str> {
        let mut text = text;
        if self.clean_text {
            let (drop, space) = (bert_dropped, bert_space);
            if text.chars().any(|c| drop(c) || (space(c) && c != ' ')) {
                text = Cow::Owned(
                    text.chars()
                        .filter(|&c| !drop(c))
                        .map(|c| if space(c) { ' ' } else { c })
                        .collect(),
                );
            }
        }
        if self.handle_chinese_chars && text.chars().any(is_chinese_char) {
            let mut out = String::with_capacity(text.len() + 16);
            for c in text.chars() {
                if is_chinese_char(c) {
                    out.push(' ');
                    out.push(c);
                    out.push(' ');
                } else {
                    out.push(c);
                }
            }
            text = Cow::Owned(out);
        }
        if self.strip_accents && !text.is_ascii() {
            text = Cow::Owned(
                text.nfd()
                    .map(|(c, _)| c)
                    .filter(|c| !c.is_mark_nonspacing())
                    .collect(),
            );
        }
        if self.lowercase {
            text = lowercase(text);
        }
        text
    }
}

/// BERT's `clean_text` removes these.
fn bert_dropped(c: char) -> bool {
    c == '\0' || c == '\u{fffd}' || (!matches!(c, '\t' | '\n' | '\r') && c.is_other())
}

/// BERT's `clean_text` turns these into a space.
fn bert_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

impl BertNormalizer {
    fn apply_aligned(&self, a: &mut Aligned) {
        if self.clean_text {
            a.filter(|c| !bert_dropped(c));
            a.map(|c| if bert_space(c) { ' ' } else { c });
        }
        if self.handle_chinese_chars {
            let mut edits = Vec::with_capacity(a.text.len());
            for c in a.text.chars() {
                if is_chinese_char(c) {
                    edits.extend([(' ', 0), (c, 1), (' ', 1)]);
                } else {
                    edits.push((c, 0));
                }
            }
            a.transform(edits, 0);
        }
        if self.strip_accents {
            unicode_edits(a, |t| t.nfd().collect());
            a.filter(|c| !c.is_mark_nonspacing());
        }
        if self.lowercase {
            lowercase_aligned(a);
        }
    }
}

fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

/// SentencePiece's `precompiled_charsmap`: a little-endian `u32` trie size in bytes, a
/// darts-clone double-array trie over UTF-8 keys, then NUL-terminated replacement strings the
/// trie's values point into.
#[derive(Debug, Clone)]
pub struct Precompiled {
    units: Vec<u32>,
    replacements: String,
}

impl Precompiled {
    pub fn from_bytes(data: &[u8]) -> Result<Self> {
        let bad = |why: &str| Error::InvalidVocabulary(format!("precompiled_charsmap: {why}"));
        if data.len() < 4 {
            return Err(bad("shorter than its 4-byte header"));
        }
        let size = u32::from_le_bytes(data[..4].try_into().expect("4 bytes")) as usize;
        let trie = data
            .get(4..4 + size)
            .ok_or_else(|| bad("the trie is longer than the data"))?;
        if !size.is_multiple_of(4) || size == 0 {
            return Err(bad("the trie size is not a positive multiple of 4"));
        }
        let units = trie
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let replacements = String::from_utf8(data[4 + size..].to_vec())
            .map_err(|_| bad("the replacement strings are not UTF-8"))?;
        Ok(Precompiled { units, replacements })
    }

    /// The replacement of the shortest key that is a prefix of `chunk` (spm_precompiled's
    /// `common_prefix_search(...)[0]`, which HF uses), if any.
    fn transform(&self, chunk: &str) -> Option<&str> {
        let units = &self.units;
        let offset = |unit: u32| ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize;
        let mut pos = offset(*units.first()?);
        for &c in chunk.as_bytes() {
            if c == 0 {
                break;
            }
            pos ^= c as usize;
            let unit = *units.get(pos)?;
            if (unit & ((1 << 31) | 0xff)) as usize != c as usize {
                return None;
            }
            pos ^= offset(unit);
            if (unit >> 8) & 1 == 1 {
                let value = (*units.get(pos)? & ((1 << 31) - 1)) as usize;
                let rest = self.replacements.get(value..)?;
                return Some(&rest[..rest.find('\0').unwrap_or(rest.len())]);
            }
        }
        None
    }

    /// Calls `f(at, part, replacement)` on consecutive parts of `text` (at byte `at`) that cover
    /// it: graphemes shorter than 6 bytes are looked up whole, others (and misses) char by char,
    /// as HF does.
    fn for_each_part<'t>(&self, text: &'t str, mut f: impl FnMut(usize, &'t str, Option<&str>)) {
        for (at, grapheme) in text.grapheme_indices(true) {
            if grapheme.len() < 6 {
                if let Some(norm) = self.transform(grapheme) {
                    f(at, grapheme, Some(norm));
                    continue;
                }
            }
            for (i, c) in grapheme.char_indices() {
                let part = &grapheme[i..i + c.len_utf8()];
                f(at + i, part, self.transform(part));
            }
        }
    }

    fn apply<'a>(&self, text: Cow<'a, str>) -> Cow<'a, str> {
        let mut out = String::new();
        let mut modified = false;
        self.for_each_part(&text, |at, part, norm| match norm {
            Some(norm) => {
                if !modified {
                    out.push_str(&text[..at]);
                    modified = true;
                }
                out.push_str(norm);
            }
            None if modified => out.push_str(part),
            None => {}
        });
        if modified {
            Cow::Owned(out)
        } else {
            text
        }
    }

    /// HF's edits: a part replaced by `n` chars gives `n` replacing chars, the extra ones as
    /// insertions, or the last one removing the chars the replacement is short of.
    fn apply_aligned(&self, a: &mut Aligned) {
        let mut edits: Vec<(char, isize)> = Vec::with_capacity(a.text.len());
        let mut modified = false;
        self.for_each_part(&a.text, |_, part, norm| {
            let Some(norm) = norm else {
                edits.extend(part.chars().map(|c| (c, 0)));
                return;
            };
            modified = true;
            edits.extend(norm.chars().map(|c| (c, 0)));
            let diff = norm.chars().count() as isize - part.chars().count() as isize;
            if diff > 0 {
                let added = edits.len() - diff as usize;
                edits[added..].iter_mut().for_each(|e| e.1 = 1);
            } else if diff < 0 {
                // HF charges the removal to the last edit so far, even one of an earlier part.
                if let Some(last) = edits.last_mut() {
                    last.1 += diff;
                }
            }
        });
        if modified {
            a.transform(edits, 0);
        }
    }
}

/// Applies a sequence of normalizers in order.
pub fn normalize<'a>(normalizers: &[Normalizer], text: &'a str) -> Result<Cow<'a, str>> {
    normalizers
        .iter()
        .try_fold(Cow::Borrowed(text), |t, n| n.apply(t))
}

/// [`normalize`] keeping track of where each byte comes from (the offsets path); gives the same
/// text.
pub fn normalize_aligned(normalizers: &[Normalizer], text: &mut Aligned) -> Result<()> {
    normalizers.iter().try_for_each(|n| n.apply_aligned(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_composes_and_borrows_when_already_normal() {
        assert_eq!(normalize(&[Normalizer::Nfc], "e\u{301}").unwrap(), "\u{e9}");
        assert!(matches!(
            normalize(&[Normalizer::Nfc], "plain").unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            normalize(&[Normalizer::Nfkc, Normalizer::Lowercase], "ＡB").unwrap(),
            "ab"
        );
    }

    #[test]
    fn bert_strip_prepend() {
        let bert = Normalizer::Bert(BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        });
        assert_eq!(normalize(&[bert], "Héllo\t中x\u{0}").unwrap(), "hello  中 x");
        let strip = Normalizer::Strip {
            left: true,
            right: false,
        };
        assert_eq!(
            normalize(&[strip, Normalizer::Prepend("▁".into())], "  a ").unwrap(),
            "▁a "
        );
        assert_eq!(normalize(&[Normalizer::Prepend("▁".into())], "").unwrap(), "");
    }

    /// A look-ahead `Replace` on a long run: the backtracking engine gave up ("Max stack size
    /// exceeded") and the text was left unreplaced.
    #[test]
    fn look_ahead_replace_is_linear_on_long_runs() {
        let replace = Normalizer::Replace {
            regex: Regex::new(r"\s+(?!\S)").unwrap(),
            content: "_".into(),
        };
        let text = format!("a{}b{}", " ".repeat(1_000_000), " ".repeat(1_000_000));
        // As a backtracking engine: the first run minus its last space, which 'b' follows.
        assert_eq!(normalize(&[replace], &text).unwrap(), "a_ b_");
    }

    /// The offsets path's normalizers give the encode path's text, and every byte an alignment.
    #[test]
    fn aligned_normalizers_give_the_same_text() {
        let bert = Normalizer::Bert(BertNormalizer {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: true,
            lowercase: true,
        });
        let all = [
            Normalizer::Nfc,
            Normalizer::Nfd,
            Normalizer::Nfkc,
            Normalizer::Nfkd,
            Normalizer::Lowercase,
            Normalizer::Strip {
                left: true,
                right: true,
            },
            Normalizer::Strip {
                left: false,
                right: true,
            },
            Normalizer::StripAccents,
            Normalizer::Prepend("▁".into()),
            bert,
            Normalizer::Nmt,
        ];
        let texts = [
            "",
            "  Héllo\t中x\u{0}  ",
            "e\u{301}\u{fb01}İ\u{200b}",
            "   ",
            "ǅ\r\nΣ",
        ];
        for n in &all {
            for text in texts {
                let mut a = Aligned::new(text, 3);
                n.apply_aligned(&mut a).unwrap();
                let plain = normalize(std::slice::from_ref(n), text).unwrap();
                assert_eq!(a.text, plain, "{n:?} on {text:?}");
                assert_eq!(a.align.len(), a.text.len());
                assert!(a
                    .align
                    .iter()
                    .all(|&(s, e)| 3 <= s && s <= e && e <= 3 + text.len()));
            }
        }
    }

    #[test]
    fn malformed_charsmap_is_an_error() {
        assert!(Precompiled::from_bytes(&[1, 0]).is_err());
        assert!(Precompiled::from_bytes(&[8, 0, 0, 0, 1, 2, 3]).is_err());
        let empty = Precompiled::from_bytes(&[4, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(empty.apply(Cow::Borrowed("abc")), "abc");
    }
}
