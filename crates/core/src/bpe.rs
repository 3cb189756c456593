//! Byte-level BPE model: id <-> bytes, merge table, and the merge kernel that turns one
//! pre-tokenized piece into ids.
//!
//! Both vocabulary conventions reduce to one merge table keyed by the pair of ids:
//! * tiktoken (`.tiktoken`): two adjacent parts merge when their concatenation is a token, and the
//!   pair's priority is that token's rank. The table therefore holds *every* split `(a, b)` of every
//!   token whose halves are tokens, all with the merged token's rank; equal priorities only occur for
//!   the same merged token and resolve leftmost-first, exactly like tiktoken's scan.
//! * HF `tokenizer.json`: the pair's priority is its index in the `merges` list.
//!
//! Performance notes
//! * The table is a `FxHashMap<u64, u64>` (pair packed into one word): one multiply-hash per lookup
//!   instead of hashing byte slices as tiktoken does. o200k's table has ~2.3 entries per token.
//! * Pieces shorter than [`HEAP_THRESHOLD`] bytes use a rescanning O(n^2) merge over a small
//!   vector, which beats any heap on the short pieces that make up almost all text.
//! * Up to [`BUCKET_THRESHOLD`] bytes: a binary heap over a linked list, O(n log n).
//! * Longer pieces (a 10 MB "word", base64 blobs): a bucket queue indexed by priority, O(n + P)
//!   for P priorities. Measured on a 10 MB random-letter word with cl100k: binary heap 25 s,
//!   buckets 3.5 s (whole encode call); the heap's 30M scattered 24-byte entries were the cost. The bucket array
//!   (4 bytes per priority, 0.8 MB for o200k) is only worth allocating for long pieces.
//! * All three pick the pair with the lowest (priority, position), so they give identical ids; a
//!   unit test checks this against a plain reference on random inputs.
//! * tiktoken vocabularies whose merges are monotone skip all of these for pieces of
//!   [`BACKTRACK_THRESHOLD`] bytes or more with several non-ASCII bytes, or long ones (see
//!   [`MERGE_MAX_NON_ASCII`]): a longest-match search that only accepts valid BPE
//!   neighbours, linear in the piece (`backtrack.rs`; unit tests compare it with the kernels).

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::backtrack::Backtrack;
use crate::error::{Error, Result};

/// Pieces at least this long use the backtracking search (`backtrack.rs`) when the vocabulary
/// allows it (cl100k, o200k, r50k, p50k, qwen2; not llama3) and [`prefers_backtrack`] says so.
/// Measured with callgrind (inclusive instructions of `Tokenizer::encode`, `UNSEEN=1 encode_file`,
/// both halves of the file from an empty memo), merge kernels only -> backtracking from 32 / 16 /
/// 8 / 4 / 2 bytes: cl100k UDHR CJK 27.55M -> 15.73M / 15.02M / 14.79M / 14.76M / 14.76M, cl100k
/// English 34.68M -> 34.68M / - / 33.44M / 33.42M / 33.42M; at 4, o200k UDHR CJK 31.39M -> 13.84M.
pub const BACKTRACK_THRESHOLD: usize = 4;
/// Pieces of at most this many non-ASCII bytes, and shorter than [`BACKTRACK_ASCII_LEN`], merge
/// (`merge_small`) rather than backtrack, whatever instructions say: the backtracking walks a
/// trie kept in a hash table (4 MiB for cl100k, 8 MiB for o200k) one byte at a time, and on
/// mostly-ASCII pieces (few merges each) those probes miss the caches where the rescanning
/// merge's pair lookups, on pairs of common tokens, do not. Callgrind counts instructions, not
/// misses, so this was measured in wall time: `UNSEEN=1 encode_file` on the unseen half, best
/// of 3 rounds of 8 runs (3 for UDHR), interleaved, 2-core Xeon VM; backtracking from 4 bytes
/// for every piece -> this rule:
/// cl100k English 59.4 -> 82.1 MB/s (1.38x), code 70.7 -> 81.1 (1.15x), UDHR 22.8 -> 27.1
/// (1.19x), UDHR CJK 34.7 -> 35.2; o200k English 45.7 -> 60.1 (1.32x), code 52.6 -> 69.8 (1.33x),
/// UDHR 15.0 -> 19.5 (1.30x), UDHR CJK 23.6 -> 21.9 (within the run's noise: its pieces have
/// more non-ASCII bytes and take the same path as before). On UDHR, 1 / 2 / 4 / 6 / 8 / 12
/// non-ASCII bytes: 1.17 / 1.18 / 1.19 / 1.23 / 1.18 / 1.16x (cl100k), 1.23 / 1.21 / 1.30 /
/// 1.31 / 1.25 / 1.22x (o200k).
const MERGE_MAX_NON_ASCII: usize = 3;
/// Mostly-ASCII pieces at least this long backtrack: the rescanning merge is quadratic.
const BACKTRACK_ASCII_LEN: usize = 64;

/// Whether `piece` (at least [`BACKTRACK_THRESHOLD`] bytes) is encoded faster by backtracking
/// than by merging; see [`MERGE_MAX_NON_ASCII`].
#[inline]
fn prefers_backtrack(piece: &[u8]) -> bool {
    piece.len() >= BACKTRACK_ASCII_LEN || piece.iter().filter(|&&b| b >= 0x80).count() > MERGE_MAX_NON_ASCII
}
/// Pieces at least this long use the tournament-tree merge. Measured with callgrind (instructions
/// of `UNSEEN=1 encode_file`, cl100k, UDHR CJK): rescanning only 29.31M; tree from 16 bytes
/// 30.68M, from 48 28.34M, from 64 27.76M, from 80 27.54M (English unchanged: its pieces are short).
pub const TREE_THRESHOLD: usize = 80;

/// Items past the end of the arrays `shift_down` moves: one chunk.
const SHIFT_SPARE: usize = 16;

/// Moves `items[from + 1..end]` down one place, in chunks of [`SHIFT_SPARE`] items (what lies
/// past `end - 1` afterwards is unspecified; `items` has a chunk past `end`). `copy_within`
/// called `memmove`, whose size dispatch mispredicted about every other call: callgrind
/// (`--branch-sim=yes`) of `UNSEEN=1 encode_file` on 500 KB of English, cl100k, counted 65k
/// calls from the rescanning merge and 34.6k of the run's 283k mispredicted branches. With
/// chunks, mispredicted branches went 283k -> 270k (cl100k English), 299k -> 268k (o200k
/// English), 318k -> 308k and 326k -> 310k (code), 898k -> 868k and 997k -> 911k (UDHR), and
/// instructions 0.7-1.6% down (CJK unchanged: its pieces backtrack). Chunks of 8 items saved
/// about half as many mispredictions.
#[inline(always)]
fn shift_down<T: Copy, const L: usize>(items: &mut [T; L], from: usize, end: usize) {
    debug_assert!(end + SHIFT_SPARE <= L);
    let mut i = from;
    while i + 1 < end {
        let chunk: [T; SHIFT_SPARE] = items[i + 1..i + 1 + SHIFT_SPARE].try_into().expect("a chunk");
        items[i..i + SHIFT_SPARE].copy_from_slice(&chunk);
        i += SHIFT_SPARE;
    }
}

/// Pieces up to this long merge on the short arrays of `merge_small`.
const SHORT_MERGE_MAX: usize = 16;

/// Pieces at least this long use the heap-based merge.
pub const HEAP_THRESHOLD: usize = 128;
/// Pieces at least this long use the bucket-queue merge.
pub const BUCKET_THRESHOLD: usize = 4096;

