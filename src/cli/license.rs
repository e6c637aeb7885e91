//! `export-control license`: make an issuer key, mint tokens with it, and
//! verify tokens against a license configuration.
//!
//! A development and test tool: real license tokens come from the
//! provider's licensing system, whose private keys never leave it.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};

use crate::license::{LicenseClaims, LicenseTrust, LicenseVerifier};
use crate::{AcceleratorClass, CountryCode};

// Parsed once per run: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, clap::Subcommand)]
pub(super) enum Command {
    /// Make an Ed25519 issuer key: NAME.key.pem, NAME.pub.pem, NAME.jwks.json
    Keygen(KeygenArgs),
    /// Sign a license token and print it
    Mint(MintArgs),
    /// Verify a token's signature, issuer, time and revocation; print its claims
    Verify(VerifyArgs),
}

impl Command {
    /// How error messages name it.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Keygen(_) => "license keygen",
            Self::Mint(_) => "license mint",
            Self::Verify(_) => "license verify",
        }
    }
}

pub(super) fn run(command: Command) -> super::Outcome {
    match command {
        Command::Keygen(args) => keygen(&args),
        Command::Mint(args) => mint(&args),
        Command::Verify(args) => verify(&args),
    }
}

/// Writes a new Ed25519 key pair into DIR: NAME.key.pem (the private key,
/// PKCS#8, mode 0600), NAME.pub.pem and NAME.jwks.json (for a
/// `[[license.issuers]]` entry's `jwks_file`). Existing files are never
/// overwritten.
#[derive(Debug, clap::Args)]
pub(super) struct KeygenArgs {
    /// The directory to write the key files into (created if missing)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The key id tokens name the key by [default: 16 hex digits of the
    /// public key's SHA-256]
    #[arg(long, value_name = "KID")]
    kid: Option<String>,
    /// The files' base name [default: the kid]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

/// Signs a license token with an Ed25519 (EdDSA), P-256 (ES256) or RSA
/// (RS256) PKCS#8 private key and prints it.
#[derive(Debug, clap::Args)]
#[command(after_help = "Example:\n  export-control license mint \
--key examples/demo-issuer/demo-issuer.key.pem --kid demo-2026 \\\n    \
--iss https://demo-licensing.invalid --sub acme-cn --countries CN --valid-for 30d")]
pub(super) struct MintArgs {
    /// The issuer's private key (PKCS#8 PEM)
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The key id, put in the token's header
    #[arg(long, value_name = "KID")]
    kid: String,
    /// The issuer (`iss`), as the verifying policy names it
    #[arg(long, value_name = "URL")]
    iss: String,
    /// The customer id (`sub`)
    #[arg(long, value_name = "CUSTOMER")]
    sub: String,
    /// The countries the license covers, comma-separated, e.g. CN,MO
    #[arg(long, value_name = "CC,...", required = true, value_delimiter = ',', value_parser = super::country)]
    countries: Vec<CountryCode>,
    /// The accelerator classes it covers, comma-separated [default: all]
    #[arg(long, value_name = "CLASS,...", value_delimiter = ',', value_parser = class)]
    classes: Option<Vec<AcceleratorClass>>,
    /// The instance types it covers, comma-separated [default: all]
    #[arg(long, value_name = "TYPE,...", value_delimiter = ',')]
    instance_types: Option<Vec<String>>,
    /// The most accelerators one request may ask for [default: no limit]
    #[arg(long, value_name = "N")]
    max_accelerators: Option<u64>,
    /// The license number [default: LIC- and 16 random hex digits]
    #[arg(long, value_name = "ID")]
    jti: Option<String>,
    /// How long the token is valid, e.g. 30d or 12h
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = duration)]
    valid_for: Duration,
    /// The audience (`aud`)
    #[arg(long, value_name = "AUD")]
    aud: Option<String>,
    /// The time the token becomes valid (`nbf`)
    #[arg(long, value_name = "RFC3339", value_parser = super::rfc3339)]
    not_before: Option<SystemTime>,
    /// Issue at this time instead of now
    #[arg(long, value_name = "RFC3339", value_parser = super::rfc3339)]
    at: Option<SystemTime>,
}

/// Verifies a token against the `[license]` table of a TOML file (a
/// license file or a whole policy file): signature, trusted issuer and
/// key, audience, time and revocation, but not what it covers. Prints the
/// claims as JSON.
#[derive(Debug, clap::Args)]
#[command(after_help = "Exit status: 0 valid, 1 rejected, 2 bad input.")]
pub(super) struct VerifyArgs {
    /// The license configuration, e.g. examples/demo-issuer/license.toml
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Verify at this time instead of now
    #[arg(long, value_name = "RFC3339", value_parser = super::rfc3339)]
    at: Option<SystemTime>,
    /// The token (compact JWS)
    #[arg(value_name = "TOKEN")]
    token: String,
}

