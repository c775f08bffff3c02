"""The component framework's parts on their own: specs and the registry, typed parameters, tag
sub-contexts, the standalone table engine, model files, the task config, big-integer vectors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import Field

from fate_flow.engine import codec
from fate_flow.engine.bigint import BigIntVector
from fate_flow.engine.model_files import ModelFileError, load_model, read_manifest, save_model
from fate_flow.engine.standalone import StandaloneComputing
from fate_flow.engine.table import Schema
from fate_flow.entity.keys import TaskKey
from fate_flow.entity.table_meta import TableMeta
from fate_flow.entity.task_config import FederationConfig, ModelRef, NamedTable, TaskConfig
from fate_flow.errors import ComponentError, ParamError
from fate_flow.framework import ComponentSpec, Params
from fate_flow.framework.federation import Exchange, derive_tag, sub_path
from fate_flow.framework.registry import Registry, RegistryError, load_registry, spec_from_source
from fate_flow.framework.spec import PREDICT, TRAIN, stage_of


# -- specs, registry, parameters ---------------------------------------------------------------------------------
class DemoParams(Params):
    alpha: float = Field(0.01, ge=0)
    penalty: str = Field("L2", pattern="^(L1|L2)$")


def test_params_name_the_bad_field():
    assert DemoParams.parse("Demo", {"alpha": 0.5}).alpha == 0.5
    assert DemoParams.parse("Demo", None).penalty == "L2"
    for raw, field in (({"alpha": -1}, "alpha"), ({"penalty": "L3"}, "penalty"), ({"alhpa": 1}, "alhpa")):
        with pytest.raises(ParamError) as caught:
            DemoParams.parse("Demo", raw)
        assert caught.value.field == field and caught.value.module == "Demo"
        assert str(caught.value).startswith(f"Demo: parameter {field}:")
    assert "is not a parameter" in str(pytest.raises(ParamError, DemoParams.parse, "Demo", {"x": 1}).value)


def test_a_spec_is_checked_when_declared():
    with pytest.raises(ValueError, match="runners"):
        ComponentSpec(module="Bad", params=DemoParams, runners={"boss": "m:f"})
    with pytest.raises(ValueError, match="python.module:function"):
        ComponentSpec(module="Bad", params=DemoParams, runners={"guest": "no_colon"})
    with pytest.raises(ValueError, match="stages"):
        ComponentSpec(module="Bad", params=DemoParams, runners={"guest": "m:f"}, stages=("fit",))


def test_the_registry_finds_every_builtin_by_name_and_alias():
    registry = load_registry()
    assert {spec.module for spec in registry.specs()} >= {"Reader", "Upload", "Download", "Writer", "TestModule",
                                                          "SecureAddExample"}
    reader = registry.get("Reader")
    assert reader.runs_at("guest") and reader.runs_at("host") and not reader.runs_at("arbiter")
    assert registry.source("Upload") == "fate_flow.components.upload"
    assert "fate_flow.components.upload.convert" in registry.preload_modules()
    with pytest.raises(LookupError, match="'HeteroNothing' is not provided"):
        registry.get("HeteroNothing")
    extra = load_registry(("tests.components.scaler",))
    assert extra.get("ColumnScalerV0") is extra.get("ColumnScaler")
    assert spec_from_source("tests.components.scaler", "ColumnScalerV0").module == "ColumnScaler"


def test_two_specs_may_not_claim_one_name():
    with pytest.raises(RegistryError, match="declared by both"):
        Registry(["tests.components.scaler", "tests.components.scaler_twin"])


def test_stage_follows_fate():
    assert stage_of("train", ["train_data"], False) == TRAIN
    assert stage_of("train", ["train_data", "validate_data"], True) == TRAIN  # warm start
    assert stage_of("train", ["test_data"], True) == PREDICT
    assert stage_of("train", ["data"], True) == PREDICT
    assert stage_of("predict", ["data"], False) == PREDICT


# -- sub-contexts and the exchange ledger ------------------------------------------------------------------------
def test_tags_of_sub_contexts_never_collide():
    tags = set()
    for epoch, batch in itertools.product(range(40), range(40)):
        tags.add(derive_tag(sub_path(sub_path((), "epoch", epoch), "batch", batch)))
    for epoch in range(40):
        tags.add(derive_tag(sub_path((), "epoch", epoch)))
        tags.add(derive_tag(sub_path((), "batch", epoch)))
        tags.add(derive_tag(sub_path(sub_path((), "batch", epoch), "epoch", 0)))
    tags.add(derive_tag(()))
    assert len(tags) == 40 * 40 + 3 * 40 + 1
    # names and indexes that could spell another path are refused
    for name, index in (("epoch.1", 0), ("a/b", 0), ("", 0), ("epoch", -1), ("epoch", "1/x"), ("epoch", True)):
        with pytest.raises(ComponentError):
            sub_path((), name, index)


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list]] = []

    def remote(self, obj: Any, name: str, tag: str, parties) -> None:
        self.sent.append((name, tag, list(parties)))

    def get(self, name: str, tag: str, parties) -> list:
        return [f"{name}@{tag}"] * len(parties)

    def close(self) -> None:
        pass


def test_an_object_is_exchanged_once_per_tag_and_party():
    transport = RecordingTransport()
    exchange = Exchange(transport, ("guest", "9999"), {"guest": ["9999"], "host": ["10000", "10001"]})
    hosts = [("host", "10000"), ("host", "10001")]
    exchange.put("gradient", 1, "root", hosts)
    exchange.put("gradient", 2, "epoch.0", hosts)
    with pytest.raises(ComponentError, match="already sent to host 10000 at tag root"):
        exchange.put("gradient", 3, "root", hosts[:1])
    assert exchange.get("loss", "root", hosts) == ["loss@root", "loss@root"]
    with pytest.raises(ComponentError, match="already received"):
        exchange.get("loss", "root", hosts[1:])
    with pytest.raises(ComponentError, match="no other parties"):
        Exchange(None, ("local", "0"), {}).put("x", 1, "root", hosts)


# -- the standalone table engine ---------------------------------------------------------------------------------
def _stored(tmp_path: Path) -> TableMeta:
    directory = tmp_path / "t"
    directory.mkdir()
    pq.write_table(pa.table({"id": ["a", "b", "c", "d"], "y": ["1", "0", "1", "0"], "x0": ["0.5", "1.5", "2", "-1"],
                             "x1": ["1", "2", "3", "4"]}), directory / "data.parquet")
    return TableMeta(namespace="ns", name="t", path=str(directory), count=4,
                     schema={"header": "y,x0,x1", "sid": "id"})


def test_tables_parse_features_and_keep_ids(tmp_path: Path):
    computing = StandaloneComputing(cores=2)
    table = computing.read(_stored(tmp_path))
    assert table.schema == Schema(sid="id", header=("y", "x0", "x1"))
    labelled = table.with_schema(Schema(sid="id", header=("x0", "x1"), label="y"))
    np.testing.assert_array_equal(labelled.features(), [[0.5, 1], [1.5, 2], [2, 3], [-1, 4]])
    np.testing.assert_array_equal(labelled.labels(), [1, 0, 1, 0])
    assert list(labelled.filter_sids(["d", "b", "zz"]).sids()) == ["b", "d"]
    assert list(labelled.take(np.array([3, 0])).sids()) == ["d", "a"]
    assert [t.count() for t in labelled.batches(3)] == [3, 1]
    with pytest.raises(ComponentError, match="no label column"):
        table.labels()
    bad = computing.from_numpy(Schema(sid="id", header=("x",)), ["a"], np.array([["oops"]]))
    with pytest.raises(ComponentError, match="column 'x'"):
        bad.features()


def test_an_unchanged_table_is_linked_not_rewritten(tmp_path: Path):
    computing = StandaloneComputing()
    meta = _stored(tmp_path)
    source = Path(meta.path) / "data.parquet"
    assert computing.write(computing.read(meta), tmp_path / "copy") == 4
    assert (tmp_path / "copy" / "data.parquet").stat().st_ino == source.stat().st_ino
    derived = computing.read(meta).take(np.array([0]))
    assert computing.write(derived, tmp_path / "derived") == 1
    assert (tmp_path / "derived" / "data.parquet").stat().st_ino != source.stat().st_ino
    built = computing.from_numpy(Schema(sid="id", header=("a", "b"), label="y"), ["1", "2"], np.eye(2),
                                 labels=np.array([0.0, 1.0]))
    assert computing.write(built, tmp_path / "built") == 2
    stored = pq.read_table(tmp_path / "built" / "data.parquet")
    assert stored.column_names == ["id", "y", "a", "b"]


def _square(value: int) -> int:
    return value * value


def test_parallel_map_keeps_order():
    assert StandaloneComputing(cores=2).parallel_map(_square, list(range(20))) == [v * v for v in range(20)]


# -- model files -------------------------------------------------------------------------------------------------
def test_a_model_round_trips_and_tampering_is_detected(tmp_path: Path):
    directory = tmp_path / "model" / "model"
    weights = np.arange(6, dtype=np.float64).reshape(2, 3)
    manifest = save_model(directory, "HeteroLR", "model", {"intercept": 0.5}, {"max_iter": 3}, {"w": weights})
    assert set(manifest["files"]) == {"param.json", "meta.json", "w.npy"}
    model = load_model(directory)
    assert model.param == {"intercept": 0.5} and model.meta == {"max_iter": 3} and model.module == "HeteroLR"
    np.testing.assert_array_equal(model.arrays["w"], weights)
    save_model(directory, "HeteroLR", "model", {"intercept": 1.0}, {}, {})  # replaced whole, atomically
    assert load_model(directory).param == {"intercept": 1.0} and not load_model(directory).arrays
    assert sorted(p.name for p in directory.parent.iterdir()) == ["model"]  # no staging left behind
    (directory / "param.json").write_text('{"intercept": 2.0}')
    with pytest.raises(ModelFileError, match="does not match its manifest"):
        read_manifest(directory)


def test_a_model_refuses_what_it_cannot_store_safely(tmp_path: Path):
    with pytest.raises(ModelFileError, match="numeric arrays only"):
        save_model(tmp_path / "m", "M", "model", {}, {}, {"objects": np.array([object()])})
    with pytest.raises(ModelFileError, match="array name"):
        save_model(tmp_path / "m", "M", "model", {}, {}, {"../escape": np.zeros(1)})
    with pytest.raises(ModelFileError, match="JSON"):
        save_model(tmp_path / "m", "M", "model", {"w": np.zeros(2)}, {})
    assert not (tmp_path / "m").exists()
    # a pickled array in place of the real one is refused, never unpickled
    save_model(tmp_path / "p", "M", "model", {}, {}, {"w": np.zeros(2)})
    np.save(tmp_path / "p" / "w.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    path = tmp_path / "p" / "w.npy"
    import hashlib

    manifest["files"]["w.npy"] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "size": path.stat().st_size}
    (tmp_path / "p" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="pickle"):
        load_model(tmp_path / "p")


# -- typed contracts ---------------------------------------------------------------------------------------------
def test_the_task_config_round_trips(tmp_path: Path):
    key = TaskKey("202601010000000000000", "lr_0", "202601010000000000000_lr_0", 2, "host", "10000")
    config = TaskConfig(
        server_url="http://127.0.0.1:9380", local_token="t", task=key, module="HeteroLR",
        spec_source="fate_flow.components.lr", stage=PREDICT, parameters={"alpha": 1}, cores=4,
        computing_engine="standalone", roles={"guest": ["9999"], "host": ["10000"]}, party_log_dir="/l",
        component_log_dir="/l/c", model_dir="/m", tables_dir="/t",
        federation=FederationConfig(routes={"9999": "127.0.0.1:9360"}),
        input_tables={"data": [TableMeta(namespace="a", name="b", path="/t/a/b", count=3)]},
        input_models={"model": [ModelRef("lr_0", "model", "HeteroLR", "/m/model")]},
        named_table=NamedTable("ns", "n", "/t/ns/n/j"),
    )
    path = tmp_path / "task_config.json"
    config.write(path)
    assert TaskConfig.read(path) == config
    assert path.stat().st_mode & 0o777 == 0o600
    assert key.path == "202601010000000000000/lr_0/202601010000000000000_lr_0/2/host/10000"


def test_table_meta_validates_what_it_is_given():
    assert TableMeta.from_dict({"namespace": "a", "name": "b", "path": "/p", "count": "5"}).count == 5
    for bad in ({"namespace": "a", "name": "b"}, {"namespace": "a", "name": "b", "path": "/p", "count": -1},
                {"namespace": "a", "name": "b", "path": "/p", "schema": []}, "not a dict"):
        with pytest.raises(ValueError):
            TableMeta.from_dict(bad)


# -- big integers on the data plane ------------------------------------------------------------------------------
def test_a_bigint_vector_travels_as_one_buffer():
    values = [(1 << 2047) + i * 7919 for i in range(1000)] + [0, 1]
    vector = BigIntVector.from_ints(values)
    assert vector.width == 256 and len(vector) == len(values) and vector[3] == values[3] and vector[-1] == 1
    encoded = codec.encode({"ciphertexts": vector})
    assert len(encoded) < len(values) * 256 + 64  # one block, no per-number framing
    decoded = codec.decode(encoded)["ciphertexts"]
    assert isinstance(decoded, BigIntVector) and decoded.ints() == values
    assert BigIntVector.from_ints([5], width=4).buffer.tobytes() == b"\x05\x00\x00\x00"
    with pytest.raises(ValueError):
        BigIntVector.from_ints([-1])
    with pytest.raises(ValueError):
        BigIntVector.from_ints([1 << 40], width=2)


def test_a_malformed_bigint_vector_is_refused():
    good = bytearray(codec.encode(BigIntVector.from_ints([1, 2, 3], width=8)))
    for broken in (good[:-1], good + b"\0"):
        with pytest.raises(codec.CodecError):
            codec.decode(bytes(broken))
    huge_width = bytearray(good)
    huge_width[5:9] = (1 << 20).to_bytes(4, "little")
    with pytest.raises(codec.CodecError, match="width"):
        codec.decode(bytes(huge_width))
    huge_count = bytearray(good)
    huge_count[9:17] = (1 << 60).to_bytes(8, "little")
    with pytest.raises(codec.CodecError, match="truncated"):
        codec.decode(bytes(huge_count))
