"""DataStatistics: each party's statistics of its own feature columns (sum, mean, stddev, median,
min, max, missing ratio and count, skewness, kurtosis, coefficient of variance, and any percentiles
asked), in the summary and as FATE's StatisticParam model; the data passes on unchanged. Nothing is
exchanged between parties. Nothing is fitted: a predict stage computes the statistics of its own data."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, StrictBool, StrictInt, field_validator

from fate_flow.framework import PREDICT, TRAIN, ComponentSpec, Inputs, Outputs, Params

LEGAL_STATISTICS = ("count", "sum", "mean", "stddev", "median", "min", "max", "variance", "coefficient_of_variance",
                    "missing_count", "missing_ratio", "skewness", "kurtosis")
BASIC_STATISTICS = ("sum", "mean", "stddev", "median", "min", "max", "missing_ratio", "missing_count", "skewness",
                    "kurtosis", "coefficient_of_variance")
PERCENTILE = re.compile(r"^(100|[1-9]?[0-9])%$")


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


class StatisticsParams(Params):
    """FATE 1.11's StatisticsParam (docs/fate-params-1.11.md §12). ``statistics`` is stored merged with
    the basic set, as FATE's check() leaves it."""

    statistics: str | list[str] = Field("summary", validate_default=True)  # the default is merged too
    column_names: list[str] | None = None
    column_indexes: StrictInt | list[StrictInt] | None = -1
    abnormal_list: list[Any] | None = None
    quantile_error: float = Field(1e-4, ge=0, le=1)
    bias: StrictBool = True

    @field_validator("statistics", mode="after")
    @classmethod
    def _merged(cls, value: str | list[str]) -> list[str]:
        merged = list(BASIC_STATISTICS)
        asked = [] if value == "summary" else [value] if isinstance(value, str) else value
        for name in asked:
            if name not in LEGAL_STATISTICS and not PERCENTILE.match(name):
                raise ValueError(f"illegal statistics name {name!r}: use {', '.join(LEGAL_STATISTICS)} "
                                 "or a percentile such as '95%'")
            if name not in merged:
                merged.append(name)
        return merged

    @field_validator("column_indexes", mode="after")
    @classmethod
    def _indexes(cls, value: int | list[int] | None) -> int | list[int]:
        if value is None:
            return []
        if isinstance(value, int):
            if value != -1:
                raise ValueError("must be -1 (every column) or a list of column indexes")
            return value
        if any(index < 0 for index in value):
            raise ValueError("column indexes must be non-negative")
        return value

    @field_validator("quantile_error", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        return _not_bool(value)

    @property
    def quantiles(self) -> list[str]:
        """The percentiles asked (``"95%"`` ...), in the order given."""
        return [name for name in self.statistics if PERCENTILE.match(name)]


SPEC = ComponentSpec(
    module="DataStatistics",
    params=StatisticsParams,
    runners={"guest": "fate_flow.components._data_statistics:run",
             "host": "fate_flow.components._data_statistics:run"},
    inputs=Inputs(data=("data",), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),  # a predict stage computes the statistics of the data it is given
    description="per-column statistics of each party's features",
)
