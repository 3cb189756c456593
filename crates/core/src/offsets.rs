//! Token offsets: where each token of an encoding comes from in the original text.
//!
//! The plain encode path never tracks positions (it must stay as fast as it is); this module is
//! the bookkeeping of the separate offsets path, [`crate::Tokenizer::encode_with_offsets`]. The
//! conventions are HF `tokenizers`' (0.23): every byte of the normalized text carries the byte
//! range of the original text it came from ([`Aligned`], HF's `NormalizedString` alignments,
//! updated by each normalizer and pre-tokenizer through the same `(char, change)` edits HF
//! describes them with); a token covering normalized bytes `s..e` of a piece gets
//! `align[s].0..align[e - 1].1`, so a byte-level token that holds part of a character gets the
//! whole character; byte offsets then become char offsets; the `ByteLevel` post-processor's
//! `trim_offsets` moves offsets off leading and trailing spaces.

use std::ops::Range;

/// A (normalized) text and, per byte of it, the byte range of the original text it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aligned {
    pub text: String,
    pub align: Vec<(usize, usize)>,
    /// Where the segment this text was made from starts in the original: a char inserted before
    /// everything (HF's `(0, 0)` of a segment) is aligned to `(base, base)`.
    base: usize,
}

impl Aligned {
    /// `segment`, which starts at byte `base` of the original text, aligned to itself.
    pub fn new(segment: &str, base: usize) -> Self {
        let mut align = Vec::with_capacity(segment.len());
        for (i, c) in segment.char_indices() {
            let span = (base + i, base + i + c.len_utf8());
            align.extend(std::iter::repeat_n(span, c.len_utf8()));
        }
        Aligned {
            text: segment.to_string(),
            align,
            base,
        }
    }

    /// The bytes `range` of the text, keeping their alignments.
    pub fn slice(&self, range: Range<usize>) -> Self {
        Aligned {
            text: self.text[range.clone()].to_string(),
            align: self.align[range].to_vec(),
            base: self.base,
        }
    }

    /// Replaces the chars of `range` by `dest`, HF's `transform_range`: each new char comes with
    /// `change`: 0 replaces the next old char (and takes its alignment), `n > 0` inserts (taking
    /// the alignment of the byte before), `-n` replaces the next old char and removes `n` more;
    /// `initial_offset` old chars are removed first.
    pub fn transform_range<I>(&mut self, range: Range<usize>, dest: I, initial_offset: usize)
    where
        I: IntoIterator<Item = (char, isize)>,
    {
        let mut old = self.text[range.clone()].chars();
        let mut offset = range.start + (&mut old).take(initial_offset).map(char::len_utf8).sum::<usize>();
        let mut text = String::with_capacity(range.len());
        let mut align = Vec::with_capacity(range.len());
        let fallback = (self.base, self.base);
        for (c, change) in dest {
            let span = if change > 0 {
                offset
                    .checked_sub(1)
                    .and_then(|i| self.align.get(i).copied())
                    .unwrap_or(fallback)
            } else {
                self.align.get(offset).copied().unwrap_or(fallback)
            };
            if change <= 0 {
                offset += old.next().map_or(0, char::len_utf8);
            }
            if change < 0 {
                offset += (&mut old)
                    .take(change.unsigned_abs())
                    .map(char::len_utf8)
                    .sum::<usize>();
            }
            align.extend(std::iter::repeat_n(span, c.len_utf8()));
            text.push(c);
        }
        self.align.splice(range.clone(), align);
        self.text.replace_range(range, &text);
    }

    /// [`Aligned::transform_range`] over the whole text.
    pub fn transform<I>(&mut self, dest: I, initial_offset: usize)
    where
        I: IntoIterator<Item = (char, isize)>,
    {
        self.transform_range(0..self.text.len(), dest, initial_offset);
    }

    /// Keeps the chars `keep` accepts (HF's `filter`: a removed char is charged to the kept char
    /// before it, or removed up front when none is).
    pub fn filter(&mut self, keep: impl Fn(char) -> bool) {
        let mut edits = Vec::with_capacity(self.text.len());
        let (mut removed, mut removed_first) = (0isize, 0usize);
        let mut last = None;
        for c in self.text.chars() {
            if keep(c) {
                match last {
                    Some(prev) => edits.push((prev, -removed)),
                    None => removed_first = removed as usize,
                }
                last = Some(c);
                removed = 0;
            } else {
                removed += 1;
            }
        }
        match last {
            Some(prev) => edits.push((prev, -removed)),
            None => removed_first = removed as usize,
        }
        self.transform(edits, removed_first);
    }

