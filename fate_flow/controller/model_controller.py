"""Pipelined models: saved by every party when a training job succeeds, deployed (a child version holding an
inference DSL), and loaded by predict jobs. The files and rows are the model store's (``manager.model_store``);
this module decides what goes in and who may ask.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import IO, Any

from fate_flow import FATE_FLOW_COMPAT_VERSION
from fate_flow import dsl as dsl_parser
from fate_flow.db.models import Job, ModelInfo
from fate_flow.dsl import DSLError
from fate_flow.dsl.conf import common_job_parameters
from fate_flow.dsl.graph import parse_graph
from fate_flow.dsl.spec import PREDICT_MODEL_PREFIX, deep_merge
from fate_flow.engine.model_files import ModelFileError, load_model
from fate_flow.entity.ids import model_id as make_model_id
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.keys import ModelKey
from fate_flow.errors import ArgumentError, DataError, FlowError, OperatingError
from fate_flow.federation.client import PartyCall
from fate_flow.log import schedule_logger
from fate_flow.manager import model_archive
from fate_flow.manager.model_store import ComponentModelFiles, ModelStoreError
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
    components = body.get("cpn_list") or body.get("cpn_str")
    if isinstance(components, str):
        components = [name.strip() for name in components.replace("[", "").replace("]", "").split(",") if name.strip()]
    if components is not None and (not isinstance(components, list) or not all(isinstance(c, str)
                                                                                for c in components)):
        raise DSLError("cpn_list must be a list of component names", field="cpn_list")
    train_dsl = parent.f_train_dsl or {}
    return dsl_parser.generate_predict_dsl(train_dsl, components or list(train_dsl.get("components", {})))


def _checked_inference_dsl(parent: ModelInfo, dsl: Any) -> dict:
    """A client's inference DSL, refused unless it parses as a predict DSL whose deployed-model references
    (``pipeline.<component>.<model>``) name models of the trained job."""
    if not isinstance(dsl, dict):
        raise DSLError("predict_dsl must be a DSL object", field="predict_dsl")
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
    model_id, model_version = _required(body, "model_id"), _required(body, "model_version")
    parent = local_model(rt, model_id, model_version)
    checkpoints = body.get("components_checkpoint")
    if checkpoints:  # this server's components save no checkpoints (checkpoint/list is empty)
        raise DataError(f"components_checkpoint: no checkpoint of {sorted(checkpoints)} is saved on this server; "
                        "deploy the components' final models (leave components_checkpoint empty)")
    inference_dsl = inference_dsl_for(parent, body)
    child_version = new_job_id()
    calls = [PartyCall(role, str(party_id), f"/v1/party/{child_version}/{role}/{party_id}/model/deploy",
                       {"model_id": model_id, "model_version": model_version, "inference_dsl": inference_dsl})
             for role, ids in (parent.f_roles or {}).items() for party_id in ids]
    return _fan_out_answer(rt, calls, model_id, child_version, f"deploy of model {model_id} version {model_version}")


def deploy_here(rt: Runtime, role: str, party_id: str, child_version: str, body: dict) -> dict:
    """This party's child version of its model: a copy of the parent with the inference DSL, not a parent."""
    parent_key = ModelKey(role, party_id, _required(body, "model_id"), _required(body, "model_version"))
    if ModelInfo.find(parent_key) is None:
        raise DataError(f"model {parent_key.model_id} version {parent_key.model_version} is not on this server for "
                        f"{role} {party_id}")
    inference_dsl = body.get("inference_dsl")
    if not isinstance(inference_dsl, dict):
        raise ArgumentError("inference_dsl must be a DSL object")
    parse_graph(inference_dsl, predict=True)
    child_key = parent_key.at_version(child_version)
    try:
        info = rt.models.copy(parent_key, child_key, {
            "model_version": child_version, "inference_dsl": inference_dsl, "parent": False,
            "parent_info": {"parent_model_id": parent_key.model_id, "parent_model_version": parent_key.model_version}})
    except ModelStoreError as exc:
        raise OperatingError(f"cannot deploy model {parent_key.model_id} version {parent_key.model_version} at "
                             f"{role} {party_id}: {exc}") from None
    return {"model_id": info.f_model_id, "model_version": info.f_model_version}


def _required(body: dict, field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str | int) or not str(value):
        raise ArgumentError(f"{field} is required")
    return str(value)


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


def check_predict_model(role: str, party_id: str, params: dict) -> None:
    """A predict job is created at a party only if that party holds the deployed model it names."""
    if str(params.get("job_type")) != "predict":
        return
    key = ModelKey(role, party_id, str(params.get("model_id")), str(params.get("model_version")))
    info = ModelInfo.find(key)
    if info is None or info.f_parent:
        raise DataError(f"model {key.model_id} version {key.model_version} is not deployed at {role} {party_id}")


