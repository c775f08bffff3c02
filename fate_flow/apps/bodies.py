"""The request bodies the views accept, as typed models: one statement per endpoint of what a client or a
peer may send, checked before anything is read or stored, and the source of the OpenAPI description
(``apps/openapi.py``).

Bodies follow FATE's clients: ids may come as numbers or strings, unknown keys are ignored (FATE ignores
them too); a missing required field answers FATE's ``required argument are missing: <field>; `` (101),
any other bad value 101 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field

from fate_flow.errors import ArgumentError
from fate_flow.utils.paths import SAFE_NAME

MAX_TEXT = 4000  # a free-text field (a reason, notes, an error report)
MAX_LIST = 100  # values in one list filter
Model = TypeVar("Model", bound="Body")


def _scalar_text(value: Any) -> Any:
    """Ids arrive as strings or integers (FATE's clients send both); nothing else is an id."""
    if isinstance(value, bool | float):
        raise ValueError("must be a string or an integer")
    return str(value) if isinstance(value, int) else value


def _safe_name(value: str) -> str:
    if not SAFE_NAME.match(value) or ".." in value:
        raise ValueError("use letters, digits, '_', '-' and '.' only (at most 200)")
    return value


def _digits(value: str) -> str:
    if not value.isdigit() or len(value) > 20:
        raise ValueError("must be a party id (digits)")
    return value


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


Name = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_safe_name)]
LineNumber = Annotated[Annotated[int, Field(ge=0, le=10**12)] | None, BeforeValidator(_blank_is_none)]
PartyId = Annotated[str, BeforeValidator(_scalar_text), AfterValidator(_digits)]
ROLES = ("guest", "host", "arbiter", "local")
Role = Literal["guest", "host", "arbiter", "local"]
Status = Literal["success", "running", "waiting", "failed", "canceled", "timeout", "ready", "pass"]
ClientStatus = Literal["success", "running", "waiting", "failed", "canceled", "timeout"]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Millis = Annotated[int, Field(ge=0, le=10**14)]


def _one_or_list(kind: Any) -> Any:
    """FATE-Board sends role/status filters as a value or a list of values."""
    return kind | Annotated[list[kind], Field(max_length=MAX_LIST)]


class Body(pydantic.BaseModel):
    """Base of every request body: unknown keys ignored, values checked."""

    model_config = pydantic.ConfigDict(extra="ignore", populate_by_name=True)


