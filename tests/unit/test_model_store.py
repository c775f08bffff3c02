"""The model store on each database engine: a version is written whole or not at all, a broken component model
is refused with the store unchanged, a deploy copies a version, and keys cannot leave the store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from fate_flow.db.models import ModelInfo
from fate_flow.engine.model_files import load_model, save_model
from fate_flow.entity.keys import ModelKey
from fate_flow.errors import ArgumentError
from fate_flow.manager.model_store import ComponentModelFiles, ModelStore, ModelStoreError

KEY = ModelKey("guest", "9999", "arbiter-10000#guest-9999#host-10000#model", "202611300000000000001")
PIPELINE = {"job_id": "202611300000000000001", "roles": {"guest": [9999]}, "initiator_role": "guest",
            "initiator_party_id": "9999", "train_dsl": {"components": {}}, "inference_dsl": {}, "parent": True}


def _component(tmp_path: Path, name: str, weight: float) -> ComponentModelFiles:
    directory = tmp_path / "task" / name / "model"
    directory.parent.mkdir(parents=True, exist_ok=True)
    save_model(directory, "HeteroLR", "model", {"weight": weight}, {"penalty": "L2"}, {"w": np.arange(3.0) * weight})
    return ComponentModelFiles(name, "model", "HeteroLR", directory)


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its digest: what "unchanged" means."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_saved_version_reads_back_and_is_replaced_whole(database, tmp_path: Path):
    store = ModelStore(tmp_path / "store")
    info = store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 1.0)])
    assert info.f_parent is True and info.f_size == store.size(KEY) > 0
    module, aliases = store.component_models(KEY)["lr_0"]
    assert module == "HeteroLR" and load_model(aliases["model"]).param == {"weight": 1.0}
    store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 2.0)])  # the same version written again
    assert load_model(store.component_models(KEY)["lr_0"][1]["model"]).param == {"weight": 2.0}
    assert ModelInfo.select().where(ModelInfo.matches(KEY)).count() == 1
    assert [p.name for p in store.directory(KEY).parent.iterdir()] == [KEY.model_version]


def test_a_broken_component_model_leaves_the_store_unchanged(database, tmp_path: Path):
    store = ModelStore(tmp_path / "store")
    store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 1.0)])
    before, row_before = _tree(store.root), ModelInfo.find(KEY).f_size
    broken = _component(tmp_path, "lr_1", 3.0)
    (broken.directory / "w.npy").write_bytes(b"altered after it was saved")
    with pytest.raises(ModelStoreError, match="does not match its manifest"):
        store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 5.0), broken])
    assert _tree(store.root) == before and ModelInfo.find(KEY).f_size == row_before
    linked = _component(tmp_path, "lr_2", 1.0)
    (linked.directory / "w.npy").unlink()
    os.symlink("/etc/passwd", linked.directory / "w.npy")
    with pytest.raises(ModelStoreError, match="missing"):
        store.save(KEY, PIPELINE, [linked])
    assert _tree(store.root) == before
    # a file the manifest does not list is not part of the model: it is not copied
    extra = _component(tmp_path, "lr_3", 1.0)
    (extra.directory / "notes.txt").write_text("not listed")
    store.save(KEY, PIPELINE, [extra])
    assert not (store.component_directory(KEY, "lr_3", "model") / "notes.txt").exists()


def test_a_crashed_write_is_cleaned_by_the_next(database, tmp_path: Path):
    store = ModelStore(tmp_path / "store")
    leftover = store.directory(KEY).parent / f".tmp-{KEY.model_version}.deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "pipeline.json").write_text("{half")
    store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 1.0)])
    assert not leftover.exists() and store.pipeline(KEY)["job_id"] == PIPELINE["job_id"]


def test_a_deploy_copies_the_version_with_its_changes(database, tmp_path: Path):
    store = ModelStore(tmp_path / "store")
    store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 1.0)])
    child = KEY.at_version("202611300000000000002")
    info = store.copy(KEY, child, {"parent": False, "inference_dsl": {"components": {"lr_0": {}}}})
    assert info.f_parent is False and info.f_inference_dsl == {"components": {"lr_0": {}}}
    assert load_model(store.component_models(child)["lr_0"][1]["model"]).param == {"weight": 1.0}
    assert ModelInfo.find(KEY).f_parent is True
    with pytest.raises(ModelStoreError, match="not in the model store"):
        store.copy(KEY.at_version("19990101"), child, {})


@pytest.mark.parametrize("field, value", [("model_id", "../../etc"), ("model_version", "1/../../x"),
                                          ("party_id", ".."), ("role", "guest/.."), ("model_id", "")])
def test_a_key_cannot_leave_the_store(field: str, value: str):
    parts = {"role": "guest", "party_id": "9999", "model_id": "guest-9999#model", "model_version": "1"}
    with pytest.raises(ArgumentError, match=field):
        ModelKey(**{**parts, field: value})


def test_a_failed_row_write_puts_the_previous_version_back(database, tmp_path: Path, monkeypatch):
    store = ModelStore(tmp_path / "store")
    store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 1.0)])
    before, row_before = _tree(store.root), ModelInfo.find(KEY).to_dict()

    def failing_row(*_args, **_kwargs):
        raise RuntimeError("the database went away")
    monkeypatch.setattr(ModelStore, "_write_row", failing_row)
    with pytest.raises(RuntimeError, match="went away"):
        store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 9.0)])
    assert _tree(store.root) == before and ModelInfo.find(KEY).to_dict() == row_before
    with pytest.raises(RuntimeError):  # a first version: nothing of it is left
        store.save(KEY.at_version("2"), PIPELINE, [_component(tmp_path, "lr_0", 9.0)])
    assert not store.directory(KEY.at_version("2")).exists()


def test_a_copy_never_replaces_a_version(database, tmp_path: Path):
    store = ModelStore(tmp_path / "store")
    store.save(KEY, PIPELINE, [_component(tmp_path, "lr_0", 1.0)])
    other = KEY.at_version("2")
    store.save(other, PIPELINE, [_component(tmp_path, "lr_0", 2.0)])
    before = _tree(store.root)
    with pytest.raises(ModelStoreError, match="exists already"):
        store.copy(KEY, other, {"parent": False})
    assert _tree(store.root) == before
