//! Text normalizers applied to each segment between special tokens, before pre-tokenization
//! (HF's `normalizer`), with HF `tokenizers` 0.23 semantics and Unicode tables: NFC/NFD/NFKC/NFKD
//! come from `unicode-normalization-alignments` (Unicode 9, the crate HF uses; the newer tables
//! of `unicode-normalization` changed 5-27 of 12.7k adversarial strings), general categories from
//! `unicode_categories`, graphemes from `unicode-segmentation`, as in HF.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, Anchored, Input, MatchKind, StartKind};
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
    /// HF's `ByteLevel` normalizer: every byte of the UTF-8 text as its GPT-2 byte-level char.
    ByteLevel,
    /// The whole normalizer of a SentencePiece `.model` file in one pass.
    SentencePiece(Arc<SentencePieceNormalizer>),
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
            Normalizer::ByteLevel => Cow::Owned(text.bytes().map(crate::bytelevel::byte_to_char).collect()),
            Normalizer::SentencePiece(spm) => Cow::Owned(spm.normalize(&text)),
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
            // Each char becomes the chars of its bytes, all standing for it.
            Normalizer::ByteLevel => {
                let edits: Vec<(char, isize)> = a
                    .text
                    .chars()
                    .flat_map(|c| {
                        let mut buf = [0; 4];
                        let bytes = c.encode_utf8(&mut buf).as_bytes().to_vec();
                        bytes
                            .into_iter()
                            .enumerate()
                            .map(|(i, b)| (crate::bytelevel::byte_to_char(b), isize::from(i > 0)))
                    })
                    .collect();
                a.transform(edits, 0);
            }
            Normalizer::SentencePiece(spm) => spm.normalize_aligned(a),
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
    /// SentencePiece's own rule (`Normalizer::NormalizePrefix`): at each position the longest
    /// key wins. HF looks whole graphemes up first and takes the shortest key; the two differ on
    /// combining sequences ("e" + U+0301 is one key of the nfkc map, "é").
    longest_prefix: bool,
}

impl Precompiled {
    pub fn from_bytes(data: &[u8], longest_prefix: bool) -> Result<Self> {
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
        Ok(Precompiled {
            units,
            replacements,
            longest_prefix,
        })
    }

    fn offset(unit: u32) -> usize {
        ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
    }

    /// The replacement string stored at the value of the trie node `pos`.
    fn value_at(&self, pos: usize) -> Option<&str> {
        let value = (*self.units.get(pos)? & ((1 << 31) - 1)) as usize;
        let rest = self.replacements.get(value..)?;
        Some(&rest[..rest.find('\0').unwrap_or(rest.len())])
    }

    /// Whether some key is longer than `prefix` and starts with it.
    fn has_longer(&self, prefix: &[u8]) -> bool {
        let units = &self.units;
        let Some(&root) = units.first() else { return false };
        let mut pos = Self::offset(root);
        for &c in prefix {
            pos ^= c as usize;
            match units.get(pos) {
                Some(&unit) if (unit & ((1 << 31) | 0xff)) as usize == c as usize => {
                    pos ^= Self::offset(unit)
                }
                _ => return false,
            }
        }
        // Any child byte below `pos` (other than the value slot 0) continues a key.
        (1..=255usize).any(|c| {
            units
                .get(pos ^ c)
                .is_some_and(|&unit| (unit & ((1 << 31) | 0xff)) as usize == c)
        })
    }

    /// `(key length, replacement)` of the longest key that is a prefix of `text`.
    fn longest(&self, text: &[u8]) -> Option<(usize, &str)> {
        let units = &self.units;
        let mut pos = Self::offset(*units.first()?);
        let mut found = None;
        for (i, &c) in text.iter().enumerate() {
            if c == 0 {
                break;
            }
            pos ^= c as usize;
            let Some(&unit) = units.get(pos) else { break };
            if (unit & ((1 << 31) | 0xff)) as usize != c as usize {
                break;
            }
            pos ^= Self::offset(unit);
            if (unit >> 8) & 1 == 1 {
                found = self.value_at(pos).map(|r| (i + 1, r)).or(found);
            }
        }
        found
    }

