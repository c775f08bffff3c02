"""DSL v2 validation and the component graph: shapes, names, references, cycles, topological order."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass

from fate_flow.dsl.spec import (
    CACHE_INPUT_KEYS,
    KNOWN_DATA_KEYS,
    MODEL_INPUT_KEYS,
    OUTPUT_KINDS,
    PREDICT_MODEL_PREFIX,
    DSLComponent,
    DSLError,
    component_error,
)

COMPONENT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Edge:
    """One input reference that makes ``downstream`` wait for ``upstream``; ``field`` says where it was written."""

    downstream: str
    upstream: str
    field: str


@dataclass
class Graph:
    components: dict[str, DSLComponent]  # DSL order
    edges: list[Edge]
    warnings: list[str]


def parse_graph(dsl: dict, *, predict: bool = False) -> Graph:
    """Validate a v2 DSL like FATE's parser does at submit and build the component graph.

    In predict mode (an inference DSL) ``model`` inputs are ``pipeline.<cpn>.<model>`` references to the
    deployed model, so - like FATE - they are neither checked nor edges; only data and cache inputs are.
    """
    bodies = _component_bodies(dsl)
    outputs = {name: _outputs(name, body) for name, body in bodies.items()}
    components: dict[str, DSLComponent] = {}
    edges: list[Edge] = []
    warnings: list[str] = []
    for name, body in bodies.items():
        spec, cpn_edges = _component(name, body, outputs, predict, warnings, _provider(dsl))
        components[name] = spec
        edges.extend(cpn_edges)
    return Graph(components, edges, warnings)


def _component_bodies(dsl: dict) -> dict[str, dict]:
    if not isinstance(dsl, dict) or not dsl:
        raise DSLError("dsl: must be a non-empty JSON object", field="dsl")
    bodies = dsl.get("components")
    if not isinstance(bodies, dict) or not bodies:
        raise DSLError("dsl: components must be a non-empty object of component name -> definition",
                       field="components")
    for name, body in bodies.items():
        if not isinstance(name, str) or not COMPONENT_NAME.match(name):
            raise component_error(str(name), "name", "may only contain letters, digits, '_' and '-'")
        if not isinstance(body, dict):
            raise component_error(name, "definition", "must be an object")
        module = body.get("module")
        if not isinstance(module, str) or not module:
            raise component_error(name, "module", "is required (a non-empty string)")
    return bodies


def _provider(dsl: dict) -> str | None:
    provider = dsl.get("provider")
    return provider if isinstance(provider, str) and provider else None


def _outputs(name: str, body: dict) -> dict[str, list[str]]:
    output = body.get("output", {})
    if output is None:
        output = {}
    if not isinstance(output, dict):
        raise component_error(name, "output", "must be an object")
    result: dict[str, list[str]] = {}
    for kind in OUTPUT_KINDS:
        if kind not in output:
            continue
        names = output[kind]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise component_error(name, f"output.{kind}", "must be a list of output names")
        result[kind] = list(names)
    return result


def _component(name: str, body: dict, outputs: dict[str, dict[str, list[str]]], predict: bool,
               warnings: list[str], dsl_provider: str | None) -> tuple[DSLComponent, list[Edge]]:
    inputs = body.get("input", {})
    if inputs is None:
        inputs = {}
    if not isinstance(inputs, dict):
        raise component_error(name, "input", "must be an object")
    edges: list[Edge] = []
    data_inputs = _data_inputs(name, inputs, outputs, edges, warnings)
    model_inputs, isometric = [], []
    cache_inputs: list[str] = []
    for key, kind in {**MODEL_INPUT_KEYS, **CACHE_INPUT_KEYS}.items():
        if key not in inputs:
            continue
        refs = _ref_list(name, f"input.{key}", inputs[key])
        # An inference DSL's model inputs point at the deployed model, not at a component of this DSL.
        if not (predict and kind == "model"):
            for ref in refs:
                edges.append(_check_ref(name, f"input.{key}", ref, kind, outputs))
        target = cache_inputs if kind == "cache" else model_inputs
        target.extend(refs)
        if key == "isometric_model":
            isometric.extend(refs)
    for key in inputs:
        if key not in ("data", *MODEL_INPUT_KEYS, *CACHE_INPUT_KEYS):
            warnings.append(f"component {name}: input.{key} is not an input FATE knows; ignored")
    own = outputs[name]
    spec = DSLComponent(
        name=name, module=body["module"], provider=_component_provider(name, body, dsl_provider),
        upstream=_unique(edge.upstream for edge in edges), data_inputs=data_inputs, model_inputs=model_inputs,
        cache_inputs=cache_inputs, data_outputs=own.get("data", []), model_outputs=own.get("model", []),
        cache_outputs=own.get("cache", []), isometric_model_inputs=isometric)
    return spec, edges


def _data_inputs(name: str, inputs: dict, outputs: dict, edges: list[Edge],
                 warnings: list[str]) -> dict[str, list[str]]:
    data = inputs.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise component_error(name, "input.data", "must be an object of data key -> list of references")
    result: dict[str, list[str]] = {}
    for key, refs in data.items():
        field_name = f"input.data.{key}"
        if key not in KNOWN_DATA_KEYS:
            warnings.append(f"component {name}: {field_name}: data key should be one of {list(KNOWN_DATA_KEYS)}")
        result[key] = _ref_list(name, field_name, refs)
        for ref in result[key]:
            edges.append(_check_ref(name, field_name, ref, "data", outputs))
    return result


def _ref_list(name: str, field_name: str, refs: object) -> list[str]:
    if not isinstance(refs, list) or not all(isinstance(ref, str) for ref in refs):
        raise component_error(name, field_name, 'must be a list of "component.output" references')
    return list(refs)


def _check_ref(name: str, field_name: str, ref: str, kind: str, outputs: dict[str, dict[str, list[str]]]) -> Edge:
    """The edge for ``ref`` once its upstream exists and declares that output.

    FATE itself only checks that a model/cache upstream has *some* ``output.model``/``output.cache``, but its
    dependency view then looks the name up and fails the submit anyway, so the name is checked here for all kinds.
    """
    parts = ref.split(".")
    if parts[0] == PREDICT_MODEL_PREFIX and kind == "model":
        raise component_error(name, field_name, f"reference {ref!r} names a deployed model; only a predict job "
                                                "(job_type predict) can read one")
    if len(parts) != 2 or not all(parts):
        raise component_error(name, field_name, f"reference {ref!r} must look like 'component.output_name'")
    upstream, output_name = parts
    if upstream not in outputs:
        raise component_error(name, field_name, f"refers to unknown component {upstream!r}")
    declared = outputs[upstream].get(kind)
    if declared is None:
        raise component_error(name, field_name, f"refers to {ref!r} but component {upstream} has no output.{kind}")
    # FATE tolerates an empty output list here (its dependency view then points at index 0).
    if declared and output_name not in declared:
        raise component_error(name, field_name,
                              f"refers to {ref!r} but component {upstream} declares output.{kind} {declared}")
    return Edge(downstream=name, upstream=upstream, field=field_name)


def _component_provider(name: str, body: dict, dsl_provider: str | None) -> str | None:
    provider = body.get("provider", dsl_provider)
    if provider is None:
        return None
    # FATE accepts "name" or "name@version"; "@version" alone is refused.
    if not isinstance(provider, str) or not provider or provider.startswith("@") or provider.count("@") > 1:
        raise component_error(name, "provider", f"{provider!r} must be 'provider_name' or 'provider_name@version'")
    return provider


def _unique(names) -> list[str]:
    return list(dict.fromkeys(names))


def topological_order(components: dict[str, DSLComponent], edges: list[Edge]) -> list[str]:
    """Kahn's algorithm; among the components ready at the same time the one earlier in the DSL goes first.

    FATE pops ready components from a stack (and from sets, so its sibling order varies between runs); a
    stable order is kinder to tests and logs and is still a valid schedule.
    """
    position = {name: index for index, name in enumerate(components)}
    downstream: dict[str, list[str]] = {name: [] for name in components}
    in_degree = {name: len(spec.upstream) for name, spec in components.items()}
    for name, spec in components.items():
        for up in spec.upstream:
            downstream[up].append(name)
    ready = [position[name] for name, degree in in_degree.items() if degree == 0]
    heapq.heapify(ready)
    names = list(components)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for down in downstream[name]:
            in_degree[down] -= 1
            if in_degree[down] == 0:
                heapq.heappush(ready, position[down])
    if len(order) != len(components):
        raise _cycle_error(components, edges, set(components) - set(order))
    return order


def _cycle_error(components: dict[str, DSLComponent], edges: list[Edge], stuck: set[str]) -> DSLError:
    """Name one loop. Every stuck component waits on another stuck one, so walking upstream must repeat."""
    start = next(name for name in components if name in stuck)
    path = [start]
    while True:
        up = next(up for up in components[path[-1]].upstream if up in stuck)
        if up in path:
            loop = path[path.index(up):] + [up]
            break
        path.append(up)
    # The walk goes upstream; show the loop in data-flow direction.
    loop.reverse()
    edge = next(e for e in edges if e.upstream == loop[0] and e.downstream == loop[1])
    return component_error(edge.downstream, edge.field, f"closes a dependency cycle: {' -> '.join(loop)}")


def is_pipeline_ref(ref: str) -> bool:
    """Whether an input reference names a deployed model (``pipeline.<component>.<model>``), not a
    component of this DSL."""
    return ref.split(".", 1)[0] == PREDICT_MODEL_PREFIX
