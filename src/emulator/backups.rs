//! Backups: list (with the SDK's filters and paging), show, delete, and restore — which puts
//! an `available` backup into `restoring` for the simulated restore duration.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::api_error::{ApiError, ErrorCode};
use super::app::App;
use super::clock::after;
use super::query::QueryParams;
use super::records::{BackupRecord, RestoreRecord};
use super::store::backup_json;
use super::validate::{Fields, parse_body};

/// `GET /v3/{project_id}/backups`
pub(crate) async fn list(
    State(app): State<App>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(query.as_deref());
    let page = query.page()?;
    let checkpoint_id = query.get("checkpoint_id");
    let vault_id = query.get("vault_id");
    let resource_id = query.get("resource_id");
    let resource_type = query.get("resource_type");
    let resource_az = query.get("resource_az");
    let name = query.get("name");
    let resource_name = query.get("resource_name");
    let image_type = query.get("image_type");
    let parent_id = query.get("parent_id");
    let own_type = query.get("own_type");
    let statuses = query.all("status");
    let ascending = query.get("sort").is_some_and(|s| s.ends_with(":asc"))
        || query.get("dec").is_some_and(|d| d == "false");

    let now = Utc::now();
    let db = app.db();
    let project = db.store.project(&project_id);
    let mut matching: Vec<&BackupRecord> = project
        .backups
        .iter()
        .filter(|b| checkpoint_id.is_none_or(|c| b.checkpoint_id == c))
        .filter(|b| vault_id.is_none_or(|v| b.vault_id == v))
        .filter(|b| resource_id.is_none_or(|r| b.resource_id == r))
        .filter(|b| resource_type.is_none_or(|t| b.resource_type == t))
        .filter(|b| resource_az.is_none_or(|az| b.resource_az == az))
        .filter(|b| name.is_none_or(|n| b.name.contains(n)))
        .filter(|b| resource_name.is_none_or(|n| b.resource_name.contains(n)))
        .filter(|_| image_type.is_none_or(|t| t == "backup"))
        .filter(|_| parent_id.is_none())
        .filter(|_| own_type.is_none_or(|o| o == "private" || o == "all_granted"))
        .filter(|b| statuses.is_empty() || statuses.contains(&b.status(now)))
        .collect();
    // The service lists the newest first unless asked otherwise.
    if !ascending {
        matching.reverse();
    }
    let count = matching.len();
    let backups: Vec<Value> = page
        .apply(matching)
        .into_iter()
        .map(|b| backup_json(b, now))
        .collect();
    Ok(Json(json!({
        "backups": backups,
        "count": count,
        "offset": page.offset,
        "limit": page.limit,
    }))
    .into_response())
}

/// `GET /v3/{project_id}/backups/{backup_id}`
pub(crate) async fn show(
    State(app): State<App>,
    Path((project_id, backup_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let db = app.db();
    let backup = db
        .store
        .project(&project_id)
        .backups
        .get(&backup_id)
        .ok_or(ErrorCode::BackupNotFound)?;
    Ok(Json(json!({ "backup": backup_json(backup, Utc::now()) })).into_response())
}

/// `DELETE /v3/{project_id}/backups/{backup_id}`: refused while the backup is being made or
/// restored.
pub(crate) async fn delete(
    State(app): State<App>,
    Path((project_id, backup_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::BackupNotFound.into());
    };
    let backup = project
        .backups
        .get(&backup_id)
        .ok_or(ErrorCode::BackupNotFound)?;
    let status = backup.status(now);
    if status != "available" {
        return Err(ApiError::with_detail(
            ErrorCode::BackupCannotBeDeleted,
            format!("the backup is {status}"),
        ));
    }
    project.remove_backup(&backup_id);
    db.commit()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v3/{project_id}/backups/{backup_id}/restore`: 202 with an empty body.
pub(crate) async fn restore(
    State(app): State<App>,
    Path((project_id, backup_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let restore = Fields::root(&body).object("restore")?;
    let r = restore.fields();
    let server_id = r.opt_string("server_id")?;
    let volume_id = r.opt_string("volume_id")?;
    let resource_id = r.opt_string("resource_id")?;
    r.opt_bool("power_on")?;
    let mut mapped_volumes = Vec::new();
    if let Some(mappings) = r.opt_array("mappings")? {
        for mapping in r.objects("mappings", mappings)? {
            let m = mapping.fields();
            m.non_empty("backup_id")?;
            mapped_volumes.push(m.non_empty("volume_id")?);
        }
    }
    if let Some(details) = r.opt_object("details")? {
        details.fields().non_empty("destination_path")?;
    }

    let inventory = app.inventory();
    let is_a = |id: &str, kind: &str| inventory.get(id).is_some_and(|item| item.kind == kind);
    let now = Utc::now();
    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::BackupNotFound.into());
    };
    let backup = project
        .backups
        .get_mut(&backup_id)
        .ok_or(ErrorCode::BackupNotFound)?;
    let status = backup.status(now);
    if status != "available" {
        return Err(ApiError::with_detail(
            ErrorCode::RestoreNotAllowed,
            format!("the backup is {status}"),
        ));
    }
    if let Some(server) = server_id
        && !is_a(server, "OS::Nova::Server")
    {
        return Err(ApiError::with_detail(
            ErrorCode::ServerNotFound,
            format!("server: {server}"),
        ));
    }
    for volume in volume_id.iter().chain(mapped_volumes.iter()) {
        if !is_a(volume, "OS::Cinder::Volume") {
            return Err(ApiError::with_detail(
                ErrorCode::DiskNotFound,
                format!("disk: {volume}"),
            ));
        }
    }
    let target_id = server_id
        .or(volume_id)
        .or(resource_id)
        .unwrap_or(&backup.resource_id)
        .to_owned();
    backup.restore = Some(RestoreRecord {
        started_at: now,
        until: after(now, app.restore_seconds()),
        target_id,
    });
    db.commit()?;
    Ok(StatusCode::ACCEPTED.into_response())
}
