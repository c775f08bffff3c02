"""Small objects through the data plane: what each message costs an iterative algorithm.

A hetero LR batch is a dozen small objects passed one after another between the guest, the host and the
arbiter, so its latency and the server's CPU per object bound how fast such a job can go on a small
machine (on two cores, every millisecond the server spends relaying a message is one the algorithm cannot
use). Job: one ``TestModule`` component with ``exchange_rounds: N`` run by guest 9999 and host 10000 on one
standalone server (as ``bench/hetero_lr.py`` runs them): the guest sends 64 floats, the host sends them
back, N times. Reported: milliseconds per round trip (two objects) from the guest's data_plane/round_trip
metric, and the server's CPU milliseconds per object (``/proc/<pid>/stat`` before and after the job, so it
includes the job's scheduling; ``--rounds 0`` measures that alone).

    PYTHONPATH=. .venv/bin/python bench/round_trips.py [--rounds 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import fedlib
from benchlib import cleanup, cpu_seconds, save_result, start_server


def run_once(server, rounds: int) -> dict:
    dsl = {"components": {"exchange_0": {"module": "TestModule"}}}
    conf = fedlib.two_party_conf(["exchange_0"], params={"exchange_rounds": rounds})
    cpu_before, started = cpu_seconds(server.proc.pid), time.perf_counter()
    answer = server.session.post(f"{server.url}/v1/job/submit", json={"job_dsl": dsl, "job_runtime_conf": conf},
                                 timeout=60).json()
    assert answer["retcode"] == 0, answer
    status = server.wait_job(answer["jobId"], timeout_s=600)
    wall, cpu = time.perf_counter() - started, cpu_seconds(server.proc.pid) - cpu_before
    assert status == "success", answer["jobId"]
    reply = server.session.post(f"{server.url}/v1/tracking/component/metric_data", json={
        "job_id": answer["jobId"], "role": "guest", "party_id": int(fedlib.GUEST), "component_name": "exchange_0",
        "metric_namespace": "data_plane", "metric_name": "round_trip"}).json()
    seconds = dict(reply["data"])["seconds"] if rounds else 0.0
    return {"job_id": answer["jobId"], "wall_s": wall, "server_cpu_s": cpu, "exchange_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    server = start_server(env={"FATE_FLOW_PARTY_ID": fedlib.GUEST})
    try:
        baseline = [run_once(server, 0) for _ in range(args.runs)]
        runs = [run_once(server, args.rounds) for _ in range(args.runs)]
    finally:
        cleanup(server)
    scheduling_cpu = statistics.median(r["server_cpu_s"] for r in baseline)
    objects = 2 * args.rounds
    result = {
        "rounds": args.rounds, "runs": runs, "baseline": baseline,
        "round_trip_ms": statistics.median(r["exchange_s"] for r in runs) / args.rounds * 1e3,
        "server_cpu_ms_per_object": (statistics.median(r["server_cpu_s"] for r in runs) - scheduling_cpu)
        / objects * 1e3,
        "scheduling_server_cpu_s": scheduling_cpu,
    }
    print(f"{args.rounds} round trips: {result['round_trip_ms']:.2f} ms each (median of {args.runs}); server CPU "
          f"{result['server_cpu_ms_per_object']:.2f} ms per object (beyond the job's own scheduling, "
          f"{scheduling_cpu:.2f} s)", file=sys.stderr)
    save_result("round_trips", result)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
