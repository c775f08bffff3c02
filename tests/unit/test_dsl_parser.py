"""The pure DSL/conf module against FATE 1.11.2's own DSL/conf corpus and hand-made bad jobs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fate_flow.dsl import (
    DSLError,
    JobSpec,
    dag_dependencies,
    generate_predict_dsl,
    glm_role_conflict,
    parse_job,
    party_component_parameters,
    party_job_parameters,
    party_need_run,
)

DATA = Path(__file__).resolve().parent.parent / "data"
CORPUS = DATA / "dsl-v2"
FLOW_EXAMPLES = DATA / "fate-flow"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def corpus_tasks() -> list[tuple[str, Path, Path, str | None]]:
    """(id, dsl, conf, train task's dsl or None) for every task the testsuites list."""
    tasks = []
    for suite in sorted(CORPUS.glob("*/*testsuite*.json")):
        listed = load(suite)["tasks"]
        for name, task in listed.items():
            train_dsl = suite.parent / listed[task["deps"]]["dsl"] if "deps" in task else None
            tasks.append((f"{suite.parent.name}/{name}", suite.parent / task["dsl"], suite.parent / task["conf"],
                          train_dsl))
    return tasks


CORPUS_TASKS = corpus_tasks()


def as_predict(conf: dict) -> dict:
    """What fate_test does before submitting a task that depends on a trained one."""
    conf = copy.deepcopy(conf)
    conf.setdefault("job_parameters", {}).setdefault("common", {})["job_type"] = "predict"
    return conf


def assert_topological(spec: JobSpec) -> None:
    seen: set[str] = set()
    for name, component in spec.components.items():
        assert set(component.upstream) <= seen, f"{name} comes before its upstream {component.upstream}"
        seen.add(name)
    assert seen == set(spec.dsl["components"])


def resolve_every_party(spec: JobSpec) -> None:
    for role, parties in spec.roles.items():
        for party in parties:
            assert isinstance(party_job_parameters(spec, role, party), dict)
            params = party_component_parameters(spec, role, party)
            assert list(params) == list(spec.components)
            deps = dag_dependencies(spec, role, party)
            assert set(deps["component_need_run"]) == set(spec.components)


# --------------------------------------------------------------------------------------------- the corpus


def test_corpus_is_complete() -> None:
    assert len(CORPUS_TASKS) == 239
    assert len(list(CORPUS.rglob("*.json"))) > 480


@pytest.mark.parametrize(("dsl_path", "conf_path", "train_dsl"), [t[1:] for t in CORPUS_TASKS],
                         ids=[t[0] for t in CORPUS_TASKS])
def test_corpus_pair_parses_and_resolves(dsl_path: Path, conf_path: Path, train_dsl: Path | None) -> None:
    conf = load(conf_path)
    if train_dsl is not None:
        conf = as_predict(conf)
    spec = parse_job(load(dsl_path), conf)
    assert spec.dsl_version == 2 and spec.refuse_reason is None
    assert spec.job_type == ("predict" if train_dsl else "train")
    assert_topological(spec)
    resolve_every_party(spec)
    assert dag_dependencies(spec)["component_list"] == list(spec.components)


TRAIN_TASKS = [t for t in CORPUS_TASKS if t[3] is None]


@pytest.mark.parametrize(("dsl_path", "conf_path"), [t[1:3] for t in TRAIN_TASKS], ids=[t[0] for t in TRAIN_TASKS])
def test_corpus_train_dsl_deploys_to_a_valid_predict_dsl(dsl_path: Path, conf_path: Path) -> None:
    train = load(dsl_path)
    predict_dsl = generate_predict_dsl(train, list(train["components"]))
    spec = parse_job(predict_dsl, as_predict(load(conf_path)))
    assert list(spec.components) == list(predict_dsl["components"])
    for name, body in predict_dsl["components"].items():
        assert body["module"] == train["components"][name]["module"]
        assert "model" not in body.get("output", {})


# FATE ships hand-written predict DSLs; these are exactly what its deploy rules produce. (The others differ by
# hand edits: a renamed reader, module spelling, an Intersection whose cache output was left out.)
DEPLOY_MATCHES = ["hetero_ftl/ftl_predict", "hetero_linear_regression/linr-predict",
                  "hetero_linear_regression/linr-multi-host-predict",
                  "hetero_logistic_regression/hetero_lr_normal_predict",
                  "hetero_poisson_regression/poisson-predict", "hetero_secureboost/train_binary_predict",
                  "homo_logistic_regression/predict", "local_baseline/local_baseline-predict",
                  "local_baseline/local_baseline-homo-predict"]


@pytest.mark.parametrize("task_id", DEPLOY_MATCHES)
def test_generate_predict_dsl_matches_fate_shipped_predict_dsl(task_id: str) -> None:
    _, predict_path, _, train_path = next(t for t in CORPUS_TASKS if t[0] == task_id)
    expected = load(predict_path)
    assert generate_predict_dsl(load(train_path), list(expected["components"])) == expected


# --------------------------------------------------------------------------------------- hetero LR views

LR_DIR = CORPUS / "hetero_logistic_regression"


@pytest.fixture
def lr_spec() -> JobSpec:
    return parse_job(load(LR_DIR / "hetero_lr_normal_dsl.json"), load(LR_DIR / "hetero_lr_normal_conf.json"))


def test_hetero_lr_spec(lr_spec: JobSpec) -> None:
    assert lr_spec.initiator_role == "guest" and lr_spec.initiator_party_id == "9999"
    assert lr_spec.roles == {"guest": ["9999"], "host": ["10000"], "arbiter": ["10000"]}
    assert lr_spec.conf["role"]["guest"] == [9999]  # stored with int party ids, like FATE
    assert lr_spec.job_type == "train"
    lr = lr_spec.components["hetero_lr_0"]
    assert (lr.module, lr.upstream, lr.data_inputs) == ("HeteroLR", ["intersection_0"],
                                                         {"train_data": ["intersection_0.data"]})
    assert (lr.data_outputs, lr.model_outputs, lr.cache_outputs, lr.need_run) == (["data"], ["model"], [], True)
    assert lr_spec.components["reader_0"].upstream == [] and lr_spec.components["evaluation_0"].model_outputs == []


def test_dag_dependencies_on_hetero_lr(lr_spec: JobSpec) -> None:
    def dep(up: str, kind: str = "data") -> list[dict]:
        return [{"component_name": up, "type": kind, "up_output_info": ["data", 0]}]

    assert dag_dependencies(lr_spec) == {
        "component_list": ["reader_0", "data_transform_0", "intersection_0", "hetero_lr_0", "evaluation_0"],
        "dependencies": {"data_transform_0": dep("reader_0"), "intersection_0": dep("data_transform_0"),
                         "hetero_lr_0": dep("intersection_0", "train_data"), "evaluation_0": dep("hetero_lr_0")},
        "component_module": {"reader_0": "Reader", "data_transform_0": "DataTransform",
                             "intersection_0": "Intersection", "hetero_lr_0": "HeteroLR",
                             "evaluation_0": "Evaluation"},
        "component_need_run": dict.fromkeys(lr_spec.components, True),
    }


def test_dag_dependencies_types_and_output_positions() -> None:
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "split_0": {"module": "HeteroDataSplit", "input": {"data": {"data": ["reader_0.data"]}},
                    "output": {"data": ["train", "validate", "test"]}},
        "lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["split_0.train"],
                                                          "validate_data": ["split_0.validate"]}},
                 "output": {"data": ["data"], "model": ["model"]}},
        "lr_1": {"module": "HeteroLR", "input": {"data": {"test_data": ["split_0.test"]}, "model": ["lr_0.model"]},
                 "output": {"data": ["data"]}},
    }}
    spec = parse_job(dsl, {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 1}, "role": {"guest": [1]}})
    deps = dag_dependencies(spec)["dependencies"]
    assert deps["lr_0"] == [{"component_name": "split_0", "type": "train_data", "up_output_info": ["data", 0]},
                            {"component_name": "split_0", "type": "validate_data", "up_output_info": ["data", 1]}]
    # FATE reports every data key other than data/train_data as validate_data.
    assert deps["lr_1"] == [{"component_name": "split_0", "type": "validate_data", "up_output_info": ["data", 2]},
                            {"component_name": "lr_0", "type": "model", "up_output_info": ["model", 0]}]
    assert spec.components["lr_1"].upstream == ["split_0", "lr_0"]
    assert spec.components["lr_1"].model_inputs == ["lr_0.model"]


