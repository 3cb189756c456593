//! Unigram language model (SentencePiece / HF `Unigram`): the segmentation of highest total score
//! (Viterbi over byte positions), characters no piece covers scoring as the unknown token
//! (`min score - 10`, HF's `K_UNK_PENALTY`), consecutive unknowns fused, and pieces missing from
//! the vocabulary spelled as `<0xNN>` byte tokens when `byte_fallback` is on.
//!
//! [`Unigram::sentencepiece`] builds the model of a SentencePiece `.model` file with the rules of
//! `SentencePieceProcessor.encode` in sentencepiece 0.2.3 (`unigram_model.cc`,
//! `EncodeOptimized`): only normal and user-defined pieces are matched, a user-defined piece of
//! `n` bytes scores `0.1 * (n - 1)`, the unknown score is the lowest *normal* score minus 10,
//! path totals are summed and compared in `float`, and once the total where a piece starts
//! leaves +-1e5 it is subtracted from every reached total from there on (so long texts keep
//! float precision). Totals in f64 pick other paths: on sums equal only in float ("0" "00"
//! against "00" "0" after "0,": -37.445824 both in float, 1e-6 apart in double, so the first path
//! found stays) and on long texts (12 of the 1,064 parity texts on the botchan/kyoto models).
//!
//! No memo of words: the lattice can be cut where a "▁" starts (no piece has one after its first
//! char), and a word's best path then depends only on the total it arrives with, so a path found
//! once can be reused wherever the `float` rounding at the new total cannot change a comparison
//! (the lead of each position's best candidate over the second beats the rounding bound). That
//! memo, a direct-mapped table of 2^14 64-byte entries holding words of up to 24 bytes inline, made
//! the encode slower: callgrind of 0.3 MB of `bench/families.py` documents plus the warm-up
//! (botchan) 40.6M -> 58.8M instructions with 56% of words found, and a second pass over the
//! same documents 29.8M -> 35.1M with 71%; from Python 35-41 -> 27-31 MB/s. The lattice costs
//! ~570 instructions a word on average, the words found are the short frequent ones that cost
//! least, and the words missed (long, rare) pay the second-best bookkeeping on top. A hash map
//! of boxed words and paths was slower still (UDHR, 200 languages: 0.063 -> 0.19 s).
//!
//! Nor a fast path for runs of chars no piece can hold (a byte no piece has: 41% of the bytes of
//! those documents for botchan, whose pieces use 71 byte values): the unknown score added char
//! by char without the trie walk, only the run's end written. The test for such a char on every
//! char cost more than the walks it saved: 40.6M -> 45.7M instructions, mispredicted branches
//! 167k -> 173k (the same callgrind measurement).

use std::mem::MaybeUninit;

use rustc_hash::FxHashMap;

use super::Vocab;
use crate::error::{Error, Result};
use crate::normalize::utf8_char_len;

const UNK_PENALTY: f64 = 10.0;
/// SentencePiece's `kScoreResetThreshold`.
const SPM_RESCALE_AT: f64 = 100_000.0;

#[derive(Debug, Clone)]
pub struct Unigram {
    vocab: Vocab,
    scores: Vec<f64>,
    unk: Option<u32>,
    unk_score: f64,
    byte_fallback: bool,
    byte_ids: [Option<u32>; 256],
    trie: Trie,
    /// SentencePiece's arithmetic and unknown-piece rules (see the module notes); its `float`
    /// scores are kept in the trie.
    sentencepiece: bool,
}

/// SentencePiece piece types (`ModelProto.SentencePiece.Type`); only normal and user-defined
/// pieces are matched in text (5 is unused).
pub const PIECE_NORMAL: u8 = 1;
pub const PIECE_UNKNOWN: u8 = 2;
pub const PIECE_CONTROL: u8 = 3;
pub const PIECE_USER_DEFINED: u8 = 4;
pub const PIECE_BYTE: u8 = 6;

