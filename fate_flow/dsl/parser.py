"""parse_job and the per-party views of a parsed job (parameters, need_run, the DAG dependency document)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from fate_flow.dsl import conf as conf_rules
from fate_flow.dsl import v1
from fate_flow.dsl.graph import Graph, is_pipeline_ref, parse_graph, topological_order
from fate_flow.dsl.spec import DSLComponent, DSLError, JobSpec, as_dict, component_error, conf_error

# FATE's component-constraint check: these modules need hosts == the guest/arbiter overlap when there is one.
GLM_MODULES = ("heterolr", "heterolinr", "heteropoisson")


def parse_job(dsl: dict, conf: dict, has_module: Callable[[str], bool] | None = None, *,
              refuse_v1_train: bool = False, check_glm_roles: bool = False) -> JobSpec:
    """Validate a job's DSL and runtime conf the way FATE does at submit and return the parsed job.

    ``has_module(module)`` is asked for every component (None accepts all). A v1 conf (no ``dsl_version``
    or 1) is converted to v2; FATE 1.11 refuses v1 *training* jobs, which ``JobSpec.refuse_reason``
    reports - or pass ``refuse_v1_train=True`` to get that as a DSLError right away.

    FATE also refuses HeteroLR/HeteroLinR/HeteroPoisson jobs whose guest and arbiter share a party that is
    not exactly the host set; two examples shipped with FATE (scorecard, multi_model_pipeline) break that
    rule, so it is only enforced with ``check_glm_roles=True`` (see also ``glm_role_conflict``).
    """
    if not isinstance(conf, dict):
        raise DSLError("conf: must be a JSON object", field="conf")
    version = _conf_version(conf)
    if version == 2:
        conf_rules.check_top_level(conf)
    if version == 1:
        dsl, readers = v1.convert_dsl(dsl)
        conf = v1.convert_conf(conf, readers)
    roles = conf_rules.parse_roles(conf)
    initiator = conf_rules.parse_initiator(conf, roles)
    job_type = conf_rules.job_type(conf)
    if refuse_v1_train and version != 2 and job_type != "predict":
        raise DSLError("conf: dsl_version: only the v2 version runtime conf is supported for training jobs",
                       field="dsl_version")
    graph = parse_graph(dsl, predict=job_type == "predict")
    order = topological_order(graph.components, graph.edges)
    _check_modules(graph, has_module)
    if check_glm_roles:
        conflict = _glm_role_conflict(graph.components, roles)
        if conflict:
            raise conflict
    warnings = list(graph.warnings)
    conf_rules.validate_party_sections(conf, roles, set(graph.components), warnings)
    spec = JobSpec(dsl=copy.deepcopy(dsl), conf=conf_rules.normalized_conf(conf, roles, initiator),
                   dsl_version=version, initiator_role=initiator[0], initiator_party_id=initiator[1], roles=roles,
                   components={name: graph.components[name] for name in order}, job_type=job_type,
                   warnings=warnings)
    for name, component in spec.components.items():
        component.need_run = _need_run(spec, name, lambda cpn: _common_parameters(spec, cpn))
    return spec


def _conf_version(conf: dict) -> int:
    # FATE reads a conf without dsl_version as v1; Flow's own examples write "2" as a string.
    value = conf.get("dsl_version", 1)
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise conf_error("dsl_version", f"{value!r} must be 1 or 2") from None
    if version not in (1, 2):
        raise conf_error("dsl_version", f"{value!r} must be 1 or 2")
    return version


def _check_modules(graph: Graph, has_module: Callable[[str], bool] | None) -> None:
    if has_module is None:
        return
    for name, component in graph.components.items():
        if not has_module(component.module):
            raise component_error(name, "module", f"{component.module!r} is not provided by this server")


def glm_role_conflict(spec: JobSpec) -> DSLError | None:
    """FATE's GLM role constraint as an error (not raised), or None when the job satisfies it."""
    return _glm_role_conflict(spec.components, spec.roles)


def _glm_role_conflict(components: dict[str, DSLComponent], roles: dict[str, list[str]]) -> DSLError | None:
    """With guest, host and arbiter, a party that is both guest and arbiter must be the (only) host set."""
    if not all(role in roles for role in ("guest", "host", "arbiter")):
        return None
    overlap = set(roles["guest"]) & set(roles["arbiter"])
    if not overlap or (overlap <= set(roles["host"]) and len(overlap) == len(roles["host"])):
        return None
    for name, component in components.items():
        if component.module.lower() in GLM_MODULES:
            return component_error(name, "module", f"{component.module} needs the hosts to be exactly the parties "
                                                   f"that are both guest and arbiter; role is {roles}")
    return None


def _common_parameters(spec: JobSpec, component: str) -> dict:
    common = as_dict(as_dict(spec.conf.get("component_parameters")).get("common"))
    return as_dict(common.get(_parameter_source(spec, component)))


