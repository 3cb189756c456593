//! Trainers. A trainer is a mutable builder fed with piece counts (see [`crate::count`]) that emits
//! merges and new tokens; the caller freezes the result into a tokenizer.

pub mod bpe;
pub mod heap;
mod replay;

pub use bpe::{BpeTrainer, TrainOptions};
pub mod unigram;

pub use unigram::{train_unigram, UnigramModel, UnigramOptions};
pub mod less_is_better;

pub use less_is_better::{train_lib, LibLexicon, LibOptions};
