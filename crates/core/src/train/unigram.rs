//! Unigram language-model trainer (Kudo 2018), the algorithm of SentencePiece's
//! `unigram_model_trainer.cc`, on word counts from the parallel [`crate::count::Counter`].
//!
//! 1. Words: each counted piece becomes a character sequence with the whitespace marker `▁` as its
//!    prefix (or suffix); equal sequences are merged and sorted, so everything after this point
//!    sees the same input whatever the counting threads did.
//! 2. Required characters: the most frequent characters covering `character_coverage` of all
//!    character occurrences; rarer ones become unknown (byte fallback at encode time).
//! 3. Seeds: every required character, plus the `seed_size` substrings with the highest
//!    `frequency × length`, found as the internal nodes of a suffix array over the distinct words
//!    whose suffix frequencies are weighted by the word counts (so they equal corpus
//!    occurrences, as SentencePiece's array over all sentences gives).
//! 4. EM: E-step marginals by forward-backward over each word's lattice; M-step with the
//!    Bayesian (digamma) update that acts as a sparse prior; pieces expected less than 0.5 times
//!    are dropped.
//! 5. Pruning: each piece's loss is the drop in likelihood when its occurrences are replaced by its
//!    second-best segmentation; keep the best `shrinking_factor` share, repeat until the model is at
//!    most 1.1 × the target size, then keep the highest-scoring pieces plus every required
//!    character.
//!
//! Determinism: every tie has a total order (score, then the piece's characters), and the sums
//! that cross threads are integers (piece frequencies) or fixed-point integers (expected counts,
//! in units of 2^-24), whose addition is associative — so the result is the same for any thread
//! count.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::pool::thread_pool;

/// The whitespace marker SentencePiece and HF Metaspace use (U+2581).
pub const WHITESPACE_MARK: char = '\u{2581}';
/// Characters outside the required set (they never occur in a piece).
const UNKNOWN_CHAR: u32 = u32::MAX;
/// Separator between words in the suffix-array text; sorts before every character.
const SEPARATOR: u32 = 0;
/// SentencePiece's penalty of an unknown character below the lowest piece score.
const UNKNOWN_PENALTY: f64 = 10.0;
/// Expected counts are summed as integers of this unit, so their sum is order-free.
const FIXED_ONE: f64 = (1u64 << 24) as f64;
/// SentencePiece drops pieces expected less often than this in each M-step.
const MIN_EXPECTED: f64 = 0.5;
/// Words per parallel task: large enough to amortise scheduling, small enough to balance.
const WORDS_PER_TASK: usize = 2048;

/// What decides the result (besides the counts).
#[derive(Clone, Debug)]
pub struct UnigramOptions {
    /// Pieces to learn (the vocabulary without special, user-defined and byte pieces).
    pub pieces: usize,
    /// Longest piece in characters.
    pub max_piece_length: usize,
    /// Share of character occurrences the required characters must cover.
    pub character_coverage: f64,
    /// Digits are pieces of their own.
    pub split_digits: bool,
    /// Digits do not join letters of a script (but may join other digits and punctuation).
    pub split_by_number: bool,
    /// A piece never mixes scripts (Han, Hiragana and Katakana count as one).
    pub split_by_script: bool,
    /// `▁` ends a word instead of starting it.
    pub whitespace_as_suffix: bool,
    /// Number of substring seeds.
    pub seed_size: usize,
    /// Share of pieces kept by each pruning round.
    pub shrinking_factor: f64,
    /// EM iterations between prunings.
    pub sub_iterations: usize,
}

impl Default for UnigramOptions {
    fn default() -> Self {
        UnigramOptions {
            pieces: 8000,
            max_piece_length: 16,
            character_coverage: 0.9995,
            split_digits: false,
            split_by_number: true,
            split_by_script: true,
            whitespace_as_suffix: false,
            seed_size: 1_000_000,
            shrinking_factor: 0.75,
            sub_iterations: 2,
        }
    }
}

/// One EM round (the model's size and fit after it), kept in the result's history.
#[derive(Clone, Debug)]
pub struct Round {
    pub pieces: usize,
    /// Negative log-likelihood per word occurrence after the round's E-step.
    pub objective: f64,
}

/// The trained model: pieces with log-probability scores, best first.
#[derive(Clone, Debug)]
pub struct UnigramModel {
    pub pieces: Vec<(String, f64)>,
    /// Characters that were required (covered), most frequent first.
    pub required_chars: usize,
    /// Distinct characters seen.
    pub seen_chars: usize,
    /// Distinct words trained on.
    pub words: usize,
    /// Substring seeds (besides the characters).
    pub seeds: usize,
    pub rounds: Vec<Round>,
}

/// Word sequences in one buffer: word `i` is `chars[starts[i]..starts[i + 1]]`.
struct Words {
    chars: Vec<u32>,
    starts: Vec<usize>,
    counts: Vec<u64>,
}

impl Words {
    fn len(&self) -> usize {
        self.counts.len()
    }
    fn get(&self, i: usize) -> &[u32] {
        &self.chars[self.starts[i]..self.starts[i + 1]]
    }
}

/// Pieces indexed by a trie (one hash map keyed by (node, char)).
struct Trie {
    edges: FxHashMap<(u32, u32), u32>,
    /// Piece id ending at each trie node (u32::MAX: none).
    node_piece: Vec<u32>,
    max_len: usize,
}

