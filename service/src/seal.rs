//! Tokens sealed at rest (`AUTH_SERVICE_TOKEN_SEAL_KEY_FILE`): AES-256-GCM
//! through ring's `aead`, a fresh random nonce per record, and associated data
//! that binds a record to where it belongs, so a record copied elsewhere does
//! not open. The first key of the file seals; every key opens, so keys can be
//! rotated. Used by the cluster token cache ([`crate::tokens`]) and by the
//! retiring tokens of the lease book ([`crate::leases`]).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::SealKeys;

/// One key: the AEAD key and its public id (a hash prefix, never the key).
struct SealKey {
    key: LessSafeKey,
    id: String,
}

/// A token sealed for the store: which key sealed it, and nonce + ciphertext (hex).
pub struct Sealed {
    /// The sealing key's public id.
    pub key_id: String,
    /// Nonce and ciphertext with its tag, hex.
    pub sealed: String,
}

/// The keys of the seal key file.
pub struct Sealer {
    keys: Vec<SealKey>,
    rng: SystemRandom,
}

impl Sealer {
    /// Sealing with `keys` (the first seals, all open).
    pub fn new(keys: &SealKeys) -> Self {
        let keys = keys
            .keys
            .iter()
            .map(|k| SealKey {
                key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, k).expect("a 32-byte key is an AES-256 key")),
                id: hex::encode(&Sha256::digest(k)[..8]),
            })
            .collect();
        Self { keys, rng: SystemRandom::new() }
    }

    /// Seal `token`, bound to `aad` (None: no key, or no randomness).
    pub fn seal(&self, token: &SecretString, aad: &str) -> Option<Sealed> {
        let key = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut data = token.expose_secret().as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut data)
            .ok()?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Some(Sealed { key_id: key.id.clone(), sealed: hex::encode(out) })
    }

    /// Open a record `key_id` sealed, bound to `aad` (None: wrong key, other
    /// binding, or a tampered record).
    pub fn unseal(&self, key_id: &str, sealed: &str, aad: &str) -> Option<SecretString> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        // The key that sealed it first, then the others (a record may predate a key's id).
        let order = self.keys.iter().filter(|k| k.id == key_id).chain(self.keys.iter().filter(|k| k.id != key_id));
        for key in order {
            let mut data = sealed.to_vec();
            let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
            if let Ok(plain) = key.key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data) {
                return String::from_utf8(plain.to_vec()).ok().map(SecretString::from);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(list: &[[u8; 32]]) -> Sealer {
        Sealer::new(&SealKeys { file: "/k".into(), keys: list.to_vec(), loose_mode: false })
    }

    #[test]
    fn a_sealed_token_opens_only_with_a_key_of_the_file_and_only_where_it_was_bound() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let sealer = sealer(&[old]);
        let token = SecretString::from("s.secret-token".to_string());
        let Sealed { key_id, sealed } = sealer.seal(&token, "aad-A").expect("sealed");
        assert!(!sealed.contains(&hex::encode("s.secret-token")), "the token is not in the record");
        let open =
            |s: &Sealer, sealed: &str, aad: &str| s.unseal(&key_id, sealed, aad).map(|t| t.expose_secret().to_string());
        assert_eq!(open(&sealer, &sealed, "aad-A"), Some("s.secret-token".into()));
        assert!(open(&sealer, &sealed, "aad-B").is_none(), "bound to where it belongs");
        // Rotation: the new key seals, the old one still opens.
        let rotated = self::sealer(&[new, old]);
        assert!(open(&rotated, &sealed, "aad-A").is_some(), "an old record opens with the old key second");
        assert_ne!(rotated.seal(&token, "aad-A").expect("sealed").key_id, key_id, "new records use the first key");
        assert!(open(&self::sealer(&[new]), &sealed, "aad-A").is_none(), "a wrong key does not open it");
        // A tampered record does not open.
        let mut bytes = hex::decode(&sealed).expect("hex");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(open(&sealer, &hex::encode(bytes), "aad-A").is_none());
        let (a, b) = (sealer.seal(&token, "x").expect("a"), sealer.seal(&token, "x").expect("b"));
        assert_ne!(a.sealed, b.sealed, "a fresh nonce per record");
    }
}
