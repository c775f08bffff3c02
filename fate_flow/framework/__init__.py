"""The component framework: what a component is (``ComponentSpec``, typed ``Params``) and what it runs
with (``Context``: tables, role handles and sub-contexts, cores, metrics, models).

A component imports from here and from ``fate_flow.engine`` only, never from the server's layers.
Names are loaded on first use: the server reads specs (pydantic only) and never pays for numpy and the
table engine, which only executors need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ComponentError": "fate_flow.errors",
    "ParamError": "fate_flow.errors",
    "Params": "fate_flow.framework.params",
    "ComponentSpec": "fate_flow.framework.spec",
    "Inputs": "fate_flow.framework.spec",
    "Outputs": "fate_flow.framework.spec",
    "TRAIN": "fate_flow.framework.spec",
    "PREDICT": "fate_flow.framework.spec",
    "Context": "fate_flow.framework.context",
    "Schema": "fate_flow.engine.table",
    "Table": "fate_flow.engine.table",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and editors: the names above, resolved eagerly
    from fate_flow.engine.table import Schema, Table  # noqa: F401
    from fate_flow.errors import ComponentError, ParamError  # noqa: F401
    from fate_flow.framework.context import Context  # noqa: F401
    from fate_flow.framework.params import Params  # noqa: F401
    from fate_flow.framework.spec import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
