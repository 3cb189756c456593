//! Mutation fuzzing on the stable toolchain (no cargo-fuzz here): a fixed-seed xorshift mutator
//! drives the `.tiktoken` parser, the pre-tokenizer scanners against the regex engine, the linear
//! split engine against the backtracking one, and encode -> decode round trips. `make test` runs a
//! few thousand cases in seconds; `make fuzz` sets `TOKENFORGE_FUZZ_ITERS` (and optionally
//! `TOKENFORGE_FUZZ_SEED`) for a long run. A failure prints the seed and the input: add it to the
//! unit tests of the module concerned.

use tokenforge_core::presets::Preset;
use tokenforge_core::split_regex::SplitRegex;
use tokenforge_core::tiktoken_file::parse_tiktoken;
use tokenforge_core::{Bpe, PreTokenizer, SpecialSet, SpecialTokens, SplitBehavior, Step, Tokenizer};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn iterations(default: usize) -> usize {
    std::env::var("TOKENFORGE_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("TOKENFORGE_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_1234_ABCD_0001)
}

/// Characters that stress pre-tokenizers: ASCII classes, contractions, digits of other scripts,
/// combining marks, NBSP and other spaces, controls, CJK, emoji.
const ALPHABET: &[&str] = &[
    "a", "Z", "é", "ß", "'", "s", "t", "re", "'S", "0", "7", "١", "٣", " ", "  ", "\t", "\n", "\r\n",
    "\u{a0}", "\u{2028}", "\u{3000}", "\0", "\u{1}", "\u{301}", ".", ",", "!", "?", "-", "_", "$", "(", "中",
    "文", "😀", "x", "é", "ǅ", "\u{200b}",
];

fn random_text(rng: &mut Rng, max_parts: usize) -> String {
    (0..rng.below(max_parts) + 1)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..rng.below(4) + 1 {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = at.min(data.len() - 1);
                data[i] = rng.next() as u8;
            }
            1 if at < data.len() => {
                data.remove(at);
            }
            2 => data.insert(at, b" =\n-0123456789+/"[rng.below(16)]),
            3 => {
                let end = (at + rng.below(16)).min(data.len());
                let copy = data[at.min(end)..end].to_vec();
                data.splice(at..at, copy);
            }
            _ => data.truncate(at),
        }
    }
}

fn tiktoken_seed() -> Vec<u8> {
    let mut lines = Vec::new();
    for (rank, token) in ["IQ==", "Ig==", "aGVsbG8=", "IHdvcmxk", "4pyF", "AA=="]
        .iter()
        .enumerate()
    {
        lines.extend_from_slice(format!("{token} {rank}\n").as_bytes());
    }
    lines
}

#[test]
fn tiktoken_parser_never_panics_on_mutated_files() {
    let mut rng = Rng(seed());
    let base = tiktoken_seed();
    for _ in 0..iterations(3000) {
        let mut data = base.clone();
        mutate(&mut rng, &mut data);
        if let Ok(pairs) = parse_tiktoken(&data) {
            // Whatever parses must also build (or be rejected with an error), never panic.
            let _ = Bpe::from_ranks(pairs);
        }
    }
}

fn pieces(pre: &PreTokenizer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    pre.for_each_piece(text, &mut |p| out.push(p.to_string()))
        .unwrap();
    out
}

#[test]
fn preset_scanners_split_like_the_regex() {
    let mut rng = Rng(seed() ^ 1);
    let presets: Vec<(PreTokenizer, PreTokenizer)> = Preset::ALL
        .iter()
        .map(|(_, _, pattern)| {
            let scanner =
                PreTokenizer::new(vec![Step::regex(pattern, SplitBehavior::Isolated, false).unwrap()]);
            let fancy = fancy_regex_only(pattern);
            (scanner, fancy)
        })
        .collect();
    for _ in 0..iterations(2000) {
        let text = random_text(&mut rng, 24);
        for (scanner, regex) in &presets {
            assert_eq!(pieces(scanner, &text), pieces(regex, &text), "{text:?}");
        }
    }
}

fn fancy_regex_only(pattern: &str) -> PreTokenizer {
    PreTokenizer::new(vec![
        Step::regex_only(pattern, SplitBehavior::Isolated, false).unwrap()
    ])
}

/// The linear engine (look-ahead consumed and cut back) against fancy-regex's backtracking on
/// short texts, where backtracking never hits its limits.
#[test]
fn linear_split_engine_matches_backtracking() {
    let patterns = [
        r"[!\x22#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
        r"(?i:'s|'t|'re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
        r"\p{L}+(?=\s)|\s(?!\d)|.",
        r"x*|\s+(?=\S)|[^x]",
    ];
    let mut rng = Rng(seed() ^ 2);
    let compiled: Vec<(SplitRegex, fancy_regex::Regex)> = patterns
        .iter()
        .map(|p| (SplitRegex::new(p).unwrap(), fancy_regex::Regex::new(p).unwrap()))
        .collect();
    for _ in 0..iterations(2000) {
        let text = random_text(&mut rng, 20);
        for (linear, fancy) in &compiled {
            assert_eq!(linear.backtracking_reason(), None);
            let mut got = Vec::new();
            linear
                .for_each_match(&text, &mut |s, e| got.push((s, e)))
                .unwrap();
            let want: Vec<(usize, usize)> = fancy
                .find_iter(&text)
                .map(|m| m.unwrap())
                .map(|m| (m.start(), m.end()))
                .collect();
            assert_eq!(got, want, "{:?} on {text:?}", fancy.as_str());
        }
    }
}

#[test]
fn encode_decode_round_trips() {
    let mut rng = Rng(seed() ^ 3);
    for case in 0..iterations(300) / 10 + 1 {
        // A random vocabulary: all bytes plus concatenations of random texts' byte runs.
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let mut seen: std::collections::HashSet<Vec<u8>> = vocab.iter().map(|(b, _)| b.clone()).collect();
        for _ in 0..rng.below(200) {
            let text = random_text(&mut rng, 4);
            let bytes = text.as_bytes();
            let end = (rng.below(bytes.len()) + 1).min(bytes.len());
            let token = bytes[..end].to_vec();
            if seen.insert(token.clone()) {
                vocab.push((token, vocab.len() as u32));
            }
        }
        let bpe = Bpe::from_ranks(vocab.clone()).unwrap();
        let n = vocab.len() as u32;
        let specials = SpecialTokens::new(vec![("<|x|>".into(), n), ("<|x|><|y|>".into(), n + 1)]).unwrap();
        let pattern = Preset::ALL[case % Preset::ALL.len()].2;
        let tok = Tokenizer::new(
            bpe,
            PreTokenizer::single_regex(pattern).unwrap(),
            vec![],
            specials,
        );
        for _ in 0..10 {
            let mut text = random_text(&mut rng, 40);
            if rng.below(3) == 0 {
                let boundaries: Vec<usize> =
                    text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
                text.insert_str(boundaries[rng.below(boundaries.len())], "<|x|>");
            }
            for allowed in [SpecialSet::All, SpecialSet::Nothing] {
                let ids = tok.encode(&text, &allowed, &SpecialSet::Nothing).unwrap();
                assert_eq!(tok.decode_bytes(&ids).unwrap(), text.as_bytes(), "{text:?}");
                assert_eq!(
                    tok.count(&text, &allowed, &SpecialSet::Nothing).unwrap(),
                    ids.len()
                );
            }
        }
    }
}