def deployed_models(rt: Runtime, role: str, party_id: str, params: dict) -> dict[str, tuple[str, dict[str, str]]]:
    """The component models a predict job's tasks at this party load (``pipeline.<component>.<alias>``)."""
    key = ModelKey(role, party_id, str(params.get("model_id")), str(params.get("model_version")))
    try:
        models = rt.models.component_models(key)
    except (ModelStoreError, UnsafePathError) as exc:
        raise DataError(str(exc)) from None
    return {component: (module, {alias: str(path) for alias, path in aliases.items()})
            for component, (module, aliases) in models.items()}


# -- FATE-Serving ---------------------------------------------------------------------------------------------
NO_SERVING = ("Please configure servings address: this server has no FATE-Serving (service_conf servings), so a model "
              "cannot be loaded into one or bound to a service id; deploy it and run predict jobs instead")


def _model_of_request(rt: Runtime, body: dict) -> ModelInfo:
    """The model a load or bind names: ``job_id`` (a version, FATE's shortcut) or ``job_parameters``."""
    if body.get("job_id"):
        rows = list(ModelInfo.select().where(ModelInfo.f_model_version == str(body["job_id"])).limit(1))
        if not rows:
            raise ArgumentError(f"Model with version {body['job_id']} can not be found in database. Please check if "
                                "the model version is valid.")
        return rows[0]
    params = body.get("job_parameters") if isinstance(body.get("job_parameters"), dict) else {}
    return local_model(rt, _required(params, "model_id"), _required(params, "model_version"))


def load(rt: Runtime, body: dict) -> tuple[int, str, dict]:
    """FATE's ``model/load``: every party but the arbiter checks it holds the deployed model and loads it into
    FATE-Serving. Without a serving system each says so (retcode 100), as FATE does, and nothing is recorded."""
    info = _model_of_request(rt, body)
    calls = [PartyCall(role, str(party_id), f"/v1/party/{new_job_id()}/{role}/{party_id}/model/load",
                       {"model_id": info.f_model_id, "model_version": info.f_model_version})
             for role, ids in (info.f_roles or {}).items() if role != "arbiter" for party_id in ids]
    retcode, _, data = _fan_out_answer(rt, calls, info.f_model_id, info.f_model_version, "load")
    return (0, "success", data) if retcode == 0 else (101, "failed", data)


def load_here(role: str, party_id: str, body: dict) -> None:
    """One party's load: only a deployed model may be loaded, and only into a serving system this server has."""
    info = ModelInfo.find(ModelKey(role, party_id, _required(body, "model_id"), _required(body, "model_version")))
    if info is None or info.f_parent:
        raise FlowError("Only deployed models could be used to execute process of loading. Please deploy model "
                        "before loading.")
    raise FlowError(NO_SERVING)


def bind(rt: Runtime, body: dict) -> None:
    """FATE's ``model/bind`` of a loaded model to a service id: refused, there is no serving system here."""
    _model_of_request(rt, body)
    if not body.get("service_id"):
        raise ArgumentError("no service id")
    raise FlowError(NO_SERVING)


# -- homo model conversion -------------------------------------------------------------------------------------
CONVERTIBLE = {"HomoLR": "sklearn"}  # module -> the framework its models convert to (FATE's default for LR)
SKLEARN_FILE = "sklearn_model.joblib"


def convert_homo(rt: Runtime, body: dict) -> tuple[str, list[dict]]:
    """FATE's ``model/homo/convert``: each HomoLR model of the party's version as a scikit-learn
    ``LogisticRegression`` (joblib file, as FATE writes it) under the version's ``converted/``, for export."""
    key = party_model_key(body)
    if ModelInfo.find(key) is None:
        raise FlowError(f"Model {key.party_model_id} {key.model_version} does not exist")
    framework = str(body.get("framework_name") or "sklearn").lower()
    if framework != "sklearn":
        raise FlowError(f"framework_name {framework!r}: this server converts HomoLR models to sklearn only")
    files: dict[tuple[str, str, str], bytes] = {}
    for component, (module, aliases) in rt.models.component_models(key).items():
        if CONVERTIBLE.get(module) != framework:
            continue
        for alias, directory in aliases.items():
            try:
                model = load_model(directory)
            except ModelFileError as exc:
                raise FlowError(f"component {component}: {exc}") from None
            if model.param.get("need_cv") or "header" not in model.param:
                continue  # a cross validation keeps no model
            files[(component, alias, SKLEARN_FILE)] = _sklearn_logistic_regression(model.param)
    if not files:
        raise FlowError(f"No component in model {key.party_model_id}:{key.model_version} can be converted.")
    rt.models.add_converted(key, files)
    directory = rt.models.directory(key)
    return (f"Conversion of homogeneous federated learning component(s) in model {key.party_model_id}:"
            f"{key.model_version} completed. Use export to download the converted model.",
            [{"component_name": component, "model_alias": alias,
              "converted_model_path": str(directory / "converted" / component / alias / name)}
             for component, alias, name in files])