/// Builds the byte trie of the pieces: `(node, byte) -> child` in one hash map, `node -> id` at
/// piece ends.
#[derive(Debug, Default)]
struct TrieBuilder {
    edges: FxHashMap<u64, u32>,
    /// First byte from the root, without hashing.
    roots: Vec<u32>,
    ids: Vec<u32>,
    max_len: usize,
}

const NO_ID: u32 = u32::MAX;

impl TrieBuilder {
    fn insert(&mut self, key: &[u8], id: u32) {
        if self.ids.is_empty() {
            self.ids.push(NO_ID); // the root
            self.roots = vec![0; 256];
        }
        self.max_len = self.max_len.max(key.len());
        let mut node = 0u32;
        for (depth, &b) in key.iter().enumerate() {
            let next = if depth == 0 {
                self.roots[b as usize]
            } else {
                self.edges
                    .get(&((node as u64) << 8 | b as u64))
                    .copied()
                    .unwrap_or(0)
            };
            node = if next != 0 {
                next
            } else {
                let new = self.ids.len() as u32;
                self.ids.push(NO_ID);
                if depth == 0 {
                    self.roots[b as usize] = new;
                } else {
                    self.edges.insert((node as u64) << 8 | b as u64, new);
                }
                new
            };
        }
        self.ids[node as usize] = id;
    }

    /// The double-array trie of the inserted pieces, each with its score from `scores` (by id).
    fn build(self, scores: &[f64]) -> Trie {
        let count = self.ids.len().max(1);
        let mut children: Vec<Vec<(u8, u32)>> = vec![Vec::new(); count];
        for (b, &child) in self.roots.iter().enumerate() {
            if child != 0 {
                children[0].push((b as u8, child));
            }
        }
        for (&key, &child) in &self.edges {
            children[(key >> 8) as usize].push((key as u8, child));
        }
        let mut units = vec![FREE_UNIT; count + 256];
        units[0].check = ROOT_CHECK;
        // `next_free[i]`: a slot at or after `i` that may be free (a union-find over filled
        // slots, so the free slots are visited without rescanning the filled ones).
        let mut next_free: Vec<u32> = (0..units.len() as u32).collect();
        next_free[0] = 1;
        // Breadth first, so that a node's children land near the slots placed just before.
        let mut queue = std::collections::VecDeque::from([(0u32, 0u32)]);
        while let Some((old, at)) = queue.pop_front() {
            let id = self.ids.get(old as usize).copied().unwrap_or(NO_ID);
            units[at as usize].id = id;
            units[at as usize].score = scores.get(id as usize).map_or(0.0, |&s| s as f32);
            let kids = &mut children[old as usize];
            if kids.is_empty() {
                continue;
            }
            kids.sort_unstable();
            let base = place(&mut units, &mut next_free, kids);
            units[at as usize].base = base;
            for &(label, child) in kids.iter() {
                let slot = base as usize + label as usize;
                units[slot].check = at;
                next_free[slot] = slot as u32 + 1;
                queue.push_back((child, slot as u32));
            }
        }
        // Every `base + byte` of the walk indexes inside the array.
        let top = units.iter().map(|u| u.base as usize).max().unwrap_or(0) + 256;
        units.resize(top.max(units.len()), FREE_UNIT);
        units.truncate(top.max(1));
        Trie {
            units,
            max_len: self.max_len,
        }
    }
}

