//! Authentication end to end: the signer against the official SDK's vectors, the emulator's
//! verification of what the client signs, the IAM password flow over loopback, credential
//! resolution precedence (with a fake environment) and TLS trust settings.

mod emulator_check;
mod end_to_end;
mod iam_flow;
mod resolution;
mod sign_vectors;
mod tls;

use std::future::IntoFuture;

use url::Url;

/// Serves `router` on `127.0.0.1:0` in the background and returns its base URL.
async fn serve(router: axum::Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, router).into_future());
    Url::parse(&format!("http://{addr}")).unwrap()
}

/// Splits a built request into what the emulator's `check` receives.
fn parts(
    request: &reqwest::Request,
) -> (
    axum::http::Method,
    axum::http::Uri,
    axum::http::HeaderMap,
    Vec<u8>,
) {
    let url = request.url();
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let body = request
        .body()
        .and_then(|body| body.as_bytes())
        .unwrap_or_default()
        .to_vec();
    (
        request.method().clone(),
        target.parse().unwrap(),
        request.headers().clone(),
        body,
    )
}
