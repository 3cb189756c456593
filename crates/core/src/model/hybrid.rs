//! The hybrid morphological model of "Tokens with Meaning" (Bayram et al. 2025, arXiv 2508.14292):
//! root and affix dictionaries, one id per morpheme whatever its phonological variant, case and
//! space markers, and a byte-level BPE for what the dictionaries do not cover.
//!
//! Ids: the three markers (`<uppercase>`, `" "`, `"\n"`), then the roots, then the affixes, then
//! the fallback BPE (its 256 bytes first).
//!
//! * **Pieces.** Text is cut by one regex (stored in the model, used for training counts too):
//!   words (letters and marks, optionally `'` or `’` and more letters, as in `İstanbul'da`),
//!   digit runs, each space and newline, other whitespace runs, other symbol runs.
//! * **Case.** A lower-case word is segmented as it is; a capitalised one (Turkish casing:
//!   `I`/`ı`, `İ`/`i`) becomes `<uppercase>` + its lower-case form when that starts with a root;
//!   any other word goes to the fallback with its case.
//! * **Roots, then affixes.** Among the roots that start the word, longest first, the first one
//!   after which the rest of the word is a sequence of affixes wins (depth-first, longest affix
//!   first, bounded work per word). Without such a parse, the longest root of at least
//!   [`MIN_PARTIAL_ROOT`] characters is kept with the longest affix chain after it, and the rest
//!   goes to the fallback; with no root at all, the whole word does. The part after an
//!   apostrophe is an affix chain (Turkish writes suffixes of names that way), else fallback.
//! * **Allomorphs share ids.** An affix is a template (`lAr`, `DA`, `(y)I`, `(I)yor`): `A` is
//!   a/e and `I` ı/i/u/ü by vowel harmony with the last vowel before it, `D`/`C`/`G` are t/ç/k
//!   after a voiceless consonant (d/c/g otherwise), `(y)`/`(n)`/`(s)` appear only after a vowel,
//!   `(I)`/`(A)` only after a consonant, and a final `K` is ğ before a vowel-initial affix; the
//!   encoder attaches a one-consonant affix (`k`, `m`, `r`...) only after a vowel. A
//!   root has at most two forms (`kitap`/`kitab`, `burun`/`burn`, `hak`/`hakk`, `bekle`/`bekl`):
//!   the second is used before a vowel-initial affix (before the progressive `(I)yor` for
//!   stems that drop their last vowel).
//! * **Lossless by construction.** Decoding picks each form from the text decoded so far (affixes)
//!   or from the next id (roots and final `K`). The encoder accepts a segmentation only when those
//!   same rules give back exactly the input, so `decode(encode(text)) == text` for every text;
//!   words the rules do not fit (`saatler`, loanwords breaking harmony) take another parse or the
//!   fallback. The context an affix looks at never leaves its word, so training on piece counts
//!   and encoding running text segment every piece the same way.
//!
//! Not an [`super::Model`] variant: that enum maps a piece to ids and an id to fixed bytes, while
//! here decoding depends on the neighbouring ids and a marker changes the next token's text.

use std::borrow::Cow;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::bpe::Bpe;
use crate::charclass::{class_of, LETTER, LOWERISH, UPPERISH};
use crate::count::PieceCounts;
use crate::error::{Error, Result};
use crate::pool::thread_pool;
use crate::pretokenize::PreTokenizer;

/// Id of the marker that capitalises the next token.
pub const UPPERCASE: u32 = 0;
/// Id of the space token.
pub const SPACE: u32 = 1;
/// Id of the newline token.
pub const NEWLINE: u32 = 2;
/// Number of marker ids before the roots.
pub const MARKERS: u32 = 3;
/// Shortest root kept when the rest of the word is not an affix chain (shorter ones are mostly
/// accidental prefixes of words the lexicon lacks).
pub const MIN_PARTIAL_ROOT: usize = 3;
/// Words longer than this (in characters) go to the fallback without a morphological parse.
pub const MAX_WORD_CHARS: usize = 64;
/// Depth-first steps allowed per word; the search is deterministic, so a word that exhausts the
/// budget always gets the same (fallback) result.
const SEARCH_BUDGET: usize = 4096;
/// At most this many affixes follow one root.
const MAX_AFFIXES: usize = 12;
/// Surface forms one affix template may expand to.
const MAX_TEMPLATE_FORMS: usize = 4096;

/// When a root uses its second form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Before an affix that starts with a vowel after a consonant (voicing, vowel drop, doubling).
    VowelAffix,
    /// Before the progressive `(I)yor` (verb stems that drop their last vowel: `bekle`/`bekl`).
    Progressive,
}

