#!/usr/bin/env python3
"""Holds `cbrflow emulator --ak AK --sk SK` against the official Python SDK.

The pinned SDK (huaweicloudsdkcbr / huaweicloudsdkcore 3.1.219, see requirements.txt beside
this file) signs every request with AK/SK and parses every answer into its response models.
Each check below asserts three things:

* the SDK call succeeds (the emulator accepted the signature, answered the expected status,
  and the SDK parsed the body without raising or warning — SDK type-conversion warnings are
  turned into errors);
* the raw JSON body conforms to the SDK's response model, recursively: no key the model does
  not know, every JSON value of the declared type, every field the model's constructor always
  sets (the SDK's "required" fields) present and not null;
* the key fields carry the values the request implies.

Errors must surface as the SDK's ClientRequestException with the service's status,
error_code, error_msg and X-Request-Id.

Configured by environment variables (all required):
    CBR_ENDPOINT    e.g. http://127.0.0.1:8080
    CBR_PROJECT_ID  project id the requests are signed for
    CBR_AK, CBR_SK  the keys the emulator was started with

Run by `cargo test --test main conformance::` (tests/conformance/mod.rs), which creates the
venv and the emulator. By hand:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install -r tests/conformance/requirements.txt
    cbrflow emulator --ak AK --sk SK --backup-seconds 0.3 --restore-seconds 0.3 &
    CBR_ENDPOINT=http://127.0.0.1:PORT CBR_PROJECT_ID=0605767b5780d5762fc5c0118072a564 \\
        CBR_AK=AK CBR_SK=SK /tmp/v/bin/python tests/conformance/sdk_conformance.py

Prints one line per check (`ok   name` or `FAIL name: why`) and exits 1 if any failed.
"""

import inspect
import json
import os
import re
import sys
import time
import traceback
import warnings
from datetime import datetime
from importlib import metadata
from types import SimpleNamespace

from huaweicloudsdkcbr.v1 import CbrClient
from huaweicloudsdkcbr.v1 import model as m
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.warning.warning import SdkWarning

# A value the SDK cannot convert into the declared type is only a warning to the SDK; here it
# is a failure of the call that received it.
warnings.simplefilter("error", SdkWarning)

PINNED_SDK = "3.1.219"

# The seed (reference/seed-cbr_04_0026.rst) and a second server of the emulator's inventory.
SEED_SERVER = "e8cc6bfd-d324-4b88-9109-9fb0ba70676f"
SEED_SERVER_NAME = "server-4690-0002"  # the name the seed's request gives
SEED_SERVER_REAL_NAME = "ecs-9f93-0002"  # the server's name in the cloud, as the service answers
SERVER_PROVIDER = "0daac4c5-6707-4851-97ba-169e36266b66"
DISK = "7c6b5a49-0001-4d3e-9f8a-000000000001"  # evs-data-0001, 100 GB
DISK_PROVIDER = "d1603440-187d-4516-af25-121250c7cc97"
PATTERN = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"


# --------------------------------------------------------------------------- checks


class Suite:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def run(self, name, fn, ctx):
        try:
            fn(ctx)
        except Exception as err:  # noqa: BLE001 - every failure is reported, then the next check runs
            self.failed.append(name)
            print(f"FAIL {name}: {describe(err)}", flush=True)
            if os.environ.get("CBR_TRACEBACK"):
                traceback.print_exc()
        else:
            self.passed += 1
            print(f"ok   {name}", flush=True)


def describe(err):
    if isinstance(err, ClientRequestException):
        return (f"ClientRequestException status={err.status_code} error_code={err.error_code} "
                f"error_msg={err.error_msg!r}")
    if isinstance(err, AttributeError) and "namespace" in str(err):
        return f"an earlier check did not produce what this one needs ({err})"
    return f"{type(err).__name__}: {err}"


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def expect_eq(actual, wanted, what):
    if actual != wanted:
        raise AssertionError(f"{what}: {actual!r} != {wanted!r}")


def expect_error(call, status, code):
    """The call raises ClientRequestException with `status` and `code`, a message and a request id."""
    try:
        call()
    except ClientRequestException as err:
        expect_eq(err.status_code, status, "status")
        expect_eq(err.error_code, code, "error_code")
        expect(bool(err.error_msg), "empty error_msg")
        expect(bool(err.request_id), "no X-Request-Id on the error")
        return err
    raise AssertionError(f"no ClientRequestException (wanted {status} {code})")


# --------------------------------------------------------------------------- model conformance

_NATIVE = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}
_REQUIRED_CACHE = {}

