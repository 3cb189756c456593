//! Which inherited merges SuperBPE's second stage keeps.
//!
//! The authors' trainer (the `tokenizers-superbpe` fork of HF tokenizers, `do_train_extend`)
//! starts stage 2 from the bytes of every superword piece and replays the inherited merges one by
//! one through its pair queue. A merge whose pair is not in the queue when its turn comes is
//! skipped: no token, no merge, and every later merge that needs its token is skipped too. The
//! queue holds every pair that occurred in some piece at some point of the replay (entries are
//! never removed before their own turn, even when their count falls to zero), so a merge survives
//! exactly when its two parts were adjacent somewhere, at the start or after one of the earlier
//! merges was applied to every piece. The skipped tokens are typically whitespace runs that the
//! stage-2 pre-tokenizer never leaves next to each other (a tab before three spaces: stage 2
//! isolates trailing spaces), so they could never be produced, and their ids go to superwords.
//!
//! [`unseen_merges`] finds them without replaying the whole list. A merge whose token appears in
//! the stage-1 encoding of some piece (or inside such a token's merge tree) was applied, so it was
//! adjacent. Only the few others are checked exactly: the pieces that contain the bytes of such a
//! pair are replayed one by one in the fork's order (by priority, all occurrences of one merge
//! left to right before the next), noting which of those pairs are adjacent between merges.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use aho_corasick::AhoCorasick;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::bpe::Bpe;

const NONE: u32 = u32::MAX;

#[inline]
fn key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

/// The base's merges by priority, and `(left, right)` -> `(priority, merged)`.
struct Merges {
    list: Vec<Option<(u32, u32, u32)>>,
    by_pair: FxHashMap<u64, (u32, u32)>,
}

impl Merges {
    fn of(base: &Bpe) -> Self {
        let entries = base.merge_entries();
        let len = entries.iter().map(|e| e.2 as usize + 1).max().unwrap_or(0);
        let mut list = vec![None; len];
        let mut by_pair = FxHashMap::default();
        for (a, b, priority, merged) in entries {
            list[priority as usize] = Some((a, b, merged));
            by_pair.insert(key(a, b), (priority, merged));
        }
        Merges { list, by_pair }
    }
}

/// Priorities of the merges of `base` that the fork's replay over `pieces` skips, ascending.
/// `used` marks (by id) every token of the stage-1 encodings of the pieces with a positive count.
pub(crate) fn unseen_merges(
    base: &Bpe,
    pieces: &[(Box<[u8]>, u64)],
    used: &[bool],
    pool: &rayon::ThreadPool,
    threads: usize,
) -> Vec<u32> {
    let merges = Merges::of(base);
    // A token made by exactly one merge was made by that one wherever it appears.
    let mut producers: FxHashMap<u32, (u32, u32)> = FxHashMap::default();
    for (p, m) in merges.list.iter().enumerate() {
        if let Some((_, _, merged)) = m {
            let e = producers.entry(*merged).or_insert((0, p as u32));
            e.0 += 1;
        }
    }
    let mut applied = vec![false; merges.list.len()];
    let mut visited = vec![false; used.len()];
    let mut stack: Vec<u32> = (0..used.len() as u32).filter(|&id| used[id as usize]).collect();
    while let Some(id) = stack.pop() {
        if std::mem::replace(&mut visited[id as usize], true) {
            continue;
        }
        if let Some(&(1, p)) = producers.get(&id) {
            let (a, b, _) = merges.list[p as usize].expect("producer exists");
            applied[p as usize] = true;
            stack.extend(
                [a, b]
                    .into_iter()
                    .filter(|&t| !visited.get(t as usize).copied().unwrap_or(true)),
            );
        }
    }
    let candidates: Vec<u32> = (0..merges.list.len() as u32)
        .filter(|&p| merges.list[p as usize].is_some() && !applied[p as usize])
        .collect();
    if candidates.is_empty() {
        return Vec::new();
    }
    let mut is_candidate = vec![false; merges.list.len()];
    let needles: Vec<Vec<u8>> = candidates
        .iter()
        .map(|&p| {
            is_candidate[p as usize] = true;
            let (a, b, _) = merges.list[p as usize].expect("candidate exists");
            let mut bytes = base.token_bytes(a).unwrap_or_default().to_vec();
            bytes.extend_from_slice(base.token_bytes(b).unwrap_or_default());
            bytes
        })
        .collect();
    let finder = AhoCorasick::new(&needles).expect("needles are plain bytes");
    let chunk = pieces.len().div_ceil(threads.max(1) * 8).max(1);
    let scan = |slice: &[(Box<[u8]>, u64)]| -> Vec<u32> {
        let mut seen = Vec::new();
        for (piece, count) in slice {
            if *count > 0 && finder.is_match(&piece[..]) {
                replay_piece(base, &merges, &is_candidate, piece, &mut seen);
            }
        }
        seen
    };
    let found: Vec<Vec<u32>> = if threads <= 1 {
        pieces.chunks(chunk).map(scan).collect()
    } else {
        pool.install(|| pieces.par_chunks(chunk).map(scan).collect())
    };
    let mut seen = vec![false; merges.list.len()];
    for p in found.into_iter().flatten() {
        seen[p as usize] = true;
    }
    candidates.into_iter().filter(|&p| !seen[p as usize]).collect()
}

