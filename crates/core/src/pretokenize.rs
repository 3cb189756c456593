//! Pre-tokenization: cutting text into pieces that BPE merges never cross.
//!
//! A pre-tokenizer is a list of steps, each applied to every piece the previous step produced
//! (HF's `Sequence`). A single regex step — every tiktoken vocabulary and most HF byte-level
//! models — streams matches straight to the caller without building intermediate vectors.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::offsets::Aligned;
use crate::presets::Preset;
use crate::pretokenize_scripts::{script, Script};
use crate::split_regex::SplitRegex as Regex;

/// What happens to the matched delimiters of a split (HF's `SplitDelimiterBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitBehavior {
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

impl SplitBehavior {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().as_str() {
            "removed" => Self::Removed,
            "isolated" => Self::Isolated,
            "mergedwithprevious" | "merged_with_previous" => Self::MergedWithPrevious,
            "mergedwithnext" | "merged_with_next" => Self::MergedWithNext,
            "contiguous" => Self::Contiguous,
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown split behavior {other:?}"
                )))
            }
        })
    }
}

#[derive(Debug, Clone)]
pub enum Step {
    /// Split by a regex.
    Regex {
        regex: Regex,
        behavior: SplitBehavior,
        invert: bool,
    },
    /// HF `ByteLevel` pre-tokenizer: optionally prepend a space to each piece that does not start
    /// with one, then optionally split with the GPT-2 pattern.
    ByteLevel {
        add_prefix_space: bool,
        regex: Option<Regex>,
    },
    /// HF `Digits`: isolate each numeric char, or runs of them.
    Digits { individual: bool },
    /// A preset pattern split by its hand-written scanner (same pieces as `Regex` with that
    /// pattern, `Isolated`, not inverted).
    Preset(Preset),
    /// HF `Metaspace`: spaces become `replacement`, which is prepended (always, only to a piece
    /// at the start of the text, or never) unless the piece starts with it; `split` cuts before
    /// each replacement char.
    Metaspace {
        replacement: char,
        prepend: PrependScheme,
        split: bool,
    },
    /// HF `Whitespace`: runs of word chars and runs of other non-space chars (`\w+|[^\w\s]+`).
    Whitespace(Regex),
    /// HF `WhitespaceSplit`: split on `char::is_whitespace`, removing it.
    WhitespaceSplit,
    /// HF `BertPreTokenizer`: split on whitespace (removed), then isolate each punctuation char.
    Bert,
    /// HF `Punctuation`: ASCII or Unicode punctuation chars as delimiters.
    Punctuation(SplitBehavior),
    /// HF `CharDelimiterSplit`: split on one char, removing it.
    CharDelimiter(char),
    /// HF `UnicodeScripts`: cut where the Unicode script changes (see [`script_ranges`]).
    UnicodeScripts,
}

/// When HF's `Metaspace` prepends its replacement char.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrependScheme {
    Always,
    First,
    Never,
}

