//! What sits in front of the emulated service, like the cloud's API gateway: request ids,
//! body buffering and size limit, fault injection, the request log, authentication, and the
//! answers for unknown routes and wrong methods.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};
use serde_json::json;

use super::api_error::ApiError;
use super::app::App;
use super::auth;
use super::connection::ConnectionControl;
use super::fault::{FaultAction, FaultHit};
use super::request_log::LoggedRequest;

/// Largest request body accepted (1 MiB); larger ones get 413.
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The request body, buffered once by [`gateway`] for handlers and the signature check.
#[derive(Debug, Clone)]
pub(crate) struct BufferedBody(pub(crate) Bytes);

/// Middleware for every non-administrative request: assigns `X-Request-Id`, buffers the body,
/// applies the first matching fault rule, logs the request and its answer.
///
/// The handler runs in its own task, so a client that disconnects (or is killed) mid-request
/// does not cancel a change half-way: as in a real cloud, what reached the service completes.
pub(crate) async fn gateway(State(app): State<App>, request: Request, next: Next) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut entry = LoggedRequest {
        seq: 0,
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        query: request.uri().query().map(str::to_owned),
        status: None,
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        request_id: request_id.clone(),
        fault: false,
        dropped: false,
    };
    let connection = request
        .extensions()
        .get::<ConnectInfo<ConnectionControl>>()
        .map(|c| c.0.clone());
    let (parts, body) = request.into_parts();
    let declared_len = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = match declared_len {
        Some(len) if len > MAX_BODY_BYTES => None,
        _ => to_bytes(body, MAX_BODY_BYTES).await.ok(),
    };
    let Some(bytes) = bytes else {
        let response = ApiError::raw(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BackupService.9900",
            format!(
                "Parameter verification failed. the request body exceeds {MAX_BODY_BYTES} bytes"
            ),
        )
        .into_response();
        return finish(&app, entry, response, &request_id);
    };
    let hit = app.faults().take(&parts.method, parts.uri.path());
    entry.fault = hit.is_some();
    let mut request = Request::from_parts(parts, Body::from(bytes.clone()));
    request.extensions_mut().insert(BufferedBody(bytes));

    let guard = app.enter();
    let task_app = app.clone();
    let task = tokio::spawn(async move {
        let _guard = guard;
        let FaultHit { delay, action } = hit.unwrap_or(FaultHit {
            delay: None,
            action: FaultAction::Proceed,
        });
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let lose_response = matches!(action, FaultAction::LoseResponse);
        let (response, drop_connection) = match action {
            FaultAction::Proceed => (next.run(request).await, false),
            FaultAction::Respond(error) => (error.into_response(), false),
            FaultAction::Drop => (StatusCode::NO_CONTENT.into_response(), true),
            FaultAction::LoseResponse => (next.run(request).await, true),
        };
        if drop_connection {
            // The change (if any) is committed; the client just never hears about it.
            entry.dropped = true;
            entry.status = lose_response.then(|| response.status().as_u16());
            log(&task_app, entry);
            if let Some(connection) = &connection {
                connection.kill();
            }
            return response;
        }
        finish(&task_app, entry, response, &request_id)
    });
    match task.await {
        Ok(response) => response,
        Err(_) => ApiError::new(super::api_error::ErrorCode::Unknown).into_response(),
    }
}

/// Logs the answer and stamps the request id on it.
fn finish(
    app: &App,
    mut entry: LoggedRequest,
    mut response: Response,
    request_id: &str,
) -> Response {
    entry.status = Some(response.status().as_u16());
    log(app, entry);
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn log(app: &App, entry: LoggedRequest) {
    app.log().push(entry);
}

/// Middleware for administrative routes: only stamps an `X-Request-Id`.
pub(crate) async fn request_id(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Route middleware for CBR routes: refuses requests that fail the configured
/// authentication, before any handler sees them.
pub(crate) async fn authenticate(State(app): State<App>, request: Request, next: Next) -> Response {
    let body = request
        .extensions()
        .get::<BufferedBody>()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let checked = auth::check(
        app.auth(),
        request.method(),
        request.uri(),
        request.headers(),
        &body,
        Utc::now(),
    );
    match checked {
        Ok(()) => next.run(request).await,
        Err(rejection) => (
            rejection.status,
            axum::Json(json!({
                "error_code": rejection.error_code,
                "error_msg": rejection.error_msg,
            })),
        )
            .into_response(),
    }
}

/// Answer for paths no route knows.
pub(crate) async fn not_found() -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

/// Answer for a known path with the wrong method.
pub(crate) async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::raw(
        StatusCode::METHOD_NOT_ALLOWED,
        "APIGW.0101",
        format!(
            "The API does not exist or has not been published in the environment: method {} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// How long shutdown waits for requests still being handled.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(30);
