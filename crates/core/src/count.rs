//! Streaming, parallel pre-tokenize + count: the front half of training.
//!
//! Text arrives in batches (the caller streams the corpus; nothing here holds more than one batch of
//! text). Each batch is cut into tasks at line boundaries, the tasks are pre-tokenized on a thread pool
//! into per-thread maps keyed by slices of the batch (no allocation per piece), and those maps are folded
//! into one table of owned pieces with 64-bit counts. Sums commute, so the table is the same whatever
//! the thread count or the order in which tasks finish.
//!
//! Order of operations for one text, as in HF `tokenizers` training on files:
//! 1. split into lines, each keeping its `\n` (when `line_boundaries` is on): a line is a hard
//!    boundary, so no piece and no merge ever crosses it;
//! 2. cut out excluded strings (special and domain tokens): they are never counted;
//! 3. normalize each remaining segment;
//! 4. pre-tokenize and count the pieces.
//!
//! Memory cap: with `max_memory` set, the table is pruned whenever its estimated size would pass the
//! cap. Pruning drops every piece whose count so far is at most a threshold `t` (doubling `t` until
//! the table is at most half the cap). Effect, documented to users: a piece seen `≤ t` times before a
//! prune is forgotten, so the count of any surviving piece is an underestimate by at most the sum of
//! the thresholds used, and pieces rarer than that may be missing altogether. Frequent pieces — the
//! ones BPE merges are made of — are exact or nearly so. Prune points depend only on the batch
//! sequence, never on threads, so capped counting is deterministic too.

use std::io::{Read, Write};

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::normalize::{normalize, Normalizer};
use crate::pool::thread_pool;
use crate::pretokenize::PreTokenizer;

/// Texts of a batch are cut into tasks of about this many bytes (at line ends) so that two threads
/// get even work from one large string while the per-task overhead stays negligible.
const TASK_BYTES: usize = 256 * 1024;

/// Distinct pieces with their counts.
#[derive(Debug, Default, Clone)]
pub struct PieceCounts {
    map: FxHashMap<Box<[u8]>, u64>,
    /// Estimated heap bytes of the keys (allocator-rounded).
    key_bytes: usize,
}

/// Heap bytes one boxed key of `len` bytes takes with a typical malloc (16-byte granules, 8-byte
/// header, 32-byte minimum chunk).
#[inline]
fn key_cost(len: usize) -> usize {
    ((len + 8 + 15) & !15).max(32)
}

/// Bytes of a hash table slot: the `(Box<[u8]>, u64)` entry and one control byte.
const SLOT_BYTES: usize = std::mem::size_of::<(Box<[u8]>, u64)>() + 1;

/// Slots of a table that must hold `entries` (hashbrown keeps load <= 7/8 with power-of-two
/// bucket counts; tiny tables hold one less than their buckets).
fn table_slots(entries: usize) -> usize {
    match entries {
        0 => 0,
        1..=3 => 4,
        4..=7 => 8,
        _ => (entries * 8).div_ceil(7).next_power_of_two(),
    }
}

/// Slots behind a table whose `capacity()` is `capacity`.
fn slots_of_capacity(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=7 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    }
}