    /// The replacement of the shortest key that is a prefix of `chunk` (spm_precompiled's
    /// `common_prefix_search(...)[0]`, which HF uses), if any.
    fn transform(&self, chunk: &str) -> Option<&str> {
        let units = &self.units;
        let offset = Self::offset;
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
                return self.value_at(pos);
            }
        }
        None
    }

    /// Calls `f(at, part, replacement)` on consecutive parts of `text` (at byte `at`) that cover
    /// it, `replacement` where the part changes. HF's rule: graphemes shorter than 6 bytes are
    /// looked up whole, others (and misses) char by char; with `longest_prefix` SentencePiece's:
    /// the longest key at each position.
    fn for_each_part<'t>(&self, text: &'t str, mut f: impl FnMut(usize, &'t str, Option<&str>)) {
        if self.longest_prefix {
            let bytes = text.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                // A key of a malformed map could end inside a character: no match there.
                let found = self
                    .longest(&bytes[at..])
                    .filter(|&(len, _)| text.is_char_boundary(at + len));
                let len = found.map_or_else(|| utf8_char_len(bytes[at]), |(len, _)| len);
                let part = &text[at..at + len];
                f(at, part, found.map(|(_, norm)| norm).filter(|&norm| norm != part));
                at += len;
            }
            return;
        }
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

/// SentencePiece's `Normalizer::Normalize` (sentencepiece 0.2.3 `normalizer.cc`), ported as it
/// is: at each position a user-defined piece (kept verbatim) or else the longest charsmap key
/// (else one character) is replaced; with `remove_extra_whitespaces` leading spaces are dropped,
/// and spaces that follow a space; with `add_dummy_prefix` a space is put first (last, with the
/// trainer's `treat_whitespace_as_suffix`); spaces become "▁" with `escape_whitespaces`; with
/// `remove_extra_whitespaces` trailing ones go at the end.
/// One pass replaces the equivalent chain of HF components (Precompiled, two Replace regexes, a
/// Replace, Prepend, a Replace regex), which allocated six strings per text and took 40% of the
/// encode time of the botchan Unigram model (perf, 0.5 MB of documents).
#[derive(Debug, Clone)]
pub struct SentencePieceNormalizer {
    charsmap: Option<Arc<Precompiled>>,
    /// User-defined pieces, found anchored at a position (longest first).
    user_defined: Option<AhoCorasick>,
    add_dummy_prefix: bool,
    remove_extra_whitespaces: bool,
    escape_whitespaces: bool,
    treat_whitespace_as_suffix: bool,
    /// One bit per BMP character that stands for itself: no charsmap key or user-defined piece
    /// starts with it and it is not a space. Runs of them are copied whole (botchan Unigram
    /// model, 0.5 MB of documents: with ASCII only the normalizer went from 19% to 8% of the
    /// encode samples in perf). With the whole BMP and [`Self::ascii_pairs`], callgrind of the
    /// encode calls on 0.3 MB of `bench/families.py` documents: normalizer 69.5M -> 18.1M
    /// instructions, the whole call 176.7M -> 121.4M.
    plain: Box<[u64]>,
    /// Bit `b` of entry `a`: the ASCII byte `a` followed by the ASCII byte `b` stands for itself
    /// (`prefix` gives `a`, one byte). The nmt maps have keys that start with ASCII letters and
    /// spaces (a letter and a combining mark composed), so without the next byte no letter is
    /// plain. Entry `' '` says when a space is a space, handled inline (a sixth of English
    /// text).
    ascii_pairs: Box<[[u64; 2]; 128]>,
    /// The bytes whose `ascii_pairs` row is full: ASCII that stands for itself before any ASCII
    /// byte (not a space).
    ascii_runs: Box<[bool; 256]>,
    /// `(lo, hi)` when the `ascii_runs` bytes are exactly `lo..=hi` but the space (all of ASCII
    /// for the botchan and Mistral v1/v2 models, `!..=DEL` for botchan BPE): runs are then found
    /// 8 bytes at a time (`run_end`).
    ascii_run_range: Option<(u8, u8)>,
    /// A space stands for itself before any char (no charsmap key or user-defined piece starts
    /// with one), so a space before a non-ASCII char needs no `prefix` lookup either.
    lone_space: bool,
}

