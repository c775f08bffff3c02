"""log/size and log/cat on a 1 GB job log, as FATE-Board's log viewer calls them.

FATE-Flow 1.11 runs `cat | wc -l` and `cat | tail | head` in a shell for these; this server keeps a
sparse line index per file. Measured: the first log/size (builds the index by reading the file once),
later log/size calls, and log/cat of 100 lines at the start, the middle and the end.

    .venv/bin/python bench/log_cat.py [--gb 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchlib import cleanup, new_home, save_result, start_server

JOB_ID = "202601010000000000000"
LINE = "[INFO] [2026-01-01 00:00:00,000] [{job}] [123:456] - [bench.log] [line:1]: line {n:>10} of a big log\n"


def write_log(path, gigabytes: float) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    block_lines = 100_000
    lines = 0
    with path.open("w") as stream:
        while stream.tell() < gigabytes * (1 << 30):
            stream.write("".join(LINE.format(job=JOB_ID, n=lines + i) for i in range(block_lines)))
            lines += block_lines
    return lines


def timed(server, path: str, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = server.session.post(f"{server.url}/v1/log/{path}", json=body, timeout=120).json()
    return time.perf_counter() - started, answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    args = parser.parse_args()
    home = new_home()
    lines = write_log(home / "logs" / JOB_ID / "fate_flow_schedule.log", args.gb)
    server = start_server(home=home)
    try:
        request = {"job_id": JOB_ID, "log_type": "jobSchedule"}
        first, answer = timed(server, "size", request)
        assert answer["data"]["size"] == lines, answer
        again = [timed(server, "size", request)[0] for _ in range(50)]
        cats = {}
        for where, begin in (("start", 1), ("middle", lines // 2), ("end", lines - 99)):
            samples = []
            for _ in range(20):
                seconds, answer = timed(server, "cat", {**request, "begin": begin, "end": begin + 99})
                assert answer["data"][0]["line_num"] == begin and len(answer["data"]) == 100
                samples.append(seconds)
            cats[where] = statistics.median(samples)
        result = {"gigabytes": args.gb, "lines": lines, "first_size_s": first,
                  "size_median_ms": statistics.median(again) * 1000,
                  "cat_100_lines_median_ms": {k: v * 1000 for k, v in cats.items()}}
        print(result)
        save_result("log_cat", result)
    finally:
        cleanup(server)


if __name__ == "__main__":
    main()
