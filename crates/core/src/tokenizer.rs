//! The encode/decode pipeline: special-token split -> normalize -> pre-tokenize -> BPE -> ids.
//! A `Tokenizer` is immutable after construction and `Sync`, so one instance serves all threads.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::bpe::{short_key, Bpe};
use crate::error::{Error, Result};
use crate::normalize::{normalize, Normalizer};
use crate::pretokenize::PreTokenizer;
use crate::special::{Segment, SpecialSet, SpecialTokens};

#[derive(Debug, Clone)]
pub struct Tokenizer {
    bpe: Bpe,
    pretokenizer: PreTokenizer,
    normalizers: Vec<Normalizer>,
    specials: SpecialTokens,
}

/// Pieces longer than this are not cached: long pieces rarely repeat and would bloat the cache.
const MAX_CACHED_PIECE: usize = 64;
/// A cache holding this many pieces is emptied before it grows further (bounds memory on
/// endless streams of distinct pieces, e.g. random identifiers).
const MAX_CACHED_PIECES: usize = 1 << 18;

/// Per-call cache of piece -> ids for pieces that are not whole tokens (those are answered by the
/// exact-match lookup, which is as cheap as a cache probe). Short pieces use integer keys.
#[derive(Default)]
struct PieceCache {
    short: FxHashMap<(u64, u64), (u32, u32)>,
    long: FxHashMap<Box<[u8]>, (u32, u32)>,
    store: Vec<u32>,
    scratch: Vec<u32>,
}

impl PieceCache {
    #[inline]
    fn encode(&mut self, bpe: &Bpe, piece: &[u8], sink: &mut dyn FnMut(&[u32])) {
        if bpe.exact_match() {
            if let Some(id) = bpe.token_id(piece) {
                return sink(&[id]);
            }
        }
        if piece.len() > MAX_CACHED_PIECE {
            self.scratch.clear();
            bpe.encode_piece(piece, &mut self.scratch);
            return sink(&self.scratch);
        }
        let key = short_key(piece);
        let hit = match key {
            Some(k) => self.short.get(&k),
            None => self.long.get(piece),
        };
        if let Some(&(start, len)) = hit {
            return sink(&self.store[start as usize..(start + len) as usize]);
        }
        if self.short.len() + self.long.len() >= MAX_CACHED_PIECES {
            self.short.clear();
            self.long.clear();
            self.store.clear();
        }
        let start = self.store.len();
        bpe.encode_piece(piece, &mut self.store);
        let entry = (start as u32, (self.store.len() - start) as u32);
        match key {
            Some(k) => self.short.insert(k, entry),
            None => self.long.insert(piece.into(), entry),
        };
        sink(&self.store[start..]);
    }
}

impl Tokenizer {
    pub fn new(
        bpe: Bpe,
        pretokenizer: PreTokenizer,
        normalizers: Vec<Normalizer>,
        specials: SpecialTokens,
    ) -> Self {
        Tokenizer {
            bpe,
            pretokenizer,
            normalizers,
            specials,
        }
    }

    pub fn bpe(&self) -> &Bpe {
        &self.bpe
    }

    pub fn specials(&self) -> &SpecialTokens {
        &self.specials
    }

    /// One past the highest id (model or special), as tiktoken's `n_vocab`.
    pub fn n_vocab(&self) -> usize {
        let special_max = self
            .specials
            .tokens()
            .iter()
            .map(|(_, id)| *id as usize + 1)
            .max()
            .unwrap_or(0);
        self.bpe.id_space().max(special_max)
    }

    fn visit(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        cache: &mut PieceCache,
        sink: &mut dyn FnMut(&[u32]),
    ) -> Result<()> {
        self.specials.check(text, disallowed)?;
        self.specials.split(text, allowed, &mut |segment| {
            match segment {
                Segment::Special(id) => sink(&[id]),
                Segment::Text(t) => {
                    let t = normalize(&self.normalizers, t);
                    self.pretokenizer
                        .for_each_piece(&t, &mut |piece| cache.encode(&self.bpe, piece.as_bytes(), sink))?;
                }
            }
            Ok(())
        })
    }

    /// Encodes `text`. Specials in `allowed` become their ids; text matching a special in
    /// `disallowed` is an error; other special-looking text is encoded as ordinary text.
    pub fn encode(&self, text: &str, allowed: &SpecialSet, disallowed: &SpecialSet) -> Result<Vec<u32>> {
        self.encode_cached(text, allowed, disallowed, &mut PieceCache::default())
    }