impl Trigger {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "vowel" => Ok(Trigger::VowelAffix),
            "progressive" => Ok(Trigger::Progressive),
            other => Err(Error::InvalidVocabulary(format!(
                "unknown root alternation trigger {other:?} (expected \"vowel\" or \"progressive\")"
            ))),
        }
    }

    fn fires(self, affix: &Affix) -> bool {
        match self {
            Trigger::VowelAffix => affix.vowel_initial,
            Trigger::Progressive => affix.progressive,
        }
    }
}

/// A root: its form, and the form used before the affixes its trigger names.
#[derive(Debug, Clone)]
pub struct Root {
    pub form: Box<str>,
    pub alternate: Option<(Box<str>, Trigger)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Lit(char),
    /// a/e by harmony.
    A,
    /// ı/i/u/ü by harmony.
    I,
    /// d/t.
    D,
    /// c/ç.
    C,
    /// g/k.
    G,
    /// k, or ğ before a vowel-initial affix.
    K,
    /// A buffer consonant present only after a vowel.
    Buffer(char),
    /// `(I)`: a harmonic ı/i/u/ü only after a consonant.
    OptI,
    /// `(A)`: a harmonic a/e only after a consonant.
    OptA,
}

#[derive(Debug, Clone)]
struct Affix {
    template: Box<str>,
    syms: Vec<Sym>,
    /// After a consonant, the affix starts with a vowel.
    vowel_initial: bool,
    /// The progressive `(I)yor`.
    progressive: bool,
    /// Ends in `K` (its realisation depends on the next id).
    soft_end: bool,
    /// A single consonant (`k`, `m`, `r`, `z`, `t`...): the person, aorist and causative endings
    /// that are one consonant attach only after a vowel (`geldik`, `okur`, `okut`), so the
    /// encoder does not use them after a consonant, where they would cut words at random
    /// (`an|k|ar|a`).
    after_vowel_only: bool,
    /// The form shown for the id alone (after a back vowel and a voiced consonant).
    display: Box<str>,
}

fn parse_template(template: &str) -> Result<Affix> {
    let bad = |why: &str| Error::InvalidVocabulary(format!("affix template {template:?}: {why}"));
    let mut syms = Vec::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        let sym = match c {
            '(' => {
                let inner = chars.next().ok_or_else(|| bad("unclosed '('"))?;
                if chars.next() != Some(')') {
                    return Err(bad("'(' must enclose one of y, n, s, I, A"));
                }
                match inner {
                    'y' | 'n' | 's' => Sym::Buffer(inner),
                    'I' => Sym::OptI,
                    'A' => Sym::OptA,
                    _ => return Err(bad("'(' must enclose one of y, n, s, I, A")),
                }
            }
            'A' => Sym::A,
            'I' => Sym::I,
            'D' => Sym::D,
            'C' => Sym::C,
            'G' => Sym::G,
            'K' => {
                if chars.peek().is_some() {
                    return Err(bad("K (k/ğ) may only end a template"));
                }
                Sym::K
            }
            c if c.is_uppercase() || c == ')' || c.is_whitespace() => {
                return Err(bad("unknown symbol (upper case letters are A, I, D, C, G, K)"))
            }
            c => Sym::Lit(c),
        };
        syms.push(sym);
    }
    if syms
        .iter()
        .all(|s| matches!(s, Sym::Buffer(_) | Sym::OptI | Sym::OptA))
    {
        return Err(bad("a template needs at least one letter that is always written"));
    }
    let first = syms
        .iter()
        .find(|s| !matches!(s, Sym::Buffer(_)))
        .copied()
        .unwrap_or(Sym::A);
    let vowel_initial = match first {
        Sym::A | Sym::I | Sym::OptI | Sym::OptA => true,
        Sym::Lit(c) => is_vowel(c),
        _ => false,
    };
    let progressive = template.trim_start_matches("(I)").trim_start_matches('I') == "yor";
    let mut affix = Affix {
        template: template.into(),
        syms: syms.clone(),
        vowel_initial,
        progressive,
        soft_end: template.ends_with('K'),
        after_vowel_only: matches!(syms.as_slice(), [Sym::Lit(c)] if !is_vowel(*c)),
        display: "".into(),
    };
    affix.display = realize(&affix, b"ab", false).into();
    Ok(affix)
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'ı' | 'i' | 'o' | 'ö' | 'u' | 'ü' | 'â' | 'î' | 'û')
}

