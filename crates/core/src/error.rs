//! Errors of the core. Every fallible entry point returns `Result<_, Error>`; the Python binding maps
//! each variant to one exception class, so no failure is ever a panic.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The vocabulary, merges or special-token table is inconsistent.
    InvalidVocabulary(String),
    /// A pre-tokenization pattern does not compile.
    InvalidPattern(String),
    /// The regex engine gave up on an input (backtracking limit).
    PatternFailure(String),
    /// Text contains a special token the caller did not allow.
    DisallowedSpecial { token: String, position: usize },
    /// An id that is not in the vocabulary.
    InvalidTokenId(u32),
    /// A configuration value is out of range (e.g. thread count).
    InvalidArgument(String),
    /// Training input is unusable: a corrupt or truncated counts file, an empty corpus.
    Corpus(String),
    /// Reading or writing a stream failed.
    Io(String),
    /// A pipeline component or option that the engine does not implement.
    Unsupported(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidVocabulary(m) => write!(f, "invalid vocabulary: {m}"),
            Error::InvalidPattern(m) => write!(f, "invalid pre-tokenization pattern: {m}"),
            Error::PatternFailure(m) => write!(f, "pre-tokenization failed: {m}"),
            Error::DisallowedSpecial { token, position } => write!(
                f,
                "text contains the special token {token:?} at byte {position}, which this call does not allow"
            ),
            Error::InvalidTokenId(id) => write!(f, "token id {id} is not in the vocabulary"),
            Error::InvalidArgument(m) => write!(f, "{m}"),
            Error::Corpus(m) => write!(f, "{m}"),
            Error::Io(m) => write!(f, "I/O error: {m}"),
            Error::Unsupported(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
