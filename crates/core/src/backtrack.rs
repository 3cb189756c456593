//! Linear-time exact BPE for long pieces of tiktoken vocabularies: longest-match with
//! backtracking, accepting a token only when it is a valid BPE neighbour of the one before.
//!
//! Why it is exact (the argument the differential tests in `bpe.rs` back up). Call a token
//! *reachable* when BPE of its own bytes gives it back, and the vocabulary *monotone* when every
//! merge of two reachable tokens that can ever be adjacent has a higher priority than the merges
//! that formed either of them (checked at build; `Backtrack::build` refuses otherwise and the
//! merge kernels stay in charge).
//! In a monotone vocabulary BPE merges in non-decreasing priority order, so the parts left and right
//! of any boundary evolve as they would alone until a merge crosses it, and whether one crosses
//! depends only on the two sides' merge histories. Hence:
//! * a pair `(a, b)` of reachable tokens is *valid* (BPE of `a ++ b` is `[a, b]`) iff no state
//!   of the boundary in the two histories has a crossing merge that fires before the next merge on
//!   either side; [`Backtrack::valid_pair`] walks those states backwards with the `split` table;
//! * BPE of a text is the only sequence of reachable tokens covering it whose adjacent pairs are all
//!   valid, and so is every prefix of it for the matching prefix of the text.
//!
//! So a depth-first search from the left (longest token first, then ever shorter prefixes of it)
//! that only accepts valid pairs finds BPE, and the tokens it has accepted up to a position are
//! always BPE of that prefix, whatever path led there: a position from which the search once failed
//! fails again, and is marked dead. Each position is entered a bounded number of times, so a piece
//! of `n` bytes costs O(n x L) trie steps for the longest token length L, with no quadratic
//! rescans.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::bpe::Bpe;

const NONE: u32 = u32::MAX;

/// Pieces up to this many bytes are searched in stack buffers (1 KiB of tokens).
const STACK_PIECE: usize = 256;
/// Most pieces are this short: their token buffer is zeroed inline, not by a 1 KiB memset call
/// per piece. Callgrind of `encode_file` (cl100k, Brown paragraphs, `UNSEEN=1`): 29.34M -> 29.04M
/// instructions, memset calls from here 4,586 -> 0.
const SHORT_PIECE: usize = 32;

#[derive(Debug)]
pub(crate) struct Backtrack {
    /// Trie over the reachable tokens. The root's children are all 256 bytes (`byte_ids`, so the
    /// first step needs no probe); deeper edges are in `edges`. A node id below `tokens_below` is
    /// the token ending there; the nodes where no token ends have ids from `tokens_below` up.
    edges: EdgeTable,
    byte_ids: [u32; 256],
    tokens_below: u32,
    /// Longest proper prefix of each token that is a reachable token (`NONE`: none, or the token is
    /// unreachable).
    next_prefix: Vec<u32>,
    /// The two parts BPE merges last when encoding each reachable multi-byte token.
    split: Vec<(u32, u32)>,
    /// 1 + the priority of the merge that forms each reachable multi-byte token; 0 for single
    /// bytes (they exist from the start) and unreachable tokens.
    formed: Vec<u32>,
    /// Byte length of each token.
    len: Vec<u32>,
    /// Memo of [`Backtrack::valid_pair`], shared by all threads: see [`PairMemo`].
    pairs: PairMemo,
}

