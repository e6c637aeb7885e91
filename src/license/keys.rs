//! Trusted issuers and the keys their tokens are verified with.
//!
//! Keys come from JWKS documents (RFC 7517), PEM public keys and, only where
//! configured, an HS256 shared secret. Each key is bound to one algorithm
//! when it is loaded (from the JWK's key type and curve, or the PEM key's
//! configured algorithm); a token whose `alg` differs from its key's is
//! rejected, which is what defeats algorithm confusion (an HS256 token
//! "signed" with a public key's bytes never reaches an HMAC check).
//!
//! Every key is parsed and checked at load time, so a bad key fails
//! construction with the file named instead of failing each token later.
//! RSA keys must have 2048 to 4096 bits (the backend verifies no larger).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Verifier as _;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use rsa::BigUint;
use rsa::pkcs1::der::Decode as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::config::{IssuerConfig, PemKeyConfig};
use super::error::LicenseConfigError;
use super::outcome::LicenseDenial;
use super::remote_keys::RemoteKeys;

/// Shortest HS256 secret accepted: the hash output size (RFC 7518 §3.2).
const MIN_HS256_SECRET: usize = 32;

/// Shortest RSA modulus accepted, in bits (RFC 7518 §3.3; NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// Why a key cannot be trusted: a reason, or an RSA modulus too short.
pub(super) enum KeyError {
    Invalid(String),
    RsaTooShort { bits: usize },
}

impl From<String> for KeyError {
    fn from(detail: String) -> Self {
        Self::Invalid(detail)
    }
}

impl From<&str> for KeyError {
    fn from(detail: &str) -> Self {
        Self::Invalid(detail.to_owned())
    }
}

/// A trusted issuer: its `iss` value and the keys its tokens may name.
pub(crate) struct Issuer {
    name: String,
    keys: HashMap<String, TrustedKey>,
    hs256: Option<TrustedKey>,
    /// Keys fetched from `jwks_url`, tried after the configured ones.
    remote: Option<RemoteKeys>,
}

impl Issuer {
    /// Loads the issuer's keys, resolving paths against `base`. `audience`
    /// goes into each key's [`KeyTag`].
    pub(crate) fn load(
        config: &IssuerConfig,
        base: &Path,
        audience: Option<&str>,
    ) -> Result<Self, LicenseConfigError> {
        let mut issuer = Self {
            name: config.issuer.clone(),
            keys: HashMap::new(),
            hs256: None,
            remote: None,
        };
        if let Some(file) = &config.jwks_file {
            let path = base.join(file);
            for key in load_jwks(&path)? {
                issuer.add(key)?;
            }
        }
        for pem in &config.pem_keys {
            let key = load_pem(pem, base)?;
            issuer.add(key)?;
        }
        if let Some(file) = &config.hs256_secret_file {
            issuer.hs256 = Some(load_hs256(&base.join(file))?);
        }
        if let Some(url) = &config.jwks_url {
            issuer.remote = Some(RemoteKeys::new(config, url, audience)?);
        }
        if issuer.keys.is_empty() && issuer.hs256.is_none() && issuer.remote.is_none() {
            return Err(LicenseConfigError::NoKeys {
                issuer: issuer.name,
            });
        }
        let name = issuer.name.clone();
        for key in issuer.keys.values_mut().chain(issuer.hs256.as_mut()) {
            key.tag = KeyTag::of(&name, audience, key);
        }
        Ok(issuer)
    }

    /// Whether one of this issuer's keys carries `tag`.
    pub(crate) fn has_key(&self, tag: KeyTag) -> bool {
        self.keys
            .values()
            .chain(self.hs256.as_ref())
            .any(|k| k.tag == tag)
            || self.remote.as_ref().is_some_and(|r| r.has_key(tag))
    }

    /// The source of the keys fetched from `jwks_url`, if configured.
    pub(crate) fn remote(&self) -> Option<&RemoteKeys> {
        self.remote.as_ref()
    }

    fn add(&mut self, key: TrustedKey) -> Result<(), LicenseConfigError> {
        match self.keys.entry(key.kid.clone()) {
            Entry::Occupied(existing) => Err(LicenseConfigError::DuplicateKid {
                issuer: self.name.clone(),
                kid: key.kid,
                first: existing.get().source.clone(),
                second: key.source,
            }),
            Entry::Vacant(slot) => {
                slot.insert(key);
                Ok(())
            }
        }
    }

