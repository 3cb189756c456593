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
    /// SentencePiece's arithmetic and unknown-piece rules (see the module notes).
    sentencepiece: bool,
    /// `scores` rounded to `float`, SentencePiece's lattice arithmetic (converted once, not at
    /// every lattice edge).
    scores_f32: Vec<f32>,
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
}

const NO_ID: u32 = u32::MAX;

impl TrieBuilder {
    fn insert(&mut self, key: &[u8], id: u32) {
        if self.ids.is_empty() {
            self.ids.push(NO_ID); // the root
            self.roots = vec![0; 256];
        }
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

    /// The trie with every node's children stored together, sorted by byte, in breadth-first
    /// order.
    fn build(self) -> Trie {
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
        let mut trie = Trie {
            nodes: Vec::with_capacity(count),
            labels: Vec::with_capacity(count),
            roots: Box::new([0; 256]),
            dense: Vec::new(),
        };
        // Breadth first: node `k` of the queue becomes node `k`, its children the next free run.
        let mut queue = vec![(0u8, 0u32)];
        let mut head = 0;
        while head < queue.len() {
            let (label, old) = queue[head];
            let kids = &mut children[old as usize];
            kids.sort_unstable();
            let first = queue.len() as u32;
            let dense = if kids.len() > DENSE_CHILDREN {
                let at = trie.dense.len();
                trie.dense.resize(at + 256, 0);
                for (k, &(byte, _)) in kids.iter().enumerate() {
                    trie.dense[at + byte as usize] = first + k as u32;
                }
                at as u32
            } else {
                NO_ID
            };
            trie.nodes.push(TrieNode {
                first,
                count: kids.len() as u32,
                id: self.ids.get(old as usize).copied().unwrap_or(NO_ID),
                dense,
            });
            trie.labels.push(label);
            queue.extend(kids.iter().copied());
            head += 1;
        }
        let root = trie.nodes[0];
        for k in root.first..root.first + root.count {
            trie.roots[trie.labels[k as usize] as usize] = k;
        }
        trie
    }
}

/// Byte trie of the pieces, children contiguous and sorted (a child is found by scanning or
/// bisecting a few bytes of `labels`, no hashing). Measured against a hash map of
/// `(node, byte) -> child` (perf: 80% of `Unigram::encode` was hash probing) on the botchan
/// Unigram model: see `bench/families.py` in the commit message.
#[derive(Debug, Clone)]
struct Trie {
    nodes: Vec<TrieNode>,
    /// The byte leading to each node.
    labels: Vec<u8>,
    /// The node of each first byte (0: none); boxed to keep `Model` small.
    roots: Box<[u32; 256]>,
    /// 256 child slots (0: none) for each node of more than [`DENSE_CHILDREN`] children, at its
    /// `dense` index: after "▁" a piece continues with hundreds of bytes, and bisecting them was
    /// the hot branch of the lattice. With the 12-byte [`Best`] and `float` scores converted
    /// once: `Unigram::encode` 73.1M -> 70.3M instructions (callgrind, botchan Unigram model,
    /// 0.3 MB of `bench/families.py` documents).
    dense: Vec<u32>,
}

/// Nodes with more children than this get a direct table (see [`Trie::dense`]).
const DENSE_CHILDREN: usize = 16;

#[derive(Debug, Clone, Copy)]
struct TrieNode {
    first: u32,
    count: u32,
    id: u32,
    /// Start of the node's slots in [`Trie::dense`], or `NO_ID`.
    dense: u32,
}

impl Trie {
    #[inline]
    fn child(&self, node: TrieNode, byte: u8) -> Option<u32> {
        if node.dense != NO_ID {
            let child = self.dense[node.dense as usize + byte as usize];
            return (child != 0).then_some(child);
        }
        let (first, count) = (node.first as usize, node.count as usize);
        let labels = &self.labels[first..first + count];
        let at = if count <= 8 {
            labels.iter().position(|&l| l == byte)?
        } else {
            labels.binary_search(&byte).ok()?
        };
        Some((first + at) as u32)
    }

