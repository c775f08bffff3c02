"""Built-in components, loaded lazily by the executor so that it imports only what it runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable

# module name (as in the DSL) -> "python.module:function"
BUILTIN_MODULES: dict[str, str] = {
    "Upload": "fate_flow.components.upload:run",
    "Download": "fate_flow.components.download:run",
    "Reader": "fate_flow.components.reader:run",
    "Writer": "fate_flow.components.writer:run",
    "TestModule": "fate_flow.components.testing:run",
    "SecureAddExample": "fate_flow.components.toy:run",
}


def has_module(module: str) -> bool:
    return module in BUILTIN_MODULES


def load(module: str) -> Callable:
    try:
        target = BUILTIN_MODULES[module]
    except KeyError:
        raise ValueError(f"component module {module!r} is not provided by this server") from None
    python_module, function = target.split(":")
    return getattr(importlib.import_module(python_module), function)
