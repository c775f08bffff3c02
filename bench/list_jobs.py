"""(c) Board and client queries against a server whose database holds 100,000 jobs.

The home's SQLite is filled before the server starts (jobrows.py: 100,000 finished one-task jobs,
95 % success, 4 % failed, 1 % canceled). Then, sequentially from one client, ``--calls`` times each
(after 10 warm-up calls), the latency of:
  list:          POST /v1/job/list/job {"page": 1, "limit": 20, "order_by": "create_time", "order": "desc"}
                 (the Board's job list)
  list_failed:   the same with "status": ["failed"]   (4,000 matches)
  list_running:  the same with "status": ["running"]  (no match)
  list_page_100: the same as ``list`` at page 100
  query:         POST /v1/job/query {"job_id": ...} of a random stored job
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import jobrows
from benchlib import cleanup, new_home, save_result, start_server, summary
from dag_overhead import ENV

TARGET_MS = 20.0
BOARD = {"page": 1, "limit": 20, "order_by": "create_time", "order": "desc"}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    home = new_home()
    insert_s = jobrows.fill(home, args.jobs)
    server = start_server(home=home, env=ENV)
    rng = random.Random(1)
    bodies = {
        "list": lambda: ("/v1/job/list/job", BOARD),
        "list_failed": lambda: ("/v1/job/list/job", {**BOARD, "status": ["failed"]}),
        "list_running": lambda: ("/v1/job/list/job", {**BOARD, "status": ["running"]}),
        "list_page_100": lambda: ("/v1/job/list/job", {**BOARD, "page": 100}),
        "query": lambda: ("/v1/job/query", {"job_id": jobrows.job_id_of(rng.randrange(args.jobs))}),
    }
    latencies: dict[str, list[float]] = {name: [] for name in bodies}
    checks: dict[str, object] = {}
    try:
        for name, make in bodies.items():
            for i in range(10 + args.calls):
                path, body = make()
                t = time.perf_counter()
                reply = server.session.post(server.url + path, json=body, timeout=60)
                elapsed = time.perf_counter() - t
                data = reply.json()
                if reply.status_code != 200 or data.get("retcode") != 0:
                    raise RuntimeError(f"{name}: {reply.status_code} {str(data)[:300]}")
                if i >= 10:
                    latencies[name].append(elapsed * 1000)
            d = data["data"]
            checks[name] = {"count": d.get("count"), "rows": len(d.get("jobs", []))} if isinstance(d, dict) \
                else {"rows": len(d)}
    finally:
        cleanup(server)
    payload: dict = {"jobs_in_db": args.jobs, "insert_s": insert_s, "target_ms": TARGET_MS,
                     "server_start_to_http_s": server.start_to_http_s, "replies": checks}
    for name, values in latencies.items():
        s = payload[name] = summary(values)
        print(f"{name:13}: median {s['median']:.1f} ms, p90 {s['p90']:.1f} ms (n={s['n']}; target <= {TARGET_MS:.0f} "
              f"ms for the lists) {checks[name]}", file=sys.stderr)
    print(f"({args.jobs:,} jobs inserted in {insert_s:.1f} s; server start {server.start_to_http_s:.2f} s)",
          file=sys.stderr)
    save_result("list_jobs", payload)
    return payload


if __name__ == "__main__":
    main()