    /// Calls `f(length, id)` for every piece that is a prefix of `text`, shortest first.
    #[inline]
    fn prefixes(&self, text: &[u8], mut f: impl FnMut(usize, u32)) {
        let Some(&first) = text.first() else { return };
        let mut index = self.roots[first as usize];
        let mut len = 1;
        while index != 0 {
            let node = self.nodes[index as usize];
            if node.id != NO_ID {
                f(len, node.id);
            }
            match text.get(len) {
                Some(&b) => {
                    index = match self.child(node, b) {
                        Some(child) => child,
                        None => break,
                    };
                    len += 1;
                }
                None => break,
            }
        }
    }
}

/// The best path found so far to one lattice position: 12 bytes in `float` (SentencePiece), 16
/// in `double` (HF); `id == NO_ID` while no piece reaches it. It was 24 bytes (a `usize` start and
/// a `reached` flag, the total always `f64`).
#[derive(Clone, Copy)]
struct Best<S> {
    score: S,
    start: u32,
    id: u32,
}

/// The arithmetic of lattice totals: SentencePiece sums in `float`, HF in `double`.
trait Total: Copy + PartialOrd + Default + std::ops::Add<Output = Self> + std::ops::Sub<Output = Self> {}

impl Total for f32 {}
impl Total for f64 {}

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
        Ok(Unigram {
            vocab,
            scores,
            unk: unk_id,
            unk_score: min_score - UNK_PENALTY,
            byte_fallback,
            byte_ids,
            trie: trie.build(),
            sentencepiece: false,
            scores_f32: Vec::new(),
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
        model.trie = trie.build();
        model.scores_f32 = scores.iter().map(|&s| s as f32).collect();
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
            self.viterbi(text, &self.scores_f32, self.unk_score as f32, true, out, spans)
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
        let unreached = Best {
            score: S::default(),
            start: 0,
            id: NO_ID,
        };
        let mut best = vec![unreached; n + 1];
        let mut frontier = 0; // the furthest end any piece reached (SentencePiece's rescaling)
        let mut start = 0;
        while start < n {
            let mut here = best[start].score;
            if rescale && here.into().abs() > SPM_RESCALE_AT {
                let offset = here;
                for (i, node) in best.iter_mut().enumerate().take(frontier + 1).skip(start) {
                    if i == start || node.id != NO_ID {
                        node.score = node.score - offset;
                    }
                }
                here = best[start].score;
            }
            let char_len = utf8_char_len(bytes[start]);
            let mut single = false;
            self.trie.prefixes(&bytes[start..], |len, id| {
                let candidate = here + scores[id as usize];
                let node = &mut best[start + len];
                if node.id == NO_ID || candidate > node.score {
                    *node = Best {
                        score: candidate,
                        start: start as u32,
                        id,
                    };
                }
                single |= len == char_len;
                frontier = frontier.max(start + len);
            });
            if !single {
                let unk = self.unk.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the Unigram model has no unk_id and no piece covers {:?}",
                        &text[start..start + char_len]
                    ))
                })?;
                frontier = frontier.max(start + char_len);
                let candidate = here + unk_score;
                let node = &mut best[start + char_len];
                if node.id == NO_ID || candidate > node.score {
                    *node = Best {
                        score: candidate,
                        start: start as u32,
                        id: unk,
                    };
                }
            }
            start += char_len;
        }
        // Back from the end: (start, end, id) of each piece, consecutive unknowns fused.
        let mut path: Vec<(usize, usize, u32)> = Vec::new();
        let mut end = n;
        while end > 0 {
            let node = best[end];
            let node_start = node.start as usize;
            match path.last_mut() {
                Some(last) if Some(node.id) == self.unk && last.2 == node.id => last.0 = node_start,
                _ => path.push((node_start, end, node.id)),
            }
            end = node_start;
        }
        for &(s, e, id) in path.iter().rev() {
            let before = out.len();
            self.push_piece(&text[s..e], id, out);
            if let Some(spans) = spans.as_deref_mut() {
                spans.extend(std::iter::repeat_n((s, e), out.len() - before));
            }
        }
        Ok(())
    }

    #[inline]
    /// HF looks the piece's text up again: a fused unknown run or a piece whose text is listed
    /// twice resolves through the token map, a text not in it through byte fallback, else unk.
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
