//! BPE over characters, as HF's `BPE` model without a `ByteLevel` pre-tokenizer: each character
//! (with the continuing-subword prefix / end-of-word suffix) is a symbol, unknown characters become
//! `<0xNN>` byte tokens (`byte_fallback`) or the unknown token (fused into one when `fuse_unk`),
//! then merges apply lowest rank first, leftmost first.
//!
//! [`CharBpe::sentencepiece`] adapts it to a SentencePiece `.model` file (`bpe_model.cc`):
//! SentencePiece has no merge list, it merges the adjacent pair whose concatenation is the piece
//! of highest score, the leftmost among equal scores. So every merge ranks by its piece's score
//! (equal scores share a rank, and the queue's position order breaks the tie); user-defined
//! pieces are cut out of the text first (longest match, leftmost first) and never merged.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Vocab, WordMemo};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct CharBpeOptions {
    pub unk_token: Option<String>,
    pub continuing_subword_prefix: Option<String>,
    pub end_of_word_suffix: Option<String>,
    pub fuse_unk: bool,
    pub byte_fallback: bool,
    pub ignore_merges: bool,
}

#[derive(Debug, Clone)]
pub struct CharBpe {
    vocab: Vocab,
    /// `(left, right) -> (rank, merged id)`.
    merges: FxHashMap<(u32, u32), (u32, u32)>,
    unk: Option<u32>,
    byte_ids: [Option<u32>; 256],
    options: CharBpeOptions,
    /// Adjacent char pairs inside multi-char tokens; `None` when pieces are never cut (a prefix
    /// or suffix is in use). Between two chars that are no such pair no merge can ever reach, so a
    /// long piece is merged in independent chunks. Measured on 6.9 MB of parity texts with a
    /// Llama-style file (no pre-tokenizer, the whole text is one piece): 2.21 s with one heap per
    /// text, most of it in `BinaryHeap::pop`; see the commit for the chunked time.
    inner_pairs: Option<FxHashSet<(char, char)>>,
    /// SentencePiece user-defined pieces, matched before BPE, with their ids.
    user_defined: Option<(AhoCorasick, Vec<u32>)>,
    /// "▁" is a vocabulary char and no token has it after its first char: then no merge joins
    /// anything to a "▁" on its left, and the unknown-char rules end a pending unknown at
    /// it, so the text encodes as the words that start at each "▁", each on its own (and
    /// memoized, see [`CharBpe::encode_memo`]).
    space_words: bool,
}

/// SentencePiece's (and Metaspace's) escaped space.
const SPACE: char = '\u{2581}';

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    prev: usize,
    next: usize,
    alive: bool,
}

const NONE: usize = usize::MAX;

impl CharBpe {
    /// `merges` are token strings; the merged token is `left + right` without `right`'s
    /// continuing-subword prefix, as HF builds it. A later duplicate merge overrides an earlier.
    pub fn new(vocab: Vocab, merges: &[(String, String)], options: CharBpeOptions) -> Result<Self> {
        let prefix_len = options.continuing_subword_prefix.as_ref().map_or(0, String::len);
        let lookup = |t: &str| {
            vocab.id(t).ok_or_else(|| {
                Error::InvalidVocabulary(format!("merge token {t:?} is not in the vocabulary"))
            })
        };
        let mut map = FxHashMap::default();
        for (rank, (a, b)) in merges.iter().enumerate() {
            let rest = b.get(prefix_len..).ok_or_else(|| {
                Error::InvalidVocabulary(format!(
                    "merge {a:?} {b:?}: {b:?} is shorter than the continuing-subword prefix"
                ))
            })?;
            let merged = lookup(&format!("{a}{rest}"))?;
            map.insert((lookup(a)?, lookup(b)?), (rank as u32, merged));
        }
        let unk = match &options.unk_token {
            Some(t) => Some(vocab.id(t).ok_or_else(|| {
                Error::InvalidVocabulary(format!("unk_token {t:?} is not in the vocabulary"))
            })?),
            None => None,
        };
        let byte_ids = vocab.byte_fallback_ids();
        let inner_pairs = (options.continuing_subword_prefix.is_none()
            && options.end_of_word_suffix.is_none())
        .then(|| {
            let mut pairs = FxHashSet::default();
            for (token, _) in vocab.entries() {
                let mut chars = token.chars();
                if let Some(mut prev) = chars.next() {
                    for c in chars {
                        pairs.insert((prev, c));
                        prev = c;
                    }
                }
            }
            pairs
        });
        let space_words = inner_pairs.is_some()
            && !options.ignore_merges
            && vocab.id(SPACE.encode_utf8(&mut [0; 4])).is_some()
            && vocab
                .entries()
                .all(|(token, _)| !token.chars().skip(1).any(|c| c == SPACE));
        Ok(CharBpe {
            vocab,
            merges: map,
            unk,
            byte_ids,
            options,
            inner_pairs,
            user_defined: None,
            space_words,
        })
    }

