//! Hand-written pre-tokenizers for the preset patterns (the encoding presets and SuperBPE's two
//! training stages): each splits text exactly like its regex, without a regex engine. The regex
//! step dominates encode time (fancy-regex needs its backtracking VM for `\s+(?!\S)`), so this is
//! where most of the speed comes from.
//!
//! Each scanner returns the end of the piece that starts at a byte position, trying the pattern's
//! alternatives in order with the same greedy/possessive/backtracking outcome as the regex. The
//! reasoning for each alternative is written beside it. Differential tests run every scanner
//! against the regex on the whole parity corpus and on arbitrary Unicode (hypothesis), and a Rust
//! unit test does the same on generated strings.

use crate::charclass::{class_of, LETTER, LOWERISH, NUMBER, SPACE, UPPERISH};

/// tiktoken's `r50k_base`/`p50k_base` pattern.
pub const GPT2: &str = r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s";
/// tiktoken's `cl100k_base` pattern.
pub const CL100K: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";
/// tiktoken's `o200k_base` pattern.
pub const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);
/// Llama-3's pattern.
pub const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's pattern (Llama-3's with single digits).
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// SuperBPE's stage-1 (subword) pattern: o200k without the contraction suffixes.
pub const SUPERBPE_STAGE1: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);
/// SuperBPE's stage-2 (superword) pattern: only digit groups, runs of two or more punctuation
/// marks and trailing space runs are cut out; the text between matches stays whole.
pub const SUPERWORD: &str = r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Gpt2,
    Cl100k,
    O200k,
    Llama3,
    Qwen2,
    SuperbpeStage1,
    Superword,
}

impl Preset {
    pub const ALL: [(Preset, &'static str, &'static str); 7] = [
        (Preset::Gpt2, "gpt2", GPT2),
        (Preset::Cl100k, "cl100k", CL100K),
        (Preset::O200k, "o200k", O200K),
        (Preset::Llama3, "llama3", LLAMA3),
        (Preset::Qwen2, "qwen2", QWEN2),
        (Preset::SuperbpeStage1, "superbpe_stage1", SUPERBPE_STAGE1),
        (Preset::Superword, "superword", SUPERWORD),
    ];

    /// The preset whose pattern is exactly `pattern`.
    pub fn from_pattern(pattern: &str) -> Option<Preset> {
        Self::ALL
            .iter()
            .find(|(_, _, p)| *p == pattern)
            .map(|(preset, _, _)| *preset)
    }

    /// Calls `f` on each piece of `text`, in order.
    ///
    /// One loop per preset, each with its scanner's arguments as constants, so the scanner and
    /// `f` (the piece cache, see `Tokenizer::visit`) inline into it: a `match` on the preset per
    /// piece and `f` behind `&mut dyn FnMut` cost two indirect calls per piece. With the piece
    /// cache generic over its sink too, callgrind (`UNSEEN=1 encode_file`, both halves, encode
    /// calls inclusive): cl100k English 32.24M -> 29.28M instructions, code 30.12M -> 27.48M, UDHR
    /// CJK 11.41M -> 11.24M; o200k English 37.93M -> 35.00M, code 38.89M -> 36.18M, CJK 11.48M ->
    /// 11.34M.
    #[inline]
    pub fn split<'t>(self, text: &'t str, f: impl FnMut(&'t str)) {
        match self {
            Preset::Gpt2 => split_by(text, f, gpt2_next),
            Preset::Cl100k => split_by(text, f, |s, i| cl100k_next(s, i, 3, true)),
            Preset::O200k => split_by(text, f, |s, i| o200k_next(s, i, true)),
            Preset::SuperbpeStage1 => split_by(text, f, |s, i| o200k_next(s, i, false)),
            Preset::Llama3 => split_by(text, f, |s, i| cl100k_next(s, i, 3, false)),
            Preset::Qwen2 => split_by(text, f, |s, i| cl100k_next(s, i, 1, false)),
            Preset::Superword => superword_split(text, f),
        }
    }
}

/// Calls `f` on each piece of `text`, `next` giving the end of the piece at a position.
#[inline(always)]
fn split_by<'t>(text: &'t str, mut f: impl FnMut(&'t str), next: impl Fn(&str, usize) -> usize) {
    let mut i = 0;
    while i < text.len() {
        let end = next(text, i);
        debug_assert!(end > i);
        f(&text[i..end]);
        i = end;
    }
}