impl Backtrack {
    /// The search structures for `bpe`, or `None` when the vocabulary is not monotone (or has
    /// bytes without ids, or an id space the trie keys cannot hold).
    pub(crate) fn build(bpe: &Bpe) -> Option<Self> {
        let size = bpe.id_space();
        if size > PairMemo::MAX_IDS {
            return None;
        }
        let byte_ids: Vec<u32> = (0..=255u8).map(|b| bpe.token_id(&[b])).collect::<Option<_>>()?;
        let mut split = vec![(NONE, NONE); size];
        let mut formed = vec![0u32; size];
        let mut len = vec![0u32; size];
        let mut reachable = vec![false; size];
        for &id in &byte_ids {
            reachable[id as usize] = true;
            len[id as usize] = 1;
        }
        for (bytes, id) in bpe.vocab() {
            len[id as usize] = bytes.len() as u32;
            if bytes.len() > 1 {
                if let Some((left, right, priority)) = final_merge(bpe, &byte_ids, bytes, id) {
                    split[id as usize] = (left, right);
                    formed[id as usize] = priority + 1;
                    reachable[id as usize] = true;
                }
            }
        }
        // The trie. A node where a token ends has that token's id as its node id, and the other
        // nodes get ids from `size` up, so the walk reads the token off the node id instead of
        // from a per-node array: that array was a second cache miss per byte next to the edge
        // probe (o200k UDHR CJK, callgrind with cache simulation: D1 misses in the walk
        // 129k -> 87k, all D1 misses 289k -> 242k, instructions 11.37M -> 10.94M). Inserting by length makes every token's node new when it is
        // reached (its proper prefixes are shorter), so it can take the token's id.
        let mut tokens: Vec<(&[u8], u32)> = bpe
            .vocab()
            .filter(|&(bytes, id)| reachable[id as usize] && bytes.len() > 1)
            .collect();
        tokens.sort_unstable_by_key(|&(bytes, id)| (bytes.len(), id));
        let mut next_interior = size as u32;
        let mut edges: Vec<(u32, u32)> = Vec::new();
        let mut children = rustc_hash::FxHashMap::<u32, u32>::default();
        for &(bytes, id) in &tokens {
            let mut node = byte_ids[bytes[0] as usize];
            for (depth, &b) in bytes.iter().enumerate().skip(1) {
                let key = edge_key(node, b)?;
                node = *children.entry(key).or_insert_with(|| {
                    let child = if depth + 1 == bytes.len() {
                        id
                    } else {
                        next_interior += 1;
                        next_interior - 1
                    };
                    edges.push((key, child));
                    child
                });
            }
            debug_assert_eq!(node, id, "a token's node is new when the token is inserted");
        }
        let mut bt = Backtrack {
            edges: EdgeTable::new(&edges),
            byte_ids: byte_ids.try_into().ok()?,
            tokens_below: size as u32,
            next_prefix: vec![NONE; size],
            split,
            formed,
            len,
            pairs: PairMemo::new(),
        };
        // With the trie complete, each token's next-shorter candidate is the longest match of
        // the token without its last byte.
        for (bytes, id) in bpe.vocab() {
            if reachable[id as usize] && bytes.len() > 1 {
                bt.next_prefix[id as usize] = bt.longest_match(&bytes[..bytes.len() - 1]);
            }
        }
        // tiktoken's table holds every split of a token, so a merge can rank below one of its
        // parts (` tale + nt` -> ` talent` ranks below ` tale`). Such a pair is harmless when the
        // two parts can never be adjacent: some earlier state of their boundary merges across
        // first. Inductively over time, merges then happen in non-decreasing priority, which is
        // all the argument above needs. cl100k has 3,218 such pairs (of 233k), all harmless.
        let monotone = bpe.merge_pairs().all(|(a, b, priority)| {
            let (fa, fb) = (bt.formed[a as usize], bt.formed[b as usize]);
            !(reachable[a as usize] && reachable[b as usize])
                || (priority + 1 > fa && priority + 1 > fb)
                || bt.earlier_state_merges(bpe, a, b)
        });
        monotone.then_some(bt)
    }

    /// Longest reachable token that is a prefix of `s` (never empty).
    #[inline(always)]
    fn longest_match(&self, s: &[u8]) -> u32 {
        let mut node = self.byte_ids[s[0] as usize];
        let mut best = node;
        for &b in &s[1..] {
            match self.edges.get(node << 8 | b as u32) {
                Some(child) => node = child,
                None => break,
            }
            if node < self.tokens_below {
                best = node;
            }
        }
        best
    }

    /// Whether BPE of `a ++ b` is `[a, b]` (both reachable).
    #[inline]
    fn valid_pair(&self, bpe: &Bpe, a: u32, b: u32) -> bool {
        self.pairs.get_or_insert(a, b, || {
            bpe.merge_of(a, b).is_none() && !self.earlier_state_merges(bpe, a, b)
        })
    }

    /// Whether a merge crosses the boundary of `a ++ b` before both parts are complete. Walks the
    /// boundary's states back in time: the later-formed side is split into its last merge's parts,
    /// and the crossing pair of that earlier state fires iff its priority is below the merge that
    /// ended the state (strictly for a merge on the left; ties go to the leftmost pair, so a
    /// crossing pair beats a merge of the same priority on the right).
    #[inline]
    fn earlier_state_merges(&self, bpe: &Bpe, mut a: u32, mut b: u32) -> bool {
        loop {
            let (fa, fb) = (self.formed[a as usize], self.formed[b as usize]);
            let limit = if fa > fb {
                a = self.split[a as usize].1;
                fa - 1
            } else if fb > 0 {
                b = self.split[b as usize].0;
                fb
            } else {
                return false;
            };
            if bpe.merge_of(a, b).is_some_and(|(priority, _)| priority < limit) {
                return true;
            }
        }
    }

