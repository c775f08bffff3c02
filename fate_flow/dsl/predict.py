"""Building the inference (predict) DSL of a trained job: ``job/dsl/generate`` and ``model/deploy``.

Rules (FATE 1.11's deploy): the chosen components are kept in topological order; a kept component's
``output.model`` becomes ``input.model: ["pipeline.<cpn>.<model>"]`` and its other outputs are copied;
its data inputs are renamed (``data`` -> ``data``; ``train_data``/``validate_data``/``test_data`` ->
``test_data``, first present key only); a reference to a component that is not kept is replaced by what
that component itself read, so predict data flows around it; finally data references to components
absent from the predict DSL (e.g. a Reader that was not chosen) are dropped.
"""

from __future__ import annotations

import copy

from fate_flow.dsl.graph import parse_graph, topological_order
from fate_flow.dsl.spec import PREDICT_MODEL_PREFIX, DSLError, as_dict, component_error

# Train data key -> predict data key, in the priority FATE gives them (only the first present key is kept).
PREDICT_DATA_KEYS = (("data", "data"), ("train_data", "test_data"), ("validate_data", "test_data"),
                     ("test_data", "test_data"))
# Which input a skipped component's outputs stand for, in FATE's priority order.
PASS_THROUGH_KEYS = ("train_data", "eval_data", "test_data", "data")


def component_names(value: object) -> list[str] | None:
    """The components a deploy or ``job/dsl/generate`` names: a list, or the CLI's text ``"a, b"`` (brackets
    allowed); None when none are named; DSLError when it is neither."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = [name.strip() for name in value.replace("[", "").replace("]", "").split(",") if name.strip()]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise DSLError("cpn_list must be a list of component names", field="cpn_list")
    return value


def generate_predict_dsl(train_dsl: dict, cpn_list: list[str]) -> dict:
    """The predict DSL deploying ``cpn_list`` from the train DSL (rules above); DSLError naming any
    component that is not in it."""
    graph = parse_graph(train_dsl)
    unknown = [name for name in cpn_list if name not in graph.components]
    if unknown:
        raise DSLError(f"cpn_list: components {unknown} are not in the train dsl", field="cpn_list")
    deployed = set(cpn_list)
    bodies = train_dsl["components"]
    readers = {name for name, spec in graph.components.items() if spec.module == "Reader"}
    predict: dict[str, dict] = {}
    # output name -> the references it stands for, for every component that is not deployed
    passed: dict[str, dict[str, list[str]]] = {}
    for name in topological_order(graph.components, graph.edges):
        body = bodies[name]
        if name in deployed:
            predict[name] = _deployed_component(name, body, deployed, readers, passed, predict)
        else:
            _record_pass_through(name, body, deployed, readers, passed)
    return {"components": predict}


def _deployed_component(name: str, body: dict, deployed: set[str], readers: set[str],
                        passed: dict[str, dict[str, list[str]]], predict: dict[str, dict]) -> dict:
    component: dict = {"module": body["module"]}
    if body.get("provider"):
        component["provider"] = body["provider"]
    output = as_dict(body.get("output"))
    if output.get("model") is not None:
        component["input"] = {"model": [f"{PREDICT_MODEL_PREFIX}.{name}.{model}" for model in output["model"]]}
    kept_outputs = {key: copy.deepcopy(value) for key, value in output.items() if key != "model" and value is not None}
    if kept_outputs:
        component["output"] = kept_outputs
    train_input = as_dict(body.get("input"))
    if train_input:
        component.setdefault("input", {})
        if "data" in train_input:
            _predict_data_inputs(name, train_input, component["input"], deployed, readers, passed, predict)
    return component


def _predict_data_inputs(name: str, train_input: dict, predict_input: dict, deployed: set[str], readers: set[str],
                         passed: dict[str, dict[str, list[str]]], predict: dict[str, dict]) -> None:
    data: dict[str, list[str]] = {}
    train_data = as_dict(train_input.get("data"))
    for train_key, predict_key in PREDICT_DATA_KEYS:
        if train_key in train_data:
            data[predict_key] = [resolved for ref in train_data[train_key]
                                 for resolved in _resolve_ref(ref, deployed, readers, passed)]
            break
    # FATE carries cache inputs over only for components that also read data.
    if "cache" in train_input:
        predict_input["cache"] = list(train_input["cache"])
    # Data from components outside the predict DSL (an unchosen Reader, say) cannot be read at predict time.
    kept = {key: [ref for ref in refs if ref.split(".", 1)[0] in predict] for key, refs in data.items()}
    kept = {key: refs for key, refs in kept.items() if refs}
    if kept:
        predict_input["data"] = kept


def _resolve_ref(ref: str, deployed: set[str], readers: set[str], passed: dict[str, dict[str, list[str]]]) -> list[str]:
    upstream, output_name = ref.split(".", 1)
    if upstream in deployed or upstream in readers:
        return [ref]
    # An upstream that produced no pass-through (it read no data) leaves nothing to read; FATE fails here.
    return list(passed.get(upstream, {}).get(output_name, []))


def _record_pass_through(name: str, body: dict, deployed: set[str], readers: set[str],
                         passed: dict[str, dict[str, list[str]]]) -> None:
    """What each data output of a skipped component means at predict time: the first ref of its main input."""
    data_in = as_dict(as_dict(body.get("input")).get("data"))
    data_out = as_dict(body.get("output")).get("data")
    if not data_in or data_out is None:
        return
    key = next((key for key in PASS_THROUGH_KEYS if key in data_in and data_in[key]), None)
    if key is None:
        raise component_error(name, "input.data",
                              "needs train_data, eval_data, test_data or data to be skipped in the predict dsl")
    source = _resolve_ref(data_in[key][0], deployed, readers, passed)
    passed[name] = {output_name: source for output_name in data_out}