/// HF's punctuation test (`BertPreTokenizer`, `Punctuation`).
fn is_punctuation(c: char) -> bool {
    use unicode_categories::UnicodeCategories;
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The GPT-2 pattern as HF's `ByteLevel` pre-tokenizer spells it.
pub const HF_BYTE_LEVEL_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// A split pattern, on a linear-time engine whenever its constructs allow (see `split_regex`).
pub fn compile(pattern: &str) -> Result<Regex> {
    Regex::new(pattern)
}

impl Step {
    /// A regex split; a preset pattern used as an isolated split gets its hand-written scanner.
    pub fn regex(pattern: &str, behavior: SplitBehavior, invert: bool) -> Result<Self> {
        if behavior == SplitBehavior::Isolated && !invert {
            if let Some(preset) = Preset::from_pattern(pattern) {
                crate::charclass::warm_up();
                return Ok(Step::Preset(preset));
            }
        }
        Self::regex_only(pattern, behavior, invert)
    }

    /// A regex split that always runs the regex engine (for differential tests of the scanners).
    pub fn regex_only(pattern: &str, behavior: SplitBehavior, invert: bool) -> Result<Self> {
        Ok(Step::Regex {
            regex: compile(pattern)?,
            behavior,
            invert,
        })
    }

    pub fn byte_level(add_prefix_space: bool, use_regex: bool) -> Result<Self> {
        let regex = if use_regex {
            Some(compile(HF_BYTE_LEVEL_PATTERN)?)
        } else {
            None
        };
        Ok(Step::ByteLevel {
            add_prefix_space,
            regex,
        })
    }

    fn is_noop(&self) -> bool {
        matches!(
            self,
            Step::ByteLevel {
                add_prefix_space: false,
                regex: None
            }
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct PreTokenizer {
    steps: Vec<Step>,
}

/// Byte ranges `(start, end, is_delimiter)` of a split, before the behavior is applied.
fn regex_spans(regex: &Regex, text: &str) -> Result<Vec<(usize, usize, bool)>> {
    let mut spans = Vec::new();
    let mut last = 0;
    regex.for_each_match(text, &mut |start, end| {
        if start == end {
            return;
        }
        if start > last {
            spans.push((last, start, false));
        }
        spans.push((start, end, true));
        last = end;
    })?;
    if last < text.len() {
        spans.push((last, text.len(), false));
    }
    Ok(spans)
}

/// Spans like a regex match per char satisfying `pred`: each such char is its own delimiter span,
/// runs of other chars are one gap span.
fn char_spans(text: &str, pred: impl Fn(char) -> bool) -> Vec<(usize, usize, bool)> {
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let is = pred(c);
        match spans.last_mut() {
            Some(last) if !is && !last.2 => last.1 = end,
            _ => spans.push((i, end, is)),
        }
    }
    spans
}

/// Applies HF's delimiter behavior to spans covering a text in order. Consecutive delimiters are
/// not merged into each other except by `Contiguous` ("a--b" with MergedWithNext gives
/// "a", "-", "-b"), as in HF.
fn apply_behavior(
    spans: Vec<(usize, usize, bool)>,
    behavior: SplitBehavior,
    invert: bool,
) -> Vec<(usize, usize)> {
    let spans = spans.into_iter().map(|(s, e, m)| (s, e, m != invert));
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut prev_delim = false;
    match behavior {
        SplitBehavior::Isolated => out.extend(spans.map(|(s, e, _)| (s, e))),
        SplitBehavior::Removed => out.extend(spans.filter(|t| !t.2).map(|(s, e, _)| (s, e))),
        SplitBehavior::MergedWithPrevious => {
            for (s, e, delim) in spans {
                match out.last_mut() {
                    Some(last) if delim && !prev_delim => last.1 = e,
                    _ => out.push((s, e)),
                }
                prev_delim = delim;
            }
        }
        SplitBehavior::MergedWithNext => {
            let spans: Vec<_> = spans.collect();
            for &(s, e, delim) in spans.iter().rev() {
                match out.last_mut() {
                    Some(last) if delim && !prev_delim => last.0 = s,
                    _ => out.push((s, e)),
                }
                prev_delim = delim;
            }
            out.reverse();
        }
        SplitBehavior::Contiguous => {
            for (s, e, delim) in spans {
                match out.last_mut() {
                    Some(last) if delim == prev_delim => last.1 = e,
                    _ => out.push((s, e)),
                }
                prev_delim = delim;
            }
        }
    }
    out
}

impl PreTokenizer {
    pub fn new(steps: Vec<Step>) -> Self {
        PreTokenizer {
            steps: steps.into_iter().filter(|s| !s.is_noop()).collect(),
        }
    }

    /// Whether a `Metaspace` step prepends only at the start of the text.
    pub fn prepends_first(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                Step::Metaspace {
                    prepend: PrependScheme::First,
                    ..
                }
            )
        })
    }

    pub fn single_regex(pattern: &str) -> Result<Self> {
        Ok(Self::new(vec![Step::regex(
            pattern,
            SplitBehavior::Isolated,
            false,
        )?]))
    }

    /// Calls `f` on each piece of `text`, in order.
    pub fn for_each_piece(&self, text: &str, f: impl FnMut(&str)) -> Result<()> {
        self.for_each_piece_at(text, true, f)
    }

    /// As [`PreTokenizer::for_each_piece`]; `at_start` says whether `text` begins the original
    /// text (HF `Metaspace`'s `prepend_scheme: first` prepends only there).
    ///
    /// Generic over `f` (not `&mut dyn FnMut`) so that a preset's scanner loop and the caller's
    /// per-piece work (the piece cache probe) compile into one loop; see [`Preset::split`].
    pub fn for_each_piece_at<F: FnMut(&str)>(&self, text: &str, at_start: bool, mut f: F) -> Result<()> {
        match self.steps.as_slice() {
            [] => {
                if !text.is_empty() {
                    f(text)
                }
                Ok(())
            }
            [Step::Preset(preset)] => {
                preset.split(text, &mut f);
                Ok(())
            }
            [Step::Regex {
                regex,
                behavior: SplitBehavior::Isolated,
                invert: false,
            }] => {
                let mut last = 0;
                regex.for_each_match(text, &mut |start, end| {
                    if start > last {
                        f(&text[last..start]);
                    }
                    if end > start {
                        f(&text[start..end]);
                    }
                    last = end;
                })?;
                if last < text.len() {
                    f(&text[last..]);
                }
                Ok(())
            }
            steps => {
                for (p, _) in &run_steps(steps, Cow::Borrowed(text), at_start)? {
                    if !p.is_empty() {
                        f(p);
                    }
                }
                Ok(())
            }
        }
    }

    /// [`PreTokenizer::for_each_piece_at`] on an aligned text: `f` gets each piece with the
    /// alignments of its bytes (the offsets path).
    pub fn for_each_piece_aligned(
        &self,
        text: Aligned,
        at_start: bool,
        f: &mut AlignedSink<'_>,
    ) -> Result<()> {
        let single_pass = matches!(
            self.steps.as_slice(),
            [] | [Step::Preset(_)]
                | [Step::Regex {
                    behavior: SplitBehavior::Isolated,
                    invert: false,
                    ..
                }]
        );
        if single_pass {
            // These steps hand out slices of the text itself.
            let base = text.text.as_ptr() as usize;
            return self.for_each_piece_at(&text.text, at_start, |p: &str| {
                let start = p.as_ptr() as usize - base;
                f(p, &text.align[start..start + p.len()]);
            });
        }
        for (p, _) in &run_steps(&self.steps, text, at_start)? {
            if !p.text.is_empty() {
                f(&p.text, &p.align);
            }
        }
        Ok(())
    }
}