/// The char at byte `i` (a char boundary, `i < s.len()`) and its length.
#[inline(always)]
fn char_at(s: &str, i: usize) -> (char, usize) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        return (b as char, 1);
    }
    // Decoded from the bytes: `s` is valid UTF-8 and `i` a boundary, so the lead byte gives the
    // length and the continuation bytes follow. Slicing `s[i..]` and `chars().next()` re-checked
    // the boundary and cost ~70 instructions per CJK char in the o200k scanner, this ~15
    // (callgrind, UDHR CJK 103 KB: see `class_at`).
    let bytes = s.as_bytes();
    let tail = |k: usize| u32::from(bytes[i + k] & 0x3F);
    let (cp, l) = if b < 0xE0 {
        ((u32::from(b & 0x1F) << 6) | tail(1), 2)
    } else if b < 0xF0 {
        ((u32::from(b & 0x0F) << 12) | (tail(1) << 6) | tail(2), 3)
    } else {
        (
            (u32::from(b & 0x07) << 18) | (tail(1) << 12) | (tail(2) << 6) | tail(3),
            4,
        )
    };
    (char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER), l)
}

#[inline(always)]
fn class_at(s: &str, i: usize) -> (char, usize, u8) {
    let b = s.as_bytes()[i];
    if b < 0x80 {
        return (b as char, 1, ASCII[b as usize]);
    }
    let (c, l) = char_at(s, i);
    (c, l, class_of(c))
}

/// ASCII classes, spelled out (the BMP table would give the same; this avoids its lookup).
static ASCII: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_uppercase() {
            LETTER | UPPERISH
        } else if c.is_ascii_lowercase() {
            LETTER | LOWERISH
        } else if c.is_ascii_digit() {
            NUMBER
        } else if matches!(c, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ') {
            SPACE
        } else {
            0
        };
        b += 1;
    }
    t
};

#[inline(always)]
fn is_punct(k: u8) -> bool {
    k & (LETTER | NUMBER | SPACE) == 0
}

/// End of the run of chars whose class has any of `bits`, from `i`.
#[inline(always)]
fn run_end(s: &str, mut i: usize, bits: u8) -> usize {
    while i < s.len() {
        let (_, l, k) = class_at(s, i);
        if k & bits == 0 {
            break;
        }
        i += l;
    }
    i
}

/// End of the run of punctuation-like chars (`[^\s\p{L}\p{N}]`) from `i`.
#[inline(always)]
fn punct_end(s: &str, mut i: usize) -> usize {
    while i < s.len() {
        let (_, l, k) = class_at(s, i);
        if !is_punct(k) {
            break;
        }
        i += l;
    }
    i
}

/// A range of ASCII bytes, optionally case-folded, tested on eight bytes at once.
#[derive(Clone, Copy)]
struct AsciiRange {
    lo: u8,
    hi: u8,
    fold: bool,
}

impl AsciiRange {
    /// `[A-Za-z]`
    const LETTERS: AsciiRange = AsciiRange {
        lo: b'a',
        hi: b'z',
        fold: true,
    };
    /// `[A-Z]`
    const UPPER: AsciiRange = AsciiRange {
        lo: b'A',
        hi: b'Z',
        fold: false,
    };
    /// `[a-z]`
    const LOWER: AsciiRange = AsciiRange {
        lo: b'a',
        hi: b'z',
        fold: false,
    };

    #[inline(always)]
    fn contains(self, b: u8) -> bool {
        let b = if self.fold && b.is_ascii_alphabetic() {
            b | 0x20
        } else {
            b
        };
        (self.lo..=self.hi).contains(&b)
    }

    /// How many of the 8 bytes of `w` (little-endian, first byte lowest), from the first, are in
    /// the range. Per byte lane: `x + (0x80 - lo)` has its top bit set iff `x >= lo`, and
    /// `x + (0x7F - hi)` iff `x > hi`, for `x` below 0x80 (no carry crosses lanes); bytes with the
    /// top bit set (non-ASCII) never count. Folding sets bit 5, which maps exactly `A-Z` into
    /// `a-z` within the letter range (no other byte lands there).
    #[inline(always)]
    fn leading_count(self, w: u64) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const TOP: u64 = 0x8080_8080_8080_8080;
        let x = if self.fold { w | 0x2020_2020_2020_2020 } else { w } & !TOP;
        let at_least_lo = x + ONES * (0x80 - self.lo as u64);
        let above_hi = x + ONES * (0x7F - self.hi as u64);
        let inside = at_least_lo & !above_hi & !w & TOP;
        ((!inside & TOP).trailing_zeros() / 8) as usize
    }
}

