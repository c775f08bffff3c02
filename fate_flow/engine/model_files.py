"""A component's model as files: the one format that executors write and the server registers and reads.

A model lives in one directory::

    manifest.json   {"format": 1, "module": ..., "alias": ..., "files": {name: {"sha256": ..., "size": ...}}}
    param.json      the model's parameters (FATE-Board shows them as the component's model output)
    meta.json       how it was trained (FATE's ModelMeta)
    <name>.npy      numeric arrays (weights, trees ...), numpy format without pickle

It is written into a temporary sibling and renamed into place, so a reader never sees half a model.
Reading checks every file against the manifest's digest and loads arrays with ``allow_pickle=False``:
a model file can never execute code, wherever it came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where arrays are written or read: the server only reads manifests
    import numpy as np

FORMAT = 1
MANIFEST = "manifest.json"
PARAM, META = "param.json", "meta.json"
ARRAY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
MAX_ARRAYS = 1000


class ModelFileError(ValueError):
    """A model directory is missing, incomplete, altered, or not in this format."""


@dataclass(frozen=True)
class Model:
    """A loaded model: what ``save_model`` was given."""

    module: str
    alias: str
    param: dict[str, Any]
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _dump_json(path: Path, value: Any) -> None:
    try:
        path.write_text(json.dumps(value, separators=(",", ":"), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path.name}: not JSON-serialisable ({exc}); put numeric data in arrays") from exc


def save_model(directory: Path, module: str, alias: str, param: dict[str, Any], meta: dict[str, Any],
               arrays: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Write a model into ``directory`` (replaced if it exists) atomically; returns its manifest."""
    import numpy as np

    arrays = arrays or {}
    if len(arrays) > MAX_ARRAYS:
        raise ModelFileError(f"a model holds at most {MAX_ARRAYS} arrays, got {len(arrays)}")
    staging = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.tmp")
    staging.mkdir(parents=True)
    try:
        _dump_json(staging / PARAM, param)
        _dump_json(staging / META, meta)
        for name, array in arrays.items():
            if not ARRAY_NAME.match(name):
                raise ModelFileError(f"array name {name!r}: use letters, digits, '_', '.', '-'")
            value = np.asarray(array)
            if value.dtype.kind not in "biufc":
                raise ModelFileError(f"array {name!r} has dtype {value.dtype}: numeric arrays only")
            np.save(staging / f"{name}.npy", value, allow_pickle=False)
        files = {p.name: {"sha256": _digest(p), "size": p.stat().st_size} for p in sorted(staging.iterdir())}
        manifest = {"format": FORMAT, "module": module, "alias": alias, "files": files}
        _dump_json(staging / MANIFEST, manifest)
        old = directory.with_name(f".{directory.name}.{uuid.uuid4().hex}.old")
        if directory.exists():
            os.rename(directory, old)
        os.rename(staging, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the model in ``directory``, with every listed file checked against it."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"no readable model manifest in {directory}: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(
            manifest.get("files"), dict):
        raise ModelFileError(f"{directory / MANIFEST} is not a model manifest of format {FORMAT}")
    for name, entry in manifest["files"].items():
        if not isinstance(name, str) or "/" in name or name.startswith(".") or not isinstance(entry, dict):
            raise ModelFileError(f"manifest of {directory} lists a bad file entry {name!r}")
        path = directory / name
        if not path.is_file() or path.is_symlink():
            raise ModelFileError(f"model file {path} is missing")
        if path.stat().st_size != entry.get("size") or _digest(path) != entry.get("sha256"):
            raise ModelFileError(f"model file {path} does not match its manifest (changed after it was saved)")
    for required in (PARAM, META):
        if required not in manifest["files"]:
            raise ModelFileError(f"model in {directory} has no {required}")
    return manifest


def load_model(directory: Path) -> Model:
    """Read and verify the model in ``directory``."""
    import numpy as np

    manifest = read_manifest(directory)
    arrays = {}
    for name in manifest["files"]:
        if name.endswith(".npy"):
            try:
                arrays[name[:-4]] = np.load(directory / name, allow_pickle=False)
            except ValueError as exc:
                raise ModelFileError(f"model array {directory / name}: {exc}") from exc
    return Model(module=str(manifest.get("module", "")), alias=str(manifest.get("alias", "")),
                 param=json.loads((directory / PARAM).read_text()), meta=json.loads((directory / META).read_text()),
                 arrays=arrays)


def read_param_and_meta(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the JSON parts (what FATE-Board shows), verified."""
    read_manifest(directory)
    return json.loads((directory / PARAM).read_text()), json.loads((directory / META).read_text())
