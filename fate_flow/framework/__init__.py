"""The component framework: what a component is (``ComponentSpec``, typed ``Params``) and what it runs
with (``Context``: tables, role handles and sub-contexts, cores, metrics, models).

A component imports from here and from ``fate_flow.engine`` only, never from the server's layers.
"""

from fate_flow.engine.table import Schema, Table
from fate_flow.errors import ComponentError, ParamError
from fate_flow.framework.context import Context
from fate_flow.framework.params import Params
from fate_flow.framework.spec import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs

__all__ = [
    "PREDICT",
    "TRAIN",
    "ComponentError",
    "ComponentSpec",
    "Context",
    "Inputs",
    "Outputs",
    "ParamError",
    "Params",
    "Schema",
    "Table",
]
