"""Settings, loaded once: built-in defaults <- service_conf.yaml <- local.service_conf.yaml <- env.

Environment overrides are ``FATE_FLOW_<SECTION>__<KEY>`` (values parsed as YAML scalars), e.g.
``FATE_FLOW_FATEFLOW__HTTP_PORT=9381``; a top-level key is ``FATE_FLOW_PARTY_ID``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fate_flow.settings_base import SettingsError, read_yaml, typed
from fate_flow.settings_fate_on_spark import (  # noqa: F401 (Broker re-exported: one of the settings' types)
    COMPUTING_ENGINES,
    Broker,
    RabbitMQSettings,
    SparkSettings,
    rabbitmq_settings,
    spark_settings,
)
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
    content = read_yaml(path)
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
    return Route(typed(route, name, "host", str), typed(route, name, "http_port", int),
                 typed(route, name, "grpc_port", int), public_key)


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


def _limits(section: dict) -> Limits:
    values = {}
    for name, kind in ((f.name, f.type) for f in Limits.__dataclass_fields__.values()):
        cast = int if kind in ("int", int) else float
        value = typed({**DEFAULTS["limits"], **section}, "limits", name, cast)
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
    hours = typed(merged, "board", "session_hours", float)
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
        engine=typed(db, "database", "engine", str).lower(),
        name=typed(db, "database", "name", str),
        user=typed(db, "database", "user", str),
        passwd=str(db.get("passwd") or ""),
        host=typed(db, "database", "host", str),
        port=typed(db, "database", "port", int),
        max_connections=typed(db, "database", "max_connections", int),
        stale_timeout=typed(db, "database", "stale_timeout", int),
        sqlite_path=home / "fate_flow_sqlite.db",
    )
    job_types = {"max_cores_percent_per_job": float, "scheduler_interval": float, "detector_interval": float,
                 "status_pull_after": float, "party_unreachable_after": float}
    federation_engine = typed(raw["default_engines"], "default_engines", "federation", str).lower()
    conf_dir = (config_path or REPO_CONF_DIR / "service_conf.yaml").resolve().parent
    rabbitmq = rabbitmq_settings(raw, conf_dir) if federation_engine == "rabbitmq" else None
    computing_engine = typed(raw["default_engines"], "default_engines", "computing", str).lower()
    if computing_engine not in COMPUTING_ENGINES:
        raise SettingsError(f"setting default_engines.computing must be one of {', '.join(COMPUTING_ENGINES)}, "
                            f"got {computing_engine!r}")
    spark = spark_settings(raw) if computing_engine == "spark" else None
    settings = Settings(
        home=home,
        party_id=str(raw["party_id"]),
        host=typed(flow, "fateflow", "host", str),
        http_port=typed(flow, "fateflow", "http_port", int),
        grpc_port=typed(flow, "fateflow", "grpc_port", int),
        http_threads=typed(flow, "fateflow", "http_threads", int),
        executor_fork_server=bool(flow.get("executor_fork_server", True)),
        database=database,
        job=JobDefaults(**{k: typed(job, "job_default", k, job_types.get(k, int))
                           for k in JobDefaults.__dataclass_fields__}),
        computing_engine=computing_engine,
        federation_engine=federation_engine,
        total_cores=spark.cores if spark else typed(standalone, "fate_on_standalone.standalone", "cores_per_node", int)
        * typed(standalone, "fate_on_standalone.standalone", "nodes", int),
        federation=_federation(raw, home, str(raw["party_id"]), federation_engine),
        fateboard_host=typed(raw["fateboard"], "fateboard", "host", str),
        fateboard_port=typed(raw["fateboard"], "fateboard", "port", int),
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
