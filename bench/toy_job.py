"""Federation (a): the toy job (``flow test toy``'s SecureAddExample, guest 9999 + host 10000), submit -> success
seen on BOTH parties.

Setups: two servers talking http, two servers talking grpc, one standalone server playing both parties.
Wall = from the start of POST /v1/job/submit (to the guest) until /v1/job/query, polled every 10 ms on every
server, shows success for the guest and the host row. Breakdown (server clocks, ms, same machine):
  submit->start  submit call start -> the earliest task f_start_time
  tasks          earliest task start -> latest task end (both parties' executors, incl. the secure-add exchange)
  end->seen      latest task end -> success seen on both
  component      f_component_elapsed, the median over both parties
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import fedlib
from benchlib import save_result, summary

TARGET_S = 1.5
DSL = {"components": {"secure_add_example_0": {"module": "SecureAddExample"}}}


def toy_conf(guest: str = fedlib.GUEST, host: str = fedlib.HOST, task_cores: int = 2) -> dict:
    """What fate-client 1.11's ``flow test toy`` submits (flow_sdk/client/api/test.py toy_conf)."""
    return {
        "dsl_version": 2,
        "job_parameters": {"common": {"task_cores": task_cores},
                           "role": {"guest": {"0": {"user": ""}}, "host": {"0": {"user": ""}}}},
        "role": {"guest": [guest], "host": [host]},
        "component_parameters": {
            "role": {"guest": {"0": {"secure_add_example_0": {"seed": 123}}},
                     "host": {"secure_add_example_0": {"seed": 321}}},
            "common": {"secure_add_example_0": {"partition": 4, "data_num": 1000}},
        },
        "initiator": {"role": "guest", "party_id": guest},
    }


def run_once(parties: dict[str, fedlib.Party]) -> dict:
    guest = parties[fedlib.GUEST]
    t_wall0 = time.time()
    t0 = time.perf_counter()
    job_id = fedlib.submit(guest, DSL, toy_conf())
    submit_s = time.perf_counter() - t0
    final = fedlib.wait_all(parties, job_id, rows_expected=2)
    wall = time.perf_counter() - t0
    if final != "success":
        raise RuntimeError(f"toy job {job_id} ended {final}")
    tasks = fedlib.all_tasks(parties, job_id)
    starts = [t["f_start_time"] for t in tasks]
    ends = [t["f_end_time"] for t in tasks]
    return {"job_id": job_id, "wall_s": wall, "submit_call_s": submit_s,
            "submit_to_start_ms": min(starts) - t_wall0 * 1000, "tasks_ms": max(ends) - min(starts),
            "end_to_seen_ms": (t_wall0 + wall) * 1000 - max(ends),
            "component_ms": statistics.median(t["f_component_elapsed"] or 0 for t in tasks),
            "executor_ms": statistics.median(t["f_elapsed"] - (t["f_component_elapsed"] or 0) for t in tasks)}


SETUPS = {"two servers, http": lambda: fedlib.start_parties("http"),
          "two servers, grpc": lambda: fedlib.start_parties("grpc"),
          "one standalone server": fedlib.start_standalone}
KEYS = ("wall_s", "submit_call_s", "submit_to_start_ms", "tasks_ms", "end_to_seen_ms", "component_ms", "executor_ms")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    payload: dict = {"target_s": TARGET_S, "poll_s": fedlib.POLL_S}
    for name, start in SETUPS.items():
        parties = start()
        try:
            run_once(parties)  # warm-up (first executor start fills the OS caches)
            runs = [run_once(parties) for _ in range(args.runs)]
        finally:
            fedlib.stop_all(parties)
        p = payload[name] = {key: summary([r[key] for r in runs]) for key in KEYS}
        p["runs"] = runs
        print(f"toy {name:22}: wall median {p['wall_s']['median']:.3f} s (p90 {p['wall_s']['p90']:.3f}, "
              f"target <= {TARGET_S}); submit call {p['submit_call_s']['median'] * 1000:.0f} ms, submit->start "
              f"{p['submit_to_start_ms']['median']:.0f} ms, tasks {p['tasks_ms']['median']:.0f} ms (component "
              f"{p['component_ms']['median']:.0f} ms, executor overhead {p['executor_ms']['median']:.0f} ms), "
              f"end->seen {p['end_to_seen_ms']['median']:.0f} ms (n={len(runs)})", file=sys.stderr)
    save_result("toy_job", payload)
    return payload


if __name__ == "__main__":
    main()
