//! Memo of piece -> ids, kept by each tokenizer across calls.
//!
//! Performance notes (cl100k, 2 MB of English in 6,005 paragraphs, `count_batch`, best of 10
//! calls on an idle 2-core machine):
//! - A fresh cache per rayon job (`map_init`) made 2 threads no faster than 1 (81 vs 81 MB/s):
//!   every job re-learned the same words, so 2 threads burned 2x the CPU. One cache per worker,
//!   reused by all the worker's texts: 113 MB/s at 2 threads (1.4x); with the slots padded apart
//!   (see [`Slot`]), 1.8x in pure Rust.
//! - Keeping the caches in the tokenizer across calls (a corpus is encoded as a stream of batch
//!   calls with the same Zipfian vocabulary of pieces) removes the warm-up from every later call.
//! - A cache per slot with `try_lock`, not one shared map: workers never wait for each other,
//!   and a slot is an uncontended lock (~20 ns) per text.
//!
//! Memory: the memo entries of all slots of one tokenizer share one budget in bytes
//! ([`memo_limit`], 64 MiB unless `TOKENFORGE_MEMO_MB` says otherwise), whatever the number of
//! threads. It used to be a count of pieces per slot (2^18): with 20-60-byte pieces each entry cost
//! ~150 bytes (a boxed key, the ids, the map slot), so 24 threads of distinct words held ~40 MB per
//! slot and ~720 MB in all. Each cache reserves budget in chunks of [`RESERVE_CHUNK`] bytes from the
//! pool's counter (one atomic add per chunk, not per entry); a cache that cannot reserve more is
//! emptied and its memory freed. The word memo of character BPE ([`WordMemo`]) reserves from the
//! same budget. Outside the budget: a 128 KiB front table per cache in use.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};

use rustc_hash::FxHashMap;

use crate::bpe::{short_key, Bpe};
use crate::model::WordMemo;

/// Pieces longer than this are not cached: long pieces rarely repeat and would bloat the cache.
const MAX_CACHED_PIECE: usize = 64;
/// Memo budget of one tokenizer when `TOKENFORGE_MEMO_MB` is not set.
const DEFAULT_MEMO_MB: usize = 64;
/// Budget a cache takes from its pool at a time.
const RESERVE_CHUNK: usize = 256 << 10;
/// Caches kept per tokenizer: callers beyond this many at once get a temporary cache.
const SLOTS: usize = 16;

/// Entries of the direct-mapped front cache (see [`PieceCache`]).
const HOT_BITS: u32 = 12;
/// Longest result the front cache holds inline.
const HOT_IDS: usize = 3;

/// One front-cache entry: 32 bytes, two to a cache line.
#[derive(Clone, Copy, Default)]
struct HotEntry {
    key: (u64, u64),
    len: u32,
    ids: [u32; HOT_IDS],
}

/// Piece -> ids, in two levels.
///
/// The front is a small direct-mapped table of recent short pieces and their ids, whatever
/// answered them (the vocabulary or a merge), which stays in the core's L2 cache while the
/// vocabulary's hash table (4 MB for o200k) does not; the exact-match probe was 31% of an o200k
/// encode. Measured A/B (pure Rust, 2 MB, best of 50, several processes each): code o200k 35.4 ->
/// 32.5 ms, cl100k 27.6 -> 24.8 ms; English 3-6% less. 2^10 and 2^12 entries did the same, 2^8 and
/// 2^14 less well. Behind it, [`MergedPieces`].
pub(crate) struct PieceCache {
    hot: Box<[HotEntry]>,
    merged: MergedPieces,
    /// The word memo of the models other than byte-level BPE.
    words: WordMemo,
}

impl PieceCache {
    fn new(budget: Arc<Budget>) -> Self {
        PieceCache {
            // Every piece is non-empty, so the all-zero key (that of the empty string) never hits.
            hot: vec![HotEntry::default(); 1 << HOT_BITS].into_boxed_slice(),
            merged: MergedPieces {
                short: FxHashMap::default(),
                long: FxHashMap::default(),
                long_key_bytes: 0,
                store: Vec::new(),
                scratch: Vec::new(),
                one: [0],
                reservation: Reservation::new(budget.clone()),
            },
            words: WordMemo::new(Reservation::new(budget)),
        }
    }

    pub(crate) fn words(&mut self) -> &mut WordMemo {
        &mut self.words
    }
}