    /// SentencePiece's merge order and user-defined pieces (see the module notes): `scores` are
    /// the piece scores by id, `user_defined` the ids of the user-defined pieces.
    pub fn sentencepiece(mut self, scores: &[f32], user_defined: &[u32]) -> Result<Self> {
        let score_of = |id: u32| {
            scores.get(id as usize).copied().ok_or_else(|| {
                Error::InvalidVocabulary(format!("no score for piece {id} ({} scores)", scores.len()))
            })
        };
        let mut distinct: Vec<f32> = Vec::with_capacity(self.merges.len());
        for &(_, merged) in self.merges.values() {
            distinct.push(score_of(merged)?);
        }
        distinct.sort_unstable_by(|a, b| b.total_cmp(a));
        distinct.dedup();
        for (_, (rank, merged)) in self.merges.iter_mut() {
            let score = scores[*merged as usize];
            *rank = distinct.partition_point(|&s| s > score) as u32;
        }
        if !user_defined.is_empty() {
            let texts = user_defined
                .iter()
                .map(|&id| {
                    self.vocab.token(id).map(str::to_owned).ok_or_else(|| {
                        Error::InvalidVocabulary(format!("user-defined piece {id} is not in the vocabulary"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let matcher = AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&texts)
                .map_err(|e| Error::InvalidVocabulary(format!("user-defined pieces: {e}")))?;
            self.user_defined = Some((matcher, user_defined.to_vec()));
        }
        Ok(self)
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn options(&self) -> &CharBpeOptions {
        &self.options
    }

    /// `(left, right, rank)` of every merge, in rank order.
    pub fn merges(&self) -> Vec<(u32, u32)> {
        let mut m: Vec<_> = self.merges.iter().map(|(&(a, b), &(r, _))| (r, a, b)).collect();
        m.sort_unstable();
        m.into_iter().map(|(_, a, b)| (a, b)).collect()
    }

    pub fn encode(&self, word: &str, out: &mut Vec<u32>) {
        self.encode_impl::<false>(word, out, &mut Vec::new(), None);
    }

    /// [`CharBpe::encode`] with a memo of words (with `space_words`: the text from one "▁" to
    /// the next). Callgrind of the `encode` calls of `bench/families.py` documents (0.3 MB plus
    /// the warm-up, botchan BPE model): `CharBpe::encode` 151.5M -> 136.4M instructions with
    /// the memo filled only by those documents (UDHR texts in hundreds of languages repeat
    /// few words); text seen before costs a hash lookup per word.
    pub fn encode_memo(&self, word: &str, out: &mut Vec<u32>, memo: &mut WordMemo) {
        self.encode_impl::<false>(word, out, &mut Vec::new(), Some(memo));
    }

    /// [`CharBpe::encode`], also pushing each token's byte span in `word` onto `spans` (HF's
    /// token offsets: a char counts its bytes, a byte-fallback token one byte, an unknown token
    /// the chars it stands for, wherever HF's order puts it; a user-defined piece its match).
    pub fn encode_with_spans(&self, word: &str, out: &mut Vec<u32>, spans: &mut Vec<(usize, usize)>) {
        self.encode_impl::<true>(word, out, spans, None);
    }

    // `SPANS` is a constant so that the plain encode compiles without the span bookkeeping.
    fn encode_impl<const SPANS: bool>(
        &self,
        word: &str,
        out: &mut Vec<u32>,
        spans: &mut Vec<(usize, usize)>,
        mut memo: Option<&mut WordMemo>,
    ) {
        let Some((matcher, ids)) = &self.user_defined else {
            return self.encode_segment::<SPANS>(word, 0, out, spans, memo);
        };
        let mut done = 0;
        for m in matcher.find_iter(word) {
            self.encode_segment::<SPANS>(&word[done..m.start()], done, out, spans, memo.as_deref_mut());
            out.push(ids[m.pattern().as_usize()]);
            if SPANS {
                spans.push((m.start(), m.end()));
            }
            done = m.end();
        }
        self.encode_segment::<SPANS>(&word[done..], done, out, spans, memo);
    }

    /// [`CharBpe::encode_word`], word by word through `memo` when there is one.
    fn encode_segment<const SPANS: bool>(
        &self,
        text: &str,
        base: usize,
        out: &mut Vec<u32>,
        spans: &mut Vec<(usize, usize)>,
        memo: Option<&mut WordMemo>,
    ) {
        let Some(memo) = memo.filter(|_| self.space_words && !SPANS) else {
            return self.encode_word::<SPANS>(text, base, out, spans);
        };
        let mut word_start = 0;
        let mut encode = |word: &str, out: &mut Vec<u32>| {
            if word.len() > WordMemo::MAX_WORD {
                return self.encode_word::<false>(word, 0, out, &mut Vec::new());
            }
            if let Some(ids) = memo.get(word) {
                out.extend_from_slice(ids);
                return;
            }
            let before = out.len();
            self.encode_word::<false>(word, 0, out, &mut Vec::new());
            memo.insert(word, &out[before..]);
        };
        for (at, _) in text.match_indices(SPACE) {
            if at > word_start {
                encode(&text[word_start..at], out);
            }
            word_start = at;
        }
        encode(&text[word_start..], out);
    }

    /// Encodes `word` (which starts at byte `base` of the encoded text, for the spans).
    fn encode_word<const SPANS: bool>(
        &self,
        word: &str,
        base: usize,
        out: &mut Vec<u32>,
        spans: &mut Vec<(usize, usize)>,
    ) {
        if word.is_empty() {
            return;
        }
        if self.options.ignore_merges {
            if let Some(id) = self.vocab.id(word) {
                out.push(id);
                if SPANS {
                    spans.push((base, base + word.len()));
                }
                return;
            }
        }
        // With SPANS: where each symbol starts in `word` by HF's count (plus the end).
        let mut starts: Vec<usize> = Vec::new();
        let mut at = 0usize;
        let mut advance = |starts: &mut Vec<usize>, len: usize| {
            if SPANS {
                starts.push(at);
                at += len;
            }
        };
        // Each symbol with the char it spells when it is a plain vocabulary char (else None).
        let mut symbols: Vec<(u32, Option<char>)> = Vec::with_capacity(word.len());
        let push = |symbols: &mut Vec<(u32, Option<char>)>, id: u32| symbols.push((id, None));
        let prefix = self.options.continuing_subword_prefix.as_deref();
        let suffix = self.options.end_of_word_suffix.as_deref();
        let mut buf = String::new();
        // HF keeps a pending unknown token and adds it before the next known character, so a
        // byte-fallback run can precede an earlier unknown (reproduced exactly).
        let mut unk_pending = false;
        let mut unk_len = 0usize;
        let mut chars = word.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let last = chars.peek().is_none();
            let s: &str = if (i > 0 && prefix.is_some()) || (last && suffix.is_some()) {
                buf.clear();
                if i > 0 {
                    buf.push_str(prefix.unwrap_or(""));
                }
                buf.push(c);
                if last {
                    buf.push_str(suffix.unwrap_or(""));
                }
                &buf
            } else {
                &word[i..i + c.len_utf8()]
            };
            if let Some(id) = self.vocab.id(s) {
                if unk_pending {
                    push(&mut symbols, self.unk.expect("pending unk implies an unk id"));
                    advance(&mut starts, unk_len);
                    unk_pending = false;
                    unk_len = 0;
                }
                symbols.push((id, Some(c)));
                advance(&mut starts, c.len_utf8());
                continue;
            }
            if self.options.byte_fallback && s.bytes().all(|b| self.byte_ids[b as usize].is_some()) {
                for b in s.bytes() {
                    push(&mut symbols, self.byte_ids[b as usize].expect("checked"));
                    advance(&mut starts, 1);
                }
                continue;
            }
            if let Some(unk) = self.unk {
                if unk_pending && !self.options.fuse_unk {
                    push(&mut symbols, unk);
                    advance(&mut starts, unk_len);
                    unk_len = 0;
                }
                unk_pending = true;
                unk_len += c.len_utf8();
            }
        }
        if unk_pending {
            push(&mut symbols, self.unk.expect("pending unk implies an unk id"));
            advance(&mut starts, unk_len);
        }
        advance(&mut starts, 0);
        let mut chunk: Vec<Symbol> = Vec::new();
        let mut start = 0;
        for end in 1..=symbols.len() {
            let cut = end == symbols.len()
                || match (&self.inner_pairs, symbols[end - 1].1, symbols[end].1) {
                    (Some(pairs), Some(a), Some(b)) => !pairs.contains(&(a, b)),
                    _ => false,
                };
            if !cut {
                continue;
            }
            chunk.clear();
            chunk.extend(
                symbols[start..end]
                    .iter()
                    .enumerate()
                    .map(|(i, &(id, _))| Symbol {
                        id,
                        prev: if i == 0 { NONE } else { i - 1 },
                        next: if start + i + 1 == end { NONE } else { i + 1 },
                        alive: true,
                    }),
            );
            self.merge_all(&mut chunk);
            out.extend(chunk.iter().filter(|s| s.alive).map(|s| s.id));
            if SPANS {
                // A merged symbol keeps its index and spans the symbols up to the next alive one.
                for (i, sym) in chunk.iter().enumerate().filter(|(_, s)| s.alive) {
                    let next = if sym.next == NONE { end } else { start + sym.next };
                    spans.push((base + starts[start + i], base + starts[next]));
                }
            }
            start = end;
        }
    }

    /// Lowest rank first, leftmost first among equal ranks (HF's `Word::merge_all`).
    fn merge_all(&self, symbols: &mut [Symbol]) {
        if symbols.len() < 2 {
            return;
        }
        let mut queue: BinaryHeap<Reverse<(u32, usize, u32)>> = symbols
            .windows(2)
            .enumerate()
            .filter_map(|(pos, w)| {
                self.merges
                    .get(&(w[0].id, w[1].id))
                    .map(|&(rank, new)| Reverse((rank, pos, new)))
            })
            .collect();
        while let Some(Reverse((_, pos, new_id))) = queue.pop() {
            let sym = symbols[pos];
            if !sym.alive || sym.next == NONE {
                continue;
            }
            let right = symbols[sym.next];
            match self.merges.get(&(sym.id, right.id)) {
                Some(&(_, id)) if id == new_id => {}
                _ => continue, // a stale entry: one side has merged since
            }
            symbols[pos].id = new_id;
            symbols[pos].next = right.next;
            symbols[sym.next].alive = false;
            if right.next != NONE {
                symbols[right.next].prev = pos;
            }
            if sym.prev != NONE {
                let prev = symbols[sym.prev];
                if let Some(&(rank, id)) = self.merges.get(&(prev.id, new_id)) {
                    queue.push(Reverse((rank, sym.prev, id)));
                }
            }
            if right.next != NONE {
                if let Some(&(rank, id)) = self.merges.get(&(new_id, symbols[right.next].id)) {
                    queue.push(Reverse((rank, pos, id)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(options: CharBpeOptions) -> CharBpe {
        let vocab: Vec<(String, u32)> = ["<unk>", "a", "b", "c", "ab", "abc", "<0x78>", "▁", "▁a"]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        let merges = [("a", "b"), ("ab", "c"), ("▁", "a")].map(|(a, b)| (a.to_string(), b.to_string()));
        CharBpe::new(Vocab::new(vocab).unwrap(), &merges, options).unwrap()
    }

    fn enc(m: &CharBpe, s: &str) -> Vec<u32> {
        let mut out = Vec::new();
        m.encode(s, &mut out);
        out
    }

    #[test]
    fn merges_unknowns_and_byte_fallback() {
        let plain = model(CharBpeOptions {
            unk_token: Some("<unk>".into()),
            ..Default::default()
        });
        assert_eq!(enc(&plain, "abc▁a"), [5, 8]);
        assert_eq!(enc(&plain, "zzab"), [0, 0, 4]);
        let fused = model(CharBpeOptions {
            unk_token: Some("<unk>".into()),
            fuse_unk: true,
            byte_fallback: true,
            ..Default::default()
        });
        assert_eq!(
            enc(&fused, "zzxab"),
            [6, 0, 4],
            "the pending unk follows the byte run, as in HF"
        );
    }

    #[test]
    fn sentencepiece_merges_by_score_and_keeps_user_defined_whole() {
        // The merge list says "a b" first, but "bc" scores higher.
        let merges = [("a", "b"), ("b", "c")].map(|(a, b)| (a.to_string(), b.to_string()));
        let options = CharBpeOptions {
            unk_token: Some("<unk>".into()),
            fuse_unk: true,
            ..Default::default()
        };
        let m = CharBpe::new(spm_vocab(), &merges, options).unwrap();
        assert_eq!(enc(&m, "abc"), [4, 3]);
        let scores = [0.0, -1.0, -1.0, -1.0, -3.0, -2.0, 0.0];
        let spm = m.clone().sentencepiece(&scores, &[6]).unwrap();
        assert_eq!(enc(&spm, "abc"), [1, 5]);
        assert_eq!(enc(&spm, "abUbc"), [4, 6, 5]);
        let tied = [0.0, -1.0, -1.0, -1.0, -2.0, -2.0, 0.0];
        let spm = m.sentencepiece(&tied, &[]).unwrap();
        assert_eq!(enc(&spm, "abc"), [4, 3], "equal scores: the leftmost pair merges");
    }

    fn spm_vocab() -> Vocab {
        let vocab: Vec<(String, u32)> = ["<unk>", "a", "b", "c", "ab", "bc", "U"]
            .iter()
            .enumerate()
            .map(|(i, t)| (t.to_string(), i as u32))
            .collect();
        Vocab::new(vocab).unwrap()
    }
}
