//! Pipeline components from their HF `tokenizer.json` nodes (`serde_json` values), as the Python
//! layer hands them over after validating the file: regex patterns are already in the engine's
//! dialect, every field has its type. Anything unknown is [`Error::Unsupported`], naming it.

use std::sync::Arc;

use serde_json::Value;

use crate::decoders::{Decoder, SentencePieceDecoder};
use crate::error::{Error, Result};
use crate::model::{
    CharBpe, CharBpeOptions, Model, Unigram, Vocab, WordLevel, WordPiece, PIECE_BYTE, PIECE_CONTROL,
    PIECE_UNKNOWN, PIECE_USER_DEFINED,
};
use crate::normalize::{BertNormalizer, Normalizer, Precompiled, SentencePieceNormalizer};
use crate::pretokenize::{compile, PrependScheme, SplitBehavior, Step, WHITESPACE_PATTERN};
use crate::split_regex::SplitRegex;

fn bad(what: &str, node: &Value) -> Error {
    let mut shown = node.to_string();
    if shown.len() > 120 {
        shown.truncate(shown.char_indices().nth(117).map_or(shown.len(), |(i, _)| i));
        shown.push_str("...");
    }
    Error::InvalidVocabulary(format!("{what} in {shown}"))
}

fn kind(node: &Value) -> Result<&str> {
    node.get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no \"type\"", node))
}

fn string<'a>(node: &'a Value, key: &str) -> Result<&'a str> {
    node.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(&format!("{key:?} must be a string"), node))
}

fn opt_string(node: &Value, key: &str) -> Result<Option<String>> {
    match node.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(&format!("{key:?} must be a string or null"), node)),
    }
}

fn flag(node: &Value, key: &str, default: bool) -> Result<bool> {
    match node.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(&format!("{key:?} must be a boolean"), node)),
    }
}

fn count(node: &Value, key: &str, default: usize) -> Result<usize> {
    match node.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| bad(&format!("{key:?} must be a non-negative integer"), node)),
    }
}

fn one_char(node: &Value, key: &str) -> Result<char> {
    let s = string(node, key)?;
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(bad(&format!("{key:?} must be one character"), node)),
    }
}

fn list<'a>(node: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    node.get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(&format!("{key:?} must be an array"), node))
}

/// A `{"String": s}` or `{"Regex": r}` pattern (of a `Replace`), on the linear-time engine of
/// split patterns whenever its constructs allow (see `split_regex`).
fn pattern(node: &Value) -> Result<SplitRegex> {
    let p = node.get("pattern").ok_or_else(|| bad("no \"pattern\"", node))?;
    if let Some(s) = p.get("String").and_then(Value::as_str) {
        return SplitRegex::new(&fancy_regex::escape(s));
    }
    if let Some(r) = p.get("Regex").and_then(Value::as_str) {
        return SplitRegex::new(r);
    }
    Err(bad("\"pattern\" needs \"String\" or \"Regex\"", node))
}

fn behavior(node: &Value, default: SplitBehavior) -> Result<SplitBehavior> {
    match node.get("behavior") {
        None | Some(Value::Null) => Ok(default),
        Some(Value::String(s)) => SplitBehavior::parse(s),
        Some(_) => Err(bad("\"behavior\" must be a string", node)),
    }
}

fn vocab_map(node: &Value) -> Result<Vocab> {
    let map = node
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("\"vocab\" must be an object", node))?;
    let mut entries = Vec::with_capacity(map.len());
    for (token, id) in map {
        let id = id.as_u64().filter(|&i| i < u32::MAX as u64).ok_or_else(|| {
            Error::InvalidVocabulary(format!("the id of {token:?} must be a non-negative integer"))
        })?;
        entries.push((token.clone(), id as u32));
    }
    Vocab::new(entries)
}

/// The piece types (and, for BPE, the scores) of a SentencePiece `.model` file, from the
/// `model.tokenforge.sentencepiece` block the `.model` reader writes: the model then follows
/// `SentencePieceProcessor.encode` rather than HF's reading of the same vocabulary.
struct SentencePieceBlock {
    types: Vec<u8>,
    scores: Vec<f32>,
}