# Required fields the service sends as null when they do not apply (present, but null): a
# backup that is not part of another one has no parent, one kept forever has no expiry.
NULLABLE = {
    ("BackupResp", "parent_id"),
    ("BackupResp", "expired_at"),
}


def required_fields(klass):
    """Attributes the generated constructor always assigns (`self.x = x` outside an `if`)."""
    if klass not in _REQUIRED_CACHE:
        source = inspect.getsource(klass.__init__)
        _REQUIRED_CACHE[klass] = {
            name for name in re.findall(r"^ {8}self\.(\w+) = \1$", source, re.MULTILINE)
            if name in klass.openapi_types
        }
    return _REQUIRED_CACHE[klass]


def conform(value, declared, path, problems):
    """Appends to `problems` every way the JSON `value` at `path` differs from `declared`."""
    if value is None:
        return
    if isinstance(declared, str):
        list_of = re.fullmatch(r"list\[(.*)\]", declared)
        if list_of:
            if not isinstance(value, list):
                problems.append(f"{path}: expected a list, got {type(value).__name__}")
                return
            for i, item in enumerate(value):
                conform(item, list_of.group(1), f"{path}[{i}]", problems)
            return
        dict_of = re.fullmatch(r"dict\(([^,]*), (.*)\)", declared)
        if dict_of:
            if not isinstance(value, dict):
                problems.append(f"{path}: expected an object, got {type(value).__name__}")
                return
            for key, item in value.items():
                conform(item, dict_of.group(2), f"{path}.{key}", problems)
            return
        if declared == "object":
            return
        if declared in _NATIVE:
            ok = isinstance(value, _NATIVE[declared]) and not (
                declared != "bool" and isinstance(value, bool))
            if not ok:
                problems.append(f"{path}: expected {declared}, got {type(value).__name__} {value!r}")
            elif declared in ("datetime", "date") and not is_timestamp(value):
                problems.append(f"{path}: not an ISO 8601 timestamp: {value!r}")
            return
        declared = getattr(m, declared)
    conform_model(value, declared, path, problems)


def is_timestamp(text):
    """The service's timestamps: `2020-08-17T03:51:24.678916`, optionally with a zone."""
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text


def conform_model(value, klass, path, problems):
    types = getattr(klass, "openapi_types", None) or {}
    if not types:  # an enum-like model: any scalar the SDK maps
        return
    keys = klass.attribute_map
    if "body" in keys.values():  # the whole body is one value
        attr = next(a for a, k in keys.items() if k == "body")
        conform(value, types[attr], path, problems)
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: expected an object ({klass.__name__}), got {type(value).__name__}")
        return
    known = set(keys.values())
    for key in value:
        if key not in known:
            problems.append(f"{path}.{key}: not a field of {klass.__name__}")
    for attr in required_fields(klass):
        key = keys[attr]
        if key not in value:
            problems.append(f"{path}.{key}: required by {klass.__name__} but missing")
        elif value[key] is None and (klass.__name__, key) not in NULLABLE:
            problems.append(f"{path}.{key}: required by {klass.__name__} but null")
    for attr, declared in types.items():
        if keys[attr] in value:
            conform(value[keys[attr]], declared, f"{path}.{keys[attr]}", problems)


def parsed(response, status=200):
    """Asserts the HTTP status and that the raw body conforms to the response's model."""
    expect_eq(response.status_code, status, "HTTP status")
    raw = response.raw_content
    if status in (202, 204):
        expect(not raw or not raw.strip() or json.loads(raw) == {}, f"body on a {status}: {raw!r}")
        return response
    expect(bool(raw), "empty body")
    problems = []
    conform_model(json.loads(raw), type(response), type(response).__name__, problems)
    if problems:
        raise AssertionError("body does not conform to the SDK model:\n    " + "\n    ".join(problems))
    return response


def wait_for(read, done, what, limit=15.0):
    deadline = time.monotonic() + limit
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {limit} s (last: {value!r})")
        time.sleep(0.05)


# --------------------------------------------------------------------------- the checks


def client_for(ctx, sk):
    config = HttpConfig.get_default_config()
    config.timeout = (5, 15)
    credentials = BasicCredentials(ctx.ak, sk, ctx.project_id)
    return (CbrClient.new_builder()
            .with_http_config(config)
            .with_credentials(credentials)
            .with_endpoints([ctx.endpoint])
            .build())


def seed_billing():
    return m.BillingCreate(cloud_type="public", consistent_level="crash_consistent",
                           object_type="server", protect_type="backup", size=200)


def check_pinned_sdk(ctx):
    expect_eq(metadata.version("huaweicloudsdkcbr"), PINNED_SDK, "huaweicloudsdkcbr version")
    expect_eq(metadata.version("huaweicloudsdkcore"), PINNED_SDK, "huaweicloudsdkcore version")


