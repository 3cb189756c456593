//! Byte-level BPE training with incremental pair counts and a lazy priority queue.
//!
//! Words are the distinct pre-tokenized pieces with their (u64) counts, stored as id sequences in
//! one arena. A pair index maps each adjacent pair `(left, right)` to its count (summed over words,
//! weighted by word counts) and to the words that contain it. Each step pops the best pair, applies
//! the merge to exactly those words, and updates counts from local deltas, so a step costs time in
//! proportion to the words it touches, not to the corpus.
//!
//! **Order (the documented total order; it decides every tie).** The next merge is the pair with
//! the highest count; among equal counts, the pair whose *left* token's bytes are lexicographically
//! smallest, then whose *right* token's bytes are smallest. Token bytes are unique, so this is a
//! total order on pairs: the result never depends on hash order, thread count, batch boundaries
//! or the order in which the corpus was read. (HF `tokenizers` breaks ties by token id, which is
//! deterministic only given its own id assignment; SentencePiece prefers shorter pieces.)
//!
//! **Lazy invalidation.** Only pairs that contain the newest token gain occurrences in a step;
//! every other pair only loses them. So each pair has exactly one queue entry whose count is at
//! least its true count: when a popped entry is stale it is pushed back with the true count, and
//! a popped entry that is current is the true maximum.
//!
//! **Filters** (`max_token_bytes`, `max_token_chars`, the SuperBPE rules) reject a candidate merge
//! for good: the pair is dropped from the queue and its index. It never comes back, because its
//! count can only fall. This is what the SuperBPE reference does (`continue` past the pair).
//!
//! **Continuation.** With a base model, every word is first encoded with that model (exactly what
//! the finished tokenizer will do with the inherited merges), and training continues from there
//! with new ids from `next_id`. Replaying the inherited merges one by one over the pair index, as
//! the SuperBPE fork does, gives the same words for merge-list models and is slower.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::heap::{Entry, PairHeap};
use crate::bpe::Bpe;
use crate::error::{Error, Result};
use crate::pool::thread_pool;

#[inline]
fn pack(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

#[inline]
fn unpack(p: u64) -> (u32, u32) {
    ((p >> 32) as u32, p as u32)
}

/// Options of one training run.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Stop after this many new tokens (merges that recreate an existing token do not count).
    pub max_new_tokens: usize,
    /// Stop when the best pair occurs fewer times than this (at least 1).
    pub min_frequency: u64,
    /// Reject merges whose token would be longer than this many bytes.
    pub max_token_bytes: Option<usize>,
    /// Reject merges whose token would span more than this many characters (a partial UTF-8
    /// sequence at either end counts as one character).
    pub max_token_chars: Option<usize>,
    /// SuperBPE: reject tokens with more than this many words (non-empty parts between spaces).
    pub max_words: Option<usize>,
    /// SuperBPE: reject tokens containing a colon followed by a space.
    pub forbid_colon_space: bool,
    /// Reject merges whose bytes already are a token (for rank-based bases, where a second merge
    /// into an existing token cannot be expressed).
    pub skip_existing: bool,
    /// SuperBPE: drop the base merges whose pair never occurs while they are replayed on the
    /// pieces, as the authors' trainer does (see [`super::replay`]). Needs a merge-list base whose
    /// ids are exactly `0..next_id`.
    pub drop_unseen_base_merges: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            max_new_tokens: usize::MAX,
            min_frequency: 2,
            max_token_bytes: None,
            max_token_chars: None,
            max_words: None,
            forbid_colon_space: false,
            skip_existing: false,
            drop_unseen_base_merges: false,
        }
    }
}

/// Words encoded by one thread: symbols, word lengths, word counts and (when base merges may be
/// dropped) which token ids occur.
type EncodedChunk = (Vec<u32>, Vec<u32>, Vec<u64>, Vec<bool>);

/// Count and containing words of one pair.
#[derive(Debug, Default)]
struct PairStat {
    count: u64,
    /// Words that contain (or contained) the pair, ascending, each once. Entries can be stale:
    /// a word that lost the pair is skipped when the pair is merged.
    words: Vec<u32>,
}

