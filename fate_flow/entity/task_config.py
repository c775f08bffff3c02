"""The task config: everything the server tells an executor, as one typed value written to a JSON file.

The server (``controller.task_controller``) builds it from the task row, the component's spec and what
upstream components produced; the executor (``worker.task_executor``) reads it back and builds the
component's context from it. Nothing else passes between them before the task runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta


@dataclass(frozen=True)
class ModelRef:
    """A model an upstream component registered: the directory its files are in."""

    component_name: str
    alias: str
    module: str
    directory: str


@dataclass(frozen=True)
class NamedTable:
    """The table a data-access component writes under a name its parameters give (Upload, Writer):
    the server chose the version directory; the table is published once complete."""

    namespace: str
    name: str
    directory: str


@dataclass(frozen=True)
class ServerFiles:
    """The files on this server a data-access component reads or writes, resolved and confined by the
    server (Upload's ``file``, Download's ``output_path``)."""

    read: str | None = None
    written: str | None = None


@dataclass(frozen=True)
class PushSigning:
    """How the executor signs the objects it pushes; the receiving server checks before it stores anything.

    An object for a party this server serves is signed with the server's local token; one for another
    party's server with this party's private key (``ed25519``), with the secret shared with that party
    (``hmac``), or not at all (``none``: this party's configuration turned signing off).
    """

    mode: str = "none"
    private_key_file: str = ""  # ed25519: this party's private key, under the server's home
    hmac_keys: dict[str, str] = field(default_factory=dict)  # hmac: party id (or "default") -> shared secret
    local_parties: list[str] = field(default_factory=list)  # party ids served by this very server
    # ed25519: the peers' public keys (party id -> base64), for a receiver that checks objects itself
    # (the RabbitMQ data plane: objects reach the executor without passing through its server)
    public_keys: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BrokerAddress:
    """A RabbitMQ broker and the account this party uses there."""

    host: str
    port: int
    user: str
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class RabbitMQConfig:
    """The RabbitMQ data plane (``default_engines.federation: rabbitmq``, FATE's client mode): a sender
    publishes into the queues of the destination party's broker; a party consumes from its own."""

    brokers: dict[str, BrokerAddress]  # party id of the job -> the broker its objects are published to
    max_message_size: int  # bytes per message (an object is split into as many as it needs)
    max_object_bytes: int  # the largest object a receiver takes (limits.object_mb)
    heartbeat: int = 60  # seconds (AMQP heartbeat)


@dataclass(frozen=True)
class SparkConfig:
    """The Spark cluster a task computes on (``default_engines.computing: spark``): the master, the Spark
    properties the driver starts with (cores and memory included), and the Python its executors run."""

    master: str  # spark://host:port, or local[N]
    properties: dict[str, str] = field(default_factory=dict)
    python: str = ""  # the executors' Python (this server's own when empty)
    python_path: str = ""  # where the executors import fate_flow from (this server's own when empty)
    home: str = ""  # SPARK_HOME for the driver (the pyspark package's own when empty)
    lost_workers_timeout: float = 60.0  # a Spark action with no executor for this long is cancelled


@dataclass(frozen=True)
class FederationConfig:
    """Where the job's parties receive objects (party id -> ``host:grpc_port``), how long to wait, how the
    objects are signed, and which data plane carries them (``engine``; ``rabbitmq`` says where the brokers
    are)."""

    routes: dict[str, str]
    send_timeout: float = 600.0
    get_timeout: float = 3600.0
    signing: PushSigning = field(default_factory=PushSigning)
    engine: str = "direct"  # "direct" (gRPC into the parties' servers) or "rabbitmq"
    rabbitmq: RabbitMQConfig | None = None
    # the server's mailbox: "direct" executors publish objects for the parties it serves there themselves
    # and wait for their own there (engine.mailbox_files); empty: everything through the server
    mailbox_dir: str = ""


@dataclass(frozen=True)
class TaskConfig:
    server_url: str
    local_token: str
    task: TaskKey
    module: str  # the spec's canonical module name
    spec_source: str  # the Python module that declares the component's spec
    stage: str  # "train" or "predict"
    parameters: dict[str, Any]  # this party's parameters, validated again into the spec's typed Params
    cores: int
    computing_engine: str
    roles: dict[str, list[str]]
    party_log_dir: str
    component_log_dir: str
    model_dir: str
    tables_dir: str
    federation: FederationConfig
    input_tables: dict[str, list[TableMeta]] = field(default_factory=dict)
    input_models: dict[str, list[ModelRef]] = field(default_factory=dict)
    output_data_names: list[str] = field(default_factory=list)
    output_model_names: list[str] = field(default_factory=list)
    named_table: NamedTable | None = None
    server_files: ServerFiles = field(default_factory=ServerFiles)
    spark: SparkConfig | None = None  # set when computing_engine is spark

    def to_json(self) -> str:
        """The config as JSON text (``from_dict`` reads it back)."""
        return json.dumps(asdict(self), indent=1)

    def write(self, path: Path) -> None:
        """Write where the executor will read it; the file is private to this server's user."""
        path.write_text(self.to_json())
        path.chmod(0o600)

    @classmethod
    def read(cls, path: Path) -> TaskConfig:
        """The config in the JSON file ``path``, as ``write`` left it."""
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskConfig:
        """The config from its parsed JSON, nested values typed again; TypeError or KeyError when a field is
        missing or unknown."""
        values = dict(data)
        values["task"] = TaskKey(**values["task"])
        federation = dict(values["federation"])
        federation["signing"] = PushSigning(**(federation.get("signing") or {}))
        if federation.get("rabbitmq"):
            rabbitmq = dict(federation["rabbitmq"])
            rabbitmq["brokers"] = {p: BrokerAddress(**b) for p, b in rabbitmq["brokers"].items()}
            federation["rabbitmq"] = RabbitMQConfig(**rabbitmq)
        values["federation"] = FederationConfig(**federation)
        values["input_tables"] = {key: [TableMeta.from_dict(m) for m in metas]
                                  for key, metas in (values.get("input_tables") or {}).items()}
        values["input_models"] = {key: [ModelRef(**m) for m in refs]
                                  for key, refs in (values.get("input_models") or {}).items()}
        if values.get("named_table"):
            values["named_table"] = NamedTable(**values["named_table"])
        values["server_files"] = ServerFiles(**(values.get("server_files") or {}))
        if values.get("spark"):
            values["spark"] = SparkConfig(**values["spark"])
        return cls(**values)
