"""Federation (b): two-party scheduling overhead per task, guest 9999 + host 10000 on two servers (http transport).

Shapes (every component a trivial ``TestModule``, sleep 0, run by both the guest and the host):
  chain:  test_0 -> test_1 -> ... -> test_9             (task_parallelism 1)
  fanout: test_0 -> {test_1 ... test_9}, 9 in parallel  (task_parallelism 10, task_cores 1)

Wall = start of POST /v1/job/submit (to the guest) -> /v1/job/query on both servers (polled every 10 ms)
shows success. Overhead per task = (wall - sum over components of max(f_component_elapsed over parties)) / 10.
Breakdown (server clocks, ms):
  executor     f_elapsed - f_component_elapsed per party-task (spawn, imports, reports), median
  gap          a component's earliest party start - its upstream's latest party end (scheduler hop), median
  skew         a component's latest party start - its earliest party start (guest vs host), median
  submit->1st  submit call start -> the first party-task's start
  last->seen   latest party-task end -> success seen on both
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict

import fedlib
from benchlib import save_result, summary

TARGET_MS = 150.0
N = 10
SHAPES = {"chain": (fedlib.chain_dsl, 1), "fanout": (fedlib.fanout_dsl, N)}
KEYS = ("wall_s", "overhead_per_task_ms", "executor_ms_median", "gap_ms_median", "skew_ms_median",
        "submit_to_first_start_ms", "last_end_to_seen_ms", "component_ms_sum", "submit_call_s")


def run_once(parties: dict[str, fedlib.Party], shape: str) -> dict:
    make, parallelism = SHAPES[shape]
    dsl = make(N)
    conf = fedlib.two_party_conf(list(dsl["components"]), parallelism=parallelism, cores=1)
    guest = parties[fedlib.GUEST]
    t_wall0 = time.time()
    t0 = time.perf_counter()
    job_id = fedlib.submit(guest, dsl, conf)
    t_submit = time.perf_counter() - t0
    final = fedlib.wait_all(parties, job_id, rows_expected=2)
    wall = time.perf_counter() - t0
    if final != "success":
        raise RuntimeError(f"{shape} job {job_id} ended {final}")
    by_component: dict[str, list[dict]] = defaultdict(list)
    for task in fedlib.all_tasks(parties, job_id):
        by_component[task["f_component_name"]].append(task)
    if len(by_component) != N or any(len(ts) != 2 for ts in by_component.values()):
        raise RuntimeError(f"{shape} job {job_id}: {({c: len(ts) for c, ts in by_component.items()})}")
    component_ms = sum(max(t["f_component_elapsed"] or 0 for t in ts) for ts in by_component.values())
    executor_ms = [t["f_elapsed"] - (t["f_component_elapsed"] or 0) for ts in by_component.values() for t in ts]
    start = {c: min(t["f_start_time"] for t in ts) for c, ts in by_component.items()}
    end = {c: max(t["f_end_time"] for t in ts) for c, ts in by_component.items()}
    skew = [max(t["f_start_time"] for t in ts) - start[c] for c, ts in by_component.items()]
    upstream = {f"test_{i}": (f"test_{i - 1}" if shape == "chain" else "test_0") for i in range(1, N)}
    gaps = [start[c] - end[up] for c, up in upstream.items()]
    wall_ms = wall * 1000
    return {
        "job_id": job_id, "wall_s": wall, "submit_call_s": t_submit, "component_ms_sum": component_ms,
        "overhead_per_task_ms": (wall_ms - component_ms) / N,
        "executor_ms_median": statistics.median(executor_ms), "gap_ms_median": statistics.median(gaps),
        "skew_ms_median": statistics.median(skew),
        "submit_to_first_start_ms": min(start.values()) - t_wall0 * 1000,
        "last_end_to_seen_ms": (t_wall0 + wall) * 1000 - max(end.values()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http")
    args = parser.parse_args(argv)
    parties = fedlib.start_parties(args.protocol)
    runs: dict[str, list[dict]] = {shape: [] for shape in SHAPES}
    try:
        run_once(parties, "chain")  # warm-up
        for _ in range(args.runs):
            for shape in SHAPES:
                runs[shape].append(run_once(parties, shape))
    finally:
        fedlib.stop_all(parties)
    payload: dict = {"tasks_per_job": N, "parties": 2, "protocol": args.protocol, "target_ms_per_task": TARGET_MS,
                     "poll_s": fedlib.POLL_S}
    for shape, shape_runs in runs.items():
        p = payload[shape] = {key: summary([r[key] for r in shape_runs]) for key in KEYS}
        p["runs"] = shape_runs
        print(f"two-party {shape:6} ({args.protocol}): wall median {p['wall_s']['median']:.3f} s; overhead/task "
              f"median {p['overhead_per_task_ms']['median']:.1f} ms (target <= {TARGET_MS:.0f}); executor median "
              f"{p['executor_ms_median']['median']:.0f} ms; gap median {p['gap_ms_median']['median']:.0f} ms; "
              f"guest/host start skew {p['skew_ms_median']['median']:.0f} ms; submit->1st "
              f"{p['submit_to_first_start_ms']['median']:.0f} ms; last end->seen "
              f"{p['last_end_to_seen_ms']['median']:.0f} ms (n={p['wall_s']['n']})", file=sys.stderr)
    save_result(f"two_party_overhead_{args.protocol}", payload)
    return payload


if __name__ == "__main__":
    main()
