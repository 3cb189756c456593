//! Times the engine alone (no Python) on a text file: `cargo run --release --example encode_file --
//! VOCAB.tiktoken PRESET TEXT_FILE [REPEATS [THREADS]]`. With THREADS, the file is split into
//! paragraphs (blank lines) and encoded as one batch on that many threads. Used to profile the
//! encoder (e.g. under `perf`) and to see how the batch path scales without Python in the way.
//! With `UNSEEN=1` in the environment, every repeat uses a clone of the tokenizer (empty piece
//! memo), encodes the first half of the file untimed and times the second half (what
//! `bench/encode.py`'s unseen-text rows measure). With `PERF_CTL=FIFO` as well, the timed halves
//! are bracketed by `enable` / `disable` written to that fifo, so that `perf record -D -1
//! --control fifo:FIFO` samples only them.

use std::time::Instant;

use tokenforge_core::presets::Preset;
use tokenforge_core::tiktoken_file::parse_tiktoken;
use tokenforge_core::{Bpe, PreTokenizer, SpecialSet, SpecialTokens, Step, Tokenizer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: encode_file VOCAB.tiktoken PRESET TEXT_FILE [REPEATS [THREADS]]");
        std::process::exit(2);
    }
    let vocab = parse_tiktoken(&std::fs::read(&args[1]).expect("read vocab")).expect("a .tiktoken file");
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
    if std::env::var_os("UNSEEN").is_some() {
        let mut middle = text.len() / 2;
        while !text.is_char_boundary(middle) {
            middle += 1;
        }
        let (warm, timed) = text.split_at(middle);
        let mut perf = std::env::var_os("PERF_CTL").map(|fifo| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(fifo)
                .expect("the perf control fifo")
        });
        let mut tell_perf = |command: &[u8]| {
            if let Some(fifo) = perf.as_mut() {
                std::io::Write::write_all(fifo, command).expect("write to the perf control fifo");
                // perf polls the fifo: give it time to act before the next command.
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
        };
        for _ in 0..repeats {
            let fresh = tok.clone();
            encode_text(&fresh, warm);
            tell_perf(b"enable\n");
            let t = Instant::now();
            n = encode_text(&fresh, timed).len();
            best = best.min(t.elapsed().as_secs_f64());
            tell_perf(b"disable\n");
        }
        println!(
            "unseen half: {} tokens, best {:.2} ms, {:.1} MB/s",
            n,
            best * 1e3,
            timed.len() as f64 / best / 1e6
        );
        return;
    }
    for _ in 0..repeats {
        let t = Instant::now();
        n = match threads {
            None => Ok(encode_text(&tok, &text)),
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

/// One encode call kept out of line, so that a profiler attributes the encoder's cost to this
/// symbol however much of it the compiler inlines (`callgrind_annotate --inclusive=yes`).
#[inline(never)]
fn encode_text(tok: &Tokenizer, text: &str) -> Vec<u32> {
    tok.encode(text, &SpecialSet::Nothing, &SpecialSet::Nothing)
        .unwrap()
}