def check_wrong_sk(ctx):
    bad = client_for(ctx, ctx.sk + "-wrong")
    err = expect_error(lambda: bad.list_vault(m.ListVaultRequest()), 401, "APIGW.0301")
    expect("signature" in err.error_msg.lower() or "authentication" in err.error_msg.lower(),
           f"error_msg does not say why: {err.error_msg!r}")
    expect_error(lambda: bad.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(
        vault=m.VaultCreate(billing=seed_billing(), name="rejected", resources=[])))),
        401, "APIGW.0301")


def check_wrong_ak(ctx):
    other = BasicCredentials("AKNOTKNOWNTOTHEEMULATOR", ctx.sk, ctx.project_id)
    bad = CbrClient.new_builder().with_credentials(other).with_endpoints([ctx.endpoint]).build()
    expect_error(lambda: bad.list_vault(m.ListVaultRequest()), 401, "APIGW.0301")


def check_nothing_created_by_rejected_calls(ctx):
    listed = parsed(ctx.client.list_vault(m.ListVaultRequest()))
    expect_eq(listed.count, 0, "vaults after rejected calls")
    expect_eq(listed.vaults, [], "vaults")


# The seed's four calls, with its bodies.

def check_seed_create_vault(ctx):
    vault = parsed(ctx.client.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(
        vault=m.VaultCreate(billing=seed_billing(), name="my_vault", resources=[]))))).vault
    expect_eq(vault.name, "my_vault", "name")
    expect_eq(vault.project_id, ctx.project_id, "project_id")
    expect_eq(vault.provider_id, SERVER_PROVIDER, "provider_id")
    expect_eq(vault.resources, [], "resources")
    b = vault.billing
    expect_eq((b.cloud_type, b.consistent_level, b.object_type, b.protect_type, b.size),
              ("public", "crash_consistent", "server", "backup", 200), "billing as requested")
    expect_eq((b.charging_mode, b.spec_code, b.status, b.allocated, b.used),
              ("post_paid", "vault.backup.server.normal", "available", 0, 0), "billing defaults")
    expect(bool(vault.id), "no vault id")
    expect(bool(vault.created_at), "no created_at")
    ctx.vault_id = vault.id


def check_seed_add_vault_resource(ctx):
    added = parsed(ctx.client.add_vault_resource(m.AddVaultResourceRequest(
        vault_id=ctx.vault_id, body=m.VaultAddResourceReq(resources=[m.ResourceCreate(
            id=SEED_SERVER, type="OS::Nova::Server", name=SEED_SERVER_NAME)]))))
    expect_eq(added.add_resource_ids, [SEED_SERVER], "add_resource_ids")


def check_seed_create_checkpoint(ctx):
    params = m.CheckpointParam(auto_trigger=False, description="backupauto", incremental=True,
                               name="backup_auto", resources=[SEED_SERVER])
    checkpoint = parsed(ctx.client.create_checkpoint(m.CreateCheckpointRequest(
        body=m.VaultBackupReq(checkpoint=m.VaultBackup(parameters=params,
                                                       vault_id=ctx.vault_id))))).checkpoint
    expect_eq(checkpoint.status, "protecting", "status")
    expect_eq(checkpoint.project_id, ctx.project_id, "project_id")
    expect_eq((checkpoint.vault.id, checkpoint.vault.name), (ctx.vault_id, "my_vault"), "vault")
    resources = checkpoint.vault.resources
    expect_eq([(r.id, r.name, r.type) for r in resources],
              [(SEED_SERVER, SEED_SERVER_REAL_NAME, "OS::Nova::Server")], "vault.resources")
    expect_eq(resources[0].protect_status, "available", "vault.resources[0].protect_status")
    expect_eq(checkpoint.vault.skipped_resources, [], "vault.skipped_resources")
    extra = checkpoint.extra_info
    expect_eq((extra.name, extra.description, extra.retention_duration),
              ("backup_auto", "backupauto", -1), "extra_info")
    ctx.checkpoint_id = checkpoint.id


def check_seed_show_checkpoint(ctx):
    def read():
        return parsed(ctx.client.show_checkpoint(m.ShowCheckpointRequest(
            checkpoint_id=ctx.checkpoint_id))).checkpoint
    checkpoint = wait_for(read, lambda c: c.status == "available", "checkpoint available")
    expect_eq(checkpoint.id, ctx.checkpoint_id, "id")
    expect_eq(checkpoint.project_id, ctx.project_id, "project_id")
    expect(bool(checkpoint.created_at), "no created_at")