    fn encode_cached(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        cache: &mut PieceCache,
    ) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        self.visit(text, allowed, disallowed, cache, &mut |ids| {
            out.extend_from_slice(ids)
        })?;
        Ok(out)
    }

    fn count_cached(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        cache: &mut PieceCache,
    ) -> Result<usize> {
        let mut n = 0usize;
        self.visit(text, allowed, disallowed, cache, &mut |ids| n += ids.len())?;
        Ok(n)
    }

    /// `f` over many texts on `threads` threads, in input order. Each worker keeps one piece cache
    /// for all the texts it encodes, as a single long text would: measured on 6,000 English
    /// paragraphs (cl100k, 1 thread), a fresh cache per paragraph was ~25% slower than one
    /// string of the same text.
    fn map_batch<S, T, F>(&self, texts: &[S], threads: usize, f: F) -> Result<Vec<T>>
    where
        S: AsRef<str> + Sync,
        T: Send,
        F: Fn(&mut PieceCache, &str) -> Result<T> + Sync,
    {
        let results: Vec<Result<T>> = if threads <= 1 || texts.len() <= 1 {
            let mut cache = PieceCache::default();
            texts.iter().map(|t| f(&mut cache, t.as_ref())).collect()
        } else {
            thread_pool(threads)?.install(|| {
                texts
                    .par_iter()
                    .map_init(PieceCache::default, |cache, t| f(cache, t.as_ref()))
                    .collect()
            })
        };
        results.into_iter().collect()
    }

    /// The number of tokens `encode` would return, without building the id list.
    pub fn count(&self, text: &str, allowed: &SpecialSet, disallowed: &SpecialSet) -> Result<usize> {
        self.count_cached(text, allowed, disallowed, &mut PieceCache::default())
    }

    /// Encodes many texts on `threads` threads; the result is in input order and identical to a
    /// loop over `encode`. The first failing text (in input order) decides the error.
    pub fn encode_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        threads: usize,
    ) -> Result<Vec<Vec<u32>>> {
        self.map_batch(texts, threads, |cache, t| {
            self.encode_cached(t, allowed, disallowed, cache)
        })
    }

    /// Token counts of many texts, on `threads` threads (no id lists are built).
    pub fn count_batch<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        threads: usize,
    ) -> Result<Vec<usize>> {
        self.map_batch(texts, threads, |cache, t| {
            self.count_cached(t, allowed, disallowed, cache)
        })
    }

    /// The longest prefix of `text`, cut at a token boundary, whose encoding has at most
    /// `max_tokens` ids and is a prefix of `text`'s encoding. If the tokenizer normalizes its input
    /// and that changes `text`, the prefix is one of the normalized text.
    ///
    /// Candidates are token boundaries from the end of the budget backwards; each is re-encoded,
    /// because a cut can change how the tail splits (regex look-ahead, merges across the cut).
    /// Almost always the first candidate holds, so this costs about two encodes of the prefix.
    pub fn truncate<'t>(
        &self,
        text: &'t str,
        max_tokens: usize,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Cow<'t, str>> {
        let ids = self.encode(text, allowed, disallowed)?;
        if ids.len() <= max_tokens {
            return Ok(Cow::Borrowed(text));
        }
        let text = normalize(&self.normalizers, text);
        let mut ends = Vec::with_capacity(max_tokens);
        let mut end = 0usize;
        for &id in &ids[..max_tokens] {
            end += self.token_bytes(id).map_or(0, <[u8]>::len);
            ends.push(end);
        }
        for k in (1..=max_tokens).rev() {
            let cut = ends[k - 1];
            if !text.is_char_boundary(cut) {
                continue;
            }
            let again = self.encode(&text[..cut], allowed, disallowed)?;
            if again.len() <= max_tokens && again[..] == ids[..again.len()] {
                return Ok(match text {
                    Cow::Borrowed(t) => Cow::Borrowed(&t[..cut]),
                    Cow::Owned(t) => Cow::Owned(t[..cut].to_string()),
                });
            }
        }
        Ok(Cow::Borrowed(""))
    }

    /// Encodes many texts on `threads` threads into one flat id array plus `texts.len() + 1`
    /// offsets (text `i` is `ids[offsets[i]..offsets[i + 1]]`), appending `separator` after each
    /// text when given (e.g. an end-of-text id).
    pub fn encode_batch_flat<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        threads: usize,
        separator: Option<u32>,
    ) -> Result<(Vec<u32>, Vec<u64>)> {
        let parts = self.encode_batch(texts, allowed, disallowed, threads)?;
        let total: usize = parts.iter().map(|p| p.len() + separator.is_some() as usize).sum();
        let mut ids = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(parts.len() + 1);
        offsets.push(0u64);
        for part in parts {
            ids.extend_from_slice(&part);
            if let Some(sep) = separator {
                ids.push(sep);
            }
            offsets.push(ids.len() as u64);
        }
        Ok((ids, offsets))
    }

    /// Bytes of one token (model or special).
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.specials.bytes_of(id).or_else(|| self.bpe.token_bytes(id))
    }

    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            out.extend_from_slice(self.token_bytes(id).ok_or(Error::InvalidTokenId(id))?);
        }
        Ok(out)
    }
}

