"""A component's spec: the one statement of what a component is, read by everything that handles it.

The submit check (module known, inputs it takes, parameters valid, stage it has), the server's binding of
inputs and outputs, the roles its tasks are created at, the fork server's preload list and the executor
all read the spec; none of them knows a component by name. A new component is a module that declares a
``SPEC``: nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fate_flow.framework.params import Params

TRAIN, PREDICT = "train", "predict"
STAGES = (TRAIN, PREDICT)
ROLES = ("guest", "host", "arbiter", "local")
DATA_KEYS = ("data", "train_data", "validate_data", "test_data", "eval_data")
Runner = Callable[[Any], None]


@dataclass(frozen=True)
class Inputs:
    """What a component reads: data input keys (FATE's ``data``, ``train_data``, ``validate_data``,
    ``test_data``), and whether it takes a model, an isometric model, a cache."""

    data: tuple[str, ...] = ()
    model: bool = False
    isometric_model: bool = False
    cache: bool = False


@dataclass(frozen=True)
class Outputs:
    """What a component writes: output data tables, a model, a cache."""

    data: bool = False
    model: bool = False
    cache: bool = False


@dataclass(frozen=True)
class ComponentSpec:
    """A component: ``runners`` maps each role it runs at to ``"python.module:function"`` (imported only
    by the executor that runs it); the function gets the task's ``Context``."""

    module: str
    params: type[Params]
    runners: Mapping[str, str]
    aliases: tuple[str, ...] = ()
    inputs: Inputs = field(default_factory=Inputs)
    outputs: Outputs = field(default_factory=Outputs)
    stages: tuple[str, ...] = (TRAIN,)
    preload: tuple[str, ...] = ()  # modules the fork server imports besides the runners' (heavy libraries)
    description: str = ""

    def __post_init__(self) -> None:
        unknown_roles = set(self.runners) - set(ROLES)
        if unknown_roles or not self.runners:
            raise ValueError(f"component {self.module}: runners must map some of {ROLES}, got {list(self.runners)}")
        for role, target in self.runners.items():
            if not isinstance(target, str) or target.count(":") != 1:
                raise ValueError(f"component {self.module}: runner of {role} must be 'python.module:function'")
        if set(self.stages) - set(STAGES) or not self.stages:
            raise ValueError(f"component {self.module}: stages must be among {STAGES}")
        if set(self.inputs.data) - set(DATA_KEYS):
            raise ValueError(f"component {self.module}: data inputs must be among {DATA_KEYS}")

    @property
    def names(self) -> tuple[str, ...]:
        """The module name and its aliases (e.g. DataTransform and its 1.5 name DataIO)."""
        return (self.module, *self.aliases)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles this component runs at (those with a runner)."""
        return tuple(self.runners)

    def runs_at(self, role: str) -> bool:
        """Whether tasks of this component exist at ``role`` (FATE: Reader runs at guest and host only)."""
        return role in self.runners

    def runner(self, role: str) -> Runner:
        """The function that runs this component at ``role`` (imports its module)."""
        target = self.runners.get(role)
        if target is None:
            raise LookupError(f"component {self.module} does not run at role {role} (only {list(self.runners)})")
        python_module, function = target.split(":")
        return getattr(importlib.import_module(python_module), function)

    def runner_modules(self) -> list[str]:
        """The runners' Python modules, each once (the fork server preloads them)."""
        return list(dict.fromkeys(target.split(":")[0] for target in self.runners.values()))

    def parse_params(self, raw: dict[str, Any] | None) -> Params:
        """This component's typed parameters from a conf's (raises ParamError naming the field)."""
        return self.params.parse(self.module, raw)


def stage_of(job_type: str, data_keys: list[str] | tuple[str, ...], has_model_input: bool) -> str:
    """FATE's rule: a predict job predicts; so does a component that loads a model and gets no
    ``train_data`` (a second LR scoring test data with the first's model). A component with both
    ``train_data`` and a model warm-starts: it trains."""
    if job_type == PREDICT:
        return PREDICT
    if has_model_input and "train_data" not in data_keys:
        return PREDICT
    return TRAIN