# Vaults.

def check_show_vault(ctx):
    vault = parsed(ctx.client.show_vault(m.ShowVaultRequest(vault_id=ctx.vault_id))).vault
    expect_eq(vault.id, ctx.vault_id, "id")
    expect_eq([(r.id, r.name, r.type) for r in vault.resources],
              [(SEED_SERVER, SEED_SERVER_REAL_NAME, "OS::Nova::Server")], "resources")
    expect_eq(vault.resources[0].protect_status, "available", "resources[0].protect_status")


def check_list_vault(ctx):
    second = parsed(ctx.client.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(
        vault=m.VaultCreate(billing=m.BillingCreate(consistent_level="crash_consistent",
                                                    object_type="disk", protect_type="backup",
                                                    size=50),
                            name="disk_vault", description="disk backups", resources=[],
                            tags=[m.Tag(key="team", value="storage")]))))).vault
    expect_eq(second.billing.spec_code, "vault.backup.volume.normal", "disk vault spec_code")
    expect_eq(second.billing.cloud_type, "public", "default cloud_type")
    expect_eq(second.description, "disk backups", "description")
    expect_eq([(t.key, t.value) for t in second.tags], [("team", "storage")], "tags")
    ctx.disk_vault_id = second.id
    everything = parsed(ctx.client.list_vault(m.ListVaultRequest()))
    expect_eq(everything.count, 2, "count")
    expect_eq({v.id for v in everything.vaults}, {ctx.vault_id, second.id}, "vault ids")
    servers = parsed(ctx.client.list_vault(m.ListVaultRequest(object_type="server")))
    expect_eq([v.id for v in servers.vaults], [ctx.vault_id], "object_type=server")
    page = parsed(ctx.client.list_vault(m.ListVaultRequest(limit=1, offset=1)))
    expect_eq((page.count, len(page.vaults)), (2, 1), "limit=1 offset=1: count, page size")
    by_id = parsed(ctx.client.list_vault(m.ListVaultRequest(id=[second.id])))
    expect_eq([v.id for v in by_id.vaults], [second.id], "id=[...]")
    by_resource = parsed(ctx.client.list_vault(m.ListVaultRequest(resource_ids=SEED_SERVER)))
    expect_eq([v.id for v in by_resource.vaults], [ctx.vault_id], "resource_ids")


def check_update_vault(ctx):
    rules = m.VaultBindRules(tags=[m.BindRulesTags(key="backup", value="daily")])
    vault = parsed(ctx.client.update_vault(m.UpdateVaultRequest(
        vault_id=ctx.vault_id, body=m.VaultUpdateReq(vault=m.VaultUpdate(
            name="renamed_vault", billing=m.BillingUpdate(size=300), auto_bind=True,
            bind_rules=rules, smn_notify=False, threshold=80))))).vault
    expect_eq((vault.id, vault.name, vault.billing.size), (ctx.vault_id, "renamed_vault", 300),
              "id, name, size")
    expect_eq(vault.auto_bind, True, "auto_bind")
    expect_eq([(t.key, t.value) for t in vault.bind_rules.tags], [("backup", "daily")],
              "bind_rules.tags")
    expect_eq((vault.smn_notify, vault.threshold), (False, 80), "smn_notify, threshold")
    shown = parsed(ctx.client.show_vault(m.ShowVaultRequest(vault_id=ctx.vault_id))).vault
    expect_eq((shown.name, shown.billing.size, shown.auto_bind), ("renamed_vault", 300, True),
              "persisted")


# Backups.

def check_list_backups(ctx):
    listed = parsed(ctx.client.list_backups(m.ListBackupsRequest(
        checkpoint_id=ctx.checkpoint_id)))
    expect_eq(listed.count, 1, "count by checkpoint_id")
    backup = listed.backups[0]
    expect_eq((backup.checkpoint_id, backup.vault_id, backup.resource_id, backup.resource_type),
              (ctx.checkpoint_id, ctx.vault_id, SEED_SERVER, "OS::Nova::Server"), "backup")
    expect_eq((backup.name, backup.description, backup.status, backup.image_type),
              ("backup_auto", "backupauto", "available", "backup"), "name, description, status")
    expect_eq(backup.project_id, ctx.project_id, "project_id")
    expect_eq(backup.provider_id, SERVER_PROVIDER, "provider_id")
    expect_eq(backup.expired_at, None, "expired_at of a backup kept forever")
    ctx.backup_id = backup.id
    for name, request, wanted in [
        ("vault_id", m.ListBackupsRequest(vault_id=ctx.vault_id), 1),
        ("resource_id", m.ListBackupsRequest(resource_id=SEED_SERVER), 1),
        ("status=available", m.ListBackupsRequest(status="available"), 1),
        ("status=protecting", m.ListBackupsRequest(status="protecting"), 0),
        ("name", m.ListBackupsRequest(name="backup_auto"), 1),
        ("unknown vault_id", m.ListBackupsRequest(vault_id=ctx.disk_vault_id), 0),
        ("limit=1 offset=0", m.ListBackupsRequest(limit=1, offset=0), 1),
    ]:
        answer = parsed(ctx.client.list_backups(request))
        expect_eq(len(answer.backups), wanted, f"list_backups {name}")
    past_the_end = parsed(ctx.client.list_backups(m.ListBackupsRequest(limit=1, offset=1)))
    expect_eq((past_the_end.count, past_the_end.backups), (1, []), "limit=1 offset=1")