fn class(text: &str) -> Result<AcceleratorClass, String> {
    text.trim()
        .parse::<AcceleratorClass>()
        .map_err(|e| e.to_string())
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("not a duration: {e}"))
}

fn unix_seconds(t: SystemTime) -> Result<u64, String> {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| "times before 1970 are not supported".to_owned())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn keygen(args: &KeygenArgs) -> super::Outcome {
    let signing = ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>()?);
    let public = signing.verifying_key();
    let kid = match &args.kid {
        Some(kid) => kid.clone(),
        None => hex(Sha256::digest(public.as_bytes())
            .get(..8)
            .unwrap_or_default()),
    };
    let name = args.name.as_deref().unwrap_or(&kid);

    let private_pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the private key: {e}"))?;
    let public_pem = public
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the public key: {e}"))?;
    let jwks = JwkSet {
        keys: vec![Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            }),
        }],
    };
    let jwks =
        serde_json::to_string_pretty(&jwks).map_err(|e| format!("cannot encode the JWKS: {e}"))?;

    let out = &args.out;
    fs::create_dir_all(out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
    let key_path = out.join(format!("{name}.key.pem"));
    write_new(&key_path, private_pem.as_bytes(), true)?;
    write_new(
        &out.join(format!("{name}.pub.pem")),
        public_pem.as_bytes(),
        false,
    )?;
    write_new(
        &out.join(format!("{name}.jwks.json")),
        format!("{jwks}\n").as_bytes(),
        false,
    )?;
    super::print(&format!("kid {kid}: wrote {}\n", key_path.display()))?;
    Ok(true)
}

/// Writes a file that must not exist yet; private keys get mode 0600.
fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), String> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents))
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

fn mint(args: &MintArgs) -> super::Outcome {
    let key_path = args.key.display();
    let pem = fs::read(&args.key).map_err(|e| format!("cannot read `{key_path}`: {e}"))?;
    let (alg, key) = signing_key(&pem).ok_or_else(|| {
        format!("`{key_path}` is not a PKCS#8 PEM Ed25519, P-256 or RSA private key")
    })?;

    let now = args.at.unwrap_or_else(SystemTime::now);
    let exp = now
        .checked_add(args.valid_for)
        .ok_or_else(|| "`--valid-for` is too long".to_owned())?;
    let jti = match &args.jti {
        Some(jti) => jti.clone(),
        None => format!("LIC-{}", hex(&random_bytes::<8>()?)),
    };

    let mut claims = LicenseClaims::new(
        &args.iss,
        &args.sub,
        jti,
        unix_seconds(exp)?,
        args.countries.clone(),
    );
    claims.iat = Some(unix_seconds(now)?);
    claims.nbf = args.not_before.map(unix_seconds).transpose()?;
    claims.aud = args.aud.iter().cloned().collect();
    claims.accelerator_classes.clone_from(&args.classes);
    claims.instance_types = args.instance_types.as_ref().map(|types| {
        types
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    });
    claims.max_accelerators = args.max_accelerators;

    let mut header = Header::new(alg);
    header.kid = Some(args.kid.clone());
    let token = jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| format!("cannot sign with `{key_path}`: {e}"))?;
    super::print(&format!("{token}\n"))?;
    Ok(true)
}

/// The key and the algorithm it signs with, from a PKCS#8 PEM private key.
fn signing_key(pem: &[u8]) -> Option<(Algorithm, EncodingKey)> {
    if let Ok(key) = EncodingKey::from_ed_pem(pem) {
        return Some((Algorithm::EdDSA, key));
    }
    if let Ok(key) = EncodingKey::from_ec_pem(pem) {
        return Some((Algorithm::ES256, key));
    }
    EncodingKey::from_rsa_pem(pem)
        .ok()
        .map(|key| (Algorithm::RS256, key))
}

fn verify(args: &VerifyArgs) -> super::Outcome {
    let trust = LicenseTrust::from_toml_path(&args.config).map_err(|e| e.to_string())?;
    let now = args.at.unwrap_or_else(SystemTime::now);
    match LicenseVerifier::new(0).verify(&trust, args.token.trim(), now) {
        Ok(claims) => {
            let json = serde_json::to_string_pretty(&*claims)
                .map_err(|e| format!("cannot print the claims: {e}"))?;
            super::print(&format!("{json}\n"))?;
            Ok(true)
        }
        Err(denial) => {
            super::error(&format!("license verify: {denial}"));
            Ok(false)
        }
    }
}