/// Characters of the Basic Multilingual Plane, the range of [`SentencePieceNormalizer::plain`].
const BMP: usize = 0x1_0000;

impl SentencePieceNormalizer {
    pub fn new(
        charsmap: Option<Arc<Precompiled>>,
        user_defined: &[&str],
        add_dummy_prefix: bool,
        remove_extra_whitespaces: bool,
        escape_whitespaces: bool,
        treat_whitespace_as_suffix: bool,
    ) -> Result<Self> {
        let user_firsts: Vec<char> = user_defined.iter().filter_map(|u| u.chars().next()).collect();
        let mut ascii_pairs = Box::new([[0u64; 2]; 128]);
        for (a, row) in ascii_pairs.iter_mut().enumerate() {
            if user_firsts.contains(&(a as u8 as char)) {
                continue;
            }
            let itself = (a as u8 as char).to_string();
            for b in 0..128u8 {
                let key = [a as u8, b];
                let stands_for_itself = charsmap.as_ref().is_none_or(|map| {
                    map.longest(&key)
                        .is_none_or(|(len, norm)| len == 1 && norm == itself)
                        && !map.has_longer(&key)
                });
                if stands_for_itself {
                    row[b as usize / 64] |= 1 << (b % 64);
                }
            }
        }
        let mut ascii_runs = Box::new([false; 256]);
        for (a, row) in ascii_pairs.iter().enumerate() {
            ascii_runs[a] = a != b' ' as usize && *row == [u64::MAX; 2];
        }
        let ascii_run_range = match (
            ascii_runs.iter().position(|&r| r),
            ascii_runs.iter().rposition(|&r| r),
        ) {
            (Some(lo), Some(hi)) if (lo..=hi).all(|b| ascii_runs[b] || b == b' ' as usize) => {
                Some((lo as u8, hi as u8))
            }
            _ => None,
        };
        let lone_space = !user_firsts.contains(&' ')
            && charsmap.as_ref().is_none_or(|map| {
                map.longest(b" ")
                    .is_none_or(|(len, norm)| len == 1 && norm == " ")
                    && !map.has_longer(b" ")
            });
        let mut plain = vec![0u64; BMP / 64].into_boxed_slice();
        let mut key = [0u8; 4];
        for c in (0..BMP as u32).filter_map(char::from_u32) {
            let key = c.encode_utf8(&mut key).as_bytes();
            let stands_for_itself = c != ' '
                && charsmap
                    .as_ref()
                    .is_none_or(|map| map.longest(key).is_none() && !map.has_longer(key))
                && !user_firsts.contains(&c);
            if stands_for_itself {
                plain[c as usize / 64] |= 1 << (c as usize % 64);
            }
        }
        let user_defined = if user_defined.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .start_kind(StartKind::Anchored)
                    .build(user_defined)
                    .map_err(|e| Error::InvalidVocabulary(format!("user-defined pieces: {e}")))?,
            )
        };
        Ok(SentencePieceNormalizer {
            charsmap,
            user_defined,
            add_dummy_prefix,
            remove_extra_whitespaces,
            escape_whitespaces,
            treat_whitespace_as_suffix,
            plain,
            ascii_pairs,
            ascii_runs,
            ascii_run_range,
            lone_space,
        })
    }

    /// The ASCII byte `a` followed by the ASCII byte `b` stands for itself (see `ascii_pairs`).
    #[inline(always)]
    fn ascii_pair(&self, a: u8, b: u8) -> bool {
        self.ascii_pairs[a as usize][b as usize / 64] >> (b % 64) & 1 == 1
    }

    /// The end of the run of `ascii_runs` bytes that goes on at `at` (the run's first byte is
    /// before it): the first byte that is not one, or is the last of the text, or is followed
    /// by a non-ASCII byte. With [`Self::ascii_run_range`], 8 bytes a step.
    #[inline(always)]
    fn run_end(&self, bytes: &[u8], from: usize) -> usize {
        let n = bytes.len();
        let mut at = from;
        if let Some((lo, hi)) = self.ascii_run_range {
            while at + 8 <= n {
                let word = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
                let outside = bytes_outside(word, lo, hi);
                if outside != 0 {
                    let first = at + (outside.trailing_zeros() / 8) as usize;
                    // The byte before a non-ASCII one is not part of the run (`from - 1` is, and
                    // `bytes[from]` is ASCII, so this never goes below `from`).
                    return first - (bytes[first] >= 0x80) as usize;
                }
                at += 8;
            }
            // The last byte of the last word was taken without looking at the byte after it.
            at = at.saturating_sub(1).max(from);
        }
        while at + 1 < n && self.ascii_runs[bytes[at] as usize] && bytes[at + 1] < 0x80 {
            at += 1;
        }
        at
    }

    /// The length of the character at `at` if it stands for itself (see `plain`), else 0.
    /// Inlined into the run loops: as a call per char it was a third of the normalizer's perf
    /// samples (botchan Unigram, 0.5 MB of `bench/families.py` documents x40 from Python).
    #[inline(always)]
    fn plain_len(&self, bytes: &[u8], at: usize) -> usize {
        let b = bytes[at];
        let (c, len) = match b {
            b' ' => return 0,
            0..=0x7f => match bytes.get(at + 1) {
                Some(&next) if next < 0x80 => return self.ascii_pair(b, next) as usize,
                _ => (b as usize, 1),
            },
            // `bytes` is UTF-8: the continuation bytes are there.
            0xc0..=0xdf => (((b as usize & 0x1f) << 6) | (bytes[at + 1] as usize & 0x3f), 2),
            0xe0..=0xef => (
                ((b as usize & 0x0f) << 12)
                    | ((bytes[at + 1] as usize & 0x3f) << 6)
                    | (bytes[at + 2] as usize & 0x3f),
                3,
            ),
            _ => return 0,
        };
        if self.plain[c / 64] >> (c % 64) & 1 == 1 {
            len
        } else {
            0
        }
    }

    /// `(replacement, input bytes consumed)` at `at` (`NormalizePrefix`).
    fn prefix<'a>(&'a self, text: &'a str, at: usize) -> (&'a str, usize) {
        if let Some(ac) = &self.user_defined {
            let input = Input::new(text).range(at..).anchored(Anchored::Yes);
            if let Ok(Some(m)) = ac.try_find(input) {
                return (&text[at..m.end()], m.end() - at);
            }
        }
        let bytes = text.as_bytes();
        if let Some(map) = &self.charsmap {
            if let Some((len, norm)) = map
                .longest(&bytes[at..])
                .filter(|&(len, _)| text.is_char_boundary(at + len))
            {
                return (norm, len);
            }
        }
        let len = utf8_char_len(bytes[at]);
        (&text[at..at + len], len)
    }

    pub fn normalize(&self, text: &str) -> String {
        self.normalize_impl::<false>(text, &[], &mut Vec::new())
    }

    /// [`SentencePieceNormalizer::normalize`] on an aligned text, SentencePiece's way (its token
    /// spans run from where a token's first char came from to where the next token's did): each
    /// output char stands for the input it was made from, and for the input dropped after it (a
    /// whitespace run collapsed to its first space, chars the charsmap removes); the dummy space
    /// stands for the first char kept (the last, as a suffix); input dropped before any output
    /// or at the end (trailing whitespace) stands for nothing.
    pub fn normalize_aligned(&self, a: &mut Aligned) {
        let mut align = Vec::with_capacity(a.align.len() + 3);
        a.text = self.normalize_impl::<true>(&a.text, &a.align, &mut align);
        a.align = align;
    }

    // `ALIGN` is a constant so that the plain normalize compiles without the alignment
    // bookkeeping: `align` gives the input bytes' alignments, `out_align` gets the output's.
    fn normalize_impl<const ALIGN: bool>(
        &self,
        text: &str,
        align: &[(usize, usize)],
        out_align: &mut Vec<(usize, usize)>,
    ) -> String {
        let n = text.len();
        // `produced` made from input bytes `at..at + len`: as SentencePiece maps every output
        // byte to where its input starts, a token that ends inside a multi-char replacement
        // ("…" to "...") ends where that input starts; one that ends with it, where it ends.
        let aligned = |out_align: &mut Vec<(usize, usize)>, at: usize, len: usize, produced: &str| {
            if ALIGN {
                let (start, end) = (align[at].0, align[at + len - 1].1);
                let last = produced.char_indices().next_back().map_or(0, |(i, _)| i);
                out_align.extend(std::iter::repeat_n((start, start), last));
                out_align.extend(std::iter::repeat_n((start, end), produced.len() - last));
            }
        };
        let mut at = 0;
        if self.remove_extra_whitespaces {
            while at < n {
                let (norm, len) = self.prefix(text, at);
                if norm != " " {
                    break;
                }
                at += len;
            }
        }
        let mut out = String::with_capacity(n + n / 2 + 3);
        if at == n {
            return out;
        }
        let space = if self.escape_whitespaces { "\u{2581}" } else { " " };
        if self.add_dummy_prefix && !self.treat_whitespace_as_suffix {
            out.push_str(space);
            aligned(out_align, at, utf8_char_len(text.as_bytes()[at]), space);
        }
        let mut prev_space = self.remove_extra_whitespaces;
        let bytes = text.as_bytes();
        while at < n {
            // ASCII followed by ASCII, the bulk of Latin-script text, inline: the same decisions
            // as `plain_len` and `prefix` make there, a run of `ascii_runs` bytes in a tight
            // loop and one copy. Callgrind of the encode calls (botchan Unigram, 0.3 MB of
            // `bench/families.py` documents plus the warm-up): normalizer 23.8M -> 19.2M
            // instructions with `push_ascii` and the inline space.
            while at + 1 < n {
                let (a, b) = (bytes[at], bytes[at + 1]);
                if self.ascii_runs[a as usize] && b < 0x80 {
                    let run = at;
                    at = self.run_end(bytes, at + 1);
                    push_ascii(&mut out, bytes, run, at);
                    if ALIGN {
                        out_align.extend_from_slice(&align[run..at]);
                    }
                    prev_space = false;
                    continue;
                }
                if a >= 0x80 || b >= 0x80 || !self.ascii_pair(a, b) {
                    break;
                }
                if a == b' ' {
                    // As `prefix`'s " " below: dropped after a space when extra spaces go.
                    if !prev_space {
                        // Not `push_str(space)`: a call to memcpy for 3 bytes.
                        // SAFETY: whole UTF-8 chars keep the string UTF-8.
                        let bytes = unsafe { out.as_mut_vec() };
                        if self.escape_whitespaces {
                            bytes.extend_from_slice(&[0xe2, 0x96, 0x81]);
                        } else {
                            bytes.push(b' ');
                        }
                        aligned(out_align, at, 1, space);
                    } else if ALIGN {
                        extend_last(out_align, align[at].1);
                    }
                    prev_space = self.remove_extra_whitespaces;
                } else {
                    out.push(a as char);
                    if ALIGN {
                        out_align.push(align[at]);
                    }
                    prev_space = false;
                }
                at += 1;
            }
            if at == n {
                break;
            }
            let first = self.plain_len(bytes, at);
            if first > 0 {
                let mut run = at + first;
                while run < n {
                    match self.plain_len(bytes, run) {
                        0 => break,
                        len => run += len,
                    }
                }
                out.push_str(&text[at..run]);
                if ALIGN {
                    out_align.extend_from_slice(&align[at..run]);
                }
                prev_space = false;
                at = run;
                continue;
            }
            let (mut norm, len) = if bytes[at] == b' ' && self.lone_space {
                (" ", 1)
            } else {
                self.prefix(text, at)
            };
            if prev_space {
                norm = norm.trim_start_matches(' ');
            }
            if !norm.is_empty() {
                let before = out.len();
                // Replacements are a few bytes: a byte loop, not `str::find`'s searcher (2.1M
                // of the normalizer's 19.2M instructions in callgrind of the encode calls of
                // 0.3 MB of `bench/families.py` documents, botchan Unigram).
                let mut rest = norm.as_bytes();
                while let Some(i) = rest.iter().position(|&b| b == b' ') {
                    // SAFETY: cut at an ASCII space, both parts stay UTF-8.
                    out.push_str(unsafe { std::str::from_utf8_unchecked(&rest[..i]) });
                    out.push_str(space);
                    rest = &rest[i + 1..];
                }
                // SAFETY: as above.
                out.push_str(unsafe { std::str::from_utf8_unchecked(rest) });
                aligned(out_align, at, len, &out[before..]);
                prev_space = norm.ends_with(' ');
            } else if ALIGN {
                extend_last(out_align, align[at + len - 1].1);
            }
            at += len;
            if !self.remove_extra_whitespaces {
                prev_space = false;
            }
        }
        if self.remove_extra_whitespaces {
            while out.ends_with(space) {
                out.truncate(out.len() - space.len());
            }
            if ALIGN {
                out_align.truncate(out.len());
            }
        }
        if self.add_dummy_prefix && self.treat_whitespace_as_suffix {
            out.push_str(space);
            if ALIGN {
                let last = out_align
                    .last()
                    .copied()
                    .unwrap_or((align[n - 1].1, align[n - 1].1));
                out_align.extend(std::iter::repeat_n(last, space.len()));
            }
        }
        out
    }
}