    /// Each char mapped to one char.
    pub fn map(&mut self, f: impl Fn(char) -> char) {
        let edits: Vec<(char, isize)> = self.text.chars().map(|c| (f(c), 0)).collect();
        self.transform(edits, 0);
    }

    /// `s` put before a non-empty text (HF's `prepend`: the new chars take the first char's
    /// alignment).
    pub fn prepend(&mut self, s: &str) {
        let Some(first) = self.text.chars().next() else {
            return;
        };
        let edits: Vec<(char, isize)> = s
            .chars()
            .enumerate()
            .map(|(i, c)| (c, isize::from(i != 0)))
            .chain(std::iter::once((first, 1)))
            .collect();
        self.transform_range(0..first.len_utf8(), edits, 0);
    }

    /// Each of `matches` (ordered, non-overlapping byte ranges) replaced by `content` (HF's
    /// `replace`: the new chars take the alignment of the last byte of what they replace).
    pub fn replace_ranges(&mut self, matches: impl IntoIterator<Item = Range<usize>>, content: &str) {
        let mut text = String::with_capacity(self.text.len());
        let mut align = Vec::with_capacity(self.align.len());
        let mut last = 0;
        for m in matches {
            text.push_str(&self.text[last..m.start]);
            align.extend_from_slice(&self.align[last..m.start]);
            let span = m
                .end
                .checked_sub(1)
                .and_then(|i| self.align.get(i).copied())
                .unwrap_or((self.base, self.base));
            for c in content.chars() {
                text.push(c);
                align.extend(std::iter::repeat_n(span, c.len_utf8()));
            }
            last = m.end;
        }
        text.push_str(&self.text[last..]);
        align.extend_from_slice(&self.align[last..]);
        self.text = text;
        self.align = align;
    }

    /// Whitespace stripped on the left and/or right (HF's `lrstrip`, including its use of the
    /// byte length where the char count is meant: the char charged with the removed trailing
    /// spaces is found by a byte index, which only matters for the alignment of non-ASCII text).
    pub fn strip(&mut self, left: bool, right: bool) {
        let leading = if left {
            self.text.chars().take_while(|c| c.is_whitespace()).count()
        } else {
            0
        };
        let trailing = if right {
            self.text.chars().rev().take_while(|c| c.is_whitespace()).count()
        } else {
            0
        };
        if leading == 0 && trailing == 0 {
            return;
        }
        let count = self.text.chars().count();
        let charged = self.text.len().wrapping_sub(trailing).wrapping_sub(1);
        let edits: Vec<(char, isize)> = self
            .text
            .chars()
            .enumerate()
            .filter_map(|(i, c)| {
                if i < leading || i >= count - trailing {
                    None
                } else if i == charged {
                    Some((c, -(trailing as isize)))
                } else {
                    Some((c, 0))
                }
            })
            .collect();
        self.transform(edits, leading);
    }
}

/// The original byte range of the normalized bytes `s..e` of a piece whose bytes have the
/// alignments `align` (HF's `convert_offsets` followed by the shift into the whole text): an
/// empty range is shifted by where the piece starts, a range past the piece is returned as it is
/// (as HF does).
pub fn original_span(align: &[(usize, usize)], s: usize, e: usize) -> (usize, usize) {
    if s == e {
        let start = align.first().map_or(0, |a| a.0);
        return (start + s, start + e);
    }
    match (align.get(s), e.checked_sub(1).and_then(|i| align.get(i))) {
        (Some(first), Some(last)) if s < e => (first.0, last.1),
        _ => (s, e),
    }
}

/// Byte offsets into a text as char offsets, as HF's `BytesToCharOffsetConverter`.
pub struct CharIndex {
    /// Char index of every byte (the char holding it), plus the char count at the end.
    chars_at: Vec<usize>,
    /// Byte position of every char start, plus the text length.
    bytes_at: Vec<usize>,
}

impl CharIndex {
    pub fn new(text: &str) -> Self {
        let mut chars_at = Vec::with_capacity(text.len() + 1);
        let mut bytes_at = Vec::with_capacity(text.len() + 1);
        for (i, (b, c)) in text.char_indices().enumerate() {
            chars_at.extend(std::iter::repeat_n(i, c.len_utf8()));
            bytes_at.push(b);
        }
        chars_at.push(bytes_at.len());
        bytes_at.push(text.len());
        CharIndex { chars_at, bytes_at }
    }

