"""FATE's ``fate_on_spark`` sections, typed and checked: ``rabbitmq`` (``default_engines.federation: rabbitmq``)
and ``spark`` (``default_engines.computing: spark``). Each is read only when its engine is chosen: FATE's own
service_conf.yaml carries them with placeholders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fate_flow.entity.task_config import BrokerAddress as Broker  # one broker type, settings to executor
from fate_flow.entity.task_config import SparkConfig
from fate_flow.settings_base import SettingsError, read_yaml, typed


@dataclass(frozen=True)
class RabbitMQSettings:
    """``fate_on_spark.rabbitmq`` with FATE's keys, for ``default_engines.federation: rabbitmq`` (client mode:
    a sender publishes on the destination party's broker, each party consumes from its own)."""

    own: Broker  # host, port, user, password: the broker this party consumes from
    mng_port: int | None
    mode: str
    max_message_size: int
    route_table: dict[str, Broker]  # party id (or "default") -> broker

    def broker(self, party_id: str, own_party: str) -> Broker | None:
        """The broker ``party_id`` consumes from: this party's own, else its route, else ``default``."""
        if str(party_id) == str(own_party):
            return self.own
        return self.route_table.get(str(party_id)) or self.route_table.get("default")


@dataclass(frozen=True)
class SparkSettings:
    """``fate_on_spark.spark`` (for ``default_engines.computing: spark``): the cluster the tasks compute on,
    its cores (FATE's ``cores_per_node`` x ``nodes``, what jobs are admitted against) and its master's web UI
    (``web_ui``, read for the cluster's state in the server's info)."""

    config: SparkConfig
    cores_per_node: int
    nodes: int
    web_ui: str = ""

    @property
    def cores(self) -> int:
        """The cluster's cores this party schedules against."""
        return self.cores_per_node * self.nodes


RABBITMQ = "fate_on_spark.rabbitmq"
RABBITMQ_MODES = ("client",)
DEFAULT_RABBITMQ_ROUTE_TABLE = Path("conf") / "rabbitmq_route_table.yaml"  # FATE's, relative to its base
MAX_MESSAGE_SIZE = (1 << 10, 128 << 20)  # RabbitMQ refuses messages over 128 MiB by default
_BROKER_KEYS = ("host", "port", "user", "password")


def _port(section: dict, name: str, key: str) -> int:
    port = typed(section, name, key, int)
    if not 0 < port < 65536:
        raise SettingsError(f"setting {name}.{key} must be a TCP port (1-65535), got {port}")
    return port


def _broker(entry: Any, name: str, user: str, password: str) -> Broker:
    """One route of the RabbitMQ route table: host and port (FATE's), user and password optional (this
    party's own account by default)."""
    if not isinstance(entry, dict):
        raise SettingsError(f"setting {name} must be a mapping with host and port, got {entry!r}")
    unknown = sorted(set(map(str, entry)) - set(_BROKER_KEYS))
    if unknown:
        raise SettingsError(f"unknown setting {name}.{unknown[0]} (known keys there: {', '.join(_BROKER_KEYS)})")
    host = typed(entry, name, "host", str)
    if not host.strip():
        raise SettingsError(f"setting {name}.host is empty")
    if entry.get("user"):  # an account of its own at that broker
        user, password = str(entry["user"]), str(entry.get("password") or "")
    return Broker(host, _port(entry, name, "port"), user, password)


def _rabbitmq_route_table(value: Any, conf_dir: Path) -> dict:
    """The route table: inline (party id -> {host, port}) or FATE's way, a YAML file; a relative path is
    read from FATE's base (the config directory's parent) or else the config directory."""
    if isinstance(value, dict):
        return value
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"setting {RABBITMQ}.route_table must be a file path or a mapping, got {value!r}")
    explicit = bool(value)
    path = Path(value or DEFAULT_RABBITMQ_ROUTE_TABLE).expanduser()
    candidates = [path] if path.is_absolute() else [conf_dir.parent / path, conf_dir / path]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        if explicit:
            raise SettingsError(f"setting {RABBITMQ}.route_table: no file {path} (looked in "
                                f"{', '.join(str(c.parent) for c in candidates)})")
        return {}  # FATE's default file is optional: this party then reaches only itself and "default"
    return read_yaml(found)