#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

#[derive(Debug, Clone)]
pub struct Bpe {
    /// Bytes of all model tokens, by id: token `i` is `token_bytes[token_ends[i]..token_ends[i + 1]]`
    /// (empty for holes in the id space). One buffer instead of a `Vec` per token (24 bytes plus a
    /// heap block each): decoding 434k cl100k ids took 15.8 ms before, 13.3 ms with it (from
    /// Python), and building o200k 0.168 s before, 0.158 s.
    token_bytes: Vec<u8>,
    token_ends: Vec<u32>,
    encoder: TokenMap,
    /// `(left, right)` -> `(priority, merged_id)`.
    merges: PairTable,
    /// Initial id of each byte; `None` where the vocabulary lacks that byte.
    byte_ids: [Option<u32>; 256],
    /// Emit a whole piece as one token when it is in the vocabulary, before merging. Always on for
    /// tiktoken vocabularies (tiktoken does this); for HF it is the model's `ignore_merges` flag.
    exact_match: bool,
    /// HF behaviour for bytes missing from the vocabulary: the unknown token, else nothing.
    unk_id: Option<u32>,
    /// Highest merge priority (sizes the bucket queue).
    max_priority: u32,
    /// `(priority << 32) | merged_id` of the merge of two single bytes, indexed by
    /// `(first << 8) | second` (`u64::MAX`: none); empty when some byte has no id (the initial
    /// parts are then not one per byte). Gives the first pair of every position without a hash
    /// probe: 512 KiB, mostly in L2 for the bytes a script uses, where a probe of the 4-8 MB merge
    /// table misses the cache. Measured with callgrind (`UNSEEN=1 encode_file`, cl100k, both halves
    /// of the file encoded once from an empty memo), together with skipping the second
    /// whole-piece lookup on a memo miss (`merge_piece`): UDHR CJK 31.29M -> 29.31M instructions,
    /// L1 data misses 156k -> 134k; English 34.14M -> 33.33M, 247k -> 212k.
    byte_pairs: Box<[u64]>,
    /// Linear-time longest-match search for long pieces (tiktoken vocabularies that are monotone,
    /// see `backtrack.rs`); shared, since it is as large as the merge table.
    backtrack: Option<Arc<Backtrack>>,
}

impl Bpe {
    /// tiktoken convention: `ranks[i]` are the bytes of the token with rank/id `ids[i]`.
    pub fn from_ranks(vocab: Vec<(Vec<u8>, u32)>) -> Result<Self> {
        let encoder = build_encoder(&vocab)?;
        // Only split points where both halves have the length of some token are looked up: trying
        // every split of every token hashed O(n^2) bytes for a token of n bytes (one 1 MB token took
        // 55 s to load). With D distinct token lengths a token costs at most D lookups, and D is
        // below sqrt(2 x total token bytes); real vocabularies have fewer than 130.
        let mut lengths: Vec<usize> = vocab.iter().map(|(bytes, _)| bytes.len()).collect();
        lengths.sort_unstable();
        lengths.dedup();
        let is_length = |n: usize| lengths.binary_search(&n).is_ok();
        let mut merges = FxHashMap::default();
        for (bytes, id) in &vocab {
            let n = bytes.len();
            for &k in lengths.iter().take_while(|&&k| k < n) {
                if !is_length(n - k) {
                    continue;
                }
                if let (Some(a), Some(b)) = (encoder.get(&bytes[..k]), encoder.get(&bytes[k..])) {
                    merges.insert(pair_key(a, b), ((*id as u64) << 32) | *id as u64);
                }
            }
        }
        let mut bpe = Self::assemble(vocab, encoder, merges, true, None);
        if let Some(b) = (0..256).find(|&b| bpe.byte_ids[b].is_none()) {
            return Err(Error::InvalidVocabulary(format!(
                "byte 0x{b:02x} is not a token; a byte-level vocabulary must contain all 256 single bytes"
            )));
        }
        bpe.backtrack = Backtrack::build(&bpe).map(Arc::new);
        Ok(bpe)
    }

    /// HF convention: explicit merges in priority order, each `(left_id, right_id)`.
    pub fn from_merges(
        vocab: Vec<(Vec<u8>, u32)>,
        merge_list: &[(u32, u32)],
        ignore_merges: bool,
        unk_id: Option<u32>,
    ) -> Result<Self> {
        let encoder = build_encoder(&vocab)?;
        let max_id = vocab.iter().map(|(_, id)| *id).max().unwrap_or(0) as usize;
        let mut by_id: Vec<Option<&[u8]>> = vec![None; max_id + 1];
        for (bytes, id) in &vocab {
            by_id[*id as usize] = Some(bytes);
        }
        let lookup = |id: u32| -> Result<&[u8]> {
            by_id.get(id as usize).copied().flatten().ok_or_else(|| {
                Error::InvalidVocabulary(format!("merge refers to id {id}, which is not in the vocabulary"))
            })
        };
        let mut merges = FxHashMap::default();
        for (priority, &(a, b)) in merge_list.iter().enumerate() {
            let mut merged = lookup(a)?.to_vec();
            merged.extend_from_slice(lookup(b)?);
            let Some(new_id) = encoder.get(&merged) else {
                return Err(Error::InvalidVocabulary(format!(
                    "merge #{priority} ({a}, {b}) produces {:?}, which is not in the vocabulary",
                    String::from_utf8_lossy(&merged)
                )));
            };
            // The first occurrence of a duplicated merge wins, as in HF.
            merges
                .entry(pair_key(a, b))
                .or_insert(((priority as u64) << 32) | new_id as u64);
        }
        if let Some(unk) = unk_id {
            if unk as usize > max_id || by_id[unk as usize].is_none() {
                return Err(Error::InvalidVocabulary(format!(
                    "unknown-token id {unk} is not in the vocabulary"
                )));
            }
        }
        Ok(Self::assemble(vocab, encoder, merges, ignore_merges, unk_id))
    }

    fn assemble(
        vocab: Vec<(Vec<u8>, u32)>,
        encoder: TokenMap,
        merges: FxHashMap<u64, u64>,
        exact_match: bool,
        unk_id: Option<u32>,
    ) -> Self {
        let mut byte_ids = [None; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = encoder.get(&[b as u8][..]);
        }
        let size = vocab.iter().map(|(_, id)| *id as usize + 1).max().unwrap_or(0);
        let mut by_id: Vec<&[u8]> = vec![&[]; size];
        for (bytes, id) in &vocab {
            by_id[*id as usize] = bytes;
        }
        let mut token_bytes = Vec::with_capacity(by_id.iter().map(|b| b.len()).sum());
        let mut token_ends = Vec::with_capacity(size + 1);
        token_ends.push(0u32);
        for bytes in by_id {
            token_bytes.extend_from_slice(bytes);
            token_ends.push(token_bytes.len() as u32);
        }
        let max_priority = merges.values().map(|&v| (v >> 32) as u32).max().unwrap_or(0);
        let byte_pairs: Box<[u64]> = match byte_ids.iter().copied().collect::<Option<Vec<u32>>>() {
            Some(ids) => (0..1usize << 16)
                .map(|k| {
                    merges
                        .get(&pair_key(ids[k >> 8], ids[k & 0xFF]))
                        .copied()
                        .unwrap_or(u64::MAX)
                })
                .collect(),
            None => Box::default(),
        };
        Bpe {
            token_bytes,
            token_ends,
            encoder,
            merges: PairTable::new(&merges, size),
            byte_ids,
            exact_match,
            unk_id,
            max_priority,
            byte_pairs,
            backtrack: None,
        }
    }