/// The smallest base (within a bounded search) at which every `labels` slot is free, the array
/// grown as needed. A node of one child takes the first free slot; wider nodes try at most
/// [`PLACE_TRIES`] free slots for their first label before moving to the end of the array, so
/// building a 262k-piece trie stays linear.
fn place(units: &mut Vec<Unit>, next_free: &mut Vec<u32>, labels: &[(u8, u32)]) -> u32 {
    fn find(next_free: &mut [u32], mut i: usize) -> usize {
        let mut root = i;
        while (next_free[root] as usize) != root {
            root = next_free[root] as usize;
        }
        while (next_free[i] as usize) != root {
            let up = next_free[i] as usize;
            next_free[i] = root as u32;
            i = up;
        }
        root
    }
    let grow = |units: &mut Vec<Unit>, next_free: &mut Vec<u32>, len: usize| {
        if units.len() < len {
            let old = units.len();
            units.resize(len, FREE_UNIT);
            next_free.extend(old as u32..len as u32);
        }
    };
    let first = labels[0].0 as usize;
    let last = labels[labels.len() - 1].0 as usize;
    let mut slot = first.max(1);
    for _ in 0..PLACE_TRIES {
        grow(units, next_free, slot + 257);
        slot = find(next_free, slot);
        grow(units, next_free, slot + 257);
        let base = slot - first;
        if labels[1..]
            .iter()
            .all(|&(l, _)| units[base + l as usize].check == FREE)
        {
            return base as u32;
        }
        slot += 1;
    }
    // Past every filled slot: all free.
    let base = units.len() - first.min(units.len());
    grow(units, next_free, base + last + 257);
    base as u32
}

/// Free slots visited per node before [`place`] gives up on the gaps.
const PLACE_TRIES: usize = 64;

/// `check` of a free slot; the root's is [`ROOT_CHECK`], every other node's its parent's slot.
const FREE: u32 = u32::MAX;
const ROOT_CHECK: u32 = u32::MAX - 1;

const FREE_UNIT: Unit = Unit {
    base: 0,
    check: FREE,
    id: NO_ID,
    score: 0.0,
};

/// Byte trie of the pieces as a double array (the structure of darts-clone, which
/// SentencePiece uses): the child of slot `s` by byte `b` is slot `units[s].base + b` if that
/// slot's `check` is `s`, so a step of the lattice walk is two loads and one compare. It
/// replaced children stored contiguously per node (a scan of up to 8 labels, a bisection, or a
/// direct 256-slot table for nodes of more than 16 children), measured with callgrind on the
/// encode calls of 0.3 MB of `bench/families.py` documents, botchan Unigram model: the whole
/// encode went 90.7M -> 69.7M instructions with the changes below it (`Unigram::encode` alone
/// 60.0M -> 39.0M), 1.17x -> ~1.45x sentencepiece's speed on botchan and kyoto.
#[derive(Debug, Clone)]
struct Trie {
    units: Vec<Unit>,
    /// The longest piece, in bytes.
    max_len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    base: u32,
    check: u32,
    /// The piece ending at this node, or `NO_ID`.
    id: u32,
    /// Its score in `float` (SentencePiece's arithmetic).
    score: f32,
}

/// The last piece of the best path found so far to one lattice position (its total is kept
/// apart, see [`Unigram::viterbi`]).
#[derive(Clone, Copy)]
struct Back {
    start: u32,
    id: u32,
}

/// The links of a finished lattice, read along its best path only (see [`Unigram::viterbi`]):
/// the positions the path passes through from the end, which all have a link.
struct PathLinks<'a>(&'a mut [MaybeUninit<Back>]);

impl PathLinks<'_> {
    /// The link at `at`.
    ///
    /// # Safety
    /// `at` is a position of the best path (from the end, each link's `start`), or one set.
    #[inline(always)]
    unsafe fn get(&self, at: usize) -> Back {
        // SAFETY: such positions have a link (see the type).
        unsafe { self.0[at].assume_init() }
    }

    #[inline(always)]
    fn set(&mut self, at: usize, link: Back) {
        self.0[at].write(link);
    }
}

/// The arithmetic of lattice totals: SentencePiece sums in `float`, HF in `double`.
trait Total: Copy + PartialOrd + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> {
    const NEG_INFINITY: Self;
    const ZERO: Self;
    /// The score of the piece ending at `unit`: SentencePiece's `float` is kept in the trie
    /// (one load less per lattice edge), HF's `double` in `scores`.
    fn of(unit: &Unit, scores: &[Self]) -> Self;
}

