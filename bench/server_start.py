"""Server start -> HTTP answering: from spawning ``fate_flow server`` in a fresh home (free ports)
until GET /v1/version/get returns 200; then SIGTERM and the time until the process has exited."""

from __future__ import annotations

import argparse
import sys
import time

from benchlib import cleanup, save_result, start_server, summary

REFERENCE_S = 1.25  # FATE-Flow 2.2 on this machine


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    starts, stops = [], []
    for _ in range(args.runs):
        server = start_server()
        starts.append(server.start_to_http_s)
        t0 = time.perf_counter()
        cleanup(server)
        stops.append(time.perf_counter() - t0)
    payload = {"start_to_http_s": summary(starts), "sigterm_to_exit_s": summary(stops),
               "reference_s": REFERENCE_S}
    save_result("server_start", payload)
    s = payload["start_to_http_s"]
    print(f"server start->HTTP median {s['median']:.3f} s, p90 {s['p90']:.3f} s (n={s['n']}; "
          f"FATE-Flow 2.2: {REFERENCE_S} s); SIGTERM->exit median "
          f"{payload['sigterm_to_exit_s']['median']:.3f} s", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
