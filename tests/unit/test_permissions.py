"""The permission rules on their own: what a grant allows (defaults, ``*``, names in any case and through
aliases), what no grant allows (components that write named tables or server files here, decided from
their parameters' hooks), the refusal message, the request validation and the stored grants on both
databases (idempotent grants, ``*`` deletes)."""

from __future__ import annotations

import json

import pytest

from fate_flow.controller import permission_controller as pc
from fate_flow.db.models import PartyPermission
from fate_flow.entity.keys import JobKey
from fate_flow.entity.table_meta import TableRef
from fate_flow.errors import ArgumentError
from fate_flow.framework.params import Params
from fate_flow.framework.registry import load_registry
from fate_flow.framework.spec import ComponentSpec

REGISTRY = load_registry(("tests.components.scaler",))
HOST = JobKey("202401010000000000000", "host", "10000")
BREAST = {"table": {"namespace": "experiment", "name": "breast_hetero_host"}}


def run(module: str, params: dict | None = None, name: str | None = None) -> pc.RunHere:
    spec = REGISTRY.get(module)
    return pc.RunHere(name or f"{module.lower()}_0", spec, spec.parse_params(params))


def grants(component=(), dataset=(), role=()) -> pc.Grants:
    return pc.Grants(frozenset(component), frozenset(dataset), frozenset(role))


def reasons(found: list[pc.Refusal]) -> list[str]:
    return [refusal.reason for refusal in found]


# -- matching ------------------------------------------------------------------------------------------------------
def test_by_default_every_role_and_computing_component_but_no_table():
    nothing = grants()
    assert pc.refusals(nothing, "host", [run("ColumnScaler"), run("TestModule"), run("Reader")]) == []
    found = pc.refusals(nothing, "host", [run("Reader", BREAST)])
    assert reasons(found) == ["read table experiment.breast_hetero_host in component reader_0 (Reader): not granted"]
    assert found[0].grant == ("dataset", "experiment/breast_hetero_host")


def test_a_granted_table_is_read_and_only_that_one():
    granted = grants(dataset={"experiment/breast_hetero_host"})
    assert pc.refusals(granted, "host", [run("Reader", BREAST)]) == []
    other = {"table": {"namespace": "experiment", "name": "breast_hetero_guest"}}
    assert len(pc.refusals(granted, "host", [run("Reader", other)])) == 1
    # names are not case-folded: a table is named exactly
    upper = {"table": {"namespace": "Experiment", "name": "breast_hetero_host"}}
    assert len(pc.refusals(granted, "host", [run("Reader", upper)])) == 1
    assert pc.refusals(grants(dataset={"*"}), "host", [run("Reader", other)]) == []


def test_an_explicit_component_list_allows_only_those_by_name_or_alias_in_any_case():
    granted = grants(component={"reader", "columnscaler"})
    assert pc.refusals(granted, "host", [run("Reader"), run("ColumnScaler"), run("ColumnScalerV0")]) == []
    found = pc.refusals(granted, "host", [run("TestModule", name="test_0")])
    assert reasons(found) == ["run component test_0 (TestModule): not among the components granted "
                              "(columnscaler, reader)"]
    assert found[0].grant == ("component", "testmodule")
    # a grant stored under an alias (FATE's dataio for DataTransform) counts for the module
    assert grants(component={"columnscalerv0"}).allows_component(REGISTRY.get("ColumnScaler"))
    assert pc.refusals(grants(component={"*"}), "host", [run("TestModule")]) == []


