"""Runtime conf v2: roles, initiator, party-index keys, and per-party resolution of parameters."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator

from fate_flow.dsl.spec import DSLError, as_dict, component_error, conf_error, deep_merge

# "0", "1", "0|1" ... ; "all" is handled apart. Anything else is not a party selector and FATE never matches it.
PARTY_INDEX = re.compile(r"^\d+(\|\d+)*$")
JOB_TYPES = ("train", "predict")
ROLES = ("guest", "host", "arbiter", "local")
# the top-level keys of a v2 runtime conf (FATE's, and what fate-client's pipeline SDK sends)
CONF_KEYS = ("dsl_version", "initiator", "role", "job_parameters", "component_parameters", "provider", "conf_version",
             "conf_path", "dsl_path", "local")  # the last three: added by fate-client's `flow job submit`
# FATE's RunParameters (job_parameters.common / job_parameters.role.<role>.<index>), and the two it ignores
JOB_PARAMETERS = frozenset({
    "job_type", "inheritance_info", "computing_engine", "federation_engine", "storage_engine", "engines_address",
    "federated_mode", "federation_info", "task_cores", "task_parallelism", "computing_partitions",
    "federated_status_collect_type", "federated_data_exchange_type", "model_id", "model_version", "dsl_version",
    "auto_retries", "auto_retry_delay", "timeout", "eggroll_run", "spark_run", "rabbitmq_run", "pulsar_run",
    "adaptation_parameters", "assistant_role", "map_table_name", "map_namespace", "task_conf", "roles",
    "role_parameters", "backend", "work_mode", "user", "task_memory", "task_nodes", "engine_conf", "component_provider",
})
# integer job parameters and their ranges: a negative task_cores would add cores to the pool
JOB_PARAMETER_RANGES = {"task_cores": (1, 1024), "task_parallelism": (1, 1024), "computing_partitions": (1, 65536),
                        "auto_retries": (0, 100), "auto_retry_delay": (0, 86400), "timeout": (1, 365 * 86400)}


def party_id_str(value: object, field_name: str) -> str:
    """FATE casts party ids to int at submit; we keep them as canonical decimal strings."""
    if isinstance(value, bool):
        raise conf_error(field_name, f"party id {value!r} is not an integer")
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise conf_error(field_name, f"party id {value!r} is not an integer") from None
    if isinstance(value, float) and value != number:
        raise conf_error(field_name, f"party id {value!r} is not an integer")
    return str(number)


def parse_roles(conf: dict) -> dict[str, list[str]]:
    """The conf's ``role`` as role -> party ids (canonical strings); DSLError naming the bad field."""
    roles = conf.get("role")
    if not isinstance(roles, dict) or not roles:
        raise conf_error("role", "is required: an object of role -> list of party ids")
    parsed: dict[str, list[str]] = {}
    for role, parties in roles.items():
        if role not in ROLES:
            raise conf_error(f"role.{role}", f"is not a role: use {', '.join(ROLES)}")
        if not isinstance(parties, list) or not parties:
            raise conf_error(f"role.{role}", "must be a non-empty list of party ids")
        parsed[role] = [party_id_str(party, f"role.{role}[{index}]") for index, party in enumerate(parties)]
    return parsed


def parse_initiator(conf: dict, roles: dict[str, list[str]]) -> tuple[str, str]:
    """The conf's initiator as (role, party id); DSLError unless it is one of the job's parties."""
    initiator = conf.get("initiator")
    if not isinstance(initiator, dict) or "role" not in initiator or "party_id" not in initiator:
        raise conf_error("initiator", "is required: {\"role\": ..., \"party_id\": ...}")
    role = initiator["role"]
    party_id = party_id_str(initiator["party_id"], "initiator.party_id")
    if role not in roles:
        raise conf_error("initiator.role", f"{role!r} is not one of the job's roles {list(roles)}")
    if party_id not in roles[role]:
        raise conf_error("initiator.party_id", f"{party_id} is not a party of role {role} {roles[role]}")
    return role, party_id