    /// The exact `iss` value.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a token's signature with the key its `alg` and `kid`
    /// select; the key's tag on success.
    ///
    /// HS256 tokens use the issuer's shared secret (their `kid` is not
    /// consulted); every other token must name one of the issuer's keys by
    /// `kid` (configured, or fetched from `jwks_url`), and its `alg` must
    /// be that key's algorithm.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        signing_input: &[u8],
        signature: &str,
    ) -> Result<KeyTag, LicenseDenial> {
        if alg == Algorithm::HS256 {
            return self
                .hs256
                .as_ref()
                .ok_or_else(|| LicenseDenial::invalid("HS256 is not accepted for this issuer"))?
                .check(alg, signing_input, signature);
        }
        let kid = kid.ok_or_else(|| LicenseDenial::invalid("the token names no key (`kid`)"))?;
        match (self.keys.get(kid), &self.remote) {
            (Some(key), _) => key.check(alg, signing_input, signature),
            (None, Some(remote)) => remote.verify(alg, kid, signing_input, signature),
            (None, None) => Err(LicenseDenial::invalid(
                "the token's `kid` is not a key of its issuer",
            )),
        }
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&TrustedKey> = self.keys.values().collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        f.debug_struct("Issuer")
            .field("name", &self.name)
            .field("keys", &keys)
            .field("hs256", &self.hs256.is_some())
            .field("remote", &self.remote)
            .finish()
    }
}

/// What a verified token was accepted under: a digest of the issuer, the
/// audience, and the key's id, algorithm and bytes. A cached token is good
/// only while the trust in force still holds a key with its tag, so a
/// reload that removes an issuer or a key, or changes the audience, drops
/// the tokens it verified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct KeyTag([u8; 16]);

impl KeyTag {
    pub(super) fn of(issuer: &str, audience: Option<&str>, key: &TrustedKey) -> Self {
        let mut h = Sha256::new();
        // Length-prefixed so that no two different inputs run together.
        for part in [
            issuer.as_bytes(),
            audience.unwrap_or("\0none").as_bytes(),
            key.kid.as_bytes(),
            format!("{:?}", key.alg).as_bytes(),
            &key.digest,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let digest = h.finalize();
        let mut tag = [0u8; 16];
        for (slot, b) in tag.iter_mut().zip(digest.iter()) {
            *slot = *b;
        }
        Self(tag)
    }
}

/// One verification key, bound to one algorithm.
pub(crate) struct TrustedKey {
    kid: String,
    alg: Algorithm,
    source: PathBuf,
    material: KeyMaterial,
    /// SHA-256 of the bytes the key was read from.
    digest: [u8; 32],
    tag: KeyTag,
}

pub(super) enum KeyMaterial {
    /// Kept decompressed: jsonwebtoken would re-decode the point on every
    /// verification, a tenth of the cost of the signature check itself.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ES256, RS256 and HS256, verified by jsonwebtoken.
    Jwt(DecodingKey),
}

impl TrustedKey {
    pub(super) fn new(
        kid: String,
        alg: Algorithm,
        source: PathBuf,
        material: KeyMaterial,
        bytes: &[u8],
    ) -> Self {
        Self {
            kid,
            alg,
            source,
            material,
            digest: Sha256::digest(bytes).into(),
            tag: KeyTag::default(),
        }
    }

    /// The tag tokens verified under this key are cached with.
    pub(super) fn tag(&self) -> KeyTag {
        self.tag
    }

    /// The key with its cache tag set, for `issuer` and `audience`.
    pub(super) fn tagged(mut self, issuer: &str, audience: Option<&str>) -> Self {
        self.tag = KeyTag::of(issuer, audience, &self);
        self
    }

    /// The key id tokens name it by.
    pub(super) fn kid(&self) -> &str {
        &self.kid
    }

    /// Checks that a token's `alg` is this key's and its signature verifies;
    /// the key's tag on success.
    pub(super) fn check(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &str,
    ) -> Result<KeyTag, LicenseDenial> {
        if self.alg != alg {
            return Err(LicenseDenial::invalid(
                "the token's `alg` is not its key's algorithm",
            ));
        }
        if !self.verify(signing_input, signature) {
            return Err(LicenseDenial::invalid(
                "the token signature does not verify",
            ));
        }
        Ok(self.tag)
    }

