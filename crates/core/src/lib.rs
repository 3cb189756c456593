//! tokenforge's engine: byte-level BPE with exact tiktoken semantics, and every HF `tokenizers`
//! model family (character BPE, Unigram, WordPiece, WordLevel) with its pipeline components.
//!
//! Pure Rust (no Python types), so it is tested with `cargo test` and benchmarked without an
//! interpreter. The pipeline is special-token split -> normalize -> pre-tokenize -> model -> ids;
//! training is the same front half (split -> normalize -> pre-tokenize -> count, in [`count`])
//! feeding a trainer ([`train`]).

mod backtrack;
pub mod bpe;
mod bytelevel;
mod cache;
pub mod charclass;
pub mod config;
pub mod count;
pub mod decoders;
pub mod error;
pub mod healing;
pub mod model;
pub mod normalize;
pub mod offsets;
pub mod pool;
pub mod presets;
pub mod pretokenize;
mod pretokenize_scripts;
pub mod special;
pub mod split_regex;
pub mod tiktoken_file;
pub mod tokenizer;
pub mod train;

pub use bpe::Bpe;
pub use count::{Counter, PieceCounts};
pub use error::{Error, Result};
pub use normalize::Normalizer;
pub use pretokenize::{PreTokenizer, SplitBehavior, Step};
pub use special::{MatchFlags, SpecialRule, SpecialSet, SpecialTokens};
pub use tokenizer::{FlatBatch, Tokenizer};
pub use train::{
    train_lib, train_unigram, BpeTrainer, LibLexicon, LibOptions, TrainOptions, UnigramModel, UnigramOptions,
};