def test_generate_predict_dsl_on_hetero_lr() -> None:
    train = load(LR_DIR / "hetero_lr_normal_dsl.json")
    predict = generate_predict_dsl(train, ["reader_0", "data_transform_0", "intersection_0", "hetero_lr_0"])
    assert list(predict["components"]) == ["reader_0", "data_transform_0", "intersection_0", "hetero_lr_0"]
    assert predict["components"]["hetero_lr_0"] == {
        "module": "HeteroLR", "input": {"model": ["pipeline.hetero_lr_0.model"],
                                        "data": {"test_data": ["intersection_0.data"]}},
        "output": {"data": ["data"]}}
    # Without the reader, the first component's data input has nothing to read and is dropped.
    no_reader = generate_predict_dsl(train, ["data_transform_0", "intersection_0", "hetero_lr_0"])
    assert no_reader["components"]["data_transform_0"]["input"] == {"model": ["pipeline.data_transform_0.model"]}


def test_generate_predict_dsl_routes_around_skipped_components() -> None:
    train = load(LR_DIR / "hetero_lr_normal_dsl.json")
    predict = generate_predict_dsl(train, ["reader_0", "data_transform_0", "hetero_lr_0"])
    # intersection_0 is not deployed: hetero_lr_0 reads what intersection_0 read.
    assert predict["components"]["hetero_lr_0"]["input"]["data"] == {"test_data": ["data_transform_0.data"]}


