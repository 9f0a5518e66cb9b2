//! Unguessable identifiers: tokens, secrets and member ids.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use rand::distr::Alphanumeric;

/// How a signing secret begins (the Standard Webhooks convention).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes behind a signing secret: the HMAC-SHA256 key.
pub const SECRET_BYTES: usize = 32;

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

/// A new signing secret for an outgoing webhook: [`SECRET_PREFIX`] and the standard base64 of
/// [`SECRET_BYTES`] random bytes.
pub fn signing_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    rand::rng().fill(&mut key);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
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

    #[test]
    fn signing_secrets() {
        use base64::Engine;

        let secret = super::signing_secret();
        let encoded = secret.strip_prefix(super::SECRET_PREFIX).unwrap();
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(key.len(), super::SECRET_BYTES);
        assert_ne!(super::signing_secret(), secret);
    }
}