    /// Appends BPE of `piece` (non-empty) to `out`.
    ///
    /// The search runs in buffers of its own (on the stack up to [`STACK_PIECE`] bytes) and
    /// `out` grows once, by exactly the result, as with the merge kernels. Pushing and popping
    /// tokens in `out` itself grew the piece memo's store one token at a time (capacities in
    /// powers of two instead of the kernels' multiples of the first piece's length), which moved
    /// where a memo crosses its byte budget: in `test_stress`'s 16-thread run the main thread's
    /// memo then emptied itself during the warm-up (256 KiB left, against 16 MiB with the merge
    /// kernels), the 16 thread caches grew, hit the budget and were emptied again and again, and
    /// glibc's per-thread arenas kept the freed blocks: peak RSS +78-84 MB against +32 MB. The
    /// kernels show the same +77-80 MB when the budget is 14 or 15 MiB instead of 16 (the
    /// memo's arena churn is a property of the memo, not of this search).
    pub(crate) fn encode(&self, bpe: &Bpe, piece: &[u8], out: &mut Vec<u32>) {
        let n = piece.len();
        if n <= SHORT_PIECE {
            self.encode_on_stack::<SHORT_PIECE>(bpe, piece, out);
        } else if n <= STACK_PIECE {
            self.encode_on_stack::<STACK_PIECE>(bpe, piece, out);
        } else {
            // Long pieces are not memoised: the heap buffers are the only allocations here.
            let mut dead = vec![0u64; n / 64 + 1];
            let start = out.len();
            out.resize(start + n, 0);
            let len = self.search(bpe, piece, &mut dead, &mut out[start..]);
            out.truncate(start + len);
        }
    }

    /// [`Backtrack::encode`] of a piece of at most `N` bytes in stack buffers.
    #[inline(always)]
    fn encode_on_stack<const N: usize>(&self, bpe: &Bpe, piece: &[u8], out: &mut Vec<u32>) {
        let mut dead = [0u64; STACK_PIECE / 64 + 1];
        let mut tokens = [0u32; N];
        let len = self.search(bpe, piece, &mut dead, &mut tokens);
        out.extend_from_slice(&tokens[..len]);
    }

    /// The search of [`Backtrack::encode`]: writes BPE of `piece` to the front of `tokens` (room
    /// for one token per byte) and returns how many; `dead` has a zero bit per byte of `piece`.
    #[inline(always)]
    fn search(&self, bpe: &Bpe, piece: &[u8], dead: &mut [u64], tokens: &mut [u32]) -> usize {
        let is_dead = |dead: &[u64], p: usize| dead[p / 64] >> (p % 64) & 1 != 0;
        let n = piece.len();
        let mut count = 0;
        let mut pos = 0;
        let mut candidate = self.longest_match(piece);
        loop {
            if candidate == NONE {
                // Every token at `pos` failed: no valid encoding passes through it.
                dead[pos / 64] |= 1 << (pos % 64);
                count -= 1;
                let last = tokens[count];
                pos -= self.len[last as usize] as usize;
                candidate = self.next_prefix[last as usize];
                continue;
            }
            let end = pos + self.len[candidate as usize] as usize;
            let accepted = (end == n || !is_dead(dead, end))
                && (count == 0 || self.valid_pair(bpe, tokens[count - 1], candidate));
            if !accepted {
                candidate = self.next_prefix[candidate as usize];
                continue;
            }
            tokens[count] = candidate;
            count += 1;
            if end == n {
                return count;
            }
            pos = end;
            candidate = self.longest_match(&piece[pos..]);
        }
    }
}