def test_generate_predict_dsl_rejects_unknown_components() -> None:
    with pytest.raises(DSLError, match=r"cpn_list.*'hetero_lr_9'"):
        generate_predict_dsl(load(LR_DIR / "hetero_lr_normal_dsl.json"), ["hetero_lr_0", "hetero_lr_9"])


# ----------------------------------------------------------------------------------- parameter resolution


def test_toy_index_less_host_entry_is_ignored() -> None:
    toy = FLOW_EXAMPLES / "toy"
    spec = parse_job(load(toy / "toy_example_dsl.json"), load(toy / "toy_example_conf.json"))
    guest = party_component_parameters(spec, "guest", "9999")["secure_add_example_0"]
    host = party_component_parameters(spec, "host", 10000)["secure_add_example_0"]
    assert guest == {"partition": 48, "data_num": 1000, "seed": 123}
    assert host == {"partition": 48, "data_num": 1000}
    assert any("host.secure_add_example_0" in warning and "ignored" in warning for warning in spec.warnings)
    assert party_job_parameters(spec, "guest", "9999") == {"task_cores": 2}
    assert party_job_parameters(spec, "host", "10000") == {"task_cores": 3}


def multi_host_job(role_params: dict, common: dict | None = None, job_role: dict | None = None) -> JobSpec:
    dsl = {"components": {"reader_0": {"module": "Reader", "output": {"data": ["data"]}},
                          "lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["reader_0.data"]}}}}}
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
            "role": {"guest": [9999], "host": [10000, 10001, 10002]},
            "job_parameters": {"common": {"task_cores": 4, "eggroll_run": {"a": 1, "b": 2}}, "role": job_role or {}},
            "component_parameters": {"common": common or {}, "role": {"host": role_params}}}
    return parse_job(dsl, conf)


def test_party_selectors_all_and_pipe() -> None:
    spec = multi_host_job({"all": {"lr_0": {"alpha": 1}}, "0|2": {"lr_0": {"beta": 2}}, "1": {"lr_0": {"gamma": 3}}})
    params = {party: party_component_parameters(spec, "host", party)["lr_0"] for party in spec.roles["host"]}
    assert params == {"10000": {"alpha": 1, "beta": 2}, "10001": {"alpha": 1, "gamma": 3},
                      "10002": {"alpha": 1, "beta": 2}}
    assert party_component_parameters(spec, "guest", "9999")["lr_0"] == {}


def test_common_and_role_parameters_deep_merge_later_entries_win() -> None:
    spec = multi_host_job({"0": {"lr_0": {"init": {"method": "ones"}, "max_iter": 5}},
                           "all": {"lr_0": {"max_iter": 7, "encrypt": {"key_length": 2048}}}},
                          common={"lr_0": {"init": {"method": "zeros", "fit": True},
                                           "encrypt": {"method": "paillier"}}})
    assert party_component_parameters(spec, "host", "10000")["lr_0"] == {
        "init": {"method": "ones", "fit": True}, "max_iter": 7, "encrypt": {"method": "paillier", "key_length": 2048}}
    assert party_component_parameters(spec, "host", "10001")["lr_0"] == {
        "init": {"method": "zeros", "fit": True}, "max_iter": 7, "encrypt": {"method": "paillier", "key_length": 2048}}


def test_party_job_parameters_flatten_common_and_role() -> None:
    spec = multi_host_job({}, job_role={"host": {"all": {"eggroll_run": {"b": 3}}, "2": {"task_cores": 8}}})
    assert party_job_parameters(spec, "guest", "9999") == {"task_cores": 4, "eggroll_run": {"a": 1, "b": 2}}
    assert party_job_parameters(spec, "host", "10001") == {"task_cores": 4, "eggroll_run": {"a": 1, "b": 3}}
    assert party_job_parameters(spec, "host", "10002") == {"task_cores": 8, "eggroll_run": {"a": 1, "b": 3}}
    with pytest.raises(DSLError, match="party 12345"):
        party_job_parameters(spec, "host", "12345")


def test_need_run_per_party_and_model_loaders_follow_their_source() -> None:
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "scale_0": {"module": "FeatureScale", "input": {"data": {"data": ["reader_0.data"]}},
                    "output": {"data": ["data"], "model": ["model"]}},
        "scale_1": {"module": "FeatureScale", "output": {"data": ["data"]},
                    "input": {"data": {"data": ["reader_0.data"]}, "model": ["scale_0.model"]}},
    }}
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
            "role": {"guest": [9999], "host": [10000]},
            "component_parameters": {"common": {"scale_0": {"method": "min_max"}, "scale_1": {"method": "ignored"}},
                                     "role": {"host": {"0": {"scale_0": {"need_run": False}}}}}}
    spec = parse_job(dsl, conf)
    assert party_need_run(spec, "guest", "9999") == {"reader_0": True, "scale_0": True, "scale_1": True}
    assert party_need_run(spec, "host", "10000") == {"reader_0": True, "scale_0": False, "scale_1": False}
    assert dag_dependencies(spec, "host", "10000")["component_need_run"]["scale_1"] is False
    # A same-module model loader runs with its source's parameters (FATE's rule), not its own.
    host = party_component_parameters(spec, "host", "10000")
    assert host["scale_1"] == host["scale_0"] == {"method": "min_max", "need_run": False}