/// A merge the trainer made: `(left, right)` became `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub left: u32,
    pub right: u32,
    pub id: u32,
    /// Occurrences of the pair when it was merged.
    pub count: u64,
}

pub struct BpeTrainer {
    options: TrainOptions,
    /// Bytes of every token by id (empty for ids that are not model tokens, e.g. specials).
    tokens: Vec<Vec<u8>>,
    by_bytes: FxHashMap<Vec<u8>, u32>,
    next_id: u32,
    /// Arena of word symbols; word `w` is `sym[start[w] .. start[w] + len[w]]`.
    sym: Vec<u32>,
    start: Vec<usize>,
    len: Vec<u32>,
    count: Vec<u64>,
    pairs: FxHashMap<u64, PairStat>,
    heap: PairHeap,
    merges: Vec<Merge>,
    new_tokens: usize,
    finished: bool,
    /// Priorities of the base merges dropped by `drop_unseen_base_merges`, ascending.
    dropped_base_merges: Vec<u32>,
}

/// `x` pops before `y`: higher count, then smaller left bytes, then smaller right bytes.
#[inline]
fn better(tokens: &[Vec<u8>], x: &Entry, y: &Entry) -> bool {
    if x.count != y.count {
        return x.count > y.count;
    }
    let (xa, xb) = unpack(x.pair);
    let (ya, yb) = unpack(y.pair);
    match tokens[xa as usize].cmp(&tokens[ya as usize]) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => tokens[xb as usize] < tokens[yb as usize],
    }
}

/// Characters spanned by `bytes`: UTF-8 lead bytes, plus one for a partial sequence at the start.
fn char_len(bytes: &[u8]) -> usize {
    let leads = bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count();
    leads + usize::from(bytes.first().is_some_and(|&b| (b & 0xC0) == 0x80))
}

