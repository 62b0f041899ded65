//! Vault operations: create, list, show, update, delete, and associating resources
//! (`addresources`, `removeresources`) under the service's rules — one vault per resource,
//! resource types per object type, no duplicates, only resources the cloud has.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::api_error::{ApiError, ErrorCode};
use super::app::App;
use super::inventory::Inventory;
use super::query::QueryParams;
use super::records::{AssociatedVault, BillingRecord, Tag, VaultRecord, VaultResource};
use super::store::ProjectData;
use super::validate::{
    CHARGING_MODES, CLOUD_TYPES, CONSISTENT_LEVELS, Fields, MAX_VAULT_SIZE, OBJECT_TYPES,
    PROTECT_TYPES, RESOURCE_TYPES, parse_body, resource_type_for,
};

/// A resource named in a request (`ResourceCreate`).
#[derive(Debug, Clone)]
struct ResourceRequest {
    id: String,
    kind: String,
    extra_info: Option<Value>,
}

/// `POST /v3/{project_id}/vaults`
pub(crate) async fn create(
    State(app): State<App>,
    Path(project_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let vault = Fields::root(&body).object("vault")?;
    let f = vault.fields();
    let name = f.name("name")?.to_owned();
    let description = f.opt_text("description", 255)?.map(str::to_owned);
    let billing = parse_billing(&f)?;
    let requested = parse_resources(&f, "resources", true)?;
    let tags = parse_tags(&f)?;
    let auto_bind = f.opt_bool("auto_bind")?.unwrap_or(false);
    let bind_rules = parse_bind_rules(&f)?.unwrap_or_default();
    let auto_expand = f.opt_bool("auto_expand")?;
    let smn_notify = f.opt_bool("smn_notify")?;
    let threshold = f.opt_int_in("threshold", 1..=100)?;
    let locked = f.opt_bool("locked")?;
    let backup_name_prefix = f.opt_text("backup_name_prefix", 32)?.map(str::to_owned);
    let enterprise_project_id = f
        .opt_string("enterprise_project_id")?
        .unwrap_or("0")
        .to_owned();
    let policy_id = f.opt_string("backup_policy_id")?;

    let now = Utc::now();
    let mut db = app.db();
    let existing = db.store.project(&project_id);
    let resources = admit_resources(app.inventory(), existing, &billing.object_type, &requested)?;
    if let Some(policy_id) = policy_id {
        let policy = existing
            .policy(policy_id)
            .ok_or(ErrorCode::PolicyNotFound)?;
        if policy.operation_type != "backup" || billing.protect_type != "backup" {
            return Err(ErrorCode::PolicyNotApplicable.into());
        }
    }
    let record = VaultRecord {
        id: uuid::Uuid::new_v4().to_string(),
        project_id: project_id.clone(),
        name,
        description,
        created_at: now,
        billing,
        resources,
        tags,
        enterprise_project_id,
        auto_bind,
        bind_rules,
        auto_expand,
        smn_notify,
        threshold,
        locked,
        backup_name_prefix,
    };
    let project = db.store.project_mut(&project_id);
    project.vaults.push(record.clone());
    if let Some(policy) = policy_id.and_then(|id| project.policy_mut(id)) {
        policy.associated_vaults.push(AssociatedVault {
            vault_id: record.id.clone(),
            destination_vault_id: None,
        });
    }
    let wire = project.vault_json(&record, now);
    db.commit()?;
    Ok(Json(json!({ "vault": wire })).into_response())
}

/// `GET /v3/{project_id}/vaults`
pub(crate) async fn list(
    State(app): State<App>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = QueryParams::parse(query.as_deref());
    let page = query.page()?;
    let name = query.get("name");
    let object_type = query.get("object_type");
    let protect_type = query.get("protect_type");
    let cloud_type = query.get("cloud_type");
    let status = query.get("status");
    let policy_id = query.get("policy_id");
    let enterprise_project_id = query.get("enterprise_project_id");
    let ids = query.all("id");
    let resource_ids = query.all("resource_ids");

    let now = Utc::now();
    let db = app.db();
    let project = db.store.project(&project_id);
    let matching: Vec<&VaultRecord> = project
        .vaults
        .iter()
        .filter(|v| name.is_none_or(|n| v.name.contains(n)))
        .filter(|v| object_type.is_none_or(|t| v.billing.object_type == t))
        .filter(|v| protect_type.is_none_or(|t| v.billing.protect_type == t))
        .filter(|v| cloud_type.is_none_or(|t| v.billing.cloud_type == t))
        .filter(|_| status.is_none_or(|s| s == "available"))
        .filter(|v| {
            enterprise_project_id
                .is_none_or(|e| e == "all_granted_eps" || e == v.enterprise_project_id)
        })
        .filter(|v| ids.is_empty() || ids.contains(&v.id.as_str()))
        .filter(|v| {
            resource_ids.is_empty()
                || v.resources
                    .iter()
                    .any(|r| resource_ids.contains(&r.id.as_str()))
        })
        .filter(|v| {
            policy_id.is_none_or(|p| {
                project.policy(p).is_some_and(|policy| {
                    policy.associated_vaults.iter().any(|a| a.vault_id == v.id)
                })
            })
        })
        .collect();
    let count = matching.len();
    let vaults: Vec<Value> = page
        .apply(matching)
        .into_iter()
        .map(|v| project.vault_json(v, now))
        .collect();
    Ok(Json(json!({
        "vaults": vaults,
        "count": count,
        "limit": page.limit,
        "offset": page.offset,
    }))
    .into_response())
}

/// `GET /v3/{project_id}/vaults/{vault_id}`
pub(crate) async fn show(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let db = app.db();
    let project = db.store.project(&project_id);
    let vault = project.vault(&vault_id).ok_or(ErrorCode::VaultNotFound)?;
    Ok(Json(json!({ "vault": project.vault_json(vault, Utc::now()) })).into_response())
}

/// `PUT /v3/{project_id}/vaults/{vault_id}`
pub(crate) async fn update(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let vault = Fields::root(&body).object("vault")?;
    let f = vault.fields();
    let name = f.opt_name("name")?;
    let billing = f.opt_object("billing")?;
    let (size, consistent_level) = match &billing {
        Some(billing) => {
            let b = billing.fields();
            (
                b.opt_int_in("size", 1..=MAX_VAULT_SIZE)?,
                b.opt_one_of("consistent_level", CONSISTENT_LEVELS)?,
            )
        }
        None => (None, None),
    };
    let auto_bind = f.opt_bool("auto_bind")?;
    let bind_rules = parse_bind_rules(&f)?;
    let auto_expand = f.opt_bool("auto_expand")?;
    let smn_notify = f.opt_bool("smn_notify")?;
    let threshold = f.opt_int_in("threshold", 1..=100)?;
    let locked = f.opt_bool("locked")?;

    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::VaultNotFound.into());
    };
    let vault = project
        .vault_mut(&vault_id)
        .ok_or(ErrorCode::VaultNotFound)?;
    if let Some(name) = name {
        name.clone_into(&mut vault.name);
    }
    if let Some(size) = size {
        vault.billing.size = size;
    }
    if let Some(level) = consistent_level {
        level.clone_into(&mut vault.billing.consistent_level);
    }
    if let Some(auto_bind) = auto_bind {
        vault.auto_bind = auto_bind;
    }
    if let Some(bind_rules) = bind_rules {
        vault.bind_rules = bind_rules;
    }
    vault.auto_expand = auto_expand.or(vault.auto_expand);
    vault.smn_notify = smn_notify.or(vault.smn_notify);
    vault.threshold = threshold.or(vault.threshold);
    vault.locked = locked.or(vault.locked);
    let vault = vault.clone();
    for mut checkpoint in project
        .checkpoints
        .iter_mut()
        .filter(|c| c.vault_id == vault_id)
    {
        checkpoint.vault_name.clone_from(&vault.name);
    }
    let wire = project.vault_json(&vault, Utc::now());
    db.commit()?;
    Ok(Json(json!({ "vault": wire })).into_response())
}

