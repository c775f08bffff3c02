"""(a) ``flow data upload --drop`` of 1,000,000 rows x (id + 10 float features), ~100 MB.

End to end = from starting the ``flow`` command until /v1/job/query reports success (polled every
20 ms). Peak RSS = server process + all its children (executors), sampled every 20 ms meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from benchlib import RESULTS, FlowCli, RssSampler, Server, cleanup, save_result, start_server, summary

ROWS = 1_000_000
FEATURES = 10
TARGET_ROWS_PER_S = 500_000
TARGET_RSS_MB = 500


def generate_csv(rows: int = ROWS, features: int = FEATURES) -> Path:
    """The CSV (cached under bench/results/): id, x0..x9 uniform in [-2, 2) with 6 decimals."""
    path = RESULTS / f"upload_{rows}x{features}.csv"
    if path.is_file() and path.stat().st_size > 0:
        return path
    RESULTS.mkdir(parents=True, exist_ok=True)
    columns = {"id": pa.array(range(rows), pa.int64())}
    for i in range(features):
        columns[f"x{i}"] = pc.round(pc.subtract(pc.multiply(pc.random(rows, initializer=i), 4.0), 2.0), 6)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as out:
        out.write((",".join(columns) + "\n").encode())
        pacsv.write_csv(pa.table(columns), out, write_options=pacsv.WriteOptions(include_header=False))
    tmp.rename(path)
    return path


def submit_http(server: Server, conf_path: Path) -> dict:
    """The request ``flow data upload -c conf --drop`` makes (see upload_small.py), without the CLI."""
    conf = {**json.loads(conf_path.read_text()), "conf_path": str(conf_path), "drop": 1, "verbose": 0}
    with Path(conf["file"]).open("rb") as fp:
        return server.session.post(
            f"{server.url}/v1/data/upload", params=json.dumps(conf),
            files={"file": (Path(conf["file"]).name, fp, "application/octet-stream")}, timeout=600,
        ).json()


def one_run(submit: Callable[[], dict], server: Server) -> dict:
    """One upload, timed from starting the submission until the job succeeds, with the peak RSS meanwhile."""
    with RssSampler(server.proc.pid) as rss:
        t0 = time.perf_counter()
        reply = submit()
        t_submit = time.perf_counter() - t0
        if reply.get("retcode") != 0:
            raise RuntimeError(f"upload refused: {reply}")
        final = server.wait_job(reply["jobId"])
        total = time.perf_counter() - t0
    if final != "success":
        raise RuntimeError(f"job {reply['jobId']} ended {final}")
    return {"job_id": reply["jobId"], "total_s": total, "submit_s": t_submit, "job_after_submit_s": total - t_submit,
            "rows_per_s": ROWS / total, "peak_rss_mb": rss.peak_bytes / 2**20,
            "peak_server_rss_mb": rss.peak_server_bytes / 2**20,
            "peak_executor_rss_mb": rss.peak_children_bytes / 2**20,
            "rss_samples": rss.samples}


def _summarize(runs: list[dict]) -> dict:
    return {
        "total_s": summary([r["total_s"] for r in runs]),
        "submit_s": summary([r["submit_s"] for r in runs]),
        "job_after_submit_s": summary([r["job_after_submit_s"] for r in runs]),
        "rows_per_s_median": ROWS / statistics.median(r["total_s"] for r in runs),
        "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in runs),
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--http", action="store_true",
                        help="also time the same request sent directly with requests (no CLI start-up)")
    args = parser.parse_args(argv)

    t_gen = time.perf_counter()
    csv_path = generate_csv()
    print(f"data: {csv_path} ({csv_path.stat().st_size / 1e6:.1f} MB, "
          f"ready in {time.perf_counter() - t_gen:.2f} s)", file=sys.stderr)
    server = start_server()
    cli = None
    modes: dict[str, list[dict]] = {}
    try:
        cli = FlowCli(server.url)
        conf_path = cli.root / "upload_1m.json"
        conf_path.write_text(json.dumps({"file": str(csv_path), "table_name": "bench_1m", "namespace": "bench",
                                         "head": 1, "partition": 8}))
        submitters = {"cli": lambda: cli.run("data", "upload", "-c", str(conf_path), "--drop")}
        if args.http:
            submitters["http"] = lambda: submit_http(server, conf_path)
        for mode, submit in submitters.items():
            modes[mode] = []
            for i in range(args.runs):
                run = one_run(submit, server)
                modes[mode].append(run)
                print(f"{mode} run {i + 1}: {run['total_s']:.3f} s end to end (submit {run['submit_s']:.3f} s), "
                      f"{run['rows_per_s']:,.0f} rows/s, peak RSS {run['peak_rss_mb']:.0f} MB (server "
                      f"{run['peak_server_rss_mb']:.0f}, executor {run['peak_executor_rss_mb']:.0f})", file=sys.stderr)
    finally:
        if cli is not None:
            cli.close()
        cleanup(server)
    payload = {"rows": ROWS, "bytes": csv_path.stat().st_size, "server_start_to_http_s": server.start_to_http_s,
               "target_rows_per_s": TARGET_ROWS_PER_S, "target_rss_mb": TARGET_RSS_MB,
               **{mode: _summarize(runs) for mode, runs in modes.items()}}
    save_result("upload_1m", payload)
    for mode in modes:
        m = payload[mode]
        print(f"{mode}: median {m['total_s']['median']:.3f} s = {m['rows_per_s_median']:,.0f} rows/s "
              f"({m['rows_per_s_median'] / TARGET_ROWS_PER_S:.2f}x target), peak RSS median "
              f"{m['peak_rss_mb_median']:.0f} MB (target < {TARGET_RSS_MB})", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
