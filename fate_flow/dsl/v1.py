"""DSL/conf v1 -> v2 conversion.

v1 DSLs read their top inputs from ``args.<data_key>`` and v1 confs give per-party values as lists
(``role_parameters.<role>.<cpn>.<param>: [party0, party1 ...]``). The v2 form gets one generated
Reader per ``args`` key and per-index ``component_parameters.role`` entries.
"""

from __future__ import annotations

import copy

from fate_flow.dsl.spec import DSLError, as_dict, conf_error

ARGS = "args"
V1_ONLY_KEYS = ("algorithm_parameters", "role_parameters", "job_parameters")


def convert_dsl(dsl: dict) -> tuple[dict, dict[str, str]]:
    """The v2 DSL and the generated reader name of each ``args`` data key."""
    if not isinstance(dsl, dict) or not isinstance(dsl.get("components"), dict):
        raise DSLError("dsl: components must be an object of component name -> definition", field="components")
    converted = copy.deepcopy(dsl)
    readers: dict[str, str] = {}
    taken = set(dsl["components"])
    for body in converted["components"].values():
        data = as_dict(as_dict(as_dict(body).get("input")).get("data"))
        for key, refs in data.items():
            if isinstance(refs, list):
                data[key] = [_reader_ref(ref, readers, taken) for ref in refs]
    for data_key, reader in readers.items():
        converted["components"][reader] = {"module": "Reader", "output": {"data": [data_key]}}
    return converted, readers


def _reader_ref(ref: object, readers: dict[str, str], taken: set[str]) -> object:
    if not isinstance(ref, str) or not ref.startswith(ARGS + "."):
        return ref
    data_key = ref.split(".", 1)[1]
    if data_key not in readers:
        readers[data_key] = _free_name(f"reader_{len(readers)}", taken)
        taken.add(readers[data_key])
    return f"{readers[data_key]}.{data_key}"


def _free_name(name: str, taken: set[str]) -> str:
    # FATE names them reader_N without looking; a v1 DSL that already has a reader_0 must not be clobbered.
    candidate, suffix = name, 0
    while candidate in taken:
        suffix += 1
        candidate = f"{name}_{suffix}"
    return candidate


def convert_conf(conf: dict, readers: dict[str, str]) -> dict:
    """The v2 runtime conf of a v1 one (``dsl_version`` becomes 2)."""
    if not isinstance(conf, dict):
        raise DSLError("conf: must be a JSON object", field="conf")
    converted = {key: copy.deepcopy(value) for key, value in conf.items() if key not in V1_ONLY_KEYS}
    converted["job_parameters"] = {"common": copy.deepcopy(as_dict(conf.get("job_parameters")))}
    party_counts = {role: len(parties) for role, parties in as_dict(conf.get("role")).items()
                    if isinstance(parties, list)}
    by_role = _role_parameters(as_dict(conf.get("role_parameters")), readers, party_counts)
    common = as_dict(conf.get("algorithm_parameters"))
    if common or by_role:
        converted["component_parameters"] = {}
        if common:
            converted["component_parameters"]["common"] = copy.deepcopy(common)
        if by_role:
            converted["component_parameters"]["role"] = by_role
    converted["dsl_version"] = 2
    return converted


def _role_parameters(role_parameters: dict, readers: dict[str, str], party_counts: dict[str, int]) -> dict:
    by_role: dict[str, dict[str, dict]] = {}
    for role, per_component in role_parameters.items():
        count = party_counts.get(role)
        if count is None or not isinstance(per_component, dict):
            continue
        per_index: dict[str, dict] = {str(index): {} for index in range(count)}
        for component, params in per_component.items():
            if component == ARGS:
                _reader_tables(role, as_dict(as_dict(params).get("data")), readers, count, per_index)
            elif isinstance(params, dict):
                for index in range(count):
                    field_name = f"role_parameters.{role}.{component}"
                    per_index[str(index)][component] = _pick_party(params, index, count, field_name)
        by_role[role] = {index: cpns for index, cpns in per_index.items() if cpns}
    return {role: value for role, value in by_role.items() if value}


def _reader_tables(role: str, data: dict, readers: dict[str, str], count: int, per_index: dict[str, dict]) -> None:
    for data_key, tables in data.items():
        if data_key not in readers:
            continue  # the dsl never reads it
        if not isinstance(tables, list) or len(tables) != count:
            raise conf_error(f"role_parameters.{role}.args.data.{data_key}",
                             f"must list one table per {role} party ({count})")
        for index, table in enumerate(tables):
            per_index[str(index)][readers[data_key]] = {"table": copy.deepcopy(table)}


def _pick_party(params: dict, index: int, count: int, field_name: str) -> dict:
    """Party ``index``'s value of each parameter: v1 lists one value per party; nested objects recurse.

    FATE knows from the parameter classes which keys are nested parameter objects; without them, a dict
    is taken to be nested and a scalar to be the same for every party.
    """
    picked: dict = {}
    for key, value in params.items():
        if isinstance(value, dict):
            picked[key] = _pick_party(value, index, count, f"{field_name}.{key}")
        elif isinstance(value, list):
            if len(value) != count:
                raise conf_error(f"{field_name}.{key}", f"must list one value per party ({count}), got {len(value)}")
            picked[key] = copy.deepcopy(value[index])
        else:
            picked[key] = copy.deepcopy(value)
    return picked
