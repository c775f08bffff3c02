"""The model store: each party's pipelined models, as files under ``<home>/model_local_cache`` and a row each.

A party's model version is one directory, ``<party_model_id>/<model_version>``::

    pipeline.json                   what ``ModelInfo`` holds (train DSL and confs, inference DSL, parent ...)
                                    and ``components``: {name: {"module": M, "aliases": [alias, ...]}}
    variables/<component>/<alias>/  one component model in the format of ``engine.model_files``
    converted/<component>/<alias>/  that model in another framework's format (homo conversion; never read here)

Writes go one at a time (a lock; each takes milliseconds). A version is written whole into a temporary
sibling, renamed into place (the version it replaces renamed aside first), then its row is written; if the
second rename or the row fails, the previous directory is renamed back. A reader that finds the row finds
every file, and a crash leaves the previous version, a row without its directory only if the process dies
between the two renames (a missing version is reported as missing), and at most a temporary directory,
removed by the next write of that model. Component models are verified against their manifests when they
are copied in and when a task loads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fate_flow.db.connection import write_transaction
from fate_flow.db.models import ModelInfo
from fate_flow.engine.model_files import MANIFEST, ModelFileError, read_manifest
from fate_flow.entity.keys import ModelKey
from fate_flow.utils.paths import check_name, confine

PIPELINE = "pipeline.json"
VARIABLES = "variables"
CONVERTED = "converted"  # converted/<component>/<alias>/<file>: a model in another framework's format (homo)
TEMPORARY_PREFIX = ".tmp-"
# the pipeline fields kept on the row too (the rest of pipeline.json describes the files)
ROW_FIELDS = ("job_id", "roles", "initiator_role", "initiator_party_id", "train_dsl", "train_runtime_conf",
              "runtime_conf_on_party", "inference_dsl", "fate_version", "parent", "parent_info")


# what a rewrite of a version (adding converted models) keeps of its row besides the pipeline's fields
KEPT_ON_REWRITE = ("create_time", "imported", "archive_sha256", "archive_from_ip", "loaded_times", "description")
SCRATCH_MAX_AGE_S = 3600  # a scratch directory older than this was left by a crash
_WRITES = threading.RLock()  # the store's writes, one at a time


class ModelStoreError(ValueError):
    """A model version that is missing, incomplete or not in this store's format."""


@dataclass(frozen=True)
class ComponentModelFiles:
    """One component model to put into a pipelined model: where its files are now."""

    component: str
    alias: str
    module: str
    directory: Path


