//! The CBR v3 client: HTTP, wire types, errors, and authentication (AK/SK signing, tokens).
//!
//! Nothing here knows about plans or runs. The emulator reuses the wire types and the signer.

pub mod auth;
pub mod client;
pub mod error;
pub mod iam;
pub mod sign;
pub mod wire;

pub use client::CbrClient;
pub use error::CbrError;

/// The default HTTP client: rustls with the OS trust store, sensible timeouts.
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("cbrflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Installs rustls' ring provider once per process (reqwest is built without a default one).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