/// End of the run of bytes in `range` from `i`, eight bytes at a time.
///
/// Performance note: English and code words are mostly ASCII letters. With this run, the
/// ASCII-word entry ([`ascii_word_start`]) and the scanners inlined into the split loop, the
/// whole encode went 33.24M -> 30.45M instructions on English and 29.18M -> 28.27M on code
/// (callgrind, `UNSEEN=1 encode_file`, cl100k, both halves of the unseen-text corpus, the
/// English scanner alone 11.7M -> 9.0M).
#[inline(always)]
fn ascii_run_end(b: &[u8], mut i: usize, range: AsciiRange) -> usize {
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let n = range.leading_count(w);
        i += n;
        if n < 8 {
            return i;
        }
    }
    while i < b.len() && range.contains(b[i]) {
        i += 1;
    }
    i
}

/// End of the letter run (`\p{L}++`) from the ASCII letter at `p`: eight ASCII bytes at a time,
/// then char by char where it goes on past ASCII.
#[inline(always)]
fn letters_end_from_ascii(s: &str, p: usize) -> usize {
    let e = ascii_run_end(s.as_bytes(), p + 1, AsciiRange::LETTERS);
    if e < s.len() && s.as_bytes()[e] >= 0x80 {
        run_end(s, e, LETTER)
    } else {
        e
    }
}

/// Where the letters start if the piece at `i` is an ASCII word: an ASCII letter at `i`, or at
/// `i + 1` after one ASCII char that may precede a word (`[^\r\n\p{L}\p{N}]`). The apostrophe
/// is left to the general path, which tries the contractions first.
#[inline(always)]
fn ascii_word_start(b: &[u8], i: usize) -> Option<usize> {
    let c = b[i];
    if c.is_ascii_alphabetic() {
        return Some(i);
    }
    (ASCII_WORD_PREFIX[c as usize] && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic)).then_some(i + 1)
}

/// ASCII chars of `[^\r\n\p{L}\p{N}]` other than the apostrophe (one lookup instead of five
/// tests, 0.9M of the English corpus's 31.5M instructions).
static ASCII_WORD_PREFIX: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        t[c] = !b.is_ascii_alphanumeric() && !matches!(b, b'\r' | b'\n' | b'\'');
        c += 1;
    }
    t
};

/// o200k's word alternatives when the letters at `p` (ASCII, see [`ascii_word_start`]) start
/// with ASCII: `None` when the upper-case run reaches a non-ASCII char, which the general path
/// then decides. `[A-Z]` is only in U and `[a-z]` only in W, so `U*W+` takes the upper run and
/// then the lower run (which may continue past ASCII) when one follows, and otherwise `U+W*`
/// takes just the upper run; the optional prefix char is taken either way.
#[inline(always)]
fn ascii_cased_word_end(s: &str, p: usize, suffix: bool) -> Option<usize> {
    let b = s.as_bytes();
    let a = ascii_run_end(b, p, AsciiRange::UPPER);
    match b.get(a) {
        Some(&c) if c >= 0x80 => None,
        Some(c) if c.is_ascii_lowercase() => {
            let e = ascii_run_end(b, a + 1, AsciiRange::LOWER);
            let e = if e < b.len() && b[e] >= 0x80 {
                run_end(s, e, LOWERISH)
            } else {
                e
            };
            Some(o200k_suffix(s, e, suffix))
        }
        _ => Some(o200k_suffix(s, a, suffix)),
    }
}

/// End of the run of bytes in `set` (all ASCII) from `i`.
#[inline(always)]
fn ascii_set_end(s: &str, mut i: usize, set: &[u8]) -> usize {
    let b = s.as_bytes();
    while i < b.len() && set.contains(&b[i]) {
        i += 1;
    }
    i
}

/// Up to `max` chars of `\p{N}` from `i` (at least one is there).
#[inline(always)]
fn digits_end(s: &str, mut i: usize, max: usize) -> usize {
    let mut n = 0;
    while i < s.len() && n < max {
        let (_, l, k) = class_at(s, i);
        if k & NUMBER == 0 {
            break;
        }
        i += l;
        n += 1;
    }
    i
}