/// The memo budget of one tokenizer: `used` bytes are reserved by its caches, at most `limit`.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Budget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Takes `bytes` from the budget, or nothing if that would pass the limit. A compare-and-swap,
    /// so `used` (which `memo_bytes` reports) never passes the limit: an add undone when it went
    /// over showed other threads a total above the cap for a moment (one chunk over, seen by the
    /// 8-thread memo test). It runs once per reserved chunk, not per entry.
    fn reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The part of a [`Budget`] one memo holds, taken in chunks of [`RESERVE_CHUNK`] bytes (one
/// atomic add per chunk, not per entry) and given back when the memo is emptied or dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    reserved: usize,
}

impl Reservation {
    pub(crate) fn new(budget: Arc<Budget>) -> Self {
        Reservation { budget, reserved: 0 }
    }

    /// Makes the reservation cover `footprint` bytes; false if the budget cannot give that
    /// much (the memo must then empty itself and [`Reservation::release_all`]).
    pub(crate) fn cover(&mut self, footprint: usize) -> bool {
        if footprint <= self.reserved {
            return true;
        }
        let more = (footprint - self.reserved).next_multiple_of(RESERVE_CHUNK);
        if !self.budget.reserve(more) {
            return false;
        }
        self.reserved += more;
        true
    }

    #[cfg(test)]
    pub(crate) fn reserved(&self) -> usize {
        self.reserved
    }

    pub(crate) fn release_all(&mut self) {
        self.budget.release(self.reserved);
        self.reserved = 0;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release_all();
    }
}

/// Bytes of memo entries each tokenizer may hold across all its caches: `TOKENFORGE_MEMO_MB`
/// (MiB, read once per process; 0 keeps only the front tables) or 64 MiB. A value that is not a
/// whole number is ignored.
pub fn memo_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("TOKENFORGE_MEMO_MB")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(DEFAULT_MEMO_MB)
            .saturating_mul(1 << 20)
    })
}

/// Heap bytes malloc spends on an allocation of `n` bytes (rounded up to 16 plus a 16-byte
/// header, as glibc's malloc spends them).
pub(crate) fn allocation_bytes(n: usize) -> usize {
    n.next_multiple_of(16) + 16
}

/// Heap bytes of a hash map with `capacity` (hashbrown: buckets of `entry` bytes plus one
/// control byte each, at most 7/8 full).
pub(crate) fn map_bytes(capacity: usize, entry: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (entry + 1)
}

#[inline(always)]
fn hot_index(key: (u64, u64)) -> usize {
    let mixed = (key.0 ^ key.1.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> (64 - HOT_BITS)) as usize
}

impl PieceCache {
    /// Hands `sink` the ids of `piece`. Generic over the sink, and the front-table hit inlined
    /// into the caller's split loop; everything else is behind one call to [`PieceCache::miss`].
    #[inline(always)]
    pub(crate) fn encode<F: FnMut(&[u32]) + ?Sized>(&mut self, bpe: &Bpe, piece: &[u8], sink: &mut F) {
        let key = short_key(piece);
        if let Some(key) = key {
            let entry = &self.hot[hot_index(key)];
            if entry.key == key {
                return sink(&entry.ids[..entry.len as usize]);
            }
        }
        sink(self.miss(bpe, piece, key))
    }

    /// The ids of a piece the front table does not hold (recorded there if short).
    #[inline(never)]
    fn miss(&mut self, bpe: &Bpe, piece: &[u8], key: Option<(u64, u64)>) -> &[u32] {
        let ids = self.merged.encode(bpe, piece, key);
        if let Some(key) = key {
            if ids.len() <= HOT_IDS {
                let entry = &mut self.hot[hot_index(key)];
                entry.key = key;
                entry.len = ids.len() as u32;
                entry.ids[..ids.len()].copy_from_slice(ids);
            }
        }
        ids
    }
}

/// Pieces that are not whole tokens, with the ids their merges gave (whole tokens are answered
/// by the exact-match lookup, as cheaply as a probe here would be). Short pieces use integer keys.
struct MergedPieces {
    short: FxHashMap<(u64, u64), (u32, u32)>,
    long: FxHashMap<Box<[u8]>, (u32, u32)>,
    /// Heap bytes of the keys of `long` (see [`allocation_bytes`]).
    long_key_bytes: usize,
    store: Vec<u32>,
    scratch: Vec<u32>,
    /// The answer of a whole-token lookup.
    one: [u32; 1],
    /// Budget held, at least [`MergedPieces::footprint`] bytes.
    reservation: Reservation,
}

