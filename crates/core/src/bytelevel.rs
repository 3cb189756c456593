//! GPT-2's byte-level alphabet: each byte as a printable char (HF `ByteLevel`), used where a
//! decoder chain meets byte-level token strings.

/// The byte a byte-level alphabet char stands for.
pub fn char_to_byte(c: char) -> Option<u8> {
    let c = c as u32;
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if c < 256 && printable(c) {
        return Some(c as u8);
    }
    // The other bytes, in order, are 256, 257, ...
    let n = c.checked_sub(256)?;
    (0u32..256)
        .filter(|&b| !printable(b))
        .nth(n as usize)
        .map(|b| b as u8)
}

/// The byte-level alphabet char of a byte (the inverse of [`char_to_byte`]).
pub fn byte_to_char(b: u8) -> char {
    let printable = |b: u8| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    if printable(b) {
        return b as char;
    }
    let n = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + n).expect("256..=323 are chars")
}

#[cfg(test)]
mod tests {
    #[test]
    fn alphabet() {
        assert_eq!(super::char_to_byte('Ġ'), Some(b' '));
        assert_eq!(super::char_to_byte('a'), Some(b'a'));
        assert_eq!(super::char_to_byte('€'), None);
        for b in 0..=255u8 {
            assert_eq!(super::char_to_byte(super::byte_to_char(b)), Some(b));
        }
    }
}
