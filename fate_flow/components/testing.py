"""TestModule: a component that sleeps, fails, or produces outputs on demand (scheduler and API tests).

Parameters:
  ``sleep``        seconds to run
  ``fail``         true or a message: end with that error (after sleeping)
  ``output_rows``  write an output table ``data`` of that many generated rows (id, x0, x1)
  ``pass_through`` output its input data unchanged as ``data``
  ``metrics``      record a loss curve metric, a summary and a model
  ``exchange_mb``  the guest sends a float64 array of that many MB to every host through the data plane
                   and each host sends back its sum; both record the transfer as metric data_plane/transfer
  ``exchange_rounds`` the guest and every host trade that many small objects (64 floats) back and forth,
                   one after another, as an iterative algorithm's batches do; both record data_plane/round_trip

In a predict stage (a model input and no ``train_data``) it loads the upstream model and records, as
its summary, what it loaded.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pydantic import Field

from fate_flow.framework import PREDICT, TRAIN, ComponentError, ComponentSpec, Inputs, Outputs, Params

if TYPE_CHECKING:  # the context (numpy, the table engine) is the executor's, not the server's
    from fate_flow.framework import Context


class TestModuleParams(Params):
    sleep: float = Field(0.0, ge=0, le=86400)
    fail: bool | str = False
    output_rows: int = Field(0, ge=0, le=10_000_000)
    pass_through: bool = False
    metrics: bool = False
    exchange_mb: float = Field(0.0, ge=0, le=4096)
    exchange_rounds: int = Field(0, ge=0, le=100_000)


def _generate(ctx: Context, rows: int) -> None:
    """Rows (i, i/2, i mod 7) kept as the text FATE would store after an upload."""
    import numpy as np

    from fate_flow.framework import Schema

    schema = Schema(sid="id", header=("x0", "x1"))
    features = np.array([[f"{i * 0.5:.1f}", str(i % 7)] for i in range(rows)], dtype=str).reshape(rows, 2)
    ctx.outputs[0].write(ctx.computing.from_numpy(schema, np.arange(rows).astype(str), features))


def _record_metrics(ctx: Context) -> None:
    for iteration, loss in ((0, 0.9), (2, 0.4), (1, 0.6)):
        ctx.metrics.loss(iteration, loss)
    ctx.metrics.scalars("train", "auc", {"auc": 0.98})
    ctx.summary({"loss": [0.9, 0.6, 0.4], "validation_metrics": {"train": {"auc": [0.97, 0.98]}}})
    ctx.models.save(param={"weight": [0.1, 0.2], "intercept": 0.3}, meta={"module": ctx.module, "max_iter": 3})


def _exchange(ctx: Context, megabytes: float) -> None:
    import numpy as np

    if ctx.role == "guest":
        array = np.random.default_rng(0).random(int(megabytes * (1 << 20) / 8))
        started = time.perf_counter()
        ctx.hosts.put("array", array)
        sums = ctx.hosts.get("sum")
        if any(abs(float(s) - float(array.sum())) > 1e-6 * abs(float(array.sum())) for s in sums):
            raise ComponentError(f"a host received a different array: sums {sums}")
    else:
        started = time.perf_counter()  # includes waiting for the guest to start sending
        array = ctx.guest.get("array")
        ctx.guest.put("sum", float(array.sum()))
    seconds = time.perf_counter() - started
    ctx.logger.info("exchanged %.1f MB in %.3f s (%.0f MB/s)", array.nbytes / 1e6, seconds,
                    array.nbytes / 1e6 / seconds)
    ctx.metrics.scalars("data_plane", "transfer", {"bytes": int(array.nbytes), "seconds": seconds})


def _round_trips(ctx: Context, rounds: int) -> None:
    import numpy as np

    started = time.perf_counter()
    for number in range(rounds):
        with ctx.sub("round", number) as step:
            if ctx.role == "guest":
                step.hosts.put("ping", np.full(64, float(number)))
                if any(float(np.sum(pong)) != 64.0 * number for pong in step.hosts.get("pong")):
                    raise ComponentError(f"round {number}: a host answered another value")
            else:
                step.guest.put("pong", step.guest.get("ping"))
    seconds = time.perf_counter() - started
    ctx.logger.info("%d round trips in %.3f s (%.2f ms each)", rounds, seconds, seconds / rounds * 1e3)
    ctx.metrics.scalars("data_plane", "round_trip", {"rounds": rounds, "seconds": seconds})


def _predict(ctx: Context) -> None:
    model = ctx.models.load()
    ctx.logger.info("loaded the %s model of %s", model.module, ctx.models.available()[0].component_name)
    ctx.summary({"loaded_model": {"module": model.module, "param": model.param, "meta": model.meta}})


def run(ctx: Context) -> None:
    """Do what the parameters ask, in the order of the module docstring."""
    params = ctx.params
    ctx.logger.info("test module %s (%s stage): %s", ctx.component_name, ctx.stage, params.model_dump())
    time.sleep(params.sleep)
    if params.fail:
        raise ComponentError(params.fail if isinstance(params.fail, str) else "failed on request")
    if ctx.stage == PREDICT:
        _predict(ctx)
    if params.output_rows:
        _generate(ctx, params.output_rows)
    elif params.pass_through:
        ctx.outputs[0].write(ctx.inputs.first("data", "train_data", "test_data"))
    if params.metrics:
        _record_metrics(ctx)
    if params.exchange_mb:
        _exchange(ctx, params.exchange_mb)
    if params.exchange_rounds:
        _round_trips(ctx, params.exchange_rounds)


SPEC = ComponentSpec(
    module="TestModule",
    params=TestModuleParams,
    runners={role: f"{__name__}:run" for role in ("guest", "host", "arbiter", "local")},
    inputs=Inputs(data=("data", "train_data", "validate_data", "test_data"), model=True),
    outputs=Outputs(data=True, model=True),
    stages=(TRAIN, PREDICT),
    description="sleeps, fails or produces outputs on demand (tests and benchmarks)",
)
