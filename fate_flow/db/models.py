"""Tables. Column names follow FATE (``f_`` prefix) because job/query returns them raw."""

from __future__ import annotations

import json
from typing import Any

import peewee

from fate_flow.db.connection import DB, CompiledQuery
from fate_flow.entity.keys import JobKey, ModelKey, TaskKey
from fate_flow.entity.table_meta import TableMeta
from fate_flow.utils.timeutil import now_ms


class LongTextField(peewee.TextField):
    """LONGTEXT on MySQL (TEXT there stops at 64 KB); plain TEXT affinity on SQLite."""

    field_type = "LONGTEXT"


class JSONField(LongTextField):
    def __init__(self, default_factory: Any = dict, **kwargs: Any):
        kwargs.setdefault("null", True)
        super().__init__(**kwargs)
        self._default_factory = default_factory

    def db_value(self, value: Any) -> str | None:
        """Compact JSON text; None stays NULL."""
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        """The parsed JSON; NULL reads as a fresh ``default_factory()`` value (None without a factory)."""
        if value is None:
            return self._default_factory() if self._default_factory else None
        return json.loads(value)


class BaseModel(peewee.Model):
    f_create_time = peewee.BigIntegerField(null=True, index=True)
    f_update_time = peewee.BigIntegerField(null=True)

    class Meta:
        database = DB
        legacy_table_names = False

    def to_dict(self) -> dict:
        """The raw row with FATE's ``f_`` column names (job/query, task/query)."""
        return dict(self.__data__)

    def to_human_dict(self) -> dict:
        """The row without the ``f_`` prefix (list/job, list/task, Board)."""
        return {name[2:] if name.startswith("f_") else name: value for name, value in self.__data__.items()}

    @classmethod
    def insert_row(cls, **fields: Any) -> peewee.ModelInsert:
        """An INSERT of ``fields`` (not executed yet) with the create and update times set to now unless given."""
        return cls.insert(**_stamped(fields, now_ms()))

    @classmethod
    def insert_rows(cls, rows: list[dict[str, Any]]) -> None:
        """Execute multi-row INSERTs of ``rows`` (in order, every row with the same columns; create and update
        times set to now unless given), 64 rows each and never more than SQLite's oldest limit of 999
        variables: one statement per row cost ~0.1-0.4 ms of building each (a 500-point curve took 0.1 s)."""
        if not rows:
            return
        now = now_ms()
        stamped = [_stamped(row, now) for row in rows]
        columns = set(stamped[0])
        if any(set(row) != columns for row in stamped):
            raise ValueError("insert_rows: every row must have the same columns")  # peewee would fill in NULLs
        for batch in peewee.chunked(stamped, min(64, 999 // len(columns))):
            cls.insert_many(batch).execute()


def _stamped(fields: dict[str, Any], now: int) -> dict[str, Any]:
    """``fields`` with the create and update times set to ``now`` unless given."""
    return {"f_create_time": now, "f_update_time": now, **fields}


class Job(BaseModel):
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_role = peewee.CharField(max_length=50, index=True)
    f_party_id = peewee.CharField(max_length=10, index=True)
    f_name = peewee.CharField(max_length=500, default="")
    f_description = peewee.TextField(default="")
    f_tag = peewee.CharField(max_length=50, default="")
    f_user_id = peewee.CharField(max_length=25, null=True)
    f_dsl = JSONField()
    f_runtime_conf = JSONField()
    f_runtime_conf_on_party = JSONField()
    f_train_runtime_conf = JSONField()
    f_roles = JSONField()
    f_initiator_role = peewee.CharField(max_length=50)
    f_initiator_party_id = peewee.CharField(max_length=50)
    f_status = peewee.CharField(max_length=50, index=True)
    f_status_code = peewee.IntegerField(null=True)
    f_is_initiator = peewee.BooleanField(default=False, index=True)
    f_progress = peewee.IntegerField(default=0)
    f_cancel_signal = peewee.BooleanField(default=False)
    f_rerun_signal = peewee.BooleanField(default=False)
    f_engine_name = peewee.CharField(max_length=50, null=True)
    f_cores = peewee.IntegerField(default=0)
    f_memory = peewee.IntegerField(default=0)
    f_remaining_cores = peewee.IntegerField(default=0)
    f_resource_in_use = peewee.BooleanField(default=False, index=True)
    f_apply_resource_time = peewee.BigIntegerField(null=True)
    f_return_resource_time = peewee.BigIntegerField(null=True)
    f_error = peewee.TextField(null=True)
    f_start_time = peewee.BigIntegerField(null=True)
    f_end_time = peewee.BigIntegerField(null=True)
    f_elapsed = peewee.BigIntegerField(null=True)

    @property
    def key(self) -> JobKey:
        """The row's (job id, role, party id)."""
        return JobKey(self.f_job_id, self.f_role, self.f_party_id)

    @classmethod
    def matches(cls, key: JobKey) -> peewee.Expression:
        """The WHERE clause selecting the row of ``key``."""
        return (cls.f_job_id == key.job_id) & (cls.f_role == key.role) & (cls.f_party_id == key.party_id)

    @classmethod
    def find(cls, key: JobKey) -> Job | None:
        """The party's row of job ``key``, or None when this server holds none."""
        return cls.get_or_none(cls.matches(key))

    @classmethod
    def status_and_roles(cls, key: JobKey) -> tuple[str, dict] | None:
        """The status and the roles (role -> party ids) of the party's row of job ``key``, or None when this
        server holds none; a compiled statement (the data plane asks once per object it receives)."""
        row = _JOB_STATUS_AND_ROLES.first(str(key.job_id), str(key.role), str(key.party_id))  # as the columns
        return None if row is None else (row[0], cls.f_roles.python_value(row[1]))

    class Meta:
        table_name = "t_job"
        primary_key = peewee.CompositeKey("f_job_id", "f_role", "f_party_id")
        indexes = (
            (("f_is_initiator", "f_status", "f_create_time"), False),
            # the Board's job list: count without submit_failed rows, pages by status and time
            (("f_tag",), False),
            (("f_status", "f_create_time"), False),
            (("f_create_time", "f_tag"), False),
        )


_JOB_STATUS_AND_ROLES = CompiledQuery(
    lambda job_id, role, party_id: Job.select(Job.f_status, Job.f_roles).where(
        Job.matches(JobKey(job_id, role, party_id))).limit(1), arity=3)


class Task(BaseModel):
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_component_name = peewee.CharField(max_length=200)
    f_component_module = peewee.CharField(max_length=200)
    f_task_id = peewee.CharField(max_length=230)
    f_task_version = peewee.BigIntegerField(default=0)
    f_role = peewee.CharField(max_length=50, index=True)
    f_party_id = peewee.CharField(max_length=10, index=True)
    f_initiator_role = peewee.CharField(max_length=50)
    f_initiator_party_id = peewee.CharField(max_length=50)
    f_federated_mode = peewee.CharField(max_length=10, default="SINGLE")
    f_federated_status_collect_type = peewee.CharField(max_length=10, default="PUSH")
    f_status = peewee.CharField(max_length=50, index=True)
    f_party_status = peewee.CharField(max_length=50, index=True)
    f_status_code = peewee.IntegerField(null=True)
    f_auto_retries = peewee.IntegerField(default=0)
    f_run_on_this_party = peewee.BooleanField(default=True, index=True)
    f_worker_id = peewee.CharField(max_length=100, null=True)
    f_cmd = JSONField(default_factory=list)
    f_run_ip = peewee.CharField(max_length=100, null=True)
    f_run_port = peewee.IntegerField(null=True)
    f_run_pid = peewee.IntegerField(null=True)
    # the executor's process create time: a pid alone may be reused by another process
    f_run_pid_create_time = peewee.DoubleField(null=True)
    f_provider_info = JSONField()
    f_component_parameters = JSONField()
    f_engine_conf = JSONField()
    f_kill_status = peewee.BooleanField(default=False)
    f_error_report = peewee.TextField(null=True)
    f_start_time = peewee.BigIntegerField(null=True)
    f_end_time = peewee.BigIntegerField(null=True)
    f_elapsed = peewee.BigIntegerField(null=True)
    # milliseconds the component itself ran, measured inside the executor (elapsed minus this = overhead)
    f_component_elapsed = peewee.BigIntegerField(null=True)

    @property
    def key(self) -> TaskKey:
        """The row's (job, component, task id, version, role, party): one task version at one party."""
        return TaskKey(self.f_job_id, self.f_component_name, self.f_task_id, self.f_task_version, self.f_role,
                       self.f_party_id)

    @classmethod
    def matches(cls, key: TaskKey) -> peewee.Expression:
        """The WHERE clause selecting the row of ``key`` (its primary key)."""
        return ((cls.f_job_id == key.job_id) & (cls.f_task_id == key.task_id)
                & (cls.f_task_version == key.task_version) & (cls.f_role == key.role)
                & (cls.f_party_id == key.party_id))

    @classmethod
    def find(cls, key: TaskKey) -> Task | None:
        """The row of task version ``key`` at its party, or None when this server holds none."""
        return cls.get_or_none(cls.matches(key))

    @classmethod
    def of_job(cls, key: JobKey) -> peewee.ModelSelect:
        """Every task row (all versions) of one party's job."""
        return cls.select().where((cls.f_job_id == key.job_id) & (cls.f_role == key.role)
                                  & (cls.f_party_id == key.party_id))

    class Meta:
        table_name = "t_task"
        primary_key = peewee.CompositeKey("f_job_id", "f_task_id", "f_task_version", "f_role", "f_party_id")
        indexes = ((("f_job_id", "f_role", "f_party_id"), False),)  # a job's tasks at one party (schema 8)


class StorageTableMeta(BaseModel):
    f_name = peewee.CharField(max_length=100)
    f_namespace = peewee.CharField(max_length=100)
    f_address = JSONField()
    f_engine = peewee.CharField(max_length=100)
    f_store_type = peewee.CharField(max_length=50, null=True)
    f_options = JSONField()
    f_partitions = peewee.IntegerField(default=1)
    f_id_delimiter = peewee.CharField(max_length=20, default=",")
    f_in_serialized = peewee.BooleanField(default=True)
    f_have_head = peewee.BooleanField(default=True)
    f_extend_sid = peewee.BooleanField(default=False)
    f_auto_increasing_sid = peewee.BooleanField(default=False)
    f_schema = JSONField()
    f_count = peewee.BigIntegerField(default=0)
    f_part_of_data = JSONField(default_factory=list)
    f_origin = peewee.CharField(max_length=50, default="")
    f_disable = peewee.BooleanField(default=False)
    f_description = peewee.TextField(default="")
    f_job_id = peewee.CharField(max_length=25, null=True)

    def to_meta(self) -> TableMeta:
        """The typed table meta (what components and executors get)."""
        return TableMeta(namespace=self.f_namespace, name=self.f_name, path=str(self.f_address.get("path", "")),
                         count=self.f_count, schema=self.f_schema or {}, partitions=self.f_partitions,
                         id_delimiter=self.f_id_delimiter, have_head=self.f_have_head, extend_sid=self.f_extend_sid,
                         auto_increasing_sid=self.f_auto_increasing_sid, part_of_data=self.f_part_of_data or [],
                         origin=self.f_origin, job_id=self.f_job_id)

    class Meta:
        table_name = "t_storage_table_meta"
        primary_key = peewee.CompositeKey("f_name", "f_namespace")


class EngineRegistry(BaseModel):
    f_engine_type = peewee.CharField(max_length=10)
    f_engine_name = peewee.CharField(max_length=50)
    f_cores = peewee.IntegerField()
    f_remaining_cores = peewee.IntegerField()
    f_memory = peewee.IntegerField(default=0)
    f_remaining_memory = peewee.IntegerField(default=0)
    f_nodes = peewee.IntegerField(default=1)

    class Meta:
        table_name = "t_engine_registry"
        primary_key = peewee.CompositeKey("f_engine_name", "f_engine_type")


class TrackingMetric(BaseModel):
    """Metric meta (type 0), data points (type 1) and job views (type 2) of a task."""

    f_id = peewee.BigAutoField(primary_key=True)
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_component_name = peewee.CharField(max_length=200)
    f_task_id = peewee.CharField(max_length=230, null=True)
    f_task_version = peewee.BigIntegerField(null=True)
    f_role = peewee.CharField(max_length=50)
    f_party_id = peewee.CharField(max_length=10)
    f_metric_namespace = peewee.CharField(max_length=180)
    f_metric_name = peewee.CharField(max_length=180)
    f_key = JSONField(default_factory=None)
    f_value = JSONField(default_factory=None)
    f_type = peewee.IntegerField()

    class Meta:
        table_name = "t_tracking_metric"
        indexes = ((("f_job_id", "f_component_name", "f_role", "f_party_id"), False),)


class TrackingOutputDataInfo(BaseModel):
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_component_name = peewee.CharField(max_length=200)
    f_task_id = peewee.CharField(max_length=230)
    f_task_version = peewee.BigIntegerField()
    f_data_name = peewee.CharField(max_length=30)
    f_role = peewee.CharField(max_length=50)
    f_party_id = peewee.CharField(max_length=10)
    f_table_name = peewee.CharField(max_length=100)
    f_table_namespace = peewee.CharField(max_length=250)
    f_description = peewee.TextField(default="")

    class Meta:
        table_name = "t_tracking_output_data_info"
        primary_key = peewee.CompositeKey("f_job_id", "f_task_id", "f_task_version", "f_data_name", "f_role",
                                          "f_party_id")


class ComponentSummary(BaseModel):
    f_id = peewee.BigAutoField(primary_key=True)
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_component_name = peewee.CharField(max_length=200)
    f_task_id = peewee.CharField(max_length=230)
    f_task_version = peewee.BigIntegerField()
    f_role = peewee.CharField(max_length=50)
    f_party_id = peewee.CharField(max_length=10)
    f_summary = JSONField()

    class Meta:
        table_name = "t_component_summary"


class ComponentModel(BaseModel):
    """A component's output model, registered by its task: the directory holding its files (see
    ``engine.model_files``) and their manifest. ``f_param``/``f_meta`` are left from schema 4, when
    executors pushed the model as JSON."""

    f_id = peewee.BigAutoField(primary_key=True)
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_component_name = peewee.CharField(max_length=200)
    f_task_id = peewee.CharField(max_length=230)
    f_task_version = peewee.BigIntegerField()
    f_role = peewee.CharField(max_length=50)
    f_party_id = peewee.CharField(max_length=10)
    f_model_alias = peewee.CharField(max_length=100, default="model")
    f_module_name = peewee.CharField(max_length=200, default="")
    f_param = JSONField()
    f_meta = JSONField()
    f_directory = peewee.TextField(null=True)
    f_manifest = JSONField()

    class Meta:
        table_name = "t_component_model"


class ModelInfo(BaseModel):
    """A party's pipelined model (FATE's ``t_machine_learning_model_info``): the train job's DSL and confs, the
    inference DSL, and whether it is a trained parent or a deployed child. Its components' files are in the
    model store (``manager.model_store``), under the key's directory; the row is written after them."""

    f_role = peewee.CharField(max_length=50)
    f_party_id = peewee.CharField(max_length=50)
    f_model_id = peewee.CharField(max_length=200, index=True)
    f_model_version = peewee.CharField(max_length=100, index=True)
    f_job_id = peewee.CharField(max_length=25, index=True)
    f_roles = JSONField()
    f_initiator_role = peewee.CharField(max_length=50)
    f_initiator_party_id = peewee.CharField(max_length=50)
    f_train_dsl = JSONField()
    f_train_runtime_conf = JSONField()
    f_runtime_conf_on_party = JSONField()
    f_inference_dsl = JSONField()
    f_fate_version = peewee.CharField(max_length=20, default="")
    f_parent = peewee.BooleanField(default=True)
    f_parent_info = JSONField()
    f_loaded_times = peewee.IntegerField(default=0)
    f_size = peewee.BigIntegerField(default=0)
    f_imported = peewee.IntegerField(default=0)
    f_archive_sha256 = peewee.CharField(max_length=100, null=True)
    f_archive_from_ip = peewee.CharField(max_length=100, null=True)
    f_description = peewee.TextField(default="")

    @property
    def key(self) -> ModelKey:
        """The row's (role, party id, model id, model version)."""
        return ModelKey(self.f_role, self.f_party_id, self.f_model_id, self.f_model_version)

    @classmethod
    def matches(cls, key: ModelKey) -> peewee.Expression:
        """The WHERE clause selecting the row of ``key``."""
        return ((cls.f_role == key.role) & (cls.f_party_id == key.party_id) & (cls.f_model_id == key.model_id)
                & (cls.f_model_version == key.model_version))

    @classmethod
    def find(cls, key: ModelKey) -> ModelInfo | None:
        """The party's model ``key``, or None when this server holds none."""
        return cls.get_or_none(cls.matches(key))

    class Meta:
        table_name = "t_machine_learning_model_info"
        primary_key = peewee.CompositeKey("f_role", "f_party_id", "f_model_id", "f_model_version")


class Tag(BaseModel):
    """A model tag (FATE's ``t_tags``): a name and a description."""

    f_id = peewee.BigAutoField(primary_key=True)
    f_name = peewee.CharField(max_length=100, unique=True)
    f_desc = peewee.TextField(null=True)

    class Meta:
        table_name = "t_tags"


class ModelTag(BaseModel):
    """A tag on a model version (FATE's ``t_model_tag``: ``f_m_id`` is the version, ``f_t_id`` the tag)."""

    f_id = peewee.BigAutoField(primary_key=True)
    f_m_id = peewee.CharField(max_length=100, index=True)
    f_t_id = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "t_model_tag"
        indexes = ((("f_m_id", "f_t_id"), True),)


class SeenNonce(BaseModel):
    """A nonce of a signed call already accepted, kept until it expires: a replay is refused, also after a
    restart."""

    f_nonce = peewee.CharField(max_length=128, primary_key=True)
    f_party_id = peewee.CharField(max_length=50, default="")
    f_expires = peewee.BigIntegerField(index=True)

    class Meta:
        table_name = "t_seen_nonce"


class PartyPermission(BaseModel):
    """What a partner party may make this party do in jobs it initiates (FATE's ``permission/grant``):
    ``f_kind`` is ``component`` (a module name, lower case, or ``*``), ``dataset`` (``namespace/name`` or
    ``*``) or ``role``."""

    f_id = peewee.BigAutoField(primary_key=True)
    f_party_id = peewee.CharField(max_length=50, index=True)
    f_kind = peewee.CharField(max_length=20)
    f_value = peewee.CharField(max_length=400)

    class Meta:
        table_name = "t_party_permission"
        indexes = ((("f_party_id", "f_kind", "f_value"), True),)


class SchemaVersion(peewee.Model):
    f_version = peewee.IntegerField(primary_key=True)
    f_applied_time = peewee.BigIntegerField()

    class Meta:
        database = DB
        table_name = "t_schema_version"


ALL_MODELS: list[type[peewee.Model]] = [Job, Task, StorageTableMeta, EngineRegistry]
TRACKING_MODELS: list[type[peewee.Model]] = [TrackingMetric, TrackingOutputDataInfo, ComponentSummary, ComponentModel]
SECURITY_MODELS: list[type[peewee.Model]] = [SeenNonce, PartyPermission]
MODEL_STORE_MODELS: list[type[peewee.Model]] = [ModelInfo, Tag, ModelTag]