/// A word whose lowest set bit is bit 7 of the first byte of `word` (little-endian) that is a
/// space or outside `lo..=hi` (`lo <= hi < 0x80`); bytes after that one may be flagged wrongly:
/// a byte below `lo` or a space borrows from the byte above it, and one at or past 0x80 may
/// carry into it, so only bytes after a flagged one are affected.
#[inline(always)]
fn bytes_outside(word: u64, lo: u8, hi: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = word.wrapping_sub(ONES * lo as u64) & !word;
    let above = word.wrapping_add(ONES * (0x7f - hi) as u64) | word;
    let spaces = word ^ (ONES * b' ' as u64);
    let space = spaces.wrapping_sub(ONES) & !spaces;
    (below | above | space) & HIGH
}

/// Appends the ASCII bytes `text[start..end]` to `out`. A run (mostly a word) of at most 8 bytes
/// with 8 bytes of `text` from its start is one 8-byte copy into spare capacity, not a call to
/// memcpy.
#[inline(always)]
fn push_ascii(out: &mut String, text: &[u8], start: usize, end: usize) {
    debug_assert!(text[start..end].is_ascii());
    // SAFETY: ASCII keeps the string UTF-8.
    let bytes = unsafe { out.as_mut_vec() };
    let len = bytes.len();
    if end - start <= 8 && start + 8 <= text.len() && bytes.capacity() - len >= 8 {
        // SAFETY: `text[start..start + 8]` is in bounds, and the 8 bytes at `len` are spare
        // capacity; only the run's bytes become part of the string.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr().add(start), bytes.as_mut_ptr().add(len), 8);
            bytes.set_len(len + end - start);
        }
    } else {
        bytes.extend_from_slice(&text[start..end]);
    }
}