impl PieceCounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of distinct pieces.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sum of all counts.
    pub fn total(&self) -> u64 {
        self.map.values().fold(0u64, |a, &c| a.saturating_add(c))
    }

    pub fn get(&self, piece: &[u8]) -> Option<u64> {
        self.map.get(piece).copied()
    }

    /// Adds `count` occurrences of `piece` (saturating at `u64::MAX`).
    pub fn add(&mut self, piece: &[u8], count: u64) {
        if let Some(c) = self.map.get_mut(piece) {
            *c = c.saturating_add(count);
        } else {
            self.key_bytes += key_cost(piece.len());
            self.map.insert(piece.into(), count);
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &PieceCounts) {
        for (k, &c) in &other.map {
            self.add(k, c);
        }
    }

    /// Estimated heap bytes of the table (slots at its current capacity + keys).
    pub fn memory_bytes(&self) -> usize {
        slots_of_capacity(self.map.capacity()) * SLOT_BYTES + self.key_bytes
    }

    /// Estimated heap bytes after inserting `extra` more pieces of `extra_key_bytes` bytes.
    fn projected_bytes(&self, extra: usize, extra_key_bytes: usize) -> usize {
        let slots = slots_of_capacity(self.map.capacity()).max(table_slots(self.map.len() + extra));
        slots * SLOT_BYTES + self.key_bytes + extra_key_bytes
    }

    /// Pieces sorted by their bytes: the canonical order (serialisation, fingerprint, training).
    pub fn sorted(&self) -> Vec<(&[u8], u64)> {
        let mut v: Vec<(&[u8], u64)> = self.map.iter().map(|(k, &c)| (&k[..], c)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// Moves the pieces out, sorted by bytes, leaving the table empty.
    pub fn into_sorted(self) -> Vec<(Box<[u8]>, u64)> {
        let mut v: Vec<(Box<[u8]>, u64)> = self.map.into_iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// SHA-256 of the sorted `(piece, count)` list, each entry hashed as
    /// `u64 LE length, bytes, u64 LE count`: a fingerprint of what training saw, independent of
    /// file layout, batch boundaries and threads.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (piece, count) in self.sorted() {
            h.update((piece.len() as u64).to_le_bytes());
            h.update(piece);
            h.update(count.to_le_bytes());
        }
        h.finalize().into()
    }

    /// Drops pieces with count `<= threshold`; returns (pieces removed, occurrences removed).
    fn drop_at_most(&mut self, threshold: u64) -> (u64, u64) {
        let (mut pieces, mut occurrences, mut freed) = (0u64, 0u64, 0usize);
        self.map.retain(|k, c| {
            if *c <= threshold {
                pieces += 1;
                occurrences = occurrences.saturating_add(*c);
                freed += key_cost(k.len());
                false
            } else {
                true
            }
        });
        self.key_bytes -= freed;
        (pieces, occurrences)
    }
}

/// What pruning under a memory cap did (zeros when it never ran).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneStats {
    /// Number of prune passes.
    pub passes: u64,
    /// Distinct pieces dropped (a piece dropped twice counts twice).
    pub pieces: u64,
    /// Occurrences dropped.
    pub occurrences: u64,
    /// Highest threshold used: pieces seen at most this often between prunes may be missing.
    pub max_threshold: u64,
    /// Sum of thresholds: the largest possible underestimate of any surviving count.
    pub threshold_sum: u64,
}

/// Corpus statistics seen by a counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CorpusStats {
    /// UTF-8 bytes of all texts added (before removing excluded strings).
    pub bytes: u64,
    /// Lines (texts are cut after each `\n`; a final line without `\n` counts too).
    pub lines: u64,
    /// Texts added (the caller decides what a text is: a document, a file chunk...).
    pub texts: u64,
}

/// Streaming counter: feed batches of text with [`Counter::add_texts`], then read the table.
pub struct Counter {
    pretokenizer: PreTokenizer,
    normalizers: Vec<Normalizer>,
    excluded: Option<AhoCorasick>,
    line_boundaries: bool,
    max_memory: Option<usize>,
    counts: PieceCounts,
    stats: CorpusStats,
    prune: PruneStats,
}

/// Cuts `text` into line-aligned tasks of about [`TASK_BYTES`] (whole text when lines do not count).
fn cut_tasks<'a>(text: &'a str, line_boundaries: bool, out: &mut Vec<&'a str>) {
    if !line_boundaries || text.len() <= TASK_BYTES {
        if !text.is_empty() {
            out.push(text);
        }
        return;
    }
    let bytes = text.as_bytes();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + TASK_BYTES).min(text.len());
        if end < text.len() {
            match memchr_newline(&bytes[end..]) {
                Some(i) => end += i + 1,
                None => end = text.len(),
            }
        }
        out.push(&text[start..end]);
        start = end;
    }
}