impl MergedPieces {
    /// The ids of `piece`; `key` is `short_key(piece)`, computed by the caller.
    #[inline]
    fn encode(&mut self, bpe: &Bpe, piece: &[u8], key: Option<(u64, u64)>) -> &[u32] {
        if bpe.exact_match() {
            if let Some(id) = bpe.token_id(piece) {
                self.one = [id];
                return &self.one;
            }
        }
        // The whole-piece lookup is done (or not wanted): merge directly, since `encode_piece`
        // would probe the vocabulary a second time.
        if piece.len() > MAX_CACHED_PIECE {
            self.scratch.clear();
            bpe.merge_piece(piece, &mut self.scratch);
            return &self.scratch;
        }
        let hit = match key {
            Some(k) => self.short.get(&k),
            None => self.long.get(piece),
        };
        if let Some(&(start, len)) = hit {
            return &self.store[start as usize..(start + len) as usize];
        }
        let start = self.store.len();
        bpe.merge_piece(piece, &mut self.store);
        let entry = (start as u32, (self.store.len() - start) as u32);
        match key {
            Some(k) => self.short.insert(k, entry),
            None => {
                self.long_key_bytes += allocation_bytes(piece.len());
                self.long.insert(piece.into(), entry)
            }
        };
        if !self.reservation.cover(self.footprint()) {
            // Out of budget: answer from scratch, then free every entry.
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.store[start..]);
            self.clear();
            return &self.scratch;
        }
        &self.store[start..]
    }

    /// Estimated heap bytes of the entries.
    fn footprint(&self) -> usize {
        map_bytes(self.short.capacity(), 24)
            + map_bytes(self.long.capacity(), 24)
            + self.long_key_bytes
            + self.store.capacity() * 4
    }

    /// Frees every entry and returns the budget they had.
    fn clear(&mut self) {
        self.short = FxHashMap::default();
        self.long = FxHashMap::default();
        self.long_key_bytes = 0;
        self.store = Vec::new();
        self.reservation.release_all();
    }
}

/// The caches of one tokenizer. Results never depend on cache contents, so sharing them does not
/// make a tokenizer observably mutable; a clone starts with empty caches.
pub(crate) struct CachePool {
    slots: Box<[Slot]>,
    budget: Arc<Budget>,
}

/// One cache, alone on its cache lines: with slots packed side by side, two workers writing
/// their own map lengths invalidated each other's lines and 2 threads ran at 1.1x one thread
/// (pure Rust, cl100k, 2 MB English in 6,005 paragraphs: 23.1 -> 20.6 ms); padded, at 1.8x.
/// Empty until first used: most tokenizers serve one or two callers at a time.
#[repr(align(128))]
#[derive(Default)]
struct Slot(Mutex<Option<PieceCache>>);

impl Default for CachePool {
    fn default() -> Self {
        CachePool::with_limit(memo_limit())
    }
}

impl Clone for CachePool {
    fn clone(&self) -> Self {
        CachePool::with_limit(self.budget.limit)
    }
}

impl std::fmt::Debug for CachePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachePool")
            .field("slots", &self.slots.len())
            .field("budget", &self.budget)
            .finish()
    }
}

