"""The submit check of a job's components against their specs: each module provided, run by some role
of the job, given only inputs it takes, with a stage it has, and valid parameters at every party that
runs it. Errors are the DSL's (retcode 103), naming the component and the field."""

from __future__ import annotations

from collections.abc import Iterable

from fate_flow import dsl as dsl_parser
from fate_flow.dsl import DSLComponent, DSLError, JobSpec
from fate_flow.errors import ParamError
from fate_flow.framework.registry import Registry
from fate_flow.framework.spec import ComponentSpec, stage_of


def _error(name: str, field: str, problem: str) -> DSLError:
    return DSLError(f"component {name}: {field} {problem}", component=name, field=field)


def _check_inputs(name: str, component: DSLComponent, spec: ComponentSpec, job_type: str) -> None:
    declared = spec.inputs.data
    for key in component.data_inputs:
        if declared and key not in declared:
            raise _error(name, f"input.data.{key}",
                         f"is not an input of {spec.module} (it takes {', '.join(declared)})")
    if component.model_inputs and not (spec.inputs.model or spec.inputs.isometric_model):
        raise _error(name, "input.model", f"is not an input of {spec.module}: it loads no model")
    stage = stage_of(job_type, list(component.data_inputs), bool(component.model_inputs))
    if stage not in spec.stages:
        raise _error(name, "input", f"makes {spec.module} run a {stage} stage, which it does not have "
                                    f"(only {', '.join(spec.stages)})")


def check_components(job: JobSpec, registry: Registry, parties: Iterable[tuple[str, str]] | None = None) -> None:
    """Raise DSLError for the first component the job cannot run; ``parties`` limits the parameter
    check to those (role, party id) pairs (a party checks only its own at create)."""
    chosen = None if parties is None else {(role, str(p)) for role, p in parties}
    for name, component in job.components.items():
        spec = registry.find(component.module)
        if spec is None:
            raise _error(name, "module", f"{component.module!r} is not provided by this server")
        if not set(spec.roles) & set(job.roles):
            raise _error(name, "module", f"{spec.module} runs at {', '.join(spec.roles)}; the job has none of them")
        _check_inputs(name, component, spec, job.job_type)
    for role, party_ids in job.roles.items():
        for party_id in party_ids:
            if chosen is None or (role, party_id) in chosen:
                _check_party_parameters(job, registry, role, party_id)


def _check_party_parameters(job: JobSpec, registry: Registry, role: str, party_id: str) -> None:
    parameters = dsl_parser.party_component_parameters(job, role, party_id)
    need_run = dsl_parser.party_need_run(job, role, party_id)
    for name, component in job.components.items():
        spec = registry.get(component.module)
        if not spec.runs_at(role) or not need_run.get(name, True):
            continue
        try:
            spec.parse_params(parameters.get(name, {}))
        except ParamError as exc:
            raise _error(name, f"parameter {exc.field}", f"({role} {party_id}): {exc.problem}") from None
