//! `X-Ecwid-Webhook-Signature`: `base64(HMAC-SHA256(client_secret, "{eventCreated}.{eventId}"))`
//! (contract 13.4). Only those two fields are signed, so a valid signature proves the
//! event's origin and nothing about the rest of the body: the worker re-reads the entity.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

fn mac(client_secret: &str, event_created: i64, event_id: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(format!("{event_created}.{event_id}").as_bytes());
    mac
}

/// The signature Ecwid sends with the event (tests and benchmarks sign with it).
pub fn sign(client_secret: &str, event_created: i64, event_id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(
        mac(client_secret, event_created, event_id)
            .finalize()
            .into_bytes(),
    )
}

/// Whether `header` is the event's signature. The comparison takes the same time wherever
/// the first differing byte is, so timing tells a forger nothing.
pub fn verify(client_secret: &str, event_created: i64, event_id: &str, header: &str) -> bool {
    let Ok(claimed) = base64::engine::general_purpose::STANDARD.decode(header.trim()) else {
        return false;
    };
    mac(client_secret, event_created, event_id)
        .verify_slice(&claimed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "abcde123456789";
    const CREATED: i64 = 1469429912;
    const ID: &str = "08a78904-0aa0-4c1a-953a-2e33c56236f0";
    const EXPECTED: &str = "AT6vx56ZwtETOr5EEUtgZC3aJqzCZ1Ccl++RUFVEjP4=";

    #[test]
    fn the_contract_test_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, CREATED, ID), EXPECTED);
        assert!(verify(SECRET, CREATED, ID, EXPECTED));
    }

    #[test]
    fn any_change_to_secret_time_id_or_signature_fails_verification() {
        assert!(!verify("abcde12345678", CREATED, ID, EXPECTED));
        assert!(!verify(SECRET, CREATED + 1, ID, EXPECTED));
        assert!(!verify(SECRET, CREATED, "08a78904", EXPECTED));
        let tampered = EXPECTED.replacen('A', "B", 1);
        assert!(!verify(SECRET, CREATED, ID, &tampered));
        // Truncated, not base64, empty.
        assert!(!verify(SECRET, CREATED, ID, &EXPECTED[..40]));
        assert!(!verify(SECRET, CREATED, ID, "not base64!"));
        assert!(!verify(SECRET, CREATED, ID, ""));
    }
}