def test_warm_start_keeps_its_own_parameters() -> None:
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["reader_0.data"]}},
                 "output": {"data": ["data"], "model": ["model"]}},
        "lr_1": {"module": "HeteroLR", "input": {"data": {"train_data": ["reader_0.data"]}, "model": ["lr_0.model"]},
                 "output": {"data": ["data"], "model": ["model"]}},
    }}
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999]},
            "component_parameters": {"common": {"lr_0": {"max_iter": 3}, "lr_1": {"max_iter": 9}}}}
    params = party_component_parameters(parse_job(dsl, conf), "guest", "9999")
    assert params["lr_1"] == {"max_iter": 9}


# --------------------------------------------------------------------------------------------- FATE-Flow's examples

FLOW_PAIRS = [("simple/simple_dsl.json", "simple/simple_job_conf.json"),
              ("lr/test_hetero_lr_job_dsl.json", "lr/test_hetero_lr_job_conf.json"),
              ("lr/test_hetero_lr_job_dsl.json", "lr/test_hetero_lr_job_conf_advanced.json"),
              ("advanced/job_reference_data_dsl.json", "advanced/job_reference_data_hetero_lr_job_conf.json"),
              ("advanced/test_multi_pipeline_dsl.json", "advanced/test_multi_pipeline_conf.json"),
              ("advanced/test_multi_pipeline_dsl.json", "advanced/test_multi_pipeline_conf_advanced.json"),
              ("advanced/using_cache_simple_dsl.json", "advanced/using_cache_simple_conf.json"),
              ("provider/provider_test_dsl.json", "provider/provider_test_conf.json")]