impl Trie {
    fn new(pieces: &[Vec<u32>], max_len: usize) -> Trie {
        let mut edges = FxHashMap::default();
        let mut node_piece = vec![u32::MAX];
        for (id, piece) in pieces.iter().enumerate() {
            let mut node = 0u32;
            for &c in piece {
                let next = node_piece.len() as u32;
                node = *edges.entry((node, c)).or_insert_with(|| {
                    node_piece.push(u32::MAX);
                    next
                });
            }
            node_piece[node as usize] = id as u32;
        }
        Trie {
            edges,
            node_piece,
            max_len,
        }
    }

    /// Pieces that start at `pos` of `word`, shortest first.
    fn matches(&self, word: &[u32], pos: usize, out: &mut Vec<Edge>) {
        let mut node = 0u32;
        for (k, &c) in word[pos..].iter().take(self.max_len).enumerate() {
            match self.edges.get(&(node, c)) {
                Some(&next) => node = next,
                None => break,
            }
            let id = self.node_piece[node as usize];
            if id != u32::MAX {
                out.push(Edge {
                    start: pos as u32,
                    len: (k + 1) as u32,
                    id,
                });
            }
        }
    }
}

/// A piece occurrence in a word's lattice.
#[derive(Clone, Copy, Debug)]
struct Edge {
    start: u32,
    len: u32,
    id: u32,
}

/// The pieces and their log-probabilities.
struct Model {
    pieces: Vec<Vec<u32>>,
    scores: Vec<f64>,
}

impl Model {
    /// SentencePiece scores an unknown character `UNKNOWN_PENALTY` below the lowest piece.
    fn unknown_score(&self) -> f64 {
        let min = self.scores.iter().copied().fold(f64::INFINITY, f64::min);
        if min.is_finite() {
            min - UNKNOWN_PENALTY
        } else {
            -UNKNOWN_PENALTY
        }
    }
}

/// Every word's piece occurrences under the current model, sorted by (start, length). The model
/// only ever loses pieces, so the lattices are found once with the seed trie and then only
/// filtered and renumbered: the trie walk was 47% of the training time when it ran every round.
struct Lattices {
    edges: Vec<Vec<Edge>>,
}

impl Lattices {
    fn new(words: &Words, trie: &Trie, pool: &rayon::ThreadPool) -> Lattices {
        let edges = pool.install(|| {
            (0..words.len())
                .into_par_iter()
                .map(|i| {
                    let word = words.get(i);
                    let mut out = Vec::new();
                    for pos in 0..word.len() {
                        trie.matches(word, pos, &mut out);
                    }
                    out.shrink_to_fit();
                    out
                })
                .collect()
        });
        Lattices { edges }
    }

    /// Applies `remap` (old id -> new id, u32::MAX: removed).
    fn renumber(&mut self, remap: &[u32], pool: &rayon::ThreadPool) {
        pool.install(|| {
            self.edges.par_iter_mut().for_each(|list| {
                list.retain_mut(|e| {
                    e.id = remap[e.id as usize];
                    e.id != u32::MAX
                });
            })
        });
    }
}

/// The lattice of a word of `n` characters as `(start, end, id, score)` sorted by start, with an
/// unknown one-character edge (id u32::MAX) where no one-character piece exists, as SentencePiece
/// adds, so every word has a path.
fn lattice(n: usize, edges: &[Edge], model: &Model, unknown: f64, out: &mut Vec<(usize, usize, u32, f64)>) {
    out.clear();
    let mut k = 0;
    for pos in 0..n {
        let mut single = false;
        while k < edges.len() && edges[k].start as usize == pos {
            let e = edges[k];
            single |= e.len == 1;
            out.push((pos, pos + e.len as usize, e.id, model.scores[e.id as usize]));
            k += 1;
        }
        if !single {
            out.push((pos, pos + 1, u32::MAX, unknown));
        }
    }
}

/// Best path through a lattice of `n` positions (piece ids, u32::MAX for unknown), optionally
/// without the edge that spans the whole word as piece `exclude`.
fn viterbi(
    n: usize,
    lattice: &[(usize, usize, u32, f64)],
    exclude: Option<u32>,
    best: &mut Vec<(f64, usize, u32)>,
) -> Option<Vec<u32>> {
    best.clear();
    best.resize(n + 1, (f64::NEG_INFINITY, 0, u32::MAX));
    best[0].0 = 0.0;
    for &(start, end, id, score) in lattice {
        if start == 0 && end == n && exclude == Some(id) {
            continue;
        }
        let s = best[start].0 + score;
        // Ties keep the first edge found (shorter pieces first): a fixed order.
        if s > best[end].0 {
            best[end] = (s, start, id);
        }
    }
    if best[n].0 == f64::NEG_INFINITY {
        return None;
    }
    let mut path = Vec::new();
    let mut end = n;
    while end > 0 {
        let (_, start, id) = best[end];
        path.push(id);
        end = start;
    }
    path.reverse();
    Some(path)
}