def check_show_backup(ctx):
    backup = parsed(ctx.client.show_backup(m.ShowBackupRequest(backup_id=ctx.backup_id))).backup
    expect_eq((backup.id, backup.checkpoint_id, backup.status), (ctx.backup_id, ctx.checkpoint_id,
                                                                 "available"), "backup")
    expect_eq(backup.extend_info.auto_trigger, False, "extend_info.auto_trigger")


def check_restore_backup(ctx):
    parsed(ctx.client.restore_backup(m.RestoreBackupRequest(
        backup_id=ctx.backup_id, body=m.BackupRestoreReq(restore=m.BackupRestore(
            server_id=SEED_SERVER, power_on=True)))), status=202)
    restoring = parsed(ctx.client.show_backup(m.ShowBackupRequest(backup_id=ctx.backup_id))).backup
    expect_eq(restoring.status, "restoring", "status right after the restore request")
    expect_error(lambda: ctx.client.restore_backup(m.RestoreBackupRequest(
        backup_id=ctx.backup_id, body=m.BackupRestoreReq(restore=m.BackupRestore(
            server_id=SEED_SERVER)))), 400, "BackupService.2005")
    wait_for(lambda: parsed(ctx.client.show_backup(m.ShowBackupRequest(
        backup_id=ctx.backup_id))).backup.status, lambda s: s == "available",
        "backup available after the restore")


def check_create_checkpoint_with_retention(ctx):
    params = m.CheckpointParam(name="kept_3_days", resources=[SEED_SERVER],
                               retention_duration_days=3)
    checkpoint = parsed(ctx.client.create_checkpoint(m.CreateCheckpointRequest(
        body=m.VaultBackupReq(checkpoint=m.VaultBackup(parameters=params,
                                                       vault_id=ctx.vault_id))))).checkpoint
    expect_eq(checkpoint.extra_info.retention_duration, 3, "extra_info.retention_duration")
    listed = parsed(ctx.client.list_backups(m.ListBackupsRequest(checkpoint_id=checkpoint.id)))
    expect_eq([b.name for b in listed.backups], ["kept_3_days"], "its backups")
    expect(listed.backups[0].expired_at is not None, "expired_at of a backup kept 3 days")
    newest_first = parsed(ctx.client.list_backups(m.ListBackupsRequest(vault_id=ctx.vault_id)))
    expect_eq([b.name for b in newest_first.backups], ["kept_3_days", "backup_auto"],
              "backups of the vault, newest first")


def check_disk_backup_and_restore(ctx):
    added = parsed(ctx.client.add_vault_resource(m.AddVaultResourceRequest(
        vault_id=ctx.disk_vault_id, body=m.VaultAddResourceReq(resources=[m.ResourceCreate(
            id=DISK, type="OS::Cinder::Volume")]))))
    expect_eq(added.add_resource_ids, [DISK], "add_resource_ids")
    # No parameters: every resource of the vault, a generated name.
    checkpoint = parsed(ctx.client.create_checkpoint(m.CreateCheckpointRequest(
        body=m.VaultBackupReq(checkpoint=m.VaultBackup(vault_id=ctx.disk_vault_id))))).checkpoint
    expect_eq([(r.id, r.type) for r in checkpoint.vault.resources],
              [(DISK, "OS::Cinder::Volume")], "vault.resources")
    wait_for(lambda: parsed(ctx.client.show_checkpoint(m.ShowCheckpointRequest(
        checkpoint_id=checkpoint.id))).checkpoint.status, lambda s: s == "available",
        "disk checkpoint available")
    backup = parsed(ctx.client.list_backups(m.ListBackupsRequest(
        resource_id=DISK))).backups[0]
    expect_eq((backup.resource_type, backup.resource_name, backup.resource_size),
              ("OS::Cinder::Volume", "evs-data-0001", 100), "resource")
    expect_eq(backup.provider_id, DISK_PROVIDER, "provider_id")
    parsed(ctx.client.restore_backup(m.RestoreBackupRequest(
        backup_id=backup.id, body=m.BackupRestoreReq(restore=m.BackupRestore(
            volume_id=DISK)))), status=202)
    expect_error(lambda: ctx.client.restore_backup(m.RestoreBackupRequest(
        backup_id=backup.id, body=m.BackupRestoreReq(restore=m.BackupRestore(
            server_id="no-such-server")))), 400, "BackupService.2005")
    wait_for(lambda: parsed(ctx.client.show_backup(m.ShowBackupRequest(
        backup_id=backup.id))).backup.status, lambda s: s == "available",
        "disk backup available after the restore")