    fn char_of_byte(&self, b: usize) -> Option<usize> {
        // The end position is not a byte of the text: HF's map has no entry for it.
        (b + 1 < self.chars_at.len()).then(|| self.chars_at[b])
    }

    /// HF's conversion: both ends looked up as bytes; an end past the last byte is one past
    /// the char of the byte before it; a start that is no byte leaves the offsets as they are.
    pub fn to_chars(&self, (s, e): (usize, usize)) -> (usize, usize) {
        match (self.char_of_byte(s), self.char_of_byte(e)) {
            (Some(start), Some(end)) => (start, end),
            (Some(start), None) => {
                let last = e.checked_sub(1).and_then(|b| self.char_of_byte(b));
                (start, last.map_or(start + 1, |l| l + 1))
            }
            _ => (s, e),
        }
    }

    /// The byte position of char `c` (clamped to the text).
    pub fn to_byte(&self, c: usize) -> usize {
        self.bytes_at[c.min(self.bytes_at.len() - 1)]
    }
}

/// HF's `ByteLevel` (and `RobertaProcessing`) post-processing with `trim_offsets`: offsets stop
/// at the token's leading and trailing spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrimOffsets {
    /// A single leading space of the first token is kept: the pre-tokenizer added it.
    pub add_prefix_space: bool,
}

impl TrimOffsets {
    /// `offsets` (char offsets) of token `index`, whose text has `leading` / `trailing` space
    /// chars, trimmed.
    pub fn apply(
        &self,
        index: usize,
        offsets: (usize, usize),
        leading: usize,
        trailing: usize,
    ) -> (usize, usize) {
        let (mut s, mut e) = offsets;
        let mut leading = leading;
        if leading > 0 {
            let first = index == 0 || s == 0;
            if first && self.add_prefix_space && leading == 1 {
                leading = 0;
            }
            s = (s + leading).min(e);
        }
        if trailing > 0 && e >= trailing {
            e = (e - trailing).max(s);
        }
        (s, e)
    }
}

/// Ids with the char and byte offsets of each token in the original text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    pub ids: Vec<u32>,
    /// `(start, end)` char offsets (HF's `offsets` of `encode` in Python).
    pub offsets: Vec<(usize, usize)>,
    /// The same spans as UTF-8 byte offsets.
    pub byte_offsets: Vec<(usize, usize)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(a: &Aligned) -> Vec<(usize, usize)> {
        a.text.char_indices().map(|(i, _)| a.align[i]).collect()
    }

    #[test]
    fn prepend_replace_and_filter_follow_hf() {
        let mut a = Aligned::new("a b", 10);
        a.replace_ranges(std::iter::once(1..2), "▁");
        a.prepend("▁");
        assert_eq!(a.text, "▁a▁b");
        assert_eq!(spans(&a), [(10, 11), (10, 11), (11, 12), (12, 13)]);
        let mut f = Aligned::new("xaxbx", 0);
        f.filter(|c| c != 'x');
        assert_eq!((f.text.as_str(), spans(&f)), ("ab", vec![(1, 2), (3, 4)]));
        assert_eq!(original_span(&f.align, 0, 2), (1, 4));
        assert_eq!(original_span(&f.align, 1, 1), (2, 2));
        assert_eq!(original_span(&f.align, 1, 9), (1, 9));
        let mut s = Aligned::new("  ab  ", 0);
        s.strip(true, true);
        assert_eq!((s.text.as_str(), spans(&s)), ("ab", vec![(2, 3), (3, 4)]));
        let mut all = Aligned::new("   ", 0);
        all.strip(true, true);
        assert!(all.text.is_empty() && all.align.is_empty());
    }

    #[test]
    fn char_index_converts_like_hf() {
        let idx = CharIndex::new("aé€");
        assert_eq!(idx.to_chars((1, 3)), (1, 2));
        assert_eq!(idx.to_chars((3, 6)), (2, 3));
        assert_eq!(idx.to_chars((6, 6)), (6, 6), "a start past the text stays");
        assert_eq!(idx.to_byte(2), 3);
        assert_eq!(idx.to_byte(9), 6);
        let trim = TrimOffsets {
            add_prefix_space: true,
        };
        assert_eq!(trim.apply(0, (0, 3), 1, 0), (0, 3));
        assert_eq!(trim.apply(2, (4, 7), 1, 1), (5, 6));
    }
}