/// Adds `count ×` the marginal probability of every piece in the lattice to `expected` (fixed
/// point); returns the word's log-likelihood. Forward-backward runs on probabilities (`probs`:
/// per piece, then the unknown edge's) and falls back to log space only when a word's probability
/// gets near underflow: log-space additions (exp + log1p per edge) were 20% of the training time.
fn marginals(
    n: usize,
    lattice: &[(usize, usize, u32, f64)],
    probs: &[f64],
    count: u64,
    expected: &mut [u64],
    s: &mut Scratch,
) -> f64 {
    let prob = |id: u32| probs[(id as usize).min(probs.len() - 1)];
    let alpha = &mut s.alpha;
    alpha.clear();
    alpha.resize(n + 1, 0.0);
    alpha[0] = 1.0;
    for &(start, end, id, _) in lattice {
        alpha[end] += alpha[start] * prob(id);
    }
    let z = alpha[n];
    if z > 1e-250 {
        let beta = &mut s.beta;
        beta.clear();
        beta.resize(n + 1, 0.0);
        beta[n] = 1.0;
        for &(start, end, id, _) in lattice.iter().rev() {
            beta[start] += beta[end] * prob(id);
        }
        let scale = count as f64 * FIXED_ONE / z;
        for &(start, end, id, _) in lattice {
            if id == u32::MAX {
                continue;
            }
            let add = (alpha[start] * prob(id) * beta[end] * scale).round() as u64;
            expected[id as usize] = expected[id as usize].saturating_add(add);
        }
        return z.ln();
    }
    log_marginals(n, lattice, count, expected, s)
}

/// [`marginals`] in log space, for words whose probability underflows.
fn log_marginals(
    n: usize,
    lattice: &[(usize, usize, u32, f64)],
    count: u64,
    expected: &mut [u64],
    s: &mut Scratch,
) -> f64 {
    let alpha = &mut s.alpha;
    alpha.clear();
    alpha.resize(n + 1, f64::NEG_INFINITY);
    alpha[0] = 0.0;
    for &(start, end, _, score) in lattice {
        alpha[end] = log_add(alpha[end], alpha[start] + score);
    }
    let beta = &mut s.beta;
    beta.clear();
    beta.resize(n + 1, f64::NEG_INFINITY);
    beta[n] = 0.0;
    for &(start, end, _, score) in lattice.iter().rev() {
        beta[start] = log_add(beta[start], beta[end] + score);
    }
    let z = alpha[n];
    let c = count as f64;
    for &(start, end, id, score) in lattice {
        if id == u32::MAX {
            continue;
        }
        let p = (alpha[start] + score + beta[end] - z).exp();
        let add = (c * p * FIXED_ONE).round() as u64;
        expected[id as usize] = expected[id as usize].saturating_add(add);
    }
    z
}

#[derive(Default)]
struct Scratch {
    best: Vec<(f64, usize, u32)>,
    lattice: Vec<(usize, usize, u32, f64)>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    matches: Vec<Edge>,
}

fn log_add(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// The digamma function (asymptotic series after shifting the argument above 7).
fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 7.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    x -= 0.5;
    let xx = 1.0 / x;
    let xx2 = xx * xx;
    let xx4 = xx2 * xx2;
    result + x.ln() + xx2 / 24.0 - 7.0 / 960.0 * xx4 + 31.0 / 8064.0 * xx4 * xx2 - 127.0 / 30720.0 * xx4 * xx4
}

/// A coarse Unicode script of a character, for "a piece never mixes scripts" (no script table is
/// linked in): the blocks of the major scripts, Han with Hiragana and Katakana (as SentencePiece
/// merges them), combining marks inherit the script before them, other letters go by their
/// 128-character block, and everything that is not a letter (digits, punctuation) is Common.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Common,
    Inherited,
    Letters(u32),
}

fn script(c: u32) -> Script {
    const LATIN: u32 = 1;
    const HAN: u32 = 2;
    const HANGUL: u32 = 3;
    let Some(ch) = char::from_u32(c) else {
        return Script::Common;
    };
    match c {
        0x300..=0x36F
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F
        | 0x200C
        | 0x200D => Script::Inherited,
        0x3040..=0x30FF
        | 0x31F0..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0xFF66..=0xFF9F => Script::Letters(HAN),
        0x20000..=0x3FFFF => Script::Letters(HAN),
        0x1100..=0x11FF | 0x3130..=0x318F | 0xAC00..=0xD7AF => Script::Letters(HANGUL),
        // Vowel signs and viramas of the Indic and Southeast Asian blocks belong to their letters.
        0x900..=0xFFF if !ch.is_whitespace() && !ch.is_numeric() => Script::Letters(c >> 7 << 7),
        _ if !ch.is_alphabetic() => Script::Common,
        0x41..=0x5A | 0x61..=0x7A | 0xAA | 0xBA | 0xC0..=0x24F | 0x1E00..=0x1EFF | 0x2C60..=0x2C7F => {
            Script::Letters(LATIN)
        }
        0xA720..=0xA7FF | 0xAB30..=0xAB6F | 0xFF21..=0xFF3A | 0xFF41..=0xFF5A => Script::Letters(LATIN),
        0x370..=0x3FF | 0x1F00..=0x1FFF => Script::Letters(0x370),
        0x400..=0x52F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F | 0x1C80..=0x1C8F => Script::Letters(0x400),
        0x600..=0x6FF | 0x750..=0x77F | 0x8A0..=0x8FF | 0xFB50..=0xFDFF | 0xFE70..=0xFEFF => {
            Script::Letters(0x600)
        }
        _ => Script::Letters(c >> 7 << 7),
    }
}

fn is_decimal_digit(c: u32) -> bool {
    char::from_u32(c).is_some_and(|ch| ch.is_numeric())
}

