"""Settings, loaded once: built-in defaults <- service_conf.yaml <- local.service_conf.yaml <- env.

Environment overrides are ``FATE_FLOW_<SECTION>__<KEY>`` (values parsed as YAML scalars), e.g.
``FATE_FLOW_FATEFLOW__HTTP_PORT=9381``; a top-level key is ``FATE_FLOW_PARTY_ID``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fate_flow.entity.task_config import BrokerAddress as Broker  # one broker type, settings to executor
from fate_flow.entity.task_config import SparkConfig
from fate_flow.settings_schema import known_keys, unknown_keys
from fate_flow.utils import passwords

REPO_CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
ENV_PREFIX = "FATE_FLOW_"

DEFAULTS: dict[str, Any] = {
    "party_id": "0",
    "fateflow": {"host": "127.0.0.1", "http_port": 9380, "grpc_port": 9360, "http_threads": 32,
                 "executor_fork_server": True},
    "database": {
        "engine": "sqlite",
        "name": "fate_flow",
        "user": "fate",
        "passwd": "fate",
        "host": "127.0.0.1",
        "port": 3306,
        "max_connections": 100,
        "stale_timeout": 30,
    },
    "default_engines": {"computing": "standalone", "federation": "standalone", "storage": "standalone"},
    "fate_on_standalone": {"standalone": {"cores_per_node": 20, "nodes": 1}},
    "fateboard": {"host": "127.0.0.1", "port": 8080},
    # the board this server serves under /board/; auth: a login (password_hash from `fate_flow board hash-password`)
    "board": {"enabled": True, "auth": {"user": "", "password_hash": ""}, "session_hours": 12},
    # Python modules declaring extra components (a SPEC each), besides the built-in fate_flow.components
    "components": {"modules": []},
    # bounds on what a client or a peer can make this server hold or wait for
    "limits": {
        "json_body_mb": 16,  # a JSON request body larger than this is refused with HTTP 413
        "page_size": 1000,  # list and page sizes are capped to this
        "http_timeout_s": 30,  # a connection that sends nothing for this long is closed
        "http_backlog": 1024,  # connections the listen queue holds in a burst
        "grpc_message_mb": 8,  # a gRPC message (a scheduling packet or one data chunk)
        "object_mb": 4096,  # one object a task sends to another party
        "stream_deadline_s": 3600,  # a data-plane push must complete within this
        "peer_streams": 16,  # data-plane pushes one peer party may have open at once
        "model_archive_mb": 256,  # a model archive to import, and what it unpacks to
        "model_archive_entries": 10000,  # files in a model archive to import
    },
    "job_default": {
        "task_parallelism": 1,
        "task_cores": 4,
        "max_cores_percent_per_job": 1,
        "job_timeout": 259200,
        "remote_request_timeout": 30000,
        "auto_retries": 0,
        "output_data_summary_count_limit": 100,
        "scheduler_interval": 2,
        "detector_interval": 5,
        "status_pull_after": 5,
        "party_unreachable_after": 20,
    },
}


class SettingsError(ValueError):
    """A settings file or override is malformed."""


@dataclass(frozen=True)
class DatabaseSettings:
    engine: str
    name: str
    user: str
    passwd: str
    host: str
    port: int
    max_connections: int
    stale_timeout: int
    sqlite_path: Path


@dataclass(frozen=True)
class JobDefaults:
    task_parallelism: int
    task_cores: int
    max_cores_percent_per_job: float
    job_timeout: int
    remote_request_timeout: int
    auto_retries: int
    output_data_summary_count_limit: int
    scheduler_interval: float
    detector_interval: float
    status_pull_after: float
    party_unreachable_after: float


@dataclass(frozen=True)
class Limits:
    """Bounds on what a client or a peer can make this server hold or wait for."""

    json_body_mb: float
    page_size: int
    http_timeout_s: float
    http_backlog: int
    grpc_message_mb: float
    object_mb: float
    stream_deadline_s: float
    peer_streams: int
    model_archive_mb: float
    model_archive_entries: int


@dataclass(frozen=True)
class BoardSettings:
    """The board served under ``/board/``: on or off, and its login (none when ``password_hash`` is empty)."""

    enabled: bool = True
    user: str = ""
    password_hash: str = field(default="", repr=False)
    session_hours: float = 12

    @property
    def auth(self) -> bool:
        """Whether the board asks for a login."""
        return bool(self.password_hash)


@dataclass(frozen=True)
class Route:
    """Where a party's server listens, and the public key its calls are signed with (base64, may be empty)."""

    host: str
    http_port: int
    grpc_port: int
    public_key: str = ""


