//! Decoders: token strings back to text, as HF's `decoder` chain (`decode_chain` on the list of
//! token strings, then concatenation). Byte-level models decode their raw bytes instead.

use std::borrow::Cow;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::Result;
use crate::normalize::replace;
use crate::split_regex::SplitRegex as Regex;

#[derive(Debug, Clone)]
pub enum Decoder {
    /// Byte-level alphabet chars back to bytes, then lossy UTF-8 (for a chain over string tokens).
    ByteLevel,
    /// Replacement char back to space; the first token loses it unless `prepend_scheme: never`.
    Metaspace {
        replacement: char,
        strip_first: bool,
    },
    /// Non-initial tokens: prefix stripped, or a space added before them; optional cleanup.
    WordPiece {
        prefix: String,
        cleanup: bool,
    },
    /// Runs of `<0xNN>` tokens become the text of their bytes (each U+FFFD if not UTF-8).
    ByteFallback,
    /// All tokens into one.
    Fuse,
    /// Remove up to `start` leading and `stop` trailing `content` chars of each token.
    Strip {
        content: char,
        start: usize,
        stop: usize,
    },
    /// Every match of a pattern in each token replaced (the linear engine, as for normalizers).
    Replace {
        regex: Regex,
        content: String,
    },
    /// `suffix` becomes a space, except in the last token where it is removed.
    Bpe {
        suffix: String,
    },
    /// Connectionist temporal classification: repeats collapsed, pad removed.
    Ctc {
        pad_token: String,
        word_delimiter_token: String,
        cleanup: bool,
    },
    Sequence(Vec<Decoder>),
    /// `SentencePieceProcessor.decode` of a `.model` file.
    SentencePiece(Box<SentencePieceDecoder>),
}

/// SentencePiece's `Decode` (sentencepiece 0.2.3): control pieces vanish, the unknown piece
/// becomes its surface (" ⁇ "), runs of byte pieces are decoded character by character (each
/// invalid byte is U+FFFD), "▁" becomes a space, and with `add_dummy_prefix` or
/// `remove_extra_whitespaces` the first piece loses its leading "▁" (every piece, while the text
/// is still empty, with `remove_extra_whitespaces`).
#[derive(Debug, Clone)]
pub struct SentencePieceDecoder {
    pub controls: FxHashSet<String>,
    pub bytes: FxHashMap<String, u8>,
    pub unk: Option<String>,
    pub unk_surface: String,
    pub add_dummy_prefix: bool,
    pub remove_extra_whitespaces: bool,
}

impl SentencePieceDecoder {
    fn decode(&self, tokens: &[String]) -> String {
        let mut text = String::new();
        let mut pending: Vec<u8> = Vec::new();
        let (mut bos_ws, mut bos_ws_seen) = (true, false);
        let strip = self.add_dummy_prefix || self.remove_extra_whitespaces;
        for token in tokens {
            if let Some(&b) = self.bytes.get(token) {
                pending.push(b);
                continue;
            }
            push_bytes(&mut text, &mut pending);
            if bos_ws_seen || !text.is_empty() {
                bos_ws = false;
            }
            bos_ws_seen = false;
            if self.controls.contains(token) {
                continue;
            }
            if self.unk.as_ref() == Some(token) {
                text.push_str(&self.unk_surface);
                continue;
            }
            let mut piece = token.as_str();
            if bos_ws && strip {
                if let Some(rest) = piece.strip_prefix('\u{2581}') {
                    piece = rest;
                    bos_ws_seen = !self.remove_extra_whitespaces;
                }
            }
            text.push_str(&piece.replace('\u{2581}', " "));
        }
        push_bytes(&mut text, &mut pending);
        text
    }
}

/// Appends byte pieces' bytes as text, one U+FFFD per byte that starts no valid character.
fn push_bytes(text: &mut String, pending: &mut Vec<u8>) {
    let mut rest = &pending[..];
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                text.push_str(s);
                break;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                text.push_str(std::str::from_utf8(&rest[..valid]).expect("valid prefix"));
                text.push('\u{fffd}');
                rest = &rest[valid + 1..];
            }
        }
    }
    pending.clear();
}

impl Decoder {
    /// The decoded text of `tokens`.
    pub fn decode(&self, tokens: Vec<String>) -> Result<String> {
        if let Decoder::SentencePiece(spm) = self {
            return Ok(spm.decode(&tokens));
        }
        Ok(self.decode_chain(tokens)?.concat())
    }

