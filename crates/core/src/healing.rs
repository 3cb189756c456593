//! Token healing's core: the ids of a text that stay fixed whatever follows it, plus every id
//! sequence the rest could become (tiktoken's `encode_with_unstable`), and the encoding of byte
//! strings that are not valid UTF-8 (tiktoken's `_encode_bytes`). Both follow tiktoken 0.14.0's
//! semantics exactly, including its heuristics for pre-tokenizer splits that can move.

use std::collections::BTreeSet;

use crate::error::Result;
use crate::special::SpecialSet;
use crate::tokenizer::Tokenizer;

/// The model's token ids sorted by their bytes, for prefix searches.
#[derive(Debug)]
pub struct SortedTokens(Vec<u32>);

impl SortedTokens {
    pub fn new(tokenizer: &Tokenizer) -> Self {
        let bpe = tokenizer.bpe();
        let mut ids: Vec<u32> = bpe.vocab().map(|(_, id)| id).collect();
        ids.sort_unstable_by(|&a, &b| bpe.token_bytes(a).cmp(&bpe.token_bytes(b)));
        SortedTokens(ids)
    }

    /// The ids, in byte order of their tokens.
    pub fn ids(&self) -> &[u32] {
        &self.0
    }

    /// The ids of the tokens starting with `prefix`, in byte order.
    fn starting_with<'a>(
        &'a self,
        tokenizer: &'a Tokenizer,
        prefix: &'a [u8],
    ) -> impl Iterator<Item = u32> + 'a {
        let bytes = |id: u32| tokenizer.bpe().token_bytes(id).unwrap_or_default();
        let first = self.0.partition_point(|&id| bytes(id) < prefix);
        self.0[first..]
            .iter()
            .copied()
            .take_while(move |&id| bytes(id).starts_with(prefix))
    }
}

/// Widens the last piece's `n` ids back over whitespace-only tokens before it: a pattern such as
/// `\s*[\r\n]+` can merge whitespace pieces once more text arrives ("\n" + " " + "\n").
fn widen_over_whitespace(tokenizer: &Tokenizer, ids: &[u32], mut n: usize) -> usize {
    let all_space = |id: u32| {
        tokenizer
            .bpe()
            .token_bytes(id)
            .is_some_and(|b| b.iter().all(|c| b" \n\t".contains(c)))
    };
    if n > 0 && all_space(ids[ids.len() - n]) {
        while n < ids.len() && all_space(ids[ids.len() - n - 1]) {
            n += 1;
        }
    }
    n
}

fn merged(tokenizer: &Tokenizer, piece: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    tokenizer.bpe().merge_piece(piece, &mut out);
    out
}

/// The last character of `bytes` and its length, if `bytes` ends with a whole UTF-8 character.
fn last_char(bytes: &[u8]) -> Option<(char, usize)> {
    let start = (bytes.len().saturating_sub(4)..bytes.len())
        .rev()
        .find(|&i| bytes[i] & 0xC0 != 0x80)?;
    let tail = std::str::from_utf8(&bytes[start..]).ok()?;
    let mut chars = tail.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some((c, tail.len()))
}

/// `(stable ids, completions)`: the stable ids encode a prefix of `text`'s bytes, and each
/// completion is an id sequence that, after the stable ids, decodes to bytes starting with all of
/// `text`. `ordinary` is the special set of an ordinary encode (used to re-encode candidates).
/// Completions are returned sorted, without duplicates.
pub fn encode_with_unstable(
    tokenizer: &Tokenizer,
    sorted: &SortedTokens,
    text: &str,
    allowed: &SpecialSet,
    disallowed: &SpecialSet,
    ordinary: &SpecialSet,
) -> Result<(Vec<u32>, Vec<Vec<u32>>)> {
    let (mut ids, last_piece) = tokenizer.encode_with_last_piece(text, allowed, disallowed)?;
    if last_piece == 0 {
        // The text ends with a special token (or is empty): nothing can change.
        return Ok((ids, Vec::new()));
    }
    let last_piece = widen_over_whitespace(tokenizer, &ids, last_piece);
    let unstable = tokenizer.decode_bytes(&ids[ids.len() - last_piece..])?;
    ids.truncate(ids.len() - last_piece);
    let mut completions = BTreeSet::new();
    if unstable.is_empty() {
        return Ok((ids, Vec::new()));
    }
    // Single tokens that start with the unstable bytes.
    for id in sorted.starting_with(tokenizer, &unstable) {
        completions.insert(vec![id]);
    }
    // A token straddling position i: the unstable prefix plus a token that starts with the rest,
    // re-encoded (with the pre-tokenizer when it is text, since a split may appear), cut once it
    // covers the unstable bytes.
    for i in 1..unstable.len() {
        let (prefix, suffix) = unstable.split_at(i);
        for id in sorted.starting_with(tokenizer, suffix) {
            let candidate = [prefix, tokenizer.bpe().token_bytes(id).unwrap_or_default()].concat();
            let encoded = match std::str::from_utf8(&candidate) {
                Ok(s) => tokenizer.encode(s, ordinary, &SpecialSet::Nothing)?,
                Err(_) => merged(tokenizer, &candidate),
            };
            let mut sequence = Vec::new();
            let mut covered = 0;
            for token in encoded {
                sequence.push(token);
                covered += tokenizer.token_bytes(token).map_or(0, <[u8]>::len);
                if covered >= unstable.len() {
                    break;
                }
            }
            completions.insert(sequence);
        }
    }
    // Trailing whitespace can split off once more text follows (`\s+(?!\S)`): "\n\n" + "0" is
    // "\n" + "\n" + "0", so the last whitespace character may become a token of its own.
    if unstable.len() > 1 {
        if let Some((c, size)) = last_char(&unstable) {
            if unstable.len() > size && c.is_whitespace() {
                let (head, tail) = unstable.split_at(unstable.len() - size);
                let mut split = merged(tokenizer, head);
                split.extend(merged(tokenizer, tail));
                completions.insert(split);
            }
        }
    }
    Ok((ids, completions.into_iter().collect()))
}