impl Total for f32 {
    const NEG_INFINITY: Self = f32::NEG_INFINITY;
    const ZERO: Self = 0.0;
    #[inline]
    fn of(unit: &Unit, _: &[Self]) -> Self {
        unit.score
    }
}

impl Total for f64 {
    const NEG_INFINITY: Self = f64::NEG_INFINITY;
    const ZERO: Self = 0.0;
    #[inline]
    fn of(unit: &Unit, scores: &[Self]) -> Self {
        scores[unit.id as usize]
    }
}

impl Trie {
    /// Whether `key` is one of the trie's pieces.
    fn has(&self, key: &[u8]) -> bool {
        let mut node = 0usize;
        for &b in key {
            let next = self.units[node].base as usize + b as usize;
            match self.units.get(next) {
                Some(unit) if unit.check as usize == node => node = next,
                _ => return false,
            }
        }
        self.units[node].id != NO_ID
    }
}

impl Unigram {
    /// Pieces in id order with their scores.
    pub fn new(pieces: Vec<(String, f64)>, unk_id: Option<u32>, byte_fallback: bool) -> Result<Self> {
        if pieces.is_empty() {
            return Err(Error::InvalidVocabulary("the Unigram vocabulary is empty".into()));
        }
        if let Some(unk) = unk_id {
            if unk as usize >= pieces.len() {
                return Err(Error::InvalidVocabulary(format!(
                    "unk_id {unk} is beyond the {} pieces",
                    pieces.len()
                )));
            }
        }
        let mut trie = TrieBuilder::default();
        let mut scores = Vec::with_capacity(pieces.len());
        let mut min_score = f64::INFINITY;
        let mut tokens = Vec::with_capacity(pieces.len());
        for (id, (piece, score)) in pieces.into_iter().enumerate() {
            if !score.is_finite() {
                return Err(Error::InvalidVocabulary(format!(
                    "piece {piece:?} has score {score}"
                )));
            }
            trie.insert(piece.as_bytes(), id as u32);
            min_score = min_score.min(score);
            scores.push(score);
            tokens.push(piece);
        }
        // Repeated pieces: the trie, like HF's token -> id map, keeps the last id.
        let vocab = Vocab::from_list(tokens);
        let byte_ids = vocab.byte_fallback_ids();
        let trie = trie.build(&scores);
        Ok(Unigram {
            vocab,
            scores,
            unk: unk_id,
            unk_score: min_score - UNK_PENALTY,
            byte_fallback,
            byte_ids,
            trie,
            sentencepiece: false,
        })
    }

    /// The model of a SentencePiece `.model` file: `types` are the piece types (`PIECE_*`).
    pub fn sentencepiece(
        pieces: Vec<(String, f64)>,
        types: &[u8],
        unk_id: u32,
        byte_fallback: bool,
    ) -> Result<Self> {
        if types.len() != pieces.len() {
            return Err(Error::InvalidVocabulary(format!(
                "{} piece types for {} pieces",
                types.len(),
                pieces.len()
            )));
        }
        let mut model = Unigram::new(pieces, Some(unk_id), byte_fallback)?;
        let normal = || {
            model
                .scores
                .iter()
                .zip(types)
                .filter(|(_, &t)| t == PIECE_NORMAL)
                .map(|(&s, _)| s as f32)
        };
        let min_score = normal().fold(f32::MAX, f32::min);
        let mut trie = TrieBuilder::default();
        let mut scores = Vec::with_capacity(types.len());
        for (id, &kind) in types.iter().enumerate() {
            let text = model.vocab.token(id as u32).unwrap_or_default();
            let score = match kind {
                PIECE_USER_DEFINED => (0.1 * (text.len() as f64 - 1.0)) as f32 as f64,
                _ => model.scores[id] as f32 as f64,
            };
            if matches!(kind, PIECE_NORMAL | PIECE_USER_DEFINED) {
                trie.insert(text.as_bytes(), id as u32);
            }
            scores.push(score);
        }
        model.trie = trie.build(&scores);
        model.scores = scores;
        model.unk_score = (min_score - UNK_PENALTY as f32) as f64;
        model.sentencepiece = true;
        Ok(model)
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn scores(&self) -> &[f64] {
        &self.scores
    }

    pub fn unk_id(&self) -> Option<u32> {
        self.unk
    }

    pub fn byte_fallback(&self) -> bool {
        self.byte_fallback
    }

    pub fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        self.encode_impl(text, out, None)
    }

