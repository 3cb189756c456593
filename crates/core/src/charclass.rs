//! Unicode character classes for the hand-written pre-tokenizers, taken from the regex engine's own
//! tables (`regex-syntax`, the crate `fancy-regex` compiles with), so a scanner and the regex it
//! replaces can never disagree because of a different Unicode version.
//!
//! Performance notes: ASCII is a 128-entry table, the BMP a 64 KiB table built once, and the
//! supplementary planes a binary search over merged ranges (rare in text).

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`
pub const LETTER: u8 = 1;
/// `\p{N}`
pub const NUMBER: u8 = 2;
/// `\s` (Unicode White_Space)
pub const SPACE: u8 = 4;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` (o200k's "upper" class)
pub const UPPERISH: u8 = 8;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]` (o200k's "lower" class)
pub const LOWERISH: u8 = 16;

struct Tables {
    bmp: Box<[u8]>,
    /// `(first, last, bits)` for code points >= 0x10000, sorted, non-overlapping.
    supplementary: Vec<(u32, u32, u8)>,
}

fn ranges(class: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new()
        .parse(class)
        .expect("built-in class parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        other => unreachable!("{class} is not a Unicode class: {other:?}"),
    }
}

fn build() -> Tables {
    let classes: [(&str, u8); 5] = [
        (r"\p{L}", LETTER),
        (r"\p{N}", NUMBER),
        (r"\s", SPACE),
        (r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", UPPERISH),
        (r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]", LOWERISH),
    ];
    let mut bmp = vec![0u8; 0x10000].into_boxed_slice();
    // Boundaries of every range above the BMP, to cut the supplementary planes into uniform spans.
    let mut cuts: Vec<u32> = vec![0x10000, 0x110000];
    let class_ranges: Vec<(Vec<(u32, u32)>, u8)> = classes.iter().map(|(c, bit)| (ranges(c), *bit)).collect();
    for (rs, bit) in &class_ranges {
        for &(lo, hi) in rs {
            for cp in lo..=hi.min(0xFFFF) {
                bmp[cp as usize] |= bit;
            }
            if hi >= 0x10000 {
                cuts.push(lo.max(0x10000));
                cuts.push(hi + 1);
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut supplementary: Vec<(u32, u32, u8)> = Vec::new();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0], w[1] - 1);
        let bits = class_ranges
            .iter()
            .filter(|(rs, _)| rs.iter().any(|&(a, b)| a <= lo && hi <= b))
            .fold(0u8, |acc, (_, bit)| acc | bit);
        if bits == 0 {
            continue;
        }
        match supplementary.last_mut() {
            Some(last) if last.1 + 1 == lo && last.2 == bits => last.1 = hi,
            _ => supplementary.push((lo, hi, bits)),
        }
    }
    Tables { bmp, supplementary }
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build)
}

/// Class bits of a character.
#[inline]
pub fn class_of(c: char) -> u8 {
    let cp = c as u32;
    if cp < 0x10000 {
        return tables().bmp[cp as usize];
    }
    let sup = &tables().supplementary;
    match sup.binary_search_by(|&(lo, hi, _)| {
        if hi < cp {
            std::cmp::Ordering::Less
        } else if lo > cp {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    }) {
        Ok(i) => sup[i].2,
        Err(_) => 0,
    }
}

/// Forces the tables to be built (so the first encode call does not pay for it).
pub fn warm_up() {
    let _ = tables();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_regex_engine_on_every_code_point() {
        let classes = [
            (r"\A\p{L}\z", LETTER),
            (r"\A\p{N}\z", NUMBER),
            (r"\A\s\z", SPACE),
            (r"\A[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]\z", UPPERISH),
            (r"\A[\p{Ll}\p{Lm}\p{Lo}\p{M}]\z", LOWERISH),
        ];
        let regexes: Vec<(fancy_regex::Regex, u8)> = classes
            .iter()
            .map(|(p, b)| (fancy_regex::Regex::new(p).unwrap(), *b))
            .collect();
        let mut buf = [0u8; 4];
        for cp in (0..0x110000u32).step_by(7).chain(0..0x3000) {
            let Some(c) = char::from_u32(cp) else { continue };
            let s = c.encode_utf8(&mut buf);
            let bits = class_of(c);
            for (re, bit) in &regexes {
                assert_eq!(re.is_match(s).unwrap(), bits & bit != 0, "U+{cp:04X} bit {bit}");
            }
        }
    }
}