    /// Only a `Replace` pattern that needs the backtracking engine can fail (on a long token).
    pub fn decode_chain(&self, tokens: Vec<String>) -> Result<Vec<String>> {
        Ok(match self {
            Decoder::ByteLevel => {
                let mut bytes = Vec::new();
                for t in &tokens {
                    match t
                        .chars()
                        .map(crate::bytelevel::char_to_byte)
                        .collect::<Option<Vec<u8>>>()
                    {
                        Some(b) => bytes.extend(b),
                        None => bytes.extend_from_slice(t.as_bytes()),
                    }
                }
                vec![String::from_utf8_lossy(&bytes).into_owned()]
            }
            Decoder::Metaspace {
                replacement,
                strip_first,
            } => tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    t.chars()
                        .filter_map(|c| match c {
                            c if c == *replacement && i == 0 && *strip_first => None,
                            c if c == *replacement => Some(' '),
                            c => Some(c),
                        })
                        .collect()
                })
                .collect(),
            Decoder::WordPiece { prefix, cleanup } => tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let t = if i == 0 {
                        t
                    } else if let Some(rest) = t.strip_prefix(prefix.as_str()) {
                        rest.to_string()
                    } else {
                        format!(" {t}")
                    };
                    if *cleanup {
                        wordpiece_cleanup(&t)
                    } else {
                        t
                    }
                })
                .collect(),
            Decoder::ByteFallback => {
                let mut out = Vec::with_capacity(tokens.len());
                let mut run: Vec<u8> = Vec::new();
                let flush = |run: &mut Vec<u8>, out: &mut Vec<String>| {
                    if run.is_empty() {
                        return;
                    }
                    match String::from_utf8(std::mem::take(run)) {
                        Ok(s) => out.push(s),
                        Err(e) => out.extend(std::iter::repeat_n("\u{fffd}".to_string(), e.as_bytes().len())),
                    }
                };
                for t in tokens {
                    match byte_token(&t) {
                        Some(b) => run.push(b),
                        None => {
                            flush(&mut run, &mut out);
                            out.push(t);
                        }
                    }
                }
                flush(&mut run, &mut out);
                out
            }
            Decoder::Fuse => vec![tokens.concat()],
            Decoder::Strip { content, start, stop } => tokens
                .into_iter()
                .map(|t| {
                    let chars: Vec<char> = t.chars().collect();
                    let lead = chars.iter().take(*start).take_while(|&&c| c == *content).count();
                    let trail = chars[lead..]
                        .iter()
                        .rev()
                        .take(*stop)
                        .take_while(|&&c| c == *content)
                        .count();
                    chars[lead..chars.len() - trail].iter().collect()
                })
                .collect(),
            Decoder::Replace { regex, content } => tokens
                .into_iter()
                .map(|t| Ok(replace(Cow::Owned(t), regex, content)?.into_owned()))
                .collect::<Result<_>>()?,
            Decoder::Bpe { suffix } => {
                let n = tokens.len();
                tokens
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| t.replace(suffix.as_str(), if i + 1 == n { "" } else { " " }))
                    .collect()
            }
            Decoder::Ctc {
                pad_token,
                word_delimiter_token,
                cleanup,
            } => {
                let mut out = Vec::new();
                let mut previous: Option<String> = None;
                for t in tokens {
                    if previous.as_ref() == Some(&t) {
                        continue;
                    }
                    let mut replaced = t.replace(pad_token.as_str(), "");
                    if *cleanup {
                        replaced = wordpiece_cleanup(&replaced).replace(word_delimiter_token.as_str(), " ");
                    }
                    previous = Some(t);
                    if !replaced.is_empty() {
                        out.push(replaced);
                    }
                }
                out
            }
            Decoder::Sequence(decoders) => decoders.iter().try_fold(tokens, |t, d| d.decode_chain(t))?,
            Decoder::SentencePiece(spm) => vec![spm.decode(&tokens)],
        })
    }
}

/// `<0xNN>` -> the byte.
fn byte_token(t: &str) -> Option<u8> {
    let hex = t.strip_prefix("<0x")?.strip_suffix('>')?;
    if t.len() != 6 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

/// HF's English detokenization cleanup (`wordpiece::cleanup`).
pub fn wordpiece_cleanup(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn llama_chain() {
        let chain = Decoder::Sequence(vec![
            Decoder::Replace {
                regex: Regex::new("▁").unwrap(),
                content: " ".into(),
            },
            Decoder::ByteFallback,
            Decoder::Fuse,
            Decoder::Strip {
                content: ' ',
                start: 1,
                stop: 0,
            },
        ]);
        assert_eq!(
            chain
                .decode(strings(&["▁Hi", "<0xE2>", "<0x82>", "<0xAC>", "▁x", "<0xFF>"]))
                .unwrap(),
            "Hi€ x\u{fffd}"
        );
    }

    #[test]
    fn wordpiece_metaspace_ctc() {
        let wp = Decoder::WordPiece {
            prefix: "##".into(),
            cleanup: true,
        };
        assert_eq!(
            wp.decode(strings(&["un", "##aff", "able", "."])).unwrap(),
            "unaff able."
        );
        let ms = Decoder::Metaspace {
            replacement: '▁',
            strip_first: true,
        };
        assert_eq!(ms.decode(strings(&["▁a", "▁b"])).unwrap(), "a b");
        let ctc = Decoder::Ctc {
            pad_token: "<pad>".into(),
            word_delimiter_token: "|".into(),
            cleanup: true,
        };
        assert_eq!(
            ctc.decode(strings(&["h", "h", "<pad>", "i", "|", "x"])).unwrap(),
            "hi x"
        );
    }
}