/// `(left, right, priority)` of the last merge when BPE encodes `bytes` into the single token
/// `id`; `None` when BPE of `bytes` is not `[id]`. A plain rescanning merge: it runs once per token
/// at load.
fn final_merge(bpe: &Bpe, byte_ids: &[u32], bytes: &[u8], id: u32) -> Option<(u32, u32, u32)> {
    let mut parts: Vec<u32> = bytes.iter().map(|&b| byte_ids[b as usize]).collect();
    let mut last = None;
    loop {
        let best = (0..parts.len() - 1)
            .filter_map(|i| bpe.merge_of(parts[i], parts[i + 1]).map(|(p, m)| (p, i, m)))
            .min();
        let Some((priority, i, merged)) = best else { break };
        last = Some((parts[i], parts[i + 1], priority));
        parts[i] = merged;
        parts.remove(i + 1);
    }
    (parts == [id]).then_some(last).flatten()
}

/// Direct-mapped memo of `valid_pair`: one `AtomicU64` per slot holding the pair and its answer
/// (bit 63: slot used, bit 62: valid, bits 31-61: left id, bits 0-30: right id), so a reader
/// sees a whole entry or an older one and threads share it without locks; a slot keeps the last
/// pair that hashed to it. Answers never depend on what the memo holds (it caches a pure
/// function), so sharing it keeps tokenizers observably immutable. Fixed size:
/// [`PairMemo::SLOTS`] x 8 bytes per tokenizer.
///
/// The check walks both tokens' merge histories with a probe of the merge table per step, about
/// half of the CJK encode before the memo. Measured with callgrind (inclusive instructions of
/// `Tokenizer::encode`, `UNSEEN=1 encode_file`, both halves from an empty piece memo), no memo ->
/// 2^12 / 2^14 slots: cl100k UDHR CJK 14.61M -> 11.81M / 11.24M, cl100k UDHR (521 languages,
/// 1.2 MB) 169.26M -> 157.77M / 156.36M, o200k UDHR 170.11M -> 162.47M / 161.66M; English and code
/// pay 0.2-0.3M for the probes (cl100k English 33.08M -> 33.37M / 33.35M).
struct PairMemo {
    slots: Box<[AtomicU64]>,
}

impl PairMemo {
    const SLOTS: usize = 1 << 14;
    const USED: u64 = 1 << 63;
    const VALID: u64 = 1 << 62;
    /// Ids must fit in 31 bits.
    const MAX_IDS: usize = 1 << 31;

    fn new() -> Self {
        PairMemo {
            slots: (0..Self::SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline(always)]
    fn get_or_insert(&self, a: u32, b: u32, valid: impl FnOnce() -> bool) -> bool {
        let key = Self::USED | (a as u64) << 31 | b as u64;
        let home = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::SLOTS.trailing_zeros());
        let slot = &self.slots[home as usize];
        let entry = slot.load(Ordering::Relaxed);
        if entry & !Self::VALID == key {
            return entry & Self::VALID != 0;
        }
        let answer = valid();
        slot.store(if answer { key | Self::VALID } else { key }, Ordering::Relaxed);
        answer
    }
}

impl std::fmt::Debug for PairMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairMemo")
            .field("slots", &self.slots.len())
            .finish()
    }
}

/// Trie edge key: the parent node and the byte. `None` past 2^24 nodes.
fn edge_key(node: u32, byte: u8) -> Option<u32> {
    (node < (1 << 24) - 1).then_some(node << 8 | byte as u32)
}

/// Trie edges `(node << 8 | byte) -> child` in a flat open-addressing table, at most half full:
/// 8-byte slots, one multiply per probe (the same scheme as the merge table).
#[derive(Debug, Clone)]
struct EdgeTable {
    slots: Box<[(u32, u32)]>,
    shift: u32,
}

impl EdgeTable {
    /// No edge has this key (`edge_key` keeps nodes below 2^24 - 1).
    const EMPTY: u32 = u32::MAX;

    fn new(edges: &[(u32, u32)]) -> Self {
        let size = (edges.len() * 2).next_power_of_two().max(16);
        let mut table = EdgeTable {
            slots: vec![(Self::EMPTY, 0); size].into_boxed_slice(),
            shift: 32 - size.trailing_zeros(),
        };
        for &(key, child) in edges {
            let mut i = table.home(key);
            while table.slots[i].0 != Self::EMPTY {
                i = (i + 1) & (size - 1);
            }
            table.slots[i] = (key, child);
        }
        table
    }

    #[inline(always)]
    fn home(&self, key: u32) -> usize {
        (key.wrapping_mul(0x9E37_79B9) >> self.shift) as usize
    }

    #[inline(always)]
    fn get(&self, key: u32) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let (k, child) = self.slots[i];
            if k == key {
                return Some(child);
            }
            if k == Self::EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}
