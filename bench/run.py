"""Run every benchmark in turn (they must not overlap: one machine, 2 cores) and print a summary.

    .venv/bin/python bench/run.py [--quick]

Results: bench/results/<name>.json (git-ignored), as well as the generated 1M-row CSV.
"""

from __future__ import annotations

import argparse
import os
import platform

import psutil
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
    print()
    print(f"server start->HTTP      median {start['start_to_http_s']['median']:.3f} s   (FATE-Flow 2.2: 1.25 s)")
    for mode in ("http", "cli"):
        t = small[mode]["total_s"]
        print(f"569-row upload ({mode:4}) median {t['median']:.3f} s, p90 {t['p90']:.3f} s   (target <= 1 s)")
    for mode in ("cli", "http"):
        m = big[mode]
        print(f"1M-row upload ({mode:4})  median {m['total_s']['median']:.3f} s = {m['rows_per_s_median']:,.0f} "
              f"rows/s (target >= 500,000), peak RSS median {m['peak_rss_mb_median']:.0f} MB (target < 500)")


if __name__ == "__main__":
    main()
