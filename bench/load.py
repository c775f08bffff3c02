"""Load: 200 concurrent job submits and 200 concurrent job queries against one server (SQLite by default,
``--mysql`` for the local MariaDB), each request from its own thread at the same instant.

Reports p50/p99 latency of each kind, errors (any retcode other than 0, any HTTP error), and afterwards
checks the database: exactly one job row per submit, no duplicate, every job ended (no stuck row), all
cores back.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid

import requests
from benchlib import cleanup, new_home, save_result, start_server, summary

PARTY = "9999"
JOB = {"job_dsl": {"components": {"test_0": {"module": "TestModule"}}},
       "job_runtime_conf": {"dsl_version": 2, "initiator": {"role": "local", "party_id": 0}, "role": {"local": [0]},
                            "job_parameters": {"common": {"task_cores": 1}},
                            "component_parameters": {"common": {"test_0": {"sleep": 0}}}}}


def _burst(url: str, calls: list[tuple[str, dict]]) -> list[tuple[str, float, dict | None, str | None]]:
    """Every call from its own thread, released together; (kind, seconds, answer, error) each."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, path: str, body: dict) -> None:
        session = requests.Session()
        barrier.wait()
        started = time.perf_counter()
        try:
            answer = session.post(url + path, json=body, timeout=120).json()
            results[index] = (path, time.perf_counter() - started, answer, None)
        except (requests.RequestException, ValueError) as exc:
            results[index] = (path, time.perf_counter() - started, None, f"{type(exc).__name__}: {exc}")
        finally:
            session.close()

    threads = [threading.Thread(target=run, args=(i, p, b)) for i, (p, b) in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def run_once(submits: int, queries: int, mysql: bool) -> dict:
    env = {"FATE_FLOW_PARTY_ID": PARTY, "FATE_FLOW_FATEFLOW__HTTP_THREADS": "32"}
    if mysql:
        env.update({"FATE_FLOW_DATABASE__ENGINE": "mysql", "FATE_FLOW_DATABASE__HOST": "127.0.0.1",
                    "FATE_FLOW_DATABASE__NAME": f"bench_{uuid.uuid4().hex[:8]}", "FATE_FLOW_DATABASE__USER": "root",
                    "FATE_FLOW_DATABASE__PASSWD": '""'})
    server = start_server(home=new_home(), env=env)
    try:
        seed = requests.post(server.url + "/v1/job/submit", json=JOB, timeout=30).json()["jobId"]
        server.wait_job(seed)
        calls = [("/v1/job/submit", JOB)] * submits + [("/v1/job/query", {"job_id": seed})] * queries
        started = time.perf_counter()
        results = _burst(server.url, calls)
        wall = time.perf_counter() - started
        submitted = [r[2]["jobId"] for r in results
                     if r[0] == "/v1/job/submit" and r[2] and r[2].get("retcode") == 0]
        errors = [(r[0], r[3] or f"{r[2].get('retcode')}: {r[2].get('retmsg')}") for r in results
                  if r[3] is not None or (r[2] or {}).get("retcode") != 0]
        statuses = {job_id: server.wait_job(job_id, timeout_s=600) for job_id in submitted}
        listed = requests.post(server.url + "/v1/job/list/job", json={"limit": 1000}, timeout=60).json()["data"]
        engine = requests.post(server.url + "/v1/resource/query", json={}, timeout=30).json()["data"][
            "computing_engine_resource"]
        ids = [job["job_id"] for job in listed["jobs"]]
        latency = {kind: summary([r[1] * 1000 for r in results if r[0] == kind])
                   for kind in ("/v1/job/submit", "/v1/job/query")}
        return {"submits": submits, "queries": queries, "database": "mysql" if mysql else "sqlite",
                "wall_s": wall, "latency_ms": latency, "errors": errors[:20], "error_count": len(errors),
                "jobs_submitted": len(submitted), "jobs_listed": listed["count"],
                "duplicates": len(ids) - len(set(ids)),
                "all_ended": all(s in ("success", "failed", "canceled", "timeout") for s in statuses.values()),
                "all_success": all(s == "success" for s in statuses.values()),
                "cores_back": engine["f_remaining_cores"] == engine["f_cores"]}
    finally:
        cleanup(server)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submits", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mysql", action="store_true")
    args = parser.parse_args(argv)
    runs = [run_once(args.submits, args.queries, args.mysql) for _ in range(args.runs)]
    for r in runs:
        s, q = r["latency_ms"]["/v1/job/submit"], r["latency_ms"]["/v1/job/query"]
        print(f"load ({r['database']}): {r['submits']} submits + {r['queries']} queries at once in "
              f"{r['wall_s']:.2f} s; "
              f"submit p50 {s['median']:.0f} ms p99 {s['p99']:.0f} ms; query p50 {q['median']:.0f} ms p99 "
              f"{q['p99']:.0f} ms; errors {r['error_count']}; jobs {r['jobs_submitted']} submitted, "
              f"{r['jobs_listed'] - 1} listed, {r['duplicates']} duplicates; all ended {r['all_ended']}, "
              f"all success {r['all_success']}; cores back {r['cores_back']}", file=sys.stderr)
        for error in r["errors"][:5]:
            print("   ", error, file=sys.stderr)
    payload = {"runs": runs}
    save_result("load", payload)
    return payload


if __name__ == "__main__":
    main()