@dataclass(frozen=True)
class Federation:
    """How this server reaches other parties' servers, and how they must prove who they are."""

    protocol: str  # "http" or "grpc" for party-to-party scheduling calls
    routes: dict[str, Route]  # party id (or "default") -> server
    site_auth: bool  # sign outgoing and verify incoming party-to-party calls (and data-plane pushes)
    # secrets are left out of the repr: a logged Settings must not carry them
    site_keys: dict[str, str] = field(repr=False)  # hmac mode: peer party id (or "default") -> shared secret
    max_clock_skew: int = 60  # seconds a signed call may be early or late
    client_auth: bool = False  # verify fate-client's TIMESTAMP/NONCE/APP_KEY/SIGNATURE headers
    client_keys: dict[str, str] = field(default_factory=dict, repr=False)  # app key -> secret key
    site_mode: str = "ed25519"  # "ed25519" (per-party key pairs) or "hmac" (secrets shared per peer)
    private_key_file: Path | None = None  # ed25519: this party's private key (PEM, mode 0600)
    # partners are configured but authentication.site.switch is explicitly false: warned at start-up
    site_auth_disabled: bool = False

    def route(self, party_id: str) -> Route | None:
        """The route to ``party_id``'s server, else the ``default`` route; None when neither is configured."""
        return self.routes.get(str(party_id)) or self.routes.get("default")

    def public_key(self, party_id: str) -> str:
        """The public key of ``party_id`` from its own route table entry ("" when none: a ``default``
        route stands for many parties and vouches for none)."""
        route = self.routes.get(str(party_id))
        return route.public_key if route else ""


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


@dataclass(frozen=True)
class Settings:
    home: Path
    party_id: str
    host: str
    http_port: int
    grpc_port: int
    http_threads: int
    executor_fork_server: bool
    database: DatabaseSettings
    job: JobDefaults
    computing_engine: str
    federation_engine: str
    total_cores: int
    federation: Federation
    fateboard_host: str
    fateboard_port: int
    component_modules: tuple[str, ...] = ()
    limits: Limits = field(default_factory=lambda: _limits(DEFAULTS["limits"]))
    board: BoardSettings = field(default_factory=BoardSettings)
    rabbitmq: RabbitMQSettings | None = None  # set when default_engines.federation is rabbitmq
    spark: SparkSettings | None = None  # set when default_engines.computing is spark
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    # Directories under the home directory (FATE's layout, relative to one root).
    @property
    def jobs_dir(self) -> Path:
        """``<home>/jobs``: job confs and task working directories."""
        return self.home / "jobs"

    @property
    def logs_dir(self) -> Path:
        """``<home>/logs``: job logs, and the server's own under ``fate_flow``."""
        return self.home / "logs"

    @property
    def tables_dir(self) -> Path:
        """``<home>/data/tables``: the stored tables' files."""
        return self.home / "data" / "tables"

    @property
    def model_store_dir(self) -> Path:
        """``<home>/model_local_cache``: the pipelined models of this server's parties (FATE's place)."""
        return self.home / "model_local_cache"

    @property
    def server_log_dir(self) -> Path:
        """``<home>/logs/fate_flow``: the server's own log files."""
        return self.logs_dir / "fate_flow"

    @property
    def instance_id(self) -> str:
        """``flow-<host>-<http_port>``: how logs and server/fateflow/info name this server."""
        return f"flow-{self.host}-{self.http_port}"

    @property
    def base_url(self) -> str:
        """This server's HTTP root ``http://host:http_port`` (without ``/v1``), as its executors call it."""
        return f"http://{self.host}:{self.http_port}"

    def with_ports(self, http_port: int, grpc_port: int) -> Settings:
        """A copy bound to other ports (used once the OS has assigned port 0)."""
        return _replace(self, http_port=http_port, grpc_port=grpc_port)


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict:
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise SettingsError(f"{path}: expected a mapping at the top level")
    return content


# environment variables with this prefix that are not settings (FATE's own, and the home directory)
NOT_SETTINGS = {"FATE_FLOW_HOME", "FATE_FLOW_BASE", "FATE_FLOW_SERVICE_NAME"}


def _check_known(tree: dict, source: str, prefix: str = "") -> None:
    """Refuse a key no setting has, naming it, where it was written, and what the section takes."""
    unknown = unknown_keys({prefix: tree} if prefix else tree)
    if unknown:
        path = unknown[0]
        known = known_keys(path)
        hint = f" (known keys there: {', '.join(known)})" if known else ""
        raise SettingsError(f"unknown setting {path} in {source}: check its spelling{hint}")


