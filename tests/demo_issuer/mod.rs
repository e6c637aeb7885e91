//! The demo license issuer (`examples/demo-issuer/`, whose private key is
//! public): its trust settings, and licenses it signs, for the benches,
//! examples and tests that need a valid token. Included with
//! `#[path = "../tests/demo_issuer/mod.rs"] mod demo_issuer;`.
#![allow(dead_code)] // each includer uses a part

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use tower_export_control::license::LicenseTrust;

/// `examples/demo-issuer/`.
pub(crate) fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer")
}

/// The demo issuer as a trusted issuer.
pub(crate) fn trust() -> Result<LicenseTrust, String> {
    LicenseTrust::from_toml_path(dir().join("license.toml")).map_err(|e| e.to_string())
}

/// A license `jti` for customer `acme-cn` in CN, class 3A090.a, valid for a
/// day from now, for at most `max_accelerators` when given.
pub(crate) fn license(jti: &str, max_accelerators: Option<u64>) -> Result<String, String> {
    let pem = std::fs::read(dir().join("demo-issuer.key.pem")).map_err(|e| e.to_string())?;
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let mut claims = serde_json::json!({
        "iss": "https://demo-licensing.invalid",
        "sub": "acme-cn",
        "jti": jti,
        "iat": now,
        "exp": now + 86_400,
        "countries": ["CN"],
        "accelerator_classes": ["3A090.a"],
    });
    if let (Some(max), Some(map)) = (max_accelerators, claims.as_object_mut()) {
        map.insert("max_accelerators".into(), max.into());
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("demo-2026".to_owned());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}