    /// [`Unigram::encode`], also pushing each token's byte span in `text` onto `spans` (HF's
    /// token offsets: the byte tokens of a piece spelled by byte fallback all get the piece's).
    pub fn encode_with_spans(
        &self,
        text: &str,
        out: &mut Vec<u32>,
        spans: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        self.encode_impl(text, out, Some(spans))
    }

    fn encode_impl(
        &self,
        text: &str,
        out: &mut Vec<u32>,
        spans: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        if u32::try_from(text.len()).is_err() {
            return Err(Error::InvalidArgument(format!(
                "a Unigram piece of {} bytes is beyond the 4 GiB the lattice indexes",
                text.len()
            )));
        }
        if self.sentencepiece {
            self.viterbi(text, &[], self.unk_score as f32, true, out, spans)
        } else {
            self.viterbi(text, &self.scores, self.unk_score, false, out, spans)
        }
    }

    /// The best segmentation of `text` (at most `u32::MAX` bytes), with `rescale`:
    /// SentencePiece's reset of the totals past `SPM_RESCALE_AT`.
    fn viterbi<S: Total + Into<f64>>(
        &self,
        text: &str,
        scores: &[S],
        unk_score: S,
        rescale: bool,
        out: &mut Vec<u32>,
        mut spans: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        let bytes = text.as_bytes();
        let n = bytes.len();
        // Unreached positions total -inf, so every (finite) candidate beats them without a
        // separate "reached" test, and the rescaling below leaves them unreached. A position's
        // `back` is written with every total but -inf, so it is read only where the total is
        // not -inf (a candidate of -inf beats nothing). Totals and links apart, with only the
        // totals filled (4 bytes a position in `float`, not 12): the fill was 7.8% of the
        // lattice's perf samples (0.5 MB of `bench/families.py` documents x60 from Python,
        // botchan Unigram).
        let mut totals = vec![S::NEG_INFINITY; n + 1];
        totals[0] = S::ZERO;
        let mut back: Vec<MaybeUninit<Back>> = Vec::with_capacity(n + 1);
        // SAFETY: `MaybeUninit` needs no initialisation.
        unsafe { back.set_len(n + 1) };
        let units = &self.trie.units[..];
        let root_base = units[0].base as usize;
        // The text with one 0xFF byte after it: no piece (UTF-8) has that byte, so the trie walk
        // stops there by itself, without an end-of-text test per step.
        let mut padded = Vec::with_capacity(n + 1);
        padded.extend_from_slice(bytes);
        padded.push(0xFF);
        let mut start = 0;
        while start < n {
            let mut here = totals[start];
            if rescale && here.into().abs() > SPM_RESCALE_AT {
                // No piece reaches past `start + max_len`, so the reached totals are all in here.
                let offset = here;
                let reach = (start + self.trie.max_len.max(4)).min(n);
                for total in &mut totals[start..=reach] {
                    *total = *total - offset;
                }
                here = totals[start];
            }
            let char_len = utf8_char_len(bytes[start]);
            // The walk of the double array (see [`Trie`]) with the lattice update inline.
            let (mut node, mut base) = (0usize, root_base);
            let mut end = start;
            loop {
                // SAFETY: `end <= n` (the 0xFF at `padded[n]` matches no child, so the walk
                // never steps past it), and every `base + byte` is inside `units` (the array
                // ends 256 past the highest base, see `TrieBuilder::build`). With the sentinel
                // and these two loads unchecked, `Unigram::encode` went 55.4M -> 50.2M
                // instructions (callgrind of the `encode` calls of 0.3 MB of `bench/families.py`
                // documents plus the warm-up, botchan Unigram model).
                debug_assert!(end <= n && base + 255 < units.len());
                let next = base + unsafe { *padded.get_unchecked(end) } as usize;
                let unit = unsafe { *units.get_unchecked(next) };
                if unit.check as usize != node {
                    break;
                }
                end += 1;
                // Branches, not `std::hint::select_unpredictable` on every node of the walk
                // (-inf scores where no piece ends): that took 5M more instructions and was 8%
                // slower for 20% fewer mispredicted branches (botchan Unigram, 0.3 MB of
                // `bench/families.py` documents). Two walks in lockstep (from here and from the
                // next char, ties kept in text order) were 2-5% slower, for 3.7M more
                // instructions: the walk's dependent loads did not overlap as hoped. The first
                // three steps unrolled without a branch on the walk going on (86% of walks end
                // within them; candidates stored with `select_unpredictable`) were no faster:
                // 30.2 / 25.2 / 34.9 / 31.0 MB/s against 31.8 / 35.3 / 39.9 / 32.5 (botchan,
                // 0.5 MB of `bench/families.py` documents x10 from Python, runs alternated).
                // Nor the store below by `select_unpredictable` alone (branch kept on `id`):
                // 5.9M more instructions for 142k fewer mispredicted branches, and the
                // lattice's perf samples against the normalizer's went up 7%.
                if unit.id != NO_ID {
                    let candidate = here + S::of(&unit, scores);
                    // SAFETY: `end <= n` (above); `totals` and `back` have `n + 1` entries.
                    let total = unsafe { totals.get_unchecked_mut(end) };
                    if candidate > *total {
                        *total = candidate;
                        let link = Back {
                            start: start as u32,
                            id: unit.id,
                        };
                        unsafe { back.get_unchecked_mut(end) }.write(link);
                    }
                }
                node = next;
                base = unit.base as usize;
            }
            // The unknown piece of the first char is tried at every position, without a test
            // for a piece of exactly that char: where there is one, the unknown cannot win, as it
            // scores below every piece (the lowest score minus 10), so below that piece's
            // candidate, which the position's holder is at least. Only a model without an
            // unknown piece looks for the piece (held from here, or in the trie) and fails
            // where there is none. The flag "found a piece of one char" it replaced was set at
            // every piece of the walk.
            let target = start + char_len;
            match self.unk {
                Some(unk) => {
                    let candidate = here + unk_score;
                    if candidate > totals[target] {
                        totals[target] = candidate;
                        back[target].write(Back {
                            start: start as u32,
                            id: unk,
                        });
                    }
                }
                // SAFETY: `back` is read where the total is not -inf (see above).
                None if (totals[target] != S::NEG_INFINITY
                    && unsafe { back[target].assume_init() }.start as usize == start)
                    || self.trie.has(&bytes[start..start + char_len]) => {}
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "the Unigram model has no unk_id and no piece covers {:?}",
                        &text[start..start + char_len]
                    )))
                }
            }
            start += char_len;
        }
        if totals[n] == S::NEG_INFINITY {
            // Only scores near `float`'s limits sum to -inf.
            return Err(Error::InvalidVocabulary(
                "the Unigram scores overflow: no segmentation of the text has a finite total".into(),
            ));
        }
        // The links read from here on are those of the best path's positions, all written:
        // the one at `n` (its total is not -inf), and each piece's start, whose total was not
        // -inf when the piece's link was written, so its own link was written before.
        let mut best = PathLinks(&mut back);
        if self.sentencepiece && spans.is_none() {
            self.push_path_backwards(text, best, out);
            return Ok(());
        }
        // The best path is the chain of `start`s back from the end; turned around in place
        // (`start` becomes the end of the next piece) it is read forwards without a path
        // vector. Callgrind of the encode calls (botchan Unigram, 0.3 MB of `bench/families.py`
        // documents): the vector's growth was 12.2M of 90.7M instructions (realloc and copy).
        let (mut end, mut next, mut pieces) = (n, NO_ID, 0usize);
        while end > 0 {
            // SAFETY: `end` is `n` or the start of the path's piece read before.
            let Back { start, id } = unsafe { best.get(end) };
            best.set(end, Back { start: next, id });
            next = end as u32;
            end = start as usize;
            pieces += 1;
        }
        out.reserve(pieces);
        if let Some(spans) = spans.as_deref_mut() {
            spans.reserve(pieces);
        }
        let mut start = 0usize;
        // The path holds no NO_ID, so that stands for "no unknown piece".
        let unk = self.unk.unwrap_or(NO_ID);
        while next != NO_ID {
            let mut end = next as usize;
            // SAFETY (here and below): positions of the path, each set by the loop above.
            let Back { start: after, id } = unsafe { best.get(end) };
            next = after;
            // Consecutive unknowns are one piece.
            if id == unk {
                while next != NO_ID && unsafe { best.get(next as usize) }.id == id {
                    end = next as usize;
                    next = unsafe { best.get(end) }.start;
                }
            }
            let before = out.len();
            // SAFETY: lattice positions are char boundaries: `start` steps by whole chars and a
            // piece (UTF-8) matched from a char boundary ends on one. Checked slicing was 4.9M
            // of the 90.1M instructions of the encode calls (callgrind, botchan Unigram, 0.3 MB
            // of `bench/families.py` documents).
            debug_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
            self.push_piece(unsafe { text.get_unchecked(start..end) }, id, out);
            if let Some(spans) = spans.as_deref_mut() {
                spans.extend(std::iter::repeat_n((start, end), out.len() - before));
            }
            start = end;
        }
        Ok(())
    }

    /// The ids of SentencePiece's best path ending at `best.len() - 1`, pushed in one walk back
    /// along it and then turned around: the walk's loads depend on each other (each piece's
    /// start is the next one's end), and the two walks of the general case (links turned
    /// around in place, then followed forwards) were 15% of the lattice's perf samples (0.5 MB
    /// of `bench/families.py` documents x40 from Python, botchan Unigram).
    fn push_path_backwards(&self, text: &str, best: PathLinks<'_>, out: &mut Vec<u32>) {
        let before = out.len();
        out.reserve(best.0.len() / 2);
        // The path holds no NO_ID, so that stands for "no unknown piece".
        let unk = self.unk.unwrap_or(NO_ID);
        let mut end = best.0.len() - 1;
        while end > 0 {
            // SAFETY (here and below): `end` is `n` or the start of the path's piece read
            // before, as is `start` where it is read.
            let Back { start, id } = unsafe { best.get(end) };
            let mut start = start as usize;
            if id != unk {
                out.push(id);
                end = start;
                continue;
            }
            // Consecutive unknowns are one piece (`PopulateSentencePieceText`), spelled by its
            // bytes' pieces under byte fallback (unk for a byte without one).
            while start > 0 && unsafe { best.get(start) }.id == unk {
                start = unsafe { best.get(start) }.start as usize;
            }
            if self.byte_fallback {
                let bytes = text.as_bytes()[start..end].iter().rev();
                out.extend(bytes.map(|&b| self.byte_ids[b as usize].unwrap_or(unk)));
            } else {
                out.push(unk);
            }
            end = start;
        }
        out[before..].reverse();
    }

    /// HF looks the piece's text up again: a fused unknown run or a piece whose text is listed
    /// twice resolves through the token map, a text not in it through byte fallback, else unk.
    // Inlined: as a call it was 5.7M of the 76.1M instructions of the botchan measurement.
    #[inline(always)]
    fn push_piece(&self, piece: &str, id: u32, out: &mut Vec<u32>) {
        if self.sentencepiece {
            // `PopulateSentencePieceText`: an unknown run becomes its bytes' pieces (or unk for a
            // byte without one) under byte fallback; ids are taken as the lattice found them.
            if Some(id) == self.unk && self.byte_fallback {
                out.extend(piece.bytes().map(|b| self.byte_ids[b as usize].unwrap_or(id)));
            } else {
                out.push(id);
            }
            return;
        }
        if Some(id) != self.unk {
            out.push(self.vocab.id(piece).unwrap_or(id));
            return;
        }
        if let Some(found) = self.vocab.id(piece) {
            out.push(found);
            return;
        }
        if self.byte_fallback && piece.bytes().all(|b| self.byte_ids[b as usize].is_some()) {
            out.extend(piece.bytes().map(|b| self.byte_ids[b as usize].expect("checked")));
            return;
        }
        out.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores whose sums leave the float range give an error, not a path read from links that
    /// were never written.
    #[test]
    fn overflowing_totals_are_an_error() {
        let pieces = vec![("<unk>".to_string(), 0.0), ("a".to_string(), -1e308)];
        let m = Unigram::new(pieces, Some(0), false).unwrap();
        let mut out = Vec::new();
        m.encode("a", &mut out).unwrap();
        assert_eq!(out, [1]);
        let err = m.encode("aaa", &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
    }

    #[test]
    fn viterbi_unknowns_and_byte_fallback() {
        let pieces = [
            ("<unk>", 0.0),
            ("a", -1.0),
            ("b", -1.0),
            ("ab", -1.5),
            ("<0x7A>", -5.0),
        ]
        .map(|(p, s)| (p.to_string(), s))
        .to_vec();
        let m = Unigram::new(pieces.clone(), Some(0), false).unwrap();
        let enc = |m: &Unigram, s: &str| {
            let mut out = Vec::new();
            m.encode(s, &mut out).unwrap();
            out
        };
        assert_eq!(enc(&m, "abab"), [3, 3]);
        assert_eq!(enc(&m, "xyab"), [0, 3], "unknowns are fused");
        let fb = Unigram::new(pieces, Some(0), true).unwrap();
        assert_eq!(enc(&fb, "zab"), [4, 3]);
        assert_eq!(
            enc(&fb, "xzab"),
            [0, 3],
            "a fused run with an uncovered byte is unk"
        );
    }

    #[test]
    fn without_unk_only_an_uncovered_char_is_an_error() {
        // "ab" beats "a" "b", so the position after "b" is held from before "b" when "b" is
        // reached: that must not read as "b" uncovered.
        let pieces = [("a", -1.0), ("b", -1.0), ("ab", -0.5)]
            .map(|(p, s)| (p.to_string(), s))
            .to_vec();
        let m = Unigram::new(pieces, None, false).unwrap();
        let mut out = Vec::new();
        m.encode("abb", &mut out).unwrap();
        assert_eq!(out, [2, 1]);
        assert!(matches!(
            m.encode("abc", &mut out),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn sentencepiece_rules() {
        let pieces = [
            ("<unk>", 0.0),
            ("<s>", 0.0),
            ("a", -1.0),
            ("b", -2.0),
            ("ab", -4.0),
            ("xy", -9.0),
        ]
        .map(|(p, s)| (p.to_string(), s))
        .to_vec();
        // unknown, control, normal x3, user-defined
        let types = [2, 3, 1, 1, 1, PIECE_USER_DEFINED];
        let m = Unigram::sentencepiece(pieces, &types, 0, false).unwrap();
        let mut out = Vec::new();
        m.encode("<s>ab", &mut out).unwrap();
        assert_eq!(out, [0, 2, 3], "control text is not matched; unknowns fuse");
        out.clear();
        m.encode("xyb", &mut out).unwrap();
        assert_eq!(out, [5, 3], "a user-defined piece scores 0.1 * (bytes - 1)");
    }
}
