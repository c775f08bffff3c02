"""Moving models: ``model/migrate`` (a model as the model of other parties), ``model/export`` and
``model/import`` (one party's version as an archive)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO, Any

from fate_flow.controller.model_controller import (
    body_model_key,
    fan_out_answer,
    party_model_key,
    require_model,
    required_field,
)
from fate_flow.db.models import ModelInfo
from fate_flow.entity.ids import model_id as make_model_id
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.keys import ModelKey
from fate_flow.errors import ArgumentError, FlowError, OperatingError
from fate_flow.federation.client import PartyCall
from fate_flow.manager import model_archive
from fate_flow.manager.model_store import ModelStoreError
from fate_flow.runtime import Runtime


# -- migrating ------------------------------------------------------------------------------------------------
def _role_ids(body: dict, field: str) -> dict[str, list[str]]:
    value = body.get(field)
    if not isinstance(value, dict) or not value or not all(
            isinstance(ids, list) and ids and all(isinstance(p, str | int) for p in ids) for ids in value.values()):
        raise ArgumentError(f"{field} must map roles to lists of party ids, e.g. {{\"guest\": [9999]}}")
    return {str(role): [str(p) for p in ids] for role, ids in value.items()}


def migrate(rt: Runtime, body: dict) -> tuple[int, str, dict]:
    """FATE's ``model/migrate``: every party of ``execute_party`` copies its model as the model of the party that
    takes its place in ``migrate_role`` (same role, same position), under the new parties' model id and a new
    version (``unify_model_version`` or a new job id), with the roles and initiator of its confs rewritten."""
    model_id, model_version = required_field(body, "model_id"), required_field(body, "model_version")
    old_roles, new_roles = _role_ids(body, "role"), _role_ids(body, "migrate_role")
    execute = _role_ids(body, "execute_party")
    initiator = body.get("migrate_initiator")
    if not isinstance(initiator, dict) or "role" not in initiator or "party_id" not in initiator:
        raise ArgumentError("migrate_initiator must be {\"role\": ..., \"party_id\": ...}")
    if old_roles == new_roles:
        raise FlowError("The config of previous roles is the same with that of migrate roles. There is no need "
                        "to migrate model. Migration process aborting.")
    if {r: len(ids) for r, ids in old_roles.items()} != {r: len(ids) for r, ids in new_roles.items()}:
        raise ArgumentError("migrate_role must have the roles of role, with as many parties each")
    for role, ids in execute.items():
        if not set(ids) <= set(old_roles.get(role, [])):
            raise ArgumentError(f"execute_party {role} {ids} must be parties of role {role} {old_roles.get(role)}")
    new_version = str(body.get("unify_model_version") or new_job_id())
    new_model_id = make_model_id(new_roles)
    ModelKey("guest", "0", new_model_id, new_version)  # checks both before any party is asked
    change = {"model_id": model_id, "model_version": model_version, "role": old_roles, "migrate_role": new_roles,
              "migrate_initiator": {"role": str(initiator["role"]), "party_id": str(initiator["party_id"])}}
    calls = [PartyCall(role, party_id, f"/v1/party/{new_version}/{role}/{party_id}/model/migrate", change)
             for role, ids in execute.items() for party_id in ids]
    return fan_out_answer(rt, calls, new_model_id, new_version, f"migrate of model {model_id} version {model_version}")


def migrate_here(rt: Runtime, role: str, party_id: str, new_version: str, body: dict) -> dict:
    """This party's model copied as the model of the party taking its place (``migrate``): the request's
    ``role`` must be the model's own parties, and an existing version is never replaced."""
    source = body_model_key(body, role, party_id)
    info = require_model(source)
    old_roles, new_roles = _role_ids(body, "role"), _role_ids(body, "migrate_role")
    trained = {r: [str(p) for p in ids] for r, ids in (info.f_roles or {}).items()}
    if old_roles != trained:
        raise ArgumentError(f"role {old_roles} is not the parties of model {source.model_id} ({trained})")
    if {r: len(ids) for r, ids in new_roles.items()} != {r: len(ids) for r, ids in old_roles.items()}:
        raise ArgumentError("migrate_role must have the roles of role, with as many parties each")
    new_party = new_roles[role][old_roles[role].index(party_id)]
    initiator = body.get("migrate_initiator") or {}
    target = ModelKey(role, new_party, make_model_id(new_roles), new_version)
    try:
        pipeline = rt.models.pipeline(source)
        roles = {r: [int(p) if p.isdigit() else p for p in ids] for r, ids in new_roles.items()}
        changes = {"model_id": target.model_id, "model_version": new_version, "party_id": new_party, "roles": roles,
                   "initiator_role": str(initiator.get("role")), "initiator_party_id": str(initiator.get("party_id")),
                   "train_runtime_conf": _with_parties(pipeline.get("train_runtime_conf") or {}, roles, initiator),
                   "runtime_conf_on_party": _with_parties(pipeline.get("runtime_conf_on_party") or {}, roles,
                                                          initiator),
                   "parent_info": {**(pipeline.get("parent_info") or {}), "migrated_from": {
                       "party_id": party_id, "model_id": source.model_id, "model_version": source.model_version}}}
        copied = rt.models.copy(source, target, changes)
    except ModelStoreError as exc:
        raise OperatingError(f"cannot migrate model {source.model_id} at {role} {party_id}: {exc}") from None
    return {"model_id": copied.f_model_id, "model_version": copied.f_model_version, "party_id": new_party}


