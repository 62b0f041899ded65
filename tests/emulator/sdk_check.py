#!/usr/bin/env python3
"""Holds the emulator against the official Python SDK (huaweicloudsdkcbr 3.1.219).

Every response of the core operations must deserialize into the SDK's response models with
every documented-required field present, and errors must surface as the SDK's
ClientRequestException with the service's error_code and X-Request-Id.

Usage (the emulator accepts any credentials unless started with --ak/--sk):
    pip install huaweicloudsdkcbr==3.1.219
    cbrflow emulator --listen 127.0.0.1:0 --backup-seconds 0.2 --restore-seconds 0.2 &
    python3 tests/emulator/sdk_check.py http://127.0.0.1:PORT

Exits 0 when every check passed, 1 otherwise (printing what failed).
"""

import sys
import time

from huaweicloudsdkcbr.v1 import CbrClient
from huaweicloudsdkcbr.v1 import model as m
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

PROJECT = "0605767b5780d5762fc5c0118072a564"
SEED_SERVER = "e8cc6bfd-d324-4b88-9109-9fb0ba70676f"
SERVER_2 = "1b2d3f4a-0001-4c5d-8e9f-000000000001"

FAILURES = []


def check(condition, what):
    if not condition:
        FAILURES.append(what)
        print("FAIL:", what)


def required(obj, names, where):
    for name in names:
        check(getattr(obj, name, None) is not None, f"{where}.{name} missing")


VAULT_REQUIRED = ["billing", "id", "name", "project_id", "provider_id", "resources"]
BILLING_REQUIRED = ["allocated", "charging_mode", "consistent_level", "protect_type", "size",
                    "spec_code", "status", "used"]
CHECKPOINT_REQUIRED = ["created_at", "id", "project_id", "status"]
BACKUP_REQUIRED = ["checkpoint_id", "created_at", "description", "extend_info", "id",
                   "image_type", "name", "project_id", "protected_at", "resource_az",
                   "resource_id", "resource_name", "resource_size", "resource_type", "status",
                   "updated_at", "vault_id", "provider_id"]
POLICY_REQUIRED = ["enabled", "id", "name", "operation_definition", "operation_type", "trigger"]


def check_vault(vault, where):
    required(vault, VAULT_REQUIRED, where)
    required(vault.billing, BILLING_REQUIRED, where + ".billing")
    for i, resource in enumerate(vault.resources or []):
        required(resource, ["id", "name", "type"], f"{where}.resources[{i}]")


def expect_error(call, status, code, where):
    try:
        call()
    except ClientRequestException as err:
        check(err.status_code == status, f"{where}: status {err.status_code} != {status}")
        check(err.error_code == code, f"{where}: error_code {err.error_code} != {code}")
        check(bool(err.error_msg), f"{where}: empty error_msg")
        check(bool(err.request_id), f"{where}: no X-Request-Id")
        return
    check(False, f"{where}: no error raised")


