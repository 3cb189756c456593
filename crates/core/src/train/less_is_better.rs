//! LiB, "Less-is-Better" lexicon learning (Yang, Frank & van den Bosch, CogALex 2020): a lexicon
//! that minimises both the number of chunk tokens needed to read a corpus and the number of chunk
//! types stored, learned by reading the corpus article by article.
//!
//! The lexicon is an ordered list (rank = position, lower is better) with a trie for
//! longest-prefix matching, plus a probation list (chunk -> remaining life in articles).
//!
//! Reading a sentence left to right, at each position the two longest lexicon chunks that start
//! there are looked up:
//! * **Memorizer**: with probability `in_rate` (α) the previous chunk joined to the current one is
//!   appended to the lexicon and put on probation for `life` (τ₀) articles; a character the
//!   lexicon lacks is memorized on its own.
//! * **Evaluator**: when the longest chunk has a shorter alternative, both segmentations are
//!   followed greedily until they end at the same position. If the longest-chunk path needs more
//!   chunks, or as many with a larger summed rank, the long chunk is punished and the alternative
//!   rewarded; otherwise the long chunk is rewarded and leaves probation. Using a chunk that is on
//!   probation and has no alternative also releases it.
//!
//! After each article (the Forgetter): every probation life drops by one and chunks reaching 0
//! are deleted; each rewarded (punished) chunk moves `⌊rank·Δ⌋ + 1` places toward the front (back),
//! leaving the lexicon when pushed past its end; the tail share `out_rate` (ω) goes on probation.
//!
//! Re-ranking is batched: every moved chunk's target follows from its own rank and its events in
//! order, and the lexicon is rebuilt by one merge of the unmoved chunks (already in order) with
//! the moved ones sorted by target: O(|L| + m log m) per article instead of the reference's
//! O(|L|) list slice per move. Chunks landing on the same place keep a total order (target, then
//! direction, then old rank), so nothing depends on hash order.
//!
//! Determinism: the reading order is a Fisher–Yates shuffle of the sentence occurrences (the
//! counted pieces in sorted order, each repeated by its count) with a seeded SplitMix64, the same
//! generator draws the memorizer's coin, and the loop is sequential; the final segmentation pass
//! that counts chunk frequencies sums integers, so it is the same for any thread count.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::error::{Error, Result};
use crate::pool::thread_pool;

use super::unigram::WHITESPACE_MARK;

const NONE: u32 = u32::MAX;
/// Sentences per parallel task of the final segmentation pass.
const SENTENCES_PER_TASK: usize = 1024;

/// What decides the result (besides the counted sentences).
#[derive(Clone, Debug)]
pub struct LibOptions {
    /// Chunks to keep in the final vocabulary (besides special and byte pieces).
    pub pieces: usize,
    /// α: chance that two adjacent chunks are memorized as one.
    pub in_rate: f64,
    /// ω: share of the lexicon's tail put on probation after each article.
    pub out_rate: f64,
    /// τ₀: probation length in articles.
    pub life: u32,
    /// Δ: a reward or punishment moves a chunk by this share of its rank (plus one).
    pub update_rate: f64,
    /// Longest chunk in characters (0: no limit).
    pub max_chunk_length: usize,
    /// Sentences per article (one Forgetter step).
    pub article_sentences: usize,
    /// Times the corpus is read (each pass in a new shuffled order).
    pub passes: usize,
    /// Share of character occurrences the single-character pieces must cover.
    pub character_coverage: f64,
    /// Pieces are words (a space starts each) rather than whole lines.
    pub words: bool,
    /// The authors' later revision: a chunk on probation leaves it only when it is met in a
    /// context other than the one it was memorized in; met again in the same context (one side
    /// repeating), the chunk joined to that context is memorized instead.
    pub inspect_context: bool,
    pub seed: u64,
}

impl Default for LibOptions {
    fn default() -> Self {
        LibOptions {
            pieces: 8000,
            in_rate: 0.25,
            out_rate: 0.0001,
            life: 10,
            update_rate: 0.2,
            max_chunk_length: 12,
            article_sentences: 500,
            passes: 1,
            character_coverage: 0.9995,
            words: false,
            inspect_context: false,
            seed: 0,
        }
    }
}

/// The learned vocabulary.
#[derive(Clone, Debug)]
pub struct LibLexicon {
    /// Chunks in id order (lexicon rank; required characters the lexicon had forgotten come last)
    /// with their token counts under LiB's own segmentation of the training corpus.
    pub pieces: Vec<(String, u64)>,
    /// Chunks in the lexicon when reading ended (before probation chunks were dropped).
    pub lexicon_size: usize,
    /// Chunks still on probation at the end (dropped).
    pub on_probation: usize,
    pub required_chars: usize,
    pub seen_chars: usize,
    pub articles: usize,
    pub passes: usize,
    pub sentences: u64,
    /// Tokens and characters of the training corpus under the final vocabulary.
    pub tokens: u64,
    pub chars: u64,
}