fn is_voiceless(c: char) -> bool {
    matches!(c, 'ç' | 'f' | 'h' | 'k' | 'p' | 's' | 'ş' | 't')
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Letters and combining marks (`[\p{L}\p{M}]`, the word class of the piece pattern).
fn is_word_char(c: char) -> bool {
    let class = class_of(c);
    class & LETTER != 0 || class & (UPPERISH | LOWERISH) == (UPPERISH | LOWERISH)
}

/// Turkish lower case of one character (`I` -> `ı`, `İ` -> `i`); characters whose lower case is
/// not one character are kept.
pub fn lower_tr(c: char) -> char {
    match c {
        'I' => 'ı',
        'İ' => 'i',
        _ => single(c.to_lowercase()).unwrap_or(c),
    }
}

/// Turkish upper case of one character (`i` -> `İ`, `ı` -> `I`).
pub fn upper_tr(c: char) -> char {
    match c {
        'i' => 'İ',
        'ı' => 'I',
        _ => single(c.to_uppercase()).unwrap_or(c),
    }
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    it.next().is_none().then_some(c)
}

fn lower_str(s: &str) -> String {
    s.chars().map(lower_tr).collect()
}

/// The last character before `end` (backwards UTF-8), `None` at the start or on invalid bytes.
fn char_before(text: &[u8], end: usize) -> Option<(char, usize)> {
    let lo = end.saturating_sub(4);
    for start in (lo..end).rev() {
        if text[start] & 0xC0 != 0x80 {
            let c = std::str::from_utf8(&text[start..end]).ok()?.chars().next()?;
            return Some((c, start));
        }
    }
    None
}

/// What an affix's form depends on in the text before it: the last letter and the last vowel of
/// the current word (lower-cased). An apostrophe right before the affix is looked through
/// (`Ankara'ya`); the scan stops at any other non-letter, so it never leaves the word.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    last: Option<char>,
    vowel: Option<char>,
}

impl Context {
    fn of(text: &[u8]) -> Context {
        let mut ctx = Context::default();
        let mut end = text.len();
        let mut seen_letter = false;
        let mut crossed = false;
        while let Some((c, start)) = char_before(text, end) {
            if is_apostrophe(c) && !seen_letter && !crossed {
                crossed = true;
                end = start;
                continue;
            }
            if !is_word_char(c) {
                break;
            }
            let c = lower_tr(c);
            if !seen_letter {
                ctx.last = Some(c);
                seen_letter = true;
            }
            if is_vowel(c) {
                ctx.vowel = Some(c);
                break;
            }
            end = start;
        }
        ctx
    }

    fn push(&mut self, c: char) {
        self.last = Some(c);
        if is_vowel(c) {
            self.vowel = Some(c);
        }
    }

    fn after_vowel(&self) -> bool {
        self.last.is_some_and(is_vowel)
    }

    fn two_way(&self) -> char {
        match self.vowel {
            Some('a' | 'ı' | 'o' | 'u' | 'â' | 'û') => 'a',
            _ => 'e',
        }
    }

    fn four_way(&self) -> char {
        match self.vowel {
            Some('a' | 'ı' | 'â') => 'ı',
            Some('o' | 'u' | 'û') => 'u',
            Some('ö' | 'ü') => 'ü',
            _ => 'i',
        }
    }

    fn voiceless(&self) -> bool {
        self.last.is_some_and(is_voiceless)
    }
}

/// The form of `affix` after `before` (the text so far); `soft` is whether the next id is a
/// vowel-initial affix (for a final `K`).
fn realize(affix: &Affix, before: &[u8], soft: bool) -> String {
    let mut ctx = Context::of(before);
    let mut out = String::with_capacity(affix.template.len() + 2);
    for sym in &affix.syms {
        let c = match *sym {
            Sym::Lit(c) => Some(c),
            Sym::A => Some(ctx.two_way()),
            Sym::I => Some(ctx.four_way()),
            Sym::D => Some(if ctx.voiceless() { 't' } else { 'd' }),
            Sym::C => Some(if ctx.voiceless() { 'ç' } else { 'c' }),
            Sym::G => Some(if ctx.voiceless() { 'k' } else { 'g' }),
            Sym::K => Some(if soft { 'ğ' } else { 'k' }),
            Sym::Buffer(b) => ctx.after_vowel().then_some(b),
            Sym::OptI => (!ctx.after_vowel()).then(|| ctx.four_way()),
            Sym::OptA => (!ctx.after_vowel()).then(|| ctx.two_way()),
        };
        if let Some(c) = c {
            out.push(c);
            ctx.push(c);
        }
    }
    out
}