/// Matches the contraction alternatives after an apostrophe at `i - 1`; returns the end.
/// `(?i:[sdmt]|ll|ve|re)` and `(?i:'s|'t|'re|'ve|'m|'ll|'d)` accept the same strings; under
/// Unicode case folding `s` also matches U+017F LATIN SMALL LETTER LONG S.
#[inline]
fn contraction_end(s: &str, i: usize, ignore_case: bool) -> Option<usize> {
    let b = s.as_bytes();
    let at = |k: usize| -> u8 {
        let c = b.get(i + k).copied().unwrap_or(0);
        if ignore_case {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    match at(0) {
        b's' | b'd' | b'm' | b't' => Some(i + 1),
        b'l' if at(1) == b'l' => Some(i + 2),
        b'v' if at(1) == b'e' => Some(i + 2),
        b'r' if at(1) == b'e' => Some(i + 2),
        0xC5 if ignore_case && b.get(i + 1) == Some(&0xBF) => Some(i + 2), // 'ſ'
        _ => None,
    }
}

/// The whitespace alternatives shared by the tiktoken-era patterns, at a whitespace char `i`.
/// `end_run_first`: cl100k/gpt2 try `\s++$` first (a trailing run is one piece); Llama-3, Qwen2
/// and o200k instead try `\s*[\r\n]+` first.
#[inline]
fn whitespace_end(s: &str, i: usize, first_len: usize, end_run_first: bool, crlf: bool) -> usize {
    let j = run_end(s, i, SPACE);
    if end_run_first && j == s.len() {
        return j; // \s++$
    }
    if crlf {
        // \s*[\r\n] / \s*[\r\n]+ : greedy \s* backs off to the last CR/LF of the run; the
        // following [\r\n]+ then has just that char (the run continues with no CR/LF after it).
        if let Some(p) = s.as_bytes()[i..j].iter().rposition(|&c| c == b'\r' || c == b'\n') {
            return i + p + 1;
        }
    }
    if j == s.len() {
        return j; // \s+(?!\S) at the end of text
    }
    // \s+(?!\S): the char at j is non-space, so the match stops one char short of it, which
    // needs a run of at least two chars; otherwise the single-char alternative applies.
    let last = s[i..j].chars().next_back().map_or(0, char::len_utf8);
    if j - last > i {
        j - last
    } else {
        i + first_len
    }
}

/// `'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s`
fn gpt2_next(s: &str, i: usize) -> usize {
    let b = s.as_bytes();
    // An ASCII letter, or a space and an ASCII letter: ` ?\p{L}++` takes the letter run, which
    // may go on past ASCII. The general path below finds the same end with a class lookup per
    // char; eight bytes at a time, callgrind of `UNSEEN=1 encode_file` (r50k, Brown English,
    // both halves) went 31.6M -> 28.6M instructions in the encode calls, 10.4M -> 7.4M in here.
    let word = if b[i].is_ascii_alphabetic() {
        Some(i)
    } else {
        (b[i] == b' ' && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic)).then_some(i + 1)
    };
    if let Some(p) = word {
        return letters_end_from_ascii(s, p);
    }
    let (c, l, k) = class_at(s, i);
    if c == '\'' {
        if let Some(e) = contraction_end(s, i + 1, false) {
            return e;
        }
    }
    // The optional space belongs to the following run of one class.
    let (start, k) = if c == ' ' && i + 1 < s.len() {
        (i + 1, class_at(s, i + 1).2)
    } else {
        (i, k)
    };
    if k & LETTER != 0 {
        return run_end(s, start, LETTER);
    }
    if k & NUMBER != 0 {
        return run_end(s, start, NUMBER);
    }
    if is_punct(k) {
        return punct_end(s, start);
    }
    whitespace_end(s, i, l, true, false)
}

/// cl100k (`digits` = 3, `trailing_run` = true):
/// `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s`
/// Llama-3 (3, false) and Qwen2 (1, false):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// The first four alternatives give the same pieces with or without possessive quantifiers: backing
/// off the optional char cannot make `\p{L}+` match a non-letter, and nothing follows the runs. The
/// patterns differ in digits per piece and in whether a trailing whitespace run is one piece.
///
/// Inlined into the split loop, as is [`o200k_next`]: as calls, saving and restoring registers
/// was 15 of the 72 instructions a piece. Callgrind of `UNSEEN=1 encode_file` (cost Ir + 10 L1 +
/// 60 LL misses + 15 mispredicts, unseen half): cl100k English 39.7M -> 37.9M, code 36.4M ->
/// 35.0M, UDHR 95.9M -> 93.6M; o200k English 46.2M -> 43.7M, code 45.0M -> 43.1M, UDHR
/// 108.9M -> 106.8M; CJK -0.5%.
#[inline(always)]
fn cl100k_next(s: &str, i: usize, digits: usize, trailing_run: bool) -> usize {
    if let Some(p) = ascii_word_start(s.as_bytes(), i) {
        // An ASCII letter, or one ASCII char of `[^\r\n\p{L}\p{N}']` and then an ASCII letter:
        // `[^\r\n\p{L}\p{N}]?+\p{L}++` takes the letter run (which may go on past ASCII).
        return letters_end_from_ascii(s, p);
    }
    let (c, l, k) = class_at(s, i);
    if c == '\'' {
        if let Some(e) = contraction_end(s, i + 1, true) {
            return e;
        }
    }
    if k & LETTER != 0 {
        return run_end(s, i + l, LETTER);
    }
    // One char that is not CR, LF, a letter or a number, then letters.
    if k & (LETTER | NUMBER) == 0 && c != '\r' && c != '\n' && i + l < s.len() {
        let (_, l2, k2) = class_at(s, i + l);
        if k2 & LETTER != 0 {
            return run_end(s, i + l + l2, LETTER);
        }
    }
    if k & NUMBER != 0 {
        return digits_end(s, i, digits);
    }
    if c == ' ' && i + 1 < s.len() && is_punct(class_at(s, i + 1).2) {
        return ascii_set_end(s, punct_end(s, i + 1), b"\r\n");
    }
    if is_punct(k) {
        return ascii_set_end(s, punct_end(s, i + l), b"\r\n");
    }
    whitespace_end(s, i, l, trailing_run, true)
}

/// o200k's optional contraction suffix `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `e` (when `suffix`;
/// SuperBPE's stage-1 pattern has none).
#[inline]
fn o200k_suffix(s: &str, e: usize, suffix: bool) -> usize {
    if suffix && s.as_bytes().get(e) == Some(&b'\'') {
        contraction_end(s, e + 1, true).unwrap_or(e)
    } else {
        e
    }
}

/// `U*W+` then the suffix, from `p` (U = UPPERISH, W = LOWERISH; they share Lm, Lo and M).
/// Greedy `U*` takes the whole U run; if `W+` cannot start after it, `U*` gives back chars one
/// at a time until a given-back char is also in W: `W+` then matches just that char (the chars
/// after it in the run are U-only, and the char after the run is not in W).
#[inline]
fn upper_then_lower(s: &str, p: usize, suffix: bool) -> Option<usize> {
    let mut a = p;
    let mut last_shared: Option<usize> = None; // end of the last run char that is also in W
    while a < s.len() {
        let (_, l, k) = class_at(s, a);
        if k & UPPERISH == 0 {
            break;
        }
        if k & LOWERISH != 0 {
            last_shared = Some(a + l);
        }
        a += l;
    }
    if a < s.len() && class_at(s, a).2 & LOWERISH != 0 {
        return Some(o200k_suffix(s, run_end(s, a, LOWERISH), suffix));
    }
    last_shared.map(|e| o200k_suffix(s, e, suffix))
}

/// `U+W*` then the suffix, from `p`: no backtracking can be needed (W* may be empty).
#[inline]
fn upper_plus(s: &str, p: usize, suffix: bool) -> Option<usize> {
    let a = run_end(s, p, UPPERISH);
    (a > p).then(|| o200k_suffix(s, run_end(s, a, LOWERISH), suffix))
}

/// o200k: two word alternatives (each first with the optional leading char, then without),
/// `\p{N}{1,3}`, ` ?[^\s\p{L}\p{N}]+[\r\n/]*`, then whitespace as Llama-3. `suffix`: the word
/// alternatives end with the contraction suffix (o200k) or not (SuperBPE stage 1).
#[inline(always)]
fn o200k_next(s: &str, i: usize, suffix: bool) -> usize {
    if let Some(p) = ascii_word_start(s.as_bytes(), i) {
        if let Some(e) = ascii_cased_word_end(s, p, suffix) {
            return e;
        }
    }
    let (c, l, k) = class_at(s, i);
    let prefix = k & (LETTER | NUMBER) == 0 && c != '\r' && c != '\n' && i + l < s.len();
    if k & (UPPERISH | LOWERISH) != 0 || prefix {
        if prefix {
            if let Some(e) = upper_then_lower(s, i + l, suffix) {
                return e;
            }
        }
        if let Some(e) = upper_then_lower(s, i, suffix) {
            return e;
        }
        if prefix {
            if let Some(e) = upper_plus(s, i + l, suffix) {
                return e;
            }
        }
        if let Some(e) = upper_plus(s, i, suffix) {
            return e;
        }
    }
    if k & NUMBER != 0 {
        return digits_end(s, i, 3);
    }
    if c == ' ' && i + 1 < s.len() && is_punct(class_at(s, i + 1).2) {
        return ascii_set_end(s, punct_end(s, i + 1), b"\r\n/");
    }
    if is_punct(k) {
        return ascii_set_end(s, punct_end(s, i + l), b"\r\n/");
    }
    whitespace_end(s, i, l, false, true)
}

/// The match of `\p{N}{1,3}| ?[^\s\p{L}\p{N}]{2,}[\r\n/]*| +(?!\S)` that starts at `i`, if any
/// (alternatives in order, as the regex tries them).
#[inline]
fn superword_match_at(s: &str, i: usize) -> Option<usize> {
    let (c, _, k) = class_at(s, i);
    if k & NUMBER != 0 {
        return Some(digits_end(s, i, 3));
    }
    // ` ?[^\s\p{L}\p{N}]{2,}[\r\n/]*`: the optional space is taken when present; backing it off
    // cannot help (the space itself is not punctuation). The punctuation run is greedy and
    // cannot end in `/` or CR/LF's place, so `[\r\n/]*` only adds the CR/LF that follow it.
    let p = if c == ' ' { i + 1 } else { i };
    if p < s.len() {
        let (_, l1, k1) = class_at(s, p);
        if is_punct(k1) && p + l1 < s.len() && is_punct(class_at(s, p + l1).2) {
            return Some(ascii_set_end(s, punct_end(s, p), b"\r\n/"));
        }
    }
    // ` +(?!\S)`: the whole run of spaces when the text ends or whitespace follows it, else the
    // run minus its last space (which then is the whitespace that follows), if that leaves one.
    if c == ' ' {
        let j = ascii_set_end(s, i, b" ");
        if j == s.len() || class_at(s, j).2 & SPACE != 0 {
            return Some(j);
        }
        if j - i >= 2 {
            return Some(j - 1);
        }
    }
    None
}

/// Splits like the superword regex: matches and the text between them, in order.
fn superword_split<'t>(s: &'t str, mut f: impl FnMut(&'t str)) {
    let mut gap = 0;
    let mut i = 0;
    while i < s.len() {
        match superword_match_at(s, i) {
            Some(e) => {
                if gap < i {
                    f(&s[gap..i]);
                }
                f(&s[i..e]);
                i = e;
                gap = e;
            }
            None => i += char_at(s, i).1,
        }
    }
    if gap < s.len() {
        f(&s[gap..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded xorshift64 draw in `0..n`: fixed generated texts without a dependency.
    fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        }
    }

    /// Matches and the text between them (what an isolated split yields).
    fn by_regex(re: &fancy_regex::Regex, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut last = 0;
        for m in re.find_iter(text) {
            let m = m.unwrap();
            if m.start() > last {
                out.push(text[last..m.start()].to_string());
            }
            out.push(m.as_str().to_string());
            last = m.end();
        }
        if last < text.len() {
            out.push(text[last..].to_string());
        }
        out
    }

    fn by_preset(preset: Preset, text: &str) -> Vec<String> {
        let mut v = Vec::new();
        preset.split(text, |p| v.push(p.to_string()));
        v
    }

    const ALPHABET: &[&str] = &[
        "a",
        "B",
        "z",
        "É",
        "é",
        "ß",
        "ǅ",
        "ʰ",
        "中",
        "ก",
        "\u{301}",
        "\u{93f}",
        "1",
        "٣",
        "Ⅻ",
        "½",
        " ",
        "  ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\u{a0}",
        "\u{2028}",
        "\u{3000}",
        "\u{85}",
        "\u{b}",
        "'",
        "’",
        "s",
        "S",
        "t",
        "ll",
        "LL",
        "ve",
        "re",
        "RE",
        "m",
        "d",
        "ſ",
        "!",
        ".",
        ",",
        "/",
        "-",
        "_",
        "@",
        "😀",
        "\u{200d}",
        "\u{fe0f}",
        "𝔸",
        "𝟙",
        "\u{e0100}",
        "<|",
        "|>",
        "x",
    ];

    #[test]
    fn scanners_match_their_regex_on_generated_text() {
        let mut rnd = xorshift(0x9E3779B97F4A7C15u64);
        for (preset, name, pattern) in Preset::ALL {
            let re = fancy_regex::Regex::new(pattern).unwrap();
            for round in 0..3000 {
                let len = 1 + rnd(12 + round % 40);
                let text: String = (0..len).map(|_| ALPHABET[rnd(ALPHABET.len())]).collect();
                assert_eq!(
                    by_preset(preset, &text),
                    by_regex(&re, &text),
                    "{name} on {text:?}"
                );
            }
        }
    }

    /// ASCII-heavy text: runs of letters of every length around the 8-byte word boundary, mixed
    /// case, with the non-ASCII letters, marks and spaces that end or continue an ASCII run.
    #[test]
    fn scanners_match_their_regex_on_ascii_words() {
        const PARTS: &[&str] = &[
            "a",
            "Z",
            "q",
            "M",
            "abcdefgh",
            "ABCDEFGH",
            "HelloWorld",
            "xY",
            " ",
            "  ",
            "\n",
            "\r\n",
            "\t",
            "'",
            "'s",
            "'LL",
            "-",
            ".",
            "@",
            "[",
            "`",
            "{",
            "/",
            "_",
            "0",
            "42",
            "é",
            "É",
            "\u{301}",
            "中",
            "ǅ",
            "ʰ",
            "\u{a0}",
            "\u{2028}",
            "😀",
            "ſ",
        ];
        let mut rnd = xorshift(0x2545F4914F6CDD1Du64);
        for (preset, name, pattern) in Preset::ALL {
            let re = fancy_regex::Regex::new(pattern).unwrap();
            for round in 0..3000 {
                let len = 1 + rnd(4 + round % 30);
                let text: String = (0..len)
                    .map(|_| {
                        // Letters most of the time, so long ASCII runs are common.
                        if rnd(3) > 0 {
                            PARTS[rnd(8)]
                        } else {
                            PARTS[rnd(PARTS.len())]
                        }
                    })
                    .collect();
                assert_eq!(
                    by_preset(preset, &text),
                    by_regex(&re, &text),
                    "{name} on {text:?}"
                );
            }
        }
    }

    #[test]
    fn ascii_ranges_count_like_a_byte_loop() {
        let bytes: Vec<u8> = (0u8..=255).collect();
        for range in [AsciiRange::LETTERS, AsciiRange::UPPER, AsciiRange::LOWER] {
            for b in 0u8..=255 {
                let expected = match (range.lo, range.fold) {
                    (b'a', true) => b.is_ascii_alphabetic(),
                    (b'A', _) => b.is_ascii_uppercase(),
                    _ => b.is_ascii_lowercase(),
                };
                assert_eq!(range.contains(b), expected, "byte {b:#x}");
            }
            let mut seed = 7u64;
            for _ in 0..20_000 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let w: [u8; 8] = std::array::from_fn(|k| {
                    let r = (seed >> (8 * k)) as u8;
                    if r & 1 == 0 {
                        b"AZaz@[`{"[(r >> 1) as usize % 8]
                    } else {
                        bytes[r as usize]
                    }
                });
                let expected = w.iter().take_while(|&&b| range.contains(b)).count();
                assert_eq!(range.leading_count(u64::from_le_bytes(w)), expected, "{w:?}");
            }
        }
    }

    #[test]
    fn known_patterns_are_recognised() {
        for (preset, _, pattern) in Preset::ALL {
            assert_eq!(Preset::from_pattern(pattern), Some(preset));
        }
        assert_eq!(Preset::from_pattern(r"\w+"), None);
    }
}