    /// One past the highest model id.
    pub fn id_space(&self) -> usize {
        self.token_ends.len() - 1
    }

    #[inline]
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        let (&start, &end) = (self.token_ends.get(i)?, self.token_ends.get(i + 1)?);
        // Tokens are never empty, so an empty range is a hole.
        (end > start).then(|| &self.token_bytes[start as usize..end as usize])
    }

    pub fn token_id(&self, bytes: &[u8]) -> Option<u32> {
        self.encoder.get(bytes)
    }

    pub fn exact_match(&self) -> bool {
        self.exact_match
    }

    pub fn len(&self) -> usize {
        self.encoder.len()
    }

    pub fn is_empty(&self) -> bool {
        self.encoder.is_empty()
    }

    /// A canonical serialization of the model (tokens by id, then merges by priority), for
    /// fingerprinting: equal models give equal bytes whatever file they came from.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(self.exact_match as u8);
        for (bytes, id) in self.vocab() {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
        for (a, b, p, m) in self.merge_entries() {
            for v in [a, b, p, m] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// `(bytes, id)` of every model token, by id.
    pub fn vocab(&self) -> impl Iterator<Item = (&[u8], u32)> {
        (0..self.id_space() as u32).filter_map(|id| self.token_bytes(id).map(|b| (b, id)))
    }

    /// All `(left, right, priority, merged)` entries, for exporting merges.
    pub fn merge_entries(&self) -> Vec<(u32, u32, u32, u32)> {
        let mut out: Vec<_> = self
            .merges
            .iter()
            .map(|(k, (p, m))| ((k >> 32) as u32, k as u32, p, m))
            .collect();
        out.sort_unstable_by_key(|&(a, b, p, _)| (p, a, b));
        out
    }

    /// Every `(left, right, priority)` of the merge table, in table order.
    pub(crate) fn merge_pairs(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        self.merges
            .iter()
            .map(|(k, (p, _))| ((k >> 32) as u32, k as u32, p))
    }

    #[inline]
    pub(crate) fn merge_of(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.merges.get(pair_key(a, b))
    }

    /// Appends the ids of one piece to `out`.
    pub fn encode_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if self.exact_match {
            if let Some(id) = self.encoder.get(piece) {
                out.push(id);
                return;
            }
        }
        self.merge_piece(piece, out);
    }

    /// Appends the ids of one piece to `out`, always by merging (a piece that is itself a token
    /// may merge into other tokens; tiktoken's `byte_pair_encode`, which token healing needs, and
    /// the memo after its own whole-piece lookup).
    pub fn merge_piece(&self, piece: &[u8], out: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        if piece.len() >= BACKTRACK_THRESHOLD && prefers_backtrack(piece) {
            if let Some(backtrack) = &self.backtrack {
                return backtrack.encode(self, piece, out);
            }
        }
        if piece.len() <= SHORT_MERGE_MAX {
            self.merge_small::<{ SHORT_MERGE_MAX + SHIFT_SPARE }>(piece, out);
        } else if piece.len() < TREE_THRESHOLD {
            self.merge_small::<{ TREE_THRESHOLD + SHIFT_SPARE }>(piece, out);
        } else if piece.len() < HEAP_THRESHOLD {
            self.merge_tree(piece, out);
        } else if piece.len() < BUCKET_THRESHOLD {
            self.merge_heap(piece, out);
        } else {
            self.merge_buckets(piece, out);
        }
    }

    /// Initial parts: one id per byte. HF drops a byte that has no token when there is no unknown
    /// token, so this does too.
    fn initial_parts(&self, piece: &[u8]) -> Vec<u32> {
        piece
            .iter()
            .filter_map(|&b| self.byte_ids[b as usize].or(self.unk_id))
            .collect()
    }

    /// Initial `(priority, merged id)` of each adjacent pair of `parts` (the ids of `piece`'s
    /// bytes), handed to `set` with the pair's index.
    #[inline]
    fn initial_pairs(&self, piece: &[u8], parts: &[u32], mut set: impl FnMut(usize, (u32, u32))) {
        if !self.byte_pairs.is_empty() {
            // One part per byte (every byte has an id): the byte-pair table answers.
            for (i, w) in piece.windows(2).enumerate() {
                let v = self.byte_pairs[(w[0] as usize) << 8 | w[1] as usize];
                set(i, ((v >> 32) as u32, v as u32));
            }
        } else {
            for i in 0..parts.len().saturating_sub(1) {
                set(i, self.merge_of(parts[i], parts[i + 1]).unwrap_or((u32::MAX, 0)));
            }
        }
    }

    /// Merge for pieces of [`TREE_THRESHOLD`] to [`HEAP_THRESHOLD`] bytes (long CJK and Thai
    /// pieces, whole clauses without spaces): parts keep their byte position in a linked list and
    /// a tournament tree over the positions gives the lowest (priority, position) pair in
    /// O(log n) per merge, on stack arrays. The rescanning merge scans all pairs and shifts the
    /// arrays at each merge, O(n) per merge.
    fn merge_tree(&self, piece: &[u8], out: &mut Vec<u32>) {
        const NONE: u8 = u8::MAX;
        debug_assert!(piece.len() < HEAP_THRESHOLD && HEAP_THRESHOLD <= NONE as usize);
        let mut parts = [0u32; HEAP_THRESHOLD];
        let mut n = 0;
        for &b in piece {
            if let Some(id) = self.byte_ids[b as usize].or(self.unk_id) {
                parts[n] = id;
                n += 1;
            }
        }
        if n < 2 {
            return out.extend_from_slice(&parts[..n]);
        }
        let mut prio = [(u32::MAX, 0u32); HEAP_THRESHOLD];
        self.initial_pairs(piece, &parts[..n], |i, pair| prio[i] = pair);
        // next[i] / prev[i]: the neighbouring live parts (NONE at the ends).
        let mut next = [NONE; HEAP_THRESHOLD];
        let mut prev = [NONE; HEAP_THRESHOLD];
        for i in 0..n {
            next[i] = if i + 1 < n { (i + 1) as u8 } else { NONE };
            prev[i] = if i > 0 { (i - 1) as u8 } else { NONE };
        }
        // tree[leaves + i] = i; an inner node holds the better of its children: lower priority,
        // then the leftmost position. Leaves past the last pair have priority u32::MAX.
        let leaves = (n - 1).next_power_of_two();
        let mut tree = [0u8; 2 * HEAP_THRESHOLD];
        for i in 0..leaves {
            tree[leaves + i] = i as u8;
        }
        let better = |prio: &[(u32, u32)], a: u8, b: u8| {
            if prio[b as usize].0 < prio[a as usize].0 {
                b
            } else {
                a
            }
        };
        for node in (1..leaves).rev() {
            tree[node] = better(&prio, tree[2 * node], tree[2 * node + 1]);
        }
        let update = |tree: &mut [u8], prio: &[(u32, u32)], i: usize| {
            let mut node = (leaves + i) / 2;
            while node >= 1 {
                tree[node] = better(prio, tree[2 * node], tree[2 * node + 1]);
                node /= 2;
            }
        };
        loop {
            let at = if leaves == 1 { 0 } else { tree[1] as usize };
            let (p, merged) = prio[at];
            if p == u32::MAX {
                break;
            }
            let j = next[at] as usize;
            parts[at] = merged;
            next[at] = next[j];
            if next[j] != NONE {
                prev[next[j] as usize] = at as u8;
            }
            prio[j].0 = u32::MAX;
            if j < leaves {
                update(&mut tree, &prio, j);
            }
            prio[at] = match next[at] {
                NONE => (u32::MAX, 0),
                k => self.merge_of(merged, parts[k as usize]).unwrap_or((u32::MAX, 0)),
            };
            update(&mut tree, &prio, at);
            if prev[at] != NONE {
                let h = prev[at] as usize;
                prio[h] = self.merge_of(parts[h], merged).unwrap_or((u32::MAX, 0));
                update(&mut tree, &prio, h);
            }
        }
        let mut i = 0u8;
        while i != NONE {
            out.push(parts[i as usize]);
            i = next[i as usize];
        }
    }

    /// Rescanning merge for pieces shorter than [`TREE_THRESHOLD`], on stack arrays (no heap
    /// allocation per piece: every cache miss of a multilingual text lands here). Keeping the
    /// priorities in their own array and finding the lowest with a vectorized min and then its
    /// first position cost more (callgrind, cl100k, UDHR CJK 27.14M -> 28.26M instructions).
    ///
    /// `CAP` is at least [`SHIFT_SPARE`] past the piece's length, for `shift_down`'s whole
    /// chunks. Both arrays are filled before use, so their size is work per call: callgrind
    /// (`UNSEEN=1 encode_file`, cl100k English, both halves, 4,621 calls here) went 26.55M ->
    /// 26.03M instructions with the short size for the rare words that dominate the calls; wall
    /// time of the unseen halves (cl100k, medians of 5 interleaved best-of-10 runs) English 106.6
    /// -> 108.3 MB/s, code 111.4 -> 112.4, UDHR 33.0 -> 33.4, within this VM's noise.
    fn merge_small<const CAP: usize>(&self, piece: &[u8], out: &mut Vec<u32>) {
        const NOT: (u32, u32) = (u32::MAX, 0);
        debug_assert!(piece.len() + SHIFT_SPARE <= CAP);
        let mut parts = [0u32; CAP];
        let mut n = 0;
        for &b in piece {
            if let Some(id) = self.byte_ids[b as usize].or(self.unk_id) {
                parts[n] = id;
                n += 1;
            }
        }
        // prio[i]: (priority, merged id) of the pair (parts[i], parts[i + 1]).
        let mut prio = [NOT; CAP];
        self.initial_pairs(piece, &parts[..n], |i, pair| prio[i] = pair);
        while n > 1 {
            let mut best = u32::MAX;
            let mut at = 0;
            for (i, &(p, _)) in prio[..n - 1].iter().enumerate() {
                if p < best {
                    best = p;
                    at = i;
                }
            }
            if best == u32::MAX {
                break;
            }
            parts[at] = prio[at].1;
            shift_down(&mut parts, at + 1, n);
            shift_down(&mut prio, at, n - 1);
            n -= 1;
            if at + 1 < n {
                prio[at] = self.merge_of(parts[at], parts[at + 1]).unwrap_or(NOT);
            }
            if at > 0 {
                prio[at - 1] = self.merge_of(parts[at - 1], parts[at]).unwrap_or(NOT);
            }
        }
        out.extend_from_slice(&parts[..n]);
    }

    fn merge_heap(&self, piece: &[u8], out: &mut Vec<u32>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;

        const NONE: usize = usize::MAX;
        let mut ids = self.initial_parts(piece);
        let n = ids.len();
        let mut prev: Vec<usize> = (0..n).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
        let mut next: Vec<usize> = (0..n).map(|i| if i + 1 == n { NONE } else { i + 1 }).collect();
        let mut alive = vec![true; n];
        // (priority, position, merged id). Position = index of the left part; parts keep their
        // original index, so smaller index == further left.
        let mut heap: BinaryHeap<Reverse<(u32, usize, u32)>> = BinaryHeap::with_capacity(n);
        for i in 0..n.saturating_sub(1) {
            if let Some((p, m)) = self.merge_of(ids[i], ids[i + 1]) {
                heap.push(Reverse((p, i, m)));
            }
        }
        while let Some(Reverse((p, i, m))) = heap.pop() {
            let j = next[i];
            if !alive[i] || j == NONE {
                continue;
            }
            // Stale entry: the pair at i changed since it was pushed.
            match self.merge_of(ids[i], ids[j]) {
                Some((p2, m2)) if p2 == p && m2 == m => {}
                _ => continue,
            }
            ids[i] = m;
            alive[j] = false;
            next[i] = next[j];
            if next[j] != NONE {
                prev[next[j]] = i;
            }
            if prev[i] != NONE {
                let h = prev[i];
                if let Some((p, m)) = self.merge_of(ids[h], ids[i]) {
                    heap.push(Reverse((p, h, m)));
                }
            }
            if next[i] != NONE {
                if let Some((p, m)) = self.merge_of(ids[i], ids[next[i]]) {
                    heap.push(Reverse((p, i, m)));
                }
            }
        }
        let mut i = if n == 0 { NONE } else { 0 };
        while i != NONE {
            out.push(ids[i]);
            i = next[i];
        }
    }
}