@pytest.mark.parametrize(("dsl_name", "conf_name"), FLOW_PAIRS)
def test_fate_flow_examples_parse(dsl_name: str, conf_name: str) -> None:
    spec = parse_job(load(FLOW_EXAMPLES / dsl_name), load(FLOW_EXAMPLES / conf_name))
    assert_topological(spec)
    resolve_every_party(spec)


def test_cache_inputs_are_edges() -> None:
    spec = parse_job(load(FLOW_EXAMPLES / "advanced/using_cache_simple_dsl.json"),
                     load(FLOW_EXAMPLES / "advanced/using_cache_simple_conf.json"))
    binning = spec.components["hetero_feature_binning_0"]
    assert binning.cache_inputs == ["cache_loader_0.cache2"]
    assert binning.upstream == ["data_transform_0", "cache_loader_0"]
    assert spec.components["cache_loader_0"].cache_outputs == ["cache2"]
    assert {"component_name": "cache_loader_0", "type": "cache", "up_output_info": ["cache", 0]} in \
        dag_dependencies(spec)["dependencies"]["hetero_feature_binning_0"]


def test_provider_from_dsl() -> None:
    dsl = load(FLOW_EXAMPLES / "provider/provider_test_dsl.json")
    spec = parse_job(dsl, load(FLOW_EXAMPLES / "provider/provider_test_conf.json"))
    for name, body in dsl["components"].items():
        assert spec.components[name].provider == body.get("provider", dsl.get("provider"))


def test_predict_conf_with_pipeline_model_refs() -> None:
    predict_dsl = load(LR_DIR / "hetero_lr_normal_predict_dsl.json")
    spec = parse_job(predict_dsl, load(FLOW_EXAMPLES / "predict/test_predict_conf.json"))
    assert spec.job_type == "predict"
    assert spec.components["hetero_lr_0"].upstream == ["intersection_0"]
    assert spec.components["hetero_lr_0"].model_inputs == ["pipeline.hetero_lr_0.model"]
    assert "model" not in json.dumps(dag_dependencies(spec)["dependencies"])
    # The same refs in a training job point at a component called "pipeline", which does not exist.
    with pytest.raises(DSLError, match=r"component data_transform_0: input\.model .* only a predict job"):
        parse_job(predict_dsl, load(LR_DIR / "hetero_lr_normal_conf.json"))


def test_topological_order_is_stable_dsl_order() -> None:
    dsl = {"components": {
        "b": {"module": "M", "input": {"data": {"data": ["a.data"]}}, "output": {"data": ["data"]}},
        "z": {"module": "Reader", "output": {"data": ["data"]}},
        "a": {"module": "Reader", "output": {"data": ["data"]}},
        "c": {"module": "M", "input": {"data": {"data": ["z.data", "b.data"]}}},
    }}
    spec = parse_job(dsl, {"dsl_version": 2, "initiator": {"role": "local", "party_id": 0}, "role": {"local": [0]}})
    assert list(spec.components) == ["z", "a", "b", "c"]
    assert spec.components["c"].upstream == ["z", "b"]


# ----------------------------------------------------------------------------------------------------- DSL v1


def test_v1_conf_is_converted_and_flagged() -> None:
    dsl = load(FLOW_EXAMPLES / "intersect/test_rsa_job_dsl.json")
    conf = load(FLOW_EXAMPLES / "intersect/test_rsa_job_conf.json")
    spec = parse_job(dsl, conf)
    assert spec.dsl_version == 1 and spec.job_type == "train"
    assert spec.refuse_reason == "only the v2 version runtime conf is supported"
    assert spec.dsl["components"]["reader_0"] == {"module": "Reader", "output": {"data": ["id_library"]}}
    assert spec.components["rsa_0"].data_inputs == {"data": ["reader_0.id_library"]}
    assert list(spec.components) == ["reader_0", "rsa_0"]
    params = party_component_parameters(spec, "host", "10001")
    assert params["reader_0"] == {"table": conf["role_parameters"]["host"]["args"]["data"]["id_library"][0]}
    assert params["rsa_0"]["rsa_key_e"] == 65537
    with pytest.raises(DSLError, match="dsl_version.*only the v2 version runtime conf"):
        parse_job(dsl, conf, refuse_v1_train=True)


