"""FederatedSample's runner.

The party that draws (the guest in hetero mode, every party in homo mode) makes a *plan*: the ids of the
rows to output, in output order, and, when rows repeat (upsample, exact_by_weight), the new id of each.
In hetero mode the guest sends the plan to every host and both apply it, so guest and host output the
same ids. As FATE 1.11:

- random: ``max(1, int(fraction * n))`` rows without replacement (downsample, ids kept, input order) or
  ``int(fraction * n)`` with replacement (upsample, new ids 0..k-1);
- stratified: the same per label of ``fractions`` (a label the fractions lack fails the task); upsampled
  rows are shuffled, then numbered;
- exact_by_weight: each row with weight > 1e-8 repeated ceil(weight) times under fresh ids.

The plan travels as two texts (ids joined by newlines): one object, not one per row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fate_flow.components._tables import canonical_text, canonical_texts, positions_of, rows_with_sids
from fate_flow.components.federated_sample import SampleParams
from fate_flow.framework import ComponentError, Context, Table

FLOAT_ZERO = 1e-8
SEPARATOR = "\n"


@dataclass
class Plan:
    """Which rows to output (by id, in order) and, when rows repeat, their new ids."""

    source: np.ndarray
    new_ids: np.ndarray | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> dict[str, Any]:
        """What the guest sends the hosts (texts, not one object per id)."""
        return {"source": SEPARATOR.join(self.source.astype(str)),
                "new_ids": None if self.new_ids is None else SEPARATOR.join(self.new_ids.astype(str))}

    @classmethod
    def decode(cls, message: Any) -> Plan:
        """A plan received from the guest (checked: it is a peer's object)."""
        if not isinstance(message, dict) or not isinstance(message.get("source"), str) or not isinstance(
                message.get("new_ids"), (str, type(None))):
            raise ComponentError("the guest's sample ids are malformed")
        source = _split(message["source"])
        new_ids = None if message["new_ids"] is None else _split(message["new_ids"])
        if new_ids is not None and len(new_ids) != len(source):
            raise ComponentError("the guest's sample ids are malformed (new ids do not match the rows)")
        return cls(source, new_ids)


def _split(text: str) -> np.ndarray:
    return np.asarray(text.split(SEPARATOR) if text else [], dtype=object)


def run(ctx: Context) -> None:
    """Draw (or receive) the plan, apply it, record the counts."""
    params: SampleParams = ctx.params
    table = ctx.inputs.first("data")
    follows = params.task_type == "hetero" and ctx.role == "host"
    if follows:
        plan = Plan.decode(ctx.guest.get("sample_ids"))
    else:
        plan = _draw(ctx, table, params)
        if params.task_type == "hetero" and ctx.role == "guest" and len(ctx.hosts):
            ctx.hosts.put("sample_ids", plan.encode())
    output = _apply(ctx, table, plan)
    ctx.outputs[0].write(output)
    _record(ctx, params, plan, output.count(), follows)
    ctx.logger.info("%s: %s %s of %d rows -> %d rows", ctx.component_name, params.mode, params.method,
                    table.count(), output.count())


def _apply(ctx: Context, table: Table, plan: Plan) -> Table:
    """The plan's rows: a downsample selects them where the table lives (by id, keeping the input's order and
    ids); an upsample repeats rows under new ids, in the task."""
    # every id of the plan must be here (a host's table may lack some the guest drew): checked on the ids alone
    positions = positions_of(table.sids(), plan.source, f"{ctx.component_name} at {ctx.role} {ctx.party_id}")
    if plan.new_ids is None:
        return table.filter_sids(plan.source)
    return rows_with_sids(table, positions, plan.new_ids)


def _record(ctx: Context, params: SampleParams, plan: Plan, count: int, follows: bool) -> None:
    """FATE's metrics and summary: the count (random, exact_by_weight), or per label sampled and original
    counts (stratified, at the party that drew)."""
    if params.mode == "stratified":
        if follows:
            return
        ctx.metrics.scalars("sample_count", "stratified", plan.summary["sample_count"], metric_type="SAMPLE_TABLE")
        ctx.metrics.scalars("original_count", "stratified", plan.summary["original_count"],
                            metric_type="SAMPLE_TABLE")
        ctx.summary(plan.summary)
        return
    ctx.metrics.scalars("sample_count", params.mode, {"count": count}, metric_type="SAMPLE_TEXT")
    ctx.summary({"sample_count": count})


# -- drawing ------------------------------------------------------------------------------------------------------
def _draw(ctx: Context, table: Table, params: SampleParams) -> Plan:
    rng = np.random.default_rng(params.random_state)
    sids = np.asarray(table.sids(), dtype=object)
    if params.mode == "exact_by_weight":
        return _by_weight(ctx, table, sids)
    if params.fractions is None:
        raise ComponentError(f"{ctx.component_name}: fractions must give the sampling rate"
                             + (" of each label ([[label, rate], ...])" if params.mode == "stratified" else ""))
    upsample = params.method == "upsample"
    if params.mode == "random":
        rows = _sample(rng, np.arange(len(sids)), float(params.fractions), upsample)
        return _plan(rng, sids, rows, upsample)
    return _stratified(ctx, rng, table, sids, params, upsample)


def _sample(rng: np.random.Generator, rows: np.ndarray, rate: float, upsample: bool) -> np.ndarray:
    """FATE's counts: at least one row when downsampling a non-empty set."""
    if not len(rows):
        return rows
    if upsample:
        return rng.choice(rows, size=int(rate * len(rows)), replace=True)
    return rng.choice(rows, size=min(max(1, int(rate * len(rows))), len(rows)), replace=False)


def _plan(rng: np.random.Generator, sids: np.ndarray, rows: np.ndarray, upsample: bool,
          summary: dict[str, Any] | None = None) -> Plan:
    if not upsample:
        return Plan(sids[np.sort(rows)], summary=summary or {})
    rows = rng.permutation(rows)
    return Plan(sids[rows], np.arange(len(rows)).astype(str), summary=summary or {})


def _stratified(ctx: Context, rng: np.random.Generator, table: Table, sids: np.ndarray, params: SampleParams,
                upsample: bool) -> Plan:
    if not table.schema.label:
        raise ComponentError(f"{ctx.component_name}: stratified sampling needs the label column (at the guest)")
    texts, inverse = canonical_texts(table.column(table.schema.label))
    rates = params.rates
    wanted = {canonical_text(label) for label, _ in rates}
    unknown = [t for t in texts if t not in wanted]
    if unknown:
        raise ComponentError(f"{ctx.component_name}: labels {unknown[:10]} have no sample rate in fractions")
    label_of_row = texts[inverse]
    chosen, sampled, original = [], {}, {}
    for label, rate in rates:
        rows = np.flatnonzero(label_of_row == canonical_text(label))
        picked = _sample(rng, rows, rate, upsample)
        chosen.append(picked)
        sampled[str(label)], original[str(label)] = len(picked), len(rows)
    rows = np.concatenate(chosen) if chosen else np.empty(0, dtype=np.int64)
    return _plan(rng, sids, rows, upsample, {"sample_count": sampled, "original_count": original})


def _by_weight(ctx: Context, table: Table, sids: np.ndarray) -> Plan:
    weights = table.weights()
    if weights is None:
        raise ComponentError(f"{ctx.component_name}: exact_by_weight needs sample weights (run SampleWeight, or "
                             "give DataTransform's data a weight column, before it)")
    kept = np.flatnonzero(weights > FLOAT_ZERO)
    if len(kept) < len(weights):
        ctx.logger.warning("%s: %d rows of weight <= 0 discarded", ctx.component_name, len(weights) - len(kept))
    copies = np.ceil(weights[kept]).astype(np.int64)
    source = np.repeat(sids[kept], copies)
    prefix = uuid.uuid4().hex  # fresh ids, unrelated to the original ones (FATE draws a uuid per copy)
    return Plan(source, np.char.add(f"{prefix}_", np.arange(len(source)).astype(str)).astype(object))