#[inline]
fn memchr_newline(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

impl Counter {
    /// `excluded`: strings cut out of the text and never counted (special and domain tokens).
    /// `max_memory`: cap in bytes for the piece table (see the module notes for its effect).
    pub fn new(
        pretokenizer: PreTokenizer,
        normalizers: Vec<Normalizer>,
        excluded: &[String],
        line_boundaries: bool,
        max_memory: Option<usize>,
    ) -> Result<Self> {
        let excluded = if excluded.iter().all(|s| s.is_empty()) {
            None
        } else {
            let patterns: Vec<&str> = excluded
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| s.as_str())
                .collect();
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(patterns)
                    .map_err(|e| Error::InvalidArgument(format!("excluded tokens: {e}")))?,
            )
        };
        if let Some(cap) = max_memory {
            if cap < 1 << 20 {
                return Err(Error::InvalidArgument(format!(
                    "max_memory must be at least 1 MiB, got {cap} bytes"
                )));
            }
        }
        Ok(Counter {
            pretokenizer,
            normalizers,
            excluded,
            line_boundaries,
            max_memory,
            counts: PieceCounts::new(),
            stats: CorpusStats::default(),
            prune: PruneStats::default(),
        })
    }

    pub fn counts(&self) -> &PieceCounts {
        &self.counts
    }

    /// Takes the table out (for training), leaving an empty one.
    pub fn take_counts(&mut self) -> PieceCounts {
        std::mem::take(&mut self.counts)
    }

    pub fn stats(&self) -> CorpusStats {
        self.stats
    }

    pub fn prune_stats(&self) -> PruneStats {
        self.prune
    }

    /// Counts a batch of texts on `threads` threads.
    pub fn add_texts<'t, S: AsRef<str> + Sync>(&mut self, texts: &'t [S], threads: usize) -> Result<()> {
        let mut tasks: Vec<&'t str> = Vec::new();
        for t in texts {
            let t = t.as_ref();
            self.stats.bytes += t.len() as u64;
            self.stats.texts += 1;
            if self.line_boundaries {
                // SIMD count: this runs on the caller's thread before the tasks start.
                let nl = memchr::memchr_iter(b'\n', t.as_bytes()).count() as u64;
                self.stats.lines += nl + u64::from(!t.is_empty() && !t.ends_with('\n'));
            }
            cut_tasks(t, self.line_boundaries, &mut tasks);
        }
        // Under a memory cap, tasks run in waves of two per thread and each wave is folded in
        // before the next, so only a wave's local maps exist at once (a 4 MiB batch of unique
        // words made 16 maps of ~1 MiB each when all tasks were collected first). Without a cap
        // the whole batch runs at once: waves cost 1.7x wall time on 2 threads (100 MB English:
        // 3.3 s -> 5.8 s, same CPU time) because each wave waits for its slowest task. The first
        // failing task in order decides a batch's error.
        let pool = if threads > 1 {
            Some(thread_pool(threads)?)
        } else {
            None
        };
        let wave = if self.max_memory.is_some() {
            (threads * 2).max(1)
        } else {
            tasks.len().max(1)
        };
        for chunk in tasks.chunks(wave) {
            let this = &*self;
            // Each thread counts its run of tasks into one map, and the maps are summed in pairs
            // before the one fold into the table. A map per task, each folded into the table on
            // this thread, made the fold serial and a table probe (a cache miss in a table of
            // millions of pieces) per piece per task: 0.32 s of the 1.29 s of counting 98.5 MB of
            // English on 2 threads (GPT-2 pre-tokenizer, `bench/train.py` corpus).
            let count = |acc, (i, task): (usize, &&'t str)| this.count_into(i, task, acc);
            let counted = match &pool {
                Some(pool) if chunk.len() > 1 => pool.install(|| {
                    chunk
                        .par_iter()
                        .enumerate()
                        .fold(TaskCounts::default, &count)
                        .reduce(TaskCounts::default, TaskCounts::sum)
                }),
                _ => chunk.iter().enumerate().fold(TaskCounts::default(), &count),
            };
            if let Some((_, e)) = counted.failed {
                return Err(e);
            }
            self.fold_in(counted);
        }
        Ok(())
    }

    /// `out` with the `index`-th task of a wave pre-tokenized and counted into it; its first
    /// failure in task order is kept.
    fn count_into<'a>(&self, index: usize, task: &'a str, mut out: TaskCounts<'a>) -> TaskCounts<'a> {
        if out.failed.is_none() {
            // After a failure the wave's counts are dropped: an earlier task decides the error.
            if let Err(e) = self.count_one(task, &mut out) {
                out.failed = Some((index, e));
            }
        }
        out
    }

    /// Pre-tokenizes and counts one task into `out`.
    fn count_one<'a>(&self, task: &'a str, out: &mut TaskCounts<'a>) -> Result<()> {
        let lines: Box<dyn Iterator<Item = &'a str>> = if self.line_boundaries {
            Box::new(task.split_inclusive('\n'))
        } else {
            Box::new(std::iter::once(task))
        };
        for line in lines {
            match &self.excluded {
                None => self.count_segment(line, out)?,
                Some(ac) => {
                    let mut last = 0;
                    for m in ac.find_iter(line) {
                        if m.start() > last {
                            self.count_segment(&line[last..m.start()], out)?;
                        }
                        last = m.end();
                    }
                    if last < line.len() {
                        self.count_segment(&line[last..], out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn count_segment<'a>(&self, segment: &'a str, out: &mut TaskCounts<'a>) -> Result<()> {
        match normalize(&self.normalizers, segment)? {
            std::borrow::Cow::Borrowed(s) => {
                let base = segment.as_ptr() as usize;
                let borrowed = &mut out.borrowed;
                self.pretokenizer.for_each_piece(s, |p: &str| {
                    // `p` points into `segment` (normalization borrowed it), so re-slice `segment`
                    // to give the key the batch's lifetime without copying.
                    let offset = p.as_ptr() as usize - base;
                    *borrowed.entry(&segment[offset..offset + p.len()]).or_insert(0) += 1;
                })
            }
            std::borrow::Cow::Owned(s) => {
                let owned = &mut out.owned;
                self.pretokenizer.for_each_piece(&s, |p: &str| {
                    if let Some(c) = owned.get_mut(p) {
                        *c += 1;
                    } else {
                        owned.insert(p.to_string(), 1);
                    }
                })
            }
        }
    }

    /// Folds one task's counts into the table, pruning first if the cap would be passed.
    fn fold_in(&mut self, task: TaskCounts<'_>) {
        if let Some(cap) = self.max_memory {
            let extra = task.borrowed.len() + task.owned.len();
            let extra_keys: usize = task.borrowed.keys().map(|k| key_cost(k.len())).sum::<usize>()
                + task.owned.keys().map(|k| key_cost(k.len())).sum::<usize>();
            // The table stays under half the cap, so a prune's rebuild (old and new table side by
            // side) and the per-task maps fit in the other half.
            let limit = cap / 2;
            if self.counts.projected_bytes(extra, extra_keys) > limit {
                self.prune_to(limit / 2, extra, extra_keys);
            }
        }
        for (k, c) in task.borrowed {
            self.counts.add(k.as_bytes(), c);
        }
        for (k, c) in task.owned {
            self.counts.add(k.as_bytes(), c);
        }
    }

    /// Prunes with doubling thresholds until the table plus the incoming task fits in `target`, then
    /// rebuilds the table at the size it needs: deleted slots would otherwise stay allocated, and as
    /// tombstones they make the next insertions grow the table.
    fn prune_to(&mut self, target: usize, extra: usize, extra_keys: usize) {
        let mut threshold = self.prune.max_threshold.max(1);
        loop {
            let (pieces, occurrences) = self.counts.drop_at_most(threshold);
            self.prune.passes += 1;
            self.prune.pieces += pieces;
            self.prune.occurrences = self.prune.occurrences.saturating_add(occurrences);
            self.prune.max_threshold = self.prune.max_threshold.max(threshold);
            self.prune.threshold_sum = self.prune.threshold_sum.saturating_add(threshold);
            let used =
                self.counts.key_bytes + extra_keys + table_slots(self.counts.len() + extra) * SLOT_BYTES;
            if used <= target || self.counts.is_empty() {
                break;
            }
            threshold = threshold.saturating_mul(2);
        }
        let old = std::mem::take(&mut self.counts.map);
        let mut fresh = FxHashMap::with_capacity_and_hasher(old.len() + extra, Default::default());
        fresh.extend(old);
        self.counts.map = fresh;
    }

    /// Adds a saved table (merging shards); corpus statistics are added by the caller.
    pub fn add_counts(&mut self, other: &PieceCounts, stats: CorpusStats) {
        self.counts.merge(other);
        self.stats.bytes += stats.bytes;
        self.stats.lines += stats.lines;
        self.stats.texts += stats.texts;
    }
}

/// Counts of tasks of one wave: pieces borrowed from the batch text, plus owned pieces of text
/// that normalization rewrote; and the first failure, by task index in the wave.
#[derive(Default)]
struct TaskCounts<'a> {
    borrowed: FxHashMap<&'a str, u64>,
    owned: FxHashMap<String, u64>,
    failed: Option<(usize, Error)>,
}

impl<'a> TaskCounts<'a> {
    /// Both counts summed (the smaller map into the larger), keeping the earlier failure.
    fn sum(mut self, mut other: TaskCounts<'a>) -> TaskCounts<'a> {
        fn absorb<K: std::hash::Hash + Eq>(into: &mut FxHashMap<K, u64>, from: &mut FxHashMap<K, u64>) {
            if into.len() < from.len() {
                std::mem::swap(into, from);
            }
            for (k, c) in from.drain() {
                *into.entry(k).or_insert(0) += c;
            }
        }
        absorb(&mut self.borrowed, &mut other.borrowed);
        absorb(&mut self.owned, &mut other.owned);
        self.failed = match (self.failed, other.failed) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
        self
    }
}

// ------------------------------------------------------------------------------------------------
// The `.tfc` counts file.
//
// ```text
// magic     8 bytes  b"TFCOUNTS"
// version   u32 LE   1
// header    u32 LE length + UTF-8 JSON (written and read by the caller: corpus stats, pre-tokenizer...)
// tables    u32 LE number of tables, then per table:
//             u64 LE number of pieces, then per piece in ascending byte order:
//             LEB128 length, the bytes, LEB128 count
// checksum  32 bytes SHA-256 of everything above
// ```
// LEB128 keeps the common case (short pieces, small counts) at 2-3 bytes of overhead per piece.
// ------------------------------------------------------------------------------------------------

pub const COUNTS_MAGIC: &[u8; 8] = b"TFCOUNTS";
pub const COUNTS_VERSION: u32 = 1;

fn write_leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A writer that hashes everything it writes.
struct HashingWriter<W: Write> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, data: &[u8]) -> Result<()> {
        self.hash.update(data);
        self.inner.write_all(data).map_err(io_error)
    }
}

fn io_error(e: std::io::Error) -> Error {
    Error::Io(e.to_string())
}

/// Writes a counts file: `header` (JSON text) and the tables, with a trailing checksum.
pub fn write_counts<W: Write>(out: W, header: &str, tables: &[&PieceCounts]) -> Result<()> {
    let mut w = HashingWriter {
        inner: out,
        hash: Sha256::new(),
    };
    w.put(COUNTS_MAGIC)?;
    w.put(&COUNTS_VERSION.to_le_bytes())?;
    let header_len = u32::try_from(header.len())
        .map_err(|_| Error::InvalidArgument("counts header is larger than 4 GiB".into()))?;
    w.put(&header_len.to_le_bytes())?;
    w.put(header.as_bytes())?;
    w.put(&(tables.len() as u32).to_le_bytes())?;
    let mut buf = Vec::with_capacity(1 << 20);
    for table in tables {
        let sorted = table.sorted();
        w.put(&(sorted.len() as u64).to_le_bytes())?;
        for (piece, count) in sorted {
            write_leb128(&mut buf, piece.len() as u64);
            buf.extend_from_slice(piece);
            write_leb128(&mut buf, count);
            if buf.len() >= 1 << 20 {
                w.put(&buf)?;
                buf.clear();
            }
        }
        w.put(&buf)?;
        buf.clear();
    }
    let digest: [u8; 32] = w.hash.clone().finalize().into();
    w.inner.write_all(&digest).map_err(io_error)?;
    w.inner.flush().map_err(io_error)
}

/// A reader that hashes everything it reads and names what was being read when data runs out.
struct HashingReader<R: Read> {
    inner: R,
    hash: Sha256,
    offset: u64,
}

impl<R: Read> HashingReader<R> {
    fn take(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.inner.read_exact(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::Corpus(format!(
                    "counts file is truncated: it ends at byte {} while reading {what}",
                    self.offset
                ))
            } else {
                io_error(e)
            }
        })?;
        self.hash.update(&*buf);
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.take(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.take(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn leb128(&mut self, what: &str) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let mut b = [0u8; 1];
            self.take(&mut b, what)?;
            v |= u64::from(b[0] & 0x7f) << shift;
            if b[0] & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::Corpus(format!(
            "counts file is corrupt: bad number at byte {} ({what})",
            self.offset
        )))
    }
}

