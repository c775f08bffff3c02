"""Federation (c): 20 two-party jobs (guest 9999 + host 10000, a chain of 3 trivial TestModule components)
submitted concurrently (20 threads) to the guest server; two servers, http transport.

Wall = first submit call starts -> every job shows success on both servers (POST /v1/job/list/job {} polled
on each server every 50 ms: one call covers every job; polling 40 job rows every 10 ms would itself load the
2 cores). Per-job latency = its submit call start -> its later end_time over the two parties (server clock).
Afterwards, each party must have nothing left taken: every /v1/job/list/job row ``resource_in_use`` false, and
in t_engine_registry (the home's fate_flow_sqlite.db) remaining cores == cores; the time until both hold is
reported too (resources are returned right after the job ends).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import fedlib
from benchlib import save_result, summary

JOBS = 20
N = 3
LIST_POLL_S = 0.05


def job_rows(party: fedlib.Party) -> list[dict]:
    rows = party.post("/v1/job/list/job", {})["data"]["jobs"]
    return [r for r in rows if str(r["party_id"]) == party.party_id]


def clean(parties: dict[str, fedlib.Party]) -> dict:
    state = {}
    for pid, party in parties.items():
        in_use = [r["job_id"] for r in job_rows(party) if r["resource_in_use"]]
        registry = party.engine_registry()
        state[pid] = {"resource_in_use": in_use,
                      "registry": [{k: r[k] for k in ("f_engine_type", "f_engine_name", "f_cores", "f_remaining_cores",
                                                      "f_memory", "f_remaining_memory")} for r in registry],
                      "clean": not in_use and all(r["f_remaining_cores"] == r["f_cores"]
                                                  and r["f_remaining_memory"] == r["f_memory"] for r in registry)}
    return state


def run_once(parties: dict[str, fedlib.Party], jobs: int, timeout_s: float = 120.0) -> dict:
    guest = parties[fedlib.GUEST]
    dsl = fedlib.chain_dsl(N)
    conf = fedlib.two_party_conf(list(dsl["components"]), parallelism=1, cores=1)
    started: dict[str, float] = {}
    lock = threading.Lock()

    def one(_: int) -> str:
        t = time.time()
        job_id = fedlib.submit(guest, dsl, conf)
        with lock:
            started[job_id] = t
        return job_id

    t_wall0 = time.time()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        job_ids = list(pool.map(one, range(jobs)))
    submitted_s = time.perf_counter() - t0
    done: dict[str, dict[str, dict]] = {pid: {} for pid in parties}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid, party in parties.items():
            for row in job_rows(party):
                if row["job_id"] in started and row["status"] in fedlib.ENDED:
                    done[pid][row["job_id"]] = row
        if all(len(d) == jobs for d in done.values()):
            break
        time.sleep(LIST_POLL_S)
    wall = time.perf_counter() - t0
    statuses = {pid: {j: r["status"] for j, r in d.items()} for pid, d in done.items()}
    failed = {pid: {j: s for j, s in st.items() if s != "success"} for pid, st in statuses.items()}
    missing = {pid: sorted(set(job_ids) - set(d)) for pid, d in done.items()}
    latency = [max(done[pid][j]["end_time"] for pid in parties) / 1000 - started[j] for j in job_ids
               if all(j in done[pid] for pid in parties)]
    t_clean0 = time.perf_counter()
    state = clean(parties)
    while not all(s["clean"] for s in state.values()) and time.perf_counter() - t_clean0 < 10:
        time.sleep(0.1)
        state = clean(parties)
    return {"jobs": jobs, "t0": t_wall0, "submit_all_s": submitted_s, "wall_s": wall, "jobs_per_s": jobs / wall,
            "all_success": not any(failed.values()) and not any(missing.values()), "failed": failed,
            "missing": missing, "latency_s": summary(latency) if latency else None,
            "clean": all(s["clean"] for s in state.values()), "clean_after_s": time.perf_counter() - t_clean0,
            "resources": state}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=JOBS)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--protocol", choices=("http", "grpc"), default="http")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on unfinished jobs after (s)")
    args = parser.parse_args(argv)
    parties = fedlib.start_parties(args.protocol)
    runs: list[dict] = []
    try:
        runs = [run_once(parties, args.jobs, args.timeout) for _ in range(args.runs)]
    finally:
        keep = not runs or not all(r["all_success"] and r["clean"] for r in runs)
        fedlib.stop_all(parties, keep_homes=keep)
        if keep:
            print(f"homes kept for diagnosis: {[str(p.home) for p in parties.values()]}", file=sys.stderr)
    payload = {"jobs": args.jobs, "components_per_job": N, "protocol": args.protocol, "runs": runs,
               "wall_s": summary([r["wall_s"] for r in runs]), "jobs_per_s": summary([r["jobs_per_s"] for r in runs])}
    for r in runs:
        lat = r["latency_s"] or {}
        print(f"{r['jobs']} concurrent two-party jobs ({args.protocol}): submitted in {r['submit_all_s']:.2f} s; all "
              f"ended in {r['wall_s']:.2f} s = {r['jobs_per_s']:.2f} jobs/s; all success on both: "
              f"{r['all_success']}; per-job latency median {lat.get('median', float('nan')):.2f} s, max "
              f"{lat.get('max', float('nan')):.2f} s; resources clean on both: {r['clean']} "
              f"(checked {r['clean_after_s']:.2f} s after)", file=sys.stderr)
        if not r["all_success"]:
            print(f"  failed {r['failed']} missing {r['missing']}", file=sys.stderr)
        if not r["clean"]:
            print(f"  resources {r['resources']}", file=sys.stderr)
    save_result("concurrent_two_party", payload)
    return payload


if __name__ == "__main__":
    main()