/// SentencePiece's `IsValidSentencePiece` for pieces of words that contain no separator.
fn valid_piece(piece: &[u32], o: &UnigramOptions) -> bool {
    let mark = WHITESPACE_MARK as u32;
    if piece.is_empty() || piece.len() > o.max_piece_length {
        return false;
    }
    let mut prev: Option<Script> = None;
    for (pos, &c) in piece.iter().enumerate() {
        if c == UNKNOWN_CHAR || c == SEPARATOR || c == 0x20 {
            return false;
        }
        if c == mark {
            let inside = if o.whitespace_as_suffix {
                pos + 1 < piece.len()
            } else {
                pos > 0
            };
            if inside {
                return false;
            }
            continue;
        }
        let digit = is_decimal_digit(c);
        if o.split_digits && digit && piece.len() > 1 {
            return false;
        }
        let mut s = Some(script(c));
        if s == Some(Script::Inherited) {
            s = prev;
        }
        if !o.split_by_number && digit {
            s = None;
        }
        if o.split_by_script {
            if let (Some(a), Some(b)) = (s, prev) {
                if a != b {
                    return false;
                }
            }
        }
        if s.is_some() {
            prev = s;
        }
    }
    true
}

/// Counted pieces -> merged, sorted word sequences with the whitespace marker.
fn make_words(pieces: &[(Box<[u8]>, u64)], o: &UnigramOptions) -> Result<Words> {
    let mark = WHITESPACE_MARK as u32;
    let mut merged: FxHashMap<Vec<u32>, u64> = FxHashMap::default();
    for (piece, count) in pieces {
        let text = std::str::from_utf8(piece)
            .map_err(|_| Error::Corpus("a counted piece is not valid UTF-8".to_string()))?;
        // Line ends are sentence boundaries, never part of a piece.
        let text = text.trim_matches(|c| c == '\n' || c == '\r');
        if text.is_empty() || text.contains(['\n', '\r']) {
            continue;
        }
        let body = if o.whitespace_as_suffix {
            text.strip_suffix(' ').unwrap_or(text)
        } else {
            text.strip_prefix(' ').unwrap_or(text)
        };
        let mut w: Vec<u32> = Vec::with_capacity(body.len() + 1);
        if !o.whitespace_as_suffix {
            w.push(mark);
        }
        w.extend(body.chars().map(|c| if c == ' ' { mark } else { c as u32 }));
        if o.whitespace_as_suffix {
            w.push(mark);
        }
        *merged.entry(w).or_insert(0) += count;
    }
    let mut list: Vec<(Vec<u32>, u64)> = merged.into_iter().collect();
    list.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut words = Words {
        chars: Vec::new(),
        starts: vec![0],
        counts: Vec::with_capacity(list.len()),
    };
    for (w, c) in list {
        words.chars.extend_from_slice(&w);
        words.starts.push(words.chars.len());
        words.counts.push(c);
    }
    Ok(words)
}

/// Marks characters outside the coverage as unknown; returns required characters with counts,
/// most frequent first (ties by code point), and the number of distinct characters.
fn apply_coverage(words: &mut Words, coverage: f64) -> (Vec<(u32, u64)>, usize) {
    let mut freq: FxHashMap<u32, u64> = FxHashMap::default();
    for i in 0..words.len() {
        let c = words.counts[i];
        for &ch in words.get(i) {
            *freq.entry(ch).or_insert(0) += c;
        }
    }
    let seen = freq.len();
    let mut chars: Vec<(u32, u64)> = freq.into_iter().collect();
    chars.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = chars.iter().map(|c| c.1).sum();
    let mut covered = 0u64;
    let mut keep = 0;
    for (i, &(_, n)) in chars.iter().enumerate() {
        if total > 0 && covered as f64 / total as f64 >= coverage {
            break;
        }
        covered += n;
        keep = i + 1;
    }
    chars.truncate(keep);
    let required: rustc_hash::FxHashSet<u32> = chars.iter().map(|c| c.0).collect();
    // The marker is always required: every word has it.
    for ch in words.chars.iter_mut() {
        if !required.contains(ch) && *ch != WHITESPACE_MARK as u32 {
            *ch = UNKNOWN_CHAR;
        }
    }
    (chars, seen)
}

/// Suffix starts (not at a separator or unknown character) sorted by their text up to `end_of`,
/// ties by position. A plain comparison sort was 22% of the training time; sorting packed keys
/// of the first characters' dense ranks first (in code point order, 0 past the end, so the order
/// is the same) leaves only runs with equal keys for the slice comparison.
fn sort_suffixes(
    text: &[u32],
    end_of: &(impl Fn(usize) -> usize + Sync),
    pool: &rayon::ThreadPool,
) -> Vec<u32> {
    let mut alphabet: Vec<u32> = text
        .iter()
        .copied()
        .filter(|&c| c != SEPARATOR && c != UNKNOWN_CHAR)
        .collect();
    alphabet.par_sort_unstable();
    alphabet.dedup();
    let rank: FxHashMap<u32, u64> = alphabet
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u64 + 1))
        .collect();
    let bits = 64 - (alphabet.len() as u64 + 1).leading_zeros();
    let per_key = (64 / bits.max(1)) as usize;
    let mut keyed: Vec<(u64, u32)> = pool.install(|| {
        (0..text.len())
            .into_par_iter()
            .filter(|&p| text[p] != SEPARATOR && text[p] != UNKNOWN_CHAR)
            .map(|p| {
                let mut key = 0u64;
                let end = end_of(p);
                for k in 0..per_key {
                    let r = if p + k < end { rank[&text[p + k]] } else { 0 };
                    key = key << bits | r;
                }
                (key, p as u32)
            })
            .collect()
    });
    pool.install(|| {
        keyed.par_sort_unstable();
        keyed.par_chunk_by_mut(|a, b| a.0 == b.0).for_each(|run| {
            if run.len() > 1 {
                run.sort_unstable_by(|&(_, a), &(_, b)| {
                    let (a, b) = (a as usize, b as usize);
                    text[a..end_of(a)].cmp(&text[b..end_of(b)]).then(a.cmp(&b))
                });
            }
        });
    });
    keyed.into_iter().map(|(_, p)| p).collect()
}