def rabbitmq_settings(raw: dict, conf_dir: Path) -> RabbitMQSettings:
    """``fate_on_spark.rabbitmq``, typed and checked (only when it is the federation engine: FATE's own
    service_conf.yaml carries this section with its placeholders)."""
    section = (raw.get("fate_on_spark") or {}).get("rabbitmq")
    if not isinstance(section, dict):
        raise SettingsError(f"setting {RABBITMQ} is missing: default_engines.federation is rabbitmq, so this "
                            "party's broker (host, port, user, password) and the route table are needed")
    user, password = str(section.get("user") or "guest"), str(section.get("password") or "")
    own = _broker({k: v for k, v in section.items() if k in _BROKER_KEYS}, RABBITMQ, user, password)
    mode = str(section.get("mode") or "client").lower()
    if mode not in RABBITMQ_MODES:
        raise SettingsError(f"setting {RABBITMQ}.mode {mode!r} is not supported: only client mode is (each "
                            "sender publishes on the receiving party's broker; replication needs the federation "
                            "plugin): set mode: client")
    size = typed({"max_message_size": section.get("max_message_size") or 1 << 20}, RABBITMQ, "max_message_size", int)
    if not MAX_MESSAGE_SIZE[0] <= size <= MAX_MESSAGE_SIZE[1]:
        raise SettingsError(f"setting {RABBITMQ}.max_message_size must be between {MAX_MESSAGE_SIZE[0]} and "
                            f"{MAX_MESSAGE_SIZE[1]} bytes, got {size}")
    mng_port = _port(section, RABBITMQ, "mng_port") if section.get("mng_port") not in (None, "") else None
    table = _rabbitmq_route_table(section.get("route_table"), conf_dir)
    routes = {str(p): _broker(entry, f"{RABBITMQ}.route_table.{p}", user, password) for p, entry in table.items()}
    return RabbitMQSettings(own=own, mng_port=mng_port, mode=mode, max_message_size=size, route_table=routes)


SPARK = "fate_on_spark.spark"
COMPUTING_ENGINES = ("standalone", "eggroll", "spark")  # eggroll: computed standalone here
_SPARK_KEYS = ("home", "cores_per_node", "nodes", "master", "web_ui", "properties", "python", "python_path",
               "lost_workers_timeout")
_SPARK_MASTER = re.compile(r"^(spark://[A-Za-z0-9.\-]+:\d{1,5}(,[A-Za-z0-9.\-]+:\d{1,5})*|local(\[(\d+|\*)\])?)$")


def spark_settings(raw: dict) -> SparkSettings:
    """``fate_on_spark.spark``, typed and checked (only when Spark is the computing engine)."""
    section = (raw.get("fate_on_spark") or {}).get("spark")
    if not isinstance(section, dict):
        raise SettingsError(f"setting {SPARK} is missing: default_engines.computing is spark, so the cluster's "
                            "master (spark://host:port) and its cores_per_node and nodes are needed")
    unknown = sorted(set(map(str, section)) - set(_SPARK_KEYS))
    if unknown:
        raise SettingsError(f"unknown setting {SPARK}.{unknown[0]} (known keys there: {', '.join(_SPARK_KEYS)})")
    master = str(section.get("master") or "").strip()
    if not _SPARK_MASTER.match(master):
        raise SettingsError(f"setting {SPARK}.master must be spark://host:port or local[N], got {master!r}")
    counts = {key: typed({"cores_per_node": 20, "nodes": 1, **{k: v for k, v in section.items() if v is not None}},
                        SPARK, key, int) for key in ("cores_per_node", "nodes")}
    for key, value in counts.items():
        if value < 1:
            raise SettingsError(f"setting {SPARK}.{key} must be at least 1, got {value}")
    properties = section.get("properties") or {}
    if not isinstance(properties, dict) or any(not str(k).startswith("spark.") for k in properties):
        raise SettingsError(f"setting {SPARK}.properties must map Spark properties (spark.*) to values")
    timeout = typed({"lost_workers_timeout": section.get("lost_workers_timeout") or 60}, SPARK,
                   "lost_workers_timeout", float)
    if timeout <= 0:
        raise SettingsError(f"setting {SPARK}.lost_workers_timeout must be positive, got {timeout}")
    web_ui = str(section.get("web_ui") or "").rstrip("/")
    if web_ui and not re.match(r"^https?://", web_ui):
        raise SettingsError(f"setting {SPARK}.web_ui must be the master's web UI address (http://host:port)")
    config = SparkConfig(master=master, properties={str(k): str(v) for k, v in properties.items()},
                         python=str(section.get("python") or ""), python_path=str(section.get("python_path") or ""),
                         home=str(section.get("home") or ""), lost_workers_timeout=timeout)
    return SparkSettings(config=config, web_ui=web_ui, **counts)
