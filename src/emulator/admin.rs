//! Administrative routes under `/_emulator/` for tests and operators: fault rules, the
//! request log, a state dump, the inventory and a reset. Never subject to authentication,
//! faults or the request log.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use super::app::App;
use super::fault::rules_from_value;
use super::query::QueryParams;

/// The routes, to be nested under `/_emulator`.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route(
            "/faults",
            get(list_faults).post(add_faults).delete(clear_faults),
        )
        .route("/requests", get(list_requests).delete(clear_requests))
        .route("/reset", post(reset))
        .route("/state", get(state))
        .route("/inventory", get(inventory))
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .fallback(|| async { admin_error(StatusCode::NOT_FOUND, "no such administrative route") })
}

fn admin_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error_code": "Emulator.Admin", "error_msg": msg.into() })),
    )
        .into_response()
}

async fn list_faults(State(app): State<App>) -> Json<Value> {
    Json(app.faults().to_json())
}

/// Adds one rule or a list of rules; answers with all rules.
async fn add_faults(State(app): State<App>, body: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(err) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid JSON: {err}")),
    };
    let rules = match rules_from_value(value) {
        Ok(rules) => rules,
        Err(err) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                format!("invalid fault rule: {err}"),
            );
        }
    };
    let mut faults = app.faults();
    if let Err(err) = faults.add(&rules) {
        return admin_error(
            StatusCode::BAD_REQUEST,
            format!("invalid fault rule: {err}"),
        );
    }
    Json(faults.to_json()).into_response()
}

async fn clear_faults(State(app): State<App>) -> StatusCode {
    app.faults().clear();
    StatusCode::NO_CONTENT
}

/// The request log, optionally only entries after `?since=N`.
async fn list_requests(State(app): State<App>, RawQuery(query): RawQuery) -> Response {
    let since = match QueryParams::parse(query.as_deref()).number("since") {
        Ok(since) => since.unwrap_or(0) as u64,
        Err(err) => return admin_error(StatusCode::BAD_REQUEST, err.msg),
    };
    Json(json!(app.log().since(since))).into_response()
}

async fn clear_requests(State(app): State<App>) -> StatusCode {
    app.log().clear();
    StatusCode::NO_CONTENT
}

/// Clears all data (and the data file), fault rules and the request log.
async fn reset(State(app): State<App>) -> Response {
    {
        let mut db = app.db();
        db.reset();
    }
    if let Err(err) = app.durable().await {
        return admin_error(StatusCode::INTERNAL_SERVER_ERROR, err.msg);
    }
    app.faults().clear();
    app.log().clear();
    StatusCode::NO_CONTENT.into_response()
}

/// Vaults, restore points, backups and policies per project (`?project_id=` for one).
async fn state(State(app): State<App>, RawQuery(query): RawQuery) -> Json<Value> {
    let query = QueryParams::parse(query.as_deref());
    Json(
        app.db()
            .store
            .state_json(query.get("project_id"), Utc::now()),
    )
}

async fn inventory(State(app): State<App>) -> Json<Value> {
    Json(json!(app.inventory().items()))
}
