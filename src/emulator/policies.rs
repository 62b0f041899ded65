//! Backup and replication policies: create, list, show, update, delete, and applying them to
//! vaults (`associatepolicy`, `dissociatepolicy`). Trigger patterns are checked against the
//! service's iCalendar RRULE subset.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::api_error::{ApiError, ErrorCode};
use super::app::App;
use super::query::QueryParams;
use super::records::{AssociatedVault, PolicyRecord};
use super::store::policy_json;
use super::validate::{Fields, Nested, OPERATION_TYPES, parse_body};

/// `GET /v3/{project_id}/policies`
pub(crate) async fn list(
    State(app): State<App>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(query.as_deref());
    let operation_type = query.get("operation_type");
    if let Some(t) = operation_type
        && !OPERATION_TYPES.contains(&t)
    {
        return Err(ApiError::param(format!(
            "query parameter operation_type must be one of {}, got `{t}`",
            OPERATION_TYPES.join(", ")
        )));
    }
    let vault_id = query.get("vault_id");
    let db = app.db();
    let policies: Vec<Value> = db
        .store
        .project(&project_id)
        .policies
        .iter()
        .filter(|p| operation_type.is_none_or(|t| p.operation_type == t))
        .filter(|p| vault_id.is_none_or(|v| p.associated_vaults.iter().any(|a| a.vault_id == v)))
        .map(policy_json)
        .collect();
    Ok(Json(json!({ "count": policies.len(), "policies": policies })).into_response())
}

/// `POST /v3/{project_id}/policies`
pub(crate) async fn create(
    State(app): State<App>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let policy = Fields::root(&body).object("policy")?;
    let f = policy.fields();
    let name = f.name("name")?.to_owned();
    let enabled = f.opt_bool("enabled")?.unwrap_or(true);
    let operation_type = f.one_of("operation_type", OPERATION_TYPES)?.to_owned();
    let definition = f.object("operation_definition")?;
    let operation_definition =
        check_operation_definition(&definition, definition.map().clone(), &operation_type)?;
    let trigger = f.object("trigger")?;
    let (pattern, start_window_minutes) = parse_trigger(&trigger)?;

    let record = PolicyRecord {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.clone(),
        name,
        enabled,
        operation_type,
        operation_definition,
        trigger_id: uuid::Uuid::new_v4().to_string(),
        pattern,
        start_window_minutes,
        created_at: Utc::now(),
        associated_vaults: Vec::new(),
    };
    let wire = policy_json(&record);
    let mut db = app.db();
    db.store.project_mut(&project_id).policies.push(record);
    db.commit()?;
    Ok(Json(json!({ "policy": wire })).into_response())
}