impl Bpe {
    /// Bucket-queue merge: `heads[p]` starts an intrusive list of positions whose pair had priority
    /// `p` when pushed; an entry is current iff `prio[pos] == p` still. A bucket is taken whole,
    /// sorted by position and merged left to right: a merge never creates a pair of the same
    /// priority (the merged token is longer than both parts), so the order equals the heap's. If a
    /// merge creates a pair of *lower* priority (possible in unusual vocabularies), the rest of the
    /// bucket is put back and the scan resumes at the lower priority.
    fn merge_buckets(&self, piece: &[u8], out: &mut Vec<u32>) {
        const NIL: u32 = u32::MAX;
        let mut ids = self.initial_parts(piece);
        let n = ids.len();
        if n == 0 {
            return;
        }
        let mut next: Vec<u32> = (1..=n as u32).collect();
        next[n - 1] = NIL;
        let mut prev: Vec<u32> = (0..n as u32).map(|i| i.wrapping_sub(1)).collect();
        prev[0] = NIL;
        let mut q = BucketQueue {
            heads: vec![NIL; self.max_priority as usize + 1],
            entries: Vec::with_capacity(n + n / 2),
            prio: vec![NIL; n],
            cur: u32::MAX,
        };
        for i in 0..n - 1 {
            if let Some((p, _)) = self.merge_of(ids[i], ids[i + 1]) {
                q.push(i as u32, p);
            }
        }
        let mut batch: Vec<u32> = Vec::new();
        while (q.cur as usize) < q.heads.len() {
            let r = q.cur;
            let mut e = q.heads[r as usize];
            if e == NIL {
                q.cur += 1;
                continue;
            }
            q.heads[r as usize] = NIL;
            batch.clear();
            while e != NIL {
                let (pos, link) = q.entries[e as usize];
                if q.prio[pos as usize] == r {
                    batch.push(pos);
                }
                e = link;
            }
            batch.sort_unstable();
            batch.dedup();
            let mut k = 0;
            while k < batch.len() {
                let i = batch[k] as usize;
                k += 1;
                if q.prio[i] != r {
                    continue; // consumed or changed by an earlier merge in this bucket
                }
                let j = next[i] as usize;
                let (_, merged) = self.merge_of(ids[i], ids[j]).expect("current entry has a merge");
                ids[i] = merged;
                q.prio[j] = NIL;
                q.prio[i] = NIL;
                next[i] = next[j];
                if next[j] != NIL {
                    prev[next[j] as usize] = i as u32;
                }
                let h = prev[i];
                if h != NIL {
                    match self.merge_of(ids[h as usize], merged) {
                        Some((p, _)) => q.push(h, p),
                        None => q.prio[h as usize] = NIL,
                    }
                }
                if next[i] != NIL {
                    if let Some((p, _)) = self.merge_of(merged, ids[next[i] as usize]) {
                        q.push(i as u32, p);
                    }
                }
                if q.cur < r {
                    // A lower priority appeared: it must be merged before the rest of this bucket.
                    for &pos in &batch[k..] {
                        if q.prio[pos as usize] == r {
                            q.push(pos, r);
                        }
                    }
                    break;
                }
            }
        }
        let mut i = 0u32;
        while i != NIL {
            out.push(ids[i as usize]);
            i = next[i as usize];
        }
    }
}