class ModelStore:
    def __init__(self, root: Path):
        self.root = root

    def directory(self, key: ModelKey) -> Path:
        """The version's directory, ``<root>/<role>#<party>#<model_id>/<model_version>`` (the key checked its
        parts; ``confine`` keeps the result inside the store whatever they are)."""
        return confine(self.root, key.party_model_id, key.model_version)

    def component_directory(self, key: ModelKey, component: str, alias: str) -> Path:
        """Where component ``component``'s model ``alias`` of version ``key`` lives."""
        return confine(self.directory(key), VARIABLES, check_name("component_name", component),
                       check_name("model alias", alias))

    def save(self, key: ModelKey, pipeline: dict[str, Any], models: list[ComponentModelFiles]) -> ModelInfo:
        """Write version ``key`` whole (``pipeline`` plus a verified copy of each component model), replacing an
        earlier write of the same version, then its row. ModelStoreError when a component model is broken;
        nothing of the version changes then."""
        components: dict[str, dict[str, Any]] = {}
        for model in models:
            entry = components.setdefault(model.component, {"module": model.module, "aliases": []})
            entry["aliases"].append(model.alias)

        def fill(staging: Path) -> None:
            for model in models:
                target = staging / VARIABLES / check_name("component_name", model.component) / check_name(
                    "model alias", model.alias)
                _verified_copy(model.directory, target)
        return self._publish(key, {**pipeline, "components": components}, fill)

    def copy(self, source: ModelKey, target: ModelKey, changes: dict[str, Any]) -> ModelInfo:
        """A new version ``target`` as a copy of ``source`` (its files verified) with ``changes`` to its
        pipeline: how a deploy makes a child version and a migrate the new parties' version. ModelStoreError
        when ``target`` exists already (nothing is replaced)."""
        pipeline = self.pipeline(source)
        source_variables = self.directory(source) / VARIABLES

        def fill(staging: Path) -> None:
            for component, alias in _aliases(pipeline):
                _verified_copy(source_variables / component / alias, staging / VARIABLES / component / alias)
        return self._publish(target, {**pipeline, **changes}, fill, replace=False)

    def install(self, key: ModelKey, pipeline: dict[str, Any], unpacked: Path, row: dict[str, Any],
                replace: bool) -> ModelInfo:
        """Version ``key`` from an unpacked archive (``model_archive.unpack``), replacing an earlier one whole only
        if ``replace`` (ModelStoreError otherwise); its row gets ``row`` (import marks) besides the pipeline's."""
        def fill(staging: Path) -> None:
            for component, alias in _aliases(pipeline):
                _verified_copy(unpacked / VARIABLES / component / alias, staging / VARIABLES / component / alias)
            _copy_converted(unpacked, staging)
        return self._publish(key, pipeline, fill, row, replace=replace)

    def add_converted(self, key: ModelKey, files: dict[tuple[str, str, str], bytes]) -> ModelInfo:
        """Version ``key`` again, whole, with converted models added: ``(component, alias, file name) -> bytes``
        under ``converted/`` (the server never reads them back; they are for export)."""
        pipeline = self.pipeline(key)
        source = self.directory(key)

        def fill(staging: Path) -> None:
            for component, alias in _aliases(pipeline):
                _verified_copy(source / VARIABLES / component / alias, staging / VARIABLES / component / alias)
            _copy_converted(source, staging)
            for (component, alias, name), data in files.items():
                target = staging / CONVERTED / check_name("component_name", component) / check_name(
                    "model alias", alias) / check_name("file name", name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        kept = ModelInfo.find(key)
        row = {name: getattr(kept, f"f_{name}") for name in KEPT_ON_REWRITE} if kept else {}
        return self._publish(key, pipeline, fill, row)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """An empty directory inside the store (same file system as the versions), removed afterwards (and
        those a crash left, once they are an hour old)."""
        for stale in self.root.glob(f"{TEMPORARY_PREFIX}scratch.*"):
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > SCRATCH_MAX_AGE_S:
                    shutil.rmtree(stale, ignore_errors=True)
        path = self.root / f"{TEMPORARY_PREFIX}scratch.{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def pipeline(self, key: ModelKey) -> dict[str, Any]:
        """Version ``key``'s ``pipeline.json``; ModelStoreError when it is not in the store."""
        path = self.directory(key) / PIPELINE
        try:
            value = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelStoreError(f"model {key.party_model_id} version {key.model_version} is not in the model "
                                  "store") from None
        except (OSError, ValueError) as exc:
            raise ModelStoreError(f"model {key.party_model_id} version {key.model_version}: {exc}") from None
        if not isinstance(value, dict) or not isinstance(value.get("components"), dict):
            raise ModelStoreError(f"model {key.party_model_id} version {key.model_version}: {PIPELINE} is not "
                                  "a pipelined model")
        return value

    def component_models(self, key: ModelKey) -> dict[str, tuple[str, dict[str, Path]]]:
        """Each component of version ``key``: its module and its model directories by alias."""
        pipeline = self.pipeline(key)
        return {component: (str(entry.get("module", "")),
                             {alias: self.component_directory(key, component, alias) for alias in entry["aliases"]})
                for component, entry in pipeline["components"].items()}

    def size(self, key: ModelKey) -> int:
        """The bytes of version ``key``'s files."""
        return sum(path.stat().st_size for path in self.directory(key).rglob("*") if path.is_file())

    def _publish(self, key: ModelKey, pipeline: dict[str, Any], fill, row: dict[str, Any] | None = None,
                 replace: bool = True) -> ModelInfo:
        final = self.directory(key)
        with _WRITES:
            if not replace and (final.exists() or ModelInfo.find(key) is not None):
                raise ModelStoreError(f"model {key.party_model_id} version {key.model_version} exists already")
            final.parent.mkdir(parents=True, exist_ok=True)
            for stale in final.parent.glob(f"{TEMPORARY_PREFIX}{key.model_version}.*"):
                shutil.rmtree(stale, ignore_errors=True)  # what a crashed earlier write of this version left
            staging = final.parent / f"{TEMPORARY_PREFIX}{key.model_version}.{uuid.uuid4().hex}"
            try:
                staging.mkdir()
                fill(staging)
                (staging / PIPELINE).write_text(json.dumps(pipeline, indent=1, sort_keys=True))
                retired = _swap_in(staging, final)
                try:
                    info = self._write_row(key, pipeline, row or {})
                except BaseException:
                    _swap_back(final, retired)
                    raise
                if retired is not None:
                    shutil.rmtree(retired, ignore_errors=True)
                return info
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _write_row(self, key: ModelKey, pipeline: dict[str, Any], row: dict[str, Any]) -> ModelInfo:
        fields = {f"f_{name}": pipeline.get(name) for name in ROW_FIELDS if name in pipeline}
        fields.update({f"f_{name}": value for name, value in row.items()})
        fields["f_size"] = self.size(key)
        with write_transaction():
            ModelInfo.delete().where(ModelInfo.matches(key)).execute()
            ModelInfo.insert_row(f_role=key.role, f_party_id=key.party_id, f_model_id=key.model_id,
                                 f_model_version=key.model_version, **fields).execute()
        return ModelInfo.find(key)


def _aliases(pipeline: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for component, entry in pipeline["components"].items():
        for alias in entry.get("aliases") or []:
            yield check_name("component_name", component), check_name("model alias", alias)


def _verified_copy(source: Path, target: Path) -> None:
    """Copy a component model: its manifest and the files it lists (nothing else), each checked before and
    after the copy."""
    if source.is_symlink() or not source.is_dir():
        raise ModelStoreError(f"component model {source.parent.name}/{source.name} is missing")
    try:
        manifest = read_manifest(source)
        target.mkdir(parents=True)
        for name in (MANIFEST, *manifest["files"]):
            shutil.copyfile(source / name, target / name)
        read_manifest(target)
    except ModelFileError as exc:
        raise ModelStoreError(f"component model {source.parent.name}/{source.name}: {exc}") from None


def _copy_converted(source: Path, staging: Path) -> None:
    """The converted models of a version (regular files three levels under ``converted/``)."""
    for path in sorted((source / CONVERTED).glob("*/*/*")):
        if path.is_file() and not path.is_symlink():
            target = staging / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _swap_in(staging: Path, final: Path) -> Path | None:
    """Put ``staging`` at ``final`` by renames (a reader sees the old version or the new one, never a mix); the
    old version's directory, renamed aside, or None. On failure ``final`` is what it was."""
    if not final.exists():
        os.rename(staging, final)
        return None
    retired = final.with_name(f"{TEMPORARY_PREFIX}{final.name}.old.{uuid.uuid4().hex}")
    os.rename(final, retired)
    try:
        os.rename(staging, final)
    except BaseException:
        os.rename(retired, final)
        raise
    return retired


def _swap_back(final: Path, retired: Path | None) -> None:
    """Undo ``_swap_in``: the new version removed, the old one (if any) back at ``final``."""
    shutil.rmtree(final, ignore_errors=True)
    if retired is not None:
        os.rename(retired, final)