fn sentencepiece_block(node: &Value) -> Result<Option<SentencePieceBlock>> {
    if node.is_null() {
        return Ok(None);
    }
    let types = list(node, "piece_types")?
        .iter()
        .map(|t| t.as_u64().filter(|&t| (1..=6).contains(&t)).map(|t| t as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| bad("a piece type is not 1..6", node))?;
    let scores = match node.get("scores") {
        None | Some(Value::Null) => Vec::new(),
        Some(_) => list(node, "scores")?
            .iter()
            .map(|s| s.as_f64().map(|s| s as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad("a score is not a number", node))?,
    };
    Ok(Some(SentencePieceBlock { types, scores }))
}

/// The ids of a SentencePiece model's user-defined pieces (matched by the model itself, not
/// split out as added tokens), given the pipeline's `sentencepiece` block.
pub fn sentencepiece_user_defined(block: &Value) -> Result<Vec<u32>> {
    Ok(sentencepiece_block(block)?.map_or_else(Vec::new, |b| {
        b.types
            .iter()
            .enumerate()
            .filter(|(_, &t)| t == PIECE_USER_DEFINED)
            .map(|(i, _)| i as u32)
            .collect()
    }))
}

/// The normalizers of a pipeline: HF's `normalizer` node, or for a SentencePiece model whose
/// block carries its normalizer spec, SentencePiece's own normalizer over the same charsmap.
pub fn pipeline_normalizers(node: &Value, sentencepiece: &Value, model: &Model) -> Result<Vec<Normalizer>> {
    let chain = normalizers(node)?;
    let Some(spec) = sentencepiece.get("normalizer").filter(|v| !v.is_null()) else {
        return Ok(chain);
    };
    let charsmap = chain.into_iter().find_map(|n| match n {
        Normalizer::Precompiled(map) => Some(map),
        _ => None,
    });
    let vocab = model
        .vocab()
        .ok_or_else(|| bad("a SentencePiece block on a byte-level model", sentencepiece))?;
    let user_defined = sentencepiece_user_defined(sentencepiece)?
        .into_iter()
        .filter_map(|id| vocab.token(id))
        .collect::<Vec<_>>();
    Ok(vec![Normalizer::SentencePiece(Arc::new(
        SentencePieceNormalizer::new(
            charsmap,
            &user_defined,
            flag(spec, "add_dummy_prefix", true)?,
            flag(spec, "remove_extra_whitespaces", true)?,
            flag(spec, "escape_whitespaces", true)?,
            flag(spec, "treat_whitespace_as_suffix", false)?,
        )?,
    ))])
}

/// The decoder of a pipeline: HF's `decoder` node, or for a SentencePiece model whose block
/// carries its normalizer spec, SentencePiece's own decoding.
pub fn pipeline_decoder(node: &Value, sentencepiece: &Value, model: &Model) -> Result<Option<Decoder>> {
    let Some(spec) = sentencepiece.get("normalizer").filter(|v| !v.is_null()) else {
        return decoder(node);
    };
    let block = sentencepiece_block(sentencepiece)?.expect("a block with a normalizer");
    let vocab = model
        .vocab()
        .ok_or_else(|| bad("a SentencePiece block on a byte-level model", sentencepiece))?;
    let mut out = SentencePieceDecoder {
        controls: Default::default(),
        bytes: Default::default(),
        unk: None,
        unk_surface: opt_string(sentencepiece, "unk_surface")?.unwrap_or_else(|| " \u{2047} ".into()),
        add_dummy_prefix: flag(spec, "add_dummy_prefix", true)?,
        remove_extra_whitespaces: flag(spec, "remove_extra_whitespaces", true)?,
    };
    for (id, &kind) in block.types.iter().enumerate() {
        let Some(text) = vocab.token(id as u32) else {
            continue;
        };
        match kind {
            PIECE_UNKNOWN => out.unk = Some(text.to_string()),
            PIECE_CONTROL => {
                out.controls.insert(text.to_string());
            }
            PIECE_BYTE => {
                let byte = text
                    .strip_prefix("<0x")
                    .and_then(|t| t.strip_suffix('>'))
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| bad(&format!("byte piece {text:?} is not <0xNN>"), &Value::Null))?;
                out.bytes.insert(text.to_string(), byte);
            }
            _ => {}
        }
    }
    Ok(Some(Decoder::SentencePiece(Box::new(out))))
}

/// The model node; `sentencepiece` is the pipeline's `sentencepiece` block (null for none).
pub fn model(node: &Value, sentencepiece: &Value) -> Result<Model> {
    let block = sentencepiece_block(sentencepiece)?;
    match kind(node)? {
        "BPE" => {
            if !matches!(node.get("dropout"), None | Some(Value::Null)) {
                return Err(Error::Unsupported(
                    "BPE dropout is random, so it cannot be reproduced exactly".into(),
                ));
            }
            let vocab = vocab_map(node)?;
            let mut merges = Vec::new();
            for m in list(node, "merges")? {
                let pair = match m {
                    Value::String(s) => s.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())),
                    Value::Array(p) => match p.as_slice() {
                        [Value::String(a), Value::String(b)] => Some((a.clone(), b.clone())),
                        _ => None,
                    },
                    _ => None,
                };
                merges.push(pair.ok_or_else(|| bad("a merge is not a pair of tokens", m))?);
            }
            let options = CharBpeOptions {
                unk_token: opt_string(node, "unk_token")?,
                continuing_subword_prefix: opt_string(node, "continuing_subword_prefix")?,
                end_of_word_suffix: opt_string(node, "end_of_word_suffix")?,
                fuse_unk: flag(node, "fuse_unk", false)?,
                byte_fallback: flag(node, "byte_fallback", false)?,
                ignore_merges: flag(node, "ignore_merges", false)?,
            };
            let bpe = CharBpe::new(vocab, &merges, options)?;
            Ok(Model::Bpe(match block {
                None => bpe,
                Some(b) => bpe.sentencepiece(&b.scores, &sentencepiece_user_defined(sentencepiece)?)?,
            }))
        }
        "Unigram" => {
            let mut pieces = Vec::new();
            for entry in list(node, "vocab")? {
                let pair = match entry.as_array().map(Vec::as_slice) {
                    Some([Value::String(p), score]) => score.as_f64().map(|s| (p.clone(), s)),
                    _ => None,
                };
                pieces.push(pair.ok_or_else(|| bad("a Unigram entry is not [piece, score]", entry))?);
            }
            let unk = match node.get("unk_id") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|&i| i < u32::MAX as u64)
                        .ok_or_else(|| bad("bad \"unk_id\"", node))? as u32,
                ),
            };
            let byte_fallback = flag(node, "byte_fallback", false)?;
            Ok(Model::Unigram(match (block, unk) {
                (None, _) => Unigram::new(pieces, unk, byte_fallback)?,
                (Some(b), Some(unk)) => Unigram::sentencepiece(pieces, &b.types, unk, byte_fallback)?,
                (Some(_), None) => return Err(bad("a SentencePiece model needs \"unk_id\"", node)),
            }))
        }
        "WordPiece" => Ok(Model::WordPiece(WordPiece::new(
            vocab_map(node)?,
            opt_string(node, "unk_token")?.unwrap_or_else(|| "[UNK]".into()),
            opt_string(node, "continuing_subword_prefix")?.unwrap_or_else(|| "##".into()),
            count(node, "max_input_chars_per_word", 100)?,
        ))),
        "WordLevel" => Ok(Model::WordLevel(WordLevel::new(
            vocab_map(node)?,
            opt_string(node, "unk_token")?.unwrap_or_else(|| "<unk>".into()),
        ))),
        other => Err(Error::Unsupported(format!(
            "model type {other:?} is not supported"
        ))),
    }
}