def normalized_conf(conf: dict, roles: dict[str, list[str]], initiator: tuple[str, str]) -> dict:
    """A copy with int party ids, as FATE stores the runtime conf after submit."""
    result = copy.deepcopy(conf)
    result["role"] = {role: [int(party) for party in parties] for role, parties in roles.items()}
    result["initiator"] = {**result["initiator"], "role": initiator[0], "party_id": int(initiator[1])}
    return result


def common_job_parameters(conf: dict) -> dict:
    """``job_parameters.common`` ({} when absent); DSLError when a section is not an object."""
    section = conf.get("job_parameters", {})
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise conf_error("job_parameters", "must be an object with 'common' and/or 'role'")
    common = section.get("common", {})
    if common is None:
        common = {}
    if not isinstance(common, dict):
        raise conf_error("job_parameters.common", "must be an object")
    return common


def job_type(conf: dict) -> str:
    """``train`` (the default) or ``predict``, from the common job parameters; DSLError for anything else."""
    value = common_job_parameters(conf).get("job_type", "train") or "train"
    if value not in JOB_TYPES:
        raise conf_error("job_parameters.common.job_type", f"{value!r} must be one of {list(JOB_TYPES)}")
    return value


def check_top_level(conf: dict) -> None:
    """A v2 conf holds FATE's top-level keys only (a misspelt ``component_paramters`` would be ignored)."""
    unknown = [key for key in conf if key not in CONF_KEYS]
    if unknown:
        raise conf_error(str(unknown[0]), f"is not a key of a runtime conf: use {', '.join(CONF_KEYS)}")
    for section in ("job_parameters", "component_parameters"):
        body = conf.get(section)
        if isinstance(body, dict):
            extra = [key for key in body if key not in ("common", "role")]
            if extra:
                raise conf_error(f"{section}.{extra[0]}", "is not allowed: use common and/or role")


def check_job_parameters(values: dict, field_name: str) -> None:
    """FATE's job parameters only, integers in range (``task_cores`` >= 1 ...); DSLError naming the field."""
    for key, value in values.items():
        if key not in JOB_PARAMETERS:
            raise conf_error(f"{field_name}.{key}", "is not a job parameter")
        if key in JOB_PARAMETER_RANGES and value is not None:
            low, high = JOB_PARAMETER_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int) and not (isinstance(value, str)
                                                                              and value.strip().isdigit()):
                raise conf_error(f"{field_name}.{key}", f"must be an integer, got {value!r}")
            if not low <= int(value) <= high:
                raise conf_error(f"{field_name}.{key}", f"must be between {low} and {high}, got {value!r}")


def validate_party_sections(conf: dict, roles: dict[str, list[str]], components: set[str],
                            warnings: list[str]) -> None:
    """Check every per-party section; keys that are not party selectors are ignored (and reported as warnings)."""
    check_job_parameters(common_job_parameters(conf), "job_parameters.common")
    params = conf.get("component_parameters", {}) or {}
    if not isinstance(params, dict):
        raise conf_error("component_parameters", "must be an object with 'common' and/or 'role'")
    _check_component_map(as_dict(params).get("common", {}) or {}, "component_parameters.common", components,
                         warnings, values_are_dicts=True)
    for section in ("job_parameters", "component_parameters", "provider"):
        for field_name, role, key, value in _role_entries(conf, section):
            if not _check_party_key(field_name, role, key, roles, warnings):
                continue
            if section == "job_parameters":
                if not isinstance(value, dict):
                    raise conf_error(field_name, "must be an object of job parameter -> value")
                check_job_parameters(value, field_name)
            else:
                _check_component_map(value, field_name, components, warnings,
                                     values_are_dicts=section == "component_parameters")