@pytest.mark.parametrize(("module", "params", "access"), [
    ("Upload", {"file": "/etc/passwd", "namespace": "experiment", "name": "stolen"}, "write table experiment.stolen"),
    ("Download", {"output_path": "/tmp/out.csv", "namespace": "experiment", "name": "breast_hetero_host"},
     "write the file /tmp/out.csv"),
    ("Writer", {"output_namespace": "experiment", "output_name": "breast_hetero_host"},
     "write table experiment.breast_hetero_host"),
])
def test_components_that_write_here_are_refused_whatever_is_granted(module: str, params: dict, access: str):
    everything = grants(component={"*"}, dataset={"*"}, role={"*"})
    found = pc.refusals(everything, "host", [run(module, params, name="io_0")])
    assert reasons(found) == [f"run component io_0 ({module}): it would {access} here, which only this party's "
                              "own jobs may do, whatever is granted"]
    assert found[0].grant is None  # no grant can allow it


def test_data_access_is_decided_by_the_parameters_hooks_not_the_module_name():
    class ExportParams(Params):
        path: str = "/srv/out"

        def file_written(self) -> str | None:
            return self.path

    spec = ComponentSpec(module="Reader2", params=ExportParams, runners={"host": "x:run"})
    found = pc.refusals(grants(component={"*"}), "host", [pc.RunHere("export_0", spec, ExportParams())])
    assert "it would write the file /srv/out here" in found[0].reason
    # a Writer whose parameters name no table writes none (its run fails): nothing to refuse for data access
    assert pc.local_access(REGISTRY.get("Writer").parse_params({})) is None


def test_roles_once_granted_are_the_only_ones():
    assert pc.refusals(grants(role={"guest", "host"}), "host", []) == []
    found = pc.refusals(grants(role={"guest"}), "arbiter", [])
    assert reasons(found) == ["play arbiter (it agreed to play only guest)"] and found[0].grant == ("role", "arbiter")
    assert pc.refusals(grants(role={"*"}), "arbiter", []) == []