def _checked_yaml(path: Path, section: str = "") -> dict:
    content = _read_yaml(path)
    _check_known(content, str(path), section)
    return content


def _env_overrides(environ: dict[str, str]) -> dict:
    overrides: dict = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value = yaml.safe_load(text) if text else ""
        _check_known(_nested(path, value), f"the environment variable {name}")
    return overrides


def _nested(path: list[str], value: Any) -> dict:
    """``{"a": {"b": value}}`` for the path ``["a", "b"]``."""
    tree: dict = {}
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value
    return tree


def _get(section: dict, section_name: str, key: str, cast: type) -> Any:
    """``section[key]`` converted by ``cast``; an error names the setting and the bad value."""
    if not isinstance(section, dict) or key not in section:
        raise SettingsError(f"setting {section_name}.{key} is missing")
    try:
        return cast(section[key])
    except (TypeError, ValueError):
        raise SettingsError(
            f"setting {section_name}.{key} must be {cast.__name__}, got {section[key]!r}"
        ) from None


SITE_MODES = ("ed25519", "hmac")
DEFAULT_PRIVATE_KEY_FILE = Path("keys") / "site_ed25519.key"  # relative to the home directory
PUBLIC_KEY_BYTES = 32
KEYS_INIT_HINT = "create this party's key pair with `fate_flow keys init`"