def _with_parties(conf: dict, roles: dict, initiator: dict) -> dict:
    """A conf with the new parties (the per-party parameters keep their positions, as FATE's do)."""
    if not conf:
        return conf
    updated = {**conf, "role": roles, "initiator": {"role": initiator.get("role"),
                                                    "party_id": int(initiator["party_id"])
                                                    if str(initiator.get("party_id")).isdigit()
                                                    else initiator.get("party_id")}}
    common = (updated.get("job_parameters") or {}).get("common")
    if isinstance(common, dict) and "model_id" in common:
        updated["job_parameters"] = {**updated["job_parameters"], "common": {**common,
                                                                              "model_id": make_model_id(roles)}}
    return updated


# -- export and import ----------------------------------------------------------------------------------------
def export_model(rt: Runtime, body: dict, into: IO[bytes]) -> str:
    """Write the archive of the party's model version into ``into``; its file name (FATE's)."""
    key = party_model_key(body)
    require_model(key)
    model_archive.pack(rt.models.directory(key), into)
    return f"{key.party_model_id}_{key.model_version}.zip"


def import_model(rt: Runtime, body: dict, archive: IO[bytes] | Path, source_ip: str) -> dict:
    """Put a model archive into the store, whole or not at all: it must be a valid archive of a party served
    here, match the request's keys where given, and not replace a version unless ``force_update``."""
    limits = rt.settings.limits
    with rt.models.scratch() as scratch:
        digest = _sha256(archive)
        try:
            pipeline = model_archive.unpack(archive, scratch / "unpacked", model_archive.ArchiveLimits(
                int(limits.model_archive_mb * (1 << 20)), int(limits.model_archive_entries)))
        except model_archive.ModelArchiveError as exc:
            raise ArgumentError(f"file: {exc}") from None
        key = _archive_key(rt, pipeline, body)
        force = _truthy(body.get("force_update"))
        if ModelInfo.find(key) is not None and not force:  # (checked again under the store's lock)
            raise OperatingError(f"model {key.model_id} version {key.model_version} is already on this server for "
                                 f"{key.role} {key.party_id}: set force_update to replace it")
        try:
            info = rt.models.install(key, _checked_pipeline(pipeline), scratch / "unpacked", {
                "imported": 1, "archive_sha256": digest, "archive_from_ip": source_ip[:100]}, replace=force)
        except ModelStoreError as exc:
            raise OperatingError(f"file: {exc}") from None
    return {"role": key.role, "party_id": key.party_id, "model_id": key.model_id,
            "model_version": key.model_version, "size": info.f_size, "archive_sha256": digest}


def _archive_key(rt: Runtime, pipeline: dict, body: dict) -> ModelKey:
    try:
        key = ModelKey(*(str(pipeline[name]) for name in ("role", "party_id", "model_id", "model_version")))
    except ArgumentError as exc:
        raise ArgumentError(f"file: the archive's pipeline.json: {exc.message}") from None
    for name in ("role", "party_id", "model_id", "model_version"):
        given = body.get(name)
        if given not in (None, "") and str(given) != getattr(key, name):
            raise ArgumentError(f"{name} {given!r} does not match the archive's ({getattr(key, name)!r})")
    if not rt.is_local_party(key.role, key.party_id):
        raise ArgumentError(f"the archive holds the model of {key.role} {key.party_id}, a party this server does "
                            "not serve")
    return key


PIPELINE_TYPES = {"roles": dict, "train_dsl": dict, "train_runtime_conf": dict, "runtime_conf_on_party": dict,
                  "inference_dsl": dict, "parent": bool, "parent_info": dict, "job_id": str,
                  "initiator_role": str, "initiator_party_id": str, "fate_version": str}
PIPELINE_MAX_LENGTHS = {"job_id": 25, "initiator_role": 50, "initiator_party_id": 50, "fate_version": 20}  # the row's


def _checked_pipeline(pipeline: dict) -> dict:
    """The archive's pipeline with each field of the row of the type and length it must have (ArgumentError
    naming it): what the row cannot hold is refused before anything is written."""
    for name, kind in PIPELINE_TYPES.items():
        if name in pipeline and not isinstance(pipeline[name], kind):
            raise ArgumentError(f"file: the archive's pipeline.json field {name} must be a {kind.__name__}")
    for name, length in PIPELINE_MAX_LENGTHS.items():
        if len(str(pipeline.get(name, ""))) > length:
            raise ArgumentError(f"file: the archive's pipeline.json field {name} is longer than {length} characters")
    return pipeline


def _sha256(archive: IO[bytes] | Path) -> str:
    sha = hashlib.sha256()
    if isinstance(archive, Path):
        with archive.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                sha.update(block)
        return sha.hexdigest()
    archive.seek(0)
    for block in iter(lambda: archive.read(1 << 20), b""):
        sha.update(block)
    archive.seek(0)
    return sha.hexdigest()


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")