/// A trie over chunk characters: edges in one hash map, nodes reference-counted so that deleting a
/// chunk frees the nodes no other chunk uses.
struct Trie {
    edges: FxHashMap<(u32, char), u32>,
    terminal: Vec<u32>,
    refs: Vec<u32>,
    free: Vec<u32>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            edges: FxHashMap::default(),
            terminal: vec![NONE],
            refs: vec![0],
            free: Vec::new(),
        }
    }

    fn insert(&mut self, chunk: &[char], id: u32) {
        let mut node = 0u32;
        for &c in chunk {
            node = match self.edges.get(&(node, c)) {
                Some(&child) => child,
                None => {
                    let child = match self.free.pop() {
                        Some(n) => {
                            self.terminal[n as usize] = NONE;
                            self.refs[n as usize] = 0;
                            n
                        }
                        None => {
                            self.terminal.push(NONE);
                            self.refs.push(0);
                            (self.terminal.len() - 1) as u32
                        }
                    };
                    self.edges.insert((node, c), child);
                    child
                }
            };
            self.refs[node as usize] += 1;
        }
        self.terminal[node as usize] = id;
    }

    fn remove(&mut self, chunk: &[char]) {
        let mut node = 0u32;
        let mut path = Vec::with_capacity(chunk.len());
        for &c in chunk {
            let child = self.edges[&(node, c)];
            path.push((node, c, child));
            node = child;
        }
        self.terminal[node as usize] = NONE;
        for (parent, c, child) in path {
            self.refs[child as usize] -= 1;
            if self.refs[child as usize] == 0 {
                self.edges.remove(&(parent, c));
                self.free.push(child);
            }
        }
    }

    /// The longest and second-longest chunks that start `text` (ids, or NONE).
    fn match_two(&self, text: &[char], max_len: usize) -> (u32, u32) {
        let (mut longest, mut second) = (NONE, NONE);
        let mut node = 0u32;
        for &c in text.iter().take(max_len) {
            match self.edges.get(&(node, c)) {
                Some(&child) => node = child,
                None => break,
            }
            let t = self.terminal[node as usize];
            if t != NONE {
                second = longest;
                longest = t;
            }
        }
        (longest, second)
    }
}

/// SplitMix64: small, fast and fully specified, so the stream is the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0), by rejection so there is no modulo bias.
    fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// A pending comparison of a long chunk's path with its shorter alternative's.
struct Eval {
    chunk: u32,
    alt_first: u32,
    alt_end: usize,
    alt_chunks: u32,
    alt_rank: u64,
    chunks: u32,
    rank: u64,
}

/// The chunks before and after a chunk where it was memorized (empty at a sentence edge).
type Context = (Box<[char]>, Box<[char]>);

struct Lexicon {
    chunks: Vec<Box<[char]>>,
    alive: Vec<bool>,
    rank: Vec<u32>,
    order: Vec<u32>,
    /// Remaining probation life in articles; 0 = not on probation.
    life: Vec<u32>,
    listed: Vec<bool>,
    probation: Vec<u32>,
    /// With `inspect_context`: where a chunk on probation was memorized (None when it went on
    /// probation from the lexicon's tail, or without `inspect_context`).
    context: Vec<Option<Context>>,
    free: Vec<u32>,
    trie: Trie,
    max_len: usize,
}

impl Lexicon {
    fn new(max_len: usize) -> Lexicon {
        Lexicon {
            chunks: Vec::new(),
            alive: Vec::new(),
            rank: Vec::new(),
            order: Vec::new(),
            life: Vec::new(),
            listed: Vec::new(),
            probation: Vec::new(),
            context: Vec::new(),
            free: Vec::new(),
            trie: Trie::new(),
            max_len: if max_len == 0 { usize::MAX } else { max_len },
        }
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn match_two(&self, text: &[char]) -> (u32, u32) {
        self.trie.match_two(text, self.max_len)
    }

    fn chunk_len(&self, id: u32) -> usize {
        self.chunks[id as usize].len()
    }

    /// Appends `chunk` (if new and not too long) on probation, recording `context` (the chunks
    /// around it) for `inspect_context`.
    fn memorize(&mut self, chunk: &[char], life: u32, context: Option<(&[char], &[char])>) {
        if chunk.is_empty() || chunk.len() > self.max_len {
            return;
        }
        let (longest, _) = self.trie.match_two(chunk, chunk.len());
        if longest != NONE && self.chunk_len(longest) == chunk.len() {
            return; // already known
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.chunks[id as usize] = chunk.into();
                id
            }
            None => {
                self.chunks.push(chunk.into());
                self.alive.push(false);
                self.rank.push(0);
                self.life.push(0);
                self.listed.push(false);
                self.context.push(None);
                (self.chunks.len() - 1) as u32
            }
        };
        let i = id as usize;
        self.alive[i] = true;
        self.rank[i] = self.order.len() as u32;
        self.order.push(id);
        self.trie.insert(chunk, id);
        self.put_on_probation(id, life);
        self.context[i] = context.map(|(left, right)| (left.into(), right.into()));
    }

