//! TLS trust: certificates are verified by default, `--ca-bundle` adds a private CA to the
//! platform's trust store, `--insecure` turns verification off. The server is a minimal
//! rustls listener on loopback with a certificate from `tests/data/tls` (a test-only CA).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cbrflow::cli::connection::http_client;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn tls_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

/// Serves `HTTP/1.1 200 ok` over TLS on 127.0.0.1 from a background thread.
fn https_server() -> String {
    let certs = CertificateDer::pem_file_iter(tls_data("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_data("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let connection = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    format!("https://127.0.0.1:{}/", addr.port())
}

async fn get(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| format!("{e:?}"))?;
    response.text().await.map_err(|e| format!("{e:?}"))
}

#[tokio::test]
async fn certificates_are_verified_by_default() {
    let url = https_server();
    let client = http_client(None, false).unwrap();
    let error = get(&client, &url).await.unwrap_err();
    assert!(
        error.to_lowercase().contains("certificate") || error.contains("UnknownIssuer"),
        "{error}"
    );
}

#[tokio::test]
async fn a_ca_bundle_adds_a_private_ca() {
    let url = https_server();
    let client = http_client(Some(&tls_data("ca.pem")), false).unwrap();
    assert_eq!(get(&client, &url).await.unwrap(), "ok");
}

#[tokio::test]
async fn insecure_skips_verification() {
    let url = https_server();
    let client = http_client(None, true).unwrap();
    assert_eq!(get(&client, &url).await.unwrap(), "ok");
}

#[test]
fn unusable_ca_bundles_are_reported() {
    let missing = tls_data("no-such-ca.pem");
    let error = format!("{:#}", http_client(Some(&missing), false).unwrap_err());
    assert!(error.contains("no-such-ca.pem"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").unwrap();
    let error = format!("{:#}", http_client(Some(&empty), false).unwrap_err());
    assert!(error.contains("empty.pem"), "{error}");
}
