"""What the suites need from the server: the modules each suite's DSLs use, and for each module the
parameters the confs set (with their values where those are names or flags), the DSL inputs and outputs,
and the job parameters. ``python -m tests.testsuites needs [FOLDER ...]`` prints it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.testsuites.suite import SuiteJob, Testsuite

MAX_VALUES = 6  # distinct values shown per parameter


@dataclass
class ModuleUse:
    """How the suites use one module."""

    suites: set[str] = field(default_factory=set)
    jobs: int = 0
    params: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # dotted name -> values
    inputs: set[str] = field(default_factory=set)  # DSL input kinds: data.train_data, model, cache ...
    outputs: set[str] = field(default_factory=set)


def component_params(job: SuiteJob) -> dict[str, list[dict[str, Any]]]:
    """Component name -> every parameter dict the conf gives it (common, then each role and party index)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    parameters = job.conf.get("component_parameters") or {}
    for name, params in (parameters.get("common") or {}).items():
        found[name].append(params)
    for by_index in (parameters.get("role") or {}).values():
        for by_component in by_index.values():
            for name, params in by_component.items():
                found[name].append(params)
    return found


def _flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value and key not in ("table",):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _shown(value: Any) -> str:
    """A value worth listing (a name, a flag, a small list), or ``""`` for numbers and tables."""
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and len(value) <= 4:
        return "[" + ",".join(value) + "]"
    return ""


def survey(suites: list[Testsuite]) -> tuple[dict[str, list[str]], dict[str, ModuleUse], dict[str, set[str]]]:
    """(suite folder -> modules used, module -> its use, job parameter -> values)."""
    modules_of: dict[str, set[str]] = defaultdict(set)
    uses: dict[str, ModuleUse] = defaultdict(ModuleUse)
    job_parameters: dict[str, set[str]] = defaultdict(set)
    for suite in suites:
        for job in suite.jobs.values():
            modules = job.modules()
            modules_of[suite.folder].update(modules.values())
            for name, module in modules.items():
                use = uses[module]
                use.suites.add(suite.folder)
                use.jobs += 1
                spec = (job.dsl or {})["components"][name]
                for kind, value in (spec.get("input") or {}).items():
                    use.inputs.update(f"data.{k}" for k in value) if kind == "data" else use.inputs.add(kind)
                for kind, value in (spec.get("output") or {}).items():
                    use.outputs.update(f"{kind}.{v}" for v in value)
            for name, param_dicts in component_params(job).items():
                module = modules.get(name)
                if module is None:
                    continue  # parameters of a component the DSL lacks (the server warns and drops them)
                for params in param_dicts:
                    for key, value in _flatten(params).items():
                        uses[module].params[key].add(_shown(value))
            for key, value in _flatten((job.conf.get("job_parameters") or {}).get("common") or {}).items():
                job_parameters[key].add(_shown(value))
    return {k: sorted(v) for k, v in modules_of.items()}, dict(uses), dict(job_parameters)


def _values(values: set[str]) -> str:
    named = sorted(v for v in values if v)
    if not named:
        return ""
    more = f",+{len(named) - MAX_VALUES}" if len(named) > MAX_VALUES else ""
    return "=" + "|".join(named[:MAX_VALUES]) + more


def report(suites: list[Testsuite]) -> str:
    """The survey as text: modules per suite, then each module's parameters, inputs and outputs."""
    modules_of, uses, job_parameters = survey(suites)
    lines = ["# modules per suite (jobs: with deps = predict jobs on a trained model)"]
    for suite in suites:
        predict = sum(1 for job in suite.jobs.values() if job.model_deps)
        lines.append(f"{suite.folder:28} jobs {len(suite.jobs):2} (deps {predict}): "
                     + ", ".join(modules_of.get(suite.folder, [])))
    lines.append("\n# per module: suites, parameters set in the confs (values when names/flags), DSL inputs/outputs")
    for module in sorted(uses):
        use = uses[module]
        lines.append(f"{module} ({use.jobs} uses in {', '.join(sorted(use.suites))})")
        lines.append("  in: " + ", ".join(sorted(use.inputs)) + " | out: " + ", ".join(sorted(use.outputs)))
        if use.params:
            lines.append("  params: " + "; ".join(f"{k}{_values(v)}" for k, v in sorted(use.params.items())))
    common = "; ".join(f"{k}{_values(v)}" for k, v in sorted(job_parameters.items()))
    lines.append("\n# job_parameters.common: " + common)
    return "\n".join(lines)