def check_signing_of_encoded_values(ctx):
    # Query values and path parameters that need percent-encoding are signed over their
    # canonical form: the emulator must accept them (an empty answer or a 404, never a 401).
    for name in ("my vault", "a+b&c=d", "ümlaut/ß", "~tilde*star"):
        listed = parsed(ctx.client.list_vault(m.ListVaultRequest(name=name)))
        expect_eq(listed.count, 0, f"list_vault name={name!r}")
    expect_error(lambda: ctx.client.show_vault(m.ShowVaultRequest(vault_id="a b/c?d")),
                 404, "BackupService.6105")
    listed = parsed(ctx.client.list_backups(m.ListBackupsRequest(
        status="available", name="backup_auto", vault_id=ctx.vault_id, limit=5, offset=0)))
    expect_eq(listed.count, 1, "several query parameters")


# Policies.

def check_create_policy(ctx):
    trigger = m.PolicyTriggerReq(properties=m.PolicyTriggerPropertiesReq(pattern=[PATTERN]))
    policy = parsed(ctx.client.create_policy(m.CreatePolicyRequest(body=m.PolicyCreateReq(
        policy=m.PolicyCreate(name="daily", operation_type="backup", trigger=trigger,
                              operation_definition=m.PolicyoODCreate(
                                  retention_duration_days=7, timezone="UTC+08:00")))))).policy
    expect_eq((policy.name, policy.operation_type, policy.enabled), ("daily", "backup", True),
              "name, operation_type, enabled")
    expect_eq(policy.trigger.properties.pattern, [PATTERN], "trigger.properties.pattern")
    expect_eq(policy.operation_definition.retention_duration_days, 7, "retention_duration_days")
    expect_eq(policy.operation_definition.timezone, "UTC+08:00", "timezone")
    expect_eq(policy.associated_vaults or [], [], "associated_vaults")
    ctx.policy_id = policy.id


def check_associate_vault_policy(ctx):
    associated = parsed(ctx.client.associate_vault_policy(m.AssociateVaultPolicyRequest(
        vault_id=ctx.vault_id, body=m.VaultAssociate(policy_id=ctx.policy_id)))).associate_policy
    expect_eq((associated.vault_id, associated.policy_id), (ctx.vault_id, ctx.policy_id),
              "associate_policy")
    by_policy = parsed(ctx.client.list_vault(m.ListVaultRequest(policy_id=ctx.policy_id)))
    expect_eq([v.id for v in by_policy.vaults], [ctx.vault_id], "list_vault policy_id filter")


def check_replication_policy(ctx):
    target = parsed(ctx.client.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(
        vault=m.VaultCreate(billing=m.BillingCreate(consistent_level="crash_consistent",
                                                    object_type="server",
                                                    protect_type="replication", size=100),
                            name="replica_vault", resources=[]))))).vault
    expect_eq(target.billing.spec_code, "vault.replication.server.normal", "spec_code")
    trigger = m.PolicyTriggerReq(properties=m.PolicyTriggerPropertiesReq(
        pattern=["FREQ=DAILY;INTERVAL=1;BYHOUR=2;BYMINUTE=30"]))
    policy = parsed(ctx.client.create_policy(m.CreatePolicyRequest(body=m.PolicyCreateReq(
        policy=m.PolicyCreate(name="to_other_region", operation_type="replication",
                              trigger=trigger, operation_definition=m.PolicyoODCreate(
                                  destination_region="eu-nl", max_backups=3,
                                  destination_project_id="0123456789abcdef0123456789abcdef"),
                              enabled=False))))).policy
    expect_eq((policy.operation_type, policy.enabled), ("replication", False), "policy")
    expect_eq(policy.operation_definition.destination_region, "eu-nl", "destination_region")
    associated = parsed(ctx.client.associate_vault_policy(m.AssociateVaultPolicyRequest(
        vault_id=ctx.vault_id, body=m.VaultAssociate(
            policy_id=policy.id, destination_vault_id=target.id)))).associate_policy
    expect_eq(associated.destination_vault_id, target.id, "destination_vault_id")
    shown = parsed(ctx.client.show_policy(m.ShowPolicyRequest(policy_id=policy.id))).policy
    expect_eq([(a.vault_id, a.destination_vault_id) for a in shown.associated_vaults],
              [(ctx.vault_id, target.id)], "associated_vaults")
    replication = parsed(ctx.client.list_policies(m.ListPoliciesRequest(
        operation_type="replication")))
    expect_eq([p.id for p in replication.policies], [policy.id], "operation_type filter")
    parsed(ctx.client.disassociate_vault_policy(m.DisassociateVaultPolicyRequest(
        vault_id=ctx.vault_id, body=m.VaultDissociate(policy_id=policy.id))))
    parsed(ctx.client.delete_policy(m.DeletePolicyRequest(policy_id=policy.id)), status=204)
    parsed(ctx.client.delete_vault(m.DeleteVaultRequest(vault_id=target.id)), status=204)