/// Reads a counts file written by [`write_counts`]; verifies magic, version and checksum.
pub fn read_counts<R: Read>(input: R) -> Result<(String, Vec<PieceCounts>)> {
    let mut r = HashingReader {
        inner: std::io::BufReader::with_capacity(1 << 20, input),
        hash: Sha256::new(),
        offset: 0,
    };
    let mut magic = [0u8; 8];
    r.take(&mut magic, "the magic bytes")?;
    if &magic != COUNTS_MAGIC {
        return Err(Error::Corpus(
            "not a tokenforge counts file (bad magic bytes; expected a .tfc written by `tokenforge count`)"
                .into(),
        ));
    }
    let version = r.u32("the version")?;
    if version != COUNTS_VERSION {
        return Err(Error::Corpus(format!(
            "counts file version {version} is not supported (this tokenforge reads version {COUNTS_VERSION})"
        )));
    }
    let header_len = r.u32("the header length")? as usize;
    if header_len > 64 << 20 {
        return Err(Error::Corpus(format!(
            "counts file is corrupt: header length {header_len}"
        )));
    }
    let mut header = vec![0u8; header_len];
    r.take(&mut header, "the header")?;
    let header = String::from_utf8(header)
        .map_err(|_| Error::Corpus("counts file is corrupt: header is not UTF-8".into()))?;
    let n_tables = r.u32("the number of tables")?;
    if n_tables > 1024 {
        return Err(Error::Corpus(format!(
            "counts file is corrupt: {n_tables} tables"
        )));
    }
    let mut tables = Vec::with_capacity(n_tables as usize);
    let mut piece = Vec::new();
    for t in 0..n_tables {
        let n = r.u64("a table size")?;
        let mut table = PieceCounts::new();
        table.map.reserve((n as usize).min(1 << 24));
        let mut previous: Option<Vec<u8>> = None;
        for _ in 0..n {
            let len = r.leb128("a piece length")? as usize;
            if len > 1 << 30 {
                return Err(Error::Corpus(format!(
                    "counts file is corrupt: piece of {len} bytes in table {t}"
                )));
            }
            piece.resize(len, 0);
            r.take(&mut piece, "a piece")?;
            let count = r.leb128("a count")?;
            if previous.as_deref().is_some_and(|p| p >= &piece[..]) {
                return Err(Error::Corpus(format!(
                    "counts file is corrupt: pieces of table {t} are not in ascending order at byte {}",
                    r.offset
                )));
            }
            table.add(&piece, count);
            previous = Some(piece.clone());
        }
        tables.push(table);
    }
    let expected: [u8; 32] = r.hash.clone().finalize().into();
    let mut stored = [0u8; 32];
    r.inner
        .read_exact(&mut stored)
        .map_err(|_| Error::Corpus("counts file is truncated: the checksum at its end is missing".into()))?;
    if stored != expected {
        return Err(Error::Corpus(
            "counts file is corrupt: checksum mismatch (the file was modified or damaged)".into(),
        ));
    }
    let mut rest = [0u8; 1];
    if r.inner.read(&mut rest).map_err(io_error)? != 0 {
        return Err(Error::Corpus(
            "counts file has trailing data after its checksum".into(),
        ));
    }
    Ok((header, tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(pattern: &str) -> Counter {
        Counter::new(
            PreTokenizer::single_regex(pattern).unwrap(),
            vec![],
            &[],
            true,
            None,
        )
        .unwrap()
    }

    const WORDS: &str = r" ?\p{L}+|\p{N}+|\s+|[^\s\p{L}\p{N}]+";

    #[test]
    fn counts_pieces_and_lines() {
        let mut c = counter(WORDS);
        c.add_texts(&["the cat\nthe dog", "the"], 1).unwrap();
        let counts = c.counts();
        assert_eq!(counts.get(b"the"), Some(3));
        assert_eq!(counts.get(b" cat"), Some(1));
        assert_eq!(counts.get(b"\n"), Some(1));
        assert_eq!(c.stats().lines, 3);
        assert_eq!(c.stats().bytes, 18);
        assert_eq!(c.stats().texts, 2);
    }

    #[test]
    fn lines_are_hard_boundaries() {
        // Without line splitting `\s+` would take "\n\n" as one piece.
        let mut c = counter(WORDS);
        c.add_texts(&["a\n\nb"], 1).unwrap();
        assert_eq!(c.counts().get(b"\n"), Some(2));
        assert_eq!(c.counts().get(b"\n\n"), None);
        let mut whole = Counter::new(
            PreTokenizer::single_regex(WORDS).unwrap(),
            vec![],
            &[],
            false,
            None,
        )
        .unwrap();
        whole.add_texts(&["a\n\nb"], 1).unwrap();
        assert_eq!(whole.counts().get(b"\n\n"), Some(1));
    }

    #[test]
    fn threads_and_task_cuts_do_not_change_counts() {
        let text: String = (0..36_000)
            .map(|i| format!("word{} and some more{} words\n", i % 977, i % 13))
            .collect();
        assert!(text.len() > 3 * TASK_BYTES);
        let mut one = counter(WORDS);
        one.add_texts(&[text.as_str()], 1).unwrap();
        let mut two = counter(WORDS);
        two.add_texts(&[text.as_str()], 2).unwrap();
        assert_eq!(one.counts().sorted(), two.counts().sorted());
        assert_eq!(one.counts().fingerprint(), two.counts().fingerprint());
    }

    #[test]
    fn excluded_strings_are_not_counted() {
        let mut c = Counter::new(
            PreTokenizer::single_regex(WORDS).unwrap(),
            vec![],
            &["<|eot|>".to_string()],
            true,
            None,
        )
        .unwrap();
        c.add_texts(&["ab<|eot|>cd"], 1).unwrap();
        assert_eq!(c.counts().get(b"ab"), Some(1));
        assert_eq!(c.counts().get(b"cd"), Some(1));
        assert_eq!(c.counts().get(b"<|"), None);
    }

    #[test]
    fn normalization_applies_before_pretokenization() {
        let mut c = Counter::new(
            PreTokenizer::single_regex(WORDS).unwrap(),
            vec![Normalizer::Nfkc],
            &[],
            true,
            None,
        )
        .unwrap();
        c.add_texts(&["ﬁne fine"], 1).unwrap();
        assert_eq!(c.counts().get(b"fine"), Some(1));
        assert_eq!(c.counts().get(b" fine"), Some(1));
    }

    #[test]
    fn memory_cap_prunes_rare_pieces_and_keeps_frequent_ones() {
        let cap = 1 << 20;
        let mut c = Counter::new(
            PreTokenizer::single_regex(WORDS).unwrap(),
            vec![],
            &[],
            true,
            Some(cap),
        )
        .unwrap();
        for batch in 0..20 {
            // Letters only, so every "word" is one unique piece.
            let letters = |mut n: usize| -> String {
                let mut s = String::new();
                loop {
                    s.push((b'a' + (n % 26) as u8) as char);
                    n /= 26;
                    if n == 0 {
                        return s;
                    }
                }
            };
            let text: String = (0..5000)
                .map(|i| format!("the q{} ", letters(batch * 5000 + i)))
                .collect::<String>()
                + "\n";
            c.add_texts(&[text.as_str()], 2).unwrap();
            assert!(
                c.counts().memory_bytes() <= cap / 2,
                "{}",
                c.counts().memory_bytes()
            );
        }
        let p = c.prune_stats();
        assert!(p.passes > 0 && p.pieces > 0);
        // " the" occurs 100k times; it may lose at most the thresholds' sum.
        let the = c.counts().get(b" the").unwrap() + c.counts().get(b"the").unwrap_or(0);
        assert!(the + p.threshold_sum >= 100_000 - 20 && the <= 100_000);
    }

    #[test]
    fn counts_file_roundtrip_and_corruption() {
        let mut c = counter(WORDS);
        c.add_texts(&["hello world, hello again\n"], 1).unwrap();
        let mut big = PieceCounts::new();
        big.add(b"x", u64::MAX - 1);
        let mut file = Vec::new();
        write_counts(&mut file, "{\"k\": 1}", &[c.counts(), &big]).unwrap();
        let (header, tables) = read_counts(&file[..]).unwrap();
        assert_eq!(header, "{\"k\": 1}");
        assert_eq!(tables[0].sorted(), c.counts().sorted());
        assert_eq!(tables[1].get(b"x"), Some(u64::MAX - 1));

        let mut flipped = file.clone();
        let at = flipped.len() - 40;
        flipped[at] ^= 1;
        assert!(
            matches!(read_counts(&flipped[..]), Err(Error::Corpus(m)) if m.contains("checksum") || m.contains("corrupt"))
        );
        assert!(
            matches!(read_counts(&file[..file.len() - 5]), Err(Error::Corpus(m)) if m.contains("truncated"))
        );
        assert!(
            matches!(read_counts(&b"PK\x03\x04 not ours"[..]), Err(Error::Corpus(m)) if m.contains("magic"))
        );
    }
}
