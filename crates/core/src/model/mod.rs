//! Models: what turns one pre-tokenized piece into ids.
//!
//! One enum rather than a trait object, so the byte-level BPE variant keeps its monomorphic,
//! cached hot loop in [`crate::tokenizer`] (one predictable branch per piece) while the other
//! families share the same special-split -> normalize -> pre-tokenize pipeline. Every variant
//! follows HF `tokenizers` 0.23 exactly (ids, unknown-token and byte-fallback rules).

mod char_bpe;
pub mod hybrid;
mod unigram;
mod wordlevel;
mod wordpiece;

pub use char_bpe::{CharBpe, CharBpeOptions};
pub use hybrid::Hybrid;
pub use unigram::{Unigram, PIECE_BYTE, PIECE_CONTROL, PIECE_NORMAL, PIECE_UNKNOWN, PIECE_USER_DEFINED};
pub use wordlevel::WordLevel;
pub use wordpiece::WordPiece;

use rustc_hash::FxHashMap;

use crate::bpe::Bpe;
use crate::cache::{allocation_bytes, map_bytes, Reservation};
use crate::error::{Error, Result};

/// A tokenization model.
#[derive(Debug, Clone)]
pub enum Model {
    /// Byte-level BPE over raw bytes (tiktoken and HF `ByteLevel` models).
    ByteLevel(Bpe),
    /// BPE over characters (SentencePiece-style, with `<0xNN>` byte fallback, or classic
    /// `</w>` / `##` word-piece BPE).
    Bpe(CharBpe),
    Unigram(Unigram),
    WordPiece(WordPiece),
    WordLevel(WordLevel),
}

impl Model {
    /// HF's name of the model type (`"BPE"`, `"Unigram"`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Model::ByteLevel(_) | Model::Bpe(_) => "BPE",
            Model::Unigram(_) => "Unigram",
            Model::WordPiece(_) => "WordPiece",
            Model::WordLevel(_) => "WordLevel",
        }
    }

    /// The string vocabulary of a non-byte-level model.
    pub fn vocab(&self) -> Option<&Vocab> {
        match self {
            Model::ByteLevel(_) => None,
            Model::Bpe(m) => Some(m.vocab()),
            Model::Unigram(m) => Some(m.vocab()),
            Model::WordPiece(m) => Some(m.vocab()),
            Model::WordLevel(m) => Some(m.vocab()),
        }
    }

    /// Encodes one piece of a non-byte-level model, appending ids to `out`.
    pub fn encode_str(&self, piece: &str, out: &mut Vec<u32>) -> Result<()> {
        match self {
            Model::ByteLevel(bpe) => {
                bpe.encode_piece(piece.as_bytes(), out);
                Ok(())
            }
            Model::Bpe(m) => {
                m.encode(piece, out);
                Ok(())
            }
            Model::Unigram(m) => m.encode(piece, out),
            Model::WordPiece(m) => m.encode(piece, out),
            Model::WordLevel(m) => m.encode(piece, out),
        }
    }

    /// [`Model::encode_str`] with the caller's word memo (used by character BPE).
    pub fn encode_str_memo(&self, piece: &str, out: &mut Vec<u32>, memo: &mut WordMemo) -> Result<()> {
        match self {
            Model::Bpe(m) => {
                m.encode_memo(piece, out, memo);
                Ok(())
            }
            other => other.encode_str(piece, out),
        }
    }

    /// [`Model::encode_str`], also pushing each token's byte span in `piece` onto `spans`, as
    /// HF's model gives it (byte-level BPE: the token's bytes).
    pub fn encode_str_with_spans(
        &self,
        piece: &str,
        out: &mut Vec<u32>,
        spans: &mut Vec<(usize, usize)>,
    ) -> Result<()> {
        let before = out.len();
        match self {
            Model::Bpe(m) => {
                m.encode_with_spans(piece, out, spans);
                return Ok(());
            }
            Model::Unigram(m) => return m.encode_with_spans(piece, out, spans),
            Model::WordPiece(m) => return m.encode_with_spans(piece, out, spans),
            Model::ByteLevel(_) | Model::WordLevel(_) => self.encode_str(piece, out)?,
        }
        if let Model::ByteLevel(_) = self {
            let mut at = 0;
            for &id in &out[before..] {
                let len = self.token_bytes(id).map_or(0, <[u8]>::len);
                spans.push((at, at + len));
                at += len;
            }
        } else {
            spans.push((0, piece.len()));
        }
        Ok(())
    }

    /// One past the highest model id.
    pub fn id_space(&self) -> usize {
        match self {
            Model::ByteLevel(bpe) => bpe.id_space(),
            other => other.vocab().map_or(0, Vocab::id_space),
        }
    }

    /// Bytes of a model token: raw bytes for byte-level BPE, the vocabulary string's UTF-8 else.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        match self {
            Model::ByteLevel(bpe) => bpe.token_bytes(id),
            other => other.vocab()?.token(id).map(str::as_bytes),
        }
    }
}

