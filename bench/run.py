"""Run every benchmark in turn (they must not overlap: one machine, 2 cores) and print a summary.

    .venv/bin/python bench/run.py [--quick]

Results: bench/results/<name>.json (git-ignored), as well as the generated 1M-row CSV. The full run
takes ~10 min (the 1,000-job queue waits up to 5 min; list_jobs and queue_drain insert 100,000 jobs).
"""

from __future__ import annotations

import argparse
import os
import platform

import dag_overhead
import list_jobs
import psutil
import queue_drain
import server_start
import upload_1m
import upload_small


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs (smoke test)")
    args = parser.parse_args(argv)
    quick = args.quick
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}")
    start = server_start.main(["--runs", "3" if quick else "10"])
    small = upload_small.main(["--runs", "3" if quick else "10"])
    big = upload_1m.main(["--runs", "1" if quick else "5", "--http"])
    dag = dag_overhead.main(["--runs", "3" if quick else "5"])
    drain = queue_drain.main(["--jobs", "100", "--finished", "10000", "--passes", "100", "--timeout", "120"]
                             if quick else ["--timeout", "300"])
    lists = list_jobs.main(["--jobs", "10000", "--calls", "50"] if quick else [])
    print()
    print(f"server start->HTTP      median {start['start_to_http_s']['median']:.3f} s   (FATE-Flow 2.2: 1.25 s)")
    for mode in ("http", "cli"):
        t = small[mode]["total_s"]
        print(f"569-row upload ({mode:4}) median {t['median']:.3f} s, p90 {t['p90']:.3f} s   (target <= 1 s)")
    for mode in ("cli", "http"):
        m = big[mode]
        print(f"1M-row upload ({mode:4})  median {m['total_s']['median']:.3f} s = {m['rows_per_s_median']:,.0f} "
              f"rows/s (target >= 500,000), peak RSS median {m['peak_rss_mb_median']:.0f} MB (target < 500)")
    for shape in ("chain", "fanout"):
        d = dag[shape]
        print(f"DAG {shape:6} of 20      median wall {d['wall_s']['median']:.3f} s, scheduling overhead "
              f"{d['overhead_per_task_ms']['median']:.0f} ms per task (target <= 100 ms)")
    d, p = drain["drain"], drain["pass"]
    print(f"queue of {d['jobs']} jobs      {d['submit_per_s']:.0f} submits/s; {d['ended']} ended at "
          f"{d['jobs_per_s']:.2f} jobs/s; resources clean: {d['clean']}")
    print(f"scheduler pass          median {p['empty_ms']['median']:.2f} ms empty, "
          f"{p['full_ms']['median']:.2f} ms with {p['finished_jobs']:,} finished jobs "
          f"(ratio {p['ratio_full_to_empty']:.2f}, target 1)")
    for name in ("list", "list_failed", "query"):
        print(f"{name:13} ({lists['jobs_in_db']:,} jobs) median {lists[name]['median']:.1f} ms (target <= 20 ms)")
    federation(quick)


def federation(quick: bool) -> None:
    """The two-party benchmarks (BENCHMARKS.md, "Federation (two parties)")."""
    import concurrent_two_party
    import data_plane
    import toy_job
    import two_party_overhead

    toy = toy_job.main(["--runs", "3" if quick else "10"])
    over = two_party_overhead.main(["--runs", "3" if quick else "5"])
    conc = concurrent_two_party.main(["--runs", "1"])
    plane = data_plane.main(["--runs", "3" if quick else "5"])
    for name in ("two servers, http", "two servers, grpc", "one standalone server"):
        print(f"toy job ({name:21}) median {toy[name]['wall_s']['median']:.3f} s (target <= 1.5 s)")
    for shape in ("chain", "fanout"):
        print(f"two-party {shape:6} of 10 overhead {over[shape]['overhead_per_task_ms']['median']:.0f} ms per task "
              f"(target <= 150 ms)")
    for r in conc["runs"]:
        print(f"20 concurrent 2-party jobs {r['wall_s']:.2f} s = {r['jobs_per_s']:.2f} jobs/s; all success: "
              f"{r['all_success']}; resources clean: {r['clean']}")
    print(f"data plane 100 MB       guest {plane['guest_mb_s']['median']:.0f} MB/s, job wall "
          f"{plane['job_mb_s']['median']:.0f} MB/s, in-process {plane['raw']['mb_s']['median']:.0f} MB/s "
          f"(target >= 100 MB/s)")


if __name__ == "__main__":
    main()
