//! Times the engine alone (no Python) on a text file: `cargo run --release --example encode_file --
//! VOCAB.tiktoken PRESET TEXT_FILE [REPEATS [THREADS]]`. With THREADS, the file is split into
//! paragraphs (blank lines) and encoded as one batch on that many threads. Used to profile the
//! encoder (e.g. under `perf`) and to see how the batch path scales without Python in the way.

use std::time::Instant;

use tokenforge_core::presets::Preset;
use tokenforge_core::{Bpe, PreTokenizer, SpecialSet, SpecialTokens, Step, Tokenizer};

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c) << (18 - 6 * i);
        }
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: encode_file VOCAB.tiktoken PRESET TEXT_FILE [REPEATS [THREADS]]");
        std::process::exit(2);
    }
    let vocab: Vec<(Vec<u8>, u32)> = std::fs::read_to_string(&args[1])
        .expect("read vocab")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (b64, rank) = l.split_once(' ').expect("two fields");
            (decode_base64(b64), rank.parse().expect("rank"))
        })
        .collect();
    let pattern = Preset::ALL
        .iter()
        .find(|(_, n, _)| *n == args[2])
        .expect("preset name")
        .2;
    let tok = Tokenizer::new(
        Bpe::from_ranks(vocab).expect("vocab"),
        PreTokenizer::new(vec![Step::regex(
            pattern,
            tokenforge_core::SplitBehavior::Isolated,
            false,
        )
        .unwrap()]),
        vec![],
        SpecialTokens::new(vec![]).unwrap(),
    );
    let text = std::fs::read_to_string(&args[3]).expect("read text");
    let repeats: usize = args.get(4).map_or(5, |r| r.parse().expect("repeats"));
    let threads: Option<usize> = args.get(5).map(|t| t.parse().expect("threads"));
    let paragraphs: Vec<&str> = text.split_inclusive("\n\n").collect();
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..repeats {
        let t = Instant::now();
        n = match threads {
            None => tok.encode(&text, &SpecialSet::Nothing, &SpecialSet::Nothing),
            Some(threads) => tok
                .encode_batch_flat(
                    &paragraphs,
                    &SpecialSet::Nothing,
                    &SpecialSet::Nothing,
                    threads,
                    None,
                )
                .map(|batch| batch.into_ids()),
        }
        .unwrap()
        .len();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{} tokens, best {:.1} ms, {:.1} MB/s",
        n,
        best * 1e3,
        text.len() as f64 / best / 1e6
    );
}
