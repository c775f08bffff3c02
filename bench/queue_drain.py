"""(b) Draining a queue of 1,000 one-task jobs, and the cost of a scheduler pass over a big history.

drain: one server (fresh home, guest 9999); after a warm-up job, 1,000 jobs of one TestModule
  (sleep 0, task_cores 1, so up to 20 run at once on the default 20 cores) are submitted back to
  back by one client (POST /v1/job/submit); submit rate = 1,000 / time of those calls. Then the
  home's SQLite (read-only) is polled every 50 ms until every job has ended: jobs/s = 1,000 / (first
  submit -> last job seen ended; if not all have ended within ``--timeout``, the rate so far).
  Afterwards: every job success, t_engine_registry remaining cores
  == total, no t_job with f_resource_in_use (there is no resource/query API).
pass: in-process, the server's own code on a fresh home: DAGScheduler(rt).run_pass() timed
  ``--passes`` times with no jobs, then again after bulk-inserting 100,000 finished jobs (a task
  each, see jobrows.py). Nothing waits or runs, so the pass must not call another party: the
  federation is a stub that fails if used.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import jobrows
from benchlib import cleanup, new_home, save_result, start_server, summary
from dag_overhead import ENV, job_conf, submit

END = ("success", "failed", "canceled", "timeout")
ONE_TASK = {"components": {"test_0": {"module": "TestModule"}}}


def read_only(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{home / 'fate_flow_sqlite.db'}?mode=ro", uri=True, timeout=30)


def drain(jobs: int, timeout_s: float) -> dict:
    server = start_server(env=ENV)
    try:
        conf = job_conf(ONE_TASK, 1)
        warm = submit(server, ONE_TASK, conf)
        if server.wait_job(warm) != "success":
            raise RuntimeError("warm-up job failed")
        db = read_only(server.home)
        submit_s = []
        t0 = time.perf_counter()
        for _ in range(jobs):
            t = time.perf_counter()
            submit(server, ONE_TASK, conf)
            submit_s.append(time.perf_counter() - t)
        submitted = time.perf_counter() - t0
        ended_at_submit_end = db.execute(
            f"SELECT count(*) FROM t_job WHERE f_status IN {END}").fetchone()[0] - 1
        while True:
            ended = db.execute(f"SELECT count(*) FROM t_job WHERE f_status IN {END}").fetchone()[0] - 1
            if ended >= jobs or time.perf_counter() - t0 > timeout_s:
                break
            time.sleep(0.05)
        total = time.perf_counter() - t0
        statuses = dict(db.execute("SELECT f_status, count(*) FROM t_job GROUP BY f_status").fetchall())
        cores, remaining = db.execute("SELECT f_cores, f_remaining_cores FROM t_engine_registry").fetchone()
        in_use = db.execute("SELECT count(*) FROM t_job WHERE f_resource_in_use = 1").fetchone()[0]
        rows = db.execute("SELECT f_create_time, f_start_time, f_end_time FROM t_job WHERE f_job_id != ? "
                          "ORDER BY f_create_time", (warm,)).fetchall()
        db.close()
    finally:
        cleanup(server)
    queue_wait = [start - create for create, start, _ in rows if start]
    run = [end - start for _, start, end in rows if end]
    return {
        "jobs": jobs, "submit_total_s": submitted, "submit_per_s": jobs / submitted,
        "submit_call_ms": summary([s * 1000 for s in submit_s]),
        "ended_when_submission_finished": ended_at_submit_end,
        "ended": ended, "drained": ended >= jobs, "drain_total_s": total, "jobs_per_s": ended / total,
        "after_submission_s": total - submitted,
        "queue_wait_ms": summary(queue_wait), "job_start_to_end_ms": summary(run),
        "statuses": statuses, "cores": cores, "remaining_cores": remaining, "jobs_holding_resources": in_use,
        "clean": statuses == {"success": jobs + 1} and cores == remaining and in_use == 0,
        "first_start_to_last_end_s": (max(r[2] or 0 for r in rows) - min(r[1] or 1e15 for r in rows)) / 1000,
    }


class NoFederation:
    """A pass with nothing waiting or running must not talk to any party."""

    def __getattr__(self, name: str):
        raise AssertionError(f"scheduler pass used the federation ({name})")


def time_passes(scheduler, passes: int) -> list[float]:
    from fate_flow.db.connection import connection

    times = []
    for _ in range(passes):
        with connection():  # as the scheduler loop holds it
            t = time.perf_counter()
            scheduler.run_pass()
            times.append(time.perf_counter() - t)
    return times


def pass_cost(finished: int, passes: int) -> dict:
    from fate_flow.app import create_app
    from fate_flow.db.connection import close_database
    from fate_flow.manager.mailbox import Mailbox
    from fate_flow.runtime import Runtime
    from fate_flow.scheduler.dag_scheduler import DAGScheduler

    home = new_home()
    try:
        settings = jobrows.open_home(home)
        rt = dataclasses.replace(Runtime.build(settings, create_app(), Mailbox(settings.home / "mailbox")),
                                 federation=NoFederation())
        scheduler = DAGScheduler(rt)
        time_passes(scheduler, 10)  # warm-up
        empty = time_passes(scheduler, passes)
        insert_s = jobrows.insert_jobs(settings, finished)
        time_passes(scheduler, 10)
        full = time_passes(scheduler, passes)
        close_database()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    e, f = statistics.median(empty), statistics.median(full)
    return {"passes": passes, "finished_jobs": finished, "insert_s": insert_s,
            "empty_ms": summary([t * 1000 for t in empty]), "full_ms": summary([t * 1000 for t in full]),
            "ratio_full_to_empty": f / e}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--finished", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=300, help="stop waiting for the drain after this (s)")
    parser.add_argument("--skip-drain", action="store_true")
    args = parser.parse_args(argv)
    payload: dict = {}
    if not args.skip_drain:
        d = payload["drain"] = drain(args.jobs, args.timeout)
        print(f"drain: {d['jobs']} jobs submitted in {d['submit_total_s']:.2f} s = {d['submit_per_s']:.0f} submits/s "
              f"(call median {d['submit_call_ms']['median']:.1f} ms; {d['ended_when_submission_finished']} already "
              f"ended); {d['ended']} ended after {d['drain_total_s']:.2f} s = {d['jobs_per_s']:.2f} jobs/s; "
              f"queue wait median "
              f"{d['queue_wait_ms']['median']:.0f} ms, max {d['queue_wait_ms']['max']:.0f}; statuses {d['statuses']}; "
              f"cores {d['remaining_cores']}/{d['cores']} free, {d['jobs_holding_resources']} jobs holding; "
              f"clean={d['clean']}", file=sys.stderr)
    p = payload["pass"] = pass_cost(args.finished, args.passes)
    print(f"scheduler pass: median {p['empty_ms']['median']:.3f} ms with no jobs, {p['full_ms']['median']:.3f} ms "
          f"with {p['finished_jobs']:,} finished jobs (ratio {p['ratio_full_to_empty']:.2f}; p90 "
          f"{p['empty_ms']['p90']:.3f} / {p['full_ms']['p90']:.3f} ms; n={p['passes']}); insert took "
          f"{p['insert_s']:.1f} s", file=sys.stderr)
    save_result("queue_drain", payload)
    return payload


if __name__ == "__main__":
    main()