/// The merge table: `(left, right)` packed into one word -> `(priority, merged id)`, in a flat
/// open-addressing table with linear probing, at most half full.
///
/// Performance note: the merge kernel does two lookups per merge, and on CJK text (long pieces,
/// rarely memoized) merging is 86% of encode time. hashbrown's SIMD group probe (tag compare,
/// bitmask walk, then the key) cost ~20 instructions per lookup; here a hit is one multiply, one
/// 16-byte slot (key and value side by side, so a hit touches one cache line) and usually no
/// second probe. Measured with callgrind (`UNSEEN=1 encode_file`, cl100k, whole encode), against
/// hashbrown: UDHR CJK 27.56M -> 27.14M instructions, UDHR sample (614 KB, all languages)
/// 78.99M -> 77.21M, English 33.71M -> 33.24M.
#[derive(Debug, Clone)]
enum PairTable {
    /// 8-byte slots, when ids and priorities fit (see [`CompactPairs`]).
    Compact(CompactPairs),
    /// `(key, (priority << 32) | merged)`; `EMPTY` keys mark free slots.
    Wide(WidePairs),
}

/// The merge table in 8-byte slots: left and right id (21 bits each) and the priority (22 bits)
/// in one word, the merged id looked up by priority afterwards (or equal to it, as in tiktoken
/// files, where a pair's priority is the merged token's rank and id). Half the bytes of
/// [`WidePairs`] (4 MiB for cl100k, 8 MiB for o200k), so twice the pairs per cache line and
/// more of the table in the core's L2: the slot loads after each merge were 75% of the merge
/// kernel's time on unseen English (perf, cl100k). Callgrind with a 2 MiB simulated last-level
/// cache (`UNSEEN=1 encode_file`, cl100k, whole encode), 16-byte -> 8-byte slots: read misses
/// English 49,591 -> 44,716, UDHR CJK 23,999 -> 22,040; instructions +1.7% / -2.0%. Wall time
/// of the 8 cl100k/o200k unseen-text cells (two A/B runs, best of 3-4 interleaved rounds each):
/// 1.01-1.36x and 0.97-1.49x, so within this VM's noise on some cells, never clearly slower.
#[derive(Debug, Clone)]
struct CompactPairs {
    slots: Box<[u64]>,
    /// Merged id by priority; empty when they are equal.
    merged: Box<[u32]>,
    shift: u32,
}

#[derive(Debug, Clone)]
struct WidePairs {
    slots: Box<[(u64, u64)]>,
    shift: u32,
}

/// Bits of an id in a [`CompactPairs`] slot.
const COMPACT_ID_BITS: u32 = 21;
/// Bits of a priority in a [`CompactPairs`] slot.
const COMPACT_PRIORITY_BITS: u32 = 22;

/// Free slots are all ones in either layout: no pair has that key (ids stay far below the
/// maximum, see `build_encoder`).
const EMPTY: u64 = u64::MAX;

#[inline(always)]
fn table_home(key: u64, shift: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

/// Slot count (a power of two, at most half full) and hash shift for `len` pairs.
fn table_size(len: usize) -> (usize, u32) {
    let size = (len * 2).next_power_of_two().max(16);
    (size, 64 - size.trailing_zeros())
}

impl PairTable {
    /// The table of `pairs` of a vocabulary whose ids are below `id_space` (every id a lookup
    /// may ask about, paired or not, must fit the compact layout).
    fn new(pairs: &FxHashMap<u64, u64>, id_space: usize) -> Self {
        let merged = Self::merged_by_priority(pairs, id_space);
        let (size, shift) = table_size(pairs.len());
        let Some(merged) = merged else {
            let mut slots = vec![(EMPTY, 0); size].into_boxed_slice();
            for (&key, &value) in pairs {
                let i = free_slot(&slots, table_home(key, shift), |s| s.0 == EMPTY);
                slots[i] = (key, value);
            }
            return PairTable::Wide(WidePairs { slots, shift });
        };
        let mut slots = vec![EMPTY; size].into_boxed_slice();
        for (&key, &value) in pairs {
            let pair = compact_pair(key);
            let i = free_slot(&slots, table_home(pair, shift), |&s| s == EMPTY);
            slots[i] = (pair << COMPACT_PRIORITY_BITS) | (value >> 32);
        }
        PairTable::Compact(CompactPairs { slots, merged, shift })
    }

    /// The merged id of each priority for the compact layout (empty when they are equal), or
    /// `None` if the layout cannot hold `pairs`: an id or priority too wide for its bits, or a
    /// priority shared by two merged ids (no vocabulary does that, but the table must not
    /// assume it).
    fn merged_by_priority(pairs: &FxHashMap<u64, u64>, id_space: usize) -> Option<Box<[u32]>> {
        if id_space >= (1 << COMPACT_ID_BITS) - 1
            || pairs
                .values()
                .any(|&v| (v >> 32) >= (1 << COMPACT_PRIORITY_BITS) - 1)
        {
            return None;
        }
        if pairs.values().all(|&v| (v >> 32) == (v & 0xFFFF_FFFF)) {
            return Some(Box::default());
        }
        let top = pairs.values().map(|&v| (v >> 32) as usize + 1).max().unwrap_or(0);
        let mut merged = vec![u32::MAX; top];
        for &v in pairs.values() {
            let slot = &mut merged[(v >> 32) as usize];
            if *slot != u32::MAX && *slot != v as u32 {
                return None;
            }
            *slot = v as u32;
        }
        Some(merged.into_boxed_slice())
    }

    /// `(priority, merged id)` of the pair `key`.
    #[inline(always)]
    fn get(&self, key: u64) -> Option<(u32, u32)> {
        match self {
            PairTable::Compact(table) => {
                let pair = compact_pair(key);
                let mask = table.slots.len() - 1;
                let mut i = table_home(pair, table.shift);
                loop {
                    let slot = table.slots[i];
                    if slot >> COMPACT_PRIORITY_BITS == pair {
                        return Some(table.value(slot));
                    }
                    if slot == EMPTY {
                        return None;
                    }
                    i = (i + 1) & mask;
                }
            }
            PairTable::Wide(table) => {
                let mask = table.slots.len() - 1;
                let mut i = table_home(key, table.shift);
                loop {
                    let (k, v) = table.slots[i];
                    if k == key {
                        return Some(((v >> 32) as u32, v as u32));
                    }
                    if k == EMPTY {
                        return None;
                    }
                    i = (i + 1) & mask;
                }
            }
        }
    }

    fn iter(&self) -> Box<dyn Iterator<Item = (u64, (u32, u32))> + '_> {
        match self {
            PairTable::Compact(table) => Box::new(table.slots.iter().filter(|&&s| s != EMPTY).map(|&s| {
                let pair = s >> COMPACT_PRIORITY_BITS;
                let key = ((pair >> COMPACT_ID_BITS) << 32) | (pair & ((1 << COMPACT_ID_BITS) - 1));
                (key, table.value(s))
            })),
            PairTable::Wide(table) => Box::new(
                table
                    .slots
                    .iter()
                    .filter(|(k, _)| *k != EMPTY)
                    .map(|&(k, v)| (k, ((v >> 32) as u32, v as u32))),
            ),
        }
    }
}