/// The normalizer node (null for none), `Sequence`s flattened.
pub fn normalizers(node: &Value) -> Result<Vec<Normalizer>> {
    let mut out = Vec::new();
    push_normalizers(node, &mut out, 0)?;
    Ok(out)
}

const MAX_DEPTH: usize = 64;

fn push_normalizers(node: &Value, out: &mut Vec<Normalizer>, depth: usize) -> Result<()> {
    if node.is_null() {
        return Ok(());
    }
    if depth > MAX_DEPTH {
        return Err(bad("Sequences nested too deeply", &Value::Null));
    }
    let n = match kind(node)? {
        "Sequence" => {
            for child in list(node, "normalizers")? {
                push_normalizers(child, out, depth + 1)?;
            }
            return Ok(());
        }
        "NFC" => Normalizer::Nfc,
        "NFD" => Normalizer::Nfd,
        "NFKC" => Normalizer::Nfkc,
        "NFKD" => Normalizer::Nfkd,
        "Lowercase" => Normalizer::Lowercase,
        "Nmt" => Normalizer::Nmt,
        "ByteLevel" => Normalizer::ByteLevel,
        "StripAccents" => Normalizer::StripAccents,
        "Strip" => Normalizer::Strip {
            left: flag(node, "strip_left", true)?,
            right: flag(node, "strip_right", true)?,
        },
        "Replace" => Normalizer::Replace {
            regex: pattern(node)?,
            content: string(node, "content")?.to_string(),
        },
        "Prepend" => Normalizer::Prepend(string(node, "prepend")?.to_string()),
        "BertNormalizer" => {
            let lowercase = flag(node, "lowercase", true)?;
            let strip_accents = match node.get("strip_accents") {
                None | Some(Value::Null) => lowercase,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(bad("\"strip_accents\" must be a boolean or null", node)),
            };
            Normalizer::Bert(BertNormalizer {
                clean_text: flag(node, "clean_text", true)?,
                handle_chinese_chars: flag(node, "handle_chinese_chars", true)?,
                strip_accents,
                lowercase,
            })
        }
        "Precompiled" => {
            let data = string(node, "precompiled_charsmap")?;
            let bytes = crate::tiktoken_file::decode_base64(data.as_bytes())
                .ok_or_else(|| Error::InvalidVocabulary("precompiled_charsmap is not base64".into()))?;
            // SentencePiece models without normalization rules carry an empty map.
            if bytes.is_empty() {
                return Ok(());
            }
            Normalizer::Precompiled(Arc::new(Precompiled::from_bytes(
                &bytes,
                flag(node, "longest_prefix_match", false)?,
            )?))
        }
        other => {
            return Err(Error::Unsupported(format!(
                "normalizer {other:?} is not supported"
            )))
        }
    };
    out.push(n);
    Ok(())
}