/// The `seed_size` valid substrings of two or more characters with the highest frequency ×
/// length, from the internal nodes of a suffix array over the words (frequencies weighted by
/// word counts). Suffixes are compared only up to `max_piece_length` characters: longer
/// substrings can never become pieces.
fn seed_substrings(words: &Words, o: &UnigramOptions, pool: &rayon::ThreadPool) -> Vec<(Vec<u32>, u64)> {
    let cap = o.max_piece_length;
    // Text: words separated by SEPARATOR; weight of each position = its word's count.
    let mut text: Vec<u32> = Vec::with_capacity(words.chars.len() + words.len() + 1);
    let mut weight: Vec<u64> = Vec::with_capacity(text.capacity());
    for i in 0..words.len() {
        for &c in words.get(i) {
            text.push(c);
            weight.push(words.counts[i]);
        }
        text.push(SEPARATOR);
        weight.push(0);
    }
    let n = text.len();
    // Comparing one character beyond the longest piece keeps the nodes of that depth genuine
    // branch points (as in SentencePiece's uncapped array); deeper ones are too long anyway.
    let reach = cap + 1;
    let end_of = |p: usize| -> usize {
        let limit = (p + reach).min(n);
        text[p..limit]
            .iter()
            .position(|&c| c == SEPARATOR || c == UNKNOWN_CHAR)
            .map_or(limit, |k| p + k)
    };
    let ends: Vec<u32> = pool.install(|| (0..n).into_par_iter().map(|p| end_of(p) as u32).collect());
    let end_of = |p: usize| ends[p] as usize;
    let sa = sort_suffixes(&text, &end_of, pool);
    let m = sa.len();
    // lcp[i]: common prefix of suffixes sa[i-1] and sa[i] (within their words, capped).
    let lcp: Vec<u32> = pool.install(|| {
        (0..=m)
            .into_par_iter()
            .map(|i| {
                if i == 0 || i == m {
                    return 0;
                }
                let (a, b) = (sa[i - 1] as usize, sa[i] as usize);
                let (ea, eb) = (end_of(a), end_of(b));
                text[a..ea]
                    .iter()
                    .zip(&text[b..eb])
                    .take_while(|(x, y)| x == y)
                    .count() as u32
            })
            .collect()
    });
    let mut prefix: Vec<u64> = Vec::with_capacity(m + 1);
    prefix.push(0);
    for &p in &sa {
        let last = *prefix.last().unwrap_or(&0);
        prefix.push(last + weight[p as usize]);
    }
    let mut found: Vec<(u64, u32, u32)> = Vec::new(); // (score, start in sa, depth)
    let mut consider = |freq: u64, lb: usize, depth: u32| {
        let start = sa[lb] as usize;
        if depth >= 2 && valid_piece(&text[start..start + depth as usize], o) {
            found.push((freq.saturating_mul(depth as u64), lb as u32, depth));
        }
    };
    // Internal nodes of the suffix tree: LCP intervals, enumerated with a stack.
    let mut stack: Vec<(u32, usize)> = vec![(0, 0)]; // (depth, left bound)
    for i in 1..=m {
        let h = lcp[i];
        let mut left = i - 1;
        while stack.last().is_some_and(|top| top.0 > h) {
            let (depth, lb) = stack.pop().unwrap_or((0, 0));
            left = lb;
            consider(prefix[i] - prefix[lb], lb, depth);
        }
        if stack.last().is_none_or(|top| top.0 < h) {
            stack.push((h, left));
        }
    }
    // Whole word tails: in SentencePiece's array a frequent word repeats and branches at its
    // end, so it is a node there; here each distinct word occurs once, carrying its count.
    for i in 0..m {
        let p = sa[i] as usize;
        let e = end_of(p);
        let depth = (e - p) as u32;
        if text[e] != SEPARATOR && text[e] != UNKNOWN_CHAR || depth <= lcp[i].max(lcp[i + 1]) {
            continue;
        }
        consider(weight[p], i, depth);
    }
    drop(weight);
    let piece_of = |&(_, lb, depth): &(u64, u32, u32)| {
        let start = sa[lb as usize] as usize;
        &text[start..start + depth as usize]
    };
    let order =
        |a: &(u64, u32, u32), b: &(u64, u32, u32)| b.0.cmp(&a.0).then_with(|| piece_of(a).cmp(piece_of(b)));
    if found.len() > o.seed_size {
        found.select_nth_unstable_by(o.seed_size, order);
        found.truncate(o.seed_size);
    }
    found.sort_unstable_by(order);
    found.iter().map(|f| (piece_of(f).to_vec(), f.0)).collect()
}

