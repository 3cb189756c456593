//! The encode/decode pipeline: special-token split -> normalize -> pre-tokenize -> model -> ids.
//! A `Tokenizer` is immutable after construction and `Sync`, so one instance serves all threads.
//! Byte-level BPE pieces go through the per-thread piece cache; the other models (see
//! [`crate::model`]) encode each piece directly.

use rayon::prelude::*;
use std::borrow::Cow;

use crate::bpe::Bpe;
use crate::cache::{CachePool, PieceCache};
use crate::decoders::Decoder;
use crate::error::{Error, Result};
use crate::model::{Model, WordMemo};
use crate::normalize::{normalize, normalize_aligned, Normalizer};
use crate::offsets::{original_span, Aligned, CharIndex, Encoding, TrimOffsets};
use crate::pool::thread_pool;
use crate::pretokenize::PreTokenizer;
use crate::special::{Segment, SpecialSet, SpecialTokens};

#[derive(Debug, Clone)]
pub struct Tokenizer {
    model: Model,
    pretokenizer: PreTokenizer,
    normalizers: Vec<Normalizer>,
    specials: SpecialTokens,
    /// Some special token has the id of a model token (HF added tokens can): the special's text
    /// then wins when decoding, so specials must be looked up first.
    specials_shadow_model: bool,
    /// HF decoder chain of a string-vocabulary model (byte-level models decode their bytes).
    decoder: Option<Decoder>,
    caches: CachePool,
}

impl Tokenizer {
    /// A byte-level BPE tokenizer.
    pub fn new(
        bpe: Bpe,
        pretokenizer: PreTokenizer,
        normalizers: Vec<Normalizer>,
        specials: SpecialTokens,
    ) -> Self {
        Self::with_model(Model::ByteLevel(bpe), pretokenizer, normalizers, specials, None)
    }

    /// A tokenizer of any model; `decoder` is HF's decoder chain (ignored by byte-level BPE,
    /// whose tokens decode to their bytes).
    pub fn with_model(
        model: Model,
        pretokenizer: PreTokenizer,
        normalizers: Vec<Normalizer>,
        specials: SpecialTokens,
        decoder: Option<Decoder>,
    ) -> Self {
        let specials_shadow_model = specials
            .tokens()
            .iter()
            .any(|(_, id)| model.token_bytes(*id).is_some());
        Tokenizer {
            model,
            pretokenizer,
            normalizers,
            specials,
            specials_shadow_model,
            decoder,
            caches: CachePool::default(),
        }
    }