def check_list_policies(ctx):
    by_vault = parsed(ctx.client.list_policies(m.ListPoliciesRequest(vault_id=ctx.vault_id)))
    expect_eq((by_vault.count, [p.id for p in by_vault.policies]), (1, [ctx.policy_id]),
              "vault_id filter")
    expect_eq([a.vault_id for a in by_vault.policies[0].associated_vaults], [ctx.vault_id],
              "associated_vaults")
    other = parsed(ctx.client.list_policies(m.ListPoliciesRequest(vault_id=ctx.disk_vault_id)))
    expect_eq(other.count, 0, "policies of the disk vault")
    replication = parsed(ctx.client.list_policies(m.ListPoliciesRequest(
        operation_type="replication")))
    expect_eq(replication.count, 0, "replication policies")
    everything = parsed(ctx.client.list_policies(m.ListPoliciesRequest()))
    expect_eq(everything.count, 1, "all policies")


def check_show_policy(ctx):
    policy = parsed(ctx.client.show_policy(m.ShowPolicyRequest(policy_id=ctx.policy_id))).policy
    expect_eq((policy.id, policy.name), (ctx.policy_id, "daily"), "id, name")


def check_update_policy(ctx):
    policy = parsed(ctx.client.update_policy(m.UpdatePolicyRequest(
        policy_id=ctx.policy_id, body=m.PolicyUpdateReq(policy=m.PolicyUpdate(
            enabled=False, name="weekdays",
            operation_definition=m.PolicyoODCreate(max_backups=5, timezone="UTC+08:00")))))).policy
    expect_eq((policy.id, policy.name, policy.enabled), (ctx.policy_id, "weekdays", False),
              "id, name, enabled")
    expect_eq(policy.operation_definition.max_backups, 5, "max_backups")
    expect_eq(policy.operation_definition.retention_duration_days, 7,
              "retention_duration_days kept")


def check_disassociate_vault_policy(ctx):
    dissociated = parsed(ctx.client.disassociate_vault_policy(m.DisassociateVaultPolicyRequest(
        vault_id=ctx.vault_id, body=m.VaultDissociate(policy_id=ctx.policy_id))))
    expect_eq((dissociated.dissociate_policy.vault_id, dissociated.dissociate_policy.policy_id),
              (ctx.vault_id, ctx.policy_id), "dissociate_policy")
    again = lambda: ctx.client.disassociate_vault_policy(m.DisassociateVaultPolicyRequest(  # noqa: E731
        vault_id=ctx.vault_id, body=m.VaultDissociate(policy_id=ctx.policy_id)))
    expect_error(again, 404, "BackupService.6002")


def check_delete_policy(ctx):
    parsed(ctx.client.delete_policy(m.DeletePolicyRequest(policy_id=ctx.policy_id)), status=204)
    expect_error(lambda: ctx.client.show_policy(m.ShowPolicyRequest(policy_id=ctx.policy_id)),
                 404, "BackupService.6000")


# Removing, deleting, and errors.

def check_delete_backup(ctx):
    parsed(ctx.client.delete_backup(m.DeleteBackupRequest(backup_id=ctx.backup_id)), status=204)
    expect_error(lambda: ctx.client.show_backup(m.ShowBackupRequest(backup_id=ctx.backup_id)),
                 404, "BackupService.6200")