/// Trains a Unigram model on counted pieces; `on_round` sees every EM round as it ends.
pub fn train_unigram(
    pieces: &[(Box<[u8]>, u64)],
    options: &UnigramOptions,
    threads: usize,
    on_round: &mut dyn FnMut(&Round),
) -> Result<UnigramModel> {
    let o = options;
    if o.pieces == 0 {
        return Err(Error::InvalidArgument(
            "the Unigram model needs at least one piece to learn".into(),
        ));
    }
    if o.max_piece_length == 0 || !(o.shrinking_factor > 0.0 && o.shrinking_factor < 1.0) {
        return Err(Error::InvalidArgument(
            "max_piece_length must be positive and shrinking_factor between 0 and 1".into(),
        ));
    }
    let pool = thread_pool(threads.max(1))?;
    let mut words = pool.install(|| make_words(pieces, o))?;
    if words.len() == 0 {
        return Err(Error::Corpus(
            "no words to train on (the corpus has only whitespace)".into(),
        ));
    }
    let (required, seen_chars) = apply_coverage(&mut words, o.character_coverage);
    let substrings = seed_substrings(&words, o, &pool);
    let seeds = substrings.len();

    // Seed model: characters then substrings, scores log(score / sum).
    let mut model_pieces: Vec<Vec<u32>> = required.iter().map(|&(c, _)| vec![c]).collect();
    let mut raw: Vec<f64> = required.iter().map(|&(_, n)| n as f64).collect();
    for (s, score) in substrings {
        model_pieces.push(s);
        raw.push(score as f64);
    }
    let total: f64 = raw.iter().sum();
    let scores: Vec<f64> = raw.iter().map(|&s| (s / total).ln()).collect();
    let mut model = Model {
        pieces: model_pieces,
        scores,
    };
    let mut lattices = Lattices::new(&words, &Trie::new(&model.pieces, o.max_piece_length), &pool);

    let desired = ((o.pieces as f64) * 1.1) as usize;
    let all_words: u64 = words.counts.iter().sum();
    let mut rounds = Vec::new();
    loop {
        for _ in 0..o.sub_iterations {
            let (expected, objective) = e_step(&model, &words, &lattices, &pool);
            let remap;
            (model, remap) = m_step(model, &expected);
            lattices.renumber(&remap, &pool);
            let round = Round {
                pieces: model.pieces.len(),
                objective: objective / all_words as f64,
            };
            on_round(&round);
            rounds.push(round);
        }
        if model.pieces.len() <= desired {
            break;
        }
        let before = model.pieces.len();
        let remap;
        (model, remap) = prune(model, &words, &lattices, o, desired, &pool);
        lattices.renumber(&remap, &pool);
        if model.pieces.len() >= before {
            break; // nothing left to prune (every piece is needed)
        }
    }
    Ok(finalize(
        &model,
        &required,
        o,
        seen_chars,
        words.len(),
        seeds,
        rounds,
    ))
}

/// Runs `f(word index, scratch, accumulator)` over all words in fixed-size tasks and sums the
/// accumulators element-wise (integers, so the sum does not depend on the split).
fn sum_over_words<F>(words: &Words, size: usize, pool: &rayon::ThreadPool, f: F) -> (Vec<u64>, f64)
where
    F: Fn(usize, &mut Scratch, &mut [u64]) -> f64 + Sync,
{
    let tasks: Vec<usize> = (0..words.len()).step_by(WORDS_PER_TASK).collect();
    let add = |mut a: (Vec<u64>, f64), b: (Vec<u64>, f64)| {
        if a.0.is_empty() {
            return b;
        }
        for (x, y) in a.0.iter_mut().zip(&b.0) {
            *x = x.saturating_add(*y);
        }
        (a.0, a.1 + b.1)
    };
    // A few splits per thread: every split zeroes and later adds a vector as long as the model.
    let min_len = tasks.len() / (4 * pool.current_num_threads().max(1)) + 1;
    let (sums, other) = pool.install(|| {
        tasks
            .par_iter()
            .with_min_len(min_len)
            .fold(
                || (Vec::new(), 0.0, Scratch::default()),
                |(mut acc, mut other, mut scratch), &start| {
                    if acc.is_empty() {
                        acc = vec![0u64; size];
                    }
                    for i in start..(start + WORDS_PER_TASK).min(words.len()) {
                        other += f(i, &mut scratch, &mut acc);
                    }
                    (acc, other, scratch)
                },
            )
            .map(|(acc, other, _)| (acc, other))
            .reduce(|| (Vec::new(), 0.0), add)
    });
    (if sums.is_empty() { vec![0; size] } else { sums }, other)
}

/// Expected piece counts (fixed point) and the negative log-likelihood of the corpus.
fn e_step(model: &Model, words: &Words, lattices: &Lattices, pool: &rayon::ThreadPool) -> (Vec<u64>, f64) {
    let unknown = model.unknown_score();
    // Piece probabilities, the unknown edge's last.
    let probs: Vec<f64> = model.scores.iter().chain([&unknown]).map(|s| s.exp()).collect();
    sum_over_words(words, model.pieces.len(), pool, |i, s, expected| {
        let n = words.get(i).len();
        let mut lat = std::mem::take(&mut s.lattice);
        lattice(n, &lattices.edges[i], model, unknown, &mut lat);
        let z = marginals(n, &lat, &probs, words.counts[i], expected, s);
        s.lattice = lat;
        -z * words.counts[i] as f64
    })
}

/// The Bayesian M-step; returns the new model and old id -> new id.
fn m_step(model: Model, expected: &[u64]) -> (Model, Vec<u32>) {
    let mut remap = vec![u32::MAX; model.pieces.len()];
    let mut pieces = Vec::new();
    let mut freqs = Vec::new();
    for (id, (piece, &e)) in model.pieces.into_iter().zip(expected).enumerate() {
        let f = e as f64 / FIXED_ONE;
        if f < MIN_EXPECTED {
            continue;
        }
        remap[id] = pieces.len() as u32;
        pieces.push(piece);
        freqs.push(f);
    }
    let sum: f64 = freqs.iter().sum();
    let log_sum = digamma(sum);
    let scores = freqs.iter().map(|&f| digamma(f) - log_sum).collect();
    (Model { pieces, scores }, remap)
}