/// `GET /v3/{project_id}/policies/{policy_id}`
pub(crate) async fn show(
    State(app): State<App>,
    Path((project_id, policy_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let db = app.db();
    let policy = db
        .store
        .project(&project_id)
        .policy(&policy_id)
        .ok_or(ErrorCode::PolicyNotFound)?;
    Ok(Json(json!({ "policy": policy_json(policy) })).into_response())
}

/// `PUT /v3/{project_id}/policies/{policy_id}`: given fields replace the policy's, keys of
/// `operation_definition` are merged.
pub(crate) async fn update(
    State(app): State<App>,
    Path((project_id, policy_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let policy = Fields::root(&body).object("policy")?;
    let f = policy.fields();
    let name = f.opt_name("name")?;
    let enabled = f.opt_bool("enabled")?;
    let definition = f.opt_object("operation_definition")?;
    let trigger = f
        .opt_object("trigger")?
        .map(|t| parse_trigger(&t))
        .transpose()?;

    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::PolicyNotFound.into());
    };
    let policy = project
        .policy_mut(&policy_id)
        .ok_or(ErrorCode::PolicyNotFound)?;
    if let Some(definition) = &definition {
        let mut merged = policy.operation_definition.clone();
        for (key, value) in definition.map() {
            merged.insert(key.clone(), value.clone());
        }
        policy.operation_definition =
            check_operation_definition(definition, merged, &policy.operation_type)?;
    }
    if let Some(name) = name {
        name.clone_into(&mut policy.name);
    }
    if let Some(enabled) = enabled {
        policy.enabled = enabled;
    }
    if let Some((pattern, start_window_minutes)) = trigger {
        policy.pattern = pattern;
        policy.start_window_minutes = start_window_minutes.or(policy.start_window_minutes);
    }
    let wire = policy_json(policy);
    db.commit()?;
    Ok(Json(json!({ "policy": wire })).into_response())
}

/// `DELETE /v3/{project_id}/policies/{policy_id}`
pub(crate) async fn delete(
    State(app): State<App>,
    Path((project_id, policy_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::PolicyNotFound.into());
    };
    let before = project.policies.len();
    project.policies.retain(|p| p.id != policy_id);
    if project.policies.len() == before {
        return Err(ErrorCode::PolicyNotFound.into());
    }
    db.commit()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v3/{project_id}/vaults/{vault_id}/associatepolicy`: a vault has at most one policy
/// per operation type; applying another one replaces it.
pub(crate) async fn associate(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let root = Fields::root(&body);
    let policy_id = match root.opt_string("policy_id")? {
        Some(id) => id,
        None => root
            .opt_strings("add_policy_ids")?
            .and_then(|ids| ids.first().copied())
            .ok_or_else(|| ApiError::param("policy_id is required"))?,
    };
    let destination = root.opt_string("destination_vault_id")?.map(str::to_owned);

    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::VaultNotFound.into());
    };
    let vault = project.vault(&vault_id).ok_or(ErrorCode::VaultNotFound)?;
    let protect_type = vault.billing.protect_type.clone();
    let policy = project.policy(policy_id).ok_or(ErrorCode::PolicyNotFound)?;
    let operation_type = policy.operation_type.clone();
    if operation_type == "backup" && protect_type != "backup" {
        return Err(ApiError::with_detail(
            ErrorCode::PolicyNotApplicable,
            "a backup policy needs a backup vault",
        ));
    }
    if operation_type == "replication" && destination.is_none() {
        return Err(ApiError::param(
            "destination_vault_id is required for a replication policy",
        ));
    }
    for mut other in project
        .policies
        .iter_mut()
        .filter(|p| p.operation_type == operation_type)
    {
        other.associated_vaults.retain(|a| a.vault_id != vault_id);
    }
    if let Some(policy) = project.policy_mut(policy_id) {
        policy.associated_vaults.push(AssociatedVault {
            vault_id: vault_id.clone(),
            destination_vault_id: destination.clone(),
        });
    }
    db.commit()?;
    let mut answer = json!({ "vault_id": vault_id, "policy_id": policy_id });
    if let Some(destination) = destination {
        answer["destination_vault_id"] = json!(destination);
    }
    Ok(Json(json!({ "associate_policy": answer })).into_response())
}

/// `POST /v3/{project_id}/vaults/{vault_id}/dissociatepolicy`
pub(crate) async fn dissociate(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let policy_id = Fields::root(&body).non_empty("policy_id")?;

    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::VaultNotFound.into());
    };
    project.vault(&vault_id).ok_or(ErrorCode::VaultNotFound)?;
    let policy = project
        .policy_mut(policy_id)
        .ok_or(ErrorCode::PolicyNotFound)?;
    let before = policy.associated_vaults.len();
    policy.associated_vaults.retain(|a| a.vault_id != vault_id);
    if policy.associated_vaults.len() == before {
        return Err(ErrorCode::PolicyNotApplied.into());
    }
    db.commit()?;
    Ok(
        Json(json!({ "dissociate_policy": { "vault_id": vault_id, "policy_id": policy_id } }))
            .into_response(),
    )
}

/// Checks an `operation_definition` (`given` is what the request sent, for field paths;
/// `merged` the definition the policy will have) and returns it without `null`s.
fn check_operation_definition(
    given: &Nested<'_>,
    mut merged: Map<String, Value>,
    operation_type: &str,
) -> Result<Map<String, Value>, ApiError> {
    merged.retain(|_, v| !v.is_null());
    let path = given.path();
    let f = Fields::root(&merged);
    let at = |key: &str| format!("{path}.{key}");
    let signed = |key: &str, max: i64| -> Result<Option<i64>, ApiError> {
        let value = f
            .opt_int(key)
            .map_err(|_| ApiError::param(format!("{} must be an integer", at(key))))?;
        if let Some(v) = value
            && v != -1
            && !(0..=max).contains(&v)
        {
            return Err(ApiError::param(format!(
                "{} must be -1 or between 0 and {max}, got {v}",
                at(key)
            )));
        }
        Ok(value)
    };
    let max_backups = signed("max_backups", 99_999)?;
    let retention_days = signed("retention_duration_days", 99_999)?;
    signed("full_backup_interval", 100)?;
    let mut periodic = false;
    for key in [
        "day_backups",
        "week_backups",
        "month_backups",
        "year_backups",
    ] {
        let value = f
            .opt_int(key)
            .map_err(|_| ApiError::param(format!("{} must be an integer", at(key))))?;
        if let Some(v) = value {
            if !(0..=100).contains(&v) {
                return Err(ApiError::param(format!(
                    "{} must be between 0 and 100, got {v}",
                    at(key)
                )));
            }
            periodic = true;
        }
    }
    let timezone = f
        .opt_string("timezone")
        .map_err(|_| ApiError::param(format!("{} must be a string", at("timezone"))))?;
    if let Some(tz) = timezone
        && !is_utc_offset(tz)
    {
        return Err(ApiError::param(format!(
            "{} must look like UTC+08:00, got `{tz}`",
            at("timezone")
        )));
    }
    if periodic && timezone.is_none() {
        return Err(ApiError::param(format!(
            "{} is required with day/week/month/year_backups",
            at("timezone")
        )));
    }
    if operation_type == "backup" && max_backups.is_none() && retention_days.is_none() && !periodic
    {
        return Err(ApiError::param(format!(
            "{} needs max_backups, retention_duration_days or day/week/month/year_backups",
            path
        )));
    }
    if operation_type == "replication" {
        for key in ["destination_region", "destination_project_id"] {
            if f.opt_string(key).ok().flatten().is_none_or(str::is_empty) {
                return Err(ApiError::param(format!(
                    "{} is required for replication",
                    at(key)
                )));
            }
        }
    }
    Ok(merged)
}

fn is_utc_offset(tz: &str) -> bool {
    let Some(rest) = tz.strip_prefix("UTC") else {
        return false;
    };
    let Some(offset) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) else {
        return false;
    };
    let Some((hours, minutes)) = offset.split_once(':') else {
        return false;
    };
    hours.len() == 2
        && minutes.len() == 2
        && hours.parse::<u8>().is_ok_and(|h| h <= 14)
        && minutes.parse::<u8>().is_ok_and(|m| m < 60)
}

/// Reads `trigger.properties`: the patterns and the start window.
fn parse_trigger(trigger: &Nested<'_>) -> Result<(Vec<String>, Option<i64>), ApiError> {
    let t = trigger.fields();
    let properties = t.object("properties")?;
    let p = properties.fields();
    let patterns = p
        .opt_strings("pattern")?
        .ok_or_else(|| ApiError::param(format!("{} is required", p.path_of("pattern"))))?;
    if patterns.is_empty() || patterns.len() > 24 {
        return Err(ApiError::param(format!(
            "{} must have 1 to 24 patterns, got {}",
            p.path_of("pattern"),
            patterns.len()
        )));
    }
    for (i, pattern) in patterns.iter().enumerate() {
        check_pattern(pattern).map_err(|why| {
            ApiError::param(format!("{}[{i}] `{pattern}`: {why}", p.path_of("pattern")))
        })?;
    }
    let window = p.opt_int_in("start_window_minutes", 1..=1440)?;
    Ok((patterns.into_iter().map(str::to_owned).collect(), window))
}

/// Checks one RRULE of the subset the service accepts: `FREQ=DAILY|WEEKLY`, `BYDAY` (weekly
/// only, required there), `BYHOUR`, `BYMINUTE`, `INTERVAL`.
pub(crate) fn check_pattern(pattern: &str) -> Result<(), String> {
    let mut freq = None;
    let (mut by_day, mut by_hour, mut by_minute, mut interval) = (false, false, false, false);
    for part in pattern.split(';').filter(|p| !p.is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
        let list = || value.split(',').map(str::trim);
        let seen = match key {
            "FREQ" => {
                if value != "DAILY" && value != "WEEKLY" {
                    return Err(format!("FREQ must be DAILY or WEEKLY, got `{value}`"));
                }
                freq.replace(value).is_some()
            }
            "BYDAY" => {
                const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];
                if let Some(bad) = list().find(|d| !DAYS.contains(d)) {
                    return Err(format!("BYDAY has unknown day `{bad}`"));
                }
                std::mem::replace(&mut by_day, true)
            }
            "BYHOUR" => {
                if let Some(bad) = list().find(|h| h.parse::<u8>().map_or(true, |h| h > 23)) {
                    return Err(format!("BYHOUR must be 0 to 23, got `{bad}`"));
                }
                std::mem::replace(&mut by_hour, true)
            }
            "BYMINUTE" => {
                if let Some(bad) = list().find(|m| m.parse::<u8>().map_or(true, |m| m > 59)) {
                    return Err(format!("BYMINUTE must be 0 to 59, got `{bad}`"));
                }
                std::mem::replace(&mut by_minute, true)
            }
            "INTERVAL" => {
                if value.parse::<u32>().map_or(true, |i| i == 0) {
                    return Err(format!(
                        "INTERVAL must be a positive integer, got `{value}`"
                    ));
                }
                std::mem::replace(&mut interval, true)
            }
            other => return Err(format!("unsupported rule part `{other}`")),
        };
        if seen {
            return Err(format!("{key} appears twice"));
        }
    }
    match freq {
        None => Err("FREQ is required".to_owned()),
        Some("WEEKLY") if !by_day => Err("BYDAY is required with FREQ=WEEKLY".to_owned()),
        Some("DAILY") if by_day => Err("BYDAY is only allowed with FREQ=WEEKLY".to_owned()),
        _ if !by_hour || !by_minute => Err("BYHOUR and BYMINUTE are required".to_owned()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_of_the_documented_subset_pass() {
        check_pattern("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00").unwrap();
        check_pattern("FREQ=DAILY;INTERVAL=1;BYHOUR=3,15;BYMINUTE=30").unwrap();
    }

    #[test]
    fn malformed_patterns_fail_with_a_reason() {
        for (pattern, why) in [
            ("", "FREQ is required"),
            ("FREQ=HOURLY;BYHOUR=1;BYMINUTE=0", "FREQ must be"),
            ("FREQ=WEEKLY;BYHOUR=1;BYMINUTE=0", "BYDAY is required"),
            ("FREQ=DAILY;BYHOUR=24;BYMINUTE=0", "BYHOUR"),
            ("FREQ=DAILY;BYHOUR=1;BYMINUTE=60", "BYMINUTE"),
            ("FREQ=DAILY;BYHOUR=1", "BYMINUTE are required"),
            ("FREQ=WEEKLY;BYDAY=XX;BYHOUR=1;BYMINUTE=0", "unknown day"),
            ("FREQ=DAILY;FREQ=DAILY;BYHOUR=1;BYMINUTE=0", "twice"),
            ("FREQ=DAILY;BYSECOND=1;BYHOUR=1;BYMINUTE=0", "unsupported"),
            ("FREQ=DAILY;INTERVAL=0;BYHOUR=1;BYMINUTE=0", "INTERVAL"),
        ] {
            let err = check_pattern(pattern).unwrap_err();
            assert!(err.contains(why), "{pattern}: {err}");
        }
    }

    #[test]
    fn utc_offsets() {
        assert!(is_utc_offset("UTC+08:00"));
        assert!(is_utc_offset("UTC-05:30"));
        assert!(!is_utc_offset("UTC8"));
        assert!(!is_utc_offset("CET"));
    }
}