/// The last output byte of an aligned text also stands for the input up to `end`.
fn extend_last(align: &mut [(usize, usize)], end: usize) {
    if let Some(last) = align.last_mut() {
        last.1 = last.1.max(end);
    }
}

/// The length of the UTF-8 character that starts with `first`: a table, not a `match`, whose
/// branches the Unigram lattice mispredicted once in every 6 chars of mixed-script text
/// (callgrind of the `encode` calls of 0.3 MB of `bench/families.py` documents plus the warm-up,
/// botchan Unigram model: 71.8k of the lattice's 484k mispredicted branches).
#[inline]
pub(crate) fn utf8_char_len(first: u8) -> usize {
    const LEN: [u8; 256] = {
        let mut len = [4u8; 256];
        let mut b = 0;
        while b < 256 {
            len[b] = match b {
                0..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                _ => 4,
            };
            b += 1;
        }
        len
    };
    LEN[first as usize] as usize
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
    fn byte_level_maps_every_byte() {
        let n = [Normalizer::ByteLevel];
        assert_eq!(normalize(&n, "a b\né").unwrap(), "aĠbĊÃ©");
    }

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
            Normalizer::ByteLevel,
        ];
        let spm = |extra, suffix| {
            let n = SentencePieceNormalizer::new(None, &["a  b"], true, extra, true, suffix).unwrap();
            Normalizer::SentencePiece(Arc::new(n))
        };
        let all = [
            all.to_vec(),
            vec![spm(true, false), spm(false, false), spm(true, true)],
        ]
        .concat();
        let texts = [
            "",
            "  Héllo\t中x\u{0}  ",
            "e\u{301}\u{fb01}İ\u{200b}",
            "   ",
            "ǅ\r\nΣ",
            " x a  b  y ",
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

    /// SentencePiece's spans: collapsed whitespace belongs to the space kept before it, leading
    /// and trailing whitespace to nothing, the dummy prefix to the first char.
    #[test]
    fn sentencepiece_alignment() {
        let spm = SentencePieceNormalizer::new(None, &[], true, true, true, false).unwrap();
        let mut a = Aligned::new("  ab   c  ", 0);
        spm.normalize_aligned(&mut a);
        assert_eq!(a.text, "\u{2581}ab\u{2581}c");
        let per_char: Vec<_> = a
            .text
            .char_indices()
            .map(|(i, c)| a.align[i + c.len_utf8() - 1])
            .collect();
        assert_eq!(per_char, [(2, 3), (2, 3), (3, 4), (4, 7), (7, 8)]);
    }

    #[test]
    fn malformed_charsmap_is_an_error() {
        assert!(Precompiled::from_bytes(&[1, 0], false).is_err());
        assert!(Precompiled::from_bytes(&[8, 0, 0, 0, 1, 2, 3], false).is_err());
        for longest in [false, true] {
            let empty = Precompiled::from_bytes(&[4, 0, 0, 0, 0, 0, 0, 0], longest).unwrap();
            assert_eq!(empty.apply(Cow::Borrowed("abc")), "abc");
        }
    }

    /// The run ends found 8 bytes at a time are the ones of the byte loop, for every range
    /// (with and without the space inside it) on text mixing ASCII, spaces, controls and UTF-8.
    #[test]
    fn word_at_a_time_runs_match_the_byte_loop() {
        let pieces = [
            "ab",
            "x y",
            "\t",
            "\u{7f}",
            "é",
            "中",
            "~",
            "!",
            "  ",
            "0123456789",
            "\u{0}",
        ];
        let mut state = 7u64;
        let mut texts = Vec::new();
        for _ in 0..400 {
            let mut text = String::new();
            for _ in 0..(state % 40) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                text.push_str(pieces[(state >> 33) as usize % pieces.len()]);
            }
            texts.push(text);
        }
        for (lo, hi) in [(0u8, 0x7fu8), (0x21, 0x7f), (0x21, 0x7e), (0x30, 0x39), (0, 0)] {
            let mut spm = SentencePieceNormalizer::new(None, &[], true, true, true, false).unwrap();
            for b in 0..256 {
                spm.ascii_runs[b] = (lo as usize..=hi as usize).contains(&b) && b != b' ' as usize;
            }
            let mut bytewise = spm.clone();
            spm.ascii_run_range = Some((lo, hi));
            bytewise.ascii_run_range = None;
            for text in &texts {
                let bytes = text.as_bytes();
                for from in 1..bytes.len() {
                    if spm.ascii_runs[bytes[from - 1] as usize] && bytes[from] < 0x80 {
                        assert_eq!(
                            spm.run_end(bytes, from),
                            bytewise.run_end(bytes, from),
                            "{text:?} from {from}, range {lo:#x}..={hi:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn sentencepiece_whitespace_rules() {
        let spm = SentencePieceNormalizer::new(None, &["a  b"], true, true, true, false).unwrap();
        assert_eq!(spm.normalize("  x   y  "), "\u{2581}x\u{2581}y");
        assert_eq!(spm.normalize("   "), "");
        assert_eq!(
            spm.normalize("x a  b"),
            "\u{2581}x\u{2581}a\u{2581}\u{2581}b",
            "user-defined kept"
        );
        let plain = SentencePieceNormalizer::new(None, &[], false, false, true, false).unwrap();
        assert_eq!(plain.normalize("  x "), "\u{2581}\u{2581}x\u{2581}");
        let suffix = SentencePieceNormalizer::new(None, &[], true, false, true, true).unwrap();
        assert_eq!(
            suffix.normalize("x y"),
            "x\u{2581}y\u{2581}",
            "the dummy space goes last"
        );
        assert_eq!(suffix.normalize(""), "");
    }
}