impl BpeTrainer {
    /// A trainer over `pieces` (distinct, any order; sorted here). Without `base`, ids 0..=255 are
    /// the bytes and new tokens start at `next_id` (>= 256). With `base`, words are first encoded
    /// with it; `next_id` must be above every id the final tokenizer already uses (specials too).
    pub fn new(
        pieces: Vec<(Box<[u8]>, u64)>,
        base: Option<&Bpe>,
        next_id: u32,
        mut options: TrainOptions,
        threads: usize,
    ) -> Result<Self> {
        if options.min_frequency == 0 {
            return Err(Error::InvalidArgument("min_frequency must be at least 1".into()));
        }
        let mut tokens: Vec<Vec<u8>> = Vec::new();
        match base {
            None => {
                if next_id < 256 {
                    return Err(Error::InvalidArgument(format!(
                        "next_id must be at least 256 for a byte-level start, got {next_id}"
                    )));
                }
                tokens.extend((0..=255u8).map(|b| vec![b]));
            }
            Some(bpe) => {
                if let Some(b) = (0..=255u8).find(|&b| bpe.token_id(&[b]).is_none()) {
                    return Err(Error::InvalidVocabulary(format!(
                        "byte 0x{b:02x} is not a token; training continues only from byte-level \
                         vocabularies that contain all 256 single bytes"
                    )));
                }
                for (bytes, id) in bpe.vocab() {
                    if id as usize >= tokens.len() {
                        tokens.resize(id as usize + 1, Vec::new());
                    }
                    tokens[id as usize] = bytes.to_vec();
                }
                if (next_id as usize) < tokens.len() {
                    return Err(Error::InvalidArgument(format!(
                        "next_id {next_id} is below the base vocabulary's id space ({})",
                        tokens.len()
                    )));
                }
            }
        }
        tokens.resize(next_id as usize, Vec::new());
        let mut by_bytes: FxHashMap<Vec<u8>, u32> = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();

        let mut pieces = pieces;
        pieces.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let pool = thread_pool(threads.max(1))?;

        let replayed = match base {
            Some(bpe) if options.drop_unseen_base_merges => {
                if bpe.id_space() != next_id as usize || bpe.len() != next_id as usize {
                    return Err(Error::InvalidArgument(format!(
                        "dropping unseen base merges needs a base with ids 0..{next_id} and no gaps"
                    )));
                }
                Some(bpe)
            }
            _ => None,
        };
        // Encode pieces into words; single-symbol words have no pairs and are left out. With
        // `replayed`, every token of every encoding is also marked (single-symbol words too).
        let chunk = pieces.len().div_ceil(threads.max(1) * 8).max(1);
        let encode = |slice: &[(Box<[u8]>, u64)]| -> EncodedChunk {
            let (mut sym, mut lens, mut counts) = (Vec::new(), Vec::new(), Vec::new());
            let mut used = vec![false; if replayed.is_some() { next_id as usize } else { 0 }];
            let mut buf = Vec::new();
            for (piece, c) in slice {
                buf.clear();
                match base {
                    None => buf.extend(piece.iter().map(|&b| b as u32)),
                    Some(bpe) => bpe.encode_piece(piece, &mut buf),
                }
                if !used.is_empty() && *c > 0 {
                    for &id in &buf {
                        used[id as usize] = true;
                    }
                }
                if buf.len() >= 2 && *c > 0 {
                    sym.extend_from_slice(&buf);
                    lens.push(buf.len() as u32);
                    counts.push(*c);
                }
            }
            (sym, lens, counts, used)
        };
        let mut parts: Vec<EncodedChunk> = if threads <= 1 {
            pieces.chunks(chunk).map(encode).collect()
        } else {
            pool.install(|| pieces.par_chunks(chunk).map(encode).collect())
        };
        let mut dropped_base_merges = Vec::new();
        if let Some(bpe) = replayed {
            let mut used = vec![false; next_id as usize];
            for part in &mut parts {
                for (all, here) in used.iter_mut().zip(std::mem::take(&mut part.3)) {
                    *all |= here;
                }
            }
            dropped_base_merges = super::replay::unseen_merges(bpe, &pieces, &used, &pool, threads);
        }
        drop(pieces);
        let total_sym: usize = parts.iter().map(|p| p.0.len()).sum();
        let total_words: usize = parts.iter().map(|p| p.1.len()).sum();
        if total_words > u32::MAX as usize {
            return Err(Error::InvalidArgument(format!(
                "{total_words} distinct pieces is more than this trainer supports (2^32 - 1)"
            )));
        }
        let mut sym = Vec::with_capacity(total_sym);
        let mut start = Vec::with_capacity(total_words);
        let mut len = Vec::with_capacity(total_words);
        let mut count = Vec::with_capacity(total_words);
        for (s, l, c, _) in parts {
            sym.extend_from_slice(&s);
            len.extend_from_slice(&l);
            count.extend_from_slice(&c);
        }
        let mut offset = 0usize;
        for &l in &len {
            start.push(offset);
            offset += l as usize;
        }

        // A dropped merge leaves no token unless a kept merge makes the same bytes: those ids
        // become gaps (never in a word, since a dropped merge is never applied), and their bytes
        // are free for a new token, as in the fork, where the token never existed.
        if let Some(bpe) = replayed {
            let entries = bpe.merge_entries();
            let mut kept: FxHashMap<u32, bool> = FxHashMap::default();
            for &(_, _, priority, merged) in &entries {
                let dropped = dropped_base_merges.binary_search(&priority).is_ok();
                *kept.entry(merged).or_insert(false) |= !dropped;
            }
            let mut freed = 0;
            for (id, keep) in kept {
                if !keep {
                    by_bytes.remove(&tokens[id as usize]);
                    tokens[id as usize].clear();
                    freed += 1;
                }
            }
            // The fork stops at a vocabulary size, so the freed ids go to new tokens.
            options.max_new_tokens = options.max_new_tokens.saturating_add(freed);
        }
        let mut trainer = BpeTrainer {
            options,
            tokens,
            by_bytes,
            next_id,
            sym,
            start,
            len,
            count,
            pairs: FxHashMap::default(),
            heap: PairHeap::default(),
            merges: Vec::new(),
            new_tokens: 0,
            finished: false,
            dropped_base_merges,
        };
        trainer.count_pairs(&pool, threads);
        Ok(trainer)
    }