def main(endpoint):
    credentials = BasicCredentials("AKEMULATOR", "SKEMULATOR", PROJECT)
    client = CbrClient.new_builder().with_credentials(credentials).with_endpoint(endpoint).build()

    billing = m.BillingCreate(cloud_type="public", consistent_level="crash_consistent",
                              object_type="server", protect_type="backup", size=200)
    vault = client.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(
        vault=m.VaultCreate(billing=billing, name="my_vault", resources=[])))).vault
    check_vault(vault, "create_vault")
    vault_id = vault.id

    added = client.add_vault_resource(m.AddVaultResourceRequest(vault_id=vault_id, body=m.VaultAddResourceReq(
        resources=[m.ResourceCreate(id=SEED_SERVER, type="OS::Nova::Server", name="server-4690-0002")])))
    check(added.add_resource_ids == [SEED_SERVER], f"add_vault_resource: {added.add_resource_ids}")

    params = m.CheckpointParam(auto_trigger=False, description="backupauto", incremental=True,
                               name="backup_auto", resources=[SEED_SERVER])
    checkpoint = client.create_checkpoint(m.CreateCheckpointRequest(body=m.VaultBackupReq(
        checkpoint=m.VaultBackup(parameters=params, vault_id=vault_id)))).checkpoint
    required(checkpoint, CHECKPOINT_REQUIRED, "create_checkpoint")
    check(checkpoint.status == "protecting", f"create_checkpoint status {checkpoint.status}")
    required(checkpoint.vault, ["id", "name"], "create_checkpoint.vault")
    required(checkpoint.vault.resources[0], ["id", "name", "type"], "create_checkpoint.vault.resources[0]")
    check(checkpoint.extra_info.retention_duration == -1, "create_checkpoint retention_duration")

    deadline = time.time() + 10
    while True:
        shown = client.show_checkpoint(m.ShowCheckpointRequest(checkpoint_id=checkpoint.id)).checkpoint
        required(shown, CHECKPOINT_REQUIRED, "show_checkpoint")
        if shown.status == "available" or time.time() > deadline:
            break
        time.sleep(0.1)
    check(shown.status == "available", f"show_checkpoint never available: {shown.status}")

    check_vault(client.show_vault(m.ShowVaultRequest(vault_id=vault_id)).vault, "show_vault")
    listed = client.list_vault(m.ListVaultRequest(limit=10, offset=0, object_type="server"))
    check(listed.count == 1, f"list_vault count {listed.count}")
    for v in listed.vaults:
        check_vault(v, "list_vault")
    updated = client.update_vault(m.UpdateVaultRequest(vault_id=vault_id, body=m.VaultUpdateReq(
        vault=m.VaultUpdate(name="renamed", billing=m.BillingUpdate(size=300))))).vault
    check_vault(updated, "update_vault")
    check(updated.name == "renamed" and updated.billing.size == 300, "update_vault applied")

    backups = client.list_backups(m.ListBackupsRequest(checkpoint_id=checkpoint.id, vault_id=vault_id))
    check(backups.count == 1, f"list_backups count {backups.count}")
    for b in backups.backups:
        required(b, BACKUP_REQUIRED, "list_backups")
    backup = client.show_backup(m.ShowBackupRequest(backup_id=backups.backups[0].id)).backup
    required(backup, BACKUP_REQUIRED, "show_backup")
    required(backup.extend_info, ["auto_trigger", "bootable"], "show_backup.extend_info")

    restored = client.restore_backup(m.RestoreBackupRequest(backup_id=backup.id, body=m.BackupRestoreReq(
        restore=m.BackupRestore(server_id=SEED_SERVER, power_on=True))))
    check(restored.status_code == 202, f"restore_backup status {restored.status_code}")
    expect_error(lambda: client.restore_backup(m.RestoreBackupRequest(backup_id=backup.id, body=m.BackupRestoreReq(
        restore=m.BackupRestore(server_id=SEED_SERVER)))), 400, "BackupService.2005", "restore while restoring")

    trigger = m.PolicyTriggerReq(properties=m.PolicyTriggerPropertiesReq(
        pattern=["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR=14;BYMINUTE=00"]))
    policy = client.create_policy(m.CreatePolicyRequest(body=m.PolicyCreateReq(policy=m.PolicyCreate(
        name="daily", operation_type="backup", trigger=trigger,
        operation_definition=m.PolicyoODCreate(retention_duration_days=7, timezone="UTC+08:00"))))).policy
    required(policy, POLICY_REQUIRED, "create_policy")
    required(policy.trigger, ["id", "properties"], "create_policy.trigger")
    associated = client.associate_vault_policy(m.AssociateVaultPolicyRequest(
        vault_id=vault_id, body=m.VaultAssociate(policy_id=policy.id))).associate_policy
    required(associated, ["policy_id", "vault_id"], "associate_vault_policy")
    policies = client.list_policies(m.ListPoliciesRequest(vault_id=vault_id))
    check(policies.count == 1, f"list_policies count {policies.count}")
    for p in policies.policies:
        required(p, POLICY_REQUIRED, "list_policies")
    required(client.show_policy(m.ShowPolicyRequest(policy_id=policy.id)).policy, POLICY_REQUIRED, "show_policy")
    upd = client.update_policy(m.UpdatePolicyRequest(policy_id=policy.id, body=m.PolicyUpdateReq(
        policy=m.PolicyUpdate(enabled=False)))).policy
    check(upd.enabled is False, "update_policy applied")
    dis = client.disassociate_vault_policy(m.DisassociateVaultPolicyRequest(
        vault_id=vault_id, body=m.VaultDissociate(policy_id=policy.id))).dissociate_policy
    required(dis, ["policy_id", "vault_id"], "disassociate_vault_policy")
    check(client.delete_policy(m.DeletePolicyRequest(policy_id=policy.id)).status_code == 204, "delete_policy 204")

    removed = client.remove_vault_resource(m.RemoveVaultResourceRequest(vault_id=vault_id,
        body=m.VaultRemoveResourceReq(resource_ids=[SEED_SERVER])))
    check(removed.remove_resource_ids == [SEED_SERVER], "remove_vault_resource")

    expect_error(lambda: client.show_vault(m.ShowVaultRequest(vault_id="nope")), 404, "BackupService.6105", "show_vault unknown")
    expect_error(lambda: client.show_checkpoint(m.ShowCheckpointRequest(checkpoint_id="nope")), 404,
                 "BackupService.6217", "show_checkpoint unknown")
    expect_error(lambda: client.create_vault(m.CreateVaultRequest(body=m.VaultCreateReq(vault=m.VaultCreate(
        billing=billing, name="bad name", resources=[])))), 400, "BackupService.9900", "create_vault bad name")

    check(client.delete_vault(m.DeleteVaultRequest(vault_id=vault_id)).status_code == 204, "delete_vault 204")

    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all SDK checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"))