    /// Puts `id` on probation with no recorded context (`memorize` records one afterwards).
    fn put_on_probation(&mut self, id: u32, life: u32) {
        let i = id as usize;
        self.life[i] = life;
        self.context[i] = None;
        if !self.listed[i] {
            self.listed[i] = true;
            self.probation.push(id);
        }
    }

    fn release(&mut self, id: u32) {
        self.life[id as usize] = 0;
        self.context[id as usize] = None;
    }

    fn on_probation(&self, id: u32) -> bool {
        self.life[id as usize] > 0
    }

    /// Deletes a chunk (its id is reused later); the caller compacts `order`.
    fn forget(&mut self, id: u32) {
        let i = id as usize;
        self.trie.remove(&self.chunks[i]);
        self.alive[i] = false;
        self.life[i] = 0;
        self.context[i] = None;
        self.chunks[i] = Box::new([]);
        self.free.push(id);
    }

    fn compact(&mut self) {
        let alive = &self.alive;
        self.order.retain(|&id| alive[id as usize]);
        for (r, &id) in self.order.iter().enumerate() {
            self.rank[id as usize] = r as u32;
        }
    }

    /// The Forgetter step after an article: probation lives, re-ranking, tail probation.
    fn end_article(&mut self, rewards: &mut Vec<(u32, i8)>, o: &LibOptions) {
        let mut probation = std::mem::take(&mut self.probation);
        probation.retain(|&id| {
            let i = id as usize;
            if self.life[i] == 0 {
                self.listed[i] = false;
                return false;
            }
            self.life[i] -= 1;
            if self.life[i] == 0 {
                self.listed[i] = false;
                self.forget(id);
                return false;
            }
            true
        });
        self.probation = probation;
        self.compact();
        self.rerank(rewards, o.update_rate);
        rewards.clear();
        let len = self.len();
        let start = ((1.0 - o.out_rate) * len as f64) as usize;
        for r in start.min(len)..len {
            let id = self.order[r];
            if !self.on_probation(id) {
                self.put_on_probation(id, o.life);
            }
        }
    }

    fn rerank(&mut self, rewards: &[(u32, i8)], update_rate: f64) {
        let len = self.len() as i64;
        // Target rank per moved chunk, in first-event order.
        let mut target: FxHashMap<u32, i64> = FxHashMap::default();
        let mut moved: Vec<u32> = Vec::new();
        for &(id, e) in rewards {
            if !self.alive[id as usize] {
                continue;
            }
            let pos = *target.entry(id).or_insert_with(|| {
                moved.push(id);
                self.rank[id as usize] as i64
            });
            if pos >= len {
                continue; // already pushed out
            }
            let step = (pos as f64 * update_rate) as i64 + 1;
            target.insert(id, (pos + i64::from(e) * step).max(0));
        }
        if moved.is_empty() {
            return;
        }
        let mut placed: Vec<(i64, u8, u32, u32)> = Vec::with_capacity(moved.len());
        let mut is_moved = vec![false; self.chunks.len()];
        let mut pushed_out = Vec::new();
        for &id in &moved {
            let old = self.rank[id as usize];
            let t = target[&id];
            if t >= len {
                pushed_out.push(id);
                is_moved[id as usize] = true;
                continue;
            }
            if t == old as i64 {
                continue;
            }
            // Forward movers land before the chunk now at their target, backward ones after it.
            let side = if t < old as i64 { 0 } else { 2 };
            placed.push((t, side, old, id));
            is_moved[id as usize] = true;
        }
        placed.sort_unstable();
        let mut order = Vec::with_capacity(self.order.len());
        let mut p = 0;
        for &id in &self.order {
            if is_moved[id as usize] {
                continue;
            }
            let r = self.rank[id as usize];
            while p < placed.len() && (placed[p].0, placed[p].1) < (r as i64, 1) {
                order.push(placed[p].3);
                p += 1;
            }
            order.push(id);
        }
        order.extend(placed[p..].iter().map(|x| x.3));
        self.order = order;
        for id in pushed_out {
            self.forget(id);
        }
        self.compact();
    }

