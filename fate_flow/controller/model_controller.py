"""Pipelined models: saved by every party when a training job succeeds, deployed (a child version holding an
inference DSL), and loaded by predict jobs. The files and rows are the model store's (``manager.model_store``);
this module decides what goes in and who may ask.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fate_flow import FATE_FLOW_COMPAT_VERSION
from fate_flow import dsl as dsl_parser
from fate_flow.db.models import Job, ModelInfo
from fate_flow.dsl import DSLError
from fate_flow.dsl.conf import common_job_parameters
from fate_flow.dsl.graph import parse_graph
from fate_flow.dsl.spec import PREDICT_MODEL_PREFIX, deep_merge
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.keys import ModelKey
from fate_flow.errors import ArgumentError, DataError, OperatingError
from fate_flow.federation.client import PartyCall
from fate_flow.log import schedule_logger
from fate_flow.manager.model_store import ComponentModelFiles, ModelStore, ModelStoreError
from fate_flow.operation import job_tracker
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import UnsafePathError


# -- saving a trained model ------------------------------------------------------------------------------------
def save_trained_model(rt: Runtime, job: Job) -> ModelInfo | None:
    """Every component model this party's job registered, with the job's DSL and confs, as the pipelined model
    ``(role, party, model_id, model_version = job id)``; None for a job that is not a training job."""
    params = (job.f_runtime_conf_on_party or {}).get("job_parameters", {})
    if str(params.get("job_type") or "train") != "train" or job.f_role == "local":
        return None
    key = ModelKey(job.f_role, str(job.f_party_id), str(params.get("model_id")),
                   str(params.get("model_version") or job.f_job_id))
    models = [ComponentModelFiles(row.f_component_name, row.f_model_alias, row.f_module_name, Path(row.f_directory))
              for component in (job.f_dsl or {}).get("components", {})
              for row in job_tracker.models(job.f_job_id, component, job.f_role, str(job.f_party_id))
              if row.f_directory]
    train_dsl = job.f_dsl or {}
    inference_dsl = dsl_parser.generate_predict_dsl(train_dsl, list(train_dsl.get("components", {})))
    pipeline = {"model_id": key.model_id, "model_version": key.model_version, "role": key.role,
                "party_id": key.party_id, "job_id": job.f_job_id, "roles": job.f_roles,
                "initiator_role": job.f_initiator_role, "initiator_party_id": str(job.f_initiator_party_id),
                "train_dsl": train_dsl, "train_runtime_conf": job.f_runtime_conf,
                "runtime_conf_on_party": job.f_runtime_conf_on_party, "inference_dsl": inference_dsl,
                "fate_version": FATE_FLOW_COMPAT_VERSION, "parent": True, "parent_info": {}}
    started = time.monotonic()
    info = rt.models.save(key, pipeline, models)
    schedule_logger(job.f_job_id).info("model %s version %s saved at %s %s: %d component models, %d bytes, %.0f ms",
                                       key.model_id, key.model_version, key.role, key.party_id, len(models),
                                       info.f_size, 1000 * (time.monotonic() - started))
    return info


# -- deploying -------------------------------------------------------------------------------------------------
def local_model(rt: Runtime, model_id: str, model_version: str) -> ModelInfo:
    """A row of model ``(model_id, model_version)`` held here, the initiator's first (any role otherwise);
    DataError (102) when this server holds none."""
    rows = list(ModelInfo.select().where((ModelInfo.f_model_id == model_id)
                                         & (ModelInfo.f_model_version == model_version)))
    rows.sort(key=lambda row: (row.f_role != row.f_initiator_role, row.f_role == "arbiter"))
    if not rows:
        raise DataError(f"model {model_id} version {model_version} is not on this server")
    return rows[0]


def inference_dsl_for(parent: ModelInfo, body: dict) -> dict:
    """The inference DSL a deploy asks for: ``predict_dsl`` (a dict, the pipeline SDK's) or ``dsl`` (the text
    of a predict DSL file, the CLI's) as given, else generated from the train DSL for ``cpn_list`` /
    ``cpn_str`` (every component when neither is given); DSLError (103) naming what is wrong."""
    given = body.get("predict_dsl") or body.get("dsl")
    if given:
        if isinstance(given, str):
            try:
                given = json.loads(given)
            except ValueError as exc:
                raise DSLError(f"dsl: not JSON ({exc})", field="dsl") from None
        return _checked_inference_dsl(parent, given)
    components = dsl_parser.component_names(body.get("cpn_list") or body.get("cpn_str"))
    train_dsl = parent.f_train_dsl or {}
    return dsl_parser.generate_predict_dsl(train_dsl, components or list(train_dsl.get("components", {})))


def _checked_inference_dsl(parent: ModelInfo, dsl: Any) -> dict:
    """A client's inference DSL, refused unless it parses as a predict DSL whose deployed-model references
    (``pipeline.<component>.<model>``) name models of the trained job."""
    if not isinstance(dsl, dict):
        raise DSLError("predict_dsl (inference_dsl) must be a DSL object", field="predict_dsl")
    graph = parse_graph(dsl, predict=True)
    trained = (parent.f_train_dsl or {}).get("components", {})
    for name in graph.components:
        for ref in (dsl["components"][name].get("input") or {}).get("model") or []:
            prefix, _, rest = str(ref).partition(".")
            component, _, model = rest.partition(".")
            outputs = ((trained.get(component) or {}).get("output") or {}).get("model") or []
            if prefix == PREDICT_MODEL_PREFIX and model not in outputs:
                raise DSLError(f"component {name}: model input {ref} is not a model of the trained job",
                               component=name, field="input.model")
    return dsl


def deploy(rt: Runtime, body: dict) -> tuple[int, str, dict]:
    """Deploy model ``(model_id, model_version)`` on every party of it as a child version (a new job id)
    holding the inference DSL; (retcode, retmsg, FATE's answer with each party's result)."""
    model_id, model_version = required_field(body, "model_id"), required_field(body, "model_version")
    parent = local_model(rt, model_id, model_version)
    checkpoints = body.get("components_checkpoint")
    if checkpoints:  # this server's components save no checkpoints (checkpoint/list is empty)
        raise ArgumentError(f"components_checkpoint: no checkpoint of {sorted(checkpoints)} is saved on this "
                            "server; deploy the components' final models (leave components_checkpoint empty)")
    inference_dsl = inference_dsl_for(parent, body)
    child_version = new_job_id()
    calls = [PartyCall(role, str(party_id), f"/v1/party/{child_version}/{role}/{party_id}/model/deploy",
                       {"model_id": model_id, "model_version": model_version, "inference_dsl": inference_dsl})
             for role, ids in (parent.f_roles or {}).items() for party_id in ids]
    return fan_out_answer(rt, calls, model_id, child_version, f"deploy of model {model_id} version {model_version}")


def deploy_here(rt: Runtime, role: str, party_id: str, child_version: str, body: dict) -> dict:
    """This party's child version of its trained model: a copy with the inference DSL (checked against the
    trained job, as at the party that asked), not a parent; an existing version is never replaced."""
    parent_key = body_model_key(body, role, party_id)
    parent = require_model(parent_key)
    if not parent.f_parent:
        raise OperatingError(f"model {parent_key.model_id} version {parent_key.model_version} is a deployed version: "
                             "deploy its trained version")
    inference_dsl = _checked_inference_dsl(parent, body.get("inference_dsl"))
    try:
        info = rt.models.copy(parent_key, parent_key.at_version(child_version), {
            "model_version": child_version, "inference_dsl": inference_dsl, "parent": False,
            "parent_info": {"parent_model_id": parent_key.model_id, "parent_model_version": parent_key.model_version}})
    except ModelStoreError as exc:
        raise OperatingError(f"cannot deploy model {parent_key.model_id} version {parent_key.model_version} at "
                             f"{role} {party_id}: {exc}") from None
    return {"model_id": info.f_model_id, "model_version": info.f_model_version}


def required_field(body: dict, field: str) -> str:
    """``body[field]`` as text; ArgumentError (101) naming the field when it is missing or not a scalar."""
    value = body.get(field)
    if not isinstance(value, str | int) or not str(value):
        raise ArgumentError(f"{field} is required")
    return str(value)


def fan_out_answer(rt: Runtime, calls: list[PartyCall], model_id: str, model_version: str,
                   what: str) -> tuple[int, str, dict]:
    """Ask every party; FATE's answer: the model, each party's result (``detail``) and retcode per role."""
    answers = rt.federation.fan_out(calls)
    detail: dict[str, dict[str, dict]] = {}
    for call, answer in answers:
        detail.setdefault(call.role, {})[call.party_id] = {"retcode": answer.retcode, "retmsg": answer.message}
    data: dict[str, Any] = {"model_id": model_id, "model_version": model_version, "detail": detail}
    data.update({role: {party: result["retcode"] for party, result in parties.items()}
                 for role, parties in detail.items()})
    failed = [f"{call.role} {call.party_id}: {answer.message}" for call, answer in answers if answer.retcode != 0]
    if failed:
        return 100, f"{what} failed at " + "; ".join(failed), data
    return 0, "success", data


def require_model(key: ModelKey) -> ModelInfo:
    """The row of model ``key``; DataError (102) when this server holds none."""
    info = ModelInfo.find(key)
    if info is None:
        raise DataError(f"model {key.model_id} version {key.model_version} is not on this server for {key.role} "
                        f"{key.party_id}")
    return info


def body_model_key(body: dict, role: str, party_id: str) -> ModelKey:
    """Party ``(role, party_id)``'s model named by ``body``'s ``model_id`` and ``model_version``."""
    return ModelKey(role, party_id, required_field(body, "model_id"), required_field(body, "model_version"))


def party_model_key(body: dict) -> ModelKey:
    """The (role, party_id, model_id, model_version) a request names; ArgumentError naming a missing field."""
    return ModelKey(required_field(body, "role"), required_field(body, "party_id"), required_field(body, "model_id"),
                    required_field(body, "model_version"))


# -- predict jobs ----------------------------------------------------------------------------------------------
def predict_job(rt: Runtime, conf: dict) -> tuple[dict, dict, dict]:
    """A predict job's (dsl, runtime conf, train runtime conf), as FATE makes them: the DSL is the deployed
    model's inference DSL, the conf the train conf with the predict conf on top. DataError when the model is
    not here at the initiator, OperatingError when it was not deployed."""
    common = common_job_parameters(conf)
    model_id, model_version = common.get("model_id"), common.get("model_version")
    if not model_id or not model_version:
        raise DSLError("job_parameters.common.model_id and model_version are required for a predict job",
                       field="job_parameters.common.model_version")
    initiator = conf.get("initiator") or {}
    try:
        key = ModelKey(str(initiator.get("role", "")), str(initiator.get("party_id", "")), str(model_id),
                       str(model_version))
    except ArgumentError as exc:
        raise DSLError(exc.message, field="job_parameters.common") from None
    info = ModelInfo.find(key)
    if info is None:
        raise DataError(f"model {model_id} version {model_version} is not on this server for the initiator "
                        f"{key.role} {key.party_id}: train it, then deploy it (flow model deploy)")
    if info.f_parent:
        raise OperatingError(f"model {model_id} version {model_version} has not been deployed: deploy it "
                             "(flow model deploy) and predict with the version that returns")
    train_conf = info.f_train_runtime_conf or {}
    merged = {**train_conf, **{k: v for k, v in conf.items() if k != "component_parameters"},
              "component_parameters": deep_merge(train_conf.get("component_parameters") or {},
                                                 conf.get("component_parameters") or {})}
    return info.f_inference_dsl or {}, merged, train_conf


def check_predict_model(role: str, party_id: str, params: dict, roles: dict[str, list]) -> None:
    """A predict job is created at a party only if that party holds the deployed model it names and every
    party of the job is a party of that model (in the same role): a model is used only with its own parties."""
    if str(params.get("job_type")) != "predict":
        return
    key = ModelKey(role, party_id, str(params.get("model_id")), str(params.get("model_version")))
    info = ModelInfo.find(key)
    if info is None or info.f_parent:
        raise DataError(f"model {key.model_id} version {key.model_version} is not deployed at {role} {party_id}")
    trained = {r: {str(p) for p in ids} for r, ids in (info.f_roles or {}).items()}
    strangers = [f"{r} {p}" for r, ids in roles.items() for p in ids if str(p) not in trained.get(r, set())]
    if strangers:
        raise OperatingError(f"model {key.model_id} version {key.model_version} at {role} {party_id} was not trained "
                             f"with {', '.join(strangers)}: a predict job runs a model with its own parties only")


def deployed_models(store: ModelStore, role: str, party_id: str,
                    params: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """The component models of a predict job (``params``: its job parameters) at this party, by component:
    module and model directories by alias (what ``pipeline.<component>.<alias>`` inputs load); DataError when
    the deployed version is not in the store."""
    try:
        key = ModelKey(role, party_id, str(params.get("model_id")), str(params.get("model_version")))
        models = store.component_models(key)
    except (ArgumentError, ModelStoreError, UnsafePathError) as exc:
        raise DataError(str(exc)) from None
    return {component: (module, {alias: str(path) for alias, path in aliases.items()})
            for component, (module, aliases) in models.items()}


# -- reading ---------------------------------------------------------------------------------------------------
def predict_dsl(rt: Runtime, body: dict) -> dict:
    """The inference DSL of model ``(model_id, model_version)``."""
    info = local_model(rt, required_field(body, "model_id"), required_field(body, "model_version"))
    return info.f_inference_dsl or {}


def predict_conf(rt: Runtime, body: dict) -> dict:
    """A predict conf to fill in for model ``(model_id, model_version)``: its roles and initiator, the job
    parameters of a predict job, a reader per party with the table left to fill (as FATE's template)."""
    info = local_model(rt, required_field(body, "model_id"), required_field(body, "model_version"))
    readers = [name for name, component in (info.f_inference_dsl or {}).get("components", {}).items()
               if component.get("module") == "Reader"]
    train_conf = info.f_train_runtime_conf or {}
    role_parameters: dict[str, dict] = {}
    counter = 0
    for role, ids in (info.f_roles or {}).items():
        if role == "arbiter" or not readers:
            continue
        for index in range(len(ids)):
            tables = {}
            for reader in readers:
                tables[reader] = {"table": {"name": f"name_to_be_filled_{counter}",
                                            "namespace": f"namespace_to_be_filled_{counter}"}}
                counter += 1
            role_parameters.setdefault(role, {})[str(index)] = tables
    return {"dsl_version": 2, "initiator": train_conf.get("initiator", {"role": info.f_initiator_role,
                                                                      "party_id": info.f_initiator_party_id}),
            "role": info.f_roles or {},
            "job_parameters": {"common": {"job_type": "predict", "model_id": info.f_model_id,
                                          "model_version": info.f_model_version}},
            "component_parameters": {"role": role_parameters}}


def _date(millis: int | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(millis / 1000)) if millis else None


QUERY_FIELDS = ("model_id", "model_version", "role", "party_id", "job_id")


def query(body: dict) -> list[dict]:
    """FATE's ``model/query``: the model rows matching the given keys (newest first), as FATE names them."""
    select = ModelInfo.select()
    for field in QUERY_FIELDS:
        if body.get(field) not in (None, ""):
            select = select.where(getattr(ModelInfo, f"f_{field}") == str(body[field]))
    rows = select.order_by(ModelInfo.f_create_time.desc()).limit(1000)
    wanted = body.get("query_filters")
    answer = []
    for row in rows:
        item = row.to_human_dict()
        item["party_model_id"] = row.key.party_model_id
        item["create_date"] = _date(row.f_create_time)
        if isinstance(wanted, list) and wanted:
            item = {name: item.get(name) for name in wanted if isinstance(name, str)}
        answer.append(item)
    return answer
