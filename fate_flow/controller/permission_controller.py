"""What a partner party may make this party do (FATE's permission model): checked when a job that
another party initiated is created or changed here, managed by ``flow privilege grant|delete|query``.

What this party granted a partner is stored per kind in ``t_party_permission``:

- ``role``: the roles this party agrees to play in that partner's jobs. None stored: every role.
- ``component``: the modules that partner may run here (lower-case module names, or ``*``). None stored:
  every component; once some are stored, only those.
- ``dataset``: the tables (``namespace/name``) its components may read here by name, or ``*``. None stored:
  none (a partner reads nothing until this party grants it).

Whatever is granted, a partner never makes this party run a component that would write a named table or a
file on this server, or read a server file (Upload, Download, Writer): decided from the hooks of the
component's typed parameters (``table_written``, ``file_written``, ``file_read``), never from its name.
Jobs this server's own party initiates (every job in standalone mode) are not checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fate_flow import dsl as dsl_parser
from fate_flow.db.connection import write_transaction
from fate_flow.db.models import PartyPermission
from fate_flow.entity.keys import JobKey
from fate_flow.entity.table_meta import TableRef
from fate_flow.errors import ArgumentError, PermissionDeniedError, require
from fate_flow.framework.params import Params
from fate_flow.framework.registry import Registry
from fate_flow.framework.spec import ComponentSpec
from fate_flow.log import audit_logger
from fate_flow.runtime import Runtime
from fate_flow.utils.paths import check_name

COMPONENT, DATASET, ROLE = "component", "dataset", "role"
KINDS = (COMPONENT, DATASET, ROLE)
ANY = "*"  # every value of a kind
GRANTABLE_ROLES = ("guest", "host", "arbiter")  # FATE's privilege roles; "local" is always this party
MAX_VALUES = 1000  # names one request may list per kind
MAX_VALUE_CHARS = 400  # t_party_permission.f_value
PARTY_ID = re.compile(r"^[0-9]{1,18}$")


# -- what is granted --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grants:
    """What this party granted one partner, by kind (the stored values)."""

    components: frozenset[str] = frozenset()
    datasets: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    def allows_role(self, role: str) -> bool:
        """Every role until some are granted; then only those (or ``*``)."""
        return not self.roles or ANY in self.roles or role in self.roles

    def allows_component(self, spec: ComponentSpec) -> bool:
        """Every component until some are granted; then only those (or ``*``), by module name or alias in
        any case (FATE's ``dataio`` is DataTransform)."""
        if not self.components or ANY in self.components:
            return True
        return any(name.lower() in self.components for name in spec.names)

    def allows_table(self, table: TableRef) -> bool:
        """No table until granted: only the granted ones (or ``*``)."""
        return ANY in self.datasets or dataset_value(table.namespace, table.name) in self.datasets


def dataset_value(namespace: str, name: str) -> str:
    """How a granted table is stored: ``namespace/name`` (names hold no '/')."""
    return f"{namespace}/{name}"


def dataset_dict(value: str) -> dict[str, str]:
    """A stored table as the API shows it: ``{"namespace": ..., "name": ...}``."""
    namespace, _, name = value.partition("/")
    return {"namespace": namespace, "name": name}


def load_grants(party_id: str) -> Grants:
    """What this party granted ``party_id`` (nothing stored: the defaults)."""
    values: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for row in PartyPermission.select().where(PartyPermission.f_party_id == party_id):
        values.setdefault(row.f_kind, set()).add(row.f_value)
    return Grants(frozenset(values[COMPONENT]), frozenset(values[DATASET]), frozenset(values[ROLE]))


# -- the check of a partner's job ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunHere:
    """A component of the job that runs at this party, with this party's typed parameters."""

    name: str
    spec: ComponentSpec
    params: Params


@dataclass(frozen=True)
class Refusal:
    """One thing the partner may not make this party do; ``grant`` is what a grant would add (None when no
    grant can allow it)."""

    reason: str
    grant: tuple[str, str] | None = None  # (kind, value)


def local_access(params: Params) -> str | None:
    """What a component would do with this party's named tables or server files, as its parameters' hooks say
    (None: nothing). Only this party's own jobs may do that."""
    table, written, read = params.table_written(), params.file_written(), params.file_read()
    if table is not None:
        return f"write table {table}"
    if written is not None:
        return f"write the file {written}"
    if read is not None:
        return f"read the file {read}"
    return None


def refusals(grants: Grants, role: str, runs: list[RunHere]) -> list[Refusal]:
    """Everything in ``runs`` (the components that run at this party, playing ``role``) that ``grants`` does not
    allow: the role, data-access components (never), components not granted, tables read and not granted."""
    found: list[Refusal] = []
    if not grants.allows_role(role):
        found.append(Refusal(f"play {role} (it agreed to play only {', '.join(sorted(grants.roles))})", (ROLE, role)))
    for run in runs:
        what = f"component {run.name} ({run.spec.module})"
        access = local_access(run.params)
        if access is not None:
            found.append(Refusal(f"run {what}: it would {access} here, which only this party's own jobs may do, "
                                 "whatever is granted"))
            continue
        if not grants.allows_component(run.spec):
            granted = ", ".join(sorted(grants.components))
            found.append(Refusal(f"run {what}: not among the components granted ({granted})",
                                 (COMPONENT, run.spec.module.lower())))
        for table in run.params.tables_read().values():
            if not grants.allows_table(table):
                found.append(Refusal(f"read table {table} in {what}: not granted",
                                     (DATASET, dataset_value(table.namespace, table.name))))
    return found


def refusal_message(partner: str, key: JobKey, found: list[Refusal]) -> str:
    """The partner, what it may not do here and, when a grant can allow it, the grant that would."""
    here = f"{key.role} {key.party_id}"
    message = f"permission denied: party {partner} may not make {here} " + "; ".join(r.reason for r in found)
    grantable = [r.grant for r in found if r.grant is not None]
    if grantable:
        conf: dict[str, Any] = {"party_id": int(partner) if partner.isdigit() else partner}
        for kind in KINDS:
            values = list(dict.fromkeys(value for k, value in grantable if k == kind))
            if kind == DATASET and values:
                conf[kind] = [dataset_dict(value) for value in values]
            elif values:
                conf[kind] = ",".join(values)
        message += (f". To allow it, run at party {key.party_id}: flow privilege grant -c conf.json "
                    f"(conf.json: {json.dumps(conf)})")
    return message


def components_run_here(rt: Runtime, key: JobKey, spec: dsl_parser.JobSpec) -> list[RunHere]:
    """The job's components that run at this party (its spec runs at this role and need_run holds here), with
    this party's typed parameters (checked already when the job was parsed)."""
    parameters = dsl_parser.party_component_parameters(spec, key.role, key.party_id)
    need_run = dsl_parser.party_need_run(spec, key.role, key.party_id)
    runs = []
    for name, component in spec.components.items():
        component_spec = rt.registry.find(component.module)
        if component_spec is None or not component_spec.runs_at(key.role) or not need_run.get(name, True):
            continue
        runs.append(RunHere(name, component_spec, component_spec.parse_params(parameters.get(name))))
    return runs


def check_partner_job(rt: Runtime, key: JobKey, spec: dsl_parser.JobSpec) -> None:
    """Refuse (PermissionDeniedError, 108) a job initiated by another party that would run, at this party,
    a component or read a table this party has not granted to the initiator."""
    # the access gate admits a create only from the party its conf names as initiator: that party's grants apply
    if rt.is_local_party(spec.initiator_role, spec.initiator_party_id):
        return  # this party's own job (every job in standalone mode)
    partner = spec.initiator_party_id
    found = refusals(load_grants(partner), key.role, components_run_here(rt, key, spec))
    if found:
        message = refusal_message(partner, key, found)
        audit_logger(key.job_id).warning("job %s refused: %s", key.job_id, message)
        raise PermissionDeniedError(message)


# -- grant, delete, query -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PermissionRequest:
    """A validated grant or delete: the partner and, per kind given, the values (``("*",)``: every value)."""

    party_id: str
    values: dict[str, tuple[str, ...]]


def parse_party_id(value: Any) -> str:
    """A party id as the canonical decimal string; ArgumentError (101) unless a non-negative integer."""
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not PARTY_ID.match(text):
        raise ArgumentError(f"party_id must be an integer party id, got {value!r}")
    return str(int(text))


def _names(field: str, value: Any, what: str) -> list[str]:
    """A comma-separated string or a list of strings, each stripped; bounded."""
    if isinstance(value, str):
        names = [name.strip() for name in value.split(",")]
    elif isinstance(value, list) and all(isinstance(name, str) for name in value):
        names = [name.strip() for name in value]
    else:
        raise ArgumentError(f"{field} must be \"*\" or {what} as a comma-separated string or a list of strings, "
                            f"got {value!r}")
    if not names:
        raise ArgumentError(f"{field} lists no {what}")
    if len(names) > MAX_VALUES:
        raise ArgumentError(f"{field} lists {len(names)} names: at most {MAX_VALUES} in one request")
    return names


def _component_index(registry: Registry) -> dict[str, ComponentSpec]:
    """Every module name and alias, lower case, to its spec."""
    return {name.lower(): spec for spec in registry.specs() for name in spec.names}


def parse_components(registry: Registry, value: Any, known_only: bool) -> tuple[str, ...]:
    """Component names as stored: each module's lower-case name (an alias counts as its module), or ``*``.
    A grant names only components this server provides; a delete may name any (a component since removed)."""
    names = _names(COMPONENT, value, "component names")
    if ANY in names:
        return (ANY,)
    index = _component_index(registry)
    stored = []
    for position, name in enumerate(names):
        check_name(f"{COMPONENT}[{position}]", name)
        spec = index.get(name.lower())
        if spec is None and known_only:
            raise ArgumentError(f"component {name!r} is not provided by this server (provided: "
                                f"{', '.join(sorted(s.module.lower() for s in registry.specs()))})")
        stored.append(spec.module.lower() if spec is not None else name.lower())
    return tuple(dict.fromkeys(stored))


def parse_datasets(value: Any) -> tuple[str, ...]:
    """Tables as stored (``namespace/name``), or ``*``: from ``"*"``, one ``{namespace, name}`` or a list of them."""
    if value == ANY:
        return (ANY,)
    tables = [value] if isinstance(value, dict) else value
    if not isinstance(tables, list):
        raise ArgumentError(f"dataset must be \"*\" or a list of {{\"namespace\": ..., \"name\": ...}}, got {value!r}")
    if not tables:
        raise ArgumentError("dataset lists no table")
    if len(tables) > MAX_VALUES:
        raise ArgumentError(f"dataset lists {len(tables)} tables: at most {MAX_VALUES} in one request")
    stored = []
    for position, table in enumerate(tables):
        field = f"{DATASET}[{position}]"
        if not isinstance(table, dict) or set(table) != {"namespace", "name"}:
            raise ArgumentError(f"{field} must be {{\"namespace\": ..., \"name\": ...}} and nothing else, "
                                f"got {table!r}")
        for part in ("namespace", "name"):
            if not isinstance(table[part], str):
                raise ArgumentError(f"{field}.{part} must be a string, got {table[part]!r}")
        namespace = check_name(f"{field}.namespace", table["namespace"])
        name = check_name(f"{field}.name", table["name"])
        stored_value = dataset_value(namespace, name)
        if len(stored_value) > MAX_VALUE_CHARS:
            raise ArgumentError(f"{field}: namespace and name together must stay under {MAX_VALUE_CHARS} characters")
        stored.append(stored_value)
    return tuple(dict.fromkeys(stored))


def parse_roles(value: Any) -> tuple[str, ...]:
    """Roles as stored (guest, host, arbiter), or ``*``."""
    names = _names(ROLE, value, "roles")
    if ANY in names:
        return (ANY,)
    roles = [name.lower() for name in names]
    unknown = [name for name in roles if name not in GRANTABLE_ROLES]
    if unknown:
        raise ArgumentError(f"role {unknown[0]!r} is not a role a partner may ask this party to play: use "
                            f"{', '.join(GRANTABLE_ROLES)} or \"*\"")
    return tuple(dict.fromkeys(roles))


def parse_request(registry: Registry, body: dict, for_delete: bool = False) -> PermissionRequest:
    """A grant's or delete's body (``party_id`` and at least one of ``component``, ``dataset``, ``role``);
    ArgumentError (101) naming the bad field. Unknown keys (the CLI's ``conf_path``) are ignored."""
    require(body, "party_id")
    party_id = parse_party_id(body["party_id"])
    values: dict[str, tuple[str, ...]] = {}
    if body.get(COMPONENT) not in (None, ""):
        values[COMPONENT] = parse_components(registry, body[COMPONENT], known_only=not for_delete)
    if body.get(DATASET) not in (None, ""):
        values[DATASET] = parse_datasets(body[DATASET])
    if body.get(ROLE) not in (None, ""):
        values[ROLE] = parse_roles(body[ROLE])
    if not values:
        raise ArgumentError("required argument are missing: component, dataset or role; ")
    return PermissionRequest(party_id, values)


def grant(rt: Runtime, body: dict) -> dict:
    """Store what the request grants (idempotent: a value granted twice is stored once); the partner's grants."""
    request = parse_request(rt.registry, body)
    with write_transaction():
        for kind, values in request.values.items():
            for value in values:
                PartyPermission.insert_row(f_party_id=request.party_id, f_kind=kind, f_value=value) \
                    .on_conflict_ignore().execute()
    audit_logger("").info("permission granted to party %s: %s", request.party_id, json.dumps(request.values))
    return query(request.party_id)


def delete(rt: Runtime, body: dict) -> dict:
    """Remove what the request names (``*``: every value of that kind); the partner's grants left."""
    request = parse_request(rt.registry, body, for_delete=True)
    with write_transaction():
        for kind, values in request.values.items():
            rows = (PartyPermission.f_party_id == request.party_id) & (PartyPermission.f_kind == kind)
            if ANY not in values:
                rows &= PartyPermission.f_value.in_(list(values))
            PartyPermission.delete().where(rows).execute()
    audit_logger("").info("permission deleted from party %s: %s", request.party_id, json.dumps(request.values))
    return query(request.party_id)


def query_request(body: dict) -> dict:
    """``permission/query``'s body (``party_id``) answered: what this party granted that partner."""
    require(body, "party_id")
    return query(parse_party_id(body["party_id"]))


def query(party_id: str) -> dict:
    """FATE's shape: ``component`` names, ``dataset`` as ``{name, namespace}`` (``"*"`` for every one), and the
    ``role``s granted (empty lists: the defaults)."""
    grants = load_grants(party_id)
    datasets: list[Any] = [ANY] if ANY in grants.datasets else []
    datasets += [dataset_dict(value) for value in sorted(grants.datasets - {ANY})]
    return {COMPONENT: sorted(grants.components), DATASET: datasets, ROLE: sorted(grants.roles)}