/// Every form a template can take in some context (the encoder's lookup keys).
fn expand(affix: &Affix) -> Result<Vec<String>> {
    let mut forms = vec![String::new()];
    for sym in &affix.syms {
        let options: &[&str] = match *sym {
            Sym::Lit(_) => &[],
            Sym::A => &["a", "e"],
            Sym::I => &["ı", "i", "u", "ü"],
            Sym::D => &["d", "t"],
            Sym::C => &["c", "ç"],
            Sym::G => &["g", "k"],
            Sym::K => &["k", "ğ"],
            Sym::Buffer(_) => &[],
            Sym::OptI => &["", "ı", "i", "u", "ü"],
            Sym::OptA => &["", "a", "e"],
        };
        forms = match *sym {
            Sym::Lit(c) => {
                for form in &mut forms {
                    form.push(c);
                }
                forms
            }
            Sym::Buffer(b) => forms
                .into_iter()
                .flat_map(|f| [f.clone(), format!("{f}{b}")])
                .collect(),
            _ => forms
                .into_iter()
                .flat_map(|f| options.iter().map(move |o| format!("{f}{o}")))
                .collect(),
        };
        if forms.len() > MAX_TEMPLATE_FORMS {
            return Err(Error::InvalidVocabulary(format!(
                "affix template {:?} has more than {MAX_TEMPLATE_FORMS} forms",
                affix.template
            )));
        }
    }
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    Ok(forms)
}

/// Every surface form an affix template can take (checks the template).
pub fn affix_forms(template: &str) -> Result<Vec<String>> {
    expand(&parse_template(template)?)
}

/// One unit of a segmented piece: a dictionary or marker id, or a span of the piece's text
/// (byte range) that the fallback encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Id(u32),
    Residue(usize, usize),
}

/// What the next token must be, so that the previous one decodes to the form that was matched.
#[derive(Debug, Clone, Copy)]
enum Need {
    Any,
    /// The next token is (true) / is not (false) an affix the trigger fires on.
    Trigger(Trigger, bool),
    /// The next token is (true) / is not (false) a vowel-initial affix (final `K`).
    Soft(bool),
}

impl Need {
    fn accepts(self, next: Option<&Affix>) -> bool {
        match self {
            Need::Any => true,
            Need::Trigger(t, want) => next.is_some_and(|a| t.fires(a)) == want,
            Need::Soft(want) => next.is_some_and(|a| a.vowel_initial) == want,
        }
    }
}

/// The fallback BPE as `(vocab, merges)`: token bytes with ids from 0, and `(left, right)` merges.
pub type FallbackBpe = (Vec<(Vec<u8>, u32)>, Vec<(u32, u32)>);

/// The hybrid model (immutable once built).
#[derive(Debug, Clone)]
pub struct Hybrid {
    roots: Vec<Root>,
    affixes: Vec<Affix>,
    /// Surface form -> (root index, is the alternate form), in root order.
    root_forms: FxHashMap<Box<str>, Vec<(u32, bool)>>,
    max_root_chars: usize,
    /// Surface form -> affix indices, in affix order.
    affix_forms: FxHashMap<Box<str>, Vec<u32>>,
    max_affix_chars: usize,
    fallback: Option<Bpe>,
    pieces: PreTokenizer,
    pattern: String,
}

