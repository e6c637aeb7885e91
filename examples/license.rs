//! A development tool for export-license tokens: make an issuer key, mint
//! tokens with it, and verify tokens against a license configuration.
//!
//! This is for development and tests only. Real license tokens come from the
//! provider's licensing system, whose private keys never leave it.
//!
//! ```text
//! cargo run --example license -- keygen --out DIR [--kid KID] [--name NAME]
//! cargo run --example license -- mint --key FILE --kid KID --iss URL --sub CUSTOMER
//!     --countries CN,MO [--classes 3A090.a] [--instance-types a,b]
//!     [--max-accelerators N] [--jti ID] [--valid-for 30d] [--aud A]
//!     [--not-before RFC3339] [--at RFC3339]
//! cargo run --example license -- verify --config FILE [--at RFC3339] TOKEN
//! ```
//!
//! `keygen` writes `NAME.key.pem` (Ed25519 private key, PKCS#8),
//! `NAME.pub.pem` and `NAME.jwks.json` (NAME defaults to the kid). `mint`
//! signs with an Ed25519 (EdDSA), P-256 (ES256) or RSA (RS256) PKCS#8
//! private key and prints the token. `--at` replaces the current time.
//! Bad input exits with status 2 and a one-line message; a token that
//! `verify` rejects exits with status 1.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
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
use tower_export_control::license::{LicenseClaims, LicenseTrust, LicenseVerifier};
use tower_export_control::{AcceleratorClass, CountryCode};

const USAGE: &str =
    "usage: license keygen|mint|verify … (see the doc comment of examples/license.rs)";

/// Why the tool stopped: bad input (exit 2) or a rejected token (exit 1).
enum Failure {
    Usage(String),
    Rejected(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Usage(message)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((command, rest)) => match command.as_str() {
            "keygen" => keygen(rest),
            "mint" => mint(rest),
            "verify" => verify(rest),
            other => Err(Failure::Usage(format!(
                "unknown command `{other}`; {USAGE}"
            ))),
        },
        None => Err(Failure::Usage(USAGE.to_owned())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("license: {}", message.replace('\n', " "));
            ExitCode::from(2)
        }
        Err(Failure::Rejected(message)) => {
            eprintln!("license: {}", message.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

/// `--flag value` pairs plus positional arguments.
struct Args {
    flags: HashMap<String, String>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], known: &[&str]) -> Result<Self, String> {
        let mut flags = HashMap::new();
        let mut positional = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some(name) = arg.strip_prefix("--") else {
                positional.push(arg.clone());
                continue;
            };
            if !known.contains(&name) {
                return Err(format!("unknown option `--{name}`"));
            }
            let value = iter
                .next()
                .ok_or_else(|| format!("`--{name}` needs a value"))?;
            if flags.insert(name.to_owned(), value.clone()).is_some() {
                return Err(format!("`--{name}` given twice"));
            }
        }
        Ok(Self { flags, positional })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("`--{name}` is required"))
    }

    /// `--at`, or the current time.
    fn now(&self) -> Result<SystemTime, String> {
        self.get("at")
            .map_or_else(|| Ok(SystemTime::now()), rfc3339)
    }
}

fn rfc3339(text: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| format!("`{text}` is not an RFC 3339 time: {e}"))
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

fn keygen(args: &[String]) -> Result<(), Failure> {
    let args = Args::parse(args, &["out", "kid", "name"])?;
    let out = PathBuf::from(args.required("out")?);
    let signing = ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>()?);
    let public = signing.verifying_key();
    let kid = match args.get("kid") {
        Some(kid) => kid.to_owned(),
        None => hex(Sha256::digest(public.as_bytes())
            .get(..8)
            .unwrap_or_default()),
    };
    let name = args.get("name").unwrap_or(&kid);

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

    fs::create_dir_all(&out).map_err(|e| format!("cannot create `{}`: {e}", out.display()))?;
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
    println!("kid {kid}: wrote {}", key_path.display());
    Ok(())
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

fn mint(args: &[String]) -> Result<(), Failure> {
    let args = Args::parse(
        args,
        &[
            "key",
            "kid",
            "iss",
            "sub",
            "countries",
            "classes",
            "instance-types",
            "max-accelerators",
            "jti",
            "valid-for",
            "aud",
            "not-before",
            "at",
        ],
    )?;
    let key_path = args.required("key")?;
    let pem = fs::read(key_path).map_err(|e| format!("cannot read `{key_path}`: {e}"))?;
    let (alg, key) = signing_key(&pem).ok_or_else(|| {
        format!("`{key_path}` is not a PKCS#8 PEM Ed25519, P-256 or RSA private key")
    })?;

    let now = args.now()?;
    let valid_for = match args.get("valid-for") {
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| format!("`--valid-for {text}` is not a duration: {e}"))?,
        None => Duration::from_secs(30 * 24 * 3600),
    };
    let exp = now
        .checked_add(valid_for)
        .ok_or_else(|| "`--valid-for` is too long".to_owned())?;
    let countries = list(args.required("countries")?)
        .map(|c| CountryCode::parse(c).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let jti = match args.get("jti") {
        Some(jti) => jti.to_owned(),
        None => format!("LIC-{}", hex(&random_bytes::<8>()?)),
    };

    let mut claims = LicenseClaims::new(
        args.required("iss")?,
        args.required("sub")?,
        jti,
        unix_seconds(exp)?,
        countries,
    );
    claims.iat = Some(unix_seconds(now)?);
    if let Some(text) = args.get("not-before") {
        claims.nbf = Some(unix_seconds(rfc3339(text)?)?);
    }
    if let Some(aud) = args.get("aud") {
        claims.aud = vec![aud.to_owned()];
    }
    if let Some(text) = args.get("classes") {
        claims.accelerator_classes = Some(
            list(text)
                .map(|c| c.parse::<AcceleratorClass>().map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?,
        );
    }
    if let Some(text) = args.get("instance-types") {
        claims.instance_types = Some(list(text).map(str::to_owned).collect());
    }
    if let Some(text) = args.get("max-accelerators") {
        claims.max_accelerators = Some(
            text.parse()
                .map_err(|_| format!("`--max-accelerators {text}` is not a whole number"))?,
        );
    }

    let mut header = Header::new(alg);
    header.kid = Some(args.required("kid")?.to_owned());
    let token = jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| format!("cannot sign with `{key_path}`: {e}"))?;
    println!("{token}");
    Ok(())
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

/// Comma-separated values, blanks dropped.
fn list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn verify(args: &[String]) -> Result<(), Failure> {
    let args = Args::parse(args, &["config", "at"])?;
    let [token] = args.positional.as_slice() else {
        return Err(Failure::Usage("`verify` takes exactly one token".into()));
    };
    let trust =
        LicenseTrust::from_toml_path(args.required("config")?).map_err(|e| e.to_string())?;
    let verifier = LicenseVerifier::new(0);
    match verifier.verify(&trust, token.trim(), args.now()?) {
        Ok(claims) => {
            let json = serde_json::to_string_pretty(&*claims)
                .map_err(|e| format!("cannot print the claims: {e}"))?;
            println!("{json}");
            Ok(())
        }
        Err(denial) => Err(Failure::Rejected(denial.to_string())),
    }
}