    /// The longest lexicon chunk at `at`, or the single character there when none matches (the
    /// reference's `force_match`); empty at the sentence's end.
    fn force_match<'a>(&self, s: &'a [char], at: usize) -> &'a [char] {
        if at >= s.len() {
            return &[];
        }
        let (longest, _) = self.match_two(&s[at..]);
        let len = if longest == NONE {
            1
        } else {
            self.chunk_len(longest)
        };
        &s[at..at + len]
    }

    /// Reads one sentence: memorizing, evaluating, collecting rewards.
    fn read(&mut self, s: &[char], rng: &mut Rng, o: &LibOptions, rewards: &mut Vec<(u32, i8)>) {
        let mut evals: Vec<Eval> = Vec::new();
        // Starts of the previous chunk and of the one before it.
        let mut prev_start: Option<usize> = None;
        let mut before_start: Option<usize> = None;
        let mut loc = 0;
        while loc < s.len() {
            self.evaluate(&mut evals, s, loc, !o.inspect_context, rewards);
            let (longest, second) = self.match_two(&s[loc..]);
            let rank = if longest == NONE {
                0
            } else {
                u64::from(self.rank[longest as usize])
            };
            for e in &mut evals {
                e.chunks += 1;
                e.rank += rank;
            }
            let last = &s[prev_start.unwrap_or(loc)..loc];
            let len = if longest == NONE {
                let context = o.inspect_context.then(|| (last, self.force_match(s, loc + 1)));
                self.memorize(&s[loc..loc + 1], o.life, context);
                1
            } else {
                let len = self.chunk_len(longest);
                if o.inspect_context && self.on_probation(longest) {
                    let before = match (before_start, prev_start) {
                        (Some(b), Some(p)) => &s[b..p],
                        _ => &[],
                    };
                    self.inspect(longest, s, loc, last, before, o.life, rewards);
                }
                if len > 1 && second != NONE {
                    let alt_len = self.chunk_len(second);
                    evals.push(Eval {
                        chunk: longest,
                        alt_first: second,
                        alt_end: loc + alt_len,
                        alt_chunks: 1,
                        alt_rank: u64::from(self.rank[second as usize]),
                        chunks: 1,
                        rank,
                    });
                } else if !o.inspect_context && self.on_probation(longest) {
                    self.release(longest);
                }
                if let Some(start) = prev_start {
                    if rng.unit() < o.in_rate {
                        let context = o.inspect_context.then(|| {
                            let before = &s[before_start.unwrap_or(start)..start];
                            (before, self.force_match(s, loc + len))
                        });
                        self.memorize(&s[start..loc + len], o.life, context);
                    }
                }
                len
            };
            before_start = prev_start;
            prev_start = Some(loc);
            loc += len;
        }
    }

    /// `inspect_context`: chunk `id` (on probation) is met at `loc` after `last` (and `before`
    /// it). Met in a new context, it leaves probation with a reward. When one side of the context
    /// repeats (one of the two is a suffix, on the right a prefix, of the other), the chunk joined
    /// to that side is memorized instead and `id` stays on probation: it may only ever occur
    /// there. A chunk put on probation from the lexicon's tail has no context and is released.
    #[allow(clippy::too_many_arguments)]
    fn inspect(
        &mut self,
        id: u32,
        s: &[char],
        loc: usize,
        last: &[char],
        before: &[char],
        life: u32,
        rewards: &mut Vec<(u32, i8)>,
    ) {
        let Some((old_last, old_next)) = self.context[id as usize].take() else {
            self.release(id);
            return;
        };
        let end = loc + self.chunk_len(id);
        let next = self.force_match(s, end);
        if old_last.is_empty() && old_next.is_empty() && last.is_empty() && next.is_empty() {
            // A whole sentence seen again: nothing tells the contexts apart.
            self.context[id as usize] = Some((old_last, old_next));
            return;
        }
        let mut extended = false;
        if (!old_last.is_empty() && last.ends_with(&old_last))
            || (!last.is_empty() && old_last.ends_with(last))
        {
            self.memorize(&s[loc - last.len()..end], life, Some((before, next)));
            extended = true;
        }
        if (!old_next.is_empty() && next.starts_with(&old_next))
            || (!next.is_empty() && old_next.starts_with(next))
        {
            let after = self.force_match(s, end + next.len());
            self.memorize(&s[loc..end + next.len()], life, Some((last, after)));
            extended = true;
        }
        if extended {
            self.context[id as usize] = Some((old_last, old_next));
        } else {
            rewards.push((id, -1));
            self.release(id);
        }
    }

    /// Settles the comparisons whose two paths reach `end`. A long chunk that wins is rewarded and,
    /// with `release`, leaves probation (with `inspect_context` only its contexts decide that,
    /// as in the authors' later revision).
    fn evaluate(
        &mut self,
        evals: &mut Vec<Eval>,
        s: &[char],
        end: usize,
        release: bool,
        rewards: &mut Vec<(u32, i8)>,
    ) {
        let mut i = 0;
        while i < evals.len() {
            let e = &mut evals[i];
            while e.alt_end < end {
                let (next, _) = self.trie.match_two(&s[e.alt_end..], self.max_len);
                e.alt_chunks += 1;
                if next == NONE {
                    e.alt_end += 1;
                } else {
                    e.alt_rank += u64::from(self.rank[next as usize]);
                    e.alt_end += self.chunks[next as usize].len();
                }
            }
            if e.alt_end == end {
                let alt_better = e.chunks > e.alt_chunks || (e.chunks == e.alt_chunks && e.rank > e.alt_rank);
                let (chunk, alt) = (e.chunk, e.alt_first);
                evals.swap_remove(i);
                if alt_better {
                    rewards.push((alt, -1));
                    rewards.push((chunk, 1));
                } else {
                    rewards.push((chunk, -1));
                    if release && self.alive[chunk as usize] {
                        self.release(chunk);
                    }
                }
            } else {
                i += 1;
            }
        }
    }
}