def test_the_message_names_the_partner_what_and_the_grant_that_would_allow_it():
    found = pc.refusals(grants(component={"reader"}, role={"guest"}), "host",
                        [run("Reader", BREAST), run("TestModule", name="t_0")])
    message = pc.refusal_message("9999", HOST, found)
    assert message.startswith("permission denied: party 9999 may not make host 10000 play host")
    assert "read table experiment.breast_hetero_host in component reader_0 (Reader)" in message
    assert "run component t_0 (TestModule)" in message
    conf = json.loads(message.split("(conf.json: ", 1)[1][:-1])
    assert conf == {"party_id": 9999, "component": "testmodule", "role": "host",
                    "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    only_io = pc.refusals(grants(), "host", [run("Upload", {"file": "f", "namespace": "n", "name": "m"})])
    assert "flow privilege grant" not in pc.refusal_message("9999", HOST, only_io)


# -- validation ----------------------------------------------------------------------------------------------------
def test_a_valid_request_is_normalised():
    request = pc.parse_request(REGISTRY, {"party_id": "9999", "conf_path": "/x/grant.json",
                                          "component": " Reader , columnScalerV0,reader", "role": "Guest,host",
                                          "dataset": [{"namespace": "experiment", "name": "a"},
                                                      {"name": "a", "namespace": "experiment"}]})
    assert request.party_id == "9999"
    assert request.values == {"component": ("reader", "columnscaler"), "dataset": ("experiment/a",),
                              "role": ("guest", "host")}
    assert pc.parse_request(REGISTRY, {"party_id": 10000, "component": "*", "dataset": "*"}).values == {
        "component": ("*",), "dataset": ("*",)}
    assert pc.parse_request(REGISTRY, {"party_id": 1, "dataset": {"namespace": "n", "name": "m"}}).values == {
        "dataset": ("n/m",)}


@pytest.mark.parametrize(("body", "field"), [
    ({}, "party_id"),
    ({"party_id": "abc", "component": "*"}, "party_id"),
    ({"party_id": True, "component": "*"}, "party_id"),
    ({"party_id": -1, "component": "*"}, "party_id"),
    ({"party_id": 1.5, "component": "*"}, "party_id"),
    ({"party_id": "1" * 19, "component": "*"}, "party_id"),
    ({"party_id": 9999}, "component, dataset or role"),
    ({"party_id": 9999, "component": 7}, "component must be"),
    ({"party_id": 9999, "component": []}, "component lists no"),
    ({"party_id": 9999, "component": "reader,"}, "component[1]"),
    ({"party_id": 9999, "component": "reader,../x"}, "component[1]"),
    ({"party_id": 9999, "component": "hetero_lr"}, "component 'hetero_lr' is not provided"),
    ({"party_id": 9999, "component": ",".join(["reader"] * 1001)}, "at most 1000"),
    ({"party_id": 9999, "dataset": "all"}, "dataset must be"),
    ({"party_id": 9999, "dataset": []}, "dataset lists no"),
    ({"party_id": 9999, "dataset": [{"namespace": "n"}]}, "dataset[0] must be"),
    ({"party_id": 9999, "dataset": [{"namespace": "n", "name": "m", "x": 1}]}, "dataset[0] must be"),
    ({"party_id": 9999, "dataset": [{"namespace": "n", "name": "m"}, {"namespace": 3, "name": "m"}]},
     "dataset[1].namespace must be a string"),
    ({"party_id": 9999, "dataset": [{"namespace": "n", "name": "a/b"}]}, "dataset[0].name"),
    ({"party_id": 9999, "dataset": [{"namespace": "n", "name": ".."}]}, "dataset[0].name"),
    ({"party_id": 9999, "dataset": [{"namespace": "n" * 200, "name": "m" * 200}]}, "dataset[0]: namespace and name"),
    ({"party_id": 9999, "dataset": [{"namespace": "n", "name": "m"}] * 1001}, "at most 1000"),
    ({"party_id": 9999, "role": "boss"}, "role 'boss'"),
    ({"party_id": 9999, "role": "local"}, "role 'local'"),
    ({"party_id": 9999, "role": {"guest": 1}}, "role must be"),
])
def test_bad_input_answers_101_naming_the_field(body: dict, field: str):
    with pytest.raises(ArgumentError) as raised:
        pc.parse_request(REGISTRY, body)
    assert raised.value.retcode == 101 and field in raised.value.message, raised.value.message


def test_a_delete_may_name_a_component_this_server_no_longer_provides():
    request = pc.parse_request(REGISTRY, {"party_id": 9999, "component": "HeteroFeatureBinning,retired_module"},
                               for_delete=True)
    assert request.values == {"component": ("heterofeaturebinning", "retired_module")}


# -- storage -------------------------------------------------------------------------------------------------------
class FakeRuntime:
    registry = REGISTRY


def test_grants_are_idempotent_and_deletes_remove_what_they_name(database: str):
    rt = FakeRuntime()
    body = {"party_id": 9999, "component": "reader,ColumnScalerV0",
            "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    first = pc.grant(rt, body)
    assert pc.grant(rt, body) == first == {
        "component": ["columnscaler", "reader"], "role": [],
        "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]}
    assert PartyPermission.select().count() == 3
    pc.grant(rt, {"party_id": "10001", "dataset": "*", "role": "guest"})
    assert pc.query_request({"party_id": "10001"}) == {"component": [], "dataset": ["*"], "role": ["guest"]}
    assert pc.load_grants("9999").allows_table(TableRef("experiment", "breast_hetero_host"))

    after = pc.delete(rt, {"party_id": 9999, "component": "READER",
                           "dataset": [{"namespace": "experiment", "name": "breast_hetero_host"}]})
    assert after == {"component": ["columnscaler"], "dataset": [], "role": []}
    assert pc.delete(rt, {"party_id": 9999, "component": "*"})["component"] == []
    # the other partner's grants are untouched
    assert pc.query_request({"party_id": 10001}) == {"component": [], "dataset": ["*"], "role": ["guest"]}
    assert pc.delete(rt, {"party_id": 10001, "dataset": "*", "role": "*"}) == {
        "component": [], "dataset": [], "role": []}
    assert PartyPermission.select().count() == 0
