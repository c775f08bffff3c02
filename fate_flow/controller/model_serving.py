"""What FATE-Flow asks of a serving system (FATE-Serving's load and bind, a homo model converted for another
framework): there is no serving system here, so load and bind answer as FATE does without one; a HomoLR model
converts to scikit-learn for the user to serve."""

from __future__ import annotations

from fate_flow.controller.model_controller import (
    body_model_key,
    fan_out_answer,
    local_model,
    party_model_key,
    required_field,
)
from fate_flow.db.models import ModelInfo
from fate_flow.engine.model_files import ModelFileError, load_model
from fate_flow.entity.ids import new_job_id
from fate_flow.entity.keys import ModelKey
from fate_flow.errors import ArgumentError, FlowError
from fate_flow.federation.client import PartyCall
from fate_flow.manager.model_store import ModelStoreError
from fate_flow.runtime import Runtime

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
    return local_model(rt, required_field(params, "model_id"), required_field(params, "model_version"))


def load(rt: Runtime, body: dict) -> tuple[int, str, dict]:
    """FATE's ``model/load``: every party but the arbiter checks it holds the deployed model and loads it into
    FATE-Serving. Without a serving system each says so (retcode 100), as FATE does, and nothing is recorded."""
    info = _model_of_request(rt, body)
    calls = [PartyCall(role, str(party_id), f"/v1/party/{new_job_id()}/{role}/{party_id}/model/load",
                       {"model_id": info.f_model_id, "model_version": info.f_model_version})
             for role, ids in (info.f_roles or {}).items() if role != "arbiter" for party_id in ids]
    retcode, _, data = fan_out_answer(rt, calls, info.f_model_id, info.f_model_version, "load")
    return (0, "success", data) if retcode == 0 else (101, "failed", data)


def load_here(role: str, party_id: str, body: dict) -> None:
    """One party's load: only a deployed model may be loaded, and only into a serving system this server has."""
    info = ModelInfo.find(body_model_key(body, role, party_id))
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
    try:
        files = _converted_files(rt, key, framework)
        if not files:
            raise FlowError(f"No component in model {key.party_model_id}:{key.model_version} can be converted.")
        rt.models.add_converted(key, files)
    except (ModelStoreError, ModelFileError) as exc:
        raise FlowError(f"model {key.party_model_id}:{key.model_version} cannot be converted: {exc}") from None
    directory = rt.models.directory(key)
    return (f"Conversion of homogeneous federated learning component(s) in model {key.party_model_id}:"
            f"{key.model_version} completed. Use export to download the converted model.",
            [{"component_name": component, "model_alias": alias,
              "converted_model_path": str(directory / "converted" / component / alias / name)}
             for component, alias, name in files])


def _converted_files(rt: Runtime, key: ModelKey, framework: str) -> dict[tuple[str, str, str], bytes]:
    files: dict[tuple[str, str, str], bytes] = {}
    for component, (module, aliases) in rt.models.component_models(key).items():
        if CONVERTIBLE.get(module) != framework:
            continue
        for alias, directory in aliases.items():
            model = load_model(directory)
            if model.param.get("need_cv") or "header" not in model.param:
                continue  # a cross validation keeps no model
            try:
                files[(component, alias, SKLEARN_FILE)] = _sklearn_logistic_regression(model.param)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise FlowError(f"component {component}: its model is not a HomoLR model as saved here ({exc!r})"
                                ) from None
    return files


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