    /// Whether `signature` (base64url, as in the token) is a valid signature
    /// of `signing_input` (the token up to its last `.`).
    pub(crate) fn verify(&self, signing_input: &[u8], signature: &str) -> bool {
        match &self.material {
            KeyMaterial::Ed25519(key) => {
                let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else {
                    return false;
                };
                let Ok(signature) = ed25519_dalek::Signature::from_slice(&bytes) else {
                    return false;
                };
                key.verify(signing_input, &signature).is_ok()
            }
            // HMAC tags are compared in constant time inside jsonwebtoken.
            KeyMaterial::Jwt(key) => {
                jsonwebtoken::crypto::verify(signature, signing_input, key, self.alg)
                    .unwrap_or(false)
            }
        }
    }
}

impl fmt::Debug for TrustedKey {
    // Names the key and where it came from; never its material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, LicenseConfigError> {
    std::fs::read(path).map_err(|source| LicenseConfigError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn load_jwks(path: &Path) -> Result<Vec<TrustedKey>, LicenseConfigError> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let malformed = |detail: String| LicenseConfigError::Jwks {
        path: path.to_owned(),
        detail,
    };
    let bytes = read(path, "JWKS")?;
    let document: Document =
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    let mut keys = Vec::with_capacity(document.keys.len());
    for (index, value) in document.keys.into_iter().enumerate() {
        let kid = value.get("kid").and_then(serde_json::Value::as_str);
        let kid = kid.map(str::to_owned);
        let label = match &kid {
            Some(kid) => format!("key #{index} (kid `{kid}`)"),
            None => format!("key #{index}"),
        };
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        match jwk_key(value) {
            Ok(Some((kid, alg, material))) => {
                keys.push(TrustedKey::new(kid, alg, path.to_owned(), material, &bytes));
            }
            Ok(None) => {}
            Err(KeyError::Invalid(detail)) => return Err(malformed(format!("{label}: {detail}"))),
            Err(KeyError::RsaTooShort { bits }) => {
                return Err(LicenseConfigError::RsaKeyTooShort {
                    path: path.to_owned(),
                    kid: kid.unwrap_or_default(),
                    bits,
                });
            }
        }
    }
    Ok(keys)
}

/// A JWK's key id, algorithm and key; `None` for encryption keys, which a
/// JWKS may carry alongside signing keys.
pub(super) fn jwk_key(
    value: serde_json::Value,
) -> Result<Option<(String, Algorithm, KeyMaterial)>, KeyError> {
    let object = value.as_object().ok_or("not a JSON object")?;
    if object.get("use").and_then(serde_json::Value::as_str) == Some("enc") {
        return Ok(None);
    }
    if object.contains_key("d") {
        return Err("holds private key material (`d`); publish only the public key".into());
    }
    match object.get("kty").and_then(serde_json::Value::as_str) {
        Some("OKP" | "EC" | "RSA") => {}
        Some("oct") => {
            return Err(
                "symmetric (`oct`) keys are not accepted in a JWKS; use hs256_secret_file".into(),
            );
        }
        Some(other) => return Err(format!("unsupported key type `{other}`").into()),
        None => return Err("no `kty`".into()),
    }
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let kid = jwk
        .common
        .key_id
        .clone()
        .ok_or("no `kid` (tokens select their key by kid)")?;
    if let Some(PublicKeyUse::Other(other)) = &jwk.common.public_key_use {
        return Err(format!("`use` is `{other}`, not `sig`").into());
    }
    let (alg, material) = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            let key = DecodingKey::from_ed_components(&p.x).map_err(|e| e.to_string())?;
            (Algorithm::EdDSA, ed25519(&key)?)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            // 43 base64url characters are 32 bytes; jsonwebtoken concatenates
            // the coordinates without checking their lengths.
            if p.x.len() != 43 || p.y.len() != 43 {
                return Err("P-256 coordinates must be 32 bytes each".into());
            }
            let key = DecodingKey::from_ec_components(&p.x, &p.y).map_err(|e| e.to_string())?;
            (Algorithm::ES256, es256(key)?)
        }
        AlgorithmParameters::RSA(p) => {
            let key = DecodingKey::from_rsa_components(&p.n, &p.e).map_err(|e| e.to_string())?;
            (Algorithm::RS256, rs256(key)?)
        }
        AlgorithmParameters::OctetKeyPair(p) => {
            return Err(format!("unsupported OKP curve {:?}", p.curve).into());
        }
        AlgorithmParameters::EllipticCurve(p) => {
            return Err(format!("unsupported EC curve {:?}", p.curve).into());
        }
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are not accepted".into()),
    };
    if let Some(declared) = jwk.common.key_algorithm {
        let matches = matches!(
            (declared, alg),
            (KeyAlgorithm::EdDSA, Algorithm::EdDSA)
                | (KeyAlgorithm::ES256, Algorithm::ES256)
                | (KeyAlgorithm::RS256, Algorithm::RS256)
        );
        if !matches {
            return Err(
                format!("`alg` is `{declared}`, but the key is usable only with {alg:?}").into(),
            );
        }
    }
    Ok(Some((kid, alg, material)))
}