def parse(model: type[Model], data: Any, http_status: int | None = None) -> Model:
    """``data`` as ``model``; ArgumentError (101) naming the missing fields, or the first bad one
    (``http_status`` for endpoints where FATE answers a real HTTP error, such as FATE-Board's lists)."""
    try:
        return model.model_validate(data if isinstance(data, dict) else {})
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        missing = [".".join(map(str, e["loc"])) for e in errors if e["type"] == "missing"]
        if missing:
            raise ArgumentError(f"required argument are missing: {','.join(missing)}; ",
                                http_status=http_status) from None
        first = errors[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise ArgumentError(f"{field}: {first['msg']}", http_status=http_status) from None


def accepts(model: type[Body]) -> Callable:
    """Mark a view with the body it accepts (read by the OpenAPI description)."""
    def mark(view: Callable) -> Callable:
        view.request_model = model  # type: ignore[attr-defined]
        return view
    return mark


# -- jobs ------------------------------------------------------------------------------------------------------
class JobQuery(Body):
    job_id: Name | None = None
    role: Role | None = None
    party_id: PartyId | None = None
    status: Status | None = None
    initiator_role: Role | None = None
    initiator_party_id: PartyId | None = None
    tag: Annotated[str, Field(max_length=50)] | None = None
    is_initiator: bool | None = None
    name: Annotated[str, Field(max_length=500)] | None = None


class Page(Body):
    # bounded so that (page - 1) * limit stays a 64-bit offset (SQLite refuses larger integers)
    limit: Annotated[int, Field(ge=0, le=10**9)] = 0
    page: Annotated[int, Field(ge=0, le=10**9)] = 1
    order_by: Literal["job_id", "task_version", "create_time", "start_time", "end_time", "elapsed"] | None = None
    order: Literal["asc", "desc"] | None = None


class JobList(Page):
    job_id: Annotated[str, BeforeValidator(_scalar_text), Field(max_length=200)] | None = None
    description: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    party_id: Annotated[str, BeforeValidator(_scalar_text), Field(max_length=20)] | None = None
    role: _one_or_list(Role) | None = None
    status: _one_or_list(ClientStatus) | None = None
    tag: Annotated[str, Field(max_length=50)] | None = None  # substring (the board's filter; not FATE-Board's)
    # jobs created in [create_time_from, create_time_to] (ms since the epoch; the board's time filter)
    create_time_from: Annotated[int, Field(ge=0, le=10**15)] | None = None
    create_time_to: Annotated[int, Field(ge=0, le=10**15)] | None = None


class TaskQuery(Body):
    job_id: Name | None = None
    role: Role | None = None
    party_id: PartyId | None = None
    component_name: Name | None = None
    status: Status | None = None
    task_id: Name | None = None
    task_version: Annotated[int, Field(ge=0, le=10**9)] | None = None
    party_status: Status | None = None
    component_module: Annotated[str, Field(max_length=200)] | None = None


class TaskList(Page):
    job_id: Name | None = None
    role: Role | None = None
    party_id: PartyId | None = None
    component_name: Name | None = None


class JobSubmit(Body):
    job_dsl: dict | None = None
    dsl: dict | None = None
    job_runtime_conf: dict | None = None
    runtime_conf: dict | None = None


class JobRef(Body):
    job_id: Name


class JobStop(JobRef):
    stop_status: Literal["canceled", "failed"] = "canceled"


class JobRerun(JobRef):
    component_name: Name | None = None
    force: bool = False


class ParameterUpdate(JobRef):
    job_parameters: dict | None = None
    component_parameters: dict | None = None


class DslGenerate(Body):
    train_dsl: dict | Annotated[str, Field(max_length=1 << 20)]
    cpn_str: Annotated[str, Field(max_length=MAX_TEXT)] | Annotated[list[Name], Field(max_length=1000)]
    filename: Name | None = None


class JobNotes(JobRef):
    role: Role
    party_id: PartyId
    notes: Text = ""


class JobConfig(JobRef):
    role: Role | None = None
    party_id: PartyId | None = None


class DataViewQuery(JobRef):
    role: Role | None = None
    party_id: PartyId | None = None
    component_name: Name | None = None


# -- logs ------------------------------------------------------------------------------------------------------
class LogRequest(JobRef):
    log_type: Annotated[str, Field(max_length=100)]
    role: Role | None = None
    party_id: PartyId | None = None
    component_name: Name | None = None
    instance_id: Annotated[str, Field(max_length=200)] | None = None
    begin: LineNumber = None
    end: LineNumber = None


# -- tables, data access ---------------------------------------------------------------------------------------
class TableRefBody(Body):
    namespace: Name
    table_name: Name | None = None
    name: Name | None = None

    def table(self) -> str:
        """The table name, whichever key carried it; ArgumentError when neither did."""
        if not (self.table_name or self.name):
            raise ArgumentError("required argument are missing: table_name; ")
        return str(self.table_name or self.name)


class TableList(Body):
    namespace: Annotated[str, Field(max_length=100)] | None = None  # substring
    table_name: Annotated[str, Field(max_length=100)] | None = None  # substring
    limit: Annotated[int, Field(ge=0, le=10**9)] = 0
    page: Annotated[int, Field(ge=1, le=10**9)] = 1


class TablePreview(TableRefBody):
    limit: Annotated[int, Field(ge=1, le=100)] = 20


class Download(Body):
    namespace: Name
    table_name: Name
    output_path: Annotated[str, Field(min_length=1, max_length=4096)]
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] | None = None
    overwrite: bool = False


class UploadHistory(Body):
    job_id: Name | None = None
    limit: Annotated[int, Field(ge=1, le=10**6)] = 10


class EngineQuery(Body):
    engine_name: Annotated[str, Field(max_length=50)] | None = None


class VersionQuery(Body):
    module: Annotated[str, Field(max_length=50)] | None = None


class DagDependency(Body):
    job_id: Name | None = None
    role: Role | None = None
    party_id: PartyId | None = None
    job_dsl: dict | None = None
    job_runtime_conf: dict | None = None


# -- tracking --------------------------------------------------------------------------------------------------
class ComponentRef(JobRef):
    component_name: Name
    role: Role | None = None
    party_id: PartyId | None = None


class JobView(JobRef):
    role: Role | None = None
    party_id: PartyId | None = None


class MetricRef(ComponentRef):
    metric_namespace: Annotated[str, Field(max_length=180)]
    metric_name: Annotated[str, Field(max_length=180)]


class OutputDownload(ComponentRef):
    limit: Annotated[int, Field(ge=-1)] = -1


class SummaryDownload(ComponentRef):
    filename: Name | None = None


# -- party API (initiator -> party, party -> initiator, executors -> their server) ------------------------------
class JobCreate(Body):
    dsl: dict
    runtime_conf: dict
    job_id: Name | None = None
    train_runtime_conf: dict | None = None


class StatusReason(Body):
    reason: Text = ""


class JobFields(Body):
    progress: Annotated[int, Field(ge=0, le=100)] | None = None
    description: Text | None = None
    cancel_signal: Literal[True] | None = None  # the initiator is stopping the job (set, never cleared, here)