/// Every step applied to every piece the previous step produced, each piece with whether it
/// starts the original text.
fn run_steps<P: Piece>(steps: &[Step], text: P, at_start: bool) -> Result<Pieces<P>> {
    let mut pieces = vec![(text, at_start)];
    for step in steps {
        let mut next = Vec::with_capacity(pieces.len());
        for (piece, first) in pieces {
            apply_step(step, piece, first, &mut next)?;
        }
        pieces = next;
    }
    Ok(pieces)
}

/// What the pre-tokenizer steps cut and edit: a plain piece (`Cow`, the encode path) or a piece
/// that knows where its bytes come from ([`Aligned`], the offsets path). One implementation of
/// the steps serves both.
trait Piece: Sized {
    fn text(&self) -> &str;
    /// The bytes `start..end` (char boundaries).
    fn sub(&self, start: usize, end: usize) -> Self;
    /// HF `ByteLevel`'s `add_prefix_space`: a space before a piece that does not start with one.
    fn prefix_space(self) -> Self;
    /// HF `Metaspace`: spaces become `replacement`, which is prepended (when `prepend`) unless
    /// the piece starts with it.
    fn metaspace(self, replacement: char, prepend: bool) -> Self;
}

impl<'a> Piece for Cow<'a, str> {
    fn text(&self) -> &str {
        self
    }