    /// Initial pair counts (in parallel over contiguous word ranges), then the word lists of the
    /// pairs that can ever be merged (count >= min_frequency), filled in word order so each list is
    /// ascending. Building lists only for those pairs matters for SuperBPE's second stage, where
    /// most pairs (two words side by side) are rare: on 100 MB of English (1.7M lines, 24M
    /// symbols, 2.0M pairs of which 1.1M reach min_frequency 2) it skips ~0.9M list allocations.
    /// Time was the same on a loaded 2-core machine (9-10 s either way), 80% of it the fill's
    /// hash lookups (one per symbol); the pair counting itself is under 2 s.
    fn count_pairs(&mut self, pool: &rayon::ThreadPool, threads: usize) {
        let n = self.len.len();
        let chunk = n.div_ceil(threads.max(1)).max(1);
        let ranges: Vec<(usize, usize)> = (0..n).step_by(chunk).map(|s| (s, (s + chunk).min(n))).collect();
        let this = &*self;
        let count_range = |&(lo, hi): &(usize, usize)| -> FxHashMap<u64, u64> {
            let mut local: FxHashMap<u64, u64> = FxHashMap::default();
            for w in lo..hi {
                let c = this.count[w];
                for pair in this.word(w).windows(2) {
                    let st = local.entry(pack(pair[0], pair[1])).or_default();
                    *st = st.saturating_add(c);
                }
            }
            local
        };
        let mut locals: Vec<FxHashMap<u64, u64>> = if threads <= 1 || ranges.len() <= 1 {
            ranges.iter().map(count_range).collect()
        } else {
            pool.install(|| ranges.par_iter().map(count_range).collect())
        };
        // Merge into the largest map (fewest insertions).
        locals.sort_by_key(|m| std::cmp::Reverse(m.len()));
        let mut counts = if locals.is_empty() {
            FxHashMap::default()
        } else {
            locals.remove(0)
        };
        for local in locals {
            for (k, c) in local {
                let g = counts.entry(k).or_default();
                *g = g.saturating_add(c);
            }
        }
        let min = self.options.min_frequency;
        // A pair below min_frequency can never be merged (old pairs only lose occurrences).
        let mut pairs: FxHashMap<u64, PairStat> = counts
            .into_iter()
            .filter(|&(_, c)| c >= min)
            .map(|(k, c)| {
                (
                    k,
                    PairStat {
                        count: c,
                        words: Vec::new(),
                    },
                )
            })
            .collect();
        for w in 0..n {
            for pair in self.word(w).windows(2) {
                if let Some(st) = pairs.get_mut(&pack(pair[0], pair[1])) {
                    if st.words.last() != Some(&(w as u32)) {
                        st.words.push(w as u32);
                    }
                }
            }
        }
        let entries: Vec<Entry> = pairs
            .iter()
            .map(|(&pair, st)| Entry {
                count: st.count,
                pair,
            })
            .collect();
        let tokens = &self.tokens;
        self.heap = PairHeap::from_vec(entries, &|x, y| better(tokens, x, y));
        self.pairs = pairs;
    }

    #[inline]
    fn word(&self, w: usize) -> &[u32] {
        &self.sym[self.start[w]..self.start[w] + self.len[w] as usize]
    }

    /// Runs up to `max_steps` merges; returns how many were made (0 once finished).
    pub fn step(&mut self, max_steps: usize) -> usize {
        let mut done = 0;
        while done < max_steps && !self.finished {
            if self.new_tokens >= self.options.max_new_tokens {
                self.finish();
                break;
            }
            match self.pop_best() {
                None => self.finish(),
                Some((pair, count)) => {
                    self.apply(pair, count);
                    done += 1;
                }
            }
        }
        done
    }

    /// Runs to completion.
    pub fn run(&mut self) {
        while self.step(usize::MAX) > 0 {}
    }