fn prune(
    model: Model,
    words: &Words,
    lattices: &Lattices,
    o: &UnigramOptions,
    desired: usize,
    pool: &rayon::ThreadPool,
) -> (Model, Vec<u32>) {
    let size = model.pieces.len();
    let unknown = model.unknown_score();
    let trie = Trie::new(&model.pieces, o.max_piece_length);
    // Second-best segmentations of each piece by the other pieces.
    enum Fate {
        Keep,
        Drop,
        Alternative(Vec<u32>),
    }
    let fates: Vec<Fate> = pool.install(|| {
        (0..size)
            .into_par_iter()
            .map_init(Scratch::default, |s, id| {
                let piece = &model.pieces[id];
                if piece.len() == 1 {
                    return Fate::Keep;
                }
                s.matches.clear();
                for pos in 0..piece.len() {
                    trie.matches(piece, pos, &mut s.matches);
                }
                let mut lat = std::mem::take(&mut s.lattice);
                lattice(piece.len(), &s.matches, &model, unknown, &mut lat);
                let fate = match viterbi(piece.len(), &lat, None, &mut s.best) {
                    Some(path) if path.len() >= 2 => Fate::Drop,
                    Some(_) => match viterbi(piece.len(), &lat, Some(id as u32), &mut s.best) {
                        Some(alt) => Fate::Alternative(alt),
                        None => Fate::Keep,
                    },
                    None => Fate::Keep,
                };
                s.lattice = lat;
                fate
            })
            .collect()
    });
    // Viterbi frequencies over the corpus (integer sums: order-free).
    let (freq, _) = sum_over_words(words, size, pool, |i, s, freq| {
        let n = words.get(i).len();
        let mut lat = std::mem::take(&mut s.lattice);
        lattice(n, &lattices.edges[i], &model, unknown, &mut lat);
        if let Some(path) = viterbi(n, &lat, None, &mut s.best) {
            for id in path {
                if id != u32::MAX {
                    freq[id as usize] += words.counts[i];
                }
            }
        }
        s.lattice = lat;
        0.0
    });
    let all_words: u64 = words.counts.iter().sum();
    let sum: f64 = freq.iter().map(|&f| f as f64).sum();
    let log_sum = sum.ln();
    let mut keep: Vec<usize> = Vec::new();
    let mut candidates: Vec<(f64, usize)> = Vec::new();
    for (id, fate) in fates.iter().enumerate() {
        if freq[id] == 0 {
            continue;
        }
        match fate {
            Fate::Drop => {}
            Fate::Keep => keep.push(id),
            Fate::Alternative(alt) => {
                let f = freq[id] as f64;
                let share = f / all_words as f64;
                let logprob = f.ln() - log_sum;
                let log_sum_alt = (sum + f * (alt.len() as f64 - 1.0)).ln();
                let logprob_alt: f64 = alt
                    .iter()
                    .map(|&a| {
                        let fa = if a == u32::MAX {
                            0.0
                        } else {
                            freq[a as usize] as f64
                        };
                        (fa + f).ln() - log_sum_alt
                    })
                    .sum();
                candidates.push((share * (logprob - logprob_alt), id));
            }
        }
    }
    let target = desired.max((o.shrinking_factor * size as f64) as usize);
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, id) in &candidates {
        if keep.len() >= target {
            break;
        }
        keep.push(id);
    }
    keep.sort_unstable();
    let mut remap = vec![u32::MAX; size];
    let mut pieces = Vec::with_capacity(keep.len());
    let mut scores = Vec::with_capacity(keep.len());
    let (mut all_pieces, all_scores) = (model.pieces, model.scores);
    for id in keep {
        remap[id] = pieces.len() as u32;
        pieces.push(std::mem::take(&mut all_pieces[id]));
        scores.push(all_scores[id]);
    }
    (Model { pieces, scores }, remap)
}