/// The pre-tokenizer node (null for none), `Sequence`s flattened.
pub fn pre_tokenizer(node: &Value) -> Result<Vec<Step>> {
    let mut out = Vec::new();
    push_steps(node, &mut out, 0)?;
    Ok(out)
}

fn push_steps(node: &Value, out: &mut Vec<Step>, depth: usize) -> Result<()> {
    if node.is_null() {
        return Ok(());
    }
    if depth > MAX_DEPTH {
        return Err(bad("Sequences nested too deeply", &Value::Null));
    }
    let step = match kind(node)? {
        "Sequence" => {
            for child in list(node, "pretokenizers")? {
                push_steps(child, out, depth + 1)?;
            }
            return Ok(());
        }
        "ByteLevel" => Step::byte_level(
            flag(node, "add_prefix_space", true)?,
            flag(node, "use_regex", true)?,
        )?,
        "Digits" => Step::Digits {
            individual: flag(node, "individual_digits", false)?,
        },
        "Split" => {
            let p = node.get("pattern").ok_or_else(|| bad("no \"pattern\"", node))?;
            let regex = match (
                p.get("String").and_then(Value::as_str),
                p.get("Regex").and_then(Value::as_str),
            ) {
                (Some(s), _) => fancy_regex::escape(s).into_owned(),
                (None, Some(r)) => r.to_string(),
                _ => return Err(bad("\"pattern\" needs \"String\" or \"Regex\"", node)),
            };
            Step::regex(
                &regex,
                behavior(node, SplitBehavior::Isolated)?,
                flag(node, "invert", false)?,
            )?
        }
        "Metaspace" => {
            let prepend = match node.get("prepend_scheme").and_then(Value::as_str) {
                Some("always") => PrependScheme::Always,
                Some("first") => PrependScheme::First,
                Some("never") => PrependScheme::Never,
                Some(other) => return Err(bad(&format!("unknown prepend_scheme {other:?}"), node)),
                None if !flag(node, "add_prefix_space", true)? => PrependScheme::Never,
                None => PrependScheme::Always,
            };
            Step::Metaspace {
                replacement: one_char(node, "replacement")?,
                prepend,
                split: flag(node, "split", true)?,
            }
        }
        "Whitespace" => Step::Whitespace(compile(WHITESPACE_PATTERN)?),
        "WhitespaceSplit" => Step::WhitespaceSplit,
        "BertPreTokenizer" => Step::Bert,
        "Punctuation" => Step::Punctuation(behavior(node, SplitBehavior::Isolated)?),
        "CharDelimiterSplit" => Step::CharDelimiter(one_char(node, "delimiter")?),
        "UnicodeScripts" => Step::UnicodeScripts,
        other => {
            return Err(Error::Unsupported(format!(
                "pre-tokenizer {other:?} is not supported"
            )))
        }
    };
    out.push(step);
    Ok(())
}

