//! Unigram language model (SentencePiece / HF `Unigram`): the segmentation of highest total score
//! (Viterbi over byte positions), characters no piece covers scoring as the unknown token
//! (`min score - 10`, HF's `K_UNK_PENALTY`), consecutive unknowns fused, and pieces missing from
//! the vocabulary spelled as `<0xNN>` byte tokens when `byte_fallback` is on.

use rustc_hash::FxHashMap;

use super::Vocab;
use crate::error::{Error, Result};

const UNK_PENALTY: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct Unigram {
    vocab: Vocab,
    scores: Vec<f64>,
    unk: Option<u32>,
    unk_score: f64,
    byte_fallback: bool,
    byte_ids: [Option<u32>; 256],
    trie: Trie,
}

/// Byte trie of the pieces: `(node, byte) -> child` in one hash map, `node -> id` at piece ends.
#[derive(Debug, Clone, Default)]
struct Trie {
    edges: FxHashMap<u64, u32>,
    /// First byte from the root, without hashing.
    roots: Vec<u32>,
    ids: Vec<u32>,
    max_len: usize,
}

const NO_ID: u32 = u32::MAX;

impl Trie {
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

    /// Calls `f(length, id)` for every piece that is a prefix of `text`, shortest first.
    #[inline]
    fn prefixes(&self, text: &[u8], mut f: impl FnMut(usize, u32)) {
        let Some(&first) = text.first() else { return };
        if self.roots.is_empty() {
            return;
        }
        let mut node = self.roots[first as usize];
        let mut len = 1;
        while node != 0 {
            let id = self.ids[node as usize];
            if id != NO_ID {
                f(len, id);
            }
            match text.get(len) {
                Some(&b) => {
                    node = self
                        .edges
                        .get(&((node as u64) << 8 | b as u64))
                        .copied()
                        .unwrap_or(0);
                    len += 1;
                }
                None => break,
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Best {
    score: f64,
    start: usize,
    id: u32,
    reached: bool,
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
        let mut trie = Trie::default();
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
            trie,
        })
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
        mut spans: Option<&mut Vec<(usize, usize)>>,
    ) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let bytes = text.as_bytes();
        let n = bytes.len();
        let mut best = vec![
            Best {
                score: 0.0,
                start: 0,
                id: 0,
                reached: false
            };
            n + 1
        ];
        let mut start = 0;
        while start < n {
            let here = best[start].score;
            let char_len = utf8_len(bytes[start]);
            let mut single = false;
            self.trie.prefixes(&bytes[start..], |len, id| {
                let candidate = here + self.scores[id as usize];
                let node = &mut best[start + len];
                if !node.reached || candidate > node.score {
                    *node = Best {
                        score: candidate,
                        start,
                        id,
                        reached: true,
                    };
                }
                single |= len == char_len;
            });
            if !single {
                let unk = self.unk.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "the Unigram model has no unk_id and no piece covers {:?}",
                        &text[start..start + char_len]
                    ))
                })?;
                let candidate = here + self.unk_score;
                let node = &mut best[start + char_len];
                if !node.reached || candidate > node.score {
                    *node = Best {
                        score: candidate,
                        start,
                        id: unk,
                        reached: true,
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
            match path.last_mut() {
                Some(last) if Some(node.id) == self.unk && last.2 == node.id => last.0 = node.start,
                _ => path.push((node.start, end, node.id)),
            }
            end = node.start;
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

    /// HF looks the piece's text up again: a fused unknown run or a piece whose text is listed
    /// twice resolves through the token map, a text not in it through byte fallback, else unk.
    fn push_piece(&self, piece: &str, id: u32, out: &mut Vec<u32>) {
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

#[inline]
fn utf8_len(first: u8) -> usize {
    match first {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
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
}
