"""A component's models: written as files into the task's model directory and registered with the
server (never pushed as JSON); read back by a later predict stage through ``ctx.models.load``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fate_flow.engine.model_files import Model, ModelFileError, load_model, save_model
from fate_flow.entity.task_config import ModelRef
from fate_flow.errors import ComponentError
from fate_flow.framework.tracker import Tracker
from fate_flow.utils.paths import SAFE_NAME


class Models:
    def __init__(self, module: str, model_dir: Path, inputs: dict[str, list[ModelRef]], tracker: Tracker):
        self._module = module
        self._dir = model_dir
        self._inputs = inputs
        self._tracker = tracker

    def save(self, param: dict[str, Any], meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None,
             alias: str = "model") -> None:
        """Save this task's model ``alias``: ``param`` and ``meta`` are JSON, ``arrays`` numeric arrays."""
        if not SAFE_NAME.match(alias) or ".." in alias:
            raise ComponentError(f"model alias {alias!r}: use letters, digits, '_', '-', '.'")
        directory = self._dir / alias
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            save_model(directory, self._module, alias, param, meta, arrays)
        except ModelFileError as exc:
            raise ComponentError(f"cannot save model {alias}: {exc}") from exc
        self._tracker.register_model(alias, self._module, str(directory))

    def available(self, key: str = "model") -> list[ModelRef]:
        """The models bound to input ``key`` (``model`` or ``isometric_model``)."""
        return list(self._inputs.get(key, []))

    def load(self, key: str = "model", index: int = 0) -> Model:
        """The ``index``-th model bound to input ``key``, verified against its manifest."""
        refs = self._inputs.get(key) or []
        if index >= len(refs):
            raise ComponentError(f"this task has no {key} input #{index} (bound: {len(refs)})")
        ref = refs[index]
        try:
            return load_model(Path(ref.directory))
        except ModelFileError as exc:
            raise ComponentError(f"cannot load the model of {ref.component_name}: {exc}") from exc