impl CompactPairs {
    /// `(priority, merged id)` held by a filled slot.
    #[inline(always)]
    fn value(&self, slot: u64) -> (u32, u32) {
        let priority = (slot & ((1 << COMPACT_PRIORITY_BITS) - 1)) as u32;
        match self.merged.get(priority as usize) {
            Some(&merged) => (priority, merged),
            None => (priority, priority),
        }
    }
}

/// The first free slot from `home` on (linear probing; the table has free slots).
fn free_slot<T>(slots: &[T], home: usize, is_free: impl Fn(&T) -> bool) -> usize {
    let mut i = home;
    while !is_free(&slots[i]) {
        i = (i + 1) & (slots.len() - 1);
    }
    i
}

/// `pair_key(a, b)` as the 42-bit pair of a [`CompactPairs`] slot.
#[inline(always)]
fn compact_pair(key: u64) -> u64 {
    ((key >> 32) << COMPACT_ID_BITS) | (key & 0xFFFF_FFFF)
}

/// Intrusive lists of positions per merge priority (see `merge_buckets`).
struct BucketQueue {
    heads: Vec<u32>,
    /// `(position, next entry in the same bucket)`.
    entries: Vec<(u32, u32)>,
    /// Priority of the pair currently starting at each position (`u32::MAX`: none).
    prio: Vec<u32>,
    /// No non-empty bucket below this.
    cur: u32,
}

impl BucketQueue {
    #[inline]
    fn push(&mut self, pos: u32, p: u32) {
        self.entries.push((pos, self.heads[p as usize]));
        self.heads[p as usize] = (self.entries.len() - 1) as u32;
        self.prio[pos as usize] = p;
        self.cur = self.cur.min(p);
    }
}

/// A byte string of at most [`SHORT_KEY_MAX`] bytes packed into two words: the bytes little-endian
/// and the length in the top byte of the word that has room (`lo` for up to 7 bytes, else `hi`),
/// so distinct strings get distinct keys.
///
/// Performance notes (perf, cl100k, English prose, engine only): looking pieces up by byte slice
/// (`FxHashMap<Vec<u8>, _>`) spent ~40% of encode time hashing and in `memcmp` calls; integer keys
/// made the whole encode 2.3x faster (101 ms -> 45 ms for 2 MB). Strings of up to 7 bytes (most
/// pieces) use a one-word key, so their table entries are 16 bytes and the 1-2 MB table misses
/// the cache less than a 16-byte-key table (32-byte entries with u128 alignment). Bytes are read
/// with overlapping word loads, never byte by byte.
#[inline(always)]
pub fn short_key(s: &[u8]) -> Option<(u64, u64)> {
    let n = s.len();
    let word = |i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
    let half = |i: usize| u32::from_le_bytes(s[i..i + 4].try_into().expect("4 bytes")) as u64;
    let len = (n as u64) << 56;
    Some(match n {
        0 => (len, 0),
        1..=3 => {
            let mut v = s[0] as u64;
            v |= (s[n / 2] as u64) << (8 * (n / 2));
            v |= (s[n - 1] as u64) << (8 * (n - 1));
            (v | len, 0)
        }
        4..=7 => (half(0) | (half(n - 4) << (8 * (n - 4))) | len, 0),
        8 => (word(0), len),
        9..=SHORT_KEY_MAX => (word(0), (word(n - 8) >> (8 * (16 - n))) | len),
        _ => return None,
    })
}

/// Longest byte string [`short_key`] packs.
pub const SHORT_KEY_MAX: usize = 15;

/// Token bytes -> id, with integer keys for short tokens (see [`short_key`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenMap {
    /// Up to 7 bytes: one-word keys.
    small: FxHashMap<u64, u32>,
    /// 8 to 15 bytes.
    medium: FxHashMap<(u64, u64), u32>,
    long: FxHashMap<Vec<u8>, u32>,
}

impl TokenMap {
    /// Inserts `bytes -> id`; returns the id `bytes` already had, if any.
    pub(crate) fn insert(&mut self, bytes: &[u8], id: u32) -> Option<u32> {
        match short_key(bytes) {
            Some((lo, 0)) => self.small.insert(lo, id),
            Some(key) => self.medium.insert(key, id),
            None => self.long.insert(bytes.to_vec(), id),
        }
    }

    #[inline(always)]
    fn get(&self, bytes: &[u8]) -> Option<u32> {
        match short_key(bytes) {
            Some((lo, 0)) => self.small.get(&lo).copied(),
            Some(key) => self.medium.get(&key).copied(),
            None => self.long.get(bytes).copied(),
        }
    }