thread_local! {
    /// Order in which threads first used a tokenizer cache, for spreading callers over slots.
    static CALLER_ORDINAL: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

impl CachePool {
    /// A pool whose memo entries hold at most `limit` bytes in all.
    pub(crate) fn with_limit(limit: usize) -> Self {
        CachePool {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            budget: Arc::new(Budget::new(limit)),
        }
    }

    /// Bytes of memo entries currently reserved by this pool's caches.
    pub(crate) fn memo_bytes(&self) -> usize {
        self.budget.used.load(Ordering::Relaxed)
    }

    /// Runs `f` with a cache for the calling thread (not a worker of a batch call). Callers take
    /// slots from the top (each thread its own, as far as there are slots), workers from the
    /// bottom. When callers shared slot 0 with worker 0, alternating 1-thread and 2-thread batch
    /// calls moved that cache between cores at every switch: 2 threads were 1.23-1.41x faster
    /// than 1, and 1.40-1.55x with separate slots (cl100k, 2 MB English in 6,005 paragraphs,
    /// calls alternating, best of 10, from Python).
    pub(crate) fn for_caller<T>(&self, f: impl FnOnce(&mut PieceCache) -> T) -> T {
        let ordinal = CALLER_ORDINAL.with(|k| *k);
        self.with(SLOTS - 1 - ordinal % (SLOTS / 2), f)
    }

    /// Runs `f` with the cache of worker `index` of a batch call's thread pool.
    pub(crate) fn for_worker<T>(&self, index: usize, f: impl FnOnce(&mut PieceCache) -> T) -> T {
        self.with(index % (SLOTS / 2), f)
    }

    /// Runs `f` with a free cache, trying slot `hint` first; when every slot is busy, with a
    /// temporary cache.
    fn with<T>(&self, hint: usize, f: impl FnOnce(&mut PieceCache) -> T) -> T {
        for i in 0..self.slots.len() {
            let slot = &self.slots[(hint + i) % self.slots.len()].0;
            let guard: Option<MutexGuard<'_, Option<PieceCache>>> = match slot.try_lock() {
                Ok(guard) => Some(guard),
                // A panic while encoding cannot leave a cache inconsistent with the vocabulary
                // (entries are inserted after they are complete), so a poisoned slot is reused.
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            };
            if let Some(mut cache) = guard {
                return f(cache.get_or_insert_with(|| PieceCache::new(self.budget.clone())));
            }
        }
        f(&mut PieceCache::new(self.budget.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of every length class, far more than the front table holds, so entries collide
    /// and are replaced: each answer, first or repeated, equals an uncached merge.
    #[test]
    fn cached_answers_equal_uncached_merges() {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["ab", "abc", "bc", "cd", "abcd", "dab", "abcdabcd"]
            .iter()
            .enumerate()
        {
            vocab.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        let bpe = Bpe::from_ranks(vocab).unwrap();
        let mut state = 7u64;
        let pieces: Vec<Vec<u8>> = (0..20_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let len = 1 + (state >> 33) as usize % 80;
                (0..len)
                    .map(|j| b"abcd "[((state >> (j % 50)) % 5) as usize])
                    .collect()
            })
            .collect();
        let mut cache = PieceCache::new(Arc::new(Budget::new(1 << 20)));
        for _ in 0..2 {
            for piece in &pieces {
                let mut expected = Vec::new();
                bpe.encode_piece(piece, &mut expected);
                let mut got = Vec::new();
                cache.encode(&bpe, piece, &mut |ids| got.extend_from_slice(ids));
                assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(piece));
            }
        }
    }

    /// Distinct long pieces through many caches of one pool never reserve more than its
    /// limit, the estimate covers what the entries hold, and answers stay exact when caches
    /// are emptied for lack of budget.
    #[test]
    fn memo_stays_within_its_byte_budget() {
        let vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let bpe = Bpe::from_ranks(vocab).unwrap();
        let limit = 2 * RESERVE_CHUNK;
        let pool = CachePool::with_limit(limit);
        let mut caches: Vec<PieceCache> = (0..6).map(|_| PieceCache::new(pool.budget.clone())).collect();
        for i in 0..60_000u32 {
            let piece = format!(
                "word{i:08}-{:x}-padding-to-forty-bytes",
                i.wrapping_mul(2654435761)
            );
            let mut got = Vec::new();
            caches[i as usize % 6].encode(&bpe, piece.as_bytes(), &mut |ids| got.extend_from_slice(ids));
            assert_eq!(got.len(), piece.len());
            assert!(pool.memo_bytes() <= limit, "{} > {limit}", pool.memo_bytes());
            for cache in &caches {
                let held = cache.merged.reservation.reserved;
                assert!(cache.merged.footprint() <= held || held == 0);
            }
        }
        drop(caches);
        assert_eq!(pool.memo_bytes(), 0, "dropped caches give their budget back");
    }

    /// The word memo of character BPE reserves from the same budget: it never holds more than
    /// the limit, its estimate stays covered, and it gives the budget back when dropped.
    #[test]
    fn word_memo_stays_within_the_budget() {
        let limit = 2 * RESERVE_CHUNK;
        let pool = CachePool::with_limit(limit);
        let mut memos: Vec<WordMemo> = (0..3)
            .map(|_| WordMemo::new(Reservation::new(pool.budget.clone())))
            .collect();
        for i in 0..40_000u32 {
            let word = format!("\u{2581}word{i:08}-padding");
            memos[i as usize % 3].insert(&word, &[i, i + 1, i + 2]);
            assert!(pool.memo_bytes() <= limit, "{} > {limit}", pool.memo_bytes());
            let memo = &memos[i as usize % 3];
            if let Some(ids) = memo.get(&word) {
                assert_eq!(ids, &[i, i + 1, i + 2]);
            }
            assert!(memo.footprint() <= memo.reserved() || memo.reserved() == 0);
        }
        drop(memos);
        assert_eq!(pool.memo_bytes(), 0, "dropped memos give their budget back");
    }
}