/// A counted piece as characters, whitespace escaped as SentencePiece does (`▁`, with a dummy
/// `▁` in front of a line, or of a word that does not start with a space); line breaks dropped.
fn sentence(piece: &[u8], words: bool) -> Vec<char> {
    let text = String::from_utf8_lossy(piece);
    let body = text.trim_matches(|c| c == '\r' || c == '\n');
    if body.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(body.len() + 1);
    if !(words && body.starts_with(' ')) {
        out.push(WHITESPACE_MARK);
    }
    out.extend(body.chars().map(|c| if c == ' ' { WHITESPACE_MARK } else { c }));
    out
}

/// The most frequent characters covering `coverage` of all character occurrences (ties by code
/// point), and the number of distinct characters.
fn required_chars(sentences: &[(Vec<char>, u64)], coverage: f64) -> (Vec<char>, usize) {
    let mut freq: FxHashMap<char, u64> = FxHashMap::default();
    for (s, n) in sentences {
        for &c in s {
            *freq.entry(c).or_insert(0) += n;
        }
    }
    let mut chars: Vec<(char, u64)> = freq.into_iter().collect();
    chars.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let total: u64 = chars.iter().map(|x| x.1).sum();
    let seen = chars.len();
    let mut covered = 0u64;
    let mut out = Vec::new();
    for (c, n) in chars {
        if covered as f64 >= coverage * total as f64 {
            break;
        }
        covered += n;
        out.push(c);
    }
    (out, seen)
}

/// LiB's own segmentation of a sentence with a fixed vocabulary: the longest chunk, unless it has a
/// shorter alternative whose greedy path reaches a common end with fewer chunks (or as many with a
/// smaller summed rank). Calls `emit(id)` per chunk; characters outside the vocabulary emit NONE.
fn segment(trie: &Trie, max_len: usize, s: &[char], len_of: &[usize], emit: &mut impl FnMut(u32)) {
    let next = |pos: usize| -> (u32, usize) {
        let (id, _) = trie.match_two(&s[pos..], max_len);
        if id == NONE {
            (NONE, 1)
        } else {
            (id, len_of[id as usize])
        }
    };
    let rank = |id: u32| if id == NONE { 0 } else { u64::from(id) };
    let mut paths: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
    let mut i = 0;
    while i < s.len() {
        let (longest, second) = trie.match_two(&s[i..], max_len);
        if longest == NONE || second == NONE || len_of[longest as usize] < 2 {
            let (id, len) = next(i);
            emit(id);
            i += len;
            continue;
        }
        let mut ends = [i + len_of[longest as usize], i + len_of[second as usize]];
        paths[0].clear();
        paths[1].clear();
        paths[0].push(longest);
        paths[1].push(second);
        while ends[0] != ends[1] {
            let k = usize::from(ends[0] > ends[1]);
            let (id, len) = next(ends[k]);
            paths[k].push(id);
            ends[k] += len;
        }
        let sum = |p: &Vec<u32>| p.iter().map(|&id| rank(id)).sum::<u64>();
        let alt_better = paths[0].len() > paths[1].len()
            || (paths[0].len() == paths[1].len() && sum(&paths[0]) > sum(&paths[1]));
        for &id in &paths[usize::from(alt_better)] {
            emit(id);
        }
        i = ends[0];
    }
}