fn finalize(
    model: &Model,
    required: &[(u32, u64)],
    o: &UnigramOptions,
    seen_chars: usize,
    words: usize,
    seeds: usize,
    rounds: Vec<Round>,
) -> UnigramModel {
    let min = model.scores.iter().copied().fold(f64::INFINITY, f64::min);
    let min = if min.is_finite() { min } else { 0.0 };
    let by_piece: FxHashMap<&[u32], f64> = model
        .pieces
        .iter()
        .map(|p| p.as_slice())
        .zip(model.scores.iter().copied())
        .collect();
    let mut out: FxHashMap<Vec<u32>, f64> = FxHashMap::default();
    // Required characters always stay; those the model dropped get the lowest scores, more
    // frequent ones a little higher (SentencePiece's 0.0001 steps).
    let mut penalty = 0.0;
    for &(c, _) in required {
        let key = vec![c];
        let score = match by_piece.get(key.as_slice()) {
            Some(&s) => s,
            None => {
                let s = min + penalty;
                penalty += 0.0001;
                s
            }
        };
        out.insert(key, score);
    }
    let mut ranked: Vec<(&[u32], f64)> = by_piece.iter().map(|(k, v)| (*k, *v)).collect();
    ranked.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    for (piece, score) in ranked {
        if out.len() >= o.pieces.max(required.len()) {
            break;
        }
        out.entry(piece.to_vec()).or_insert(score);
    }
    let mut pieces: Vec<(Vec<u32>, f64)> = out.into_iter().collect();
    pieces.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    UnigramModel {
        pieces: pieces
            .into_iter()
            .map(|(p, s)| (p.iter().filter_map(|&c| char::from_u32(c)).collect(), s))
            .collect(),
        required_chars: required.len(),
        seen_chars,
        words,
        seeds,
        rounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(text: &str) -> Vec<(Box<[u8]>, u64)> {
        let mut m: FxHashMap<String, u64> = FxHashMap::default();
        for line in text.lines() {
            let mut first = true;
            for w in line.split(' ') {
                let piece = if first { w.to_string() } else { format!(" {w}") };
                first = false;
                *m.entry(piece).or_insert(0) += 1;
            }
        }
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(k, c)| (k.into_bytes().into_boxed_slice(), c))
            .collect();
        v.sort();
        v
    }

    fn corpus() -> String {
        let base = "the quick brown fox jumps over the lazy dog\nthe dog barks at the fox\n\
                    quickly the foxes jumped over lazy dogs 1234 and 5678\nпривет мир привет\n";
        base.repeat(30)
    }

    #[test]
    fn probability_and_log_space_marginals_agree() {
        let model = Model {
            pieces: vec![vec![1], vec![2], vec![1, 2]],
            scores: vec![-1.0, -2.0, -2.5],
        };
        let word = [1, 2, 1, 2, 1];
        let trie = Trie::new(&model.pieces, 4);
        let mut edges = Vec::new();
        for pos in 0..word.len() {
            trie.matches(&word, pos, &mut edges);
        }
        let mut lat = Vec::new();
        lattice(word.len(), &edges, &model, model.unknown_score(), &mut lat);
        let probs: Vec<f64> = model
            .scores
            .iter()
            .chain([&model.unknown_score()])
            .map(|s| s.exp())
            .collect();
        let (mut a, mut b) = (vec![0u64; 3], vec![0u64; 3]);
        let mut s = Scratch::default();
        let za = marginals(word.len(), &lat, &probs, 7, &mut a, &mut s);
        let zb = log_marginals(word.len(), &lat, 7, &mut b, &mut s);
        assert!((za - zb).abs() < 1e-12);
        for (x, y) in a.iter().zip(&b) {
            assert!(x.abs_diff(*y) <= 1, "{a:?} {b:?}");
        }
    }

    #[test]
    fn digamma_matches_known_values() {
        assert!((digamma(1.0) + 0.577_215_664_901_532_9).abs() < 1e-9);
        assert!((digamma(10.0) - 2.251_752_589_066_721).abs() < 1e-9);
    }

    #[test]
    fn trains_requested_size_with_every_required_char() {
        let o = UnigramOptions {
            pieces: 60,
            ..Default::default()
        };
        let m = train_unigram(&counts(&corpus()), &o, 1, &mut |_| {}).unwrap();
        assert_eq!(m.pieces.len(), 60);
        for c in "thequickbrownfxjmpsvlazydg1234привет▁".chars() {
            assert!(m.pieces.iter().any(|(p, _)| p == &c.to_string()), "missing {c}");
        }
        assert!(m.pieces.iter().any(|(p, _)| p == "▁the"));
        for (p, _) in &m.pieces {
            assert!(!p.chars().skip(1).any(|c| c == WHITESPACE_MARK), "{p}");
            assert!(p.chars().count() <= 16);
            // scripts never mix
            assert!(
                !(p.chars().any(|c| c.is_ascii_alphabetic())
                    && p.chars().any(|c| (0x400..0x530).contains(&(c as u32))))
            );
        }
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let o = UnigramOptions {
            pieces: 50,
            ..Default::default()
        };
        let a = train_unigram(&counts(&corpus()), &o, 1, &mut |_| {}).unwrap();
        let b = train_unigram(&counts(&corpus()), &o, 3, &mut |_| {}).unwrap();
        assert_eq!(a.pieces, b.pieces);
    }

    #[test]
    fn split_digits_and_suffix_marker() {
        let o = UnigramOptions {
            pieces: 50,
            split_digits: true,
            whitespace_as_suffix: true,
            ..Default::default()
        };
        let m = train_unigram(&counts(&corpus()), &o, 2, &mut |_| {}).unwrap();
        for (p, _) in &m.pieces {
            assert!(
                !(p.chars().count() > 1 && p.chars().any(|c| c.is_ascii_digit())),
                "{p}"
            );
            let body: Vec<char> = p.chars().collect();
            assert!(!body[..body.len() - 1].contains(&WHITESPACE_MARK), "{p}");
        }
        assert!(m.pieces.iter().any(|(p, _)| p == "the▁"));
    }

    #[test]
    fn low_coverage_leaves_rare_characters_out() {
        let o = UnigramOptions {
            pieces: 40,
            character_coverage: 0.9,
            ..Default::default()
        };
        let m = train_unigram(&counts(&corpus()), &o, 1, &mut |_| {}).unwrap();
        assert!(m.required_chars < m.seen_chars);
        assert!(!m.pieces.iter().any(|(p, _)| p.contains('м')));
    }

    #[test]
    fn empty_input_is_an_error() {
        let o = UnigramOptions::default();
        assert!(train_unigram(&[], &o, 1, &mut |_| {}).is_err());
    }
}