def test_v1_per_party_lists_and_predict_jobs() -> None:
    dsl = {"components": {"dt_0": {"module": "DataTransform", "input": {"data": {"data": ["args.train_data"]}},
                                   "output": {"data": ["train"], "model": ["model"]}},
                          "lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["dt_0.train"]}}}}}
    conf = {"initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999], "host": [1, 2]},
            "job_parameters": {"job_type": "predict", "model_id": "m", "model_version": "v"},
            "role_parameters": {"host": {"args": {"data": {"train_data": [{"name": "a"}, {"name": "b"}]}},
                                         "dt_0": {"with_label": [False, True], "nested": {"k": [1, 2]}}}},
            "algorithm_parameters": {"lr_0": {"max_iter": 3}}}
    spec = parse_job(dsl, conf, refuse_v1_train=True)
    assert spec.refuse_reason is None and spec.job_type == "predict"
    assert party_job_parameters(spec, "host", "2") == {"job_type": "predict", "model_id": "m", "model_version": "v"}
    assert party_component_parameters(spec, "host", "2") == {
        "reader_0": {"table": {"name": "b"}}, "dt_0": {"with_label": True, "nested": {"k": 2}}, "lr_0": {"max_iter": 3}}
    bad = copy.deepcopy(conf)
    bad["role_parameters"]["host"]["dt_0"]["with_label"] = [True]
    with pytest.raises(DSLError, match=r"role_parameters\.host\.dt_0\.with_label"):
        parse_job(dsl, bad)


# ------------------------------------------------------------------------------------------------- bad jobs

CONF = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
        "role": {"guest": [9999], "host": [10000, 10001]}}


def lr_dsl() -> dict:
    return copy.deepcopy(load(LR_DIR / "hetero_lr_normal_dsl.json"))


def with_change(dsl: dict, component: str, key: str, value: object) -> dict:
    dsl["components"][component][key] = value
    return dsl


def error_of(dsl: dict, conf: dict | None = None, **kwargs: object) -> DSLError:
    with pytest.raises(DSLError) as caught:
        parse_job(dsl, conf if conf is not None else CONF, **kwargs)
    return caught.value


@pytest.mark.parametrize(("change", "component", "field", "words"), [
    (lambda d: with_change(d, "hetero_lr_0", "input", {"data": {"train_data": ["reader_9.data"]}}),
     "hetero_lr_0", "input.data.train_data", "refers to unknown component 'reader_9'"),
    (lambda d: with_change(d, "hetero_lr_0", "input", {"data": {"train_data": ["intersection_0.train"]}}),
     "hetero_lr_0", "input.data.train_data", "declares output.data ['data']"),
    (lambda d: with_change(d, "evaluation_0", "input", {"data": {"data": ["hetero_lr_0.data"]},
                                                        "model": ["intersection_0.model"]}),
     "evaluation_0", "input.model", "component intersection_0 has no output.model"),
    (lambda d: with_change(d, "evaluation_0", "input", {"data": {"data": ["hetero_lr_0.data"]},
                                                        "isometric_model": ["hetero_lr_0.lr"]}),
     "evaluation_0", "input.isometric_model", "declares output.model ['model']"),
    (lambda d: with_change(d, "hetero_lr_0", "input", {"data": {"train_data": ["intersection_0"]}}),
     "hetero_lr_0", "input.data.train_data", "must look like 'component.output_name'"),
    (lambda d: with_change(d, "hetero_lr_0", "input", {"data": {"train_data": "intersection_0.data"}}),
     "hetero_lr_0", "input.data.train_data", "must be a list"),
    (lambda d: with_change(d, "hetero_lr_0", "input", ["intersection_0.data"]), "hetero_lr_0", "input", "object"),
    (lambda d: with_change(d, "hetero_lr_0", "output", {"data": "data"}), "hetero_lr_0", "output.data", "list"),
    (lambda d: with_change(d, "hetero_lr_0", "module", ""), "hetero_lr_0", "module", "required"),
    (lambda d: with_change(d, "hetero_lr_0", "provider", "@1.11.2"), "hetero_lr_0", "provider", "provider_name"),
    (lambda d: {"components": {**d["components"], "bad name!": {"module": "Reader"}}},
     "bad name!", "name", "letters, digits"),
    (lambda d: {"components": {**d["components"], "hetero.lr": {"module": "Reader"}}},
     "hetero.lr", "name", "letters, digits"),
])
def test_bad_dsl_names_component_and_field(change, component: str, field: str, words: str) -> None:
    error = error_of(change(lr_dsl()))
    assert (error.component, error.field) == (component, field)
    assert str(error).startswith(f"component {component}: {field} ")
    assert words in str(error)


def test_missing_module_key() -> None:
    dsl = lr_dsl()
    del dsl["components"]["intersection_0"]["module"]
    error = error_of(dsl)
    assert str(error) == "component intersection_0: module is required (a non-empty string)"


def test_cycle_is_reported_with_its_members() -> None:
    dsl = lr_dsl()
    dsl["components"]["data_transform_0"]["input"]["data"]["data"] = ["hetero_lr_0.data"]
    error = error_of(dsl)
    assert error.component and error.field and error.field.startswith("input.data")
    assert "cycle" in str(error)
    loop = str(error).split("cycle: ")[1].split(" -> ")
    assert loop[0] == loop[-1]
    assert set(loop) == {"data_transform_0", "intersection_0", "hetero_lr_0"}


def test_self_reference_is_a_cycle() -> None:
    dsl = lr_dsl()
    dsl["components"]["hetero_lr_0"]["input"]["model"] = ["hetero_lr_0.model"]
    assert "cycle: hetero_lr_0 -> hetero_lr_0" in str(error_of(dsl))


def test_has_module_refusal_names_component_and_module() -> None:
    error = error_of(lr_dsl(), has_module=lambda module: module != "HeteroLR")
    assert str(error) == "component hetero_lr_0: module 'HeteroLR' is not provided by this server"
    assert parse_job(lr_dsl(), CONF, has_module=lambda module: True).components


@pytest.mark.parametrize(("conf_change", "field", "words"), [
    (lambda c: c.update(role={}), "role", "is required"),
    (lambda c: c.pop("role"), "role", "is required"),
    (lambda c: c["role"].update(arbiter=[]), "role.arbiter", "non-empty list"),
    (lambda c: c["role"].update(host=["abc"]), "role.host[0]", "not an integer"),
    (lambda c: c.pop("initiator"), "initiator", "is required"),
    (lambda c: c.update(initiator={"role": "arbiter", "party_id": 9999}), "initiator.role", "not one of"),
    (lambda c: c.update(initiator={"role": "guest", "party_id": 10000}), "initiator.party_id",
     "10000 is not a party of role guest"),
    (lambda c: c.update(component_parameters={"role": {"host": {"5": {"hetero_lr_0": {}}}}}),
     "component_parameters.role.host.5", "party index 5 is out of range: role host has 2 parties"),
    (lambda c: c.update(component_parameters={"role": {"host": {"0|2": {"hetero_lr_0": {}}}}}),
     "component_parameters.role.host.0|2", "party index 2 is out of range"),
    (lambda c: c.update(job_parameters={"role": {"guest": {"1": {"task_cores": 2}}}}),
     "job_parameters.role.guest.1", "role guest has 1 party"),
    (lambda c: c.update(job_parameters={"common": []}), "job_parameters.common", "object"),
    (lambda c: c.update(job_parameters={"common": {"job_type": "fit"}}), "job_parameters.common.job_type", "fit"),
    (lambda c: c.update(dsl_version=3), "dsl_version", "must be 1 or 2"),
])
def test_bad_conf_names_the_field(conf_change, field: str, words: str) -> None:
    conf = copy.deepcopy(CONF)
    conf_change(conf)
    error = error_of(lr_dsl(), conf)
    assert error.field == field
    assert str(error).startswith(f"conf: {field} ")
    assert words in str(error)


def test_non_object_component_parameters_name_the_component() -> None:
    conf = {**CONF, "component_parameters": {"common": {"hetero_lr_0": ["max_iter", 3]}}}
    error = error_of(lr_dsl(), conf)
    assert (error.component, error.field) == ("hetero_lr_0", "component_parameters.common.hetero_lr_0")


def test_tolerated_oddities_become_warnings() -> None:
    dsl = lr_dsl()
    dsl["components"]["hetero_lr_0"]["input"]["data"]["odd_data"] = ["intersection_0.data"]
    conf = {**CONF, "component_parameters": {"common": {"hetero_nn_0": {"epochs": 1}},
                                             "role": {"arbiter": {"0": {"hetero_lr_0": {}}},
                                                      "host": {"all": {"ghost_0": {}}}}}}
    warnings = "\n".join(parse_job(dsl, conf).warnings)
    assert "input.data.odd_data" in warnings
    assert "component_parameters.common.hetero_nn_0" in warnings
    assert "component_parameters.role.arbiter.0: role 'arbiter'" in warnings
    assert "component_parameters.role.host.all.ghost_0" in warnings


def test_glm_role_constraint_is_opt_in() -> None:
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
            "role": {"guest": [9999], "host": [10000], "arbiter": [9999]}}
    spec = parse_job(lr_dsl(), conf)
    conflict = glm_role_conflict(spec)
    assert conflict is not None and conflict.component == "hetero_lr_0"
    with pytest.raises(DSLError, match="component hetero_lr_0: module HeteroLR needs the hosts"):
        parse_job(lr_dsl(), conf, check_glm_roles=True)
    fine = {**conf, "role": {"guest": [9999], "host": [10000], "arbiter": [10000]}}
    assert glm_role_conflict(parse_job(lr_dsl(), fine)) is None