    fn len(&self) -> usize {
        self.small.len() + self.medium.len() + self.long.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The token map of a vocabulary, which must have distinct, non-empty tokens and distinct ids.
///
/// Performance note: keyed by `short_key` from the start, since the all-splits merge derivation
/// of `from_ranks` does two lookups per split point: building o200k took 0.17 s instead of 0.48 s
/// with a map keyed by the token bytes (FxHash on byte strings collided into long memcmp chains).
fn build_encoder(vocab: &[(Vec<u8>, u32)]) -> Result<TokenMap> {
    let mut encoder = TokenMap::default();
    for (bytes, id) in vocab {
        if bytes.is_empty() {
            return Err(Error::InvalidVocabulary(format!("token {id} is empty")));
        }
        if let Some(other) = encoder.insert(bytes, *id) {
            return Err(Error::InvalidVocabulary(format!(
                "tokens {other} and {id} have the same bytes {:?}",
                String::from_utf8_lossy(bytes)
            )));
        }
    }
    let size = vocab.iter().map(|(_, id)| *id as usize + 1).max().unwrap_or(0);
    // Tables are indexed by id, so a stray huge id (a corrupt file) must not size them.
    if size > 4 * vocab.len() + (1 << 16) {
        return Err(Error::InvalidVocabulary(format!(
            "ids go up to {} for only {} tokens; ids must be (nearly) contiguous",
            size - 1,
            vocab.len()
        )));
    }
    if vocab.iter().map(|(b, _)| b.len() as u64).sum::<u64>() >= u32::MAX as u64 {
        return Err(Error::InvalidVocabulary(
            "the tokens' bytes add up to 4 GiB or more".into(),
        ));
    }
    let mut seen = vec![false; size];
    for (_, id) in vocab {
        if std::mem::replace(&mut seen[*id as usize], true) {
            return Err(Error::InvalidVocabulary(format!(
                "id {id} is assigned to two tokens"
            )));
        }
    }
    Ok(encoder)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small tiktoken-style vocabulary: all bytes plus a few merges.
    fn toy() -> Bpe {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["ab", "bc", "abc", "aa", "aaaa", "cab", "ba", "aba"]
            .iter()
            .enumerate()
        {
            vocab.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        Bpe::from_ranks(vocab).unwrap()
    }

    /// Reference: tiktoken's algorithm on byte strings, written as plainly as possible.
    fn reference(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let mut cat = parts[i].clone();
                cat.extend_from_slice(&parts[i + 1]);
                if let Some(r) = bpe.token_id(&cat) {
                    if best.is_none_or(|(br, _)| r < br) {
                        best = Some((r, i));
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend_from_slice(&right);
        }
        parts.iter().map(|p| bpe.token_id(p).unwrap()).collect()
    }

    #[test]
    fn small_and_heap_agree_with_reference() {
        let bpe = toy();
        let mut seed = 12345u64;
        for len in 1..300 {
            for _ in 0..5 {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        b"abc"[(seed >> 33) as usize % 3]
                    })
                    .collect();
                let want = reference(&bpe, &piece);
                let mut small = want.clone();
                let mut tree = want.clone();
                if piece.len() <= SHORT_MERGE_MAX {
                    let mut short = Vec::new();
                    bpe.merge_small::<{ SHORT_MERGE_MAX + SHIFT_SPARE }>(&piece, &mut short);
                    assert_eq!(short, want, "short arrays, {piece:?}");
                }
                if piece.len() < HEAP_THRESHOLD {
                    small.clear();
                    bpe.merge_small::<{ HEAP_THRESHOLD + SHIFT_SPARE }>(&piece, &mut small);
                    tree.clear();
                    bpe.merge_tree(&piece, &mut tree);
                }
                assert_eq!(
                    tree,
                    want,
                    "tree merge differs on {:?}",
                    String::from_utf8_lossy(&piece)
                );
                let mut heap = Vec::new();
                bpe.merge_heap(&piece, &mut heap);
                let mut buckets = Vec::new();
                bpe.merge_buckets(&piece, &mut buckets);
                assert_eq!(
                    small,
                    want,
                    "small merge differs on {:?}",
                    String::from_utf8_lossy(&piece)
                );
                assert_eq!(
                    heap,
                    want,
                    "heap merge differs on {:?}",
                    String::from_utf8_lossy(&piece)
                );
                assert_eq!(
                    buckets,
                    want,
                    "bucket merge differs on {:?}",
                    String::from_utf8_lossy(&piece)
                );
            }
        }
    }

    /// Reference with explicit merge priorities: lowest-priority adjacent pair, leftmost first.
    fn reference_merges(bpe: &Bpe, piece: &[u8]) -> Vec<u32> {
        let mut parts = bpe.initial_parts(piece);
        loop {
            let best = (0..parts.len().saturating_sub(1))
                .filter_map(|i| bpe.merge_of(parts[i], parts[i + 1]).map(|(p, m)| (p, i, m)))
                .min();
            let Some((_, i, m)) = best else { break };
            parts[i] = m;
            parts.remove(i + 1);
        }
        parts
    }

    #[test]
    fn inverted_priorities_agree_across_algorithms() {
        // (x, yz) has a lower priority than (y, z), which creates it: the bucket queue must go back.
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["yz", "xyz", "xx", "xyzx", "zx", "xxyz"].iter().enumerate() {
            vocab.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        let id = |t: &str| vocab.iter().find(|(b, _)| b == t.as_bytes()).unwrap().1;
        let merges = [
            (id("x"), id("yz")),
            (id("xyz"), id("x")),
            (id("y"), id("z")),
            (id("z"), id("x")),
            (id("x"), id("x")),
            (id("xx"), id("yz")),
        ];
        let bpe = Bpe::from_merges(vocab.clone(), &merges, false, None).unwrap();
        let mut seed = 99u64;
        for len in [2usize, 5, 16, 17, 33, 50, 64, 65, 127, 200, 5000] {
            for _ in 0..4 {
                let piece: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        b"xyz"[(seed >> 33) as usize % 3]
                    })
                    .collect();
                let want = reference_merges(&bpe, &piece);
                for (name, f) in [
                    (
                        "small",
                        Bpe::merge_small::<{ HEAP_THRESHOLD + SHIFT_SPARE }>
                            as fn(&Bpe, &[u8], &mut Vec<u32>),
                    ),
                    ("tree", Bpe::merge_tree),
                    ("heap", Bpe::merge_heap),
                    ("buckets", Bpe::merge_buckets),
                ] {
                    if matches!(name, "small" | "tree") && piece.len() >= HEAP_THRESHOLD {
                        continue;
                    }
                    let mut got = Vec::new();
                    f(&bpe, &piece, &mut got);
                    assert_eq!(got, want, "{name} differs at length {len}");
                }
            }
        }
    }

    /// A vocabulary the way BPE training makes one (ranks in merge order, so monotone): the most
    /// frequent adjacent pair of `corpus` becomes the next token, `merges` times.
    fn trained(corpus: &[u8], merges: usize) -> Bpe {
        let mut vocab: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        let mut words: Vec<Vec<u32>> = corpus
            .split(|&b| b == b' ')
            .map(|w| w.iter().map(|&b| b as u32).collect())
            .collect();
        for _ in 0..merges {
            let mut counts: std::collections::BTreeMap<(u32, u32), usize> = Default::default();
            for w in &words {
                for p in w.windows(2) {
                    *counts.entry((p[0], p[1])).or_default() += 1;
                }
            }
            let Some((&(a, b), _)) = counts
                .iter()
                .max_by_key(|(pair, &c)| (c, std::cmp::Reverse(**pair)))
            else {
                break;
            };
            let id = vocab.len() as u32;
            vocab.push([vocab[a as usize].clone(), vocab[b as usize].clone()].concat());
            for w in &mut words {
                let mut i = 0;
                while i + 1 < w.len() {
                    if (w[i], w[i + 1]) == (a, b) {
                        w[i] = id;
                        w.remove(i + 1);
                    }
                    i += 1;
                }
            }
        }
        Bpe::from_ranks(vocab.into_iter().zip(0..).collect()).unwrap()
    }

    /// Random pieces over a small alphabet (so they hit many merges), with runs of one byte and
    /// repeats of a short motif mixed in (the shapes that make backtracking go deep).
    fn adversarial_pieces(alphabet: &[u8], seed: u64) -> Vec<Vec<u8>> {
        let mut state = seed;
        let mut next = move |m: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % m
        };
        let mut pieces = Vec::new();
        for len in (1..200).chain([255, 256, 511, 1000, 1500, 4095, 4096, 5000]) {
            for shape in 0..3 {
                let piece: Vec<u8> = match shape {
                    0 => (0..len).map(|_| alphabet[next(alphabet.len())]).collect(),
                    1 => vec![alphabet[next(alphabet.len())]; len],
                    _ => {
                        let motif: Vec<u8> =
                            (0..1 + next(5)).map(|_| alphabet[next(alphabet.len())]).collect();
                        motif.iter().copied().cycle().take(len).collect()
                    }
                };
                pieces.push(piece);
            }
        }
        pieces
    }

    /// The backtracking search against the merge kernels it replaces (`backtrack: None`).
    fn assert_backtrack_agrees(bpe: &Bpe, pieces: &[Vec<u8>]) {
        let merging = Bpe {
            backtrack: None,
            ..bpe.clone()
        };
        let backtrack = bpe.backtrack.as_ref().expect("a monotone vocabulary");
        for piece in pieces {
            let (mut want, mut got) = (Vec::new(), Vec::new());
            merging.merge_piece(piece, &mut want);
            backtrack.encode(bpe, piece, &mut got);
            assert_eq!(
                got,
                want,
                "backtracking differs on {:?}",
                String::from_utf8_lossy(piece)
            );
        }
    }