class Parameters(Body):
    job_parameters: dict | None = None
    component_parameters: dict | None = None
    dry_run: bool = False


class ExecutorReport(Body):
    party_status: Status
    run_pid: Annotated[int, Field(ge=1, le=2**31)] | None = None
    run_elapsed_ms: Millis | None = None
    error_report: Annotated[str, Field(max_length=64_000)] | None = None


class PartyReport(Body):
    party_status: Status | None = None
    start_time: Millis | None = None
    end_time: Millis | None = None
    elapsed: Millis | None = None
    error_report: Annotated[str, Field(max_length=64_000)] | None = None


class RerunRequest(Body):
    component_name: Name | None = None
    force: bool = False


class MailboxWait(Body):
    key: Annotated[str, Field(min_length=1, max_length=4096)]
    timeout: Any = 0.0  # seconds; anything but a positive number means "do not wait"


class OutputDataInfo(Body):
    data_name: Name
    table_namespace: Annotated[str, Field(max_length=250)]
    table_name: Name


class MetricData(Body):
    metric_namespace: Annotated[str, Field(min_length=1, max_length=180)]
    metric_name: Annotated[str, Field(min_length=1, max_length=180)]
    metrics: Annotated[list[Annotated[list[Any], Field(min_length=2, max_length=2)]], Field(max_length=100_000)] = []


class MetricMeta(Body):
    metric_namespace: Annotated[str, Field(min_length=1, max_length=180)]
    metric_name: Annotated[str, Field(min_length=1, max_length=180)]
    metric_meta: dict = {}


class Summary(Body):
    summary: dict = {}


class ModelRegistration(Body):
    model_alias: Name
    module_name: Annotated[str, Field(max_length=200)] = ""
    directory: Annotated[str, Field(min_length=1, max_length=4096)]


# -- permissions (checked field by field in controller/permission_controller.py) ------------------------------
class DatasetName(Body):
    namespace: Name
    name: Name


class PermissionGrant(Body):
    party_id: PartyId
    component: Annotated[str, Field(max_length=MAX_TEXT)] | list[Name] | None = None
    dataset: Literal["*"] | Annotated[list[DatasetName], Field(max_length=1000)] | None = None
    role: Annotated[str, Field(max_length=100)] | None = None


class PermissionQuery(Body):
    party_id: PartyId



# -- models ----------------------------------------------------------------------------------------------------
ModelId = Annotated[str, BeforeValidator(_scalar_text), Field(pattern=r"^[0-9A-Za-z_\-#]{1,200}$")]
ModelVersion = Annotated[str, BeforeValidator(_scalar_text), Field(pattern=r"^[0-9A-Za-z_\-]{1,100}$")]


class ModelVersionRef(Body):
    model_id: ModelId
    model_version: ModelVersion
    filename: Name | None = None  # the CLI's: answer the document as a file of this name


class ModelDeploy(Body):
    model_id: ModelId
    model_version: ModelVersion
    cpn_list: Annotated[list[Name], Field(max_length=1000)] | None = None
    cpn_str: Annotated[str, Field(max_length=MAX_TEXT)] | list[Name] | None = None
    dsl: Annotated[str, Field(max_length=1 << 20)] | dict | None = None
    predict_dsl: dict | None = None
    components_checkpoint: dict | None = None


class PartyModelDeploy(Body):
    model_id: ModelId
    model_version: ModelVersion
    inference_dsl: dict


class ModelQuery(Body):
    model_id: ModelId | None = None
    model_version: ModelVersion | None = None
    role: Role | None = None
    party_id: PartyId | None = None
    job_id: Name | None = None
    query_filters: Annotated[list[Name], Field(max_length=100)] | None = None


class PartyModel(Body):
    role: Role
    party_id: PartyId
    model_id: ModelId
    model_version: ModelVersion


class ModelImport(Body):
    role: Role | None = None
    party_id: PartyId | None = None
    model_id: ModelId | None = None
    model_version: ModelVersion | None = None
    force_update: bool | int | str = False
    file: Annotated[str, Field(max_length=4096)] | None = None  # a file on this server (without a file part)


PartyIds = Annotated[dict[Role, Annotated[list[PartyId], Field(min_length=1, max_length=100)]], Field(min_length=1)]


class ModelMigrate(Body):
    model_id: ModelId
    model_version: ModelVersion
    role: PartyIds
    migrate_role: PartyIds
    execute_party: PartyIds
    migrate_initiator: dict
    unify_model_version: ModelVersion | None = None


class PartyModelMigrate(Body):
    model_id: ModelId
    model_version: ModelVersion
    role: PartyIds
    migrate_role: PartyIds
    migrate_initiator: dict


class ComponentCheckpoint(PartyModel):
    component_name: Name
    step_index: Annotated[int, Field(ge=0, le=10**9)] | None = None
    step_name: Name | None = None