    // A borrowed piece yields borrowed sub-pieces (no copy), an owned one owned.
    fn sub(&self, start: usize, end: usize) -> Self {
        match self {
            Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
            Cow::Owned(o) => Cow::Owned(o[start..end].to_string()),
        }
    }

    fn prefix_space(self) -> Self {
        if self.starts_with(' ') {
            self
        } else {
            Cow::Owned(format!(" {self}"))
        }
    }

    fn metaspace(self, replacement: char, prepend: bool) -> Self {
        let mut text = String::with_capacity(self.len() + 3);
        if prepend && !self.starts_with(' ') && !self.starts_with(replacement) {
            text.push(replacement);
        }
        for c in self.chars() {
            text.push(if c == ' ' { replacement } else { c });
        }
        Cow::Owned(text)
    }
}

impl Piece for Aligned {
    fn text(&self) -> &str {
        &self.text
    }

    fn sub(&self, start: usize, end: usize) -> Self {
        self.slice(start..end)
    }

    fn prefix_space(mut self) -> Self {
        if !self.text.starts_with(' ') {
            self.prepend(" ");
        }
        self
    }

    // HF's order: replace the spaces, then prepend.
    fn metaspace(mut self, replacement: char, prepend: bool) -> Self {
        let spaces: Vec<_> = self.text.match_indices(' ').map(|(i, _)| i..i + 1).collect();
        let mut buf = [0u8; 4];
        self.replace_ranges(spaces, replacement.encode_utf8(&mut buf));
        if prepend && !self.text.starts_with(replacement) {
            self.prepend(replacement.encode_utf8(&mut buf));
        }
        self
    }
}

type Pieces<P> = Vec<(P, bool)>;

/// Receives a piece and the alignments of its bytes.
pub type AlignedSink<'a> = dyn FnMut(&str, &[(usize, usize)]) + 'a;

fn push_ranges<P: Piece>(piece: &P, first: bool, ranges: Vec<(usize, usize)>, out: &mut Pieces<P>) {
    for (s, e) in ranges {
        if s == e {
            continue;
        }
        out.push((piece.sub(s, e), first && s == 0));
    }
}

