"""(a) Scheduling overhead of DSL jobs: a chain of 20 trivial components and a fan-out of 20.

Each component is a ``TestModule`` with ``sleep: 0`` (it produces nothing; the ``input.data.data``
references only make the dependencies). Shapes:
  chain:  test_0 -> test_1 -> ... -> test_19                (task_parallelism 1)
  fanout: test_0 -> {test_1 ... test_19}, all 19 in parallel (task_parallelism 20, task_cores 1)

Wall time = from the start of the POST /v1/job/submit call until POST /v1/job/query (polled every
10 ms) shows success. Overhead per task = (wall - sum of the tasks' f_component_elapsed) / tasks.
Breakdown from the task rows (server clock, ms; f_start_time is stamped when the scheduler marks the
task running, just before it spawns the executor):
  executor    = f_elapsed - f_component_elapsed: spawn + interpreter/imports + reports, per task
  gap         = a task's f_start_time - the f_end_time of the task it waits for (scheduler hop)
  submit->1st = submit call start -> first task's f_start_time
  last->seen  = last task's f_end_time -> success seen by the poller
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from benchlib import Server, cleanup, save_result, start_server, summary

TARGET_MS = 100.0  # median scheduling overhead per task
POLL_S = 0.01
PARTY = 9999
ENV = {"FATE_FLOW_PARTY_ID": str(PARTY)}
N = 20


def chain_dsl(n: int = N) -> dict:
    components = {"test_0": {"module": "TestModule", "output": {"data": ["data"]}}}
    for i in range(1, n):
        components[f"test_{i}"] = {"module": "TestModule", "input": {"data": {"data": [f"test_{i - 1}.data"]}},
                                   "output": {"data": ["data"]}}
    return {"components": components}


def fanout_dsl(n: int = N) -> dict:
    components = {"test_0": {"module": "TestModule", "output": {"data": ["data"]}}}
    for i in range(1, n):
        components[f"test_{i}"] = {"module": "TestModule", "input": {"data": {"data": ["test_0.data"]}}}
    return {"components": components}


def job_conf(dsl: dict, parallelism: int) -> dict:
    return {
        "dsl_version": 2,
        "initiator": {"role": "guest", "party_id": PARTY},
        "role": {"guest": [PARTY]},
        "job_parameters": {"common": {"task_parallelism": parallelism, "task_cores": 1}},
        "component_parameters": {"common": {name: {"sleep": 0} for name in dsl["components"]}},
    }


SHAPES = {"chain": (chain_dsl, 1), "fanout": (fanout_dsl, N)}


def submit(server: Server, dsl: dict, conf: dict) -> str:
    reply = server.session.post(f"{server.url}/v1/job/submit", json={"job_dsl": dsl, "job_runtime_conf": conf},
                                timeout=60).json()
    if reply.get("retcode") != 0:
        raise RuntimeError(f"submit refused: {reply}")
    return reply["jobId"]


def wait(server: Server, job_id: str, timeout_s: float = 300.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = server.job_status(job_id)
        if status in ("success", "failed", "canceled", "timeout"):
            return status
        time.sleep(POLL_S)
    raise TimeoutError(f"job {job_id} did not end within {timeout_s} s")


def tasks_of(server: Server, job_id: str) -> list[dict]:
    reply = server.session.post(f"{server.url}/v1/job/task/query", json={"job_id": job_id}, timeout=10).json()
    return reply["data"]


def run_once(server: Server, shape: str) -> dict:
    make, parallelism = SHAPES[shape]
    dsl = make()
    conf = job_conf(dsl, parallelism)
    t_wall0 = time.time()
    t0 = time.perf_counter()
    job_id = submit(server, dsl, conf)
    t_submit = time.perf_counter() - t0
    final = wait(server, job_id)
    wall = time.perf_counter() - t0
    if final != "success":
        raise RuntimeError(f"{shape} job {job_id} ended {final}")
    tasks = {t["f_component_name"]: t for t in tasks_of(server, job_id)}
    if len(tasks) != N:
        raise RuntimeError(f"{shape} job {job_id}: {len(tasks)} tasks, expected {N}")
    component_ms = sum(t["f_component_elapsed"] or 0 for t in tasks.values())
    executor_ms = [t["f_elapsed"] - (t["f_component_elapsed"] or 0) for t in tasks.values()]
    names = [f"test_{i}" for i in range(N)]
    upstream = {name: (f"test_{i - 1}" if shape == "chain" else "test_0") for i, name in enumerate(names) if i}
    gaps = [tasks[name]["f_start_time"] - tasks[up]["f_end_time"] for name, up in upstream.items()]
    first_start = min(t["f_start_time"] for t in tasks.values())
    last_end = max(t["f_end_time"] for t in tasks.values())
    wall_ms = wall * 1000
    return {
        "job_id": job_id, "wall_s": wall, "submit_call_s": t_submit, "component_ms_sum": component_ms,
        "overhead_per_task_ms": (wall_ms - component_ms) / N,
        "executor_ms_median": statistics.median(executor_ms), "executor_ms_sum": sum(executor_ms),
        "gap_ms_median": statistics.median(gaps), "gap_ms_sum": sum(gaps), "gap_ms_max": max(gaps),
        "submit_to_first_start_ms": first_start - t_wall0 * 1000,
        "last_end_to_seen_ms": (t_wall0 + wall) * 1000 - last_end,
        "first_start_to_last_end_ms": last_end - first_start,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    server = start_server(env=ENV)
    runs: dict[str, list[dict]] = {shape: [] for shape in SHAPES}
    try:
        run_once(server, "chain")  # warm-up
        for _ in range(args.runs):
            for shape in SHAPES:
                runs[shape].append(run_once(server, shape))
    finally:
        cleanup(server)
    payload: dict = {"tasks_per_job": N, "target_ms_per_task": TARGET_MS, "poll_s": POLL_S}
    keys = ("wall_s", "overhead_per_task_ms", "executor_ms_median", "gap_ms_median", "submit_to_first_start_ms",
            "last_end_to_seen_ms", "component_ms_sum", "submit_call_s")
    for shape, shape_runs in runs.items():
        payload[shape] = {key: summary([r[key] for r in shape_runs]) for key in keys}
        payload[shape]["runs"] = shape_runs
        p = payload[shape]
        print(f"{shape:6}: wall median {p['wall_s']['median']:.3f} s; overhead/task median "
              f"{p['overhead_per_task_ms']['median']:.1f} ms (target <= {TARGET_MS:.0f}); executor "
              f"(elapsed - component) median {p['executor_ms_median']['median']:.0f} ms; scheduler gap median "
              f"{p['gap_ms_median']['median']:.0f} ms; submit->1st start {p['submit_to_first_start_ms']['median']:.0f}"
              f" ms; last end->seen {p['last_end_to_seen_ms']['median']:.0f} ms; components sum "
              f"{p['component_ms_sum']['median']:.0f} ms (n={p['wall_s']['n']})", file=sys.stderr)
    save_result("dag_overhead", payload)
    return payload


if __name__ == "__main__":
    main()