/// `DELETE /v3/{project_id}/vaults/{vault_id}`: deletes the vault with its backups.
pub(crate) async fn delete(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut db = app.db();
    let removed = db
        .store
        .projects
        .get_mut(&project_id)
        .is_some_and(|p| p.remove_vault(&vault_id));
    if !removed {
        return Err(ErrorCode::VaultNotFound.into());
    }
    db.commit()?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v3/{project_id}/vaults/{vault_id}/addresources`
pub(crate) async fn add_resources(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let requested = parse_resources(&Fields::root(&body), "resources", false)?;

    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::VaultNotFound.into());
    };
    let vault = project.vault(&vault_id).ok_or(ErrorCode::VaultNotFound)?;
    let admitted = admit_resources(
        app.inventory(),
        project,
        &vault.billing.object_type,
        &requested,
    )?;
    let ids: Vec<String> = admitted.iter().map(|r| r.id.clone()).collect();
    if let Some(vault) = project.vault_mut(&vault_id) {
        vault.resources.extend(admitted);
    }
    db.commit()?;
    Ok(Json(json!({ "add_resource_ids": ids })).into_response())
}

/// `POST /v3/{project_id}/vaults/{vault_id}/removeresources`
pub(crate) async fn remove_resources(
    State(app): State<App>,
    Path((project_id, vault_id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let root = Fields::root(&body);
    let ids = root
        .opt_strings("resource_ids")?
        .ok_or_else(|| ApiError::param("resource_ids is required"))?;
    if ids.is_empty() {
        return Err(ApiError::param("resource_ids must not be empty"));
    }

    let mut db = app.db();
    let Some(project) = db.store.projects.get_mut(&project_id) else {
        return Err(ErrorCode::VaultNotFound.into());
    };
    let vault = project
        .vault_mut(&vault_id)
        .ok_or(ErrorCode::VaultNotFound)?;
    if let Some(missing) = ids
        .iter()
        .find(|id| !vault.resources.iter().any(|r| r.id == **id))
    {
        return Err(ApiError::with_detail(
            ErrorCode::ResourceNotInVault,
            format!("resource: {missing}"),
        ));
    }
    vault.resources.retain(|r| !ids.contains(&r.id.as_str()));
    db.commit()?;
    Ok(Json(json!({ "remove_resource_ids": ids })).into_response())
}

fn parse_billing(vault: &Fields<'_>) -> Result<BillingRecord, ApiError> {
    let billing = vault.object("billing")?;
    let b = billing.fields();
    Ok(BillingRecord {
        cloud_type: b
            .opt_one_of("cloud_type", CLOUD_TYPES)?
            .unwrap_or("public")
            .to_owned(),
        consistent_level: b.one_of("consistent_level", CONSISTENT_LEVELS)?.to_owned(),
        object_type: b.one_of("object_type", OBJECT_TYPES)?.to_owned(),
        protect_type: b.one_of("protect_type", PROTECT_TYPES)?.to_owned(),
        charging_mode: b
            .opt_one_of("charging_mode", CHARGING_MODES)?
            .unwrap_or("post_paid")
            .to_owned(),
        size: b
            .opt_int_in("size", 1..=MAX_VAULT_SIZE)?
            .ok_or_else(|| ApiError::param(format!("{} is required", b.path_of("size"))))?,
        is_multi_az: b.opt_bool("is_multi_az")?,
    })
}

/// Reads a list of `ResourceCreate` at `key`; `allow_empty` is false where the list must name
/// at least one resource.
fn parse_resources(
    parent: &Fields<'_>,
    key: &str,
    allow_empty: bool,
) -> Result<Vec<ResourceRequest>, ApiError> {
    let items = parent.array(key)?;
    if items.is_empty() && !allow_empty {
        return Err(ApiError::param(format!(
            "{} must not be empty",
            parent.path_of(key)
        )));
    }
    parent
        .objects(key, items)?
        .iter()
        .map(|item| {
            let r = item.fields();
            let id = r.non_empty("id")?.to_owned();
            let kind = r.one_of("type", RESOURCE_TYPES)?.to_owned();
            r.opt_string("name")?;
            let extra_info = match r.opt_object("extra_info")? {
                Some(extra) => {
                    let e = extra.fields();
                    e.opt_strings("exclude_volumes")?;
                    if let Some(list) = e.opt_array("include_volumes")? {
                        for volume in e.objects("include_volumes", list)? {
                            volume.fields().non_empty("id")?;
                            volume.fields().opt_string("os_version")?;
                        }
                    }
                    Some(Value::Object(extra.map().clone()))
                }
                None => None,
            };
            Ok(ResourceRequest {
                id,
                kind,
                extra_info,
            })
        })
        .collect()
}

fn parse_tags(vault: &Fields<'_>) -> Result<Vec<Tag>, ApiError> {
    let Some(items) = vault.opt_array("tags")? else {
        return Ok(Vec::new());
    };
    vault
        .objects("tags", items)?
        .iter()
        .map(|tag| {
            let t = tag.fields();
            Ok(Tag {
                key: t.non_empty("key")?.to_owned(),
                value: t.string("value")?.to_owned(),
            })
        })
        .collect()
}

fn parse_bind_rules(vault: &Fields<'_>) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(rules) = vault.opt_object("bind_rules")? else {
        return Ok(None);
    };
    let r = rules.fields();
    if let Some(tags) = r.opt_array("tags")? {
        for tag in r.objects("tags", tags)? {
            tag.fields().non_empty("key")?;
            tag.fields().string("value")?;
        }
    }
    Ok(Some(rules.map().clone()))
}

/// Applies the association rules to `requested` for a vault of `object_type` and returns
/// the resources as the vault will hold them.
fn admit_resources(
    inventory: &Inventory,
    project: &ProjectData,
    object_type: &str,
    requested: &[ResourceRequest],
) -> Result<Vec<VaultResource>, ApiError> {
    let mut seen = HashSet::new();
    if let Some(dup) = requested.iter().find(|r| !seen.insert(r.id.as_str())) {
        return Err(ApiError::with_detail(
            ErrorCode::DuplicateResources,
            format!("resource: {}", dup.id),
        ));
    }
    let accepted = resource_type_for(object_type);
    requested
        .iter()
        .map(|r| {
            if accepted != Some(r.kind.as_str()) {
                return Err(ApiError::with_detail(
                    ErrorCode::UnsupportedVaultResourceType,
                    format!("a {object_type} vault cannot hold {} `{}`", r.kind, r.id),
                ));
            }
            let item = inventory
                .get(&r.id)
                .filter(|item| item.kind == r.kind)
                .ok_or_else(|| {
                    ApiError::with_detail(
                        ErrorCode::ResourceNotFound,
                        format!("resource: {}", r.id),
                    )
                })?;
            if let Some(holder) = project.vault_holding(&r.id) {
                return Err(ApiError::with_detail(
                    ErrorCode::ResourceAlreadyInVault,
                    format!("resource {} is in vault {}", r.id, holder.id),
                ));
            }
            Ok(VaultResource {
                id: item.id.clone(),
                name: item.name.clone(),
                kind: item.kind.clone(),
                size: item.size,
                extra_info: r.extra_info.clone(),
            })
        })
        .collect()
}