fn apply_step<P: Piece>(step: &Step, piece: P, first: bool, out: &mut Pieces<P>) -> Result<()> {
    match step {
        Step::Regex {
            regex,
            behavior,
            invert,
        } => {
            let ranges = apply_behavior(regex_spans(regex, piece.text())?, *behavior, *invert);
            push_ranges(&piece, first, ranges, out);
        }
        Step::ByteLevel {
            add_prefix_space,
            regex,
        } => {
            let piece = if *add_prefix_space {
                piece.prefix_space()
            } else {
                piece
            };
            match regex {
                Some(regex) => {
                    let ranges =
                        apply_behavior(regex_spans(regex, piece.text())?, SplitBehavior::Isolated, false);
                    push_ranges(&piece, first, ranges, out);
                }
                None => out.push((piece, first)),
            }
        }
        Step::Preset(preset) => {
            let mut at = first;
            let base = piece.text().as_ptr() as usize;
            let mut ranges = Vec::new();
            preset.split(piece.text(), |p| {
                let start = p.as_ptr() as usize - base;
                ranges.push((start, start + p.len()));
            });
            for (s, e) in ranges {
                out.push((piece.sub(s, e), std::mem::take(&mut at)));
            }
        }
        Step::Digits { individual } => {
            let behavior = if *individual {
                SplitBehavior::Isolated
            } else {
                SplitBehavior::Contiguous
            };
            let ranges = apply_behavior(char_spans(piece.text(), char::is_numeric), behavior, false);
            push_ranges(&piece, first, ranges, out);
        }
        Step::Metaspace {
            replacement,
            prepend,
            split,
        } => {
            let prepended = match prepend {
                PrependScheme::Always => true,
                PrependScheme::First => first,
                PrependScheme::Never => false,
            };
            let text = piece.metaspace(*replacement, prepended);
            if *split {
                let r = *replacement;
                let ranges = apply_behavior(
                    char_spans(text.text(), |c| c == r),
                    SplitBehavior::MergedWithNext,
                    false,
                );
                push_ranges(&text, first, ranges, out);
            } else {
                out.push((text, first));
            }
        }
        Step::Whitespace(regex) => {
            let ranges = apply_behavior(regex_spans(regex, piece.text())?, SplitBehavior::Removed, true);
            push_ranges(&piece, first, ranges, out);
        }
        Step::WhitespaceSplit => {
            let ranges = apply_behavior(
                char_spans(piece.text(), char::is_whitespace),
                SplitBehavior::Removed,
                false,
            );
            push_ranges(&piece, first, ranges, out);
        }
        Step::Bert => {
            let ranges = apply_behavior(
                char_spans(piece.text(), char::is_whitespace),
                SplitBehavior::Removed,
                false,
            );
            let mut words = Vec::with_capacity(ranges.len());
            push_ranges(&piece, first, ranges, &mut words);
            for (word, first) in words {
                let ranges = apply_behavior(
                    char_spans(word.text(), is_punctuation),
                    SplitBehavior::Isolated,
                    false,
                );
                push_ranges(&word, first, ranges, out);
            }
        }
        Step::Punctuation(behavior) => {
            let ranges = apply_behavior(char_spans(piece.text(), is_punctuation), *behavior, false);
            push_ranges(&piece, first, ranges, out);
        }
        Step::UnicodeScripts => {
            let ranges = script_ranges(piece.text());
            push_ranges(&piece, first, ranges, out);
        }
        Step::CharDelimiter(delimiter) => {
            let d = *delimiter;
            let ranges = apply_behavior(
                char_spans(piece.text(), |c| c == d),
                SplitBehavior::Removed,
                false,
            );
            push_ranges(&piece, first, ranges, out);
        }
    }
    Ok(())
}

/// The script HF's `UnicodeScripts` compares: hiragana, katakana and the prolonged sound mark
/// (U+30FC, Common in Unicode) count as Han, so Japanese text stays one piece; the space and chars
/// unassigned in Unicode 9.0 have none (they never cut and join the piece before them).
fn split_script(c: char) -> Option<Script> {
    match c {
        ' ' => None,
        '\u{30FC}' => Some(Script::Han),
        _ => match script(c)? {
            Script::Hiragana | Script::Katakana => Some(Script::Han),
            s => Some(s),
        },
    }
}

/// HF's `UnicodeScripts` pieces: a cut before each char whose script differs from the last
/// script seen. As in HF, the text before the first char with a script (leading spaces) is
/// dropped, so a text of spaces gives no piece.
fn script_ranges(text: &str) -> Vec<(usize, usize)> {
    let mut cuts = Vec::new();
    let mut last = None;
    for (i, c) in text.char_indices() {
        if let Some(s) = split_script(c) {
            if last != Some(s) {
                cuts.push(i);
                last = Some(s);
            }
        }
    }
    cuts.push(text.len());
    cuts.windows(2).map(|w| (w[0], w[1])).collect()
}