/// Encodes any byte string. Valid UTF-8 is encoded as ordinary text; otherwise the valid prefix is
/// encoded and its last piece re-merged together with the remaining bytes.
pub fn encode_bytes(tokenizer: &Tokenizer, data: &[u8], ordinary: &SpecialSet) -> Result<Vec<u32>> {
    let valid = match std::str::from_utf8(data) {
        Ok(text) => return tokenizer.encode(text, ordinary, &SpecialSet::Nothing),
        Err(e) => e.valid_up_to(),
    };
    let text = std::str::from_utf8(&data[..valid]).expect("valid_up_to bounds valid UTF-8");
    let (mut ids, last_piece) = tokenizer.encode_with_last_piece(text, ordinary, &SpecialSet::Nothing)?;
    let last_piece = widen_over_whitespace(tokenizer, &ids, last_piece);
    let mut rest = Vec::new();
    if !ids.is_empty() && last_piece > 0 {
        rest = tokenizer.decode_bytes(&ids[ids.len() - last_piece..])?;
        ids.truncate(ids.len() - last_piece);
    }
    rest.extend_from_slice(&data[valid..]);
    match tokenizer.bpe().token_id(&rest) {
        Some(id) => ids.push(id),
        None => tokenizer.bpe().merge_piece(&rest, &mut ids),
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpe::Bpe;
    use crate::pretokenize::{PreTokenizer, SplitBehavior, Step};
    use crate::special::SpecialTokens;

    fn toy() -> Tokenizer {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        for (i, t) in ["he", "ll", "hell", "hello", " w", " wo", "\n\n"]
            .iter()
            .enumerate()
        {
            vocab.push((t.as_bytes().to_vec(), 256 + i as u32));
        }
        let bpe = Bpe::from_ranks(vocab).unwrap();
        let pre = PreTokenizer::new(vec![Step::regex(
            r" ?\w+|\s+(?!\S)|\s+",
            SplitBehavior::Isolated,
            false,
        )
        .unwrap()]);
        let specials = SpecialTokens::new(vec![("<|eot|>".into(), 300)]).unwrap();
        Tokenizer::new(bpe, pre, vec![], specials)
    }

    #[test]
    fn stable_prefix_and_completions() {
        let t = toy();
        let sorted = SortedTokens::new(&t);
        let (stable, completions) = encode_with_unstable(
            &t,
            &sorted,
            "hello w",
            &SpecialSet::All,
            &SpecialSet::Nothing,
            &SpecialSet::Nothing,
        )
        .unwrap();
        assert_eq!(
            stable,
            t.encode("hello", &SpecialSet::Nothing, &SpecialSet::Nothing)
                .unwrap()
        );
        assert!(completions.contains(&vec![261])); // " wo" starts with " w"
        for c in &completions {
            let mut ids = stable.clone();
            ids.extend(c);
            assert!(t.decode_bytes(&ids).unwrap().starts_with(b"hello w"));
        }
        let (after_special, none) = encode_with_unstable(
            &t,
            &sorted,
            "hi<|eot|>",
            &SpecialSet::All,
            &SpecialSet::Nothing,
            &SpecialSet::Nothing,
        )
        .unwrap();
        assert_eq!(after_special.last(), Some(&300));
        assert!(none.is_empty());
    }

    #[test]
    fn bytes_roundtrip() {
        let t = toy();
        for data in [&b"hello \xff\xfe"[..], b"\x80", b"", b"he\xe2\x82"] {
            let ids = encode_bytes(&t, data, &SpecialSet::Nothing).unwrap();
            assert_eq!(t.decode_bytes(&ids).unwrap(), data);
        }
    }

    #[test]
    fn last_char_only_for_whole_characters() {
        assert_eq!(last_char(b"a\n"), Some(('\n', 1)));
        assert_eq!(last_char("a\u{3000}".as_bytes()), Some(('\u{3000}', 3)));
        assert_eq!(last_char(b"a\xe3\x80"), None);
        assert_eq!(last_char(b""), None);
    }
}
