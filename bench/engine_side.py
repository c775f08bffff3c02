"""Row work where the table lives (issue 13): DataTransform then FeatureScale (standard) on an N-row text table
(id, y and 10 features, 8 Parquet partitions, as an upload stores it), fit + apply + store, three ways:

  standalone   the standalone engine (the task's process, Arrow batches), with the master's cores;
  spark-task   Spark (--master, default local[2]), the rows collected into the task through Arrow first, then
               computed there and stored by the task: what every component did before Table.map_batches and
               Table.aggregate;
  spark        Spark (the same master), the components' batch functions in Spark's executors (mapInArrow),
               stored by Spark, nothing collected.

The Spark session is started (and warmed with one small job) before the clock starts. Medians of --repeat runs.

    PYTHONPATH=. .venv/bin/python bench/engine_side.py --rows 1000000 --repeat 3 [--master 'local[1]']
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from fate_flow.components._feature_scale import _fit as fit_scaling  # noqa: E402
from fate_flow.components.data_transform import DataTransformParams  # noqa: E402
from fate_flow.components.data_transform.runner import _apply as apply_transform  # noqa: E402
from fate_flow.components.data_transform.runner import _fit as fit_transform  # noqa: E402
from fate_flow.components.feature_scale import FeatureScaleParams  # noqa: E402
from fate_flow.engine.parts import write_parts  # noqa: E402
from fate_flow.engine.spark import SparkComputing  # noqa: E402
from fate_flow.engine.standalone import ArrowTable, StandaloneComputing  # noqa: E402
from fate_flow.entity.table_meta import TableMeta  # noqa: E402
from fate_flow.entity.task_config import SparkConfig  # noqa: E402

CTX = SimpleNamespace(component_name="bench_0")
TRANSFORM = DataTransformParams(with_label=True, label_name="y", missing_fill=True, missing_fill_method="mean")
SCALE = FeatureScaleParams(method="standard_scale")
FEATURES = 10
PARTITIONS = 8


def text_table(directory: Path, rows: int) -> TableMeta:
    rng = np.random.default_rng(1)
    texts = rng.normal(size=(rows, FEATURES)).round(6).astype(str)
    texts[rng.random((rows, FEATURES)) < 0.01] = ""
    data = pa.table({"id": np.arange(rows).astype(str), "y": (np.arange(rows) % 2).astype(str),
                     **{f"x{j}": texts[:, j] for j in range(FEATURES)}})
    write_parts(data, directory, PARTITIONS)
    return TableMeta(namespace="bench", name="t", path=str(directory), count=rows, partitions=PARTITIONS,
                     schema={"sid": "id", "header": ["y", *(f"x{j}" for j in range(FEATURES))]})


def pipeline(computing, meta: TableMeta, out: Path, collect_first: bool) -> float:
    """DataTransform, then FeatureScale on its stored output: fit, apply, store; seconds."""
    started = time.perf_counter()
    table = computing.read(meta)
    if collect_first:
        table = ArrowTable(table.schema, table.data)  # the rows in the task, as before
    transform, _ = fit_transform(CTX, table, TRANSFORM)
    typed = apply_transform(CTX, table, transform)
    computing.write(typed, out / "typed")
    stored = TableMeta(namespace="bench", name="typed", path=str(out / "typed"), count=meta.count,
                       partitions=PARTITIONS, schema=typed.meta_schema())
    table = computing.read(stored)
    if collect_first:
        table = ArrowTable(table.schema, table.data)
    scaling = fit_scaling(CTX, table, SCALE)
    computing.write(scaling.apply(CTX, table), out / "scaled")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local[2]", help="the Spark master (local[1] to see the scaling)")
    args = parser.parse_args()
    cores = int(args.master[len("local["):-1]) if args.master.startswith("local[") else 2
    work = Path(tempfile.mkdtemp(prefix="engine-side-"))
    try:
        meta = text_table(work / "input", args.rows)
        spark = SparkComputing(SparkConfig(master=args.master, lost_workers_timeout=60), cores=cores, app_name="bench")
        spark.read(meta).aggregate(lambda batch: batch.num_rows, lambda a, b: a + b)  # session and workers up
        ways = {"standalone": (StandaloneComputing(cores), False), "spark-task": (spark, True), "spark": (spark, False)}
        results: dict[str, list[float]] = {name: [] for name in ways}
        for run in range(args.repeat):
            for name, (computing, collect_first) in ways.items():
                out = work / f"{name}-{run}"
                results[name].append(pipeline(computing, meta, out, collect_first))
                shutil.rmtree(out, ignore_errors=True)
                print(f"{name:<11} run {run + 1}: {results[name][-1]:.2f} s", flush=True)
        spark.close()
        summary = {name: round(statistics.median(times), 2) for name, times in results.items()}
        print(json.dumps({"rows": args.rows, "master": args.master, "median_s": summary, "runs": results}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
