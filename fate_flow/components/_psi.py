"""PSI's runner (guest and host alike, each on its own two tables), vectorised over the features.

As FATE 1.11's PSI:

- the two tables must have the same features (in any order); the expected one (``train_data``) must have no
  empty (all missing) column;
- each feature is cut at the quantile split points of the expected table (``max_bin_num`` bins at most,
  ``fate_flow.ml.binning``); a value falls in the first bin whose split point it does not exceed, the last
  bin takes the maximum and anything above; a missing value (NaN, or ``dense_missing_val``) goes to an extra
  bin at index ``max_bin_num``;
- per bin, with ``e`` and ``a`` the shares of the expected and actual rows in it (0 counted as 1e-6),
  ``psi = (a - e) * ln(a / e)``; a feature's ``total_psi`` is the sum over its bins (missing included);
- the summary is ``{"psi_scores": {feature: total_psi}}``; the model (``PSIParam``) keeps per feature the
  intervals (``"lo<x<=hi"``, ``"missing"``), the bins' psi and both tables' shares, rounded to 6 decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fate_flow.components._tables import float_matrix
from fate_flow.components.psi import PSIParams
from fate_flow.framework import ComponentError, Context
from fate_flow.ml.binning import bin_matrix, quantile_points

ROUND_NUM = 6  # FATE rounds what the model shows to 6 decimals
ZERO_SHARE = 1e-6  # FATE's stand-in for an empty bin's share


def run(ctx: Context) -> None:
    """Bin both tables on the expected table's quantiles, compute each feature's PSI, save model and summary."""
    params: PSIParams = ctx.params
    expect, actual = ctx.inputs.get("train_data"), ctx.inputs.get("validate_data")
    if expect is None or actual is None:
        raise ComponentError(f"{ctx.component_name}: PSI compares two tables: train_data (expected) and "
                             "validate_data (actual)")
    header = list(dict.fromkeys(expect.schema.header))
    if set(header) != set(actual.schema.header):
        raise ComponentError(f"{ctx.component_name}: the expected and the actual table must have the same features "
                             f"(only in one: {sorted(set(header) ^ set(actual.schema.header))[:10]})")
    for name, table in (("expected", expect), ("actual", actual)):
        if table.count() == 0:
            raise ComponentError(f"{ctx.component_name}: the {name} table has no rows")
    expect_values = _with_missing(float_matrix(expect, header), params.dense_missing_val)
    actual_values = _with_missing(float_matrix(actual, header), params.dense_missing_val)
    empty = [header[j] for j in np.flatnonzero(np.isnan(expect_values).all(axis=0))]
    if empty:
        raise ComponentError(f"{ctx.component_name}: the expected table's features {empty[:10]} are empty")
    points = [quantile_points(expect_values[:, j], params.max_bin_num) for j in range(len(header))]
    expect_share = bin_shares(expect_values, points, params.max_bin_num)
    actual_share = bin_shares(actual_values, points, params.max_bin_num)
    psi = psi_per_bin(expect_share, actual_share)
    totals = {name: float(psi[j].sum()) for j, name in enumerate(header)}
    ctx.models.save(param=_model_param(header, points, psi, expect_share, actual_share, totals, params.max_bin_num),
                    meta={"maxBinNum": params.max_bin_num, "needRun": True})
    ctx.summary({"psi_scores": totals})
    ctx.logger.info("%s: PSI of %d features, %d expected vs %d actual rows", ctx.component_name, len(header),
                    expect.count(), actual.count())


def _with_missing(values: np.ndarray, missing: Any) -> np.ndarray:
    """``values`` with ``dense_missing_val`` (a number, or a text of one) turned into NaN, the missing mark."""
    if missing is None:
        return values
    try:
        number = float(missing)
    except ValueError:
        return values  # a text that is no number never equals a numeric feature value
    values = values.copy()
    values[values == number] = np.nan
    return values


def bin_shares(values: np.ndarray, points: list[np.ndarray], max_bin_num: int) -> np.ndarray:
    """features x (max_bin_num + 1): the share of the rows in each bin, missing values in the last column."""
    bins = bin_matrix(values, points).astype(np.int64)
    bins[np.isnan(values)] = max_bin_num
    rows, features = bins.shape
    flat = (np.arange(features)[None, :] * (max_bin_num + 1) + bins).reshape(-1)
    counts = np.bincount(flat, minlength=features * (max_bin_num + 1)).reshape(features, max_bin_num + 1)
    return counts / rows


def psi_per_bin(expect_share: np.ndarray, actual_share: np.ndarray) -> np.ndarray:
    """FATE's per-bin PSI, ``(a - e) ln(a / e)``, a zero share counted as 1e-6."""
    e = np.where(expect_share == 0, ZERO_SHARE, expect_share)
    a = np.where(actual_share == 0, ZERO_SHARE, actual_share)
    return (a - e) * np.log(a / e)


def intervals(name: str, points: np.ndarray) -> list[str]:
    """FATE's interval texts of one feature's bins: ``name<=p0``, ``p0<name<=p1`` ..., ``pk<name``."""
    bounds = [float(np.round(p, ROUND_NUM)) for p in points[:-1]]
    lows: list[float | None] = [None, *bounds]
    highs: list[float | None] = [*bounds, None]
    texts = []
    for low, high in zip(lows, highs, strict=True):
        text = name if low is None else f"{low}<{name}"
        texts.append(text if high is None else f"{text}<={high}")
    return texts


def _model_param(header: list[str], points: list[np.ndarray], psi: np.ndarray, expect_share: np.ndarray,
                 actual_share: np.ndarray, totals: dict[str, float], max_bin_num: int) -> dict[str, Any]:
    """FATE's PsiSummary as JSON: per feature its bins (then the missing bin), rounded as FATE shows them."""
    features = []
    for j, name in enumerate(header):
        shown = [*range(max(len(points[j]), 1)), max_bin_num]  # the bins, then the missing one

        def rounded(row: np.ndarray, shown: list[int] = shown) -> list[float]:
            return [float(np.round(row[b], ROUND_NUM)) for b in shown]

        features.append({"featureName": name, "psi": rounded(psi[j]),
                         "interval": [*intervals(name, points[j]), "missing"],
                         "expectPerc": rounded(expect_share[j]), "actualPerc": rounded(actual_share[j])})
    return {"totalScore": totals, "featurePsi": features, "modelName": "PSI"}
