"""Hetero LR end to end on one standalone server (guest 9999, host and arbiter 10000), as issue 9 measures it.

  breast     FATE's hetero_lr_normal example (reader -> data transform -> intersection -> hetero LR (30
             iterations, batch 320) -> evaluation), submit -> success, with ``--key-length`` for every key the
             conf leaves to its default (the intersection's RSA key and Paillier's; ``--rsa-key-length`` sets
             the RSA key apart), as the testsuite tier does with FATE 1.11.2's 1024; peak RSS and PSS of the
             server and all its executors in one more run. Targets: at most 10 s, under 1 GB.
  credit     default_credit_hetero (30,000 rows), full batch, ``--iterations`` (10) iterations, no
             intersection in front (the tables hold the same ids): submit -> success and where the time goes
             (each party's "hetero linear timings" log line). Target: at most 60 s.

    PYTHONPATH=. .venv/bin/python bench/hetero_lr.py [--runs 3] [--key-length 2048] [--rsa-key-length N]
                                                     [--skip-credit | --credit-runs N] [--skip-breast]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

from benchlib import RssSampler, cleanup, cpu_seconds, save_result, start_server

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "fate-data"
EXAMPLE = REPO / "examples" / "jobs" / "hetero_lr"
TIMINGS = re.compile(r"hetero linear timings \((\w+)\): (.*)")


def upload(server, name: str) -> None:
    conf = {"namespace": "experiment", "table_name": name, "head": 1, "partition": 4, "drop": 1}
    with (DATA / f"{name}.csv").open("rb") as stream:
        answer = server.session.post(f"{server.url}/v1/data/upload?{quote(json.dumps(conf))}",
                                     files={"file": (f"{name}.csv", stream)}, timeout=120).json()
    assert server.wait_job(answer["jobId"]) == "success", answer


def run(server, dsl: dict, conf: dict) -> tuple[float, str, str]:
    started = time.perf_counter()
    answer = server.session.post(f"{server.url}/v1/job/submit", json={"job_dsl": dsl, "job_runtime_conf": conf},
                                 timeout=60).json()
    assert answer["retcode"] == 0, answer
    # every 50 ms: a status query costs the server CPU the job's tasks would use (20 ms polls took ~1 s of a
    # 15 s run); the wall time is late by 25 ms on average
    status = server.wait_job(answer["jobId"], timeout_s=3600, poll_s=0.05)
    return time.perf_counter() - started, status, answer["jobId"]


def timings(server, job_id: str, pattern: re.Pattern = TIMINGS) -> dict[str, str]:
    """Each party's timings line (``<label> timings (<role>): ...``) in the job's INFO logs."""
    found = {}
    for log in (server.home / "logs" / job_id).rglob("INFO.log"):
        for line in log.read_text(errors="replace").splitlines():
            match = pattern.search(line)
            if match:
                found[match.group(1)] = match.group(2)
    return found


def iterations_of(server, job_id: str) -> int:
    """How many iterations the guest's hetero LR ran (its summary's ``iters``): the batches are shuffled, so
    a run may converge early, and wall times compare only at equal iterations."""
    reply = server.session.post(f"{server.url}/v1/tracking/component/summary/download", json={
        "job_id": job_id, "role": "guest", "party_id": 9999, "component_name": "hetero_lr_0"}, timeout=30).json()
    return int(reply["data"]["iters"])


def breast(server, runs: int, key_length: int, rsa_key_length: int | None = None) -> dict:
    """``runs`` timed runs, then one more under the memory sampler: reading every process's PSS 20 times a
    second costs several seconds of CPU per run, which the timed runs must not pay."""
    from tests.testsuites.suite import dsl_modules, with_default_key_length

    dsl = json.loads((EXAMPLE / "hetero_lr_dsl.json").read_text())
    conf = json.loads((EXAMPLE / "hetero_lr_conf.json").read_text())
    if rsa_key_length:  # the intersection's RSA key; else the Paillier key's length, as FATE 1.11.2's defaults
        conf["component_parameters"]["common"]["intersection_0"] = {"rsa_params": {"key_length": rsa_key_length}}
    conf = with_default_key_length(conf, dsl_modules(dsl), key_length)
    walls, iterations, server_cpu, last = [], [], [], None
    for _ in range(runs):
        cpu_before = cpu_seconds(server.proc.pid)
        wall, status, job_id = run(server, dsl, conf)
        assert status == "success", job_id
        server_cpu.append(cpu_seconds(server.proc.pid) - cpu_before)
        walls.append(wall)
        iterations.append(iterations_of(server, job_id))
        last = job_id
        print(f"  breast: {wall:.1f} s, {iterations[-1]} iterations, server CPU {server_cpu[-1]:.1f} s ({job_id})",
              flush=True)
    with RssSampler(server.proc.pid, interval_s=0.05, pss=True) as rss:
        wall, status, job_id = run(server, dsl, conf)
    assert status == "success", job_id
    peak_rss, peak_pss = rss.peak_bytes / 2 ** 20, rss.peak_pss_bytes / 2 ** 20
    print(f"  breast, memory run: {wall:.1f} s, peak RSS {peak_rss:.0f} MB, peak PSS {peak_pss:.0f} MB ({job_id})",
          flush=True)
    return {"wall_s": walls, "median_s": statistics.median(walls), "iterations": iterations,
            "server_cpu_s": server_cpu, "peak_rss_mb": peak_rss, "peak_pss_mb": peak_pss,
            "memory_run_wall_s": wall, "timings": timings(server, last), "key_length": key_length,
            "rsa_key_length": rsa_key_length or key_length}


def credit(server, iterations: int, key_length: int) -> dict:
    dsl = {"components": {
        "reader_0": {"module": "Reader", "output": {"data": ["data"]}},
        "data_transform_0": {"module": "DataTransform", "input": {"data": {"data": ["reader_0.data"]}},
                             "output": {"data": ["data"], "model": ["model"]}},
        "hetero_lr_0": {"module": "HeteroLR", "input": {"data": {"train_data": ["data_transform_0.data"]}},
                        "output": {"data": ["data"], "model": ["model"]}}}}
    conf = {"dsl_version": 2, "initiator": {"role": "guest", "party_id": 9999},
            "role": {"guest": [9999], "host": [10000], "arbiter": [10000]},
            "job_parameters": {"common": {"task_cores": 2}},
            "component_parameters": {
                "common": {"hetero_lr_0": {"max_iter": iterations, "batch_size": -1, "optimizer": "rmsprop",
                                           "learning_rate": 0.15, "alpha": 0.01, "tol": 1e-12,
                                           "init_param": {"init_method": "zeros"},
                                           "encrypt_param": {"key_length": key_length}}},
                "role": {"guest": {"0": {"reader_0": {"table": {"name": "default_credit_hetero_guest",
                                                                "namespace": "experiment"}},
                                         "data_transform_0": {"with_label": True}}},
                         "host": {"0": {"reader_0": {"table": {"name": "default_credit_hetero_host",
                                                               "namespace": "experiment"}},
                                        "data_transform_0": {"with_label": False}}}}}}
    with RssSampler(server.proc.pid, interval_s=0.2) as rss:
        wall, status, job_id = run(server, dsl, conf)
    print(f"  credit: {wall:.1f} s {status}, peak RSS {rss.peak_bytes / 2 ** 20:.0f} MB ({job_id})", flush=True)
    return {"wall_s": wall, "status": status, "iterations": iterations, "key_length": key_length,
            "peak_rss_mb": rss.peak_bytes / 2 ** 20, "timings": timings(server, job_id)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--key-length", type=int, default=2048)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--rsa-key-length", type=int, help="the intersection's RSA key (default: --key-length)")
    parser.add_argument("--skip-credit", action="store_true")
    parser.add_argument("--credit-runs", type=int, default=1, help="default_credit runs (0: none)")
    parser.add_argument("--skip-breast", action="store_true")
    args = parser.parse_args()
    server = start_server(env={"FATE_FLOW_PARTY_ID": "9999"})
    try:
        for name in ("breast_hetero_guest", "breast_hetero_host", "default_credit_hetero_guest",
                     "default_credit_hetero_host"):
            upload(server, name)
        result = {} if args.skip_breast else {"breast": breast(server, args.runs, args.key_length,
                                                                args.rsa_key_length)}
        credit_runs = 0 if args.skip_credit else args.credit_runs
        if credit_runs:
            runs = [credit(server, args.iterations, args.key_length) for _ in range(credit_runs)]
            result["credit"] = runs[0] if credit_runs == 1 else {
                "runs": runs, "median_s": statistics.median(run["wall_s"] for run in runs)}
    finally:
        cleanup(server)
    print(json.dumps(result, indent=2))
    save_result("hetero_lr", result)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
