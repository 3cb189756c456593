//! Mutation fuzzing on the stable toolchain (no cargo-fuzz here): a fixed-seed xorshift mutator
//! drives the `.tiktoken` parser, the construction of models, normalizers, pre-tokenizers and
//! decoders from tokenizer.json nodes (`config`), the pre-tokenizer scanners against the regex engine, the linear
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
    pre.for_each_piece(text, |p: &str| out.push(p.to_string()))
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

/// tokenizer.json component nodes as the Python layer hands them to the core: a model node of each
/// family with the pipeline's `sentencepiece` block (what the `.model` reader adds: piece types,
/// scores, normalizer spec; null for other files), then normalizers, pre-tokenizers and decoders.
const CONFIG_SEEDS: &[&str] = &[
    r#"{"model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,
       "end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"ignore_merges":false,
       "vocab":{"<unk>":0,"a":1,"b":2,"ab":3,"<0x41>":4,"▁":5,"▁a":6},"merges":[["a","b"],"▁ a"]},
       "sentencepiece":null}"#,
    r#"{"model":{"type":"Unigram","unk_id":0,"byte_fallback":false,
       "vocab":[["<unk>",0.0],["a",-1.5],["b",-2.0],["ab",-1.0],["▁",-3.0]]},"sentencepiece":null}"#,
    r###"{"model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
       "max_input_chars_per_word":100,"vocab":{"[UNK]":0,"a":1,"##b":2,"ab":3}},"sentencepiece":null}"###,
    r#"{"model":{"type":"WordLevel","unk_token":"<unk>","vocab":{"<unk>":0,"a":1,"b":2}},
       "sentencepiece":null}"#,
    r#"{"model":{"type":"BPE","dropout":null,"unk_token":"<unk>","continuing_subword_prefix":null,
       "end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":true,"ignore_merges":false,
       "vocab":{"<unk>":0,"<s>":1,"a":2,"b":3,"ab":4,"▁":5,"<0x41>":6,"[X]":7},"merges":[["a","b"]]},
       "sentencepiece":{"piece_types":[2,3,1,1,1,1,6,4],"scores":[0,0,-1,-2,-0.5,-3,0,0],
       "unk_surface":" ⁇ ","normalizer":{"add_dummy_prefix":true,"remove_extra_whitespaces":true,
       "escape_whitespaces":true}}}"#,
    r#"{"model":{"type":"Unigram","unk_id":0,"byte_fallback":true,
       "vocab":[["<unk>",0.0],["<s>",0.0],["a",-1.5],["b",-2.0],["ab",-1.0],["▁",-3.0],["<0x41>",0.0]]},
       "sentencepiece":{"piece_types":[2,3,1,1,1,1,6],"unk_surface":" ⁇ ","normalizer":
       {"add_dummy_prefix":false,"remove_extra_whitespaces":false,"escape_whitespaces":true}}}"#,
];
const NORMALIZER_SEED: &str = r#"{"type":"Sequence","normalizers":[{"type":"NFKC"},
    {"type":"Replace","pattern":{"String":" "},"content":"▁"},{"type":"Prepend","prepend":"▁"},
    {"type":"BertNormalizer","clean_text":true,"handle_chinese_chars":true,"strip_accents":null,
     "lowercase":true},{"type":"Strip","strip_left":true,"strip_right":false}]}"#;
const PRE_TOKENIZER_SEED: &str = r#"{"type":"Sequence","pretokenizers":[
    {"type":"Split","pattern":{"Regex":"\\s+|\\w+"},"behavior":"Isolated","invert":false},
    {"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
    {"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true},
    {"type":"Digits","individual_digits":true},{"type":"Whitespace"}]}"#;
const DECODER_SEED: &str = r###"{"type":"Sequence","decoders":[
    {"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},
    {"type":"Strip","content":" ","start":1,"stop":0},{"type":"WordPiece","prefix":"##","cleanup":true},
    {"type":"ByteLevel"},{"type":"Metaspace","replacement":"▁","prepend_scheme":"always"}]}"###;

/// A value of any JSON type, including the wrong-typed and extreme ones a hostile file holds.
fn random_value(rng: &mut Rng) -> serde_json::Value {
    use serde_json::{json, Value};
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(rng.below(8) as i64 - 2),
        4 => json!((rng.next() as f64) / 7.0),
        5 => json!(random_text(rng, 4)),
        6 => json!([random_text(rng, 2), random_text(rng, 2)]),
        7 => {
            let kind = ["BPE", "Sequence", "Replace", "Split", "Unigram"][rng.below(5)];
            json!({ "type": kind })
        }
        _ => json!([]),
    }
}

/// Replaces one node (picked by a random walk from the root) with a random value.
fn mutate_node(rng: &mut Rng, node: &mut serde_json::Value) {
    use serde_json::Value;
    let descend = rng.below(3) != 0;
    match node {
        Value::Object(map) if descend && !map.is_empty() => {
            let i = rng.below(map.len());
            let child = map.values_mut().nth(i).expect("index below len");
            mutate_node(rng, child);
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate_node(rng, &mut items[i]);
        }
        _ => *node = random_value(rng),
    }
}

/// Builds the component of seed `seed_index` from `node`: whether it was accepted. Each builder
/// must return Ok or a typed Err; a panic fails the test with the seed and the node.
fn build_component(seed_index: usize, node: &serde_json::Value) -> bool {
    use serde_json::Value;
    use tokenforge_core::config;
    let models = CONFIG_SEEDS.len();
    match seed_index {
        i if i < models => {
            let block = node.get("sentencepiece").unwrap_or(&Value::Null);
            let Ok(model) = config::model(node.get("model").unwrap_or(&Value::Null), block) else {
                return false;
            };
            config::pipeline_normalizers(&Value::Null, block, &model).is_ok()
                && config::pipeline_decoder(&Value::Null, block, &model).is_ok()
        }
        i if i == models => config::normalizers(node).is_ok(),
        i if i == models + 1 => config::pre_tokenizer(node).is_ok(),
        _ => config::decoder(node).is_ok(),
    }
}

#[test]
fn config_construction_never_panics_on_mutated_nodes() {
    let seeds: Vec<serde_json::Value> = CONFIG_SEEDS
        .iter()
        .chain([NORMALIZER_SEED, PRE_TOKENIZER_SEED, DECODER_SEED].iter())
        .map(|s| serde_json::from_str(s).expect("seed nodes are valid JSON"))
        .collect();
    for (i, node) in seeds.iter().enumerate() {
        assert!(build_component(i, node), "seed node {i} must build: {node}");
    }
    let mut rng = Rng(seed());
    for _ in 0..iterations(3000) {
        let i = rng.below(seeds.len());
        let mut node = seeds[i].clone();
        if rng.below(2) == 0 {
            for _ in 0..rng.below(3) + 1 {
                mutate_node(&mut rng, &mut node);
            }
        } else {
            // Byte-level mutation of the serialized node; what still parses as JSON is built.
            let mut data = node.to_string().into_bytes();
            mutate(&mut rng, &mut data);
            match serde_json::from_slice(&data) {
                Ok(parsed) => node = parsed,
                Err(_) => continue,
            }
        }
        let shown = node.to_string();
        let outcome = std::panic::catch_unwind(|| build_component(i, &node));
        assert!(outcome.is_ok(), "seed {:#x}: panic building {shown}", seed());
    }
}