def _sklearn_logistic_regression(param: dict) -> bytes:
    """A HomoLR model's weights in a fitted-looking scikit-learn LogisticRegression, serialised by joblib."""
    try:
        import io

        import joblib
        import numpy as np
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise FlowError("scikit-learn is not installed on this server: install it to convert to sklearn") from None
    singles = param["one_vs_rest_result"]["completed_models"] if param.get("need_one_vs_rest") else [param]
    header = list(param["header"])
    regression = LogisticRegression()
    regression.coef_ = np.array([[float(single["weight"].get(name, 0.0)) for name in header] for single in singles])
    regression.intercept_ = np.array([float(single.get("intercept", 0.0)) for single in singles])
    regression.classes_ = np.array(param.get("classes") or [0, 1])
    regression.n_features_in_ = len(header)
    buffer = io.BytesIO()
    joblib.dump(regression, buffer)
    return buffer.getvalue()


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
    model_id, model_version = _required(body, "model_id"), _required(body, "model_version")
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
    return _fan_out_answer(rt, calls, new_model_id, new_version, f"migrate of model {model_id} version {model_version}")


def _fan_out_answer(rt: Runtime, calls: list[PartyCall], model_id: str, model_version: str,
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


def migrate_here(rt: Runtime, role: str, party_id: str, new_version: str, body: dict) -> dict:
    """This party's model copied as the model of the party taking its place (``migrate``)."""
    source = ModelKey(role, party_id, _required(body, "model_id"), _required(body, "model_version"))
    if ModelInfo.find(source) is None:
        raise DataError(f"model {source.model_id} version {source.model_version} is not on this server for "
                        f"{role} {party_id}")
    old_roles, new_roles = _role_ids(body, "role"), _role_ids(body, "migrate_role")
    if party_id not in old_roles.get(role, []):
        raise ArgumentError(f"role {role} of the request does not name {party_id}")
    new_party = new_roles[role][old_roles[role].index(party_id)]
    initiator = body.get("migrate_initiator") or {}
    target = ModelKey(role, new_party, make_model_id(new_roles), new_version)
    pipeline = rt.models.pipeline(source)
    roles = {r: [int(p) if p.isdigit() else p for p in ids] for r, ids in new_roles.items()}
    changes = {"model_id": target.model_id, "model_version": new_version, "party_id": new_party, "roles": roles,
               "initiator_role": str(initiator.get("role")), "initiator_party_id": str(initiator.get("party_id")),
               "train_runtime_conf": _with_parties(pipeline.get("train_runtime_conf") or {}, roles, initiator),
               "runtime_conf_on_party": _with_parties(pipeline.get("runtime_conf_on_party") or {}, roles, initiator),
               "parent_info": {**(pipeline.get("parent_info") or {}), "migrated_from": {
                   "party_id": party_id, "model_id": source.model_id, "model_version": source.model_version}}}
    try:
        info = rt.models.copy(source, target, changes)
    except ModelStoreError as exc:
        raise OperatingError(f"cannot migrate model {source.model_id} at {role} {party_id}: {exc}") from None
    return {"model_id": info.f_model_id, "model_version": info.f_model_version, "party_id": new_party}


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
def party_model_key(body: dict) -> ModelKey:
    """The (role, party_id, model_id, model_version) a request names; ArgumentError naming a missing field."""
    return ModelKey(_required(body, "role"), _required(body, "party_id"), _required(body, "model_id"),
                    _required(body, "model_version"))


def export_model(rt: Runtime, body: dict, into: IO[bytes]) -> str:
    """Write the archive of the party's model version into ``into``; its file name (FATE's)."""
    key = party_model_key(body)
    if ModelInfo.find(key) is None:
        raise DataError(f"model {key.model_id} version {key.model_version} is not on this server for {key.role} "
                        f"{key.party_id}")
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
        if ModelInfo.find(key) is not None and not _truthy(body.get("force_update")):
            raise OperatingError(f"model {key.model_id} version {key.model_version} is already on this server for "
                                 f"{key.role} {key.party_id}: set force_update to replace it")
        try:
            info = rt.models.install(key, _checked_pipeline(pipeline), scratch / "unpacked", {
                "imported": 1, "archive_sha256": digest, "archive_from_ip": source_ip[:100]})
        except ModelStoreError as exc:
            raise ArgumentError(f"file: {exc}") from None
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


def _checked_pipeline(pipeline: dict) -> dict:
    """The archive's pipeline with each field of the row of the type it must have (ArgumentError naming it)."""
    for name, kind in PIPELINE_TYPES.items():
        if name in pipeline and not isinstance(pipeline[name], kind):
            raise ArgumentError(f"file: the archive's pipeline.json field {name} must be a {kind.__name__}")
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


# -- reading ---------------------------------------------------------------------------------------------------
def predict_dsl(rt: Runtime, body: dict) -> dict:
    """The inference DSL of model ``(model_id, model_version)``."""
    return local_model(rt, _required(body, "model_id"), _required(body, "model_version")).f_inference_dsl or {}


def predict_conf(rt: Runtime, body: dict) -> dict:
    """A predict conf to fill in for model ``(model_id, model_version)``: its roles and initiator, the job
    parameters of a predict job, a reader per party with the table left to fill (as FATE's template)."""
    info = local_model(rt, _required(body, "model_id"), _required(body, "model_version"))
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