def _train_input_model(spec: JobSpec, component: str) -> str | None:
    """The component whose model (or cache) this one loads, as FATE picks it: the last model/cache reference."""
    inputs = spec.dsl["components"][component].get("input") or {}
    keys = ("cache",) if spec.job_type == "predict" else ("model", "cache")
    last = None
    for key in keys:
        for ref in inputs.get(key) or []:
            if not is_pipeline_ref(ref):
                last = ref.split(".", 1)[0]
    return last


def _is_warm_start(spec: JobSpec, component: str) -> bool:
    inputs = spec.dsl["components"][component].get("input") or {}
    return "train_data" in (inputs.get("data") or {}) and "model" in inputs


def _parameter_source(spec: JobSpec, component: str) -> str:
    """Whose parameters a component runs with.

    FATE gives a component that loads the model of a component of the same module (e.g. a second
    HeteroLR predicting with hetero_lr_0's model) that component's parameters, unless it warm-starts
    (has both train_data and a model input) - then its own parameters apply.
    """
    current, seen = component, {component}
    module = spec.components[component].module
    while True:
        upstream = _train_input_model(spec, current)
        if upstream is None or upstream in seen or _is_warm_start(spec, current):
            return current
        if spec.components[upstream].module != module:
            return current
        current = upstream
        seen.add(current)


def _need_run(spec: JobSpec, component: str, parameters: Callable[[str], dict]) -> bool:
    """need_run defaults to true; a component loading another's model/cache follows that component."""
    upstream = _train_input_model(spec, component)
    if upstream is not None and upstream != component:
        return _need_run(spec, upstream, parameters)
    return parameters(component).get("need_run", True) is not False


def party_job_parameters(spec: JobSpec, role: str, party_id: str) -> dict:
    """``job_parameters.common`` with every matching ``job_parameters.role.<role>`` entry merged on top."""
    index = conf_rules.party_index(spec.roles, role, party_id)
    return conf_rules.resolve_job_parameters(spec.conf, role, index)


def party_component_parameters(spec: JobSpec, role: str, party_id: str) -> dict[str, dict]:
    """Every component's user-given parameters for one party: common, then each matching "all"/"i"/"i|j"
    entry of ``component_parameters.role.<role>`` in the conf's order (later ones win), deep-merged.

    Module defaults are not applied (they belong to the component provider).
    """
    index = conf_rules.party_index(spec.roles, role, party_id)
    return {name: conf_rules.resolve_component_parameters(spec.conf, _parameter_source(spec, name), role, index)
            for name in spec.components}


def party_need_run(spec: JobSpec, role: str, party_id: str) -> dict[str, bool]:
    """Whether each component runs at this party: its ``need_run`` there, or that of the component whose
    model or cache it loads."""
    parameters = party_component_parameters(spec, role, party_id)
    return {name: _need_run(spec, name, lambda cpn: parameters[cpn]) for name in spec.components}


def dag_dependencies(spec: JobSpec, role: str | None = None, party_id: str | None = None) -> dict:
    """The ``pipeline/dag/dependency`` document. ``component_need_run`` is the party's when one is given."""
    if role is not None and party_id is not None:
        need_run = party_need_run(spec, role, party_id)
    else:
        need_run = {name: component.need_run for name, component in spec.components.items()}
    dependencies = {}
    for name, component in spec.components.items():
        entries = _dependency_entries(spec, component)
        if entries:
            dependencies[name] = entries
    return {
        "component_list": list(spec.components),
        "dependencies": dependencies,
        "component_module": {name: component.module for name, component in spec.components.items()},
        "component_need_run": need_run,
    }


def _dependency_entries(spec: JobSpec, component: DSLComponent) -> list[dict]:
    entries = []
    for data_key, refs in component.data_inputs.items():
        # The Board only knows these two names; FATE reports every other data key as validate_data.
        kind = data_key if data_key in ("data", "train_data") else "validate_data"
        for ref in refs:
            entries.append(_dependency(spec, ref, kind, "data"))
    inputs = spec.dsl["components"][component.name].get("input") or {}
    for key, output_kind in (("model", "model"), ("isometric_model", "model"), ("cache", "cache")):
        for ref in inputs.get(key) or []:
            if is_pipeline_ref(ref) or ref.split(".", 1)[0] not in spec.components:
                continue
            entries.append(_dependency(spec, ref, output_kind, output_kind))
    return entries


def _dependency(spec: JobSpec, ref: str, kind: str, output_kind: str) -> dict:
    upstream, output_name = ref.split(".", 1)
    outputs = {"data": spec.components[upstream].data_outputs, "model": spec.components[upstream].model_outputs,
               "cache": spec.components[upstream].cache_outputs}[output_kind]
    position = outputs.index(output_name) if output_name in outputs else 0
    return {"component_name": upstream, "type": kind, "up_output_info": [output_kind, position]}