    fn finish(&mut self) {
        self.finished = true;
        self.heap.clear();
        self.pairs = FxHashMap::default();
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Merges made so far, in order.
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// Priorities (indices in the base's merge list) of the base merges dropped because their
    /// pair never occurs in the pieces (`drop_unseen_base_merges`), ascending.
    pub fn dropped_base_merges(&self) -> &[u32] {
        &self.dropped_base_merges
    }

    /// Stop after this many new tokens (the option, plus the ids freed by dropped base merges).
    pub fn max_new_tokens(&self) -> usize {
        self.options.max_new_tokens
    }

    /// Number of new tokens created so far.
    pub fn new_tokens(&self) -> usize {
        self.new_tokens
    }

    /// Bytes of a token (base or new).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens
            .get(id as usize)
            .filter(|t| !t.is_empty())
            .map(|t| t.as_slice())
    }

    /// Number of distinct words with at least two symbols (the ones training works on).
    pub fn word_count(&self) -> usize {
        self.len.len()
    }

    /// Number of pairs currently tracked.
    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    fn accept(&self, merged: &[u8]) -> bool {
        let o = &self.options;
        if o.max_token_bytes.is_some_and(|m| merged.len() > m) {
            return false;
        }
        if o.max_token_chars.is_some_and(|m| char_len(merged) > m) {
            return false;
        }
        if o.forbid_colon_space && merged.windows(2).any(|w| w == b": ") {
            return false;
        }
        if let Some(m) = o.max_words {
            if merged.split(|&b| b == b' ').filter(|p| !p.is_empty()).count() > m {
                return false;
            }
        }
        if o.skip_existing && self.by_bytes.contains_key(merged) {
            return false;
        }
        true
    }

    /// The best mergeable pair and its count, or None when nothing is left.
    fn pop_best(&mut self) -> Option<(u64, u64)> {
        let min = self.options.min_frequency;
        loop {
            let tokens = &self.tokens;
            let top = self.heap.pop(&|x, y| better(tokens, x, y))?;
            let Some(st) = self.pairs.get(&top.pair) else {
                continue;
            };
            if st.count != top.count {
                if st.count >= min {
                    let entry = Entry {
                        count: st.count,
                        pair: top.pair,
                    };
                    self.heap.push(entry, &|x, y| better(tokens, x, y));
                } else {
                    self.pairs.remove(&top.pair);
                }
                continue;
            }
            if top.count < min {
                return None;
            }
            let (a, b) = unpack(top.pair);
            let mut merged = self.tokens[a as usize].clone();
            merged.extend_from_slice(&self.tokens[b as usize]);
            if !self.accept(&merged) {
                self.pairs.remove(&top.pair);
                continue;
            }
            return Some((top.pair, top.count));
        }
    }

