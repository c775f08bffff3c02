"""Typed component parameters: one pydantic model per component, with FATE's names and defaults.

A component's ``Params`` class is the single statement of what its conf may hold: the server validates
every party's parameters against it at submit (a bad value is refused with retcode 103 and the field
named), and the executor hands the component an instance of it. Unknown keys are refused, as FATE's
``BaseParam`` refuses redundant parameters.

Data-access components (Reader, Upload, Download, Writer) touch this party's tables and files by names
their parameters give; they say which through the hooks below, so the server binds and confines them
without knowing any module by name.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic

from fate_flow.entity.table_meta import TableRef
from fate_flow.errors import ParamError


class Params(pydantic.BaseModel):
    """Base of every component's parameters."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                                       arbitrary_types_allowed=False)

    # FATE lets any component be skipped at a party (the DSL parser reads it too)
    need_run: bool = True

    # parameters FATE's confs carry for every component that have no effect here (kept for compatibility)
    ignored: ClassVar[frozenset[str]] = frozenset()

    def tables_read(self) -> dict[str, TableRef]:
        """Stored tables this component reads by name, per input key (Reader: its ``table``)."""
        return {}

    def table_written(self) -> TableRef | None:
        """A table this component publishes under a name of the user's choosing (Upload, Writer)."""
        return None

    def file_written(self) -> str | None:
        """A file on this server that the component writes (Download's ``output_path``)."""
        return None

    def file_read(self) -> str | None:
        """A file on this server that the component reads (Upload's ``file``)."""
        return None

    @classmethod
    def parse(cls, module: str, raw: dict[str, Any] | None) -> Params:
        """Validate a conf's parameters; raises ParamError naming the first bad field."""
        values = {k: v for k, v in (raw or {}).items() if k not in cls.ignored}
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error.get("loc", ())) or "(parameters)"
            problem = error.get("msg", "invalid")
            if error.get("type") == "extra_forbidden":
                problem = "is not a parameter of this component"
            elif "input" in error and error.get("type") != "missing":
                problem = f"{problem} (got {error['input']!r})"
            raise ParamError(module, field, problem) from None
