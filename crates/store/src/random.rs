//! Unguessable identifiers: tokens, secrets and member ids.

use rand::Rng;
use rand::distr::Alphanumeric;

/// `len` characters from `[a-z0-9]`, the alphabet of Bitrix24's webhook codes and tokens.
pub fn token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| {
            let c = rng.sample(Alphanumeric) as char;
            c.to_ascii_lowercase()
        })
        .collect()
}

/// `len` lowercase hex digits (member ids, application tokens).
pub fn hex(len: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdef";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| DIGITS[rng.random_range(0..16)] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn alphabets() {
        let t = super::token(32);
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert!(
            super::hex(32)
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(super::token(32), super::token(32));
    }
}