/// Ids of whole words already encoded, for models whose words encode independently of each
/// other (see `CharBpe::encode_memo`); one per cache slot of a tokenizer, so never shared. Its
/// entries count against the tokenizer's memo budget (`TOKENFORGE_MEMO_MB`) like the piece
/// memo's: when the budget is spent it empties itself and starts over.
#[derive(Debug)]
pub struct WordMemo {
    words: FxHashMap<Box<str>, Box<[u32]>>,
    /// Heap bytes of the boxed keys and ids (see `allocation_bytes`).
    entry_bytes: usize,
    reservation: Reservation,
}

impl WordMemo {
    /// Entries kept (then it starts over); words longer than [`WordMemo::MAX_WORD`] bytes are
    /// not kept. At most ~8 MiB, and never more than the budget gives.
    const MAX_WORDS: usize = 1 << 16;
    pub(crate) const MAX_WORD: usize = 48;

    pub(crate) fn new(reservation: Reservation) -> Self {
        WordMemo {
            words: FxHashMap::default(),
            entry_bytes: 0,
            reservation,
        }
    }

    #[inline]
    pub(crate) fn get(&self, word: &str) -> Option<&[u32]> {
        self.words.get(word).map(|ids| &ids[..])
    }

    pub(crate) fn insert(&mut self, word: &str, ids: &[u32]) {
        if self.words.len() >= Self::MAX_WORDS {
            self.clear();
        }
        self.words.insert(word.into(), ids.into());
        self.entry_bytes += allocation_bytes(word.len()) + allocation_bytes(4 * ids.len());
        if !self.reservation.cover(self.footprint()) {
            self.clear();
        }
    }

    /// Estimated heap bytes: the map's buckets (two boxed slices, 32 bytes) and the entries.
    pub(crate) fn footprint(&self) -> usize {
        map_bytes(self.words.capacity(), 32) + self.entry_bytes
    }

    #[cfg(test)]
    pub(crate) fn reserved(&self) -> usize {
        self.reservation.reserved()
    }

    fn clear(&mut self) {
        self.words = FxHashMap::default();
        self.entry_bytes = 0;
        self.reservation.release_all();
    }
}

/// A string vocabulary: id <-> token string, ids possibly with holes.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    by_id: Vec<Option<Box<str>>>,
    ids: FxHashMap<Box<str>, u32>,
    len: usize,
}

impl Vocab {
    /// Entries `(token, id)`. A token listed twice keeps its last id (as a JSON object or HF's
    /// list-to-map conversion does); two tokens with one id are an error.
    pub fn new(entries: Vec<(String, u32)>) -> Result<Self> {
        let max = entries.iter().map(|(_, id)| *id as usize).max().unwrap_or(0);
        if max > 4 * entries.len() + (1 << 20) {
            return Err(Error::InvalidVocabulary(format!(
                "id {max} is far beyond the vocabulary size {}",
                entries.len()
            )));
        }
        let mut by_id: Vec<Option<Box<str>>> = vec![None; if entries.is_empty() { 0 } else { max + 1 }];
        let mut ids = FxHashMap::default();
        for (token, id) in entries {
            let token: Box<str> = token.into();
            if let Some(old) = ids.insert(token.clone(), id) {
                by_id[old as usize] = None;
            }
            let slot = &mut by_id[id as usize];
            if let Some(other) = slot {
                return Err(Error::InvalidVocabulary(format!(
                    "tokens {other:?} and {token:?} share id {id}"
                )));
            }
            *slot = Some(token);
        }
        let len = ids.len();
        Ok(Vocab { by_id, ids, len })
    }

    /// A vocabulary whose ids are list positions (HF Unigram); a repeated token is found by its
    /// last id but every id keeps its own string.
    pub fn from_list(tokens: Vec<String>) -> Self {
        let mut ids = FxHashMap::default();
        let by_id: Vec<Option<Box<str>>> = tokens
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let t: Box<str> = t.into();
                ids.insert(t.clone(), i as u32);
                Some(t)
            })
            .collect();
        let len = by_id.len();
        Vocab { by_id, ids, len }
    }

    #[inline]
    pub fn id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    #[inline]
    pub fn token(&self, id: u32) -> Option<&str> {
        self.by_id.get(id as usize)?.as_deref()
    }

    pub fn id_space(&self) -> usize {
        self.by_id.len()
    }

    /// Number of tokens (HF's `get_vocab_size` of the model).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(token, id)` in id order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u32)> {
        self.by_id
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_deref().map(|t| (t, i as u32)))
    }

    /// The ids of the 256 byte-fallback tokens `<0x00>`..`<0xFF>`, where present.
    fn byte_fallback_ids(&self) -> [Option<u32>; 256] {
        let mut out = [None; 256];
        for (b, slot) in out.iter_mut().enumerate() {
            *slot = self.id(&format!("<0x{b:02X}>"));
        }
        out
    }
}