/// Replays the merges on one piece in the fork's order and pushes the priority of every candidate
/// merge whose pair is adjacent before its own turn (at the start or between two merges).
fn replay_piece(base: &Bpe, merges: &Merges, is_candidate: &[bool], piece: &[u8], seen: &mut Vec<u32>) {
    let n = piece.len();
    let mut sym: Vec<u32> = piece
        .iter()
        .map(|&b| base.token_id(&[b]).expect("every byte is a token"))
        .collect();
    let mut next: Vec<u32> = (1..=n as u32)
        .map(|i| if i as usize == n { NONE } else { i })
        .collect();
    let mut prev: Vec<u32> = (0..n as u32).map(|i| if i == 0 { NONE } else { i - 1 }).collect();
    let mut alive = vec![true; n];
    let mut heap: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::new();
    let pair_at = |sym: &[u32], next: &[u32], pos: u32| -> Option<(u32, u32)> {
        let right = next[pos as usize];
        if right == NONE {
            return None;
        }
        merges
            .by_pair
            .get(&key(sym[pos as usize], sym[right as usize]))
            .copied()
    };
    for pos in 0..n.saturating_sub(1) as u32 {
        if let Some((priority, _)) = pair_at(&sym, &next, pos) {
            heap.push(Reverse((priority, pos)));
            if is_candidate[priority as usize] {
                seen.push(priority);
            }
        }
    }
    // Left positions of candidate pairs formed while the current merge is applied; they count
    // once that merge is done everywhere in the piece (a pair formed and consumed by the same
    // merge, as in "aaaa", never reaches the fork's queue).
    let mut pending: Vec<u32> = Vec::new();
    let mut current = NONE;
    let flush = |pending: &mut Vec<u32>,
                 sym: &[u32],
                 next: &[u32],
                 alive: &[bool],
                 done: u32,
                 seen: &mut Vec<u32>| {
        for pos in pending.drain(..) {
            if alive[pos as usize] {
                if let Some((priority, _)) = pair_at(sym, next, pos) {
                    if is_candidate[priority as usize] && (done == NONE || priority > done) {
                        seen.push(priority);
                    }
                }
            }
        }
    };
    while let Some(Reverse((priority, pos))) = heap.pop() {
        if priority != current {
            flush(&mut pending, &sym, &next, &alive, current, seen);
            current = priority;
        }
        if !alive[pos as usize] {
            continue;
        }
        let Some((p, merged)) = pair_at(&sym, &next, pos) else {
            continue;
        };
        if p != priority {
            continue;
        }
        let right = next[pos as usize];
        sym[pos as usize] = merged;
        alive[right as usize] = false;
        let after = next[right as usize];
        next[pos as usize] = after;
        if after != NONE {
            prev[after as usize] = pos;
        }
        let before = prev[pos as usize];
        for left in [before, pos] {
            if left == NONE {
                continue;
            }
            if let Some((q, _)) = pair_at(&sym, &next, left) {
                heap.push(Reverse((q, left)));
                if is_candidate[q as usize] {
                    pending.push(left);
                }
            }
        }
    }
    flush(&mut pending, &sym, &next, &alive, current, seen);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(merges: &[(&str, &str)]) -> Bpe {
        let mut vocab: Vec<(Vec<u8>, u32)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let mut ids: FxHashMap<Vec<u8>, u32> = vocab.iter().cloned().collect();
        let mut list = Vec::new();
        for (a, b) in merges {
            let merged = [a.as_bytes(), b.as_bytes()].concat();
            let next = vocab.len() as u32;
            let id = *ids.entry(merged.clone()).or_insert(next);
            if id == next {
                vocab.push((merged, id));
            }
            list.push((ids[a.as_bytes()], ids[b.as_bytes()]));
        }
        Bpe::from_merges(vocab, &list, false, None).unwrap()
    }

    fn unseen(bpe: &Bpe, pieces: &[&str]) -> Vec<u32> {
        let pieces: Vec<(Box<[u8]>, u64)> = pieces.iter().map(|p| (p.as_bytes().into(), 1)).collect();
        let mut used = vec![false; bpe.id_space()];
        let mut out = Vec::new();
        for (piece, _) in &pieces {
            out.clear();
            bpe.encode_piece(piece, &mut out);
            for &id in &out {
                used[id as usize] = true;
            }
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        unseen_merges(bpe, &pieces, &used, &pool, 1)
    }

    #[test]
    fn merges_whose_pair_never_occurs_are_unseen() {
        // "\t" then "  " (a token of two spaces) never meet in "a\tb  c"; "ab" is not in the text.
        let bpe = base(&[(" ", " "), ("\t", "  "), ("a", "b"), ("b", " ")]);
        assert_eq!(unseen(&bpe, &["a\tb  c"]), vec![1, 2]);
        // A merge that needs a skipped token is skipped too.
        let bpe = base(&[("\t", " "), ("\t ", "x"), ("y", "z")]);
        assert_eq!(unseen(&bpe, &["yz\t"]), vec![0, 1]);
    }

    #[test]
    fn a_pair_that_occurs_but_is_always_pre_empted_is_kept() {
        // "b"+"c" is adjacent in "abc" before "a"+"b" (priority 0) takes the "b": the fork's queue
        // holds it, so it is replayed (a no-op) and kept, although it is never applied.
        let bpe = base(&[("a", "b"), ("b", "c")]);
        assert_eq!(unseen(&bpe, &["abc"]), Vec::<u32>::new());
        // Formed between two merges: "ab"+"c" appears after merge 0, before merge 2 ("x"+"ab").
        let bpe = base(&[("a", "b"), ("x", "ab"), ("ab", "c")]);
        assert_eq!(unseen(&bpe, &["xabc"]), Vec::<u32>::new());
    }

    #[test]
    fn a_pair_formed_and_consumed_by_one_merge_is_unseen() {
        // Merging "a"+"a" in "aaaa" passes through "aa a a" but ends as "aa aa": "aa"+"a" never
        // reaches the queue, while "aa"+"aa" does.
        let bpe = base(&[("a", "a"), ("aa", "a"), ("aa", "aa")]);
        assert_eq!(unseen(&bpe, &["aaaa"]), vec![1]);
    }
}