/// HF's `Whitespace` pattern.
pub const WHITESPACE_PATTERN: &str = r"\w+|[^\w\s]+";

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(p: &PreTokenizer, text: &str) -> Vec<String> {
        let mut v = Vec::new();
        p.for_each_piece(text, |s: &str| v.push(s.to_string())).unwrap();
        v
    }

    #[test]
    fn single_regex_keeps_gaps() {
        let p = PreTokenizer::single_regex(r"\d+").unwrap();
        assert_eq!(pieces(&p, "ab12cd3"), ["ab", "12", "cd", "3"]);
    }

    #[test]
    fn behaviors() {
        let spans = vec![(0, 1, false), (1, 2, true), (2, 3, true), (3, 4, false)];
        let b = |beh, inv| apply_behavior(spans.clone(), beh, inv);
        assert_eq!(
            b(SplitBehavior::Isolated, false),
            [(0, 1), (1, 2), (2, 3), (3, 4)]
        );
        assert_eq!(b(SplitBehavior::Removed, false), [(0, 1), (3, 4)]);
        assert_eq!(
            b(SplitBehavior::MergedWithPrevious, false),
            [(0, 2), (2, 3), (3, 4)]
        );
        assert_eq!(b(SplitBehavior::MergedWithNext, false), [(0, 1), (1, 2), (2, 4)]);
        assert_eq!(b(SplitBehavior::Contiguous, false), [(0, 1), (1, 3), (3, 4)]);
        assert_eq!(b(SplitBehavior::Removed, true), [(1, 2), (2, 3)]);
    }

    #[test]
    fn byte_level_prefix_space_and_digits() {
        let p = PreTokenizer::new(vec![
            Step::Digits { individual: true },
            Step::byte_level(true, true).unwrap(),
        ]);
        assert_eq!(pieces(&p, "ab 12"), [" ab", " ", " 1", " 2"]);
    }

    #[test]
    fn unicode_scripts_cut_where_the_script_changes() {
        let p = PreTokenizer::new(vec![Step::UnicodeScripts]);
        // Digits and punctuation are Common: a script of their own.
        assert_eq!(pieces(&p, "abc1.2 def"), ["abc", "1.2 ", "def"]);
        // A space has no script: it stays with the piece before it, even across scripts.
        assert_eq!(pieces(&p, "αβ abc"), ["αβ ", "abc"]);
        assert_eq!(pieces(&p, "ab cd"), ["ab cd"]);
        // Hiragana, katakana and ー join Han.
        assert_eq!(
            pieces(&p, "Hello世界ひらがなカタカナー!"),
            ["Hello", "世界ひらがなカタカナー", "!"]
        );
        assert_eq!(pieces(&p, "ーa"), ["ー", "a"]);
        // Combining marks are Inherited, not the script of their base.
        assert_eq!(pieces(&p, "a\u{300}b"), ["a", "\u{300}", "b"]);
        // Unassigned in Unicode 9.0 (Nushu is 10.0): no script, no cut.
        assert_eq!(pieces(&p, "a\u{1B170}b\u{E0000}"), ["a\u{1B170}b\u{E0000}"]);
        // Unicode 9.0 values, not today's: U+0589 was Common, U+0953 Devanagari.
        assert_eq!(pieces(&p, "Ա\u{589}"), ["Ա", "\u{589}"]);
        assert_eq!(pieces(&p, "क\u{953}"), ["क\u{953}"]);
        // Nothing with a script: nothing at all (as in HF).
        assert!(pieces(&p, "\u{10FFFF}").is_empty());
    }

    #[test]
    fn unicode_scripts_drop_leading_spaces_as_hf() {
        let p = PreTokenizer::new(vec![Step::UnicodeScripts]);
        assert_eq!(pieces(&p, "  abc "), ["abc "]);
        assert!(pieces(&p, "   ").is_empty());
        assert!(pieces(&p, "").is_empty());
        // Other whitespace has a script (Common), only U+0020 is skipped.
        assert_eq!(pieces(&p, "\tabc"), ["\t", "abc"]);
    }

    #[test]
    fn bad_pattern_is_an_error() {
        assert!(matches!(
            PreTokenizer::single_regex("(unclosed"),
            Err(Error::InvalidPattern(_))
        ));
    }
}
