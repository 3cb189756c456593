//! Text normalizers applied to each segment between special tokens, before pre-tokenization
//! (HF's `normalizer`). Only the ones byte-level models use are implemented.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalizer {
    Nfc,
    Nfd,
    Nfkc,
    Nfkd,
    Lowercase,
}

impl Normalizer {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "nfc" => Self::Nfc,
            "nfd" => Self::Nfd,
            "nfkc" => Self::Nfkc,
            "nfkd" => Self::Nfkd,
            "lowercase" => Self::Lowercase,
            _ => return None,
        })
    }

    pub fn apply<'a>(&self, text: Cow<'a, str>) -> Cow<'a, str> {
        match self {
            // Most real text is already NFC: the quick check avoids a copy.
            Normalizer::Nfc if is_nfc_quick(text.chars()) == IsNormalized::Yes => text,
            Normalizer::Nfc => Cow::Owned(text.nfc().collect()),
            Normalizer::Nfd => Cow::Owned(text.nfd().collect()),
            Normalizer::Nfkc => Cow::Owned(text.nfkc().collect()),
            Normalizer::Nfkd => Cow::Owned(text.nfkd().collect()),
            Normalizer::Lowercase if !text.chars().any(char::is_uppercase) => text,
            // Char by char, as HF does (no context-dependent final sigma).
            Normalizer::Lowercase => Cow::Owned(text.chars().flat_map(char::to_lowercase).collect()),
        }
    }
}

/// Applies a sequence of normalizers in order.
pub fn normalize<'a>(normalizers: &[Normalizer], text: &'a str) -> Cow<'a, str> {
    normalizers.iter().fold(Cow::Borrowed(text), |t, n| n.apply(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfc_composes_and_borrows_when_already_normal() {
        assert_eq!(normalize(&[Normalizer::Nfc], "e\u{301}"), "\u{e9}");
        assert!(matches!(normalize(&[Normalizer::Nfc], "plain"), Cow::Borrowed(_)));
        assert_eq!(normalize(&[Normalizer::Nfkc, Normalizer::Lowercase], "ＡB"), "ab");
    }
}