fn load_pem(config: &PemKeyConfig, base: &Path) -> Result<TrustedKey, LicenseConfigError> {
    let path = base.join(&config.path);
    let alg = match config.algorithm.as_str() {
        "EdDSA" => Algorithm::EdDSA,
        "ES256" => Algorithm::ES256,
        "RS256" => Algorithm::RS256,
        _ => {
            return Err(LicenseConfigError::UnknownAlgorithm {
                path,
                kid: config.kid.clone(),
                algorithm: config.algorithm.clone(),
            });
        }
    };
    let malformed = |detail: String| LicenseConfigError::Pem {
        path: path.clone(),
        kid: config.kid.clone(),
        detail,
    };
    let pem = read(&path, "PEM key")?;
    if pem_label(&pem).is_some_and(|label| label.contains("PRIVATE")) {
        return Err(malformed(
            "holds a private key; configure the issuer's public key".into(),
        ));
    }
    let expected = |e: jsonwebtoken::errors::Error| {
        malformed(format!("not a PEM {} public key ({e})", key_kind(alg)))
    };
    let material = match alg {
        Algorithm::EdDSA => {
            ed25519(&DecodingKey::from_ed_pem(&pem).map_err(expected)?).map_err(malformed)?
        }
        Algorithm::ES256 => {
            es256(DecodingKey::from_ec_pem(&pem).map_err(expected)?).map_err(malformed)?
        }
        _ => match rs256(DecodingKey::from_rsa_pem(&pem).map_err(expected)?) {
            Ok(material) => material,
            Err(KeyError::Invalid(detail)) => return Err(malformed(detail)),
            Err(KeyError::RsaTooShort { bits }) => {
                return Err(LicenseConfigError::RsaKeyTooShort {
                    path,
                    kid: config.kid.clone(),
                    bits,
                });
            }
        },
    };
    Ok(TrustedKey::new(
        config.kid.clone(),
        alg,
        path,
        material,
        &pem,
    ))
}

fn load_hs256(path: &Path) -> Result<TrustedKey, LicenseConfigError> {
    let bytes = read(path, "HS256 secret")?;
    // A single trailing newline is an artefact of editors, not of the secret.
    let secret = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(&bytes);
    if secret.len() < MIN_HS256_SECRET {
        return Err(LicenseConfigError::Hs256Secret {
            path: path.to_owned(),
            detail: format!(
                "{} bytes; HS256 needs at least {MIN_HS256_SECRET}",
                secret.len()
            ),
        });
    }
    Ok(TrustedKey::new(
        String::new(),
        Algorithm::HS256,
        path.to_owned(),
        KeyMaterial::Jwt(DecodingKey::from_secret(secret)),
        secret,
    ))
}

fn key_kind(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::EdDSA => "Ed25519",
        Algorithm::ES256 => "P-256",
        _ => "RSA",
    }
}

/// The label of the first `-----BEGIN …-----` line.
fn pem_label(pem: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = text.get(start..)?;
    rest.get(..rest.find("-----")?)
}

fn ed25519(key: &DecodingKey) -> Result<KeyMaterial, String> {
    let bytes: &[u8; 32] = key
        .as_bytes()
        .try_into()
        .map_err(|_| "an Ed25519 public key is 32 bytes".to_owned())?;
    ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map(KeyMaterial::Ed25519)
        .map_err(|_| "not a valid Ed25519 public key".to_owned())
}

fn es256(key: DecodingKey) -> Result<KeyMaterial, String> {
    // jsonwebtoken parses the point only when verifying: probe once so that a
    // bad point (or a key on another curve) fails here.
    jsonwebtoken::crypto::verify("", b"", &key, Algorithm::ES256)
        .map_err(|_| "not a valid P-256 public key".to_owned())?;
    Ok(KeyMaterial::Jwt(key))
}

fn rs256(key: DecodingKey) -> Result<KeyMaterial, KeyError> {
    // jsonwebtoken parses an RSA key (with the `rsa` crate) on every
    // verification and counts one it cannot use as a bad signature: parse it
    // here the same way, so that a bad or short key fails the load.
    let (n, e) = match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => {
            let k = rsa::pkcs1::RsaPublicKey::from_der(der)
                .map_err(|e| format!("not an RSA public key ({e})"))?;
            let n = BigUint::from_bytes_be(k.modulus.as_bytes());
            (n, BigUint::from_bytes_be(k.public_exponent.as_bytes()))
        }
        DecodingKeyKind::RsaModulusExponent { n, e } => {
            (BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        }
    };
    let bits = n.bits();
    if bits < MIN_RSA_BITS {
        return Err(KeyError::RsaTooShort { bits });
    }
    // What the verifier checks: an odd modulus of at most 4096 bits, an odd
    // exponent from 3 to 2^33 - 1, below the modulus.
    rsa::RsaPublicKey::new(n, e).map_err(|e| {
        format!(
            "not a usable RSA public key: {e} (the verifier takes moduli of {MIN_RSA_BITS} to {} bits and odd exponents from 3 to 2^33 - 1)",
            rsa::RsaPublicKey::MAX_SIZE
        )
    })?;
    Ok(KeyMaterial::Jwt(key))
}
