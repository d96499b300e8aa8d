//! Token keys. Access tokens are signed with Ed25519 (`EdDSA`): only the users service holds a
//! private key ([`Issuer`]); every service verifies with public keys ([`KeySet`]), configured
//! (`auth.verification_keys`) or fetched from the users service's JWKS (`auth.jwks_url`), so a
//! compromised reader cannot mint tokens. Keys are named (`kid`): several may be valid at once,
//! which is how a key is rotated without downtime (docs/security.md).
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters,
    OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::signature::KeyPair;
use secrecy::{ExposeSecret, SecretString};

/// `kid=value` pairs separated by commas (whitespace around them ignored).
pub(crate) fn named(list: &str) -> anyhow::Result<Vec<(String, String)>> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (kid, value) = item
                .split_once('=')
                .with_context(|| format!("a key must be written kid=value, got one starting {:.8}…", item))?;
            anyhow::ensure!(!kid.trim().is_empty(), "a key has an empty kid");
            Ok((kid.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// The public half of an Ed25519 key as a JWK.
fn jwk(kid: &str, public: &[u8]) -> Jwk {
    Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            key_id: Some(kid.to_owned()),
            ..CommonParameters::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
        }),
    }
}

/// Signs access tokens: the users service's private keys (`auth.signing_keys`, each
/// `kid=<base64 of a PKCS#8 DER Ed25519 key>`). The first signs; all are published.
pub struct Issuer {
    kid: String,
    key: EncodingKey,
    /// Every configured key's public half, published in the JWKS.
    jwks: JwkSet,
}

impl Issuer {
    /// `None` when no signing key is configured (every service but users).
    pub fn from_config(signing_keys: &SecretString) -> anyhow::Result<Option<Self>> {
        let keys = named(signing_keys.expose_secret()).context("auth.signing_keys")?;
        let Some((first_kid, _)) = keys.first().cloned() else {
            return Ok(None);
        };
        let mut first = None;
        let mut published = Vec::new();
        for (kid, value) in keys {
            let der = base64::engine::general_purpose::STANDARD
                .decode(value.as_bytes())
                .with_context(|| format!("signing key {kid} is not base64"))?;
            let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .map_err(|e| anyhow::anyhow!("signing key {kid} is not a PKCS#8 Ed25519 key: {e}"))?;
            published.push(jwk(&kid, pair.public_key().as_ref()));
            if first.is_none() {
                first = Some(EncodingKey::from_ed_der(&der));
            }
        }
        Ok(first.map(|key| Self {
            kid: first_kid,
            key,
            jwks: JwkSet { keys: published },
        }))
    }

    /// The kid of the key that signs.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(super) fn key(&self) -> &EncodingKey {
        &self.key
    }

    /// The public keys, as served at `/api/v1/auth/jwks`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

/// The public keys a service verifies with, by kid: the configured ones plus, if a JWKS URL is
/// set, the ones it last served.
pub struct KeySet {
    configured: HashMap<String, DecodingKey>,
    fetched: RwLock<HashMap<String, DecodingKey>>,
}

impl KeySet {
    /// From `auth.verification_keys` (`kid=<base64url of the 32-byte public key>`, as the JWK's
    /// `x`) and the issuer's own keys if this service signs.
    pub fn new(verification_keys: &str, issuer: Option<&Issuer>) -> anyhow::Result<Self> {
        let mut configured = HashMap::new();
        for (kid, x) in named(verification_keys).context("auth.verification_keys")? {
            configured.insert(kid.clone(), ed25519_public(&kid, &x)?);
        }
        if let Some(issuer) = issuer {
            configured.extend(decoding_keys(issuer.jwks()));
        }
        Ok(Self {
            configured,
            fetched: RwLock::default(),
        })
    }

    /// The key named `kid`, if known.
    pub fn get(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.configured.get(kid) {
            return Some(key.clone());
        }
        let fetched = self.fetched.read().unwrap_or_else(|e| e.into_inner());
        fetched.get(kid).cloned()
    }

    /// How many keys are known.
    pub fn len(&self) -> usize {
        self.configured.len() + self.fetched.read().map_or(0, |f| f.len())
    }

    /// True when no key is known (no token can be verified).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the fetched keys with those of `jwks` (Ed25519 ones; others are ignored).
    pub fn replace_fetched(&self, jwks: &JwkSet) {
        let keys = decoding_keys(jwks);
        *self.fetched.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    /// Fetches `url` every `every` in the background (a failed fetch keeps the last keys).
    pub fn refresh_from(self: &Arc<Self>, url: String, every: Duration) {
        let keys = Arc::downgrade(self);
        actix_web::rt::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default();
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                let Some(keys) = keys.upgrade() else { return };
                match fetch(&client, &url).await {
                    Ok(jwks) => keys.replace_fetched(&jwks),
                    Err(e) => {
                        tracing::warn!(error.cause_chain = ?e, url, "JWKS not refreshed; keeping the last keys")
                    }
                }
            }
        });
    }
}

async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<JwkSet> {
    let response = client.get(url).send().await.context("JWKS request failed")?;
    let response = response.error_for_status().context("JWKS request refused")?;
    response.json().await.context("JWKS does not decode")
}

fn decoding_keys(jwks: &JwkSet) -> HashMap<String, DecodingKey> {
    jwks.keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::OctetKeyPair(_)))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

fn ed25519_public(kid: &str, x: &str) -> anyhow::Result<DecodingKey> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(x.trim_end_matches('=').as_bytes())
        .with_context(|| format!("verification key {kid} is not base64url"))?;
    anyhow::ensure!(
        raw.len() == 32,
        "verification key {kid} is not a 32-byte Ed25519 public key"
    );
    Ok(DecodingKey::from_ed_der(&raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;

    fn generated() -> String {
        let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    }

    #[test]
    fn the_first_signing_key_signs_and_every_one_is_published() {
        let config: SecretString = format!("new={}, old={}", generated(), generated()).into();
        let issuer = Issuer::from_config(&config).unwrap().unwrap();
        assert_eq!(issuer.kid(), "new");
        let kids: Vec<_> = issuer
            .jwks()
            .keys
            .iter()
            .map(|k| k.common.key_id.clone().unwrap())
            .collect();
        assert_eq!(kids, vec!["new", "old"]);
        let keys = KeySet::new("", Some(&issuer)).unwrap();
        assert!(keys.get("old").is_some() && keys.get("other").is_none());
    }

    #[test]
    fn malformed_keys_are_refused_at_start_up() {
        for bad in ["nokid", "k=not base64!", "k=AAAA"] {
            assert!(Issuer::from_config(&bad.to_owned().into()).is_err(), "{bad}");
        }
        assert!(KeySet::new("k=AAAA", None).is_err());
        assert!(Issuer::from_config(&String::new().into()).unwrap().is_none());
    }
}