    fn apply(&mut self, pair: u64, count: u64) {
        let (a, b) = unpack(pair);
        let mut merged = self.tokens[a as usize].clone();
        merged.extend_from_slice(&self.tokens[b as usize]);
        let id = match self.by_bytes.get(&merged) {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.tokens.push(merged.clone());
                self.by_bytes.insert(merged, id);
                self.new_tokens += 1;
                id
            }
        };
        self.merges.push(Merge {
            left: a,
            right: b,
            id,
            count,
        });
        let words = self.pairs.remove(&pair).map(|st| st.words).unwrap_or_default();
        let mut created: Vec<u64> = Vec::new();
        for &w in &words {
            self.merge_word(w as usize, a, b, id, &mut created);
        }
        let min = self.options.min_frequency;
        for p in created {
            let Some(st) = self.pairs.get(&p) else { continue };
            if st.count >= min {
                let entry = Entry {
                    count: st.count,
                    pair: p,
                };
                let tokens = &self.tokens;
                self.heap.push(entry, &|x, y| better(tokens, x, y));
            } else {
                self.pairs.remove(&p);
            }
        }
    }

    #[inline]
    fn dec(&mut self, pair: u64, by: u64) {
        if let Some(st) = self.pairs.get_mut(&pair) {
            st.count = st.count.saturating_sub(by);
        }
    }

    #[inline]
    fn inc(&mut self, pair: u64, by: u64, w: u32, created: &mut Vec<u64>) {
        let st = self.pairs.entry(pair).or_insert_with(|| {
            created.push(pair);
            PairStat::default()
        });
        st.count = st.count.saturating_add(by);
        if st.words.last() != Some(&w) {
            st.words.push(w);
        }
    }

    /// Merges every (left-to-right, non-overlapping) occurrence of `(a, b)` in word `w` into `n`,
    /// updating the pair index with the word's count.
    fn merge_word(&mut self, w: usize, a: u32, b: u32, n: u32, created: &mut Vec<u64>) {
        let start = self.start[w];
        let len = self.len[w] as usize;
        let wc = self.count[w];
        // Fast reject: stale entry (the word no longer holds the pair).
        let holds = self.sym[start..start + len]
            .windows(2)
            .any(|p| p[0] == a && p[1] == b);
        if !holds {
            return;
        }
        let mut r = 0usize;
        let mut out = 0usize;
        // Read index just past the previous merged occurrence (usize::MAX: none yet).
        let mut last_merge_end = usize::MAX;
        while r < len {
            let s = self.sym[start + r];
            if r + 1 < len && s == a && self.sym[start + r + 1] == b {
                self.dec(pack(a, b), wc);
                // The pair to the left, unless it was the right pair of the previous occurrence.
                if r > 0 && last_merge_end != r {
                    let left = self.sym[start + r - 1];
                    self.dec(pack(left, a), wc);
                }
                if r + 2 < len {
                    let right = self.sym[start + r + 2];
                    self.dec(pack(b, right), wc);
                }
                if out > 0 {
                    let left = self.sym[start + out - 1];
                    self.inc(pack(left, n), wc, w as u32, created);
                }
                self.sym[start + out] = n;
                out += 1;
                r += 2;
                last_merge_end = r;
            } else {
                if out > 0 && last_merge_end == r {
                    self.inc(pack(n, s), wc, w as u32, created);
                }
                self.sym[start + out] = s;
                out += 1;
                r += 1;
            }
        }
        self.len[w] = out as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(list: &[(&str, u64)]) -> Vec<(Box<[u8]>, u64)> {
        list.iter().map(|(p, c)| (p.as_bytes().into(), *c)).collect()
    }

    fn train(list: &[(&str, u64)], options: TrainOptions) -> BpeTrainer {
        let mut t = BpeTrainer::new(pieces(list), None, 256, options, 1).unwrap();
        t.run();
        t
    }

    fn merged_strings(t: &BpeTrainer) -> Vec<String> {
        t.merges()
            .iter()
            .map(|m| String::from_utf8_lossy(t.token_bytes(m.id).unwrap()).into_owned())
            .collect()
    }

    /// Reference: recount every pair from scratch each step (slow, obviously correct).
    fn reference(list: &[(&str, u64)], steps: usize, min: u64) -> Vec<(Vec<u8>, Vec<u8>, u64)> {
        let mut words: Vec<(Vec<Vec<u8>>, u64)> = list
            .iter()
            .map(|(p, c)| (p.bytes().map(|b| vec![b]).collect(), *c))
            .collect();
        let mut out = Vec::new();
        for _ in 0..steps {
            let mut counts: std::collections::BTreeMap<(Vec<u8>, Vec<u8>), u64> = Default::default();
            for (w, c) in &words {
                for p in w.windows(2) {
                    *counts.entry((p[0].clone(), p[1].clone())).or_default() += c;
                }
            }
            // Highest count, then smallest (left, right) bytes: BTreeMap iterates in that order.
            let Some(((l, r), c)) = counts
                .iter()
                .fold(None::<(&(Vec<u8>, Vec<u8>), &u64)>, |best, (k, v)| match best {
                    Some((_, bv)) if bv >= v => best,
                    _ => Some((k, v)),
                })
                .map(|(k, v)| (k.clone(), *v))
            else {
                break;
            };
            if c < min {
                break;
            }
            for (w, _) in words.iter_mut() {
                let mut i = 0;
                let mut next = Vec::new();
                while i < w.len() {
                    if i + 1 < w.len() && w[i] == l && w[i + 1] == r {
                        next.push([l.clone(), r.clone()].concat());
                        i += 2;
                    } else {
                        next.push(w[i].clone());
                        i += 1;
                    }
                }
                *w = next;
            }
            out.push((l, r, c));
        }
        out
    }

    #[test]
    fn matches_the_reference_on_random_words() {
        let mut state = 99u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize
        };
        for round in 0..20 {
            let mut words: std::collections::BTreeMap<String, u64> = Default::default();
            for _ in 0..60 {
                let len = 1 + rnd() % 9;
                // A small alphabet makes repeats ("aaaa") and ties common.
                let w: String = (0..len).map(|_| b"abcab "[rnd() % 6] as char).collect();
                *words.entry(w).or_default() += 1 + (rnd() % 4) as u64;
            }
            let list: Vec<(&str, u64)> = words.iter().map(|(w, c)| (w.as_str(), *c)).collect();
            let t = train(
                &list,
                TrainOptions {
                    min_frequency: 1,
                    ..Default::default()
                },
            );
            let expected = reference(&list, t.merges().len() + 1, 1);
            let got: Vec<(Vec<u8>, Vec<u8>, u64)> = t
                .merges()
                .iter()
                .map(|m| {
                    (
                        t.token_bytes(m.left).unwrap().to_vec(),
                        t.token_bytes(m.right).unwrap().to_vec(),
                        m.count,
                    )
                })
                .collect();
            assert_eq!(got, expected, "round {round}");
        }
    }

    #[test]
    fn ties_break_by_bytes() {
        // "ab" and "cd" both occur 3 times; "ab" < "cd", so it merges first — whatever the input order.
        let t = train(&[("cd", 3), ("ab", 3)], TrainOptions::default());
        assert_eq!(merged_strings(&t), ["ab", "cd"]);
        let t = train(&[("ab", 3), ("cd", 3)], TrainOptions::default());
        assert_eq!(merged_strings(&t), ["ab", "cd"]);
        // Same left token: the smaller right token wins.
        let t = train(&[("xb", 2), ("xa", 2)], TrainOptions::default());
        assert_eq!(merged_strings(&t), ["xa", "xb"]);
    }

    #[test]
    fn pair_counts_past_2_pow_31_and_2_pow_32() {
        let big = 3_000_000_000u64; // > 2^31: an i32 count would overflow
        let huge = (1u64 << 32) + 5; // > 2^32: a u32 count would wrap
        let t = train(
            &[("ab", big), ("abab", huge), ("cd", 7)],
            TrainOptions {
                min_frequency: 1,
                ..Default::default()
            },
        );
        let m = t.merges();
        assert_eq!(merged_strings(&t), ["ab", "abab", "cd"]);
        assert_eq!(m[0].count, big + 2 * huge);
        assert_eq!(m[1].count, huge);
        assert_eq!(m[2].count, 7);
        // Near u64::MAX counts saturate instead of wrapping.
        let t = train(&[("xy", u64::MAX - 1), ("xyz", 9)], TrainOptions::default());
        assert_eq!(t.merges()[0].count, u64::MAX);
    }

    #[test]
    fn min_frequency_and_max_new_tokens_stop_training() {
        let t = train(
            &[("abc", 5), ("de", 1)],
            TrainOptions {
                min_frequency: 2,
                ..Default::default()
            },
        );
        assert_eq!(merged_strings(&t), ["ab", "abc"]);
        let t = train(
            &[("abcdef", 5)],
            TrainOptions {
                max_new_tokens: 2,
                ..Default::default()
            },
        );
        assert_eq!(t.new_tokens(), 2);
    }

    #[test]
    fn length_filters() {
        let t = train(
            &[("abcdef", 5)],
            TrainOptions {
                max_token_bytes: Some(3),
                ..Default::default()
            },
        );
        assert!(merged_strings(&t).iter().all(|s| s.len() <= 3));
        assert!(!t.merges().is_empty());
        // "é" is two bytes: with a 2-character limit "éé" (4 bytes) is allowed, "ééé" is not.
        let t = train(
            &[("ééé", 5)],
            TrainOptions {
                max_token_chars: Some(2),
                ..Default::default()
            },
        );
        let made = merged_strings(&t);
        assert!(made.contains(&"éé".to_string()) && !made.contains(&"ééé".to_string()));
        assert_eq!(char_len("é".as_bytes()), 1);
        assert_eq!(char_len(&"é".as_bytes()[1..]), 1);
        assert_eq!(char_len(&"aé".as_bytes()[..2]), 2);
    }

    #[test]
    fn superword_filters() {
        let opts = TrainOptions {
            max_words: Some(2),
            forbid_colon_space: true,
            ..Default::default()
        };
        let t = train(&[("one two three", 9), ("key: value", 9)], opts);
        for s in merged_strings(&t) {
            assert!(!s.contains(": "), "{s:?}");
            assert!(s.split(' ').filter(|p| !p.is_empty()).count() <= 2, "{s:?}");
        }
        let made = merged_strings(&t);
        assert!(
            made.iter()
                .any(|s| s.split(' ').filter(|p| !p.is_empty()).count() == 2),
            "{made:?}"
        );
    }

    #[test]
    fn continuation_keeps_base_ids_and_adds_after_next_id() {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        vocab.push((b"ab".to_vec(), 256));
        let base = Bpe::from_merges(vocab, &[(97, 98)], false, None).unwrap();
        let mut t = BpeTrainer::new(
            pieces(&[("abab", 4), ("abc", 1)]),
            Some(&base),
            300,
            TrainOptions::default(),
            1,
        )
        .unwrap();
        t.run();
        let m = t.merges();
        assert_eq!((m[0].left, m[0].right, m[0].id), (256, 256, 300));
        assert_eq!(t.token_bytes(300), Some(&b"abab"[..]));
        assert!(BpeTrainer::new(vec![], Some(&base), 200, TrainOptions::default(), 1).is_err());
    }

    #[test]
    fn unseen_base_merges_are_dropped_and_their_ids_freed() {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        vocab.push((b"\t ".to_vec(), 256));
        vocab.push((b"ab".to_vec(), 257));
        let base = Bpe::from_merges(vocab, &[(9, 32), (97, 98)], false, None).unwrap();
        let options = TrainOptions {
            max_new_tokens: 5,
            drop_unseen_base_merges: true,
            ..Default::default()
        };
        // "\t" is never followed by " " in the pieces.
        let list = [("abab", 4), ("x\t", 2), ("\t\t", 1)];
        let mut t = BpeTrainer::new(pieces(&list), Some(&base), 258, options.clone(), 1).unwrap();
        assert_eq!(t.dropped_base_merges(), &[0]);
        assert_eq!(t.token_bytes(256), None);
        assert_eq!(t.max_new_tokens(), 6);
        t.run();
        assert_eq!(t.token_bytes(t.merges()[0].id), Some(&b"abab"[..]));
        // The ids must be exactly those of the base.
        assert!(BpeTrainer::new(pieces(&list), Some(&base), 300, options, 1).is_err());
    }

    #[test]
    fn merge_recreating_a_token_reuses_its_id() {
        // "a"+"bc" and "ab"+"c" both spell "abc".
        let mut t = BpeTrainer::new(
            pieces(&[("xabc", 10), ("abcy", 10), ("zbc", 3), ("abq", 2)]),
            None,
            256,
            TrainOptions::default(),
            1,
        )
        .unwrap();
        t.run();
        let ids: Vec<u32> = t.merges().iter().map(|m| m.id).collect();
        let unique: std::collections::BTreeSet<u32> = ids.iter().copied().collect();
        assert_eq!(t.new_tokens(), unique.len());
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let list: Vec<(String, u64)> = (0..3000)
            .map(|i| (format!("w{}x{}", i % 97, i % 31), 1 + (i % 5) as u64))
            .collect();
        let list: Vec<(&str, u64)> = list.iter().map(|(w, c)| (w.as_str(), *c)).collect();
        let mut one = BpeTrainer::new(pieces(&list), None, 256, TrainOptions::default(), 1).unwrap();
        one.run();
        let mut two = BpeTrainer::new(pieces(&list), None, 256, TrainOptions::default(), 2).unwrap();
        two.run();
        assert_eq!(one.merges(), two.merges());
    }
}