impl Hybrid {
    /// A model from its dictionaries, the fallback BPE (`(vocab, merges)` with ids from 0; `None`
    /// while training) and the piece pattern.
    pub fn new(
        roots: Vec<Root>,
        templates: &[String],
        fallback: Option<FallbackBpe>,
        pattern: &str,
    ) -> Result<Self> {
        let mut root_forms: FxHashMap<Box<str>, Vec<(u32, bool)>> = FxHashMap::default();
        let mut max_root_chars = 0;
        for (i, root) in roots.iter().enumerate() {
            let mut add = |form: &str, alt: bool| -> Result<()> {
                if form.is_empty() || form.chars().any(|c| !is_word_char(c) || lower_tr(c) != c) {
                    return Err(Error::InvalidVocabulary(format!(
                        "root form {form:?} must be lower-case letters"
                    )));
                }
                max_root_chars = max_root_chars.max(form.chars().count());
                root_forms.entry(form.into()).or_default().push((i as u32, alt));
                Ok(())
            };
            add(&root.form, false)?;
            if let Some((alt, _)) = &root.alternate {
                add(alt, true)?;
            }
        }
        let mut affixes = Vec::with_capacity(templates.len());
        let mut affix_forms: FxHashMap<Box<str>, Vec<u32>> = FxHashMap::default();
        let mut max_affix_chars = 0;
        for (i, template) in templates.iter().enumerate() {
            let affix = parse_template(template)?;
            for form in expand(&affix)? {
                max_affix_chars = max_affix_chars.max(form.chars().count());
                affix_forms.entry(form.into()).or_default().push(i as u32);
            }
            affixes.push(affix);
        }
        let fallback = match fallback {
            None => None,
            Some((vocab, merges)) => Some(Bpe::from_merges(vocab, &merges, false, None)?),
        };
        Ok(Hybrid {
            roots,
            affixes,
            root_forms,
            max_root_chars,
            affix_forms,
            max_affix_chars,
            fallback,
            pieces: PreTokenizer::single_regex(pattern)?,
            pattern: pattern.to_string(),
        })
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn root_count(&self) -> usize {
        self.roots.len()
    }

    pub fn affix_count(&self) -> usize {
        self.affixes.len()
    }

    fn root_base(&self) -> u32 {
        MARKERS
    }

    fn affix_base(&self) -> u32 {
        MARKERS + self.roots.len() as u32
    }

    /// First id of the fallback BPE.
    pub fn fallback_base(&self) -> u32 {
        self.affix_base() + self.affixes.len() as u32
    }

    /// One past the highest id.
    pub fn id_space(&self) -> usize {
        self.fallback_base() as usize + self.fallback.as_ref().map_or(0, Bpe::id_space)
    }

    fn affix_of(&self, id: u32) -> Option<&Affix> {
        let i = id.checked_sub(self.affix_base())?;
        self.affixes.get(i as usize)
    }

    /// The text of an id on its own: a root's first form, an affix after a back vowel and a voiced
    /// consonant, the fallback token's bytes; the case marker has none.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        match id {
            UPPERCASE => Some(b""),
            SPACE => Some(b" "),
            NEWLINE => Some(b"\n"),
            _ if id < self.affix_base() => Some(self.roots[(id - MARKERS) as usize].form.as_bytes()),
            _ if id < self.fallback_base() => self.affix_of(id).map(|a| a.display.as_bytes()),
            _ => self.fallback.as_ref()?.token_bytes(id - self.fallback_base()),
        }
    }

    /// The affix template of an id (`None` for other ids).
    pub fn affix_template(&self, id: u32) -> Option<&str> {
        self.affix_of(id).map(|a| &*a.template)
    }

    // ------------------------------------------------------------------ segmentation

    /// Units of one piece (as cut by the piece pattern), and the text their residue spans index:
    /// the piece, or its lower-case form after a `<uppercase>` marker.
    pub fn segment_piece<'a>(&self, piece: &'a str, out: &mut Vec<Unit>) -> Cow<'a, str> {
        match piece {
            "" => {}
            " " => out.push(Unit::Id(SPACE)),
            "\n" => out.push(Unit::Id(NEWLINE)),
            _ if piece.chars().next().is_some_and(is_word_char) => return self.segment_word(piece, out),
            _ => out.push(Unit::Residue(0, piece.len())),
        }
        Cow::Borrowed(piece)
    }

    fn segment_word<'a>(&self, piece: &'a str, out: &mut Vec<Unit>) -> Cow<'a, str> {
        let lower = lower_str(piece);
        if lower == piece {
            self.segment_text(piece, false, out);
            return Cow::Borrowed(piece);
        }
        // Capitalised: the first letter round-trips through Turkish casing, the rest is lower case.
        let mut chars = piece.chars();
        if let Some(first) = chars.next() {
            let low = lower_tr(first);
            if upper_tr(low) == first && chars.as_str() == &lower[low.len_utf8()..] {
                let start = out.len();
                out.push(Unit::Id(UPPERCASE));
                if self.segment_text(&lower, true, out) {
                    return Cow::Owned(lower);
                }
                out.truncate(start);
            }
        }
        self.segment_text(piece, false, out);
        Cow::Borrowed(piece)
    }

    /// Segments a word piece's `text`. With `need_root`, fails (returning false, `out` as it was)
    /// unless the first unit is a root.
    fn segment_text(&self, text: &str, need_root: bool, out: &mut Vec<Unit>) -> bool {
        let (head, tail) = match text.char_indices().find(|&(_, c)| is_apostrophe(c)) {
            Some((at, c)) => (&text[..at], Some((at, at + c.len_utf8()))),
            None => (text, None),
        };
        let start = out.len();
        self.segment_head(head, out);
        let is_root =
            |u: Option<&Unit>| matches!(u, Some(Unit::Id(id)) if (MARKERS..self.affix_base()).contains(id));
        if need_root && !is_root(out.get(start)) {
            out.truncate(start);
            return false;
        }
        if let Some((at, after)) = tail {
            out.push(Unit::Residue(at, after));
            let rest = &text[after..];
            let mut ids = Vec::new();
            let mut budget = SEARCH_BUDGET;
            if rest.chars().count() <= MAX_WORD_CHARS
                && self.parse_affixes(
                    text[..after].to_string(),
                    rest,
                    Need::Any,
                    &mut ids,
                    0,
                    &mut budget,
                )
            {
                out.extend(ids.into_iter().map(Unit::Id));
            } else {
                out.push(Unit::Residue(after, text.len()));
            }
        }
        true
    }

    /// Root + affixes for a word without apostrophe (byte offsets are those of `word`, which
    /// starts the piece).
    fn segment_head(&self, word: &str, out: &mut Vec<Unit>) {
        if word.is_empty() {
            return;
        }
        let chars: Vec<usize> = word.char_indices().map(|(i, _)| i).chain([word.len()]).collect();
        let n = chars.len() - 1;
        if n > MAX_WORD_CHARS {
            out.push(Unit::Residue(0, word.len()));
            return;
        }
        let mut candidates: Vec<(usize, u32, bool)> = Vec::new();
        for len in (1..=n.min(self.max_root_chars)).rev() {
            if let Some(list) = self.root_forms.get(&word[..chars[len]]) {
                // An alternate stem first: `ok` before `uyor` is the verb `oku`, not the noun `ok`.
                let (alternates, plain): (Vec<_>, Vec<_>) = list.iter().partition(|&&(_, alt)| alt);
                candidates.extend(
                    alternates
                        .iter()
                        .chain(&plain)
                        .map(|&&(r, alt)| (chars[len], r, alt)),
                );
            }
        }
        let mut budget = SEARCH_BUDGET;
        for &(end, r, alt) in &candidates {
            let Some(need) = self.root_need(r, alt) else {
                continue;
            };
            let mut ids = Vec::new();
            if self.parse_affixes(
                word[..end].to_string(),
                &word[end..],
                need,
                &mut ids,
                0,
                &mut budget,
            ) {
                out.push(Unit::Id(self.root_base() + r));
                out.extend(ids.into_iter().map(Unit::Id));
                return;
            }
        }
        // No full parse: the longest root that may stand before a non-affix, the longest affix
        // chain after it, the rest to the fallback.
        for &(end, r, alt) in &candidates {
            if alt || word[..end].chars().count() < MIN_PARTIAL_ROOT {
                continue;
            }
            let Some(need) = self.root_need(r, false) else {
                continue;
            };
            out.push(Unit::Id(self.root_base() + r));
            for stop in (end + 1..=word.len()).rev().filter(|&s| word.is_char_boundary(s)) {
                let mut ids = Vec::new();
                if stop < word.len()
                    && self.parse_affixes(
                        word[..end].to_string(),
                        &word[end..stop],
                        need,
                        &mut ids,
                        0,
                        &mut budget,
                    )
                {
                    out.extend(ids.into_iter().map(Unit::Id));
                    out.push(Unit::Residue(stop, word.len()));
                    return;
                }
            }
            out.push(Unit::Residue(end, word.len()));
            return;
        }
        out.push(Unit::Residue(0, word.len()));
    }

    /// What must follow root `r` in the form that was matched; `None` when that form cannot be
    /// decoded at all.
    fn root_need(&self, r: u32, alt: bool) -> Option<Need> {
        match (&self.roots[r as usize].alternate, alt) {
            (Some((_, trigger)), alt) => Some(Need::Trigger(*trigger, alt)),
            (None, false) => Some(Need::Any),
            (None, true) => None,
        }
    }

    /// Parses all of `rest` as affixes after `before` (the word so far); the first affix must
    /// satisfy `need`, and the word's end counts as "no affix follows". Appends the ids.
    fn parse_affixes(
        &self,
        before: String,
        rest: &str,
        need: Need,
        out: &mut Vec<u32>,
        depth: usize,
        budget: &mut usize,
    ) -> bool {
        if rest.is_empty() {
            return need.accepts(None);
        }
        if depth >= MAX_AFFIXES || *budget == 0 {
            return false;
        }
        *budget -= 1;
        let ends: Vec<usize> = rest
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .take(self.max_affix_chars)
            .collect();
        for &end in ends.iter().rev() {
            let surface = &rest[..end];
            let Some(list) = self.affix_forms.get(surface) else {
                continue;
            };
            for &a in list {
                let affix = &self.affixes[a as usize];
                if !need.accepts(Some(affix))
                    || (affix.after_vowel_only && !Context::of(before.as_bytes()).after_vowel())
                {
                    continue;
                }
                for soft in [false, true] {
                    if soft && !affix.soft_end {
                        break;
                    }
                    if realize(affix, before.as_bytes(), soft) != surface {
                        continue;
                    }
                    let next_need = if affix.soft_end {
                        Need::Soft(soft)
                    } else {
                        Need::Any
                    };
                    let mark = out.len();
                    out.push(self.affix_base() + a);
                    let mut next = before.clone();
                    next.push_str(surface);
                    if self.parse_affixes(next, &rest[end..], next_need, out, depth + 1, budget) {
                        return true;
                    }
                    out.truncate(mark);
                }
            }
        }
        false
    }

    // ------------------------------------------------------------------ encoding

    /// Calls `f` on each piece of `text`.
    pub fn for_each_piece(&self, text: &str, f: &mut dyn FnMut(&str)) -> Result<()> {
        self.pieces.for_each_piece(text, f)
    }

    /// Encodes `text`, appending ids to `out`.
    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let fallback = self.fallback.as_ref().ok_or_else(|| {
            Error::InvalidArgument("this hybrid model has no fallback BPE yet (it is being trained)".into())
        })?;
        let base = self.fallback_base();
        let mut units = Vec::new();
        let mut local = Vec::new();
        self.for_each_piece(text, &mut |piece| {
            units.clear();
            let text = self.segment_piece(piece, &mut units);
            for unit in &units {
                match *unit {
                    Unit::Id(id) => out.push(id),
                    Unit::Residue(a, b) => {
                        local.clear();
                        fallback.encode_piece(&text.as_bytes()[a..b], &mut local);
                        out.extend(local.iter().map(|id| id + base));
                    }
                }
            }
        })
    }

    /// Encodes many texts on `threads` threads (the result does not depend on the count).
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S], threads: usize) -> Result<Vec<Vec<u32>>> {
        let one = |t: &S| {
            let mut ids = Vec::new();
            self.encode(t.as_ref(), &mut ids).map(|()| ids)
        };
        if threads <= 1 || texts.len() < 2 {
            return texts.iter().map(one).collect();
        }
        thread_pool(threads)?.install(|| texts.par_iter().map(one).collect())
    }

    /// Adds the fallback's training pieces and each root's use count for the pieces in `counts`:
    /// residue spans with the piece's count, and `(root index) -> count`.
    pub fn residues(&self, counts: &[(&[u8], u64)], residues: &mut PieceCounts, roots: &mut [u64]) {
        let mut units = Vec::new();
        for &(piece, count) in counts {
            let Ok(piece) = std::str::from_utf8(piece) else {
                residues.add(piece, count);
                continue;
            };
            units.clear();
            let text = self.segment_piece(piece, &mut units);
            for unit in &units {
                match *unit {
                    Unit::Id(id) if (MARKERS..self.affix_base()).contains(&id) => {
                        roots[(id - MARKERS) as usize] += count;
                    }
                    Unit::Id(_) => {}
                    Unit::Residue(a, b) => residues.add(&text.as_bytes()[a..b], count),
                }
            }
        }
    }

    // ------------------------------------------------------------------ decoding

    /// The bytes of `ids`, each form chosen from its context.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out: Vec<u8> = Vec::with_capacity(ids.len() * 4);
        let mut capitalize = false;
        for (i, &id) in ids.iter().enumerate() {
            let next = ids.get(i + 1).and_then(|&n| self.affix_of(n));
            let start = out.len();
            match id {
                UPPERCASE => {
                    capitalize = true;
                    continue;
                }
                SPACE => out.push(b' '),
                NEWLINE => out.push(b'\n'),
                _ if id < self.affix_base() => {
                    let root = &self.roots[(id - MARKERS) as usize];
                    let form = match &root.alternate {
                        Some((alt, trigger)) if next.is_some_and(|a| trigger.fires(a)) => alt,
                        _ => &root.form,
                    };
                    out.extend_from_slice(form.as_bytes());
                }
                _ if id < self.fallback_base() => {
                    let affix = &self.affixes[(id - self.affix_base()) as usize];
                    let soft = next.is_some_and(|a| a.vowel_initial);
                    let form = realize(affix, &out, soft);
                    out.extend_from_slice(form.as_bytes());
                }
                _ => {
                    let bytes = self
                        .fallback
                        .as_ref()
                        .and_then(|f| f.token_bytes(id - self.fallback_base()))
                        .ok_or(Error::InvalidTokenId(id))?;
                    out.extend_from_slice(bytes);
                }
            }
            if std::mem::take(&mut capitalize) {
                capitalize_at(&mut out, start);
            }
        }
        Ok(out)
    }
}