def check_remove_vault_resource(ctx):
    removed = parsed(ctx.client.remove_vault_resource(m.RemoveVaultResourceRequest(
        vault_id=ctx.vault_id, body=m.VaultRemoveResourceReq(resource_ids=[SEED_SERVER]))))
    expect_eq(removed.remove_resource_ids, [SEED_SERVER], "remove_resource_ids")
    vault = parsed(ctx.client.show_vault(m.ShowVaultRequest(vault_id=ctx.vault_id))).vault
    expect_eq(vault.resources, [], "resources after removal")
    expect_error(lambda: ctx.client.remove_vault_resource(m.RemoveVaultResourceRequest(
        vault_id=ctx.vault_id, body=m.VaultRemoveResourceReq(resource_ids=[SEED_SERVER]))),
        400, "BackupService.6135")


def check_error_cases(ctx):
    c = ctx.client
    expect_error(lambda: c.show_vault(m.ShowVaultRequest(vault_id="no-such-vault")),
                 404, "BackupService.6105")
    expect_error(lambda: c.show_checkpoint(m.ShowCheckpointRequest(checkpoint_id="nope")),
                 404, "BackupService.6217")
    expect_error(lambda: c.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(
        vault=m.VaultCreate(billing=seed_billing(), name="bad name!", resources=[])))),
        400, "BackupService.9900")
    expect_error(lambda: c.add_vault_resource(m.AddVaultResourceRequest(
        vault_id=ctx.disk_vault_id, body=m.VaultAddResourceReq(resources=[m.ResourceCreate(
            id=SEED_SERVER, type="OS::Nova::Server")]))), 400, "BackupService.6102")


def check_delete_vault(ctx):
    for vault_id in (ctx.vault_id, ctx.disk_vault_id):
        parsed(ctx.client.delete_vault(m.DeleteVaultRequest(vault_id=vault_id)), status=204)
        expect_error(lambda: ctx.client.show_vault(m.ShowVaultRequest(vault_id=vault_id)),
                     404, "BackupService.6105")
    left = parsed(ctx.client.list_vault(m.ListVaultRequest()))
    expect_eq(left.count, 0, "vaults left")


CHECKS = [
    ("the venv holds the pinned SDK " + PINNED_SDK, check_pinned_sdk),
    ("wrong SK is rejected: 401 APIGW.0301", check_wrong_sk),
    ("unknown AK is rejected: 401 APIGW.0301", check_wrong_ak),
    ("list_vault: rejected calls created nothing", check_nothing_created_by_rejected_calls),
    ("seed 1/4 create_vault", check_seed_create_vault),
    ("seed 2/4 add_vault_resource", check_seed_add_vault_resource),
    ("seed 3/4 create_checkpoint", check_seed_create_checkpoint),
    ("seed 4/4 show_checkpoint (protecting -> available)", check_seed_show_checkpoint),
    ("show_vault", check_show_vault),
    ("list_vault (filters, limit/offset)", check_list_vault),
    ("update_vault", check_update_vault),
    ("list_backups (filters, limit/offset)", check_list_backups),
    ("show_backup", check_show_backup),
    ("restore_backup (202, restoring -> available)", check_restore_backup),
    ("create_checkpoint with retention_duration_days", check_create_checkpoint_with_retention),
    ("disk vault: backup and restore a volume", check_disk_backup_and_restore),
    ("signing of percent-encoded query values and path parameters", check_signing_of_encoded_values),
    ("create_policy", check_create_policy),
    ("associate_vault_policy", check_associate_vault_policy),
    ("list_policies (filters)", check_list_policies),
    ("replication policy with a destination vault", check_replication_policy),
    ("show_policy", check_show_policy),
    ("update_policy", check_update_policy),
    ("disassociate_vault_policy", check_disassociate_vault_policy),
    ("delete_policy", check_delete_policy),
    ("delete_backup", check_delete_backup),
    ("remove_vault_resource", check_remove_vault_resource),
    ("errors surface as ClientRequestException (6105, 6217, 9900, 6102)", check_error_cases),
    ("delete_vault", check_delete_vault),
]


def main():
    missing = [k for k in ("CBR_ENDPOINT", "CBR_PROJECT_ID", "CBR_AK", "CBR_SK")
               if not os.environ.get(k)]
    if missing:
        print("missing environment variables: " + ", ".join(missing), file=sys.stderr)
        return 2
    ctx = SimpleNamespace(endpoint=os.environ["CBR_ENDPOINT"],
                          project_id=os.environ["CBR_PROJECT_ID"],
                          ak=os.environ["CBR_AK"], sk=os.environ["CBR_SK"])
    ctx.client = client_for(ctx, ctx.sk)
    suite = Suite()
    for name, fn in CHECKS:
        suite.run(name, fn, ctx)
    print(f"{suite.passed} passed, {len(suite.failed)} failed")
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