/// Learns a LiB lexicon from counted pieces (lines, or words with `words`) and keeps the best
/// `pieces` chunks. `on_article(done, total, lexicon size)` reports progress after each article.
pub fn train_lib(
    pieces: &[(Box<[u8]>, u64)],
    options: &LibOptions,
    threads: usize,
    on_article: &mut dyn FnMut(usize, usize, usize),
) -> Result<LibLexicon> {
    let o = options;
    if o.pieces == 0 || o.article_sentences == 0 || o.passes == 0 || o.life == 0 {
        return Err(Error::InvalidArgument(
            "pieces, article_sentences, passes and life must be positive".into(),
        ));
    }
    for (name, v) in [
        ("in_rate", o.in_rate),
        ("out_rate", o.out_rate),
        ("update_rate", o.update_rate),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(Error::InvalidArgument(format!(
                "{name} must be between 0 and 1, got {v}"
            )));
        }
    }
    let pool = thread_pool(threads.max(1))?;
    let mut counted: Vec<(&[u8], u64)> = pieces.iter().map(|(p, n)| (&p[..], *n)).collect();
    counted.sort_unstable();
    let sentences: Vec<(Vec<char>, u64)> = counted
        .iter()
        .map(|&(p, n)| (sentence(p, o.words), n))
        .filter(|(s, n)| !s.is_empty() && *n > 0)
        .collect();
    if sentences.is_empty() {
        return Err(Error::Corpus(
            "no text to learn from (the corpus is empty or only line breaks)".into(),
        ));
    }
    let (required, seen_chars) = required_chars(&sentences, o.character_coverage);
    if required.len() > o.pieces {
        return Err(Error::InvalidArgument(format!(
            "the corpus needs {} single characters to reach character_coverage={}, more than the {} \
             pieces vocab_size leaves; raise vocab_size or lower character_coverage",
            required.len(),
            o.character_coverage,
            o.pieces
        )));
    }

    // Reading order: every occurrence once per pass, shuffled.
    let occurrences: u64 = sentences.iter().map(|x| x.1).sum();
    let occurrences_usize = usize::try_from(occurrences)
        .map_err(|_| Error::Corpus("too many sentences for this platform".into()))?;
    let mut schedule: Vec<u32> = Vec::with_capacity(occurrences_usize);
    for (i, (_, n)) in sentences.iter().enumerate() {
        schedule.extend(std::iter::repeat_n(i as u32, *n as usize));
    }
    let per_pass = schedule.len().div_ceil(o.article_sentences);
    let passes = o.passes;
    let total_articles = per_pass * passes;
    let mut rng = Rng(o.seed);
    let mut lexicon = Lexicon::new(o.max_chunk_length);
    let mut rewards = Vec::new();
    let mut done = 0;
    for _ in 0..passes {
        for i in (1..schedule.len()).rev() {
            schedule.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for article in schedule.chunks(o.article_sentences) {
            for &s in article {
                lexicon.read(&sentences[s as usize].0, &mut rng, o, &mut rewards);
            }
            lexicon.end_article(&mut rewards, o);
            done += 1;
            on_article(done, total_articles, lexicon.len());
        }
    }
    let lexicon_size = lexicon.len();

    // The final vocabulary: lexicon chunks off probation, best rank first, every required
    // character kept; then LiB's segmentation of the corpus counts each chunk's tokens.
    let on_probation = lexicon
        .order
        .iter()
        .filter(|&&id| lexicon.on_probation(id))
        .count();
    let required_set: rustc_hash::FxHashSet<char> = required.iter().copied().collect();
    let mut chosen: Vec<Box<[char]>> = Vec::with_capacity(o.pieces);
    let mut have: rustc_hash::FxHashSet<char> = Default::default();
    let multi_budget = o.pieces - required.len();
    let mut multi = 0;
    for &id in &lexicon.order {
        let chunk = &lexicon.chunks[id as usize];
        if lexicon.on_probation(id) {
            continue;
        }
        if chunk.len() == 1 {
            if required_set.contains(&chunk[0]) {
                have.insert(chunk[0]);
                chosen.push(chunk.clone());
            }
        } else if multi < multi_budget {
            multi += 1;
            chosen.push(chunk.clone());
        }
    }
    chosen.extend(
        required
            .iter()
            .filter(|c| !have.contains(c))
            .map(|&c| Box::from([c])),
    );
    drop(lexicon);

    let mut trie = Trie::new();
    for (id, chunk) in chosen.iter().enumerate() {
        trie.insert(chunk, id as u32);
    }
    let len_of: Vec<usize> = chosen.iter().map(|c| c.len()).collect();
    let max_len = len_of.iter().copied().max().unwrap_or(1);
    let (freq, tokens) = pool.install(|| {
        sentences
            .par_chunks(SENTENCES_PER_TASK)
            .map(|task| {
                let mut freq = vec![0u64; chosen.len()];
                let mut tokens = 0u64;
                for (s, n) in task {
                    segment(&trie, max_len, s, &len_of, &mut |id| {
                        tokens += n;
                        if id != NONE {
                            freq[id as usize] += n;
                        }
                    });
                }
                (freq, tokens)
            })
            .reduce(
                || (vec![0u64; chosen.len()], 0),
                |(mut a, ta), (b, tb)| {
                    for (x, y) in a.iter_mut().zip(b) {
                        *x += y;
                    }
                    (a, ta + tb)
                },
            )
    });
    let chars: u64 = sentences.iter().map(|(s, n)| s.len() as u64 * n).sum();
    Ok(LibLexicon {
        pieces: chosen
            .iter()
            .zip(freq)
            .map(|(c, f)| (c.iter().collect(), f))
            .collect(),
        lexicon_size,
        on_probation,
        required_chars: required.len(),
        seen_chars,
        articles: done,
        passes,
        sentences: occurrences,
        tokens,
        chars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(lines: &[&str]) -> Vec<(Box<[u8]>, u64)> {
        let mut m: FxHashMap<&str, u64> = FxHashMap::default();
        for l in lines {
            *m.entry(l).or_insert(0) += 1;
        }
        m.into_iter().map(|(k, v)| (k.as_bytes().into(), v)).collect()
    }

    fn corpus() -> Vec<(Box<[u8]>, u64)> {
        let words = [
            "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "to", "park", "and",
        ];
        let mut rng = Rng(7);
        let lines: Vec<String> = (0..3000)
            .map(|_| {
                (0..8)
                    .map(|_| words[rng.below(words.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        counts(&refs)
    }

    fn options() -> LibOptions {
        LibOptions {
            pieces: 200,
            article_sentences: 100,
            ..LibOptions::default()
        }
    }

    #[test]
    fn learns_words_and_keeps_every_character() {
        let lex = train_lib(&corpus(), &options(), 1, &mut |_, _, _| {}).unwrap();
        let pieces: Vec<&str> = lex.pieces.iter().map(|(p, _)| p.as_str()).collect();
        assert!(pieces.len() <= 200);
        for c in "thecatsonmdgrpk▁".chars() {
            assert!(pieces.contains(&c.to_string().as_str()), "{c}");
        }
        assert!(pieces.iter().any(|p| p.chars().count() >= 3), "{pieces:?}");
        // Fewer tokens than characters: chunks were learned and are used.
        assert!(
            lex.tokens * 2 < lex.chars,
            "{} tokens for {} chars",
            lex.tokens,
            lex.chars
        );
        assert_eq!((lex.articles, lex.passes), (30, 1));
    }

    #[test]
    fn same_result_for_any_thread_count_and_input_order() {
        let a = train_lib(&corpus(), &options(), 1, &mut |_, _, _| {}).unwrap();
        let mut shuffled = corpus();
        shuffled.reverse();
        let b = train_lib(&shuffled, &options(), 3, &mut |_, _, _| {}).unwrap();
        assert_eq!(a.pieces, b.pieces);
        let other = LibOptions { seed: 1, ..options() };
        let c = train_lib(&corpus(), &other, 1, &mut |_, _, _| {}).unwrap();
        assert_ne!(a.pieces, c.pieces);
    }

    #[test]
    fn trie_removal_frees_only_unshared_nodes() {
        let mut t = Trie::new();
        let ab: Vec<char> = "ab".chars().collect();
        let abc: Vec<char> = "abc".chars().collect();
        t.insert(&ab, 0);
        t.insert(&abc, 1);
        assert_eq!(t.match_two(&abc, 9), (1, 0));
        t.remove(&abc);
        assert_eq!(t.match_two(&abc, 9), (0, NONE));
        assert_eq!(t.edges.len(), 2);
        t.remove(&ab);
        assert!(t.edges.is_empty());
    }

    #[test]
    fn two_path_segmentation_prefers_fewer_chunks() {
        // "abcd" with vocabulary ab, abc, cd, a, b, c, d: longest "abc" then "d" (2 chunks) ties
        // with "ab" + "cd" (2 chunks); the rank sum decides (abc + d = 1 + 6 > ab + cd = 0 + 2).
        let vocab = ["ab", "abc", "cd", "a", "b", "c", "d"];
        let mut trie = Trie::new();
        for (i, v) in vocab.iter().enumerate() {
            trie.insert(&v.chars().collect::<Vec<_>>(), i as u32);
        }
        let len_of: Vec<usize> = vocab.iter().map(|v| v.len()).collect();
        let mut out = Vec::new();
        let s: Vec<char> = "abcd".chars().collect();
        segment(&trie, 3, &s, &len_of, &mut |id| out.push(id));
        assert_eq!(out, vec![0, 2]);
        // "abcc": abc + c (2) beats ab + c + c (3) whatever the ranks.
        out.clear();
        let s: Vec<char> = "abcc".chars().collect();
        segment(&trie, 3, &s, &len_of, &mut |id| out.push(id));
        assert_eq!(out, vec![1, 5]);
    }

    fn chars(text: &str) -> Vec<char> {
        text.chars().collect()
    }

    fn known(lex: &Lexicon, text: &str) -> Option<u32> {
        let c = chars(text);
        let (longest, _) = lex.match_two(&c);
        (longest != NONE && lex.chunk_len(longest) == c.len()).then_some(longest)
    }

    /// A lexicon holding the single characters of `alphabet` (off probation) and `ab` on probation,
    /// memorized between `x` and `c`.
    fn lexicon_with_ab(alphabet: &str) -> (Lexicon, u32) {
        let mut lex = Lexicon::new(0);
        for c in alphabet.chars() {
            lex.memorize(&[c], 10, None);
            lex.release(known(&lex, &c.to_string()).unwrap());
        }
        lex.memorize(&chars("ab"), 10, Some((&chars("x"), &chars("c"))));
        let ab = known(&lex, "ab").unwrap();
        (lex, ab)
    }

    #[test]
    fn inspect_context_extends_a_repeated_context_and_releases_a_new_one() {
        let o = LibOptions {
            in_rate: 0.0,
            inspect_context: true,
            ..options()
        };
        let mut rng = Rng(0);
        let mut rewards = Vec::new();
        // Met again between x and c: both sides repeat, so xab and abc are memorized and ab
        // stays on probation with its first context.
        let (mut lex, ab) = lexicon_with_ab("xabcyd");
        lex.read(&chars("xabc"), &mut rng, &o, &mut rewards);
        assert!(lex.on_probation(ab));
        for chunk in ["xab", "abc"] {
            let id = known(&lex, chunk).expect(chunk);
            assert!(lex.on_probation(id), "{chunk}");
        }
        // The only reward is the evaluator's (ab + c beats a + b + c).
        assert_eq!(rewards, vec![(ab, -1)]);
        // Only the left side repeats (x, then d instead of c): xab only.
        let (mut lex, ab) = lexicon_with_ab("xabcyd");
        rewards.clear();
        lex.read(&chars("xabd"), &mut rng, &o, &mut rewards);
        assert!(lex.on_probation(ab));
        assert!(known(&lex, "xab").is_some() && known(&lex, "abd").is_none());
        // A new context on both sides: released with a reward, nothing memorized.
        let (mut lex, ab) = lexicon_with_ab("xabcyd");
        rewards.clear();
        lex.read(&chars("yabd"), &mut rng, &o, &mut rewards);
        assert!(!lex.on_probation(ab));
        // The context's reward, then the evaluator's.
        assert_eq!(rewards, vec![(ab, -1), (ab, -1)]);
        assert!(known(&lex, "yab").is_none() && known(&lex, "abd").is_none());
        // Without inspect_context the same reading releases ab whatever its context.
        let plain = LibOptions {
            inspect_context: false,
            ..o.clone()
        };
        let (mut lex, ab) = lexicon_with_ab("xabcyd");
        rewards.clear();
        lex.read(&chars("xabc"), &mut rng, &plain, &mut rewards);
        assert!(!lex.on_probation(ab) && known(&lex, "abc").is_none());
        assert_eq!(rewards, vec![(ab, -1)]);
    }

    #[test]
    fn inspect_context_releases_a_tail_chunk_and_waits_on_a_whole_sentence() {
        let o = LibOptions {
            in_rate: 0.0,
            inspect_context: true,
            ..options()
        };
        let mut rng = Rng(0);
        let mut rewards = Vec::new();
        // On probation from the lexicon's tail: no context recorded, released when used.
        let (mut lex, ab) = lexicon_with_ab("xabc");
        lex.put_on_probation(ab, 10);
        lex.read(&chars("xabc"), &mut rng, &o, &mut rewards);
        assert!(!lex.on_probation(ab) && known(&lex, "abc").is_none());
        // Memorized as a whole sentence and met again as one: nothing tells the contexts apart.
        let mut lex = Lexicon::new(0);
        lex.memorize(&chars("a"), 10, None);
        lex.memorize(&chars("ab"), 10, Some((&[], &[])));
        let ab = known(&lex, "ab").unwrap();
        lex.read(&chars("ab"), &mut rng, &o, &mut rewards);
        assert!(lex.on_probation(ab));
    }

    #[test]
    fn inspect_context_trains_deterministically() {
        let o = LibOptions {
            inspect_context: true,
            ..options()
        };
        let a = train_lib(&corpus(), &o, 1, &mut |_, _, _| {}).unwrap();
        let b = train_lib(&corpus(), &o, 3, &mut |_, _, _| {}).unwrap();
        assert_eq!(a.pieces, b.pieces);
        let plain = train_lib(&corpus(), &options(), 1, &mut |_, _, _| {}).unwrap();
        assert_ne!(a.pieces, plain.pieces);
        assert!(
            a.tokens * 2 < a.chars,
            "{} tokens for {} chars",
            a.tokens,
            a.chars
        );
    }

    #[test]
    fn empty_and_degenerate_input() {
        let e = train_lib(&counts(&["\n", "\r\n"]), &options(), 1, &mut |_, _, _| {});
        assert!(matches!(e, Err(Error::Corpus(_))));
        let one = train_lib(
            &counts(&["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; 50]),
            &options(),
            1,
            &mut |_, _, _| {},
        )
        .unwrap();
        assert!(one.pieces.iter().any(|(p, _)| p == "a"));
        let tiny = LibOptions {
            pieces: 2,
            ..options()
        };
        let e = train_lib(&corpus(), &tiny, 1, &mut |_, _, _| {});
        assert!(matches!(e, Err(Error::InvalidArgument(_))));
    }
}