    #[test]
    fn backtracking_agrees_with_merging_on_a_trained_vocabulary() {
        let mut seed = 7u64;
        let corpus: Vec<u8> = (0..40_000)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // Skewed letters and spaces: frequent pairs, long tokens, overlapping merges.
                b"aaaabbbcccd  eab"[(seed >> 33) as usize % 16]
            })
            .collect();
        let bpe = trained(&corpus, 300);
        assert_backtrack_agrees(&bpe, &adversarial_pieces(b"abcde", 1));
        assert_backtrack_agrees(&bpe, &adversarial_pieces(b"ab", 2));
        // Bytes no merge uses, and every byte.
        let all: Vec<u8> = (0..=255).collect();
        assert_backtrack_agrees(&bpe, &adversarial_pieces(&all, 3));
    }

    #[test]
    fn backtracking_agrees_with_merging_on_real_vocabularies() {
        // The real files are fetched by `make vocab` (the Python suite compares them with tiktoken
        // too); without them only the trained vocabulary above runs.
        let home = std::env::var_os("TOKENFORGE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache/tokenforge")));
        for name in [
            "cl100k_base",
            "o200k_base",
            "r50k_base",
            "p50k_base",
            "llama3",
            "qwen2",
        ] {
            let Some(Ok(file)) = home
                .as_ref()
                .map(|h| std::fs::read(h.join(format!("{name}.tiktoken"))))
            else {
                continue;
            };
            let bpe = Bpe::from_ranks(crate::tiktoken_file::parse_tiktoken(&file).unwrap()).unwrap();
            // llama3 has pairs that rank below their parts and can be adjacent: it keeps the
            // merge kernels.
            let monotone = name != "llama3";
            assert_eq!(bpe.backtrack.is_some(), monotone, "{name}");
            if !monotone {
                continue;
            }
            let mut pieces = adversarial_pieces("的一是不了人我在有他这为之大来以个中上们".as_bytes(), 4);
            pieces.extend(adversarial_pieces(b"aeiou rstln", 5));
            pieces.extend(adversarial_pieces(&(0..=255).collect::<Vec<u8>>(), 6));
            pieces.extend(adversarial_pieces("가나다라마바사아자차카타파하".as_bytes(), 7));
            assert_backtrack_agrees(&bpe, &pieces);
        }
    }

    /// Both layouts of the merge table answer every pair as the map they were built from, with
    /// merged ids equal to priorities (tiktoken) or not (HF merges); the compact one is chosen
    /// only when every id and priority fits its bits and each priority has one merged id.
    #[test]
    fn pair_table_layouts_agree_with_their_map() {
        let mut state = 11u64;
        let mut next = |limit: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % limit
        };
        // (id space, merged ids equal priorities, two merged ids share a priority, compact)
        let cases = [
            (50_000usize, true, false, true),
            (50_000, false, false, true),
            (50_000, false, true, false),
            (3 << 20, false, false, false),
        ];
        for (id_space, identity, shared, compact) in cases {
            let space = id_space as u64;
            let mut pairs = FxHashMap::default();
            while pairs.len() < 20_000 {
                let key = pair_key(next(space) as u32, next(space) as u32);
                let priority = next(if identity { space } else { 1 << 20 });
                let merged = if identity {
                    priority
                } else {
                    priority.wrapping_mul(7919) % space
                };
                pairs.insert(key, (priority << 32) | merged);
            }
            if shared {
                let (&key, &value) = pairs.iter().next().unwrap();
                let other = pair_key(space as u32 - 1, space as u32 - 1);
                assert_ne!(key, other);
                pairs.insert(
                    other,
                    (value & !0xFFFF_FFFF) | ((value as u32 + 1) as u64 % space),
                );
            }
            let table = PairTable::new(&pairs, id_space);
            assert_eq!(matches!(table, PairTable::Compact(_)), compact);
            for (&key, &value) in &pairs {
                assert_eq!(table.get(key), Some(((value >> 32) as u32, value as u32)));
            }
            for _ in 0..20_000 {
                let key = pair_key(next(space) as u32, next(space) as u32);
                let expected = pairs.get(&key).map(|&v| ((v >> 32) as u32, v as u32));
                assert_eq!(table.get(key), expected);
            }
            let mut listed: Vec<_> = table.iter().collect();
            listed.sort_unstable();
            let mut expected: Vec<_> = pairs
                .iter()
                .map(|(&k, &v)| (k, ((v >> 32) as u32, v as u32)))
                .collect();
            expected.sort_unstable();
            assert_eq!(listed, expected);
        }
    }

    #[test]
    fn short_keys_are_injective() {
        let mut seen = std::collections::HashMap::new();
        let alphabet = [0u8, 1, 0x20, 0x61, 0xff];
        // Every string of length <= 5 over the alphabet, plus zero-padded lookalikes up to 15.
        let mut strings: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..5 {
            let next: Vec<Vec<u8>> = strings
                .iter()
                .flat_map(|s| alphabet.iter().map(move |&b| [s.clone(), vec![b]].concat()))
                .collect();
            strings.extend(next.into_iter().filter(|s| s.len() <= 5));
            strings.sort();
            strings.dedup();
        }
        for n in 6..=SHORT_KEY_MAX {
            strings.push(vec![0; n]);
            strings.push((0..n as u8).collect());
            strings.push((0..n as u8).rev().collect());
        }
        for s in &strings {
            let key = short_key(s).unwrap();
            assert_eq!(key.1 == 0, s.len() <= 7);
            if let Some(prev) = seen.insert(key, s.clone()) {
                assert_eq!(&prev, s, "collision");
            }
        }
        assert_eq!(short_key(&[7; 16]), None);
    }

    #[test]
    fn exact_match_and_bytes() {
        let bpe = toy();
        let mut out = Vec::new();
        bpe.encode_piece(b"aaaa", &mut out);
        bpe.encode_piece(b"z", &mut out);
        assert_eq!(out, vec![260, b'z' as u32]);
    }

    #[test]
    fn long_run_is_fast() {
        let bpe = toy();
        let piece = vec![b'a'; 1_000_000];
        let mut out = Vec::new();
        bpe.encode_piece(&piece, &mut out);
        assert_eq!(out.len(), 250_000);
    }

    #[test]
    fn rejects_bad_vocabularies() {
        let missing_byte: Vec<(Vec<u8>, u32)> = (0..255u8).map(|b| (vec![b], b as u32)).collect();
        assert!(matches!(
            Bpe::from_ranks(missing_byte),
            Err(Error::InvalidVocabulary(_))
        ));
        let dup = vec![(b"a".to_vec(), 0), (b"a".to_vec(), 1)];
        assert!(matches!(Bpe::from_ranks(dup), Err(Error::InvalidVocabulary(_))));
        let vocab = vec![(b"a".to_vec(), 0), (b"b".to_vec(), 1)];
        assert!(matches!(
            Bpe::from_merges(vocab, &[(0, 1)], false, None),
            Err(Error::InvalidVocabulary(_))
        ));
    }

    #[test]
    fn hf_merge_priorities_are_list_order() {
        // "ab" is listed before "bc": "abc" -> [ab, c] although id("bc") < id("ab").
        let vocab = vec![
            (b"a".to_vec(), 0),
            (b"b".to_vec(), 1),
            (b"c".to_vec(), 2),
            (b"bc".to_vec(), 3),
            (b"ab".to_vec(), 4),
        ];
        let bpe = Bpe::from_merges(vocab, &[(0, 1), (1, 2)], false, None).unwrap();
        let mut out = Vec::new();
        bpe.encode_piece(b"abc", &mut out);
        assert_eq!(out, vec![4, 2]);
        out.clear();
        bpe.encode_piece(b"abz", &mut out); // 'z' missing, no unk: dropped as HF does
        assert_eq!(out, vec![4]);
    }
}