/// Thread pools by size, created once per process. A pool inherited through `fork` has no threads
/// in the child, so pools are keyed by pid and a forked child builds its own (the parent's are
/// leaked in the child, never dropped: dropping would signal threads that do not exist there).
pub fn thread_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    type Pools = Vec<(u32, usize, Arc<rayon::ThreadPool>)>;
    static POOLS: Mutex<Pools> = Mutex::new(Vec::new());
    if threads == 0 || threads > 1024 {
        return Err(Error::InvalidArgument(format!(
            "num_threads must be between 1 and 1024, got {threads}"
        )));
    }
    let pid = std::process::id();
    let mut pools = POOLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if pools.iter().any(|(p, _, _)| *p != pid) {
        let (inherited, own): (Pools, Pools) = pools.drain(..).partition(|(p, _, _)| *p != pid);
        std::mem::forget(inherited);
        *pools = own;
    }
    if let Some((_, _, pool)) = pools.iter().find(|(_, n, _)| *n == threads) {
        return Ok(pool.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("tokenforge-{i}"))
        .build()
        .map_err(|e| Error::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.push((pid, threads, pool.clone()));
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Tokenizer {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["he", "ll", "hell", "hello", " w", " wo", "or", " world"]
            .iter()
            .enumerate()
        {
            vocab.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        let bpe = Bpe::from_ranks(vocab).unwrap();
        let pre = PreTokenizer::single_regex(r" ?\p{L}+|\s+|[^\s\p{L}]+").unwrap();
        let specials = SpecialTokens::new(vec![("<|eot|>".into(), 1000)]).unwrap();
        Tokenizer::new(bpe, pre, vec![], specials)
    }

    #[test]
    fn encode_decode_count() {
        let t = toy();
        let ids = t
            .encode("hello world<|eot|>", &SpecialSet::All, &SpecialSet::Nothing)
            .unwrap();
        assert_eq!(ids, vec![259, 263, 1000]);
        assert_eq!(t.decode_bytes(&ids).unwrap(), b"hello world<|eot|>");
        assert_eq!(
            t.count("hello world<|eot|>", &SpecialSet::All, &SpecialSet::Nothing)
                .unwrap(),
            3
        );
        assert_eq!(t.n_vocab(), 1001);
        assert_eq!(t.decode_bytes(&[5000]), Err(Error::InvalidTokenId(5000)));
    }

    #[test]
    fn disallowed_special_is_an_error_and_nothing_allowed_is_text() {
        let t = toy();
        assert!(matches!(
            t.encode("x<|eot|>", &SpecialSet::Nothing, &SpecialSet::All),
            Err(Error::DisallowedSpecial { position: 1, .. })
        ));
        let ids = t
            .encode("<|eot|>", &SpecialSet::Nothing, &SpecialSet::Nothing)
            .unwrap();
        assert_eq!(t.decode_bytes(&ids).unwrap(), b"<|eot|>");
        assert!(!ids.contains(&1000));
    }

    #[test]
    fn batch_equals_loop() {
        let t = toy();
        let texts: Vec<String> = (0..200)
            .map(|i| format!("hello {i} world {}", "hell".repeat(i % 7)))
            .collect();
        let batch = t
            .encode_batch(&texts, &SpecialSet::Nothing, &SpecialSet::Nothing, 2)
            .unwrap();
        for (text, ids) in texts.iter().zip(&batch) {
            assert_eq!(
                &t.encode(text, &SpecialSet::Nothing, &SpecialSet::Nothing)
                    .unwrap(),
                ids
            );
        }
        assert!(thread_pool(0).is_err());
    }
}
