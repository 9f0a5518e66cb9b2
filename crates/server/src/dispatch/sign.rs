//! Signed deliveries, after the Standard Webhooks specification: the three headers a signed
//! outgoing webhook's deliveries carry, and their check (used by `b24lite listen`).
//!
//! Bitrix24 signs nothing; an unsigned webhook gets none of these headers. Nothing here does IO.

use b24lite_store::random::SECRET_PREFIX;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use subtle::ConstantTimeEq;

/// A delivery's stable id: the same on every attempt and redelivery of it.
pub const ID: &str = "webhook-id";
/// When the delivery was sent, in Unix seconds: the body's `ts`.
pub const TIMESTAMP: &str = "webhook-timestamp";
/// `v1,` and the base64 of the HMAC-SHA256 of `{id}.{timestamp}.{body}`.
pub const SIGNATURE: &str = "webhook-signature";

/// A stored secret that is not `whsec_` and base64 (only a hand-edited database holds one).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the signing secret is not whsec_ followed by base64")]
pub struct BadSecret;

/// The `webhook-id` of a delivery: its id in the delivery log, prefixed.
pub fn message_id(delivery_id: i64) -> String {
    format!("msg_{delivery_id}")
}

/// The headers of a signed delivery of `body`, sent at `timestamp`.
pub fn headers(
    secret: &str,
    delivery_id: i64,
    timestamp: i64,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, BadSecret> {
    let id = message_id(delivery_id);
    let timestamp = timestamp.to_string();
    let tag = tag(&key(secret)?, &id, &timestamp, body);
    let signature = format!("v1,{}", STANDARD.encode(tag.as_ref()));
    Ok(vec![
        (ID, id),
        (TIMESTAMP, timestamp),
        (SIGNATURE, signature),
    ])
}

/// Whether one of the space-separated `v1,` signatures in `signatures` is the HMAC of this id,
/// timestamp (as received) and body under `secret`. The timestamp's age is not checked here.
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let Ok(key) = key(secret) else {
        return false;
    };
    let expected = tag(&key, id, timestamp, body);
    signatures
        .split_whitespace()
        .filter_map(|one| one.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|given| bool::from(given.ct_eq(expected.as_ref())))
}

/// The HMAC-SHA256 key behind a `whsec_` secret.
fn key(secret: &str) -> Result<hmac::Key, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or(BadSecret)?;
    let bytes = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
    if bytes.is_empty() {
        return Err(BadSecret);
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// The HMAC of the signed content, fed in parts so the body is not copied.
fn tag(key: &hmac::Key, id: &str, timestamp: &str, body: &[u8]) -> hmac::Tag {
    let mut context = hmac::Context::with_key(key);
    for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
        context.update(part);
    }
    context.sign()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key is the bytes 0..32; the expected signature was computed with Python's `hmac`.
    const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const BODY: &[u8] = b"event=ONCRMCONTACTUSERFIELDADD&ts=1796320408";
    const SIGNATURE_OF_BODY: &str = "v1,jdKmVcVLUi6YvhntwfgI9Dz40NX7y54jQJio+lYq/Cg=";

    #[test]
    fn headers_carry_the_known_signature() {
        let headers = headers(SECRET, 7, 1796320408, BODY).unwrap();
        assert_eq!(
            headers,
            [
                (ID, "msg_7".to_string()),
                (TIMESTAMP, "1796320408".to_string()),
                (SIGNATURE, SIGNATURE_OF_BODY.to_string()),
            ]
        );
    }

    #[test]
    fn verify_accepts_the_signature_and_nothing_else() {
        let check = |id, ts, body, signatures| verify(SECRET, id, ts, body, signatures);
        assert!(check("msg_7", "1796320408", BODY, SIGNATURE_OF_BODY));
        let several = format!("v1,bm90IGl0 {SIGNATURE_OF_BODY}");
        assert!(check("msg_7", "1796320408", BODY, &several));

        assert!(!check("msg_8", "1796320408", BODY, SIGNATURE_OF_BODY));
        assert!(!check("msg_7", "1796320409", BODY, SIGNATURE_OF_BODY));
        assert!(!check("msg_7", "1796320408", b"event=X", SIGNATURE_OF_BODY));
        let other_scheme = SIGNATURE_OF_BODY.replace("v1,", "v2,");
        assert!(!check("msg_7", "1796320408", BODY, &other_scheme));
        assert!(!check("msg_7", "1796320408", BODY, "v1,***"));
        assert!(!check("msg_7", "1796320408", BODY, ""));
        let rotated = b24lite_store::random::signing_secret();
        assert!(!verify(
            &rotated,
            "msg_7",
            "1796320408",
            BODY,
            SIGNATURE_OF_BODY
        ));
    }

    #[test]
    fn generated_secrets_sign_and_verify() {
        let secret = b24lite_store::random::signing_secret();
        let headers = headers(&secret, 1, 5, b"x=1").unwrap();
        assert!(verify(&secret, "msg_1", "5", b"x=1", &headers[2].1));
    }

    #[test]
    fn malformed_secrets_are_refused() {
        for secret in [
            "",
            "whsec_",
            "whsec_***",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ] {
            assert_eq!(
                headers(secret, 1, 1, b"").unwrap_err(),
                BadSecret,
                "{secret}"
            );
            assert!(!verify(secret, "msg_1", "1", b"", SIGNATURE_OF_BODY));
        }
    }
}
