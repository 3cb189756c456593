//! WordLevel: each piece is one token, or the unknown token.

use super::Vocab;
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct WordLevel {
    vocab: Vocab,
    unk_token: String,
    unk: Option<u32>,
}

impl WordLevel {
    pub fn new(vocab: Vocab, unk_token: String) -> Self {
        let unk = vocab.id(&unk_token);
        WordLevel {
            vocab,
            unk_token,
            unk,
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn unk_token(&self) -> &str {
        &self.unk_token
    }

    pub fn encode(&self, word: &str, out: &mut Vec<u32>) -> Result<()> {
        match self.vocab.id(word).or(self.unk) {
            Some(id) => {
                out.push(id);
                Ok(())
            }
            None => Err(Error::InvalidArgument(format!(
                "{word:?} is not in the WordLevel vocabulary and its unk_token {:?} is not either",
                self.unk_token
            ))),
        }
    }
}