def _role_entries(conf: dict, section: str) -> Iterator[tuple[str, str, str, object]]:
    body = conf.get(section)
    if body is None:
        return
    if not isinstance(body, dict):
        raise conf_error(section, "must be an object with 'common' and/or 'role'")
    by_role = body.get("role", {}) or {}
    if not isinstance(by_role, dict):
        raise conf_error(f"{section}.role", "must be an object of role -> party selector -> values")
    for role, by_key in by_role.items():
        if not isinstance(by_key, dict):
            raise conf_error(f"{section}.role.{role}", "must be an object of party selector -> values")
        for key, value in by_key.items():
            yield f"{section}.role.{role}.{key}", role, key, value


def _is_selector(key: str) -> bool:
    return key == "all" or bool(PARTY_INDEX.match(key))


def _check_party_key(field_name: str, role: str, key: str, roles: dict[str, list[str]], warnings: list[str]) -> bool:
    """True when the entry selects parties of a role of this job (and so takes effect)."""
    if not _is_selector(key):
        # e.g. the toy conf's host entry written without an index: FATE never matches it, so it has no effect.
        warnings.append(f"conf: {field_name}: {key!r} is not a party index ('0', '0|1' or 'all'); ignored")
        return False
    if role not in roles:
        warnings.append(f"conf: {field_name}: role {role!r} is not in the job's roles; ignored")
        return False
    if key == "all":
        return True
    count = len(roles[role])
    for index in key.split("|"):
        if int(index) >= count:
            raise conf_error(field_name, f"party index {index} is out of range: role {role} has {count} "
                                         f"part{'y' if count == 1 else 'ies'} (indexes 0..{count - 1})")
    return True


def _check_component_map(value: object, field_name: str, components: set[str], warnings: list[str], *,
                         values_are_dicts: bool) -> None:
    if not isinstance(value, dict):
        raise conf_error(field_name, "must be an object of component name -> parameters")
    for name, params in value.items():
        if name not in components:
            # FATE resolves parameters per DSL component and never looks at these.
            warnings.append(f"conf: {field_name}.{name}: no component {name!r} in the dsl; ignored")
            continue
        if values_are_dicts and not isinstance(params, dict):
            raise component_error(name, f"{field_name}.{name}", "must be an object of parameter -> value")


def _matching(by_key: dict, index: int) -> Iterator[dict]:
    """The values of every selector that picks party ``index``, in the conf's order (later ones win)."""
    for key, value in by_key.items():
        if key == "all" or (PARTY_INDEX.match(key) and str(index) in key.split("|")):
            yield as_dict(value)


def party_index(roles: dict[str, list[str]], role: str, party_id: object) -> int:
    """The party's position among its role's parties, as conf selectors count (the first when listed
    twice); DSLError when it is not a party of that role."""
    if role not in roles:
        raise DSLError(f"conf: role {role!r} is not one of the job's roles {list(roles)}", field="role")
    party = party_id_str(party_id, "party_id")
    if party not in roles[role]:
        raise DSLError(f"conf: party {party} is not a {role} of this job {roles[role]}", field=f"role.{role}")
    # FATE uses the first occurrence when a party id is listed twice.
    return roles[role].index(party)


def resolve_job_parameters(conf: dict, role: str, index: int) -> dict:
    """The job parameters of party ``index`` of ``role``: ``common`` with every matching ``role``
    selector merged on top, in the conf's order."""
    resolved = copy.deepcopy(common_job_parameters(conf))
    by_key = as_dict(as_dict(as_dict(conf.get("job_parameters")).get("role")).get(role))
    for override in _matching(by_key, index):
        resolved = deep_merge(resolved, override)
    return resolved


def resolve_component_parameters(conf: dict, component: str, role: str, index: int) -> dict:
    """A component's parameters at party ``index`` of ``role``: ``common`` with every matching
    ``role`` selector's merged on top, in the conf's order."""
    params = as_dict(conf.get("component_parameters"))
    resolved = copy.deepcopy(as_dict(as_dict(params.get("common")).get(component)))
    by_key = as_dict(as_dict(params.get("role")).get(role))
    for per_party in _matching(by_key, index):
        if component in per_party:
            resolved = deep_merge(resolved, as_dict(per_party[component]))
    return resolved
