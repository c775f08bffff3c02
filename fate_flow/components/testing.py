"""TestModule: a component that sleeps, fails, or produces outputs on demand (scheduler and API tests).

Parameters:
  ``sleep``        seconds to run
  ``fail``         true or a message: end with that error (after sleeping)
  ``output_rows``  write an output table ``data`` of that many generated rows (id, x0, x1)
  ``pass_through`` output its input data unchanged as ``data``
  ``metrics``      record a loss curve metric, a summary and a model
  ``exchange_mb``  the guest sends a float64 array of that many MB to every host through the data plane
                   and each host sends back its sum; both record the transfer as metric data_plane/transfer
"""

from __future__ import annotations

import time

from fate_flow.components.context import ComponentContext, ComponentError
from fate_flow.components.tables import DATA_FILE, output_location, pass_through, publish_output, single_input


def _generate(ctx: ComponentContext, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    namespace, name, directory = output_location(ctx)
    directory.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": [str(i) for i in range(rows)], "x0": [f"{i * 0.5:.1f}" for i in range(rows)],
                      "x1": [str(i % 7) for i in range(rows)]})
    pq.write_table(table, directory / DATA_FILE)
    publish_output(ctx, "data", namespace, name, directory,
                   {"schema": {"header": "x0,x1", "sid": "id"}, "partitions": 1}, rows)


def _record_metrics(ctx: ComponentContext) -> None:
    ctx.tracker.save_metric_meta("train", "loss", {"name": "loss", "metric_type": "LOSS", "unit_name": "iters"})
    ctx.tracker.save_metric_data("train", "loss", [[0, 0.9], [2, 0.4], [1, 0.6]])
    ctx.tracker.save_metric_meta("train", "auc", {"name": "auc", "metric_type": "EVALUATION_SUMMARY"})
    ctx.tracker.save_metric_data("train", "auc", [["auc", 0.98]])
    ctx.tracker.save_summary({"loss": [0.9, 0.6, 0.4], "validation_metrics": {"train": {"auc": [0.97, 0.98]}}})
    ctx.tracker.save_model("model", ctx.module, {"weight": [0.1, 0.2], "intercept": 0.3},
                           {"module": ctx.module, "max_iter": 3})


def _exchange(ctx: ComponentContext, megabytes: float) -> None:
    import numpy as np

    if ctx.role == "guest":
        array = np.random.default_rng(0).random(int(megabytes * (1 << 20) / 8))
        started = time.perf_counter()
        ctx.federation.remote(array, "array", "exchange", ctx.parties("host"))
        sums = ctx.federation.get("sum", "exchange", ctx.parties("host"))
        if any(abs(float(s) - float(array.sum())) > 1e-6 * abs(float(array.sum())) for s in sums):
            raise ComponentError(f"a host received a different array: sums {sums}")
    else:
        started = time.perf_counter()  # includes waiting for the guest to start sending
        array = ctx.federation.get("array", "exchange", ctx.parties("guest"))[0]
        ctx.federation.remote(float(array.sum()), "sum", "exchange", ctx.parties("guest"))
    seconds = time.perf_counter() - started
    ctx.logger.info("exchanged %.1f MB in %.3f s (%.0f MB/s)", array.nbytes / 1e6, seconds,
                    array.nbytes / 1e6 / seconds)
    ctx.tracker.save_metric_data("data_plane", "transfer", [["bytes", int(array.nbytes)], ["seconds", seconds]])


def run(ctx: ComponentContext) -> None:
    params = ctx.parameters
    ctx.logger.info("test module %s: %s", ctx.component_name, params)
    time.sleep(float(params.get("sleep", 0)))
    if params.get("fail"):
        message = params["fail"] if isinstance(params["fail"], str) else "failed on request"
        raise ComponentError(message)
    if params.get("output_rows"):
        _generate(ctx, int(params["output_rows"]))
    elif params.get("pass_through"):
        pass_through(ctx, single_input(ctx, "data", "train_data"))
    if params.get("metrics"):
        _record_metrics(ctx)
    if params.get("exchange_mb"):
        _exchange(ctx, float(params["exchange_mb"]))