/// Upper-cases (Turkish rules) the character starting at `at`, when it is a whole character.
fn capitalize_at(out: &mut Vec<u8>, at: usize) {
    let tail = &out[at..];
    let len = match tail.first() {
        Some(b) if *b < 0x80 => 1,
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        _ => return,
    };
    let Some(c) = tail
        .get(..len)
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.chars().next())
    else {
        return;
    };
    let mut buf = [0u8; 4];
    let upper = upper_tr(c).encode_utf8(&mut buf).as_bytes().to_vec();
    out.splice(at..at + len, upper);
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATTERN: &str = r"[\p{L}\p{M}]+(?:['’][\p{L}\p{M}]+)?|\p{N}+|[ \n]|[^\S \n]+|[^\p{L}\p{M}\p{N}\s]+";

    fn model() -> Hybrid {
        let roots = vec![
            Root {
                form: "kitap".into(),
                alternate: Some(("kitab".into(), Trigger::VowelAffix)),
            },
            Root {
                form: "ev".into(),
                alternate: None,
            },
            Root {
                form: "burun".into(),
                alternate: Some(("burn".into(), Trigger::VowelAffix)),
            },
            Root {
                form: "bekle".into(),
                alternate: Some(("bekl".into(), Trigger::Progressive)),
            },
            Root {
                form: "göz".into(),
                alternate: None,
            },
            Root {
                form: "ankara".into(),
                alternate: None,
            },
        ];
        let affixes: Vec<String> = [
            "lAr", "DA", "DAn", "(y)I", "(s)I", "(y)A", "(n)In", "(I)yor", "lIK", "(I)m", "DI",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        Hybrid::new(roots, &affixes, Some((vocab, vec![])), PATTERN).unwrap()
    }

    fn roundtrip(m: &Hybrid, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        m.encode(text, &mut ids).unwrap();
        assert_eq!(
            String::from_utf8(m.decode(&ids).unwrap()).unwrap(),
            text,
            "{ids:?}"
        );
        ids
    }

    #[test]
    fn allomorphs_share_ids() {
        let m = model();
        let a = m.affix_base();
        let r = MARKERS;
        assert_eq!(roundtrip(&m, "kitaplar"), vec![r, a]);
        assert_eq!(roundtrip(&m, "evler"), vec![r + 1, a]);
        assert_eq!(roundtrip(&m, "kitapta"), vec![r, a + 1]);
        assert_eq!(roundtrip(&m, "evde"), vec![r + 1, a + 1]);
        assert_eq!(roundtrip(&m, "kitabı"), vec![r, a + 3]);
        assert_eq!(roundtrip(&m, "burnu"), vec![r + 2, a + 3]);
        assert_eq!(roundtrip(&m, "burunda"), vec![r + 2, a + 1]);
        assert_eq!(roundtrip(&m, "bekliyor"), vec![r + 3, a + 7]);
        assert_eq!(roundtrip(&m, "gözlüğüm"), vec![r + 4, a + 8, a + 9]);
        assert_eq!(roundtrip(&m, "gözlük"), vec![r + 4, a + 8]);
    }

    #[test]
    fn case_apostrophe_and_fallback() {
        let m = model();
        let ids = roundtrip(&m, "Ankara'ya gidiyor 12");
        assert_eq!(
            &ids[..4],
            &[
                UPPERCASE,
                MARKERS + 5,
                m.fallback_base() + b'\'' as u32,
                m.affix_base() + 5
            ]
        );
        roundtrip(&m, "KİTAP ıIiİ saatler Kitabı x\ty");
        roundtrip(&m, "e\u{301}v'dAn 'quoted' kitap'''");
    }

    #[test]
    fn decode_any_ids_without_panic() {
        let m = model();
        let n = m.id_space() as u32;
        let ids: Vec<u32> = (0..n).chain([UPPERCASE, UPPERCASE]).collect();
        assert!(m.decode(&ids).is_ok());
        assert_eq!(m.decode(&[n]), Err(Error::InvalidTokenId(n)));
    }

    #[test]
    fn bad_templates_are_errors() {
        for t in ["(x)a", "(y)", "aKb", "lAr)", "X"] {
            let err = Hybrid::new(vec![], &[t.to_string()], None, PATTERN).unwrap_err();
            assert!(matches!(err, Error::InvalidVocabulary(_)), "{t}");
        }
    }
}