def test_string_party_ids_and_dsl_version_are_accepted() -> None:
    conf = {"dsl_version": "2", "initiator": {"role": "guest", "party_id": "9999"},
            "role": {"guest": ["9999"], "host": [10000, "10001"]}}
    spec = parse_job(lr_dsl(), conf)
    assert spec.roles == {"guest": ["9999"], "host": ["10000", "10001"]}
    assert spec.conf["initiator"]["party_id"] == 9999 and spec.conf["role"]["host"] == [10000, 10001]


def test_parse_job_does_not_mutate_its_inputs() -> None:
    dsl, conf = lr_dsl(), copy.deepcopy(CONF)
    before = (json.dumps(dsl), json.dumps(conf))
    spec = parse_job(dsl, conf)
    spec.dsl["components"].clear()
    spec.conf["role"].clear()
    assert (json.dumps(dsl), json.dumps(conf)) == before


def _v2(**extra) -> dict:
    return {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999}, "role": {"guest": [9999]}, **extra}


@pytest.mark.parametrize(("conf", "field"), [
    (_v2(component_paramters={}), "component_paramters"),
    ({**_v2(), "role": {"guest": [9999], "hots": [10000]}}, "role.hots"),
    (_v2(job_parameters={"comon": {}}), "job_parameters.comon"),
    (_v2(job_parameters={"common": {"task_core": 2}}), "job_parameters.common.task_core"),
    (_v2(job_parameters={"common": {"task_cores": -4}}), "job_parameters.common.task_cores"),
    (_v2(job_parameters={"common": {"task_cores": "many"}}), "job_parameters.common.task_cores"),
    (_v2(job_parameters={"role": {"guest": {"0": {"task_parallelism": 0}}}}),
     "job_parameters.role.guest.0.task_parallelism"),
    (_v2(job_parameters={"common": {"timeout": True}}), "job_parameters.common.timeout"),
])
def test_conf_typos_and_bad_job_parameters_are_refused_naming_the_key(conf: dict, field: str):
    dsl = {"components": {"a_0": {"module": "TestModule"}}}
    with pytest.raises(DSLError) as caught:
        parse_job(dsl, conf)
    assert caught.value.field == field and field in str(caught.value)
