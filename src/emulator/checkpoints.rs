//! Restore points: `POST /checkpoints` backs up a vault's resources (one backup per
//! resource), `GET /checkpoints/{id}` shows it `protecting` until the simulated backup
//! duration has passed since its creation, `available` afterwards.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::api_error::{ApiError, ErrorCode};
use super::app::App;
use super::clock::after;
use super::records::{BackupRecord, CheckpointRecord, CheckpointResource};
use super::validate::{Fields, RESOURCE_TYPES, parse_body};

/// `POST /v3/{project_id}/checkpoints`
pub(crate) async fn create(
    State(app): State<App>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let checkpoint = Fields::root(&body).object("checkpoint")?;
    let c = checkpoint.fields();
    let vault_id = c.non_empty("vault_id")?;
    let parameters = c.opt_object("parameters")?;
    let empty = serde_json::Map::new();
    let p = parameters
        .as_ref()
        .map_or(Fields::root(&empty), |p| p.fields());
    let auto_trigger = p.opt_bool("auto_trigger")?.unwrap_or(false);
    let description = p
        .opt_text("description", 255)?
        .unwrap_or_default()
        .to_owned();
    let incremental = p.opt_bool("incremental")?.unwrap_or(true);
    let name = p.opt_name("name")?.map(str::to_owned);
    let mut wanted: Vec<String> = p
        .opt_strings("resources")?
        .unwrap_or_default()
        .into_iter()
        .map(str::to_owned)
        .collect();
    if let Some(details) = p.opt_array("resource_details")? {
        if details.len() > 256 {
            return Err(ApiError::param(format!(
                "{} must have at most 256 items",
                p.path_of("resource_details")
            )));
        }
        for detail in p.objects("resource_details", details)? {
            let d = detail.fields();
            let id = d.non_empty("id")?;
            d.one_of("type", RESOURCE_TYPES)?;
            d.opt_string("name")?;
            wanted.push(id.to_owned());
        }
    }
    p.opt_string("policy_id")?;
    let retention_days = p.opt_int("retention_duration_days")?;
    if let Some(days) = retention_days
        && days != -1
        && !(1..=99_999).contains(&days)
    {
        return Err(ApiError::param(format!(
            "{} must be -1 or between 1 and 99999, got {days}",
            p.path_of("retention_duration_days")
        )));
    }
    let retention_days = retention_days.filter(|d| *d > 0);

    let now = Utc::now();
    let ready_at = after(now, app.backup_seconds());
    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::VaultNotFound.into());
    };
    let vault = project.vault(vault_id).ok_or(ErrorCode::VaultNotFound)?;
    let mut targets = Vec::new();
    if wanted.is_empty() {
        targets.extend(vault.resources.iter().cloned());
    } else {
        let mut seen = std::collections::HashSet::new();
        for id in wanted.iter().filter(|id| seen.insert(id.as_str())) {
            let resource = vault
                .resources
                .iter()
                .find(|r| &r.id == id)
                .ok_or_else(|| {
                    ApiError::with_detail(ErrorCode::ResourceNotInVault, format!("resource: {id}"))
                })?;
            targets.push(resource.clone());
        }
    }
    if targets.is_empty() {
        return Err(ErrorCode::NoResource.into());
    }
    let name = name.unwrap_or_else(|| {
        format!(
            "manualbk_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..4]
        )
    });
    let checkpoint_id = uuid::Uuid::new_v4().to_string();
    let expired_at = retention_days.map(|days| now + TimeDelta::days(days));
    let mut resources = Vec::with_capacity(targets.len());
    let mut backups = Vec::with_capacity(targets.len());
    for target in &targets {
        let previous = project.backup_count(vault_id, &target.id);
        resources.push(CheckpointResource {
            id: target.id.clone(),
            kind: target.kind.clone(),
            name: target.name.clone(),
            size: target.size,
            backup_count: previous,
        });
        let az = app
            .inventory()
            .get(&target.id)
            .map_or("eu-de-01", |item| item.availability_zone())
            .to_owned();
        backups.push(BackupRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.clone(),
            checkpoint_id: checkpoint_id.clone(),
            vault_id: vault_id.to_owned(),
            name: name.clone(),
            description: description.clone(),
            resource_id: target.id.clone(),
            resource_name: target.name.clone(),
            resource_type: target.kind.clone(),
            resource_size: target.size,
            resource_az: az,
            created_at: now,
            ready_at,
            expired_at,
            // The first backup of a resource in a vault is always a full one.
            incremental: incremental && previous > 0,
            auto_trigger,
            restore: None,
        });
    }
    let record = CheckpointRecord {
        id: checkpoint_id,
        project_id: project_id.clone(),
        vault_id: vault_id.to_owned(),
        vault_name: vault.name.clone(),
        name,
        description,
        created_at: now,
        ready_at,
        retention_days,
        resources,
    };
    project.checkpoints.push(record.clone());
    project.backups.extend(backups);
    let wire = project.checkpoint_json(&record, now);
    db.commit()?;
    Ok(Json(json!({ "checkpoint": wire })).into_response())
}

/// `GET /v3/{project_id}/checkpoints/{checkpoint_id}`
pub(crate) async fn show(
    State(app): State<App>,
    Path((project_id, checkpoint_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let db = app.db();
    let project = db.store.project(&project_id);
    let checkpoint = project
        .checkpoints
        .get(&checkpoint_id)
        .ok_or(ErrorCode::CheckpointNotFound)?;
    Ok(
        Json(json!({ "checkpoint": project.checkpoint_json(checkpoint, Utc::now()) }))
            .into_response(),
    )
}