/// The decoder node (null for none).
pub fn decoder(node: &Value) -> Result<Option<Decoder>> {
    decoder_at(node, 0)
}

fn decoder_at(node: &Value, depth: usize) -> Result<Option<Decoder>> {
    if node.is_null() {
        return Ok(None);
    }
    if depth > MAX_DEPTH {
        return Err(bad("Sequences nested too deeply", &Value::Null));
    }
    Ok(Some(match kind(node)? {
        "Sequence" => {
            let mut steps = Vec::new();
            for child in list(node, "decoders")? {
                steps.extend(decoder_at(child, depth + 1)?);
            }
            Decoder::Sequence(steps)
        }
        "ByteLevel" => Decoder::ByteLevel,
        "Metaspace" => {
            let never = match node.get("prepend_scheme").and_then(Value::as_str) {
                Some(s) => s == "never",
                None => !flag(node, "add_prefix_space", true)?,
            };
            Decoder::Metaspace {
                replacement: one_char(node, "replacement")?,
                strip_first: !never,
            }
        }
        "WordPiece" => Decoder::WordPiece {
            prefix: opt_string(node, "prefix")?.unwrap_or_else(|| "##".into()),
            cleanup: flag(node, "cleanup", true)?,
        },
        "ByteFallback" => Decoder::ByteFallback,
        "Fuse" => Decoder::Fuse,
        "Strip" => Decoder::Strip {
            content: one_char(node, "content")?,
            start: count(node, "start", 0)?,
            stop: count(node, "stop", 0)?,
        },
        "Replace" => Decoder::Replace {
            regex: pattern(node)?,
            content: string(node, "content")?.to_string(),
        },
        "BPEDecoder" => Decoder::Bpe {
            suffix: opt_string(node, "suffix")?.unwrap_or_else(|| "</w>".into()),
        },
        "CTC" => Decoder::Ctc {
            pad_token: opt_string(node, "pad_token")?.unwrap_or_else(|| "<pad>".into()),
            word_delimiter_token: opt_string(node, "word_delimiter_token")?.unwrap_or_else(|| "|".into()),
            cleanup: flag(node, "cleanup", true)?,
        },
        other => return Err(Error::Unsupported(format!("decoder {other:?} is not supported"))),
    }))
}
