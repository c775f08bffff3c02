"""A second module claiming ColumnScaler's name: the registry refuses the pair."""

from __future__ import annotations

from fate_flow.framework import ComponentSpec
from tests.components.scaler import ColumnScalerParams

SPEC = ComponentSpec(module="ColumnScaler", params=ColumnScalerParams, runners={"guest": "tests.components.scaler:run"})
