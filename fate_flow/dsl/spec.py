"""The parsed shapes of a job (JobSpec; DSLComponent, one node of the DSL) and the DSL package's error type."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from fate_flow.errors import OperatingError

# Data keys FATE's components understand; others only earn a warning (FATE logs one too).
KNOWN_DATA_KEYS = ("data", "train_data", "validate_data", "test_data", "eval_data")
# Input keywords that reference another component's model or cache output, with the output kind they need.
MODEL_INPUT_KEYS = {"model": "model", "isometric_model": "model"}
CACHE_INPUT_KEYS = {"cache": "cache"}
OUTPUT_KINDS = ("data", "model", "cache")
PREDICT_MODEL_PREFIX = "pipeline"


class DSLError(ValueError, OperatingError):
    """A DSL or runtime conf that FATE would refuse at submit (103).

    The message names where the problem is (``component hetero_lr_0: input.data.train_data ...`` or
    ``conf: role.guest ...``); ``component`` and ``field`` carry the same for callers.
    """

    def __init__(self, message: str, *, component: str | None = None, field: str | None = None):
        OperatingError.__init__(self, message)
        self.component = component
        self.field = field


def component_error(component: str, field_name: str, problem: str) -> DSLError:
    """A DSLError located at a component's field: ``component <name>: <field> <problem>``."""
    return DSLError(f"component {component}: {field_name} {problem}", component=component, field=field_name)


def conf_error(field_name: str, problem: str) -> DSLError:
    """A DSLError located at a conf field: ``conf: <field> <problem>``."""
    return DSLError(f"conf: {field_name} {problem}", field=field_name)


@dataclass
class DSLComponent:
    name: str
    module: str
    provider: str | None
    upstream: list[str]
    data_inputs: dict[str, list[str]]
    model_inputs: list[str]
    cache_inputs: list[str]
    data_outputs: list[str]
    model_outputs: list[str]
    cache_outputs: list[str]
    need_run: bool = True
    # "model" + "isometric_model" are merged in model_inputs; keep them apart for callers that care.
    isometric_model_inputs: list[str] = field(default_factory=list)


@dataclass
class JobSpec:
    dsl: dict
    conf: dict
    dsl_version: int
    initiator_role: str
    initiator_party_id: str
    roles: dict[str, list[str]]
    components: dict[str, DSLComponent]
    job_type: str
    # Things FATE tolerates silently (unknown data keys, parameters for absent components ...).
    warnings: list[str] = field(default_factory=list)

    @property
    def refuse_reason(self) -> str | None:
        """Why FATE 1.11 would refuse to submit this job, or None (v1 confs are only accepted for predict)."""
        if self.dsl_version != 2 and self.job_type != "predict":
            return "only the v2 version runtime conf is supported"
        return None


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict: ``override`` on top of ``base``, merging nested dicts key by key (FATE's merge_dict).

    FATE recurses whenever the *base* value is a dict; an override that is not a dict then simply
    replaces it, which is what we do too.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def as_dict(value: Any) -> dict:
    """``value`` itself when it is a dict, else a new empty one (absent or malformed sections read as empty)."""
    return value if isinstance(value, dict) else {}