    /// The byte-level BPE model, if that is the model.
    pub fn bpe(&self) -> Option<&Bpe> {
        match &self.model {
            Model::ByteLevel(bpe) => Some(bpe),
            _ => None,
        }
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn decoder(&self) -> Option<&Decoder> {
        self.decoder.as_ref()
    }

    pub fn specials(&self) -> &SpecialTokens {
        &self.specials
    }

    /// Bytes the piece memo of this tokenizer holds now, across its caches (at most
    /// [`crate::cache::memo_limit`]).
    pub fn memo_bytes(&self) -> usize {
        self.caches.memo_bytes()
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
        self.model.id_space().max(special_max)
    }

    /// The front half of encoding: the disallowed-special check, the special-token split,
    /// normalization and pre-tokenization of `text`, handing `f` each allowed special's id and
    /// each piece, in order. Generic so that `f` inlines into the pre-tokenizer's callback.
    fn walk<F: FnMut(Item<'_>)>(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        mut f: F,
    ) -> Result<()> {
        self.specials.check(text, disallowed)?;
        self.specials.split(text, allowed, &mut |segment| {
            match segment {
                Segment::Special { id, .. } => f(Item::Special(id)),
                Segment::Text(t) => {
                    let at_start = t.as_ptr() == text.as_ptr() && self.starts_original(t)?;
                    let t = normalize(&self.normalizers, t)?;
                    // HF drops a segment that normalizes to nothing before pre-tokenizing it (a
                    // lone BOM must not become Metaspace's "▁").
                    if t.is_empty() {
                        return Ok(());
                    }
                    if !self.specials.has_normalized() {
                        return self
                            .pretokenizer
                            .for_each_piece_at(&t, at_start, |piece: &str| f(Item::Piece(piece)));
                    }
                    // HF matches `normalized` added tokens in the normalized segment and
                    // pre-tokenizes the stretches between them.
                    self.specials
                        .split_normalized(&t, allowed, &mut |part| match part {
                            Segment::Special { id, .. } => {
                                f(Item::Special(id));
                                Ok(())
                            }
                            Segment::Text(p) => {
                                let at_start = at_start && p.as_ptr() == t.as_ptr();
                                self.pretokenizer
                                    .for_each_piece_at(p, at_start, |piece: &str| f(Item::Piece(piece)))
                            }
                        })?;
                }
            }
            Ok(())
        })
    }

    /// `text` (one segment: no special-token split) through the normalizers, by the encode path
    /// or, with `aligned`, by the offsets path (whose text must be the same: tests compare them).
    pub fn normalize(&self, text: &str, aligned: bool) -> Result<String> {
        if !aligned {
            return Ok(normalize(&self.normalizers, text)?.into_owned());
        }
        let mut a = Aligned::new(text, 0);
        normalize_aligned(&self.normalizers, &mut a)?;
        Ok(a.text)
    }

    /// Whether the normalized `segment` (which starts the text) still begins at original offset 0
    /// in HF's alignments: not if normalization removed the first char (`StripAccents` on a
    /// leading combining mark, `Strip`...). Only `Metaspace`'s `prepend_scheme: first` asks.
    fn starts_original(&self, segment: &str) -> Result<bool> {
        if !self.pretokenizer.prepends_first() || self.normalizers.is_empty() {
            return Ok(true);
        }
        let first = segment.chars().next().map_or(0, char::len_utf8);
        Ok(!normalize(&self.normalizers, &segment[..first])?.is_empty())
    }

    /// Encodes one piece with a model other than byte-level BPE; the first failure is kept in
    /// `failed` (the pre-tokenizer's callback cannot return it).
    #[inline(never)]
    fn encode_other(
        &self,
        piece: &str,
        buf: &mut Vec<u32>,
        failed: &mut Option<Error>,
        memo: &mut WordMemo,
        sink: &mut dyn FnMut(&[u32]),
    ) {
        if failed.is_some() {
            return;
        }
        buf.clear();
        match self.model.encode_str_memo(piece, buf, memo) {
            Ok(()) => sink(buf),
            Err(e) => *failed = Some(e),
        }
    }

    /// Encodes `text`, handing `sink` the ids piece by piece. Generic over `sink`, so the split
    /// loop, the cache probe and the sink compile into one loop per preset and sink.
    fn visit<S: FnMut(&[u32])>(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        cache: &mut PieceCache,
        mut sink: S,
    ) -> Result<()> {
        // One closure per kind of model, not a `match` on the model per piece. Callgrind of
        // `UNSEEN=1 encode_file` (both halves, cost = Ir + 10 L1 + 60 LL misses + 15
        // mispredicts): cl100k English 38.11M -> 37.90M, code 34.81M -> 34.52M, UDHR 94.22M ->
        // 94.17M, CJK 9.39M -> 9.34M; o200k 43.81M -> 43.61M, 43.08M -> 42.64M, 107.21M ->
        // 106.65M, 10.18M -> 10.11M. The closure still does not inline into the split loop,
        // even with a single preset arm there (tried).
        if let Model::ByteLevel(bpe) = &self.model {
            return self.walk(text, allowed, disallowed, |item| match item {
                Item::Special(id) => sink(&[id]),
                Item::Piece(piece) => cache.encode(bpe, piece.as_bytes(), &mut sink),
            });
        }
        let (mut buf, mut failed) = (Vec::new(), None);
        self.walk(text, allowed, disallowed, |item| match item {
            Item::Special(id) => sink(&[id]),
            Item::Piece(piece) => self.encode_other(piece, &mut buf, &mut failed, cache.words(), &mut sink),
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Encodes `text`. Specials in `allowed` become their ids; text matching a special in
    /// `disallowed` is an error; other special-looking text is encoded as ordinary text.
    pub fn encode(&self, text: &str, allowed: &SpecialSet, disallowed: &SpecialSet) -> Result<Vec<u32>> {
        self.caches
            .for_caller(|cache| self.encode_cached(text, allowed, disallowed, cache))
    }

    /// [`Tokenizer::encode`] (the same ids) with each token's char and byte offsets in `text`,
    /// by HF's rules (see [`crate::offsets`]): a special token spans the text it was matched on,
    /// a model token the original chars its normalized bytes come from. `trim` is the
    /// `ByteLevel` post-processor's `trim_offsets`. A separate path: the plain encode tracks no
    /// positions.
    pub fn encode_with_offsets(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        trim: Option<TrimOffsets>,
    ) -> Result<Encoding> {
        self.caches
            .for_caller(|cache| self.encode_with_offsets_cached(text, allowed, disallowed, trim, cache))
    }

    /// [`Tokenizer::encode_with_offsets`] of many texts on `threads` threads, in input order.
    pub fn encode_batch_with_offsets<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        trim: Option<TrimOffsets>,
        threads: usize,
    ) -> Result<Vec<Encoding>> {
        self.map_batch(texts, threads, |cache, t| {
            self.encode_with_offsets_cached(t, allowed, disallowed, trim, cache)
        })
    }

    fn encode_with_offsets_cached(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        trim: Option<TrimOffsets>,
        cache: &mut PieceCache,
    ) -> Result<Encoding> {
        self.specials.check(text, disallowed)?;
        let mut ids = Vec::with_capacity(text.len() / 4 + 1);
        // HF's byte offsets, and which tokens are specials (with the text they matched).
        let mut bytes: Vec<(usize, usize)> = Vec::with_capacity(ids.capacity());
        let mut specials: Vec<usize> = Vec::new();
        let (mut spans, mut failed) = (Vec::new(), None);
        let mut encode_pieces = |aligned: Aligned, at_start: bool, ids: &mut Vec<u32>, bytes: &mut Vec<_>| {
            self.pretokenizer
                .for_each_piece_aligned(aligned, at_start, &mut |piece, align| {
                    if failed.is_some() {
                        return;
                    }
                    spans.clear();
                    match &self.model {
                        Model::ByteLevel(bpe) => {
                            let mut at = 0;
                            cache.encode(bpe, piece.as_bytes(), &mut |part| {
                                for &id in part {
                                    let len = bpe.token_bytes(id).map_or(0, <[u8]>::len);
                                    spans.push((at, at + len));
                                    at += len;
                                }
                                ids.extend_from_slice(part);
                            });
                        }
                        model => {
                            if let Err(e) = model.encode_str_with_spans(piece, ids, &mut spans) {
                                failed = Some(e);
                                return;
                            }
                        }
                    }
                    bytes.extend(spans.iter().map(|&(s, e)| original_span(align, s, e)));
                })
        };
        self.specials.split(text, allowed, &mut |segment| {
            let t = match segment {
                Segment::Special { id, span } => {
                    specials.push(ids.len());
                    ids.push(id);
                    bytes.push((span.start, span.end));
                    return Ok(());
                }
                Segment::Text(t) => t,
            };
            let base = t.as_ptr() as usize - text.as_ptr() as usize;
            // As in `walk`, so the ids are those of `encode`.
            let at_start = base == 0 && self.starts_original(t)?;
            let mut aligned = Aligned::new(t, base);
            normalize_aligned(&self.normalizers, &mut aligned)?;
            if aligned.text.is_empty() {
                return Ok(());
            }
            if !self.specials.has_normalized() {
                return encode_pieces(aligned, at_start, &mut ids, &mut bytes);
            }
            // `normalized` added tokens, matched in the normalized text as `walk` does, span the
            // original text their normalized bytes come from.
            let normalized = aligned.text.clone();
            self.specials
                .split_normalized(&normalized, allowed, &mut |part| match part {
                    Segment::Special { id, span } => {
                        specials.push(ids.len());
                        ids.push(id);
                        bytes.push(original_span(&aligned.align, span.start, span.end));
                        Ok(())
                    }
                    Segment::Text(p) => {
                        let start = p.as_ptr() as usize - normalized.as_ptr() as usize;
                        let piece = aligned.slice(start..start + p.len());
                        encode_pieces(piece, at_start && start == 0, &mut ids, &mut bytes)
                    }
                })
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let index = CharIndex::new(text);
        let mut offsets: Vec<(usize, usize)> = bytes.iter().map(|&b| index.to_chars(b)).collect();
        if let Some(trim) = trim {
            let mut next_special = specials.iter().peekable();
            for (i, (&id, span)) in ids.iter().zip(offsets.iter_mut()).enumerate() {
                let (leading, trailing) = if next_special.next_if(|&&k| k == i).is_some() {
                    let (s, e) = bytes[i];
                    edge_spaces(text[s..e].chars())
                } else {
                    self.model_token_edge_spaces(id)
                };
                *span = trim.apply(i, *span, leading, trailing);
            }
        }
        let byte_offsets = offsets
            .iter()
            .map(|&(s, e)| (index.to_byte(s), index.to_byte(e)))
            .collect();
        Ok(Encoding {
            ids,
            offsets,
            byte_offsets,
        })
    }

    /// Leading and trailing spaces of a model token as HF's `trim_offsets` counts them: in the
    /// token's vocabulary string (byte-level: a space byte is the char `Ġ`, and no other byte
    /// maps to a space).
    fn model_token_edge_spaces(&self, id: u32) -> (usize, usize) {
        let bytes = self.model.token_bytes(id).unwrap_or_default();
        if let Model::ByteLevel(_) = self.model {
            let leading = bytes.iter().take_while(|&&b| b == b' ').count();
            let trailing = bytes.iter().rev().take_while(|&&b| b == b' ').count();
            return (leading, trailing);
        }
        edge_spaces(String::from_utf8_lossy(bytes).chars())
    }

    /// [`Tokenizer::encode`], also saying how many of the ids came from the last piece of the
    /// pre-tokenizer (0 when the text ends with a special token): the ids a longer text could
    /// still change, which token healing starts from.
    pub fn encode_with_last_piece(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<(Vec<u32>, usize)> {
        self.caches.for_caller(|cache| {
            let mut out = Vec::with_capacity(text.len() / 4 + 1);
            let mut last_piece = 0;
            let (mut buf, mut failed) = (Vec::new(), None);
            self.walk(text, allowed, disallowed, |item| match item {
                Item::Special(id) => {
                    out.push(id);
                    last_piece = 0;
                }
                Item::Piece(piece) => {
                    let before = out.len();
                    let sink = &mut |ids: &[u32]| out.extend_from_slice(ids);
                    match &self.model {
                        Model::ByteLevel(bpe) => cache.encode(bpe, piece.as_bytes(), sink),
                        _ => self.encode_other(piece, &mut buf, &mut failed, cache.words(), sink),
                    }
                    last_piece = out.len() - before;
                }
            })?;
            failed.map_or(Ok((out, last_piece)), Err)
        })
    }

    fn encode_cached(
        &self,
        text: &str,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        cache: &mut PieceCache,
    ) -> Result<Vec<u32>> {
        let mut out = Vec::with_capacity(text.len() / 4 + 1);
        self.visit(text, allowed, disallowed, cache, |ids| push_ids(&mut out, ids))?;
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
        self.visit(text, allowed, disallowed, cache, |ids| n += ids.len())?;
        Ok(n)
    }

    /// `f` over many texts on `threads` threads, in input order. Each worker uses its own cache
    /// slot for all the texts it encodes (see the performance notes in `cache.rs`).
    fn map_batch<S, T, F>(&self, texts: &[S], threads: usize, f: F) -> Result<Vec<T>>
    where
        S: AsRef<str> + Sync,
        T: Send,
        F: Fn(&mut PieceCache, &str) -> Result<T> + Sync,
    {
        let results: Vec<Result<T>> = if threads <= 1 || texts.len() <= 1 {
            self.caches
                .for_caller(|cache| texts.iter().map(|t| f(cache, t.as_ref())).collect())
        } else {
            thread_pool(threads)?.install(|| {
                texts
                    .par_iter()
                    .map(|t| {
                        let worker = rayon::current_thread_index().unwrap_or(0);
                        self.caches.for_worker(worker, |cache| f(cache, t.as_ref()))
                    })
                    .collect()
            })
        };
        results.into_iter().collect()
    }

    /// The number of tokens `encode` would return, without building the id list.
    pub fn count(&self, text: &str, allowed: &SpecialSet, disallowed: &SpecialSet) -> Result<usize> {
        self.caches
            .for_caller(|cache| self.count_cached(text, allowed, disallowed, cache))
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
    /// Almost always the first candidate holds, so this costs about two encodes of the prefix,
    /// plus pre-tokenizing the rest of the text (see [`Tokenizer::encode_head`]); memory is
    /// bounded by the budget, not by the text.
    pub fn truncate<'t>(
        &self,
        text: &'t str,
        max_tokens: usize,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
    ) -> Result<Cow<'t, str>> {
        if !matches!(self.model, Model::ByteLevel(_)) {
            return self.truncate_by_search(text, max_tokens, allowed, disallowed);
        }
        let ids = self.caches.for_caller(|cache| {
            self.encode_head(text, max_tokens.saturating_add(1), allowed, disallowed, cache)
        })?;
        if ids.len() <= max_tokens {
            return Ok(Cow::Borrowed(text));
        }
        let text = normalize(&self.normalizers, text)?;
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

    /// `truncate` for models whose tokens are not byte slices of the normalized text (Metaspace,
    /// unknown tokens, WordPiece prefixes): the longest char-boundary prefix of `text` with at
    /// most `max_tokens` ids, found by binary search on the count, then stepped back until its
    /// ids are a prefix of the whole text's ids.
    fn truncate_by_search<'t>(
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
        let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let (mut lo, mut hi) = (0usize, bounds.len()); // text[..bounds[lo]] fits; bounds[hi] unknown
        while lo + 1 < hi {
            let mid = (lo + hi) / 2;
            if self.count(&text[..bounds[mid]], allowed, disallowed)? <= max_tokens {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        for k in (0..=lo).rev() {
            let cut = &text[..bounds[k]];
            let again = self.encode(cut, allowed, disallowed)?;
            if again.len() <= max_tokens && again[..] == ids[..again.len()] {
                return Ok(Cow::Borrowed(cut));
            }
        }
        Ok(Cow::Borrowed(""))
    }

    /// The first `n` ids of `encode(text)` (all of them if there are fewer). Once `n` ids are
    /// known, the rest of the text is only scanned: it is still checked for disallowed special
    /// tokens and pre-tokenized, but never merged, and none of its ids are kept.
    fn encode_head(
        &self,
        text: &str,
        n: usize,
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        cache: &mut PieceCache,
    ) -> Result<Vec<u32>> {
        let mut head: Vec<u32> = Vec::with_capacity(n.min(text.len() / 2 + 1));
        let Model::ByteLevel(bpe) = &self.model else {
            unreachable!("truncate_by_search serves the other models")
        };
        self.walk(text, allowed, disallowed, |item| {
            if head.len() >= n {
                return;
            }
            match item {
                Item::Special(id) => head.push(id),
                Item::Piece(piece) => cache.encode(bpe, piece.as_bytes(), &mut |ids| {
                    let room = n - head.len();
                    head.extend_from_slice(&ids[..ids.len().min(room)]);
                }),
            }
        })?;
        Ok(head)
    }

    /// Encodes many texts on `threads` threads into a [`FlatBatch`]: one flat id sequence plus
    /// `texts.len() + 1` offsets (text `i` is `ids[offsets[i]..offsets[i + 1]]`), with
    /// `separator` appended after each text when given (e.g. an end-of-text id). The first failing
    /// text (in input order) decides the error.
    ///
    /// Each worker appends its run of consecutive texts to one buffer, and the runs are left
    /// apart until they are written out (in parallel, once). Measured from Python (2 MB in 6,005
    /// paragraphs or 160 code files, best of 15): an id list per text then a flattening copy took
    /// 1.39x the time of `count_batch` on the same texts at 1 thread; runs, 1.07-1.16x. Joining
    /// the runs and copying the result into a Python object on the calling thread then took 9% of
    /// all CPU time at 2 threads (2 MB of memmove and memset while the workers waited).
    pub fn encode_batch_flat<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        allowed: &SpecialSet,
        disallowed: &SpecialSet,
        threads: usize,
        separator: Option<u32>,
    ) -> Result<FlatBatch> {
        let append = |run: &mut FlatRun, cache: &mut PieceCache, text: &str| -> Result<()> {
            self.visit(text, allowed, disallowed, cache, |ids| {
                push_ids(&mut run.ids, ids)
            })?;
            run.ids.extend(separator);
            run.ends.push(run.ids.len() as u64);
            Ok(())
        };
        let runs: Vec<Result<FlatRun>> = if threads <= 1 || texts.len() <= 1 {
            let mut run = FlatRun::default();
            let done = self
                .caches
                .for_caller(|cache| texts.iter().try_for_each(|t| append(&mut run, cache, t.as_ref())));
            vec![done.map(|()| run)]
        } else {
            thread_pool(threads)?.install(|| {
                texts
                    .par_iter()
                    .fold(
                        || Ok(FlatRun::default()),
                        |run: Result<FlatRun>, t| {
                            let mut run = run?;
                            let worker = rayon::current_thread_index().unwrap_or(0);
                            self.caches
                                .for_worker(worker, |cache| append(&mut run, cache, t.as_ref()))?;
                            Ok(run)
                        },
                    )
                    .collect()
            })
        };
        let runs = runs.into_iter().collect::<Result<Vec<_>>>()?;
        let mut offsets = Vec::with_capacity(texts.len() + 1);
        offsets.push(0u64);
        let mut base = 0u64;
        for run in &runs {
            offsets.extend(run.ends.iter().map(|end| base + end));
            base += run.ids.len() as u64;
        }
        Ok(FlatBatch {
            runs,
            offsets,
            threads,
        })
    }

    /// Bytes of one token (model or special).
    #[inline]
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        // Model ids first when no special shares one, sparing a map lookup per id (434k cl100k ids
        // from Python: 13.3 -> 12.8 ms).
        if self.specials_shadow_model {
            self.specials.bytes_of(id).or_else(|| self.model.token_bytes(id))
        } else {
            self.model.token_bytes(id).or_else(|| self.specials.bytes_of(id))
        }
    }

    /// Decoded text as HF's `decode`: each id's token string (an added token's text, else the
    /// model's), special ids left out when `skip` says so, then the decoder chain (no decoder:
    /// tokens joined by spaces). Byte-level models join their bytes (lossy UTF-8).
    pub fn decode_text(&self, ids: &[u32], skip: &dyn Fn(u32) -> bool) -> Result<String> {
        let kept = || ids.iter().copied().filter(|&id| !skip(id));
        if let Model::ByteLevel(_) = self.model {
            let kept: Vec<u32> = kept().collect();
            return Ok(String::from_utf8_lossy(&self.decode_bytes(&kept)?).into_owned());
        }
        let mut tokens = Vec::with_capacity(ids.len());
        for id in kept() {
            let bytes = self.token_bytes(id).ok_or(Error::InvalidTokenId(id))?;
            tokens.push(String::from_utf8_lossy(bytes).into_owned());
        }
        Ok(match &self.decoder {
            Some(d) => d.decode(tokens)?,
            None => tokens.join(" "),
        })
    }

    /// The bytes of `ids` and, per token, the index of the first char holding bytes of it in
    /// their UTF-8 decoding (tiktoken's `decode_with_offsets`: a token that starts inside a char
    /// belongs to that char).
    pub fn decode_with_offsets(&self, ids: &[u32]) -> Result<(Vec<u8>, Vec<usize>)> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        let mut starts = Vec::with_capacity(ids.len());
        let mut chars = 0usize;
        let is_continuation = |b: u8| (0x80..0xC0).contains(&b);
        for &id in ids {
            let token = self.token_bytes(id).ok_or(Error::InvalidTokenId(id))?;
            let inside = token.first().is_some_and(|&b| is_continuation(b));
            starts.push(chars.saturating_sub(usize::from(inside)));
            chars += token.iter().filter(|&&b| !is_continuation(b)).count();
            out.extend_from_slice(token);
        }
        Ok((out, starts))
    }

    pub fn decode_bytes(&self, ids: &[u32]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            out.extend_from_slice(self.token_bytes(id).ok_or(Error::InvalidTokenId(id))?);
        }
        Ok(out)
    }
}

/// Appends one piece's ids. Most pieces are one token: a push then, not `extend_from_slice`,
/// whose call to `memcpy` for a 4-byte copy was 2.5M of the 34.8M instructions of an unseen
/// English encode. Whole encode (callgrind, `UNSEEN=1 encode_file`, both halves): cl100k
/// English 34.83M -> 33.55M, code 32.85M -> 31.69M; o200k English 40.72M -> 39.46M, code
/// 41.54M -> 40.34M.
#[inline(always)]
fn push_ids(out: &mut Vec<u32>, ids: &[u32]) {
    match ids {
        [id] => out.push(*id),
        _ => out.extend_from_slice(ids),
    }
}

/// Leading and trailing chars that HF's `trim_offsets` counts as spaces: whitespace, and `Ġ`
/// (the byte-level alphabet's space).
fn edge_spaces(chars: impl DoubleEndedIterator<Item = char> + Clone) -> (usize, usize) {
    let space = |c: &char| *c == '\u{120}' || c.is_whitespace();
    let leading = chars.clone().take_while(space).count();
    let trailing = chars.rev().take_while(space).count();
    (leading, trailing)
}

/// What [`Tokenizer::walk`] yields: an allowed special token's id, or a piece of text to merge.
enum Item<'a> {
    Special(u32),
    Piece(&'a str),
}

/// Ids of consecutive texts, and where each text ends in them.
#[derive(Debug, Default)]
struct FlatRun {
    ids: Vec<u32>,
    ends: Vec<u64>,
}

/// The ids of a batch as one flat sequence plus offsets, from [`Tokenizer::encode_batch_flat`].
#[derive(Debug)]
pub struct FlatBatch {
    runs: Vec<FlatRun>,
    offsets: Vec<u64>,
    threads: usize,
}

impl FlatBatch {
    /// Number of ids.
    pub fn len(&self) -> usize {
        *self.offsets.last().expect("offsets start with 0") as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `texts.len() + 1` offsets into the ids, starting with 0.
    pub fn offsets(&self) -> &[u64] {
        &self.offsets
    }

    /// Writes the ids as little-endian `u32` into `out` (exactly `4 * len()` bytes, e.g. a
    /// buffer about to become a numpy array), copying the runs in parallel.
    pub fn write_le(&self, out: &mut [u8]) -> Result<()> {
        if out.len() != 4 * self.len() {
            return Err(Error::InvalidArgument(format!(
                "buffer of {} bytes for {} ids",
                out.len(),
                self.len()
            )));
        }
        let mut parts = Vec::with_capacity(self.runs.len());
        let mut rest = out;
        for run in &self.runs {
            let (part, tail) = rest.split_at_mut(4 * run.ids.len());
            parts.push((part, &run.ids));
            rest = tail;
        }
        let copy = |(part, ids): (&mut [u8], &Vec<u32>)| {
            for (dst, id) in part.chunks_exact_mut(4).zip(ids.iter()) {
                dst.copy_from_slice(&id.to_le_bytes());
            }
        };
        if self.threads <= 1 || parts.len() <= 1 {
            parts.into_iter().for_each(copy);
        } else {
            thread_pool(self.threads)?.install(|| parts.into_par_iter().for_each(copy));
        }
        Ok(())
    }

    /// The ids as one vector (offsets: [`FlatBatch::offsets`]).
    pub fn into_ids(self) -> Vec<u32> {
        let mut ids = Vec::with_capacity(self.len());
        for run in self.runs {
            ids.extend_from_slice(&run.ids);
        }
        ids
    }
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
    }

    fn texts() -> Vec<String> {
        (0..500)
            .map(|i| format!("hello {i} world {} wor{}ld", "hell".repeat(i % 7), i % 13))
            .collect()
    }

    #[test]
    fn flat_batch_equals_loop_on_any_thread_count() {
        let t = toy();
        let texts = texts();
        let (none, nothing) = (&SpecialSet::Nothing, &SpecialSet::Nothing);
        let looped: Vec<Vec<u32>> = texts
            .iter()
            .map(|x| t.encode(x, none, nothing).unwrap())
            .collect();
        for threads in [1, 2, 3] {
            for separator in [None, Some(1000)] {
                let batch = t
                    .encode_batch_flat(&texts, none, nothing, threads, separator)
                    .unwrap();
                let mut le = vec![0u8; 4 * batch.len()];
                batch.write_le(&mut le).unwrap();
                assert!(batch.write_le(&mut le[1..]).is_err());
                let offsets = batch.offsets().to_vec();
                let ids = batch.into_ids();
                let from_le: Vec<u32> = le
                    .chunks_exact(4)
                    .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                assert_eq!(from_le, ids);
                assert_eq!(offsets.len(), texts.len() + 1);
                assert_eq!(*offsets.last().unwrap() as usize, ids.len());
                for (i, expected) in looped.iter().enumerate() {
                    let got = &ids[offsets[i] as usize..offsets[i + 1] as usize];
                    let (body, tail) = got.split_at(expected.len());
                    assert_eq!(body, &expected[..]);
                    assert_eq!(tail, separator.as_slice());
                }
            }
        }
        let empty: [&str; 0] = [];
        let batch = t.encode_batch_flat(&empty, none, nothing, 2, None).unwrap();
        assert_eq!((batch.offsets(), batch.is_empty()), (&[0u64][..], true));
        batch.write_le(&mut []).unwrap();
    }

    #[test]
    fn first_failing_text_decides_the_batch_error() {
        let t = toy();
        let mut texts = texts();
        texts[123] = "ab<|eot|>".into();
        texts[400] = "<|eot|>".into();
        for threads in [1, 2] {
            let err = t
                .encode_batch_flat(&texts, &SpecialSet::Nothing, &SpecialSet::All, threads, None)
                .unwrap_err();
            assert!(
                matches!(err, Error::DisallowedSpecial { position: 2, .. }),
                "{err:?}"
            );
            let err = t
                .encode_batch(&texts, &SpecialSet::Nothing, &SpecialSet::All, threads)
                .unwrap_err();
            assert!(
                matches!(err, Error::DisallowedSpecial { position: 2, .. }),
                "{err:?}"
            );
        }
    }

    /// More callers than cache slots at once, and clones (which start with empty caches): every
    /// caller still gets the ids of a fresh tokenizer.
    #[test]
    fn concurrent_callers_beyond_the_cache_slots_agree() {
        let t = toy();
        let texts = texts();
        let (none, nothing) = (&SpecialSet::Nothing, &SpecialSet::Nothing);
        let expected: Vec<Vec<u32>> = texts
            .iter()
            .map(|x| toy().encode(x, none, nothing).unwrap())
            .collect();
        std::thread::scope(|scope| {
            for k in 0..24 {
                let (t, texts, expected) = (&t, &texts, &expected);
                scope.spawn(move || {
                    let clone = t.clone();
                    for (i, text) in texts.iter().enumerate().skip(k % 5) {
                        let tok = if i % 2 == 0 { t } else { &clone };
                        assert_eq!(tok.encode(text, none, nothing).unwrap(), expected[i]);
                        assert_eq!(tok.count(text, none, nothing).unwrap(), expected[i].len());
                    }
                });
            }
        });
    }

    /// `truncate` keeps only the head of the encoding, yet answers as a cut of the full encoding
    /// would, including a disallowed special token far past the budget.
    #[test]
    fn truncate_reads_only_the_head_but_checks_the_whole_text() {
        let t = toy();
        let (all, nothing) = (&SpecialSet::All, &SpecialSet::Nothing);
        let text = "hello world <|eot|>".repeat(2000);
        let ids = t.encode(&text, all, nothing).unwrap();
        for budget in [0, 1, 2, 3, 4, 5, 7, 100, ids.len() - 1, ids.len(), usize::MAX] {
            let cut = t.truncate(&text, budget, all, nothing).unwrap();
            let again = t.encode(&cut, all, nothing).unwrap();
            assert!(
                again.len() <= budget && again[..] == ids[..again.len()],
                "{budget}"
            );
            if budget < ids.len() {
                assert!(again.len() + 2 >= budget, "{budget}: only {} ids", again.len());
            } else {
                assert_eq!(cut.len(), text.len());
            }
        }
        let late = format!("{}<|eot|>", "hello ".repeat(5000));
        assert!(matches!(
            t.truncate(&late, 3, nothing, all),
            Err(Error::DisallowedSpecial { .. })
        ));
    }

    /// An HF added token may reuse a model token's id; its text is what that id decodes to.
    #[test]
    fn a_special_sharing_a_model_id_decodes_to_its_text() {
        let t = toy();
        let bpe = t.bpe().unwrap().clone();
        let pre = PreTokenizer::single_regex(r"\S+|\s+").unwrap();
        let shared = SpecialTokens::new(vec![("<h>".into(), 104)]).unwrap();
        let shadowed = Tokenizer::new(bpe, pre, vec![], shared);
        assert_eq!(shadowed.decode_bytes(&[104, 105]).unwrap(), b"<h>i");
        assert_eq!(t.decode_bytes(&[104, 105, 1000]).unwrap(), b"hi<|eot|>");
    }
}