def check_public_key_text(text: str) -> None:
    """ValueError (saying what is wrong) unless ``text`` is the base64 of 32 bytes (an Ed25519 public key)."""
    try:
        raw = base64.b64decode(str(text).strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not base64") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise ValueError(f"decodes to {len(raw)} bytes, not the {PUBLIC_KEY_BYTES} of an Ed25519 public key")


def _route(party_id: str, route: dict) -> Route:
    name = f"route_table.{party_id}"
    public_key = str(route.get("public_key") or "") if isinstance(route, dict) else ""
    if public_key:
        try:
            check_public_key_text(public_key)
        except ValueError as exc:
            raise SettingsError(f"setting {name}.public_key {exc} (`fate_flow keys init` prints a party's public "
                                "key)") from None
    return Route(_get(route, name, "host", str), _get(route, name, "http_port", int),
                 _get(route, name, "grpc_port", int), public_key)


def private_key_path(raw: dict, home: Path) -> Path:
    """This party's private key file: ``authentication.site.private_key_file`` (relative to the home
    directory), by default ``<home>/keys/site_ed25519.key``."""
    site = (raw.get("authentication") or {}).get("site") or {}
    path = Path(str(site.get("private_key_file") or DEFAULT_PRIVATE_KEY_FILE)).expanduser()
    return path if path.is_absolute() else home / path


def resolve_home(home: Path | None, environ: dict[str, str]) -> Path:
    """The home directory: ``home``, else ``$FATE_FLOW_HOME``, else ``./home``."""
    return Path(home or environ.get("FATE_FLOW_HOME") or Path.cwd() / "home").resolve()


def _switch(site: dict) -> bool | None:
    """``authentication.site.switch``: True, False, or None when the configuration does not say."""
    switch = site.get("switch")
    if switch is None or switch == "":
        return None
    if not isinstance(switch, bool):
        raise SettingsError(f"setting authentication.site.switch must be true or false, got {switch!r}")
    return switch


def _federation(raw: dict, home: Path, party_id: str, federation_engine: str) -> Federation:
    routes = {str(p): _route(str(p), route) for p, route in (raw.get("route_table") or {}).items()}
    auth = raw.get("authentication") or {}
    site, client = auth.get("site") or {}, auth.get("client") or {}
    protocol = str(raw["fateflow"].get("protocol") or "http").lower()
    protocol = "http" if protocol == "default" else protocol  # FATE's "default" is HTTP
    if protocol not in ("http", "grpc"):
        raise SettingsError(f"setting fateflow.protocol must be http, grpc or default, not {protocol!r}")
    mode = str(site.get("mode") or "ed25519").lower()
    if mode not in SITE_MODES:
        raise SettingsError(f"setting authentication.site.mode must be ed25519 or hmac, not {mode!r}")
    # other parties' servers are configured: their calls are signed unless the configuration says otherwise
    has_partners = federation_engine != "standalone" and any(p not in (party_id, "0") for p in routes)
    switch = _switch(site)
    client_keys = {str(client["http_app_key"]): str(client.get("http_secret_key", ""))} if client.get(
        "http_app_key") else {}
    return Federation(
        protocol=protocol, routes=routes, site_auth=has_partners if switch is None else switch,
        site_keys={str(k): str(v) for k, v in (site.get("keys") or {}).items()},
        max_clock_skew=int(site.get("max_clock_skew", 60)), client_auth=bool(client.get("switch", False)),
        client_keys=client_keys, site_mode=mode,
        private_key_file=private_key_path(raw, home),
        site_auth_disabled=switch is False and has_partners,
    )


def _check_site_keys(federation: Federation, party_id: str) -> None:
    """With signing on, this party's key and a key for every partner named in the route table must be
    configured: else one sentence naming the setting (the server does not start)."""
    if not federation.site_auth:
        return
    partners = [p for p in federation.routes if p not in (party_id, "0", "default")]
    if federation.site_mode == "hmac":
        for partner in partners:
            if not (federation.site_keys.get(partner) or federation.site_keys.get("default")):
                raise SettingsError(f"setting authentication.site.keys.{partner} is missing: in hmac mode every "
                                    f"partner of the route table needs the secret shared with it")
        return
    # the key's content is read (and its file mode checked) when the server builds its key ring
    if not federation.private_key_file.is_file():
        raise SettingsError(f"setting authentication.site.private_key_file: no private key at "
                            f"{federation.private_key_file}; {KEYS_INIT_HINT} (party-to-party signing is on)")
    for partner in partners:
        if not federation.public_key(partner):
            raise SettingsError(f"setting route_table.{partner}.public_key is missing: party-to-party signing is "
                                f"on, so party {partner}'s public key is needed (it prints it with `fate_flow keys "
                                f"init`), or turn signing off with authentication.site.switch: false")


RABBITMQ = "fate_on_spark.rabbitmq"
RABBITMQ_MODES = ("client",)
DEFAULT_RABBITMQ_ROUTE_TABLE = Path("conf") / "rabbitmq_route_table.yaml"  # FATE's, relative to its base
MAX_MESSAGE_SIZE = (1 << 10, 128 << 20)  # RabbitMQ refuses messages over 128 MiB by default
_BROKER_KEYS = ("host", "port", "user", "password")


def _port(section: dict, name: str, key: str) -> int:
    port = _get(section, name, key, int)
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
    host = _get(entry, name, "host", str)
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
    return _read_yaml(found)


def _rabbitmq(raw: dict, conf_dir: Path) -> RabbitMQSettings:
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
    size = _get({"max_message_size": section.get("max_message_size") or 1 << 20}, RABBITMQ, "max_message_size", int)
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


def _spark(raw: dict) -> SparkSettings:
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
    counts = {key: _get({"cores_per_node": 20, "nodes": 1, **{k: v for k, v in section.items() if v is not None}},
                        SPARK, key, int) for key in ("cores_per_node", "nodes")}
    for key, value in counts.items():
        if value < 1:
            raise SettingsError(f"setting {SPARK}.{key} must be at least 1, got {value}")
    properties = section.get("properties") or {}
    if not isinstance(properties, dict) or any(not str(k).startswith("spark.") for k in properties):
        raise SettingsError(f"setting {SPARK}.properties must map Spark properties (spark.*) to values")
    timeout = _get({"lost_workers_timeout": section.get("lost_workers_timeout") or 60}, SPARK,
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


def _limits(section: dict) -> Limits:
    values = {}
    for name, kind in ((f.name, f.type) for f in Limits.__dataclass_fields__.values()):
        cast = int if kind in ("int", int) else float
        value = _get({**DEFAULTS["limits"], **section}, "limits", name, cast)
        if value <= 0:
            raise SettingsError(f"setting limits.{name} must be positive, got {value}")
        values[name] = value
    return Limits(**values)


def _board(section: dict) -> BoardSettings:
    merged = _deep_merge(DEFAULTS["board"], section)
    auth = merged.get("auth") or {}
    enabled = merged.get("enabled")
    if not isinstance(enabled, bool):
        raise SettingsError(f"setting board.enabled must be true or false, got {enabled!r}")
    password_hash = str(auth.get("password_hash") or "")
    if password_hash and not passwords.is_hash(password_hash):
        raise SettingsError("setting board.auth.password_hash is not a hash this server wrote: make one with "
                            "`fate_flow board hash-password`")
    user = str(auth.get("user") or "")
    if password_hash and not user:
        raise SettingsError("setting board.auth.user is empty: the board's login needs a user name")
    hours = _get(merged, "board", "session_hours", float)
    if not 0 < hours <= 24 * 30:
        raise SettingsError(f"setting board.session_hours must be in (0, 720], got {hours:g}")
    return BoardSettings(enabled=enabled, user=user, password_hash=password_hash, session_hours=hours)


def _module_list(section: dict) -> tuple[str, ...]:
    modules = section.get("modules") or []
    if isinstance(modules, str):
        modules = [m for m in modules.split(",") if m.strip()]
    if not isinstance(modules, list) or not all(isinstance(m, str) and m.strip() for m in modules):
        raise SettingsError(f"setting components.modules must be a list of Python module names, got {modules!r}")
    return tuple(m.strip() for m in modules)


def load_raw(config_path: Path | None = None, environ: dict[str, str] | None = None) -> dict:
    """The merged settings tree, before typing."""
    environ = dict(os.environ if environ is None else environ)
    raw = copy.deepcopy(DEFAULTS)
    path = config_path or REPO_CONF_DIR / "service_conf.yaml"
    if config_path is not None and not path.exists():
        raise SettingsError(f"config file {path} does not exist")
    if path.exists():
        raw = _deep_merge(raw, _checked_yaml(path))
        local = path.with_name("local." + path.name)
        if local.exists():
            raw = _deep_merge(raw, _checked_yaml(local))
        job_defaults = path.with_name("job_default_config.yaml")
        if job_defaults.exists():
            raw["job_default"] = _deep_merge(raw["job_default"], _checked_yaml(job_defaults, "job_default"))
    return _deep_merge(raw, _env_overrides(environ))


def load_settings(
    config_path: Path | None = None, home: Path | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Load and type the settings; raises SettingsError naming the bad key."""
    env = dict(os.environ if environ is None else environ)
    raw = load_raw(config_path, env)
    home = resolve_home(home, env)
    flow, db, job = raw["fateflow"], raw["database"], raw["job_default"]
    standalone = raw.get("fate_on_standalone", {}).get("standalone", {})
    database = DatabaseSettings(
        engine=_get(db, "database", "engine", str).lower(),
        name=_get(db, "database", "name", str),
        user=_get(db, "database", "user", str),
        passwd=str(db.get("passwd") or ""),
        host=_get(db, "database", "host", str),
        port=_get(db, "database", "port", int),
        max_connections=_get(db, "database", "max_connections", int),
        stale_timeout=_get(db, "database", "stale_timeout", int),
        sqlite_path=home / "fate_flow_sqlite.db",
    )
    job_types = {"max_cores_percent_per_job": float, "scheduler_interval": float, "detector_interval": float,
                 "status_pull_after": float, "party_unreachable_after": float}
    federation_engine = _get(raw["default_engines"], "default_engines", "federation", str).lower()
    conf_dir = (config_path or REPO_CONF_DIR / "service_conf.yaml").resolve().parent
    rabbitmq = _rabbitmq(raw, conf_dir) if federation_engine == "rabbitmq" else None
    computing_engine = _get(raw["default_engines"], "default_engines", "computing", str).lower()
    if computing_engine not in COMPUTING_ENGINES:
        raise SettingsError(f"setting default_engines.computing must be one of {', '.join(COMPUTING_ENGINES)}, "
                            f"got {computing_engine!r}")
    spark = _spark(raw) if computing_engine == "spark" else None
    settings = Settings(
        home=home,
        party_id=str(raw["party_id"]),
        host=_get(flow, "fateflow", "host", str),
        http_port=_get(flow, "fateflow", "http_port", int),
        grpc_port=_get(flow, "fateflow", "grpc_port", int),
        http_threads=_get(flow, "fateflow", "http_threads", int),
        executor_fork_server=bool(flow.get("executor_fork_server", True)),
        database=database,
        job=JobDefaults(**{k: _get(job, "job_default", k, job_types.get(k, int))
                           for k in JobDefaults.__dataclass_fields__}),
        computing_engine=computing_engine,
        federation_engine=federation_engine,
        total_cores=spark.cores if spark else _get(standalone, "fate_on_standalone.standalone", "cores_per_node", int)
        * _get(standalone, "fate_on_standalone.standalone", "nodes", int),
        federation=_federation(raw, home, str(raw["party_id"]), federation_engine),
        fateboard_host=_get(raw["fateboard"], "fateboard", "host", str),
        fateboard_port=_get(raw["fateboard"], "fateboard", "port", int),
        component_modules=_module_list(raw.get("components") or {}),
        limits=_limits(raw.get("limits") or {}),
        board=_board(raw.get("board") or {}),
        rabbitmq=rabbitmq,
        spark=spark,
        raw=raw,
    )
    if database.engine not in ("sqlite", "mysql"):
        raise SettingsError(f"database.engine must be sqlite or mysql, not {database.engine!r}")
    _check_site_keys(settings.federation, settings.party_id)
    return settings
